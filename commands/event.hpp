#pragma once

// What a person did, normalized from any transport (Socket Mode, HTTP mode, the sandbox console)
// so the router and the commands never see wire payloads.

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace tugboat::commands {

/// How the person reached the bot.
enum class event_kind {
    slash_command,     ///< `/deploy …` typed in a channel or DM
    mention,           ///< `@tugboat deploy …` in a channel (app_mention)
    direct_message,    ///< a message in the bot's DM (message.im)
    button,            ///< a button press (block_actions)
    modal_submission,  ///< a modal's submit button (view_submission)
    modal_closed,      ///< a modal dismissed with its close button (view_closed)
};

/// Stable lower-case name of a kind, for logs.
std::string_view to_string(event_kind kind) noexcept;

/// One inbound event. Transports fill what they have and leave the rest empty.
struct inbound_event {
    event_kind kind = event_kind::direct_message;
    std::string actor;       ///< Slack user ID of the person (U…)
    std::string actor_name;  ///< display name, for messages and logs only (never for authz)
    std::string channel;     ///< conversation ID (C…, G…, D…); empty for modal events
    std::string thread_ts;   ///< the thread the event happened in, or empty
    std::string message_ts;  ///< ts of the message itself (mention/DM) or of the button's message

    /// Command text with the command name first and no leading slash or bot mention, e.g.
    /// "deploy payments-api beta v1.2.3". Both `/deploy payments-api beta v1.2.3` and
    /// `<@UBOT> deploy payments-api beta v1.2.3` normalize to this (see slash_command_text and
    /// mention_command_text). Slack's `&amp;`/`&lt;`/`&gt;` are already decoded. Empty for
    /// button and modal events.
    std::string text;

    /// Button: the button's action_id (e.g. "deploy.approve"). Modal: the view's callback_id.
    std::string action_id;
    /// Button: the button's value. Modal: the view's private_metadata.
    std::string action_value;
    /// Modal submission: input values keyed by the input element's action_id.
    std::map<std::string, std::string> values;

    std::string response_url;     ///< slash commands and buttons; usable 5 times in 30 minutes
    std::string trigger_id;       ///< opens a modal; expires 3 s after the event
    std::string idempotency_key;  ///< stable across Slack re-deliveries (envelope/event id)
};

/// Text of a slash command in command form: ("/deploy", "payments-api beta") →
/// "deploy payments-api beta".
std::string slash_command_text(std::string_view command, std::string_view text);

/// Text of a mention in command form: drops the bot's own mention (`<@UBOT>` or
/// `<@UBOT|name>`) and keeps what was said after it — or, when nothing follows, what came before
/// it — so "<@UBOT> deploy api beta" and "deploy api beta <@UBOT>" both give
/// "deploy api beta". Returns nullopt when the text does not mention the bot.
std::optional<std::string> mention_command_text(std::string_view text,
                                                std::string_view bot_user_id);

/// Decodes the three entities Slack escapes in message text (`&amp;`, `&lt;`, `&gt;`).
std::string unescape_slack_text(std::string_view text);

}  // namespace tugboat::commands
