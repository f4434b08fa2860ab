#pragma once

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/database.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::storage {

/// A durable timer: a row with a due time, so approval expiries, grant expiries and reminders
/// survive restarts. At most one timer per (kind, subject).
struct timer {
    std::int64_t id = 0;
    std::string kind;     ///< e.g. "grant_expiry", "approval_timeout"
    std::string subject;  ///< what it is about, e.g. "g-000045"
    core::time_point due_at{};
    std::string payload = "{}";  ///< opaque JSON for whoever handles it
};

/// Durable timers. Cheap; keeps a reference to `db`, which must outlive it.
class timer_repository {
public:
    explicit timer_repository(database& db) : db_(&db) {}

    /// Creates the (kind, subject) timer, or moves an existing one to `due_at` with the new
    /// payload, so scheduling twice is harmless. Returns the timer's id (stable across moves).
    core::result<std::int64_t> schedule(std::string_view kind, std::string_view subject,
                                        core::time_point due_at, std::string_view payload = "{}");
    /// Timers due at or before `now`, earliest first, at most `limit`.
    core::result<std::vector<timer>> due(core::time_point now, int limit = 100);
    core::result<std::optional<timer>> get(std::string_view kind, std::string_view subject);
    /// Removes the (kind, subject) timer; true when there was one.
    core::result<bool> cancel(std::string_view kind, std::string_view subject);
    /// Removes a timer that fired, unless it was re-scheduled (new due time or payload) after
    /// `fired` was read; true when removed.
    core::result<bool> complete(const timer& fired);

private:
    database* db_;
};

}  // namespace tugboat::storage
