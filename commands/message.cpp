#include "commands/message.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>

namespace tugboat::commands {

namespace {

using json = nlohmann::json;

// Length in bytes of the UTF-8 sequence starting with `lead`; 1 for stray bytes so that invalid
// input still advances (nlohmann replaces it with U+FFFD when dumping).
std::size_t sequence_length(unsigned char lead) {
    if (lead < 0x80) {
        return 1;
    }
    if ((lead & 0xE0) == 0xC0) {
        return 2;
    }
    if ((lead & 0xF0) == 0xE0) {
        return 3;
    }
    if ((lead & 0xF8) == 0xF0) {
        return 4;
    }
    return 1;
}

// Characters as Slack may count them: UTF-16 code units (astral code points count twice).
std::size_t units(std::string_view s) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t len = std::min(sequence_length(static_cast<unsigned char>(s[i])), s.size() - i);
        n += len == 4 ? 2 : 1;
        i += len;
    }
    return n;
}

constexpr std::string_view ellipsis = "\u2026";  // one unit

// The longest prefix of `s` of at most `limit` units, ending on a code point boundary.
std::string_view head(std::string_view s, std::size_t limit) {
    std::size_t n = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t len = std::min(sequence_length(static_cast<unsigned char>(s[i])), s.size() - i);
        std::size_t u = len == 4 ? 2 : 1;
        if (n + u > limit) {
            break;
        }
        n += u;
        i += len;
    }
    return s.substr(0, i);
}

// Cuts `s` to `limit` units, marking the cut with "…" at the end (or at the start when keeping
// the tail).
std::string cut(std::string_view s, std::size_t limit, bool keep_tail = false) {
    if (units(s) <= limit) {
        return std::string{s};
    }
    if (limit == 0) {
        return {};
    }
    if (!keep_tail) {
        return std::string{head(s, limit - 1)} + std::string{ellipsis};
    }
    // Walk code points from the front, dropping until the rest fits.
    std::size_t total = units(s);
    std::size_t i = 0;
    while (i < s.size() && total > limit - 1) {
        std::size_t len = std::min(sequence_length(static_cast<unsigned char>(s[i])), s.size() - i);
        total -= len == 4 ? 2 : 1;
        i += len;
    }
    // Skip continuation bytes so the tail starts on a boundary.
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) {
        ++i;
    }
    return std::string{ellipsis} + std::string{s.substr(i)};
}

bool blank(std::string_view s) {
    return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::string one_line(std::string_view s) {
    std::string out{s};
    std::replace(out.begin(), out.end(), '\n', ' ');
    std::replace(out.begin(), out.end(), '\r', ' ');
    return out;
}

json plain_text(std::string_view s) {
    return json{{"type", "plain_text"}, {"text", std::string{s}}, {"emoji", true}};
}

json mrkdwn(std::string_view s) {
    return json{{"type", "mrkdwn"}, {"text", std::string{s}}};
}

// One Slack block with the amount of text it carries, for the message-wide budget.
struct rendered_block {
    json value;
    std::size_t text_units = 0;
};

std::string field_text(const field& f) {
    std::string out;
    if (!blank(f.name)) {
        out = "*" + escape_mrkdwn(one_line(f.name)) + "*";
    }
    if (!blank(f.value)) {
        if (!out.empty()) {
            out += "\n";
        }
        out += f.value;
    }
    return cut(out, slack_limits::field_text);
}

void render(const header& h, std::vector<rendered_block>& out) {
    if (blank(h.text)) {
        return;
    }
    std::string text = cut(one_line(h.text), slack_limits::header_text);
    std::size_t n = units(text);
    out.push_back({json{{"type", "header"}, {"text", plain_text(text)}}, n});
}

void render(const section& s, std::vector<rendered_block>& out) {
    std::vector<std::string> fields;
    for (const auto& f : s.fields) {
        std::string t = field_text(f);
        if (!blank(t)) {
            fields.push_back(std::move(t));
        }
    }
    bool has_text = !blank(s.text);
    if (!has_text && fields.empty()) {
        return;
    }
    std::size_t next = 0;
    bool first = true;
    while (first || next < fields.size()) {
        json block{{"type", "section"}};
        std::size_t n = 0;
        if (first && has_text) {
            std::string text = cut(s.text, slack_limits::section_text);
            n += units(text);
            block["text"] = mrkdwn(text);
        }
        if (next < fields.size()) {
            json items = json::array();
            for (std::size_t k = 0; k < slack_limits::fields && next < fields.size(); ++k, ++next) {
                n += units(fields[next]);
                items.push_back(mrkdwn(fields[next]));
            }
            block["fields"] = std::move(items);
        }
        out.push_back({std::move(block), n});
        first = false;
    }
}

void render(const context& c, std::vector<rendered_block>& out) {
    std::vector<std::string> items;
    for (const auto& e : c.elements) {
        if (!blank(e)) {
            items.push_back(e);
        }
    }
    if (items.empty()) {
        return;
    }
    // Slack takes 10 elements; join the overflow into the last one rather than lose it.
    if (items.size() > slack_limits::context_elements) {
        std::string last;
        for (std::size_t i = slack_limits::context_elements - 1; i < items.size(); ++i) {
            if (!last.empty()) {
                last += " \u00b7 ";
            }
            last += items[i];
        }
        items.resize(slack_limits::context_elements - 1);
        items.push_back(std::move(last));
    }
    json elements = json::array();
    std::size_t n = 0;
    for (auto& item : items) {
        std::string text = cut(item, slack_limits::context_text);
        n += units(text);
        elements.push_back(mrkdwn(text));
    }
    out.push_back({json{{"type", "context"}, {"elements", std::move(elements)}}, n});
}

void render(const code& c, std::vector<rendered_block>& out) {
    if (c.text.empty()) {
        return;
    }
    std::string text = cut(c.text, slack_limits::code_text, c.keep_tail);
    std::size_t n = units(text);
    json preformatted{{"type", "rich_text_preformatted"},
                      {"elements", json::array({json{{"type", "text"}, {"text", text}}})}};
    out.push_back(
        {json{{"type", "rich_text"}, {"elements", json::array({std::move(preformatted)})}}, n});
}

json render_button(const button& b, std::size_t& n) {
    std::string label = cut(one_line(b.text), slack_limits::button_text);
    n += units(label);
    json j{{"type", "button"}, {"text", plain_text(label)}};
    if (!b.action_id.empty()) {
        j["action_id"] = cut(b.action_id, slack_limits::action_id);
    }
    if (!b.value.empty()) {
        j["value"] = cut(b.value, slack_limits::button_value);
    }
    if (b.style == button_style::primary) {
        j["style"] = "primary";
    } else if (b.style == button_style::danger) {
        j["style"] = "danger";
    }
    if (b.confirm) {
        const confirm_dialog& d = *b.confirm;
        std::string title = blank(d.title) ? "Are you sure?" : one_line(d.title);
        std::string text = blank(d.text) ? title : d.text;
        json dialog{
            {"title", plain_text(cut(title, slack_limits::confirm_title))},
            {"text", plain_text(cut(text, slack_limits::confirm_text))},
            {"confirm", plain_text(cut(blank(d.confirm) ? "Confirm" : one_line(d.confirm),
                                       slack_limits::confirm_button))},
            {"deny", plain_text(cut(blank(d.deny) ? "Cancel" : one_line(d.deny),
                                    slack_limits::confirm_button))},
        };
        if (d.danger) {
            dialog["style"] = "danger";
        }
        j["confirm"] = std::move(dialog);
    }
    return j;
}

void render(const actions& a, std::vector<rendered_block>& out) {
    json elements = json::array();
    std::vector<std::string> ids;
    std::size_t n = 0;
    auto flush = [&] {
        if (!elements.empty()) {
            out.push_back({json{{"type", "actions"}, {"elements", std::move(elements)}}, n});
        }
        elements = json::array();
        ids.clear();
        n = 0;
    };
    for (const auto& b : a.buttons) {
        if (blank(b.text)) {
            continue;
        }
        // Slack rejects two elements with one action_id in a block; a new row keeps both.
        std::string id = cut(b.action_id, slack_limits::action_id);
        bool duplicate = !id.empty() && std::find(ids.begin(), ids.end(), id) != ids.end();
        if (duplicate || elements.size() == slack_limits::action_elements) {
            flush();
        }
        elements.push_back(render_button(b, n));
        ids.push_back(std::move(id));
    }
    flush();
}

void render(const divider&, std::vector<rendered_block>& out) {
    out.push_back({json{{"type", "divider"}}, 0});
}

json render_blocks(const message& msg) {
    std::vector<rendered_block> all;
    for (const auto& b : msg.blocks) {
        std::visit([&](const auto& item) { render(item, all); }, b);
    }
    std::size_t total_text = 0;
    for (const auto& r : all) {
        total_text += r.text_units;
    }
    json blocks = json::array();
    if (all.size() <= slack_limits::blocks && total_text <= slack_limits::total_block_text) {
        for (auto& r : all) {
            blocks.push_back(std::move(r.value));
        }
        return blocks;
    }
    // Too big: keep what fits and say what was left out, leaving room for that note.
    constexpr std::size_t note_units = 80;  // the note below, with room for any count
    std::size_t used = 0;
    std::size_t kept = 0;
    for (; kept < all.size(); ++kept) {
        if (kept + 1 >= slack_limits::blocks ||
            used + all[kept].text_units + note_units > slack_limits::total_block_text) {
            break;
        }
        used += all[kept].text_units;
        blocks.push_back(std::move(all[kept].value));
    }
    std::size_t left = all.size() - kept;
    std::string note = "_\u2026 " + std::to_string(left) +
                       (left == 1 ? " more block" : " more blocks") +
                       " left out to fit Slack's size limits._";
    blocks.push_back(json{{"type", "context"}, {"elements", json::array({mrkdwn(note)})}});
    return blocks;
}

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

message plain_message(std::string mrkdwn_text) {
    message m;
    m.text = mrkdwn_text;
    m.blocks.emplace_back(section{std::move(mrkdwn_text), {}});
    return m;
}

std::string escape_mrkdwn(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string slack_fallback_text(const message& msg) {
    if (!blank(msg.text)) {
        return cut(msg.text, slack_limits::fallback_text);
    }
    std::string out;
    auto line = [&](std::string_view s) {
        if (blank(s)) {
            return;
        }
        if (!out.empty()) {
            out += "\n";
        }
        out += s;
    };
    for (const auto& b : msg.blocks) {
        if (const auto* h = std::get_if<header>(&b)) {
            line(h->text);
        } else if (const auto* s = std::get_if<section>(&b)) {
            line(s->text);
            for (const auto& f : s->fields) {
                line(f.name + ": " + f.value);
            }
        }
        if (units(out) > slack_limits::fallback_text) {
            break;
        }
    }
    return cut(out, slack_limits::fallback_text);
}

std::string to_slack_blocks_json(const message& msg) {
    return dump(render_blocks(msg));
}

std::string to_slack_payload_json(const message& msg) {
    json payload{{"text", slack_fallback_text(msg)}, {"blocks", render_blocks(msg)}};
    return dump(payload);
}

}  // namespace tugboat::commands
