#include "commands/grammar.hpp"

#include "commands/message.hpp"
#include "core/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace tugboat::commands {

namespace {

// ---------------------------------------------------------------------------------------------
// Tokenizer

enum class quote_kind { none, double_quote, single_quote };

struct quote_mark {
    quote_kind kind = quote_kind::none;
    std::size_t bytes = 0;
};

// ASCII and typographic quotes (“ ” ‘ ’), which Slack and macOS put in place of ASCII ones.
quote_mark quote_at(std::string_view s, std::size_t i) {
    if (s[i] == '"') {
        return {quote_kind::double_quote, 1};
    }
    if (s[i] == '\'') {
        return {quote_kind::single_quote, 1};
    }
    std::string_view rest = s.substr(i);
    if (rest.starts_with("\u201c") || rest.starts_with("\u201d")) {
        return {quote_kind::double_quote, 3};
    }
    if (rest.starts_with("\u2018") || rest.starts_with("\u2019")) {
        return {quote_kind::single_quote, 3};
    }
    return {};
}

// Bytes of whitespace at s[i]: ASCII blanks and the no-break spaces pasted text often has.
std::size_t space_at(std::string_view s, std::size_t i) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        return 1;
    }
    std::string_view rest = s.substr(i);
    if (rest.starts_with("\u00a0")) {
        return 2;
    }
    if (rest.starts_with("\u202f") || rest.starts_with("\u2007")) {
        return 3;
    }
    return 0;
}

bool alnum(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// Handles a backslash at s[i]; appends to `out` and returns the bytes consumed.
std::size_t escape_at(std::string_view s, std::size_t i, std::string& out) {
    if (i + 1 < s.size()) {
        quote_mark q = quote_at(s, i + 1);
        if (q.kind != quote_kind::none) {
            out.append(s.substr(i + 1, q.bytes));
            return 1 + q.bytes;
        }
        if (s[i + 1] == '\\' || s[i + 1] == ' ') {
            out += s[i + 1];
            return 2;
        }
    }
    out += '\\';
    return 1;
}

std::string excerpt(std::string_view s, std::size_t from) {
    std::string_view rest = core::trim(s.substr(from));
    if (rest.size() <= 24) {
        return std::string{rest};
    }
    std::size_t cut = 24;
    while (cut > 0 && (static_cast<unsigned char>(rest[cut]) & 0xC0) == 0x80) {
        --cut;
    }
    return std::string{rest.substr(0, cut)} + "\u2026";
}

// ---------------------------------------------------------------------------------------------
// Value checks

struct checked {
    std::string value;
    std::string problem;  // empty when the value is fine
};

// `s` as inline code in mrkdwn; escaped because it may be what someone typed, or `<env>`.
std::string quoted(std::string_view s) {
    return fmt::format("`{}`", escape_mrkdwn(s));
}

// Resolves `raw` among `names` exactly, then ignoring case; otherwise explains with suggestions.
checked check_name(std::string_view raw, const std::vector<std::string>& names,
                   std::string_view what, std::string_view config_key) {
    for (const auto& n : names) {
        if (n == raw) {
            return {n, {}};
        }
    }
    for (const auto& n : names) {
        if (core::to_lower(n) == core::to_lower(raw)) {
            return {n, {}};
        }
    }
    if (names.empty()) {
        return {{},
                fmt::format("Unknown {} {}: no {}s are configured yet. Add them under `{}:` in "
                            "the bot's config.",
                            what, quoted(raw), what, config_key)};
    }
    std::string hint = core::did_you_mean(raw, names);
    if (hint.empty()) {
        hint = fmt::format(" Known {}s: {}.", what, list_names(names));
    }
    return {{}, fmt::format("Unknown {} {}.{}", what, quoted(raw), hint)};
}

bool version_char(char c) {
    return alnum(c) || c == '.' || c == '-' || c == '_' || c == '+' || c == '/';
}

checked check_value(arg_kind kind, std::string_view raw, std::string_view shown,
                    const core::config& cfg) {
    switch (kind) {
        case arg_kind::text: return {std::string{raw}, {}};
        case arg_kind::service: return check_name(raw, cfg.service_names(), "service", "services");
        case arg_kind::environment:
            return check_name(raw, cfg.environment_names(), "environment", "environments");
        case arg_kind::role: {
            std::vector<std::string> roles;
            for (const auto& r : cfg.access.roles) {
                roles.push_back(r.name);
            }
            return check_name(raw, roles, "access role", "access.roles");
        }
        case arg_kind::version: {
            bool ok = !raw.empty() && raw.size() <= 128 && alnum(raw.front()) &&
                      std::all_of(raw.begin(), raw.end(), version_char);
            if (ok) {
                return {std::string{raw}, {}};
            }
            return {{},
                    fmt::format("{} doesn't look like a version. Use a tag like `v1.4.2` or a "
                                "commit SHA.",
                                shown)};
        }
        case arg_kind::duration:
            if (core::parse_duration(raw)) {
                return {std::string{raw}, {}};
            }
            return {{},
                    fmt::format("{} isn't a duration. Use a number with a unit: `45m`, `2h`, "
                                "`1d` or `1h30m`.",
                                shown)};
        case arg_kind::number: {
            bool digits =
                !raw.empty() && raw.size() <= 7 && std::all_of(raw.begin(), raw.end(), [](char c) {
                    return std::isdigit(static_cast<unsigned char>(c));
                });
            long long n = digits ? std::stoll(std::string{raw}) : 0;
            if (digits && n >= 1 && n <= 1'000'000) {
                return {std::to_string(n), {}};
            }
            return {{}, fmt::format("{} isn't a whole number from 1 to 1000000.", shown)};
        }
        case arg_kind::id: {
            std::string_view id = raw;
            if (id.starts_with('#')) {
                id.remove_prefix(1);
            }
            bool ok = !id.empty() && id.size() <= 64 &&
                      std::all_of(id.begin(), id.end(),
                                  [](char c) { return alnum(c) || c == '-' || c == '_'; });
            if (ok) {
                return {std::string{id}, {}};
            }
            return {{},
                    fmt::format("{} isn't an id. Ids are short codes like `42`; the bot's "
                                "messages show them.",
                                shown)};
        }
        case arg_kind::user: {
            std::string_view id = raw;
            if (id.starts_with("<@") && id.ends_with('>')) {
                id = id.substr(2, id.size() - 3);
                id = id.substr(0, id.find('|'));
            }
            bool ok = id.size() >= 2 && (id.front() == 'U' || id.front() == 'W') &&
                      std::all_of(id.begin(), id.end(), [](char c) {
                          return std::isupper(static_cast<unsigned char>(c)) ||
                                 std::isdigit(static_cast<unsigned char>(c));
                      });
            if (ok) {
                return {std::string{id}, {}};
            }
            return {{},
                    fmt::format("{} isn't someone I can look up. Mention the person with `@` "
                                "and pick them from Slack's list, so I get their user ID.",
                                shown)};
        }
    }
    return {std::string{raw}, {}};
}

// ---------------------------------------------------------------------------------------------
// Parsing

std::string lower_name(std::string_view word) {
    std::string_view w = word;
    if (w.starts_with('/')) {
        w.remove_prefix(1);
    }
    return core::to_lower(w);
}

bool is_flag(const token& t) {
    return !t.quoted && t.text.size() > 2 && t.text.starts_with("--");
}

bool is_help_flag(const token& t) {
    return !t.quoted && (t.text == "--help" || t.text == "-h");
}

const command_spec* find_top(std::span<const command_spec* const> commands, std::string_view name) {
    for (const auto* spec : commands) {
        if (spec->name == name) {
            return spec;
        }
    }
    return nullptr;
}

std::string help_hint(const command_spec& top, const command_spec* sub) {
    if (sub != nullptr && sub->name != top.default_subcommand) {
        return fmt::format("Type `help {} {}` for details.", top.name, sub->name);
    }
    return fmt::format("Type `help {}` for details.", top.name);
}

// "/deploy", "/deploy status": how the command is typed, for messages.
std::string spoken(const command_spec& top, const command_spec* sub) {
    if (sub == nullptr || sub->name == top.default_subcommand) {
        return display_name(top);
    }
    return display_name(top) + " " + sub->name;
}

usage_error error_for(const command_spec& top, const command_spec* sub, std::string problem) {
    return usage_error{std::move(problem), usage_lines(top, sub), help_hint(top, sub)};
}

std::string flag_list(const command_spec& spec) {
    std::vector<std::string> names;
    for (const auto& f : spec.flags) {
        names.push_back("--" + f.name);
    }
    return list_names(names);
}

// Parses the words after the command (and subcommand) against `spec`.
parse_result parse_arguments(const command_spec& top, const command_spec* sub,
                             std::span<const token> words, const core::config& cfg) {
    const command_spec& spec = sub ? *sub : top;
    invocation inv;
    inv.command = &top;
    inv.subcommand = sub;
    std::vector<std::string> positional;
    // The last argument may take every remaining word (a question); once it has started, flags
    // are words too, so "what does --force do" reaches the handler whole.
    const bool has_rest = !spec.args.empty() && spec.args.back().rest;
    std::string rest_text;
    bool in_rest = false;
    bool only_positional = false;
    for (std::size_t i = 0; i < words.size(); ++i) {
        const token& t = words[i];
        if (!in_rest && !only_positional && !t.quoted && t.text == "--") {
            only_positional = true;
            continue;
        }
        if (in_rest || only_positional || !is_flag(t)) {
            if (has_rest && positional.size() + 1 >= spec.args.size()) {
                rest_text += (in_rest ? " " : "") + t.text;
                in_rest = true;
                continue;
            }
            positional.push_back(t.text);
            continue;
        }
        std::string_view body = std::string_view{t.text}.substr(2);
        std::optional<std::string> inline_value;
        if (auto eq = body.find('='); eq != std::string_view::npos) {
            inline_value = std::string{body.substr(eq + 1)};
            body = body.substr(0, eq);
        }
        const std::string name = core::to_lower(body);
        const flag_spec* flag = nullptr;
        for (const auto& f : spec.flags) {
            if (f.name == name) {
                flag = &f;
            }
        }
        const std::string shown_name = "--" + std::string{body};
        if (flag == nullptr) {
            if (spec.flags.empty()) {
                return error_for(top, sub,
                                 fmt::format("Unknown flag {}: {} takes no flags.",
                                             quoted(shown_name), quoted(spoken(top, sub))));
            }
            std::vector<std::string> names;
            for (const auto& f : spec.flags) {
                names.push_back("--" + f.name);
            }
            std::string hint = core::did_you_mean(shown_name, names);
            if (hint.empty()) {
                hint = fmt::format(" Flags here: {}.", flag_list(spec));
            }
            return error_for(top, sub, fmt::format("Unknown flag {}.{}", quoted(shown_name), hint));
        }
        if (inv.flags.contains(flag->name)) {
            return error_for(
                top, sub, fmt::format("{} is given twice; keep one.", quoted("--" + flag->name)));
        }
        if (!flag->takes_value()) {
            if (inline_value) {
                return error_for(top, sub,
                                 fmt::format("{} is a switch and takes no value; write just {}.",
                                             quoted("--" + flag->name), quoted("--" + flag->name)));
            }
            inv.flags.emplace(flag->name, "true");
            continue;
        }
        std::string value;
        if (inline_value) {
            value = *inline_value;
        } else if (i + 1 < words.size() && !is_flag(words[i + 1])) {
            value = words[++i].text;
        } else {
            return error_for(
                top, sub,
                fmt::format("{} needs a value: {}.", quoted("--" + flag->name),
                            quoted("--" + flag->name + " <" + flag->value_name + ">")));
        }
        checked c = check_value(flag->kind, value, quoted("--" + flag->name + " " + value), cfg);
        if (!c.problem.empty()) {
            return error_for(top, sub, c.problem);
        }
        inv.flags.emplace(flag->name, std::move(c.value));
    }
    if (in_rest) {
        positional.push_back(rest_text);
    }
    if (positional.size() > spec.args.size()) {
        std::string extra;
        for (std::size_t k = spec.args.size(); k < positional.size(); ++k) {
            extra += (extra.empty() ? "" : " ") + positional[k];
        }
        std::string problem = fmt::format("Too many arguments: I didn't expect {}.", quoted(extra));
        const bool takes_text =
            (!spec.args.empty() && spec.args.back().kind == arg_kind::text) ||
            std::any_of(spec.flags.begin(), spec.flags.end(), [](const flag_spec& f) {
                return f.takes_value() && f.kind == arg_kind::text;
            });
        if (takes_text) {
            problem += " Put quotes around a value with spaces, like `\"two words\"`.";
        }
        return error_for(top, sub, std::move(problem));
    }
    // `/status prod`: a word that cannot be the optional first argument but fits the second
    // fills the second, as people drop the optional part rather than type it empty.
    const bool first_left_out =
        positional.size() == 1 && spec.args.size() >= 2 && !spec.args[0].required &&
        !check_value(spec.args[0].kind, positional[0], {}, cfg).problem.empty() &&
        check_value(spec.args[1].kind, positional[0], {}, cfg).problem.empty();
    if (first_left_out) {
        positional.insert(positional.begin(), std::string());
    }
    for (std::size_t k = first_left_out ? 1 : 0; k < spec.args.size(); ++k) {
        const arg_spec& a = spec.args[k];
        if (k >= positional.size()) {
            if (!a.required) {
                continue;
            }
            std::string problem = fmt::format("Missing {}", quoted("<" + a.name + ">"));
            problem += a.help.empty() ? "." : fmt::format(": {}.", a.help);
            if (a.kind == arg_kind::service && !cfg.services.empty()) {
                problem += fmt::format(" Services: {}.", list_names(cfg.service_names()));
            } else if (a.kind == arg_kind::environment && !cfg.environments.empty()) {
                problem += fmt::format(" Environments: {}.", list_names(cfg.environment_names()));
            }
            return error_for(top, sub, std::move(problem));
        }
        checked c = check_value(a.kind, positional[k], quoted(positional[k]), cfg);
        if (!c.problem.empty()) {
            return error_for(top, sub, c.problem);
        }
        inv.args.emplace(a.name, std::move(c.value));
    }
    return inv;
}

// `help <command> [subcommand]`, when a command called "help" is registered.
std::optional<invocation> help_for(std::span<const command_spec* const> commands,
                                   std::string_view command, std::string_view subcommand) {
    const command_spec* help = find_top(commands, "help");
    if (help == nullptr) {
        return std::nullopt;
    }
    invocation inv;
    inv.command = help;
    if (!command.empty()) {
        inv.args.emplace("command", std::string{command});
    }
    if (!subcommand.empty()) {
        inv.args.emplace("subcommand", std::string{subcommand});
    }
    return inv;
}

}  // namespace

// -------------------------------------------------------------------------------------------------

const command_spec* command_spec::find_subcommand(std::string_view sub_name) const {
    for (const auto& s : subcommands) {
        if (s.name == sub_name) {
            return &s;
        }
    }
    return nullptr;
}

core::result<std::vector<token>> tokenize(std::string_view s) {
    std::vector<token> out;
    std::size_t i = 0;
    while (i < s.size()) {
        if (std::size_t sp = space_at(s, i); sp > 0) {
            i += sp;
            continue;
        }
        token t;
        bool at_start = true;
        std::string_view rest = s.substr(i);
        if (rest.starts_with("\u2014") || rest.starts_with("\u2013")) {
            t.text = "--";
            i += 3;
            at_start = false;
        }
        while (i < s.size() && space_at(s, i) == 0) {
            if (s[i] == '\\') {
                i += escape_at(s, i, t.text);
                at_start = false;
                continue;
            }
            quote_mark open = quote_at(s, i);
            bool may_open = at_start || (!t.text.empty() && t.text.back() == '=');
            if (open.kind == quote_kind::none || !may_open) {
                t.text += s[i++];
                at_start = false;
                continue;
            }
            if (at_start) {
                t.quoted = true;
            }
            std::size_t j = i + open.bytes;
            bool closed = false;
            while (j < s.size()) {
                if (s[j] == '\\') {
                    j += escape_at(s, j, t.text);
                    continue;
                }
                quote_mark q = quote_at(s, j);
                // A single quote followed by a letter is an apostrophe ('don't do it').
                bool closes =
                    q.kind == open.kind && (open.kind == quote_kind::double_quote ||
                                            j + q.bytes >= s.size() || !alnum(s[j + q.bytes]));
                if (closes) {
                    j += q.bytes;
                    closed = true;
                    break;
                }
                t.text += s[j++];
            }
            if (!closed) {
                return core::make_error(
                    core::errc::invalid_argument,
                    fmt::format("The quote {} before {} is never closed. Add the closing quote, "
                                "or write `\\{}` for a quote that is part of the text.",
                                quoted(s.substr(i, open.bytes)), quoted(excerpt(s, i + open.bytes)),
                                s.substr(i, open.bytes)));
            }
            i = j;
            at_start = false;
        }
        out.push_back(std::move(t));
    }
    return out;
}

std::string invocation::path() const {
    if (command == nullptr) {
        return {};
    }
    if (subcommand == nullptr) {
        return command->name;
    }
    return command->name + " " + subcommand->name;
}

std::string invocation::arg(std::string_view name) const {
    auto it = args.find(name);
    return it == args.end() ? std::string{} : it->second;
}

std::optional<std::string> invocation::flag(std::string_view name) const {
    auto it = flags.find(name);
    if (it == flags.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::optional<std::chrono::seconds> invocation::duration(std::string_view name) const {
    std::optional<std::string> raw = flag(name);
    if (!raw && args.contains(name)) {
        raw = arg(name);
    }
    if (!raw) {
        return std::nullopt;
    }
    return core::parse_duration(*raw);
}

std::optional<long long> invocation::number(std::string_view name) const {
    std::optional<std::string> raw = flag(name);
    if (!raw && args.contains(name)) {
        raw = arg(name);
    }
    if (!raw || raw->empty() || raw->size() > 18 ||
        !std::all_of(raw->begin(), raw->end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        return std::nullopt;
    }
    return std::stoll(*raw);
}

std::string usage_error::text() const {
    std::string out = problem;
    if (usage.size() == 1) {
        out += fmt::format("\nUsage: {}", quoted(usage.front()));
    } else if (!usage.empty()) {
        out += "\nUsage:";
        for (const auto& line : usage) {
            out += "\n" + quoted(line);
        }
    }
    if (!hint.empty()) {
        out += "\n" + hint;
    }
    return out;
}

std::string display_name(const command_spec& top) {
    return top.slash ? "/" + top.name : top.name;
}

std::string usage_line(const command_spec& top, const command_spec* sub) {
    std::string out = display_name(top);
    if (sub == nullptr && !top.subcommands.empty()) {
        std::vector<std::string> names;
        for (const auto& s : top.subcommands) {
            names.push_back(s.name);
        }
        std::string joined;
        for (const auto& n : names) {
            joined += (joined.empty() ? "" : "|") + n;
        }
        return out + " <" + joined + "> …";
    }
    const command_spec& spec = sub ? *sub : top;
    if (sub != nullptr && sub->name != top.default_subcommand) {
        out += " " + sub->name;
    }
    for (const auto& a : spec.args) {
        std::string name = a.rest ? a.name + "\u2026" : a.name;
        out += a.required ? " <" + name + ">" : " [" + name + "]";
    }
    for (const auto& f : spec.flags) {
        out += f.takes_value() ? fmt::format(" [--{} <{}>]", f.name, f.value_name)
                               : fmt::format(" [--{}]", f.name);
    }
    return out;
}

std::vector<std::string> usage_lines(const command_spec& top, const command_spec* sub) {
    if (sub != nullptr || top.subcommands.empty()) {
        return {usage_line(top, sub)};
    }
    std::vector<std::string> out;
    if (const command_spec* def = top.find_subcommand(top.default_subcommand)) {
        out.push_back(usage_line(top, def));
    }
    for (const auto& s : top.subcommands) {
        if (s.name != top.default_subcommand) {
            out.push_back(usage_line(top, &s));
        }
    }
    return out;
}

std::string did_you_mean(std::string_view input, std::span<const std::string> candidates,
                         const std::function<std::string(const std::string&)>& show) {
    auto hits = core::suggest(input, candidates);
    if (hits.empty()) {
        return {};
    }
    std::string out = " Did you mean ";
    for (std::size_t i = 0; i < hits.size(); ++i) {
        if (i > 0) {
            out += i + 1 == hits.size() ? " or " : ", ";
        }
        out += quoted(show(hits[i]));
    }
    return out + "?";
}

std::string list_names(std::span<const std::string> names, std::size_t limit, bool code) {
    std::size_t shown = std::min(names.size(), limit);
    std::string out;
    for (std::size_t i = 0; i < shown; ++i) {
        if (i > 0) {
            out += (i + 1 == shown && shown == names.size()) ? " and " : ", ";
        }
        out += code ? quoted(names[i]) : escape_mrkdwn(names[i]);
    }
    if (shown < names.size()) {
        out += fmt::format(" and {} more", names.size() - shown);
    }
    return out;
}

parse_result parse(std::span<const command_spec* const> commands, std::string_view text,
                   const core::config& cfg) {
    auto tokens = tokenize(text);
    if (!tokens) {
        // Still point at the right usage when the command name itself is readable.
        std::string_view first = core::trim(text);
        first = first.substr(0, first.find(' '));
        if (const command_spec* top = find_top(commands, lower_name(first))) {
            return error_for(*top, nullptr, tokens.error().message);
        }
        return usage_error{tokens.error().message, {}, "Type `help` to see all commands."};
    }
    std::span<const token> words{*tokens};
    if (words.empty()) {
        if (auto help = help_for(commands, {}, {})) {
            return *help;
        }
        return usage_error{"Type a command, for example `deploy`.", {}, {}};
    }
    const std::string name = lower_name(words.front().text);
    const command_spec* top = find_top(commands, name);
    if (top == nullptr) {
        std::vector<std::string> names;
        for (const auto* spec : commands) {
            names.push_back(spec->name);
        }
        const std::string& shown = words.front().text;
        std::string hint = did_you_mean(name, names, [&](const std::string& n) {
            const command_spec* s = find_top(commands, n);
            return s ? display_name(*s) : n;
        });
        return usage_error{fmt::format("Unknown command {}.{}", quoted(shown), hint),
                           {},
                           "Type `help` to see all commands."};
    }
    words = words.subspan(1);

    // Help asked for in any of the usual ways.
    const bool wants_help = std::any_of(words.begin(), words.end(), is_help_flag);
    const bool help_word = !words.empty() && !words.front().quoted &&
                           core::to_lower(words.front().text) == "help" &&
                           top->find_subcommand("help") == nullptr;
    if (top->name != "help" && (wants_help || help_word)) {
        std::string sub;
        for (const auto& w : words) {
            const std::string word = core::to_lower(w.text);
            if (is_help_flag(w) || word == "help") {
                continue;
            }
            if (!w.quoted && top->find_subcommand(word) != nullptr) {
                sub = word;
            }
            break;
        }
        if (auto help = help_for(commands, top->name, sub)) {
            return *help;
        }
    }

    if (top->subcommands.empty()) {
        return parse_arguments(*top, nullptr, words, cfg);
    }
    const command_spec* def = top->find_subcommand(top->default_subcommand);
    if (words.empty() && top->find_subcommand(top->when_bare) != nullptr) {
        invocation bare;
        bare.command = top;
        bare.subcommand = top->find_subcommand(top->when_bare);
        return bare;
    }
    if (words.empty() || (is_flag(words.front()) && def == nullptr)) {
        return usage_error{
            fmt::format("{} needs a bit more. Pick one of these:", quoted(display_name(*top))),
            usage_lines(*top, nullptr), help_hint(*top, nullptr)};
    }
    const std::string first = core::to_lower(words.front().text);
    if (const command_spec* sub = words.front().quoted ? nullptr : top->find_subcommand(first)) {
        return parse_arguments(*top, sub, words.subspan(1), cfg);
    }
    // The default subcommand is never typed, so it is never suggested.
    std::vector<std::string> sub_names;
    for (const auto& s : top->subcommands) {
        if (s.name != top->default_subcommand) {
            sub_names.push_back(s.name);
        }
    }
    auto show_sub = [&](const std::string& n) { return display_name(*top) + " " + n; };
    if (def != nullptr) {
        // "deploy stauts" is more likely a typo of a subcommand than a service called "stauts".
        bool validated_first =
            !def->args.empty() && (def->args.front().kind == arg_kind::service ||
                                   def->args.front().kind == arg_kind::environment ||
                                   def->args.front().kind == arg_kind::role);
        if (validated_first && !is_flag(words.front()) &&
            !check_value(def->args.front().kind, words.front().text, {}, cfg).problem.empty() &&
            !core::suggest(first, sub_names).empty()) {
            return usage_error{fmt::format("Unknown subcommand {}.{}", quoted(words.front().text),
                                           did_you_mean(first, sub_names, show_sub)),
                               usage_lines(*top, nullptr), help_hint(*top, nullptr)};
        }
        return parse_arguments(*top, def, words, cfg);
    }
    std::string hint = did_you_mean(first, sub_names, show_sub);
    if (hint.empty()) {
        hint = fmt::format(" {} can do: {}.", quoted(display_name(*top)), list_names(sub_names));
    }
    return usage_error{fmt::format("Unknown subcommand {}.{}", quoted(words.front().text), hint),
                       usage_lines(*top, nullptr), help_hint(*top, nullptr)};
}

}  // namespace tugboat::commands
