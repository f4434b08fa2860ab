// The terminal renderer of message.hpp: what the sandbox console prints.

#include "commands/message.hpp"

#include <algorithm>
#include <cctype>

namespace tugboat::commands {

namespace {

constexpr std::string_view bold_on = "\x1b[1m";
constexpr std::string_view underline_on = "\x1b[1;4m";
constexpr std::string_view dim_on = "\x1b[2m";
constexpr std::string_view red_on = "\x1b[1;31m";
constexpr std::string_view green_on = "\x1b[1;32m";
constexpr std::string_view reset = "\x1b[0m";

// Columns a string takes: code points, not counting ANSI escape sequences.
std::size_t columns(std::string_view s) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\x1b') {
            while (i < s.size() && s[i] != 'm') {
                ++i;
            }
            continue;
        }
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            ++n;
        }
    }
    return n;
}

bool word_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           (static_cast<unsigned char>(c) & 0x80) != 0;
}

// Renders one `<…>` token of mrkdwn: mentions, channels, specials and links.
std::string link_text(std::string_view inner) {
    std::string_view target = inner;
    std::string_view label;
    if (auto bar = inner.find('|'); bar != std::string_view::npos) {
        target = inner.substr(0, bar);
        label = inner.substr(bar + 1);
    }
    if (target.starts_with('@')) {
        return "@" + std::string{label.empty() ? target.substr(1) : label};
    }
    if (target.starts_with('#')) {
        return "#" + std::string{label.empty() ? target.substr(1) : label};
    }
    if (target.starts_with('!')) {
        if (!label.empty()) {
            return std::string{label};
        }
        std::string_view special = target.substr(1);
        // A user group's mention names its ID, which the caller may know a handle for.
        if (special.starts_with("subteam^")) {
            return "@" + std::string{special.substr(8)};
        }
        return "@" + std::string{special.substr(0, special.find('^'))};
    }
    if (label.empty() || label == target) {
        return std::string{target};
    }
    return std::string{label} + " (" + std::string{target} + ")";
}

// mrkdwn → terminal text: links and mentions spelled out, `*bold*` as ANSI bold (or plain),
// entities decoded. Everything else (`code`, _italic_) stays as typed: it reads fine.
std::string plain(std::string_view text, bool ansi) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '<') {
            auto close = text.find('>', i + 1);
            if (close != std::string_view::npos &&
                text.substr(i + 1, close - i - 1).find('\n') == std::string_view::npos) {
                out += link_text(text.substr(i + 1, close - i - 1));
                i = close;
                continue;
            }
        }
        if (c == '&') {
            std::string_view rest = text.substr(i);
            if (rest.starts_with("&amp;")) {
                out += '&';
                i += 4;
                continue;
            }
            if (rest.starts_with("&lt;")) {
                out += '<';
                i += 3;
                continue;
            }
            if (rest.starts_with("&gt;")) {
                out += '>';
                i += 3;
                continue;
            }
        }
        // *bold* only at word boundaries, so "2*3*4" and "a * b" stay as they are.
        if (c == '*' && (i == 0 || !word_char(text[i - 1])) && i + 1 < text.size() &&
            text[i + 1] != ' ' && text[i + 1] != '*') {
            auto close = text.find('*', i + 1);
            if (close != std::string_view::npos && text[close - 1] != ' ' &&
                (close + 1 == text.size() || !word_char(text[close + 1])) &&
                text.substr(i, close - i).find('\n') == std::string_view::npos) {
                if (ansi) {
                    out += bold_on;
                }
                out += plain(text.substr(i + 1, close - i - 1), ansi);
                if (ansi) {
                    out += reset;
                }
                i = close;
                continue;
            }
        }
        out += c;
    }
    return out;
}

// Word-wraps each line of `text` at `width` columns; words longer than a line stay whole.
std::string wrap(std::string_view text, std::size_t width) {
    std::string out;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('\n', start);
        std::string_view line = text.substr(
            start, end == std::string_view::npos ? std::string_view::npos : end - start);
        std::size_t indent = line.find_first_not_of(' ');
        indent = indent == std::string_view::npos ? line.size() : indent;
        std::string current{line.substr(0, indent)};
        std::size_t current_cols = indent;
        bool has_word = false;
        std::size_t pos = indent;
        while (pos < line.size()) {
            std::size_t word_end = line.find(' ', pos);
            if (word_end == std::string_view::npos) {
                word_end = line.size();
            }
            std::string_view word = line.substr(pos, word_end - pos);
            if (!word.empty()) {
                std::size_t cols = columns(word);
                if (has_word && current_cols + 1 + cols > width) {
                    out += current;
                    out += '\n';
                    current.assign(indent, ' ');
                    current_cols = indent;
                    has_word = false;
                }
                if (has_word) {
                    current += ' ';
                    ++current_cols;
                }
                current += word;
                current_cols += cols;
                has_word = true;
            }
            pos = word_end + 1;
        }
        out += current;
        if (end == std::string_view::npos) {
            break;
        }
        out += '\n';
        start = end + 1;
    }
    return out;
}

std::string styled(std::string_view text, std::string_view style, bool ansi) {
    if (!ansi) {
        return std::string{text};
    }
    return std::string{style} + std::string{text} + std::string{reset};
}

std::string render(const header& h, const terminal_options& o) {
    std::string text{h.text};
    std::replace(text.begin(), text.end(), '\n', ' ');
    if (o.ansi) {
        return styled(text, underline_on, true);
    }
    return text + "\n" + std::string(std::min(columns(text), o.width), '=');
}

std::string render(const section& s, const terminal_options& o) {
    std::string out;
    if (!s.text.empty()) {
        out = wrap(plain(s.text, o.ansi), o.width);
    }
    for (const auto& f : s.fields) {
        if (!out.empty()) {
            out += '\n';
        }
        std::string value = plain(f.value, o.ansi);
        // Continuation lines of a multi-line value line up under the name.
        std::string indented;
        for (char c : value) {
            indented += c;
            if (c == '\n') {
                indented += "  ";
            }
        }
        out += styled(f.name + ":", bold_on, o.ansi) + " " + indented;
    }
    return out;
}

std::string render(const context& c, const terminal_options& o) {
    std::string joined;
    for (const auto& e : c.elements) {
        if (e.empty()) {
            continue;
        }
        if (!joined.empty()) {
            joined += " \u00b7 ";
        }
        joined += plain(e, false);
    }
    return styled(wrap(joined, o.width), dim_on, o.ansi);
}

std::string render(const code& c, const terminal_options&) {
    std::string out = "    ";
    for (std::size_t i = 0; i < c.text.size(); ++i) {
        out += c.text[i];
        if (c.text[i] == '\n' && i + 1 < c.text.size()) {
            out += "    ";
        }
    }
    while (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    return out;
}

std::string render(const actions& a, const terminal_options& o) {
    std::string out;
    for (const auto& b : a.buttons) {
        if (!out.empty()) {
            out += '\n';
        }
        std::string_view colour = b.style == button_style::danger    ? red_on
                                  : b.style == button_style::primary ? green_on
                                                                     : bold_on;
        out += styled("[" + b.text + "]", colour, o.ansi) + " type: " + typeable_action(b);
        if (b.confirm) {
            out += " (asks to confirm)";
        }
    }
    return out;
}

std::string render(const divider&, const terminal_options& o) {
    return std::string(std::min<std::size_t>(o.width, 40), '-');
}

}  // namespace

std::string typeable_action(const button& b) {
    if (b.value.empty()) {
        return b.action_id;
    }
    return b.action_id + " " + b.value;
}

std::string to_terminal_text(const message& msg, terminal_options options) {
    options.width = std::max<std::size_t>(options.width, 20);
    std::string out;
    auto append = [&](std::string part) {
        if (part.empty()) {
            return;
        }
        if (!out.empty()) {
            out += "\n\n";
        }
        out += part;
    };
    if (msg.blocks.empty()) {
        append(wrap(plain(msg.text, options.ansi), options.width));
    }
    for (const auto& b : msg.blocks) {
        append(std::visit([&](const auto& item) { return render(item, options); }, b));
    }
    out += '\n';
    return out;
}

}  // namespace tugboat::commands
