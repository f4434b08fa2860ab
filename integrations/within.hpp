#pragma once

// Boost 1.81 has no cancel_after: an awaitable raced against a timer. Included only by the
// sources that need it (awaitable_operators is a heavy header).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <optional>
#include <utility>
#include <variant>

namespace tugboat::integrations {

/// `op`'s value, or nullopt when `limit` passed first (the operation is then cancelled; a
/// cancelled stream read leaves its stream unusable).
template <class T>
boost::asio::awaitable<std::optional<T>> within(boost::asio::awaitable<T> op,
                                                std::chrono::steady_clock::duration limit) {
    using namespace boost::asio::experimental::awaitable_operators;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, limit);
    // Named awaitables: GCC 12 may destroy temporaries inside a co_await expression twice.
    auto wait = timer.async_wait(boost::asio::use_awaitable);
    auto raced = co_await (std::move(op) || std::move(wait));
    if (raced.index() == 0) {
        co_return std::optional<T>(std::move(std::get<0>(raced)));
    }
    co_return std::nullopt;
}

}  // namespace tugboat::integrations
