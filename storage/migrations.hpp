#pragma once

#include <span>
#include <string_view>

namespace tugboat::storage {

/// One forward-only schema step. `version` is what PRAGMA user_version holds after it ran.
struct migration {
    int version;
    std::string_view name;
    std::string_view sql;
};

/// Every migration in order; versions are 1, 2, 3, … without gaps. Applied migrations are never
/// edited: a schema change is a new entry at the end.
std::span<const migration> all_migrations();

}  // namespace tugboat::storage
