#pragma once

// The value of a result a test cannot go on without; the test fails with its error otherwise.

#include "core/result.hpp"

#include <catch2/catch.hpp>

#include <utility>

namespace tugboat::test {

template <class T>
T must(core::result<T> r) {
    if (!r) {
        FAIL(r.error().message);
    }
    return std::move(r).value();
}

inline void must(core::result<void> r) {
    if (!r) {
        FAIL(r.error().message);
    }
}

}  // namespace tugboat::test
