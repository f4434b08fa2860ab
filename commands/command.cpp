#include "commands/command.hpp"

#include "core/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>

namespace tugboat::commands {

namespace {

std::string normalize(std::string_view name) {
    name = core::trim(name);
    if (name.starts_with('/')) {
        name.remove_prefix(1);
    }
    return core::to_lower(name);
}

bool valid_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::islower(static_cast<unsigned char>(c)) ||
               std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
}

core::result<void> as_void(const core::result<message_ref>& r) {
    if (!r) {
        return r.error();
    }
    return core::ok();
}

}  // namespace

// GCC 12 destroys brace-initialized temporaries inside a co_await expression twice, so every
// argument below is a named local.
boost::asio::awaitable<core::result<void>> answer_or_fail(const request& req,
                                                          core::result<std::string> said) {
    if (!said) {
        co_return said.error();
    }
    co_return co_await req.answer(plain_message(*said));
}

boost::asio::awaitable<core::result<void>> answer_or_fail(const request& req,
                                                          core::result<message> said) {
    if (!said) {
        co_return said.error();
    }
    co_return co_await req.answer(std::move(*said));
}

boost::asio::awaitable<core::result<void>> answer(chat& out, inbound_event ev, message msg) {
    std::optional<core::result<message_ref>> sent;
    switch (ev.kind) {
        case event_kind::slash_command:
        case event_kind::button:
            if (!ev.response_url.empty()) {
                auto responded = co_await out.respond(ev.response_url, msg);
                if (responded) {
                    co_return responded;
                }
            }
            if (!ev.channel.empty()) {
                co_return co_await out.ephemeral(ev.channel, ev.actor, ev.thread_ts,
                                                 std::move(msg));
            }
            break;
        case event_kind::mention: {
            message_ref root{ev.channel, ev.thread_ts.empty() ? ev.message_ts : ev.thread_ts};
            if (!root.channel.empty() && !root.ts.empty()) {
                sent = co_await out.reply(root, std::move(msg), false);
            } else if (!root.channel.empty()) {
                sent = co_await out.post(root.channel, std::move(msg));
            }
            break;
        }
        case event_kind::direct_message: {
            // A DM is private already; threading every answer there would only add clicks.
            message_ref root{ev.channel, ev.thread_ts};
            if (!root.channel.empty() && !root.ts.empty()) {
                sent = co_await out.reply(root, std::move(msg), false);
            } else if (!root.channel.empty()) {
                sent = co_await out.post(root.channel, std::move(msg));
            }
            break;
        }
        case event_kind::modal_submission:
        case event_kind::modal_closed: break;
    }
    if (!sent) {
        sent = co_await out.dm(ev.actor, std::move(msg));
    }
    co_return as_void(*sent);
}

boost::asio::awaitable<core::result<void>> request::answer(message msg) const {
    co_return co_await commands::answer(chat, event, std::move(msg));
}

core::result<void> command_registry::declare(const command_spec& spec) {
    if (!valid_name(spec.name)) {
        return core::make_error(
            core::errc::invalid_argument,
            fmt::format("command name `{}` must be a lower-case word", spec.name));
    }
    if (find(spec.name) != nullptr) {
        return core::make_error(core::errc::already_exists,
                                fmt::format("command `{}` is declared twice", spec.name));
    }
    specs_.push_back(&spec);
    return core::ok();
}

core::result<void> command_registry::attach(command& handler) {
    const std::string& name = handler.spec().name;
    if (find(name) == nullptr) {
        return core::make_error(core::errc::not_found,
                                fmt::format("command `{}` is not in the registration list "
                                            "(commands/registry.cpp)",
                                            name));
    }
    if (handlers_.contains(name)) {
        return core::make_error(core::errc::already_exists,
                                fmt::format("command `{}` already has a handler", name));
    }
    handlers_.emplace(name, &handler);
    return core::ok();
}

core::result<void> command_registry::attach(std::unique_ptr<command> handler) {
    auto attached = attach(*handler);
    if (attached) {
        owned_.push_back(std::move(handler));
    }
    return attached;
}

core::result<void> command_registry::attach_actions(std::string prefix, action_handler& handler) {
    if (prefix.empty() || prefix.find('.') != std::string::npos) {
        return core::make_error(
            core::errc::invalid_argument,
            fmt::format("action prefix `{}` must be one word without '.'", prefix));
    }
    if (actions_.contains(prefix)) {
        return core::make_error(core::errc::already_exists,
                                fmt::format("action prefix `{}` already has a handler", prefix));
    }
    actions_.emplace(std::move(prefix), &handler);
    return core::ok();
}

const command_spec* command_registry::find(std::string_view name) const {
    const std::string wanted = normalize(name);
    for (const auto* spec : specs_) {
        if (spec->name == wanted) {
            return spec;
        }
    }
    return nullptr;
}

command* command_registry::handler(std::string_view name) const {
    auto it = handlers_.find(normalize(name));
    return it == handlers_.end() ? nullptr : it->second;
}

action_handler* command_registry::action_handler_for(std::string_view action_id) const {
    auto it = actions_.find(action_id.substr(0, action_id.find('.')));
    return it == actions_.end() ? nullptr : it->second;
}

}  // namespace tugboat::commands
