#include "core/logger.hpp"

#include <catch2/catch.hpp>

using namespace tugboat::core;

TEST_CASE("logger writes key=value lines and honours the level", "[unit]") {
    string_sink sink;
    logger log(sink, log_level::info);
    log.debug("hidden");
    log.info("reconnect", {{"attempt", 3}, {"reason", "refresh requested"}});
    auto text = sink.text();
    CHECK(text.find("hidden") == std::string::npos);
    CHECK(text.find("level=info event=reconnect attempt=3 reason=\"refresh requested\"") !=
          std::string::npos);
}

TEST_CASE("logger writes JSON lines on request", "[unit]") {
    string_sink sink;
    logger log(sink, log_level::debug, log_format::json);
    log.warn("slack_error", {{"method", "chat.postMessage"}, {"quote", "a\"b"}});
    auto text = sink.text();
    CHECK(text.find(R"("level":"warn","event":"slack_error","method":"chat.postMessage")") !=
          std::string::npos);
    CHECK(text.find(R"("quote":"a\"b")") != std::string::npos);
}

TEST_CASE("tokens, passwords and Authorization headers never reach a log", "[unit]") {
    string_sink sink;
    for (auto format : {log_format::kv, log_format::json}) {
        logger log(sink, log_level::debug, format);
        log.info("request", {{"authorization", "Bearer abc.def.ghi"},
                             {"bot_token", "xoxb-1234-5678-abcdef"},
                             {"header", "Authorization: Basic dXNlcjpwYXNz"},
                             {"url", "https://x/?token=s3cr3t&next=1"},
                             {"body", "password=hunter2 user=bob"},
                             {"text", "connect with xapp-1-A111-222-abc please"},
                             {"jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"},
                             {"aws", "key AKIAIOSFODNN7EXAMPLE here"}});
    }
    auto text = sink.text();
    for (const char* leaked : {"abc.def.ghi", "xoxb-1234", "dXNlcjpwYXNz", "s3cr3t", "hunter2",
                               "xapp-1-A111", "eyJhbGciOiJIUzI1NiJ9", "AKIAIOSFODNN7EXAMPLE"}) {
        INFO(leaked);
        CHECK(text.find(leaked) == std::string::npos);
    }
    CHECK(text.find("user=bob") != std::string::npos);  // ordinary text survives
    CHECK(text.find("next=1") != std::string::npos);
}
