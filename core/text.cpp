#include "core/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <numeric>

namespace tugboat::core {

namespace {
char lower(char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}
}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
    const std::size_t n = a.size();
    const std::size_t m = b.size();
    // Three rows suffice for optimal string alignment.
    std::vector<std::size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
    std::iota(prev.begin(), prev.end(), 0);
    for (std::size_t i = 1; i <= n; ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= m; ++j) {
            std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1])) {
                cur[j] = std::min(cur[j], prev2[j - 2] + 1);
            }
        }
        std::swap(prev2, prev);
        std::swap(prev, cur);
    }
    return prev[m];
}

std::vector<std::string> suggest(std::string_view input, std::span<const std::string> candidates,
                                 std::size_t limit) {
    struct scored {
        std::size_t distance;
        const std::string* name;
    };
    std::vector<scored> hits;
    const std::size_t budget = std::max<std::size_t>(1, input.size() / 3);
    const std::string in = to_lower(input);
    for (const auto& c : candidates) {
        std::size_t d = edit_distance(input, c);
        bool prefix = !in.empty() && to_lower(c).starts_with(in);
        if (d <= budget || prefix) {
            hits.push_back({prefix ? std::min<std::size_t>(d, 1) : d, &c});
        }
    }
    std::ranges::stable_sort(hits, {}, &scored::distance);
    std::vector<std::string> out;
    for (const auto& h : hits) {
        if (out.size() == limit) {
            break;
        }
        out.push_back(*h.name);
    }
    return out;
}

std::string did_you_mean(std::string_view input, std::span<const std::string> candidates) {
    auto hits = suggest(input, candidates);
    if (hits.empty()) {
        return {};
    }
    std::string out = " Did you mean ";
    for (std::size_t i = 0; i < hits.size(); ++i) {
        if (i > 0) {
            out += i + 1 == hits.size() ? " or " : ", ";
        }
        out += fmt::format("`{}`", hits[i]);
    }
    out += "?";
    return out;
}

std::string to_lower(std::string_view s) {
    std::string out(s);
    std::ranges::transform(out, out.begin(), lower);
    return out;
}

std::string_view trim(std::string_view s) {
    auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        auto pos = s.find(sep, start);
        out.emplace_back(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start));
        if (pos == std::string_view::npos) {
            return out;
        }
        start = pos + 1;
    }
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
    text = trim(text);
    if (text.empty()) {
        return std::nullopt;
    }
    long long total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
            return std::nullopt;
        }
        long long n = 0;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
            n = n * 10 + (text[i] - '0');
            if (n > 10'000'000) {
                return std::nullopt;
            }
            ++i;
        }
        if (i == text.size()) {
            return std::nullopt;  // a unit is required: "30" is ambiguous
        }
        switch (lower(text[i])) {
            case 's': total += n; break;
            case 'm': total += n * 60; break;
            case 'h': total += n * 3600; break;
            case 'd': total += n * 86400; break;
            case 'w': total += n * 7 * 86400; break;
            default: return std::nullopt;
        }
        ++i;
    }
    if (total <= 0) {
        return std::nullopt;
    }
    return std::chrono::seconds{total};
}

std::string format_duration(std::chrono::seconds d) {
    long long s = std::max<long long>(0, d.count());
    if (s < 60) {
        return fmt::format("{}s", s);
    }
    if (s < 3600) {
        return fmt::format("{}m {:02}s", s / 60, s % 60);
    }
    if (s < 86400) {
        return fmt::format("{}h {:02}m", s / 3600, (s % 3600) / 60);
    }
    return fmt::format("{}d {}h", s / 86400, (s % 86400) / 3600);
}

}  // namespace tugboat::core
