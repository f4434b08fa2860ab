// `tugboat faq search` on the fixture corpus: what doc writers see from the shell.

#include "faq/cli.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

using namespace tugboat;

namespace {

struct run {
    int code = 0;
    std::string out;
    std::string err;
};

run cli(std::vector<std::string> args) {
    std::ostringstream out;
    std::ostringstream err;
    int code = faq::run_cli(args, out, err);
    return {code, out.str(), err.str()};
}

const std::string docs = std::string{TUGBOAT_FIXTURE_DIR} + "/faq";

}  // namespace

TEST_CASE("faq cli: prints ranked sections relative to the docs folder", "[unit]") {
    auto r = cli({"search", "--docs", docs, "how", "do", "I", "roll", "back", "a", "deploy?"});
    CHECK(r.code == 0);
    CHECK(r.out.starts_with("answer (confidence"));
    CHECK(r.out.find("1. en/rollback.md#") != std::string::npos);
    CHECK(r.out.find("score ") != std::string::npos);
}

TEST_CASE("faq cli: --json says whether the bot would decline", "[unit]") {
    auto r = cli({"search", "--docs", docs, "--json", "what is on the lunch menu today?"});
    REQUIRE(r.code == 0);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["decision"] == "decline");
    CHECK(j["threshold"].template get<double>() > 0);
    // Why: each searched word and what it weighed (lunch and menu are found nowhere).
    REQUIRE(j["terms"].size() == j["term_weights"].size());
    CHECK(j["term_weights"][0].template get<double>() > 0);

    auto answered =
        nlohmann::json::parse(cli({"search", "--docs", docs, "--json", "배포를 롤백하려면?"}).out);
    CHECK(answered["decision"] == "answer");
    CHECK(answered["hits"][0]["path"] == "ko/rollback.md");
    // And what the confidence was computed from.
    CHECK(answered["evidence"]["terms"] == answered["terms"].size());
    CHECK(answered["evidence"]["coverage"] == answered["hits"][0]["coverage"]);
    CHECK(answered["hits"][0]["heading"].template get<std::string>().find("롤백") !=
          std::string::npos);
}

TEST_CASE("faq cli: names the other tools a question asks about that the docs lack", "[unit]") {
    auto r = cli({"search", "--docs", docs, "how do I roll back a Helm release?"});
    CHECK(r.code == 0);
    CHECK(r.out.starts_with("decline"));
    CHECK(r.out.find("names other tools the first section does not mention: Helm\n") !=
          std::string::npos);
    auto j = nlohmann::json::parse(
        cli({"search", "--docs", docs, "--json", "how do I roll back a Helm release?"}).out);
    CHECK(j["tools_unmentioned"] == nlohmann::json::array({"Helm"}));
    CHECK(j["evidence"]["others"] == 1);
}

TEST_CASE("faq cli: bad usage says what to type", "[unit]") {
    auto none = cli({"search", "how do I roll back?"});
    CHECK(none.code == 2);
    CHECK(none.err.find("--docs DIR") != std::string::npos);
    auto unknown = cli({"find"});
    CHECK(unknown.code == 2);
    CHECK(unknown.err.find("Usage: tugboat faq search") != std::string::npos);
    auto missing = cli({"search", "--docs", "/nonexistent", "q"});
    CHECK(missing.code == 1);
    CHECK(missing.err.find("faq.folders") != std::string::npos);
}
