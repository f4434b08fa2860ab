#include "bot/slack_events.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace {

using namespace tugboat;
using bot::frame_type;
using bot::parse_socket_frame;
using commands::event_kind;
using json = nlohmann::json;

const std::string fixture_dir = std::string(TUGBOAT_FIXTURE_DIR) + "/slack/slackapi/";

json load_fixture(const std::string& relative) {
    std::ifstream in(fixture_dir + relative);
    REQUIRE(in.good());
    std::stringstream text;
    text << in.rdbuf();
    return json::parse(text.str());
}

json java_envelopes() {
    return load_fixture("java-slack-sdk/socket-mode-envelopes.json");
}

json python_messages() {
    return load_fixture("python-slack-sdk-socket-mode-messages.json");
}

// Parses a frame that must carry an event and returns it.
commands::inbound_event event_of_text(const std::string& frame,
                                      const bot::event_parse_options& options = {}) {
    auto parsed = parse_socket_frame(frame, options);
    REQUIRE(parsed);
    REQUIRE(parsed->payload);
    INFO(parsed->payload->ignored);
    REQUIRE(parsed->payload->event);
    return *parsed->payload->event;
}

commands::inbound_event event_of(const json& frame, const bot::event_parse_options& options = {}) {
    return event_of_text(frame.dump(), options);
}

// `text` with its one occurrence of `what` replaced by `with`.
std::string replaced(std::string text, const std::string& what, const std::string& with) {
    const auto at = text.find(what);
    REQUIRE(at != std::string::npos);
    return text.replace(at, what.size(), with);
}

// Parses a frame whose payload must be ignored and returns the reason.
std::string ignored_of(const json& frame, const bot::event_parse_options& options = {}) {
    auto parsed = parse_socket_frame(frame.dump(), options);
    REQUIRE(parsed);
    REQUIRE(parsed->payload);
    REQUIRE_FALSE(parsed->payload->event);
    return parsed->payload->ignored;
}

// Parses a frame whose envelope is fine but whose payload is bad; returns the error message.
std::string payload_error_of(const json& frame) {
    auto parsed = parse_socket_frame(frame.dump());
    REQUIRE(parsed);
    CHECK_FALSE(parsed->envelope_id.empty());  // still acknowledged
    REQUIRE_FALSE(parsed->payload);
    CHECK(parsed->payload.error().code == core::errc::invalid_argument);
    return parsed->payload.error().message;
}

json dm_envelope(std::string text) {
    return {{"envelope_id", "env-dm-1"},
            {"type", "events_api"},
            {"accepts_response_payload", false},
            {"retry_attempt", 0},
            {"retry_reason", ""},
            {"payload",
             {{"type", "event_callback"},
              {"event_id", "EvDM1"},
              {"authorizations", json::array({{{"user_id", "UBOT"}, {"is_bot", true}}})},
              {"event",
               {{"type", "message"},
                {"channel_type", "im"},
                {"user", "U42"},
                {"channel", "D042"},
                {"ts", "1700000000.000100"},
                {"event_ts", "1700000000.000100"},
                {"text", std::move(text)}}}}}};
}

json view_envelope(std::string type) {
    return {
        {"envelope_id", "env-view-1"},
        {"type", "interactive"},
        {"accepts_response_payload", type == "view_submission"},
        {"payload",
         {{"type", type},
          {"trigger_id", "111.222.view"},
          {"user", {{"id", "U42"}, {"username", "alice"}}},
          {"view",
           {{"id", "V123"},
            {"hash", "156663117.cd33ad1f"},
            {"callback_id", "deploy-form"},
            {"private_metadata", "deploy:42"},
            {"state",
             {{"values",
               {{"b1", {{"reason", {{"type", "plain_text_input"}, {"value", "tests are red"}}}}},
                {"b2",
                 {{"env",
                   {{"type", "static_select"},
                    {"selected_option", {{"value", "prod"}, {"text", "Prod"}}}}}}},
                {"b3",
                 {{"who",
                   {{"type", "multi_users_select"},
                    {"selected_users", json::array({"U1", "U2"})}}}}},
                {"b4", {{"empty", {{"type", "plain_text_input"}, {"value", nullptr}}}}},
                {"b5",
                 {{"when",
                   {{"type", "datetimepicker"}, {"selected_date_time", 1700000000}}}}}}}}}}},
          {"response_urls", json::array({{{"block_id", "b1"},
                                          {"action_id", "reason"},
                                          {"channel_id", "C1"},
                                          {"response_url", "https://hooks.slack.com/app/x"}}})}}}};
}

}  // namespace

TEST_CASE("slack_events: hello and disconnect frames", "[unit]") {
    SECTION("hello") {
        auto frame = parse_socket_frame(python_messages()["hello"].dump());
        REQUIRE(frame);
        CHECK(frame->type == frame_type::hello);
        CHECK(frame->num_connections == 2);
        CHECK(frame->envelope_id.empty());
    }
    SECTION("disconnect") {
        auto frame = parse_socket_frame(python_messages()["disconnect"].dump());
        REQUIRE(frame);
        CHECK(frame->type == frame_type::disconnect);
        CHECK(frame->disconnect_reason == "too_many_websockets");
    }
    SECTION("refresh_requested") {
        auto frame = parse_socket_frame(
            R"({"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"x"}})");
        REQUIRE(frame);
        CHECK(frame->disconnect_reason == "refresh_requested");
    }
}

TEST_CASE("slack_events: slash command envelope", "[unit]") {
    auto envelope = java_envelopes()["commandEnvelope"];
    envelope["payload"]["text"] = "payments-api  beta &amp; more ";
    auto frame = parse_socket_frame(envelope.dump());
    REQUIRE(frame);
    CHECK(frame->type == frame_type::slash_commands);
    CHECK(frame->envelope_id == "xxx-11-222-yyy-zzz");
    CHECK(frame->accepts_response_payload);
    REQUIRE(frame->payload);
    REQUIRE(frame->payload->event);
    const auto& ev = *frame->payload->event;
    CHECK(ev.kind == event_kind::slash_command);
    CHECK(ev.text == "hi-socket-mode payments-api  beta & more");
    CHECK(ev.actor == "U111");
    CHECK(ev.actor_name == "test-test-test");
    CHECK(ev.channel == "C111");
    CHECK(ev.response_url == "https://hooks.slack.com/commands/T111/111/xxx");
    CHECK(ev.trigger_id == "111.222.xxx");
    CHECK(ev.idempotency_key == "command:111.222.xxx");
}

TEST_CASE("slack_events: slash command with empty text, python sample", "[unit]") {
    auto ev = event_of(python_messages()["envelopes"][0]);
    CHECK(ev.kind == event_kind::slash_command);
    CHECK(ev.text == "hello-socket-mode");
    CHECK(ev.actor == "U111");
}

TEST_CASE("slack_events: app_mention envelope", "[unit]") {
    auto envelope = java_envelopes()["eventsEnvelope"];
    SECTION("bot user from the authorizations") {
        auto ev = event_of(envelope);
        CHECK(ev.kind == event_kind::mention);
        CHECK(ev.text == "hey");
        CHECK(ev.actor == "U111");
        CHECK(ev.channel == "C111");
        CHECK(ev.message_ts == "1605853844.000800");
        CHECK(ev.thread_ts.empty());
        CHECK(ev.idempotency_key == "event:Ev01ERKCFKK9");
    }
    SECTION("thread reply, configured bot id, mention at the end") {
        envelope["payload"]["event"]["thread_ts"] = "1605853800.000100";
        envelope["payload"]["event"]["text"] = "deploy api beta &lt;now&gt; <@UBOT|tugboat>";
        auto ev = event_of(envelope, {.bot_user_id = "UBOT"});
        CHECK(ev.text == "deploy api beta <now>");
        CHECK(ev.thread_ts == "1605853800.000100");
    }
    SECTION("mention of an id we do not know: the leading mention is dropped") {
        auto ev = event_of(python_messages()["envelopes"][1], {.bot_user_id = "UBOT"});
        CHECK(ev.text.empty());
        CHECK(ev.actor == "U222");
        CHECK(ev.idempotency_key == "event:Ev111");
    }
    SECTION("re-delivery fields") {
        envelope["retry_attempt"] = 2;
        envelope["retry_reason"] = "timeout";
        auto frame = parse_socket_frame(envelope.dump());
        REQUIRE(frame);
        CHECK(frame->retry_attempt == 2);
        CHECK(frame->retry_reason == "timeout");
    }
}

TEST_CASE("slack_events: bot and own messages are ignored", "[unit]") {
    auto envelope = java_envelopes()["eventsEnvelope"];
    SECTION("the bot's own user") {
        envelope["payload"]["event"]["user"] = "U222";  // authorizations[0].user_id
        CHECK(ignored_of(envelope) == "own message");
    }
    SECTION("the configured bot user") {
        envelope["payload"]["event"]["user"] = "UBOT";
        CHECK(ignored_of(envelope, {.bot_user_id = "UBOT"}) == "own message");
    }
    SECTION("bot_id") {
        envelope["payload"]["event"]["bot_id"] = "B111";
        CHECK(ignored_of(envelope) == "bot message");
    }
    SECTION("subtype bot_message") {
        auto dm = dm_envelope("hi");
        dm["payload"]["event"]["subtype"] = "bot_message";
        CHECK(ignored_of(dm) == "bot message");
    }
    SECTION("own DM") {
        auto dm = dm_envelope("hi");
        dm["payload"]["event"]["user"] = "UBOT";
        CHECK(ignored_of(dm) == "own message");
    }
    SECTION("edits") {
        auto dm = dm_envelope("hi");
        dm["payload"]["event"]["subtype"] = "message_changed";
        CHECK(ignored_of(dm) == "message subtype message_changed");
    }
}

TEST_CASE("slack_events: direct messages", "[unit]") {
    SECTION("a DM keeps its text") {
        auto ev = event_of(dm_envelope("deploy api beta &amp; go"));
        CHECK(ev.kind == event_kind::direct_message);
        CHECK(ev.text == "deploy api beta & go");
        CHECK(ev.actor == "U42");
        CHECK(ev.channel == "D042");
        CHECK(ev.message_ts == "1700000000.000100");
        CHECK(ev.idempotency_key == "event:EvDM1");
    }
    SECTION("a leading bot mention in a DM is dropped") {
        CHECK(event_of(dm_envelope("<@UBOT> help")).text == "help");
    }
    SECTION("a file share with text still counts") {
        auto dm = dm_envelope("logs please");
        dm["payload"]["event"]["subtype"] = "file_share";
        CHECK(event_of(dm).text == "logs please");
    }
    SECTION("channel messages are not DMs") {
        CHECK(ignored_of(python_messages()["envelopes"][3]) == "not a DM");
    }
    SECTION("other events are ignored") {
        auto dm = dm_envelope("x");
        dm["payload"]["event"]["type"] = "reaction_added";
        CHECK(ignored_of(dm) == "unsupported event reaction_added");
    }
}

TEST_CASE("slack_events: block_actions button", "[unit]") {
    auto envelope = java_envelopes()["interactiveEnvelope"];
    auto ev = event_of(envelope);
    CHECK(ev.kind == event_kind::button);
    CHECK(ev.actor == "U111");
    CHECK(ev.actor_name == "test-test-test");
    CHECK(ev.action_id == "a");
    CHECK(ev.action_value == "underlying");
    CHECK(ev.channel == "C111");
    CHECK(ev.message_ts == "1605853634.000400");
    CHECK(ev.response_url == "https://hooks.slack.com/actions/T111/111/xxx");
    CHECK(ev.trigger_id == "111.222.xxx");
    CHECK(ev.idempotency_key == "action:1605853645.582706:U111:a");
    CHECK(ev.text.empty());

    SECTION("a select sends its selected option") {
        auto& action = envelope["payload"]["actions"][0];
        action.erase("value");
        action["selected_option"] = {{"value", "prod"}};
        CHECK(event_of(envelope).action_value == "prod");
    }
    SECTION("a second click is a different event, a re-delivery the same") {
        auto again = envelope;
        again["payload"]["actions"][0]["action_ts"] = "1605853646.000001";
        CHECK(event_of(again).idempotency_key != ev.idempotency_key);
        CHECK(event_of(envelope).idempotency_key == ev.idempotency_key);
    }
    SECTION("a thread message") {
        envelope["payload"]["message"]["thread_ts"] = "1605853600.000100";
        CHECK(event_of(envelope).thread_ts == "1605853600.000100");
    }
}

TEST_CASE("slack_events: modal submission and close", "[unit]") {
    SECTION("view_submission") {
        auto frame = parse_socket_frame(view_envelope("view_submission").dump());
        REQUIRE(frame);
        CHECK(frame->accepts_response_payload);
        REQUIRE(frame->payload);
        REQUIRE(frame->payload->event);
        const auto& ev = *frame->payload->event;
        CHECK(ev.kind == event_kind::modal_submission);
        CHECK(ev.actor == "U42");
        CHECK(ev.action_id == "deploy-form");
        CHECK(ev.action_value == "deploy:42");
        CHECK(ev.values.at("reason") == "tests are red");
        CHECK(ev.values.at("env") == "prod");
        CHECK(ev.values.at("who") == "U1,U2");
        CHECK(ev.values.at("when") == "1700000000");
        CHECK(ev.values.count("empty") == 0);
        CHECK(ev.channel.empty());
        CHECK(ev.response_url == "https://hooks.slack.com/app/x");
        CHECK(ev.trigger_id == "111.222.view");
        CHECK(ev.idempotency_key == "view:V123:156663117.cd33ad1f");
    }
    SECTION("view_closed") {
        auto ev = event_of(view_envelope("view_closed"));
        CHECK(ev.kind == event_kind::modal_closed);
        CHECK(ev.action_id == "deploy-form");
        CHECK(ev.idempotency_key == "view_closed:V123:156663117.cd33ad1f");
    }
    SECTION("other interactive types are ignored") {
        CHECK(ignored_of(python_messages()["envelopes"][2]) ==
              "unsupported interactive type shortcut");
    }
}

TEST_CASE("slack_events: two-step parsing acks first and skips unread members", "[unit]") {
    auto envelope = view_envelope("view_submission");
    auto& view = envelope["payload"]["view"];
    // Unread members, some malformed-looking, are skipped without being built.
    view["blocks"] = json::array({{{"type", "input"}, {"block_id", "b1"}}});
    view["title"] = {{"type", "plain_text"}, {"text", "Deploy"}};
    view["close"] = {{"type", "plain_text"}, {"text", "Cancel"}};
    // Names chosen by the app deeper down are never taken for prunable members.
    view["state"]["values"]["blocks"] = {{"title", {{"type", "plain_text_input"}, {"value", "x"}}}};
    view["state"]["values"]["view"] = {{"blocks", {{"type", "plain_text_input"}, {"value", "y"}}}};

    bot::socket_frame_parser parser;
    const std::string text = envelope.dump();  // must outlive parse_payload
    auto header = parser.parse_header(text);
    REQUIRE(header);
    CHECK(header->type == frame_type::interactive);
    CHECK(header->envelope_id == "env-view-1");
    CHECK(header->accepts_response_payload);
    REQUIRE(header->payload);  // not looked at yet
    CHECK_FALSE(header->payload->event);

    auto payload = parser.parse_payload();
    REQUIRE(payload);
    REQUIRE(payload->event);
    CHECK(payload->event->values.at("title") == "x");
    CHECK(payload->event->values.at("blocks") == "y");
    CHECK(payload->event->values.at("reason") == "tests are red");
    CHECK(payload->event->idempotency_key == "view:V123:156663117.cd33ad1f");

    SECTION("the payload is turned into an event once per frame") {
        auto again = parser.parse_payload();
        REQUIRE_FALSE(again);
        CHECK(again.error().code == core::errc::invalid_argument);
    }
    SECTION("the parser is reused for the next frame; a bad frame leaves no payload") {
        REQUIRE_FALSE(parser.parse_header("{not json"));
        CHECK_FALSE(parser.parse_payload());
        auto hello = parser.parse_header(R"({"type":"hello","num_connections":2})");
        REQUIRE(hello);
        CHECK(hello->num_connections == 2);
        auto none = parser.parse_payload();
        REQUIRE(none);
        CHECK_FALSE(none->event);
    }
    SECTION("the same as parse_socket_frame") {
        auto once = parse_socket_frame(envelope.dump());
        REQUIRE(once);
        REQUIRE(once->payload);
        REQUIRE(once->payload->event);
        CHECK(once->payload->event->values == payload->event->values);
    }
}

TEST_CASE(
    "slack_events: the frame parser unescapes, keeps the last duplicate, rejects trailing text",
    "[unit]") {
    SECTION("escaped strings and keys, in values the bot reads and in members it skips") {
        auto envelope = dm_envelope("deploy \"api\" \\ caf\u00e9 \t&amp; \xf0\x9f\x9a\xa2");
        envelope["payload"]["event"]["blocks"] = json::array({{{"text", "a \"quoted\" \\ block"}}});
        // The same key written with an escape is the same key.
        auto event = event_of_text(replaced(envelope.dump(), R"("channel_type":"im")",
                                            R"("channel\u005ftype":"\u0069m")"));
        CHECK(event.text == "deploy \"api\" \\ caf\u00e9 \t& \xf0\x9f\x9a\xa2");
    }
    SECTION("a long escaped string comes through whole") {
        std::string longtext;
        for (int i = 0; i < 2000; ++i) {
            longtext += "line \"" + std::to_string(i) + "\"\n";
        }
        auto event = event_of(dm_envelope(longtext));
        CHECK(event.text == longtext);
    }
    SECTION("of duplicate members the last counts") {
        auto event = event_of_text(replaced(dm_envelope("status").dump(), R"("user":"U42")",
                                            R"("user":"U_FIRST","user":"U42")"));
        CHECK(event.actor == "U42");
    }
    SECTION("whitespace around the frame is fine, anything else after it is not") {
        auto text = dm_envelope("status").dump();
        CHECK(parse_socket_frame(" \n" + text + " \r\n\t"));
        for (std::string tail : {"x", "{}", ",", "]", "\"", "0"}) {
            INFO(tail);
            auto frame = parse_socket_frame(text + tail);
            REQUIRE_FALSE(frame);
            CHECK_THAT(frame.error().message, Catch::Contains("not valid JSON"));
        }
    }
    SECTION("invalid UTF-8, comments and trailing commas are not JSON") {
        for (std::string text :
             {std::string(R"({"type":"hello","x":")") + "\xff\xfe" + "\"}",
              std::string(R"({"type":"hello"/*c*/})"), std::string(R"({"type":"hello",})")}) {
            INFO(text);
            CHECK_FALSE(parse_socket_frame(text));
        }
    }
}

TEST_CASE("slack_events: bad frames are errors, not crashes", "[unit]") {
    for (std::string text :
         {"", "not json", "{", "[]", "42", "null", R"({"type":42})", R"({"envelope_id":"x"})",
          R"({"type":"events_api","payload":{}})", R"({"type":"interactive","envelope_id":7})"}) {
        INFO(text);
        auto frame = parse_socket_frame(text);
        REQUIRE_FALSE(frame);
        CHECK(frame.error().code == core::errc::protocol_error);
        CHECK_THAT(frame.error().message, Catch::Contains("Socket Mode frame rejected"));
    }
    SECTION("deep nesting") {
        std::string deep(100'000, '[');
        CHECK_FALSE(parse_socket_frame(deep));
        std::string closed = std::string(5'000, '[') + std::string(5'000, ']');
        CHECK_FALSE(parse_socket_frame(closed));
    }
    SECTION("unknown frame types pass through for acking") {
        auto frame = parse_socket_frame(R"({"type":"something_new","envelope_id":"e1"})");
        REQUIRE(frame);
        CHECK(frame->type == frame_type::other);
        CHECK(frame->envelope_id == "e1");
        REQUIRE(frame->payload);
        CHECK_FALSE(frame->payload->event);
    }
}

TEST_CASE("slack_events: bad payloads keep the envelope ackable", "[unit]") {
    auto events = java_envelopes()["eventsEnvelope"];
    SECTION("no payload") {
        events.erase("payload");
        CHECK_THAT(payload_error_of(events), Catch::Contains("no payload"));
    }
    SECTION("payload is not an object") {
        events["payload"] = "oops";
        CHECK_THAT(payload_error_of(events), Catch::Contains("not a JSON object"));
    }
    SECTION("missing event_id") {
        events["payload"].erase("event_id");
        CHECK_THAT(payload_error_of(events), Catch::Contains("event_id"));
    }
    SECTION("user of the wrong type") {
        events["payload"]["event"]["user"] = 123;
        CHECK_THAT(payload_error_of(events), Catch::Contains("event.user"));
    }
    SECTION("text of the wrong type") {
        events["payload"]["event"]["text"] = json::array({1, 2});
        CHECK_THAT(payload_error_of(events), Catch::Contains("event.text"));
    }
    SECTION("huge text") {
        events["payload"]["event"]["text"] = "<@U222> " + std::string(50'000, 'x');
        CHECK_THAT(payload_error_of(events), Catch::Contains("more than the 40000 allowed"));
    }
    SECTION("slash command without a command") {
        auto cmd = java_envelopes()["commandEnvelope"];
        cmd["payload"].erase("command");
        CHECK_THAT(payload_error_of(cmd), Catch::Contains("command is missing"));
    }
    SECTION("slash command with huge text") {
        auto cmd = java_envelopes()["commandEnvelope"];
        cmd["payload"]["text"] = std::string(40'001, 'y');
        CHECK_THAT(payload_error_of(cmd), Catch::Contains("more than the 40000 allowed"));
    }
    SECTION("block_actions without actions") {
        auto act = java_envelopes()["interactiveEnvelope"];
        act["payload"]["actions"] = json::array();
        CHECK_THAT(payload_error_of(act), Catch::Contains("actions"));
    }
    SECTION("block_actions without user") {
        auto act = java_envelopes()["interactiveEnvelope"];
        act["payload"].erase("user");
        CHECK_THAT(payload_error_of(act), Catch::Contains("user.id"));
    }
    SECTION("view without id") {
        auto view = view_envelope("view_submission");
        view["payload"]["view"].erase("id");
        CHECK_THAT(payload_error_of(view), Catch::Contains("view.id"));
    }
}

TEST_CASE("slack_events: every truncation of a real envelope fails cleanly", "[unit]") {
    for (const char* name : {"eventsEnvelope", "interactiveEnvelope", "commandEnvelope"}) {
        const std::string text = java_envelopes()[name].dump();
        for (std::size_t n = 0; n < text.size(); ++n) {
            auto frame = parse_socket_frame(std::string_view(text).substr(0, n));
            REQUIRE_FALSE(frame);
        }
        REQUIRE(parse_socket_frame(text));
    }
}

TEST_CASE("slack_events: SDK schema samples (blank values) give no event and no crash", "[unit]") {
    // The java-slack-sdk samples list every field with blank values: type names and required
    // IDs are empty, so each is either ignored or rejected.
    auto no_event = [](const core::result<bot::parsed_payload>& r) { return !r || !r->event; };
    auto events = parse_socket_frame(
        json{{"type", "events_api"},
             {"envelope_id", "e"},
             {"payload", load_fixture("java-slack-sdk/events/AppMentionPayload.json")}}
            .dump());
    REQUIRE(events);
    CHECK(no_event(events->payload));
    CHECK(no_event(bot::parse_events_api_payload(
        load_fixture("java-slack-sdk/events/MessagePayload.json").dump())));
    CHECK(no_event(bot::parse_interactive_payload(
        load_fixture("java-slack-sdk/app-backend/BlockActionPayload.json").dump())));
    CHECK_FALSE(bot::parse_interactive_payload(
        load_fixture("java-slack-sdk/app-backend/ViewSubmissionPayload.json").dump()));
    CHECK_FALSE(bot::parse_slash_command_payload(
        load_fixture("java-slack-sdk/app-backend/SlashCommandPayload.json").dump()));

    // The same samples with the values a real app_mention would have.
    auto mention = load_fixture("java-slack-sdk/events/AppMentionPayload.json");
    mention["type"] = "event_callback";
    mention["event_id"] = "Ev9";
    mention["event"]["bot_id"] = "";
    mention["event"]["subtype"] = "";
    mention["event"]["user"] = "U9";
    mention["event"]["channel"] = "C9";
    mention["event"]["ts"] = "1.2";
    mention["event"]["text"] = "<@UBOT> status api";
    auto parsed = bot::parse_events_api_payload(mention.dump(), {.bot_user_id = "UBOT"});
    REQUIRE(parsed);
    REQUIRE(parsed->event);
    CHECK(parsed->event->text == "status api");
}

TEST_CASE("slack_events: standalone payloads for HTTP mode", "[unit]") {
    SECTION("events API body") {
        auto r =
            bot::parse_events_api_payload(java_envelopes()["eventsEnvelope"]["payload"].dump());
        REQUIRE(r);
        REQUIRE(r->event);
        CHECK(r->event->text == "hey");
    }
    SECTION("url_verification is not an event") {
        auto r = bot::parse_events_api_payload(
            R"({"type":"url_verification","challenge":"c","token":"t"})");
        REQUIRE(r);
        CHECK_FALSE(r->event);
    }
    SECTION("invalid JSON") {
        auto r = bot::parse_interactive_payload("{\"type\":");
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().message, Catch::Contains("not valid JSON"));
    }
    SECTION("slash command form") {
        std::map<std::string, std::string> form = {{"command", "/deploy"},
                                                   {"text", "api beta"},
                                                   {"user_id", "U1"},
                                                   {"user_name", "alice"},
                                                   {"channel_id", "C1"},
                                                   {"trigger_id", "t.1"},
                                                   {"response_url", "https://hooks/x"}};
        auto r = bot::parse_slash_command_form(form);
        REQUIRE(r);
        REQUIRE(r->event);
        CHECK(r->event->text == "deploy api beta");
        CHECK(r->event->idempotency_key == "command:t.1");
        form.erase("user_id");
        CHECK_FALSE(bot::parse_slash_command_form(form));
    }
}

TEST_CASE("slack_events: acks", "[unit]") {
    CHECK(bot::make_ack("cda4159a-72a5") == R"({"envelope_id":"cda4159a-72a5"})");
    CHECK(bot::make_ack("e1", R"({"text":"on it"})") ==
          R"({"envelope_id":"e1","payload":{"text":"on it"}})");
    auto weird = bot::make_ack("a\"b\\c\n");
    CHECK(weird == R"({"envelope_id":"a\"b\\c\u000a"})");
    CHECK(json::parse(weird)["envelope_id"] == "a\"b\\c\n");
    std::string reused = "old content that is long enough to have capacity";
    bot::make_ack_into(reused, "x");
    CHECK(reused == R"({"envelope_id":"x"})");
}
