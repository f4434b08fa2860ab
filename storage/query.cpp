#include "storage/query.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace tugboat::storage {

std::string format_id(char prefix, std::int64_t id) {
    return fmt::format("{}-{:06}", prefix, id);
}

std::optional<std::int64_t> parse_id(char prefix, std::string_view text) {
    const auto lower = [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    };
    if (text.size() >= 2 && lower(text[0]) == lower(prefix) && text[1] == '-') {
        text.remove_prefix(2);
    }
    std::int64_t id = 0;
    const auto* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, id);
    if (text.empty() || ec != std::errc{} || ptr != end || id <= 0) {
        return std::nullopt;
    }
    return id;
}

}  // namespace tugboat::storage
