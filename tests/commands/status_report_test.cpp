// The pure half of /status: readers, recent Warning events, versions, cluster failures and the
// summary cells, without sockets.

#include "commands/status_report.hpp"

#include <catch2/catch.hpp>

using namespace tugboat;
using namespace tugboat::commands;
using integrations::event_info;

namespace {

core::time_point at(const char* rfc3339) {
    std::tm tm{};
    int y = 0;
    int mo = 0;
    std::sscanf(rfc3339, "%d-%d-%dT%d:%d:%d", &y, &mo, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                &tm.tm_sec);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    return core::time_point{std::chrono::seconds{timegm(&tm)}};
}

event_info warning(std::string kind, std::string name, std::string reason, std::string message,
                   int count, std::string last) {
    event_info e;
    e.type = "Warning";
    e.involved_kind = std::move(kind);
    e.involved_name = std::move(name);
    e.reason = std::move(reason);
    e.message = std::move(message);
    e.count = count;
    e.last_time = std::move(last);
    return e;
}

}  // namespace

TEST_CASE("status_report: recent warnings are the workload's, recent, and de-duplicated",
          "[unit]") {
    auto now = at("2026-05-01T12:00:00");
    std::vector<event_info> events{
        warning("Pod", "api-7d9f8-x2kq4", "BackOff",
                "Back-off restarting failed container api in pod "
                "api-7d9f8-x2kq4_prod(31cf23b0-98ca-467e-a4ed-f43780c48ce8)",
                5, "2026-05-01T11:58:00Z"),
        warning("Pod", "api-7d9f8-p9z2m", "BackOff",
                "Back-off restarting failed container api in pod "
                "api-7d9f8-p9z2m_prod(38132d77-8d14-4951-a436-9c2378bbac79)",
                3, "2026-05-01T11:59:00Z"),
        // Too old.
        warning("Pod", "api-7d9f8-x2kq4", "Unhealthy", "Readiness probe failed", 9,
                "2026-05-01T11:40:00Z"),
        // A sibling Deployment's pod and a Normal event are not ours.
        warning("Pod", "api-worker-5c6d7-abcde", "BackOff", "x", 1, "2026-05-01T11:59:00Z"),
        warning("ReplicaSet", "api-7d9f8", "FailedCreate", "quota exceeded", 2,
                "2026-05-01T11:55:00Z"),
    };
    event_info normal = events[0];
    normal.type = "Normal";
    events.push_back(normal);

    auto got = recent_warnings(events, "api", now, std::chrono::minutes{15});
    REQUIRE(got.size() == 2);
    CHECK(got[0].reason == "BackOff");
    CHECK(got[0].count == 8);
    CHECK(got[0].objects == std::vector<std::string>{"pod/api-7d9f8-x2kq4", "pod/api-7d9f8-p9z2m"});
    CHECK(got[1].reason == "FailedCreate");
    CHECK(got[1].objects == std::vector<std::string>{"replicaset/api-7d9f8"});
}

TEST_CASE("status_report: the running version is the image tag", "[unit]") {
    CHECK(image_version("registry.example.com:5000/team/api:1.4.2") == "1.4.2");
    CHECK(image_version("registry.example.com:5000/team/api") == "latest");
    CHECK(image_version("api@sha256:0123456789abcdef0123456789") == "sha256:0123456789ab");
    CHECK(image_version("") == "?");
}

TEST_CASE("status_report: RBAC refusals name the missing permission", "[unit]") {
    auto e = core::make_error(
        core::errc::permission_denied,
        "cluster cloud: list pods failed: pods is forbidden: User "
        "\"system:serviceaccount:ops:tugboat\" cannot list resource \"pods\" in API group \"\" in "
        "the namespace \"prod\" (grant the bot's identity this permission with a Role or "
        "ClusterRole binding)");
    CHECK(describe_cluster_failure(e) ==
          "forbidden: the bot (system:serviceaccount:ops:tugboat) may not `list` `pods` (API "
          "group core) in namespace `prod`; grant it that with a Role and RoleBinding (or "
          "ClusterRole) for that identity");
    auto down = core::make_error(core::errc::unavailable, "cluster cloud: connection refused");
    CHECK(describe_cluster_failure(down) == "unreachable: cluster cloud: connection refused");
}

TEST_CASE("status_report: readers decide, admins always may, the refusal says whom to ask",
          "[unit]") {
    core::environment_config prod;
    prod.name = "prod";
    prod.policy.readers = {"S0SRE"};
    core::service_config svc;
    svc.name = "api";
    svc.owners = {"U0OWNER"};
    CHECK(may_read({"U1", {"S0SRE"}}, prod, &svc, {}));
    CHECK(may_read({"U0ADMIN", {}}, prod, &svc, {"U0ADMIN"}));
    auto no = may_read({"U2", {}}, prod, &svc, {});
    REQUIRE_FALSE(no);
    CHECK(no.error().code == core::errc::permission_denied);
    CHECK(no.error().message ==
          "You may not see the status of `prod`: it is for <!subteam^S0SRE>. Ask one of them, or "
          "ask <@U0OWNER> (owners of api) to add you to the `readers` of `prod`.");
    core::environment_config dev;
    dev.name = "dev";
    CHECK(may_read({"U2", {}}, dev, nullptr, {}));  // readers default to everyone
}

TEST_CASE("status_report: a summary cell counts replicas and names the first problem", "[unit]") {
    integrations::deployment_state d;
    d.name = "api";
    d.replicas = 2;
    d.status_replicas = 2;
    d.updated_replicas = 2;
    d.ready_replicas = 1;
    d.available_replicas = 1;
    d.containers = {{"api", "reg/api:1.2.3"}};
    integrations::pod_info ok;
    ok.name = "api-1";
    ok.phase = "Running";
    ok.containers = {{.name = "api", .image = "reg/api:1.2.3", .ready = true, .state = "running"}};
    integrations::pod_info sick = ok;
    sick.name = "api-2";
    sick.containers[0].ready = false;
    sick.containers[0].state = "waiting";
    sick.containers[0].reason = "CrashLoopBackOff";
    summary_cell cell;
    cell.environment = "prod";
    add_to_cell(cell, d, {&ok, &sick}, "");
    CHECK(cell.versions == std::vector<std::string>{"1.2.3"});
    CHECK(cell.ready == 1);
    CHECK(cell.desired == 2);
    CHECK_FALSE(cell.rolling);
    CHECK(cell.problem == "CrashLoopBackOff");
    auto msg = render_summary({{"api", {cell}}}, "Services of <#C1>");
    auto text = std::get<section>(msg.blocks.at(2)).text;
    CHECK(text == "*api* · prod ❌ `1.2.3` 1/2 CrashLoopBackOff\n");
}
