#pragma once

// The command interface, what a handler is given, and the registry the router dispatches from.
// Every command is declared in the one registration list in commands/registry.cpp
// (make_registry); the composition root attaches the handlers it can build, and a declared
// command without a handler answers that it is not enabled on this bot.

#include "commands/chat.hpp"
#include "commands/event.hpp"
#include "commands/grammar.hpp"
#include "commands/message.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"

#include <boost/asio/awaitable.hpp>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::commands {

class command_registry;

/// Everything a handler gets: the parsed input, the event it came from and the interfaces it
/// may use. Passed by value; the referenced objects outlive every handler.
struct request {
    invocation input;     ///< parsed command; empty (command == nullptr) for buttons and modals
    inbound_event event;  ///< who, where, and the raw text or action
    const core::config& config;
    commands::chat& chat;
    core::logger& log;
    const core::clock& clock;
    const command_registry& registry;

    /// Answers the person where they asked; see answer().
    boost::asio::awaitable<core::result<void>> answer(message msg) const;
};

/// Answers the person behind `ev` where they will see it and nobody else is bothered:
/// - slash command, button: an ephemeral message in the channel (in the thread, if any);
/// - mention: a reply in the mention's thread (a new thread under the mention otherwise);
/// - DM: a message in the DM, in the thread when the DM was written in one;
/// - modal submission or close: a DM.
boost::asio::awaitable<core::result<void>> answer(chat& out, inbound_event ev, message msg);

/// Answers with `said` (see answer()), or returns its error for the router to show.
boost::asio::awaitable<core::result<void>> answer_or_fail(const request& req,
                                                          core::result<std::string> said);
boost::asio::awaitable<core::result<void>> answer_or_fail(const request& req,
                                                          core::result<message> said);

/// One command: its declaration and what it does. Errors returned from handle() are shown to
/// the person as they are, so their messages must say what went wrong and what to type instead.
class command {
public:
    virtual ~command() = default;
    /// The declaration, usually the same object the registration list holds.
    virtual const command_spec& spec() const = 0;
    /// Runs the command; answers through req.chat / req.answer().
    virtual boost::asio::awaitable<core::result<void>> handle(request req) = 0;
};

/// Handles button presses and modal submissions whose action_id starts with one prefix.
class action_handler {
public:
    virtual ~action_handler() = default;
    /// Handles req.event (kind button, modal_submission or modal_closed).
    virtual boost::asio::awaitable<core::result<void>> handle_action(request req) = 0;
};

/// Declared commands, their handlers and the action handlers. Handlers are referenced, not owned
/// (the composition root owns them), except those attached as unique_ptr.
class command_registry {
public:
    command_registry() = default;
    command_registry(command_registry&&) noexcept = default;
    command_registry& operator=(command_registry&&) noexcept = default;
    command_registry(const command_registry&) = delete;
    command_registry& operator=(const command_registry&) = delete;
    ~command_registry() = default;

    /// Declares a command. Errors: already_exists for a second spec with the same name,
    /// invalid_argument for an empty or non-lower-case name.
    core::result<void> declare(const command_spec& spec);

    /// Attaches the handler of a declared command (matched by handler.spec().name).
    /// Errors: not_found when no such command is declared, already_exists when it has one.
    core::result<void> attach(command& handler);
    /// Same, keeping the handler alive for as long as the registry.
    core::result<void> attach(std::unique_ptr<command> handler);

    /// Routes action ids "<prefix>" and "<prefix>.<anything>" to `handler`.
    /// Errors: already_exists when the prefix is taken, invalid_argument when it is empty or
    /// contains '.'.
    core::result<void> attach_actions(std::string prefix, action_handler& handler);

    /// The declaration called `name` (case-insensitive, leading '/' ignored), or nullptr.
    const command_spec* find(std::string_view name) const;
    /// The handler of command `name`, or nullptr when it is declared but not enabled.
    command* handler(std::string_view name) const;
    /// The handler for `action_id`, or nullptr.
    action_handler* action_handler_for(std::string_view action_id) const;

    /// Every declaration in registration order (what help lists).
    const std::vector<const command_spec*>& specs() const { return specs_; }
    /// Whether `name` has a handler.
    bool enabled(std::string_view name) const { return handler(name) != nullptr; }

private:
    std::vector<const command_spec*> specs_;
    std::map<std::string, command*, std::less<>> handlers_;
    std::map<std::string, action_handler*, std::less<>> actions_;
    std::vector<std::unique_ptr<command>> owned_;
};

/// The registry holding every command Tugboat has, declared in one list (registry.cpp), with
/// the built-in `help` attached. The composition root attaches the other handlers.
command_registry make_registry();

}  // namespace tugboat::commands
