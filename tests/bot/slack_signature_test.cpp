// Slack request signing: Slack's published example, and every way a request must be refused.

#include "bot/slack_signature.hpp"

#include <catch2/catch.hpp>

using namespace tugboat;

namespace {

// Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack, as
// quoted in the shared Slack reference §8 and python-slack-sdk's signature tests).
constexpr std::string_view example_secret = "8f742231b10e8888abcd99yyyzzz85a5";
constexpr std::string_view example_timestamp = "1531420618";
constexpr std::string_view example_body =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
    "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F3977008855"
    "54%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121."
    "803a0bc887a14d10d2c447fce8b6703c";
constexpr std::string_view example_signature =
    "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

core::time_point at(long long unix_seconds) {
    return core::from_unix(unix_seconds);
}

}  // namespace

TEST_CASE("slack_signature: Slack's published example computes and verifies", "[unit]") {
    CHECK(bot::compute_slack_signature(example_secret, example_timestamp, example_body) ==
          example_signature);
    auto r = bot::verify_slack_signature(example_secret, example_timestamp, example_signature,
                                         example_body, at(1531420618));
    CHECK(r.has_value());
}

TEST_CASE("slack_signature: accepted anywhere inside the 5-minute window", "[unit]") {
    CHECK(bot::verify_slack_signature(example_secret, example_timestamp, example_signature,
                                      example_body, at(1531420618 + 300)));
    CHECK(bot::verify_slack_signature(example_secret, example_timestamp, example_signature,
                                      example_body, at(1531420618 - 300)));
}

TEST_CASE("slack_signature: wrong secret is refused", "[unit]") {
    auto r = bot::verify_slack_signature("8f742231b10e8888abcd99yyyzzz85a6", example_timestamp,
                                         example_signature, example_body, at(1531420618));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::permission_denied);
    CHECK_THAT(r.error().message, Catch::Contains("does not match"));
}

TEST_CASE("slack_signature: stale timestamp is refused as a replay", "[unit]") {
    auto r = bot::verify_slack_signature(example_secret, example_timestamp, example_signature,
                                         example_body, at(1531420618 + 301));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::permission_denied);
    CHECK_THAT(r.error().message, Catch::Contains("301 s old"));
}

TEST_CASE("slack_signature: timestamp beyond the window in the future is refused", "[unit]") {
    auto r = bot::verify_slack_signature(example_secret, example_timestamp, example_signature,
                                         example_body, at(1531420618 - 600));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("in the future"));
}

TEST_CASE("slack_signature: a tampered body is refused", "[unit]") {
    std::string body(example_body);
    body.replace(body.find("text="), 5, "text=rm");
    auto r = bot::verify_slack_signature(example_secret, example_timestamp, example_signature, body,
                                         at(1531420618));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("does not match"));
}

TEST_CASE("slack_signature: a re-signed timestamp does not verify with the old signature",
          "[unit]") {
    // Replaying the body with a fresh timestamp header must fail: the timestamp is signed too.
    auto r = bot::verify_slack_signature(example_secret, "1531420700", example_signature,
                                         example_body, at(1531420700));
    CHECK_FALSE(r);
}

TEST_CASE("slack_signature: malformed headers are refused with a reason", "[unit]") {
    auto check = [](std::string_view ts, std::string_view sig, std::string_view secret,
                    std::string_view expect) {
        auto r = bot::verify_slack_signature(secret, ts, sig, example_body, at(1531420618));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == core::errc::permission_denied);
        CHECK_THAT(r.error().message, Catch::Contains(std::string(expect)));
        // The expected signature is never revealed in the message.
        CHECK_THAT(r.error().message, !Catch::Contains("a2114d57"));
    };
    SECTION("no timestamp") {
        check("", example_signature, example_secret, "Timestamp");
    }
    SECTION("no signature") {
        check(example_timestamp, "", example_secret, "Signature header");
    }
    SECTION("timestamp not a number") {
        check("1531420618abc", example_signature, example_secret, "not a Unix time");
    }
    SECTION("unknown version") {
        check(example_timestamp, "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c6",
              example_secret, "not a v0");
    }
    SECTION("truncated signature") {
        check(example_timestamp, example_signature.substr(0, 20), example_secret, "does not match");
    }
    SECTION("upper-case hex") {
        check(example_timestamp,
              "v0=A2114D57B48EAC39B9AD189DD8316235A7B4A8D21A10BD27519666489C69B503", example_secret,
              "does not match");
    }
    SECTION("no secret configured") {
        check(example_timestamp, example_signature, "", "no signing secret");
    }
}
