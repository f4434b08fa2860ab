#pragma once

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/database.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::storage {

/// Life of an access grant. pending → approved → active → expired | revoked; or rejected,
/// cancelled, failed. `approved` means bindings are still being created.
enum class grant_state { pending, approved, active, rejected, cancelled, expired, revoked, failed };

/// Stable lower-case name, as stored.
std::string_view to_string(grant_state state);
/// The state named `text`, or nullopt.
std::optional<grant_state> parse_grant_state(std::string_view text);
/// True for states a grant never leaves (rejected, cancelled, expired, revoked, failed).
bool is_terminal(grant_state state);

struct grant_approval {
    std::string approver;  ///< Slack user id
    core::time_point at{};
};

/// One temporary access grant. Ids are integers, shown as "g-000045" (`format_grant_id`).
struct grant_record {
    std::int64_t id = 0;         ///< assigned by insert
    std::int64_t revision = 0;   ///< assigned by insert, bumped by every successful update
    std::string requester;       ///< Slack user id; fixed at insert
    std::string role;            ///< access role name from config; fixed at insert
    std::string environment;     ///< fixed at insert
    std::string kube_namespace;  ///< fixed at insert
    std::chrono::milliseconds duration{0};  ///< requested length; fixed at insert, > 0
    std::string reason;                     ///< fixed at insert
    grant_state state = grant_state::pending;
    std::string failure_reason;
    std::string slack_channel;  ///< where the approval card lives
    std::string slack_card_ts;
    std::string bindings_json = "{}";  ///< per-cluster binding state; opaque
    core::time_point created_at{};
    core::time_point updated_at{};
    std::optional<core::time_point> granted_at;
    std::optional<core::time_point> expires_at;
    std::optional<core::time_point> revoked_at;
    std::vector<grant_approval> approvals;  ///< filled by reads; written only by add_approval
};

/// "g-000045".
std::string format_grant_id(std::int64_t id);
/// Accepts "g-000045", "G-45" or "45"; nullopt otherwise.
std::optional<std::int64_t> parse_grant_id(std::string_view text);

/// Access grants and their approvals. Cheap; keeps a reference to `db`, which must outlive it.
class grant_repository {
public:
    explicit grant_repository(database& db) : db_(&db) {}

    /// Stores a new grant (approvals are ignored); sets `g.id` and `g.revision` (1).
    core::result<std::int64_t> insert(grant_record& g);
    core::result<std::optional<grant_record>> get(std::int64_t id);
    /// Saves the mutable fields (state onwards) if the stored revision still equals
    /// `g.revision`, then bumps `g.revision`. Errors: conflict (reload and retry), not_found.
    core::result<void> update(grant_record& g);
    /// Grants in state `active`, oldest first.
    core::result<std::vector<grant_record>> list_active();
    /// Grants not in a terminal state, oldest first: what to resume at start.
    core::result<std::vector<grant_record>> list_open();
    /// Active grants whose expires_at is at or before `t`, soonest first.
    core::result<std::vector<grant_record>> list_due_for_expiry(core::time_point t);
    /// The requester's grants, newest first, at most `limit`.
    core::result<std::vector<grant_record>> list_by_requester(std::string_view requester,
                                                              int limit);
    /// Records an approval; false when this approver had already approved (a double click).
    /// Errors: conflict when the grant does not exist.
    core::result<bool> add_approval(std::int64_t grant_id, std::string_view approver,
                                    core::time_point at);

private:
    core::result<std::vector<grant_record>> with_approvals(
        core::result<std::vector<grant_record>> grants);
    database* db_;
};

}  // namespace tugboat::storage
