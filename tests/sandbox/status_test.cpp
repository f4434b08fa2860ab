// /status end to end in the sandbox: the real bot, asked through the fake Slack, reading the fake
// clusters (seeded with a healthy payments-api, a crash-looping search-web in beta, a search-web
// rollout that never gets ready in prod and an unschedulable orders-api in beta; see
// sandbox_app.cpp) and the deploy history. Each case reads what the person was shown.

#include "sandbox/console_view.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/fake_slack.hpp"
#include "sandbox/sandbox_app.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/sandbox_world.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <random>
#include <sstream>

using namespace tugboat;
using namespace std::chrono_literals;

namespace {

struct world : test::sandbox_world {
    std::size_t mark = 0;
    explicit world(std::function<void(core::config&)> adjust = {})
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

bool has(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

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
    world w;
    std::string t = w.ask({"/status payments-api"});
    INFO(t);
    CHECK(has(t, "Status of payments-api"));
    CHECK(has(t, "*dev* ✅"));
    CHECK(has(t, "*beta* ✅"));
    CHECK(has(t, "*prod* ✅"));
    CHECK(
        has(t, "`onprem` dev/payments-api · `1.0.0` (registry.sandbox.local/payments-api:1.0.0)"));
    CHECK(has(t, "`cloud` prod/payments-api"));
    CHECK(has(t, "Replicas: 2 desired · 2 updated · 2 ready · 2 available"));
    CHECK(has(t, "No rollout in progress"));
    CHECK(has(t, "Restarts: 0"));
    CHECK(has(t, "No Warning events in the last 15 min"));
    CHECK(has(t, "Last deploy: none by Tugboat yet"));
    CHECK(has(t, "Not locked"));
}

TEST_CASE("status: the last deploy, a lock and a freeze are shown", "[loopback][status]") {
    world w([](core::config& c) {
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
    CHECK(has(t, "Last deploy: ✅ `d-000001` `1.4.2` by <@U0ALICE>"));
    CHECK(has(t, "succeeded"));
    // A permalink from the workspace URL auth.test gave, opening the deploy's thread.
    CHECK(has(t, ".slack.com/archives/C0PAYMENTS/p"));
    CHECK(has(t, "|its thread>"));
    CHECK(has(t, "dev/payments-api · `1.4.2`"));
    CHECK(has(t, "🔒 Locked by <@U0ALICE>"));
    CHECK(has(t, "db migration"));
    CHECK(has(t, "❄️ Frozen: freeze `launch week`"));
}

TEST_CASE("status: a rollout in progress says so and why its new pods are not ready",
          "[loopback][status]") {
    world w;
    std::string t = w.ask({"/status search-web prod"});
    INFO(t);
    CHECK(has(t, "*prod* 🚀"));
    CHECK(has(t, "🚀 Rollout in progress from `1.0.0` to `1.1.0-notready`: updated"));
    CHECK(has(t, "registry.sandbox.local/search-web:1.1.0-notready"));
    CHECK_FALSE(has(t, "*dev*"));  // only the environment asked for
    CHECK_FALSE(has(t, "beta"));
}

TEST_CASE("status: crash-looping pods show the reason, restarts and de-duplicated warnings",
          "[loopback][status]") {
    world w;
    w.wait_for_pods("onprem", "beta", "search-web", "CrashLoopBackOff");
    std::string t = w.ask({"/status search-web beta"});
    INFO(t);
    CHECK(has(t, "*beta* ❌"));
    CHECK(has(t, "keeps crashing (CrashLoopBackOff"));
    CHECK(has(t, "/logs search-web beta --previous --pod search-web-"));
    CHECK_FALSE(has(t, "Restarts: 0"));
    CHECK(has(t, "Warning events, last 15 min:"));
    // Both pods back off: one line with both, not one per pod.
    CHECK(has(t, "× BackOff (2 objects, e.g. pod/search-web-"));
}

TEST_CASE("status: pending pods show the scheduler's message", "[loopback][status]") {
    world w;
    std::string t = w.ask({"/status orders-api beta"});
    INFO(t);
    CHECK(has(t, "*beta* ❌"));
    CHECK(has(t, "no node can run"));
    CHECK(has(t, "Insufficient cpu"));
    CHECK(has(t, "× FailedScheduling"));
    CHECK(has(t, "Replicas: 2 desired · 2 updated · 0 ready · 0 available"));
}

TEST_CASE("status: every cluster of an environment has its own block", "[loopback][status]") {
    world w(both_prod_clusters);
    std::string t = w.ask({"/status payments-api prod"});
    INFO(t);
    CHECK(has(t, "`cloud` prod/payments-api · `1.0.0`"));
    CHECK(has(t, "`onprem` prod/payments-api · `1.0.0`"));
}

TEST_CASE("status: a cluster that is down shows as unreachable and hides nothing else",
          "[loopback][status]") {
    world w(both_prod_clusters);
    w.app->cluster("cloud").stop();
    std::string t = w.ask({"/status payments-api prod", "/status"});
    INFO(t);
    CHECK(has(t, "⚠️ `cloud` prod/payments-api: unreachable: cluster cloud"));
    CHECK(has(t, "`onprem` prod/payments-api · `1.0.0`"));
    CHECK(has(t, "Replicas: 2 desired"));
    // The summary too: the cell names the cluster and still counts the other one.
    CHECK(
        has(t,
            "*payments-api* · dev ✅ `1.0.0` 2/2 · beta ✅ `1.0.0` 2/2 · prod ⚠️ `1.0.0` "
            "2/2 cloud: unreachable\n"));
    CHECK(has(t, "⚠️ `cloud` namespace prod: unreachable: cluster cloud"));
}

TEST_CASE("status: a cluster slower than the deadline shows as timed out", "[loopback][status]") {
    world w(both_prod_clusters);
    // Longer than the 10 s deadline of /status, shorter than the client's own 20 s timeout.
    w.app->cluster("cloud").inject_delay(12s, 1, "/apis/apps/v1/namespaces/prod/deployments");
    std::string t = w.ask({"/status payments-api prod"});
    INFO(t);
    CHECK(has(t,
              "⚠️ `cloud` prod/payments-api: timed out: cluster cloud did not answer within "
              "10000 ms"));
    CHECK(has(t, "`onprem` prod/payments-api · `1.0.0`"));
}

TEST_CASE("status: RBAC refusals name the permission the bot lacks", "[loopback][status]") {
    world w;
    SECTION("the Deployment itself") {
        w.app->cluster("onprem").forbid("/apis/apps/v1/namespaces/dev/deployments", "get");
        std::string t = w.ask({"/status payments-api dev"});
        INFO(t);
        CHECK(has(t,
                  "forbidden: the bot (system:serviceaccount:ops:tugboat) may not `get` "
                  "`deployments` (API group apps) in namespace `dev`"));
    }
    SECTION("its pods: the rest is still shown") {
        w.app->cluster("onprem").forbid("/api/v1/namespaces/dev/pods", "list");
        std::string t = w.ask({"/status payments-api dev"});
        INFO(t);
        CHECK(has(t, "Replicas: 2 desired"));
        CHECK(has(t,
                  "pods: forbidden: the bot (system:serviceaccount:ops:tugboat) may not "
                  "`list` `pods` (API group core) in namespace `dev`"));
    }
}

TEST_CASE("status: unknown services and environments get suggestions", "[loopback][status]") {
    world w([](core::config& c) {
        for (auto& s : c.services) {
            if (s.name == "search-web") {
                s.workloads.erase("beta");
            }
        }
    });
    std::string t =
        w.ask({"/status paymnets-api", "/status payments-api prdo", "/status search-web beta"});
    INFO(t);
    CHECK(has(t, "Unknown service `paymnets-api`. Did you mean `payments-api`?"));
    CHECK(has(t, "Did you mean `prod`?"));
    CHECK(has(t,
              "`search-web` does not run in `beta`; it runs in `dev` and `prod`. Type "
              "`/status search-web dev`."));
}

TEST_CASE("status: without a service, one line per service of the channel", "[loopback][status]") {
    world w;
    w.wait_for_pods("onprem", "beta", "search-web", "CrashLoopBackOff");
    std::string payments = w.ask({"#payments: /status"});
    INFO(payments);
    CHECK(has(payments, "Services of <#C0PAYMENTS>"));
    CHECK(has(payments,
              "*payments-api* · dev ✅ `1.0.0` 2/2 · beta ✅ `1.0.0` 2/2 · prod ✅ `1.0.0` 2/2"));
    CHECK_FALSE(has(payments, "orders-api"));
    std::string all = w.ask({"/status"});
    INFO(all);
    CHECK(has(all, "All 3 services (none names <#C0DEPLOYS> as its channel)"));
    // Between back-offs a crash-looping container runs for a moment (as in a real cluster), so
    // beta's reason is CrashLoopBackOff or "Running, not ready" depending on when it is asked.
    CHECK(has(all, "*search-web* · dev ✅ `1.0.0` 2/2 · beta ❌ `1.0.0` 0/2 "));
    CHECK(has(all, " · prod 🚀 `1.0.0` → `1.1.0-notready`"));
    CHECK(has(all,
              "*orders-api* · dev ✅ `3f9c2ab` 2/2 · beta ❌ `3f9c2ab-pending` 0/2 "
              "Pending: Unschedulable"));
    // An environment alone: the same lines, that environment only.
    std::string prod = w.ask({"/status prod"});
    INFO(prod);
    CHECK(has(prod, "*search-web* · prod 🚀 `1.0.0` → `1.1.0-notready`"));
    CHECK_FALSE(has(prod, "dev ✅"));
}

TEST_CASE("status: readers of an environment are enforced with who may and what to do",
          "[loopback][status]") {
    world w([](core::config& c) {
        for (auto& e : c.environments) {
            if (e.name == "prod") {
                e.policy.readers = {"S0SRE"};
            }
        }
    });
    std::string alice = w.ask({"/status payments-api prod"});
    INFO(alice);
    CHECK(has(alice, "You may not see the status of `prod`: it is for <!subteam^S0SRE>"));
    CHECK(has(alice, "ask <@U0ALICE> (owners of payments-api) to add you to the `readers`"));
    CHECK_FALSE(has(alice, "Replicas:"));
    std::string all_envs = w.ask({"/status payments-api"});
    INFO(all_envs);
    CHECK(has(all_envs, "*prod* — not shown: You may not see the status of `prod`"));
    CHECK(has(all_envs, "*dev* ✅"));
    std::string bob = w.ask({"@bob: /status payments-api prod"});
    INFO(bob);
    CHECK(has(bob, "Replicas: 2 desired"));
}
