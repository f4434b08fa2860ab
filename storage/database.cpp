#include "storage/database.hpp"

#include "storage/migrations.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tugboat::storage {

namespace detail {
int register_faq_tokenizer(sqlite3* db);  // storage/faq_tokenizer.cpp
}  // namespace detail

namespace detail {

struct cached_statement {
    sqlite3_stmt* handle = nullptr;
    std::string sql;
    bool in_use = false;
};

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

struct database_state {
    sqlite3* db = nullptr;
    std::string path;
    // Several statements with the same text can be live at once (nested calls), so each text
    // keeps a small pool; pointers stay stable because entries are heap-allocated.
    std::unordered_map<std::string, std::vector<std::unique_ptr<cached_statement>>, string_hash,
                       std::equal_to<>>
        cache;

    explicit database_state(std::string p) : path(std::move(p)) {}
    database_state(const database_state&) = delete;
    database_state& operator=(const database_state&) = delete;
    ~database_state() {
        for (auto& [sql, pool] : cache) {
            for (auto& entry : pool) {
                sqlite3_finalize(entry->handle);
            }
        }
        sqlite3_close(db);
    }

    // The one place SQLite result codes become core errors. Messages say what to do next.
    core::error failure(int rc, std::string_view doing) const {
        const char* detail =
            (db != nullptr && sqlite3_errcode(db) == rc) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        switch (rc & 0xff) {
            case SQLITE_BUSY:
            case SQLITE_LOCKED:
                return core::make_error(
                    core::errc::storage_error,
                    fmt::format(
                        "database '{}' is locked by another process (another tugboat may be "
                        "running against it); stop the other process or set bot.database to "
                        "a different file",
                        path));
            case SQLITE_NOTADB:
            case SQLITE_CORRUPT:
                return core::make_error(
                    core::errc::storage_error,
                    fmt::format(
                        "'{}' is not a Tugboat database or is corrupt ({}); restore it from "
                        "a backup or move it away so a new one is created",
                        path, detail));
            case SQLITE_READONLY:
                return core::make_error(
                    core::errc::storage_error,
                    fmt::format(
                        "database '{}' is read-only ({}); make the file, its directory and "
                        "any -wal/-shm files next to it writable by the tugboat user, or set "
                        "bot.database to a writable path",
                        path, detail));
            case SQLITE_CANTOPEN:
                return core::make_error(
                    core::errc::storage_error,
                    fmt::format("cannot open database '{}' ({}); check that its directory exists "
                                "and is writable by the tugboat user (SQLite creates -wal and -shm "
                                "files next to it)",
                                path, detail));
            case SQLITE_FULL:
                return core::make_error(
                    core::errc::storage_error,
                    fmt::format("disk full while writing database '{}'; free some space", path));
            case SQLITE_IOERR:
                return core::make_error(
                    core::errc::storage_error,
                    fmt::format("I/O error on database '{}' while {} ({}); check the disk and file "
                                "system",
                                path, doing, detail));
            case SQLITE_CONSTRAINT:
                // A CHECK or NOT NULL failure is a bad value from the caller; unique keys, foreign
                // keys and the append-only triggers are conflicts with what is already stored.
                return core::make_error(
                    rc == SQLITE_CONSTRAINT_CHECK || rc == SQLITE_CONSTRAINT_NOTNULL
                        ? core::errc::invalid_argument
                        : core::errc::conflict,
                    fmt::format("{} (while {})", detail, doing));
            default:
                return core::make_error(
                    core::errc::storage_error,
                    fmt::format("SQLite error on '{}' while {}: {}", path, doing, detail));
        }
    }
};

}  // namespace detail

// ---- statement ----

statement::statement(statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_error_(other.bind_error_) {}

statement& statement::operator=(statement&& other) noexcept {
    if (this != &other) {
        release();
        db_ = std::exchange(other.db_, nullptr);
        stmt_ = std::exchange(other.stmt_, nullptr);
        bind_error_ = other.bind_error_;
    }
    return *this;
}

statement::~statement() {
    release();
}

void statement::release() noexcept {
    if (stmt_ == nullptr) {
        return;
    }
    sqlite3_reset(stmt_->handle);
    sqlite3_clear_bindings(stmt_->handle);
    stmt_->in_use = false;
    stmt_ = nullptr;
}

namespace {
int& first_error(int& slot, int rc) {
    if (slot == 0 && rc != SQLITE_OK) {
        slot = rc;
    }
    return slot;
}
}  // namespace

statement& statement::bind(int index, std::int64_t value) {
    first_error(bind_error_, sqlite3_bind_int64(stmt_->handle, index, value));
    return *this;
}

statement& statement::bind(int index, double value) {
    first_error(bind_error_, sqlite3_bind_double(stmt_->handle, index, value));
    return *this;
}

statement& statement::bind(int index, std::string_view value) {
    // TRANSIENT copies: callers often bind temporaries that die before step().
    first_error(bind_error_, sqlite3_bind_text64(stmt_->handle, index, value.data(), value.size(),
                                                 SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
}

statement& statement::bind(int index, std::nullptr_t) {
    first_error(bind_error_, sqlite3_bind_null(stmt_->handle, index));
    return *this;
}

statement& statement::bind_pointer(int index, const void* value, const char* type) {
    first_error(bind_error_, sqlite3_bind_pointer(stmt_->handle, index, const_cast<void*>(value),
                                                  type, nullptr));
    return *this;
}

core::result<bool> statement::step() {
    if (bind_error_ != 0) {
        return db_->failure(bind_error_, fmt::format("binding parameters of: {}", stmt_->sql));
    }
    const int rc = sqlite3_step(stmt_->handle);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    auto err = db_->failure(rc, fmt::format("running: {}", stmt_->sql));
    sqlite3_reset(stmt_->handle);
    return err;
}

core::result<void> statement::run() {
    for (;;) {
        auto row = step();
        if (!row) {
            return std::move(row).error();
        }
        if (!*row) {
            sqlite3_reset(stmt_->handle);
            return core::ok();
        }
    }
}

bool statement::is_null(int column) const {
    return sqlite3_column_type(stmt_->handle, column) == SQLITE_NULL;
}

std::int64_t statement::get_int(int column) const {
    return sqlite3_column_int64(stmt_->handle, column);
}

double statement::get_double(int column) const {
    return sqlite3_column_double(stmt_->handle, column);
}

std::string statement::get_text(int column) const {
    const auto* text = sqlite3_column_text(stmt_->handle, column);
    if (text == nullptr) {
        return {};
    }
    return {reinterpret_cast<const char*>(text),
            static_cast<std::size_t>(sqlite3_column_bytes(stmt_->handle, column))};
}

std::optional<std::int64_t> statement::get_opt_int(int column) const {
    if (is_null(column)) {
        return std::nullopt;
    }
    return get_int(column);
}

std::optional<std::string> statement::get_opt_text(int column) const {
    if (is_null(column)) {
        return std::nullopt;
    }
    return get_text(column);
}

std::optional<core::time_point> statement::get_opt_time(int column) const {
    if (is_null(column)) {
        return std::nullopt;
    }
    return get_time(column);
}

// ---- database ----

namespace {

core::result<void> check_is_ours(database& db, int version) {
    if (version < 0) {
        return core::make_error(
            core::errc::storage_error,
            fmt::format("'{}' is not a Tugboat database (schema version {}); restore it from a "
                        "backup or move it away so a new one is created",
                        db.path(), version));
    }
    // Reading the schema on every start also surfaces a damaged schema now, not mid-deploy.
    auto st = db.prepare("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'");
    if (!st) {
        return std::move(st).error();
    }
    auto row = st->step();
    if (!row) {
        return std::move(row).error();
    }
    // Version 0 with tables in it: some other program's database, not a fresh file.
    if (version == 0 && st->get_int(0) != 0) {
        return core::make_error(
            core::errc::storage_error,
            fmt::format("'{}' is not a Tugboat database (it has tables but no Tugboat schema "
                        "version); set bot.database to another file or move this one away",
                        db.path()));
    }
    return core::ok();
}

core::result<void> use_wal(database& db, core::logger& log) {
    auto mode = db.prepare("PRAGMA journal_mode = WAL");
    if (!mode) {
        return std::move(mode).error();
    }
    auto row = mode->step();
    if (!row) {
        return std::move(row).error();
    }
    // ":memory:" answers "memory"; anything else means the file system refused WAL.
    if (auto got = mode->get_text(0); got != "wal" && got != "memory") {
        log.warn("storage_no_wal", {{"path", db.path()}, {"journal_mode", got}});
    }
    return core::ok();
}

core::result<void> migrate(database& db, core::logger& log) {
    const auto migrations = all_migrations();
    const int latest = database::latest_schema_version();
    for (;;) {
        // IMMEDIATE: two processes starting at once must not both apply the same step.
        auto tx = transaction::begin(db);
        if (!tx) {
            return std::move(tx).error();
        }
        auto version = db.schema_version();
        if (!version) {
            return std::move(version).error();
        }
        if (*version > latest) {
            return core::make_error(
                core::errc::storage_error,
                fmt::format("database schema version {} in '{}' is newer than this tugboat "
                            "(knows up to {}); upgrade tugboat or set bot.database to another "
                            "database",
                            *version, db.path(), latest));
        }
        if (auto ours = check_is_ours(db, *version); !ours) {
            return ours;
        }
        if (*version == latest) {
            return tx->commit();
        }
        const auto& step = migrations[static_cast<std::size_t>(*version)];
        auto applied = db.exec(step.sql);
        if (applied) {
            applied = db.exec(fmt::format("PRAGMA user_version = {}", step.version));
        }
        if (applied) {
            applied = tx->commit();
        }
        if (!applied) {
            auto err = std::move(applied).error();
            err.message =
                fmt::format("migration {} ({}) failed: {}", step.version, step.name, err.message);
            return err;
        }
        log.info(
            "storage_migrated",
            {{"path", db.path()}, {"version", step.version}, {"name", std::string{step.name}}});
    }
}

}  // namespace

database::database(std::unique_ptr<detail::database_state> state) : state_(std::move(state)) {}
database::database(database&& other) noexcept = default;
database& database::operator=(database&& other) noexcept = default;
database::~database() = default;

core::result<database> database::open(const std::string& path, core::logger& log,
                                      open_options options) {
    auto state = std::make_unique<detail::database_state>(path);
    const int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
    if (int rc = sqlite3_open_v2(path.c_str(), &state->db, flags, nullptr); rc != SQLITE_OK) {
        return state->failure(rc, "opening");
    }
    sqlite3_extended_result_codes(state->db, 1);
    sqlite3_busy_timeout(state->db, static_cast<int>(options.busy_timeout.count()));
    // Before migrating: the FAQ index (migration 2) is an FTS5 table using this tokenizer.
    if (int rc = detail::register_faq_tokenizer(state->db); rc != SQLITE_OK) {
        return state->failure(rc, "opening");
    }
    // SQLite quietly falls back to read-only when the file is not writable; we need writes.
    if (sqlite3_db_readonly(state->db, "main") == 1) {
        return state->failure(SQLITE_READONLY, "opening");
    }

    database db{std::move(state)};
    if (auto r = use_wal(db, log); !r) {
        return std::move(r).error();
    }
    // cache_size -512 (KiB): the working set is a few small tables and their indexes; SQLite's
    // 2 MiB default page cache only added to the resident size.
    if (auto r = db.exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; "
                         "PRAGMA cache_size = -512;");
        !r) {
        return std::move(r).error();
    }
    if (auto r = migrate(db, log); !r) {
        return std::move(r).error();
    }
    log.info("storage_opened", {{"path", path}, {"schema_version", latest_schema_version()}});
    return db;
}

int database::latest_schema_version() {
    return static_cast<int>(all_migrations().size());
}

core::result<int> database::schema_version() {
    auto st = prepare("PRAGMA user_version");
    if (!st) {
        return std::move(st).error();
    }
    auto row = st->step();
    if (!row) {
        return std::move(row).error();
    }
    return static_cast<int>(st->get_int(0));
}

const std::string& database::path() const {
    return state_->path;
}

core::result<statement> database::prepare(std::string_view sql) {
    auto it = state_->cache.find(sql);
    if (it == state_->cache.end()) {
        it =
            state_->cache
                .emplace(std::string{sql}, std::vector<std::unique_ptr<detail::cached_statement>>{})
                .first;
    }
    for (auto& entry : it->second) {
        if (!entry->in_use) {
            entry->in_use = true;
            return statement{state_.get(), entry.get()};
        }
    }
    sqlite3_stmt* handle = nullptr;
    const int rc = sqlite3_prepare_v3(state_->db, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &handle, nullptr);
    if (rc != SQLITE_OK) {
        return state_->failure(rc, fmt::format("preparing: {}", sql));
    }
    auto entry = std::make_unique<detail::cached_statement>();
    entry->handle = handle;
    entry->sql = std::string{sql};
    entry->in_use = true;
    it->second.push_back(std::move(entry));
    return statement{state_.get(), it->second.back().get()};
}

core::result<void> database::exec(std::string_view sql) {
    const std::string text{sql};
    if (int rc = sqlite3_exec(state_->db, text.c_str(), nullptr, nullptr, nullptr);
        rc != SQLITE_OK) {
        return state_->failure(rc, fmt::format("running: {}", sql.substr(0, 80)));
    }
    return core::ok();
}

std::int64_t database::changes() const {
    return sqlite3_changes64(state_->db);
}

std::int64_t database::last_insert_rowid() const {
    return sqlite3_last_insert_rowid(state_->db);
}

bool database::in_transaction() const {
    return sqlite3_get_autocommit(state_->db) == 0;
}

// ---- transaction ----

core::result<transaction> transaction::begin(database& db) {
    const bool nested = db.in_transaction();
    if (auto r = db.execute(nested ? "SAVEPOINT tugboat_nested" : "BEGIN IMMEDIATE"); !r) {
        return std::move(r).error();
    }
    return transaction{db, nested};
}

transaction::transaction(transaction&& other) noexcept
    : db_(other.db_), nested_(other.nested_), active_(std::exchange(other.active_, false)) {}

transaction::~transaction() {
    // SQLite rolls back by itself after some errors (e.g. disk full); then there is nothing left.
    if (!active_ || !db_->in_transaction()) {
        return;
    }
    if (nested_) {
        (void)db_->execute("ROLLBACK TO tugboat_nested");
        (void)db_->execute("RELEASE tugboat_nested");
        return;
    }
    (void)db_->execute("ROLLBACK");
}

core::result<void> transaction::commit() {
    if (!active_) {
        return core::make_error(core::errc::internal, "transaction committed twice");
    }
    auto r = db_->execute(nested_ ? "RELEASE tugboat_nested" : "COMMIT");
    if (r) {
        active_ = false;
    }
    return r;
}

}  // namespace tugboat::storage
