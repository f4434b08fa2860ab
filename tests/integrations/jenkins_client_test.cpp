#include "integrations/jenkins_client.hpp"

#include "integrations/http_client.hpp"
#include "integrations/kubeconfig.hpp"

#include "sandbox/fake_jenkins.hpp"
#include "sandbox/test_ca.hpp"
#include "tests/support/contains.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/test_ca_fixture.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace tugboat;
using namespace std::chrono_literals;
using integrations::jenkins_queue_item;
using integrations::jenkins_result;
using integrations::jenkins_stage_status;
using test::contains;
using test::run_test;

const std::string payments = "deploy/payments-api";

// The test CA as a file, since the Jenkins config names its CA by path. Written once per
// process and removed at exit.
const std::string& ca_file() {
    struct file {
        std::filesystem::path dir;
        std::string path;
        file() {
            dir = std::filesystem::temp_directory_path() /
                  ("tugboat-jenkins-test-" + std::to_string(::getpid()));
            std::filesystem::create_directories(dir);
            path = (dir / "ca.pem").string();
            std::ofstream(path) << sandbox::default_test_pki().ca.cert_pem();
        }
        ~file() {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    };
    static const file f;
    return f.path;
}

// A parameterized deploy job in a folder: 2 s in the queue, then Build, Test, Push and Deploy
// (simulated; at speed 100 the whole build takes about a third of a second).
sandbox::fake_job payments_job() {
    sandbox::fake_job job;
    job.full_name = payments;
    job.parameters = {
        {"SERVICE", sandbox::fake_parameter::kind::string, "payments-api", {}, ""},
        {"ENVIRONMENT", sandbox::fake_parameter::kind::choice, "", {"dev", "beta", "prod"}, ""},
        {"VERSION", sandbox::fake_parameter::kind::string, "", {}, ""},
        {"DEPLOY_ID", sandbox::fake_parameter::kind::string, "", {}, ""}};
    job.stages = {{"Build", 10s, {}, {}},
                  {"Test", 10s, {}, {}},
                  {"Push", 5s, {}, {}},
                  {"Deploy", 5s, {}, {}}};
    job.queue_delay = 2s;
    return job;
}

sandbox::fake_jenkins_options fast_jenkins_options() {
    sandbox::fake_jenkins_options options;
    options.tls = test::test_server_tls();
    options.speed = 100;
    return options;
}

std::map<std::string, std::string> deploy_params(std::string version, std::string deploy_id) {
    return {{"ENVIRONMENT", "beta"},
            {"VERSION", std::move(version)},
            {"DEPLOY_ID", std::move(deploy_id)}};
}

// The io_context first, so it outlives every socket and timer.
struct jenkins_fixture {
    explicit jenkins_fixture(sandbox::fake_jenkins_options options = fast_jenkins_options(),
                             std::string token = "sandbox-jenkins-token")
        : jenkins(start(ioc, log, std::move(options))),
          config(make_config(jenkins, std::move(token))),
          client(make_client(ioc, log, config)) {}

    static sandbox::fake_jenkins start(asio::io_context& ioc, core::logger& log,
                                       sandbox::fake_jenkins_options options) {
        options.log = &log;
        auto j = sandbox::fake_jenkins::start(ioc.get_executor(), std::move(options));
        REQUIRE(j);
        j->add_job(payments_job());
        return std::move(*j);
    }
    static core::jenkins_config make_config(const sandbox::fake_jenkins& j, std::string token) {
        core::jenkins_config c;
        c.name = "ci";
        c.url = j.base_url();
        c.user = "tugboat";
        c.api_token = core::secret(std::move(token), core::secret_source{"JENKINS_TOKEN", ""});
        c.ca_file = ca_file();
        c.timeout = 3s;
        return c;
    }
    static integrations::jenkins_http_client make_client(asio::io_context& ioc, core::logger& log,
                                                         const core::jenkins_config& config) {
        integrations::jenkins_client_options options;
        options.retry.initial_backoff = 5ms;
        options.retry.max_backoff = 20ms;
        auto c =
            integrations::jenkins_http_client::create(ioc.get_executor(), config, log, options);
        REQUIRE(c);
        return std::move(*c);
    }

    asio::awaitable<void> sleep(std::chrono::milliseconds d) {
        asio::steady_timer timer(co_await asio::this_coro::executor, d);
        co_await timer.async_wait(asio::use_awaitable);
    }

    // Polls the queue item every 10 ms until it leaves the queue (at most 3 s).
    asio::awaitable<jenkins_queue_item> follow(std::int64_t id) {
        auto until = std::chrono::steady_clock::now() + 3s;
        for (;;) {
            auto item = co_await client.queue_item(id);
            REQUIRE(item);
            if (item->status != jenkins_queue_item::state::waiting) {
                co_return *item;
            }
            REQUIRE(std::chrono::steady_clock::now() < until);
            co_await sleep(10ms);
        }
    }

    // Triggers, follows the queue item and returns the build number.
    asio::awaitable<int> start_build(std::string job, std::map<std::string, std::string> params) {
        auto ref = co_await client.trigger(job, std::move(params));
        REQUIRE(ref);
        auto item = co_await follow(ref->id);
        REQUIRE(item.status == jenkins_queue_item::state::started);
        co_return item.build_number;
    }

    // Polls the build every 10 ms until it finished (at most 3 s).
    asio::awaitable<integrations::jenkins_build> finished(std::string job, int number) {
        auto until = std::chrono::steady_clock::now() + 3s;
        for (;;) {
            auto b = co_await client.build(job, number);
            REQUIRE(b);
            if (!b->building) {
                co_return *b;
            }
            REQUIRE(std::chrono::steady_clock::now() < until);
            co_await sleep(10ms);
        }
    }

    // Polls the stages every 10 ms until `done` holds (at most 3 s).
    template <class Pred>
    asio::awaitable<integrations::jenkins_run> stages_until(std::string job, int number,
                                                            Pred done) {
        auto until = std::chrono::steady_clock::now() + 3s;
        for (;;) {
            auto run = co_await client.stages(job, number);
            REQUIRE(run);
            if (done(*run)) {
                co_return *run;
            }
            REQUIRE(std::chrono::steady_clock::now() < until);
            co_await sleep(10ms);
        }
    }

    std::size_t count_requests(std::string_view method, std::string_view path_part) const {
        std::size_t n = 0;
        for (const auto& r : jenkins.requests()) {
            if (r.method == method && contains(r.path(), path_part)) {
                ++n;
            }
        }
        return n;
    }

    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink, core::log_level::debug};
    sandbox::fake_jenkins jenkins;
    core::jenkins_config config;
    integrations::jenkins_http_client client;
};

}  // namespace

TEST_CASE("jenkins_client: trigger and follow a build to SUCCESS with its stages",
          "[loopback][jenkins]") {
    jenkins_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto ref = co_await f.client.trigger(payments, deploy_params("1.4.2", "d-1"));
        REQUIRE(ref);
        CHECK_FALSE(ref->merged);
        CHECK(ref->url == f.jenkins.base_url() + "queue/item/" + std::to_string(ref->id) + "/");

        auto waiting = co_await f.client.queue_item(ref->id);
        REQUIRE(waiting);
        CHECK(waiting->status == jenkins_queue_item::state::waiting);
        CHECK(waiting->why == "Waiting for next available executor");

        auto item = co_await f.follow(ref->id);
        REQUIRE(item.status == jenkins_queue_item::state::started);
        CHECK(item.build_number == 1);
        CHECK(item.build_url == f.jenkins.base_url() + "job/deploy/job/payments-api/1/");

        auto build = co_await f.finished(payments, item.build_number);
        CHECK(build.number == 1);
        CHECK(build.result == jenkins_result::success);
        CHECK(build.duration > 0ms);
        CHECK(build.started.time_since_epoch() > 0ms);
        CHECK(build.queue_id == ref->id);
        CHECK(build.url == item.build_url);
        CHECK(build.parameters.at("DEPLOY_ID") == "d-1");
        CHECK(build.parameters.at("SERVICE") == "payments-api");  // the job's default
        REQUIRE(build.estimated_duration);

        auto run = co_await f.client.stages(payments, item.build_number);
        REQUIRE(run);
        CHECK(run->number == 1);
        CHECK(run->status == jenkins_stage_status::success);
        CHECK_FALSE(run->pending_input);
        REQUIRE(run->stages.size() == 4);
        std::vector<std::string> names;
        for (const auto& s : run->stages) {
            names.push_back(s.name);
            CHECK(s.status == jenkins_stage_status::success);
            CHECK_FALSE(s.id.empty());
            CHECK(s.started >= build.started);
        }
        CHECK(names == std::vector<std::string>{"Build", "Test", "Push", "Deploy"});
        CHECK(run->stages[0].duration >= 50ms);  // 10 s simulated at speed 100

        auto runs = co_await f.client.recent_runs(payments);
        REQUIRE(runs);
        REQUIRE(runs->size() == 1);
        CHECK((*runs)[0].number == 1);
        CHECK(integrations::eta_history(*runs).size() == 1);

        auto log = co_await f.client.stage_log(payments, 1, run->stages[2].id, 10);
        REQUIRE(log);
        CHECK(contains(*log, "docker push registry.sandbox.local/payments-api:1.4.2"));
        auto tail = co_await f.client.console_tail(payments, 1, 3);
        REQUIRE(tail);
        CHECK(*tail == "[Pipeline] // node\n[Pipeline] End of Pipeline\nFinished: SUCCESS\n");
    }());
    // One crumb serves every POST; the parameters went out as a form.
    CHECK(f.count_requests("GET", "/crumbIssuer/") == 1);
    auto requests = f.jenkins.requests();
    auto trigger = std::find_if(requests.begin(), requests.end(),
                                [](const auto& r) { return r.method == "POST"; });
    REQUIRE(trigger != requests.end());
    CHECK(trigger->path() == "/job/deploy/job/payments-api/buildWithParameters");
    CHECK(trigger->body == "DEPLOY_ID=d-1&ENVIRONMENT=beta&VERSION=1.4.2");
    CHECK(trigger->header("Jenkins-Crumb"));
    CHECK(trigger->header("Cookie").value_or("").starts_with("JSESSIONID."));
    CHECK(f.jenkins.build_count(payments) == 1);
    CHECK_FALSE(contains(f.sink.text(), "sandbox-jenkins-token"));
}

TEST_CASE("jenkins_client: jobs in nested folders", "[loopback][jenkins]") {
    jenkins_fixture f;
    auto nested = payments_job();
    nested.full_name = "platform/team/payments api";
    f.jenkins.add_job(nested);
    sandbox::fake_job plain;  // not parameterized: triggered with /build
    plain.full_name = "teams/search/reindex";
    plain.stages = {{"Reindex", 5s, {}, {}}};
    plain.queue_delay = 1s;
    f.jenkins.add_job(plain);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        int n = co_await f.start_build("platform/team/payments api", deploy_params("2.0.0", "d-2"));
        auto build = co_await f.finished("platform/team/payments api", n);
        CHECK(build.result == jenkins_result::success);
        CHECK(build.url == f.jenkins.base_url() + "job/platform/job/team/job/payments%20api/" +
                               std::to_string(n) + "/");

        std::map<std::string, std::string> no_params;
        int r = co_await f.start_build("teams/search/reindex", no_params);
        auto reindex = co_await f.finished("teams/search/reindex", r);
        CHECK(reindex.result == jenkins_result::success);

        auto missing = co_await f.client.trigger("platform/team/nope", deploy_params("1", "d"));
        REQUIRE_FALSE(missing);
        CHECK(missing.error().code == core::errc::not_found);
        CHECK(contains(missing.error().message, "no job \"platform/team/nope\""));
        CHECK(contains(missing.error().message, "check the job path"));

        auto empty = co_await f.client.trigger("team//x", no_params);
        REQUIRE_FALSE(empty);
        CHECK(empty.error().code == core::errc::invalid_argument);
    }());
    CHECK(f.jenkins.build_count("platform/team/payments api") == 1);
    CHECK(f.count_requests("POST", "/job/teams/job/search/job/reindex/build") == 1);
}

TEST_CASE("jenkins_client: the same parameters already queued reuse that item (303)",
          "[loopback][jenkins]") {
    jenkins_fixture f;
    auto job = payments_job();
    job.queue_delay = 60s;  // 600 ms: the item is still waiting when the second trigger comes
    f.jenkins.add_job(job);
    run_test(
        f.ioc,
        [&]() -> asio::awaitable<void> {
            auto first = co_await f.client.trigger(payments, deploy_params("1.0.0", "d-3"));
            REQUIRE(first);
            auto second = co_await f.client.trigger(payments, deploy_params("1.0.0", "d-3"));
            REQUIRE(second);
            CHECK(second->merged);
            CHECK(second->id == first->id);
            auto item = co_await f.follow(second->id);
            CHECK(item.status == jenkins_queue_item::state::started);
        }(),
        10s);
    CHECK(f.jenkins.trigger_count(payments) == 2);
    CHECK(f.jenkins.build_count(payments) == 1);
}

TEST_CASE("jenkins_client: an item still in the queue is found by deploy id",
          "[loopback][jenkins]") {
    jenkins_fixture f;
    auto job = payments_job();
    job.queue_delay = 60s;  // 600 ms in the queue
    f.jenkins.add_job(job);
    run_test(
        f.ioc,
        [&]() -> asio::awaitable<void> {
            auto queued = co_await f.client.trigger(payments, deploy_params("1.0.0", "d-7"));
            REQUIRE(queued);
            auto found = co_await f.client.find_queued_by_parameter(payments, "DEPLOY_ID", "d-7");
            REQUIRE(found);
            REQUIRE(*found);
            CHECK((*found)->id == queued->id);
            CHECK((*found)->url.find("/queue/item/") != std::string::npos);
            auto other = co_await f.client.find_queued_by_parameter(payments, "DEPLOY_ID", "d-8");
            REQUIRE(other);
            CHECK_FALSE(*other);
            // Once it left the queue it is a build, found by find_build_by_parameter.
            auto item = co_await f.follow(queued->id);
            CHECK(item.status == jenkins_queue_item::state::started);
            auto left = co_await f.client.find_queued_by_parameter(payments, "DEPLOY_ID", "d-7");
            REQUIRE(left);
            CHECK_FALSE(*left);
        }(),
        10s);
    CHECK(f.jenkins.trigger_count(payments) == 1);
}

TEST_CASE("jenkins_client: CSRF crumbs", "[loopback][jenkins]") {
    SECTION("a stale crumb is refetched once") {
        jenkins_fixture f;
        run_test(f.ioc, [&]() -> asio::awaitable<void> {
            auto first = co_await f.client.trigger(payments, deploy_params("1.0.0", "d-4"));
            REQUIRE(first);
            f.jenkins.expire_sessions();
            auto second = co_await f.client.trigger(payments, deploy_params("1.0.1", "d-5"));
            REQUIRE(second);
            CHECK(second->id != first->id);
        }());
        CHECK(f.count_requests("GET", "/crumbIssuer/") == 2);
        CHECK(f.count_requests("POST", "/buildWithParameters") == 3);  // one refused with 403
        CHECK(f.jenkins.trigger_count(payments) == 2);
        CHECK(contains(f.sink.text(), "jenkins_crumb_refresh"));
    }
    SECTION("CSRF protection off: no crumb is sent") {
        auto options = fast_jenkins_options();
        options.csrf = sandbox::csrf_mode::disabled;
        jenkins_fixture f(options);
        run_test(f.ioc, [&]() -> asio::awaitable<void> {
            int n = co_await f.start_build(payments, deploy_params("1.0.0", "d-6"));
            auto aborted = co_await f.client.abort(payments, n);
            CHECK(aborted);
        }());
        CHECK(f.count_requests("GET", "/crumbIssuer/") == 1);  // 404 remembered
        for (const auto& r : f.jenkins.requests()) {
            if (r.method == "POST") {
                CHECK_FALSE(r.header("Jenkins-Crumb"));
            }
        }
    }
}

TEST_CASE("jenkins_client: a failing stage fails the build and its log shows why",
          "[loopback][jenkins]") {
    jenkins_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        int n = co_await f.start_build(payments, deploy_params("1.0.0-failbuild", "d-7"));
        auto build = co_await f.finished(payments, n);
        CHECK(build.result == jenkins_result::failure);

        auto run = co_await f.client.stages(payments, n);
        REQUIRE(run);
        CHECK(run->status == jenkins_stage_status::failed);
        REQUIRE(run->stages.size() == 4);
        const auto& failed = run->stages[0];
        CHECK(failed.name == "Build");
        CHECK(failed.status == jenkins_stage_status::failed);
        CHECK(failed.error == "script returned exit code 2");
        CHECK(run->stages[1].status == jenkins_stage_status::not_executed);

        // Stage View sends HTML: quotes come back as written.
        auto log = co_await f.client.stage_log(payments, n, failed.id, 5);
        REQUIRE(log);
        CHECK(contains(*log, "error: 'amount_cents' was not declared in this scope"));
        CHECK(contains(*log, "make: *** [Makefile:31: build/ledger.o] Error 1"));
        CHECK_FALSE(contains(*log, "Resolving dependencies"));  // beyond the last 5 lines

        // The console ends with the skipped stages and the footer, after the failing lines.
        auto tail = co_await f.client.console_tail(payments, n, 30);
        REQUIRE(tail);
        CHECK(contains(*tail, "error: 'amount_cents' was not declared in this scope"));
        CHECK(contains(*tail, "Finished: FAILURE"));

        auto unknown = co_await f.client.stage_log(payments, n, "999", 5);
        REQUIRE_FALSE(unknown);
        CHECK(unknown.error().code == core::errc::not_found);
    }());
}

TEST_CASE("jenkins_client: abort stops a running build", "[loopback][jenkins]") {
    jenkins_fixture f;
    auto job = payments_job();
    job.stages[0].duration = std::chrono::minutes{10};  // 6 s at speed 100: only abort ends it
    f.jenkins.add_job(job);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        int n = co_await f.start_build(payments, deploy_params("4.0.0", "d-8"));
        auto running = co_await f.stages_until(payments, n,
                                               [](const auto& run) { return !run.stages.empty(); });
        CHECK(running.status == jenkins_stage_status::in_progress);
        CHECK(running.stages[0].status == jenkins_stage_status::in_progress);
        auto stopped = co_await f.client.abort(payments, n);
        REQUIRE(stopped);
        auto build = co_await f.finished(payments, n);
        CHECK(build.result == jenkins_result::aborted);
        auto again = co_await f.client.abort(payments, n);  // finished: nothing to stop
        CHECK(again);
        auto missing = co_await f.client.abort(payments, 99);
        REQUIRE_FALSE(missing);
        CHECK(missing.error().code == core::errc::not_found);
        CHECK(contains(missing.error().message, "no build #99"));
    }());
}

TEST_CASE("jenkins_client: input steps are answered", "[loopback][jenkins]") {
    bool proceed = GENERATE(true, false);
    jenkins_fixture f;
    auto job = payments_job();
    sandbox::fake_input input;
    input.id = "approve";  // Jenkins capitalizes it
    input.message = "Deploy to prod?";
    input.ok = "Ship it";
    job.stages[3].input = input;
    f.jenkins.add_job(job);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        int n = co_await f.start_build(payments, deploy_params("3.0.0", "d-9"));
        auto paused = co_await f.stages_until(payments, n, [](const auto& run) {
            return run.status == jenkins_stage_status::paused_pending_input;
        });
        REQUIRE(paused.pending_input);
        CHECK(paused.pending_input->id == "Approve");
        CHECK(paused.pending_input->message == "Deploy to prod?");
        CHECK(paused.pending_input->proceed_text == "Ship it");
        CHECK(paused.stages.back().status == jenkins_stage_status::paused_pending_input);

        auto answered = co_await f.client.answer_input(payments, n, "Approve", proceed);
        REQUIRE(answered);
        auto build = co_await f.finished(payments, n);
        CHECK(build.result == (proceed ? jenkins_result::success : jenkins_result::aborted));
        auto tail = co_await f.client.console_tail(payments, n, 40);
        REQUIRE(tail);
        CHECK(contains(*tail, proceed ? "Approved by tugboat" : "Rejected by tugboat"));

        auto twice = co_await f.client.answer_input(payments, n, "Approve", proceed);
        REQUIRE_FALSE(twice);
        CHECK(twice.error().code == core::errc::not_found);
        CHECK(contains(twice.error().message, "no pending input \"Approve\""));
    }());
}

TEST_CASE("jenkins_client: a wrong API token gives a clear 401 error", "[loopback][jenkins]") {
    jenkins_fixture f(fast_jenkins_options(), "not-the-token");
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto b = co_await f.client.build(payments, 1);
        REQUIRE_FALSE(b);
        CHECK(b.error().code == core::errc::permission_denied);
        CHECK(contains(b.error().message, "Jenkins refused the API token for user tugboat (401)"));
        CHECK(contains(b.error().message, "environment variable JENKINS_TOKEN"));
        CHECK_FALSE(contains(b.error().message, "not-the-token"));

        auto t = co_await f.client.trigger(payments, deploy_params("1.0.0", "d-10"));
        REQUIRE_FALSE(t);
        CHECK(t.error().code == core::errc::permission_denied);
        CHECK(contains(t.error().message, "(401)"));
    }());
    CHECK(f.jenkins.trigger_count(payments) == 0);
    CHECK_FALSE(contains(f.sink.text(), "not-the-token"));
}

TEST_CASE("jenkins_client: 500s are retried on reads but never on a trigger",
          "[loopback][jenkins]") {
    jenkins_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        int n = co_await f.start_build(payments, deploy_params("1.0.0", "d-11"));
        f.jenkins.fail_next(2, 500, "/job/");
        auto b = co_await f.client.build(payments, n);  // third attempt succeeds
        CHECK(b);

        f.jenkins.fail_next(3, 503, "/job/");
        auto down = co_await f.client.build(payments, n);
        REQUIRE_FALSE(down);
        CHECK(down.error().code == core::errc::unavailable);
        CHECK(contains(down.error().message, "Jenkins answered 503 while reading build #"));

        f.jenkins.fail_next(1, 500, "/job/deploy/job/payments-api/buildWithParameters");
        auto t = co_await f.client.trigger(payments, deploy_params("1.0.1", "d-12"));
        REQUIRE_FALSE(t);
        CHECK(t.error().code == core::errc::unavailable);

        std::map<std::string, std::string> qa{{"ENVIRONMENT", "qa"}};
        auto bad = co_await f.client.trigger(payments, qa);
        REQUIRE_FALSE(bad);
        CHECK(bad.error().code == core::errc::invalid_argument);
        CHECK(contains(bad.error().message, "Illegal choice for parameter ENVIRONMENT: qa"));
    }());
    CHECK(f.count_requests("POST", "/buildWithParameters") == 3);  // d-11, d-12 once, qa
    CHECK(f.jenkins.trigger_count(payments) == 1);
}

TEST_CASE("jenkins_client: a disabled job is a conflict", "[loopback][jenkins]") {
    jenkins_fixture f;
    REQUIRE(f.jenkins.set_disabled(payments, true));
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto t = co_await f.client.trigger(payments, deploy_params("1.0.0", "d-16"));
        REQUIRE_FALSE(t);
        CHECK(t.error().code == core::errc::conflict);
        CHECK(contains(t.error().message, "deploy/payments-api is disabled"));
        CHECK(contains(t.error().message, "enable it in Jenkins"));
    }());
}

TEST_CASE("jenkins_client: a forgotten queue item is gone, the build is found by deploy id",
          "[loopback][jenkins]") {
    auto options = fast_jenkins_options();
    options.left_item_ttl = 50ms;
    jenkins_fixture f(options);
    REQUIRE(f.jenkins.add_past_build(
        payments, {sandbox::fake_result::success, 60s, {{"DEPLOY_ID", "d-old"}}, 0ms}));
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        int n = co_await f.start_build(payments, deploy_params("5.0.0", "d-13"));
        CHECK(n == 2);
        co_await f.sleep(80ms);
        auto ref = co_await f.client.find_build_by_parameter(payments, "DEPLOY_ID", "d-13", 50);
        REQUIRE(ref);
        REQUIRE(*ref);
        CHECK((*ref)->number == n);
        CHECK((*ref)->parameters.at("VERSION") == "5.0.0");
        auto queue_id = (*ref)->queue_id;
        auto gone = co_await f.client.queue_item(queue_id);
        REQUIRE(gone);
        CHECK(gone->status == jenkins_queue_item::state::gone);
        auto never = co_await f.client.queue_item(987654);
        REQUIRE(never);
        CHECK(never->status == jenkins_queue_item::state::gone);

        auto old = co_await f.client.find_build_by_parameter(payments, "DEPLOY_ID", "d-old", 50);
        REQUIRE(old);
        REQUIRE(*old);
        CHECK((*old)->number == 1);
        CHECK((*old)->result == jenkins_result::success);
        auto outside = co_await f.client.find_build_by_parameter(payments, "DEPLOY_ID", "d-old", 1);
        REQUIRE(outside);
        CHECK_FALSE(*outside);  // only the newest build was looked at
        auto none = co_await f.client.find_build_by_parameter(payments, "DEPLOY_ID", "d-x", 50);
        REQUIRE(none);
        CHECK_FALSE(*none);
        auto no_job = co_await f.client.find_build_by_parameter("deploy/nope", "DEPLOY_ID", "x", 5);
        REQUIRE_FALSE(no_job);
        CHECK(no_job.error().code == core::errc::not_found);
    }());
}

TEST_CASE("jenkins_client: a cancelled queue item", "[loopback][jenkins]") {
    auto options = fast_jenkins_options();
    options.csrf = sandbox::csrf_mode::token_exempt;
    jenkins_fixture f(options);
    auto job = payments_job();
    job.queue_delay = 60s;
    f.jenkins.add_job(job);
    // The client does not cancel items (workflows abort builds); a raw request stands in for
    // someone cancelling in the Jenkins UI.
    integrations::http_client_options http_options;
    http_options.tls = test::test_client_tls();
    auto http = integrations::http_client::create(f.ioc.get_executor(), f.log, http_options);
    REQUIRE(http);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto ref = co_await f.client.trigger(payments, deploy_params("6.0.0", "d-14"));
        REQUIRE(ref);
        integrations::http_request cancel;
        cancel.method = integrations::http_method::post;
        cancel.url = f.jenkins.base_url() + "queue/cancelItem?id=" + std::to_string(ref->id);
        cancel.headers.emplace_back(
            "Authorization",
            "Basic " + integrations::base64_encode("tugboat:sandbox-jenkins-token"));
        auto cancelled = co_await http->send(cancel);
        REQUIRE(cancelled);
        REQUIRE(cancelled->status == 204);
        auto item = co_await f.client.queue_item(ref->id);
        REQUIRE(item);
        CHECK(item->status == jenkins_queue_item::state::cancelled);
    }());
    CHECK(f.jenkins.build_count(payments) == 0);
}

TEST_CASE("jenkins_client: Jenkins down gives unavailable quickly", "[loopback][jenkins]") {
    jenkins_fixture f;
    f.jenkins.stop();
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto started = std::chrono::steady_clock::now();
        auto b = co_await f.client.build(payments, 1);
        REQUIRE_FALSE(b);
        CHECK(b.error().code == core::errc::unavailable);
        CHECK(contains(b.error().message, "could not reach Jenkins at " + f.config.url));
        auto t = co_await f.client.trigger(payments, deploy_params("1.0.0", "d-15"));
        REQUIRE_FALSE(t);
        CHECK(t.error().code == core::errc::unavailable);
        CHECK(std::chrono::steady_clock::now() - started < 1s);
    }());
}

TEST_CASE("jenkins_client: slow answers time out", "[loopback][jenkins]") {
    jenkins_fixture f;
    f.config.timeout = 1s;
    auto client = jenkins_fixture::make_client(f.ioc, f.log, f.config);
    f.jenkins.set_response_delay(1500ms, "/job/");
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto b = co_await client.build(payments, 1);
        REQUIRE_FALSE(b);
        CHECK(b.error().code == core::errc::timeout);
        CHECK(contains(b.error().message, "did not answer within 1 s"));
    }());
}

TEST_CASE("jenkins_client: ETA from the job's history", "[loopback][jenkins]") {
    auto options = fast_jenkins_options();
    options.speed = 1;  // seeded history only; nothing runs
    jenkins_fixture f(options);
    for (auto d : {100s, 120s, 140s}) {
        REQUIRE(f.jenkins.add_past_build(payments, {sandbox::fake_result::success, d, {}, 0ms}));
    }
    REQUIRE(f.jenkins.add_past_build(payments, {sandbox::fake_result::failure, 10s, {}, 0ms}));
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto runs = co_await f.client.recent_runs(payments);
        REQUIRE(runs);
        REQUIRE(runs->size() == 4);
        CHECK((*runs)[0].status == jenkins_stage_status::failed);  // newest first
        auto history = integrations::eta_history(*runs);
        REQUIRE(history.size() == 3);  // the failed run is left out
        auto stats = integrations::stage_percentiles(history);
        REQUIRE(stats.size() == 4);
        CHECK(stats[0].name == "Build");
        // Build is a third of the pipeline (10 of 30 s): 40 s in the 120 s run.
        CHECK(stats[0].p50 == 40s);
        CHECK(stats[0].samples == 3);

        // A run half-way through Test.
        integrations::jenkins_run current;
        integrations::jenkins_stage build;
        build.name = "Build";
        build.status = jenkins_stage_status::success;
        build.duration = 40s;
        current.stages.push_back(build);
        integrations::jenkins_stage test;
        test.name = "Test";
        test.status = jenkins_stage_status::in_progress;
        test.duration = 25s;
        test.paused = 5s;  // waiting at an input does not count
        current.stages.push_back(test);
        auto eta = integrations::estimate_remaining(history, integrations::eta_progress(current),
                                                    60s, std::nullopt);
        REQUIRE(eta.remaining);
        CHECK(eta.from_history);
        CHECK(*eta.remaining == 20s + 20s + 20s);  // rest of Test, Push, Deploy
        REQUIRE(eta.progress);
        CHECK(*eta.progress == Approx(0.5));
    }());
}
