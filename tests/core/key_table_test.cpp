#include "core/key_table.hpp"

#include <catch2/catch.hpp>

#include <cstdint>

using tugboat::core::key_table;

TEST_CASE("key_table: erasing keeps every other key findable, across growth and wrap-around") {
    key_table<int> table;
    // Hashes crowded onto few home slots, so probe runs are long and wrap past the end.
    auto hash = [](std::uint64_t i) { return (i % 7) * 9 + 57 + (i << 32); };
    for (std::uint64_t i = 0; i < 200; ++i) {
        REQUIRE(table.insert(hash(i), static_cast<int>(i)));
    }
    CHECK_FALSE(table.insert(hash(5), 0));
    for (std::uint64_t i = 0; i < 200; i += 2) {
        table.erase(hash(i));
    }
    table.erase(hash(1000));  // absent: nothing happens
    CHECK(table.size() == 100);
    for (std::uint64_t i = 0; i < 200; ++i) {
        // Still there exactly when odd: insert refuses a key it holds.
        CHECK(table.insert(hash(i), 0) == (i % 2 == 0));
    }
    table.retain([](std::uint64_t, int value) { return value % 4 == 1; });
    CHECK(table.size() == 50);  // the values ≡ 1 mod 4; the re-inserted evens hold 0
    CHECK(key_table<int>::hash("") != 0);
}
