#pragma once

// Slack wire payloads → commands::inbound_event. Shared by the Socket Mode client (envelopes
// over a WebSocket) and HTTP mode (the same payloads posted to a Request URL). Pure functions
// over text: JSON stays inside slack_events.cpp, and nothing here throws on bad input — a
// malformed payload is an error value, never an exception or a crash.

#include "commands/event.hpp"
#include "core/result.hpp"

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tugboat::bot {

/// What parsing needs to know about the bot and how much it accepts.
struct event_parse_options {
    /// The bot's own user ID (auth.test `user_id`), used to strip `<@UBOT>` from mentions and
    /// to ignore the bot's own messages. Empty = taken from each Events API payload's
    /// `authorizations[0].user_id` (Slack puts the bot user there).
    std::string bot_user_id;
    /// Longest message or command text accepted, in bytes; longer is a bad payload. Slack
    /// truncates messages at 40 000 characters, and no command needs more than a few hundred.
    std::size_t max_text_bytes = 40'000;
};

/// A payload turned into an event, or deliberately into nothing.
struct parsed_payload {
    /// The event to handle; empty when the payload is one the bot ignores on purpose.
    std::optional<commands::inbound_event> event;
    /// Why `event` is empty, for debug logs and tests: "bot message", "own message",
    /// "message subtype message_changed", "not a DM", "unsupported event reaction_added", …
    /// Empty when there is an event.
    std::string ignored;
};

/// An Events API callback (`events_api` envelope payload, or an HTTP-mode body): app_mention
/// becomes a `mention` (text via commands::mention_command_text), message.im a
/// `direct_message` (text as typed, minus a leading bot mention). Ignored: messages from bots
/// (bot_id, subtype bot_message) or from the bot user, edits/deletes and other subtypes,
/// non-DM messages, other event types, non-`event_callback` types. idempotency_key is
/// "event:<event_id>". Errors (invalid_argument): not JSON, missing or mistyped fields
/// (event_id, event.type, user, channel, ts), text over the limit.
core::result<parsed_payload> parse_events_api_payload(std::string_view json,
                                                      const event_parse_options& options = {});

/// An interactivity payload (`interactive` envelope payload, or HTTP mode's `payload=` form
/// field): block_actions → `button` (first action: action_id, value or selected value;
/// key "action:<action_ts>:<user>:<action_id>"), view_submission → `modal_submission`
/// (callback_id, private_metadata, input values by action_id; key
/// "view:<view.id>:<view.hash>"), view_closed → `modal_closed`. Other types (shortcut,
/// block_suggestion, …) are ignored. Errors as for parse_events_api_payload.
core::result<parsed_payload> parse_interactive_payload(std::string_view json,
                                                       const event_parse_options& options = {});

/// A slash command as the JSON object of a `slash_commands` envelope: `slash_command` with
/// text commands::slash_command_text(command, text); key "command:<trigger_id>".
/// Errors: missing command, user_id or channel_id, text over the limit.
core::result<parsed_payload> parse_slash_command_payload(std::string_view json,
                                                         const event_parse_options& options = {});

/// The same from HTTP mode's decoded form fields.
core::result<parsed_payload> parse_slash_command_form(
    const std::map<std::string, std::string>& form, const event_parse_options& options = {});

/// What a Socket Mode frame is.
enum class frame_type {
    hello,           ///< the connection is ready
    disconnect,      ///< Slack asks us to reconnect (see socket_frame::disconnect_reason)
    events_api,      ///< an envelope with an Events API callback
    slash_commands,  ///< an envelope with a slash command
    interactive,     ///< an envelope with an interactivity payload
    other,           ///< any other type: acked when it has an envelope_id, else ignored
};

/// One Socket Mode frame, parsed once.
struct socket_frame {
    frame_type type = frame_type::other;
    std::string type_name;    ///< `type` as sent
    std::string envelope_id;  ///< to acknowledge; empty for hello and disconnect
    bool accepts_response_payload = false;
    int retry_attempt = 0;          ///< events_api re-deliveries count up from 0
    std::string retry_reason;       ///< e.g. "timeout" on a re-delivery
    std::string disconnect_reason;  ///< disconnect: "warning", "refresh_requested", …
    int num_connections = 0;        ///< hello: sockets Slack counts as open for the app
    /// The envelope's payload: an event, an ignored payload, or why the payload is bad. A bad
    /// payload does not make the frame bad: the envelope is still acknowledged (so Slack stops
    /// re-sending it) and the error logged. Empty for hello, disconnect and other frames.
    core::result<parsed_payload> payload = parsed_payload{};
};

/// Parses a Socket Mode text frame, its JSON exactly once. Errors (protocol_error): not JSON,
/// not an object, no string `type`, an envelope type without a string `envelope_id`.
core::result<socket_frame> parse_socket_frame(std::string_view text,
                                              const event_parse_options& options = {});

/// The same in two steps, so an envelope can be acknowledged before its event is built: the
/// JSON is parsed once, in parse_header, and kept until the next frame. Members of payloads that
/// no event reads (a modal's blocks/title/close/submit, a message's or event's blocks,
/// attachments and files, block_actions' `state`) are skipped while parsing, not built.
/// Reuse one parser for many frames; not thread-safe.
class socket_frame_parser {
public:
    explicit socket_frame_parser(event_parse_options options = {});
    ~socket_frame_parser();
    socket_frame_parser(socket_frame_parser&&) noexcept;
    socket_frame_parser& operator=(socket_frame_parser&&) noexcept;

    /// The frame without its payload (`payload` stays an empty parsed_payload). Errors as
    /// parse_socket_frame's. `text` must stay valid until parse_payload: the parsed document
    /// points into it (copying every frame cost more than parsing it).
    core::result<socket_frame> parse_header(std::string_view text);

    /// The payload of the frame parse_header last accepted, as parse_socket_frame would put it
    /// into socket_frame::payload (empty for hello, disconnect and other frames). Once per
    /// frame: a second call, or one after a failed parse_header, is an invalid_argument error.
    core::result<parsed_payload> parse_payload();

    const event_parse_options& options() const noexcept { return options_; }

private:
    struct state;
    event_parse_options options_;
    std::unique_ptr<state> state_;
};

/// The acknowledgement of an envelope: {"envelope_id":"…"} or, with a `payload_json` (a JSON
/// object such as {"text":"…"}), {"envelope_id":"…","payload":…}. Built with string operations
/// (the id is JSON-escaped); `payload_json` is inserted as it is.
std::string make_ack(std::string_view envelope_id, std::string_view payload_json = {});

/// Appends make_ack's text to `out` (cleared first), reusing its capacity.
void make_ack_into(std::string& out, std::string_view envelope_id,
                   std::string_view payload_json = {});

}  // namespace tugboat::bot
