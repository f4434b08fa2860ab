// kill -9 in the middle of a deploy: the real `tugboat run` process is killed while its build
// is queued in Jenkins, again while the Kubernetes rollout runs, and started again each time.
// The deploy must end in the thread it began in, with one Jenkins build, one root message and
// one "live" reply. (deploy_test.cpp restarts the bot gracefully; this one gives it no chance
// to save anything.)

#include "bench/process_probe.hpp"
#include "sandbox/fake_jenkins.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/fake_slack.hpp"
#include "sandbox/http_server.hpp"
#include "sandbox/kubeconfig_writer.hpp"
#include "sandbox/test_ca.hpp"
#include "storage/database.hpp"
#include "storage/grant_repository.hpp"
#include "tests/support/run_test.hpp"

#include <fmt/format.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace asio = boost::asio;
namespace sb = tugboat::sandbox;
namespace test = tugboat::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* channel = "C0PAYMENTS";
constexpr const char* job = "deploy/payments-api";

std::string image(std::string_view tag) {
    return fmt::format("registry.test/payments-api:{}", tag);
}

/// The fakes in this process; the bot in a child process that can be killed.
struct world {
    asio::io_context ioc;
    std::filesystem::path dir;
    std::optional<sb::fake_slack> slack;
    std::optional<sb::fake_jenkins> jenkins;
    std::unique_ptr<sb::fake_kubernetes> cluster;
    std::map<std::string, std::string> env;
    pid_t pid = -1;
    int starts = 0;

    world() {
        std::random_device rd;
        dir = std::filesystem::temp_directory_path() / fmt::format("tugboat-kill-test-{}", rd());
        std::filesystem::create_directories(dir);
        const auto& pki = sb::default_test_pki();
        REQUIRE(sb::write_test_pki(pki, dir));
        auto tls = sb::make_server_tls_context(pki.server.cert_pem, pki.server.key_pem);
        REQUIRE(tls);

        auto so = sb::sandbox_slack_workspace();
        so.tls = *tls;
        auto s = sb::fake_slack::start(ioc.get_executor(), so);
        INFO((s ? "" : s.error().message));
        REQUIRE(s);
        slack.emplace(std::move(*s));

        sb::fake_jenkins_options jo;
        jo.cert_pem = pki.server.cert_pem;
        jo.key_pem = pki.server.key_pem;
        auto j = sb::fake_jenkins::start(ioc.get_executor(), jo);
        REQUIRE(j);
        jenkins.emplace(std::move(*j));
        sb::fake_job fj;
        fj.full_name = job;
        fj.parameters = {{"SERVICE"}, {"ENVIRONMENT"}, {"VERSION"}, {"DEPLOY_ID"}};
        // Long enough to kill the bot while the build is queued and again while it runs.
        fj.stages = {{"Build", 3s, {}, {}}, {"Deploy", 1s, {}, {}}};
        fj.queue_delay = 2s;
        jenkins->add_job(fj);

        sb::fake_kubernetes_options ko;
        ko.name = "main";
        auto k = sb::fake_kubernetes::start(ioc.get_executor(), ko);
        REQUIRE(k);
        cluster = std::move(*k);
        cluster->add_namespace("beta");
        sb::fake_deployment d;
        d.ns = "beta";
        d.name = "payments-api";
        d.image = image("1.0.0");
        d.previous_images = {image("0.9.0")};
        d.replicas = 1;
        REQUIRE(cluster->add_deployment(std::move(d)));
        jenkins->on_deploy([this](const sb::fake_deploy& fd) {
            (void)cluster->set_image("beta", "payments-api", image(fd.parameters.at("VERSION")));
        });

        std::ofstream(dir / "kubeconfig")
            << sb::make_kubeconfig({cluster->kubeconfig_entry("main")});
        std::ofstream(dir / "tugboat.yaml") << R"(version: 1
bot:
  database: ${KILL_DIR}/tugboat.db
  log_level: debug
slack:
  mode: socket
  bot_token: {env: SLACK_BOT_TOKEN}
  app_token: {env: SLACK_APP_TOKEN}
  ca_file: ${KILL_DIR}/ca.pem
jenkins:
  ci:
    url: ${JENKINS_URL}
    user: tugboat
    api_token: {env: JENKINS_API_TOKEN}
    ca_file: ${KILL_DIR}/ca.pem
clusters:
  main:
    kubeconfig: ${KILL_DIR}/kubeconfig
    context: main
channels:
  payments: C0PAYMENTS
  approvals: C0APPROVALS
access:
  approvals_channel: approvals
  admins: [S0SRE]
  roles:
    view:
      role: view
      approvals_required: 0
      reason_required: false
environments:
  beta:
    cluster: main
    namespace: beta
services:
  payments-api:
    team: payments
    owners: [U0ALICE]
    channel: payments
    jenkins: ci
    job: deploy/payments-api
    parameters:
      SERVICE: "{service}"
      ENVIRONMENT: "{env}"
      VERSION: "{version}"
      DEPLOY_ID: "{deploy_id}"
    version_pattern: semver
    workloads:
      beta: payments-api
)";
        env = {{"KILL_DIR", dir.string()},
               {"SLACK_API_URL", slack->api_url()},
               {"SLACK_BOT_TOKEN", slack->options().bot_token},
               {"SLACK_APP_TOKEN", slack->options().app_token},
               {"JENKINS_URL", jenkins->base_url()},
               {"JENKINS_API_TOKEN", jo.api_token}};
    }

    ~world() {
        kill_bot();
        slack->stop();
        jenkins->stop();
        cluster->stop();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    /// Waits (running the fakes) until `done` or `timeout`.
    bool wait(std::function<bool()> done, std::chrono::milliseconds timeout) {
        bool ok = false;
        test::run_test(
            ioc,
            [&]() -> asio::awaitable<void> {
                asio::steady_timer t(ioc);
                auto deadline = std::chrono::steady_clock::now() + timeout;
                while (!(ok = done()) && std::chrono::steady_clock::now() < deadline) {
                    t.expires_after(20ms);
                    co_await t.async_wait(asio::use_awaitable);
                }
            }(),
            timeout + 5s);
        return ok;
    }

    void start_bot() {
        std::string error;
        auto log = dir / fmt::format("tugboat-{}.log", ++starts);
        pid = bench::spawn_process({TUGBOAT_BINARY, "run", (dir / "tugboat.yaml").string()}, env,
                                   log, error);
        REQUIRE(pid > 0);
        INFO(bench::read_text(log));
        REQUIRE(wait([&] { return slack->open_connections() > 0; }, 20s));
    }

    void kill_bot() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            pid = -1;
            // The fake notices the dropped sockets; then a new connection means the new process.
            wait([&] { return slack->open_connections() == 0; }, 5s);
        }
    }

    std::vector<sb::slack_message> roots() const {
        std::vector<sb::slack_message> out;
        for (const auto& m : slack->messages(channel)) {
            if (m.from_bot() && !m.is_reply()) {
                out.push_back(m);
            }
        }
        return out;
    }

    std::size_t replies_containing(const std::string& root_ts, std::string_view text) const {
        std::size_t n = 0;
        for (const auto& m : slack->thread(channel, root_ts)) {
            n += m.ts != root_ts && m.text.find(text) != std::string::npos ? 1 : 0;
        }
        return n;
    }

    bool runs(std::string_view tag) const {
        auto d = cluster->object_json("deployments", "beta", "payments-api");
        return d && d->find(image(tag)) != std::string::npos;
    }
};

}  // namespace

TEST_CASE(
    "deploy: kill -9 while queued in Jenkins and again mid-rollout resumes in the same "
    "thread with one build",
    "[deploy][loopback][process][slow]") {
    world w;
    w.start_bot();
    REQUIRE(
        w.slack->deliver_slash_command("U0ALICE", channel, "/deploy", "payments-api beta 1.4.2"));

    // 1. Killed while the build waits in Jenkins' queue (triggered, no build number yet).
    REQUIRE(w.wait([&] { return w.jenkins->trigger_count(job) > 0; }, 20s));
    REQUIRE(w.jenkins->build_count(job) == 0);
    w.kill_bot();
    REQUIRE(w.roots().size() == 1);
    const std::string root_ts = w.roots().front().ts;

    // 2. Started again; killed once the new image is rolling out.
    w.start_bot();
    REQUIRE(w.wait([&] { return w.runs("1.4.2"); }, 30s));
    w.kill_bot();

    // 3. Started again: the deploy ends where it began. The root is edited before the "is live"
    // reply is posted, so wait for both.
    w.start_bot();
    INFO(bench::read_text(w.dir / "tugboat-3.log"));
    REQUIRE(w.wait(
        [&] {
            auto r = w.roots();
            return !r.empty() && r.front().text.starts_with("✅") &&
                   w.replies_containing(r.front().ts, "is live") > 0;
        },
        60s));
    CHECK(w.jenkins->trigger_count(job) == 1);
    CHECK(w.jenkins->build_count(job) == 1);
    CHECK(w.roots().size() == 1);
    CHECK(w.roots().front().ts == root_ts);
    CHECK(w.replies_containing(root_ts, "is live") == 1);
    CHECK(w.runs("1.4.2"));
}

TEST_CASE("access: kill -9 during a grant, and down past its end, still revokes it",
          "[access][loopback][process][slow]") {
    world w;
    w.start_bot();
    REQUIRE(w.slack->deliver_slash_command("U0ALICE", channel, "/access", "request view beta 20s"));
    auto has_binding = [&] {
        return w.cluster->object_json("rolebindings", "beta", "tugboat-g-000001").has_value();
    };
    REQUIRE(w.wait(has_binding, 20s));
    // Killed while the grant runs, and kept down past its end: nothing sleeps in a process,
    // the restarted bot finds the expiry in the database.
    w.kill_bot();
    REQUIRE(w.wait([] { return false; }, 22s) == false);
    CHECK(has_binding());
    w.start_bot();
    INFO(bench::read_text(w.dir / "tugboat-2.log"));
    REQUIRE(w.wait([&] { return !has_binding(); }, 30s));
    tugboat::core::string_sink sink;
    tugboat::core::logger log(sink, tugboat::core::log_level::off);
    auto db = tugboat::storage::database::open((w.dir / "tugboat.db").string(), log);
    REQUIRE(db);
    tugboat::storage::grant_repository grants(*db);
    auto g = grants.get(1);
    REQUIRE(g);
    REQUIRE(g->has_value());
    CHECK((*g)->state == tugboat::storage::grant_state::expired);
}
