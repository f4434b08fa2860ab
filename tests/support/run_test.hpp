#pragma once

// Runs a coroutine on an io_context with a deadline; a test that does not finish in time fails
// instead of hanging the suite.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <optional>

namespace tugboat::test {

/// Completion token for a test that checks an operation's error code instead of catching it.
inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

// An io_context stops itself when its work runs out, and a stopped one runs nothing, so a second
// run on the same context would spin until its deadline. Whether an earlier run left a timer or
// a socket pending depends on timing, which made such tests fail only now and then.
inline void restart_if_idle(boost::asio::io_context& ioc) {
    if (ioc.stopped()) {
        ioc.restart();
    }
}

template <class T>
T run_test(boost::asio::io_context& ioc, boost::asio::awaitable<T> task,
           std::chrono::milliseconds deadline = std::chrono::seconds{5}) {
    std::optional<T> value;
    std::exception_ptr failure;
    bool done = false;
    restart_if_idle(ioc);
    boost::asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, T v) {
        failure = e;
        if (!e) {
            value.emplace(std::move(v));
        }
        done = true;
    });
    auto until = std::chrono::steady_clock::now() + deadline;
    while (!done && std::chrono::steady_clock::now() < until) {
        ioc.run_one_until(until);
    }
    if (!done) {
        FAIL("test coroutine did not finish within " << deadline.count() << " ms");
    }
    if (failure) {
        std::rethrow_exception(failure);
    }
    return std::move(*value);
}

inline void run_test(boost::asio::io_context& ioc, boost::asio::awaitable<void> task,
                     std::chrono::milliseconds deadline = std::chrono::seconds{5}) {
    std::exception_ptr failure;
    bool done = false;
    restart_if_idle(ioc);
    boost::asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e) {
        failure = e;
        done = true;
    });
    auto until = std::chrono::steady_clock::now() + deadline;
    while (!done && std::chrono::steady_clock::now() < until) {
        ioc.run_one_until(until);
    }
    if (!done) {
        FAIL("test coroutine did not finish within " << deadline.count() << " ms");
    }
    if (failure) {
        std::rethrow_exception(failure);
    }
}

}  // namespace tugboat::test
