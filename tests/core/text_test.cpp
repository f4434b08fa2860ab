#include "core/text.hpp"

#include <catch2/catch.hpp>

using namespace tugboat::core;

TEST_CASE("edit_distance counts insertions, deletions, substitutions and swaps", "[unit]") {
    CHECK(edit_distance("payments", "payments") == 0);
    CHECK(edit_distance("paymnets", "payments") == 1);  // adjacent swap
    CHECK(edit_distance("payment", "payments") == 1);
    CHECK(edit_distance("PROD", "prod") == 0);
    CHECK(edit_distance("", "abc") == 3);
    CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("suggest offers close names best first and nothing for unrelated input", "[unit]") {
    std::vector<std::string> names{"payments-api", "orders-api", "search", "prod", "beta", "dev"};
    CHECK(suggest("paymnets-api", names) == std::vector<std::string>{"payments-api"});
    CHECK(suggest("prd", names).front() == "prod");
    CHECK(suggest("pay", names) == std::vector<std::string>{"payments-api"});
    CHECK(suggest("zzzzzzzz", names).empty());
    CHECK(did_you_mean("bta", names) == " Did you mean `beta`?");
    CHECK(did_you_mean("qqqqq", names).empty());
}

TEST_CASE("parse_duration accepts unit suffixes and rejects the rest", "[unit]") {
    CHECK(parse_duration("90s") == std::chrono::seconds{90});
    CHECK(parse_duration("2h") == std::chrono::hours{2});
    CHECK(parse_duration("1h30m") == std::chrono::minutes{90});
    CHECK(parse_duration("1d") == std::chrono::hours{24});
    CHECK_FALSE(parse_duration("30").has_value());
    CHECK_FALSE(parse_duration("2x").has_value());
    CHECK_FALSE(parse_duration("").has_value());
    CHECK_FALSE(parse_duration("0m").has_value());
    CHECK_FALSE(parse_duration("-5m").has_value());
}

TEST_CASE("format_duration is compact", "[unit]") {
    CHECK(format_duration(std::chrono::seconds{45}) == "45s");
    CHECK(format_duration(std::chrono::seconds{185}) == "3m 05s");
    CHECK(format_duration(std::chrono::minutes{130}) == "2h 10m");
}
