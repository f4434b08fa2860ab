#include "commands/faq.hpp"

namespace tugboat::commands {

namespace {

command_spec make() {
    command_spec ask{
        .name = "ask",
        .summary = "Ask a question; the answer comes from the team's docs.",
        .args = {{.name = "question",
                  .required = true,
                  .rest = true,
                  .help = "your question in plain words"}},
        .examples = {"faq how do I restart a pod", "faq why is my pod pending"},
    };
    command_spec reload{
        .name = "reload",
        .summary = "Read the docs folders again now instead of waiting.",
        .examples = {"faq reload"},
        .access = access_level::admin,
    };
    command_spec stats{
        .name = "stats",
        .summary = "Show what gets asked and how often answers helped.",
        .examples = {"faq stats"},
    };
    return command_spec{
        .name = "faq",
        .summary = "Ask questions about our platform and tools.",
        .subcommands = {std::move(ask), std::move(reload), std::move(stats)},
        .default_subcommand = "ask",
    };
}

}  // namespace

const command_spec& faq_spec() {
    static const command_spec spec = make();
    return spec;
}

}  // namespace tugboat::commands
