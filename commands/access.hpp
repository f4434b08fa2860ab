#pragma once

#include "commands/command.hpp"
#include "commands/grammar.hpp"

namespace tugboat::commands {

/// The declaration of `/access` (grammar, usage and help), listed in commands/registry.cpp.
const command_spec& access_spec();

class access_engine;

/// `/access` and its buttons and forms (access.approve, access.deny, access.extend,
/// access.revoke, access.approve_extension, access.deny_extension; the forms access.request
/// and access.deny_reason); the work is the engine's (commands/access_engine.hpp).
class access_command final : public command, public action_handler {
public:
    explicit access_command(access_engine& engine);
    const command_spec& spec() const override;
    boost::asio::awaitable<core::result<void>> handle(request req) override;
    boost::asio::awaitable<core::result<void>> handle_action(request req) override;

private:
    access_engine& engine_;
};

}  // namespace tugboat::commands
