#pragma once

#include "core/clock.hpp"

namespace tugboat::test {

// A fixed moment for tests to count from, so that stored times and their order do not depend on
// the day the tests run.
inline const core::time_point t0 = core::from_unix(1'700'000'000);

}  // namespace tugboat::test
