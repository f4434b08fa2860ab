#include "commands/redact.hpp"
#include "tests/support/contains.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace tugboat;
using namespace tugboat::commands;
using test::contains;

namespace {

std::string red(std::string line) {
    redactor r;
    redact_state st;
    r.redact_line(line, st);
    return line;
}

}  // namespace

TEST_CASE("redact: bearer and basic credentials", "[unit][redact]") {
    CHECK(red("GET /x Authorization: Bearer abc.def-ghi_123") ==
          "GET /x Authorization: Bearer [redacted]");
    CHECK(red("auth=BEARER tok123 ok") == "auth=BEARER [redacted] ok");
    CHECK(red("Authorization: Basic dXNlcjpwYXNzd29yZA==") == "Authorization: Basic [redacted]");
    // Prose is left alone: "basic" followed by a short word is not a credential.
    CHECK(red("basic setup done") == "basic setup done");
}

TEST_CASE("redact: key=value secrets keep the key", "[unit][redact]") {
    CHECK(red("connecting with password=hunter2 user=bob") ==
          "connecting with password=[redacted] user=bob");
    CHECK(red("DB_PASSWORD: s3cr3t") == "DB_PASSWORD: [redacted]");
    CHECK(red(R"({"client_secret":"abc def","user":"x"})") ==
          R"({"client_secret":"[redacted]","user":"x"})");
    CHECK(red("GET /cb?code=1&access_token=xyz&state=2") ==
          "GET /cb?code=1&access_token=[redacted]&state=2");
    CHECK(red("api_key = 'k-123'") == "api_key = '[redacted]'");
    CHECK(red("X-Auth-Token: abc123") == "X-Auth-Token: [redacted]");
    // Ordinary key=value pairs and times are untouched.
    CHECK(red("10:00:01 INFO id=42 path=/healthz status=200") ==
          "10:00:01 INFO id=42 path=/healthz status=200");
    // Already redacted text stays as it is.
    CHECK(red("password=[redacted]") == "password=[redacted]");
}

TEST_CASE("redact: JWTs, AWS keys, URL passwords and Slack tokens", "[unit][redact]") {
    std::string jwt =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    CHECK(red("session " + jwt + " ok") == "session [redacted] ok");
    CHECK(red("key AKIAIOSFODNN7EXAMPLE used") == "key [redacted] used");
    CHECK(red("AKIAIOSFODNN7EXAMPLEX") == "AKIAIOSFODNN7EXAMPLEX");  // 21 characters: not a key
    CHECK(red("aws secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY end") ==
          "aws secret [redacted] end");
    // A git SHA is 40 characters too, but lower-case hex and not on an AWS line.
    CHECK(red("deployed 3f9c2ab1d4e5f60718293a4b5c6d7e8f90a1b2c3") ==
          "deployed 3f9c2ab1d4e5f60718293a4b5c6d7e8f90a1b2c3");
    CHECK(red("dsn postgres://app:pa55word@db:5432/x") ==
          "dsn postgres://app:[redacted]@db:5432/x");
    CHECK(red("url https://example.com:8443/path") == "url https://example.com:8443/path");
    CHECK(red("slack xoxb-1234-5678-abcdefgh failed") == "slack [redacted] failed");
}

TEST_CASE("redact: a PEM private key over several lines is hidden line by line", "[unit][redact]") {
    redactor r;
    std::string text =
        "loading key\n"
        "-----BEGIN RSA PRIVATE KEY-----\n"
        "MIIEowIBAAKCAQEA7\n"
        "abcdEFGH\n"
        "-----END RSA PRIVATE KEY----- done\n"
        "next line\n"
        "-----BEGIN CERTIFICATE-----\n";
    auto out = r.redact_text(text);
    CHECK(out ==
          "loading key\n[redacted]\n[redacted]\n[redacted]\n[redacted] done\nnext "
          "line\n-----BEGIN CERTIFICATE-----\n");
    // In one line, as JSON logs write it.
    CHECK(red(R"(cfg {"key":"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----"})") ==
          R"(cfg {"key":"[redacted]"})");
}

TEST_CASE("redact: extra patterns from the config", "[unit][redact]") {
    auto r = redactor::create({R"(\b\d{3}-\d{2}-\d{4}\b)"});
    REQUIRE(r);
    std::string line = "ssn 123-45-6789 and password=x";
    redact_state st;
    CHECK(r->redact_line(line, st));
    CHECK(line == "ssn [redacted] and password=[redacted]");
    auto bad = redactor::create({"(unclosed"});
    REQUIRE_FALSE(bad);
    CHECK(contains(bad.error().message, "(unclosed"));
}

TEST_CASE("redact: fast over ordinary lines", "[unit][redact]") {
    redactor r;
    redact_state st;
    std::string base =
        "2026-11-26T10:00:00Z INFO request id=0a1b2c3d method=GET path=/api/v1/payments "
        "status=200 duration_ms=12 ..............................";
    auto start = std::chrono::steady_clock::now();
    std::size_t changed = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string line = base;
        changed += r.redact_line(line, st) ? 1 : 0;
    }
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(changed == 0);
    // Generous bound (debug build, shared machine): 20 000 lines well under a second.
    CHECK(took < std::chrono::seconds{1});
}
