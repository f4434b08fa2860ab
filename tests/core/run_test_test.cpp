// The test helper itself: every loopback test depends on run_test running each coroutine it is
// given, on a context that earlier runs may have left without work.

#include "tests/support/run_test.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <chrono>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<int> wait_then(int value) {
    asio::steady_timer t(co_await asio::this_coro::executor, 1ms);
    co_await t.async_wait(asio::use_awaitable);
    co_return value;
}

}  // namespace

TEST_CASE("run_test runs again on a context that an earlier run left without work", "[unit]") {
    asio::io_context ioc;
    CHECK(tugboat::test::run_test(ioc, wait_then(1), 1s) == 1);
    REQUIRE(ioc.stopped());
    const auto start = std::chrono::steady_clock::now();
    CHECK(tugboat::test::run_test(ioc, wait_then(2), 1s) == 2);
    CHECK(std::chrono::steady_clock::now() - start < 500ms);
}
