#pragma once

// Pure helpers for the shapes Jenkins puts on the wire: job URLs of folder paths, form bodies,
// queue item Locations, HTML error pages and console text. No I/O; unit-tested on their own.

#include "core/result.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace tugboat::integrations {

/// The URL path of a job relative to the Jenkins root: "team/payments-api" →
/// "job/team/job/payments-api/". Each segment is percent-encoded on its own, so a multibranch
/// job named "feature%2Fx" becomes "feature%252Fx" as Jenkins expects. Surrounding '/' are
/// ignored. Fails with invalid_argument for an empty path or an empty segment ("a//b").
core::result<std::string> job_url_path(std::string_view job_path);

/// Percent-encodes everything but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string percent_encode(std::string_view text);

/// `application/x-www-form-urlencoded` body: "A=1&B=x%20y", in the map's order.
std::string form_encode(const std::map<std::string, std::string>& fields);

/// "tree=<spec>" with the characters Jenkins' tree syntax uses ([ ] { } ,) percent-encoded,
/// since they are not allowed raw in a URL query.
std::string tree_query(std::string_view spec);

/// The queue id in a trigger's Location ("https://ci/queue/item/123/" → 123); nullopt when
/// the URL does not point at a queue item.
std::optional<std::int64_t> queue_id_from_location(std::string_view location);

/// Replaces the HTML entities Jenkins emits (&amp; &lt; &gt; &quot; &#39; &#NN; &#xNN;) by
/// their characters; unknown entities stay as written.
std::string html_unescape(std::string_view text);

/// Text of an HTML fragment: tags removed, entities decoded. For Stage View logs, which are
/// HTML with console annotations.
std::string html_to_text(std::string_view html);

/// Removes ANSI escape sequences (colours from the AnsiColor plugin, cursor moves).
std::string strip_ansi(std::string_view text);

/// The last `max_lines` lines of `text` (a trailing newline does not count as an empty last
/// line). 0 gives "".
std::string last_lines(std::string_view text, std::size_t max_lines);

/// A one-line summary of a Jenkins error page for messages: the servlet MESSAGE cell when
/// present, else the page title, else the first text; at most `limit` characters ("…" added).
std::string error_page_summary(std::string_view body, std::size_t limit = 200);

}  // namespace tugboat::integrations
