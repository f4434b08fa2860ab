#pragma once

// One grammar for slash commands, mentions, DMs and the sandbox console:
//
//     <command> [subcommand] <positional…> [--flag value | --flag=value | --switch]
//
// Each command declares itself once as a `command_spec`; parsing, validation, usage lines,
// error messages and help are all generated from that declaration.

#include "core/config.hpp"
#include "core/result.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::commands {

/// What a value means; decides how it is validated and normalized.
enum class arg_kind {
    text,         ///< anything
    service,      ///< a service name from the config (suggestions on typos; case fixed)
    environment,  ///< an environment name from the config
    role,         ///< an access role name from the config
    version,      ///< a tag or commit SHA: letters, digits and `.-_+/`, at most 128 characters
    duration,     ///< "30m", "2h", "1d", "1h30m"
    number,       ///< a whole number from 1 to 1 000 000
    id,           ///< a record id such as a deploy or grant id; a leading '#' is dropped
    user,         ///< a Slack mention `<@U123>` / `<@U123|ann>` or a raw `U123`; stored as "U123"
};

/// A positional argument.
struct arg_spec {
    std::string name;  ///< key in invocation::args and the `<name>` in usage lines
    arg_kind kind = arg_kind::text;
    bool required = true;
    bool rest = false;  ///< takes every remaining word (last argument only), e.g. a question
    std::string help;   ///< one line for help, e.g. "the environment to deploy to"
};

/// A `--flag`.
struct flag_spec {
    std::string name;        ///< without dashes: "since"
    std::string value_name;  ///< shown as `--since <value_name>`; empty for an on/off switch
    arg_kind kind = arg_kind::text;
    std::string help;

    bool takes_value() const noexcept { return !value_name.empty(); }
};

/// Who may run a command; the router's policy decides what each level means for a person.
enum class access_level { anyone, reader, deployer, approver, admin };

/// A command (or one of its subcommands), declared once.
struct command_spec {
    std::string name;                   ///< lower-case word: "deploy", "status"
    std::string summary;                ///< one short sentence for listings
    std::string details;                ///< optional paragraph (mrkdwn) for `help <command>`
    std::vector<arg_spec> args;         ///< positionals in order
    std::vector<flag_spec> flags;       ///< accepted flags
    std::vector<std::string> examples;  ///< full command text without slash: "deploy api beta"
    std::vector<command_spec> subcommands;
    /// Subcommand used when the first word is not a subcommand name ("deploy api prod" runs
    /// "start"); its usage line leaves its name out. Empty: a subcommand must be named.
    std::string default_subcommand;
    /// Subcommand run when the command is typed alone, with no arguments at all (not even its
    /// required ones): `/access` runs "request", which then asks in a form. Empty: a bare
    /// command lists its forms.
    std::string when_bare;
    access_level access = access_level::anyone;
    bool slash = true;  ///< top level only: also a Slack slash command, shown as `/name`

    /// The subcommand called `name` (lower-case), or nullptr.
    const command_spec* find_subcommand(std::string_view name) const;
};

/// One word of input. `quoted` words are never flags.
struct token {
    std::string text;
    bool quoted = false;

    friend bool operator==(const token&, const token&) = default;
};

/// Splits on whitespace (including no-break spaces). Quotes group words: "…", '…', and the
/// typographic “…” and ‘…’ that Slack and macOS substitute; a quote opens only at the start of
/// a word or right after `=`, so apostrophes ("don't", "it’s") stay literal. A backslash makes
/// the next quote, backslash or space literal and is kept before anything else (so `\d` in a
/// --grep pattern survives). An em or en dash at the start of an unquoted word becomes `--`
/// (macOS turns `--` into `—`). Error: invalid_argument for a quote that is never closed.
core::result<std::vector<token>> tokenize(std::string_view text);

/// A parsed and validated command line.
struct invocation {
    const command_spec* command = nullptr;     ///< the top-level command
    const command_spec* subcommand = nullptr;  ///< the subcommand, or nullptr
    /// Positional values by arg_spec::name, normalized (canonical service names, user IDs…).
    std::map<std::string, std::string, std::less<>> args;
    /// Flag values by flag_spec::name; switches map to "true".
    std::map<std::string, std::string, std::less<>> flags;

    /// The spec that was parsed against: the subcommand when there is one.
    const command_spec& target() const { return subcommand ? *subcommand : *command; }
    /// "deploy status", "logs", "deploy start" — for logs, policies and help topics.
    std::string path() const;
    /// The positional `name`, or "" when it was not given.
    std::string arg(std::string_view name) const;
    /// The value of flag `name`, or nullopt when it was not given.
    std::optional<std::string> flag(std::string_view name) const;
    /// Whether flag (or switch) `name` was given.
    bool has_flag(std::string_view name) const { return flags.contains(name); }
    /// Positional or flag `name` read as a duration; nullopt when absent.
    std::optional<std::chrono::seconds> duration(std::string_view name) const;
    /// Positional or flag `name` read as a number; nullopt when absent.
    std::optional<long long> number(std::string_view name) const;
};

/// Why a line could not be parsed, in three parts a chat message can lay out.
struct usage_error {
    std::string problem;             ///< what was wrong and, when possible, what was meant (mrkdwn)
    std::vector<std::string> usage;  ///< usage lines (plain text) of the command meant, or empty
    std::string hint;                ///< "Type `help deploy` for details." (mrkdwn)

    /// The three parts on separate lines as mrkdwn: problem, "Usage: `…`" (escaped), hint.
    std::string text() const;
};

/// An invocation or a usage_error.
class [[nodiscard]] parse_result {
public:
    parse_result(invocation value) : value_(std::move(value)) {}   // NOLINT: implicit on purpose
    parse_result(usage_error error) : error_(std::move(error)) {}  // NOLINT: implicit on purpose

    bool has_value() const noexcept { return value_.has_value(); }
    explicit operator bool() const noexcept { return has_value(); }
    const invocation& value() const { return *value_; }
    const invocation& operator*() const { return *value_; }
    const invocation* operator->() const { return &*value_; }
    const usage_error& error() const { return error_; }

private:
    std::optional<invocation> value_;
    usage_error error_;
};

/// Parses `text` (command name first, a leading '/' allowed) against `commands`, validating
/// services, environments and roles against `cfg`. Asking for help in any of the usual ways
/// (`deploy --help`, `deploy help`, `deploy status -h`, or an empty line) yields an invocation
/// of the command named "help" with args "command" and "subcommand", when one is registered.
parse_result parse(std::span<const command_spec* const> commands, std::string_view text,
                   const core::config& cfg);

/// How a person invokes `top`: "/deploy" for slash commands, "help" otherwise.
std::string display_name(const command_spec& top);

/// One usage line, e.g. "/deploy <service> <env> [version] [--reason <text>]" or
/// "/deploy status [service] [env]". `sub` may be nullptr.
std::string usage_line(const command_spec& top, const command_spec* sub);

/// Usage lines for `sub`, or for `top` and every subcommand (default first) when nullptr.
std::vector<std::string> usage_lines(const command_spec& top, const command_spec* sub);

/// " Did you mean `x`?" with candidates shown through `show` (e.g. adding a slash), or "".
std::string did_you_mean(std::string_view input, std::span<const std::string> candidates,
                         const std::function<std::string(const std::string&)>& show);

/// "`a`, `b` and `c`", listing at most `limit` names and then "and N more"; `code`: false
/// leaves out the backticks ("a, b and c").
std::string list_names(std::span<const std::string> names, std::size_t limit = 8, bool code = true);

}  // namespace tugboat::commands
