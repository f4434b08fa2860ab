#include "integrations/jenkins_wire.hpp"

#include "core/text.hpp"

#include <cstdlib>

namespace tugboat::integrations {

namespace {

bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

// Appends code point `cp` as UTF-8.
void append_utf8(std::string& out, unsigned long cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// Collapses runs of whitespace into single spaces and trims.
std::string squeeze(std::string_view text) {
    std::string out;
    bool space = false;
    for (char c : text) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            space = !out.empty();
            continue;
        }
        if (space) {
            out.push_back(' ');
            space = false;
        }
        out.push_back(c);
    }
    return out;
}

// The text between `open` and the next `close` after it, or nullopt.
std::optional<std::string_view> between(std::string_view text, std::string_view open,
                                        std::string_view close) {
    auto start = text.find(open);
    if (start == std::string_view::npos) {
        return std::nullopt;
    }
    start += open.size();
    auto end = text.find(close, start);
    if (end == std::string_view::npos) {
        return std::nullopt;
    }
    return text.substr(start, end - start);
}

}  // namespace

std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (unreserved(c)) {
            out.push_back(static_cast<char>(c));
            continue;
        }
        out.push_back('%');
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 0xF]);
    }
    return out;
}

core::result<std::string> job_url_path(std::string_view job_path) {
    auto path = job_path;
    while (!path.empty() && path.front() == '/') {
        path.remove_prefix(1);
    }
    while (!path.empty() && path.back() == '/') {
        path.remove_suffix(1);
    }
    if (path.empty()) {
        return core::make_error(core::errc::invalid_argument,
                                "the Jenkins job path is empty: set the job of the service, "
                                "e.g. \"team/payments-api\"");
    }
    std::string out;
    for (const auto& segment : core::split(path, '/')) {
        if (segment.empty()) {
            return core::make_error(
                core::errc::invalid_argument,
                "the Jenkins job path \"" + std::string(job_path) +
                    "\" has an empty folder name: separate folders with a single '/'");
        }
        out += "job/" + percent_encode(segment) + "/";
    }
    return out;
}

std::string form_encode(const std::map<std::string, std::string>& fields) {
    std::string out;
    for (const auto& [name, value] : fields) {
        if (!out.empty()) {
            out.push_back('&');
        }
        out += percent_encode(name) + "=" + percent_encode(value);
    }
    return out;
}

std::string tree_query(std::string_view spec) {
    std::string out = "tree=";
    for (char c : spec) {
        switch (c) {
            case '[': out += "%5B"; break;
            case ']': out += "%5D"; break;
            case '{': out += "%7B"; break;
            case '}': out += "%7D"; break;
            case ',': out += "%2C"; break;
            default: out.push_back(c);
        }
    }
    return out;
}

std::optional<std::int64_t> queue_id_from_location(std::string_view location) {
    constexpr std::string_view marker = "/queue/item/";
    auto at = location.rfind(marker);
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    auto digits = location.substr(at + marker.size());
    if (!digits.empty() && digits.back() == '/') {
        digits.remove_suffix(1);
    }
    if (digits.empty() || digits.size() > 18) {
        return std::nullopt;
    }
    std::int64_t id = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        id = id * 10 + (c - '0');
    }
    return id;
}

std::string html_unescape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '&') {
            out.push_back(text[i]);
            continue;
        }
        auto semi = text.find(';', i);
        if (semi == std::string_view::npos || semi - i > 10) {
            out.push_back('&');
            continue;
        }
        auto name = text.substr(i + 1, semi - i - 1);
        std::string decoded;
        if (name == "amp") {
            decoded = "&";
        } else if (name == "lt") {
            decoded = "<";
        } else if (name == "gt") {
            decoded = ">";
        } else if (name == "quot") {
            decoded = "\"";
        } else if (name == "apos") {
            decoded = "'";
        } else if (name.size() > 1 && name[0] == '#') {
            bool hex = name[1] == 'x' || name[1] == 'X';
            auto digits = std::string(name.substr(hex ? 2 : 1));
            char* end = nullptr;
            auto cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
            if (!digits.empty() && end && *end == '\0' && cp > 0 && cp <= 0x10FFFF) {
                append_utf8(decoded, cp);
            }
        }
        if (decoded.empty()) {
            out.push_back('&');
            continue;
        }
        out += decoded;
        i = semi;
    }
    return out;
}

std::string html_to_text(std::string_view html) {
    std::string stripped;
    stripped.reserve(html.size());
    bool in_tag = false;
    for (char c : html) {
        if (in_tag) {
            in_tag = c != '>';
            continue;
        }
        if (c == '<') {
            in_tag = true;
            continue;
        }
        stripped.push_back(c);
    }
    return html_unescape(stripped);
}

std::string strip_ansi(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\x1b') {
            out.push_back(text[i]);
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '[') {
            // CSI: parameters and intermediates up to a final byte in @–~.
            i += 2;
            while (i < text.size() && !(text[i] >= '@' && text[i] <= '~')) {
                ++i;
            }
            continue;
        }
        ++i;  // a two-byte escape (ESC + one character)
    }
    return out;
}

std::string last_lines(std::string_view text, std::size_t max_lines) {
    if (max_lines == 0) {
        return {};
    }
    auto end = text.size();
    if (end > 0 && text[end - 1] == '\n') {
        --end;
    }
    std::size_t start = end;
    std::size_t lines = 0;
    while (start > 0) {
        if (text[start - 1] == '\n') {
            if (++lines == max_lines) {
                break;
            }
        }
        --start;
    }
    return std::string(text.substr(start));
}

std::string error_page_summary(std::string_view body, std::size_t limit) {
    std::string summary;
    if (auto cell = between(body, "<th>MESSAGE:</th><td>", "</td>")) {
        summary = squeeze(html_to_text(*cell));
    }
    if (summary.empty()) {
        if (auto title = between(body, "<title>", "</title>")) {
            summary = squeeze(html_to_text(*title));
        }
    }
    if (summary.empty()) {
        // Skip <head> (scripts, styles) when there is one.
        auto head_end = body.find("</head>");
        auto rest = head_end == std::string_view::npos ? body : body.substr(head_end);
        summary = squeeze(html_to_text(rest));
    }
    if (summary.size() > limit) {
        // Cut on a UTF-8 character boundary.
        while (limit > 0 && (static_cast<unsigned char>(summary[limit]) & 0xC0) == 0x80) {
            --limit;
        }
        summary.resize(limit);
        summary += "…";
    }
    return summary;
}

}  // namespace tugboat::integrations
