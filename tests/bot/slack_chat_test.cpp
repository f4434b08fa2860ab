// The Slack chat and its send queue against the fake Slack: real HTTP, Slack's reply shapes,
// 429s, 5xx, coalescing and ordering.
//
// Never co_await inside a Catch assertion macro: GCC 12 evaluates the operand twice there.

#include "bot/slack_chat.hpp"
#include "bot/slack_send_queue.hpp"
#include "bot/slack_web_api.hpp"
#include "integrations/http_client.hpp"
#include "sandbox/fake_slack.hpp"
#include "tests/support/run_test.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <optional>

namespace asio = boost::asio;
using namespace tugboat;
using commands::message;
using commands::message_ref;

namespace {

struct chat_fixture {
    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink, core::log_level::debug};
    core::config cfg;
    std::optional<sandbox::fake_slack> slack;
    std::optional<integrations::http_client> http;
    std::optional<bot::slack_web_api> api;
    std::optional<bot::slack_send_queue> queue;
    std::optional<bot::slack_chat> chat;

    explicit chat_fixture(bot::send_queue_options q = fast()) {
        auto opts = sandbox::sandbox_slack_workspace();
        auto s = sandbox::fake_slack::start(ioc.get_executor(), opts);
        REQUIRE(s);
        slack.emplace(std::move(*s));
        auto h = integrations::http_client::create(ioc.get_executor(), log, {});
        REQUIRE(h);
        http.emplace(std::move(*h));
        api.emplace(*http, slack->api_url(), core::secret(opts.bot_token), log);
        queue.emplace(ioc.get_executor(), *api, log, q);
        cfg.channels.push_back({"deploys", "C0DEPLOYS"});
        cfg.channels.push_back({"random", "C0RANDOM"});
        chat.emplace(*queue, *api, cfg, log);
    }

    static bot::send_queue_options fast() {
        bot::send_queue_options o;
        o.initial_backoff = std::chrono::milliseconds{10};
        o.max_backoff = std::chrono::milliseconds{50};
        o.max_attempts = 3;
        return o;
    }

    std::string deploys() const { return "C0DEPLOYS"; }
};

message text(std::string s) {
    return commands::plain_message(std::move(s));
}

/// Waits until `n` spawned calls have counted themselves in `done`.
asio::awaitable<void> all_done(const int& done, int n) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (done < n) {
        t.expires_after(std::chrono::milliseconds{5});
        co_await t.async_wait(asio::use_awaitable);
    }
}

}  // namespace

TEST_CASE("slack_chat: post, reply, update, ephemeral, DM and upload land in Slack",
          "[slack_chat][loopback]") {
    chat_fixture f;
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto root = co_await f.chat->post(f.deploys(), text("Deploying payments-api"));
        REQUIRE(root);
        CHECK(root->channel == "C0DEPLOYS");
        auto reply = co_await f.chat->reply(*root, text("Build queued"), false);
        REQUIRE(reply);
        auto updated =
            co_await f.chat->update(*root, text("Deploying payments-api: building"), true);
        REQUIRE(updated);
        auto only_you = co_await f.chat->ephemeral(f.deploys(), "U0ALICE", "", text("only you"));
        REQUIRE(only_you);
        auto dm = co_await f.chat->dm("U0BOB", text("please approve"));
        REQUIRE(dm);
        auto file = co_await f.chat->upload(f.deploys(), root->ts, "build.log", "line 1\nline 2\n",
                                            "Build log");
        REQUIRE(file);
    }());
    auto thread = f.slack->thread("C0DEPLOYS", f.slack->messages("C0DEPLOYS").front().ts);
    REQUIRE(thread.size() >= 2);
    CHECK(thread[1].text.find("Build queued") != std::string::npos);
    CHECK(f.slack->messages("C0DEPLOYS").front().text.find("building") != std::string::npos);
    REQUIRE(f.slack->ephemerals_for("U0ALICE").size() == 1);
    CHECK(f.slack->messages(f.slack->dm_channel("U0BOB")).size() == 1);
    REQUIRE(f.slack->files().size() == 1);
    CHECK(f.slack->files()[0].content == "line 1\nline 2\n");
    CHECK(f.slack->files()[0].channel == "C0DEPLOYS");
    CHECK(f.queue->stats().sent >= 6);
    CHECK(f.queue->stats().failed == 0);
}

TEST_CASE("slack_chat: reactions and deletions, each done once however often asked",
          "[slack_chat][loopback]") {
    chat_fixture f;
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto root = co_await f.chat->post(f.deploys(), text("Where is the runbook?"));
        REQUIRE(root);
        auto seen = co_await f.chat->react(*root, "eyes");
        CHECK(seen);
        auto again = co_await f.chat->react(*root, "eyes");  // already_reacted is fine
        CHECK(again);
        auto bad = co_await f.chat->react(*root, ":eyes:");
        REQUIRE_FALSE(bad);
        CHECK(bad.error().message.find("invalid_name") != std::string::npos);
        auto note = co_await f.chat->post(f.deploys(), text("Looking it up…"));
        REQUIRE(note);
        auto gone = co_await f.chat->remove(*note);
        CHECK(gone);
        auto gone_again = co_await f.chat->remove(*note);  // message_not_found is fine
        CHECK(gone_again);
    }());
    auto all = f.slack->messages("C0DEPLOYS");  // deleted messages are not listed
    REQUIRE(all.size() == 1);
    CHECK(all[0].text.find("runbook") != std::string::npos);
    CHECK(all[0].reactions["eyes"] == std::vector<std::string>{f.slack->options().bot_user_id});
}

TEST_CASE("slack_chat: 429 + Retry-After is honoured and the message still arrives",
          "[slack_chat][loopback]") {
    chat_fixture f;
    f.slack->inject_ratelimit("chat.postMessage", 1, 1);
    auto started = std::chrono::steady_clock::now();
    test::run_test(
        f.ioc,
        [&]() -> asio::awaitable<void> {
            auto r = co_await f.chat->post(f.deploys(), text("hello"));
            REQUIRE(r);
        }(),
        std::chrono::seconds{10});
    CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds{950});
    CHECK(f.queue->stats().rate_limited == 1);
    CHECK(f.slack->messages("C0DEPLOYS").size() == 1);
    CHECK(f.slack->calls("chat.postMessage").size() == 2);
}

TEST_CASE(
    "slack_chat: 5xx is retried with backoff, a call that keeps failing is logged and counted",
    "[slack_chat][loopback]") {
    chat_fixture f;
    SECTION("transient") {
        f.slack->inject_http_status("chat.postMessage", 2, 500);
        test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
            auto r = co_await f.chat->post(f.deploys(), text("eventually"));
            REQUIRE(r);
        }());
        CHECK(f.queue->stats().retried == 2);
        CHECK(f.slack->messages("C0DEPLOYS").size() == 1);
    }
    SECTION("permanent") {
        f.slack->inject_http_status("chat.postMessage", 10, 503);
        test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
            auto r = co_await f.chat->post(f.deploys(), text("never"));
            REQUIRE_FALSE(r);
            CHECK(r.error().message.find("after 3 attempts") != std::string::npos);
        }());
        CHECK(f.queue->stats().failed == 1);
        CHECK(f.sink.text().find("event=slack_call_failed") != std::string::npos);
    }
}

TEST_CASE("slack_chat: queued updates of one message are coalesced to the newest",
          "[slack_chat][loopback]") {
    chat_fixture f;
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto root = co_await f.chat->post(f.deploys(), text("progress 0%"));
        REQUIRE(root);
        // Twenty updates issued at once, as a busy rollout would; none awaited in between.
        int done = 0;
        for (int i = 1; i <= 20; ++i) {
            asio::co_spawn(
                f.ioc,
                [&, i, ref = *root]() -> asio::awaitable<void> {
                    auto r = co_await f.chat->update(ref, text(fmt::format("progress {}%", i * 5)),
                                                     false);
                    CHECK(r);
                    ++done;
                },
                asio::detached);
        }
        co_await all_done(done, 20);
    }());
    auto updates = f.slack->calls("chat.update").size();
    CHECK(updates <= 2);  // the first may already be in flight when the rest arrive
    CHECK(f.queue->stats().coalesced >= 18);
    CHECK(f.slack->messages("C0DEPLOYS").front().text.find("progress 100%") != std::string::npos);
}

TEST_CASE("slack_chat: replies keep their order and posting stays within Slack's pace",
          "[slack_chat][loopback]") {
    bot::send_queue_options q = chat_fixture::fast();
    q.channel_interval = std::chrono::milliseconds{100};  // the fake's limit is scaled to match
    chat_fixture f(q);
    f.slack->enforce_rate_limits(false);
    test::run_test(
        f.ioc,
        [&]() -> asio::awaitable<void> {
            auto root = co_await f.chat->post(f.deploys(), text("root"));
            REQUIRE(root);
            int done = 0;
            for (int i = 0; i < 8; ++i) {
                asio::co_spawn(
                    f.ioc,
                    [&, i, ref = *root]() -> asio::awaitable<void> {
                        auto r =
                            co_await f.chat->reply(ref, text(fmt::format("step {}", i)), false);
                        CHECK(r);
                        ++done;
                    },
                    asio::detached);
            }
            co_await all_done(done, 8);
        }(),
        std::chrono::seconds{10});
    auto msgs = f.slack->messages("C0DEPLOYS");
    auto thread = f.slack->thread("C0DEPLOYS", msgs.front().ts);
    REQUIRE(thread.size() == 9);
    for (int i = 0; i < 8; ++i) {
        CHECK(thread[static_cast<std::size_t>(i) + 1].text.find(fmt::format("step {}", i)) !=
              std::string::npos);
    }
}

TEST_CASE(
    "slack_chat: edits waiting for chat.update's budget go oldest first, milestones "
    "before progress, and hold back no thread replies",
    "[slack_chat][loopback]") {
    bot::send_queue_options q = chat_fixture::fast();
    q.channel_interval = std::chrono::milliseconds{10};
    q.budget_scale = 1.2;  // chat.update: a burst of 6, then ~0.9 a second
    chat_fixture f(q);
    f.slack->enforce_rate_limits(false);
    std::vector<message_ref> roots;
    std::chrono::steady_clock::time_point replies_done{};
    test::run_test(
        f.ioc,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < 10; ++i) {
                auto root = co_await f.chat->post(f.deploys(), text(fmt::format("root {}", i)));
                REQUIRE(root);
                roots.push_back(*root);
            }
            int done = 0;
            for (const auto& ref : roots) {
                asio::co_spawn(
                    f.ioc,
                    [&, ref]() -> asio::awaitable<void> {
                        auto r = co_await f.chat->update(ref, text("progress"), false);
                        CHECK(r);
                        ++done;
                    },
                    asio::detached);
            }
            // The last root's deploy ends while its progress edit still waits: the newer
            // content replaces it and jumps the line.
            asio::co_spawn(
                f.ioc,
                [&, ref = roots.back()]() -> asio::awaitable<void> {
                    auto r = co_await f.chat->update(ref, text("done"), true);
                    CHECK(r);
                },
                asio::detached);
            for (int i = 0; i < 3; ++i) {
                auto r =
                    co_await f.chat->reply(roots.front(), text(fmt::format("step {}", i)), false);
                CHECK(r);
            }
            replies_done = std::chrono::steady_clock::now();
            co_await all_done(done, 10);
        }(),
        std::chrono::seconds{20});
    auto updates = f.slack->calls("chat.update");
    REQUIRE(updates.size() == 10);
    for (std::size_t i : {0, 1, 2, 3, 4, 5}) {  // the burst
        CHECK(updates[i].arg("ts") == roots[i].ts);
    }
    CHECK(updates[6].arg("ts") == roots[9].ts);
    CHECK(updates[6].args_json.find("done") != std::string::npos);
    for (std::size_t i : {7, 8, 9}) {
        CHECK(updates[i].arg("ts") == roots[i - 1].ts);
    }
    // Four edits had to wait for tokens; the thread's replies did not wait for them.
    CHECK(replies_done < updates.back().at);
    CHECK(updates.back().at - updates.front().at > std::chrono::seconds{3});
    CHECK(f.slack->thread("C0DEPLOYS", roots.front().ts).size() == 4);
}

TEST_CASE("slack_chat: the default pace never exceeds Slack's per-channel posting limit",
          "[slack_chat][loopback]") {
    chat_fixture f;  // 1 message/s per channel after a burst of 3; the fake allows a burst of 4
    test::run_test(
        f.ioc,
        [&]() -> asio::awaitable<void> {
            int done = 0;
            for (int i = 0; i < 6; ++i) {
                asio::co_spawn(
                    f.ioc,
                    [&, i]() -> asio::awaitable<void> {
                        auto r = co_await f.chat->post(f.deploys(), text(fmt::format("m{}", i)));
                        CHECK(r);
                        ++done;
                    },
                    asio::detached);
            }
            co_await all_done(done, 6);
        }(),
        std::chrono::seconds{10});
    CHECK(f.slack->messages("C0DEPLOYS").size() == 6);
    CHECK(f.slack->rate_violations("chat.postMessage") == 0);
}

TEST_CASE("slack_chat: Slack's refusals become messages that say what to do",
          "[slack_chat][loopback]") {
    chat_fixture f;
    test::run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto r = co_await f.chat->post("C0RANDOM", text("hi"));
        REQUIRE_FALSE(r);
        CHECK(r.error().message.find("/invite @tugboat") != std::string::npos);
        CHECK(r.error().message.find("#random") != std::string::npos);
        f.slack->inject_missing_scope("chat.postEphemeral", "chat:write", 1);
        auto e = co_await f.chat->ephemeral(f.deploys(), "U0ALICE", "", text("x"));
        REQUIRE_FALSE(e);
        CHECK(e.error().code == core::errc::permission_denied);
        CHECK(e.error().message.find("`chat:write`") != std::string::npos);
    }());
    CHECK(f.queue->stats().refused == 2);
}
