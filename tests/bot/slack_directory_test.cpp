// Slack user-group membership against the fake Slack over TLS: usergroups.list with members,
// the cache and its TTL, one refresh shared by concurrent callers, a stale map served when
// Slack fails, and unavailable when Slack is down and nothing was fetched before.
//
// Never co_await inside a Catch assertion macro: GCC 12 evaluates the operand twice there.

#include "bot/slack_directory.hpp"
#include "bot/slack_web_api.hpp"
#include "integrations/http_client.hpp"
#include "sandbox/fake_slack.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/test_ca_fixture.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <optional>

namespace asio = boost::asio;
using namespace tugboat;
using namespace std::chrono_literals;
using groups = std::vector<std::string>;

namespace {

struct directory_fixture {
    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink, core::log_level::debug};
    core::manual_clock clock;
    std::optional<sandbox::fake_slack> slack;
    std::optional<integrations::http_client> http;
    std::optional<bot::slack_web_api> api;
    std::optional<bot::slack_directory> dir;

    directory_fixture() {
        auto opts = sandbox::sandbox_slack_workspace();
        opts.tls = test::test_server_tls();
        auto s = sandbox::fake_slack::start(ioc.get_executor(), opts);
        REQUIRE(s);
        slack.emplace(std::move(*s));
        integrations::http_client_options h;
        h.tls = test::test_client_tls();
        auto client = integrations::http_client::create(ioc.get_executor(), log, h);
        REQUIRE(client);
        http.emplace(std::move(*client));
        api.emplace(*http, slack->api_url(), core::secret(opts.bot_token), log);
        bot::slack_directory_options d;
        d.ttl = 5min;
        d.retry_after_failure = 30s;
        dir.emplace(*api, clock, log, d);
    }

    std::size_t list_calls() const { return slack->calls("usergroups.list").size(); }
};

// A free coroutine, not a lambda: its parameters live in the frame, a lambda's captures would not.
asio::awaitable<void> ask(bot::slack_directory& dir, std::string user,
                          std::optional<core::result<groups>>& slot) {
    auto r = co_await dir.groups_of(user);
    slot.emplace(std::move(r));
}

}  // namespace

TEST_CASE("slack_directory: groups come from usergroups.list with members", "[loopback]") {
    directory_fixture f;
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto alice = co_await f.dir->groups_of("U0ALICE");
        REQUIRE(alice);
        CHECK(*alice == groups{"S0DEVS"});
        auto bob = co_await f.dir->groups_of("U0BOB");
        REQUIRE(bob);
        CHECK(*bob == groups{"S0SRE"});
        auto stranger = co_await f.dir->groups_of("U0NOBODY");
        REQUIRE(stranger);
        CHECK(stranger->empty());
    }());
    auto calls = f.slack->calls("usergroups.list");
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].ok);
    CHECK(calls[0].arg("include_users") == "true");
    CHECK(calls[0].token == "bot");
}

TEST_CASE("slack_directory: a second question within the TTL makes no API call", "[loopback]") {
    directory_fixture f;
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto first = co_await f.dir->groups_of("U0CAROL");
        REQUIRE(first);
        f.clock.advance(4min);
        auto second = co_await f.dir->groups_of("U0DAVE");
        REQUIRE(second);
        CHECK(*second == groups{"S0SRE"});
    }());
    CHECK(f.list_calls() == 1);
}

TEST_CASE("slack_directory: the map is fetched again once the TTL has passed", "[loopback]") {
    directory_fixture f;
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto first = co_await f.dir->groups_of("U0ALICE");
        REQUIRE(first);
        f.clock.advance(5min);
        auto second = co_await f.dir->groups_of("U0ALICE");
        REQUIRE(second);
        CHECK(*second == groups{"S0DEVS"});
    }());
    CHECK(f.list_calls() == 2);
}

TEST_CASE("slack_directory: concurrent callers share one refresh", "[loopback]") {
    directory_fixture f;
    std::vector<std::optional<core::result<groups>>> out(3);
    const std::vector<std::string> users{"U0ALICE", "U0BOB", "U0NOBODY"};
    for (std::size_t i = 0; i < users.size(); ++i) {
        // core::result is not default-constructible, which co_spawn's completion needs: store
        // it from inside the coroutine instead.
        asio::co_spawn(f.ioc, ask(*f.dir, users[i], out[i]),
                       [](std::exception_ptr e) { REQUIRE_FALSE(e); });
    }
    auto done = [&] {
        return std::ranges::all_of(out, [](const auto& o) { return o.has_value(); });
    };
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < until) {
        f.ioc.run_one_until(until);
    }
    REQUIRE(done());
    REQUIRE(*out[0]);
    CHECK(**out[0] == groups{"S0DEVS"});
    REQUIRE(*out[1]);
    CHECK(**out[1] == groups{"S0SRE"});
    REQUIRE(*out[2]);
    CHECK((*out[2])->empty());
    CHECK(f.list_calls() == 1);
}

TEST_CASE("slack_directory: a failed refresh serves the stale map and logs a warning",
          "[loopback]") {
    directory_fixture f;
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto first = co_await f.dir->groups_of("U0BOB");
        REQUIRE(first);
        f.clock.advance(6min);
        f.slack->inject_http_status("usergroups.list", 1, 503);
        auto stale = co_await f.dir->groups_of("U0BOB");
        REQUIRE(stale);
        CHECK(*stale == groups{"S0SRE"});
        CHECK(f.list_calls() == 2);
        CHECK_THAT(f.sink.text(), Catch::Contains("usergroups_refresh_failed") &&
                                      Catch::Contains("serving=stale"));

        // Within the retry delay Slack is not asked again.
        f.clock.advance(10s);
        auto still_stale = co_await f.dir->groups_of("U0DAVE");
        REQUIRE(still_stale);
        CHECK(*still_stale == groups{"S0SRE"});
        CHECK(f.list_calls() == 2);

        // After it, a successful refresh replaces the map.
        f.clock.advance(30s);
        auto fresh = co_await f.dir->groups_of("U0ALICE");
        REQUIRE(fresh);
        CHECK(*fresh == groups{"S0DEVS"});
        CHECK(f.list_calls() == 3);
    }());
}

TEST_CASE("slack_directory: an ok:false answer with a stale map serves the stale map",
          "[loopback]") {
    directory_fixture f;
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto first = co_await f.dir->groups_of("U0CAROL");
        REQUIRE(first);
        f.clock.advance(6min);
        f.slack->inject_missing_scope("usergroups.list", "usergroups:read", 1);
        auto stale = co_await f.dir->groups_of("U0CAROL");
        REQUIRE(stale);
        CHECK(*stale == groups{"S0DEVS"});
    }());
    CHECK_THAT(f.sink.text(), Catch::Contains("usergroups:read"));
}

TEST_CASE("slack_directory: Slack down with nothing cached is unavailable", "[loopback]") {
    directory_fixture f;
    SECTION("the server answers 503") {
        f.slack->inject_http_status("usergroups.list", 1, 503);
        test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
            auto r = co_await f.dir->groups_of("U0ALICE");
            REQUIRE_FALSE(r);
            CHECK(r.error().code == core::errc::unavailable);
            CHECK_THAT(r.error().message,
                       Catch::Contains("usergroups.list") && Catch::Contains("503"));
            // No stale map to fall back on, so the next question asks Slack again at once.
            auto again = co_await f.dir->groups_of("U0ALICE");
            REQUIRE(again);
            CHECK(*again == groups{"S0DEVS"});
        }());
        CHECK(f.list_calls() == 2);
    }
    SECTION("the server is gone") {
        f.slack->stop();
        test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
            auto r = co_await f.dir->groups_of("U0ALICE");
            REQUIRE_FALSE(r);
            CHECK(r.error().code == core::errc::unavailable);
            CHECK_THAT(r.error().message, Catch::Contains("cannot ask Slack for user groups"));
        }());
        CHECK_THAT(f.sink.text(), Catch::Contains("serving=nothing"));
    }
    SECTION("the token lacks usergroups:read") {
        f.slack->inject_missing_scope("usergroups.list", "usergroups:read");
        test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
            auto r = co_await f.dir->groups_of("U0ALICE");
            REQUIRE_FALSE(r);
            CHECK(r.error().code == core::errc::unavailable);
            CHECK_THAT(r.error().message, Catch::Contains("usergroups:read"));
        }());
    }
}

TEST_CASE("slack_directory: invalidate forgets the map", "[loopback]") {
    directory_fixture f;
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto first = co_await f.dir->groups_of("U0ALICE");
        REQUIRE(first);
        f.dir->invalidate();
        auto second = co_await f.dir->groups_of("U0ALICE");
        REQUIRE(second);
    }());
    CHECK(f.list_calls() == 2);
}
