#include "sandbox/fake_slack.hpp"

#include "integrations/byte_stream.hpp"
#include "integrations/http_client.hpp"
#include "integrations/tls.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/test_ca_fixture.hpp"

#include <fmt/format.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using namespace tugboat;
using namespace std::chrono_literals;
using json = nlohmann::json;
using sandbox::fake_slack;
using sandbox::fake_slack_options;
using test::run_test;
using test::use_tuple;

// A minimal Socket Mode client, enough to play the bot's side: connect, read, write, close.
class ws_client {
public:
    explicit ws_client(integrations::byte_stream stream) : ws(std::move(stream)) {}

    /// The next text frame; nullopt once the socket ended (see `ended`).
    asio::awaitable<std::optional<std::string>> read() {
        beast::flat_buffer buffer;
        auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
        if (ec) {
            ended = ec;
            co_return std::nullopt;
        }
        co_return beast::buffers_to_string(buffer.data());
    }
    asio::awaitable<void> write(std::string text) {
        ws.text(true);
        co_await ws.async_write(asio::buffer(text), asio::use_awaitable);
    }
    asio::awaitable<void> close() {
        co_await ws.async_close(websocket::close_code::normal, use_tuple);
    }

    asio::awaitable<json> read_json() {
        auto text = co_await read();
        REQUIRE(text);
        co_return json::parse(*text);
    }

    websocket::stream<integrations::byte_stream> ws;
    boost::system::error_code ended;  // why the last read failed
};

struct url_parts {
    bool tls = false;
    std::string host;
    std::string port;
    std::string target;
};

url_parts split_url(const std::string& url) {
    url_parts u;
    auto scheme_end = url.find("://");
    u.tls = url.substr(0, scheme_end) == "wss";
    auto rest = url.substr(scheme_end + 3);
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    u.target = rest.substr(slash);
    u.host = authority.substr(0, authority.find(':'));
    u.port = authority.substr(authority.find(':') + 1);
    return u;
}

// Connects like the bot does: TCP, TLS with host verification (wss), WebSocket handshake.
// Throws on failure (a refused upgrade surfaces as a handshake error).
asio::awaitable<std::unique_ptr<ws_client>> connect_ws(std::string url, asio::ssl::context& tls) {
    auto u = split_url(url);
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address(u.host),
                                     static_cast<unsigned short>(std::stoi(u.port)));
    auto host = u.host + ":" + u.port;
    auto c = std::make_unique<ws_client>(
        integrations::byte_stream(beast::tcp_stream(ex), u.tls ? &tls : nullptr));
    auto& stream = c->ws.next_layer();
    stream.tcp().expires_after(3s);
    co_await stream.tcp().async_connect(endpoint, asio::use_awaitable);
    if (auto* layer = stream.tls()) {
        auto prepared = integrations::prepare_client_tls(layer->native_handle(), u.host);
        REQUIRE(prepared);
        co_await layer->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    }
    stream.tcp().expires_never();
    c->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    co_await c->ws.async_handshake(host, u.target, asio::use_awaitable);
    co_return c;
}

fake_slack start_slack(asio::io_context& ioc, core::logger& log, bool tls,
                       const std::function<void(fake_slack_options&)>& tweak) {
    auto options = sandbox::sandbox_slack_workspace();
    options.tls = tls ? test::test_server_tls() : nullptr;
    options.log = &log;
    if (tweak) {
        tweak(options);
    }
    auto slack = fake_slack::start(ioc.get_executor(), std::move(options));
    REQUIRE(slack);
    return std::move(*slack);
}

integrations::http_client make_http(asio::io_context& ioc, core::logger& log) {
    integrations::http_client_options options;
    options.tls = test::test_client_tls();
    auto client = integrations::http_client::create(ioc.get_executor(), log, std::move(options));
    REQUIRE(client);
    return std::move(*client);
}

std::shared_ptr<asio::ssl::context> make_ws_tls() {
    auto ctx = integrations::make_client_tls_context(test::test_client_tls());
    REQUIRE(ctx);
    return *ctx;
}

// The io_context first, so it outlives every socket.
struct fake_slack_fixture {
    explicit fake_slack_fixture(bool tls = true,
                                const std::function<void(fake_slack_options&)>& tweak = {})
        : slack(start_slack(ioc, log, tls, tweak)), http(make_http(ioc, log)) {}

    asio::awaitable<integrations::http_response> post(std::string url, std::string content_type,
                                                      std::string body,
                                                      std::string token = "xoxb-tugboat-sandbox") {
        integrations::http_request r;
        r.method = integrations::http_method::post;
        r.url = std::move(url);
        if (!token.empty()) {
            r.headers.emplace_back("Authorization", "Bearer " + token);
        }
        r.headers.emplace_back("Content-Type", std::move(content_type));
        r.body = std::move(body);
        r.max_attempts = 1;
        r.timeout = 3s;
        auto got = co_await http.send(std::move(r));
        REQUIRE(got);
        co_return std::move(*got);
    }

    /// Calls a Web API method with a JSON body and returns the parsed answer (HTTP 200 expected).
    asio::awaitable<json> api(std::string method, std::string args,
                              std::string token = "xoxb-tugboat-sandbox") {
        auto res = co_await post(slack.api_url() + method, "application/json; charset=utf-8",
                                 std::move(args), std::move(token));
        CHECK(res.status == 200);
        co_return json::parse(res.body);
    }

    /// The same with a form body.
    asio::awaitable<json> form(std::string method, std::string body) {
        auto res = co_await post(slack.api_url() + method, "application/x-www-form-urlencoded",
                                 std::move(body));
        CHECK(res.status == 200);
        co_return json::parse(res.body);
    }

    /// apps.connections.open + WebSocket connect; returns the client and its hello.
    asio::awaitable<std::pair<std::unique_ptr<ws_client>, json>> connect() {
        auto opened = co_await api("apps.connections.open", "{}", "xapp-1-tugboat-sandbox");
        REQUIRE(opened["ok"] == true);
        auto client = co_await connect_ws(opened["url"].get<std::string>(), *ws_tls);
        auto hello = co_await client->read_json();
        co_return std::pair{std::move(client), std::move(hello)};
    }

    /// Waits (event-driven, bounded) until `done()` holds; fails the test otherwise.
    asio::awaitable<void> expect(std::function<bool()> done, std::chrono::milliseconds t = 3s) {
        bool held = co_await slack.wait_until(std::move(done), t);
        REQUIRE(held);
    }

    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink, core::log_level::debug};
    std::shared_ptr<asio::ssl::context> ws_tls = make_ws_tls();
    fake_slack slack;
    integrations::http_client http;
};

std::string ack(const json& envelope, const std::string& payload = {}) {
    auto id = envelope["envelope_id"].get<std::string>();
    if (payload.empty()) {
        return fmt::format(R"({{"envelope_id":"{}"}})", id);
    }
    return fmt::format(R"({{"envelope_id":"{}","payload":{}}})", id, payload);
}

// Acks every envelope until the socket ends.
asio::awaitable<void> ack_everything(ws_client& c) {
    while (auto text = co_await c.read()) {
        auto id = json::parse(*text)["envelope_id"].get<std::string>();
        co_await c.write(fmt::format(R"({{"envelope_id":"{}"}})", id));
    }
}

asio::awaitable<void> close_when_acked(fake_slack& slack, ws_client& a, ws_client& b,
                                       std::size_t count) {
    bool acked = co_await slack.wait_until([&] { return slack.acked_count() == count; }, 8s);
    CHECK(acked);
    co_await a.close();
    co_await b.close();
}

const std::string approval_blocks = R"([
  {"type":"section","text":{"type":"mrkdwn","text":"*Deploy* payments-api to prod?"}},
  {"type":"actions","block_id":"deploy-42","elements":[
    {"type":"button","action_id":"approve","style":"primary","value":"42",
     "text":{"type":"plain_text","text":"Approve"}},
    {"type":"button","action_id":"reject","style":"danger","value":"42",
     "text":{"type":"plain_text","text":"Reject"}}]}])";

}  // namespace

TEST_CASE("fake_slack: auth.test and token checks", "[loopback]") {
    fake_slack_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto me = co_await f.api("auth.test", "{}");
        CHECK(me["ok"] == true);
        CHECK(me["user_id"] == "U0TUGBOAT");
        CHECK(me["team_id"] == "T0TUGBOAT");
        CHECK(me["bot_id"] == "B0TUGBOAT");
        CHECK(me["url"] == "https://tugboat.slack.com/");

        auto wrong = co_await f.api("auth.test", "{}", "xoxb-not-the-token");
        CHECK(wrong == json{{"ok", false}, {"error", "invalid_auth"}});
        auto none = co_await f.api("auth.test", "{}", "");
        CHECK(none["error"] == "not_authed");
        auto app_token = co_await f.api("chat.postMessage", R"({"channel":"C0DEPLOYS","text":"x"})",
                                        "xapp-1-tugboat-sandbox");
        CHECK(app_token["error"] == "not_allowed_token_type");
        auto bot_token = co_await f.api("apps.connections.open", "{}");
        CHECK(bot_token["error"] == "not_allowed_token_type");
        auto unknown = co_await f.api("chat.postMessageX", "{}");
        CHECK(unknown["error"] == "unknown_method");
    }());
    REQUIRE(f.slack.calls("auth.test").size() == 3);
    CHECK(f.slack.calls("auth.test")[0].token == "bot");
    CHECK(f.slack.calls("auth.test")[1].token == "invalid");
    // Credentials never reach the transcript or the log.
    CHECK(f.sink.text().find("xoxb-tugboat-sandbox") == std::string::npos);
}

TEST_CASE("fake_slack: chat.postMessage stores messages and threads", "[loopback]") {
    fake_slack_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto root = co_await f.api("chat.postMessage",
                                   R"({"channel":"C0DEPLOYS","text":"Deploying payments-api"})");
        REQUIRE(root["ok"] == true);
        CHECK(root["channel"] == "C0DEPLOYS");
        CHECK(root["message"]["bot_id"] == "B0TUGBOAT");
        CHECK(root["message"]["user"] == "U0TUGBOAT");
        CHECK(root["message"]["bot_profile"]["app_id"] == "A0TUGBOAT");
        auto ts = root["ts"].get<std::string>();
        CHECK(ts.size() == 17);
        CHECK(ts[10] == '.');

        // Form bodies carry blocks as JSON text; "#name" works as a channel.
        std::string body = "channel=%23deploys&text=step+1&thread_ts=" + ts +
                           "&blocks=%5B%7B%22type%22%3A%22divider%22%7D%5D";
        auto reply = co_await f.form("chat.postMessage", body);
        REQUIRE(reply["ok"] == true);
        CHECK(reply["message"]["thread_ts"] == ts);
        CHECK(reply["ts"].get<std::string>() > ts);

        auto args = json{{"channel", "C0DEPLOYS"},
                         {"text", "done"},
                         {"thread_ts", reply["ts"]},  // a reply's ts: Slack threads on the root
                         {"reply_broadcast", true}};
        auto broadcast = co_await f.api("chat.postMessage", args.dump());
        CHECK(broadcast["message"]["thread_ts"] == ts);
    }());
    auto top = f.slack.messages("C0DEPLOYS");
    REQUIRE(top.size() == 2);  // the root and the broadcast reply
    CHECK(top[0].text == "Deploying payments-api");
    CHECK(top[0].via == "chat.postMessage");
    CHECK(top[1].reply_broadcast);
    auto thread = f.slack.thread("C0DEPLOYS", top[0].ts);
    REQUIRE(thread.size() == 3);
    CHECK(thread[1].text == "step 1");
    CHECK(thread[1].blocks_json == R"([{"type":"divider"}])");
    CHECK(f.slack.calls("chat.postMessage")[1].arg("thread_ts") == top[0].ts);
}

TEST_CASE("fake_slack: chat.postMessage rejects what Slack rejects", "[loopback]") {
    fake_slack_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto missing = co_await f.api("chat.postMessage", R"({"channel":"C0NOPE","text":"x"})");
        CHECK(missing == json{{"ok", false}, {"error", "channel_not_found"}});
        auto outside = co_await f.api("chat.postMessage", R"({"channel":"C0RANDOM","text":"x"})");
        CHECK(outside["error"] == "not_in_channel");
        auto empty = co_await f.api("chat.postMessage", R"({"channel":"C0DEPLOYS"})");
        CHECK(empty["error"] == "no_text");
        auto bad = co_await f.api("chat.postMessage",
                                  R"({"channel":"C0DEPLOYS","text":"x","blocks":[{"type":"section"},
               {"type":"actions","elements":[{"type":"button","action_id":"a"}]}]})");
        CHECK(bad["error"] == "invalid_blocks");
        auto messages = bad["response_metadata"]["messages"].dump();
        CHECK(messages.find("must provide either text or fields [json-pointer:/blocks/0]") !=
              std::string::npos);
        CHECK(messages.find("/blocks/1/elements/0") != std::string::npos);
        auto not_array = co_await f.api("chat.postMessage",
                                        R"({"channel":"C0DEPLOYS","text":"x","blocks":"nope"})");
        CHECK(not_array["error"] == "invalid_blocks_format");
        auto long_text = json{{"channel", "C0DEPLOYS"}, {"text", std::string(40010, 'a')}};
        auto truncated = co_await f.api("chat.postMessage", long_text.dump());
        CHECK(truncated["ok"] == true);
        CHECK(truncated["warning"] == "message_truncated");
        auto not_json =
            co_await f.post(f.slack.api_url() + "chat.postMessage", "application/json", "{nope");
        CHECK(json::parse(not_json.body)["error"] == "invalid_json");
    }());
    REQUIRE(f.slack.messages("C0DEPLOYS").size() == 1);
    CHECK(f.slack.messages("C0DEPLOYS")[0].text.size() == 40000);
}

TEST_CASE("fake_slack: updates, deletes, reactions and ephemerals", "[loopback]") {
    fake_slack_fixture f(true, [](fake_slack_options& o) {
        o.channels.push_back({"C0SMALL", "small", {"U0ALICE"}, true, false});
    });
    std::string ts;
    std::string person_ts;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto posted = co_await f.api("chat.postMessage", R"({"channel":"C0DEPLOYS","text":"v1"})");
        ts = posted["ts"].get<std::string>();
        auto upd = json{{"channel", "C0DEPLOYS"}, {"ts", ts}, {"text", "v2"}};
        auto updated = co_await f.api("chat.update", upd.dump());
        CHECK(updated["ok"] == true);
        CHECK(updated["text"] == "v2");
        CHECK(updated["message"]["edited"]["user"] == "U0TUGBOAT");
        upd["text"] = std::string(4001, 'x');
        auto too_long = co_await f.api("chat.update", upd.dump());
        CHECK(too_long["error"] == "msg_too_long");
        auto gone =
            co_await f.api("chat.update", R"({"channel":"C0DEPLOYS","ts":"1.000001","text":"x"})");
        CHECK(gone["error"] == "message_not_found");

        // A person's message cannot be edited or deleted by the bot.
        REQUIRE(f.slack.deliver_message("U0ALICE", "C0DEPLOYS", "hello"));
        person_ts = f.slack.messages("C0DEPLOYS").back().ts;
        auto theirs = json{{"channel", "C0DEPLOYS"}, {"ts", person_ts}, {"text", "mine"}};
        auto edit_theirs = co_await f.api("chat.update", theirs.dump());
        CHECK(edit_theirs["error"] == "cant_update_message");
        auto delete_theirs = co_await f.api("chat.delete", theirs.dump());
        CHECK(delete_theirs["error"] == "cant_delete_message");

        auto react = json{{"channel", "C0DEPLOYS"}, {"timestamp", person_ts}, {"name", "eyes"}};
        auto reacted = co_await f.api("reactions.add", react.dump());
        CHECK(reacted["ok"] == true);
        auto reacted_again = co_await f.api("reactions.add", react.dump());
        CHECK(reacted_again["error"] == "already_reacted");
        react["name"] = ":eyes:";
        auto bad_name = co_await f.api("reactions.add", react.dump());
        CHECK(bad_name["error"] == "invalid_name");

        auto eph = co_await f.api("chat.postEphemeral",
                                  R"({"channel":"C0SMALL","user":"U0ALICE","text":"psst"})");
        CHECK(eph["ok"] == true);
        CHECK(eph["message_ts"].is_string());
        auto outsider = co_await f.api("chat.postEphemeral",
                                       R"({"channel":"C0SMALL","user":"U0BOB","text":"psst"})");
        CHECK(outsider["error"] == "user_not_in_channel");

        auto del = json{{"channel", "C0DEPLOYS"}, {"ts", ts}};
        auto deleted = co_await f.api("chat.delete", del.dump());
        CHECK(deleted["ok"] == true);
    }());
    auto* m = f.slack.find_message("C0DEPLOYS", ts);
    REQUIRE(m);
    CHECK(m->deleted);
    CHECK(m->text == "v2");
    REQUIRE(m->edits.size() == 1);
    CHECK(m->edits[0].text == "v1");
    CHECK(f.slack.messages("C0DEPLOYS").size() == 1);
    CHECK(f.slack.find_message("C0DEPLOYS", person_ts)->reactions.at("eyes") ==
          std::vector<std::string>{"U0TUGBOAT"});
    REQUIRE(f.slack.ephemerals_for("U0ALICE").size() == 1);
    CHECK(f.slack.ephemerals_for("U0ALICE")[0].text == "psst");
}

TEST_CASE("fake_slack: users, conversations and user groups", "[loopback]") {
    fake_slack_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto alice = co_await f.form("users.info", "user=U0ALICE");
        CHECK(alice["user"]["name"] == "alice");
        CHECK(alice["user"]["profile"]["email"] == "alice@example.com");
        CHECK(alice["user"]["is_bot"] == false);
        auto nobody = co_await f.form("users.info", "user=U0NOBODY");
        CHECK(nobody["error"] == "user_not_found");
        // users.info reads form arguments only; a JSON body is ignored, as by Slack.
        auto json_body = co_await f.api("users.info", R"({"user":"U0ALICE"})");
        CHECK(json_body["error"] == "user_not_found");
        CHECK(json_body["response_metadata"]["messages"][0].get<std::string>().find(
                  "x-www-form-urlencoded") != std::string::npos);

        auto bob = co_await f.form("users.lookupByEmail", "email=bob%40example.com");
        CHECK(bob["user"]["id"] == "U0BOB");
        auto no_email = co_await f.form("users.lookupByEmail", "email=x%40y.z");
        CHECK(no_email["error"] == "users_not_found");

        auto info = co_await f.form("conversations.info", "channel=C0RANDOM");
        CHECK(info["channel"]["name"] == "random");
        CHECK(info["channel"]["is_member"] == false);
        auto dm = co_await f.api("conversations.open", R"({"users":"U0CAROL"})");
        CHECK(dm["channel"]["id"] == "D0CAROL");
        auto sre = co_await f.form("usergroups.users.list", "usergroup=S0SRE");
        CHECK(sre["users"] == json::array({"U0BOB", "U0DAVE"}));
        auto no_group = co_await f.form("usergroups.users.list", "usergroup=S0NONE");
        CHECK(no_group["error"] == "no_such_subteam");
    }());
    CHECK(f.slack.dm_channel("U0CAROL") == "D0CAROL");
}

TEST_CASE("fake_slack: files upload v2 flow", "[loopback]") {
    fake_slack_fixture f;
    std::string root_ts;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto root = co_await f.api("chat.postMessage", R"({"channel":"C0DEPLOYS","text":"logs"})");
        root_ts = root["ts"].get<std::string>();
        auto url = co_await f.form("files.getUploadURLExternal", "filename=build.log&length=11");
        REQUIRE(url["ok"] == true);
        auto upload_url = url["upload_url"].get<std::string>();
        auto file_id = url["file_id"].get<std::string>();
        CHECK(upload_url.starts_with(f.slack.base_url()));
        auto sent = co_await f.post(upload_url, "application/octet-stream", "hello world", "");
        CHECK(sent.status == 200);
        CHECK(sent.body == "OK - 11");

        auto early =
            co_await f.api("files.completeUploadExternal", R"({"files":[{"id":"F0NOPE"}]})");
        CHECK(early["error"] == "file_not_found");
        auto complete = json{{"files", json::array({{{"id", file_id}, {"title", "Build log"}}})},
                             {"channel_id", "C0DEPLOYS"},
                             {"thread_ts", root_ts},
                             {"initial_comment", "build #7 failed"}};
        auto done = co_await f.api("files.completeUploadExternal", complete.dump());
        REQUIRE(done["ok"] == true);
        CHECK(done["files"][0]["id"] == file_id);
        CHECK(done["files"][0]["title"] == "Build log");
    }());
    REQUIRE(f.slack.files().size() == 1);
    const auto& file = f.slack.files()[0];
    CHECK(file.content == "hello world");
    CHECK(file.completed);
    CHECK(file.channel == "C0DEPLOYS");
    auto thread = f.slack.thread("C0DEPLOYS", root_ts);
    REQUIRE(thread.size() == 2);
    CHECK(thread[1].text == "build #7 failed");
    CHECK(thread[1].files == std::vector<std::string>{file.id});
}

TEST_CASE("fake_slack: injected 429, 5xx, missing_scope and drops", "[loopback]") {
    fake_slack_fixture f;
    f.slack.inject_ratelimit("chat.postMessage", 1, 7);
    f.slack.inject_http_status("users.info", 1, 503);
    f.slack.inject_missing_scope("users.lookupByEmail", "users:read.email");
    f.slack.inject_error("*", 1, "fatal_error");
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        const std::string post = R"({"channel":"C0DEPLOYS","text":"x"})";
        auto limited =
            co_await f.post(f.slack.api_url() + "chat.postMessage", "application/json", post);
        CHECK(limited.status == 429);
        CHECK(limited.header("Retry-After") == "7");
        CHECK(json::parse(limited.body) == json{{"ok", false}, {"error", "ratelimited"}});
        // "*" matches the next call of any method.
        auto injected = co_await f.api("chat.postMessage", post);
        CHECK(injected["error"] == "fatal_error");
        auto recovered = co_await f.api("chat.postMessage", post);
        CHECK(recovered["ok"] == true);

        auto outage = co_await f.post(f.slack.api_url() + "users.info",
                                      "application/x-www-form-urlencoded", "user=U0ALICE");
        CHECK(outage.status == 503);
        auto after_outage = co_await f.form("users.info", "user=U0ALICE");
        CHECK(after_outage["ok"] == true);

        auto scope = co_await f.form("users.lookupByEmail", "email=bob%40example.com");
        CHECK(scope["error"] == "missing_scope");
        CHECK(scope["needed"] == "users:read.email");
        CHECK(scope["provided"].get<std::string>().find("chat:write") != std::string::npos);
        f.slack.clear_injections();
        auto scope_back = co_await f.form("users.lookupByEmail", "email=bob%40example.com");
        CHECK(scope_back["ok"] == true);

        f.slack.inject_drop("auth.test", 1);
        integrations::http_request r;
        r.method = integrations::http_method::post;
        r.url = f.slack.api_url() + "auth.test";
        r.headers = {{"Authorization", "Bearer xoxb-tugboat-sandbox"}};
        r.max_attempts = 1;
        auto dropped = co_await f.http.send(r);
        REQUIRE_FALSE(dropped);
        CHECK(dropped.error().code == core::errc::unavailable);
    }());
    CHECK(f.slack.calls("chat.postMessage")[0].status == 429);
    CHECK(f.slack.calls("auth.test")[0].status == 0);
    CHECK(f.slack.messages("C0DEPLOYS").size() == 1);
}

TEST_CASE("fake_slack: rate limits are measured, and enforced when asked", "[loopback]") {
    fake_slack_fixture f(true, [](fake_slack_options& o) {
        o.rate_limits.post_burst = 3;
        o.rate_limits.per_window["users.info"] = 2;
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 5; ++i) {
            auto posted =
                co_await f.api("chat.postMessage", R"({"channel":"C0DEPLOYS","text":"x"})");
            CHECK(posted["ok"] == true);  // measured only
        }
        auto other_channel =
            co_await f.api("chat.postMessage", R"({"channel":"C0ORDERS","text":"x"})");
        CHECK(other_channel["ok"] == true);
        for (int i = 0; i < 3; ++i) {
            co_await f.form("users.info", "user=U0ALICE");
        }
        CHECK(f.slack.rate_violations("chat.postMessage") == 2);
        CHECK(f.slack.rate_violations("users.info") == 1);
        CHECK(f.slack.rate_violations()[0].channel == "C0DEPLOYS");

        f.slack.enforce_rate_limits(true);
        auto refused = co_await f.post(f.slack.api_url() + "users.info",
                                       "application/x-www-form-urlencoded", "user=U0ALICE");
        CHECK(refused.status == 429);
        REQUIRE(refused.header("Retry-After"));
        CHECK(std::stoi(*refused.header("Retry-After")) >= 1);
        auto post_refused =
            co_await f.post(f.slack.api_url() + "chat.postMessage", "application/json",
                            R"({"channel":"C0DEPLOYS","text":"x"})");
        CHECK(post_refused.status == 429);
    }());
    CHECK(f.slack.messages("C0DEPLOYS").size() == 5);
    CHECK(f.slack.rate_violations("chat.postMessage") == 3);
}

TEST_CASE("fake_slack: socket mode hello over wss and ws", "[loopback]") {
    bool tls = GENERATE(true, false);
    fake_slack_fixture f(tls);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto opened = co_await f.api("apps.connections.open", "{}", "xapp-1-tugboat-sandbox");
        auto url = opened["url"].get<std::string>();
        CHECK(url.starts_with(tls ? "wss://127.0.0.1:" : "ws://127.0.0.1:"));
        CHECK(url.find("/link/?ticket=") != std::string::npos);
        auto client = co_await connect_ws(url, *f.ws_tls);
        auto hello = co_await client->read_json();
        CHECK(hello["type"] == "hello");
        CHECK(hello["num_connections"] == 1);
        CHECK(hello["connection_info"]["app_id"] == "A0TUGBOAT");
        CHECK(hello["debug_info"]["approximate_connection_time"].is_number());

        // Tickets are single-use.
        bool refused = false;
        try {
            auto again = co_await connect_ws(url, *f.ws_tls);
            (void)again;
        } catch (const boost::system::system_error&) {
            refused = true;
        }
        CHECK(refused);

        auto [second, hello2] = co_await f.connect();
        CHECK(hello2["num_connections"] == 2);
        CHECK(f.slack.open_connections() == 2);
        co_await client->close();
        co_await f.expect([&] { return f.slack.open_connections() == 1; });
    }());
    CHECK(f.slack.total_connections() == 2);
}

TEST_CASE("fake_slack: envelopes are delivered and acks recorded", "[loopback]") {
    fake_slack_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto [client, hello] = co_await f.connect();
        auto id = f.slack.deliver_slash_command("U0ALICE", "C0DEPLOYS", "/deploy",
                                                "payments-api beta v1");
        REQUIRE(id);
        auto env = co_await client->read_json();
        CHECK(env["envelope_id"] == *id);
        CHECK(env["type"] == "slash_commands");
        CHECK(env["accepts_response_payload"] == true);
        const auto& p = env["payload"];
        CHECK(p["command"] == "/deploy");
        CHECK(p["text"] == "payments-api beta v1");
        CHECK(p["user_id"] == "U0ALICE");
        CHECK(p["user_name"] == "alice");
        CHECK(p["channel_name"] == "deploys");
        CHECK(p["team_id"] == "T0TUGBOAT");
        CHECK(p["api_app_id"] == "A0TUGBOAT");
        CHECK(p["response_url"].get<std::string>().starts_with(f.slack.base_url() + "/response/"));
        CHECK(!p["trigger_id"].get<std::string>().empty());
        co_await client->write(ack(env, R"({"text":"Deploying payments-api to beta…"})"));

        auto mention = f.slack.deliver_app_mention("U0BOB", "C0DEPLOYS", "status payments-api");
        REQUIRE(mention);
        auto ev = co_await client->read_json();
        CHECK(ev["type"] == "events_api");
        CHECK(ev["retry_attempt"] == 0);
        CHECK(ev["retry_reason"] == "");
        CHECK(ev["payload"]["type"] == "event_callback");
        CHECK(ev["payload"]["event"]["type"] == "app_mention");
        CHECK(ev["payload"]["event"]["text"] == "<@U0TUGBOAT> status payments-api");
        CHECK(ev["payload"]["event"]["blocks"][0]["type"] == "rich_text");
        CHECK(ev["payload"]["event_id"].get<std::string>().starts_with("Ev"));
        CHECK(ev["payload"]["authorizations"][0]["user_id"] == "U0TUGBOAT");
        co_await client->write(ack(ev));

        auto dm = f.slack.deliver_dm("U0CAROL", "help");
        REQUIRE(dm);
        auto dm_ev = co_await client->read_json();
        CHECK(dm_ev["payload"]["event"]["channel"] == "D0CAROL");
        CHECK(dm_ev["payload"]["event"]["channel_type"] == "im");
        co_await client->write(ack(dm_ev));

        co_await f.expect([&] { return f.slack.acked_count() == 3; });
        auto* rec = f.slack.envelope(*id);
        REQUIRE(rec);
        CHECK(rec->acked);
        CHECK(rec->ack_connection == 1);
        CHECK(rec->ack_latency > 0us);
        CHECK(!rec->late_ack);
        CHECK(json::parse(rec->ack_payload)["text"] == "Deploying payments-api to beta…");
    }());
    // The command's ack payload is what Alice saw at once.
    auto seen = f.slack.ephemerals_for("U0ALICE");
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].text == "Deploying payments-api to beta…");
    CHECK(seen[0].via == "ack");
    CHECK(f.slack.messages("C0DEPLOYS").back().text == "<@U0TUGBOAT> status payments-api");
    CHECK(f.slack.in_flight() == 0);
    CHECK(!f.slack.deliver_dm("U0NOBODY", "hi"));
    CHECK(f.slack.deliver_app_mention("U0ALICE", "C0RANDOM", "hi").error().code ==
          core::errc::conflict);
}

TEST_CASE("fake_slack: a missed ack is re-delivered with retry_attempt", "[loopback]") {
    bool fresh_ids = GENERATE(false, true);
    fake_slack_fixture f(true, [&](fake_slack_options& o) {
        o.ack_timeout = 100ms;
        o.max_redeliveries = 2;
        o.fresh_envelope_id_on_retry = fresh_ids;
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto [client, hello] = co_await f.connect();
        auto id = f.slack.deliver_app_mention("U0ALICE", "C0DEPLOYS", "deploy orders-api dev");
        REQUIRE(id);
        auto first = co_await client->read_json();
        CHECK(first["retry_attempt"] == 0);
        auto second = co_await client->read_json();  // not acked: comes again
        CHECK(second["retry_attempt"] == 1);
        CHECK(second["retry_reason"] == "timeout");
        CHECK(second["payload"]["event_id"] == first["payload"]["event_id"]);
        CHECK((second["envelope_id"] == first["envelope_id"]) == !fresh_ids);
        co_await client->write(ack(second));
        co_await f.expect([&] { return f.slack.acked_count() == 1; });

        // Commands are not retried: the person sees Slack's operation_timeout notice.
        REQUIRE(f.slack.deliver_slash_command("U0BOB", "C0DEPLOYS", "/deploy", "x"));
        auto command = co_await client->read_json();
        CHECK(command["type"] == "slash_commands");
        co_await f.expect([&] { return !f.slack.ephemerals_for("U0BOB").empty(); });
    }());
    const auto* rec = &f.slack.envelopes().front();
    CHECK(rec->acked);
    REQUIRE(rec->deliveries.size() == 2);
    CHECK(rec->deliveries[1].retry_attempt == 1);
    CHECK(f.slack.redeliveries() == 1);
    CHECK(f.slack.envelopes()[1].gave_up);
    CHECK(f.slack.ephemerals_for("U0BOB")[0].text ==
          "/deploy failed with the error \"operation_timeout\"");
}

TEST_CASE("fake_slack: stalled reads make envelopes time out", "[loopback]") {
    fake_slack_fixture f(true, [](fake_slack_options& o) {
        o.ack_timeout = 100ms;
        o.max_redeliveries = 1;
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto [client, hello] = co_await f.connect();
        f.slack.stall(true);
        REQUIRE(f.slack.deliver_dm("U0ALICE", "status"));
        auto first = co_await client->read_json();
        co_await client->write(ack(first));  // sent, but the fake is not reading
        auto again = co_await client->read_json();
        CHECK(again["retry_attempt"] == 1);
        f.slack.stall(false);
        co_await f.expect([&] { return f.slack.acked_count() == 1; });
    }());
    CHECK(f.slack.envelopes()[0].acked);
    CHECK(f.slack.redeliveries() == 1);
}

TEST_CASE("fake_slack: disconnect messages, drops and the connection cap", "[loopback]") {
    fake_slack_fixture f(true, [](fake_slack_options& o) { o.max_connections = 2; });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto [a, hello_a] = co_await f.connect();
        auto [b, hello_b] = co_await f.connect();
        auto ids = f.slack.connections();
        REQUIRE(ids.size() == 2);

        REQUIRE(f.slack.send_disconnect(ids[0].id, "refresh_requested", 0ms));
        auto bye = co_await a->read_json();
        CHECK(bye["type"] == "disconnect");
        CHECK(bye["reason"] == "refresh_requested");
        auto after_bye = co_await a->read();
        CHECK(!after_bye);
        CHECK(a->ended == websocket::error::closed);

        // A third socket while two are open is refused the way Slack does it.
        auto [c, hello_c] = co_await f.connect();
        auto [d, refused] = co_await f.connect();
        CHECK(refused["type"] == "disconnect");
        CHECK(refused["reason"] == "too_many_websockets");

        REQUIRE(f.slack.drop_connection(ids[1].id));
        auto after_drop = co_await b->read();
        CHECK(!after_drop);
        CHECK(b->ended != websocket::error::closed);  // no close frame: a reset
        co_await f.expect([&] { return f.slack.open_connections() == 1; });

        // Envelopes go to the remaining connection.
        REQUIRE(f.slack.deliver_dm("U0ALICE", "hi"));
        auto env = co_await c->read_json();
        CHECK(env["payload"]["event"]["text"] == "hi");
        co_await c->write(ack(env));
        co_await f.expect([&] { return f.slack.acked_count() == 1; });

        f.slack.refuse_connections("link_disabled");
        auto opened = co_await f.api("apps.connections.open", "{}", "xapp-1-tugboat-sandbox");
        CHECK(opened["error"] == "link_disabled");
    }());
    CHECK(f.slack.total_connections() == 4);
}

TEST_CASE("fake_slack: envelopes wait for a connection", "[loopback]") {
    fake_slack_fixture f(false);
    REQUIRE(f.slack.deliver_dm("U0DAVE", "early"));
    CHECK(f.slack.envelopes()[0].deliveries.empty());
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto [client, hello] = co_await f.connect();
        auto env = co_await client->read_json();
        CHECK(env["payload"]["event"]["text"] == "early");
    }());
    CHECK(f.slack.envelopes()[0].deliveries.size() == 1);
}

TEST_CASE("fake_slack: block actions and response_url", "[loopback]") {
    fake_slack_fixture f;
    std::string msg_ts;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto [client, hello] = co_await f.connect();
        auto args = json{{"channel", "C0APPROVALS"},
                         {"text", "Deploy payments-api to prod?"},
                         {"blocks", json::parse(approval_blocks)}};
        auto posted = co_await f.api("chat.postMessage", args.dump());
        REQUIRE(posted["ok"] == true);
        msg_ts = posted["ts"].get<std::string>();

        REQUIRE(f.slack.deliver_block_action("U0BOB", "C0APPROVALS", msg_ts, "approve", "42"));
        auto env = co_await client->read_json();
        CHECK(env["type"] == "interactive");
        const auto& p = env["payload"];
        CHECK(p["type"] == "block_actions");
        CHECK(p["user"]["id"] == "U0BOB");
        CHECK(p["container"]["message_ts"] == msg_ts);
        CHECK(p["message"]["ts"] == msg_ts);
        CHECK(p["actions"][0]["action_id"] == "approve");
        CHECK(p["actions"][0]["block_id"] == "deploy-42");
        CHECK(p["actions"][0]["value"] == "42");
        CHECK(p["actions"][0]["text"]["text"] == "Approve");
        co_await client->write(ack(env));

        auto response_url = p["response_url"].get<std::string>();
        auto replaced =
            co_await f.post(response_url, "application/json",
                            R"({"replace_original":true,"text":"Approved by bob"})", "");
        CHECK(replaced.status == 200);
        auto in_channel = co_await f.post(
            response_url, "application/json",
            R"({"response_type":"in_channel","text":"Rolling out","thread_ts":")" + msg_ts + "\"}",
            "");
        CHECK(in_channel.status == 200);
        auto nothing = co_await f.post(response_url, "application/json", "{}", "");
        CHECK(nothing.status == 400);

        CHECK(!f.slack.deliver_block_action("U0BOB", "C0APPROVALS", "1.000001", "approve", "42"));
    }());
    auto* m = f.slack.find_message("C0APPROVALS", msg_ts);
    REQUIRE(m);
    CHECK(m->text == "Approved by bob");
    CHECK(m->blocks_json.empty());
    REQUIRE(m->edits.size() == 1);
    CHECK(m->edits[0].via == "response_url");
    auto thread = f.slack.thread("C0APPROVALS", msg_ts);
    REQUIRE(thread.size() == 2);
    CHECK(thread[1].text == "Rolling out");
    CHECK(thread[1].via == "response_url");
    CHECK(f.slack.calls("response_url").size() == 3);
}

TEST_CASE("fake_slack: modals open with a fresh trigger and take submissions", "[loopback]") {
    fake_slack_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto [client, hello] = co_await f.connect();
        REQUIRE(f.slack.deliver_slash_command("U0ALICE", "C0DEPLOYS", "/deploy", ""));
        auto env = co_await client->read_json();
        co_await client->write(ack(env));
        auto view = json{
            {"type", "modal"},
            {"callback_id", "deploy-form"},
            {"title", {{"type", "plain_text"}, {"text", "Deploy"}}},
            {"blocks",
             json::array({{{"type", "input"},
                           {"block_id", "service"},
                           {"label", {{"type", "plain_text"}, {"text", "Service"}}},
                           {"element", {{"type", "plain_text_input"}, {"action_id", "value"}}}}})}};
        auto args = json{{"trigger_id", env["payload"]["trigger_id"]}, {"view", view}};
        auto opened = co_await f.api("views.open", args.dump());
        REQUIRE(opened["ok"] == true);
        auto view_id = opened["view"]["id"].get<std::string>();
        CHECK(opened["view"]["callback_id"] == "deploy-form");
        CHECK(opened["view"]["hash"].is_string());
        auto reused_trigger = co_await f.api("views.open", args.dump());
        CHECK(reused_trigger["error"] == "exchanged_trigger_id");
        auto bogus = json{{"trigger_id", "1.2.3"}, {"view", view}};
        auto bogus_trigger = co_await f.api("views.open", bogus.dump());
        CHECK(bogus_trigger["error"] == "invalid_trigger_id");

        REQUIRE(f.slack.deliver_view_submission(
            "U0ALICE", view_id,
            R"({"service":{"value":{"type":"plain_text_input","value":"nope"}}})"));
        auto submitted = co_await client->read_json();
        CHECK(submitted["payload"]["type"] == "view_submission");
        CHECK(submitted["accepts_response_payload"] == true);
        CHECK(submitted["payload"]["view"]["state"]["values"]["service"]["value"]["value"] ==
              "nope");
        co_await client->write(ack(
            submitted, R"({"response_action":"errors","errors":{"service":"No such service"}})"));
        co_await f.expect([&] { return !f.slack.view(view_id)->errors_json.empty(); });
        CHECK(f.slack.view(view_id)->open);
        CHECK(f.slack.view(view_id)->user == "U0ALICE");
    }());
}

TEST_CASE("fake_slack: raw payloads and unexpected frames", "[loopback]") {
    fake_slack_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto [client, hello] = co_await f.connect();
        CHECK(f.slack.deliver_raw("{not json").empty());
        auto raw = co_await client->read();
        CHECK(*raw == "{not json");
        auto id = f.slack.deliver_raw(R"({"envelope_id":"raw-1","type":"events_api"})");
        CHECK(id == "raw-1");
        auto env = co_await client->read_json();
        co_await client->write("garbage");
        co_await client->write(R"({"envelope_id":"unknown"})");
        co_await client->write(ack(env));
        co_await f.expect([&] { return f.slack.acked_count() == 1; });
    }());
    CHECK(f.slack.unexpected_frames() ==
          std::vector<std::string>{"garbage", R"({"envelope_id":"unknown"})"});
    CHECK(f.slack.envelope("raw-1")->acked);
}

TEST_CASE("fake_slack: observers see workspace changes", "[loopback]") {
    fake_slack_fixture f;
    std::vector<std::string> seen;
    f.slack.on_change([&](const sandbox::slack_change& c) {
        if (c.kind == sandbox::slack_change_kind::message_posted) {
            auto* m = f.slack.find_message(c.channel, c.ts);
            seen.push_back(m ? m->text : "?");
        }
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        co_await f.api("chat.postMessage", R"({"channel":"C0HELP","text":"hello from the bot"})");
    }());
    REQUIRE(f.slack.deliver_message("U0ALICE", "C0HELP", "hello from alice"));
    CHECK(seen == std::vector<std::string>{"hello from the bot", "hello from alice"});
}

TEST_CASE("fake_slack: hundreds of envelopes in flight", "[loopback]") {
    // Acks are prompt here; the long timeout only keeps a loaded machine (ASan, parallel
    // tests) from counting a slow ack as lost and redelivering it.
    fake_slack_fixture f(true, [](fake_slack_options& o) { o.ack_timeout = 10s; });
    constexpr int count = 400;
    run_test(
        f.ioc,
        [&]() -> asio::awaitable<void> {
            auto [a, hello_a] = co_await f.connect();
            auto [b, hello_b] = co_await f.connect();
            for (int i = 0; i < count; ++i) {
                auto delivered =
                    i % 2 ? f.slack.deliver_slash_command("U0ALICE", "C0DEPLOYS", "/status",
                                                          std::to_string(i))
                          : f.slack.deliver_app_mention("U0BOB", "C0DEPLOYS", std::to_string(i));
                REQUIRE(delivered);
            }
            // Both clients ack what they read, at once, until the last ack closes them.
            using namespace asio::experimental::awaitable_operators;
            co_await (ack_everything(*a) && ack_everything(*b) &&
                      close_when_acked(f.slack, *a, *b, count));
        }(),
        30s);
    CHECK(f.slack.redeliveries() == 0);
    CHECK(f.slack.in_flight() == 0);
    std::set<std::size_t> used;
    for (const auto& e : f.slack.envelopes()) {
        used.insert(e.ack_connection);
    }
    CHECK(used.size() == 2);  // round robin over both sockets
}
