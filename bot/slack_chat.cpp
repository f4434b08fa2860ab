#include "bot/slack_chat.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tugboat::bot {

using commands::message;
using commands::message_ref;
using nlohmann::json;

namespace {

/// The message part of a Web API body ({"text":…, "blocks":[…]}) as a JSON object to extend.
json payload(const message& msg) {
    return json::parse(commands::to_slack_payload_json(msg));
}

}  // namespace

slack_chat::slack_chat(slack_send_queue& queue, slack_web_api& api, const core::config& cfg,
                       core::logger& log)
    : queue_(queue), api_(api), config_(cfg), log_(log) {}

void slack_chat::know_workspace(std::string url) {
    if (!url.empty() && !url.ends_with('/')) {
        url += '/';
    }
    workspace_url_ = std::move(url);
}

std::string slack_chat::link(const commands::message_ref& ref) const {
    if (workspace_url_.empty() || ref.channel.empty() || ref.ts.empty()) {
        return {};
    }
    std::string digits = ref.ts;
    std::erase(digits, '.');
    return fmt::format("{}archives/{}/p{}", workspace_url_, ref.channel, digits);
}

std::string slack_chat::where(std::string_view channel) const {
    for (const auto& c : config_.channels) {
        if (c.id == channel) {
            return "#" + c.name;
        }
    }
    return fmt::format("channel {}", channel);
}

core::error slack_chat::failure(std::string_view method, const core::result<slack_reply>& r,
                                std::string_view channel) const {
    if (!r) {
        return r.error();
    }
    core::errc code = is_auth_error(r->error) ? core::errc::permission_denied
                      : r->error == "channel_not_found" || r->error == "message_not_found"
                          ? core::errc::not_found
                          : core::errc::invalid_argument;
    return core::make_error(code, explain_slack_error(method, *r, where(channel)));
}

boost::asio::awaitable<core::result<message_ref>> slack_chat::post_message(std::string channel,
                                                                           std::string thread_ts,
                                                                           message msg,
                                                                           bool broadcast) {
    json body = payload(msg);
    body["channel"] = channel;
    if (!thread_ts.empty()) {
        body["thread_ts"] = thread_ts;
        if (broadcast) {
            body["reply_broadcast"] = true;
        }
    }
    // A new root message starts something people wait for (a deploy begins only once its
    // thread exists); it goes before replies when the workspace's posting budget is short.
    auto priority = thread_ts.empty() ? send_priority::high : send_priority::normal;
    auto r =
        co_await queue_.submit("chat.postMessage", channel, "", body.dump(), thread_ts, priority);
    if (!r || !r->ok) {
        co_return failure("chat.postMessage", r, channel);
    }
    std::string ts = r->field("ts");
    std::string posted_in = r->field("channel");
    co_return message_ref{posted_in.empty() ? channel : posted_in, ts};
}

boost::asio::awaitable<core::result<message_ref>> slack_chat::post(std::string channel,
                                                                   message msg) {
    co_return co_await post_message(std::move(channel), "", std::move(msg), false);
}

boost::asio::awaitable<core::result<void>> slack_chat::update(message_ref ref, message msg,
                                                              bool milestone) {
    json body = payload(msg);
    body["channel"] = ref.channel;
    body["ts"] = ref.ts;
    std::string key = fmt::format("update:{}:{}", ref.channel, ref.ts);
    auto r = co_await queue_.submit("chat.update", ref.channel, std::move(key), body.dump(), "",
                                    milestone ? send_priority::high : send_priority::normal);
    if (!r || !r->ok) {
        co_return failure("chat.update", r, ref.channel);
    }
    co_return core::ok();
}

boost::asio::awaitable<core::result<void>> slack_chat::submit_idempotent(std::string method,
                                                                         std::string channel,
                                                                         std::string body,
                                                                         std::string done_already) {
    auto r = co_await queue_.submit(method, channel, "", std::move(body));
    if (r && !r->ok && r->error == done_already) {
        co_return core::ok();
    }
    if (!r || !r->ok) {
        co_return failure(method, r, channel);
    }
    co_return core::ok();
}

boost::asio::awaitable<core::result<void>> slack_chat::react(message_ref ref, std::string name) {
    json body = {{"channel", ref.channel}, {"timestamp", ref.ts}, {"name", std::move(name)}};
    co_return co_await submit_idempotent("reactions.add", ref.channel, body.dump(),
                                         "already_reacted");
}

boost::asio::awaitable<core::result<void>> slack_chat::remove(message_ref ref) {
    json body = {{"channel", ref.channel}, {"ts", ref.ts}};
    co_return co_await submit_idempotent("chat.delete", ref.channel, body.dump(),
                                         "message_not_found");
}

boost::asio::awaitable<core::result<message_ref>> slack_chat::reply(message_ref root, message msg,
                                                                    bool broadcast) {
    co_return co_await post_message(root.channel, root.ts, std::move(msg), broadcast);
}

boost::asio::awaitable<core::result<void>> slack_chat::ephemeral(std::string channel,
                                                                 std::string user,
                                                                 std::string thread_ts,
                                                                 message msg) {
    json body = payload(msg);
    body["channel"] = channel;
    body["user"] = user;
    if (!thread_ts.empty()) {
        body["thread_ts"] = thread_ts;
    }
    auto r = co_await queue_.submit("chat.postEphemeral", channel, "", body.dump());
    if (!r || !r->ok) {
        co_return failure("chat.postEphemeral", r, channel);
    }
    co_return core::ok();
}

boost::asio::awaitable<core::result<message_ref>> slack_chat::dm(std::string user, message msg) {
    auto known = dm_channels_.find(user);
    std::string channel;
    if (known != dm_channels_.end()) {
        channel = known->second;
    } else {
        json body{{"users", user}};
        auto r = co_await queue_.submit("conversations.open", "", "", body.dump());
        if (!r || !r->ok) {
            co_return failure("conversations.open", r, user);
        }
        channel = r->pointer("/channel/id");
        if (channel.empty()) {
            co_return core::make_error(core::errc::protocol_error,
                                       "conversations.open returned no channel id");
        }
        dm_channels_[user] = channel;
    }
    co_return co_await post_message(channel, "", std::move(msg), false);
}

boost::asio::awaitable<core::result<void>> slack_chat::upload(std::string channel,
                                                              std::string thread_ts,
                                                              std::string filename,
                                                              std::string content,
                                                              std::string title) {
    // Built outside the co_await: GCC 12 miscompiles braced lists inside co_await expressions.
    form_fields fields;
    fields.emplace_back("filename", filename);
    fields.emplace_back("length", std::to_string(content.size()));
    auto url =
        co_await queue_.submit_form("files.getUploadURLExternal", channel, std::move(fields));
    if (!url || !url->ok) {
        co_return failure("files.getUploadURLExternal", url, channel);
    }
    std::string upload_url = url->field("upload_url");
    std::string file_id = url->field("file_id");
    if (upload_url.empty() || file_id.empty()) {
        co_return core::make_error(core::errc::protocol_error,
                                   "files.getUploadURLExternal returned no upload_url/file_id");
    }
    if (auto sent = co_await api_.upload_bytes(upload_url, std::move(content)); !sent) {
        log_.error("slack_upload_failed", {{"file", filename}, {"reason", sent.error().message}});
        co_return sent.error();
    }
    json file = json::object();
    file["id"] = file_id;
    file["title"] = title;
    json body = json::object();
    body["files"] = json::array({file});
    body["channel_id"] = channel;
    if (!thread_ts.empty()) {
        body["thread_ts"] = thread_ts;
    }
    auto done = co_await queue_.submit("files.completeUploadExternal", channel, "", body.dump());
    if (!done || !done->ok) {
        co_return failure("files.completeUploadExternal", done, channel);
    }
    co_return core::ok();
}

boost::asio::awaitable<core::result<void>> slack_chat::respond(std::string response_url,
                                                               message msg) {
    json body = payload(msg);
    body["response_type"] = "ephemeral";
    auto r = co_await api_.post_response_url(std::move(response_url), body.dump());
    if (!r || !r->ok) {
        co_return failure("response_url", r, "the conversation");
    }
    co_return core::ok();
}

namespace {

/// A form as a Block Kit modal: an intro section, then one plain_text_input per field whose
/// block_id and action_id are the field's id (submissions are keyed by action_id).
std::string modal_json(const commands::form& f) {
    auto text = [](std::string s, std::size_t max) {
        if (s.size() > max) {
            s.resize(max);
        }
        return json{{"type", "plain_text"}, {"text", s}};
    };
    json blocks = json::array();
    if (!f.intro.empty()) {
        blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", f.intro}}}});
    }
    for (const auto& field : f.fields) {
        json element{
            {"type", "plain_text_input"}, {"action_id", field.id}, {"multiline", field.multiline}};
        if (!field.hint.empty()) {
            element["placeholder"] = text(field.hint, 150);
        }
        if (!field.initial.empty()) {
            element["initial_value"] = field.initial;
        }
        blocks.push_back({{"type", "input"},
                          {"block_id", field.id},
                          {"optional", field.optional},
                          {"label", text(field.label, 2000)},
                          {"element", element}});
    }
    json view{{"type", "modal"},
              {"callback_id", f.callback_id},
              {"private_metadata", f.metadata},
              {"title", text(f.title, 24)},
              {"submit", text(f.submit, 24)},
              {"close", text("Cancel", 24)},
              {"blocks", blocks}};
    return view.dump();
}

}  // namespace

boost::asio::awaitable<core::result<void>> slack_chat::open_form(std::string trigger_id,
                                                                 commands::form f) {
    if (trigger_id.empty()) {
        co_return core::make_error(core::errc::invalid_argument,
                                   "a form needs a button press or slash command to open from");
    }
    // Not through the send queue: the trigger expires 3 s after the event.
    auto r = co_await api_.views_open(std::move(trigger_id), modal_json(f));
    if (!r || !r->ok) {
        co_return failure("views.open", r, "the form");
    }
    co_return core::ok();
}

}  // namespace tugboat::bot
