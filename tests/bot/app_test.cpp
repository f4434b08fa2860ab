// The whole bot as `tugboat run` builds it, against the fake Slack over wss with the test CA:
// Socket Mode in, dispatcher and router, answers out through the Web API / response_url.

#include "bot/app.hpp"
#include "bot/slack_signature.hpp"
#include "integrations/http_client.hpp"
#include "sandbox/fake_slack.hpp"
#include "sandbox/http_server.hpp"
#include "sandbox/test_ca.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/temp_dir.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <set>

namespace asio = boost::asio;
using namespace tugboat;
using namespace std::chrono_literals;

namespace {

struct app_fixture {
    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink, core::log_level::debug};
    test::temp_dir dir;
    sandbox::fake_slack_options slack_options = sandbox::sandbox_slack_workspace();
    std::optional<sandbox::fake_slack> slack;
    core::config cfg;

    app_fixture() {
        const auto& pki = sandbox::default_test_pki();
        REQUIRE(sandbox::write_test_pki(pki, dir.path));
        auto tls = sandbox::make_server_tls_context(pki.server.cert_pem, pki.server.key_pem);
        REQUIRE(tls);
        slack_options.tls = *tls;
        auto s = sandbox::fake_slack::start(ioc.get_executor(), slack_options);
        REQUIRE(s);
        slack.emplace(std::move(*s));
        cfg.bot.database = (dir.path / "tugboat.db").string();
        cfg.slack.api_url = slack->api_url();
        cfg.slack.bot_token = core::secret(slack_options.bot_token);
        cfg.slack.app_token = core::secret(slack_options.app_token);
        cfg.slack.ca_file = (dir.path / "ca.pem").string();
        cfg.channels.push_back({"deploys", "C0DEPLOYS"});
    }

    /// A bot built from `cfg`, running on the io_context; `done` is set when run() returns.
    struct running {
        std::unique_ptr<bot::app> app;
        std::optional<core::result<void>> result;
    };
    bot::app_options options;
    std::unique_ptr<running> start() {
        auto r = std::make_unique<running>();
        auto a = bot::app::create(ioc.get_executor(), cfg, log, options);
        REQUIRE(a);
        r->app = std::move(*a);
        running* raw = r.get();
        asio::co_spawn(
            ioc,
            [raw]() -> asio::awaitable<void> { raw->result.emplace(co_await raw->app->run()); },
            asio::detached);
        return r;
    }

    asio::awaitable<bool> until(std::function<bool()> done, std::chrono::milliseconds limit = 5s) {
        asio::steady_timer t(ioc);
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) {
                co_return false;
            }
            t.expires_after(2ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        co_return true;
    }
};

}  // namespace

TEST_CASE("app: a slash command is answered once, also when re-delivered after a restart",
          "[loopback]") {
    app_fixture f;
    std::string envelope_json;
    test::run_test(
        f.ioc,
        [&]() -> asio::awaitable<void> {
            auto first = f.start();
            auto up = co_await f.until([&] { return first->app->ready(); });
            REQUIRE(up);
            auto id = f.slack->deliver_slash_command("U0ALICE", "C0DEPLOYS", "/deploy",
                                                     "paymnets-api beta 1.2.3");
            REQUIRE(id);
            auto answered =
                co_await f.until([&] { return f.slack->ephemerals_for("U0ALICE").size() == 1; });
            REQUIRE(answered);
            CHECK(f.slack->ephemerals_for("U0ALICE")[0].text.find(
                      "Unknown service `paymnets-api`") != std::string::npos);
            CHECK(f.slack->ephemerals_for("U0ALICE")[0].via == "response_url");
            envelope_json = f.slack->envelope(*id)->json;
            first->app->stop();
            auto stopped = co_await f.until([&] { return first->result.has_value(); });
            REQUIRE(stopped);
            CHECK(*first->result);

            // Slack never saw that ack (say): it delivers again, to the restarted bot.
            auto second = f.start();
            auto up_again = co_await f.until([&] { return second->app->ready(); });
            REQUIRE(up_again);
            auto again = nlohmann::json::parse(envelope_json);
            again["envelope_id"] = "redelivered-after-restart";
            again["retry_attempt"] = 1;
            again["retry_reason"] = "timeout";
            f.slack->deliver_raw(again.dump());
            auto dropped = co_await f.until([&] { return second->app->stats().duplicates == 1; });
            REQUIRE(dropped);
            CHECK(f.slack->envelope("redelivered-after-restart")->acked);
            second->app->stop();
            auto stopped_again = co_await f.until([&] { return second->result.has_value(); });
            REQUIRE(stopped_again);
        }(),
        15s);
    CHECK(f.slack->ephemerals_for("U0ALICE").size() == 1);  // not twice
}

TEST_CASE("app: a burst of commands is handled a few at a time, each answered once", "[loopback]") {
    app_fixture f;
    f.options.max_handlers = 4;
    constexpr int burst = 60;
    test::run_test(
        f.ioc,
        [&]() -> asio::awaitable<void> {
            auto r = f.start();
            auto up = co_await f.until([&] { return r->app->ready(); });
            REQUIRE(up);
            for (int i = 0; i < burst; ++i) {
                auto id = f.slack->deliver_slash_command("U0ALICE", "C0DEPLOYS", "/deploy",
                                                         fmt::format("svc-{} beta 1.2.3", i));
                REQUIRE(id);
            }
            auto answered = co_await f.until(
                [&] { return f.slack->ephemerals_for("U0ALICE").size() >= burst; }, 20s);
            REQUIRE(answered);
            // Nothing left behind: the last handlers return just after their answers arrive.
            auto drained = co_await f.until([&] { return r->app->stats().in_progress == 0; });
            CHECK(drained);
            auto stats = r->app->stats();
            CHECK(stats.peak_handling == 4);
            CHECK(stats.peak_waiting > 0);  // the burst outran the handlers and waited
            r->app->stop();
            auto stopped = co_await f.until([&] { return r->result.has_value(); });
            REQUIRE(stopped);
        }(),
        30s);
    const auto answers = f.slack->ephemerals_for("U0ALICE");
    CHECK(answers.size() == burst);
    std::set<std::string> services;
    for (const auto& a : answers) {
        auto at = a.text.find("`svc-");
        REQUIRE(at != std::string::npos);
        services.insert(a.text.substr(at, a.text.find('`', at + 1) - at));
    }
    CHECK(services.size() == burst);  // every command answered, none twice
}

TEST_CASE("app: a refused bot token stops the bot with what to fix", "[loopback]") {
    app_fixture f;
    f.cfg.slack.bot_token = core::secret("xoxb-revoked");
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto bot = f.start();
        auto ended = co_await f.until([&] { return bot->result.has_value(); });
        REQUIRE(ended);
        REQUIRE_FALSE(*bot->result);
        CHECK(bot->result->error().code == core::errc::permission_denied);
        CHECK(bot->result->error().message.find("bot token") != std::string::npos);
        CHECK_FALSE(bot->app->ready());
    }());
    CHECK(f.slack->calls("apps.connections.open").empty());
}

TEST_CASE("app: HTTP mode takes signed requests and answers through the Web API", "[loopback]") {
    app_fixture f;
    f.cfg.slack.mode = "http";
    f.cfg.slack.http_listen = "127.0.0.1:0";
    f.cfg.slack.signing_secret = core::secret("8f742231b10e8888abcd99yyyzzz85a5");
    auto http = integrations::http_client::create(f.ioc.get_executor(), f.log, {});
    REQUIRE(http);
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto bot = f.start();
        auto up = co_await f.until([&] { return bot->app->http_port() != 0; });
        REQUIRE(up);
        // response_url points nowhere useful, so the answer falls back to chat.postEphemeral.
        std::string body =
            "token=x&team_id=T0TUGBOAT&channel_id=C0DEPLOYS&user_id=U0ALICE&user_name=alice"
            "&command=%2Fdeploy&text=paymnets-api+beta+1.2.3&trigger_id=1.2.abc"
            "&response_url=" +
            f.slack->base_url() + "%2Fnowhere";
        std::string stamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
        integrations::http_request req;
        req.method = integrations::http_method::post;
        req.url = fmt::format("http://127.0.0.1:{}/slack/events", bot->app->http_port());
        req.body = body;
        req.max_attempts = 1;
        req.headers = {
            {"Content-Type", "application/x-www-form-urlencoded"},
            {"X-Slack-Request-Timestamp", stamp},
            {"X-Slack-Signature",
             bot::compute_slack_signature(f.cfg.slack.signing_secret.reveal(), stamp, body)}};
        auto res = co_await http->send(req);
        REQUIRE(res);
        CHECK(res->status == 200);
        auto answered =
            co_await f.until([&] { return f.slack->ephemerals_for("U0ALICE").size() == 1; });
        REQUIRE(answered);
        CHECK(f.slack->ephemerals_for("U0ALICE")[0].via == "chat.postEphemeral");

        req.headers.back().second = "v0=0000";  // a forged signature: 401 and no effect
        auto forged = co_await http->send(req);
        REQUIRE(forged);
        CHECK(forged->status == 401);
        bot->app->stop();
        auto stopped = co_await f.until([&] { return bot->result.has_value(); });
        REQUIRE(stopped);
    }());
    CHECK(f.slack->ephemerals_for("U0ALICE").size() == 1);
}
