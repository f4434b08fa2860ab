// HTTP mode against real HTTP requests on 127.0.0.1 (the integrations HTTP client): signature
// and replay checks, url_verification, slash commands, events, interactivity, retries and bad
// requests.

#include "bot/http_mode.hpp"
#include "bot/slack_signature.hpp"
#include "integrations/http_client.hpp"
#include "tests/support/run_test.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace tugboat;
using commands::event_kind;
using commands::inbound_event;
using integrations::http_headers;
using integrations::http_method;
using integrations::http_request;
using integrations::http_response;
using json = nlohmann::json;

namespace {

constexpr std::string_view secret = "test-signing-secret";
constexpr long long now_unix = 1'700'000'000;

std::string url_encode(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else if (c == ' ') {
            out.push_back('+');
        } else {
            static constexpr char hex[] = "0123456789ABCDEF";
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

std::string form(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::string out;
    for (const auto& [k, v] : fields) {
        out += (out.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);
    }
    return out;
}

std::string slash_command_body(std::string text, std::string trigger = "13345224609.738474920") {
    return form({{"token", "gIkuvaNzQIHg97ATvDxqgjtO"},
                 {"team_id", "T0001"},
                 {"team_domain", "example"},
                 {"channel_id", "C2147483705"},
                 {"channel_name", "deploys"},
                 {"user_id", "U2147483697"},
                 {"user_name", "alice"},
                 {"command", "/deploy"},
                 {"text", std::move(text)},
                 {"api_app_id", "A123456"},
                 {"response_url", "https://hooks.slack.com/commands/1234/5678"},
                 {"trigger_id", std::move(trigger)}});
}

std::string mention_body(std::string event_id) {
    json j = {{"type", "event_callback"},
              {"token", "XXYYZZ"},
              {"team_id", "T0001"},
              {"api_app_id", "A123456"},
              {"event_id", std::move(event_id)},
              {"event_time", now_unix},
              {"authorizations", json::array({{{"user_id", "UBOT"}, {"is_bot", true}}})},
              {"event",
               {{"type", "app_mention"},
                {"user", "U42"},
                {"text", "<@UBOT> status payments-api"},
                {"ts", "1700000000.000100"},
                {"channel", "C0DEPLOYS"},
                {"event_ts", "1700000000.000100"}}}};
    return j.dump();
}

std::string block_actions_payload() {
    json j = {{"type", "block_actions"},
              {"trigger_id", "111.222.btn"},
              {"api_app_id", "A123456"},
              {"team", {{"id", "T0001"}, {"domain", "example"}}},
              {"user", {{"id", "U42"}, {"username", "alice"}, {"name", "alice"}}},
              {"container",
               {{"type", "message"},
                {"message_ts", "1700000000.000200"},
                {"channel_id", "C0DEPLOYS"},
                {"is_ephemeral", false}}},
              {"channel", {{"id", "C0DEPLOYS"}, {"name", "deploys"}}},
              {"message", {{"type", "message"}, {"ts", "1700000000.000200"}, {"text", "Deploy?"}}},
              {"response_url", "https://hooks.slack.com/actions/T0001/1/abc"},
              {"actions", json::array({{{"type", "button"},
                                        {"action_id", "deploy.approve"},
                                        {"block_id", "b1"},
                                        {"value", "deploy:42"},
                                        {"action_ts", "1700000001.000300"}}})}};
    return j.dump();
}

struct http_mode_fixture {
    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink, core::log_level::debug};
    core::manual_clock clock{core::from_unix(now_unix)};
    std::vector<inbound_event> events;
    std::optional<bot::http_mode_server> server;
    std::optional<integrations::http_client> http;
    bool run_finished = false;

    explicit http_mode_fixture(bot::http_mode_options options = {}) {
        options.listen = "127.0.0.1:0";
        options.signing_secret = core::secret(std::string(secret));
        options.clock = &clock;
        server.emplace(ioc.get_executor(), std::move(options), log,
                       [this](inbound_event ev) { events.push_back(std::move(ev)); });
        REQUIRE(server->listen());
        REQUIRE(server->port() != 0);
        asio::co_spawn(
            ioc,
            [this]() -> asio::awaitable<void> {
                (void)co_await server->run();
                run_finished = true;
            },
            asio::detached);
        integrations::http_client_options http_options;
        http_options.retry.initial_backoff = std::chrono::milliseconds{5};
        auto client = integrations::http_client::create(ioc.get_executor(), log, http_options);
        REQUIRE(client);
        http.emplace(std::move(*client));
    }

    ~http_mode_fixture() {
        http->close_idle();
        server->stop();
        // run() must finish its drain before the server is destroyed; bounded in case it hangs.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{5};
        while (!run_finished && ioc.run_one_until(until) > 0) {
        }
    }

    std::string url(std::string_view path = "/slack/events") const {
        return "http://127.0.0.1:" + std::to_string(server->port()) + std::string(path);
    }

    // A request signed the way Slack signs, at `ts` (default: the fixture's now).
    http_request signed_post(std::string body, std::string content_type,
                             std::optional<long long> ts = std::nullopt,
                             std::string_view key = secret) const {
        const auto stamp = std::to_string(ts.value_or(now_unix));
        http_request req;
        req.method = http_method::post;
        req.url = url();
        req.body = body;
        req.max_attempts = 1;
        req.timeout = std::chrono::seconds{3};
        req.headers = {{"Content-Type", std::move(content_type)},
                       {"X-Slack-Request-Timestamp", stamp},
                       {"X-Slack-Signature", bot::compute_slack_signature(key, stamp, body)}};
        return req;
    }

    http_response send(http_request req) {
        return test::run_test(ioc, [this, req]() -> asio::awaitable<http_response> {
            auto r = co_await http->send(req);
            REQUIRE(r);
            co_return std::move(*r);
        }());
    }
};

const std::string form_type = "application/x-www-form-urlencoded";
const std::string json_type = "application/json";

}  // namespace

TEST_CASE("http_mode: answers url_verification with the challenge", "[loopback]") {
    http_mode_fixture f;
    json body = {{"token", "Jhj5dZrVaK7ZwHHjRyZWjbDl"},
                 {"challenge", "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
                 {"type", "url_verification"}};
    auto res = f.send(f.signed_post(body.dump(), json_type));
    CHECK(res.status == 200);
    CHECK(res.body == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    CHECK(f.events.empty());
    CHECK(f.server->stats().url_verifications == 1);
}

TEST_CASE("http_mode: a signed slash command reaches the handler and is acked", "[loopback]") {
    SECTION("empty ack") {
        http_mode_fixture f;
        auto res = f.send(f.signed_post(slash_command_body("payments-api beta v1.2.3"), form_type));
        CHECK(res.status == 200);
        CHECK(res.body.empty());
        REQUIRE(f.events.size() == 1);
        const auto& ev = f.events[0];
        CHECK(ev.kind == event_kind::slash_command);
        CHECK(ev.text == "deploy payments-api beta v1.2.3");
        CHECK(ev.actor == "U2147483697");
        CHECK(ev.channel == "C2147483705");
        CHECK(ev.response_url == "https://hooks.slack.com/commands/1234/5678");
        CHECK(ev.idempotency_key == "command:13345224609.738474920");
    }
    SECTION("ack with a JSON body") {
        bot::http_mode_options o;
        o.slash_ack = [](const inbound_event&) { return R"({"response_type":"in_channel"})"; };
        http_mode_fixture f(o);
        auto res = f.send(f.signed_post(slash_command_body("status"), form_type));
        CHECK(res.status == 200);
        CHECK(res.body == R"({"response_type":"in_channel"})");
        CHECK(res.header("Content-Type").value_or("") == "application/json");
        CHECK(f.events.size() == 1);
    }
}

TEST_CASE("http_mode: events and interactivity payloads become events", "[loopback]") {
    http_mode_fixture f;
    auto mention =
        f.send(f.signed_post(mention_body("Ev0MENTION"), "application/json; charset=utf-8"));
    CHECK(mention.status == 200);
    auto button = f.send(f.signed_post(form({{"payload", block_actions_payload()}}), form_type));
    CHECK(button.status == 200);
    REQUIRE(f.events.size() == 2);
    CHECK(f.events[0].kind == event_kind::mention);
    CHECK(f.events[0].text == "status payments-api");
    CHECK(f.events[0].idempotency_key == "event:Ev0MENTION");
    CHECK(f.events[1].kind == event_kind::button);
    CHECK(f.events[1].action_id == "deploy.approve");
    CHECK(f.events[1].action_value == "deploy:42");
}

TEST_CASE("http_mode: unsigned or badly signed requests get 401 and no effect", "[loopback]") {
    http_mode_fixture f;
    auto req = f.signed_post(slash_command_body("payments-api prod v9.9.9"), form_type);
    SECTION("no signature headers") {
        req.headers = {{"Content-Type", form_type}};
    }
    SECTION("signed with another secret") {
        req = f.signed_post(slash_command_body("payments-api prod v9.9.9"), form_type, std::nullopt,
                            "not-the-secret");
    }
    SECTION("body changed after signing") {
        req.body = slash_command_body("payments-api prod v6.6.6");
    }
    auto res = f.send(req);
    CHECK(res.status == 401);
    CHECK(f.events.empty());
    CHECK(f.server->stats().unauthorized == 1);
    CHECK_THAT(f.sink.text(), Catch::Contains("http_mode_unauthorized"));
    // The secret and the signature never reach the log.
    CHECK_THAT(f.sink.text(), !Catch::Contains(std::string(secret)));
}

TEST_CASE("http_mode: a stale or far-future timestamp gets 401", "[loopback]") {
    http_mode_fixture f;
    const long long ts = GENERATE(now_unix - 301, now_unix + 301);
    auto res = f.send(f.signed_post(slash_command_body("status"), form_type, ts));
    CHECK(res.status == 401);
    CHECK(f.events.empty());
    // Inside the window the same request is fine.
    f.clock.set(core::from_unix(ts));
    auto ok = f.send(f.signed_post(slash_command_body("status"), form_type, ts));
    CHECK(ok.status == 200);
    CHECK(f.events.size() == 1);
}

TEST_CASE("http_mode: Slack retries keep the event's key, http_timeout retries are only acked",
          "[loopback]") {
    http_mode_fixture f;
    auto first = f.signed_post(mention_body("Ev0RETRY"), json_type);
    CHECK(f.send(first).status == 200);

    auto retry = f.signed_post(mention_body("Ev0RETRY"), json_type);
    retry.headers.emplace_back("X-Slack-Retry-Num", "1");
    retry.headers.emplace_back("X-Slack-Retry-Reason", "http_error");
    CHECK(f.send(retry).status == 200);

    // Both deliveries reach the handler with the same key, which the dispatcher de-duplicates.
    REQUIRE(f.events.size() == 2);
    CHECK(f.events[0].idempotency_key == "event:Ev0RETRY");
    CHECK(f.events[1].idempotency_key == f.events[0].idempotency_key);

    auto timeout_retry = f.signed_post(mention_body("Ev0RETRY"), json_type);
    timeout_retry.headers.emplace_back("X-Slack-Retry-Num", "2");
    timeout_retry.headers.emplace_back("X-Slack-Retry-Reason", "http_timeout");
    auto res = f.send(timeout_retry);
    CHECK(res.status == 200);
    CHECK(f.events.size() == 2);
    CHECK(f.server->stats().retries_acked == 1);
}

TEST_CASE("http_mode: bad payloads get 400, the server keeps serving", "[loopback]") {
    http_mode_fixture f;
    SECTION("not JSON") {
        auto res = f.send(f.signed_post("{\"type\":\"event_callback\",", json_type));
        CHECK(res.status == 400);
    }
    SECTION("JSON but not an event") {
        auto res = f.send(f.signed_post(R"({"type":"event_callback","event_id":7})", json_type));
        CHECK(res.status == 400);
    }
    SECTION("interactivity payload that is not JSON") {
        auto res = f.send(f.signed_post(form({{"payload", "{oops"}}), form_type));
        CHECK(res.status == 400);
    }
    SECTION("form without command or payload") {
        auto res = f.send(f.signed_post(form({{"hello", "world"}}), form_type));
        CHECK(res.status == 400);
    }
    SECTION("unsupported content type") {
        auto res = f.send(f.signed_post("<xml/>", "text/xml"));
        CHECK(res.status == 415);
    }
    CHECK(f.events.empty());
    CHECK_THAT(f.sink.text(), Catch::Contains("http_mode_bad"));
    http_request health;
    health.url = f.url("/healthz");
    auto ok = f.send(health);
    CHECK(ok.status == 200);
}

TEST_CASE("http_mode: health check, unknown paths, wrong methods and oversized bodies",
          "[loopback]") {
    bot::http_mode_options o;
    o.max_body_bytes = 4096;
    http_mode_fixture f(o);
    http_request health;
    health.url = f.url("/healthz");
    auto h = f.send(health);
    CHECK(h.status == 200);
    CHECK(h.body == "ok\n");

    http_request unknown;
    unknown.url = f.url("/wp-admin");
    CHECK(f.send(unknown).status == 404);

    http_request get_events;
    get_events.url = f.url();
    auto g = f.send(get_events);
    CHECK(g.status == 405);
    CHECK(g.header("Allow").value_or("") == "POST");

    auto big = f.signed_post(form({{"payload", std::string(8192, 'x')}}), form_type);
    CHECK(f.send(big).status == 413);
    CHECK(f.events.empty());
}

TEST_CASE("http_mode: listen refuses a missing secret and a bad address", "[unit]") {
    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink};
    SECTION("no signing secret") {
        bot::http_mode_options o;
        o.listen = "127.0.0.1:0";
        bot::http_mode_server s(ioc.get_executor(), o, log, [](inbound_event) {});
        auto r = s.listen();
        REQUIRE_FALSE(r);
        CHECK(r.error().code == core::errc::config_error);
        CHECK_THAT(r.error().message, Catch::Contains("SLACK_SIGNING_SECRET"));
    }
    SECTION("malformed address") {
        bot::http_mode_options o;
        o.listen = "3000";
        o.signing_secret = core::secret("x");
        bot::http_mode_server s(ioc.get_executor(), o, log, [](inbound_event) {});
        auto r = s.listen();
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().message, Catch::Contains("host:port"));
    }
}

TEST_CASE("http_mode: stop ends run and closes keep-alive connections", "[loopback]") {
    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink};
    bot::http_mode_options o;
    o.listen = "127.0.0.1:0";
    o.signing_secret = core::secret("x");
    bot::http_mode_server server(ioc.get_executor(), o, log, [](inbound_event) {});
    REQUIRE(server.listen());
    auto client = integrations::http_client::create(ioc.get_executor(), log, {});
    REQUIRE(client);
    bool answered = false;
    test::run_test(ioc, [&]() -> asio::awaitable<void> {
        // A client that leaves an idle keep-alive connection open, then stops the server.
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
                http_request req;
                req.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/healthz";
                auto res = co_await client->send(req);
                answered = res && res->status == 200;
                CHECK(client->idle_connections() == 1);
                server.stop();
            },
            asio::detached);
        auto r = co_await server.run();
        CHECK(r);
    }());
    CHECK(answered);
    CHECK(server.stats().requests == 1);
}
