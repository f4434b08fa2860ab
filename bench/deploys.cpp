// bench_deploys: many deploys in flight at once in one bot process (issue 4).
//
// Starts the fake Slack (wss://, rate limits enforced as Slack does), a fake Jenkins and a fake
// Kubernetes cluster in this process, writes a config with S services × E environments (one
// lock each), runs `tugboat run CONFIG` as a child process, delivers one `/deploy` per
// service+environment, and follows every deploy to its end (✅/❌ in its root message). The child
// is measured from outside: CPU (per-thread schedstat), RSS (VmRSS, VmHWM); Slack calls come from
// the fake's transcript. It prints numbers next to the issue's targets and never fails on them;
// see bench/deploys.md.

#include "sandbox/fake_jenkins.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/fake_slack.hpp"
#include "sandbox/http_server.hpp"
#include "sandbox/kubeconfig_writer.hpp"
#include "sandbox/test_ca.hpp"

#include <fmt/format.h>
#include <sqlite3.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

#include "bench/process_probe.hpp"

namespace {

using bench::cpu_ns;
using bench::read_text;
using bench::status_kib;

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace sb = tugboat::sandbox;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using nlohmann::json;

// ---- settings ----

struct settings {
    fs::path tugboat;  ///< default: ../bot/tugboat next to this program
    int deploys = 1000;
    int services = 100;      ///< environments = ceil(deploys / services)
    double pipeline_s = 90;  ///< real seconds of the Jenkins pipeline (five stages)
    int replicas =
        1;  ///< per Deployment; 2 stalls the fake's rollout at 1 of 2 updated (see deploys.md)
    std::chrono::seconds timeout{std::chrono::minutes{20}};  ///< longest wait for every end
    bool enforce = true;  ///< the fake answers calls over Slack's limits with 429
    bool keep = false;
};

constexpr const char* usage_text = R"(Usage: bench_deploys [options]

Runs `tugboat run` against fake Slack, Jenkins and Kubernetes with many deploys in flight at
once and prints Slack calls per deploy, CPU and RSS next to issue 4's targets
(see bench/deploys.md).

  --tugboat PATH     the tugboat binary (default: ../bot/tugboat next to bench_deploys)
  --deploys N        deploys, one per service+environment (default 1000)
  --services N       services; environments = ceil(deploys / services) (default 100)
  --pipeline S       real seconds of each Jenkins pipeline (default 90)
  --replicas N       pods per Deployment (default 1)
  --timeout S        stop waiting for the deploys' ends after S seconds (default 1200)
  --no-enforce       the fake only counts calls over Slack's limits, answering them anyway
  --keep             keep the scratch folder (config, the bot's log, database)
)";

std::optional<settings> parse_args(int argc, char** argv) {
    settings s;
    s.tugboat = fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "bot" / "tugboat";
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= args.size()) {
                std::cerr << "bench_deploys: " << a << " needs a value\n";
                return std::nullopt;
            }
            return args[++i];
        };
        auto number = [&]() -> std::optional<double> {
            auto v = value();
            if (!v) {
                return std::nullopt;
            }
            try {
                double d = std::stod(*v);
                if (d > 0) {
                    return d;
                }
            } catch (const std::exception&) {
            }
            std::cerr << "bench_deploys: " << a << " wants a positive number, got `" << *v << "`\n";
            return std::nullopt;
        };
        if (a == "--help" || a == "-h") {
            std::cout << usage_text;
            std::exit(0);
        } else if (a == "--keep") {
            s.keep = true;
        } else if (a == "--no-enforce") {
            s.enforce = false;
        } else if (a == "--tugboat") {
            auto v = value();
            if (!v)
                return std::nullopt;
            s.tugboat = *v;
        } else if (a == "--deploys" || a == "--services" || a == "--pipeline" ||
                   a == "--replicas" || a == "--timeout") {
            auto n = number();
            if (!n)
                return std::nullopt;
            if (a == "--deploys")
                s.deploys = static_cast<int>(*n);
            else if (a == "--services")
                s.services = static_cast<int>(*n);
            else if (a == "--pipeline")
                s.pipeline_s = *n;
            else if (a == "--replicas")
                s.replicas = static_cast<int>(*n);
            else
                s.timeout = std::chrono::seconds{static_cast<long>(*n)};
        } else {
            std::cerr << "bench_deploys: unknown option `" << a << "`\n" << usage_text;
            return std::nullopt;
        }
    }
    s.services = std::min(s.services, s.deploys);
    return s;
}

// ---- the child, seen from outside ----

std::size_t open_fds(pid_t pid) {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
        ++n;
    }
    return n;
}

/// Starts `argv` (see bench::spawn_process); -1 after printing why not.
pid_t spawn(const std::vector<std::string>& argv,
            const std::map<std::string, std::string>& extra_env, const fs::path& log) {
    std::string error;
    pid_t pid = bench::spawn_process(argv, extra_env, log, error);
    if (pid < 0) {
        std::cerr << "bench_deploys: " << error << "\n";
    }
    return pid;
}

bool alive(pid_t pid) {
    int status = 0;
    return pid > 0 && waitpid(pid, &status, WNOHANG) == 0;
}

asio::awaitable<void> sleep_for(steady::duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(asio::use_awaitable);
}

// ---- the fleet ----

std::string service_name(int i) {
    return fmt::format("svc-{:03d}", i);
}
std::string env_name(int i) {
    return fmt::format("env-{:02d}", i);
}
std::string channel_id(int i) {
    return fmt::format("C0SVC{:03d}", i);
}

/// Service i+env j pairs, in delivery order: every service's first environment, then every
/// service's second, … so the deploys of one channel are spread over the delivery.
std::vector<std::pair<int, int>> fleet(const settings& s) {
    std::vector<std::pair<int, int>> out;
    for (int j = 0; static_cast<int>(out.size()) < s.deploys; ++j) {
        for (int i = 0; i < s.services && static_cast<int>(out.size()) < s.deploys; ++i) {
            out.emplace_back(i, j);
        }
    }
    return out;
}

int environments(const settings& s) {
    return (s.deploys + s.services - 1) / s.services;
}

/// The bot's config: a production-shaped file (log level info, default pacing and timeouts),
/// every service in its own channel with one workload per environment, one Jenkins, one cluster.
std::string make_config(const settings& s) {
    std::string y = R"(# Generated by bench_deploys.
version: 1
bot:
  database: ${BENCH_DIR}/tugboat.db
  log_level: info
  log_format: kv
slack:
  mode: socket
  bot_token: {env: SLACK_BOT_TOKEN}
  app_token: {env: SLACK_APP_TOKEN}
  ca_file: ${BENCH_DIR}/ca.pem
jenkins:
  ci:
    url: ${JENKINS_URL}
    user: tugboat
    api_token: {env: JENKINS_API_TOKEN}
    ca_file: ${BENCH_DIR}/ca.pem
    timeout: 10s
clusters:
  main:
    kubeconfig: ${BENCH_DIR}/kubeconfig
    context: main
channels:
)";
    for (int i = 0; i < s.services; ++i) {
        y += fmt::format("  {}: {}\n", service_name(i), channel_id(i));
    }
    y += "environments:\n";
    for (int j = 0; j < environments(s); ++j) {
        y += fmt::format("  {0}:\n    cluster: main\n    namespace: {0}\n", env_name(j));
    }
    y += "services:\n";
    for (int i = 0; i < s.services; ++i) {
        y += fmt::format(R"(  {0}:
    team: bench
    owners: [U0ALICE]
    channel: {0}
    jenkins: ci
    job: deploy/{0}
    parameters:
      SERVICE: "{{service}}"
      ENVIRONMENT: "{{env}}"
      VERSION: "{{version}}"
      DEPLOY_ID: "{{deploy_id}}"
    version_pattern: semver
    workloads:
)",
                         service_name(i));
        for (int j = 0; j < environments(s); ++j) {
            y += fmt::format("      {}: {}\n", env_name(j), service_name(i));
        }
    }
    return y;
}

/// Checkout, Build, Test, Push, Deploy sharing `pipeline_s` real seconds (speed 1).
std::vector<sb::fake_stage> pipeline(double pipeline_s) {
    auto ms = [&](double share) {
        return std::chrono::milliseconds{static_cast<long>(pipeline_s * share * 1000)};
    };
    return {{"Checkout", ms(0.05), {}, {}},
            {"Build", ms(0.30), {}, {}},
            {"Test", ms(0.35), {}, {}},
            {"Push", ms(0.10), {}, {}},
            {"Deploy", ms(0.20), {}, {}}};
}

std::string image_of(const std::string& service, const std::string& tag) {
    return fmt::format("registry.bench.local/{}:{}", service, tag);
}

// ---- measurement ----

struct sample {
    double t = 0;  ///< seconds since the first delivery
    std::uint64_t cpu = 0;
    std::uint64_t rss_kib = 0;
    std::size_t rooted = 0;                         ///< root messages posted
    std::size_t finished = 0;                       ///< of which ended (✅ ❌ ⏹️)
    std::size_t calls = 0;                          ///< Web API calls so far
    std::size_t workflows = 0, workflows_done = 0;  ///< deploys in the bot's database / ended
};

/// Deploys in the bot's database, and how many of them ended: the workflows' own view, which
/// Slack shows later when chat.update's budget (~50 edits a minute) is the bottleneck.
std::pair<std::size_t, std::size_t> workflow_counts(const std::filesystem::path& db_path) {
    sqlite3* db = nullptr;
    std::pair<std::size_t, std::size_t> out{0, 0};
    if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 200);
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db,
                               "SELECT count(*), count(*) FILTER (WHERE outcome != 'running') "
                               "FROM deploys",
                               -1, &st, nullptr) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            out = {static_cast<std::size_t>(sqlite3_column_int64(st, 0)),
                   static_cast<std::size_t>(sqlite3_column_int64(st, 1))};
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
}

struct deploy_seen {
    std::string channel, ts;
    std::string outcome;  ///< "succeeded", "failed", "cancelled", "" = running
    std::string text;     ///< the root's text
};

/// Root messages the bot posted (top-level, in the services' channels), keyed by channel+ts.
std::vector<deploy_seen> roots(const sb::fake_slack& fake, int services) {
    std::vector<deploy_seen> out;
    for (int i = 0; i < services; ++i) {
        for (const auto& m : fake.messages(channel_id(i))) {
            if (!m.from_bot() || m.is_reply()) {
                continue;
            }
            deploy_seen d{m.channel, m.ts, "", m.text};
            if (m.text.starts_with("✅")) {
                d.outcome = "succeeded";
            } else if (m.text.starts_with("❌")) {
                d.outcome = "failed";
            } else if (m.text.starts_with("⏹")) {
                d.outcome = "cancelled";
            }
            out.push_back(std::move(d));
        }
    }
    return out;
}

struct run_result {
    bool ok = false;
    std::string error;
    double ready_s = 0;
    std::uint64_t idle_rss_kib = 0, peak_rss_kib = 0, end_rss_kib = 0;
    std::size_t peak_fds = 0;
    double deliver_s = 0;  ///< to deliver (and have acked) every slash command
    double first_root_s = 0, last_root_s = 0;
    double all_done_s = -1;        ///< -1 = not within the timeout
    double workflows_done_s = -1;  ///< every deploy ended in the database; -1 = not seen
    double elapsed_s = 0;          ///< first delivery to the end of observation
    std::size_t peak_in_flight = 0;
    double window_start = 0, window_end = 0;  ///< in-flight window (≥ 90 % of the peak)
    double window_cpu = 0;                    ///< fraction of one core over that window
    double total_cpu_s = 0;                   ///< child CPU from first delivery to the end
    std::size_t succeeded = 0, failed = 0, cancelled = 0, running = 0, rootless = 0;
    std::map<std::string, std::size_t> calls_by_method;     ///< every call
    std::map<std::string, std::size_t> calls_of_succeeded;  ///< attributed to ✅ roots
    std::size_t http_429 = 0;
    std::map<std::string, std::size_t> violations;  ///< by method
    std::size_t answers = 0;                        ///< response_url posts
    std::map<std::string, std::size_t> answer_kinds;
    std::size_t jenkins_requests = 0, kube_requests = 0;
    std::vector<std::string> failures;  ///< a few ❌ root texts
    std::vector<sample> samples;
};

std::string first_words(std::string text, std::size_t n) {
    for (auto& c : text) {
        if (c == '\n')
            c = ' ';
    }
    if (text.size() > n) {
        text = text.substr(0, n) + "…";
    }
    return text;
}

asio::awaitable<run_result> run(const settings& cfg, const fs::path& dir,
                                std::shared_ptr<asio::ssl::context> tls) {
    run_result res;
    auto ex = co_await asio::this_coro::executor;
    const auto& pki = sb::default_test_pki();

    // Slack: the sandbox's people, one channel per service, Slack's limits enforced.
    auto so = sb::sandbox_slack_workspace();
    so.tls = tls;
    so.rate_limits.enforce = cfg.enforce;
    for (int i = 0; i < cfg.services; ++i) {
        so.channels.push_back({channel_id(i), service_name(i), {}, true, false});
    }
    auto slack_started = sb::fake_slack::start(ex, so);
    if (!slack_started) {
        res.error = "fake Slack: " + slack_started.error().message;
        co_return res;
    }
    sb::fake_slack fake = std::move(*slack_started);

    // Jenkins: a job per service with the configured pipeline; its Deploy stage sets the image
    // in the cluster (Jenkins applies, Tugboat follows), as in the sandbox.
    sb::fake_jenkins_options jo;
    jo.cert_pem = pki.server.cert_pem;
    jo.key_pem = pki.server.key_pem;
    auto jenkins_started = sb::fake_jenkins::start(ex, jo);
    if (!jenkins_started) {
        res.error = "fake Jenkins: " + jenkins_started.error().message;
        co_return res;
    }
    sb::fake_jenkins jenkins = std::move(*jenkins_started);

    sb::fake_kubernetes_options ko;
    ko.name = "main";
    // A real API server keeps minutes of watch history; the default 2,000 events would be
    // outrun by 1,000 rollouts and turn into 410 Gone storms that are the fake's, not the bot's.
    ko.watch_history = 200000;
    auto kube_started = sb::fake_kubernetes::start(ex, ko);
    if (!kube_started) {
        res.error = "fake Kubernetes: " + kube_started.error().message;
        co_return res;
    }
    std::unique_ptr<sb::fake_kubernetes> kube = std::move(*kube_started);
    for (int i = 0; i < cfg.services; ++i) {
        sb::fake_job job;
        job.full_name = "deploy/" + service_name(i);
        job.parameters = {{"SERVICE"}, {"ENVIRONMENT"}, {"VERSION"}, {"DEPLOY_ID"}};
        job.stages = pipeline(cfg.pipeline_s);
        jenkins.add_job(job);
    }
    for (int j = 0; j < environments(cfg); ++j) {
        kube->add_namespace(env_name(j));
    }
    for (auto [i, j] : fleet(cfg)) {
        sb::fake_deployment d;
        d.ns = env_name(j);
        d.name = service_name(i);
        d.image = image_of(d.name, "1.0.0");
        d.previous_images = {image_of(d.name, "0.9.0")};
        d.replicas = cfg.replicas;
        if (auto r = kube->add_deployment(std::move(d)); !r) {
            res.error = "seeding the cluster: " + r.error().message;
            co_return res;
        }
    }
    sb::fake_kubernetes* cluster = kube.get();
    jenkins.on_deploy([cluster](const sb::fake_deploy& d) {
        auto p = [&](const char* k) {
            auto it = d.parameters.find(k);
            return it == d.parameters.end() ? std::string{} : it->second;
        };
        (void)cluster->set_image(p("ENVIRONMENT"), p("SERVICE"),
                                 image_of(p("SERVICE"), p("VERSION")));
    });

    {
        std::ofstream kc(dir / "kubeconfig");
        kc << sb::make_kubeconfig({kube->kubeconfig_entry("main")});
        std::ofstream(dir / "deploys.yaml") << make_config(cfg);
    }
    std::map<std::string, std::string> vars = {
        {"BENCH_DIR", dir.string()},
        {"SLACK_API_URL", fake.api_url()},
        {"SLACK_BOT_TOKEN", fake.options().bot_token},
        {"SLACK_APP_TOKEN", fake.options().app_token},
        {"JENKINS_URL", jenkins.base_url()},
        {"JENKINS_API_TOKEN", jo.api_token},
    };
    ::sync();
    const auto spawned_at = steady::now();
    std::vector<std::string> argv = {cfg.tugboat.string(), "run", (dir / "deploys.yaml").string()};
    pid_t pid = spawn(argv, vars, dir / "tugboat.log");
    if (pid <= 0) {
        res.error = "could not start " + cfg.tugboat.string();
        co_return res;
    }
    auto fail = [&](std::string why) {
        res.error = why + " (see " + (dir / "tugboat.log").string() + "; pass --keep to keep it)";
        if (alive(pid)) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    };

    bool ready = false;
    std::function<bool()> connected = [&] { return fake.open_connections() > 0; };
    while (!ready && alive(pid) && steady::now() - spawned_at < 30s) {
        ready = co_await fake.wait_until(connected, 50ms);
    }
    if (!ready) {
        fail(alive(pid) ? "no Socket Mode connection within 30 s" : "the bot exited at start");
        co_return res;
    }
    res.ready_s = std::chrono::duration<double>(steady::now() - spawned_at).count();
    co_await sleep_for(2s);
    res.idle_rss_kib = status_kib(pid, "VmRSS:");

    // Every /deploy at once, as if 1,000 people typed them in the same second.
    const auto t0 = steady::now();
    const std::uint64_t cpu0 = cpu_ns(pid);
    auto since = [&](steady::time_point t) {
        return std::chrono::duration<double>(t - t0).count();
    };
    const auto deploys = fleet(cfg);
    for (auto [i, j] : deploys) {
        auto id =
            fake.deliver_slash_command("U0ALICE", channel_id(i), "/deploy",
                                       fmt::format("{} {} 1.1.0", service_name(i), env_name(j)));
        if (!id) {
            fail("deliver_slash_command: " + id.error().message);
            co_return res;
        }
    }
    std::function<bool()> all_acked = [&] { return fake.acked_count() >= deploys.size(); };
    bool acked = co_await fake.wait_until(all_acked, 60s);
    res.deliver_s = since(steady::now());
    if (!acked) {
        std::cerr << fmt::format("bench_deploys: only {} of {} slash commands acked in 60 s\n",
                                 fake.acked_count(), deploys.size());
    }

    // Follow until every deploy ended, the bot died or the timeout.
    const auto deadline = t0 + cfg.timeout;
    auto last_report = steady::now();
    // Looking at every message is work for this process, which also runs the fakes: with a
    // large fleet, look less often so that the fakes keep up.
    const auto sample_every = deploys.size() > 100 ? 5s : 1s;
    while (true) {
        co_await sleep_for(sample_every);
        if (!alive(pid)) {
            fail("the bot exited while deploys were running");
            co_return res;
        }
        sample s;
        s.t = since(steady::now());
        s.cpu = cpu_ns(pid);
        s.rss_kib = status_kib(pid, "VmRSS:");
        res.peak_fds = std::max(res.peak_fds, open_fds(pid));
        auto seen = roots(fake, cfg.services);
        s.rooted = seen.size();
        for (const auto& d : seen) {
            s.finished += d.outcome.empty() ? 0 : 1;
        }
        if (res.first_root_s == 0 && s.rooted > 0) {
            res.first_root_s = s.t;
        }
        if (s.rooted >= deploys.size() && res.last_root_s == 0) {
            res.last_root_s = s.t;
        }
        s.calls = fake.calls().size();
        std::tie(s.workflows, s.workflows_done) = workflow_counts(dir / "tugboat.db");
        if (res.workflows_done_s < 0 && s.workflows_done >= deploys.size()) {
            res.workflows_done_s = s.t;
        }
        res.samples.push_back(s);
        // The fakes record every request; count and forget them so this process stays small.
        res.jenkins_requests += jenkins.requests().size();
        jenkins.clear_requests();
        res.kube_requests += kube->requests().size();
        kube->clear_requests();
        if (steady::now() - last_report >= 30s) {
            last_report = steady::now();
            std::cerr << fmt::format(
                "bench_deploys: {:5.0f} s: {} roots posted, {} ended in Slack ({} of {} in the "
                "bot), {} Slack calls, RSS {:.1f} MiB, {} fds\n",
                s.t, s.rooted, s.finished, s.workflows_done, s.workflows, s.calls,
                s.rss_kib / 1024.0, open_fds(pid));
        }
        if (s.finished >= deploys.size()) {
            res.all_done_s = s.t;
            break;
        }
        if (steady::now() > deadline) {
            break;
        }
    }
    res.elapsed_s = since(steady::now());
    res.total_cpu_s = static_cast<double>(cpu_ns(pid) - cpu0) / 1e9;
    res.peak_rss_kib = status_kib(pid, "VmHWM:");
    res.end_rss_kib = status_kib(pid, "VmRSS:");

    // In flight = the bot runs the deploy's workflow (in its database, not ended), whatever
    // Slack shows yet. The window: samples with ≥ 90 % of the peak.
    auto in_flight = [](const sample& s) { return s.workflows - s.workflows_done; };
    for (const auto& s : res.samples) {
        res.peak_in_flight = std::max(res.peak_in_flight, in_flight(s));
    }
    const sample* first = nullptr;
    const sample* last = nullptr;
    for (const auto& s : res.samples) {
        if (static_cast<double>(in_flight(s)) >= 0.9 * res.peak_in_flight) {
            if (first == nullptr)
                first = &s;
            last = &s;
        }
    }
    if (first != nullptr && last != first) {
        res.window_start = first->t;
        res.window_end = last->t;
        res.window_cpu = static_cast<double>(last->cpu - first->cpu) / 1e9 / (last->t - first->t);
    }

    // Outcomes, and each Web API call attributed to its deploy through channel + root ts.
    auto seen = roots(fake, cfg.services);
    std::map<std::string, const deploy_seen*> by_root;
    for (const auto& d : seen) {
        by_root[d.channel + "/" + d.ts] = &d;
        if (d.outcome == "succeeded")
            ++res.succeeded;
        else if (d.outcome == "failed") {
            ++res.failed;
            if (res.failures.size() < 5)
                res.failures.push_back(first_words(d.text, 160));
        } else if (d.outcome == "cancelled")
            ++res.cancelled;
        else
            ++res.running;
    }
    res.rootless = deploys.size() > seen.size() ? deploys.size() - seen.size() : 0;
    for (const auto& c : fake.calls()) {
        ++res.calls_by_method[c.method];
        if (c.status == 429) {
            ++res.http_429;
        }
        auto args = json::parse(c.args_json, nullptr, false);
        if (!args.is_object()) {
            continue;
        }
        std::string channel = args.value("channel", "");
        std::string ts = args.value("thread_ts", "");
        if (ts.empty() && c.method == "chat.update") {
            ts = args.value("ts", "");
        }
        if (ts.empty() && c.method == "chat.postMessage") {
            auto reply = json::parse(c.response_json, nullptr, false);
            if (reply.is_object()) {
                ts = reply.value("ts", "");
            }
        }
        auto it = by_root.find(channel + "/" + ts);
        if (it != by_root.end() && it->second->outcome == "succeeded") {
            ++res.calls_of_succeeded[c.method];
        }
    }
    for (const auto& v : fake.rate_violations()) {
        ++res.violations[v.method];
    }
    for (const auto& r : fake.requests()) {
        if (r.method == "POST" && r.target.find("/response") != std::string::npos) {
            ++res.answers;
        }
    }
    for (const auto& e : fake.ephemerals()) {
        if (e.via == "response_url" || e.via == "ack" || e.via == "slackbot") {
            ++res.answer_kinds[e.via + ": " + first_words(e.text, 70)];
        }
    }
    res.jenkins_requests += jenkins.requests().size();
    res.kube_requests += kube->requests().size();

    kill(pid, SIGTERM);
    auto stop_deadline = steady::now() + 10s;
    while (alive(pid) && steady::now() < stop_deadline) {
        co_await sleep_for(50ms);
    }
    if (alive(pid)) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
    }
    fake.stop();
    jenkins.stop();
    kube->stop();
    res.ok = true;
    co_return res;
}

// ---- report ----

void print_report(const settings& cfg, const run_result& r, const std::string& load_before) {
    std::string model = "?";
    {
        std::ifstream in("/proc/cpuinfo");
        for (std::string line; std::getline(in, line);) {
            if (line.starts_with("model name")) {
                model = line.substr(line.find(':') + 2);
                break;
            }
        }
    }
    std::cout << fmt::format(
        "\nMachine: {} CPUs, {}; load average before: {}\n"
        "Fleet: {} deploys = {} services x {} environments, one channel per service; pipeline "
        "{:.0f} s (5 stages), {} pods per Deployment; Slack limits {}\n\n",
        std::thread::hardware_concurrency(), model, load_before, cfg.deploys, cfg.services,
        environments(cfg), cfg.pipeline_s, cfg.replicas,
        cfg.enforce ? "enforced (429 + Retry-After)" : "counted only");
    const double ok = static_cast<double>(std::max<std::size_t>(r.succeeded, 1));
    std::size_t all_calls = 0, attributed = 0;
    for (const auto& [m, n] : r.calls_by_method)
        all_calls += n;
    for (const auto& [m, n] : r.calls_of_succeeded)
        attributed += n;
    std::size_t violations = 0;
    for (const auto& [m, n] : r.violations)
        violations += n;
    auto mib = [](std::uint64_t kib) { return fmt::format("{:.1f} MiB", kib / 1024.0); };
    auto secs = [](double s) {
        return s < 0 ? std::string("not reached") : fmt::format("{:.0f} s", s);
    };
    std::vector<std::tuple<std::string, std::string, std::string>> rows = {
        {"deploys succeeded / failed", fmt::format("{} / {}", r.succeeded, r.failed), ""},
        {"  cancelled / still running", fmt::format("{} / {}", r.cancelled, r.running), ""},
        {"  no root message (never began)", std::to_string(r.rootless), ""},
        {"every workflow ended (bot's database)", secs(r.workflows_done_s), ""},
        {"every root message shows the end (Slack)", secs(r.all_done_s), ""},
        {"  observed for", fmt::format("{:.0f} s", r.elapsed_s), ""},
        {"  slash commands delivered and acked", fmt::format("{:.1f} s", r.deliver_s), ""},
        {"  first / last root message",
         fmt::format("{:.0f} s / {}", r.first_root_s,
                     r.last_root_s == 0 ? std::string("not all") : secs(r.last_root_s)),
         ""},
        {"deploys in flight in the bot, peak", std::to_string(r.peak_in_flight), "1000"},
        {"CPU, in-flight window (>= 90 % of peak)",
         fmt::format("{:.3f} core ({:.0f}-{:.0f} s)", r.window_cpu, r.window_start, r.window_end),
         "<= 0.3 core"},
        {"CPU, whole run",
         fmt::format("{:.1f} s = {:.3f} core", r.total_cpu_s,
                     r.total_cpu_s / std::max(r.elapsed_s, 1.0)),
         ""},
        {"idle RSS (before the deploys)", mib(r.idle_rss_kib), ""},
        {"peak RSS (VmHWM)", mib(r.peak_rss_kib), "<= 60 MiB"},
        {"  RSS at the end", mib(r.end_rss_kib), ""},
        {"  open fds, peak", std::to_string(r.peak_fds), ""},
        {"Slack calls per successful deploy", fmt::format("{:.1f}", attributed / ok), "<= 12"},
        {"  all Web API calls / successful deploys",
         fmt::format("{} / {} = {:.1f}", all_calls, r.succeeded, all_calls / ok), ""},
        {"rate-limit violations seen by the fake", std::to_string(violations), "0"},
        {"  HTTP 429 answered", std::to_string(r.http_429), ""},
        {"response_url answers", std::to_string(r.answers), ""},
        {"Jenkins / Kubernetes requests",
         fmt::format("{} / {}", r.jenkins_requests, r.kube_requests), ""},
        {"ready (spawn -> Socket Mode open)", fmt::format("{:.2f} s", r.ready_s), ""},
    };
    std::cout << fmt::format("{:<46} | {:>26} | {}\n", "metric", "Tugboat", "target (issue 4)");
    std::cout << std::string(46, '-') << "-+-" << std::string(26, '-') << "-+-"
              << std::string(16, '-') << "\n";
    for (const auto& [label, value, target] : rows) {
        std::cout << fmt::format("{:<46} | {:>26} | {}\n", label, value, target);
    }
    std::cout << fmt::format("\n{:<28} | {:>12} | {:>10} | {:>10}\n", "Web API method",
                             "per success", "all calls", "violations");
    for (const auto& [m, n] : r.calls_by_method) {
        auto s = r.calls_of_succeeded.find(m);
        auto v = r.violations.find(m);
        std::cout << fmt::format("{:<28} | {:>12.2f} | {:>10} | {:>10}\n", m,
                                 s == r.calls_of_succeeded.end() ? 0.0 : s->second / ok, n,
                                 v == r.violations.end() ? 0 : v->second);
    }
    for (const auto& [m, n] : r.violations) {
        if (!r.calls_by_method.contains(m)) {
            std::cout << fmt::format("{:<28} | {:>12} | {:>10} | {:>10}\n", m, "", "", n);
        }
    }
    std::cout << "\nWhat requesters were told (response_url / ack / Slack), by first words:\n";
    std::vector<std::pair<std::size_t, std::string>> kinds;
    for (const auto& [k, n] : r.answer_kinds)
        kinds.emplace_back(n, k);
    std::sort(kinds.rbegin(), kinds.rend());
    for (std::size_t i = 0; i < kinds.size() && i < 6; ++i) {
        std::cout << fmt::format("  {:>5} x {}\n", kinds[i].first, kinds[i].second);
    }
    if (!r.failures.empty()) {
        std::cout << "\nSome failed deploys' root messages:\n";
        for (const auto& f : r.failures)
            std::cout << "  " << f << "\n";
    }
    std::cout << "\nProgress (s: roots posted / ended in Slack / ended in the bot / Slack calls / "
                 "RSS):\n ";
    std::size_t step = std::max<std::size_t>(1, r.samples.size() / 16);
    for (std::size_t i = 0; i < r.samples.size(); i += step) {
        const auto& s = r.samples[i];
        std::cout << fmt::format(" {:.0f}: {}/{}/{}/{}/{:.0f}M", s.t, s.rooted, s.finished,
                                 s.workflows_done, s.calls, s.rss_kib / 1024.0);
    }
    std::cout << "\n";
}

}  // namespace

int main(int argc, char** argv) {
    auto parsed = parse_args(argc, argv);
    if (!parsed) {
        return 2;
    }
    const settings cfg = *parsed;
    if (!fs::exists(cfg.tugboat)) {
        std::cerr << "bench_deploys: " << cfg.tugboat
                  << " does not exist; build the release preset's tugboat (bench/run-deploy-bench "
                     "does) or pass --tugboat\n";
        return 2;
    }
    char tmpl[] = "/tmp/bench-deploys-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
        std::cerr << "bench_deploys: cannot create a scratch folder in /tmp: "
                  << std::strerror(errno) << "\n";
        return 1;
    }
    const fs::path dir = tmpl;
    const auto& pki = sb::default_test_pki();
    if (auto w = sb::write_test_pki(pki, dir); !w) {
        std::cerr << "bench_deploys: " << w.error().message << "\n";
        return 1;
    }
    auto tls = sb::make_server_tls_context(pki.server.cert_pem, pki.server.key_pem);
    if (!tls) {
        std::cerr << "bench_deploys: " << tls.error().message << "\n";
        return 1;
    }
    std::string load = read_text("/proc/loadavg");
    load = load.substr(0, load.find(' ', load.find(' ', load.find(' ') + 1) + 1));

    std::optional<run_result> result;
    asio::io_context ioc(1);
    asio::co_spawn(
        ioc, [&]() -> asio::awaitable<void> { result = co_await run(cfg, dir, *tls); },
        [](const std::exception_ptr& e) {
            if (e)
                std::rethrow_exception(e);
        });
    ioc.run();

    if (!result || !result->ok) {
        std::cerr << "bench_deploys: " << (result ? result->error : "did not run") << "\n";
        std::cerr << "Scratch folder kept: " << dir << "\n";
        return 1;
    }
    print_report(cfg, *result, load);
    if (cfg.keep) {
        std::cout << "\nScratch folder (config, tugboat.log, database): " << dir << "\n";
    } else {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    return 0;
}
