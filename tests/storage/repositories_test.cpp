#include "storage/audit_repository.hpp"
#include "storage/faq_repository.hpp"
#include "storage/grant_repository.hpp"
#include "storage/inbox_repository.hpp"
#include "storage/timer_repository.hpp"
#include "tests/support/fixed_time.hpp"
#include "tests/support/must.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

using namespace tugboat;
using namespace std::chrono_literals;
using test::must;
using test::t0;

namespace {

storage::database memory_db() {
    return must(storage::database::open(":memory:", core::null_logger()));
}

}  // namespace

// ---- inbox ----

TEST_CASE("inbox: a key is new once", "[unit]") {
    auto db = memory_db();
    storage::inbox_repository inbox(db);
    CHECK(must(inbox.record_if_new("Ev1", t0)));
    CHECK_FALSE(must(inbox.record_if_new("Ev1", t0 + 1s)));
    CHECK(must(inbox.record_if_new("Ev2", t0 + 1s)));

    auto empty = inbox.record_if_new("", t0);
    REQUIRE_FALSE(empty);
    CHECK(empty.error().code == core::errc::invalid_argument);
}

TEST_CASE("inbox: a batch says which keys were new, duplicates inside it included", "[unit]") {
    auto db = memory_db();
    storage::inbox_repository inbox(db);
    CHECK(must(inbox.record_if_new("b", t0)));
    const std::vector<std::string> keys{"a", "b", "c", "a"};
    CHECK(must(inbox.record_batch(keys, t0 + 1s)) == std::vector<bool>{true, false, true, false});
    CHECK_FALSE(db.in_transaction());

    SECTION("a bad key rolls the whole batch back") {
        const std::vector<std::string> bad{"d", ""};
        auto r = inbox.record_batch(bad, t0 + 2s);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == core::errc::invalid_argument);
        CHECK_FALSE(db.in_transaction());
        CHECK(must(inbox.record_if_new("d", t0 + 3s)));
    }
    SECTION("thousands of keys in one batch") {
        std::vector<std::string> many;
        many.reserve(5000);
        for (int i = 0; i < 5000; ++i) {
            many.push_back("Ev" + std::to_string(i));
        }
        auto fresh = must(inbox.record_batch(many, t0 + 2s));
        CHECK(std::count(fresh.begin(), fresh.end(), true) == 5000);
        fresh = must(inbox.record_batch(many, t0 + 3s));
        CHECK(std::count(fresh.begin(), fresh.end(), true) == 0);
    }
}

TEST_CASE("inbox: purge forgets old keys but keeps at least ten minutes", "[unit]") {
    auto db = memory_db();
    storage::inbox_repository inbox(db);
    const auto now = t0 + 2h;
    CHECK(must(inbox.record_if_new("two-hours", t0)));
    CHECK(must(inbox.record_if_new("thirty-minutes", now - 30min)));
    CHECK(must(inbox.record_if_new("five-minutes", now - 5min)));

    CHECK(must(inbox.purge_older_than(now)) == 1);  // default retention: one hour
    CHECK(must(inbox.record_if_new("two-hours", now)));
    CHECK_FALSE(must(inbox.record_if_new("thirty-minutes", now)));

    // A retention below the minimum is raised to ten minutes.
    CHECK(must(inbox.purge_older_than(now, 1min)) == 1);
    CHECK(must(inbox.record_if_new("thirty-minutes", now)));
    CHECK_FALSE(must(inbox.record_if_new("five-minutes", now)));
}

// ---- grants ----

namespace {

storage::grant_record new_grant(std::string requester, storage::grant_state state) {
    return storage::grant_record{.requester = std::move(requester),
                                 .role = "read-logs",
                                 .environment = "prod",
                                 .kube_namespace = "payments",
                                 .duration = 2h,
                                 .reason = "INC-42",
                                 .state = state,
                                 .created_at = t0,
                                 .updated_at = t0};
}

}  // namespace

TEST_CASE("grants: ids and state names round-trip", "[unit]") {
    CHECK(storage::format_grant_id(45) == "g-000045");
    CHECK(storage::parse_grant_id("g-000045") == 45);
    CHECK_FALSE(storage::parse_grant_id("d-000045"));
    for (auto s : {storage::grant_state::pending, storage::grant_state::approved,
                   storage::grant_state::active, storage::grant_state::rejected,
                   storage::grant_state::cancelled, storage::grant_state::expired,
                   storage::grant_state::revoked, storage::grant_state::failed}) {
        CHECK(storage::parse_grant_state(storage::to_string(s)) == s);
    }
    CHECK_FALSE(storage::parse_grant_state("granted"));
    CHECK(storage::is_terminal(storage::grant_state::expired));
    CHECK_FALSE(storage::is_terminal(storage::grant_state::approved));
}

TEST_CASE("grants: insert, get, approvals and optimistic update", "[unit]") {
    auto db = memory_db();
    storage::grant_repository repo(db);
    auto g = new_grant("U1", storage::grant_state::pending);
    g.slack_channel = "C9";
    must(repo.insert(g));

    CHECK(must(repo.add_approval(g.id, "U7", t0 + 1min)));
    CHECK_FALSE(must(repo.add_approval(g.id, "U7", t0 + 2min)));  // double click
    CHECK(must(repo.add_approval(g.id, "U8", t0 + 3min)));
    auto missing = repo.add_approval(g.id + 1, "U7", t0);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == core::errc::conflict);

    auto got = must(repo.get(g.id));
    REQUIRE(got);
    CHECK(got->kube_namespace == "payments");
    CHECK(got->duration == 2h);
    CHECK(got->slack_channel == "C9");
    CHECK(got->state == storage::grant_state::pending);
    REQUIRE(got->approvals.size() == 2);
    CHECK(got->approvals[0].approver == "U7");
    CHECK(got->approvals[0].at == t0 + 1min);

    auto stale = *got;
    got->state = storage::grant_state::active;
    got->granted_at = t0 + 4min;
    got->expires_at = t0 + 4min + 2h;
    must(repo.update(*got));
    CHECK(got->revision == 2);
    stale.state = storage::grant_state::rejected;
    auto r = repo.update(stale);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::conflict);
    CHECK(must(repo.get(g.id))->state == storage::grant_state::active);
    CHECK(must(repo.get(g.id))->expires_at == t0 + 4min + 2h);
}

TEST_CASE("grants: a zero duration is refused", "[unit]") {
    auto db = memory_db();
    storage::grant_repository repo(db);
    auto g = new_grant("U1", storage::grant_state::pending);
    g.duration = 0s;
    auto r = repo.insert(g);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::invalid_argument);
}

TEST_CASE("grants: active, open, due for expiry and by requester", "[unit]") {
    auto db = memory_db();
    storage::grant_repository repo(db);
    auto pending = new_grant("U1", storage::grant_state::pending);
    auto soon = new_grant("U1", storage::grant_state::active);
    soon.expires_at = t0 + 1h;
    auto later = new_grant("U2", storage::grant_state::active);
    later.expires_at = t0 + 3h;
    auto revoked = new_grant("U1", storage::grant_state::revoked);
    revoked.expires_at = t0;
    for (auto* g : {&pending, &soon, &later, &revoked}) {
        must(repo.insert(*g));
    }

    CHECK(must(repo.list_active()).size() == 2);
    CHECK(must(repo.list_open()).size() == 3);
    auto due = must(repo.list_due_for_expiry(t0 + 1h));
    REQUIRE(due.size() == 1);
    CHECK(due[0].id == soon.id);
    CHECK(must(repo.list_due_for_expiry(t0 + 5h)).size() == 2);

    auto mine = must(repo.list_by_requester("U1", 2));
    REQUIRE(mine.size() == 2);
    CHECK(mine[0].id == revoked.id);
    CHECK(mine[1].id == soon.id);
}

// ---- timers ----

TEST_CASE("timers: schedule is idempotent per kind and subject", "[unit]") {
    auto db = memory_db();
    storage::timer_repository timers(db);
    const auto id = must(timers.schedule("grant_expiry", "g-000001", t0 + 1h, R"({"a":1})"));
    CHECK(must(timers.schedule("grant_expiry", "g-000001", t0 + 2h, R"({"a":2})")) == id);
    CHECK(must(timers.schedule("approval_timeout", "g-000001", t0 + 10min)) != id);

    auto t = must(timers.get("grant_expiry", "g-000001"));
    REQUIRE(t);
    CHECK(t->due_at == t0 + 2h);
    CHECK(t->payload == R"({"a":2})");
}

TEST_CASE("timers: due returns what is due, earliest first", "[unit]") {
    auto db = memory_db();
    storage::timer_repository timers(db);
    must(timers.schedule("reminder", "d-000003", t0 + 30min));
    must(timers.schedule("grant_expiry", "g-000001", t0 + 10min));
    must(timers.schedule("grant_expiry", "g-000002", t0 + 20min));

    CHECK(must(timers.due(t0)).empty());
    auto due = must(timers.due(t0 + 20min));
    REQUIRE(due.size() == 2);
    CHECK(due[0].subject == "g-000001");
    CHECK(due[1].subject == "g-000002");
    CHECK(must(timers.due(t0 + 1h, 1)).size() == 1);

    CHECK(must(timers.cancel("grant_expiry", "g-000002")));
    CHECK_FALSE(must(timers.cancel("grant_expiry", "g-000002")));
    CHECK(must(timers.due(t0 + 20min)).size() == 1);
}

TEST_CASE("timers: completing a fired timer keeps one re-scheduled meanwhile", "[unit]") {
    auto db = memory_db();
    storage::timer_repository timers(db);
    must(timers.schedule("grant_expiry", "g-000001", t0));
    auto fired = must(timers.due(t0)).at(0);

    SECTION("not re-scheduled: removed") {
        CHECK(must(timers.complete(fired)));
        CHECK_FALSE(must(timers.get("grant_expiry", "g-000001")));
    }
    SECTION("extended while firing: kept") {
        must(timers.schedule("grant_expiry", "g-000001", t0 + 1h));
        CHECK_FALSE(must(timers.complete(fired)));
        CHECK(must(timers.get("grant_expiry", "g-000001")));
    }
}

// ---- audit ----

TEST_CASE("audit: entries are appended and queried newest first", "[unit]") {
    auto db = memory_db();
    storage::audit_repository audit(db);
    std::vector<storage::audit_entry> entries{
        {0, t0, "U1", "deploy.requested", "d-000001", R"({"version":"1.0"})"},
        {0, t0 + 1min, "U2", "deploy.approved", "d-000001", "{}"},
        {0, t0 + 2min, "U1", "grant.requested", "g-000001", "{}"},
        {0, t0 + 3min, "tugboat", "grant.expired", "g-000001", "{}"},
    };
    for (auto& e : entries) {
        must(audit.append(e));
    }
    CHECK(entries[3].id > entries[0].id);

    auto all = must(audit.query({}));
    REQUIRE(all.size() == 4);
    CHECK(all[0].action == "grant.expired");
    CHECK(all[3].details_json == R"({"version":"1.0"})");
    CHECK(all[3].at == t0);

    CHECK(must(audit.query({.actor = "U1"})).size() == 2);
    CHECK(must(audit.query({.action = "deploy.approved"})).size() == 1);
    CHECK(must(audit.query({.subject = "g-000001"})).size() == 2);
    CHECK(must(audit.query({.since = t0 + 2min})).size() == 2);
    CHECK(must(audit.query({.actor = "U1", .subject = "d-000001"})).size() == 1);
    CHECK(must(audit.query({.limit = 3})).size() == 3);
}

TEST_CASE("audit: the database refuses to change or delete entries", "[unit]") {
    auto db = memory_db();
    storage::audit_repository audit(db);
    storage::audit_entry e{0, t0, "U1", "deploy.requested", "d-000001", "{}"};
    must(audit.append(e));

    auto update = db.execute("UPDATE audit_log SET actor = 'U2' WHERE id = ?", e.id);
    REQUIRE_FALSE(update);
    CHECK(update.error().code == core::errc::conflict);
    CHECK_THAT(update.error().message, Catch::Contains("audit_log is append-only"));

    auto remove = db.execute("DELETE FROM audit_log WHERE id = ?", e.id);
    REQUIRE_FALSE(remove);
    CHECK_THAT(remove.error().message, Catch::Contains("audit_log is append-only"));

    auto all = must(audit.query({}));
    REQUIRE(all.size() == 1);
    CHECK(all[0].actor == "U1");
}

// ---- faq ----

TEST_CASE("faq: documents upsert by path, sections are replaced together", "[unit]") {
    auto db = memory_db();
    storage::faq_repository faq(db);
    storage::faq_document doc{0, "deploys.md", t0, "h1", R"({"owner":"platform"})"};
    const auto id = must(faq.upsert_document(doc));
    doc.hash = "h2";
    doc.mtime = t0 + 1h;
    CHECK(must(faq.upsert_document(doc)) == id);
    auto stored = must(faq.get_document("deploys.md"));
    REQUIRE(stored);
    CHECK(stored->hash == "h2");
    CHECK(stored->mtime == t0 + 1h);
    CHECK(stored->front_matter_json == R"({"owner":"platform"})");

    std::vector<storage::faq_section> sections{
        {0, 0, 0, "Deploys", "deploys", "How to deploy."},
        {0, 0, 1, "Deploys > Rolling back", "rolling-back", "Use rollback."},
    };
    must(faq.replace_sections(id, sections));
    CHECK(sections[1].document_id == id);
    auto got = must(faq.sections_of(id));
    REQUIRE(got.size() == 2);
    CHECK(got[1].heading_path == "Deploys > Rolling back");
    CHECK(must(faq.get_section(sections[1].id))->anchor == "rolling-back");

    std::vector<storage::faq_section> fewer{{0, 0, 0, "Deploys", "deploys", "Rewritten."}};
    must(faq.replace_sections(id, fewer));
    REQUIRE(must(faq.sections_of(id)).size() == 1);
    CHECK(must(faq.all_sections())[0].body == "Rewritten.");

    CHECK(must(faq.remove_document("deploys.md")));
    CHECK(must(faq.all_sections()).empty());
    CHECK(must(faq.list_documents()).empty());

    auto orphan = faq.replace_sections(id, fewer);
    REQUIRE_FALSE(orphan);
    CHECK(orphan.error().code == core::errc::conflict);
}

namespace {

// faq_search is kept in step by the repository, not by triggers (migration 4).
std::int64_t indexed_rows(storage::database& db, std::string_view match) {
    auto st = must(db.prepare("SELECT count(*) FROM faq_search WHERE faq_search MATCH ?"));
    st.bind_all(match);
    must(st.step());
    return st.get_int(0);
}

}  // namespace

TEST_CASE("faq: the search index follows sections as they are replaced and removed", "[unit]") {
    auto db = memory_db();
    storage::faq_repository faq(db);
    storage::faq_document doc{0, "deploys.md", t0, "h1",
                              R"({"title":"Shipping","questions":["how do I ship?"]})"};
    const auto id = must(faq.upsert_document(doc));
    std::vector<storage::faq_section> sections{
        {0, 0, 0, "Deploys", "deploys", "Type deploy in the channel."},
        {0, 0, 1, "Deploys > Rolling back", "rolling-back", "Use rollback."},
    };
    must(faq.replace_sections(id, sections));
    CHECK(indexed_rows(db, "title:shipping") == 2);
    CHECK(indexed_rows(db, "questions:ship") == 2);
    CHECK(indexed_rows(db, "rollback") == 1);

    std::vector<storage::faq_section> fewer{{0, 0, 0, "Deploys", "deploys", "Rewritten."}};
    must(faq.replace_sections(id, fewer));
    CHECK(indexed_rows(db, "rollback") == 0);
    CHECK(indexed_rows(db, "rewritten") == 1);

    SECTION("a pass that fails leaves the index as it was") {
        {
            auto tx = must(storage::transaction::begin(db));
            must(faq.replace_sections(id, sections));
            // Inside the caller's transaction the full-text rows wait for write_search_index.
            CHECK(indexed_rows(db, "rollback") == 0);
            must(faq.write_search_index());
            CHECK(indexed_rows(db, "rollback") == 1);
            CHECK(indexed_rows(db, "rewritten") == 0);
        }  // not committed
        CHECK(indexed_rows(db, "rollback") == 0);
        CHECK(indexed_rows(db, "rewritten") == 1);
    }
    SECTION("removing the document removes its rows") {
        CHECK(must(faq.remove_document("deploys.md")));
        CHECK(indexed_rows(db, "title:shipping") == 0);
        CHECK_FALSE(must(faq.remove_document("deploys.md")));
    }
}

TEST_CASE("faq: feedback and unanswered questions", "[unit]") {
    auto db = memory_db();
    storage::faq_repository faq(db);
    storage::faq_feedback up{0, "how do I roll back?", "deploys.md#rolling-back", 1, "U1", t0};
    storage::faq_feedback down{0, "rollback?", "deploys.md#rolling-back", -1, "U2", t0 + 1s};
    must(faq.record_feedback(up));
    must(faq.record_feedback(down));
    auto votes = must(faq.feedback_for("deploys.md#rolling-back"));
    REQUIRE(votes.size() == 2);
    CHECK(votes[1].vote == -1);

    storage::faq_feedback bad{0, "q", "deploys.md#x", 5, "U1", t0};
    auto r = faq.record_feedback(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::invalid_argument);
}

TEST_CASE("faq: an ask keeps the other matches it showed and teaches one section", "[unit]") {
    auto db = memory_db();
    storage::faq_repository faq(db);
    storage::faq_ask a{.question = "how do I roll back?",
                       .user = "U1",
                       .section = "deploys.md#rolling-back",
                       .answered = true,
                       .at = t0,
                       .others = {{"history.md#history", "Deploy history"},
                                  {"freeze.md", "Freeze\twindows\nand locks"}}};
    must(faq.record_ask(a));
    auto back = must(faq.get_ask(a.id));
    REQUIRE(back);
    REQUIRE(back->others.size() == 2);
    CHECK(back->others[0].section == "history.md#history");
    CHECK(back->others[0].label == "Deploy history");
    CHECK(back->others[1].section == "freeze.md");
    CHECK(back->others[1].label == "Freeze windows and locks");  // tab and newline kept out
    CHECK(back->help_ts.empty());
    must(faq.record_escalation(a.id, "C0HELP", "1700000000.000100"));
    back = must(faq.get_ask(a.id));
    CHECK(back->help_channel == "C0HELP");
    CHECK(back->help_ts == "1700000000.000100");
    CHECK(faq.record_escalation(a.id + 1, "C0HELP", "1").error().code == core::errc::not_found);
    CHECK(must(faq.escalated_at("C0HELP", "1700000000.000100"))->id == a.id);
    CHECK_FALSE(must(faq.escalated_at("C0HELP", "")));

    auto learned = [&](std::string_view section) {
        auto st =
            must(db.prepare("SELECT count(*) FROM faq_learned WHERE id = ? AND "
                            "section = ? AND question = 'how do I roll back?'"));
        st.bind_all(a.id, section);
        REQUIRE(must(st.step()));
        return st.get_int(0);
    };
    CHECK(must(faq.teach(a, a.section)));
    // Pressed twice, or delivered twice: still one lesson, and the second taught nothing new.
    CHECK_FALSE(must(faq.teach(a, a.section)));
    CHECK(must(faq.lesson_count()) == 1);
    CHECK(learned("deploys.md#rolling-back") == 1);
    CHECK(must(faq.teach(a, "history.md#history")));  // the asker picked another match instead
    CHECK(must(faq.lesson_count()) == 1);
    CHECK(learned("history.md#history") == 1);
    auto newest = must(faq.recent_lessons(5));
    REQUIRE(newest.size() == 1);
    CHECK(newest[0].id == a.id);
    CHECK(newest[0].question == "how do I roll back?");
    CHECK(newest[0].section == "history.md#history");
    CHECK(must(faq.unteach(a.id)));
    CHECK_FALSE(must(faq.unteach(a.id)));
    CHECK(must(faq.lesson_count()) == 0);
}

TEST_CASE("faq: declined questions are listed until someone teaches their page", "[unit]") {
    auto db = memory_db();
    storage::faq_repository faq(db);
    storage::faq_ask answered{
        .question = "how do I roll back?", .section = "deploys.md", .answered = true, .at = t0};
    storage::faq_ask older{.question = "who runs the VPN?", .user = "U2", .at = t0};
    storage::faq_ask newer{.question = "where is the wiki?", .user = "U3", .at = t0};
    must(faq.record_ask(answered));
    must(faq.record_ask(older));
    must(faq.record_ask(newer));
    auto open = must(faq.recent_declined(10));
    REQUIRE(open.size() == 2);
    CHECK(open[0].id == newer.id);
    CHECK(open[1].id == older.id);
    CHECK(must(faq.recent_declined(1)).size() == 1);
    // The team says the docs do not answer it: a lesson, and still a gap for the doc owners.
    CHECK(must(faq.teach(older, "")));
    CHECK(must(faq.lesson_count()) == 0);
    CHECK(must(faq.lesson_count(true)) == 1);
    CHECK(must(faq.recent_declined(10)).size() == 2);
    // A reply without a page leaves what was taught (replace = false).
    CHECK_FALSE(must(faq.teach(older, "", false)));
    must(faq.teach(older, "vpn.md"));
    CHECK_FALSE(must(faq.teach(older, "", false)));
    CHECK(must(faq.lesson_count()) == 1);
    CHECK(must(faq.lesson_count(true)) == 0);
    open = must(faq.recent_declined(10));
    REQUIRE(open.size() == 1);
    CHECK(open[0].id == newer.id);
}
