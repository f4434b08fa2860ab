#include "sandbox/console_view.hpp"

#include "sandbox/fake_slack.hpp"
#include "sandbox/slack_blocks.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <ostream>

namespace tugboat::sandbox {

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

/// The first lines of a shared file; the console is not a file viewer.
std::string preview(const std::string& content) {
    constexpr std::size_t max_lines = 20;
    std::size_t pos = 0;
    for (std::size_t lines = 0; pos < content.size() && lines < max_lines; ++lines) {
        auto end = content.find('\n', pos);
        pos = end == std::string::npos ? content.size() : end + 1;
    }
    std::string out = content.substr(0, pos);
    if (pos < content.size()) {
        out += "… (rest of the file not shown in the console)\n";
    }
    return out;
}

}  // namespace

console_view::console_view(std::ostream& out, console_options options)
    : out_(out), options_(options) {}

void console_view::name_channel(std::string id, std::string label) {
    labels_[std::move(id)] = std::move(label);
}

std::string console_view::channel_label(std::string_view id) const {
    auto it = labels_.find(id);
    return it == labels_.end() ? std::string(id) : it->second;
}

void console_view::follow(fake_slack& slack) {
    slack.on_change([this, &slack](const slack_change& c) { on_change(slack, c); });
}

std::string console_view::named(std::string text) const {
    for (const auto& [id, label] : labels_) {
        if (label.empty() || (label.front() != '@' && label.front() != '#')) {
            continue;
        }
        std::string raw = std::string(1, label.front()) + id;
        for (auto pos = text.find(raw); pos != std::string::npos; pos = text.find(raw, pos)) {
            text.replace(pos, raw.size(), label);
            pos += label.size();
        }
    }
    return text;
}

void console_view::write(std::string_view text) {
    transcript_.append(text);
    out_ << text << std::flush;
}

void console_view::print(const shown& m, std::string_view note) {
    commands::terminal_options opts{options_.width - 6, options_.ansi};
    std::string body = named(commands::to_terminal_text(m.msg, opts));
    if (m.thread_ts.empty()) {
        write(fmt::format("\n[{}] tugboat (message {}){}\n", channel_label(m.channel), m.number,
                          note));
        write(indent(body, "  "));
        return;
    }
    int root = 0;
    for (const auto& r : shown_) {
        if (r.channel == m.channel && r.ts == m.thread_ts) {
            root = r.number;
        }
    }
    // A thread under a person's message (a mention) has no bot message to point at.
    std::string under = root == 0 ? "a thread" : fmt::format("thread of message {}", root);
    write(fmt::format("      ↳ {} in {}{}\n", under, channel_label(m.channel), note));
    write(indent(body, "      │ "));
}

void console_view::on_change(const fake_slack& slack, const slack_change& c) {
    switch (c.kind) {
        case slack_change_kind::message_posted: {
            const slack_message* m = slack.find_message(c.channel, c.ts);
            if (m == nullptr || !m->from_bot()) {
                return;  // people's own messages are already on their screen
            }
            shown s{m->channel, m->ts, m->is_reply() ? m->thread_ts : "",
                    message_from_slack(m->text, m->blocks_json),
                    static_cast<int>(shown_.size() + 1)};
            shown_.push_back(std::move(s));
            print(shown_.back(), m->reply_broadcast ? " (also sent to the channel)" : "");
            for (const auto& f : slack.files()) {
                if (std::find(m->files.begin(), m->files.end(), f.id) != m->files.end()) {
                    write(fmt::format("      shared a file: {} ({}, {} bytes)\n", f.title,
                                      f.filename, f.content.size()));
                    write(indent(preview(f.content), "      "));
                }
            }
            return;
        }
        case slack_change_kind::message_updated: {
            const slack_message* m = slack.find_message(c.channel, c.ts);
            for (auto& s : shown_) {
                if (m != nullptr && s.channel == c.channel && s.ts == c.ts) {
                    // In Slack an edit replaces the message in place; reprinting the whole
                    // message on every edit would bury the conversation, so show the new
                    // headline and keep the full content for the buttons.
                    s.msg = message_from_slack(m->text, m->blocks_json);
                    write(named(fmt::format("  ✎ message {} in {} now reads: {}\n", s.number,
                                            channel_label(s.channel), m->text)));
                }
            }
            return;
        }
        case slack_change_kind::message_deleted:
            write(fmt::format("\n[{}] tugboat deleted a message\n", channel_label(c.channel)));
            return;
        case slack_change_kind::ephemeral_posted:
        case slack_change_kind::ephemeral_replaced: {
            const auto& all = slack.ephemerals();
            auto it = std::find_if(all.rbegin(), all.rend(), [&](const slack_ephemeral& e) {
                return e.channel == c.channel && e.ts == c.ts && e.user == c.user;
            });
            if (it == all.rend()) {
                return;
            }
            // Ephemerals keep their buttons pressable, as in Slack.
            shown s{it->channel, it->ts, "", message_from_slack(it->text, it->blocks_json),
                    static_cast<int>(shown_.size() + 1)};
            std::string where =
                channel_label(it->channel) + (it->thread_ts.empty() ? "" : " thread");
            write(fmt::format("\n[{}] tugboat → only visible to {}\n", where,
                              channel_label(it->user)));
            commands::terminal_options opts{options_.width - 6, options_.ansi};
            write(indent(named(commands::to_terminal_text(s.msg, opts)), "  "));
            shown_.push_back(std::move(s));
            return;
        }
        case slack_change_kind::reaction_added:
            write(fmt::format("      (tugboat reacted in {})\n", channel_label(c.channel)));
            return;
        case slack_change_kind::view_opened: {
            // The console cannot fill in forms: show what the form asks and its intro, which
            // names the command to type instead.
            const slack_view* v = slack.view(c.view_id);
            auto view = v ? nlohmann::json::parse(v->json, nullptr, false) : nlohmann::json();
            if (!view.is_object()) {
                return;
            }
            std::string text = view.value("/title/text"_json_pointer, std::string("A form"));
            std::string body;
            std::vector<std::string> labels;
            for (const auto& b : view.value("blocks", nlohmann::json::array())) {
                if (b.value("type", "") == "section") {
                    body += b.value("/text/text"_json_pointer, std::string()) + "\n";
                } else if (b.value("type", "") == "input") {
                    labels.push_back(b.value("/label/text"_json_pointer, std::string()));
                }
            }
            std::string fields;
            for (const auto& l : labels) {
                fields += (fields.empty() ? "" : ", ") + l;
            }
            write(fmt::format("\n[form for {}] {} — asks for: {}\n", channel_label(c.user), text,
                              fields));
            commands::terminal_options opts{options_.width - 6, options_.ansi};
            write(indent(named(commands::to_terminal_text(commands::plain_message(body), opts)),
                         "  "));
            write("  (the sandbox console cannot fill in forms; type the command instead)\n");
            return;
        }
        case slack_change_kind::view_updated:
        case slack_change_kind::view_closed: return;
    }
}

const commands::button* console_view::find_button(
    const std::function<bool(const commands::button&)>& wanted, const shown** on) const {
    for (auto it = shown_.rbegin(); it != shown_.rend(); ++it) {
        for (const auto& b : it->msg.blocks) {
            const auto* row = std::get_if<commands::actions>(&b);
            if (row == nullptr) {
                continue;
            }
            for (const auto& btn : row->buttons) {
                if (wanted(btn)) {
                    if (on != nullptr) {
                        *on = &*it;
                    }
                    return &btn;
                }
            }
        }
    }
    return nullptr;
}

std::optional<button_press> console_view::press(std::string_view typed) const {
    const shown* on = nullptr;
    const auto* btn = find_button(
        [&](const commands::button& b) { return commands::typeable_action(b) == typed; }, &on);
    if (btn == nullptr) {
        return std::nullopt;
    }
    return button_press{on->channel, on->ts, btn->action_id, btn->value};
}

bool console_view::shows_action(std::string_view action_id) const {
    return find_button([&](const commands::button& b) { return b.action_id == action_id; },
                       nullptr) != nullptr;
}

}  // namespace tugboat::sandbox
