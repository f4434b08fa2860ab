#include "storage/audit_repository.hpp"

#include "storage/query.hpp"

namespace tugboat::storage {

core::result<std::int64_t> audit_repository::append(audit_entry& entry) {
    auto r = db_->execute(
        "INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)",
        entry.at, entry.actor, entry.action, entry.subject, entry.details_json);
    if (!r) {
        return std::move(r).error();
    }
    entry.id = db_->last_insert_rowid();
    return entry.id;
}

core::result<std::vector<audit_entry>> audit_repository::query(const audit_query& q) {
    // Only the filters in use go into the SQL, so each can use its index; there are at most 16
    // distinct texts for the statement cache.
    std::string sql = "SELECT id, at, actor, action, subject, details FROM audit_log WHERE 1 = 1";
    if (q.actor) {
        sql += " AND actor = ?1";
    }
    if (q.action) {
        sql += " AND action = ?2";
    }
    if (q.subject) {
        sql += " AND subject = ?3";
    }
    if (q.since) {
        sql += " AND at >= ?4";
    }
    sql += " ORDER BY id DESC LIMIT ?5";
    return query_all(
        *db_, sql,
        [](statement& st) {
            return audit_entry{st.get_int(0),  st.get_time(1), st.get_text(2),
                               st.get_text(3), st.get_text(4), st.get_text(5)};
        },
        q.actor, q.action, q.subject, q.since, q.limit);
}

}  // namespace tugboat::storage
