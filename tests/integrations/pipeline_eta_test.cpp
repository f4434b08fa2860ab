#include "integrations/pipeline_eta.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace tugboat::integrations;
using namespace std::chrono_literals;
using state = current_stage::state;

past_run run(std::chrono::milliseconds build, std::chrono::milliseconds test,
             std::chrono::milliseconds deploy) {
    return past_run{{{"Build", build}, {"Test", test}, {"Deploy", deploy}}};
}

}  // namespace

TEST_CASE("pipeline_eta: per-stage p50 and p90 in pipeline order", "[unit][jenkins]") {
    std::vector<past_run> history;
    for (int i = 1; i <= 10; ++i) {
        history.push_back(run(std::chrono::seconds{10 * i}, 5s, 20s));
    }
    // A stage only one run had comes after the others.
    history[3].stages.emplace_back("Smoke", 7s);
    auto stats = stage_percentiles(history);
    REQUIRE(stats.size() == 4);
    CHECK(stats[0].name == "Build");
    CHECK(stats[0].p50 == 50s);  // nearest rank: 5th of 10
    CHECK(stats[0].p90 == 90s);  // 9th of 10
    CHECK(stats[0].samples == 10);
    CHECK(stats[1].name == "Test");
    CHECK(stats[1].p50 == 5s);
    CHECK(stats[3].name == "Smoke");
    CHECK(stats[3].samples == 1);
    CHECK(stats[3].p50 == 7s);
    CHECK(stage_percentiles({}).empty());

    std::vector<past_run> one{run(3s, 4s, 5s)};
    auto single = stage_percentiles(one);
    REQUIRE(single.size() == 3);
    CHECK(single[2].p50 == 5s);
    CHECK(single[2].p90 == 5s);
}

TEST_CASE("pipeline_eta: remaining time from history", "[unit][jenkins]") {
    std::vector<past_run> history{run(10s, 30s, 20s), run(20s, 40s, 20s), run(30s, 50s, 40s)};
    // p50: Build 20 s, Test 40 s, Deploy 20 s; p90: Build 30 s, Test 50 s, Deploy 40 s.

    SECTION("nothing started yet") {
        auto eta = estimate_remaining(history, {}, 0ms, std::nullopt);
        CHECK(eta.from_history);
        CHECK(eta.remaining == 80s);
        CHECK(eta.remaining_p90 == 120s);
        CHECK(eta.progress == 0.0);
    }
    SECTION("half-way through a stage") {
        std::vector<current_stage> now{{"Build", state::done, 25s}, {"Test", state::running, 10s}};
        auto eta = estimate_remaining(history, now, 40s, std::nullopt);
        CHECK(eta.remaining == 30s + 20s);
        CHECK(eta.remaining_p90 == 40s + 40s);
        REQUIRE(eta.progress);
        CHECK(*eta.progress == Approx(35.0 / 85.0));
    }
    SECTION("a stage running longer than usual needs nothing more of it") {
        std::vector<current_stage> now{{"Build", state::done, 20s}, {"Test", state::running, 45s}};
        auto eta = estimate_remaining(history, now, 65s, std::nullopt);
        CHECK(eta.remaining == 20s);      // Deploy only
        CHECK(eta.remaining_p90 == 45s);  // 5 s more of Test at p90, then Deploy's 40 s
    }
    SECTION("all stages done but the build still running: below 100 %") {
        std::vector<current_stage> now{
            {"Build", state::done, 20s}, {"Test", state::done, 40s}, {"Deploy", state::done, 20s}};
        auto eta = estimate_remaining(history, now, 80s, std::nullopt);
        CHECK(eta.remaining == 0ms);
        CHECK(eta.progress == Approx(0.99));
    }
    SECTION("a stage the history does not know adds nothing") {
        std::vector<current_stage> now{{"Build", state::done, 20s}, {"Lint", state::running, 5s}};
        auto eta = estimate_remaining(history, now, 25s, std::nullopt);
        CHECK(eta.remaining == 60s);  // Test + Deploy
    }
}

TEST_CASE("pipeline_eta: rarely run stages are not expected", "[unit][jenkins]") {
    std::vector<past_run> history{run(10s, 10s, 10s), run(10s, 10s, 10s), run(10s, 10s, 10s)};
    history[0].stages.emplace_back("Rollback", 60s);  // 1 of 3 runs
    auto eta = estimate_remaining(history, {}, 0ms, std::nullopt);
    CHECK(eta.remaining == 30s);
    history[1].stages.emplace_back("Rollback", 60s);  // 2 of 3 runs: expected
    auto again = estimate_remaining(history, {}, 0ms, std::nullopt);
    CHECK(again.remaining == 90s);
}

TEST_CASE("pipeline_eta: without history Jenkins' estimatedDuration is used", "[unit][jenkins]") {
    SECTION("estimate known") {
        auto eta = estimate_remaining(std::vector<past_run>{}, {}, 30s, 120s);
        CHECK_FALSE(eta.from_history);
        CHECK(eta.remaining == 90s);
        CHECK(eta.remaining_p90 == 90s);
        REQUIRE(eta.progress);
        CHECK(*eta.progress == Approx(0.25));
    }
    SECTION("past the estimate") {
        auto eta = estimate_remaining(std::vector<past_run>{}, {}, 200s, 120s);
        CHECK(eta.remaining == 0ms);
        CHECK(eta.progress == Approx(0.99));
    }
    SECTION("a renamed pipeline shares no stage with its history") {
        std::vector<past_run> history{run(10s, 10s, 10s)};
        std::vector<current_stage> now{{"Compile", state::running, 5s}};
        auto eta = estimate_remaining(history, now, 5s, 50s);
        CHECK_FALSE(eta.from_history);
        CHECK(eta.remaining == 45s);
    }
    SECTION("nothing to go on") {
        auto eta = estimate_remaining(std::vector<past_run>{}, {}, 30s, std::nullopt);
        CHECK_FALSE(eta.remaining);
        CHECK_FALSE(eta.remaining_p90);
        CHECK_FALSE(eta.progress);
        auto negative = estimate_remaining(std::vector<past_run>{}, {}, 30s, -1ms);
        CHECK_FALSE(negative.remaining);
    }
}
