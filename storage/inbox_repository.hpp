#pragma once

#include "core/clock.hpp"
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

    // 64-bit key hashes with when each was first seen (unix seconds), in open addressing: one
    // cache miss per lookup and 21–43 B per key, where a node-based map cost three misses
    // and ≈48 B. Two keys with one hash would make the second look like a duplicate: ≈ keys / 2^64
    // per event, accepted. Removal rebuilds the table; it only happens on purge and on a failed
    // commit.
    class seen_keys {
    public:
        /// False when `hash` is already there.
        bool insert(std::uint64_t hash, std::int64_t at);
        /// Keeps only the entries for which `keep(hash, at)` is true.
        template <class Keep>
        void retain(Keep keep) {
            rebuild(slots_.size(), keep);
        }

    private:
        // Re-inserts the entries `keep` accepts into `capacity` slots (a power of two, or 0).
        template <class Keep>
        void rebuild(std::size_t capacity, Keep keep) {
            std::vector<slot> old(capacity);
            old.swap(slots_);
            size_ = 0;
            for (const auto& s : old) {
                if (s.hash != 0 && keep(s.hash, s.at)) {
                    insert(s.hash, s.at);
                }
            }
        }

        struct slot {
            std::uint64_t hash = 0;  // 0: free
            std::int64_t at = 0;
        };
        std::vector<slot> slots_;
        std::size_t size_ = 0;
    };

    database* db_;
    bool loaded_ = false;
    seen_keys seen_;
};

}  // namespace tugboat::storage
