#include "storage/inbox_repository.hpp"

#include "storage/query.hpp"

#include <algorithm>

namespace tugboat::storage {
core::result<void> inbox_repository::load() {
    if (loaded_) {
        return core::ok();
    }
    auto rows = query_all(*db_, "SELECT key, seen_at FROM inbox_keys", [](statement& st) {
        return std::pair{core::key_table<std::int64_t>::hash(st.get_text(0)), st.get_int(1)};
    });
    if (!rows) {
        return std::move(rows).error();
    }
    for (const auto& [hash, at] : *rows) {
        seen_.insert(hash, at);
    }
    loaded_ = true;
    return core::ok();
}

core::result<bool> inbox_repository::record_if_new(std::string_view key, core::time_point now) {
    const std::string one[] = {std::string{key}};
    auto fresh = record_batch(one, now);
    if (!fresh) {
        return std::move(fresh).error();
    }
    return static_cast<bool>(fresh->front());
}

core::result<std::vector<bool>> inbox_repository::record_batch(std::span<const std::string> keys,
                                                               core::time_point now) {
    if (std::any_of(keys.begin(), keys.end(), [](const std::string& k) { return k.empty(); })) {
        return core::make_error(core::errc::invalid_argument,
                                "an event idempotency key must not be empty");
    }
    if (auto r = load(); !r) {
        return std::move(r).error();
    }
    // Remembered before the commit so a key repeated inside the batch is new only once; taken
    // back if the commit fails.
    const auto at = core::to_unix(now);
    std::vector<bool> fresh(keys.size(), false);
    std::vector<std::uint64_t> added;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto h = core::key_table<std::int64_t>::hash(keys[i]);
        if (seen_.insert(h, at)) {
            fresh[i] = true;
            added.push_back(h);
        }
    }
    auto write = [&]() -> core::result<void> {
        if (added.empty()) {
            return core::ok();
        }
        // One commit for the whole batch: this is the hot path.
        auto tx = transaction::begin(*db_);
        if (!tx) {
            return std::move(tx).error();
        }
        // Prepared once for the batch; SQLite resets it after each row is done.
        auto insert = db_->prepare("INSERT INTO inbox_keys (key, seen_at) VALUES (?, ?)");
        if (!insert) {
            return std::move(insert).error();
        }
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (fresh[i]) {
                if (auto r = insert->bind_all(keys[i], at).run(); !r) {
                    return r;
                }
            }
        }
        return tx->commit();
    };
    if (auto r = write(); !r) {
        for (const auto h : added) {
            seen_.erase(h);
        }
        return std::move(r).error();
    }
    return fresh;
}

core::result<std::int64_t> inbox_repository::purge_older_than(core::time_point now,
                                                              std::chrono::seconds retention) {
    const auto cutoff = core::to_unix(now - std::max(retention, min_retention));
    auto r = db_->execute("DELETE FROM inbox_keys WHERE seen_at < ?", cutoff);
    if (!r) {
        return std::move(r).error();
    }
    seen_.retain([&](std::uint64_t, std::int64_t at) { return at >= cutoff; });
    return db_->changes();
}

}  // namespace tugboat::storage
