// The Kubernetes client against the fake API server over TLS: reads, image changes followed by
// watches, failure scenarios diagnosed, 410/dropped watches, 429, 409 on rollback, RBAC
// bindings, authentication failures, client certificates and a cluster that is down.

#include "integrations/kubernetes_client.hpp"
#include "integrations/pod_diagnosis.hpp"
#include "integrations/rollout_status.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/kubeconfig_writer.hpp"
#include "tests/support/contains.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/test_ca_fixture.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

namespace {

namespace asio = boost::asio;
using namespace tugboat;
using namespace std::chrono_literals;
using integrations::deployment_state;
using integrations::kubernetes_http_client;
using integrations::pod_problem_kind;
using test::run_test;
using steady = std::chrono::steady_clock;
using test::contains;

const std::string deployment_path = "/apis/apps/v1/namespaces/prod/deployments/api";
const std::string deployments_path = "/apis/apps/v1/namespaces/prod/deployments";

integrations::kubernetes_client_options fast_kubernetes_options() {
    integrations::kubernetes_client_options o;
    o.request_timeout = 3s;
    o.retry.initial_backoff = 20ms;
    o.watch_backoff = 20ms;
    return o;
}

sandbox::fake_deployment api_deployment(std::string image = "reg.example/api:1.0") {
    sandbox::fake_deployment d;
    d.ns = "prod";
    d.name = "api";
    d.image = std::move(image);
    d.replicas = 3;
    d.previous_images = {"reg.example/api:0.9"};
    d.progress_deadline_seconds = 30;
    return d;
}

// A fake cluster and a client for it, configured through a kubeconfig like the real thing.
struct k8s_env {
    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink, core::log_level::debug};
    std::unique_ptr<sandbox::fake_kubernetes> fake;
    std::unique_ptr<kubernetes_http_client> client;

    explicit k8s_env(std::function<void(sandbox::fake_kubernetes_options&)> tweak = {},
                     bool client_cert = false) {
        sandbox::fake_kubernetes_options options;
        options.name = "test";
        options.speed = 50;
        options.namespaces = {"prod"};
        if (tweak) {
            tweak(options);
        }
        auto started = sandbox::fake_kubernetes::start(ioc.get_executor(), options);
        REQUIRE(started);
        fake = std::move(*started);
        client = make_client(access(client_cert));
    }

    integrations::cluster_access access(bool client_cert = false) const {
        std::string yaml = sandbox::make_kubeconfig({fake->kubeconfig_entry("test", client_cert)});
        auto a = integrations::parse_kubeconfig(yaml, "/etc/tugboat/test-kubeconfig");
        REQUIRE(a);
        return *a;
    }

    std::unique_ptr<kubernetes_http_client> make_client(
        integrations::cluster_access a,
        integrations::kubernetes_client_options o = fast_kubernetes_options()) {
        auto c = kubernetes_http_client::create(ioc.get_executor(), "onprem", std::move(a), log, o);
        REQUIRE(c);
        return std::move(*c);
    }

    void seed(sandbox::fake_deployment d = api_deployment()) { REQUIRE(fake->add_deployment(d)); }

    void run(std::function<asio::awaitable<void>()> body, std::chrono::milliseconds limit = 10s) {
        run_test(ioc, body(), limit);
    }

    std::vector<sandbox::recorded_request> requests_to(std::string_view method,
                                                       std::string_view path) const {
        std::vector<sandbox::recorded_request> out;
        for (auto& r : fake->requests()) {
            if (r.method == method && r.path() == path) {
                out.push_back(r);
            }
        }
        return out;
    }
};

asio::awaitable<void> sleep(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

// Follows the rollout with a watch until kubectl would call it done or failed.
struct followed {
    deployment_state last;
    integrations::rollout_verdict verdict;
    std::vector<std::string> progress;
    int events = 0;
};

asio::awaitable<followed> follow(integrations::deployment_watch& watch,
                                 std::function<void(int)> after_event = {}) {
    followed f;
    for (int i = 0; i < 200; ++i) {
        auto next = co_await watch.next(5s);
        INFO((next ? std::string("ok") : next.error().message));
        REQUIRE(next);
        ++f.events;
        f.last = std::move(*next);
        f.verdict = integrations::rollout_status(f.last);
        f.progress.push_back(f.verdict.progress);
        if (f.verdict.done || f.verdict.failed) {
            break;
        }
        if (after_event) {
            after_event(f.events);
        }
    }
    co_return f;
}

// Watches until the rollout fails (its progress deadline), then diagnoses its pods.
asio::awaitable<std::vector<integrations::pod_problem>> failed_rollout_problems(k8s_env& env,
                                                                                std::string image) {
    auto written = co_await env.client->set_image("prod", "api", "", image);
    REQUIRE(written);
    auto watch = co_await env.client->watch_deployment("prod", "api", written->resource_version);
    REQUIRE(watch);
    auto f = co_await follow(**watch);
    CHECK(f.verdict.failed);
    CHECK(contains(f.verdict.message, "exceeded its progress deadline"));
    auto pods = co_await env.client->list_pods("prod", "app=api");
    REQUIRE(pods);
    integrations::event_filter filter;
    filter.kind = "Pod";
    auto events = co_await env.client->list_events("prod", filter);
    REQUIRE(events);
    co_return integrations::diagnose(*pods, *events);
}

}  // namespace

TEST_CASE("kubernetes: reads deployments, pods and events", "[loopback][kubernetes]") {
    k8s_env env;
    env.seed();
    sandbox::fake_deployment web;
    web.ns = "prod";
    web.name = "web";
    web.containers = {{"web", "reg.example/web:3"}, {"proxy", "envoy:1.29"}};
    env.seed(web);
    env.run([&]() -> asio::awaitable<void> {
        auto d = co_await env.client->get_deployment("prod", "api");
        REQUIRE(d);
        CHECK(d->name == "api");
        CHECK(d->ns == "prod");
        CHECK(d->replicas == 3);
        CHECK(d->available_replicas == 3);
        CHECK(d->revision == 2);
        CHECK(d->progress_deadline_seconds == 30);
        CHECK(d->selector_string() == "app=api");
        CHECK_FALSE(d->resource_version.empty());
        std::vector<integrations::container_image> expected = {{"api", "reg.example/api:1.0"}};
        CHECK(d->containers == expected);
        CHECK(integrations::rollout_status(*d).done);

        auto all = co_await env.client->list_deployments("prod");
        REQUIRE(all);
        REQUIRE(all->size() == 2);
        CHECK((*all)[1].name == "web");
        CHECK((*all)[1].image_of("proxy") == "envoy:1.29");

        auto pods = co_await env.client->list_pods("prod", "app=api");
        REQUIRE(pods);
        REQUIRE(pods->size() == 3);
        for (const auto& p : *pods) {
            CHECK(p.phase == "Running");
            CHECK_FALSE(p.node.empty());
            CHECK(p.ready());
            REQUIRE(p.containers.size() == 1);
            CHECK(p.containers[0].image == "reg.example/api:1.0");
            CHECK(p.containers[0].state == "running");
        }

        std::string pod = (*pods)[0].name;
        env.fake->add_event("prod", "Pod", pod, "Warning", "Unhealthy",
                            "Liveness probe failed: timeout");
        integrations::event_filter filter;
        filter.kind = "Pod";
        filter.name = pod;
        filter.field_selector = "type=Warning";
        auto events = co_await env.client->list_events("prod", filter);
        REQUIRE(events);
        REQUIRE(events->size() == 1);
        CHECK((*events)[0].reason == "Unhealthy");
        CHECK((*events)[0].involved_name == pod);
        CHECK((*events)[0].count == 1);
        CHECK_FALSE((*events)[0].last_time.empty());

        auto missing = co_await env.client->get_deployment("prod", "nope");
        REQUIRE_FALSE(missing);
        CHECK(missing.error().code == core::errc::not_found);
        CHECK(contains(missing.error().message, "cluster onprem"));
        CHECK(contains(missing.error().message, "\"nope\" not found"));
    });
    // The token is sent but never logged.
    CHECK(contains(env.sink.text(), "k8s_client_created"));
    CHECK_FALSE(contains(env.sink.text(), env.fake->token()));
}

TEST_CASE("kubernetes: set_image, then a watch follows the rollout to the end",
          "[loopback][kubernetes]") {
    k8s_env env;
    env.seed();
    env.run([&]() -> asio::awaitable<void> {
        auto written = co_await env.client->set_image("prod", "api", "api", "reg.example/api:1.1");
        REQUIRE(written);
        CHECK(written->image_of("api") == "reg.example/api:1.1");
        CHECK_FALSE(integrations::rollout_status(*written).done);
        auto watch =
            co_await env.client->watch_deployment("prod", "api", written->resource_version);
        REQUIRE(watch);
        auto f = co_await follow(**watch);
        CHECK(f.verdict.done);
        CHECK(f.events >= 2);  // saw it in progress before it finished
        CHECK(f.last.revision == 3);
        CHECK(f.last.image_of() == "reg.example/api:1.1");
        CHECK(f.progress.back() == "updated 3/3, available 3/3");
        CHECK(std::find(f.progress.begin(), f.progress.end(), "updated 3/3, available 3/3") !=
              f.progress.end());
    });
    CHECK(env.fake->rollout_complete("prod", "api"));
    // A watch, not polling: one conditional patch after one read, and a single watch request.
    auto patches = env.requests_to("PATCH", deployment_path);
    REQUIRE(patches.size() == 1);
    CHECK(patches[0].header("Content-Type") == "application/strategic-merge-patch+json");
    CHECK(contains(patches[0].body, "resourceVersion"));
    CHECK(env.requests_to("GET", deployment_path).size() == 1);
    auto watches = env.requests_to("GET", deployments_path);
    REQUIRE(watches.size() == 1);
    CHECK(contains(watches[0].target, "watch=1"));
    CHECK(contains(watches[0].target, "allowWatchBookmarks=true"));
    CHECK(contains(watches[0].target, "fieldSelector=metadata.name%3Dapi"));
}

TEST_CASE("kubernetes: set_image refuses a container the deployment does not have",
          "[loopback][kubernetes]") {
    k8s_env env;
    env.seed();
    env.run([&]() -> asio::awaitable<void> {
        auto r = co_await env.client->set_image("prod", "api", "sidecar", "reg.example/x:1");
        REQUIRE_FALSE(r);
        CHECK(r.error().code == core::errc::not_found);
        CHECK(contains(r.error().message, "no container \"sidecar\"; its containers: api"));
    });
    CHECK(env.requests_to("PATCH", deployment_path).empty());
}

TEST_CASE("kubernetes: failing rollouts are diagnosed with their cause", "[loopback][kubernetes]") {
    k8s_env env;
    env.seed();
    SECTION("ImagePullBackOff names the image and the registry's answer") {
        env.run([&]() -> asio::awaitable<void> {
            auto problems = co_await failed_rollout_problems(env, "reg.example/api:2.0-imagepull");
            REQUIRE_FALSE(problems.empty());
            const auto& p = problems[0];
            CHECK(p.kind == pod_problem_kind::image_pull);
            CHECK(p.container == "api");
            CHECK(p.image == "reg.example/api:2.0-imagepull");
            CHECK(contains(p.detail, "not found"));
            CHECK(contains(p.summary, "cannot pull image reg.example/api:2.0-imagepull"));
        });
    }
    SECTION("CrashLoopBackOff names the container, and the previous log shows why") {
        env.run([&]() -> asio::awaitable<void> {
            auto problems = co_await failed_rollout_problems(env, "reg.example/api:2.0-crash");
            REQUIRE_FALSE(problems.empty());
            const auto& p = problems[0];
            CHECK(p.kind == pod_problem_kind::crash_loop);
            CHECK(p.container == "api");
            CHECK(p.restarts >= 1);
            CHECK(p.exit_code == 1);
            integrations::log_request req;
            req.ns = "prod";
            req.pod = p.pods.front();
            req.container = p.container;
            req.previous = true;
            req.tail_lines = 20;
            auto log = co_await env.client->pod_log(req);
            REQUIRE(log);
            CHECK(contains(*log, "ConnectionError: could not connect"));
        });
    }
    SECTION("ProgressDeadlineExceeded with failing readiness probes") {
        env.run([&]() -> asio::awaitable<void> {
            auto problems = co_await failed_rollout_problems(env, "reg.example/api:2.0-notready");
            REQUIRE_FALSE(problems.empty());
            CHECK(problems[0].kind == pod_problem_kind::probe_failed);
            CHECK(contains(problems[0].summary, "Readiness probe failed"));
        });
        CHECK(env.fake->rollout_failed("prod", "api"));
    }
}

TEST_CASE("kubernetes: a watch survives 410 Gone and dropped streams", "[loopback][kubernetes]") {
    k8s_env env;
    env.seed();
    SECTION("410 as an ERROR event: re-list, then watch from the list's version") {
        env.fake->force_watch_gone(1);
        env.run([&]() -> asio::awaitable<void> {
            auto written = co_await env.client->set_image("prod", "api", "", "reg.example/api:1.1");
            REQUIRE(written);
            auto watch =
                co_await env.client->watch_deployment("prod", "api", written->resource_version);
            REQUIRE(watch);
            auto f = co_await follow(**watch);
            CHECK(f.verdict.done);
            CHECK(f.last.image_of() == "reg.example/api:1.1");
        });
        auto calls = env.requests_to("GET", deployments_path);
        REQUIRE(calls.size() >= 3);  // the gone watch, the re-list, the new watch
        CHECK(contains(calls[0].target, "watch=1"));
        CHECK_FALSE(contains(calls[1].target, "watch=1"));
        CHECK(contains(calls[1].target, "fieldSelector=metadata.name%3Dapi"));
        CHECK(contains(calls[2].target, "watch=1"));
    }
    SECTION("a dropped stream resumes from the last resourceVersion") {
        std::string rv_at_drop;
        env.run(
            [&]() -> asio::awaitable<void> {
                auto written =
                    co_await env.client->set_image("prod", "api", "", "reg.example/api:1.1-slow");
                REQUIRE(written);
                auto watch =
                    co_await env.client->watch_deployment("prod", "api", written->resource_version);
                REQUIRE(watch);
                auto* w = watch->get();
                auto f = co_await follow(**watch, [&](int events) {
                    if (events == 1) {
                        rv_at_drop = w->resource_version();
                        env.fake->drop_watches();
                    }
                });
                CHECK(f.verdict.done);
            },
            20s);
        auto calls = env.requests_to("GET", deployments_path);
        REQUIRE(calls.size() >= 2);
        CHECK(contains(calls[1].target, "watch=1"));
        CHECK(contains(calls[1].target, "resourceVersion=" + rv_at_drop));
        CHECK(contains(env.sink.text(), "k8s_watch_dropped"));
    }
}

TEST_CASE("kubernetes: bookmarks move the watch's resourceVersion, quiet watches time out",
          "[loopback][kubernetes]") {
    k8s_env env([](auto& o) { o.bookmark_interval = 1; });  // 20 ms at speed 50
    env.seed();
    env.run([&]() -> asio::awaitable<void> {
        auto d = co_await env.client->get_deployment("prod", "api");
        REQUIRE(d);
        auto watch = co_await env.client->watch_deployment("prod", "api", d->resource_version);
        REQUIRE(watch);
        // A change elsewhere: not an event of this watch, but bookmarks carry its version.
        env.fake->add_event("prod", "Deployment", "other", "Normal", "Test", "moved on");
        auto started = steady::now();
        auto quiet = co_await (*watch)->next(300ms);
        REQUIRE_FALSE(quiet);
        CHECK(quiet.error().code == core::errc::timeout);
        CHECK(steady::now() - started < 2s);
        CHECK((*watch)->resource_version() == std::to_string(env.fake->resource_version()));
        // Still usable: the next change arrives.
        auto written = co_await env.client->set_image("prod", "api", "", "reg.example/api:1.2");
        REQUIRE(written);
        auto next = co_await (*watch)->next(3s);
        REQUIRE(next);
        CHECK(next->image_of() == "reg.example/api:1.2");
    });
}

TEST_CASE("kubernetes: 429 with Retry-After is waited out", "[loopback][kubernetes]") {
    k8s_env env;
    env.seed();
    env.fake->inject_too_many_requests(1, deployment_path, 1);
    env.run([&]() -> asio::awaitable<void> {
        auto started = steady::now();
        auto d = co_await env.client->get_deployment("prod", "api");
        REQUIRE(d);
        CHECK(steady::now() - started >= 900ms);
    });
    CHECK(env.requests_to("GET", deployment_path).size() == 2);

    SECTION("without retries left, the caller learns it is rate limited") {
        auto options = fast_kubernetes_options();
        options.max_attempts = 1;
        auto single = env.make_client(env.access(), options);
        env.fake->inject_too_many_requests(1, deployment_path, 1);
        env.run([&]() -> asio::awaitable<void> {
            auto d = co_await single->get_deployment("prod", "api");
            REQUIRE_FALSE(d);
            CHECK(d.error().code == core::errc::rate_limited);
            CHECK(contains(d.error().message, "429"));
        });
    }
}

TEST_CASE("kubernetes: rollback restores the previous revision's image", "[loopback][kubernetes]") {
    k8s_env env;
    env.seed();
    env.run(
        [&]() -> asio::awaitable<void> {
            auto back = co_await env.client->rollback("prod", "api", std::nullopt);
            REQUIRE(back);
            CHECK(back->from_revision == 2);
            CHECK(back->to_revision == 1);
            CHECK_FALSE(back->skipped);
            std::vector<integrations::container_image> old_images = {
                {"api", "reg.example/api:0.9"}};
            CHECK(back->images == old_images);
            auto watch = co_await env.client->watch_deployment("prod", "api",
                                                               back->deployment.resource_version);
            REQUIRE(watch);
            auto f = co_await follow(**watch);
            CHECK(f.verdict.done);
            CHECK(f.last.image_of() == "reg.example/api:0.9");
            CHECK(f.last.revision == 3);  // the old ReplicaSet comes back under the next revision

            auto unknown = co_await env.client->rollback("prod", "api", 42);
            REQUIRE_FALSE(unknown);
            CHECK(unknown.error().code == core::errc::not_found);
            CHECK(contains(unknown.error().message, "no revision 42"));

            // Rolling back to the revision already running changes nothing.
            auto again = co_await env.client->rollback("prod", "api", 3);
            REQUIRE(again);
            CHECK(again->skipped);
        },
        15s);
    auto patches = env.requests_to("PATCH", deployment_path);
    REQUIRE(patches.size() == 1);
    CHECK(patches[0].header("Content-Type") == "application/json-patch+json");
    auto pods = env.fake->pods_of("prod", "api");
    REQUIRE_FALSE(pods.empty());
    CHECK(contains(*env.fake->object_json("pods", "prod", pods.back()), "reg.example/api:0.9"));
}

TEST_CASE("kubernetes: rollback re-reads and retries after 409 Conflict",
          "[loopback][kubernetes]") {
    k8s_env env;
    env.seed();
    // The ReplicaSet list is slow; meanwhile someone else changes the Deployment, so the
    // rollback's conditional patch carries a stale resourceVersion.
    env.fake->inject_delay(300ms, 1, "/apis/apps/v1/namespaces/prod/replicasets");
    integrations::http_client_options http_options;
    http_options.tls = test::test_client_tls();
    auto raw = integrations::http_client::create(env.ioc.get_executor(), core::null_logger(),
                                                 http_options);
    REQUIRE(raw);
    env.run([&]() -> asio::awaitable<void> {
        bool touched = false;
        auto interfere = [&]() -> asio::awaitable<void> {
            while (env.requests_to("GET", "/apis/apps/v1/namespaces/prod/replicasets").empty()) {
                co_await sleep(5ms);
            }
            // An annotation: a new resourceVersion, no new rollout.
            integrations::http_request touch;
            touch.method = integrations::http_method::patch;
            touch.url = env.fake->base_url() + deployment_path;
            touch.headers = {{"Authorization", "Bearer " + env.fake->token()},
                             {"Content-Type", "application/merge-patch+json"}};
            touch.body = R"({"metadata":{"annotations":{"someone-else":"was-here"}}})";
            auto r = co_await raw->send(std::move(touch));
            REQUIRE(r);
            CHECK(r->status == 200);
            touched = true;
        };
        asio::co_spawn(env.ioc, interfere(), asio::detached);
        auto back = co_await env.client->rollback("prod", "api", std::nullopt);
        REQUIRE(back);
        CHECK(touched);
        CHECK(back->to_revision == 1);
        CHECK(back->deployment.image_of() == "reg.example/api:0.9");
    });
    auto patches = env.requests_to("PATCH", deployment_path);
    // Ours with the stale version (409), then ours again after re-reading.
    std::vector<int> statuses;
    for (const auto& p : patches) {
        if (p.header("Content-Type") == "application/json-patch+json") {
            statuses.push_back(p.status);
        }
    }
    CHECK(statuses == std::vector<int>{409, 200});
    CHECK(contains(env.sink.text(), "k8s_conflict_retry"));
}

TEST_CASE("kubernetes: RoleBindings are applied and deleted idempotently",
          "[loopback][kubernetes]") {
    k8s_env env;
    integrations::role_binding b;
    b.ns = "prod";
    b.name = "tugboat-grant-42";
    b.role_kind = "ClusterRole";
    b.role_name = "edit";
    b.subject_kind = "User";
    b.subject_name = "alice@example.com";
    b.labels = {{"app.kubernetes.io/managed-by", "tugboat"}, {"tugboat/grant", "42"}};
    b.annotations = {{"tugboat/expires-at", "2030-01-01T10:00:00Z"}};
    integrations::role_binding cluster_wide = b;
    cluster_wide.ns = "";
    cluster_wide.name = "tugboat-grant-43";
    cluster_wide.role_name = "view";
    cluster_wide.labels["tugboat/grant"] = "43";
    env.run([&]() -> asio::awaitable<void> {
        auto first = co_await env.client->apply_role_binding(b);
        REQUIRE(first);
        auto second = co_await env.client->apply_role_binding(b);
        REQUIRE(second);
        CHECK(env.fake->bindings_created() == 1);

        auto extended = b;
        extended.annotations["tugboat/expires-at"] = "2030-01-01T12:00:00Z";
        auto updated = co_await env.client->apply_role_binding(extended);
        REQUIRE(updated);

        auto other_role = b;
        other_role.role_name = "admin";
        auto clash = co_await env.client->apply_role_binding(other_role);
        REQUIRE_FALSE(clash);
        CHECK(clash.error().code == core::errc::conflict);
        CHECK(contains(clash.error().message, "delete it first"));

        auto crb = co_await env.client->apply_role_binding(cluster_wide);
        REQUIRE(crb);

        auto listed =
            co_await env.client->list_role_bindings("app.kubernetes.io/managed-by=tugboat");
        REQUIRE(listed);
        REQUIRE(listed->size() == 2);
        CHECK((*listed)[0].name == "tugboat-grant-42");
        CHECK((*listed)[0].ns == "prod");
        CHECK((*listed)[0].subject_name == "alice@example.com");
        CHECK((*listed)[0].annotations.at("tugboat/expires-at") == "2030-01-01T12:00:00Z");
        CHECK((*listed)[1].name == "tugboat-grant-43");
        CHECK((*listed)[1].ns.empty());
        CHECK((*listed)[1].role_name == "view");
        auto one = co_await env.client->list_role_bindings("tugboat/grant=43");
        REQUIRE(one);
        CHECK(one->size() == 1);

        auto gone = co_await env.client->delete_role_binding("prod", "tugboat-grant-42");
        REQUIRE(gone);
        auto gone_again = co_await env.client->delete_role_binding("prod", "tugboat-grant-42");
        REQUIRE(gone_again);
        auto crb_gone = co_await env.client->delete_role_binding("", "tugboat-grant-43");
        REQUIRE(crb_gone);
    });
    CHECK(env.fake->bindings().empty());
    CHECK(env.fake->bindings_created() == 2);
    CHECK(env.fake->bindings_deleted() == 2);
}

TEST_CASE("kubernetes: credentials and reachability failures say what to check",
          "[loopback][kubernetes]") {
    k8s_env env;
    env.seed();
    SECTION("a wrong token is a 401 naming the kubeconfig") {
        auto a = env.access();
        a.token = "not-the-token";
        auto wrong = env.make_client(a);
        env.run([&]() -> asio::awaitable<void> {
            auto d = co_await wrong->get_deployment("prod", "api");
            REQUIRE_FALSE(d);
            CHECK(d.error().code == core::errc::permission_denied);
            CHECK(contains(d.error().message, "401 Unauthorized"));
            CHECK(contains(d.error().message, "token"));
            CHECK(contains(d.error().message, "/etc/tugboat/test-kubeconfig"));
            CHECK_FALSE(contains(d.error().message, "not-the-token"));
        });
    }
    SECTION("a rotated token file is re-read after a 401") {
        auto dir = std::filesystem::temp_directory_path() /
                   ("tugboat-k8s-token-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        auto token_file = (dir / "token").string();
        std::ofstream(token_file) << "rotated-token\n";
        auto a = env.access();
        a.token_file = token_file;
        auto rotating = env.make_client(a);
        env.fake->set_token("rotated-token");
        env.run([&]() -> asio::awaitable<void> {
            auto d = co_await rotating->get_deployment("prod", "api");
            CHECK(d);
        });
        auto gets = env.requests_to("GET", deployment_path);
        REQUIRE(gets.size() == 2);
        CHECK(gets[0].status == 401);
        CHECK(gets[1].header("Authorization") == "Bearer rotated-token");
        CHECK(contains(env.sink.text(), "k8s_token_reloaded"));
        std::filesystem::remove_all(dir);
    }
    SECTION("RBAC denial quotes the API server") {
        env.fake->forbid(deployment_path, "patch");
        env.run([&]() -> asio::awaitable<void> {
            auto d = co_await env.client->set_image("prod", "api", "", "reg.example/api:1.1");
            REQUIRE_FALSE(d);
            CHECK(d.error().code == core::errc::permission_denied);
            CHECK(contains(d.error().message, "cannot patch resource \"deployments\""));
        });
    }
    SECTION("the cluster is down") {
        env.fake->stop();
        env.run([&]() -> asio::awaitable<void> {
            auto d = co_await env.client->get_deployment("prod", "api");
            REQUIRE_FALSE(d);
            CHECK(d.error().code == core::errc::unavailable);
            CHECK(contains(d.error().message, "cluster onprem"));
            CHECK(contains(d.error().message, "reachable"));
            auto watch = co_await env.client->watch_deployment("prod", "api", "1");
            REQUIRE(watch);
            auto next = co_await (*watch)->next(500ms);
            REQUIRE_FALSE(next);
            CHECK(next.error().code == core::errc::unavailable);
        });
        REQUIRE(env.fake->restart());
        env.run([&]() -> asio::awaitable<void> {
            auto d = co_await env.client->get_deployment("prod", "api");
            CHECK(d);
        });
    }
}

TEST_CASE("kubernetes: client-certificate authentication", "[loopback][kubernetes]") {
    k8s_env env({}, true);
    env.seed();
    env.run([&]() -> asio::awaitable<void> {
        auto d = co_await env.client->get_deployment("prod", "api");
        REQUIRE(d);
        CHECK(d->name == "api");
    });
    auto gets = env.requests_to("GET", deployment_path);
    REQUIRE(gets.size() == 1);
    CHECK_FALSE(gets[0].header("Authorization").has_value());
}

TEST_CASE("kubernetes: pod logs, tail and follow", "[loopback][kubernetes]") {
    k8s_env env;
    env.seed();
    auto pods = env.fake->pods_of("prod", "api");
    REQUIRE_FALSE(pods.empty());
    std::string pod = pods.front();
    REQUIRE(env.fake->set_pod_logs("prod", pod, "api", {"one", "two", "three"}));
    env.run([&]() -> asio::awaitable<void> {
        integrations::log_request req;
        req.ns = "prod";
        req.pod = pod;
        req.container = "api";
        req.tail_lines = 2;
        auto tail = co_await env.client->pod_log(req);
        REQUIRE(tail);
        CHECK(*tail == "two\nthree\n");

        req.previous = true;
        auto none = co_await env.client->pod_log(req);
        REQUIRE_FALSE(none);
        CHECK(none.error().code == core::errc::invalid_argument);
        CHECK(contains(none.error().message, "previous terminated container"));

        req.previous = false;
        req.tail_lines = 1;
        auto stream = co_await env.client->follow_log(req);
        REQUIRE(stream);
        auto first = co_await (*stream)->next_line(2s);
        REQUIRE(first);
        CHECK(*first == std::optional<std::string>("three"));
        env.fake->append_pod_log("prod", pod, "api", "four");
        auto second = co_await (*stream)->next_line(2s);
        REQUIRE(second);
        CHECK(*second == std::optional<std::string>("four"));
        auto quiet = co_await (*stream)->next_line(100ms);
        REQUIRE_FALSE(quiet);
        CHECK(quiet.error().code == core::errc::timeout);
    });
}

TEST_CASE("kubernetes: clients for every configured cluster", "[loopback][kubernetes]") {
    k8s_env env;
    env.seed();
    auto dir =
        std::filesystem::temp_directory_path() / ("tugboat-k8s-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto path = (dir / "kubeconfig").string();
    {
        std::ofstream out(path);
        out << sandbox::make_kubeconfig({env.fake->kubeconfig_entry("onprem-ctx")});
    }
    core::cluster_config onprem;
    onprem.name = "onprem";
    onprem.kubeconfig = path;
    onprem.context = "onprem-ctx";
    auto clients = integrations::make_kubernetes_clients(env.ioc.get_executor(), {onprem}, env.log,
                                                         integrations::process_env_getter(),
                                                         fast_kubernetes_options());
    REQUIRE(clients);
    REQUIRE(clients->count("onprem") == 1);
    auto& k = *clients->at("onprem");
    CHECK(k.cluster_name() == "onprem");
    env.run([&]() -> asio::awaitable<void> {
        auto d = co_await k.get_deployment("prod", "api");
        CHECK(d);
    });

    core::cluster_config broken = onprem;
    broken.context = "nope";
    auto failed = integrations::make_kubernetes_clients(env.ioc.get_executor(), {broken}, env.log);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code == core::errc::config_error);
    std::filesystem::remove_all(dir);
}
