#include "storage/faq_repository.hpp"

#include "storage/query.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <utility>

namespace tugboat::storage {
namespace {

constexpr std::string_view document_columns =
    "SELECT id, path, mtime_at, hash, front_matter_json FROM faq_documents ";
constexpr std::string_view section_columns =
    "SELECT id, document_id, ordinal, heading_path, anchor, body FROM faq_sections ";

faq_document read_document(statement& st) {
    return faq_document{st.get_int(0), st.get_text(1), st.get_time(2), st.get_text(3),
                        st.get_text(4)};
}

faq_section read_section(statement& st) {
    return faq_section{st.get_int(0),  st.get_int(1),  static_cast<int>(st.get_int(2)),
                       st.get_text(3), st.get_text(4), st.get_text(5)};
}

std::string with(std::string_view head, std::string_view rest) {
    std::string sql{head};
    sql += rest;
    return sql;
}

// Inside a caller's transaction (the indexer's pass) no savepoint of our own: at each one FTS5
// writes the terms it holds so far out as a segment of its own, and a pass became thousands of
// segments to merge. The caller's transaction keeps the change atomic. For the same reason the
// full-text rows are written last, all together (write_search_index): any statement that may
// change several rows (the upsert of the next document, the deletion of its old sections) also
// opens a savepoint, and FTS5 wrote a segment per document — most of a full pass's time.
core::result<std::optional<transaction>> own_transaction(database& db) {
    if (db.in_transaction()) {
        return std::optional<transaction>{};
    }
    auto begun = transaction::begin(db);
    if (!begun) {
        return std::move(begun).error();
    }
    return std::optional<transaction>{std::move(*begun)};
}

}  // namespace

core::result<std::int64_t> faq_repository::upsert_document(faq_document& d) {
    auto st = db_->prepare(
        "INSERT INTO faq_documents (path, mtime_at, hash, front_matter_json) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (path) DO UPDATE SET mtime_at = excluded.mtime_at, hash = excluded.hash, "
        "front_matter_json = excluded.front_matter_json RETURNING id");
    if (!st) {
        return std::move(st).error();
    }
    st->bind_all(d.path, d.mtime, d.hash, d.front_matter_json);
    auto row = st->step();
    if (!row) {
        return std::move(row).error();
    }
    d.id = st->get_int(0);
    if (auto done = st->run(); !done) {
        return std::move(done).error();
    }
    return d.id;
}

core::result<std::optional<faq_document>> faq_repository::get_document(std::string_view path) {
    return query_one(*db_, with(document_columns, "WHERE path = ?"), read_document, path);
}

core::result<std::vector<faq_document>> faq_repository::list_documents() {
    return query_all(*db_, with(document_columns, "ORDER BY path"), read_document);
}

core::result<bool> faq_repository::remove_document(std::string_view path) {
    auto tx = own_transaction(*db_);
    if (!tx) {
        return std::move(tx).error();
    }
    auto id = query_one(
        *db_, "SELECT id FROM faq_documents WHERE path = ?",
        [](statement& st) { return st.get_int(0); }, path);
    if (!id) {
        return std::move(id).error();
    }
    if (*id) {
        if (auto r = unindex_sections(**id); !r) {
            return std::move(r).error();
        }
        // Its sections go with it (ON DELETE CASCADE).
        if (auto r = db_->execute("DELETE FROM faq_documents WHERE id = ?", **id); !r) {
            return std::move(r).error();
        }
    }
    if (auto r = finish(*tx); !r) {
        return std::move(r).error();
    }
    return id->has_value();
}

core::result<void> faq_repository::unindex_sections(std::int64_t document_id) {
    auto ids = query_all(
        *db_, "SELECT id FROM faq_sections WHERE document_id = ?",
        [](statement& st) { return st.get_int(0); }, document_id);
    if (!ids) {
        return std::move(ids).error();
    }
    unindexed_.insert(unindexed_.end(), ids->begin(), ids->end());
    return {};
}

core::result<void> faq_repository::finish(std::optional<transaction>& tx) {
    if (!tx) {
        return {};  // the caller writes the search index and commits
    }
    if (auto r = write_search_index(); !r) {
        return r;
    }
    return tx->commit();
}

core::result<void> faq_repository::replace_sections(std::int64_t document_id,
                                                    std::vector<faq_section>& sections) {
    auto tx = own_transaction(*db_);
    if (!tx) {
        return std::move(tx).error();
    }
    // Every section row carries its document's title, alternative questions and tags.
    auto names = query_one(
        *db_,
        "SELECT coalesce(json_extract(front_matter_json, '$.title'), ''), "
        "coalesce((SELECT group_concat(value, char(10)) "
        "          FROM json_each(front_matter_json, '$.questions')), '') || char(10) || "
        "coalesce((SELECT group_concat(value, ' ') FROM json_each(front_matter_json, '$.tags')), "
        "         '') FROM faq_documents WHERE id = ?",
        [](statement& st) {
            return std::pair{st.get_text(0), st.get_text(1)};
        },
        document_id);
    if (!names) {
        return std::move(names).error();
    }
    if (!*names) {
        return core::make_error(core::errc::conflict,
                                fmt::format("no FAQ document {} to hold sections", document_id));
    }
    const auto& [title, questions] = **names;
    if (auto r = unindex_sections(document_id); !r) {
        return r;
    }
    if (auto r = db_->execute("DELETE FROM faq_sections WHERE document_id = ?", document_id); !r) {
        return r;
    }
    for (auto& s : sections) {
        auto r = db_->execute(
            "INSERT INTO faq_sections (document_id, ordinal, heading_path, anchor, body) "
            "VALUES (?, ?, ?, ?, ?)",
            document_id, s.ordinal, s.heading_path, s.anchor, s.body);
        if (!r) {
            return r;
        }
        s.id = db_->last_insert_rowid();
        s.document_id = document_id;
        indexed_.push_back({s.id, title, questions, s.heading_path, s.body});
    }
    return finish(*tx);
}

core::result<void> faq_repository::write_search_index() {
    // One statement for the deletes (their savepoint comes before any row is pending), then
    // single-row inserts, which open none.
    if (!unindexed_.empty()) {
        std::string ids;
        for (auto id : unindexed_) {
            ids += ids.empty() ? "[" : ",";
            ids += std::to_string(id);
        }
        if (auto r = db_->execute(
                "DELETE FROM faq_search WHERE rowid IN (SELECT value FROM json_each(?))",
                ids + "]");
            !r) {
            return r;
        }
        unindexed_.clear();
    }
    for (const auto& row : indexed_) {
        auto r = db_->execute(
            "INSERT INTO faq_search (rowid, title, questions, heading, body) "
            "VALUES (?, ?, ?, ?, ?)",
            row.section_id, row.title, row.questions, row.heading, row.body);
        if (!r) {
            return r;
        }
    }
    indexed_.clear();
    return {};
}

core::result<std::vector<faq_section>> faq_repository::sections_of(std::int64_t document_id) {
    return query_all(*db_, with(section_columns, "WHERE document_id = ? ORDER BY ordinal"),
                     read_section, document_id);
}

core::result<std::vector<faq_section>> faq_repository::all_sections() {
    return query_all(*db_, with(section_columns, "ORDER BY document_id, ordinal"), read_section);
}

core::result<std::optional<faq_section>> faq_repository::get_section(std::int64_t id) {
    return query_one(*db_, with(section_columns, "WHERE id = ?"), read_section, id);
}

core::result<std::int64_t> faq_repository::record_feedback(faq_feedback& f) {
    auto r = db_->execute(
        "INSERT INTO faq_feedback (question, section, vote, user, at) VALUES (?, ?, ?, ?, ?)",
        f.question, f.section, f.vote, f.user, f.at);
    if (!r) {
        return std::move(r).error();
    }
    f.id = db_->last_insert_rowid();
    return f.id;
}

core::result<std::vector<faq_feedback>> faq_repository::feedback_for(std::string_view section) {
    return query_all(
        *db_,
        "SELECT id, question, section, vote, user, at FROM faq_feedback WHERE section = ? "
        "ORDER BY id",
        [](statement& st) {
            return faq_feedback{st.get_int(0),  st.get_text(1),
                                st.get_text(2), static_cast<int>(st.get_int(3)),
                                st.get_text(4), st.get_time(5)};
        },
        section);
}

namespace {

// One "section<TAB>label" line per match; a tab or newline in a label would break it.
std::string shown_lines(const std::vector<faq_shown>& shown) {
    std::string out;
    for (const auto& s : shown) {
        std::string label = s.label;
        std::replace_if(
            label.begin(), label.end(), [](char c) { return c == '\t' || c == '\n'; }, ' ');
        out += s.section + '\t' + label + '\n';
    }
    return out;
}

std::vector<faq_shown> shown_of(std::string_view lines) {
    std::vector<faq_shown> out;
    while (!lines.empty()) {
        auto line = lines.substr(0, lines.find('\n'));
        lines.remove_prefix(std::min(lines.size(), line.size() + 1));
        const auto tab = line.find('\t');
        out.push_back({std::string(line.substr(0, tab)),
                       tab == std::string_view::npos ? "" : std::string(line.substr(tab + 1))});
    }
    return out;
}

constexpr std::string_view ask_columns =
    "SELECT id, question, user, channel, thread_ts, section, answered, at, others, help_channel, "
    "help_ts FROM faq_asks ";

faq_ask ask_of(statement& st) {
    return faq_ask{st.get_int(0),      st.get_text(1), st.get_text(2),
                   st.get_text(3),     st.get_text(4), st.get_text(5),
                   st.get_int(6) != 0, st.get_time(7), shown_of(st.get_text(8)),
                   st.get_text(9),     st.get_text(10)};
}

}  // namespace

core::result<std::int64_t> faq_repository::record_ask(faq_ask& a) {
    auto r = db_->execute(
        "INSERT INTO faq_asks (question, user, channel, thread_ts, section, answered, at, others) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        a.question, a.user, a.channel, a.thread_ts, a.section, a.answered ? 1 : 0, a.at,
        shown_lines(a.others));
    if (!r) {
        return std::move(r).error();
    }
    a.id = db_->last_insert_rowid();
    return a.id;
}

core::result<std::optional<faq_ask>> faq_repository::get_ask(std::int64_t id) {
    return query_one(*db_, std::string{ask_columns} + "WHERE id = ?", ask_of, id);
}

core::result<std::vector<faq_ask>> faq_repository::recent_declined(int limit) {
    return query_all(*db_,
                     std::string{ask_columns} +
                         "WHERE answered = 0 AND id NOT IN (SELECT id FROM faq_learned "
                         "WHERE section <> '') "
                         "ORDER BY id DESC LIMIT ?",
                     ask_of, limit);
}

core::result<std::optional<faq_ask>> faq_repository::escalated_at(std::string_view channel,
                                                                  std::string_view ts) {
    if (ts.empty()) {
        return std::optional<faq_ask>{};
    }
    return query_one(*db_, std::string{ask_columns} + "WHERE help_channel = ? AND help_ts = ?",
                     ask_of, channel, ts);
}

core::result<void> faq_repository::record_escalation(std::int64_t ask_id, std::string_view channel,
                                                     std::string_view ts) {
    if (auto r = db_->execute("UPDATE faq_asks SET help_channel = ?, help_ts = ? WHERE id = ?",
                              channel, ts, ask_id);
        !r) {
        return std::move(r).error();
    }
    if (db_->changes() == 0) {
        return core::make_error(core::errc::not_found,
                                fmt::format("no FAQ question number {}", ask_id));
    }
    return core::ok();
}

core::result<bool> faq_repository::teach(const faq_ask& a, std::string_view section, bool replace) {
    const std::string sql =
        std::string{
            "INSERT INTO faq_learned (id, question, section) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO "} +
        (replace ? "UPDATE SET question = excluded.question, section = excluded.section "
                   "WHERE section != excluded.section"
                 : "NOTHING");
    if (auto r = db_->execute(sql, a.id, a.question, section); !r) {
        return std::move(r).error();
    }
    return db_->changes() > 0;
}

core::result<bool> faq_repository::unteach(std::int64_t ask_id) {
    if (auto r = db_->execute("DELETE FROM faq_learned WHERE id = ?", ask_id); !r) {
        return std::move(r).error();
    }
    return db_->changes() > 0;
}

core::result<std::vector<faq_lesson>> faq_repository::recent_lessons(int limit) {
    return query_all(
        *db_, "SELECT id, question, section FROM faq_learned ORDER BY id DESC LIMIT ?",
        [](statement& st) {
            return faq_lesson{st.get_int(0), st.get_text(1), st.get_text(2)};
        },
        limit);
}

core::result<std::int64_t> faq_repository::lesson_count(bool gaps) {
    auto row = query_one(
        *db_, "SELECT count(*) FROM faq_learned WHERE (section = '') = ?",
        [](statement& st) { return st.get_int(0); }, gaps ? 1 : 0);
    if (!row) {
        return std::move(row).error();
    }
    return row->value_or(0);
}

core::result<std::vector<faq_feedback>> faq_repository::recent_feedback(int limit, bool down_only) {
    return query_all(
        *db_,
        "SELECT id, question, section, vote, user, at FROM faq_feedback "
        "WHERE (? = 0 OR vote < 0) ORDER BY at DESC, id DESC LIMIT ?",
        [](statement& st) {
            return faq_feedback{st.get_int(0),  st.get_text(1),
                                st.get_text(2), static_cast<int>(st.get_int(3)),
                                st.get_text(4), st.get_time(5)};
        },
        down_only ? 1 : 0, limit);
}

core::result<std::pair<std::int64_t, std::int64_t>> faq_repository::ask_counts() {
    auto row = query_one(*db_, "SELECT count(*), coalesce(sum(answered), 0) FROM faq_asks",
                         [](statement& st) {
                             return std::pair{st.get_int(0), st.get_int(1)};
                         });
    if (!row) {
        return std::move(row).error();
    }
    return row->value_or(std::pair<std::int64_t, std::int64_t>{0, 0});
}

}  // namespace tugboat::storage
