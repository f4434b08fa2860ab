#include "sandbox/slack_blocks.hpp"

#include <nlohmann/json.hpp>

namespace tugboat::sandbox {

namespace {

using nlohmann::json;

std::string text_of(const json& j) {
    if (j.is_object() && j.contains("text") && j["text"].is_string()) {
        return j["text"].get<std::string>();
    }
    return {};
}

/// "*Name*\nvalue" is how the bot writes a field (commands/message.cpp).
commands::field field_of(const std::string& mrkdwn) {
    if (mrkdwn.size() > 2 && mrkdwn.front() == '*') {
        auto close = mrkdwn.find('*', 1);
        if (close != std::string::npos &&
            (close + 1 == mrkdwn.size() || mrkdwn[close + 1] == '\n')) {
            std::string value = close + 2 <= mrkdwn.size() ? mrkdwn.substr(close + 2) : "";
            return {mrkdwn.substr(1, close - 1), value};
        }
    }
    return {"", mrkdwn};
}

commands::button button_of(const json& e) {
    commands::button b;
    b.text = text_of(e.value("text", json::object()));
    b.action_id = e.value("action_id", "");
    b.value = e.value("value", "");
    std::string style = e.value("style", "");
    b.style = style == "primary"  ? commands::button_style::primary
              : style == "danger" ? commands::button_style::danger
                                  : commands::button_style::normal;
    if (e.contains("confirm") && e["confirm"].is_object()) {
        const json& c = e["confirm"];
        commands::confirm_dialog d;
        d.title = text_of(c.value("title", json::object()));
        d.text = text_of(c.value("text", json::object()));
        b.confirm = d;
    }
    return b;
}

void add_block(const json& b, commands::message& out) {
    std::string type = b.value("type", "");
    if (type == "header") {
        out.add(commands::header{text_of(b.value("text", json::object()))});
    } else if (type == "section") {
        commands::section s;
        s.text = text_of(b.value("text", json::object()));
        for (const auto& f : b.value("fields", json::array())) {
            s.fields.push_back(field_of(text_of(f)));
        }
        out.add(std::move(s));
    } else if (type == "context") {
        commands::context c;
        for (const auto& e : b.value("elements", json::array())) {
            c.elements.push_back(text_of(e));
        }
        out.add(std::move(c));
    } else if (type == "rich_text") {
        std::string code;
        for (const auto& part : b.value("elements", json::array())) {
            for (const auto& e : part.value("elements", json::array())) {
                code += text_of(e);
            }
        }
        out.add(commands::code{std::move(code)});
    } else if (type == "actions") {
        commands::actions row;
        for (const auto& e : b.value("elements", json::array())) {
            if (e.value("type", "") == "button") {
                row.buttons.push_back(button_of(e));
            }
        }
        out.add(std::move(row));
    } else if (type == "divider") {
        out.add(commands::divider{});
    } else if (auto t = text_of(b.value("text", json::object())); !t.empty()) {
        out.add(commands::section{t, {}});
    }
}

}  // namespace

commands::message message_from_slack(std::string_view text, std::string_view blocks_json) {
    commands::message out;
    out.text = std::string(text);
    auto blocks = json::parse(blocks_json, nullptr, false);
    if (blocks.is_array()) {
        for (const auto& b : blocks) {
            if (b.is_object()) {
                add_block(b, out);
            }
        }
    }
    if (out.blocks.empty()) {
        out.add(commands::section{std::string(text), {}});
    }
    return out;
}

}  // namespace tugboat::sandbox
