#include "storage/deploy_repository.hpp"

#include "storage/query.hpp"

#include <fmt/format.h>

namespace tugboat::storage {
namespace {

constexpr std::string_view deploy_columns =
    "id, revision, service, environment, version, requester, phase, outcome, state_json, "
    "slack_channel, slack_root_ts, jenkins_queue_url, build_number, rollout_json, failure_reason, "
    "created_at, updated_at, finished_at";

std::string select_deploys(std::string_view rest) {
    return fmt::format("SELECT {} FROM deploys {}", deploy_columns, rest);
}

deploy_outcome parse_outcome(std::string_view text) {
    for (auto o : {deploy_outcome::succeeded, deploy_outcome::failed, deploy_outcome::cancelled}) {
        if (to_string(o) == text) {
            return o;
        }
    }
    return deploy_outcome::running;
}

deploy_record read_deploy(statement& st) {
    deploy_record d;
    d.id = st.get_int(0);
    d.revision = st.get_int(1);
    d.service = st.get_text(2);
    d.environment = st.get_text(3);
    d.version = st.get_text(4);
    d.requester = st.get_text(5);
    d.phase = st.get_text(6);
    d.outcome = parse_outcome(st.get_text(7));
    d.state_json = st.get_text(8);
    d.slack_channel = st.get_text(9);
    d.slack_root_ts = st.get_text(10);
    d.jenkins_queue_url = st.get_text(11);
    d.build_number = st.get_opt_int(12);
    d.rollout_json = st.get_text(13);
    d.failure_reason = st.get_text(14);
    d.created_at = st.get_time(15);
    d.updated_at = st.get_time(16);
    d.finished_at = st.get_opt_time(17);
    return d;
}

env_lock read_lock(statement& st) {
    return env_lock{st.get_text(0), st.get_text(1), st.get_opt_int(2),
                    st.get_text(3), st.get_text(4), st.get_time(5)};
}

constexpr std::string_view lock_columns =
    "SELECT service, environment, deploy_id, holder, reason, since_at FROM deploy_locks ";

bool same_holder(const env_lock& a, const env_lock& b) {
    if (a.deploy_id || b.deploy_id) {
        return a.deploy_id == b.deploy_id;
    }
    return a.holder == b.holder;
}

std::string describe_holder(const env_lock& l) {
    if (l.deploy_id) {
        return fmt::format("deploy {} of {}", format_deploy_id(*l.deploy_id), l.holder);
    }
    return l.reason.empty() ? l.holder : fmt::format("{} ({})", l.holder, l.reason);
}

}  // namespace

std::string_view to_string(deploy_outcome outcome) {
    switch (outcome) {
        case deploy_outcome::running: return "running";
        case deploy_outcome::succeeded: return "succeeded";
        case deploy_outcome::failed: return "failed";
        case deploy_outcome::cancelled: return "cancelled";
    }
    return "running";
}

std::string format_deploy_id(std::int64_t id) {
    return format_id('d', id);
}

std::optional<std::int64_t> parse_deploy_id(std::string_view text) {
    return parse_id('d', text);
}

core::result<std::int64_t> deploy_repository::insert(deploy_record& d) {
    auto r = db_->execute(
        "INSERT INTO deploys (service, environment, version, requester, phase, outcome, "
        "state_json, slack_channel, slack_root_ts, jenkins_queue_url, build_number, rollout_json, "
        "failure_reason, created_at, updated_at, finished_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        d.service, d.environment, d.version, d.requester, d.phase, to_string(d.outcome),
        d.state_json, d.slack_channel, d.slack_root_ts, d.jenkins_queue_url, d.build_number,
        d.rollout_json, d.failure_reason, d.created_at, d.updated_at, d.finished_at);
    if (!r) {
        return std::move(r).error();
    }
    d.id = db_->last_insert_rowid();
    d.revision = 1;
    return d.id;
}

core::result<std::optional<deploy_record>> deploy_repository::get(std::int64_t id) {
    return query_one(*db_, select_deploys("WHERE id = ?"), read_deploy, id);
}

core::result<void> deploy_repository::update(deploy_record& d) {
    auto r = db_->execute(
        "UPDATE deploys SET revision = revision + 1, phase = ?, outcome = ?, state_json = ?, "
        "slack_channel = ?, slack_root_ts = ?, jenkins_queue_url = ?, build_number = ?, "
        "rollout_json = ?, failure_reason = ?, updated_at = ?, finished_at = ? "
        "WHERE id = ? AND revision = ?",
        d.phase, to_string(d.outcome), d.state_json, d.slack_channel, d.slack_root_ts,
        d.jenkins_queue_url, d.build_number, d.rollout_json, d.failure_reason, d.updated_at,
        d.finished_at, d.id, d.revision);
    if (!r) {
        return r;
    }
    if (db_->changes() == 1) {
        ++d.revision;
        return core::ok();
    }
    auto stored = query_one(
        *db_, "SELECT revision FROM deploys WHERE id = ?",
        [](statement& st) { return st.get_int(0); }, d.id);
    if (!stored) {
        return std::move(stored).error();
    }
    if (!*stored) {
        return core::make_error(core::errc::not_found,
                                fmt::format("deploy {} does not exist", format_deploy_id(d.id)));
    }
    return core::make_error(
        core::errc::conflict,
        fmt::format("deploy {} was changed meanwhile (revision {}, expected {}); reload and retry",
                    format_deploy_id(d.id), **stored, d.revision));
}

core::result<std::vector<deploy_record>> deploy_repository::list_unfinished() {
    return query_all(*db_, select_deploys("WHERE finished_at IS NULL ORDER BY id"), read_deploy);
}

core::result<std::vector<deploy_record>> deploy_repository::finished_since(core::time_point since) {
    return query_all(*db_, select_deploys("WHERE finished_at >= ? ORDER BY id"), read_deploy,
                     core::to_unix(since));
}

core::result<std::vector<deploy_record>> deploy_repository::history(
    std::string_view service, std::optional<std::string> environment, int limit) {
    return query_all(*db_,
                     select_deploys("WHERE service = ?1 AND (?2 IS NULL OR environment = ?2) "
                                    "ORDER BY id DESC LIMIT ?3"),
                     read_deploy, service, environment, limit);
}

core::result<std::optional<deploy_record>> deploy_repository::last_successful(
    std::string_view service, std::string_view environment) {
    return query_one(*db_,
                     select_deploys("WHERE service = ? AND environment = ? AND outcome = "
                                    "'succeeded' ORDER BY finished_at DESC, id DESC LIMIT 1"),
                     read_deploy, service, environment);
}

core::result<void> deploy_repository::acquire_lock(const env_lock& lock) {
    auto r = db_->execute(
        "INSERT INTO deploy_locks (service, environment, deploy_id, holder, reason, since_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (service, environment) DO NOTHING",
        lock.service, lock.environment, lock.deploy_id, lock.holder, lock.reason, lock.since);
    if (!r || db_->changes() == 1) {
        return r;
    }
    auto current = get_lock(lock.service, lock.environment);
    if (!current) {
        return std::move(current).error();
    }
    if (!*current) {
        // Only another process writing the same file can get here; retrying is safe.
        return acquire_lock(lock);
    }
    if (same_holder(**current, lock)) {
        return core::ok();
    }
    return core::make_error(core::errc::conflict,
                            fmt::format("{} in {} is already locked by {}", lock.service,
                                        lock.environment, describe_holder(**current)));
}

core::result<bool> deploy_repository::release_lock(std::string_view service,
                                                   std::string_view environment) {
    auto r = db_->execute("DELETE FROM deploy_locks WHERE service = ? AND environment = ?", service,
                          environment);
    if (!r) {
        return std::move(r).error();
    }
    return db_->changes() > 0;
}

core::result<bool> deploy_repository::release_locks_of(std::int64_t deploy_id) {
    auto r = db_->execute("DELETE FROM deploy_locks WHERE deploy_id = ?", deploy_id);
    if (!r) {
        return std::move(r).error();
    }
    return db_->changes() > 0;
}

core::result<std::optional<env_lock>> deploy_repository::get_lock(std::string_view service,
                                                                  std::string_view environment) {
    return query_one(*db_, fmt::format("{} WHERE service = ? AND environment = ?", lock_columns),
                     read_lock, service, environment);
}

core::result<std::vector<env_lock>> deploy_repository::list_locks() {
    return query_all(*db_, fmt::format("{} ORDER BY service, environment", lock_columns),
                     read_lock);
}

core::result<int> deploy_repository::enqueue(std::int64_t deploy_id, core::time_point at) {
    // The WHERE clause also keeps SQLite from reading ON CONFLICT as part of the SELECT.
    auto r = db_->execute(
        "INSERT INTO deploy_queue (deploy_id, service, environment, enqueued_at) "
        "SELECT id, service, environment, ? FROM deploys WHERE id = ? "
        "ON CONFLICT (deploy_id) DO NOTHING",
        at, deploy_id);
    if (!r) {
        return std::move(r).error();
    }
    auto position = queue_position(deploy_id);
    if (!position) {
        return std::move(position).error();
    }
    if (!*position) {
        return core::make_error(core::errc::not_found, fmt::format("deploy {} does not exist",
                                                                   format_deploy_id(deploy_id)));
    }
    return **position;
}

core::result<std::optional<int>> deploy_repository::queue_position(std::int64_t deploy_id) {
    return query_one(
        *db_,
        "SELECT (SELECT count(*) FROM deploy_queue o WHERE o.service = q.service "
        "AND o.environment = q.environment AND o.id <= q.id) FROM deploy_queue q "
        "WHERE q.deploy_id = ?",
        [](statement& st) { return static_cast<int>(st.get_int(0)); }, deploy_id);
}

core::result<bool> deploy_repository::dequeue(std::int64_t deploy_id) {
    auto r = db_->execute("DELETE FROM deploy_queue WHERE deploy_id = ?", deploy_id);
    if (!r) {
        return std::move(r).error();
    }
    return db_->changes() > 0;
}

core::result<std::vector<queued_deploy>> deploy_repository::queue(std::string_view service,
                                                                  std::string_view environment) {
    int position = 0;
    return query_all(
        *db_,
        "SELECT deploy_id, enqueued_at FROM deploy_queue WHERE service = ? AND environment = ? "
        "ORDER BY id",
        [&position](statement& st) {
            return queued_deploy{st.get_int(0), ++position, st.get_time(1)};
        },
        service, environment);
}

core::result<void> deploy_repository::record_stage(const stage_duration& s) {
    return db_->execute(
        "INSERT INTO stage_durations (job, stage, duration_ms, finished_at) VALUES (?, ?, ?, ?)",
        s.job, s.stage, s.duration.count(), s.finished_at);
}

core::result<std::vector<stage_duration>> deploy_repository::recent_stages(
    std::string_view job, std::optional<std::string> stage, int limit) {
    return query_all(
        *db_,
        "SELECT job, stage, duration_ms, finished_at FROM stage_durations "
        "WHERE job = ?1 AND (?2 IS NULL OR stage = ?2) ORDER BY finished_at DESC, id DESC LIMIT ?3",
        [](statement& st) {
            return stage_duration{st.get_text(0), st.get_text(1),
                                  std::chrono::milliseconds{st.get_int(2)}, st.get_time(3)};
        },
        job, stage, limit);
}

}  // namespace tugboat::storage
