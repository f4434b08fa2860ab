#include "integrations/http_client.hpp"
#include "sandbox/http_server.hpp"
#include "sandbox/test_ca.hpp"
#include "tests/support/contains.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/test_ca_fixture.hpp"

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace {

namespace asio = boost::asio;
using namespace tugboat;
using namespace std::chrono_literals;
using integrations::http_client;
using integrations::http_method;
using integrations::http_request;
using sandbox::request_context;
using steady = std::chrono::steady_clock;
using test::contains;
using test::run_test;

// A one-shot signal between a test and a server handler: wait() returns once set() was called.
class test_event {
public:
    explicit test_event(asio::any_io_executor ex) : timer_(ex, steady::time_point::max()) {}
    void set() {
        set_ = true;
        timer_.cancel();
    }
    asio::awaitable<void> wait() {
        while (!set_) {
            co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

private:
    asio::steady_timer timer_;
    bool set_ = false;
};

integrations::http_client_options fast_client_options() {
    integrations::http_client_options options;
    options.tls = test::test_client_tls();
    options.retry.initial_backoff = 10ms;
    options.retry.max_backoff = 40ms;
    options.retry.max_retry_after = 2s;
    return options;
}

sandbox::http_server start_server(asio::io_context& ioc, std::shared_ptr<asio::ssl::context> tls,
                                  sandbox::http_server_options options = {}) {
    options.tls = std::move(tls);
    auto server = sandbox::http_server::start(ioc.get_executor(), std::move(options));
    REQUIRE(server);
    return std::move(*server);
}

http_client make_client(asio::io_context& ioc, core::logger& log,
                        integrations::http_client_options options = fast_client_options()) {
    auto client = http_client::create(ioc.get_executor(), log, std::move(options));
    REQUIRE(client);
    return std::move(*client);
}

// The io_context first, so it outlives (and is destroyed after) every socket.
struct client_fixture {
    explicit client_fixture(bool tls = true, sandbox::http_server_options options = {})
        : server(start_server(ioc, tls ? test::test_server_tls() : nullptr, options)),
          client(make_client(ioc, log)) {}

    http_request get(const std::string& path) const {
        http_request r;
        r.url = server.base_url() + path;
        return r;
    }
    http_request post(const std::string& path, std::string body) const {
        http_request r = get(path);
        r.method = http_method::post;
        r.body = std::move(body);
        r.headers = {{"Content-Type", "text/plain"}};
        return r;
    }

    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink, core::log_level::debug};
    sandbox::http_server server;
    http_client client;
};

// Polls `done` every 10 ms; for conditions no event announces (a server closing a socket).
template <class Pred>
asio::awaitable<void> wait_until(Pred done) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!done()) {
        timer.expires_after(10ms);
        co_await timer.async_wait(asio::use_awaitable);
    }
}

}  // namespace

TEST_CASE("http_client: GET and POST over TLS", "[loopback]") {
    client_fixture f;
    f.server.route("GET", "/things/{id}", [](request_context& ctx) -> asio::awaitable<void> {
        // GCC 12 rejects braced lists inside co_await expressions: build arguments first.
        sandbox::http_headers headers{{"X-Request-Id", "r-1"}};
        co_await ctx.respond_json(200, R"({"id":")" + ctx.param("id") + R"("})", headers);
    });
    f.server.route("POST", "/things", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond(201, "created " + ctx.body());
    });

    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto got = co_await f.client.send(f.get("/things/42?view=full"));
        REQUIRE(got);
        CHECK(got->status == 200);
        CHECK(got->body == R"({"id":"42"})");
        CHECK(got->header("x-request-id") == "r-1");

        auto made = co_await f.client.send(f.post("/things", "a thing"));
        REQUIRE(made);
        CHECK(made->status == 201);
        CHECK(made->body == "created a thing");
    }());

    const auto& seen = f.server.requests();
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].target == "/things/42?view=full");
    CHECK(seen[0].header("Host") == "127.0.0.1:" + std::to_string(f.server.port()));
    CHECK(seen[0].header("User-Agent") == "tugboat/0.1");
    CHECK(seen[1].method == "POST");
    CHECK(seen[1].body == "a thing");
    CHECK(seen[1].header("Content-Length") == "7");
}

TEST_CASE("http_client: plain http for local fakes", "[loopback]") {
    client_fixture f(false);
    f.server.route("GET", "/ping", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond(200, "pong");
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto got = co_await f.client.send(f.get("/ping"));
        REQUIRE(got);
        CHECK(got->body == "pong");
    }());
    CHECK(f.server.base_url().starts_with("http://127.0.0.1:"));
}

TEST_CASE("http_client: host names are resolved and matched to the certificate", "[loopback]") {
    client_fixture f;
    f.server.route("HEAD", "/ping", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond(204);
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        http_request r;
        r.method = http_method::head;
        r.url = "https://localhost:" + std::to_string(f.server.port()) + "/ping";
        auto got = co_await f.client.send(r);
        REQUIRE(got);
        CHECK(got->status == 204);
    }());
    REQUIRE(f.server.requests().size() == 1);
    CHECK(f.server.requests()[0].header("Host") == "localhost:" + std::to_string(f.server.port()));
}

TEST_CASE("http_client: keep-alive connections are reused", "[loopback]") {
    client_fixture f;
    f.server.route("GET", "/n", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond(200, "ok");
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
            auto got = co_await f.client.send(f.get("/n"));
            REQUIRE(got);
        }
    }());
    CHECK(f.server.requests().size() == 3);
    CHECK(f.server.connections_accepted() == 1);
    CHECK(f.client.idle_connections() == 1);
}

TEST_CASE("http_client: a pooled connection the server closed is replaced", "[loopback]") {
    sandbox::http_server_options options;
    options.idle_timeout = 100ms;
    client_fixture f(true, options);
    f.server.route("POST", "/n", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond(200, "ok");
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto first = co_await f.client.send(f.post("/n", "1"));
        REQUIRE(first);
        co_await wait_until([&] { return f.server.open_connections() == 0; });
        // Not idempotent, so only a connection known to be fresh may carry it.
        auto second = co_await f.client.send(f.post("/n", "2"));
        REQUIRE(second);
        CHECK(second->status == 200);
    }());
    CHECK(f.server.requests().size() == 2);
    CHECK(f.server.connections_accepted() == 2);
}

TEST_CASE("http_client: certificates from an unknown CA are rejected", "[loopback]") {
    static const auto other_ca = sandbox::test_ca::create("Some Other CA");
    static const auto other_cert = other_ca.issue_server({"localhost"}, {"127.0.0.1"});
    auto tls = sandbox::make_server_tls_context(other_cert.cert_pem, other_cert.key_pem);
    REQUIRE(tls);

    asio::io_context ioc;
    core::string_sink sink;
    core::logger log(sink);
    auto server = start_server(ioc, *tls);
    auto client = make_client(ioc, log);
    run_test(ioc, [&]() -> asio::awaitable<void> {
        http_request r;
        r.url = server.base_url() + "/";
        auto got = co_await client.send(r);
        REQUIRE_FALSE(got);
        CHECK(got.error().code == core::errc::protocol_error);
        CHECK(contains(got.error().message, "certificate"));
        CHECK(contains(got.error().message, "ca_file"));
    }());
    CHECK(server.requests().empty());
    CHECK(server.connections_accepted() == 1);  // verification failures are not retried
}

TEST_CASE("http_client: a certificate for another host is rejected", "[loopback]") {
    const auto& pki = sandbox::default_test_pki();
    static const auto wrong = pki.ca.issue_server({"wrong.example"}, {});
    auto tls = sandbox::make_server_tls_context(wrong.cert_pem, wrong.key_pem);
    REQUIRE(tls);

    asio::io_context ioc;
    core::string_sink sink;
    core::logger log(sink);
    auto server = start_server(ioc, *tls);
    auto client = make_client(ioc, log);
    run_test(ioc, [&]() -> asio::awaitable<void> {
        http_request r;
        r.url = server.base_url() + "/";
        auto got = co_await client.send(r);
        REQUIRE_FALSE(got);
        CHECK(got.error().code == core::errc::protocol_error);
        CHECK(contains(got.error().message, "mismatch"));
    }());
    CHECK(server.requests().empty());
}

TEST_CASE("http_client: client certificates reach the server", "[loopback]") {
    asio::io_context ioc;
    core::string_sink sink;
    core::logger log(sink);
    auto server = start_server(ioc, test::test_server_tls(true));
    server.route("GET", "/whoami", [](request_context& ctx) -> asio::awaitable<void> {
        std::string who = "anonymous";
        if (ctx.client()) {
            who = ctx.client()->common_name;
            for (const auto& group : ctx.client()->organizations) {
                who += " " + group;
            }
        }
        co_await ctx.respond(200, who);
    });
    auto options = fast_client_options();
    const auto& pki = sandbox::default_test_pki();
    options.tls.client_cert_pem = pki.client.cert_pem;
    options.tls.client_key_pem = pki.client.key_pem;
    auto with_cert = make_client(ioc, log, options);
    auto without_cert = make_client(ioc, log);

    run_test(ioc, [&]() -> asio::awaitable<void> {
        http_request r;
        r.url = server.base_url() + "/whoami";
        auto named = co_await with_cert.send(r);
        REQUIRE(named);
        CHECK(named->body == "tugboat system:masters");
        auto anonymous = co_await without_cert.send(r);
        REQUIRE(anonymous);
        CHECK(anonymous->body == "anonymous");
    }());
}

TEST_CASE("http_client: the deadline bounds a slow server", "[loopback]") {
    client_fixture f;
    f.server.route("GET", "/slow", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.sleep(10s);
        co_await ctx.respond(200, "too late");
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto r = f.get("/slow");
        r.timeout = 300ms;
        auto started = steady::now();
        auto got = co_await f.client.send(r);
        auto elapsed = steady::now() - started;
        REQUIRE_FALSE(got);
        CHECK(got.error().code == core::errc::timeout);
        CHECK(contains(got.error().message, "GET 127.0.0.1:"));
        CHECK(elapsed >= 300ms);
        CHECK(elapsed < 2s);
    }());
    CHECK(f.server.requests().size() == 1);  // no retry once the deadline has passed
}

TEST_CASE("http_client: cancellation ends a request promptly", "[loopback]") {
    using namespace asio::experimental::awaitable_operators;
    client_fixture f;
    f.server.route("GET", "/slow", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.sleep(10s);
        co_await ctx.respond(200, "too late");
    });
    f.server.route("GET", "/fast", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond(200, "fast");
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        std::optional<core::result<integrations::http_response>> outcome;
        auto request = [&]() -> asio::awaitable<void> {
            outcome = co_await f.client.send(f.get("/slow"));
        };
        asio::steady_timer timer(f.ioc, 100ms);
        auto started = steady::now();
        auto winner = co_await (request() || timer.async_wait(asio::use_awaitable));
        CHECK(winner.index() == 1);
        CHECK(steady::now() - started < 2s);
        // Either the error value or, under Asio's default throw-on-cancel, no value at all.
        if (outcome) {
            REQUIRE_FALSE(*outcome);
            CHECK(outcome->error().code == core::errc::cancelled);
        }

        auto fast = co_await f.client.send(f.get("/fast"));
        REQUIRE(fast);
        CHECK(fast->body == "fast");
    }());
}

TEST_CASE("http_client: 429 waits for Retry-After", "[loopback]") {
    client_fixture f;
    int calls = 0;
    f.server.route("GET", "/limited", [&](request_context& ctx) -> asio::awaitable<void> {
        if (++calls == 1) {
            sandbox::http_headers headers{{"Retry-After", "1"}};
            co_await ctx.respond(429, "slow down", headers);
        } else {
            co_await ctx.respond(200, "ok");
        }
    });
    f.server.route("GET", "/very-limited", [&](request_context& ctx) -> asio::awaitable<void> {
        sandbox::http_headers headers{{"Retry-After", "120"}};
        co_await ctx.respond(429, "come back in two minutes", headers);
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto started = steady::now();
        auto got = co_await f.client.send(f.get("/limited"));
        auto elapsed = steady::now() - started;
        REQUIRE(got);
        CHECK(got->status == 200);
        CHECK(calls == 2);
        CHECK(elapsed >= 1s);

        // Longer than the client may wait: handed back at once for the caller to schedule.
        started = steady::now();
        auto limited = co_await f.client.send(f.get("/very-limited"));
        REQUIRE(limited);
        CHECK(limited->status == 429);
        CHECK(limited->header("Retry-After") == "120");
        CHECK(steady::now() - started < 1s);
    }());
    CHECK(f.server.requests().size() == 3);
    CHECK(contains(f.sink.text(), "event=http_retry"));
}

TEST_CASE("http_client: 500 is retried for GET but not for POST", "[loopback]") {
    client_fixture f;
    int calls = 0;
    f.server.route("*", "/broken", [&](request_context& ctx) -> asio::awaitable<void> {
        ++calls;
        co_await ctx.respond(500, "internal error");
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto got = co_await f.client.send(f.get("/broken"));
        REQUIRE(got);
        CHECK(got->status == 500);
        CHECK(got->body == "internal error");
        CHECK(calls == 3);

        calls = 0;
        auto posted = co_await f.client.send(f.post("/broken", "x"));
        REQUIRE(posted);
        CHECK(posted->status == 500);
        CHECK(calls == 1);
    }());
}

TEST_CASE("http_client: a connection dropped mid-response", "[loopback]") {
    client_fixture f;
    int calls = 0;
    f.server.route("*", "/flaky", [&](request_context& ctx) -> asio::awaitable<void> {
        if (++calls == 1) {
            co_await ctx.begin_chunked(200);
            co_await ctx.write_chunk("partial");
            ctx.drop();
            co_return;
        }
        co_await ctx.respond(200, "complete");
    });
    SECTION("GET is retried") {
        run_test(f.ioc, [&]() -> asio::awaitable<void> {
            auto got = co_await f.client.send(f.get("/flaky"));
            REQUIRE(got);
            CHECK(got->body == "complete");
            CHECK(calls == 2);
        }());
    }
    SECTION("POST fails, since the server may have acted on it") {
        run_test(f.ioc, [&]() -> asio::awaitable<void> {
            auto got = co_await f.client.send(f.post("/flaky", "x"));
            REQUIRE_FALSE(got);
            CHECK(got.error().code == core::errc::unavailable);
            CHECK(calls == 1);
        }());
    }
}

TEST_CASE("http_client: connection refused is retried, then reported", "[loopback]") {
    asio::io_context ioc;
    core::string_sink sink;
    core::logger log(sink, core::log_level::debug);
    std::string url;
    {
        auto closed = start_server(ioc, nullptr);
        url = closed.base_url() + "/x";
    }
    auto client = make_client(ioc, log);
    run_test(ioc, [&]() -> asio::awaitable<void> {
        http_request r;
        r.method = http_method::post;  // nothing was sent, so even a POST may be retried
        r.url = url;
        auto got = co_await client.send(r);
        REQUIRE_FALSE(got);
        CHECK(got.error().code == core::errc::unavailable);
        CHECK(contains(got.error().message, "cannot connect"));
    }());
    CHECK(contains(sink.text(), "attempt=3"));
}

TEST_CASE("http_client: streams deliver body pieces as they arrive", "[loopback]") {
    client_fixture f;
    test_event client_saw_first(f.ioc.get_executor());
    f.server.route("GET", "/watch", [&](request_context& ctx) -> asio::awaitable<void> {
        sandbox::http_headers headers{{"Content-Type", "application/json"}};
        co_await ctx.begin_chunked(200, headers);
        co_await ctx.write_chunk("{\"n\":1}\n");
        co_await client_saw_first.wait();  // the rest only after the client has seen the start
        co_await ctx.write_chunk("{\"n\":2}\n");
        co_await ctx.write_chunk("{\"n\":3}\n");
        co_await ctx.end_chunked();
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto stream = co_await f.client.open_stream(f.get("/watch?watch=true"), 2s);
        REQUIRE(stream);
        CHECK(stream->status() == 200);
        CHECK(stream->header("content-type") == "application/json");

        std::string first;
        while (!first.ends_with('\n')) {
            auto piece = co_await stream->next();
            REQUIRE(piece);
            REQUIRE_FALSE(piece->empty());
            first += *piece;
        }
        CHECK(first == "{\"n\":1}\n");
        client_saw_first.set();

        auto rest = co_await stream->read_all();
        REQUIRE(rest);
        CHECK(*rest == "{\"n\":2}\n{\"n\":3}\n");
        auto after_end = co_await stream->next();
        REQUIRE(after_end);
        CHECK(after_end->empty());
    }());
}

TEST_CASE("http_client: a stream's status is known before its body", "[loopback]") {
    client_fixture f;
    f.server.route("GET", "/watch", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond_json(410, R"({"kind":"Status","reason":"Expired","code":410})");
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto stream = co_await f.client.open_stream(f.get("/watch"), 2s);
        REQUIRE(stream);
        CHECK(stream->status() == 410);
        auto body = co_await stream->read_all();
        REQUIRE(body);
        CHECK(contains(*body, "Expired"));
    }());
}

TEST_CASE("http_client: an idle stream times out", "[loopback]") {
    client_fixture f;
    f.server.route("GET", "/logs", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.begin_chunked(200);
        co_await ctx.write_chunk("line 1\n");
        co_await ctx.sleep(10s);
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto stream = co_await f.client.open_stream(f.get("/logs?follow=true"), 200ms);
        REQUIRE(stream);
        auto first = co_await stream->next();
        REQUIRE(first);
        CHECK(*first == "line 1\n");
        auto idle = co_await stream->next();
        REQUIRE_FALSE(idle);
        CHECK(idle.error().code == core::errc::timeout);
        CHECK(contains(idle.error().message, "no data for 200 ms"));
        auto again = co_await stream->next();  // the failure sticks
        REQUIRE_FALSE(again);
    }());
}

TEST_CASE("http_client: a stream cut by the server is an error", "[loopback]") {
    client_fixture f;
    f.server.route("GET", "/watch", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.begin_chunked(200);
        co_await ctx.write_chunk("{}\n");
        ctx.drop();
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto stream = co_await f.client.open_stream(f.get("/watch"), 2s);
        REQUIRE(stream);
        auto body = co_await stream->read_all();
        REQUIRE_FALSE(body);
        CHECK(body.error().code == core::errc::unavailable);
    }());
}

TEST_CASE("http_client: bad URLs and headers are refused before connecting", "[loopback]") {
    client_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        http_request ftp;
        ftp.url = "ftp://example.com/x?token=hidden";
        auto got = co_await f.client.send(ftp);
        REQUIRE_FALSE(got);
        CHECK(got.error().code == core::errc::invalid_argument);
        CHECK(contains(got.error().message, "https://"));
        CHECK_FALSE(contains(got.error().message, "hidden"));

        http_request relative;
        relative.url = "/just/a/path";
        got = co_await f.client.send(relative);
        REQUIRE_FALSE(got);
        CHECK(got.error().code == core::errc::invalid_argument);

        http_request bad_port;
        bad_port.url = "https://127.0.0.1:70000/x";
        got = co_await f.client.send(bad_port);
        REQUIRE_FALSE(got);
        CHECK(got.error().code == core::errc::invalid_argument);
        CHECK(contains(got.error().message, "port"));

        auto injected = f.get("/x");
        injected.headers = {{"X-Evil", "a\r\nHost: elsewhere"}};
        got = co_await f.client.send(injected);
        REQUIRE_FALSE(got);
        CHECK(got.error().code == core::errc::invalid_argument);
    }());
    CHECK(f.server.connections_accepted() == 0);
}

TEST_CASE("http_client: logs name the request but never credentials", "[loopback]") {
    client_fixture f;
    f.server.route("GET", "/private", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond(200, "ok");
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto r = f.get("/private?access=s3cr3t-query");
        r.headers = {{"Authorization", "Bearer s3cr3t-header"}};
        auto got = co_await f.client.send(r);
        REQUIRE(got);
    }());
    auto text = f.sink.text();
    CHECK(contains(text, "event=http_request method=GET"));
    CHECK(contains(text, "path=/private"));
    CHECK(contains(text, "result=200"));
    CHECK_FALSE(contains(text, "s3cr3t"));
    CHECK(f.server.requests().at(0).header("Authorization") == "Bearer s3cr3t-header");
}

TEST_CASE("http_client: stopping the io_context mid-request is safe", "[loopback]") {
    client_fixture f;
    f.server.route("GET", "/slow", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.sleep(10s);
        co_await ctx.respond(200, "too late");
    });
    bool finished = false;
    asio::co_spawn(
        f.ioc,
        [&]() -> asio::awaitable<void> {
            auto got = co_await f.client.send(f.get("/slow"));
            finished = true;
        },
        asio::detached);
    auto until = steady::now() + 5s;
    while (f.server.requests().empty() && steady::now() < until) {
        f.ioc.run_one_until(until);
    }
    REQUIRE(f.server.requests().size() == 1);
    f.ioc.stop();
    CHECK_FALSE(finished);
    // The fixture now destroys the client, the server and the io_context with both coroutines
    // still suspended; ASan checks that nothing dangles.
}

TEST_CASE("http_client: concurrent requests to one host share a few connections", "[loopback]") {
    client_fixture f;
    std::size_t most_open = 0;
    f.server.route("POST", "/answer", [&](request_context& ctx) -> asio::awaitable<void> {
        most_open = std::max(most_open, f.server.open_connections());
        co_await ctx.sleep(5ms);  // long enough for all 50 to be in flight together
        co_await ctx.respond(200, "ok " + ctx.body());
    });
    int ok = 0;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        int running = 50;
        test_event all_done(f.ioc.get_executor());
        for (int i = 0; i < 50; ++i) {
            asio::co_spawn(
                f.ioc,
                [&, i]() -> asio::awaitable<void> {
                    auto got = co_await f.client.send(f.post("/answer", std::to_string(i)));
                    ok += got && got->body == "ok " + std::to_string(i) ? 1 : 0;
                    if (--running == 0) {
                        all_done.set();
                    }
                },
                asio::detached);
        }
        co_await all_done.wait();
    }());
    CHECK(ok == 50);
    CHECK(f.server.connections_accepted() == 8);  // the default max_connections_per_host
    CHECK(most_open <= 8);
    CHECK(f.client.idle_connections() == 8);
}

// A client allowed one connection per host, and a route that holds it until released.
struct one_connection_fixture : client_fixture {
    one_connection_fixture() : release_busy(ioc.get_executor()) {
        auto options = fast_client_options();
        options.max_connections_per_host = 1;
        client = make_client(ioc, log, options);
        server.route("GET", "/busy", [this](request_context& ctx) -> asio::awaitable<void> {
            co_await release_busy.wait();
            co_await ctx.respond(200, "busy done");
        });
        server.route("GET", "/quick", [](request_context& ctx) -> asio::awaitable<void> {
            co_await ctx.respond(200, "quick");
        });
    }

    // Starts a request that occupies the host's only connection until release_busy.set().
    void occupy(std::optional<core::result<integrations::http_response>>& outcome) {
        asio::co_spawn(
            ioc,
            [this, &outcome]() -> asio::awaitable<void> {
                outcome = co_await client.send(get("/busy"));
            },
            asio::detached);
    }

    test_event release_busy;
};

TEST_CASE("http_client: a request waiting for a connection honours its deadline", "[loopback]") {
    one_connection_fixture f;
    std::optional<core::result<integrations::http_response>> busy;
    f.occupy(busy);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        co_await wait_until([&] { return f.server.requests().size() == 1; });
        auto r = f.get("/quick");
        r.timeout = 200ms;
        auto started = steady::now();
        auto got = co_await f.client.send(r);
        auto elapsed = steady::now() - started;
        REQUIRE_FALSE(got);
        CHECK(got.error().code == core::errc::timeout);
        CHECK(contains(got.error().message, "no connection to 127.0.0.1:"));
        CHECK(contains(got.error().message, "max_connections_per_host"));
        CHECK(elapsed >= 200ms);
        CHECK(elapsed < 2s);

        // The queue is intact: once the connection is free the next request gets it.
        f.release_busy.set();
        auto quick = co_await f.client.send(f.get("/quick"));
        REQUIRE(quick);
        CHECK(quick->body == "quick");
    }());
    REQUIRE(busy);
    REQUIRE(*busy);
    CHECK((*busy)->body == "busy done");
    CHECK(f.server.connections_accepted() == 1);
}

TEST_CASE("http_client: a request waiting for a connection can be cancelled", "[loopback]") {
    using namespace asio::experimental::awaitable_operators;
    one_connection_fixture f;
    std::optional<core::result<integrations::http_response>> busy;
    f.occupy(busy);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        co_await wait_until([&] { return f.server.requests().size() == 1; });
        std::optional<core::result<integrations::http_response>> outcome;
        auto request = [&]() -> asio::awaitable<void> {
            outcome = co_await f.client.send(f.get("/quick"));
        };
        asio::steady_timer timer(f.ioc, 100ms);
        auto started = steady::now();
        auto winner = co_await (request() || timer.async_wait(asio::use_awaitable));
        CHECK(winner.index() == 1);
        CHECK(steady::now() - started < 1s);
        if (outcome) {
            REQUIRE_FALSE(*outcome);
            CHECK(outcome->error().code == core::errc::cancelled);
        }
        CHECK(f.server.requests().size() == 1);  // the cancelled request never went out

        f.release_busy.set();
        auto quick = co_await f.client.send(f.get("/quick"));
        REQUIRE(quick);
        CHECK(quick->body == "quick");
    }());
    REQUIRE(busy);
    CHECK(*busy);
    CHECK(f.server.connections_accepted() == 1);
}

TEST_CASE("http_client: waiting requests are served first come, first served", "[loopback]") {
    one_connection_fixture f;
    std::optional<core::result<integrations::http_response>> busy;
    f.occupy(busy);
    std::vector<int> order;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        co_await wait_until([&] { return f.server.requests().size() == 1; });
        int running = 3;
        test_event all_done(f.ioc.get_executor());
        for (int i = 0; i < 3; ++i) {
            asio::co_spawn(
                f.ioc,
                [&, i]() -> asio::awaitable<void> {
                    auto got = co_await f.client.send(f.get("/quick"));
                    if (got) {
                        order.push_back(i);
                    }
                    if (--running == 0) {
                        all_done.set();
                    }
                },
                asio::detached);
        }
        f.release_busy.set();
        co_await all_done.wait();
    }());
    CHECK(order == std::vector<int>{0, 1, 2});
    CHECK(f.server.connections_accepted() == 1);
}

TEST_CASE("http_client: streams are not held up by a busy pool", "[loopback]") {
    one_connection_fixture f;
    f.server.route("GET", "/watch", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.begin_chunked(200);
        co_await ctx.write_chunk("event-1\n");
        co_await ctx.end_chunked();
    });
    std::optional<core::result<integrations::http_response>> busy;
    f.occupy(busy);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        co_await wait_until([&] { return f.server.requests().size() == 1; });
        auto r = f.get("/watch");
        r.timeout = 1s;
        auto stream = co_await f.client.open_stream(r, 1s);
        REQUIRE(stream);
        CHECK(stream->status() == 200);
        auto body = co_await stream->read_all();
        REQUIRE(body);
        CHECK(*body == "event-1\n");
        CHECK(f.server.connections_accepted() == 2);  // its own connection

        // And the stream did not take the pool's place either.
        f.release_busy.set();
        auto quick = co_await f.client.send(f.get("/quick"));
        REQUIRE(quick);
    }());
    REQUIRE(busy);
    CHECK(*busy);
}

TEST_CASE("http_client: new connections resume the TLS session", "[loopback]") {
    auto server_tls = test::test_server_tls();
    client_fixture f;
    f.server = start_server(f.ioc, server_tls);
    f.server.route("GET", "/n", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond(200, "ok");
    });
    auto options = fast_client_options();
    options.max_idle_per_host = 0;  // every request on a new connection
    f.client = make_client(f.ioc, f.log, options);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
            auto got = co_await f.client.send(f.get("/n"));
            REQUIRE(got);
        }
    }());
    CHECK(f.server.connections_accepted() == 3);
    // One full handshake; the TLS 1.3 ticket it sent after the handshake resumed the others.
    auto* server_ctx = server_tls->native_handle();
    CHECK(SSL_CTX_sess_accept_good(server_ctx) == 3);
    CHECK(SSL_CTX_sess_hits(server_ctx) == 2);
    CHECK(contains(f.sink.text(), "tls_resumed=true"));
}

TEST_CASE("http_client: a TLS session is never resumed with another host name", "[loopback]") {
    auto server_tls = test::test_server_tls();
    client_fixture f;
    f.server = start_server(f.ioc, server_tls);
    f.server.route("GET", "/n", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond(200, "ok");
    });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto by_ip = co_await f.client.send(f.get("/n"));
        REQUIRE(by_ip);
        http_request r;
        r.url = "https://localhost:" + std::to_string(f.server.port()) + "/n";
        auto by_name = co_await f.client.send(r);
        REQUIRE(by_name);
    }());
    CHECK(f.server.connections_accepted() == 2);
    CHECK(SSL_CTX_sess_hits(server_tls->native_handle()) == 0);
}

TEST_CASE("http_client: a server that fails resumed handshakes gets full ones", "[loopback]") {
    // An OpenSSL server asking for client certificates without a session id context fails
    // the handshake of a resumption attempt (the sandbox server is such a one).
    auto server_tls = test::test_server_tls(true);
    client_fixture f;
    f.server = start_server(f.ioc, server_tls);
    f.server.route("GET", "/n", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond(200, "ok");
    });
    auto options = fast_client_options();
    options.max_idle_per_host = 0;
    f.client = make_client(f.ioc, f.log, options);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
            auto r = f.get("/n");
            r.max_attempts = 1;
            auto got = co_await f.client.send(r);
            REQUIRE(got);
            CHECK(got->status == 200);
        }
    }());
    CHECK(f.server.requests().size() == 3);
}

TEST_CASE("tls: equal options share one context, different ones do not", "[unit]") {
    auto a = integrations::make_client_tls_context(test::test_client_tls());
    auto b = integrations::make_client_tls_context(test::test_client_tls());
    integrations::tls_options other = test::test_client_tls();
    other.system_roots = true;
    auto c = integrations::make_client_tls_context(other);
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(c);
    CHECK(a->get() == b->get());
    CHECK(a->get() != c->get());
}

// Measurements for the report, not assertions: run with "[.perf]".
TEST_CASE("http_client: handshakes per 1,000 concurrent requests", "[.perf]") {
    auto server_tls = test::test_server_tls();
    client_fixture f;
    f.server = start_server(f.ioc, server_tls);
    f.server.route("POST", "/answer", [](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.respond(200, "ok");
    });
    int ok = 0;
    const auto started = steady::now();
    run_test(
        f.ioc,
        [&]() -> asio::awaitable<void> {
            int running = 200;
            test_event all_done(f.ioc.get_executor());
            for (int w = 0; w < 200; ++w) {
                asio::co_spawn(
                    f.ioc,
                    [&]() -> asio::awaitable<void> {
                        for (int i = 0; i < 5; ++i) {
                            auto got = co_await f.client.send(f.post("/answer", "x"));
                            ok += got && got->status == 200 ? 1 : 0;
                        }
                        if (--running == 0) {
                            all_done.set();
                        }
                    },
                    asio::detached);
            }
            co_await all_done.wait();
        }(),
        60s);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started);
    auto* ctx = server_tls->native_handle();
    long full = SSL_CTX_sess_accept_good(ctx) - SSL_CTX_sess_hits(ctx);
    WARN("1000 requests, 200 in flight: ok="
         << ok << " connections=" << f.server.connections_accepted() << " full_handshakes=" << full
         << " resumed=" << SSL_CTX_sess_hits(ctx) << " wall_ms=" << ms.count());
    CHECK(ok == 1000);
}

TEST_CASE("tls: time to build client contexts with the system roots", "[.perf]") {
    using us = std::chrono::microseconds;
    auto time_us = [](auto&& f) {
        const auto started = steady::now();
        f();
        return std::chrono::duration_cast<us>(steady::now() - started).count();
    };
    integrations::tls_options roots;  // system roots, as the Slack clients use
    // The process's first context also pays OpenSSL's initialisation (config, providers).
    auto init =
        time_us([&] { REQUIRE(integrations::make_client_tls_context(test::test_client_tls())); });
    // No hashed directory: the whole bundle file is parsed, as before.
    setenv("SSL_CERT_DIR", "/nonexistent", 1);
    auto bundle = time_us([&] { REQUIRE(integrations::make_client_tls_context(roots)); });
    unsetenv("SSL_CERT_DIR");
    std::shared_ptr<asio::ssl::context> kept;
    auto dir = time_us([&] {
        auto ctx = integrations::make_client_tls_context(roots);
        REQUIRE(ctx);
        kept = *ctx;
    });
    auto shared = time_us([&] { REQUIRE(integrations::make_client_tls_context(roots)); });
    WARN("OpenSSL init + test-CA context " << init << " us; system roots: bundle " << bundle
                                           << " us, hashed dir " << dir
                                           << " us, shared (second client) " << shared << " us");
}
