#include "integrations/http_types.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

namespace tugboat::integrations {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return std::ranges::equal(
        a, b, [](unsigned char x, unsigned char y) { return std::tolower(x) == std::tolower(y); });
}

// Parses exactly `text` as a decimal number (a sign only where N is signed).
template <class N>
std::optional<N> parse_number(std::string_view text) {
    N value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// IMF-fixdate, the only date form RFC 9110 requires senders to use:
// "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<std::chrono::system_clock::time_point> parse_imf_fixdate(std::string_view s) {
    if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
        return std::nullopt;
    }
    static constexpr std::array<std::string_view, 12> months{
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    auto month = std::ranges::find(months, s.substr(8, 3));
    auto day = parse_number<unsigned>(s.substr(5, 2));
    auto year = parse_number<unsigned>(s.substr(12, 4));
    auto hour = parse_number<unsigned>(s.substr(17, 2));
    auto minute = parse_number<unsigned>(s.substr(20, 2));
    auto second = parse_number<unsigned>(s.substr(23, 2));
    if (month == months.end() || !day || !year || !hour || !minute || !second || *hour > 23 ||
        *minute > 59 || *second > 60) {
        return std::nullopt;
    }
    std::chrono::year_month_day date{
        std::chrono::year{static_cast<int>(*year)},
        std::chrono::month{static_cast<unsigned>(month - months.begin() + 1)},
        std::chrono::day{*day}};
    if (!date.ok()) {
        return std::nullopt;
    }
    return std::chrono::sys_days{date} + std::chrono::hours{*hour} + std::chrono::minutes{*minute} +
           std::chrono::seconds{*second};
}

}  // namespace

std::string_view to_string(http_method method) noexcept {
    switch (method) {
        case http_method::get: return "GET";
        case http_method::head: return "HEAD";
        case http_method::post: return "POST";
        case http_method::put: return "PUT";
        case http_method::patch: return "PATCH";
        case http_method::delete_: return "DELETE";
        case http_method::options: return "OPTIONS";
    }
    return "GET";
}

bool is_idempotent(http_method method) noexcept {
    return method != http_method::post && method != http_method::patch;
}

std::optional<std::string> find_header(const http_headers& headers, std::string_view name) {
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) {
            return value;
        }
    }
    return std::nullopt;
}

std::vector<std::string> find_headers(const http_headers& headers, std::string_view name) {
    std::vector<std::string> out;
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) {
            out.push_back(value);
        }
    }
    return out;
}

core::errc errc_for_status(int status) noexcept {
    switch (status) {
        case 401:
        case 403: return core::errc::permission_denied;
        case 404:
        case 410: return core::errc::not_found;
        case 409:
        case 412: return core::errc::conflict;
        case 429: return core::errc::rate_limited;
        case 408:
        case 504: return core::errc::timeout;
        default: break;
    }
    return status >= 500 ? core::errc::unavailable : core::errc::invalid_argument;
}

bool is_retryable_status(int status) noexcept {
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
        value.remove_suffix(1);
    }
    if (auto seconds = parse_number<unsigned long long>(value)) {
        // A day is far beyond any cap; clamping keeps the conversion from overflowing.
        return std::chrono::seconds{static_cast<long long>(std::min(*seconds, 86'400ULL))};
    }
    auto when = parse_imf_fixdate(value);
    if (!when) {
        return std::nullopt;
    }
    if (*when <= now) {
        return std::chrono::milliseconds{0};
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(*when - now);
}

std::chrono::milliseconds backoff_delay(const retry_policy& policy, int attempt, double random01) {
    double base = static_cast<double>(policy.initial_backoff.count()) *
                  std::pow(policy.multiplier, std::max(attempt - 1, 0));
    base = std::min(base, static_cast<double>(policy.max_backoff.count()));
    random01 = std::clamp(random01, 0.0, 1.0);
    return std::chrono::milliseconds{static_cast<long long>(base / 2 + random01 * base / 2)};
}

std::optional<std::chrono::milliseconds> next_retry_delay(const retry_policy& policy,
                                                          const attempt_outcome& outcome,
                                                          bool idempotent, int attempt,
                                                          int max_attempts, double random01) {
    if (attempt >= max_attempts || outcome.permanent) {
        return std::nullopt;
    }
    if (!outcome.sent) {
        return backoff_delay(policy, attempt, random01);
    }
    if (!idempotent) {
        return std::nullopt;
    }
    if (!outcome.status) {
        return backoff_delay(policy, attempt, random01);
    }
    if (!is_retryable_status(*outcome.status)) {
        return std::nullopt;
    }
    if (outcome.retry_after) {
        if (*outcome.retry_after > policy.max_retry_after) {
            return std::nullopt;
        }
        return *outcome.retry_after;
    }
    return backoff_delay(policy, attempt, random01);
}

}  // namespace tugboat::integrations
