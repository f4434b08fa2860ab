#pragma once

// Turns one inbound event into one command or action call: parse with the command grammar,
// check the policy, dispatch, and tell the person what went wrong when anything did.

#include "commands/command.hpp"
#include "commands/directory.hpp"
#include "commands/event.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"

#include <boost/asio/awaitable.hpp>

#include <map>
#include <string>
#include <string_view>

namespace tugboat::bot {

/// What the policy is asked: may `actor` run this command with these arguments?
struct authorization_request {
    std::string actor;       ///< Slack user ID
    std::string channel;     ///< where it was typed
    std::string command;     ///< "deploy"
    std::string subcommand;  ///< "rollback", "start" (the default), or ""
    commands::access_level level = commands::access_level::anyone;  ///< from the spec
    std::map<std::string, std::string, std::less<>> args;           ///< normalized positionals
};

/// Decides who may run what (deployers and readers per environment, approvers, admins).
class policy {
public:
    virtual ~policy() = default;
    /// ok, or permission_denied whose message tells the person why and whom to ask, e.g.
    /// "Only the payments team can deploy to prod. Ask in #payments."
    virtual boost::asio::awaitable<core::result<void>> authorize(authorization_request req) = 0;
};

/// Lets everyone run everything; the default until config-driven policies exist.
class allow_all_policy final : public policy {
public:
    boost::asio::awaitable<core::result<void>> authorize(authorization_request req) override;
};

/// Commands declared admin-only (`/faq reload`, `/access audit`) are for `bot.admins` (and, for
/// `/access`, `access.admins`), people or user groups; everything else is let through, as the
/// commands check their own rules (deployers, readers, approvers).
class admin_policy final : public policy {
public:
    admin_policy(const core::config& cfg, commands::directory& people, core::logger& log)
        : config_(cfg), people_(people), log_(log) {}
    boost::asio::awaitable<core::result<void>> authorize(authorization_request req) override;

private:
    const core::config& config_;
    commands::directory& people_;
    core::logger& log_;
};

/// How an event ended, for logs and tests.
enum class route_outcome {
    handled,         ///< the handler ran and succeeded
    failed,          ///< the handler returned an error or threw; the person was told
    invalid_input,   ///< unknown command, bad arguments or quotes; usage was shown
    not_enabled,     ///< declared command without a handler on this bot
    denied,          ///< the policy said no
    unknown_action,  ///< a button/modal nobody handles
    ignored,         ///< nothing to do (a closed modal nobody listens for, an empty action)
};

/// Stable lower-case name of an outcome, for logs.
std::string_view to_string(route_outcome outcome) noexcept;

/// Dispatches events to the registry's commands and action handlers. All references must
/// outlive the router. Never sees JSON: transports normalize first.
class router {
public:
    router(const commands::command_registry& registry, const core::config& cfg,
           commands::chat& chat, core::logger& log, const core::clock& clock, policy& policy);

    /// Handles one event to the end, answering the person (ephemeral for slash commands and
    /// buttons, in the thread for mentions, in the DM for DMs) whenever the command cannot run
    /// or fails. Exceptions from handlers are logged and reported as a failure; cancellation
    /// propagates.
    boost::asio::awaitable<route_outcome> route(commands::inbound_event ev);

    /// True when route() would do nothing with `ev` (a modal closed that no command listens
    /// for, an action without an id): the dispatcher then spends no coroutine on it.
    bool ignores(const commands::inbound_event& ev) const;

private:
    boost::asio::awaitable<route_outcome> route_text(commands::inbound_event ev);
    boost::asio::awaitable<route_outcome> route_action(commands::inbound_event ev);
    boost::asio::awaitable<void> tell(commands::inbound_event ev, commands::message msg);
    commands::request make_request(commands::invocation input, commands::inbound_event ev) const;

    const commands::command_registry& registry_;
    const core::config& config_;
    commands::chat& chat_;
    core::logger& log_;
    const core::clock& clock_;
    policy& policy_;
};

}  // namespace tugboat::bot
