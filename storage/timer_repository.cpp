#include "storage/timer_repository.hpp"

#include "storage/query.hpp"

namespace tugboat::storage {
namespace {

timer read_timer(statement& st) {
    return timer{st.get_int(0), st.get_text(1), st.get_text(2), st.get_time(3), st.get_text(4)};
}

}  // namespace

core::result<std::int64_t> timer_repository::schedule(std::string_view kind,
                                                      std::string_view subject,
                                                      core::time_point due_at,
                                                      std::string_view payload) {
    auto st = db_->prepare(
        "INSERT INTO timers (kind, subject, due_at, payload) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (kind, subject) DO UPDATE SET due_at = excluded.due_at, "
        "payload = excluded.payload RETURNING id");
    if (!st) {
        return std::move(st).error();
    }
    st->bind_all(kind, subject, due_at, payload);
    auto row = st->step();
    if (!row) {
        return std::move(row).error();
    }
    const auto id = st->get_int(0);
    // Step to the end so the statement's implicit transaction completes before we return.
    if (auto done = st->run(); !done) {
        return std::move(done).error();
    }
    return id;
}

core::result<std::vector<timer>> timer_repository::due(core::time_point now, int limit) {
    return query_all(*db_,
                     "SELECT id, kind, subject, due_at, payload FROM timers WHERE due_at <= ? "
                     "ORDER BY due_at, id LIMIT ?",
                     read_timer, now, limit);
}

core::result<std::optional<timer>> timer_repository::get(std::string_view kind,
                                                         std::string_view subject) {
    return query_one(*db_,
                     "SELECT id, kind, subject, due_at, payload FROM timers "
                     "WHERE kind = ? AND subject = ?",
                     read_timer, kind, subject);
}

core::result<bool> timer_repository::cancel(std::string_view kind, std::string_view subject) {
    auto r = db_->execute("DELETE FROM timers WHERE kind = ? AND subject = ?", kind, subject);
    if (!r) {
        return std::move(r).error();
    }
    return db_->changes() > 0;
}

core::result<bool> timer_repository::complete(const timer& fired) {
    auto r = db_->execute("DELETE FROM timers WHERE id = ? AND due_at = ? AND payload = ?",
                          fired.id, fired.due_at, fired.payload);
    if (!r) {
        return std::move(r).error();
    }
    return db_->changes() > 0;
}

}  // namespace tugboat::storage
