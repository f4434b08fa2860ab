#include "storage/inbox_repository.hpp"

#include <algorithm>

namespace tugboat::storage {

core::result<bool> inbox_repository::insert(std::string_view key, core::time_point now) {
    if (key.empty()) {
        return core::make_error(core::errc::invalid_argument,
                                "an event idempotency key must not be empty");
    }
    auto r = db_->execute("INSERT OR IGNORE INTO processed_events (key, seen_at) VALUES (?, ?)",
                          key, now);
    if (!r) {
        return std::move(r).error();
    }
    return db_->changes() == 1;
}

core::result<bool> inbox_repository::record_if_new(std::string_view key, core::time_point now) {
    return insert(key, now);
}

core::result<std::vector<bool>> inbox_repository::record_batch(std::span<const std::string> keys,
                                                               core::time_point now) {
    // One commit for the whole batch instead of one per key: this is the hot path.
    auto tx = transaction::begin(*db_);
    if (!tx) {
        return std::move(tx).error();
    }
    std::vector<bool> fresh;
    fresh.reserve(keys.size());
    for (const auto& key : keys) {
        auto r = insert(key, now);
        if (!r) {
            return std::move(r).error();
        }
        fresh.push_back(*r);
    }
    if (auto r = tx->commit(); !r) {
        return std::move(r).error();
    }
    return fresh;
}

core::result<std::int64_t> inbox_repository::purge_older_than(core::time_point now,
                                                              std::chrono::seconds retention) {
    const auto cutoff = now - std::max(retention, min_retention);
    auto r = db_->execute("DELETE FROM processed_events WHERE seen_at < ?", cutoff);
    if (!r) {
        return std::move(r).error();
    }
    return db_->changes();
}

}  // namespace tugboat::storage
