#include "storage/deploy_repository.hpp"
#include "tests/support/fixed_time.hpp"
#include "tests/support/must.hpp"

#include <catch2/catch.hpp>

#include <chrono>

using namespace tugboat;
using namespace std::chrono_literals;
using test::must;
using test::t0;

namespace {

struct repository_fixture {
    storage::database db = must(storage::database::open(":memory:", core::null_logger()));
    storage::deploy_repository repo{db};

    storage::deploy_record add(std::string service, std::string env, std::string version,
                               core::time_point at = t0) {
        storage::deploy_record d{.service = std::move(service),
                                 .environment = std::move(env),
                                 .version = std::move(version),
                                 .requester = "U1",
                                 .phase = "requested",
                                 .created_at = at,
                                 .updated_at = at};
        must(repo.insert(d));
        return d;
    }

    void finish(storage::deploy_record& d, storage::deploy_outcome outcome, core::time_point at) {
        d.outcome = outcome;
        d.phase = "done";
        d.finished_at = at;
        d.updated_at = at;
        must(repo.update(d));
    }
};

}  // namespace

TEST_CASE("deploys: ids are shown as d-000123 and parsed back leniently", "[unit]") {
    CHECK(storage::format_deploy_id(123) == "d-000123");
    CHECK(storage::format_deploy_id(1234567) == "d-1234567");
    CHECK(storage::parse_deploy_id("d-000123") == 123);
    CHECK(storage::parse_deploy_id("D-42") == 42);
    CHECK(storage::parse_deploy_id("42") == 42);
    CHECK_FALSE(storage::parse_deploy_id("g-42"));
    CHECK_FALSE(storage::parse_deploy_id("d-"));
    CHECK_FALSE(storage::parse_deploy_id("d-0"));
    CHECK_FALSE(storage::parse_deploy_id("d-12x"));
}

TEST_CASE("deploys: insert and get round-trip every field", "[unit]") {
    repository_fixture f;
    storage::deploy_record d{.service = "payments",
                             .environment = "prod",
                             .version = "1.2.3",
                             .requester = "U1",
                             .phase = "building",
                             .state_json = R"({"step":2})",
                             .slack_channel = "C1",
                             .slack_root_ts = "1700000000.000100",
                             .jenkins_queue_url = "https://jenkins/queue/item/7/",
                             .build_number = 41,
                             .rollout_json = R"({"eu":"done"})",
                             .created_at = t0,
                             .updated_at = t0 + 5s};
    const auto id = must(f.repo.insert(d));
    CHECK(d.id == id);
    CHECK(d.revision == 1);

    auto got = must(f.repo.get(id));
    REQUIRE(got);
    CHECK(got->service == "payments");
    CHECK(got->environment == "prod");
    CHECK(got->version == "1.2.3");
    CHECK(got->requester == "U1");
    CHECK(got->phase == "building");
    CHECK(got->outcome == storage::deploy_outcome::running);
    CHECK(got->state_json == R"({"step":2})");
    CHECK(got->slack_channel == "C1");
    CHECK(got->slack_root_ts == "1700000000.000100");
    CHECK(got->jenkins_queue_url == "https://jenkins/queue/item/7/");
    CHECK(got->build_number == 41);
    CHECK(got->rollout_json == R"({"eu":"done"})");
    CHECK(got->created_at == t0);
    CHECK(got->updated_at == t0 + 5s);
    CHECK_FALSE(got->finished_at);
    CHECK(got->revision == 1);

    CHECK_FALSE(must(f.repo.get(id + 1)));
}

TEST_CASE("deploys: update is optimistic, a stale revision is a conflict", "[unit]") {
    repository_fixture f;
    auto d = f.add("payments", "prod", "1.0.0");
    auto stale = d;

    d.phase = "building";
    d.build_number = 7;
    must(f.repo.update(d));
    CHECK(d.revision == 2);
    CHECK(must(f.repo.get(d.id))->build_number == 7);

    stale.phase = "cancelled";
    auto r = f.repo.update(stale);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::conflict);
    CHECK_THAT(r.error().message, Catch::Contains(storage::format_deploy_id(d.id)));
    CHECK(must(f.repo.get(d.id))->phase == "building");

    storage::deploy_record missing = d;
    missing.id = 999;
    auto gone = f.repo.update(missing);
    REQUIRE_FALSE(gone);
    CHECK(gone.error().code == core::errc::not_found);
}

TEST_CASE("deploys: outcome and finished_at must agree", "[unit]") {
    repository_fixture f;
    auto d = f.add("payments", "prod", "1.0.0");
    d.outcome = storage::deploy_outcome::succeeded;  // but finished_at left empty
    auto r = f.repo.update(d);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::errc::invalid_argument);
}

TEST_CASE("deploys: unfinished, history and last successful version", "[unit]") {
    repository_fixture f;
    auto a = f.add("payments", "prod", "1.0.0", t0);
    auto b = f.add("payments", "staging", "1.1.0", t0 + 1min);
    auto c = f.add("payments", "prod", "1.1.0", t0 + 2min);
    auto d = f.add("payments", "prod", "1.2.0", t0 + 3min);
    auto other = f.add("ledger", "prod", "9.0.0", t0 + 4min);
    f.finish(a, storage::deploy_outcome::succeeded, t0 + 10min);
    f.finish(c, storage::deploy_outcome::succeeded, t0 + 11min);
    f.finish(d, storage::deploy_outcome::failed, t0 + 12min);

    auto unfinished = must(f.repo.list_unfinished());
    REQUIRE(unfinished.size() == 2);
    CHECK(unfinished[0].id == b.id);
    CHECK(unfinished[1].id == other.id);

    auto prod = must(f.repo.history("payments", std::string{"prod"}, 10));
    REQUIRE(prod.size() == 3);
    CHECK(prod[0].id == d.id);
    CHECK(prod[2].id == a.id);
    CHECK(must(f.repo.history("payments", std::nullopt, 10)).size() == 4);
    CHECK(must(f.repo.history("payments", std::nullopt, 2)).size() == 2);

    auto last = must(f.repo.last_successful("payments", "prod"));
    REQUIRE(last);
    CHECK(last->version == "1.1.0");
    CHECK(last->finished_at == t0 + 11min);
    CHECK_FALSE(must(f.repo.last_successful("payments", "staging")));
}

TEST_CASE("deploys: one lock per service and environment", "[unit]") {
    repository_fixture f;
    auto d1 = f.add("payments", "prod", "1.0.0");
    auto d2 = f.add("payments", "prod", "1.1.0");
    const storage::env_lock by_d1{"payments", "prod", d1.id, "U1", "", t0};

    must(f.repo.acquire_lock(by_d1));
    must(f.repo.acquire_lock(by_d1));  // a resumed workflow repeats the step

    auto taken = f.repo.acquire_lock({"payments", "prod", d2.id, "U2", "", t0 + 1s});
    REQUIRE_FALSE(taken);
    CHECK(taken.error().code == core::errc::conflict);
    CHECK_THAT(taken.error().message,
               Catch::Contains("payments in prod is already locked by deploy " +
                               storage::format_deploy_id(d1.id) + " of U1"));

    must(f.repo.acquire_lock({"payments", "staging", d2.id, "U2", "", t0}));
    auto lock = must(f.repo.get_lock("payments", "prod"));
    REQUIRE(lock);
    CHECK(lock->deploy_id == d1.id);
    CHECK(lock->since == t0);
    CHECK(must(f.repo.list_locks()).size() == 2);

    CHECK_FALSE(must(f.repo.release_locks_of(d2.id + 100)));
    CHECK(must(f.repo.release_locks_of(d1.id)));
    CHECK_FALSE(must(f.repo.get_lock("payments", "prod")));
    CHECK(must(f.repo.get_lock("payments", "staging")));
}

TEST_CASE("deploys: a manual lock blocks deploys until released", "[unit]") {
    repository_fixture f;
    auto d = f.add("payments", "prod", "1.0.0");
    must(f.repo.acquire_lock({"payments", "prod", std::nullopt, "U9", "db migration", t0}));
    must(f.repo.acquire_lock({"payments", "prod", std::nullopt, "U9", "db migration", t0}));

    auto other_person = f.repo.acquire_lock({"payments", "prod", std::nullopt, "U8", "", t0});
    REQUIRE_FALSE(other_person);
    CHECK_THAT(other_person.error().message, Catch::Contains("U9 (db migration)"));
    CHECK_FALSE(f.repo.acquire_lock({"payments", "prod", d.id, "U1", "", t0}));

    CHECK_FALSE(must(f.repo.release_locks_of(d.id)));  // the deploy never held it
    CHECK(must(f.repo.release_lock("payments", "prod")));
    CHECK_FALSE(must(f.repo.release_lock("payments", "prod")));
    must(f.repo.acquire_lock({"payments", "prod", d.id, "U1", "", t0}));
}

TEST_CASE("deploys: queue positions per service and environment", "[unit]") {
    repository_fixture f;
    auto a = f.add("payments", "prod", "1");
    auto b = f.add("payments", "prod", "2");
    auto c = f.add("payments", "prod", "3");
    auto s = f.add("payments", "staging", "3");

    // Enqueue order, not creation order, decides.
    CHECK(must(f.repo.enqueue(b.id, t0)) == 1);
    CHECK(must(f.repo.enqueue(a.id, t0 + 1s)) == 2);
    CHECK(must(f.repo.enqueue(c.id, t0 + 2s)) == 3);
    CHECK(must(f.repo.enqueue(s.id, t0 + 3s)) == 1);
    CHECK(must(f.repo.enqueue(a.id, t0 + 9s)) == 2);  // already queued: same place

    CHECK(must(f.repo.dequeue(b.id)));
    CHECK_FALSE(must(f.repo.dequeue(b.id)));
    CHECK(must(f.repo.queue_position(a.id)) == 1);
    CHECK(must(f.repo.queue_position(c.id)) == 2);
    CHECK_FALSE(must(f.repo.queue_position(b.id)));

    auto q = must(f.repo.queue("payments", "prod"));
    REQUIRE(q.size() == 2);
    CHECK(q[0].deploy_id == a.id);
    CHECK(q[0].position == 1);
    CHECK(q[0].enqueued_at == t0 + 1s);
    CHECK(q[1].deploy_id == c.id);
    CHECK(q[1].position == 2);

    auto unknown = f.repo.enqueue(12345, t0);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code == core::errc::not_found);
}

TEST_CASE("deploys: stage durations, newest first", "[unit]") {
    repository_fixture f;
    for (int i = 0; i < 5; ++i) {
        must(f.repo.record_stage(
            {"payments-deploy", "build", std::chrono::milliseconds{1000 + i}, t0 + i * 1min}));
        must(f.repo.record_stage({"payments-deploy", "test", 2s, t0 + i * 1min + 1s}));
    }
    must(f.repo.record_stage({"ledger-deploy", "build", 9s, t0}));

    auto builds = must(f.repo.recent_stages("payments-deploy", std::string{"build"}, 3));
    REQUIRE(builds.size() == 3);
    CHECK(builds[0].duration == std::chrono::milliseconds{1004});
    CHECK(builds[0].finished_at == t0 + 4min);
    CHECK(builds[2].duration == std::chrono::milliseconds{1002});

    auto all = must(f.repo.recent_stages("payments-deploy", std::nullopt, 100));
    CHECK(all.size() == 10);
    CHECK(all[0].stage == "test");
}
