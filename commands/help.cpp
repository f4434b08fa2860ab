#include "commands/help.hpp"

#include "core/text.hpp"

#include <fmt/format.h>

namespace tugboat::commands {

namespace {

std::string example_line(const command_spec& top, const std::string& example) {
    return top.slash ? "/" + example : example;
}

std::string title(const command_spec& top, const command_spec* sub) {
    if (sub == nullptr) {
        return display_name(top);
    }
    return display_name(top) + " " + sub->name;
}

void add_examples(message& m, const command_spec& top, const std::vector<std::string>& examples) {
    if (examples.empty()) {
        return;
    }
    std::string lines;
    for (const auto& e : examples) {
        lines += (lines.empty() ? "" : "\n") + example_line(top, e);
    }
    m.add(section{"*Examples*", {}});
    m.add(code{lines});
}

}  // namespace

const command_spec& help_spec() {
    static const command_spec spec{
        .name = "help",
        .summary = "Show what I can do, or how to use one command.",
        .args = {{.name = "command", .required = false, .help = "a command, e.g. `deploy`"},
                 {.name = "subcommand",
                  .required = false,
                  .help = "one of its subcommands, e.g. `rollback`"}},
        .examples = {"help", "help deploy", "help deploy rollback"},
        .slash = false,
    };
    return spec;
}

message help_overview(const command_registry& registry) {
    message m;
    m.text = "Tugboat commands";
    m.add(header{"Tugboat commands"});
    std::string lines;
    std::vector<std::string> disabled;
    for (const auto* spec : registry.specs()) {
        if (!registry.enabled(spec->name)) {
            disabled.push_back(display_name(*spec));
            continue;
        }
        lines +=
            fmt::format("{}`{}` {}", lines.empty() ? "" : "\n", display_name(*spec), spec->summary);
        if (!spec->subcommands.empty()) {
            std::vector<std::string> subs;
            for (const auto& s : spec->subcommands) {
                if (s.name != spec->default_subcommand) {
                    subs.push_back(s.name);
                }
            }
            if (!subs.empty()) {
                lines += fmt::format(" Also: {}.", list_names(subs, subs.size()));
            }
        }
    }
    m.add(section{lines, {}});
    std::vector<std::string> notes{
        "Type `help &lt;command&gt;` for details and examples, e.g. `help deploy`. You can also "
        "mention me or DM me with the same words."};
    if (!disabled.empty()) {
        notes.push_back(
            fmt::format("Not enabled on this bot: {}.", list_names(disabled, disabled.size())));
    }
    m.add(context{notes});
    return m;
}

message help_for(const command_spec& top, const command_spec* sub) {
    const command_spec& spec = sub ? *sub : top;
    message m;
    m.text = fmt::format("Help for {}", title(top, sub));
    m.add(header{title(top, sub)});
    std::string about = spec.summary;
    if (!spec.details.empty()) {
        about += "\n" + spec.details;
    }
    m.add(section{about, {}});

    std::string usage;
    for (const auto& line : usage_lines(top, sub)) {
        usage += (usage.empty() ? "" : "\n") + line;
    }
    m.add(code{usage});

    if (sub == nullptr && !top.subcommands.empty()) {
        std::string lines;
        std::vector<std::string> examples;
        for (const auto& s : top.subcommands) {
            std::string shown = s.name == top.default_subcommand
                                    ? fmt::format("`{}` (or no subcommand)", s.name)
                                    : fmt::format("`{}`", s.name);
            lines += fmt::format("{}{} {}", lines.empty() ? "" : "\n", shown, s.summary);
            if (!s.examples.empty()) {
                examples.push_back(s.examples.front());
            }
        }
        m.add(section{"*Subcommands*\n" + lines, {}});
        add_examples(m, top, top.examples.empty() ? examples : top.examples);
        const command_spec& some = top.subcommands.back();
        m.add(
            context{{fmt::format("Type `help {} &lt;subcommand&gt;` for its arguments and flags, "
                                 "e.g. `help {} {}`.",
                                 top.name, top.name, some.name)}});
        return m;
    }

    if (!spec.args.empty()) {
        section args{"*Arguments*", {}};
        for (const auto& a : spec.args) {
            std::string name = a.rest ? a.name + "\u2026" : a.name;
            std::string value = a.help;
            if (!a.required) {
                value += value.empty() ? "optional" : " (optional)";
            }
            args.fields.push_back({a.required ? "<" + name + ">" : "[" + name + "]", value});
        }
        m.add(std::move(args));
    }
    if (!spec.flags.empty()) {
        section flags{"*Flags*", {}};
        for (const auto& f : spec.flags) {
            std::string name =
                f.takes_value() ? fmt::format("--{} <{}>", f.name, f.value_name) : "--" + f.name;
            flags.fields.push_back({name, f.help});
        }
        m.add(std::move(flags));
    }
    add_examples(m, top, spec.examples);
    if (sub != nullptr) {
        m.add(context{{fmt::format("Type `help {}` for the other {} commands.", top.name,
                                   display_name(top))}});
    } else {
        m.add(context{{"Type `help` to see all commands."}});
    }
    return m;
}

boost::asio::awaitable<core::result<void>> help_command::handle(request req) {
    const std::string topic = core::to_lower(req.input.arg("command"));
    const std::string sub_name = core::to_lower(req.input.arg("subcommand"));
    if (topic.empty()) {
        message overview = help_overview(req.registry);
        co_return co_await req.answer(std::move(overview));
    }
    const command_spec* top = req.registry.find(topic);
    if (top == nullptr) {
        std::vector<std::string> names;
        for (const auto* s : req.registry.specs()) {
            names.push_back(s->name);
        }
        std::string hint =
            did_you_mean(topic, names, [](const std::string& n) { return "help " + n; });
        message unknown =
            plain_message(fmt::format("There's no command `{}`.{} Type `help` to see all commands.",
                                      escape_mrkdwn(topic), hint));
        co_return co_await req.answer(std::move(unknown));
    }
    const command_spec* sub = nullptr;
    std::string problem;
    if (!sub_name.empty()) {
        sub = top->find_subcommand(sub_name);
        if (sub == nullptr && top->subcommands.empty()) {
            problem = fmt::format("`{}` has no subcommands; here is its help.", display_name(*top));
        } else if (sub == nullptr) {
            std::vector<std::string> names;
            for (const auto& s : top->subcommands) {
                names.push_back(s.name);
            }
            problem = fmt::format(
                "`{}` has no subcommand `{}`.{}", display_name(*top), escape_mrkdwn(sub_name),
                did_you_mean(sub_name, names,
                             [&](const std::string& n) { return "help " + top->name + " " + n; }));
        }
    }
    message m = help_for(*top, sub);
    if (!problem.empty()) {
        m.blocks.insert(m.blocks.begin(), section{problem, {}});
    }
    if (!req.registry.enabled(top->name)) {
        m.add(context{{fmt::format("`{}` is not enabled on this bot.", display_name(*top))}});
    }
    co_return co_await req.answer(std::move(m));
}

}  // namespace tugboat::commands
