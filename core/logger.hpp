#pragma once

#include <concepts>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>

namespace tugboat::core {

enum class log_level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };
enum class log_format { kv, json };

/// Parses "debug"/"info"/"warn"/"error"/"off"; returns false on anything else.
bool parse_log_level(std::string_view text, log_level& out);

/// One `key=value` pair of a log line. Values are converted to text on construction.
struct log_field {
    std::string_view key;
    std::string value;

    log_field(std::string_view k, std::string_view v) : key(k), value(v) {}
    log_field(std::string_view k, const std::string& v) : key(k), value(v) {}
    log_field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
    log_field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
    template <class N>
    requires(std::is_arithmetic_v<N> && !std::same_as<N, bool> && !std::same_as<N, char>)
        log_field(std::string_view k, N v)
        : key(k), value(std::to_string(v)) {}
};

/// Where formatted log lines go. Implementations must be cheap; called on the io thread.
class log_sink {
public:
    virtual ~log_sink() = default;
    virtual void write(log_level level, std::string_view line) = 0;
};

/// Writes lines to stderr.
class stderr_sink final : public log_sink {
public:
    void write(log_level level, std::string_view line) override;
};

/// Keeps every line in memory; for tests.
class string_sink final : public log_sink {
public:
    void write(log_level level, std::string_view line) override;
    std::string text() const;
    void clear();

private:
    mutable std::mutex mu_;  // fakes may run on a second thread in some tests
    std::string text_;
};

/// Structured logger: a level, a format and a sink. Secrets never reach the sink: fields whose
/// key names a secret (token, password, secret, authorization, cookie, signature, crumb) are
/// replaced by "[redacted]", and every value is passed through `redact_secrets`.
class logger {
public:
    explicit logger(log_sink& sink, log_level min = log_level::info,
                    log_format format = log_format::kv)
        : sink_(&sink), min_(min), format_(format) {}

    bool enabled(log_level level) const noexcept { return level >= min_ && min_ != log_level::off; }
    void set_level(log_level level) noexcept { min_ = level; }

    void log(log_level level, std::string_view event, std::initializer_list<log_field> fields);
    void debug(std::string_view event, std::initializer_list<log_field> fields = {}) {
        log(log_level::debug, event, fields);
    }
    void info(std::string_view event, std::initializer_list<log_field> fields = {}) {
        log(log_level::info, event, fields);
    }
    void warn(std::string_view event, std::initializer_list<log_field> fields = {}) {
        log(log_level::warn, event, fields);
    }
    void error(std::string_view event, std::initializer_list<log_field> fields = {}) {
        log(log_level::error, event, fields);
    }

private:
    log_sink* sink_;
    log_level min_;
    log_format format_;
};

/// A logger that drops everything; for code paths where logging is optional.
logger& null_logger();

/// Replaces credentials found anywhere in `text` by "[redacted]": Slack tokens (xoxb-, xoxp-,
/// xapp-, …), `Bearer`/`Basic` credentials, JWTs, AWS access keys, PEM private keys, and the
/// value of `password=`, `token=`, `secret=` style assignments.
std::string redact_secrets(std::string_view text);

}  // namespace tugboat::core
