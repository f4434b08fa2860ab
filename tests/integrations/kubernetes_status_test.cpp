// Pure parts of the Kubernetes client: kubectl's rollout-status verdict and the plain-words
// diagnosis of failing pods. No sockets.

#include "integrations/kubernetes_client.hpp"
#include "integrations/pod_diagnosis.hpp"
#include "integrations/rollout_status.hpp"
#include "tests/support/contains.hpp"

#include <catch2/catch.hpp>

namespace {

using namespace tugboat::integrations;
using tugboat::test::contains;

deployment_state rolled_out(int replicas) {
    deployment_state d;
    d.ns = "prod";
    d.name = "api";
    d.generation = 4;
    d.observed_generation = 4;
    d.replicas = replicas;
    d.status_replicas = replicas;
    d.updated_replicas = replicas;
    d.ready_replicas = replicas;
    d.available_replicas = replicas;
    d.revision = 3;
    d.conditions = {{"Available", "True", "MinimumReplicasAvailable", ""},
                    {"Progressing", "True", "NewReplicaSetAvailable", ""}};
    return d;
}

container_state waiting(std::string name, std::string image, std::string reason,
                        std::string message, int restarts = 0) {
    container_state c;
    c.name = std::move(name);
    c.image = std::move(image);
    c.state = "waiting";
    c.reason = std::move(reason);
    c.message = std::move(message);
    c.restart_count = restarts;
    return c;
}

pod_info pod(std::string name, std::vector<container_state> containers) {
    pod_info p;
    p.ns = "prod";
    p.name = std::move(name);
    p.phase = "Pending";
    p.containers = std::move(containers);
    return p;
}

event_info warning(std::string pod, std::string reason, std::string message,
                   std::string container = {}, int count = 1) {
    event_info e;
    e.type = "Warning";
    e.reason = std::move(reason);
    e.message = std::move(message);
    e.involved_kind = "Pod";
    e.involved_name = std::move(pod);
    if (!container.empty()) {
        e.field_path = "spec.containers{" + container + "}";
    }
    e.count = count;
    return e;
}

}  // namespace

TEST_CASE("rollout_status: decides in kubectl's order", "[unit][kubernetes]") {
    SECTION("a finished rollout is done") {
        auto v = rollout_status(rolled_out(3));
        CHECK(v.done);
        CHECK_FALSE(v.failed);
        CHECK(v.message == "deployment \"api\" successfully rolled out");
        CHECK(v.progress == "updated 3/3, available 3/3");
    }
    SECTION("an unobserved spec change waits, even when counters look done") {
        auto d = rolled_out(3);
        d.generation = 5;
        auto v = rollout_status(d);
        CHECK_FALSE(v.done);
        CHECK_FALSE(v.failed);
        CHECK(contains(v.message, "spec update to be observed"));
    }
    SECTION("the deadline fails the rollout, but only once the spec is observed") {
        auto d = rolled_out(3);
        d.updated_replicas = 1;
        d.conditions[1] = {"Progressing", "False", "ProgressDeadlineExceeded",
                           "ReplicaSet \"api-7d9f\" has timed out progressing."};
        auto v = rollout_status(d);
        CHECK(v.failed);
        CHECK_FALSE(v.done);
        CHECK(contains(v.message, "exceeded its progress deadline"));
        d.generation = 6;
        CHECK_FALSE(rollout_status(d).failed);
    }
    SECTION("fewer updated replicas than desired") {
        auto d = rolled_out(5);
        d.updated_replicas = 3;
        d.available_replicas = 2;
        d.status_replicas = 6;
        auto v = rollout_status(d);
        CHECK_FALSE(v.done);
        CHECK(contains(v.message, "3 out of 5 new replicas have been updated"));
        CHECK(v.progress == "updated 3/5, available 2/5, old 3");
    }
    SECTION("old replicas still terminating") {
        auto d = rolled_out(3);
        d.status_replicas = 4;
        auto v = rollout_status(d);
        CHECK_FALSE(v.done);
        CHECK(contains(v.message, "1 old replicas are pending termination"));
    }
    SECTION("updated but not yet available") {
        auto d = rolled_out(3);
        d.available_replicas = 1;
        auto v = rollout_status(d);
        CHECK_FALSE(v.done);
        CHECK(contains(v.message, "1 of 3 updated replicas are available"));
    }
    SECTION("another revision than the expected one keeps waiting") {
        auto v = rollout_status(rolled_out(3), 4);
        CHECK_FALSE(v.done);
        CHECK(contains(v.message, "revision 4"));
        CHECK(rollout_status(rolled_out(3), 3).done);
    }
    SECTION("zero replicas is done at once") {
        auto d = rolled_out(0);
        CHECK(rollout_status(d).done);
    }
}

TEST_CASE("diagnose: image pull failures quote the registry", "[unit][kubernetes]") {
    std::string registry =
        "rpc error: code = NotFound desc = failed to pull and unpack image "
        "\"reg.example/api:9.9\": not found";
    std::vector<pod_info> pods = {
        pod("api-1", {waiting("api", "reg.example/api:9.9", "ImagePullBackOff",
                              "Back-off pulling image \"reg.example/api:9.9\"")}),
        pod("api-2", {waiting("api", "reg.example/api:9.9", "ErrImagePull", registry)})};
    std::vector<event_info> events = {
        warning("api-1", "Failed", "Failed to pull image \"reg.example/api:9.9\": " + registry,
                "api"),
        warning("api-1", "Failed", "Error: ImagePullBackOff", "api"),
        warning("other-pod", "FailedScheduling", "0/3 nodes are available")};
    auto problems = diagnose(pods, events);
    REQUIRE(problems.size() == 1);  // one cause on two pods
    const auto& p = problems[0];
    CHECK(p.kind == pod_problem_kind::image_pull);
    CHECK(p.container == "api");
    CHECK(p.image == "reg.example/api:9.9");
    CHECK(p.pods == std::vector<std::string>{"api-1", "api-2"});
    CHECK(contains(p.detail, "not found"));
    CHECK(contains(p.summary, "cannot pull image reg.example/api:9.9"));
    CHECK(contains(p.summary, "does the tag exist"));
    CHECK(contains(p.summary, "2 pods, e.g. api-1"));
}

TEST_CASE("diagnose: crash loops, OOM kills and config errors", "[unit][kubernetes]") {
    auto crash = waiting("api", "reg/api:2", "CrashLoopBackOff", "back-off 20s restarting", 4);
    crash.last_reason = "Error";
    crash.last_exit_code = 1;
    auto oom = waiting("worker", "reg/worker:2", "CrashLoopBackOff", "back-off 10s", 2);
    oom.last_reason = "OOMKilled";
    oom.last_exit_code = 137;
    auto config = waiting("api", "reg/api:2", "CreateContainerConfigError",
                          "secret \"api-secrets\" not found");
    container_state healthy;
    healthy.name = "proxy";
    healthy.state = "running";
    healthy.ready = true;
    std::vector<pod_info> pods = {pod("api-1", {crash, healthy}), pod("api-2", {oom}),
                                  pod("api-3", {config})};
    std::vector<event_info> events = {
        warning("api-1", "BackOff", "Back-off restarting failed container api", "api", 7),
        warning("api-1", "Unhealthy", "Readiness probe failed: connection refused", "api")};
    auto problems = diagnose(pods, events);
    REQUIRE(problems.size() == 3);
    CHECK(problems[0].kind == pod_problem_kind::crash_loop);
    CHECK(problems[0].container == "api");
    CHECK(problems[0].restarts == 4);
    CHECK(problems[0].exit_code == 1);
    CHECK(contains(problems[0].summary, "restarted 4 times, last exit code 1"));
    CHECK(contains(problems[0].summary, "pod api-1"));
    CHECK(problems[1].kind == pod_problem_kind::oom_killed);
    CHECK(problems[1].container == "worker");
    CHECK(contains(problems[1].summary, "OOMKilled, exit code 137"));
    CHECK(problems[2].kind == pod_problem_kind::config_error);
    CHECK(contains(problems[2].summary, "secret \"api-secrets\" not found"));
}

TEST_CASE("diagnose: a crash-looping container caught running between two crashes",
          "[unit][kubernetes]") {
    container_state c;
    c.name = "api";
    c.image = "reg/api:2";
    c.state = "running";
    c.restart_count = 3;
    c.last_reason = "Error";
    c.last_exit_code = 2;
    std::vector<event_info> backoff = {
        warning("api-1", "BackOff", "Back-off restarting failed container api", "api", 5)};
    auto problems = diagnose({pod("api-1", {c})}, backoff);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].kind == pod_problem_kind::crash_loop);
    CHECK(contains(problems[0].summary, "restarted 3 times, last exit code 2"));
    // Without the BackOff warning, an old crash does not make a running container a crash loop.
    CHECK(diagnose({pod("api-1", {c})}, {}).empty());
}

TEST_CASE("diagnose: problems only events tell", "[unit][kubernetes]") {
    std::vector<pod_info> pods = {
        pod("api-1", {}), pod("api-2", {}),
        pod("api-3", {waiting("api", "reg/api:2", "ContainerCreating", "")})};
    pods[2].containers[0].state = "running";
    std::vector<event_info> events = {
        warning("api-1", "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu."),
        warning("api-1", "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.", "", 4),
        warning("api-2", "FailedMount",
                "MountVolume.SetUp failed for volume \"certs\" : secret \"tls\" not found"),
        warning("api-3", "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503", "api", 12)};
    auto problems = diagnose(pods, events);
    REQUIRE(problems.size() == 3);
    CHECK(problems[0].kind == pod_problem_kind::unschedulable);
    CHECK(problems[0].pods == std::vector<std::string>{"api-1"});
    CHECK(contains(problems[0].summary, "Insufficient cpu"));
    CHECK(problems[1].kind == pod_problem_kind::mount_failed);
    CHECK(contains(problems[1].summary, "volume \"certs\""));
    CHECK(problems[2].kind == pod_problem_kind::probe_failed);
    CHECK(problems[2].container == "api");
    CHECK(contains(problems[2].summary, "12 times"));
}

TEST_CASE("diagnose: healthy pods and Normal events give nothing", "[unit][kubernetes]") {
    container_state ok;
    ok.name = "api";
    ok.state = "running";
    ok.ready = true;
    ok.restart_count = 1;
    event_info normal = warning("api-1", "Pulled", "Successfully pulled image");
    normal.type = "Normal";
    CHECK(diagnose({pod("api-1", {ok})}, {normal}).empty());
}

TEST_CASE("query_escape: selectors survive the URL", "[unit][kubernetes]") {
    CHECK(query_escape("app=api,tier!=db") == "app%3Dapi%2Ctier%21%3Ddb");
    CHECK(query_escape("env in (a, b)") == "env%20in%20%28a%2C%20b%29");
    CHECK(query_escape("my-app_1.x~") == "my-app_1.x~");
}
