#include "commands/event.hpp"

#include "core/text.hpp"

namespace tugboat::commands {

std::string_view to_string(event_kind kind) noexcept {
    switch (kind) {
        case event_kind::slash_command: return "slash_command";
        case event_kind::mention: return "mention";
        case event_kind::direct_message: return "direct_message";
        case event_kind::button: return "button";
        case event_kind::modal_submission: return "modal_submission";
        case event_kind::modal_closed: return "modal_closed";
    }
    return "unknown";
}

std::string slash_command_text(std::string_view command, std::string_view text) {
    command = core::trim(command);
    if (command.starts_with('/')) {
        command.remove_prefix(1);
    }
    std::string out{command};
    text = core::trim(text);
    if (!text.empty()) {
        out += ' ';
        out += text;
    }
    return out;
}

std::optional<std::string> mention_command_text(std::string_view text,
                                                std::string_view bot_user_id) {
    const std::string open = "<@" + std::string{bot_user_id};
    std::size_t at = 0;
    while ((at = text.find(open, at)) != std::string_view::npos) {
        const std::size_t after_id = at + open.size();
        // "<@UBOT>" or "<@UBOT|name>"; "<@UBOT2>" is someone else.
        if (after_id < text.size() && (text[after_id] == '>' || text[after_id] == '|')) {
            const std::size_t close = text.find('>', after_id);
            if (close == std::string_view::npos) {
                return std::nullopt;
            }
            std::string_view after = core::trim(text.substr(close + 1));
            if (!after.empty()) {
                return std::string{after};
            }
            return std::string{core::trim(text.substr(0, at))};
        }
        at = after_id;
    }
    return std::nullopt;
}

std::string unescape_slack_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        std::string_view rest = text.substr(i);
        if (rest.starts_with("&amp;")) {
            out += '&';
            i += 4;
        } else if (rest.starts_with("&lt;")) {
            out += '<';
            i += 3;
        } else if (rest.starts_with("&gt;")) {
            out += '>';
            i += 3;
        } else {
            out += text[i];
        }
    }
    return out;
}

}  // namespace tugboat::commands
