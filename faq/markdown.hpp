#pragma once

// Splits a Markdown answer file into front matter and one section per heading.

#include "storage/faq_repository.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace tugboat::faq {

/// The optional YAML front matter between `---` lines at the top of a file.
struct front_matter {
    std::string title;  ///< else the first `# ` heading, else the file name
    std::vector<std::string> tags;
    std::vector<std::string> questions;  ///< other ways people ask what this page answers
    std::string owner;                   ///< who answers "this is wrong" (a Slack handle)
    std::string last_reviewed;           ///< a date, shown to readers
    std::string url;                     ///< where the page is published; the link in answers
    std::string language;  ///< "ko" or "en", detected from the text unless given (`language:`)
};

struct parsed_document {
    front_matter meta;
    std::vector<storage::faq_section> sections;  ///< ordinal, heading_path, anchor, body
};

/// Parses `text`. Headings inside code fences are text. A heading with no text under it (only
/// subsections) is not a section of its own; its name is in its subsections' heading paths.
parsed_document parse_markdown(std::string_view text, std::string_view file_stem);

/// "ko" when Hangul carries most of `text`, else "en".
std::string detect_language(std::string_view text);

/// The GitHub anchor of a heading: "Rolling back (fast)" → "rolling-back-fast".
std::string heading_anchor(std::string_view heading);

/// Front matter as the JSON object stored in faq_documents.front_matter_json.
std::string to_json(const front_matter& meta, std::string_view relative_path);

/// Reads it back; missing fields stay empty.
front_matter front_matter_from_json(std::string_view json, std::string* relative_path = nullptr);

}  // namespace tugboat::faq
