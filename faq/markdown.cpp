#include "faq/markdown.hpp"

#include "core/text.hpp"
#include "storage/faq_tokenizer.hpp"

#include <nlohmann/json.hpp>

namespace tugboat::faq {
namespace {

std::string unquote(std::string_view v) {
    v = core::trim(v);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
        v = v.substr(1, v.size() - 2);
    }
    return std::string{v};
}

std::vector<std::string> inline_list(std::string_view v) {
    std::vector<std::string> out;
    v = core::trim(v);
    if (v.size() >= 2 && v.front() == '[' && v.back() == ']') {
        for (auto& item : core::split(v.substr(1, v.size() - 2), ',')) {
            if (auto s = unquote(item); !s.empty()) {
                out.push_back(std::move(s));
            }
        }
    } else if (!v.empty()) {
        out.push_back(unquote(v));
    }
    return out;
}

/// The small YAML subset front matter uses: `key: value`, `key: [a, b]`, and `key:` followed
/// by `- item` lines. Unknown keys are ignored: pages are written for other tools too.
front_matter parse_front_matter(std::string_view block) {
    front_matter meta;
    std::vector<std::string>* list = nullptr;
    for (const auto& raw : core::split(block, '\n')) {
        auto line = core::trim(raw);
        if (line.empty() || line.front() == '#') {
            continue;
        }
        if (line.front() == '-' && list != nullptr) {
            if (auto item = unquote(line.substr(1)); !item.empty()) {
                list->push_back(std::move(item));
            }
            continue;
        }
        auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        auto key = core::trim(line.substr(0, colon));
        auto value = line.substr(colon + 1);
        list = nullptr;
        if (key == "tags" || key == "questions") {
            list = key == "tags" ? &meta.tags : &meta.questions;
            *list = inline_list(value);
        } else if (key == "title") {
            meta.title = unquote(value);
        } else if (key == "owner") {
            meta.owner = unquote(value);
        } else if (key == "last_reviewed") {
            meta.last_reviewed = unquote(value);
        } else if (key == "url") {
            meta.url = unquote(value);
        } else if (key == "language") {
            meta.language = unquote(value);
        }
    }
    return meta;
}

bool is_fence(std::string_view line) {
    line = core::trim(line);
    return line.starts_with("```") || line.starts_with("~~~");
}

/// The level (1–6) and text of an ATX heading line, or level 0.
std::pair<int, std::string_view> heading_of(std::string_view line) {
    int level = 0;
    while (level < static_cast<int>(line.size()) && line[static_cast<std::size_t>(level)] == '#') {
        ++level;
    }
    if (level == 0 || level > 6 || static_cast<std::size_t>(level) >= line.size() ||
        line[static_cast<std::size_t>(level)] != ' ') {
        return {0, {}};
    }
    auto text = core::trim(line.substr(static_cast<std::size_t>(level)));
    while (!text.empty() && text.back() == '#') {
        text.remove_suffix(1);
    }
    return {level, core::trim(text)};
}

}  // namespace

std::string detect_language(std::string_view text) {
    std::size_t hangul = 0;
    std::size_t latin = 0;
    for (std::size_t i = 0; i < text.size();) {
        char32_t c = storage::next_code_point(text, i);
        // Decomposed (NFD) syllables count by their leading consonant.
        hangul += storage::is_hangul_syllable(c) || (c >= 0x1100 && c <= 0x1112) ? 1 : 0;
        latin += (c < 0x80 && std::isalpha(static_cast<int>(c)) != 0) ? 1 : 0;
    }
    // A syllable holds about as much as three Latin letters; code and names are mostly Latin.
    return hangul * 3 >= latin / 2 && hangul > 0 ? "ko" : "en";
}

std::string heading_anchor(std::string_view heading) {
    std::string out;
    for (char c : heading) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x80 || std::isalnum(u) != 0 || c == '-' || c == '_') {
            out += static_cast<char>(u < 0x80 ? std::tolower(u) : u);
        } else if (c == ' ') {
            out += '-';
        }
    }
    return out;
}

parsed_document parse_markdown(std::string_view text, std::string_view file_stem) {
    parsed_document doc;
    if (text.starts_with("---\n") || text.starts_with("---\r\n")) {
        auto end = text.find("\n---", 3);
        if (end != std::string_view::npos) {
            doc.meta = parse_front_matter(text.substr(4, end - 3));
            auto after = text.find('\n', end + 1);
            text = after == std::string_view::npos ? std::string_view{} : text.substr(after + 1);
        }
    }

    std::vector<std::string> path;  // heading text per level, "" for a skipped level
    storage::faq_section current;
    std::string first_h1;
    bool in_fence = false;
    auto finish = [&] {
        if (!core::trim(current.body).empty()) {
            current.ordinal = static_cast<int>(doc.sections.size());
            doc.sections.push_back(std::move(current));
        }
        current = {};
    };
    for (auto line : core::split(text, '\n')) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (is_fence(line)) {
            in_fence = !in_fence;
        }
        auto [level, heading] =
            in_fence ? std::pair<int, std::string_view>{0, {}} : heading_of(line);
        if (level == 0) {
            current.body += line;
            current.body += '\n';
            continue;
        }
        finish();
        if (level == 1 && first_h1.empty()) {
            first_h1 = heading;
        }
        path.resize(static_cast<std::size_t>(level));
        path.back() = heading;
        std::string joined;
        for (const auto& p : path) {
            if (p.empty()) {
                continue;
            }
            joined += joined.empty() ? "" : " > ";
            joined += p;
        }
        current.heading_path = std::move(joined);
        current.anchor = heading_anchor(heading);
    }
    finish();
    if (doc.meta.title.empty()) {
        doc.meta.title = first_h1.empty() ? std::string{file_stem} : first_h1;
    }
    if (doc.meta.language.empty()) {
        doc.meta.language = detect_language(text);
    }
    for (auto& s : doc.sections) {
        if (s.heading_path.empty()) {
            s.heading_path = doc.meta.title;
        }
    }
    return doc;
}

std::string to_json(const front_matter& meta, std::string_view relative_path) {
    nlohmann::json j{{"title", meta.title},
                     {"tags", meta.tags},
                     {"questions", meta.questions},
                     {"owner", meta.owner},
                     {"last_reviewed", meta.last_reviewed},
                     {"url", meta.url},
                     {"language", meta.language},
                     {"relative_path", relative_path}};
    return j.dump();
}

front_matter front_matter_from_json(std::string_view json, std::string* relative_path) {
    front_matter meta;
    auto j = nlohmann::json::parse(json, nullptr, false);
    if (!j.is_object()) {
        return meta;
    }
    meta.title = j.value("title", "");
    meta.tags = j.value("tags", std::vector<std::string>{});
    meta.questions = j.value("questions", std::vector<std::string>{});
    meta.owner = j.value("owner", "");
    meta.last_reviewed = j.value("last_reviewed", "");
    meta.url = j.value("url", "");
    meta.language = j.value("language", "");
    if (relative_path != nullptr) {
        *relative_path = j.value("relative_path", "");
    }
    return meta;
}

}  // namespace tugboat::faq
