#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::core {

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), ASCII
/// case-insensitive: "paymnets" → "payments" is 1.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidates closest to `input`, best first, that are plausibly what was meant: within
/// max(1, len/3) edits, or having `input` as a prefix. At most `limit` results.
std::vector<std::string> suggest(std::string_view input, std::span<const std::string> candidates,
                                 std::size_t limit = 3);

/// " Did you mean `a` or `b`?" (leading space), or "" when there is nothing to suggest.
std::string did_you_mean(std::string_view input, std::span<const std::string> candidates);

/// ASCII lower-case copy.
std::string to_lower(std::string_view s);

/// Removes leading and trailing ASCII whitespace.
std::string_view trim(std::string_view s);

/// Splits on `sep`, keeping empty parts.
std::vector<std::string> split(std::string_view s, char sep);

/// Parses durations like "90s", "10m", "2h", "1d", "1h30m"; nullopt when malformed or zero.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

/// Formats a duration compactly: "45s", "3m 05s", "2h 10m", "1d 2h".
std::string format_duration(std::chrono::seconds d);

}  // namespace tugboat::core
