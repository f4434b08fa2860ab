#include "sandbox/fake_jenkins.hpp"

#include "integrations/http_client.hpp"
#include "tests/support/contains.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/test_ca_fixture.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace tugboat;
using namespace std::chrono_literals;
using integrations::http_client;
using integrations::http_method;
using integrations::http_request;
using integrations::http_response;
using json = nlohmann::json;
using test::contains;
using test::run_test;

const std::string job_path = "job/deploy/job/payments-api/";

std::string base64(std::string_view in) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (unsigned char c : in) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(alphabet[(buffer >> bits) & 63]);
        }
    }
    if (bits > 0) {
        out.push_back(alphabet[(buffer << (6 - bits)) & 63]);
    }
    while (out.size() % 4 != 0) {
        out.push_back('=');
    }
    return out;
}

// "?tree=…" with brackets and braces escaped: RFC 3986 does not allow them in a query, and the
// HTTP client is strict about it.
std::string tree(std::string_view spec) {
    std::string out = "?tree=";
    for (char c : spec) {
        switch (c) {
            case '[': out += "%5B"; break;
            case ']': out += "%5D"; break;
            case '{': out += "%7B"; break;
            case '}': out += "%7D"; break;
            default: out.push_back(c);
        }
    }
    return out;
}

// A parameterized deploy job in a folder: 2 s in the queue, then Build, Test, Push and Deploy
// (simulated; at speed 100 the whole build takes about a third of a second).
sandbox::fake_job payments_job() {
    sandbox::fake_job job;
    job.full_name = "deploy/payments-api";
    job.parameters = {{"SERVICE", sandbox::fake_parameter::kind::string, "payments-api", {}, ""},
                      {"ENVIRONMENT",
                       sandbox::fake_parameter::kind::choice,
                       "",
                       {"dev", "beta", "prod"},
                       "where to deploy"},
                      {"VERSION", sandbox::fake_parameter::kind::string, "", {}, ""},
                      {"DEPLOY_ID", sandbox::fake_parameter::kind::string, "", {}, ""}};
    job.stages = {{"Build", 10s, {}, {}},
                  {"Test", 10s, {}, {}},
                  {"Push", 5s, {}, {}},
                  {"Deploy", 5s, {}, {}}};
    job.queue_delay = 2s;
    return job;
}

sandbox::fake_jenkins_options fast_options() {
    sandbox::fake_jenkins_options options;
    options.tls = test::test_server_tls();
    options.speed = 100;
    return options;
}

sandbox::fake_jenkins start_jenkins(asio::io_context& ioc, core::logger& log,
                                    sandbox::fake_jenkins_options options) {
    options.log = &log;
    auto jenkins = sandbox::fake_jenkins::start(ioc.get_executor(), std::move(options));
    REQUIRE(jenkins);
    jenkins->add_job(payments_job());
    return std::move(*jenkins);
}

http_client make_client(asio::io_context& ioc, core::logger& log) {
    integrations::http_client_options options;
    options.tls = test::test_client_tls();
    options.retry.initial_backoff = 5ms;
    options.retry.max_backoff = 20ms;
    auto client = http_client::create(ioc.get_executor(), log, std::move(options));
    REQUIRE(client);
    return std::move(*client);
}

// The io_context first, so it outlives every socket and timer.
struct fake_jenkins_fixture {
    explicit fake_jenkins_fixture(sandbox::fake_jenkins_options options = fast_options())
        : jenkins(start_jenkins(ioc, log, std::move(options))), client(make_client(ioc, log)) {}

    http_request request(http_method method, const std::string& path, std::string body = {}) {
        http_request r;
        r.method = method;
        r.url = jenkins.base_url() + path;
        r.timeout = 3s;
        if (with_auth) {
            r.headers.emplace_back("Authorization", "Basic " + base64(user + ":" + token));
        }
        if (!cookie.empty()) {
            r.headers.emplace_back("Cookie", cookie);
        }
        if (method == http_method::post) {
            if (!crumb.empty()) {
                r.headers.emplace_back("Jenkins-Crumb", crumb);
            }
            r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
            r.body = std::move(body);
        }
        return r;
    }

    asio::awaitable<http_response> get(std::string path) {
        auto r = co_await client.send(request(http_method::get, path));
        REQUIRE(r);
        co_return std::move(*r);
    }
    asio::awaitable<json> get_json(std::string path) {
        auto r = co_await get(path);
        REQUIRE(r.status == 200);
        co_return json::parse(r.body);
    }
    asio::awaitable<http_response> post(std::string path, std::string body = {}) {
        auto r = co_await client.send(request(http_method::post, path, std::move(body)));
        REQUIRE(r);
        co_return std::move(*r);
    }
    // Fetches a crumb and keeps the session cookie that goes with it.
    asio::awaitable<void> fetch_crumb() {
        auto r = co_await get("crumbIssuer/api/json");
        REQUIRE(r.status == 200);
        auto j = json::parse(r.body);
        CHECK(j["_class"] == "hudson.security.csrf.DefaultCrumbIssuer");
        CHECK(j["crumbRequestField"] == "Jenkins-Crumb");
        crumb = j["crumb"].get<std::string>();
        if (auto set = r.header("Set-Cookie")) {
            cookie = set->substr(0, set->find(';'));
        }
    }
    // Triggers payments-api and returns the queue item's path ("queue/item/N/").
    asio::awaitable<std::string> trigger(std::string form) {
        auto r = co_await post(job_path + "buildWithParameters", std::move(form));
        REQUIRE(r.status == 201);
        auto location = r.header("Location").value_or("");
        REQUIRE(location.starts_with(jenkins.base_url() + "queue/item/"));
        co_return location.substr(jenkins.base_url().size());
    }
    // Polls `path` every 10 ms until `done` holds for its JSON (at most 3 s).
    asio::awaitable<json> poll(std::string path, std::function<bool(const json&)> done) {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        auto until = std::chrono::steady_clock::now() + 3s;
        for (;;) {
            auto j = co_await get_json(path);
            if (done(j)) {
                co_return j;
            }
            REQUIRE(std::chrono::steady_clock::now() < until);
            timer.expires_after(10ms);
            co_await timer.async_wait(asio::use_awaitable);
        }
    }
    // Triggers and waits for the build to start; returns its number.
    asio::awaitable<int> start_build(std::string form) {
        auto item = co_await trigger(std::move(form));
        auto left = co_await poll(item + "api/json", [](const json& j) {
            return j.contains("executable") && !j["executable"].is_null();
        });
        co_return left["executable"]["number"].get<int>();
    }
    asio::awaitable<json> finished(int number) {
        co_return co_await poll(job_path + std::to_string(number) + "/api/json",
                                [](const json& j) { return !j["building"].get<bool>(); });
    }

    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink, core::log_level::debug};
    sandbox::fake_jenkins jenkins;
    http_client client;
    std::string user = "tugboat";
    std::string token = "sandbox-jenkins-token";
    bool with_auth = true;
    std::string cookie;
    std::string crumb;
};

std::vector<std::string> stage_statuses(const json& run) {
    std::vector<std::string> out;
    for (const auto& s : run["stages"]) {
        out.push_back(s["name"].get<std::string>() + ":" + s["status"].get<std::string>());
    }
    return out;
}

const json* find_class(const json& actions, std::string_view cls) {
    for (const auto& a : actions) {
        if (a.value("_class", "") == cls) {
            return &a;
        }
    }
    return nullptr;
}

}  // namespace

TEST_CASE("fake_jenkins: requests need Basic auth with the API token", "[loopback]") {
    fake_jenkins_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        f.with_auth = false;
        auto anonymous = co_await f.get("api/json");
        CHECK(anonymous.status == 403);
        CHECK(anonymous.header("X-You-Are-Authenticated-As") == "anonymous");
        CHECK(contains(anonymous.body, "Authentication required"));

        f.with_auth = true;
        f.token = "wrong";
        auto bad = co_await f.get("api/json");
        CHECK(bad.status == 401);
        CHECK(bad.header("WWW-Authenticate") == "Basic realm=\"Jenkins\"");
        CHECK(contains(bad.body, "Invalid password/token for user: tugboat"));

        f.token = "sandbox-jenkins-token";
        auto good = co_await f.get("api/json");
        CHECK(good.status == 200);
        CHECK(good.header("X-Jenkins") == "2.452.3");
        CHECK(json::parse(good.body)["useCrumbs"] == true);
    }());
}

TEST_CASE("fake_jenkins: POSTs need a crumb and its session cookie", "[loopback]") {
    fake_jenkins_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto bare = co_await f.post(job_path + "buildWithParameters", "VERSION=1.0.0");
        CHECK(bare.status == 403);
        CHECK(contains(bare.body, "No valid crumb was included in the request"));

        co_await f.fetch_crumb();
        REQUIRE(f.cookie.starts_with("JSESSIONID."));
        auto cookie = f.cookie;
        f.cookie.clear();  // a crumb without its session is not valid
        auto no_session = co_await f.post(job_path + "buildWithParameters", "VERSION=1.0.0");
        CHECK(no_session.status == 403);

        f.cookie = cookie;
        auto ok = co_await f.post(job_path + "buildWithParameters", "VERSION=1.0.0");
        CHECK(ok.status == 201);

        // Once the session expires the client has to fetch a new crumb.
        f.jenkins.expire_sessions();
        auto expired = co_await f.post(job_path + "buildWithParameters", "VERSION=1.0.1");
        CHECK(expired.status == 403);
        co_await f.fetch_crumb();
        CHECK(f.cookie != cookie);
        auto again = co_await f.post(job_path + "buildWithParameters", "VERSION=1.0.1");
        CHECK(again.status == 201);
    }());
    CHECK(f.jenkins.trigger_count("deploy/payments-api") == 2);
}

TEST_CASE("fake_jenkins: API tokens may be exempt from crumbs", "[loopback]") {
    auto options = fast_options();
    options.csrf = sandbox::csrf_mode::token_exempt;
    fake_jenkins_fixture f(options);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto r = co_await f.post(job_path + "buildWithParameters", "VERSION=1.0.0");
        CHECK(r.status == 201);
    }());
}

TEST_CASE("fake_jenkins: trigger, queue item, build number", "[loopback]") {
    fake_jenkins_fixture f;
    auto job = payments_job();
    job.queue_delay = 60s;  // 600 ms: long enough to look at the waiting item
    f.jenkins.add_job(job);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        co_await f.fetch_crumb();
        auto item = co_await f.trigger("ENVIRONMENT=beta&VERSION=1.4.2&DEPLOY_ID=d-1");
        auto waiting = co_await f.get_json(item + "api/json");
        CHECK(waiting["_class"] == "hudson.model.Queue$BuildableItem");
        CHECK(waiting["why"] == "Waiting for next available executor");
        CHECK(waiting["params"] ==
              "\nSERVICE=payments-api\nENVIRONMENT=beta\nVERSION=1.4.2\nDEPLOY_ID=d-1");
        CHECK(waiting["task"]["url"] == f.jenkins.base_url() + job_path);

        // The same parameters again while the item waits: Jenkins merges the request.
        auto merged = co_await f.post(job_path + "buildWithParameters",
                                      "VERSION=1.4.2&ENVIRONMENT=beta&DEPLOY_ID=d-1");
        CHECK(merged.status == 303);
        CHECK(merged.header("Location") == f.jenkins.base_url() + item);

        // Different parameters make a second item, which is cancelled before it starts.
        auto other = co_await f.trigger("ENVIRONMENT=dev&VERSION=1.4.3");
        CHECK(other != item);
        auto other_id = other.substr(std::string("queue/item/").size());
        other_id.pop_back();
        auto cancelled = co_await f.post("queue/cancelItem?id=" + other_id);
        CHECK(cancelled.status == 204);
        auto gone = co_await f.get_json(other + "api/json");
        CHECK(gone["_class"] == "hudson.model.Queue$LeftItem");
        CHECK(gone["cancelled"] == true);
        CHECK(gone["executable"].is_null());

        auto left = co_await f.poll(item + "api/json", [](const json& j) {
            return j.contains("executable") && !j["executable"].is_null();
        });
        CHECK(left["_class"] == "hudson.model.Queue$LeftItem");
        CHECK(left["why"].is_null());
        int number = left["executable"]["number"].get<int>();
        CHECK(number == 1);
        CHECK(left["executable"]["url"] == f.jenkins.base_url() + job_path + "1/");

        auto build = co_await f.get_json(job_path + "1/api/json");
        CHECK(build["number"] == 1);
        CHECK(build["queueId"] == waiting["id"]);
        auto* params = find_class(build["actions"], "hudson.model.ParametersAction");
        REQUIRE(params);
        CHECK((*params)["parameters"][2]["name"] == "VERSION");
        CHECK((*params)["parameters"][2]["value"] == "1.4.2");
        auto* causes = find_class(build["actions"], "hudson.model.CauseAction");
        REQUIRE(causes);
        CHECK((*causes)["causes"][0]["userId"] == "tugboat");

        // An unknown choice is refused; a non-parameterized trigger needs the json form.
        auto bad_choice = co_await f.post(job_path + "buildWithParameters", "ENVIRONMENT=qa");
        CHECK(bad_choice.status == 500);
        CHECK(contains(bad_choice.body, "Illegal choice for parameter ENVIRONMENT: qa"));
        auto get_trigger = co_await f.get(job_path + "buildWithParameters");
        CHECK(get_trigger.status == 405);
    }());
    CHECK(f.jenkins.trigger_count("deploy/payments-api") == 3);
    CHECK(f.jenkins.build_count("deploy/payments-api") == 1);
    auto builds = f.jenkins.builds("deploy/payments-api");
    REQUIRE(builds.size() == 1);
    CHECK(builds[0].parameters.at("DEPLOY_ID") == "d-1");
}

TEST_CASE("fake_jenkins: queue items expire after leaving the queue", "[loopback]") {
    auto options = fast_options();
    options.left_item_ttl = 50ms;
    fake_jenkins_fixture f(options);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        co_await f.fetch_crumb();
        auto item = co_await f.trigger("VERSION=2.0.0");
        co_await f.poll(item + "api/json", [](const json& j) {
            return j.contains("executable") && !j["executable"].is_null();
        });
        asio::steady_timer timer(co_await asio::this_coro::executor, 80ms);
        co_await timer.async_wait(asio::use_awaitable);
        auto expired = co_await f.get(item + "api/json");
        CHECK(expired.status == 404);
    }());
}

TEST_CASE("fake_jenkins: stages progress over time and the log streams", "[loopback]") {
    fake_jenkins_fixture f;
    std::vector<sandbox::fake_deploy> deploys;
    f.jenkins.on_deploy([&](const sandbox::fake_deploy& d) { deploys.push_back(d); });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        co_await f.fetch_crumb();
        int number = co_await f.start_build("ENVIRONMENT=dev&VERSION=1.5.0&DEPLOY_ID=d-7");
        auto base = job_path + std::to_string(number) + "/";
        auto running = co_await f.poll(base + "wfapi/describe", [](const json& j) {
            return j["status"] == "IN_PROGRESS" && !j["stages"].empty();
        });
        CHECK(running["stages"].back()["status"] == "IN_PROGRESS");
        CHECK(running["_links"]["self"]["href"] == "/" + base + "wfapi/describe");

        // Follow the console the way a client does: start at 0, continue at X-Text-Size.
        std::string streamed;
        std::size_t offset = 0;
        asio::steady_timer timer(co_await asio::this_coro::executor);
        for (int rounds = 0; rounds < 300; ++rounds) {
            auto chunk =
                co_await f.get(base + "logText/progressiveText?start=" + std::to_string(offset));
            REQUIRE(chunk.status == 200);
            streamed += chunk.body;
            offset = std::stoul(chunk.header("X-Text-Size").value_or("0"));
            if (!chunk.header("X-More-Data")) {
                break;
            }
            timer.expires_after(10ms);
            co_await timer.async_wait(asio::use_awaitable);
        }
        auto full = co_await f.get(base + "consoleText");
        CHECK(streamed == full.body);
        CHECK(contains(full.body, "Started by user tugboat"));
        CHECK(contains(full.body, "[Pipeline] { (Deploy)"));
        CHECK(contains(full.body, "Finished: SUCCESS"));

        auto done = co_await f.get_json(base + "wfapi/describe");
        CHECK(done["status"] == "SUCCESS");
        CHECK(stage_statuses(done) == std::vector<std::string>{"Build:SUCCESS", "Test:SUCCESS",
                                                               "Push:SUCCESS", "Deploy:SUCCESS"});
        CHECK(done["stages"][1]["durationMillis"].get<long>() >= 50);

        auto stage_log = co_await f.get_json(
            base + "execution/node/" + done["stages"][2]["id"].get<std::string>() + "/wfapi/log");
        CHECK(stage_log["nodeStatus"] == "SUCCESS");
        CHECK(contains(stage_log["text"].get<std::string>(),
                       "docker push registry.sandbox.local/payments-api:1.5.0"));

        auto build = co_await f.get_json(base + "api/json");
        CHECK(build["result"] == "SUCCESS");
        CHECK(build["duration"].get<long>() > 0);
        // The first build has no history to estimate from.
        CHECK(build["estimatedDuration"] == build["duration"]);
    }());
    REQUIRE(deploys.size() == 1);
    CHECK(deploys[0].job == "deploy/payments-api");
    CHECK(deploys[0].parameters.at("VERSION") == "1.5.0");
    CHECK(deploys[0].parameters.at("ENVIRONMENT") == "dev");
}

TEST_CASE("fake_jenkins: a failing stage fails the build with its log", "[loopback]") {
    struct scenario {
        std::string version;
        std::string stage;
        std::string log_line;
    };
    auto s = GENERATE(
        scenario{"1.0.0-failtest", "Test", "127 passed, 1 failed"},
        scenario{"1.0.0-failbuild", "Build", "error: 'amount_cents' was not declared"},
        scenario{"1.0.0-failpush", "Push", "denied: requested access to the resource is denied"},
        scenario{"1.0.0", "Build", "error: 'amount_cents' was not declared"});
    fake_jenkins_fixture f;
    if (s.version == "1.0.0") {  // no marker: the job's configured failing stage
        REQUIRE(f.jenkins.set_failing_stage("deploy/payments-api", "Build"));
    }
    std::vector<sandbox::fake_deploy> deploys;
    f.jenkins.on_deploy([&](const sandbox::fake_deploy& d) { deploys.push_back(d); });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        co_await f.fetch_crumb();
        int number = co_await f.start_build("VERSION=" + s.version);
        auto build = co_await f.finished(number);
        CHECK(build["result"] == "FAILURE");
        auto base = job_path + std::to_string(number) + "/";
        auto run = co_await f.get_json(base + "wfapi/describe");
        CHECK(run["status"] == "FAILED");
        const json* failed = nullptr;
        for (const auto& st : run["stages"]) {
            if (st["name"] == s.stage) {
                failed = &st;
            }
        }
        REQUIRE(failed);
        CHECK((*failed)["status"] == "FAILED");
        CHECK(contains((*failed)["error"]["message"].get<std::string>(),
                       "script returned exit code"));
        CHECK(run["stages"].back()["name"] == "Deploy");
        CHECK(run["stages"].back()["status"] == "NOT_EXECUTED");
        auto log = co_await f.get_json(base + "execution/node/" +
                                       (*failed)["id"].get<std::string>() + "/wfapi/log");
        // Stage View returns the log as HTML.
        auto expected = s.log_line;
        for (std::size_t p = 0; (p = expected.find('&', p)) != std::string::npos; p += 5) {
            expected.replace(p, 1, "&amp;");
        }
        CHECK(contains(log["text"].get<std::string>(), expected));
        auto console = co_await f.get(base + "consoleText");
        CHECK(contains(console.body, s.log_line));
        CHECK(contains(console.body, "Finished: FAILURE"));
    }());
    CHECK(deploys.empty());
}

TEST_CASE("fake_jenkins: input steps pause until proceed or abort", "[loopback]") {
    bool proceed = GENERATE(true, false);
    fake_jenkins_fixture f;
    auto job = payments_job();
    sandbox::fake_input input;
    input.id = "approve";  // Jenkins capitalizes it
    input.message = "Deploy to prod?";
    input.ok = "Ship it";
    input.only_if = "ENVIRONMENT=prod";
    job.stages[3].input = input;
    f.jenkins.add_job(job);
    std::vector<sandbox::fake_deploy> deploys;
    f.jenkins.on_deploy([&](const sandbox::fake_deploy& d) { deploys.push_back(d); });
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        co_await f.fetch_crumb();
        int number = co_await f.start_build("ENVIRONMENT=prod&VERSION=3.0.0");
        auto base = job_path + std::to_string(number) + "/";
        auto paused = co_await f.poll(base + "wfapi/describe", [](const json& j) {
            return j["status"] == "PAUSED_PENDING_INPUT";
        });
        CHECK(paused["stages"].back()["name"] == "Deploy");
        CHECK(paused["stages"].back()["status"] == "PAUSED_PENDING_INPUT");
        auto pending = co_await f.get_json(base + "wfapi/pendingInputActions");
        REQUIRE(pending.size() == 1);
        CHECK(pending[0]["id"] == "Approve");
        CHECK(pending[0]["message"] == "Deploy to prod?");
        CHECK(pending[0]["proceedText"] == "Ship it");
        CHECK(pending[0]["abortUrl"] == "/" + base + "input/Approve/abort");
        auto waiting = co_await f.get_json(base + "api/json");
        CHECK(waiting["building"] == true);
        CHECK(deploys.empty());

        auto crumb = f.crumb;
        f.crumb.clear();
        auto no_crumb = co_await f.post(base + "input/Approve/proceedEmpty");
        CHECK(no_crumb.status == 403);
        f.crumb = crumb;
        auto unknown = co_await f.post(base + "input/Other/proceedEmpty");
        CHECK(unknown.status == 404);

        auto answer =
            co_await f.post(base + "input/Approve/" + (proceed ? "proceedEmpty" : "abort"));
        CHECK(answer.status == 200);
        auto build = co_await f.finished(number);
        auto run = co_await f.get_json(base + "wfapi/describe");
        auto none = co_await f.get_json(base + "wfapi/pendingInputActions");
        CHECK(none.empty());
        auto console = co_await f.get(base + "consoleText");
        if (proceed) {
            CHECK(build["result"] == "SUCCESS");
            CHECK(run["stages"].back()["status"] == "SUCCESS");
            CHECK(run["pauseDurationMillis"].get<long>() > 0);
            CHECK(contains(console.body, "Approved by tugboat"));
        } else {
            CHECK(build["result"] == "ABORTED");
            CHECK(run["status"] == "ABORTED");
            CHECK(run["stages"].back()["status"] == "ABORTED");
            CHECK(contains(console.body, "Rejected by tugboat"));
        }
        // A dev build of the same job does not stop for the input.
        int dev = co_await f.start_build("ENVIRONMENT=dev&VERSION=3.0.0");
        auto dev_build = co_await f.finished(dev);
        CHECK(dev_build["result"] == "SUCCESS");
    }());
    CHECK(deploys.size() == (proceed ? 2U : 1U));
}

TEST_CASE("fake_jenkins: stop aborts a running build", "[loopback]") {
    fake_jenkins_fixture f;
    auto job = payments_job();
    job.stages[0].duration = std::chrono::minutes{10};  // 6 s at speed 100: only stop ends it
    f.jenkins.add_job(job);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        co_await f.fetch_crumb();
        int number = co_await f.start_build("VERSION=4.0.0");
        auto base = job_path + std::to_string(number) + "/";
        co_await f.poll(base + "wfapi/describe",
                        [](const json& j) { return !j["stages"].empty(); });
        auto stopped = co_await f.post(base + "stop");
        CHECK(stopped.status == 302);
        auto build = co_await f.finished(number);
        CHECK(build["result"] == "ABORTED");
        auto run = co_await f.get_json(base + "wfapi/describe");
        CHECK(stage_statuses(run) == std::vector<std::string>{"Build:ABORTED", "Test:NOT_EXECUTED",
                                                              "Push:NOT_EXECUTED",
                                                              "Deploy:NOT_EXECUTED"});
        auto console = co_await f.get(base + "consoleText");
        CHECK(contains(console.body, "Aborted by tugboat"));
        CHECK(contains(console.body, "Finished: ABORTED"));
        auto job_json = co_await f.get_json(job_path + "api/json?tree=color");
        CHECK(job_json["color"] == "aborted");
    }());
}

TEST_CASE("fake_jenkins: injected 500s, slow answers and downtime", "[loopback]") {
    fake_jenkins_fixture f;
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        f.jenkins.fail_next(2, 500, "/job/");
        auto root = co_await f.get("api/json");  // other paths are not affected
        CHECK(root.status == 200);
        auto once = f.request(http_method::get, job_path + "api/json");
        once.max_attempts = 1;
        auto first = co_await f.client.send(once);
        REQUIRE(first);
        CHECK(first->status == 500);
        CHECK(contains(first->body, "Server Error"));
        // The client retries the GET past the second 500.
        auto retried = co_await f.get(job_path + "api/json");
        CHECK(retried.status == 200);

        f.jenkins.set_response_delay(300ms, "/api/json");
        auto slow = f.request(http_method::get, "api/json");
        slow.timeout = 100ms;
        auto timed_out = co_await f.client.send(slow);
        REQUIRE_FALSE(timed_out);
        CHECK(timed_out.error().code == core::errc::timeout);
        f.jenkins.set_response_delay(0ms, "/api/json");

        f.jenkins.stop();
        f.client.close_idle();
        auto down_request = f.request(http_method::get, "api/json");
        down_request.max_attempts = 1;
        auto down = co_await f.client.send(down_request);
        REQUIRE_FALSE(down);
        CHECK(down.error().code == core::errc::unavailable);
        REQUIRE(f.jenkins.restart());
        auto back = co_await f.get("api/json");
        CHECK(back.status == 200);
    }());
    auto seen = f.jenkins.requests();
    CHECK(seen.size() >= 6);
    CHECK(seen.back().path() == "/api/json");
}

TEST_CASE("fake_jenkins: jobs live in folders", "[loopback]") {
    fake_jenkins_fixture f;
    sandbox::fake_job nested;
    nested.full_name = "teams/search/reindex";
    f.jenkins.add_job(nested);
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto root = co_await f.get_json("api/json" + tree("jobs[name,url]"));
        CHECK(root.size() == 2);  // _class and jobs
        REQUIRE(root["jobs"].size() == 2);
        CHECK(root["jobs"][0]["_class"] == "com.cloudbees.hudson.plugins.folder.Folder");
        CHECK(root["jobs"][0]["name"] == "deploy");

        auto folder = co_await f.get_json("job/deploy/api/json");
        CHECK(folder["fullName"] == "deploy");
        REQUIRE(folder["jobs"].size() == 1);
        CHECK(folder["jobs"][0]["name"] == "payments-api");
        CHECK(folder["jobs"][0]["url"] == f.jenkins.base_url() + job_path);

        auto job = co_await f.get_json(job_path + "api/json");
        CHECK(job["_class"] == "org.jenkinsci.plugins.workflow.job.WorkflowJob");
        CHECK(job["fullName"] == "deploy/payments-api");
        CHECK(job["nextBuildNumber"] == 1);
        CHECK(job["property"][0]["parameterDefinitions"][1]["choices"] ==
              json::array({"dev", "beta", "prod"}));

        // tree= keeps only what was asked for.
        auto shaped = co_await f.get_json(job_path + "api/json" +
                                          tree("name,property[parameterDefinitions[name]]"));
        CHECK_FALSE(shaped.contains("builds"));
        CHECK(shaped["property"][0]["parameterDefinitions"][0] ==
              json{{"_class", "hudson.model.StringParameterDefinition"}, {"name", "SERVICE"}});

        auto deep = co_await f.get_json("job/teams/job/search/job/reindex/api/json");
        CHECK(deep["fullName"] == "teams/search/reindex");
        auto missing = co_await f.get("job/deploy/job/nope/api/json");
        CHECK(missing.status == 404);

        // A job without parameters is triggered with /build; buildWithParameters fails.
        co_await f.fetch_crumb();
        auto wrong = co_await f.post("job/teams/job/search/job/reindex/buildWithParameters");
        CHECK(wrong.status == 500);
        auto plain = co_await f.post("job/teams/job/search/job/reindex/build");
        CHECK(plain.status == 201);
    }());
}

TEST_CASE("fake_jenkins: seeded history gives estimatedDuration", "[loopback]") {
    auto options = fast_options();
    options.speed = 1;
    fake_jenkins_fixture f(options);
    REQUIRE(f.jenkins.add_past_build(
        "deploy/payments-api", {sandbox::fake_result::success, 60s, {{"VERSION", "1.0.0"}}, 0ms}));
    REQUIRE(f.jenkins.add_past_build(
        "deploy/payments-api", {sandbox::fake_result::failure, 10s, {{"VERSION", "1.0.1"}}, 0ms}));
    REQUIRE(f.jenkins.add_past_build(
        "deploy/payments-api", {sandbox::fake_result::success, 90s, {{"VERSION", "1.0.2"}}, 0ms}));
    CHECK_FALSE(f.jenkins.add_past_build("deploy/nope", {}));
    run_test(f.ioc, [&]() -> asio::awaitable<void> {
        auto last = co_await f.get_json(job_path + "lastBuild/api/json");
        CHECK(last["number"] == 3);
        CHECK(last["result"] == "SUCCESS");
        CHECK(last["duration"] == 90000);
        // Jenkins averages recent successful builds, padding with failed ones.
        CHECK(last["estimatedDuration"] == (60000 + 90000 + 10000) / 3);
        auto failed = co_await f.get_json(job_path + "lastFailedBuild/api/json?tree=number");
        CHECK(failed["number"] == 2);
        CHECK_FALSE(failed.contains("timestamp"));  // not asked for
        auto newest = co_await f.get_json(job_path + "api/json" + tree("builds[number]{0,2}"));
        CHECK(newest["builds"] ==
              json::array(
                  {{{"_class", "org.jenkinsci.plugins.workflow.job.WorkflowRun"}, {"number", 3}},
                   {{"_class", "org.jenkinsci.plugins.workflow.job.WorkflowRun"}, {"number", 2}}}));
        auto first = co_await f.get_json(job_path + "1/api/json");
        CHECK(first["timestamp"].get<long long>() + 60000 < last["timestamp"].get<long long>());
        auto run = co_await f.get_json(job_path + "2/wfapi/describe");
        CHECK(run["status"] == "FAILED");
        CHECK(run["stages"].back()["status"] == "FAILED");
    }());
    CHECK(f.jenkins.build_count("deploy/payments-api") == 0);
    CHECK(f.jenkins.builds("deploy/payments-api").size() == 3);
}
