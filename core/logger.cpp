#include "core/logger.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <regex>

#include <sys/uio.h>
#include <unistd.h>

namespace tugboat::core {

namespace {

constexpr std::array<std::string_view, 5> level_names{"debug", "info", "warn", "error", "off"};

bool is_secret_key(std::string_view key) {
    std::string lower(key);
    std::ranges::transform(lower, lower.begin(), [](unsigned char c) { return std::tolower(c); });
    for (std::string_view word : {"token", "password", "passwd", "secret", "authorization",
                                  "cookie", "signature", "crumb", "api_key", "apikey"}) {
        if (lower.find(word) != std::string::npos) {
            return true;
        }
    }
    return false;
}

void append_kv_value(std::string& out, std::string_view v) {
    bool quote = v.empty() || v.find_first_of(" \t\"=\n\r\\") != std::string_view::npos;
    if (!quote) {
        out.append(v);
        return;
    }
    out.push_back('"');
    for (char c : v) {
        switch (c) {
            case '"': out.append("\\\""); break;
            case '\\': out.append("\\\\"); break;
            case '\n': out.append("\\n"); break;
            case '\r': out.append("\\r"); break;
            case '\t': out.append("\\t"); break;
            default: out.push_back(c);
        }
    }
    out.push_back('"');
}

void append_json_string(std::string& out, std::string_view v) {
    out.push_back('"');
    for (unsigned char c : v) {
        switch (c) {
            case '"': out.append("\\\""); break;
            case '\\': out.append("\\\\"); break;
            case '\n': out.append("\\n"); break;
            case '\r': out.append("\\r"); break;
            case '\t': out.append("\\t"); break;
            default:
                if (c < 0x20) {
                    fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    out.push_back('"');
}

class null_sink final : public log_sink {
public:
    void write(log_level, std::string_view) override {}
};

}  // namespace

bool parse_log_level(std::string_view text, log_level& out) {
    for (std::size_t i = 0; i < level_names.size(); ++i) {
        if (text == level_names[i]) {
            out = static_cast<log_level>(i);
            return true;
        }
    }
    if (text == "warning") {
        out = log_level::warn;
        return true;
    }
    return false;
}

void stderr_sink::write(log_level, std::string_view line) {
    // One writev for line and newline: stderr is unbuffered, so fwrite + fputc were two
    // system calls, and lines of concurrent writers could interleave between them.
    std::fflush(stderr);  // anything written through stdio before comes first
    std::array<iovec, 2> parts{
        {{const_cast<char*>(line.data()), line.size()}, {const_cast<char*>("\n"), 1}}};
    std::size_t first = 0;
    while (first < parts.size()) {
        const ssize_t n =
            ::writev(STDERR_FILENO, parts.data() + first, static_cast<int>(parts.size() - first));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;  // nowhere left to report it
        }
        // A partial write (a full pipe): go on after the bytes that went out.
        auto left = static_cast<std::size_t>(n);
        while (first < parts.size() && left >= parts[first].iov_len) {
            left -= parts[first].iov_len;
            ++first;
        }
        if (first < parts.size()) {
            parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + left;
            parts[first].iov_len -= left;
        }
    }
}

void string_sink::write(log_level, std::string_view line) {
    std::lock_guard lock(mu_);
    text_.append(line);
    text_.push_back('\n');
}

std::string string_sink::text() const {
    std::lock_guard lock(mu_);
    return text_;
}

void string_sink::clear() {
    std::lock_guard lock(mu_);
    text_.clear();
}

void logger::log(log_level level, std::string_view event, std::initializer_list<log_field> fields) {
    if (!enabled(level)) {
        return;
    }
    auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    std::string ts = fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", now);
    std::string_view lvl = level_names[static_cast<std::size_t>(level)];
    std::string line;
    line.reserve(128);
    if (format_ == log_format::json) {
        fmt::format_to(std::back_inserter(line), R"({{"ts":"{}","level":"{}","event":)", ts, lvl);
        append_json_string(line, event);
        for (const auto& f : fields) {
            line.push_back(',');
            append_json_string(line, f.key);
            line.push_back(':');
            append_json_string(line, is_secret_key(f.key) ? "[redacted]" : redact_secrets(f.value));
        }
        line.push_back('}');
    } else {
        fmt::format_to(std::back_inserter(line), "ts={} level={} event=", ts, lvl);
        append_kv_value(line, event);
        for (const auto& f : fields) {
            line.push_back(' ');
            line.append(f.key);
            line.push_back('=');
            append_kv_value(line, is_secret_key(f.key) ? "[redacted]" : redact_secrets(f.value));
        }
    }
    sink_->write(level, line);
}

logger& null_logger() {
    static null_sink sink;
    static logger log(sink, log_level::off);
    return log;
}

std::string redact_secrets(std::string_view text) {
    // Cheap pre-check: almost every log value has none of these markers, and std::regex is slow.
    static constexpr std::array<std::string_view, 12> markers{
        "xox",         "xapp-",   "earer", "asic ", "eyJ",     "AKIA",
        "PRIVATE KEY", "assword", "oken",  "ecret", "api_key", "apikey"};
    if (std::ranges::none_of(
            markers, [&](std::string_view m) { return text.find(m) != std::string_view::npos; })) {
        return std::string(text);
    }
    static const std::regex patterns[] = {
        std::regex(R"(-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)"),
        std::regex(R"(\b(xox[abposr]|xapp)-[A-Za-z0-9-]+)"),
        std::regex(R"(\b([Bb]earer|[Bb]asic)\s+[A-Za-z0-9._~+/=-]+)"),
        std::regex(R"(\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"),
        std::regex(R"(\bAKIA[0-9A-Z]{16}\b)"),
        std::regex(
            R"(((?:password|passwd|token|secret|api_key|apikey)["']?\s*[:=]\s*["']?)[^\s"'&,;]+)",
            std::regex::icase),
    };
    std::string out(text);
    for (std::size_t i = 0; i < std::size(patterns); ++i) {
        // The assignment pattern keeps its key ("password=") so the reader knows what was hidden.
        out = std::regex_replace(out, patterns[i],
                                 i + 1 == std::size(patterns) ? "$1[redacted]" : "[redacted]");
    }
    return out;
}

}  // namespace tugboat::core
