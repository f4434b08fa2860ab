#include "integrations/http_types.hpp"

#include <catch2/catch.hpp>

using namespace tugboat::integrations;
using namespace std::chrono_literals;
using tugboat::core::errc;

TEST_CASE("http_types: methods and idempotency", "[unit]") {
    CHECK(to_string(http_method::delete_) == "DELETE");
    CHECK(to_string(http_method::patch) == "PATCH");
    CHECK(is_idempotent(http_method::get));
    CHECK(is_idempotent(http_method::put));
    CHECK(is_idempotent(http_method::delete_));
    CHECK_FALSE(is_idempotent(http_method::post));
    CHECK_FALSE(is_idempotent(http_method::patch));

    http_request post{.method = http_method::post};
    CHECK_FALSE(post.is_idempotent());
    post.idempotent = true;  // e.g. the server deduplicates by key
    CHECK(post.is_idempotent());
}

TEST_CASE("http_types: header lookup ignores case", "[unit]") {
    http_response r{200, {{"Content-Type", "application/json"}, {"Set-Cookie", "a=1"}}, ""};
    CHECK(r.header("content-type") == "application/json");
    CHECK(r.header("SET-COOKIE") == "a=1");
    CHECK_FALSE(r.header("Retry-After"));
    CHECK(r.ok());
    r.headers.emplace_back("set-cookie", "b=2");
    CHECK(find_headers(r.headers, "Set-Cookie") == std::vector<std::string>{"a=1", "b=2"});
}

TEST_CASE("http_types: status to error category", "[unit]") {
    CHECK(errc_for_status(401) == errc::permission_denied);
    CHECK(errc_for_status(403) == errc::permission_denied);
    CHECK(errc_for_status(404) == errc::not_found);
    CHECK(errc_for_status(409) == errc::conflict);
    CHECK(errc_for_status(429) == errc::rate_limited);
    CHECK(errc_for_status(503) == errc::unavailable);
    CHECK(errc_for_status(504) == errc::timeout);
    CHECK(errc_for_status(422) == errc::invalid_argument);
}

TEST_CASE("retry_policy: Retry-After in seconds and as a date", "[unit]") {
    auto now = std::chrono::sys_days{std::chrono::year{1994} / 11 / 6} + 8h + 49min + 30s;
    CHECK(parse_retry_after("120", now) == 120s);
    CHECK(parse_retry_after(" 0 ", now) == 0s);
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == 7s);
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now) == 0s);  // in the past
    CHECK_FALSE(parse_retry_after("soon", now));
    CHECK_FALSE(parse_retry_after("-5", now));
    CHECK_FALSE(parse_retry_after("1.5", now));
    CHECK_FALSE(parse_retry_after("Sun, 31 Feb 1994 08:49:37 GMT", now));
    CHECK(parse_retry_after("99999999999", now) == 86400s);  // clamped, no overflow
}

TEST_CASE("retry_policy: exponential backoff with equal jitter", "[unit]") {
    retry_policy p{.initial_backoff = 100ms, .max_backoff = 1000ms, .multiplier = 2.0};
    SECTION("jitter spans the upper half of the base delay") {
        CHECK(backoff_delay(p, 1, 0.0) == 50ms);
        CHECK(backoff_delay(p, 1, 0.999) == 99ms);
        CHECK(backoff_delay(p, 2, 0.0) == 100ms);
        CHECK(backoff_delay(p, 3, 0.5) == 300ms);
    }
    SECTION("the base is capped") {
        CHECK(backoff_delay(p, 10, 0.0) == 500ms);
        CHECK(backoff_delay(p, 60, 1.0) == 1000ms);
    }
    SECTION("out-of-range randomness is clamped") {
        CHECK(backoff_delay(p, 1, -3.0) == 50ms);
        CHECK(backoff_delay(p, 1, 7.0) == 100ms);
    }
}

TEST_CASE("retry_policy: which outcomes are retried", "[unit]") {
    retry_policy p{.initial_backoff = 100ms, .max_backoff = 1s, .max_retry_after = 5s};
    auto decide = [&](attempt_outcome o, bool idempotent, int attempt = 1) {
        return next_retry_delay(p, o, idempotent, attempt, 3, 0.0);
    };
    attempt_outcome connect_failed{.sent = false};
    attempt_outcome dropped{.sent = true};
    attempt_outcome status_500{.sent = true, .status = 500};
    attempt_outcome status_404{.sent = true, .status = 404};
    attempt_outcome limited{.sent = true, .status = 429, .retry_after = 2s};
    attempt_outcome limited_long{.sent = true, .status = 429, .retry_after = 60s};
    attempt_outcome bad_cert{.sent = false, .permanent = true};

    SECTION("nothing was sent: retried even for POST") {
        CHECK(decide(connect_failed, false) == 50ms);
        CHECK(decide(connect_failed, true) == 50ms);
    }
    SECTION("server errors and dropped connections: only idempotent requests") {
        CHECK(decide(status_500, true) == 50ms);
        CHECK(decide(status_500, true, 2) == 100ms);
        CHECK_FALSE(decide(status_500, false));
        CHECK(decide(dropped, true) == 50ms);
        CHECK_FALSE(decide(dropped, false));
    }
    SECTION("Retry-After is honoured up to the cap") {
        CHECK(decide(limited, true) == 2s);
        CHECK_FALSE(decide(limited, false));
        CHECK_FALSE(decide(limited_long, true));
    }
    SECTION("never for client errors, permanent failures or past max_attempts") {
        CHECK_FALSE(decide(status_404, true));
        CHECK_FALSE(decide(bad_cert, true));
        CHECK_FALSE(decide(status_500, true, 3));
        CHECK_FALSE(decide(connect_failed, true, 3));
    }
}
