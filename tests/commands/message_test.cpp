#include "commands/message.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

using namespace tugboat::commands;
using json = nlohmann::json;

namespace {

json blocks_of(const message& m) {
    json j = json::parse(to_slack_blocks_json(m));  // throws on invalid JSON
    REQUIRE(j.is_array());
    return j;
}

// Code points, as Slack shows them.
std::size_t code_points(const std::string& s) {
    std::size_t n = 0;
    for (char c : s) {
        n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    }
    return n;
}

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += s;
    }
    return out;
}

message approval_message() {
    message m;
    m.text = "Deploy payments-api v1.4.2 to prod?";
    m.add(header{"Deploy to prod"})
        .add(section{"*Deploy* `payments-api` v1.4.2 \u2192 *prod*",
                     {{"Service", "payments-api"}, {"Version", "v1.4.2"}}})
        .add(context{{"requested by <@U42>"}})
        .add(code{"step 1\nstep 2"})
        .add(divider{})
        .add(actions{{button{.text = "Approve",
                             .action_id = "deploy.approve",
                             .value = "42",
                             .style = button_style::primary,
                             .confirm = confirm_dialog{.title = "Deploy?",
                                                       .text = "Roll out to prod",
                                                       .confirm = "Deploy",
                                                       .deny = "Cancel",
                                                       .danger = true}},
                      button{.text = "Reject",
                             .action_id = "deploy.reject",
                             .value = "42",
                             .style = button_style::danger}}});
    return m;
}

}  // namespace

TEST_CASE("slack blocks: every block kind renders in Slack's shape", "[unit]") {
    json b = blocks_of(approval_message());
    REQUIRE(b.size() == 6);
    CHECK(b[0] ==
          json{{"type", "header"},
               {"text", {{"type", "plain_text"}, {"text", "Deploy to prod"}, {"emoji", true}}}});
    CHECK(b[1]["type"] == "section");
    CHECK(b[1]["text"]["type"] == "mrkdwn");
    CHECK(b[1]["fields"].size() == 2);
    CHECK(b[1]["fields"][1]["text"] == "*Version*\nv1.4.2");
    CHECK(b[2] == json{{"type", "context"},
                       {"elements", {{{"type", "mrkdwn"}, {"text", "requested by <@U42>"}}}}});
    CHECK(b[3]["type"] == "rich_text");
    CHECK(b[3]["elements"][0]["type"] == "rich_text_preformatted");
    CHECK(b[3]["elements"][0]["elements"][0]["text"] == "step 1\nstep 2");
    CHECK(b[4] == json{{"type", "divider"}});
    const json& approve = b[5]["elements"][0];
    CHECK(b[5]["type"] == "actions");
    CHECK(approve["action_id"] == "deploy.approve");
    CHECK(approve["value"] == "42");
    CHECK(approve["style"] == "primary");
    CHECK(approve["confirm"]["title"]["text"] == "Deploy?");
    CHECK(approve["confirm"]["confirm"]["text"] == "Deploy");
    CHECK(approve["confirm"]["style"] == "danger");
    CHECK(b[5]["elements"][1]["style"] == "danger");
    CHECK_FALSE(b[5]["elements"][1].contains("confirm"));

    json payload = json::parse(to_slack_payload_json(approval_message()));
    CHECK(payload["text"] == "Deploy payments-api v1.4.2 to prod?");
    CHECK(payload["blocks"] == b);
}

TEST_CASE("slack blocks: over-long texts are cut with an ellipsis at Slack's limits", "[unit]") {
    message m;
    m.add(header{repeat("h", 200)})
        .add(section{repeat("s", 5000), {{"Name", repeat("v", 2500)}}})
        .add(context{{repeat("c", 3500)}})
        .add(actions{{button{.text = repeat("b", 100),
                             .action_id = repeat("a", 300),
                             .value = repeat("x", 2500),
                             .confirm = confirm_dialog{.title = repeat("t", 120),
                                                       .text = repeat("y", 400),
                                                       .confirm = repeat("k", 40),
                                                       .deny = repeat("n", 40)}}}});
    json b = blocks_of(m);
    auto text = [](const json& j) { return j.get<std::string>(); };
    CHECK(code_points(text(b[0]["text"]["text"])) == 150);
    CHECK(text(b[0]["text"]["text"]).ends_with("\u2026"));
    CHECK(code_points(text(b[1]["text"]["text"])) == 3000);
    CHECK(code_points(text(b[1]["fields"][0]["text"])) == 2000);
    CHECK(code_points(text(b[2]["elements"][0]["text"])) == 3000);
    const json& button = b[3]["elements"][0];
    CHECK(code_points(text(button["text"]["text"])) == 75);
    CHECK(code_points(text(button["action_id"])) == 255);
    CHECK(code_points(text(button["value"])) == 2000);
    CHECK(code_points(text(button["confirm"]["title"]["text"])) == 100);
    CHECK(code_points(text(button["confirm"]["text"]["text"])) == 300);
    CHECK(code_points(text(button["confirm"]["confirm"]["text"])) == 30);
    CHECK(code_points(text(button["confirm"]["deny"]["text"])) == 30);
}

TEST_CASE("slack blocks: cuts never split a character, astral characters count twice", "[unit]") {
    message m;
    m.add(header{repeat("\u00e9", 200)}).add(section{repeat("\U0001F600", 2000), {}});
    json b = blocks_of(m);
    std::string h = b[0]["text"]["text"];
    CHECK(h == repeat("\u00e9", 149) + "\u2026");
    std::string s = b[1]["text"]["text"];
    CHECK(s == repeat("\U0001F600", 1499) + "\u2026");  // 2998 + 1 UTF-16 units
}

TEST_CASE("slack blocks: more than 50 blocks end with a note of what was left out", "[unit]") {
    message m;
    for (int i = 0; i < 60; ++i) {
        m.add(section{"item " + std::to_string(i), {}});
    }
    json b = blocks_of(m);
    REQUIRE(b.size() == 50);
    CHECK(b[48]["text"]["text"] == "item 48");
    CHECK(b[49]["type"] == "context");
    CHECK(b[49]["elements"][0]["text"] ==
          "_\u2026 11 more blocks left out to fit Slack's size limits._");
}

TEST_CASE("slack blocks: the message-wide text budget is respected", "[unit]") {
    message m;
    for (int i = 0; i < 5; ++i) {
        m.add(section{repeat("x", 3000), {}});
    }
    json b = blocks_of(m);
    REQUIRE(b.size() == 4);
    std::size_t total = 0;
    for (const auto& block : b) {
        if (block["type"] == "section") {
            total += block["text"]["text"].get<std::string>().size();
        }
    }
    CHECK(total <= slack_limits::total_block_text);
    CHECK(b[3]["elements"][0]["text"] ==
          "_\u2026 2 more blocks left out to fit Slack's size limits._");
}

TEST_CASE("slack blocks: fields, context elements and buttons spill instead of overflowing",
          "[unit]") {
    section many_fields{"Pods", {}};
    for (int i = 0; i < 12; ++i) {
        many_fields.fields.push_back({"pod-" + std::to_string(i), "Running"});
    }
    context many_items;
    for (int i = 0; i < 12; ++i) {
        many_items.elements.push_back("c" + std::to_string(i));
    }
    actions many_buttons;
    for (int i = 0; i < 30; ++i) {
        many_buttons.buttons.push_back({.text = "b", .action_id = "x.b" + std::to_string(i)});
    }
    actions same_id{{button{.text = "Approve 1", .action_id = "deploy.approve", .value = "1"},
                     button{.text = "Approve 2", .action_id = "deploy.approve", .value = "2"}}};
    message m;
    m.add(many_fields).add(many_items).add(many_buttons).add(same_id);
    json b = blocks_of(m);
    REQUIRE(b.size() == 7);
    CHECK(b[0]["text"]["text"] == "Pods");
    CHECK(b[0]["fields"].size() == 10);
    CHECK_FALSE(b[1].contains("text"));
    CHECK(b[1]["fields"].size() == 2);
    CHECK(b[2]["elements"].size() == 10);
    CHECK(b[2]["elements"][9]["text"] == "c9 \u00b7 c10 \u00b7 c11");
    CHECK(b[3]["elements"].size() == 25);
    CHECK(b[4]["elements"].size() == 5);
    CHECK(b[5]["elements"].size() == 1);
    CHECK(b[6]["elements"][0]["value"] == "2");
}

TEST_CASE("slack blocks: empty blocks are dropped and bad UTF-8 does not throw", "[unit]") {
    message m;
    m.add(header{" "}).add(section{"", {}}).add(context{{"", " "}}).add(code{""});
    m.add(actions{{button{.text = "", .action_id = "x.y"}}});
    CHECK(blocks_of(m).empty());

    message bad;
    bad.add(section{"bad \xff\xfe bytes", {}}).add(code{"log \xc3"});
    json b = blocks_of(bad);
    REQUIRE(b.size() == 2);
    CHECK(b[0]["text"]["text"] == "bad \ufffd\ufffd bytes");
}

TEST_CASE("slack blocks: tail-kept code shows the last lines", "[unit]") {
    std::string log;
    for (int i = 0; i < 1000; ++i) {
        log += "line " + std::to_string(i) + "\n";
    }
    message m;
    m.add(code{log, true});
    json b = blocks_of(m);
    std::string text = b[0]["elements"][0]["elements"][0]["text"];
    CHECK(text.starts_with("\u2026"));
    CHECK(text.ends_with("line 999\n"));
    CHECK(code_points(text) == slack_limits::code_text);
}

TEST_CASE("fallback text: given, derived from blocks, and capped", "[unit]") {
    CHECK(slack_fallback_text(approval_message()) == "Deploy payments-api v1.4.2 to prod?");
    message derived;
    derived.add(header{"Status"}).add(section{"All good", {{"prod", "v1"}}});
    CHECK(slack_fallback_text(derived) == "Status\nAll good\nprod: v1");
    message big;
    big.text = repeat("z", 5000);
    CHECK(code_points(slack_fallback_text(big)) == slack_limits::fallback_text);
}

TEST_CASE("escape_mrkdwn escapes only &, < and >", "[unit]") {
    CHECK(escape_mrkdwn("a<b>&c *d*") == "a&lt;b&gt;&amp;c *d*");
}

TEST_CASE("terminal: readable text for every block kind", "[unit]") {
    std::string out = to_terminal_text(approval_message(), {.width = 80, .ansi = false});
    CHECK(out ==
          "Deploy to prod\n"
          "==============\n"
          "\n"
          "Deploy `payments-api` v1.4.2 \u2192 prod\n"
          "Service: payments-api\n"
          "Version: v1.4.2\n"
          "\n"
          "requested by @U42\n"
          "\n"
          "    step 1\n"
          "    step 2\n"
          "\n"
          "----------------------------------------\n"
          "\n"
          "[Approve] type: deploy.approve 42 (asks to confirm)\n"
          "[Reject] type: deploy.reject 42\n");
    CHECK(out.find('\x1b') == std::string::npos);
}

TEST_CASE("terminal: mrkdwn becomes plain text", "[unit]") {
    message m = plain_message(
        "*Bold* <@U1|ann> in <#C9|ops> <https://ci.example/42|build> <https://x.io> "
        "&lt;tag&gt; &amp; 2*3*4 <!here> <!subteam^S0SRE> <!subteam^S1|@oncall> snake_case_name");
    CHECK(to_terminal_text(m, {.width = 200}) ==
          "Bold @ann in #ops build (https://ci.example/42) https://x.io <tag> & 2*3*4 @here "
          "@S0SRE @oncall snake_case_name\n");
}

TEST_CASE("terminal: ANSI styles when asked", "[unit]") {
    std::string out = to_terminal_text(approval_message(), {.width = 80, .ansi = true});
    CHECK(out.starts_with("\x1b[1;4mDeploy to prod\x1b[0m\n\n"));
    CHECK(out.find("\x1b[1mDeploy\x1b[0m") != std::string::npos);
    CHECK(out.find("\x1b[1;32m[Approve]\x1b[0m") != std::string::npos);
    CHECK(out.find("\x1b[1;31m[Reject]\x1b[0m") != std::string::npos);
}

TEST_CASE("terminal: paragraphs wrap at the width, code does not", "[unit]") {
    message m;
    m.add(section{"The quick brown fox jumps over the lazy dog and keeps running far away", {}});
    m.add(code{repeat("x", 50)});
    std::string out = to_terminal_text(m, {.width = 20});
    std::istringstream lines(out);
    std::string line;
    std::vector<std::string> all;
    while (std::getline(lines, line)) {
        all.push_back(line);
    }
    REQUIRE(all.size() >= 5);
    CHECK(all.front() == "The quick brown fox");
    CHECK(all.back() == "    " + repeat("x", 50));
    for (std::size_t i = 0; i + 1 < all.size(); ++i) {
        CHECK(all[i].size() <= 20);
    }
}

TEST_CASE("terminal: buttons map to a typeable action", "[unit]") {
    CHECK(typeable_action({.text = "Approve", .action_id = "deploy.approve", .value = "42"}) ==
          "deploy.approve 42");
    CHECK(typeable_action({.text = "Refresh", .action_id = "status.refresh"}) == "status.refresh");
}
