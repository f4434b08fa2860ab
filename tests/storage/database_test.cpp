#include "storage/database.hpp"
#include "storage/deploy_repository.hpp"
#include "storage/faq_repository.hpp"
#include "storage/inbox_repository.hpp"
#include "storage/migrations.hpp"
#include "storage/timer_repository.hpp"
#include "tests/support/fixed_time.hpp"
#include "tests/support/must.hpp"
#include "tests/support/temp_dir.hpp"

#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

using namespace tugboat;
using namespace std::chrono_literals;
using test::must;
using test::t0;
using test::temp_dir;
namespace fs = std::filesystem;

namespace {

core::error open_error(const std::string& path, storage::open_options options = {}) {
    auto db = storage::database::open(path, core::null_logger(), options);
    REQUIRE_FALSE(db);
    return db.error();
}

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::int64_t count(storage::database& db, std::string_view sql) {
    auto st = must(db.prepare(sql));
    REQUIRE(must(st.step()));
    return st.get_int(0);
}

}  // namespace

TEST_CASE("database: migrations are numbered 1..n without gaps", "[unit]") {
    const auto all = storage::all_migrations();
    REQUIRE_FALSE(all.empty());
    for (std::size_t i = 0; i < all.size(); ++i) {
        CHECK(all[i].version == static_cast<int>(i) + 1);
        CHECK_FALSE(all[i].sql.empty());
    }
    CHECK(storage::database::latest_schema_version() == static_cast<int>(all.size()));
}

TEST_CASE("database: a new file is created, migrated and set to WAL", "[unit]") {
    temp_dir dir;
    core::string_sink sink;
    core::logger log(sink, core::log_level::debug);
    auto db = must(storage::database::open(dir.file("t.db"), log));
    CHECK(must(db.schema_version()) == storage::database::latest_schema_version());
    CHECK(count(db,
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                "('inbox_keys', 'deploys', 'deploy_locks', 'deploy_queue', "
                "'stage_durations', 'grants', 'grant_approvals', 'timers', 'audit_log', "
                "'faq_documents', 'faq_sections', 'faq_feedback', 'faq_asks', 'faq_learned')") ==
          14);
    // Schema 6 dropped it: faq_asks holds the declined questions.
    CHECK(count(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'faq_unanswered'") == 0);
    auto mode = must(db.prepare("PRAGMA journal_mode"));
    REQUIRE(must(mode.step()));
    CHECK(mode.get_text(0) == "wal");
    CHECK(count(db, "PRAGMA foreign_keys") == 1);
    CHECK(sink.text().find("event=storage_migrated") != std::string::npos);
}

TEST_CASE("database: reopening a current database applies nothing and keeps the data", "[unit]") {
    temp_dir dir;
    {
        auto db = must(storage::database::open(dir.file("t.db"), core::null_logger()));
        must(db.execute("INSERT INTO timers (kind, subject, due_at) VALUES ('k', 's', 1)"));
    }
    core::string_sink sink;
    core::logger log(sink, core::log_level::debug);
    auto db = must(storage::database::open(dir.file("t.db"), log));
    CHECK(must(db.schema_version()) == storage::database::latest_schema_version());
    CHECK(count(db, "SELECT count(*) FROM timers") == 1);
    CHECK(sink.text().find("storage_migrated") == std::string::npos);
    CHECK(sink.text().find("event=storage_opened") != std::string::npos);
}

TEST_CASE("database: an in-memory database works for tests", "[unit]") {
    auto db = must(storage::database::open(":memory:", core::null_logger()));
    CHECK(must(db.schema_version()) == storage::database::latest_schema_version());
}

TEST_CASE("database: a schema newer than this binary is refused with what to do", "[unit]") {
    temp_dir dir;
    const auto path = dir.file("t.db");
    {
        auto db = must(storage::database::open(path, core::null_logger()));
        must(db.exec("PRAGMA user_version = 99"));
    }
    auto err = open_error(path);
    CHECK(err.code == core::errc::storage_error);
    CHECK(err.message == "database schema version 99 in '" + path +
                             "' is newer than this tugboat (knows up to " +
                             std::to_string(storage::database::latest_schema_version()) +
                             "); upgrade tugboat or set bot.database to another database");
}

TEST_CASE("database: a file that is not a database is refused and left untouched", "[unit]") {
    temp_dir dir;
    const auto path = dir.file("garbage.db");
    const std::string garbage(8192, 'x');
    std::ofstream(path, std::ios::binary) << garbage;

    auto err = open_error(path);
    CHECK(err.code == core::errc::storage_error);
    CHECK_THAT(err.message,
               Catch::Contains("'" + path + "' is not a Tugboat database or is corrupt"));
    CHECK_THAT(err.message, Catch::Contains("restore it from a backup or move it away"));
    CHECK(read_all(path) == garbage);
}

TEST_CASE("database: a database with damaged pages is refused at start", "[unit]") {
    temp_dir dir;
    const auto path = dir.file("t.db");
    { must(storage::database::open(path, core::null_logger())); }
    // Keep the valid 100-byte header and first page; overwrite the rest, where the schema
    // continues (it is larger than one page).
    const auto size = fs::file_size(path);
    REQUIRE(size > 8192);
    {
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(4096);
        const std::string junk(size - 4096, '\x5a');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    auto err = open_error(path);
    CHECK(err.code == core::errc::storage_error);
    CHECK_THAT(err.message, Catch::Contains("is not a Tugboat database or is corrupt"));
}

TEST_CASE("database: another program's SQLite database is refused", "[unit]") {
    temp_dir dir;
    const auto path = dir.file("other.db");
    {
        // A database with tables but no Tugboat schema version, as another program leaves it.
        auto db = must(storage::database::open(path, core::null_logger()));
        must(db.exec("PRAGMA user_version = 0"));
    }
    auto err = open_error(path);
    CHECK_THAT(err.message, Catch::Contains("'" + path + "' is not a Tugboat database"));
    CHECK_THAT(err.message, Catch::Contains("set bot.database to another file"));
}

TEST_CASE("database: a read-only database is refused at start", "[unit]") {
    temp_dir dir;
    const auto path = dir.file("t.db");
    { must(storage::database::open(path, core::null_logger())); }

    SECTION("opened read-only (works as root, where permissions do not stop writes)") {
        auto err = open_error("file:" + path + "?mode=ro");
        CHECK(err.code == core::errc::storage_error);
        CHECK_THAT(err.message, Catch::Contains("is read-only"));
        CHECK_THAT(err.message, Catch::Contains("writable by the tugboat user"));
    }
    SECTION("file mode 0444") {
        fs::permissions(path,
                        fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
        if (::geteuid() == 0) {
            // Root writes through file permissions: the open must then simply work.
            auto db = storage::database::open(path, core::null_logger());
            CHECK(db);
            return;
        }
        auto err = open_error(path);
        CHECK_THAT(err.message, Catch::Contains("'" + path + "' is read-only"));
    }
    SECTION("directory without write permission") {
        fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
        if (::geteuid() == 0) {
            // Root creates files in any directory: a new database must be created there.
            auto db = storage::database::open(dir.file("new.db"), core::null_logger());
            CHECK(db);
            CHECK(fs::exists(dir.file("new.db")));
            return;
        }
        auto err = open_error(dir.file("new.db"));
        CHECK_THAT(err.message, Catch::Contains("cannot open database"));
        CHECK_THAT(err.message, Catch::Contains("writable by the tugboat user"));
    }
}

TEST_CASE("database: a database locked by another process fails fast with a clear error",
          "[unit]") {
    temp_dir dir;
    const auto path = dir.file("t.db");
    auto holder = must(storage::database::open(path, core::null_logger()));
    auto tx = must(storage::transaction::begin(holder));  // what a running tugboat does briefly

    const auto start = std::chrono::steady_clock::now();
    auto err = open_error(path, {.busy_timeout = 100ms});
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(err.code == core::errc::storage_error);
    CHECK(err.message == "database '" + path +
                             "' is locked by another process (another tugboat may be running "
                             "against it); stop the other process or set bot.database to a "
                             "different file");

    must(tx.commit());
    CHECK(storage::database::open(path, core::null_logger()));
}

TEST_CASE("database: a missing directory is reported with what to check", "[unit]") {
    temp_dir dir;
    auto err = open_error(dir.file("no/such/dir/t.db"));
    CHECK(err.code == core::errc::storage_error);
    CHECK_THAT(err.message, Catch::Contains("cannot open database"));
    CHECK_THAT(err.message, Catch::Contains("check that its directory exists"));
}

TEST_CASE("database: transactions commit, roll back and nest as savepoints", "[unit]") {
    auto db = must(storage::database::open(":memory:", core::null_logger()));
    const auto insert = [&](const char* subject) {
        must(db.execute("INSERT INTO timers (kind, subject, due_at) VALUES ('k', ?, 1)", subject));
    };

    SECTION("destroyed without commit: rolled back") {
        {
            auto tx = must(storage::transaction::begin(db));
            insert("a");
        }
        CHECK_FALSE(db.in_transaction());
        CHECK(count(db, "SELECT count(*) FROM timers") == 0);
    }
    SECTION("inner rolled back, outer committed") {
        auto outer = must(storage::transaction::begin(db));
        insert("a");
        {
            auto inner = must(storage::transaction::begin(db));
            insert("b");
        }
        {
            auto inner = must(storage::transaction::begin(db));
            insert("c");
            must(inner.commit());
        }
        must(outer.commit());
        CHECK_FALSE(db.in_transaction());
        CHECK(count(db, "SELECT count(*) FROM timers") == 2);
        CHECK(count(db, "SELECT count(*) FROM timers WHERE subject = 'b'") == 0);
    }
    SECTION("committing twice is a bug, reported") {
        auto tx = must(storage::transaction::begin(db));
        must(tx.commit());
        auto again = tx.commit();
        REQUIRE_FALSE(again);
        CHECK(again.error().code == core::errc::internal);
    }
}

TEST_CASE("database: the same statement can be in use twice at once", "[unit]") {
    auto db = must(storage::database::open(":memory:", core::null_logger()));
    must(db.exec("INSERT INTO timers (kind, subject, due_at) VALUES ('k', 'a', 1), ('k', 'b', 2)"));
    const std::string_view sql = "SELECT subject FROM timers ORDER BY due_at";
    auto outer = must(db.prepare(sql));
    REQUIRE(must(outer.step()));
    auto inner = must(db.prepare(sql));
    REQUIRE(must(inner.step()));
    CHECK(inner.get_text(0) == "a");
    REQUIRE(must(outer.step()));
    CHECK(outer.get_text(0) == "b");
}

TEST_CASE("database: constraint failures map to conflict or invalid_argument", "[unit]") {
    auto db = must(storage::database::open(":memory:", core::null_logger()));
    must(db.exec("INSERT INTO timers (kind, subject, due_at) VALUES ('k', 'a', 1)"));

    auto dup = db.execute("INSERT INTO timers (kind, subject, due_at) VALUES ('k', 'a', 2)");
    REQUIRE_FALSE(dup);
    CHECK(dup.error().code == core::errc::conflict);
    CHECK_THAT(dup.error().message, Catch::Contains("UNIQUE constraint failed"));

    auto bad = db.execute(
        "INSERT INTO stage_durations (job, stage, duration_ms, finished_at) "
        "VALUES ('j', 's', -1, 1)");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == core::errc::invalid_argument);

    auto syntax = db.prepare("SELEKT 1");
    REQUIRE_FALSE(syntax);
    CHECK(syntax.error().code == core::errc::storage_error);
}

TEST_CASE("database: processed events, timers and unfinished deploys survive a restart", "[unit]") {
    temp_dir dir;
    const auto path = dir.file("t.db");
    {
        auto db = must(storage::database::open(path, core::null_logger()));
        storage::inbox_repository inbox(db);
        CHECK(must(inbox.record_if_new("Ev1", t0)));
        storage::timer_repository timers(db);
        must(timers.schedule("grant_expiry", "g-000001", t0 + 1h));
        storage::deploy_repository deploys(db);
        storage::deploy_record d{.service = "payments",
                                 .environment = "prod",
                                 .version = "1.2.3",
                                 .requester = "U1",
                                 .phase = "building",
                                 .created_at = t0,
                                 .updated_at = t0};
        must(deploys.insert(d));
    }
    auto db = must(storage::database::open(path, core::null_logger()));
    storage::inbox_repository inbox(db);
    CHECK_FALSE(must(inbox.record_if_new("Ev1", t0 + 1min)));
    storage::timer_repository timers(db);
    auto due = must(timers.due(t0 + 2h));
    REQUIRE(due.size() == 1);
    CHECK(due[0].subject == "g-000001");
    storage::deploy_repository deploys(db);
    auto unfinished = must(deploys.list_unfinished());
    REQUIRE(unfinished.size() == 1);
    CHECK(unfinished[0].phase == "building");
}

// Undoes migrations 6 and 5, for a test that turns a new database into an older one.
constexpr std::string_view before_learning =
    "CREATE TABLE faq_unanswered (id INTEGER PRIMARY KEY, question TEXT NOT NULL, user TEXT NOT "
    "NULL, channel TEXT NOT NULL DEFAULT '', at INTEGER NOT NULL); "
    "DROP INDEX faq_asks_help; ALTER TABLE faq_asks DROP COLUMN help_channel; "
    "ALTER TABLE faq_asks DROP COLUMN help_ts; "
    "DROP TABLE faq_learned; ALTER TABLE faq_asks DROP COLUMN others; ";

TEST_CASE(
    "database: an FAQ index built by triggers is still searched and updated after the upgrade",
    "[unit]") {
    temp_dir dir;
    const auto path = dir.file("t.db");
    std::int64_t id = 0;
    {
        // Schema version 3 kept faq_search in step with a trigger on faq_sections.
        auto db = must(storage::database::open(path, core::null_logger()));
        must(
            db.exec("CREATE TRIGGER faq_sections_indexed AFTER INSERT ON faq_sections BEGIN "
                    "INSERT INTO faq_search (rowid, title, questions, heading, body) "
                    "VALUES (new.id, '', '', new.heading_path, new.body); END; "
                    "CREATE TRIGGER faq_sections_unindexed AFTER DELETE ON faq_sections BEGIN "
                    "DELETE FROM faq_search WHERE rowid = old.id; END; " +
                    std::string{before_learning} + "PRAGMA user_version = 3"));
        storage::faq_repository faq(db);
        storage::faq_document doc{0, "old.md", t0, "h1", "{}"};
        id = must(faq.upsert_document(doc));
        must(
            db.execute("INSERT INTO faq_sections (document_id, ordinal, heading_path, anchor, "
                       "body) VALUES (?, 0, 'Old', 'old', 'indexed by the trigger')",
                       id));
    }
    auto db = must(storage::database::open(path, core::null_logger()));
    CHECK(must(db.schema_version()) == storage::database::latest_schema_version());
    auto indexed = [&](std::string_view word) {
        return count(db, "SELECT count(*) FROM faq_search WHERE faq_search MATCH '" +
                             std::string{word} + "'");
    };
    CHECK(indexed("trigger") == 1);
    storage::faq_repository faq(db);
    std::vector<storage::faq_section> fresh{{0, 0, 0, "New", "new", "written after the upgrade"}};
    must(faq.replace_sections(id, fresh));
    CHECK(indexed("trigger") == 0);
    CHECK(indexed("upgrade") == 1);  // once: no trigger left to index it again
}

TEST_CASE("database: keys of processed events survive the move to the append-only inbox",
          "[unit]") {
    temp_dir dir;
    const auto path = dir.file("t.db");
    {
        // The inbox as schema version 2 had it, with one key recorded.
        auto db = must(storage::database::open(path, core::null_logger()));
        must(
            db.exec("DROP TABLE inbox_keys; "
                    "CREATE TABLE processed_events (key TEXT PRIMARY KEY, seen_at INTEGER NOT "
                    "NULL) WITHOUT ROWID; "
                    "INSERT INTO processed_events VALUES ('Ev-before-upgrade', 2000000000); " +
                    std::string{before_learning} + "PRAGMA user_version = 2"));
    }
    auto db = must(storage::database::open(path, core::null_logger()));
    CHECK(must(db.schema_version()) == storage::database::latest_schema_version());
    storage::inbox_repository inbox(db);
    CHECK_FALSE(must(inbox.record_if_new("Ev-before-upgrade", t0 + 1min)));
    CHECK(must(inbox.record_if_new("Ev-after-upgrade", t0 + 1min)));
}

TEST_CASE("database: answers their askers confirmed before the upgrade are learned", "[unit]") {
    temp_dir dir;
    const auto path = dir.file("t.db");
    {
        // Schema version 4: asks and votes, nothing learned from them.
        auto db = must(storage::database::open(path, core::null_logger()));
        must(db.exec(std::string{before_learning} + "PRAGMA user_version = 4"));
        must(
            db.exec("INSERT INTO faq_asks (id, question, user, section, answered, at) VALUES "
                    "(1, 'how do I roll back', 'U1', 'rollback.md#with-the-bot', 1, 0), "
                    "(2, 'where are the logs', 'U2', 'logs.md#recent', 1, 0), "
                    "(3, 'who approves prod', 'U3', 'approvals.md#prod', 1, 0), "
                    "(4, 'what is a canary', 'U4', '', 0, 0); "
                    "INSERT INTO faq_feedback (question, section, vote, user, at) VALUES "
                    "('how do I roll back', 'rollback.md#with-the-bot', 1, 'U1', 0), "
                    "('where are the logs', 'logs.md#recent', 1, 'U2', 0), "
                    "('where are the logs', 'logs.md#recent', -1, 'U2', 0), "
                    "('who approves prod', 'approvals.md#prod', 1, 'U9', 0)"));
    }
    auto db = must(storage::database::open(path, core::null_logger()));
    CHECK(must(db.schema_version()) == storage::database::latest_schema_version());
    // Only the asker's own last word counts: a 👍 taken back and a teammate's 👍 teach nothing.
    CHECK(count(db, "SELECT count(*) FROM faq_learned") == 1);
    CHECK(count(db,
                "SELECT count(*) FROM faq_learned WHERE id = 1 AND question = 'how do I roll "
                "back' AND section = 'rollback.md#with-the-bot'") == 1);
    storage::faq_repository faq(db);
    auto ask = must(faq.get_ask(4));
    REQUIRE(ask);
    CHECK(ask->others.empty());
}
