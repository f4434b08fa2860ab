#include "bot/backoff.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

namespace {

using namespace tugboat::bot;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

backoff_policy policy(jitter_kind jitter) {
    backoff_policy p;
    p.initial = 100ms;
    p.cap = 1'000ms;
    p.floor = 10ms;
    p.multiplier = 2.0;
    p.jitter = jitter;
    p.healthy_after = 30s;
    return p;
}

// A random source that plays back fixed values, then repeats the last one.
struct scripted {
    std::vector<double> values;
    std::size_t at = 0;
    double operator()() {
        double v = values[std::min(at, values.size() - 1)];
        ++at;
        return v;
    }
};

}  // namespace

TEST_CASE("backoff: full jitter grows exponentially up to the cap", "[unit]") {
    backoff b(policy(jitter_kind::full), [] { return 0.999999; });  // top of each range
    CHECK(b.next() == 100ms);
    CHECK(b.next() == 200ms);
    CHECK(b.next() == 400ms);
    CHECK(b.next() == 800ms);
    CHECK(b.next() == 1'000ms);
    CHECK(b.next() == 1'000ms);
    CHECK(b.attempts() == 6);
}

TEST_CASE("backoff: full jitter spreads delays over floor..base", "[unit]") {
    SECTION("the bottom of the range is the floor, never zero") {
        backoff b(policy(jitter_kind::full), [] { return 0.0; });
        for (int i = 0; i < 10; ++i) {
            CHECK(b.next() == 10ms);
        }
    }
    SECTION("the middle of the range") {
        backoff b(policy(jitter_kind::full), [] { return 0.5; });
        CHECK(b.next() == 55ms);   // 10 + (100 - 10) / 2
        CHECK(b.next() == 105ms);  // 10 + (200 - 10) / 2
    }
}

TEST_CASE("backoff: decorrelated jitter builds on the previous delay", "[unit]") {
    backoff b(policy(jitter_kind::decorrelated), scripted{{1.0, 1.0, 0.0, 1.0, 1.0}});
    CHECK(b.next() == 300ms);  // [100, 100*3]
    CHECK(b.next() == 900ms);  // [100, 300*3]
    CHECK(b.next() == 100ms);  // bottom: initial
    CHECK(b.next() == 300ms);  // [100, 100*3]
    CHECK(b.next() == 900ms);
    CHECK(b.next() == 1'000ms);  // capped
}

TEST_CASE("backoff: never outside floor..cap whatever the random source says", "[unit]") {
    for (auto jitter : {jitter_kind::full, jitter_kind::decorrelated}) {
        for (double r : {-5.0, 0.0, 0.3, 0.99, 1.0, 7.0}) {
            backoff b(policy(jitter), [r] { return r; });
            for (int i = 0; i < 100; ++i) {
                auto d = b.next();
                CHECK(d >= 10ms);
                CHECK(d <= 1'000ms);
            }
        }
    }
}

TEST_CASE("backoff: a long outage does not overflow", "[unit]") {
    auto p = policy(jitter_kind::full);
    p.cap = std::chrono::hours{1};
    backoff b(p, [] { return 0.999; });
    ms last{0};
    for (int i = 0; i < 500; ++i) {
        last = b.next();
        REQUIRE(last > 0ms);
    }
    CHECK(last <= std::chrono::hours{1});
    CHECK(last >= std::chrono::minutes{59});
}

TEST_CASE("backoff: reset and healthy connections start over", "[unit]") {
    backoff b(policy(jitter_kind::full), [] { return 0.999999; });
    b.next();
    b.next();
    CHECK(b.next() == 400ms);

    SECTION("reset") {
        b.reset();
        CHECK(b.attempts() == 0);
        CHECK(b.next() == 100ms);
    }
    SECTION("a connection that lived past healthy_after resets") {
        b.connection_ended(31s);
        CHECK(b.next() == 100ms);
    }
    SECTION("a connection that died young keeps the growth: no tight loop") {
        b.connection_ended(2s);
        CHECK(b.next() == 800ms);
    }
}

TEST_CASE("backoff: default random source stays in 0 (inclusive) to 1 (exclusive)", "[unit]") {
    auto r = default_random01();
    for (int i = 0; i < 1000; ++i) {
        double v = r();
        REQUIRE(v >= 0.0);
        REQUIRE(v < 1.0);
    }
}

TEST_CASE("backoff: disconnect reasons", "[unit]") {
    CHECK(classify_disconnect("refresh_requested") == end_reason::refresh_requested);
    CHECK(classify_disconnect("warning") == end_reason::warning);
    CHECK(classify_disconnect("link_disabled") == end_reason::link_disabled);
    CHECK(classify_disconnect("too_many_websockets") == end_reason::too_many_websockets);
    CHECK(classify_disconnect("") == end_reason::unknown_disconnect);
    CHECK(classify_disconnect("something_new") == end_reason::unknown_disconnect);
}

TEST_CASE("backoff: apps.connections.open errors", "[unit]") {
    for (auto e : {"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                   "missing_scope", "team_disabled"}) {
        INFO(e);
        CHECK(classify_open_error(e) == end_reason::auth_failed);
    }
    CHECK(classify_open_error("link_disabled") == end_reason::link_disabled);
    CHECK(classify_open_error("ratelimited") == end_reason::open_failed);
    CHECK(classify_open_error("internal_error") == end_reason::open_failed);
    CHECK(classify_open_error("") == end_reason::open_failed);
}

TEST_CASE("backoff: next step after each end", "[unit]") {
    CHECK(next_step(end_reason::refresh_requested) == step_kind::reconnect_now);
    CHECK(next_step(end_reason::warning) == step_kind::reconnect_now);
    CHECK(next_step(end_reason::link_disabled) == step_kind::long_backoff);
    CHECK(next_step(end_reason::auth_failed) == step_kind::stop);
    CHECK(next_step(end_reason::stopped) == step_kind::stop);
    for (auto r : {end_reason::dropped, end_reason::connect_failed, end_reason::open_failed,
                   end_reason::too_many_websockets, end_reason::unknown_disconnect}) {
        INFO(to_string(r));
        CHECK(next_step(r) == step_kind::backoff);
    }
    CHECK(to_string(step_kind::long_backoff) == "long_backoff");
    CHECK(to_string(end_reason::auth_failed) == "auth_failed");
}
