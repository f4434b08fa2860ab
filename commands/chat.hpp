#pragma once

// Everything the bot says goes through `chat`. Two implementations: the Slack Web API one
// (bot/, owns rate limits, retries and size limits) and the sandbox console.

#include "commands/message.hpp"
#include "core/result.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>
#include <vector>

namespace tugboat::commands {

/// One text input of a form.
struct form_field {
    std::string id;     ///< key of the submitted value (inbound_event::values)
    std::string label;  ///< plain text
    std::string hint;   ///< placeholder, plain text
    bool multiline = false;
    bool optional = false;
    std::string initial;  ///< pre-filled value, or ""
};

/// A small form (a Slack modal). Submitting it sends an inbound_event of kind
/// modal_submission with action_id = `callback_id`, action_value = `metadata` and one value
/// per field id; the router sends it to the action handler of the callback_id's prefix.
struct form {
    std::string callback_id;  ///< "<prefix>.<verb>", e.g. "access.request"
    std::string title;        ///< ≤24 characters
    std::string submit = "Submit";
    std::string metadata;  ///< ≤3000 characters, e.g. the id of what the form is about
    std::string intro;     ///< mrkdwn paragraph above the fields, or ""
    std::vector<form_field> fields;
};

/// Where a posted message lives; keep it to update the message or reply in its thread.
struct message_ref {
    std::string channel;  ///< conversation ID
    std::string ts;       ///< the message's timestamp ID (a string; never parse it as a number)

    friend bool operator==(const message_ref&, const message_ref&) = default;
};

/// Says things to people. All methods honour cancellation of the calling coroutine; failures
/// (channel not found, not in channel, rate limited beyond the retry budget, …) come back as
/// errors whose message says what to fix, never as exceptions.
class chat {
public:
    virtual ~chat() = default;

    /// Posts `msg` to a channel (or a DM conversation ID).
    virtual boost::asio::awaitable<core::result<message_ref>> post(std::string channel,
                                                                   message msg) = 0;

    /// Replaces the content of a message the bot posted earlier. When Slack's edit budget is
    /// short, `milestone` edits (a phase change, the end) go before mere progress edits.
    virtual boost::asio::awaitable<core::result<void>> update(message_ref ref, message msg,
                                                              bool milestone) = 0;

    /// Replies in the thread of `root` (a top-level message; pass the root even when replying
    /// to a reply). With `broadcast`, the reply also shows in the channel.
    virtual boost::asio::awaitable<core::result<message_ref>> reply(message_ref root, message msg,
                                                                    bool broadcast) = 0;

    /// Shows `msg` only to `user` in `channel` (in the thread `thread_ts` when not empty).
    /// Ephemeral messages cannot be updated later and are not delivered to inactive users.
    virtual boost::asio::awaitable<core::result<void>> ephemeral(std::string channel,
                                                                 std::string user,
                                                                 std::string thread_ts,
                                                                 message msg) = 0;

    /// Answers a slash command or button press through its response_url: visible only to
    /// the person, and unlike `ephemeral` it works where the bot is not a channel member.
    virtual boost::asio::awaitable<core::result<void>> respond(std::string response_url,
                                                               message msg) = 0;

    /// Sends `msg` to `user` in their DM with the bot, opening the conversation if needed.
    virtual boost::asio::awaitable<core::result<message_ref>> dm(std::string user, message msg) = 0;

    /// A web link that opens `ref` with its thread; "" when the chat has none (then name the
    /// channel instead).
    virtual std::string link(const message_ref& ref) const {
        (void)ref;
        return {};
    }

    /// Adds the emoji `name` ("eyes", without colons) to a message as the bot, e.g. to show a
    /// question was seen while the answer is prepared. Already added counts as done.
    virtual boost::asio::awaitable<core::result<void>> react(message_ref ref, std::string name) = 0;

    /// Deletes a message the bot posted. Already deleted counts as done.
    virtual boost::asio::awaitable<core::result<void>> remove(message_ref ref) = 0;

    /// Shares a text file (a build log, a long answer) in `channel`, in the thread `thread_ts`
    /// when not empty.
    virtual boost::asio::awaitable<core::result<void>> upload(std::string channel,
                                                              std::string thread_ts,
                                                              std::string filename,
                                                              std::string content,
                                                              std::string title) = 0;

    /// Opens `f` for the person whose button press or slash command carried `trigger_id`
    /// (valid for 3 s after the event). Errors: unavailable where forms cannot be shown —
    /// callers then say which command to type instead.
    virtual boost::asio::awaitable<core::result<void>> open_form(std::string trigger_id, form f) {
        (void)trigger_id;
        (void)f;
        co_return core::make_error(core::errc::unavailable, "forms are not available here");
    }
};

}  // namespace tugboat::commands
