#include "commands/logs.hpp"
#include "commands/deploy_policy.hpp"

#include <catch2/catch.hpp>

using namespace tugboat;
using namespace tugboat::commands;

TEST_CASE("logs: RFC 3339 times as Kubernetes writes them", "[unit][logs]") {
    // 2026-11-26T10:00:00Z
    const std::int64_t base = 1795687200LL * 1'000'000'000;
    CHECK(parse_rfc3339_ns("2026-11-26T10:00:00Z") == base);
    CHECK(parse_rfc3339_ns("2026-11-26T10:00:00.123456789Z") == base + 123456789);
    // RFC3339Nano drops trailing zeros.
    CHECK(parse_rfc3339_ns("2026-11-26T10:00:00.5Z") == base + 500'000'000);
    CHECK(parse_rfc3339_ns("2026-11-26T12:00:00+02:00") == base);
    CHECK(parse_rfc3339_ns("1970-01-01T00:00:00Z") == 0);
    CHECK_FALSE(parse_rfc3339_ns("2026-11-26 10:00:00Z"));
    CHECK_FALSE(parse_rfc3339_ns("2026-11-26T10:00:00"));
    CHECK_FALSE(parse_rfc3339_ns("INFO"));
    CHECK_FALSE(parse_rfc3339_ns("2026-11-26T10:00:00.Z"));
}

TEST_CASE("logs: rendered lines carry a padded pod label and the time", "[unit][logs]") {
    logs_result r;
    r.sources = {"x2kq4", "cloud/ab12c"};
    const std::int64_t base = 1795687200LL * 1'000'000'000;
    r.lines.push_back({base + 7'000'000, 0, 0, "first"});
    r.lines.push_back({base + 3'600'000'000'000 + 120'000'000, 1, 0, "second"});
    CHECK(render_log_lines(r) ==
          "x2kq4       10:00:00.007 first\n"
          "cloud/ab12c 11:00:00.120 second\n");
}

TEST_CASE("logs: readers of an environment", "[unit][logs]") {
    core::environment_config env;
    env.name = "prod";
    env.policy.readers = {"S0SRE", "U0ANN"};
    CHECK(may_read_environment({"U0ANN", {}}, env));
    CHECK(may_read_environment({"U0BOB", {"S0SRE"}}, env));
    auto no = may_read_environment({"U0EVE", {"S0DEVS"}}, env);
    REQUIRE_FALSE(no);
    CHECK(no.error().code == core::errc::permission_denied);
    CHECK(no.error().message.find("<!subteam^S0SRE>") != std::string::npos);
    env.policy.readers = {"*"};
    CHECK(may_read_environment({"U0EVE", {}}, env));
}
