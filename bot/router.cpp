#include "bot/router.hpp"

#include "commands/deploy_policy.hpp"

#include <fmt/format.h>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <exception>

// Arguments of co_await calls are named locals on purpose: GCC 12 can destroy temporaries of a
// co_await full-expression twice.

namespace tugboat::bot {

namespace {

using commands::event_kind;
using commands::message;

message usage_message(const commands::usage_error& err) {
    message m;
    m.text = err.text();
    std::string body = err.problem;
    if (err.usage.size() == 1) {
        body += fmt::format("\nUsage: `{}`", commands::escape_mrkdwn(err.usage.front()));
    } else {
        for (const auto& line : err.usage) {
            body += fmt::format("\n`{}`", commands::escape_mrkdwn(line));
        }
    }
    m.add(commands::section{body, {}});
    if (!err.hint.empty()) {
        m.add(commands::context{{err.hint}});
    }
    return m;
}

bool is_text_event(event_kind kind) {
    return kind == event_kind::slash_command || kind == event_kind::mention ||
           kind == event_kind::direct_message;
}

}  // namespace

std::string_view to_string(route_outcome outcome) noexcept {
    switch (outcome) {
        case route_outcome::handled: return "handled";
        case route_outcome::failed: return "failed";
        case route_outcome::invalid_input: return "invalid_input";
        case route_outcome::not_enabled: return "not_enabled";
        case route_outcome::denied: return "denied";
        case route_outcome::unknown_action: return "unknown_action";
        case route_outcome::ignored: return "ignored";
    }
    return "unknown";
}

boost::asio::awaitable<core::result<void>> allow_all_policy::authorize(authorization_request) {
    co_return core::ok();
}

boost::asio::awaitable<core::result<void>> admin_policy::authorize(authorization_request req) {
    if (req.level != commands::access_level::admin) {
        co_return core::ok();
    }
    std::vector<std::string> admins = config_.bot.admins;
    if (req.command == "access") {
        for (const auto& id : config_.access.admins) {
            if (std::ranges::find(admins, id) == admins.end()) {
                admins.push_back(id);
            }
        }
    }
    const std::string shown =
        req.subcommand.empty() ? req.command : req.command + " " + req.subcommand;
    if (admins.empty()) {
        co_return core::make_error(
            core::errc::permission_denied,
            fmt::format("`{}` is for the bot's admins, and none are configured: an operator can "
                        "add people or user groups to `bot.admins`.",
                        shown));
    }
    auto who = co_await commands::principal_of(people_, log_, req.actor);
    if (commands::matches(who, admins)) {
        co_return core::ok();
    }
    co_return core::make_error(
        core::errc::permission_denied,
        fmt::format("`{}` is for admins: {}. Ask one of them.", shown, commands::mentions(admins)));
}

router::router(const commands::command_registry& registry, const core::config& cfg,
               commands::chat& chat, core::logger& log, const core::clock& clock, policy& policy)
    : registry_(registry), config_(cfg), chat_(chat), log_(log), clock_(clock), policy_(policy) {}

boost::asio::awaitable<route_outcome> router::route(commands::inbound_event ev) {
    if (is_text_event(ev.kind)) {
        co_return co_await route_text(std::move(ev));
    }
    co_return co_await route_action(std::move(ev));
}

commands::request router::make_request(commands::invocation input,
                                       commands::inbound_event ev) const {
    return commands::request{
        .input = std::move(input),
        .event = std::move(ev),
        .config = config_,
        .chat = chat_,
        .log = log_,
        .clock = clock_,
        .registry = registry_,
    };
}

boost::asio::awaitable<void> router::tell(commands::inbound_event ev, message msg) {
    auto sent = co_await commands::answer(chat_, ev, std::move(msg));
    if (!sent) {
        log_.warn("answer_failed", {{"actor", ev.actor},
                                    {"channel", ev.channel},
                                    {"kind", commands::to_string(ev.kind)},
                                    {"code", core::to_string(sent.error().code)},
                                    {"error", sent.error().message}});
    }
}

boost::asio::awaitable<route_outcome> router::route_text(commands::inbound_event ev) {
    log_.debug("route", {{"kind", commands::to_string(ev.kind)},
                         {"actor", ev.actor},
                         {"channel", ev.channel},
                         {"text", ev.text}});
    // A mention or DM that does not start with a command is a question for the FAQ.
    if (ev.kind != event_kind::slash_command && registry_.enabled("faq")) {
        auto first = ev.text.substr(0, ev.text.find_first_of(" \t\n"));
        if (!first.empty() && registry_.find(first) == nullptr &&
            (first.find('?') != std::string::npos || ev.text.find(' ') != std::string::npos)) {
            ev.text = "faq " + ev.text;
        }
    }
    auto parsed = commands::parse(registry_.specs(), ev.text, config_);
    if (!parsed) {
        log_.info("command_rejected", {{"actor", ev.actor},
                                       {"kind", commands::to_string(ev.kind)},
                                       {"reason", "invalid_input"}});
        message reply = usage_message(parsed.error());
        co_await tell(ev, std::move(reply));
        co_return route_outcome::invalid_input;
    }
    const commands::invocation& input = *parsed;
    const std::string path = input.path();
    const std::string shown = commands::display_name(*input.command);

    commands::command* handler = registry_.handler(input.command->name);
    if (handler == nullptr) {
        log_.info("command_rejected",
                  {{"actor", ev.actor}, {"command", path}, {"reason", "not_enabled"}});
        message reply = commands::plain_message(
            fmt::format("`{}` is not enabled on this bot. Type `help` to see what is.", shown));
        co_await tell(ev, std::move(reply));
        co_return route_outcome::not_enabled;
    }

    authorization_request authz{
        .actor = ev.actor,
        .channel = ev.channel,
        .command = input.command->name,
        .subcommand = input.subcommand ? input.subcommand->name : std::string{},
        .level = input.target().access,
        .args = input.args,
    };
    auto allowed = co_await policy_.authorize(std::move(authz));
    if (!allowed) {
        log_.info("command_rejected",
                  {{"actor", ev.actor}, {"command", path}, {"reason", "denied"}});
        std::string why = allowed.error().message.empty()
                              ? fmt::format("You're not allowed to run `{}`.", shown)
                              : allowed.error().message;
        message reply = commands::plain_message(std::move(why));
        co_await tell(ev, std::move(reply));
        co_return route_outcome::denied;
    }

    log_.info("command",
              {{"actor", ev.actor}, {"command", path}, {"kind", commands::to_string(ev.kind)}});
    std::optional<core::error> failure;
    bool crashed = false;
    try {
        commands::request req = make_request(input, ev);
        auto done = co_await handler->handle(std::move(req));
        if (!done) {
            failure = done.error();
        }
    } catch (const boost::system::system_error& e) {
        if (e.code() == boost::asio::error::operation_aborted) {
            throw;  // shutdown: let cancellation reach the spawner
        }
        log_.error("command_crashed", {{"command", path}, {"error", e.what()}});
        crashed = true;
    } catch (const std::exception& e) {
        log_.error("command_crashed", {{"command", path}, {"error", e.what()}});
        crashed = true;
    }
    if (crashed) {
        message reply = commands::plain_message(fmt::format(
            "Sorry, `{}` failed on my side. The details are in the bot's log; try again, and "
            "tell the bot's admins if it keeps happening.",
            shown));
        co_await tell(ev, std::move(reply));
        co_return route_outcome::failed;
    }
    if (failure) {
        log_.warn("command_failed", {{"actor", ev.actor},
                                     {"command", path},
                                     {"code", core::to_string(failure->code)},
                                     {"error", failure->message}});
        message reply = commands::plain_message(failure->message);
        co_await tell(ev, std::move(reply));
        co_return route_outcome::failed;
    }
    co_return route_outcome::handled;
}

bool router::ignores(const commands::inbound_event& ev) const {
    return !is_text_event(ev.kind) &&
           (ev.action_id.empty() || (ev.kind == event_kind::modal_closed &&
                                     registry_.action_handler_for(ev.action_id) == nullptr));
}

boost::asio::awaitable<route_outcome> router::route_action(commands::inbound_event ev) {
    log_.debug(
        "route",
        {{"kind", commands::to_string(ev.kind)}, {"actor", ev.actor}, {"action_id", ev.action_id}});
    commands::action_handler* handler =
        ev.action_id.empty() ? nullptr : registry_.action_handler_for(ev.action_id);
    if (handler == nullptr) {
        // Closing a modal nobody listens for, or an action without an id, needs no answer.
        if (ev.kind == event_kind::modal_closed || ev.action_id.empty()) {
            co_return route_outcome::ignored;
        }
        log_.warn("action_unknown", {{"actor", ev.actor}, {"action_id", ev.action_id}});
        message reply = commands::plain_message(fmt::format(
            "That button isn't handled by this bot (action `{}`); it may come from an older "
            "message. Run the command again for fresh buttons, or type `help`.",
            commands::escape_mrkdwn(ev.action_id)));
        co_await tell(ev, std::move(reply));
        co_return route_outcome::unknown_action;
    }
    log_.info(
        "action",
        {{"actor", ev.actor}, {"action_id", ev.action_id}, {"kind", commands::to_string(ev.kind)}});
    std::optional<core::error> failure;
    bool crashed = false;
    try {
        commands::request req = make_request(commands::invocation{}, ev);
        auto done = co_await handler->handle_action(std::move(req));
        if (!done) {
            failure = done.error();
        }
    } catch (const boost::system::system_error& e) {
        if (e.code() == boost::asio::error::operation_aborted) {
            throw;
        }
        log_.error("action_crashed", {{"action_id", ev.action_id}, {"error", e.what()}});
        crashed = true;
    } catch (const std::exception& e) {
        log_.error("action_crashed", {{"action_id", ev.action_id}, {"error", e.what()}});
        crashed = true;
    }
    if (crashed) {
        message reply = commands::plain_message(
            "Sorry, that didn't work on my side. The details are in the bot's log; try again, "
            "and tell the bot's admins if it keeps happening.");
        co_await tell(ev, std::move(reply));
        co_return route_outcome::failed;
    }
    if (failure) {
        log_.warn("action_failed", {{"actor", ev.actor},
                                    {"action_id", ev.action_id},
                                    {"code", core::to_string(failure->code)},
                                    {"error", failure->message}});
        message reply = commands::plain_message(failure->message);
        co_await tell(ev, std::move(reply));
        co_return route_outcome::failed;
    }
    co_return route_outcome::handled;
}

}  // namespace tugboat::bot
