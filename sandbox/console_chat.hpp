#pragma once

// The sandbox's chat: prints what the bot says as a terminal transcript and remembers the
// buttons it showed so a typed "deploy.approve 12" becomes a button press.

#include "commands/chat.hpp"
#include "commands/event.hpp"
#include "commands/message.hpp"
#include "core/config.hpp"

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::sandbox {

struct console_options {
    std::size_t width = 100;
    bool ansi = false;
};

/// A chat that prints to a stream. Channel messages start at the left margin with the channel
/// name; thread replies are indented under a "↳ thread <n>" marker naming their root; an update
/// reprints the message marked "(updated)"; ephemeral messages are marked "only visible to you".
class console_chat final : public commands::chat {
public:
    console_chat(std::ostream& out, const core::config& cfg, console_options options = {});

    boost::asio::awaitable<core::result<commands::message_ref>> post(
        std::string channel, commands::message msg) override;
    boost::asio::awaitable<core::result<void>> update(commands::message_ref ref,
                                                      commands::message msg) override;
    boost::asio::awaitable<core::result<commands::message_ref>> reply(
        commands::message_ref root, commands::message msg, bool broadcast) override;
    boost::asio::awaitable<core::result<void>> ephemeral(std::string channel, std::string user,
                                                         std::string thread_ts,
                                                         commands::message msg) override;
    boost::asio::awaitable<core::result<commands::message_ref>> dm(std::string user,
                                                                   commands::message msg) override;
    boost::asio::awaitable<core::result<void>> upload(std::string channel, std::string thread_ts,
                                                      std::string filename, std::string content,
                                                      std::string title) override;

    /// When `typed` is what a shown button says to type ("deploy.approve 12"), the button press
    /// it stands for, with the channel and thread of the message that carried the button.
    std::optional<commands::inbound_event> press(std::string_view typed) const;

    /// Prints text that is not a bot message (the typed line, notes), keeping the transcript.
    void echo(std::string_view text) { write(text); }

    /// Everything printed so far (also written to the stream); for tests.
    const std::string& transcript() const noexcept { return transcript_; }

    /// "#deploys" for a configured channel ID, the ID itself otherwise.
    std::string channel_label(std::string_view channel) const;

private:
    struct stored {
        commands::message_ref ref;
        std::string thread_ts;  // root ts for replies, empty for roots
        commands::message msg;
        int number = 0;  // short number shown to people ("thread 3")
    };

    commands::message_ref add(std::string channel, std::string thread_ts, commands::message msg);
    const stored* find(const commands::message_ref& ref) const;
    void print(const stored& m, std::string_view note);
    void write(std::string_view text);

    std::ostream& out_;
    const core::config& config_;
    console_options options_;
    std::vector<stored> messages_;
    std::uint64_t next_ts_ = 1;
    std::string transcript_;
};

}  // namespace tugboat::sandbox
