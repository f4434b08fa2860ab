// byte_stream against itself on 127.0.0.1, over plain TCP and over TLS with the test CA.

#include "integrations/byte_stream.hpp"

#include "integrations/tls.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/test_ca_fixture.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/ssl.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace tugboat;
using test::use_tuple;
namespace asio = boost::asio;
namespace beast = boost::beast;
using integrations::byte_stream;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

// A connected pair: the client end and the server end, both past the TLS handshake if any.
struct stream_pair {
    byte_stream client;
    byte_stream server;
};

asio::awaitable<stream_pair> connect_pair(bool tls) {
    auto ex = co_await asio::this_coro::executor;
    static auto server_ctx = test::test_server_tls();
    static auto client_ctx = integrations::make_client_tls_context(test::test_client_tls());
    REQUIRE(client_ctx);

    tcp::acceptor acceptor(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    beast::tcp_stream client_tcp(ex);
    co_await client_tcp.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
    auto accepted = co_await acceptor.async_accept(asio::use_awaitable);
    stream_pair pair{
        byte_stream(std::move(client_tcp), tls ? client_ctx->get() : nullptr),
        byte_stream(beast::tcp_stream(std::move(accepted)), tls ? server_ctx.get() : nullptr)};
    if (!tls) {
        co_return pair;
    }
    REQUIRE(integrations::prepare_client_tls(pair.client.tls()->native_handle(), "127.0.0.1"));
    // Both ends at once; a failed handshake throws and fails the test.
    auto client_side =
        pair.client.tls()->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    auto server_side =
        pair.server.tls()->async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
    co_await (std::move(client_side) && std::move(server_side));
    co_return pair;
}

}  // namespace

TEST_CASE("byte stream: a write of many small buffers arrives whole and in order", "[loopback]") {
    for (bool tls : {false, true}) {
        INFO((tls ? "TLS" : "plain TCP"));
        asio::io_context ioc;
        auto received = test::run_test(ioc, [&]() -> asio::awaitable<std::string> {
            auto pair = co_await connect_pair(tls);
            // More pieces than one write_some passes on, so async_write must come back for more.
            std::vector<std::string> pieces;
            std::string expected;
            for (int i = 0; i < 30; ++i) {
                pieces.push_back("piece " + std::to_string(i) + ";");
                expected += pieces.back();
            }
            std::vector<asio::const_buffer> gather;
            for (const auto& p : pieces) {
                gather.push_back(asio::buffer(p));
            }
            std::string got(expected.size(), '\0');
            auto writing = asio::async_write(pair.client, gather, asio::use_awaitable);
            auto reading = asio::async_read(pair.server, asio::buffer(got), asio::use_awaitable);
            auto [wrote, read] = co_await (std::move(writing) && std::move(reading));
            CHECK(wrote == expected.size());
            CHECK(read == expected.size());
            CHECK(got == expected);
            co_return got;
        }());
        CHECK(received.size() > 200);
    }
}

TEST_CASE("byte stream: a read that loses a race is cancelled, not left pending", "[loopback]") {
    for (bool tls : {false, true}) {
        INFO((tls ? "TLS" : "plain TCP"));
        asio::io_context ioc;
        auto cancelled = test::run_test(ioc, [&]() -> asio::awaitable<bool> {
            auto pair = co_await connect_pair(tls);
            // The peer sends nothing: only the cancellation slot, passed through the erased
            // handler, can end this read before the connection does.
            char byte = 0;
            asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
            auto reading = pair.client.async_read_some(asio::buffer(&byte, 1), use_tuple);
            auto waiting = timer.async_wait(use_tuple);
            auto result = co_await (std::move(reading) || std::move(waiting));
            CHECK(result.index() == 1);
            // The stream is still usable afterwards.
            std::string hello = "hello";
            std::string got(hello.size(), '\0');
            auto hello_buffer = asio::buffer(hello);
            auto [ec, n] = co_await asio::async_write(pair.server, hello_buffer, use_tuple);
            CHECK_FALSE(ec);
            auto got_buffer = asio::buffer(got);
            auto [read_ec, read] = co_await asio::async_read(pair.client, got_buffer, use_tuple);
            CHECK_FALSE(read_ec);
            CHECK(got == hello);
            co_return result.index() == 1;
        }());
        CHECK(cancelled);
    }
}
