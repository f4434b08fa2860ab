#include "sandbox/console_chat.hpp"

#include <fmt/format.h>

#include <ostream>

namespace tugboat::sandbox {

using commands::message;
using commands::message_ref;

namespace {

std::string indent(std::string_view text, std::string_view prefix) {
    std::string out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        out.append(prefix);
        out.append(text.substr(start, end - start));
        out.push_back('\n');
        start = end + 1;
    }
    return out;
}

}  // namespace

console_chat::console_chat(std::ostream& out, const core::config& cfg, console_options options)
    : out_(out), config_(cfg), options_(options) {}

std::string console_chat::channel_label(std::string_view channel) const {
    for (const auto& c : config_.channels) {
        if (c.id == channel) {
            return "#" + c.name;
        }
    }
    return std::string(channel);
}

message_ref console_chat::add(std::string channel, std::string thread_ts, message msg) {
    // Slack-shaped timestamps keep the console interchangeable with the real thing.
    std::string ts = fmt::format("1700000000.{:06}", next_ts_++);
    stored m{{std::move(channel), ts}, std::move(thread_ts), std::move(msg),
             static_cast<int>(messages_.size() + 1)};
    messages_.push_back(std::move(m));
    return messages_.back().ref;
}

const console_chat::stored* console_chat::find(const message_ref& ref) const {
    for (const auto& m : messages_) {
        if (m.ref == ref) {
            return &m;
        }
    }
    return nullptr;
}

void console_chat::write(std::string_view text) {
    transcript_.append(text);
    out_ << text << std::flush;
}

void console_chat::print(const stored& m, std::string_view note) {
    commands::terminal_options opts{options_.width - 6, options_.ansi};
    std::string body = commands::to_terminal_text(m.msg, opts);
    if (m.thread_ts.empty()) {
        write(fmt::format("\n[{}] tugboat (message {}){}\n", channel_label(m.ref.channel),
                          m.number, note));
        write(indent(body, "  "));
        return;
    }
    int root = 0;
    for (const auto& r : messages_) {
        if (r.ref.channel == m.ref.channel && r.ref.ts == m.thread_ts) {
            root = r.number;
        }
    }
    write(fmt::format("      ↳ thread of message {} in {}{}\n", root, channel_label(m.ref.channel),
                      note));
    write(indent(body, "      │ "));
}

boost::asio::awaitable<core::result<message_ref>> console_chat::post(std::string channel,
                                                                      message msg) {
    if (channel.empty()) {
        co_return core::make_error(core::errc::invalid_argument, "post: empty channel");
    }
    auto ref = add(std::move(channel), "", std::move(msg));
    print(messages_.back(), "");
    co_return ref;
}

boost::asio::awaitable<core::result<void>> console_chat::update(message_ref ref, message msg) {
    for (auto& m : messages_) {
        if (m.ref == ref) {
            m.msg = std::move(msg);
            print(m, " (updated)");
            co_return core::ok();
        }
    }
    co_return core::make_error(core::errc::not_found,
                               fmt::format("update: no message {} in {}", ref.ts, ref.channel));
}

boost::asio::awaitable<core::result<message_ref>> console_chat::reply(message_ref root,
                                                                       message msg,
                                                                       bool broadcast) {
    const stored* r = find(root);
    if (r == nullptr) {
        co_return core::make_error(core::errc::not_found,
                                   fmt::format("reply: no message {} in {}", root.ts, root.channel));
    }
    // Replies to a reply go to the root's thread, as in Slack.
    std::string thread = r->thread_ts.empty() ? r->ref.ts : r->thread_ts;
    auto ref = add(root.channel, thread, std::move(msg));
    print(messages_.back(), broadcast ? " (also sent to the channel)" : "");
    co_return ref;
}

boost::asio::awaitable<core::result<void>> console_chat::ephemeral(std::string channel,
                                                                   std::string user,
                                                                   std::string thread_ts,
                                                                   message msg) {
    commands::terminal_options opts{options_.width - 6, options_.ansi};
    std::string where = channel_label(channel);
    if (!thread_ts.empty()) {
        where += " thread";
    }
    // Ephemerals keep their buttons pressable, like in Slack.
    add(std::move(channel), std::move(thread_ts), msg);
    write(fmt::format("\n[{}] tugboat → only visible to {}\n", where, user));
    write(indent(commands::to_terminal_text(msg, opts), "  "));
    co_return core::ok();
}

boost::asio::awaitable<core::result<message_ref>> console_chat::dm(std::string user, message msg) {
    auto ref = add("D-" + user, "", std::move(msg));
    commands::terminal_options opts{options_.width - 6, options_.ansi};
    write(fmt::format("\n[DM to {}] tugboat (message {})\n", user, messages_.back().number));
    write(indent(commands::to_terminal_text(messages_.back().msg, opts), "  "));
    co_return ref;
}

boost::asio::awaitable<core::result<void>> console_chat::upload(std::string channel,
                                                                std::string thread_ts,
                                                                std::string filename,
                                                                std::string content,
                                                                std::string title) {
    constexpr std::size_t preview_lines = 20;
    std::string preview;
    std::size_t lines = 0;
    std::size_t pos = 0;
    while (pos < content.size() && lines < preview_lines) {
        auto end = content.find('\n', pos);
        end = end == std::string::npos ? content.size() : end + 1;
        preview.append(content, pos, end - pos);
        pos = end;
        ++lines;
    }
    std::string where = channel_label(channel) + (thread_ts.empty() ? "" : " thread");
    write(fmt::format("\n[{}] tugboat shared a file: {} ({}, {} bytes)\n", where, title, filename,
                      content.size()));
    write(indent(preview, "      "));
    if (pos < content.size()) {
        write("      … (rest of the file not shown in the console)\n");
    }
    co_return core::ok();
}

std::optional<commands::inbound_event> console_chat::press(std::string_view typed) const {
    // Newest first: the same typeable text on an older message is most likely stale.
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
        for (const auto& b : it->msg.blocks) {
            const auto* row = std::get_if<commands::actions>(&b);
            if (row == nullptr) {
                continue;
            }
            for (const auto& btn : row->buttons) {
                if (commands::typeable_action(btn) != typed) {
                    continue;
                }
                commands::inbound_event ev;
                ev.kind = commands::event_kind::button;
                ev.channel = it->ref.channel;
                ev.message_ts = it->ref.ts;
                ev.thread_ts = it->thread_ts;
                ev.action_id = btn.action_id;
                ev.action_value = btn.value;
                return ev;
            }
        }
    }
    return std::nullopt;
}

}  // namespace tugboat::sandbox
