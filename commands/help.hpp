#pragma once

// The built-in `help` command and the help texts generated from command_spec declarations.

#include "commands/command.hpp"

namespace tugboat::commands {

/// The declaration of `help [command] [subcommand]`.
const command_spec& help_spec();

/// Every declared command with its summary; commands without a handler are listed as not
/// enabled on this bot.
message help_overview(const command_registry& registry);

/// Usage, arguments, flags and examples of `top`, or of its subcommand `sub` when not nullptr.
message help_for(const command_spec& top, const command_spec* sub);

/// `help`, `help <command>`, `help <command> <subcommand>`; unknown topics get suggestions.
class help_command final : public command {
public:
    const command_spec& spec() const override { return help_spec(); }
    boost::asio::awaitable<core::result<void>> handle(request req) override;
};

}  // namespace tugboat::commands
