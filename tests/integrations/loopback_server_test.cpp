// The loopback server every fake is built on: routing, request parsing, transcripts, fault
// injection, WebSockets and stop(). Driven by the real HTTP client and by Beast's WebSocket
// client.

#include "integrations/byte_stream.hpp"
#include "integrations/http_client.hpp"
#include "sandbox/http_server.hpp"
#include "sandbox/test_ca.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/test_ca_fixture.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using namespace tugboat;
using namespace std::chrono_literals;
using sandbox::request_context;
using test::run_test;
using test::use_tuple;
sandbox::http_server start_server(asio::io_context& ioc, bool tls) {
    sandbox::http_server_options options;
    options.tls = tls ? test::test_server_tls() : nullptr;
    auto server = sandbox::http_server::start(ioc.get_executor(), std::move(options));
    REQUIRE(server);
    return std::move(*server);
}

integrations::http_client make_client(asio::io_context& ioc) {
    integrations::http_client_options options;
    options.tls = test::test_client_tls();
    auto client =
        integrations::http_client::create(ioc.get_executor(), core::null_logger(), options);
    REQUIRE(client);
    return std::move(*client);
}

integrations::http_request get(const sandbox::http_server& server, const std::string& target) {
    integrations::http_request r;
    r.url = server.base_url() + target;
    r.max_attempts = 1;
    return r;
}

// Runs `session` against a WebSocket client connected to `target` (plain or TLS per server).
template <class Session>
asio::awaitable<void> with_websocket(asio::io_context& ioc, const sandbox::http_server& server,
                                     const std::string& target, bool tls, Session session) {
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), server.port());
    std::string host = "127.0.0.1:" + std::to_string(server.port());
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.add_certificate_authority(asio::buffer(sandbox::default_test_pki().ca.cert_pem()));
    ctx.set_verify_mode(asio::ssl::verify_peer);
    websocket::stream<integrations::byte_stream> ws(beast::tcp_stream(ioc), tls ? &ctx : nullptr);
    co_await ws.next_layer().tcp().async_connect(endpoint, asio::use_awaitable);
    if (auto* layer = ws.next_layer().tls()) {
        layer->set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
        co_await layer->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    }
    co_await ws.async_handshake(host, target, asio::use_awaitable);
    co_await session(ws);
}

}  // namespace

TEST_CASE("loopback server: routes, parameters and the transcript", "[loopback]") {
    asio::io_context ioc;
    auto server = start_server(ioc, false);
    auto client = make_client(ioc);
    server.route("GET", "/job/{name}/{build}/api/json",
                 [](request_context& ctx) -> asio::awaitable<void> {
                     std::string text = ctx.param("name") + "#" + ctx.param("build") +
                                        " q=" + ctx.query("tree").value_or("-");
                     co_await ctx.respond(200, text);
                 });
    server.route("POST", "/api/*", [](request_context& ctx) -> asio::awaitable<void> {
        auto form = ctx.form();
        co_await ctx.respond(200, ctx.param("*") + " " + form["channel"] + " " + form["text"]);
    });
    server.route("GET", "/quiet", [](request_context&) -> asio::awaitable<void> { co_return; });

    run_test(ioc, [&]() -> asio::awaitable<void> {
        auto job = co_await client.send(get(server, "/job/pay%20ments/17/api/json?tree=a%2Cb"));
        REQUIRE(job);
        CHECK(job->body == "pay ments#17 q=a,b");

        auto post = get(server, "/api/chat.postMessage");
        post.method = integrations::http_method::post;
        post.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
        post.body = "channel=C123&text=hello+world%21";
        auto posted = co_await client.send(post);
        REQUIRE(posted);
        CHECK(posted->body == "chat.postMessage C123 hello world!");

        auto missing = co_await client.send(get(server, "/nowhere"));
        REQUIRE(missing);
        CHECK(missing->status == 404);
        CHECK(missing->body.find("no route for GET /nowhere") != std::string::npos);

        auto quiet = co_await client.send(get(server, "/quiet"));
        REQUIRE(quiet);
        CHECK(quiet->status == 500);
        CHECK(quiet->body.find("did not answer") != std::string::npos);
    }());

    const auto& seen = server.requests();
    REQUIRE(seen.size() == 4);
    CHECK(seen[0].path() == "/job/pay%20ments/17/api/json");
    CHECK(seen[0].status == 200);
    CHECK(seen[1].body == "channel=C123&text=hello+world%21");
    CHECK(seen[1].header("content-type") == "application/x-www-form-urlencoded");
    CHECK(seen[2].status == 404);
    CHECK(seen[3].status == 500);
    server.clear_requests();
    CHECK(server.requests().empty());
}

TEST_CASE("loopback server: WebSocket sessions", "[loopback]") {
    bool tls = GENERATE(false, true);
    CAPTURE(tls);
    asio::io_context ioc;
    auto server = start_server(ioc, tls);
    int client_close_code = -1;
    server.route("GET", "/link", [&](request_context& ctx) -> asio::awaitable<void> {
        REQUIRE(ctx.is_websocket_upgrade());
        CHECK(ctx.query("ticket") == "t-1");
        auto ws = co_await ctx.accept_websocket();
        REQUIRE(ws);
        auto hello = co_await (*ws)->write(R"({"type":"hello"})");
        REQUIRE(hello);
        auto message = co_await (*ws)->read();
        REQUIRE(message);
        auto echoed = co_await (*ws)->write("echo: " + *message);
        REQUIRE(echoed);
        auto closed = co_await (*ws)->read();
        REQUIRE_FALSE(closed);
        client_close_code = (*ws)->close_code();
    });
    server.route("GET", "/kicked", [&](request_context& ctx) -> asio::awaitable<void> {
        auto ws = co_await ctx.accept_websocket();
        REQUIRE(ws);
        co_await (*ws)->close(4001, "refresh requested");
    });
    server.route("GET", "/crash", [&](request_context& ctx) -> asio::awaitable<void> {
        auto ws = co_await ctx.accept_websocket();
        REQUIRE(ws);
        (*ws)->drop();
    });

    run_test(ioc, [&]() -> asio::awaitable<void> {
        co_await with_websocket(
            ioc, server, "/link?ticket=t-1", tls, [](auto& ws) -> asio::awaitable<void> {
                beast::flat_buffer buffer;
                co_await ws.async_read(buffer, asio::use_awaitable);
                CHECK(beast::buffers_to_string(buffer.data()) == R"({"type":"hello"})");
                buffer.clear();
                co_await ws.async_write(asio::buffer(std::string("ack")), asio::use_awaitable);
                co_await ws.async_read(buffer, asio::use_awaitable);
                CHECK(beast::buffers_to_string(buffer.data()) == "echo: ack");
                co_await ws.async_close(websocket::close_code::normal, asio::use_awaitable);
            });

        co_await with_websocket(ioc, server, "/kicked", tls, [](auto& ws) -> asio::awaitable<void> {
            beast::flat_buffer buffer;
            auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
            CHECK(ec == websocket::error::closed);
            CHECK(ws.reason().code == 4001);
            CHECK(std::string(ws.reason().reason.data(), ws.reason().reason.size()) ==
                  "refresh requested");
        });

        co_await with_websocket(ioc, server, "/crash", tls, [](auto& ws) -> asio::awaitable<void> {
            beast::flat_buffer buffer;
            auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
            CHECK(ec);
            CHECK(ec != websocket::error::closed);  // no close frame: the connection just died
        });
    }());
    CHECK(client_close_code == 1000);
    REQUIRE(server.requests().size() == 3);
    CHECK(server.requests()[0].status == 101);
}

TEST_CASE("loopback server: stop() ends connections and handlers", "[loopback]") {
    asio::io_context ioc;
    auto server = start_server(ioc, true);
    auto client = make_client(ioc);
    bool handler_finished = false;
    server.route("GET", "/hang", [&](request_context& ctx) -> asio::awaitable<void> {
        co_await ctx.sleep(30s);
        handler_finished = true;
    });
    run_test(ioc, [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(ioc, 50ms);
        timer.async_wait([&](boost::system::error_code) { server.stop(); });
        auto started = std::chrono::steady_clock::now();
        auto got = co_await client.send(get(server, "/hang"));
        REQUIRE_FALSE(got);
        CHECK(got.error().code == core::errc::unavailable);
        CHECK(std::chrono::steady_clock::now() - started < 2s);

        // Nothing listens any more.
        auto again = co_await client.send(get(server, "/hang"));
        REQUIRE_FALSE(again);
        CHECK(again.error().code == core::errc::unavailable);
    }());
    // Let the cancelled handler unwind.
    ioc.run_for(100ms);
    CHECK_FALSE(handler_finished);
    CHECK(server.open_connections() == 0);
}
