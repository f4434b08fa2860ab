#include "storage/grant_repository.hpp"

#include "storage/query.hpp"

#include <fmt/format.h>

#include <array>

namespace tugboat::storage {
namespace {

constexpr std::array all_states{grant_state::pending,  grant_state::approved,  grant_state::active,
                                grant_state::rejected, grant_state::cancelled, grant_state::expired,
                                grant_state::revoked,  grant_state::failed};

std::string select_grants(std::string_view rest) {
    return fmt::format(
        "SELECT id, revision, requester, role, environment, namespace, duration_ms, reason, "
        "state, failure_reason, slack_channel, slack_card_ts, bindings_json, created_at, "
        "updated_at, granted_at, expires_at, revoked_at FROM grants {}",
        rest);
}

grant_record read_grant(statement& st) {
    grant_record g;
    g.id = st.get_int(0);
    g.revision = st.get_int(1);
    g.requester = st.get_text(2);
    g.role = st.get_text(3);
    g.environment = st.get_text(4);
    g.kube_namespace = st.get_text(5);
    g.duration = std::chrono::milliseconds{st.get_int(6)};
    g.reason = st.get_text(7);
    // The CHECK constraint only admits known names.
    g.state = parse_grant_state(st.get_text(8)).value_or(grant_state::failed);
    g.failure_reason = st.get_text(9);
    g.slack_channel = st.get_text(10);
    g.slack_card_ts = st.get_text(11);
    g.bindings_json = st.get_text(12);
    g.created_at = st.get_time(13);
    g.updated_at = st.get_time(14);
    g.granted_at = st.get_opt_time(15);
    g.expires_at = st.get_opt_time(16);
    g.revoked_at = st.get_opt_time(17);
    return g;
}

}  // namespace

std::string_view to_string(grant_state state) {
    switch (state) {
        case grant_state::pending: return "pending";
        case grant_state::approved: return "approved";
        case grant_state::active: return "active";
        case grant_state::rejected: return "rejected";
        case grant_state::cancelled: return "cancelled";
        case grant_state::expired: return "expired";
        case grant_state::revoked: return "revoked";
        case grant_state::failed: return "failed";
    }
    return "failed";
}

std::optional<grant_state> parse_grant_state(std::string_view text) {
    for (auto s : all_states) {
        if (to_string(s) == text) {
            return s;
        }
    }
    return std::nullopt;
}

bool is_terminal(grant_state state) {
    return state != grant_state::pending && state != grant_state::approved &&
           state != grant_state::active;
}

std::string format_grant_id(std::int64_t id) {
    return format_id('g', id);
}

std::optional<std::int64_t> parse_grant_id(std::string_view text) {
    return parse_id('g', text);
}

core::result<std::int64_t> grant_repository::insert(grant_record& g) {
    auto r = db_->execute(
        "INSERT INTO grants (requester, role, environment, namespace, duration_ms, reason, state, "
        "failure_reason, slack_channel, slack_card_ts, bindings_json, created_at, updated_at, "
        "granted_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?)",
        g.requester, g.role, g.environment, g.kube_namespace, g.duration.count(), g.reason,
        to_string(g.state), g.failure_reason, g.slack_channel, g.slack_card_ts, g.bindings_json,
        g.created_at, g.updated_at, g.granted_at, g.expires_at, g.revoked_at);
    if (!r) {
        return std::move(r).error();
    }
    g.id = db_->last_insert_rowid();
    g.revision = 1;
    return g.id;
}

core::result<std::optional<grant_record>> grant_repository::get(std::int64_t id) {
    auto found = with_approvals(query_all(*db_, select_grants("WHERE id = ?"), read_grant, id));
    if (!found) {
        return std::move(found).error();
    }
    if (found->empty()) {
        return std::optional<grant_record>{};
    }
    return std::optional<grant_record>{std::move(found->front())};
}

core::result<void> grant_repository::update(grant_record& g) {
    auto r = db_->execute(
        "UPDATE grants SET revision = revision + 1, state = ?, failure_reason = ?, "
        "slack_channel = ?, slack_card_ts = ?, bindings_json = ?, updated_at = ?, "
        "granted_at = ?, expires_at = ?, revoked_at = ? WHERE id = ? AND revision = ?",
        to_string(g.state), g.failure_reason, g.slack_channel, g.slack_card_ts, g.bindings_json,
        g.updated_at, g.granted_at, g.expires_at, g.revoked_at, g.id, g.revision);
    if (!r) {
        return r;
    }
    if (db_->changes() == 1) {
        ++g.revision;
        return core::ok();
    }
    auto stored = query_one(
        *db_, "SELECT revision FROM grants WHERE id = ?",
        [](statement& st) { return st.get_int(0); }, g.id);
    if (!stored) {
        return std::move(stored).error();
    }
    if (!*stored) {
        return core::make_error(core::errc::not_found,
                                fmt::format("grant {} does not exist", format_grant_id(g.id)));
    }
    return core::make_error(
        core::errc::conflict,
        fmt::format("grant {} was changed meanwhile (revision {}, expected {}); reload and retry",
                    format_grant_id(g.id), **stored, g.revision));
}

core::result<std::vector<grant_record>> grant_repository::list_active() {
    return with_approvals(
        query_all(*db_, select_grants("WHERE state = 'active' ORDER BY id"), read_grant));
}

core::result<std::vector<grant_record>> grant_repository::list_open() {
    return with_approvals(query_all(
        *db_, select_grants("WHERE state IN ('pending', 'approved', 'active') ORDER BY id"),
        read_grant));
}

core::result<std::vector<grant_record>> grant_repository::list_due_for_expiry(core::time_point t) {
    return with_approvals(query_all(
        *db_, select_grants("WHERE state = 'active' AND expires_at <= ? ORDER BY expires_at, id"),
        read_grant, t));
}

core::result<std::vector<grant_record>> grant_repository::list_by_requester(
    std::string_view requester, int limit) {
    return with_approvals(query_all(*db_,
                                    select_grants("WHERE requester = ? ORDER BY id DESC LIMIT ?"),
                                    read_grant, requester, limit));
}

core::result<bool> grant_repository::add_approval(std::int64_t grant_id, std::string_view approver,
                                                  core::time_point at) {
    auto r = db_->execute(
        "INSERT INTO grant_approvals (grant_id, approver, approved_at) VALUES (?, ?, ?) "
        "ON CONFLICT (grant_id, approver) DO NOTHING",
        grant_id, approver, at);
    if (!r) {
        return std::move(r).error();
    }
    return db_->changes() == 1;
}

core::result<std::vector<grant_record>> grant_repository::with_approvals(
    core::result<std::vector<grant_record>> grants) {
    if (!grants) {
        return grants;
    }
    for (auto& g : *grants) {
        auto approvals = query_all(
            *db_,
            "SELECT approver, approved_at FROM grant_approvals WHERE grant_id = ? "
            "ORDER BY approved_at, approver",
            [](statement& st) {
                return grant_approval{st.get_text(0), st.get_time(1)};
            },
            g.id);
        if (!approvals) {
            return std::move(approvals).error();
        }
        g.approvals = std::move(*approvals);
    }
    return grants;
}

}  // namespace tugboat::storage
