// /deploy end to end in the sandbox: the real bot, driven through the fake Slack, building on
// the fake Jenkins and rolling out on the fake clusters. Each case reads like what a person
// would type, then checks what Slack, Jenkins and Kubernetes ended up with.

#include "sandbox/console_view.hpp"
#include "sandbox/fake_jenkins.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/fake_slack.hpp"
#include "sandbox/sandbox_app.hpp"
#include "storage/audit_repository.hpp"
#include "storage/database.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/sandbox_world.hpp"

#include <fmt/format.h>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <random>
#include <set>
#include <sstream>

using namespace tugboat;
using namespace std::chrono_literals;

namespace {

struct deploy_world : test::sandbox_world {
    explicit deploy_world(std::function<void(core::config&)> adjust = {})
        : sandbox_world("deploy", std::move(adjust)) {}

    /// Types `command` once the bot is up and waits until its Jenkins build runs.
    boost::asio::awaitable<void> deploy_until_building(std::string command) {
        auto up = co_await app->ready();
        REQUIRE(up);
        app->type(command);
        auto building = co_await app->slack().wait_until(
            [&] { return app->jenkins().build_count("deploy/payments-api") == 1; }, 10s);
        REQUIRE(building);
    }
    const std::string& transcript() const { return app->console().transcript(); }
    bool said(std::string_view text) const { return transcript().find(text) != std::string::npos; }
    /// Root messages of `channel` (broadcast thread replies left out), oldest first.
    std::vector<sandbox::slack_message> roots(std::string_view channel) {
        auto all = app->slack().messages(channel);
        std::erase_if(all, [](const sandbox::slack_message& m) { return m.is_reply(); });
        return all;
    }
    /// The thread of the `n`-th root message of `channel` (-1 = the newest).
    std::vector<sandbox::slack_message> thread_in(std::string_view channel, int n = -1) {
        auto r = roots(channel);
        REQUIRE_FALSE(r.empty());
        const auto& root = n < 0 ? r.back() : r.at(static_cast<std::size_t>(n));
        return app->slack().thread(channel, root.ts);
    }
};

std::string all_text(const std::vector<sandbox::slack_message>& msgs) {
    std::string out;
    for (const auto& m : msgs) {
        out += m.text + "\n" + m.blocks_json + "\n";
    }
    return out;
}

}  // namespace

TEST_CASE("deploy: dev deploy builds, rolls out and reports in one thread", "[loopback][deploy]") {
    deploy_world w;
    REQUIRE(w.script({"/deploy payments-api dev 1.4.2"}) == 0);
    auto thread = w.thread_in("C0PAYMENTS");
    std::string text = all_text(thread);
    CHECK(text.find("Stage *Test* passed") != std::string::npos);
    CHECK(text.find("is live in *dev*") != std::string::npos);
    // The root message was edited in place to the final state.
    auto root = w.roots("C0PAYMENTS").back();
    CHECK(root.text.find("✅") != std::string::npos);
    CHECK_FALSE(root.edits.empty());
    CHECK(w.app->jenkins().build_count("deploy/payments-api") == 1);
    auto image = w.app->cluster("onprem").object_json("deployments", "dev", "payments-api");
    REQUIRE(image);
    CHECK(image->find("payments-api:1.4.2") != std::string::npos);
}

TEST_CASE("deploy: while building the root message shows progress and an ETA from past runs",
          "[loopback][deploy]") {
    deploy_world w;
    // The first deploy leaves stage durations behind; the second is estimated from them.
    REQUIRE(w.script({"/deploy payments-api dev 1.4.2", "/deploy payments-api dev 1.4.3"}) == 0);
    auto root = w.roots("C0PAYMENTS").back();
    bool eta_shown = false;
    for (const auto& v : root.edits) {
        eta_shown = eta_shown || (v.blocks_json.find("ETA") != std::string::npos &&
                                  v.blocks_json.find("about ") != std::string::npos);
    }
    CHECK(eta_shown);
    CHECK(root.text.find("✅") != std::string::npos);
}

TEST_CASE("deploy: a failing stage shows the stage and the log tail", "[loopback][deploy]") {
    deploy_world w;
    REQUIRE(w.script({"/deploy payments-api dev 1.4.3-failtest"}) == 0);
    std::string text = all_text(w.thread_in("C0PAYMENTS"));
    CHECK(text.find("stage Test failed") != std::string::npos);
    CHECK(text.find("last lines of the log") != std::string::npos);
    auto root = w.roots("C0PAYMENTS").back();
    CHECK(root.text.find("❌") != std::string::npos);
    // The lock is free again: the next deploy starts at once.
    REQUIRE(w.script({"/deploy payments-api dev 1.4.4"}) == 0);
    CHECK(w.roots("C0PAYMENTS").back().text.find("✅") != std::string::npos);
}

TEST_CASE("deploy: a crash-looping rollout names the cause and shows the container's last lines",
          "[loopback][deploy]") {
    deploy_world w;
    REQUIRE(w.script({"/deploy search-web dev 2.0.0-crash"}) == 0);
    std::string text = all_text(w.thread_in("C0SEARCH", 0));
    CHECK(text.find("crash_loop") != std::string::npos);
    CHECK(text.find("Deploy failed") != std::string::npos);
    // dev rolls back by itself after a failed rollout: a second thread, started by the bot.
    auto undo = all_text(w.thread_in("C0SEARCH", 1));
    CHECK(undo.find("rolled back from revision") != std::string::npos);
    CHECK(w.roots("C0SEARCH").back().text.find("✅") != std::string::npos);
}

TEST_CASE("deploy: prod needs an approver who is not the requester", "[loopback][deploy]") {
    deploy_world w;
    REQUIRE(w.script({"/deploy payments-api dev 1.5.0", "/deploy payments-api beta 1.5.0",
                      "/deploy payments-api prod 1.5.0"}) == 0);
    CHECK(w.said("Approval needed"));
    // alice asked and is not an approver; carol is not one either; bob (SRE) is.
    REQUIRE(w.script({"deploy.approve d-000003"}) == 0);
    CHECK(w.app->jenkins().build_count("deploy/payments-api") == 2);
    REQUIRE(w.script({"@bob: deploy.approve d-000003"}) == 0);
    CHECK(w.app->jenkins().build_count("deploy/payments-api") == 3);
    std::string text = all_text(w.thread_in("C0PAYMENTS"));
    CHECK(text.find("Approved by <@U0BOB>") != std::string::npos);
    // The prod pipeline's own `input` step is asked in the thread; the requester cannot answer.
    CHECK(text.find("Release to prod now?") != std::string::npos);
    REQUIRE(w.script({"deploy.input_proceed d-000003"}) == 0);
    CHECK(w.said("someone else has to approve it"));
    REQUIRE(w.script({"@bob: deploy.input_proceed d-000003"}) == 0);
    CHECK(all_text(w.thread_in("C0PAYMENTS")).find("Proceeded Release to prod now? by <@U0BOB>") !=
          std::string::npos);
    CHECK(w.roots("C0PAYMENTS").back().text.find("✅") != std::string::npos);
}

TEST_CASE("deploy: promotion order and version format are checked before anything starts",
          "[loopback][deploy]") {
    deploy_world w;
    REQUIRE(w.script({"/deploy payments-api beta 9.9.9", "/deploy orders-api dev 1.2.3"}) == 0);
    CHECK(w.said("has not been deployed to `dev` successfully yet"));
    CHECK(w.said("is not a version of orders-api"));
    CHECK(w.app->jenkins().trigger_count("deploy/payments-api") == 0);
}

TEST_CASE("deploy: a manual lock refuses deploys until unlocked", "[loopback][deploy]") {
    deploy_world w;
    REQUIRE(w.script({"/deploy lock payments-api dev \"db migration\"",
                      "/deploy payments-api dev 1.4.2"}) == 0);
    CHECK(w.said("is locked"));
    CHECK(w.said("db migration"));
    CHECK(w.app->jenkins().trigger_count("deploy/payments-api") == 0);
    REQUIRE(w.script({"/deploy unlock payments-api dev", "/deploy payments-api dev 1.4.2"}) == 0);
    CHECK(w.app->jenkins().build_count("deploy/payments-api") == 1);
}

TEST_CASE("deploy: a second deploy queues behind the first and starts by itself",
          "[loopback][deploy]") {
    deploy_world w;
    test::run_test(
        w.ioc,
        [&]() -> boost::asio::awaitable<void> {
            auto up = co_await w.app->ready();
            REQUIRE(up);
            w.app->type("/deploy payments-api dev 1.4.2");
            w.app->type("@carol: /deploy payments-api dev 1.4.3");
            auto settled = co_await w.app->settle();
            REQUIRE(settled);
        }(),
        60s);
    CHECK(w.said("queued (position 1)"));
    CHECK(w.app->jenkins().build_count("deploy/payments-api") == 2);
    auto roots = w.roots("C0PAYMENTS");
    REQUIRE(roots.size() == 2);
    CHECK(roots[0].text.find("✅") != std::string::npos);
    CHECK(roots[1].text.find("✅") != std::string::npos);
}

TEST_CASE("deploy: cancel stops the build and frees the lock", "[loopback][deploy]") {
    deploy_world w;
    test::run_test(
        w.ioc,
        [&]() -> boost::asio::awaitable<void> {
            auto up = co_await w.app->ready();
            REQUIRE(up);
            w.app->type("/deploy payments-api dev 1.4.2");
            auto started = co_await w.app->slack().wait_until(
                [&] { return w.app->jenkins().build_count("deploy/payments-api") == 1; }, 10s);
            REQUIRE(started);
            w.app->type("/deploy cancel d-000001");
            auto settled = co_await w.app->settle();
            REQUIRE(settled);
        }(),
        60s);
    auto root = w.roots("C0PAYMENTS").back();
    CHECK(root.text.find("⏹️") != std::string::npos);
    auto build = w.app->jenkins().build("deploy/payments-api", 1);
    REQUIRE(build);
    REQUIRE(w.script({"/deploy status"}) == 0);
    CHECK(w.said("No deploys running or waiting."));
}

TEST_CASE("deploy: history lists who deployed what and how it ended", "[loopback][deploy]") {
    deploy_world w;
    REQUIRE(w.script({"/deploy payments-api dev 1.4.2", "/deploy payments-api dev 1.4.3-failbuild",
                      "/deploy history payments-api"}) == 0);
    CHECK(w.said("d-000001"));
    CHECK(w.said("d-000002"));
    CHECK(w.said("1.4.3-failbuild"));
}

namespace {

std::string utc_minute(std::chrono::system_clock::time_point t) {
    std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min);
}

}  // namespace

TEST_CASE("deploy: a freeze refuses deploys, and an allowed person overrides it, announced",
          "[loopback][deploy]") {
    deploy_world w([](core::config& c) {
        for (auto& e : c.environments) {
            if (e.name == "dev") {
                core::freeze_window f;
                f.name = "incident 123";
                auto now = std::chrono::system_clock::now();
                f.from = utc_minute(now - std::chrono::hours{1});
                f.to = utc_minute(now + std::chrono::hours{1});
                e.policy.freezes.push_back(f);
                e.policy.freeze_overriders = {"U0DAVE"};
            }
        }
    });
    REQUIRE(w.script({"/deploy payments-api dev 1.4.2",
                      "/deploy payments-api dev 1.4.2 --override-freeze \"my hotfix\""}) == 0);
    CHECK(w.said("is frozen"));
    CHECK(w.said("incident 123"));
    CHECK(w.said("may override"));  // alice may not; the answer says who may
    CHECK(w.app->jenkins().trigger_count("deploy/payments-api") == 0);
    REQUIRE(
        w.script({"@dave: /deploy payments-api dev 1.4.2 --override-freeze \"hotfix for 123\""}) ==
        0);
    std::string text = all_text(w.app->slack().messages("C0PAYMENTS"));  // broadcast included
    CHECK(text.find("Freeze overridden by <@U0DAVE>: hotfix for 123") != std::string::npos);
    CHECK(w.roots("C0PAYMENTS").back().text.find("✅") != std::string::npos);
}

TEST_CASE("deploy: Jenkins down fails the deploy with a clear message and frees the lock",
          "[loopback][deploy]") {
    deploy_world w;
    w.app->jenkins().stop();
    REQUIRE(w.script({"/deploy payments-api dev 1.4.2"}) == 0);
    std::string text = all_text(w.thread_in("C0PAYMENTS"));
    CHECK(text.find("Jenkins did not start the build") != std::string::npos);
    CHECK(w.roots("C0PAYMENTS").back().text.find("❌") != std::string::npos);
    REQUIRE(w.app->jenkins().restart());
    REQUIRE(w.script({"/deploy payments-api dev 1.4.2"}) == 0);
    CHECK(w.roots("C0PAYMENTS").back().text.find("✅") != std::string::npos);
}

TEST_CASE("deploy: a re-delivered /deploy envelope starts one deploy", "[loopback][deploy]") {
    deploy_world w;
    test::run_test(
        w.ioc,
        [&]() -> boost::asio::awaitable<void> {
            auto up = co_await w.app->ready();
            REQUIRE(up);
            auto id = w.app->slack().deliver_slash_command("U0ALICE", "C0DEPLOYS", "/deploy",
                                                           "payments-api dev 1.4.2");
            REQUIRE(id);
            auto again = nlohmann::json::parse(w.app->slack().envelope(*id)->json);
            again["envelope_id"] = "second-delivery";
            again["retry_attempt"] = 1;
            again["retry_reason"] = "timeout";
            w.app->slack().deliver_raw(again.dump());
            auto settled = co_await w.app->settle();
            REQUIRE(settled);
        }(),
        60s);
    CHECK(w.app->slack().envelope("second-delivery")->acked);
    CHECK(w.app->jenkins().trigger_count("deploy/payments-api") == 1);
    CHECK(w.roots("C0PAYMENTS").size() == 1);
}

TEST_CASE("deploy: a bot restart mid-build resumes in the same thread without a second build",
          "[loopback][deploy]") {
    deploy_world w;
    test::run_test(
        w.ioc,
        [&]() -> boost::asio::awaitable<void> {
            co_await w.deploy_until_building("/deploy payments-api dev 1.4.2");
            auto again = co_await w.app->restart_bot();
            REQUIRE(again);
            auto settled = co_await w.app->settle();
            REQUIRE(settled);
        }(),
        60s);
    CHECK(w.app->jenkins().trigger_count("deploy/payments-api") == 1);
    REQUIRE(w.roots("C0PAYMENTS").size() == 1);
    CHECK(w.roots("C0PAYMENTS").back().text.find("✅") != std::string::npos);
    CHECK(all_text(w.thread_in("C0PAYMENTS")).find("is live in *dev*") != std::string::npos);
}

TEST_CASE("deploy: an ending Slack did not show is shown after a restart", "[loopback][deploy]") {
    deploy_world w;
    test::run_test(
        w.ioc,
        [&]() -> boost::asio::awaitable<void> {
            co_await w.deploy_until_building("/deploy payments-api dev 1.4.2");
            // Every edit from now on is refused, the final one included.
            w.app->slack().inject_error("chat.update", -1, "internal_error");
            auto ended = co_await w.app->slack().wait_until(
                [&] {
                    return all_text(w.thread_in("C0PAYMENTS")).find("is live") != std::string::npos;
                },
                20s);
            REQUIRE(ended);
            auto settled = co_await w.app->settle();
            REQUIRE(settled);
            CHECK(w.roots("C0PAYMENTS").back().text.find("✅") == std::string::npos);
            w.app->slack().clear_injections();
            auto again = co_await w.app->restart_bot();
            REQUIRE(again);
            auto resettled = co_await w.app->settle();
            REQUIRE(resettled);
        }(),
        60s);
    CHECK(w.roots("C0PAYMENTS").back().text.find("✅") != std::string::npos);
    // Shown once: a second restart has nothing left to show.
    auto edits = w.roots("C0PAYMENTS").back().edits.size();
    test::run_test(
        w.ioc,
        [&]() -> boost::asio::awaitable<void> {
            auto again = co_await w.app->restart_bot();
            REQUIRE(again);
            auto settled = co_await w.app->settle();
            REQUIRE(settled);
        }(),
        30s);
    CHECK(w.roots("C0PAYMENTS").back().edits.size() == edits);
}

TEST_CASE("deploy: two approvals when two are required, and requests expire",
          "[loopback][deploy]") {
    SECTION("two approvals") {
        deploy_world w([](core::config& c) {
            for (auto& e : c.environments) {
                if (e.name == "dev") {
                    e.policy.approval.required = 2;
                    e.policy.approval.approvers = {"S0SRE"};
                }
            }
        });
        REQUIRE(w.script({"/deploy payments-api dev 1.4.2", "@bob: deploy.approve d-000001"}) == 0);
        CHECK(all_text(w.thread_in("C0PAYMENTS")).find("(1/2)") != std::string::npos);
        CHECK(w.app->jenkins().trigger_count("deploy/payments-api") == 0);
        REQUIRE(w.script({"@bob: deploy.approve d-000001"}) == 0);
        CHECK(w.said("You already approved"));
        REQUIRE(w.script({"@dave: deploy.approve d-000001"}) == 0);
        CHECK(w.app->jenkins().trigger_count("deploy/payments-api") == 1);
        CHECK(w.roots("C0PAYMENTS").back().text.find("✅") != std::string::npos);
    }
    SECTION("expiry") {
        deploy_world w([](core::config& c) {
            for (auto& e : c.environments) {
                if (e.name == "dev") {
                    e.policy.approval.required = 1;
                    e.policy.approval.approvers = {"S0SRE"};
                    e.policy.approval.expires_after = std::chrono::seconds{1};
                }
            }
        });
        test::run_test(
            w.ioc,
            [&]() -> boost::asio::awaitable<void> {
                auto up = co_await w.app->ready();
                REQUIRE(up);
                w.app->type("/deploy payments-api dev 1.4.2");
                auto expired = co_await w.app->slack().wait_until(
                    [&] {
                        return all_text(w.app->slack().messages("C0PAYMENTS")).find("⏹️") !=
                               std::string::npos;
                    },
                    10s);
                REQUIRE(expired);
            }(),
            20s);
        CHECK(all_text(w.thread_in("C0PAYMENTS")).find("Nobody approved in time") !=
              std::string::npos);
        REQUIRE(w.script({"@bob: deploy.approve d-000001"}) == 0);
        CHECK(w.said("not waiting for approval any more"));
        CHECK(w.app->jenkins().trigger_count("deploy/payments-api") == 0);
    }
}

TEST_CASE("deploy: rollback restores the previous revision in its own thread",
          "[loopback][deploy]") {
    deploy_world w;
    REQUIRE(w.script({"/deploy search-web dev 2.0.0", "/deploy rollback search-web dev"}) == 0);
    auto roots = w.roots("C0SEARCH");
    REQUIRE(roots.size() == 2);
    CHECK(roots[1].text.find("✅") != std::string::npos);
    CHECK(all_text(w.thread_in("C0SEARCH", 1)).find("rolled back from revision") !=
          std::string::npos);
    auto dep = w.app->cluster("onprem").object_json("deployments", "dev", "search-web");
    REQUIRE(dep);
    CHECK(dep->find("search-web:1.0.0") != std::string::npos);
    CHECK(dep->find("search-web:2.0.0") == std::string::npos);
}

TEST_CASE("deploy: a cluster that is down fails the rollout with its name", "[loopback][deploy]") {
    deploy_world w;
    w.app->cluster("onprem").stop();
    REQUIRE(w.script({"/deploy search-web dev 2.0.0"}) == 0);
    std::string text = all_text(w.thread_in("C0SEARCH", 0));
    CHECK(text.find("onprem") != std::string::npos);
    CHECK(w.roots("C0SEARCH").front().text.find("❌") != std::string::npos);
    REQUIRE(w.script({"/deploy status"}) == 0);
    CHECK_FALSE(w.said("search-web `2.0.0` → dev"));  // not left running
}

TEST_CASE("deploy: every request, decision and result is in the audit log", "[loopback][deploy]") {
    deploy_world w;
    REQUIRE(w.script({"/deploy payments-api dev 1.5.0", "/deploy payments-api beta 1.5.0",
                      "/deploy payments-api prod 1.5.0", "@bob: deploy.reject d-000003",
                      "/deploy lock payments-api dev \"migration\"",
                      "/deploy unlock payments-api dev"}) == 0);
    core::string_sink sink;
    core::logger log(sink);
    auto db = storage::database::open((w.options.work_dir / "tugboat.db").string(), log);
    REQUIRE(db);
    storage::audit_repository audit(*db);
    storage::audit_query q;
    q.limit = 100;
    auto entries = audit.query(q);
    REQUIRE(entries);
    std::set<std::string> actions;
    for (const auto& e : *entries) {
        actions.insert(e.action);
    }
    for (const char* a :
         {"deploy.requested", "deploy.build_triggered", "deploy.succeeded", "deploy.rejected",
          "deploy.cancelled", "deploy.locked", "deploy.unlocked"}) {
        INFO(a);
        CHECK(actions.contains(a));
    }
}
