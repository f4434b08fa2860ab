// The /deploy guard rails as pure functions: who may deploy and approve, freeze windows in UTC
// and in a zone with daylight saving (Europe/Berlin, from the system tz database).

#include "commands/deploy_policy.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <string>

using namespace tugboat;
using namespace tugboat::commands;
using namespace std::chrono;

namespace {

/// A UTC instant from a civil date and time.
core::time_point utc(int y, unsigned m, unsigned d, int hh, int mm, int ss = 0) {
    return core::time_point{sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} +
                            seconds{ss}};
}

core::service_config payments() {
    core::service_config s;
    s.name = "payments-api";
    s.owners = {"U0OWNER", "S0PAY"};
    return s;
}

core::environment_config prod() {
    core::environment_config e;
    e.name = "prod";
    e.production = true;
    e.policy.deployers = {"S0SRE", "U0ALICE"};
    e.policy.approval.required = 1;
    e.policy.approval.approvers = {"S0SRE", "U0CAROL"};
    e.policy.freeze_overriders = {"U0LEAD"};
    return e;
}

core::freeze_window absolute(std::string name, std::string from, std::string to,
                             std::string tz = "UTC") {
    core::freeze_window w;
    w.name = std::move(name);
    w.from = std::move(from);
    w.to = std::move(to);
    w.timezone = std::move(tz);
    return w;
}

core::freeze_window weekly(std::string name, std::vector<std::string> days, std::string start,
                           std::string end, std::string tz = "UTC") {
    core::freeze_window w;
    w.name = std::move(name);
    w.days = std::move(days);
    w.start_time = std::move(start);
    w.end_time = std::move(end);
    w.timezone = std::move(tz);
    return w;
}

core::environment_config with_freezes(std::vector<core::freeze_window> windows) {
    core::environment_config e;
    e.name = "prod";
    e.policy.freezes = std::move(windows);
    return e;
}

}  // namespace

// ---- matches ----

TEST_CASE("deploy_policy: matches a user directly, through a group, or by *", "[unit]") {
    const principal alice{"U0ALICE", {"S0DEVS"}};
    CHECK(matches(alice, {"U0ALICE"}));
    CHECK(matches(alice, {"S0SRE", "S0DEVS"}));
    CHECK(matches(alice, {"*"}));
    CHECK_FALSE(matches(alice, {"U0BOB", "S0SRE"}));
    CHECK_FALSE(matches(alice, {}));
    CHECK_FALSE(matches(principal{"", {}}, {""}));
}

TEST_CASE("deploy_policy: mentions are Slack's user and group syntax", "[unit]") {
    CHECK(mention("U0ALICE") == "<@U0ALICE>");
    CHECK(mention("W0ENTERPRISE") == "<@W0ENTERPRISE>");
    CHECK(mention("S0SRE") == "<!subteam^S0SRE>");
    CHECK(mention("*") == "anyone");
}

// ---- may_deploy ----

TEST_CASE("deploy_policy: deployers listed directly or by group may deploy", "[unit]") {
    CHECK(may_deploy(principal{"U0ALICE", {}}, payments(), prod()));
    CHECK(may_deploy(principal{"U0BOB", {"S0SRE"}}, payments(), prod()));
    auto everyone = prod();
    everyone.policy.deployers = {"*"};
    CHECK(may_deploy(principal{"U0ANYONE", {}}, payments(), everyone));
}

TEST_CASE("deploy_policy: a refused deploy says who may deploy and whom to ask", "[unit]") {
    auto r = may_deploy(principal{"U0MALLORY", {"S0DEVS"}}, payments(), prod());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::permission_denied);
    const auto& m = r.error().message;
    CHECK_THAT(m, Catch::Contains("payments-api") && Catch::Contains("prod"));
    CHECK_THAT(m, Catch::Contains("<!subteam^S0SRE> or <@U0ALICE>"));
    CHECK_THAT(m, Catch::Contains("<@U0OWNER> or <!subteam^S0PAY> (owners of payments-api)"));
}

TEST_CASE("deploy_policy: no deployers at all refuses everyone and says so", "[unit]") {
    auto env = prod();
    env.policy.deployers.clear();
    auto svc = payments();
    svc.owners.clear();
    auto r = may_deploy(principal{"U0ALICE", {}}, svc, env);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::permission_denied);
    CHECK_THAT(r.error().message, Catch::Contains("Nobody may deploy to prod") &&
                                      Catch::Contains("maintains Tugboat's configuration"));
}

// ---- approvals ----

TEST_CASE("deploy_policy: approvers come from the policy, else the service's owners", "[unit]") {
    CHECK(approvers_for(payments(), prod()) == std::vector<std::string>{"S0SRE", "U0CAROL"});
    auto env = prod();
    env.policy.approval.approvers.clear();
    CHECK(approvers_for(payments(), env) == std::vector<std::string>{"U0OWNER", "S0PAY"});
}

TEST_CASE("deploy_policy: the requester may not approve their own deploy", "[unit]") {
    const principal bob{"U0BOB", {"S0SRE"}};
    auto r = may_approve(bob, "U0BOB", payments(), prod());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::permission_denied);
    CHECK(r.error().message ==
          "You asked for this deploy, so someone else has to approve it: <!subteam^S0SRE> or "
          "<@U0CAROL>.");
}

TEST_CASE("deploy_policy: allow_self_approval lets an approver approve their own deploy",
          "[unit]") {
    auto env = prod();
    env.policy.approval.allow_self_approval = true;
    CHECK(may_approve(principal{"U0BOB", {"S0SRE"}}, "U0BOB", payments(), env));
    // Still only approvers: self-approval does not make a non-approver one.
    auto r = may_approve(principal{"U0MALLORY", {}}, "U0MALLORY", payments(), env);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("not an approver"));
}

TEST_CASE("deploy_policy: approvers by group or by name may approve someone else's deploy",
          "[unit]") {
    CHECK(may_approve(principal{"U0DAVE", {"S0SRE"}}, "U0BOB", payments(), prod()));
    CHECK(may_approve(principal{"U0CAROL", {}}, "U0BOB", payments(), prod()));
    auto r = may_approve(principal{"U0ALICE", {"S0DEVS"}}, "U0BOB", payments(), prod());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::permission_denied);
    CHECK_THAT(r.error().message,
               Catch::Contains("payments-api in prod") &&
                   Catch::Contains("<!subteam^S0SRE> or <@U0CAROL> can approve it"));
}

TEST_CASE("deploy_policy: without approvers in the policy the owners approve", "[unit]") {
    auto env = prod();
    env.policy.approval.approvers.clear();
    CHECK(may_approve(principal{"U0OWNER", {}}, "U0BOB", payments(), env));
    CHECK(may_approve(principal{"U0X", {"S0PAY"}}, "U0BOB", payments(), env));
    auto r = may_approve(principal{"U0DAVE", {"S0SRE"}}, "U0BOB", payments(), env);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("<@U0OWNER> or <!subteam^S0PAY>"));
}

TEST_CASE("deploy_policy: approvers * means anyone but the requester", "[unit]") {
    auto env = prod();
    env.policy.approval.approvers = {"*"};
    CHECK(may_approve(principal{"U0ANYONE", {}}, "U0BOB", payments(), env));
    auto r = may_approve(principal{"U0BOB", {}}, "U0BOB", payments(), env);
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "You asked for this deploy, so someone else has to approve it: anyone else.");
}

TEST_CASE("deploy_policy: no approvers and no owners means nobody can approve", "[unit]") {
    auto env = prod();
    env.policy.approval.approvers.clear();
    auto svc = payments();
    svc.owners.clear();
    auto r = may_approve(principal{"U0DAVE", {"S0SRE"}}, "U0BOB", svc, env);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("Nobody can approve"));
}

// ---- freeze overrides ----

TEST_CASE("deploy_policy: freeze overriders and bot admins may deploy through a freeze", "[unit]") {
    const std::vector<std::string> admins{"S0ADMINS"};
    CHECK(may_override_freeze(principal{"U0LEAD", {}}, prod(), admins));
    CHECK(may_override_freeze(principal{"U0ROOT", {"S0ADMINS"}}, prod(), admins));
    auto r = may_override_freeze(principal{"U0BOB", {"S0SRE"}}, prod(), admins);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::permission_denied);
    CHECK_THAT(r.error().message, Catch::Contains("<@U0LEAD> or <!subteam^S0ADMINS>"));

    auto nobody = prod();
    nobody.policy.freeze_overriders.clear();
    auto none = may_override_freeze(principal{"U0BOB", {}}, nobody, {});
    REQUIRE_FALSE(none);
    CHECK_THAT(none.error().message, Catch::Contains("Nobody may deploy to prod during a freeze"));
}

// ---- freeze windows ----

TEST_CASE("deploy_policy: an absolute window includes its start and excludes its end", "[unit]") {
    auto env = with_freezes({absolute("Year-end", "2026-12-21T00:00", "2027-01-04T00:00")});
    CHECK_FALSE(active_freeze(env, utc(2026, 12, 20, 23, 59, 59)));
    auto at_start = active_freeze(env, utc(2026, 12, 21, 0, 0));
    REQUIRE(at_start);
    CHECK(at_start->name == "Year-end");
    CHECK(at_start->ends == utc(2027, 1, 4, 0, 0));
    CHECK(at_start->description == "freeze `Year-end` (2026-12-21 00:00 – 2027-01-04 00:00 UTC)");
    CHECK(active_freeze(env, utc(2027, 1, 3, 23, 59, 59)));
    CHECK_FALSE(active_freeze(env, utc(2027, 1, 4, 0, 0)));
}

TEST_CASE("deploy_policy: an absolute window is read in its time zone", "[unit]") {
    // Berlin is UTC+1 in winter: 00:00 local is 23:00 UTC the day before.
    auto env = with_freezes(
        {absolute("Year-end", "2026-12-21T00:00", "2027-01-04T00:00", "Europe/Berlin")});
    CHECK_FALSE(active_freeze(env, utc(2026, 12, 20, 22, 59, 59)));
    auto hit = active_freeze(env, utc(2026, 12, 20, 23, 0));
    REQUIRE(hit);
    CHECK(hit->ends == utc(2027, 1, 3, 23, 0));
    CHECK_THAT(hit->description, Catch::EndsWith("Europe/Berlin)"));
    CHECK_FALSE(active_freeze(env, utc(2027, 1, 3, 23, 0)));
}

TEST_CASE("deploy_policy: a bare end date includes that whole day", "[unit]") {
    auto env = with_freezes({absolute("Launch", "2026-05-01", "2026-05-03")});
    CHECK(active_freeze(env, utc(2026, 5, 3, 23, 59)));
    auto hit = active_freeze(env, utc(2026, 5, 1, 0, 0));
    REQUIRE(hit);
    CHECK(hit->ends == utc(2026, 5, 4, 0, 0));
}

TEST_CASE("deploy_policy: a weekly window holds on its days between start and end", "[unit]") {
    // 2026-03-27 is a Friday.
    auto env = with_freezes({weekly("Friday afternoon", {"fri"}, "15:00", "23:59")});
    CHECK_FALSE(active_freeze(env, utc(2026, 3, 27, 14, 59)));
    auto hit = active_freeze(env, utc(2026, 3, 27, 15, 0));
    REQUIRE(hit);
    CHECK(hit->ends == utc(2026, 3, 27, 23, 59));
    CHECK(hit->description == "weekly freeze `Friday afternoon` (Fri 15:00 – Fri 23:59 UTC)");
    CHECK_FALSE(active_freeze(env, utc(2026, 3, 27, 23, 59)));
    CHECK_FALSE(active_freeze(env, utc(2026, 3, 26, 16, 0)));  // Thursday
    CHECK(active_freeze(env, utc(2026, 4, 3, 16, 0)));         // next Friday
}

TEST_CASE("deploy_policy: a weekly window whose end is not after its start runs past midnight",
          "[unit]") {
    // 2026-01-09 is a Friday; Berlin is UTC+1 in January.
    auto env = with_freezes({weekly("weekend", {"fri"}, "18:00", "08:00", "Europe/Berlin")});
    CHECK_FALSE(active_freeze(env, utc(2026, 1, 9, 16, 59)));
    auto evening = active_freeze(env, utc(2026, 1, 9, 17, 0));
    REQUIRE(evening);
    CHECK(evening->ends == utc(2026, 1, 10, 7, 0));
    CHECK(evening->description == "weekly freeze `weekend` (Fri 18:00 – Sat 08:00 Europe/Berlin)");
    // Saturday morning, after local midnight: the window started the day before.
    auto morning = active_freeze(env, utc(2026, 1, 10, 6, 59));
    REQUIRE(morning);
    CHECK(morning->ends == utc(2026, 1, 10, 7, 0));
    CHECK_FALSE(active_freeze(env, utc(2026, 1, 10, 7, 0)));
    // Saturday evening: Saturday is not listed.
    CHECK_FALSE(active_freeze(env, utc(2026, 1, 10, 19, 0)));
}

TEST_CASE("deploy_policy: a weekly window across a DST change ends at the local wall-clock time",
          "[unit]") {
    SECTION("spring forward: 2026-03-29 02:00 CET becomes 03:00 CEST") {
        // Sat 22:00 CET = 21:00 UTC; Sun 06:00 CEST = 04:00 UTC: a 7-hour night.
        auto env = with_freezes({weekly("night", {"sat"}, "22:00", "06:00", "Europe/Berlin")});
        CHECK_FALSE(active_freeze(env, utc(2026, 3, 28, 20, 59)));
        auto hit = active_freeze(env, utc(2026, 3, 28, 21, 0));
        REQUIRE(hit);
        CHECK(hit->ends == utc(2026, 3, 29, 4, 0));
        CHECK(active_freeze(env, utc(2026, 3, 29, 3, 59)));
        CHECK_FALSE(active_freeze(env, utc(2026, 3, 29, 4, 0)));
    }
    SECTION("fall back: 2026-10-25 03:00 CEST becomes 02:00 CET") {
        // Sat 22:00 CEST = 20:00 UTC; Sun 06:00 CET = 05:00 UTC: a 9-hour night.
        auto env = with_freezes({weekly("night", {"sat"}, "22:00", "06:00", "Europe/Berlin")});
        CHECK_FALSE(active_freeze(env, utc(2026, 10, 24, 19, 59)));
        auto hit = active_freeze(env, utc(2026, 10, 24, 20, 0));
        REQUIRE(hit);
        CHECK(hit->ends == utc(2026, 10, 25, 5, 0));
        CHECK(active_freeze(env, utc(2026, 10, 25, 4, 30)));
        CHECK_FALSE(active_freeze(env, utc(2026, 10, 25, 5, 0)));
    }
    SECTION("summer and winter occurrences of the same window differ in UTC") {
        auto env = with_freezes({weekly("lunch", {"mon"}, "12:00", "13:00", "Europe/Berlin")});
        CHECK(active_freeze(env, utc(2026, 1, 5, 11, 30)));        // Monday, CET
        CHECK_FALSE(active_freeze(env, utc(2026, 7, 6, 11, 30)));  // Monday, CEST: 13:30 local
        CHECK(active_freeze(env, utc(2026, 7, 6, 10, 30)));
    }
}

TEST_CASE("deploy_policy: unknown weekday names never match", "[unit]") {
    auto unknown = with_freezes({weekly("odd", {"funday"}, "00:00", "23:59")});
    for (unsigned d = 23; d <= 29; ++d) {  // a whole week, 2026-03-23 … 29
        CHECK_FALSE(active_freeze(unknown, utc(2026, 3, d, 12, 0)));
    }
    auto mixed = with_freezes({weekly("odd", {"funday", "fri"}, "00:00", "23:59")});
    CHECK(active_freeze(mixed, utc(2026, 3, 27, 12, 0)));
    CHECK_FALSE(active_freeze(mixed, utc(2026, 3, 26, 12, 0)));
}

TEST_CASE("deploy_policy: the first window in force is reported, in config order", "[unit]") {
    auto env = with_freezes({absolute("past", "2020-01-01T00:00", "2020-02-01T00:00"),
                             weekly("fridays", {"fri"}, "00:00", "23:59"),
                             absolute("march", "2026-03-01T00:00", "2026-04-01T00:00")});
    auto hit = active_freeze(env, utc(2026, 3, 27, 12, 0));
    REQUIRE(hit);
    CHECK(hit->name == "fridays");
    auto thursday = active_freeze(env, utc(2026, 3, 26, 12, 0));
    REQUIRE(thursday);
    CHECK(thursday->name == "march");
    CHECK_FALSE(active_freeze(with_freezes({}), utc(2026, 3, 26, 12, 0)));
}

TEST_CASE("deploy_policy: reading a time zone leaves the process TZ as it was", "[unit]") {
    ::setenv("TZ", "America/New_York", 1);
    auto env = with_freezes({weekly("night", {"sat"}, "22:00", "06:00", "Europe/Berlin")});
    CHECK(active_freeze(env, utc(2026, 3, 28, 21, 0)));
    const char* tz = std::getenv("TZ");
    REQUIRE(tz != nullptr);
    CHECK(std::string(tz) == "America/New_York");
    ::unsetenv("TZ");
    CHECK(active_freeze(env, utc(2026, 3, 28, 21, 0)));
    CHECK(std::getenv("TZ") == nullptr);
}

TEST_CASE("deploy_policy: a time zone missing from the database is read as UTC", "[unit]") {
    auto env =
        with_freezes({absolute("x", "2026-05-01T00:00", "2026-05-02T00:00", "Mars/Olympus")});
    CHECK(active_freeze(env, utc(2026, 5, 1, 0, 0)));
    CHECK_FALSE(active_freeze(env, utc(2026, 4, 30, 23, 59)));
}
