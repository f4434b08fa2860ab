#pragma once

// The sandbox's terminal: shows what the bot posts in the fake Slack workspace as a transcript
// (channel messages, thread replies indented under their root, edits, ephemerals, files) and
// remembers the buttons it showed, so typing "deploy.approve d-000012" presses one.

#include "commands/message.hpp"

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::sandbox {

class fake_slack;
struct slack_change;

struct console_options {
    std::size_t width = 100;
    bool ansi = false;
};

/// A button the person asked to press, with the message that carries it.
struct button_press {
    std::string channel;
    std::string message_ts;
    std::string action_id;
    std::string value;
};

class console_view {
public:
    console_view(std::ostream& out, console_options options = {});

    /// How a conversation ID is shown ("#deploys", "DM with @alice"); unnamed IDs show as is.
    void name_channel(std::string id, std::string label);
    std::string channel_label(std::string_view id) const;

    /// Prints every message, edit, ephemeral and file the bot makes in `slack` from now on.
    /// `slack` must outlive this view's use of it (the sandbox destroys it first and prints
    /// nothing afterwards).
    void follow(fake_slack& slack);

    /// When `typed` is what a shown button says to type, the press it stands for (newest
    /// message first: the same text on an older message is most likely stale).
    std::optional<button_press> press(std::string_view typed) const;
    /// Whether any message shown so far has a button with this action ("faq.up"): typing
    /// "faq.up 7" with no such button on screen is a mistyped press, not a message.
    bool shows_action(std::string_view action_id) const;

    /// Prints text that is not a bot message (the typed line, notes), keeping the transcript.
    void echo(std::string_view text) { write(text); }

    /// Everything printed so far (also written to the stream); for tests.
    const std::string& transcript() const noexcept { return transcript_; }

private:
    struct shown {
        std::string channel;
        std::string ts;
        std::string thread_ts;  // root ts for replies, empty for roots
        commands::message msg;
        int number = 0;  // short number shown to people ("message 3")
    };

    /// The newest shown button `wanted` accepts, and (when `on` is given) its message.
    const commands::button* find_button(const std::function<bool(const commands::button&)>& wanted,
                                        const shown** on) const;
    void on_change(const fake_slack& slack, const slack_change& change);
    void print(const shown& m, std::string_view note);
    void write(std::string_view text);
    /// Replaces "@U0ALICE" / "#C0DEPLOYS" with the names given to name_channel.
    std::string named(std::string text) const;

    std::ostream& out_;
    console_options options_;
    std::map<std::string, std::string, std::less<>> labels_;
    std::vector<shown> shown_;
    std::string transcript_;
};

}  // namespace tugboat::sandbox
