#pragma once

#include "commands/command.hpp"
#include "commands/grammar.hpp"

namespace tugboat::commands {

/// The declaration of `/deploy` (grammar, usage and help), listed in commands/registry.cpp.
const command_spec& deploy_spec();

class deploy_engine;

/// `/deploy` and its buttons (deploy.approve, deploy.reject, deploy.cancel); the work is the
/// engine's (commands/deploy_engine.hpp).
class deploy_command final : public command, public action_handler {
public:
    explicit deploy_command(deploy_engine& engine);
    const command_spec& spec() const override;
    boost::asio::awaitable<core::result<void>> handle(request req) override;
    boost::asio::awaitable<core::result<void>> handle_action(request req) override;

private:
    deploy_engine& engine_;
};

}  // namespace tugboat::commands
