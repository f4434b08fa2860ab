// /logs end to end in the sandbox: the real bot, driven through the fake Slack, reading pod logs
// from the fake clusters. Each case types what a person would and checks what reached Slack.

#include "sandbox/console_view.hpp"
#include "sandbox/fake_jenkins.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/fake_slack.hpp"
#include "sandbox/sandbox_app.hpp"
#include "storage/database.hpp"
#include "storage/grant_repository.hpp"
#include "tests/support/contains.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/sandbox_world.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <sstream>

using namespace tugboat;
using namespace std::chrono_literals;
using test::contains;

namespace {

constexpr const char* logs_channel = "C0DEPLOYS";  // where the sandbox types slash commands

struct logs_world : test::sandbox_world {
    explicit logs_world(std::function<void(core::config&)> adjust = {})
        : sandbox_world("logs", std::move(adjust)) {}

    const std::string& transcript() const { return app->console().transcript(); }
    bool said(std::string_view text) const { return transcript().find(text) != std::string::npos; }
    sandbox::fake_kubernetes& onprem() { return app->cluster("onprem"); }
    sandbox::fake_kubernetes& cloud() { return app->cluster("cloud"); }
    std::vector<std::string> pods(sandbox::fake_kubernetes& k, std::string ns = "dev",
                                  std::string deployment = "payments-api") {
        auto p = k.pods_of(ns, deployment);
        REQUIRE(p.size() == 2);
        return p;
    }
    /// The newest root message the bot posted in #deploys.
    sandbox::slack_message root() {
        auto all = app->slack().messages(logs_channel);
        std::erase_if(
            all, [](const sandbox::slack_message& m) { return m.is_reply() || !m.from_bot(); });
        REQUIRE_FALSE(all.empty());
        return all.back();
    }
    /// Text and blocks of the newest root message's thread (the root included).
    std::string thread_text() {
        std::string text;
        for (const auto& m : app->slack().thread(logs_channel, root().ts)) {
            text += m.text + "\n" + m.blocks_json + "\n";
        }
        return text;
    }
    /// The files shared in the newest root message's thread.
    std::vector<sandbox::slack_file> thread_files() {
        std::vector<sandbox::slack_file> out;
        auto ts = root().ts;
        for (const auto& f : app->slack().files()) {
            if (f.channel == logs_channel && f.thread_ts == ts) {
                out.push_back(f);
            }
        }
        return out;
    }
    /// Everything the fake Slack holds: messages, ephemerals and files.
    std::string everything_in_slack() {
        std::string all = transcript();
        for (const auto& f : app->slack().files()) {
            all += f.content;
        }
        for (const auto& m : app->slack().messages(logs_channel)) {
            all += m.text + m.blocks_json;
        }
        return all;
    }
};

/// dev runs on both sandbox clusters instead of onprem only.
void dev_on_both_clusters(core::config& c) {
    for (auto& e : c.environments) {
        if (e.name == "dev") {
            e.clusters = {"onprem", "cloud"};
        }
    }
}

std::string suffix(const std::string& pod) {
    return pod.substr(pod.rfind('-') + 1);
}

}  // namespace

TEST_CASE("logs: lines of every pod, merged by time with a pod prefix, in a thread",
          "[loopback][logs]") {
    logs_world w;
    auto p = w.pods(w.onprem());
    // Interleaved appends: the merged output must interleave them the same way.
    REQUIRE(w.onprem().append_pod_log("dev", p[0], "payments-api", "line-a1 first"));
    REQUIRE(w.onprem().append_pod_log("dev", p[1], "payments-api", "line-b1 second"));
    REQUIRE(w.onprem().append_pod_log("dev", p[0], "payments-api", "line-a2 third"));
    REQUIRE(w.onprem().append_pod_log("dev", p[1], "payments-api", "line-b2 fourth"));
    REQUIRE(w.script({"/logs payments-api dev"}) == 0);

    auto root = w.root();
    CHECK(contains(root.blocks_json, "Logs of `payments-api` in `dev`"));
    CHECK(contains(root.blocks_json, "2 pods on `onprem`"));
    auto text = w.thread_text();
    auto a1 = text.find("line-a1");
    auto b1 = text.find("line-b1");
    auto a2 = text.find("line-a2");
    auto b2 = text.find("line-b2");
    REQUIRE(b2 != std::string::npos);
    CHECK(a1 < b1);
    CHECK(b1 < a2);
    CHECK(a2 < b2);
    // Each line carries its pod's short name.
    CHECK(contains(text, suffix(p[0]) + " "));
    CHECK(contains(text, suffix(p[1]) + " "));
    // The fake was asked for timestamps, the tail and the window.
    auto reqs = w.onprem().requests();
    bool asked = false;
    for (const auto& r : reqs) {
        if (contains(r.target, "/log?") && contains(r.target, "timestamps=true") &&
            contains(r.target, "tailLines=100") && contains(r.target, "sinceSeconds=900") &&
            contains(r.target, "limitBytes=")) {
            asked = true;
        }
    }
    CHECK(asked);
}

TEST_CASE("logs: secrets are redacted before anything reaches Slack", "[loopback][logs]") {
    logs_world w;
    auto p = w.pods(w.onprem());
    for (std::string line :
         {"connecting with password=hunter2 to db", "GET /me Authorization: Bearer tok-abc.def",
          "aws key AKIAIOSFODNN7EXAMPLE loaded", "-----BEGIN RSA PRIVATE KEY-----",
          "MIIEowIBAAKCAQEAsecretkeymaterial", "-----END RSA PRIVATE KEY-----",
          "dsn postgres://app:pa55word@db:5432/payments"}) {
        REQUIRE(w.onprem().append_pod_log("dev", p[0], "payments-api", line));
    }
    REQUIRE(w.script({"/logs payments-api dev"}) == 0);
    auto text = w.thread_text();
    CHECK(contains(text, "password=[redacted]"));
    CHECK(contains(text, "Bearer [redacted]"));
    CHECK(contains(text, "secrets hidden in"));
    auto all = w.everything_in_slack();
    for (const char* secret :
         {"hunter2", "tok-abc.def", "AKIAIOSFODNN7EXAMPLE", "secretkeymaterial", "pa55word"}) {
        INFO(secret);
        CHECK_FALSE(contains(all, secret));
    }
}

TEST_CASE("logs: config patterns are redacted too", "[loopback][logs]") {
    logs_world w([](core::config& c) { c.logs.redact_patterns = {R"(card=[0-9]{12,19})"}; });
    auto p = w.pods(w.onprem());
    REQUIRE(w.onprem().append_pod_log("dev", p[0], "payments-api", "charge card=4111111111111111"));
    REQUIRE(w.script({"/logs payments-api dev"}) == 0);
    CHECK(contains(w.thread_text(), "charge [redacted]"));
    CHECK_FALSE(contains(w.everything_in_slack(), "4111111111111111"));
}

TEST_CASE("logs: --grep keeps matching lines and a bad pattern is explained", "[loopback][logs]") {
    logs_world w;
    auto p = w.pods(w.onprem());
    REQUIRE(w.onprem().append_pod_log("dev", p[0], "payments-api", "upstream timeout after 5s"));
    REQUIRE(w.onprem().append_pod_log("dev", p[1], "payments-api", "request ok"));
    REQUIRE(w.onprem().append_pod_log("dev", p[1], "payments-api", "db timeout (pool)"));
    REQUIRE(w.script({"/logs payments-api dev --grep \"timeout after|pool\\)\""}) == 0);
    auto text = w.thread_text();
    CHECK(contains(text, "upstream timeout after 5s"));
    CHECK(contains(text, "db timeout (pool)"));
    CHECK_FALSE(contains(text, "request ok"));
    CHECK_FALSE(contains(text, "listening on"));

    SECTION("a pattern that does not compile") {
        REQUIRE(w.script({"/logs payments-api dev --grep \"(unclosed\""}) == 0);
        CHECK(w.said("is not a valid regular expression"));
        CHECK(w.said("--grep"));
    }
}

TEST_CASE("logs: --previous reads the crashed container and notes pods that did not restart",
          "[loopback][logs]") {
    logs_world w;
    auto p = w.pods(w.onprem());
    REQUIRE(w.onprem().set_pod_logs("dev", p[0], "payments-api",
                                    {"panic: nil map", "goroutine 1 [running]"}, true));
    REQUIRE(w.script({"/logs payments-api dev --previous"}) == 0);
    auto text = w.thread_text();
    CHECK(contains(text, "panic: nil map"));
    CHECK_FALSE(contains(text, "listening on"));  // the current container's lines
    CHECK(contains(text, fmt::format("`{}` has no previous container", suffix(p[1]))));
}

TEST_CASE("logs: --pod reads one pod, and an unknown pod lists the pods", "[loopback][logs]") {
    logs_world w;
    auto p = w.pods(w.onprem());
    REQUIRE(w.onprem().append_pod_log("dev", p[0], "payments-api", "from-pod-zero"));
    REQUIRE(w.onprem().append_pod_log("dev", p[1], "payments-api", "from-pod-one"));
    REQUIRE(w.script({"/logs payments-api dev --pod " + suffix(p[1])}) == 0);
    auto text = w.thread_text();
    CHECK(contains(text, "from-pod-one"));
    CHECK_FALSE(contains(text, "from-pod-zero"));
    CHECK(contains(w.root().blocks_json, "1 pod on"));

    REQUIRE(w.script({"/logs payments-api dev --pod nosuchpod"}) == 0);
    CHECK(w.said("There is no pod `nosuchpod`"));
    CHECK(w.said(p[0]));
}

TEST_CASE("logs: --container picks a container of a multi-container pod", "[loopback][logs]") {
    logs_world w([](core::config& c) {
        core::service_config billing;
        billing.name = "billing";
        billing.channel = "deploys";
        billing.workloads["dev"] = {
            core::workload_ref{.deployment = "billing", .container = "", .cluster = "cloud"}};
        c.services.push_back(billing);
    });
    w.cloud().add_namespace("dev");
    sandbox::fake_deployment d;
    d.ns = "dev";
    d.name = "billing";
    d.containers = {{"app", "registry.sandbox.local/billing:1.0.0"},
                    {"proxy", "registry.sandbox.local/envoy:1.29"}};
    REQUIRE(w.cloud().add_deployment(d));
    REQUIRE(test::run_test(
        w.ioc,
        w.cloud().wait_until([&] { return w.cloud().rollout_complete("dev", "billing"); }, 10s),
        15s));
    auto pods = w.cloud().pods_of("dev", "billing");
    REQUIRE(pods.size() == 1);
    REQUIRE(w.cloud().append_pod_log("dev", pods[0], "app", "app-line"));
    REQUIRE(w.cloud().append_pod_log("dev", pods[0], "proxy", "proxy-line"));

    // Without --container: the first container, and a hint about the other.
    REQUIRE(w.script({"/logs billing dev"}) == 0);
    CHECK(contains(w.thread_text(), "app-line"));
    CHECK_FALSE(contains(w.thread_text(), "proxy-line"));
    CHECK(contains(w.root().blocks_json, "other containers: proxy"));

    REQUIRE(w.script({"/logs billing dev --container proxy"}) == 0);
    CHECK(contains(w.thread_text(), "proxy-line"));
    CHECK_FALSE(contains(w.thread_text(), "app-line"));

    REQUIRE(w.script({"/logs billing dev --container nope"}) == 0);
    CHECK(w.said("has no container `nope`"));
    CHECK(w.said("--container app"));
}

TEST_CASE("logs: huge logs become a file with a truncated note", "[loopback][logs][slow]") {
    SECTION("more lines than the total cap: the newest are kept") {
        logs_world w(dev_on_both_clusters);
        auto a = w.pods(w.onprem());
        auto b = w.pods(w.cloud());
        for (auto* k : {&w.onprem(), &w.cloud()}) {
            for (const auto& pod : k->pods_of("dev", "payments-api")) {
                REQUIRE(k->generate_pod_logs("dev", pod, "payments-api", 10000));
            }
        }
        // A secret at the end of a huge log is still hidden.
        REQUIRE(w.onprem().append_pod_log("dev", a[0], "payments-api", "token=zzsecretzz"));
        REQUIRE(w.script({"/logs payments-api dev --tail 10000"}) == 0);
        auto root = w.root();
        CHECK(contains(root.blocks_json, "Truncated"));
        CHECK(contains(root.blocks_json, "showing the newest 20000 of 40000 matching lines"));
        auto files = w.thread_files();
        REQUIRE(files.size() == 1);
        const auto& f = files.front();
        CHECK(f.completed);
        CHECK(f.filename == "payments-api-dev-logs.txt");
        CHECK(contains(f.title, "truncated"));
        CHECK(std::count(f.content.begin(), f.content.end(), '\n') == 20000);
        CHECK(contains(f.content, "token=[redacted]"));
        CHECK_FALSE(contains(w.everything_in_slack(), "zzsecretzz"));
    }
    SECTION("a pod's log over limitBytes is cut, and the note says so") {
        logs_world w;
        auto p = w.pods(w.onprem());
        for (const auto& pod : p) {
            REQUIRE(w.onprem().generate_pod_logs("dev", pod, "payments-api", 10000, 250));
        }
        REQUIRE(w.script({"/logs payments-api dev --tail 10000"}) == 0);
        auto root = w.root();
        CHECK(contains(root.blocks_json, "was cut at 2048 KiB per pod"));
        auto files = w.thread_files();
        REQUIRE(files.size() == 1);
        auto lines = std::count(files.front().content.begin(), files.front().content.end(), '\n');
        CHECK(lines > 10000);
        CHECK(lines < 20000);
    }
}

TEST_CASE("logs: many pods are read in two steps and show the same newest lines",
          "[loopback][logs][slow]") {
    // 3 Deployments × 2 clusters × 2 pods: twice each pod's share of the 20,000 kept lines is
    // 3,334, less than --tail 10000, so each pod is read with that tail first.
    logs_world w([](core::config& c) {
        dev_on_both_clusters(c);
        for (auto& s : c.services) {
            if (s.name == "payments-api") {
                auto& dev = s.workloads["dev"];
                dev.push_back({.deployment = "payments-worker", .container = "payments-api"});
                dev.push_back({.deployment = "payments-cron", .container = "payments-api"});
            }
        }
    });
    std::vector<std::string> all;
    // One newest time for all: filling twelve logs takes seconds on a loaded machine, and pods
    // filled last would otherwise hold more than their share of the newest lines.
    const auto newest = std::chrono::system_clock::now();
    for (auto* k : {&w.onprem(), &w.cloud()}) {
        for (const char* d : {"payments-api", "payments-worker", "payments-cron"}) {
            for (const auto& pod : w.pods(*k, "dev", d)) {
                REQUIRE(k->generate_pod_logs("dev", pod, "payments-api", 10000, 120, newest));
                all.push_back(pod);
            }
        }
    }
    REQUIRE(all.size() == 12);
    // One pod got busy: its 5,000 newest lines are newer than anything else, so its short read
    // does not reach the oldest line kept and it is read again with the whole tail.
    const std::string busy = w.pods(w.onprem(), "dev", "payments-worker")[0];
    for (int i = 0; i < 5000; ++i) {
        REQUIRE(w.onprem().append_pod_log("dev", busy, "payments-api", fmt::format("burst {}", i)));
    }
    w.onprem().clear_requests();
    w.cloud().clear_requests();
    REQUIRE(w.script({"/logs payments-api dev --tail 10000"}) == 0);
    CHECK(contains(w.root().blocks_json, "showing the newest 20000 of more than"));
    auto files = w.thread_files();
    REQUIRE(files.size() == 1);
    const auto& text = files.front().content;
    CHECK(std::count(text.begin(), text.end(), '\n') == 20000);
    CHECK(contains(text, "burst 0\n"));
    CHECK(contains(text, "burst 4999\n"));
    auto log_reads = [&](sandbox::fake_kubernetes& k) {
        std::size_t n = 0;
        for (const auto& pod : all) {
            n += k.count_requests("GET", "/api/v1/namespaces/dev/pods/" + pod + "/log");
        }
        return n;
    };
    CHECK(log_reads(w.onprem()) + log_reads(w.cloud()) == 13);
}

TEST_CASE("logs: an environment with two clusters reads both", "[loopback][logs]") {
    logs_world w(dev_on_both_clusters);
    auto a = w.pods(w.onprem());
    auto b = w.pods(w.cloud());
    REQUIRE(w.onprem().append_pod_log("dev", a[0], "payments-api", "hello-from-onprem"));
    REQUIRE(w.cloud().append_pod_log("dev", b[0], "payments-api", "hello-from-cloud"));

    SECTION("both up") {
        REQUIRE(w.script({"/logs payments-api dev"}) == 0);
        auto text = w.thread_text();
        CHECK(contains(text, "hello-from-onprem"));
        CHECK(contains(text, "hello-from-cloud"));
        CHECK(contains(text, "onprem/" + suffix(a[0])));
        CHECK(contains(text, "cloud/" + suffix(b[0])));
        CHECK(contains(w.root().blocks_json, "4 pods on `onprem`, `cloud`"));
    }
    SECTION("one cluster down: the other is shown, with a note naming the cluster") {
        w.cloud().stop();
        REQUIRE(w.script({"/logs payments-api dev"}) == 0);
        auto text = w.thread_text();
        CHECK(contains(text, "hello-from-onprem"));
        CHECK(contains(w.root().blocks_json, "cluster `cloud` is unreachable"));
    }
}

TEST_CASE("logs: a pod deleted while its log is read leaves the others shown", "[loopback][logs]") {
    logs_world w;
    auto p = w.pods(w.onprem());
    REQUIRE(w.onprem().append_pod_log("dev", p[1], "payments-api", "survivor-line"));
    auto log_path = fmt::format("/api/v1/namespaces/dev/pods/{}/log", p[0]);
    w.onprem().inject_delay(500ms, 1, log_path);
    REQUIRE(w.app->type("/logs payments-api dev"));
    // Delete the pod once its log request is in flight (held back by the delay).
    auto deleter = [&]() -> boost::asio::awaitable<bool> {
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
        for (int i = 0; i < 400; ++i) {
            if (w.onprem().count_requests("GET", log_path) > 0) {
                co_return w.onprem().delete_pod("dev", p[0]);
            }
            t.expires_after(5ms);
            co_await t.async_wait(boost::asio::use_awaitable);
        }
        co_return false;
    };
    REQUIRE(test::run_test(w.ioc, deleter(), 5s));
    REQUIRE(test::run_test(w.ioc, w.app->settle(), 30s));
    CHECK(contains(w.thread_text(), "survivor-line"));
    CHECK(contains(w.root().blocks_json, "was deleted while its log was read"));
}

TEST_CASE("logs: RBAC refusal names the permission the bot lacks", "[loopback][logs]") {
    logs_world w;
    w.onprem().forbid("/api/v1/namespaces/dev/pods/", "get");
    REQUIRE(w.script({"/logs payments-api dev"}) == 0);
    std::string told;
    for (const auto& e : w.app->slack().ephemerals_for(sandbox::user_id_for("alice"))) {
        told += e.text + "\n";
    }
    INFO(told);
    CHECK(contains(told, "`get` on `pods/log` in namespace `dev`"));
    // Said once for the cluster, not once per pod.
    CHECK(told.find("refused to show pod logs") == told.rfind("refused to show pod logs"));
}

TEST_CASE("logs: prod needs an access grant, and says how to get one", "[loopback][logs]") {
    logs_world w;
    REQUIRE(w.script({"/logs payments-api prod"}) == 0);
    CHECK(w.said("need an active access grant"));
    CHECK(w.said("/access request view prod/prod 2h"));
    CHECK(w.cloud().count_requests("GET", "/api/v1/namespaces/prod/pods") == 0);

    // An active grant of alice for prod/prod: now the logs are read.
    {
        auto db = storage::database::open((w.options.work_dir / "tugboat.db").string(),
                                          core::null_logger());
        REQUIRE(db);
        storage::grant_repository grants(*db);
        storage::grant_record g;
        g.requester = sandbox::user_id_for("alice");
        g.role = "view";
        g.environment = "prod";
        g.kube_namespace = "prod";
        g.duration = std::chrono::hours{2};
        g.reason = "incident";
        g.state = storage::grant_state::active;
        auto now = std::chrono::system_clock::now();
        g.created_at = now;
        g.updated_at = now;
        g.granted_at = now;
        g.expires_at = now + std::chrono::hours{2};
        REQUIRE(grants.insert(g));
    }
    auto p = w.pods(w.cloud(), "prod");
    REQUIRE(w.cloud().append_pod_log("prod", p[0], "app", "prod-line"));
    REQUIRE(w.script({"/logs payments-api prod"}) == 0);
    CHECK(contains(w.thread_text(), "prod-line"));
}

TEST_CASE("logs: only the environment's readers may read", "[loopback][logs]") {
    logs_world w([](core::config& c) {
        for (auto& e : c.environments) {
            if (e.name == "dev") {
                e.policy.readers = {"S0SRE"};
            }
        }
    });
    REQUIRE(w.script({"/logs payments-api dev"}) == 0);
    CHECK(w.said("You may not read logs or status of `dev`"));
    REQUIRE(w.script({"@bob: /logs payments-api dev"}) == 0);
    CHECK(contains(w.root().blocks_json, "Logs of `payments-api` in `dev`"));
}

TEST_CASE("logs: bad flags say what is wrong and show an example", "[loopback][logs]") {
    logs_world w;
    REQUIRE(w.script({"/logs payments-api dev --since 10x"}) == 0);
    CHECK(w.said("isn't a duration"));
    REQUIRE(w.script({"/logs payments-api dev --tail 20000"}) == 0);
    CHECK(w.said("at most 10000 lines per pod"));
    REQUIRE(w.script({"/logs paymnets-api dev"}) == 0);
    CHECK(w.said("Did you mean `payments-api`?"));
    REQUIRE(w.script({"/logs payments-api dve"}) == 0);
    CHECK(w.said("Did you mean `dev`?"));
}

TEST_CASE("logs: /deploy logs shows the build console, redacted", "[loopback][logs]") {
    logs_world w;
    sandbox::fake_job job;
    job.full_name = "deploy/payments-api";
    job.parameters = {{"SERVICE"}, {"ENVIRONMENT"}, {"VERSION"}, {"DEPLOY_ID"}};
    job.stages = sandbox::default_pipeline();
    job.stages.front().log = {"+ git clone https://ci:ghp_cloneSecret1@git.example/pay.git",
                              "+ export DB_PASSWORD=consoleSecret2"};
    w.app->jenkins().add_job(job);
    REQUIRE(w.script({"/deploy payments-api dev 1.4.2", "/deploy logs d-000001 --tail 500"}) == 0);
    CHECK(w.said("DB_PASSWORD=[redacted]"));
    CHECK_FALSE(w.said("consoleSecret2"));
    CHECK_FALSE(w.said("ghp_cloneSecret1"));
}
