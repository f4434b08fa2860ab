#pragma once

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/database.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tugboat::storage {

/// One audit log entry: who did what to what, when.
struct audit_entry {
    std::int64_t id = 0;  ///< assigned by append; increases with every entry
    core::time_point at{};
    std::string actor;                ///< Slack user id, or "tugboat" for the bot's own actions
    std::string action;               ///< e.g. "deploy.requested", "grant.approved"
    std::string subject;              ///< e.g. "d-000123"
    std::string details_json = "{}";  ///< opaque JSON
};

/// Filters for `audit_repository::query`; empty fields match everything.
struct audit_query {
    std::optional<std::string> actor;
    std::optional<std::string> action;
    std::optional<std::string> subject;
    std::optional<core::time_point> since;  ///< entries at or after this time
    int limit = 50;
};

/// The append-only audit log. The database itself refuses UPDATE and DELETE on it (triggers), so
/// no code path can rewrite history. Cheap; keeps a reference to `db`, which must outlive it.
class audit_repository {
public:
    explicit audit_repository(database& db) : db_(&db) {}

    /// Appends `entry`; sets and returns its id.
    core::result<std::int64_t> append(audit_entry& entry);
    /// Matching entries, newest first, at most `q.limit`.
    core::result<std::vector<audit_entry>> query(const audit_query& q);

private:
    database* db_;
};

}  // namespace tugboat::storage
