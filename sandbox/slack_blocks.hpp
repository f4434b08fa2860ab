#pragma once

// Reads a message's Block Kit JSON back into the bot's message model, so the sandbox console
// can print what actually reached (fake) Slack with the same terminal renderer the bot's
// messages were designed for.

#include "commands/message.hpp"

#include <string_view>

namespace tugboat::sandbox {

/// The message Slack would show for `text` + `blocks_json` (a JSON array, or "" for a plain
/// text message). Understands the blocks the bot sends (header, section with fields, context,
/// rich_text preformatted, actions with buttons, divider); other blocks show their text, if
/// any. Never fails: unreadable JSON falls back to `text`.
commands::message message_from_slack(std::string_view text, std::string_view blocks_json);

}  // namespace tugboat::sandbox
