#pragma once

// Hides secret-looking text in logs before the bot posts or uploads them. Pure and fast: it runs
// over every fetched log line (hundreds of thousands for one /logs), so the built-in rules are
// hand-written scanners; only the extra patterns from the config use std::regex.
//
// Built-in rules (each replaced by "[redacted]"; key=value rules keep the key):
// - `Bearer …` / `Basic …` credentials (any case of the scheme word);
// - values of keys containing password, passwd, pwd, secret, token, api_key, apikey, api-key,
//   access_key, private_key or credential, written `key=value`, `key: value`, `"key": "value"`;
// - JSON Web Tokens (`eyJ….….…`);
// - AWS access key IDs (`AKIA…`/`ASIA…`, 20 characters) and, on lines mentioning AWS, 40-character
//   secret access keys;
// - passwords in URLs (`postgres://user:secret@host`);
// - Slack tokens (`xoxb-…`, `xapp-…`);
// - PEM private keys, in one line or as a block over several lines (every line from BEGIN to END).

#include "core/result.hpp"

#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::commands {

/// What replaces a secret.
inline constexpr std::string_view redacted_mark = "[redacted]";

/// Carries a PEM private key block from one line of a log to the next; one per log stream.
struct redact_state {
    bool in_private_key = false;
};

/// The built-in rules plus extra patterns. Cheap to copy; immutable after creation.
class redactor {
public:
    /// The built-in rules only.
    redactor() = default;

    /// Built-ins plus `extra_patterns` (ECMAScript regular expressions; every match is hidden).
    /// Error: invalid_argument naming the first pattern that does not compile.
    static core::result<redactor> create(const std::vector<std::string>& extra_patterns);

    /// Hides secrets in one line (without its newline), in place. `state` carries a private
    /// key block across lines of the same stream. Returns whether anything was hidden.
    bool redact_line(std::string& line, redact_state& state) const;

    /// Every line of `text` (lines end in '\n'; the last may not), as one stream.
    std::string redact_text(std::string_view text) const;

private:
    std::vector<std::regex> extra_;
};

}  // namespace tugboat::commands
