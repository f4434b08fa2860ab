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

/// How a deploy ended; `running` until it finishes. The workflow's finer-grained phase is the
/// free-text `deploy_record::phase`.
enum class deploy_outcome { running, succeeded, failed, cancelled };

/// Stable lower-case name, as stored.
std::string_view to_string(deploy_outcome outcome);

/// One deploy. Ids are integers, shown to people as "d-000123" (`format_deploy_id`).
struct deploy_record {
    std::int64_t id = 0;        ///< assigned by insert
    std::int64_t revision = 0;  ///< assigned by insert, bumped by every successful update
    std::string service;        ///< fixed at insert
    std::string environment;    ///< fixed at insert
    std::string version;        ///< fixed at insert
    std::string requester;      ///< Slack user id; fixed at insert
    std::string phase;          ///< workflow phase name, e.g. "building", "rolling_out"
    deploy_outcome outcome = deploy_outcome::running;
    std::string state_json = "{}";  ///< opaque; owned by the deploy workflow
    std::string slack_channel;      ///< where the root message lives
    std::string slack_root_ts;      ///< ts of the root message that is edited as things progress
    std::string jenkins_queue_url;  ///< followed on resume instead of triggering again
    std::optional<std::int64_t> build_number;
    std::string rollout_json = "{}";  ///< per-cluster rollout state; opaque
    std::string failure_reason;
    core::time_point created_at{};
    core::time_point updated_at{};
    std::optional<core::time_point> finished_at;  ///< set exactly when outcome != running
};

/// Who holds a service+environment. Either a deploy or a person (a manual lock).
struct env_lock {
    std::string service;
    std::string environment;
    std::optional<std::int64_t> deploy_id;  ///< the holding deploy; empty for a manual lock
    std::string holder;                     ///< Slack user id: the requester or who locked it
    std::string reason;
    core::time_point since{};
};

/// A deploy waiting for its service+environment lock.
struct queued_deploy {
    std::int64_t deploy_id = 0;
    int position = 0;  ///< 1 = next in line
    core::time_point enqueued_at{};
};

/// How long one Jenkins stage took, for ETAs.
struct stage_duration {
    std::string job;
    std::string stage;
    std::chrono::milliseconds duration{0};
    core::time_point finished_at{};
};

/// "d-000123".
std::string format_deploy_id(std::int64_t id);
/// Accepts "d-000123", "D-123" or "123"; nullopt otherwise.
std::optional<std::int64_t> parse_deploy_id(std::string_view text);

/// Deploys, their locks and queues, and stage duration history. Cheap; keeps a reference to
/// `db`, which must outlive it.
class deploy_repository {
public:
    explicit deploy_repository(database& db) : db_(&db) {}

    /// Stores a new deploy; sets `d.id` and `d.revision` (1) and returns the id.
    core::result<std::int64_t> insert(deploy_record& d);
    /// The deploy, or nullopt when there is none with that id.
    core::result<std::optional<deploy_record>> get(std::int64_t id);
    /// Saves the mutable fields (phase onwards) if the stored revision still equals
    /// `d.revision`, then bumps `d.revision`. Errors: conflict when someone saved in between
    /// (reload and retry), not_found, invalid_argument when outcome and finished_at disagree.
    core::result<void> update(deploy_record& d);
    /// Deploys with outcome `running`, oldest first: what to resume at start.
    core::result<std::vector<deploy_record>> list_unfinished();
    /// Deploys that ended at or after `since`, oldest first.
    core::result<std::vector<deploy_record>> finished_since(core::time_point since);
    /// Newest first, at most `limit`; every environment when `environment` is empty.
    core::result<std::vector<deploy_record>> history(std::string_view service,
                                                     std::optional<std::string> environment,
                                                     int limit);
    /// The latest deploy that succeeded for service+environment (its `version` is what runs).
    core::result<std::optional<deploy_record>> last_successful(std::string_view service,
                                                               std::string_view environment);

    /// Takes the lock. Taking it again with the same holder (same deploy, or the same person
    /// for a manual lock) succeeds, so a resumed workflow can repeat the step.
    /// Errors: conflict naming the current holder.
    core::result<void> acquire_lock(const env_lock& lock);
    /// Removes the lock whoever holds it; true when there was one.
    core::result<bool> release_lock(std::string_view service, std::string_view environment);
    /// Removes any lock held by `deploy_id`; true when there was one. Safe to repeat, and never
    /// frees a lock that someone else has taken since.
    core::result<bool> release_locks_of(std::int64_t deploy_id);
    core::result<std::optional<env_lock>> get_lock(std::string_view service,
                                                   std::string_view environment);
    core::result<std::vector<env_lock>> list_locks();

    /// Puts the deploy at the end of its service+environment queue and returns its position
    /// (1 = next). Already queued: returns the current position. Errors: not_found.
    core::result<int> enqueue(std::int64_t deploy_id, core::time_point at);
    /// Position in its queue, or nullopt when not queued.
    core::result<std::optional<int>> queue_position(std::int64_t deploy_id);
    /// Takes the deploy out of its queue (it started, or was cancelled); true when it was in one.
    core::result<bool> dequeue(std::int64_t deploy_id);
    /// The queue for service+environment, next first.
    core::result<std::vector<queued_deploy>> queue(std::string_view service,
                                                   std::string_view environment);

    core::result<void> record_stage(const stage_duration& s);
    /// Newest first, at most `limit`; every stage of the job when `stage` is empty.
    core::result<std::vector<stage_duration>> recent_stages(std::string_view job,
                                                            std::optional<std::string> stage,
                                                            int limit);

private:
    database* db_;
};

}  // namespace tugboat::storage
