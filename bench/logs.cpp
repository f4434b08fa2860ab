// bench_logs: `/logs` over 20 pods × 10,000 lines each, merged, redacted and rendered (issue 5).
//
// A child process (this program with --serve) runs the fake Kubernetes API server (TLS, test CA)
// with one Deployment of P pods whose logs hold L generated lines each plus a few lines with
// secrets. This process then runs the in-process /logs pipeline exactly as the command does —
// commands::collect_logs (discover the Deployment and its pods, fetch every pod's log over HTTPS
// with timestamps, at most 6 at a time, redact each line, merge by time keeping the newest
// 20,000) followed by commands::render_log_lines (the text that is uploaded) — and measures:
//
// - wall time of collect_logs + render, per run (run 1 includes the TLS handshakes);
// - this process's CPU time per run (schedstat) and the fake's, since the machine may be shared;
// - extra RSS: VmHWM during the run minus VmRSS before it (the peak is reset through
//   /proc/self/clear_refs before each run). Run 1 is the honest one: later runs reuse the heap
//   the first one grew, as a running bot would;
// - for comparison, every pod's whole tail with nothing done to the bodies ("fetch only"):
//   what reading alone cost before /logs read each pod's share first.
//
// Not included: Slack (posting the summary, the file upload), the router and the grant check.
// The fake runs in its own process, so its memory and CPU are not counted. It prints numbers
// next to the issue's targets and never fails on them.

#include "commands/logs.hpp"
#include "bench/process_probe.hpp"
#include "commands/redact.hpp"
#include "core/config.hpp"
#include "core/logger.hpp"
#include "integrations/kubernetes_client.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/kubeconfig_writer.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace sb = tugboat::sandbox;
namespace cmd = tugboat::commands;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct settings {
    int pods = 20;
    int lines = 10000;
    int runs = 5;
    std::vector<std::string> patterns;  ///< extra redaction patterns (config)
    std::string serve_dir;              ///< child mode
};

constexpr const char* usage_text =
    R"(Usage: bench_logs [--pods 20] [--lines 10000] [--runs 5] [--pattern REGEX]...

Measures the /logs pipeline (fetch from a fake Kubernetes over HTTPS, redact, merge, render)
over PODS pods × LINES lines and prints time and extra RSS next to issue 5's targets
(≤ 150 ms, ≤ 30 MiB). --pattern adds a config redaction pattern (std::regex), repeatable.
)";

std::optional<settings> parse_args(int argc, char** argv) {
    settings s;
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= args.size()) {
                std::cerr << "bench_logs: " << a << " needs a value\n";
                return std::nullopt;
            }
            return args[++i];
        };
        if (a == "--help" || a == "-h") {
            std::cout << usage_text;
            std::exit(0);
        }
        auto v = value();
        if (!v) {
            return std::nullopt;
        }
        if (a == "--serve") {
            s.serve_dir = *v;
        } else if (a == "--pattern") {
            s.patterns.push_back(*v);
        } else if (a == "--pods" || a == "--lines" || a == "--runs") {
            int n = std::atoi(v->c_str());
            if (n <= 0) {
                std::cerr << "bench_logs: " << a << " wants a positive number\n";
                return std::nullopt;
            }
            (a == "--pods" ? s.pods : a == "--lines" ? s.lines : s.runs) = n;
        } else {
            std::cerr << "bench_logs: unknown option " << a << "\n" << usage_text;
            return std::nullopt;
        }
    }
    return s;
}

// ---- the child: the fake cluster ----

int serve(const settings& s) {
    asio::io_context ioc;
    sb::fake_kubernetes_options ko;
    ko.name = "bench";
    auto k = sb::fake_kubernetes::start(ioc.get_executor(), ko);
    if (!k) {
        std::cerr << "fake cluster: " << k.error().message << "\n";
        return 1;
    }
    auto& fake = **k;
    fake.add_namespace("bench");
    sb::fake_deployment d;
    d.ns = "bench";
    d.name = "api";
    d.image = "registry.bench.local/api:1.0.0";
    d.replicas = s.pods;
    if (auto r = fake.add_deployment(d); !r) {
        std::cerr << "fake cluster: " << r.error().message << "\n";
        return 1;
    }
    auto pods = fake.pods_of("bench", "api");
    for (const auto& pod : pods) {
        fake.generate_pod_logs("bench", pod, "api", static_cast<std::size_t>(s.lines));
        // Logs with secrets: a few lines per pod go through the slower, rewriting path.
        for (int i = 0; i < 5; ++i) {
            fake.append_pod_log("bench", pod, "api",
                                fmt::format("INFO login user=u{} password=hunter{} "
                                            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIi"
                                            "OiJ1In0.sig{}",
                                            i, i, i));
        }
    }
    std::vector<sb::kubeconfig_context> contexts{
        {"bench", fake.base_url(), fake.ca_pem(), fake.token(), {}, {}, "bench"}};
    {
        std::ofstream kc(fs::path(s.serve_dir) / "kubeconfig");
        kc << sb::make_kubeconfig(contexts);
    }
    std::ofstream(fs::path(s.serve_dir) / "ready") << pods.size() << "\n";
    ioc.run();
    return 0;
}

// ---- the parent: the pipeline ----

struct run_result {
    double cpu_ms = 0;       ///< this process's CPU time (the pipeline; not the fake's)
    double fake_cpu_ms = 0;  ///< the fake API server's CPU time meanwhile (its own process)
    double collect_ms = 0;
    double render_ms = 0;
    std::uint64_t extra_kib = 0;
    std::size_t pods = 0;
    std::size_t total_lines = 0;
    std::size_t kept_lines = 0;
    std::size_t redacted = 0;
    std::size_t bytes = 0;
    bool capped = false;
    std::string error;
};

asio::awaitable<void> collect_into(
    std::map<std::string, tugboat::integrations::kubernetes*, std::less<>> clusters,
    cmd::logs_query q, cmd::redactor redact, cmd::logs_limits limits,
    std::optional<tugboat::core::result<cmd::logs_result>>* out) {
    auto r =
        co_await cmd::collect_logs(std::move(clusters), std::move(q), std::move(redact), limits);
    out->emplace(std::move(r));
}

void reset_peak_rss() {
    std::ofstream("/proc/self/clear_refs") << "5";
}

run_result run_once(asio::io_context& ioc, tugboat::integrations::kubernetes& client,
                    const cmd::redactor& redact, const settings& s, pid_t fake) {
    cmd::logs_limits limits;
    limits.max_tail = s.lines;
    cmd::logs_query q;
    q.targets.push_back({"bench", "api", "", {"bench"}});
    q.tail = s.lines + 100;
    q.since = std::chrono::hours{1};
    std::map<std::string, tugboat::integrations::kubernetes*, std::less<>> clusters{
        {"bench", &client}};

    // No malloc_trim between runs: a running bot keeps its heap, and so does this process.
    const pid_t self = getpid();
    const auto rss_before = bench::status_kib(self, "VmRSS:");
    reset_peak_rss();
    run_result out;
    const auto cpu0 = bench::cpu_ns(self);
    const auto fake0 = bench::cpu_ns(fake);
    auto t0 = steady::now();
    std::optional<tugboat::core::result<cmd::logs_result>> got;
    asio::co_spawn(ioc, collect_into(clusters, std::move(q), redact, limits, &got),
                   [&got](const std::exception_ptr& e) {
                       if (e && !got) {
                           got.emplace(tugboat::core::make_error(tugboat::core::errc::internal,
                                                                 "collect_logs threw"));
                       }
                   });
    ioc.restart();
    while (!got && ioc.run_one_for(30s) > 0) {
    }
    auto t1 = steady::now();
    if (!got || !*got) {
        out.error = got ? got->error().message : "no result within 30 s";
        return out;
    }
    const auto& r = **got;
    std::string text = cmd::render_log_lines(r);
    auto t2 = steady::now();
    out.cpu_ms = static_cast<double>(bench::cpu_ns(self) - cpu0) / 1e6;
    out.fake_cpu_ms = static_cast<double>(bench::cpu_ns(fake) - fake0) / 1e6;
    // The heap may shrink below where it started (pages handed back): no extra, not negative.
    const auto peak = bench::status_kib(self, "VmHWM:");
    out.extra_kib = peak > rss_before ? peak - rss_before : 0;
    out.collect_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    out.render_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    out.pods = r.pods;
    out.total_lines = r.total_lines;
    out.kept_lines = r.lines.size();
    out.redacted = r.redacted_lines;
    out.bytes = text.size();
    out.capped = r.capped;
    return out;
}

// Every pod's whole tail (6 at a time), bodies dropped at once: what reading alone cost before
// /logs read each pod's share of the line cap first.
struct fetch_state {
    tugboat::integrations::kubernetes* client = nullptr;
    std::vector<std::string> pods;
    std::size_t next = 0;
    std::size_t bytes = 0;
    int lines = 0;
};

asio::awaitable<void> fetch_worker(fetch_state* st) {
    while (st->next < st->pods.size()) {
        tugboat::integrations::log_request req;
        req.ns = "bench";
        req.pod = st->pods[st->next++];
        req.tail_lines = st->lines + 100;
        req.timestamps = true;
        req.since_seconds = 3600;
        req.limit_bytes = cmd::logs_limits{}.limit_bytes;
        auto body = co_await st->client->pod_log(req);
        if (body) {
            st->bytes += body->size();
        }
    }
}

asio::awaitable<void> fetch_all(fetch_state* st, bool* done) {
    auto pods = co_await st->client->list_pods("bench", "app=api");
    if (pods) {
        for (const auto& p : *pods) {
            st->pods.push_back(p.name);
        }
    }
    using namespace asio::experimental::awaitable_operators;
    auto a = fetch_worker(st);
    auto b = fetch_worker(st);
    auto c = fetch_worker(st);
    auto d = fetch_worker(st);
    auto e = fetch_worker(st);
    auto f = fetch_worker(st);
    co_await (std::move(a) && std::move(b) && std::move(c) && std::move(d) && std::move(e) &&
              std::move(f));
    *done = true;
}

void fetch_floor(asio::io_context& ioc, tugboat::integrations::kubernetes& client,
                 const settings& s, pid_t fake) {
    std::cout << "\nfetch only, whole tails (list pods + every pod's whole log, 6 at a time, "
                 "nothing else):\n";
    std::vector<double> walls;
    for (int i = 0; i < s.runs; ++i) {
        fetch_state st;
        st.client = &client;
        st.lines = s.lines;
        bool done = false;
        const auto cpu0 = bench::cpu_ns(getpid());
        const auto fake0 = bench::cpu_ns(fake);
        auto t0 = steady::now();
        asio::co_spawn(ioc, fetch_all(&st, &done), asio::detached);
        ioc.restart();
        while (!done && ioc.run_one_for(30s) > 0) {
        }
        double wall = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
        double cpu = static_cast<double>(bench::cpu_ns(getpid()) - cpu0) / 1e6;
        double fake_cpu = static_cast<double>(bench::cpu_ns(fake) - fake0) / 1e6;
        walls.push_back(wall);
        std::cout << fmt::format(
            "{:>4} wall {:>7.1f} ms, CPU {:>7.1f} ms, fake CPU {:>7.1f} ms, {} pods, {} KiB\n",
            i + 1, wall, cpu, fake_cpu, st.pods.size(), st.bytes / 1024);
    }
}

int run_parent(const settings& s, char** argv) {
    char tmpl[] = "/tmp/bench-logs-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
        std::cerr << "bench_logs: cannot create a scratch folder\n";
        return 1;
    }
    const fs::path dir = tmpl;
    std::string err;
    std::vector<std::string> child{fs::read_symlink("/proc/self/exe").string(),
                                   "--serve",
                                   dir.string(),
                                   "--pods",
                                   std::to_string(s.pods),
                                   "--lines",
                                   std::to_string(s.lines)};
    (void)argv;
    pid_t pid = bench::spawn_process(child, {}, dir / "fake.log", err);
    if (pid < 0) {
        std::cerr << "bench_logs: " << err << "\n";
        return 1;
    }
    auto deadline = steady::now() + 60s;
    while (!fs::exists(dir / "ready") && steady::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    if (!fs::exists(dir / "ready")) {
        std::cerr << "bench_logs: the fake cluster did not start; see " << (dir / "fake.log")
                  << "\n";
        kill(pid, SIGTERM);
        return 1;
    }

    asio::io_context ioc;
    tugboat::core::logger& log = tugboat::core::null_logger();
    tugboat::core::cluster_config cc;
    cc.name = "bench";
    cc.kubeconfig = (dir / "kubeconfig").string();
    cc.context = "bench";
    auto clients = tugboat::integrations::make_kubernetes_clients(ioc.get_executor(), {cc}, log);
    if (!clients) {
        std::cerr << "bench_logs: " << clients.error().message << "\n";
        kill(pid, SIGTERM);
        return 1;
    }
    auto& client = *clients->at("bench");

    auto measure = [&](const char* title, const std::vector<std::string>& patterns) {
        auto redact = cmd::redactor::create(patterns);
        if (!redact) {
            std::cerr << "bench_logs: " << redact.error().message << "\n";
            return;
        }
        std::cout << "\n" << title << "\n";
        std::cout << fmt::format(
            "{:>4} {:>10} {:>10} {:>10} {:>10} {:>11} {:>11} {:>5} {:>9} {:>9} {:>8} {:>9}\n",
            "run", "total ms", "collect ms", "render ms", "CPU ms", "fake CPU ms", "extra RSS",
            "pods", "lines", "kept", "redacted", "file KiB");
        std::vector<double> totals;
        std::vector<double> cpus;
        std::uint64_t max_kib = 0;
        for (int i = 0; i < s.runs; ++i) {
            auto r = run_once(ioc, client, *redact, s, pid);
            if (!r.error.empty()) {
                std::cout << fmt::format("{:>4} failed: {}\n", i + 1, r.error);
                continue;
            }
            double total = r.collect_ms + r.render_ms;
            totals.push_back(total);
            cpus.push_back(r.cpu_ms);
            max_kib = std::max(max_kib, r.extra_kib);
            std::cout << fmt::format(
                "{:>4} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f} {:>11.1f} {:>7.1f} MiB {:>5} {:>9} "
                "{:>9} {:>8} {:>9}\n",
                i + 1, total, r.collect_ms, r.render_ms, r.cpu_ms, r.fake_cpu_ms,
                static_cast<double>(r.extra_kib) / 1024.0, r.pods, r.total_lines, r.kept_lines,
                r.redacted, r.bytes / 1024);
        }
        if (totals.empty()) {
            return;
        }
        auto sorted = totals;
        std::ranges::sort(sorted);
        std::ranges::sort(cpus);
        std::cout << fmt::format(
            "wall: first {:.1f} ms, median {:.1f} ms (target ≤ 150 ms); this process's CPU: median "
            "{:.1f} ms; extra RSS: max {:.1f} MiB (target ≤ 30 MiB)\n",
            totals.front(), sorted[sorted.size() / 2], cpus[cpus.size() / 2],
            static_cast<double>(max_kib) / 1024.0);
    };
    std::cout << fmt::format(
        "bench_logs: {} pods × {} lines (+5 lines with secrets each), one cluster, fake in its "
        "own process; load {}",
        s.pods, s.lines, [] {
            std::string l = bench::read_text("/proc/loadavg");
            return l.substr(0, l.find(' ', l.find(' ', l.find(' ') + 1) + 1));
        }());
    measure("built-in redaction rules:", {});
    fetch_floor(ioc, client, s, pid);
    std::vector<std::string> patterns = s.patterns;
    if (patterns.empty()) {
        patterns.push_back(R"(card=[0-9]{12,19})");
    }
    measure(
        fmt::format("built-in rules + {} config pattern(s) (std::regex):", patterns.size()).c_str(),
        patterns);

    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    auto s = parse_args(argc, argv);
    if (!s) {
        return 2;
    }
    if (!s->serve_dir.empty()) {
        return serve(*s);
    }
    return run_parent(*s, argv);
}
