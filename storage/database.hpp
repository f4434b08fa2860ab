#pragma once

// The SQLite handle every repository shares. SQLite itself stays inside storage/*.cpp: this header
// only exposes an owning `database`, a cached prepared `statement` and a `transaction` guard.
//
// Conventions for every table (see migrations.cpp):
// - times are whole unix seconds UTC in INTEGER columns named `*_at` (core::to_unix/from_unix);
//   durations are INTEGER milliseconds in columns named `*_ms`;
// - JSON owned by a caller is opaque TEXT, never parsed here;
// - ids shown to people are INTEGER AUTOINCREMENT keys (never reused), formatted by the repository.

#include "core/clock.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tugboat::storage {

namespace detail {
struct cached_statement;  // defined in database.cpp; wraps the SQLite statement handle
struct database_state;
}  // namespace detail

/// How `database::open` behaves.
struct open_options {
    /// How long a statement waits for another connection's write lock before failing with a
    /// "locked by another process" error. Short on purpose: the io thread must not stall.
    std::chrono::milliseconds busy_timeout{2000};
};

/// A prepared statement borrowed from the database's cache; returned (reset, bindings cleared)
/// when destroyed. Parameters are 1-based, columns 0-based. Must not outlive its database.
class statement {
public:
    statement(statement&& other) noexcept;
    statement& operator=(statement&& other) noexcept;
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    ~statement();

    /// Binds one parameter. A bind failure (bad index: a bug) is reported by the next `step`.
    statement& bind(int index, std::int64_t value);
    statement& bind(int index, double value);
    statement& bind(int index, std::string_view value);
    statement& bind(int index, std::nullptr_t);
    statement& bind(int index, const char* value) { return bind(index, std::string_view{value}); }
    statement& bind(int index, const std::string& value) {
        return bind(index, std::string_view{value});
    }
    /// Times are stored as unix seconds.
    statement& bind(int index, core::time_point value) { return bind(index, core::to_unix(value)); }
    template <std::integral I>
    statement& bind(int index, I value) {
        return bind(index, static_cast<std::int64_t>(value));
    }
    /// An empty optional binds NULL.
    template <class T>
    statement& bind(int index, const std::optional<T>& value) {
        return value ? bind(index, *value) : bind(index, nullptr);
    }
    /// Binds a pointer that only SQL functions asking for `type` can read (sqlite3_bind_pointer);
    /// `value` must outlive the statement's steps.
    statement& bind_pointer(int index, const void* value, const char* type);
    /// Binds `values` to parameters 1..n in order.
    template <class... Args>
    statement& bind_all(const Args&... values) {
        [[maybe_unused]] int index = 0;
        (bind(++index, values), ...);
        return *this;
    }

    /// Advances: true when a row is available, false when the statement is done.
    /// Errors: storage_error (with what to do for busy/corrupt/read-only); conflict for unique,
    /// foreign-key and trigger violations (e.g. the append-only audit log); invalid_argument for
    /// CHECK and NOT NULL violations.
    core::result<bool> step();
    /// Steps to completion, ignoring any rows; for INSERT/UPDATE/DELETE. Leaves the statement
    /// ready to be bound and run again.
    core::result<void> run();

    bool is_null(int column) const;
    std::int64_t get_int(int column) const;
    double get_double(int column) const;
    std::string get_text(int column) const;
    core::time_point get_time(int column) const { return core::from_unix(get_int(column)); }
    std::optional<std::int64_t> get_opt_int(int column) const;
    std::optional<std::string> get_opt_text(int column) const;
    std::optional<core::time_point> get_opt_time(int column) const;

private:
    friend class database;
    statement(detail::database_state* db, detail::cached_statement* stmt) : db_(db), stmt_(stmt) {}
    void release() noexcept;

    detail::database_state* db_ = nullptr;
    detail::cached_statement* stmt_ = nullptr;
    int bind_error_ = 0;
};

/// One SQLite connection, opened in WAL mode with foreign keys on and the schema migrated to the
/// newest version this binary knows. Used from the io thread only; calls are short and never span
/// a co_await.
class database {
public:
    /// Opens (creating if missing) the database at `path` — a file name, ":memory:", or a SQLite
    /// `file:` URI (e.g. `file:x.db?mode=ro`) — and applies pending migrations, each in its own
    /// transaction. Every error is storage_error with a message naming the path and saying what
    /// to do: locked by another process (another tugboat may be running), read-only file or
    /// directory, not a Tugboat database or corrupt, or a schema newer than this binary knows.
    static core::result<database> open(const std::string& path, core::logger& log,
                                       open_options options = {});

    database(database&& other) noexcept;
    database& operator=(database&& other) noexcept;
    database(const database&) = delete;
    database& operator=(const database&) = delete;
    ~database();

    /// The newest schema version this binary can migrate to.
    static int latest_schema_version();
    /// The schema version stored in the file (PRAGMA user_version).
    core::result<int> schema_version();
    /// The path given to `open`.
    const std::string& path() const;

    /// A prepared statement for `sql`, from the cache when one is idle.
    core::result<statement> prepare(std::string_view sql);
    /// Runs one or more parameterless statements (schema changes, pragmas).
    core::result<void> exec(std::string_view sql);
    /// Prepares `sql`, binds `args` to parameters 1..n and runs it to completion.
    template <class... Args>
    core::result<void> execute(std::string_view sql, const Args&... args) {
        auto st = prepare(sql);
        if (!st) {
            return std::move(st).error();
        }
        st->bind_all(args...);
        return st->run();
    }

    /// Rows changed by the last INSERT/UPDATE/DELETE on this connection.
    std::int64_t changes() const;
    /// Rowid of the last successful INSERT on this connection.
    std::int64_t last_insert_rowid() const;
    /// True while a transaction is open on this connection.
    bool in_transaction() const;

private:
    explicit database(std::unique_ptr<detail::database_state> state);
    std::unique_ptr<detail::database_state> state_;
};

/// RAII write transaction: BEGIN IMMEDIATE, or a SAVEPOINT when one is already open, so
/// repository methods that use a transaction compose inside a caller's transaction. Rolled back
/// on destruction unless committed. Must not outlive (or see a move of) its database.
class transaction {
public:
    /// Starts the transaction. Errors: storage_error when another connection keeps the write
    /// lock longer than the busy timeout.
    static core::result<transaction> begin(database& db);

    transaction(transaction&& other) noexcept;
    transaction& operator=(transaction&&) = delete;
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    ~transaction();

    /// Makes the changes durable (or folds a savepoint into the enclosing transaction).
    core::result<void> commit();

private:
    transaction(database& db, bool nested) : db_(&db), nested_(nested) {}
    database* db_;
    bool nested_;
    bool active_ = true;
};

}  // namespace tugboat::storage
