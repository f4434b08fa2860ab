#pragma once

#include "core/clock.hpp"
#include "core/key_table.hpp"
#include "core/result.hpp"
#include "storage/database.hpp"

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::storage {

/// Idempotency keys of processed events, so an envelope Slack re-delivers is handled once.
/// Keys are kept at least `min_retention` (Slack retries within minutes). The table is the
/// durable record; lookups go to a copy in memory, read from it on first use, so recording a
/// key only appends a row. One instance per database: keys another instance records later are
/// not seen by this one.
class inbox_repository {
public:
    static constexpr std::chrono::seconds min_retention{std::chrono::minutes{10}};
    static constexpr std::chrono::seconds default_retention{std::chrono::hours{1}};

    /// Cheap; keeps a reference to `db`, which must outlive it.
    explicit inbox_repository(database& db) : db_(&db) {}

    /// Records `key` as seen at `now`; true when it was not seen before.
    /// Errors: invalid_argument for an empty key, storage_error.
    core::result<bool> record_if_new(std::string_view key, core::time_point now);

    /// Records every key in one transaction; element i is true when keys[i] was new (a key
    /// repeated inside the batch is new only the first time). All or nothing on error.
    core::result<std::vector<bool>> record_batch(std::span<const std::string> keys,
                                                 core::time_point now);

    /// Forgets keys first seen before `now - max(retention, min_retention)`; returns how many.
    core::result<std::int64_t> purge_older_than(core::time_point now,
                                                std::chrono::seconds retention = default_retention);

private:
    core::result<void> load();

    database* db_;
    bool loaded_ = false;
    core::key_table<std::int64_t> seen_;  // key hash → when first seen (unix seconds)
};

}  // namespace tugboat::storage
