// /status end to end in the sandbox: the real bot, asked through the fake Slack, reading the fake
// clusters (seeded with a healthy payments-api, a crash-looping search-web in beta, a search-web
// rollout that never gets ready in prod and an unschedulable orders-api in beta; see
// sandbox_app.cpp) and the deploy history. Each case reads what the person was shown.

#include "sandbox/console_view.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/fake_slack.hpp"
#include "sandbox/sandbox_app.hpp"
#include "tests/support/contains.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/sandbox_world.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <random>
#include <sstream>

using namespace tugboat;
using namespace std::chrono_literals;
using test::contains;

namespace {

struct status_world : test::sandbox_world {
    std::size_t mark = 0;
    explicit status_world(std::function<void(core::config&)> adjust = {})
        : sandbox_world("status", std::move(adjust), 200) {}

    /// Types the lines and returns the mrkdwn of every answer only the asker saw (what Slack
    /// received, before any rendering), one block per line.
    std::string ask(std::vector<std::string> lines) {
        mark = app->slack().ephemerals().size();
        int rc = test::run_test(ioc, app->run_script(std::move(lines)), 60s);
        REQUIRE(rc == 0);
        std::string out;
        const auto& all = app->slack().ephemerals();
        for (std::size_t i = mark; i < all.size(); ++i) {
            out += texts_of(all[i].blocks_json, all[i].text);
        }
        return out;
    }

    static void collect(const nlohmann::json& j, std::string& out) {
        if (j.is_object()) {
            for (const auto& [k, v] : j.items()) {
                if (k == "text" && v.is_string()) {
                    out += v.get<std::string>() + "\n";
                } else {
                    collect(v, out);
                }
            }
        } else if (j.is_array()) {
            for (const auto& v : j) {
                collect(v, out);
            }
        }
    }
    static std::string texts_of(const std::string& blocks_json, const std::string& fallback) {
        auto blocks = nlohmann::json::parse(blocks_json, nullptr, false);
        if (blocks.is_discarded() || blocks.empty()) {
            return fallback + "\n";
        }
        std::string out;
        collect(blocks, out);
        return out;
    }

    /// Waits until the cluster shows `text` in the pods of ns/deployment.
    void wait_for_pods(const std::string& cluster, const std::string& ns,
                       const std::string& deployment, const std::string& text) {
        auto& k = app->cluster(cluster);
        bool seen = test::run_test(ioc,
                                   k.wait_until(
                                       [&] {
                                           for (const auto& pod : k.pods_of(ns, deployment)) {
                                               auto json = k.object_json("pods", ns, pod);
                                               if (json && json->find(text) != std::string::npos) {
                                                   return true;
                                               }
                                           }
                                           return false;
                                       },
                                       10s),
                                   15s);
        REQUIRE(seen);
    }
};

void both_prod_clusters(core::config& c) {
    for (auto& e : c.environments) {
        if (e.name == "prod") {
            e.clusters = {"cloud", "onprem"};
        }
    }
}

}  // namespace

TEST_CASE("status: a healthy service shows version, replicas and rollout per environment",
          "[loopback][status]") {
    status_world w;
    std::string t = w.ask({"/status payments-api"});
    INFO(t);
    CHECK(contains(t, "Status of payments-api"));
    CHECK(contains(t, "*dev* ✅"));
    CHECK(contains(t, "*beta* ✅"));
    CHECK(contains(t, "*prod* ✅"));
    CHECK(contains(
        t, "`onprem` dev/payments-api · `1.0.0` (registry.sandbox.local/payments-api:1.0.0)"));
    CHECK(contains(t, "`cloud` prod/payments-api"));
    CHECK(contains(t, "Replicas: 2 desired · 2 updated · 2 ready · 2 available"));
    CHECK(contains(t, "No rollout in progress"));
    CHECK(contains(t, "Restarts: 0"));
    CHECK(contains(t, "No Warning events in the last 15 min"));
    CHECK(contains(t, "Last deploy: none by Tugboat yet"));
    CHECK(contains(t, "Not locked"));
}

TEST_CASE("status: the last deploy, a lock and a freeze are shown", "[loopback][status]") {
    status_world w([](core::config& c) {
        for (auto& e : c.environments) {
            if (e.name == "beta") {
                core::freeze_window f;
                f.name = "launch week";
                f.from = "2000-01-01T00:00";
                f.to = "2100-01-01T00:00";
                e.policy.freezes.push_back(f);
            }
        }
    });
    std::string t =
        w.ask({"/deploy payments-api dev 1.4.2", "/deploy lock payments-api dev \"db migration\"",
               "/status payments-api"});
    INFO(t);
    CHECK(contains(t, "Last deploy: ✅ `d-000001` `1.4.2` by <@U0ALICE>"));
    CHECK(contains(t, "succeeded"));
    // A permalink from the workspace URL auth.test gave, opening the deploy's thread.
    CHECK(contains(t, ".slack.com/archives/C0PAYMENTS/p"));
    CHECK(contains(t, "|its thread>"));
    CHECK(contains(t, "dev/payments-api · `1.4.2`"));
    CHECK(contains(t, "🔒 Locked by <@U0ALICE>"));
    CHECK(contains(t, "db migration"));
    CHECK(contains(t, "❄️ Frozen: freeze `launch week`"));
}

TEST_CASE("status: a rollout in progress says so and why its new pods are not ready",
          "[loopback][status]") {
    status_world w;
    std::string t = w.ask({"/status search-web prod"});
    INFO(t);
    CHECK(contains(t, "*prod* 🚀"));
    CHECK(contains(t, "🚀 Rollout in progress from `1.0.0` to `1.1.0-notready`: updated"));
    CHECK(contains(t, "registry.sandbox.local/search-web:1.1.0-notready"));
    CHECK_FALSE(contains(t, "*dev*"));  // only the environment asked for
    CHECK_FALSE(contains(t, "beta"));
}

TEST_CASE("status: crash-looping pods show the reason, restarts and de-duplicated warnings",
          "[loopback][status]") {
    status_world w;
    w.wait_for_pods("onprem", "beta", "search-web", "CrashLoopBackOff");
    std::string t = w.ask({"/status search-web beta"});
    INFO(t);
    CHECK(contains(t, "*beta* ❌"));
    CHECK(contains(t, "keeps crashing (CrashLoopBackOff"));
    CHECK(contains(t, "/logs search-web beta --previous --pod search-web-"));
    CHECK_FALSE(contains(t, "Restarts: 0"));
    CHECK(contains(t, "Warning events, last 15 min:"));
    // Both pods back off: one line with both, not one per pod.
    CHECK(contains(t, "× BackOff (2 objects, e.g. pod/search-web-"));
}

TEST_CASE("status: pending pods show the scheduler's message", "[loopback][status]") {
    status_world w;
    std::string t = w.ask({"/status orders-api beta"});
    INFO(t);
    CHECK(contains(t, "*beta* ❌"));
    CHECK(contains(t, "no node can run"));
    CHECK(contains(t, "Insufficient cpu"));
    CHECK(contains(t, "× FailedScheduling"));
    CHECK(contains(t, "Replicas: 2 desired · 2 updated · 0 ready · 0 available"));
}

TEST_CASE("status: every cluster of an environment has its own block", "[loopback][status]") {
    status_world w(both_prod_clusters);
    std::string t = w.ask({"/status payments-api prod"});
    INFO(t);
    CHECK(contains(t, "`cloud` prod/payments-api · `1.0.0`"));
    CHECK(contains(t, "`onprem` prod/payments-api · `1.0.0`"));
}

TEST_CASE("status: a cluster that is down shows as unreachable and hides nothing else",
          "[loopback][status]") {
    status_world w(both_prod_clusters);
    w.app->cluster("cloud").stop();
    std::string t = w.ask({"/status payments-api prod", "/status"});
    INFO(t);
    CHECK(contains(t, "⚠️ `cloud` prod/payments-api: unreachable: cluster cloud"));
    CHECK(contains(t, "`onprem` prod/payments-api · `1.0.0`"));
    CHECK(contains(t, "Replicas: 2 desired"));
    // The summary too: the cell names the cluster and still counts the other one.
    CHECK(contains(
        t,
        "*payments-api* · dev ✅ `1.0.0` 2/2 · beta ✅ `1.0.0` 2/2 · prod ⚠️ `1.0.0` "
        "2/2 cloud: unreachable\n"));
    CHECK(contains(t, "⚠️ `cloud` namespace prod: unreachable: cluster cloud"));
}

TEST_CASE("status: a cluster slower than the deadline shows as timed out",
          "[loopback][status][slow]") {
    status_world w(both_prod_clusters);
    // Longer than the 10 s deadline of /status, shorter than the client's own 20 s timeout.
    w.app->cluster("cloud").inject_delay(12s, 1, "/apis/apps/v1/namespaces/prod/deployments");
    std::string t = w.ask({"/status payments-api prod"});
    INFO(t);
    CHECK(
        contains(t,
                 "⚠️ `cloud` prod/payments-api: timed out: cluster cloud did not answer within "
                 "10000 ms"));
    CHECK(contains(t, "`onprem` prod/payments-api · `1.0.0`"));
}

TEST_CASE("status: RBAC refusals name the permission the bot lacks", "[loopback][status]") {
    status_world w;
    SECTION("the Deployment itself") {
        w.app->cluster("onprem").forbid("/apis/apps/v1/namespaces/dev/deployments", "get");
        std::string t = w.ask({"/status payments-api dev"});
        INFO(t);
        CHECK(contains(t,
                       "forbidden: the bot (system:serviceaccount:ops:tugboat) may not `get` "
                       "`deployments` (API group apps) in namespace `dev`"));
    }
    SECTION("its pods: the rest is still shown") {
        w.app->cluster("onprem").forbid("/api/v1/namespaces/dev/pods", "list");
        std::string t = w.ask({"/status payments-api dev"});
        INFO(t);
        CHECK(contains(t, "Replicas: 2 desired"));
        CHECK(contains(t,
                       "pods: forbidden: the bot (system:serviceaccount:ops:tugboat) may not "
                       "`list` `pods` (API group core) in namespace `dev`"));
    }
}

TEST_CASE("status: unknown services and environments get suggestions", "[loopback][status]") {
    status_world w([](core::config& c) {
        for (auto& s : c.services) {
            if (s.name == "search-web") {
                s.workloads.erase("beta");
            }
        }
    });
    std::string t =
        w.ask({"/status paymnets-api", "/status payments-api prdo", "/status search-web beta"});
    INFO(t);
    CHECK(contains(t, "Unknown service `paymnets-api`. Did you mean `payments-api`?"));
    CHECK(contains(t, "Did you mean `prod`?"));
    CHECK(contains(t,
                   "`search-web` does not run in `beta`; it runs in `dev` and `prod`. Type "
                   "`/status search-web dev`."));
}

TEST_CASE("status: without a service, one line per service of the channel", "[loopback][status]") {
    status_world w;
    w.wait_for_pods("onprem", "beta", "search-web", "CrashLoopBackOff");
    std::string payments = w.ask({"#payments: /status"});
    INFO(payments);
    CHECK(contains(payments, "Services of <#C0PAYMENTS>"));
    CHECK(contains(payments,
                   "*payments-api* · dev ✅ `1.0.0` 2/2 · beta ✅ `1.0.0` 2/2 · prod ✅ `1.0.0` 2/2"));
    CHECK_FALSE(contains(payments, "orders-api"));
    std::string all = w.ask({"/status"});
    INFO(all);
    CHECK(contains(all, "All 3 services (none names <#C0DEPLOYS> as its channel)"));
    // Between back-offs a crash-looping container runs for a moment (as in a real cluster), so
    // beta's reason is CrashLoopBackOff or "Running, not ready" depending on when it is asked.
    CHECK(contains(all, "*search-web* · dev ✅ `1.0.0` 2/2 · beta ❌ `1.0.0` 0/2 "));
    CHECK(contains(all, " · prod 🚀 `1.0.0` → `1.1.0-notready`"));
    CHECK(contains(all,
                   "*orders-api* · dev ✅ `3f9c2ab` 2/2 · beta ❌ `3f9c2ab-pending` 0/2 "
                   "Pending: Unschedulable"));
    // An environment alone: the same lines, that environment only.
    std::string prod = w.ask({"/status prod"});
    INFO(prod);
    CHECK(contains(prod, "*search-web* · prod 🚀 `1.0.0` → `1.1.0-notready`"));
    CHECK_FALSE(contains(prod, "dev ✅"));
}

TEST_CASE("status: readers of an environment are enforced with who may and what to do",
          "[loopback][status]") {
    status_world w([](core::config& c) {
        for (auto& e : c.environments) {
            if (e.name == "prod") {
                e.policy.readers = {"S0SRE"};
            }
        }
    });
    std::string alice = w.ask({"/status payments-api prod"});
    INFO(alice);
    CHECK(contains(alice, "You may not see the status of `prod`: it is for <!subteam^S0SRE>"));
    CHECK(contains(alice, "ask <@U0ALICE> (owners of payments-api) to add you to the `readers`"));
    CHECK_FALSE(contains(alice, "Replicas:"));
    std::string all_envs = w.ask({"/status payments-api"});
    INFO(all_envs);
    CHECK(contains(all_envs, "*prod* — not shown: You may not see the status of `prod`"));
    CHECK(contains(all_envs, "*dev* ✅"));
    std::string bob = w.ask({"@bob: /status payments-api prod"});
    INFO(bob);
    CHECK(contains(bob, "Replicas: 2 desired"));
}
