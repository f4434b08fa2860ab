#pragma once

// A small Block Kit model for everything the bot says. Commands build `message`s; the Slack chat
// renders them with to_slack_payload_json and the console with to_terminal_text, so one message
// reads well in both.
//
// Text conventions: section text, field values and context elements are Slack mrkdwn
// (`*bold*`, `` `code` ``, `<@U123>`, `<https://x|label>`). Escape anything a person or a log
// wrote with escape_mrkdwn before putting it there. Header, button and confirm texts are plain
// text. Code block text is raw and needs no escaping.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tugboat::commands {

/// Large bold title line.
struct header {
    std::string text;  ///< plain text; cut to 150 characters for Slack
};

/// One "Name: value" pair shown in a section's two-column field grid.
struct field {
    std::string name;   ///< plain label, rendered bold
    std::string value;  ///< mrkdwn
};

/// A paragraph and/or a grid of fields.
struct section {
    std::string text;           ///< mrkdwn; cut to 3000 characters for Slack
    std::vector<field> fields;  ///< any number; Slack gets them 10 per section block
};

/// Small grey print: who asked, when, hints.
struct context {
    std::vector<std::string> elements;  ///< mrkdwn items; more than 10 are joined into the 10th
};

/// Preformatted text such as logs or usage lines.
struct code {
    std::string text;        ///< raw text
    bool keep_tail = false;  ///< when cut for size, keep the end (logs) instead of the start
};

enum class button_style { normal, primary, danger };

/// The "Are you sure?" dialog Slack shows before sending a button press.
struct confirm_dialog {
    std::string title;  ///< ≤100 characters
    std::string text;   ///< ≤300 characters
    std::string confirm = "Confirm";
    std::string deny = "Cancel";
    bool danger = false;  ///< red confirm button
};

/// A button. Pressing it sends an inbound_event of kind `button` carrying action_id and value;
/// the router sends it to the action handler registered for the action_id's prefix (the part
/// before the first '.': "deploy.approve" → "deploy").
struct button {
    std::string text;       ///< plain label, ≤75 characters
    std::string action_id;  ///< "<prefix>.<verb>", e.g. "deploy.approve"; ≤255 characters
    std::string value;      ///< e.g. the deploy id; ≤2000 characters
    button_style style = button_style::normal;
    std::optional<confirm_dialog> confirm;
};

/// A row of buttons.
struct actions {
    std::vector<button> buttons;
};

/// A thin horizontal rule.
struct divider {};

using block = std::variant<header, section, context, code, actions, divider>;

/// Something the bot says. `text` is the notification/screen-reader fallback; when empty, one
/// is derived from the blocks.
struct message {
    std::string text;
    std::vector<block> blocks;

    /// Appends a block; returns *this so messages can be built in one expression.
    message& add(block b) {
        blocks.push_back(std::move(b));
        return *this;
    }
};

/// A message with one section holding `mrkdwn` (and the same text as fallback).
message plain_message(std::string mrkdwn);

/// Escapes `&`, `<` and `>` (and nothing else) so user or log text shows literally in mrkdwn.
std::string escape_mrkdwn(std::string_view text);

/// Slack's limits, in characters (UTF-16 code units, which is never less than the number of
/// code points, so a text within these limits is within Slack's however it counts).
namespace slack_limits {
inline constexpr std::size_t blocks = 50;
inline constexpr std::size_t header_text = 150;
inline constexpr std::size_t section_text = 3000;
inline constexpr std::size_t fields = 10;
inline constexpr std::size_t field_text = 2000;
inline constexpr std::size_t context_elements = 10;
inline constexpr std::size_t context_text = 3000;
inline constexpr std::size_t action_elements = 25;
inline constexpr std::size_t button_text = 75;
inline constexpr std::size_t action_id = 255;
inline constexpr std::size_t button_value = 2000;
inline constexpr std::size_t confirm_title = 100;
inline constexpr std::size_t confirm_text = 300;
inline constexpr std::size_t confirm_button = 30;
inline constexpr std::size_t code_text = 3000;
/// Text across all blocks of one message; Slack rejects more with msg_blocks_too_long (the
/// limit is undocumented; ~12 000 is measured, we stay below it).
inline constexpr std::size_t total_block_text = 11000;
/// The fallback `text`; chat.update rejects more than 4000.
inline constexpr std::size_t fallback_text = 4000;
}  // namespace slack_limits

/// The message's `blocks` array as JSON text. Never invalid: over-long texts are cut with "…",
/// empty blocks are dropped, more than 10 fields or 25 buttons spill into further blocks,
/// buttons sharing an action_id go to separate action blocks, and when the message exceeds 50
/// blocks or the total text budget the rest is replaced by a context line saying how much was
/// left out. Invalid UTF-8 is replaced, not rejected. Code renders as a rich_text_preformatted
/// block.
std::string to_slack_blocks_json(const message& msg);

/// The fallback text: `msg.text`, or a plain summary of the blocks when empty; ≤4000 characters.
std::string slack_fallback_text(const message& msg);

/// `{"text": <fallback>, "blocks": [...]}` — the part of a chat.postMessage / chat.update /
/// chat.postEphemeral / response_url body that carries the message; the caller adds channel,
/// ts, thread_ts and the like.
std::string to_slack_payload_json(const message& msg);

/// How to render for a terminal.
struct terminal_options {
    std::size_t width = 80;  ///< wrap paragraphs at this many columns (code is never wrapped)
    bool ansi = false;       ///< bold/underline/dim/colour with ANSI escapes
};

/// What a person types in the console to press `b`: "<action_id> <value>" (just the action_id
/// when the value is empty), e.g. "deploy.approve 42". The console matches a typed line
/// against the buttons it has shown and turns it into a `button` inbound_event.
std::string typeable_action(const button& b);

/// Readable plain text. Header: the title, underlined with '=' (bold and underlined with ANSI).
/// Section: wrapped paragraphs, then one "Name: value" line per field. mrkdwn becomes plain:
/// `*bold*` loses its stars, `<@U1|ann>` → "@ann", `<https://x|docs>` → "docs (https://x)",
/// entities are decoded. Context: wrapped lines (dim with ANSI). Code: every line indented by
/// four spaces. Buttons: one per line, `[Approve] type: deploy.approve 42`, with
/// " (asks to confirm)" when the button has a confirm dialog. Divider: a line of '-'. Blocks
/// are separated by one blank line; the result ends with a newline.
std::string to_terminal_text(const message& msg, terminal_options options = {});

}  // namespace tugboat::commands
