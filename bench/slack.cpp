// bench_slack: Tugboat's Slack path against Slack's Bolt for JavaScript, side by side.
//
// Starts the fake Slack (sandbox/fake_slack.hpp, wss:// with the test CA) in this process, then
// runs each bot as a child process, one after the other, and measures every child the same way
// from outside: time to ready, ack latency of sequential envelopes, throughput and CPU time with
// many envelopes in flight, idle and peak RSS. It prints numbers and never fails on them; see
// bench/README.md for the method and bench/run-slack-bench for the usual invocation.

#include "sandbox/fake_slack.hpp"
#include "sandbox/http_server.hpp"
#include "sandbox/kubeconfig_writer.hpp"
#include "sandbox/test_ca.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
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
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using tugboat::sandbox::fake_slack;

// ---- settings ----

struct settings {
    fs::path source_dir = fs::path(TUGBOAT_SANDBOX_DIR).parent_path();
    fs::path tugboat;   ///< the bot binary; default: ../bot/tugboat next to this program
    fs::path config;    ///< default: bench/slack.yaml in the source tree
    fs::path bolt_app;  ///< default: bench/bolt/app.js in the source tree
    std::string node = "node";
    std::vector<std::string> rows = {"tugboat-slash", "bolt-slash", "tugboat-view", "bolt-view"};
    int warmup = 200;       ///< sequential envelopes before measuring, not counted
    int sequential = 2000;  ///< envelopes for the sequential ack latency
    int burst = 20000;      ///< envelopes for throughput and CPU
    int in_flight = 200;    ///< kept outstanding during the burst
    bool keep = false;      ///< keep the scratch folder (logs, database)
};

constexpr const char* usage_text = R"(Usage: bench_slack [options]

Runs Tugboat and an ack-only Bolt app against the fake Slack, one after the other, and prints
their numbers side by side (see bench/README.md).

  --tugboat PATH       the tugboat binary (default: ../bot/tugboat next to bench_slack)
  --config PATH        Tugboat's config (default: bench/slack.yaml)
  --bolt-app PATH      the Bolt app (default: bench/bolt/app.js; `npm ci` in its folder first)
  --node PATH          node binary (default: node)
  --rows LIST          comma-separated, any of tugboat-slash, bolt-slash, tugboat-view,
                       bolt-view (default: all four)
  --warmup N           sequential warm-up envelopes, not measured (default 200)
  --sequential N       sequential envelopes for ack latency (default 2000)
  --burst N            envelopes for throughput and CPU (default 20000)
  --in-flight N        envelopes outstanding during the burst (default 200)
  --keep               keep the scratch folder with the bots' logs
)";

std::optional<settings> parse_args(int argc, char** argv) {
    settings s;
    fs::path self = fs::read_symlink("/proc/self/exe");
    s.tugboat = self.parent_path().parent_path() / "bot" / "tugboat";
    s.config = s.source_dir / "bench" / "slack.yaml";
    s.bolt_app = s.source_dir / "bench" / "bolt" / "app.js";
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= args.size()) {
                std::cerr << "bench_slack: " << a << " needs a value\n";
                return std::nullopt;
            }
            return args[++i];
        };
        auto number = [&](int& out) {
            auto v = value();
            if (!v) {
                return false;
            }
            try {
                out = std::stoi(*v);
            } catch (const std::exception&) {
                std::cerr << "bench_slack: " << a << " wants a number, got `" << *v << "`\n";
                return false;
            }
            if (out < 0) {
                std::cerr << "bench_slack: " << a << " must not be negative\n";
                return false;
            }
            return true;
        };
        if (a == "--help" || a == "-h") {
            std::cout << usage_text;
            std::exit(0);
        } else if (a == "--keep") {
            s.keep = true;
        } else if (a == "--tugboat" || a == "--config" || a == "--bolt-app" || a == "--node" ||
                   a == "--rows") {
            auto v = value();
            if (!v) {
                return std::nullopt;
            }
            if (a == "--tugboat") {
                s.tugboat = *v;
            } else if (a == "--config") {
                s.config = *v;
            } else if (a == "--bolt-app") {
                s.bolt_app = *v;
            } else if (a == "--node") {
                s.node = *v;
            } else {
                s.rows.clear();
                std::stringstream in(*v);
                for (std::string r; std::getline(in, r, ',');) {
                    if (r != "tugboat-slash" && r != "bolt-slash" && r != "tugboat-view" &&
                        r != "bolt-view") {
                        std::cerr << "bench_slack: unknown row `" << r << "`\n" << usage_text;
                        return std::nullopt;
                    }
                    s.rows.push_back(r);
                }
            }
        } else if (a == "--warmup") {
            if (!number(s.warmup))
                return std::nullopt;
        } else if (a == "--sequential") {
            if (!number(s.sequential))
                return std::nullopt;
        } else if (a == "--burst") {
            if (!number(s.burst))
                return std::nullopt;
        } else if (a == "--in-flight") {
            if (!number(s.in_flight))
                return std::nullopt;
        } else {
            std::cerr << "bench_slack: unknown option `" << a << "`\n" << usage_text;
            return std::nullopt;
        }
    }
    if (s.in_flight < 1) {
        s.in_flight = 1;
    }
    return s;
}

// ---- the child process, seen from outside ----

/// utime + stime of the whole process (exited threads included) in ns, at tick granularity:
/// the cross-check of cpu_ns.
std::uint64_t cpu_ticks_ns(pid_t pid) {
    std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
    auto close = stat.rfind(')');
    if (close == std::string::npos) {
        return 0;
    }
    std::stringstream in(stat.substr(close + 2));
    std::string field;
    std::uint64_t utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {  // field 3 is the state
        if (i == 14)
            utime = std::stoull(field);
        if (i == 15)
            stime = std::stoull(field);
    }
    return (utime + stime) * (1'000'000'000ULL / static_cast<std::uint64_t>(sysconf(_SC_CLK_TCK)));
}

struct child {
    pid_t pid = -1;
    steady::time_point started;
    fs::path log;

    bool alive() {
        if (pid <= 0) {
            return false;
        }
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            pid = -1;
            return false;
        }
        return true;
    }

    std::string log_tail(std::size_t lines = 15) const {
        std::string text = read_text(log);
        std::size_t at = text.size();
        for (std::size_t n = 0; n <= lines && at > 0; ++n) {
            at = text.rfind('\n', at - 1);
            if (at == std::string::npos) {
                at = 0;
                break;
            }
        }
        return text.substr(at);
    }
};

/// Starts `argv` (see bench::spawn_process) and remembers when.
std::optional<child> spawn(const std::vector<std::string>& argv,
                           const std::map<std::string, std::string>& env_overrides,
                           const fs::path& log) {
    child c;
    c.log = log;
    c.started = steady::now();
    std::string error;
    c.pid = bench::spawn_process(argv, env_overrides, log, error);
    if (c.pid < 0) {
        std::cerr << "bench_slack: " << error << "\n";
        return std::nullopt;
    }
    return c;
}

// ---- envelopes ----

/// Slack's view_closed interactive envelope (notify_on_close modals), ~1 KiB, with a unique
/// view ID and hash each so Tugboat's inbox records every one.
std::string view_closed_envelope(int n) {
    using nlohmann::json;
    std::string view_id = fmt::format("V0BENCH{:06d}", n);
    json view = {
        {"id", view_id},
        {"team_id", "T0TUGBOAT"},
        {"type", "modal"},
        {"blocks", json::array({{{"type", "section"},
                                 {"block_id", "summary"},
                                 {"text",
                                  {{"type", "mrkdwn"},
                                   {"text", "Deploy *payments-api* 1.4.2 to *beta*?"}}}}})},
        {"private_metadata", ""},
        {"callback_id", "deploy_confirm"},
        {"state", {{"values", json::object()}}},
        {"hash", fmt::format("1700000000.{:08x}", n)},
        {"title", {{"type", "plain_text"}, {"text", "Confirm deploy"}}},
        {"clear_on_close", false},
        {"notify_on_close", true},
        {"close", {{"type", "plain_text"}, {"text", "Cancel"}}},
        {"submit", {{"type", "plain_text"}, {"text", "Deploy"}}},
        {"previous_view_id", nullptr},
        {"root_view_id", view_id},
        {"app_id", "A0TUGBOAT"},
        {"external_id", ""},
        {"app_installed_team_id", "T0TUGBOAT"},
        {"bot_id", "B0TUGBOAT"}};
    json payload = {
        {"type", "view_closed"},
        {"team", {{"id", "T0TUGBOAT"}, {"domain", "tugboat"}}},
        {"user",
         {{"id", "U0ALICE"}, {"username", "alice"}, {"name", "alice"}, {"team_id", "T0TUGBOAT"}}},
        {"api_app_id", "A0TUGBOAT"},
        {"token", "fake-verification-token"},
        {"view", std::move(view)},
        {"is_cleared", false},
        {"is_enterprise_install", false}};
    json doc = {{"envelope_id", fmt::format("b3e1c2d4-0000-4000-8000-{:012d}", n)},
                {"payload", std::move(payload)},
                {"type", "interactive"},
                {"accepts_response_payload", false}};
    return doc.dump();
}

// ---- one bot, measured ----

struct row_result {
    std::string name;
    bool ok = false;
    std::string error;
    double ready_ms = 0;
    double restart_ready_ms = 0;  ///< Tugboat started again on the database of the first start
    double startup_cpu_ms = 0;
    std::uint64_t idle_rss_kib = 0;
    std::uint64_t idle_anon_kib = 0;  ///< of which heap and stacks (RssAnon); the rest is files
    std::uint64_t end_anon_kib = 0;   ///< RssAnon after the burst
    std::uint64_t peak_rss_kib = 0;
    double seq_p50_ms = 0, seq_p99_ms = 0, seq_max_ms = 0;
    double seq1_p50_ms = 0, seq1_p99_ms = 0;  ///< again, the bot and the fake on one CPU
    double burst_p50_ms = 0, burst_p99_ms = 0;
    double throughput = 0;             ///< envelopes per second
    double cpu_per_1000_ms = 0;        ///< schedstat
    double cpu_ticks_per_1000_ms = 0;  ///< utime+stime cross-check
    double fake_cpu_per_1000_ms = 0;   ///< this process (the fake Slack, the load generator)
    std::size_t answers = 0;           ///< response_url posts the bot made
    std::size_t envelope_bytes = 0;
    int connections = 0;
};

// Keeps every thread of `pid` on `cpu`, or lets it run anywhere again (nullopt).
void pin_process(pid_t pid, std::optional<int> cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    const unsigned n = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned c = 0; c < n; ++c) {
        if (!cpu || static_cast<int>(c) == *cpu) {
            CPU_SET(c, &set);
        }
    }
    std::error_code ec;
    for (const auto& task : fs::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
        sched_setaffinity(std::stoi(task.path().filename().string()), sizeof set, &set);
    }
}

// Median round trip of one byte between this process (on `cpu_a`) and a forked echo (on
// `cpu_b`) over loopback TCP with TCP_NODELAY: what any ack costs here before a program does
// anything. Runs before any thread exists, so fork() is safe.
std::optional<double> tcp_round_trip_p50_ms(int cpu_a, int cpu_b) {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listener, 1) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        return std::nullopt;
    }
    const int one = 1;
    const pid_t echo = fork();
    if (echo == 0) {
        pin_process(getpid(), cpu_b);
        const int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            char b = 0;
            while (read(c, &b, 1) == 1 && write(c, &b, 1) == 1) {
            }
        }
        _exit(0);
    }
    pin_process(getpid(), cpu_a);
    const int s = accept(listener, nullptr, nullptr);
    close(listener);
    std::vector<std::chrono::microseconds> trips;
    if (s >= 0) {
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        for (int i = 0; i < 2200; ++i) {
            char b = 'x';
            const auto t0 = steady::now();
            if (write(s, &b, 1) != 1 || read(s, &b, 1) != 1) {
                break;
            }
            if (i >= 200) {
                trips.push_back(
                    std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0));
            }
        }
        close(s);
    }
    waitpid(echo, nullptr, 0);
    pin_process(getpid(), std::nullopt);
    if (trips.size() != 2000) {
        return std::nullopt;
    }
    std::sort(trips.begin(), trips.end());
    return trips[trips.size() / 2].count() / 1000.0;
}

double percentile_ms(std::vector<std::chrono::microseconds> v, double q) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    rank = std::clamp<std::size_t>(rank, 1, v.size());
    return static_cast<double>(v[rank - 1].count()) / 1000.0;
}

asio::awaitable<void> sleep_for(steady::duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(asio::use_awaitable);
}

/// Waits until the child's CPU time stops growing (its work after the acks, such as answers,
/// is done): less than 1 ms over 200 ms, at most `limit`.
asio::awaitable<void> quiesce(pid_t pid, steady::duration limit) {
    auto deadline = steady::now() + limit;
    std::uint64_t before = cpu_ns(pid);
    while (steady::now() < deadline) {
        co_await sleep_for(200ms);
        std::uint64_t now = cpu_ns(pid);
        if (now - before < 1'000'000) {
            co_return;
        }
        before = now;
    }
}

struct bench_env {
    settings cfg;
    fs::path dir;
    std::shared_ptr<asio::ssl::context> tls;
};

// The command line and environment that run the bot of `row` against `fake`.
std::pair<std::vector<std::string>, std::map<std::string, std::string>> bot_command(
    const bench_env& env, const std::string& row, const fake_slack& fake) {
    std::map<std::string, std::string> vars = {
        {"SLACK_API_URL", fake.api_url()},
        {"SLACK_BOT_TOKEN", fake.options().bot_token},
        {"SLACK_APP_TOKEN", fake.options().app_token},
        {"BENCH_DIR", env.dir.string()},
        {"JENKINS_API_TOKEN", "bench-unused"},
        {"NODE_EXTRA_CA_CERTS", (env.dir / "ca.pem").string()},
    };
    std::vector<std::string> argv =
        row.starts_with("tugboat")
            ? std::vector<std::string>{env.cfg.tugboat.string(), "run", env.cfg.config.string()}
            : std::vector<std::string>{env.cfg.node, env.cfg.bolt_app.string()};
    return {std::move(argv), std::move(vars)};
}

// One unmeasured start of the first row's bot against a throwaway fake Slack. The first child
// of this process reached hello 10–35 ms later than every later one, whichever bot it was
// (first TLS handshakes of this process, caches); without this, that lands on the first row's
// "ready".
asio::awaitable<void> warm_up(const bench_env& env) {
    auto options = tugboat::sandbox::sandbox_slack_workspace();
    options.tls = env.tls;
    auto executor = co_await asio::this_coro::executor;
    auto started = fake_slack::start(executor, std::move(options));
    if (!started) {
        co_return;
    }
    fake_slack fake = std::move(*started);
    auto [argv, vars] = bot_command(env, env.cfg.rows.front(), fake);
    if (auto spawned = spawn(argv, vars, env.dir / "warm-up.log")) {
        std::function<bool()> connected = [&] { return fake.total_connections() > 0; };
        bool up = false;
        while (!up && spawned->alive() && steady::now() - spawned->started < 30s) {
            up = co_await fake.wait_until(connected, 20ms);
        }
        kill(spawned->pid, SIGKILL);
        waitpid(spawned->pid, nullptr, 0);
    }
    fake.stop();
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::error_code ec;
        fs::remove(env.dir / (std::string("tugboat.db") + suffix), ec);
    }
}

asio::awaitable<row_result> run_row(bench_env& env, std::string name) {
    row_result res;
    res.name = name;
    const bool is_tugboat = name.starts_with("tugboat");
    const bool slash = name.ends_with("slash");

    auto options = tugboat::sandbox::sandbox_slack_workspace();
    options.tls = env.tls;
    auto executor = co_await asio::this_coro::executor;
    auto started = fake_slack::start(executor, std::move(options));
    if (!started) {
        res.error = "fake Slack: " + started.error().message;
        co_return res;
    }
    fake_slack fake = std::move(*started);

    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::error_code ec;
        fs::remove(env.dir / (std::string("tugboat.db") + suffix), ec);
    }
    auto [argv, vars] = bot_command(env, name, fake);
    // Earlier rows' writes (the previous database, logs) must not be flushed on this row's
    // clock: SQLite's first fdatasync would wait for them.
    ::sync();
    co_await sleep_for(200ms);
    auto spawned = spawn(argv, vars, env.dir / (name + ".log"));
    if (!spawned) {
        res.error = "could not start " + argv[0];
        co_return res;
    }
    child proc = *spawned;
    auto fail = [&](std::string why) {
        res.error = why + "\n--- last lines of " + proc.log.string() + " ---" + proc.log_tail();
        if (proc.alive()) {
            kill(proc.pid, SIGKILL);
            waitpid(proc.pid, nullptr, 0);
        }
    };

    // Ready: the fake accepted the first Socket Mode connection and sent hello.
    // (Arguments of co_await calls are named locals: GCC 12 can destroy temporaries of a
    // co_await full-expression twice.)
    bool ready = false;
    std::function<bool()> connected = [&] { return fake.total_connections() > 0; };
    while (!ready && proc.alive() && steady::now() - proc.started < 30s) {
        ready = co_await fake.wait_until(connected, 20ms);
    }
    if (!ready) {
        fail(proc.alive() ? "no Socket Mode connection within 30 s" : "the bot exited");
        co_return res;
    }
    {
        auto conns = fake.connections();
        auto opened = conns.empty() ? steady::now() : conns.front().opened_at;
        res.ready_ms = std::chrono::duration<double, std::milli>(opened - proc.started).count();
    }
    // Idle: let every configured connection open and start-up work settle.
    co_await sleep_for(500ms);
    res.idle_rss_kib = status_kib(proc.pid, "VmRSS:");
    res.idle_anon_kib = status_kib(proc.pid, "RssAnon:");
    res.startup_cpu_ms = static_cast<double>(cpu_ns(proc.pid)) / 1e6;
    res.connections = static_cast<int>(fake.open_connections());

    int counter = 0;
    auto deliver = [&]() -> std::string {
        ++counter;
        if (slash) {
            // `/deploy status` answers (through response_url) without starting a deploy;
            // `/deploy <service> <env> <version>` would start real work.
            auto id = fake.deliver_slash_command("U0ALICE", "C0PAYMENTS", "/deploy", "status");
            return id ? *id : std::string{};
        }
        return fake.deliver_raw(view_closed_envelope(counter));
    };

    // Sequential: one envelope in flight at a time. Empty when one was not acked.
    auto sequential = [&](int warmup,
                          int count) -> asio::awaitable<std::vector<std::chrono::microseconds>> {
        std::vector<std::chrono::microseconds> seq;
        for (int i = 0; i < warmup + count; ++i) {
            std::string id = deliver();
            std::function<bool()> is_acked = [&] {
                const auto* e = fake.envelope(id);
                return e != nullptr && e->acked;
            };
            bool acked = co_await fake.wait_until(is_acked, 5s);
            if (!acked) {
                fail(
                    fmt::format("envelope {} of the sequential phase was not acked within 5 s", i));
                co_return std::vector<std::chrono::microseconds>{};
            }
            if (i >= warmup) {
                seq.push_back(fake.envelope(id)->ack_latency);
            }
        }
        co_return seq;
    };
    auto seq = co_await sequential(env.cfg.warmup, env.cfg.sequential);
    if (seq.empty()) {
        co_return res;
    }
    res.envelope_bytes = fake.envelopes().empty() ? 0 : fake.envelopes().back().json.size();
    res.seq_p50_ms = percentile_ms(seq, 0.50);
    res.seq_p99_ms = percentile_ms(seq, 0.99);
    res.seq_max_ms = percentile_ms(seq, 1.0);
    if (std::thread::hardware_concurrency() >= 2) {
        // Again with the bot and this process on one CPU: what the bot's path costs without
        // the machine's wake-up of a process on another CPU (see the floor in the report).
        pin_process(getpid(), 0);
        pin_process(proc.pid, 0);
        auto pinned = co_await sequential(env.cfg.warmup, env.cfg.sequential);
        pin_process(getpid(), std::nullopt);
        pin_process(proc.pid, std::nullopt);
        if (pinned.empty()) {
            co_return res;
        }
        res.seq1_p50_ms = percentile_ms(pinned, 0.50);
        res.seq1_p99_ms = percentile_ms(pinned, 0.99);
    }
    co_await quiesce(proc.pid, 10s);

    // Burst: `in_flight` envelopes outstanding until `burst` are acked.
    const std::size_t first = fake.envelopes().size();
    const std::size_t acked_before = fake.acked_count();
    const auto cpu0 = cpu_ns(proc.pid);
    const auto ticks0 = cpu_ticks_ns(proc.pid);
    const auto self0 = cpu_ns(getpid());
    const auto t0 = steady::now();
    const auto total = static_cast<std::size_t>(env.cfg.burst);
    const auto window = static_cast<std::size_t>(env.cfg.in_flight);
    std::size_t sent = 0;
    while (fake.acked_count() - acked_before < total) {
        std::size_t acked = fake.acked_count() - acked_before;
        while (sent < total && sent - acked < window) {
            deliver();
            ++sent;
        }
        std::function<bool()> more_acked = [&] {
            return fake.acked_count() - acked_before > acked;
        };
        bool progressed = co_await fake.wait_until(more_acked, 10s);
        if (!progressed) {
            fail(fmt::format("no ack for 10 s in the burst ({} of {} acked)", acked, total));
            co_return res;
        }
    }
    const auto self1 = cpu_ns(getpid());
    res.fake_cpu_per_1000_ms =
        static_cast<double>(self1 - self0) / 1e6 / static_cast<double>(total) * 1000.0;
    steady::time_point last_ack = t0;
    std::vector<std::chrono::microseconds> burst;
    const auto& all = fake.envelopes();
    for (std::size_t i = first; i < all.size(); ++i) {
        last_ack = std::max(last_ack, all[i].acked_at);
        burst.push_back(all[i].ack_latency);
    }
    res.throughput =
        static_cast<double>(total) / std::chrono::duration<double>(last_ack - t0).count();
    res.burst_p50_ms = percentile_ms(burst, 0.50);
    res.burst_p99_ms = percentile_ms(burst, 0.99);
    co_await quiesce(proc.pid, 30s);
    const auto cpu1 = cpu_ns(proc.pid);
    const auto ticks1 = cpu_ticks_ns(proc.pid);
    res.cpu_per_1000_ms =
        static_cast<double>(cpu1 - cpu0) / 1e6 / static_cast<double>(total) * 1000.0;
    res.cpu_ticks_per_1000_ms =
        static_cast<double>(ticks1 - ticks0) / 1e6 / static_cast<double>(total) * 1000.0;
    res.peak_rss_kib = status_kib(proc.pid, "VmHWM:");
    res.end_anon_kib = status_kib(proc.pid, "RssAnon:");
    for (const auto& r : fake.requests()) {
        if (r.method == "POST" && r.target.find("/response") != std::string::npos) {
            ++res.answers;
        }
    }

    // Stop: SIGTERM, then SIGKILL after 5 s.
    kill(proc.pid, SIGTERM);
    auto stop_deadline = steady::now() + 5s;
    while (proc.alive() && steady::now() < stop_deadline) {
        co_await sleep_for(20ms);
    }
    if (proc.alive()) {
        kill(proc.pid, SIGKILL);
        waitpid(proc.pid, nullptr, 0);
    }
    // A restart finds its database: what every start but the first costs (no schema to create).
    if (is_tugboat) {
        ::sync();
        co_await sleep_for(200ms);
        const auto before = fake.total_connections();
        auto again = spawn(argv, vars, env.dir / (name + "-restart.log"));
        if (again) {
            std::function<bool()> reconnected = [&] { return fake.total_connections() > before; };
            bool up = false;
            while (!up && again->alive() && steady::now() - again->started < 30s) {
                up = co_await fake.wait_until(reconnected, 20ms);
            }
            if (up) {
                auto opened = steady::time_point::max();
                for (const auto& c : fake.connections()) {
                    if (c.opened_at > again->started) {
                        opened = std::min(opened, c.opened_at);
                    }
                }
                res.restart_ready_ms =
                    std::chrono::duration<double, std::milli>(opened - again->started).count();
            }
            kill(again->pid, SIGKILL);
            waitpid(again->pid, nullptr, 0);
        }
    }
    fake.stop();
    res.ok = true;
    co_return res;
}

// ---- report ----

std::string first_line(const std::string& cmd) {
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
        std::array<char, 256> buf{};
        if (std::fgets(buf.data(), buf.size(), p) != nullptr) {
            out = buf.data();
        }
        pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
        out.pop_back();
    }
    return out.empty() ? "?" : out;
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("model name")) {
            return line.substr(line.find(':') + 2);
        }
    }
    return "?";
}

std::string column_title(const std::string& row) {
    if (row == "tugboat-slash")
        return "Tugboat /deploy status";
    if (row == "bolt-slash")
        return "Bolt /deploy status";
    if (row == "tugboat-view")
        return "Tugboat view_closed";
    return "Bolt view_closed";
}

void print_report(const settings& cfg, const std::vector<row_result>& rows,
                  const std::string& load_before,
                  const std::optional<std::pair<double, double>>& floor) {
    std::string bolt_pkg =
        read_text(cfg.bolt_app.parent_path() / "node_modules" / "@slack" / "bolt" / "package.json");
    std::string bolt_version = "?";
    if (auto j = nlohmann::json::parse(bolt_pkg, nullptr, false); j.is_object()) {
        bolt_version = j.value("version", "?");
    }
    std::cout << "\nMachine: " << std::thread::hardware_concurrency() << " CPUs, " << cpu_model()
              << "; load average before: " << load_before << "\n";
    std::cout << "Versions: " << first_line(cfg.tugboat.string() + " version 2>&1") << "; node "
              << first_line(cfg.node + " --version 2>&1") << ", @slack/bolt " << bolt_version
              << "\n";
    std::cout << fmt::format(
        "Method: sequential = {} envelopes one at a time after {} warm-up; burst = {} envelopes "
        "with {} in flight. CPU is the child process only.\n",
        cfg.sequential, cfg.warmup, cfg.burst, cfg.in_flight);
    if (floor) {
        std::cout << fmt::format(
            "Floor: a 1-byte TCP round trip between two processes (no TLS, no work) takes p50 "
            "{:.3f} ms across CPUs, {:.3f} ms on one CPU.\n",
            floor->first, floor->second);
    }
    std::cout << "\n";

    struct metric {
        std::string label;
        std::function<std::string(const row_result&)> value;
        std::string target;  ///< Tugboat's, from issue 3
    };
    auto ms = [](double v) { return fmt::format("{:.3f} ms", v); };
    auto mib = [](std::uint64_t kib) { return fmt::format("{:.1f} MiB", kib / 1024.0); };
    std::vector<metric> metrics = {
        {"ready (spawn -> hello)",
         [&](const row_result& r) { return fmt::format("{:.1f} ms", r.ready_ms); }, "<= 30 ms"},
        {"  again, existing database",
         [&](const row_result& r) {
             return r.restart_ready_ms > 0 ? fmt::format("{:.1f} ms", r.restart_ready_ms)
                                           : std::string("-");
         },
         ""},
        {"ack p50, sequential", [&](const row_result& r) { return ms(r.seq_p50_ms); },
         "<= 0.06 ms"},
        {"ack p99, sequential", [&](const row_result& r) { return ms(r.seq_p99_ms); }, "<= 1 ms"},
        {"ack max, sequential", [&](const row_result& r) { return ms(r.seq_max_ms); }, ""},
        {"  p50, both on one CPU", [&](const row_result& r) { return ms(r.seq1_p50_ms); }, ""},
        {"  p99, both on one CPU", [&](const row_result& r) { return ms(r.seq1_p99_ms); }, ""},
        {"throughput, in flight",
         [](const row_result& r) { return fmt::format("{:.0f} env/s", r.throughput); }, ""},
        {"CPU per 1,000 envelopes", [&](const row_result& r) { return ms(r.cpu_per_1000_ms); },
         "<= 8 ms"},
        {"  (utime+stime, 10 ms ticks)",
         [&](const row_result& r) { return ms(r.cpu_ticks_per_1000_ms); }, ""},
        {"  (fake Slack's, same span)",
         [&](const row_result& r) { return ms(r.fake_cpu_per_1000_ms); }, ""},
        {"ack p50, in flight", [&](const row_result& r) { return ms(r.burst_p50_ms); }, ""},
        {"ack p99, in flight", [&](const row_result& r) { return ms(r.burst_p99_ms); }, ""},
        {"idle RSS", [&](const row_result& r) { return mib(r.idle_rss_kib); }, ""},
        {"  of which anonymous", [&](const row_result& r) { return mib(r.idle_anon_kib); }, ""},
        {"peak RSS", [&](const row_result& r) { return mib(r.peak_rss_kib); }, "<= 20 MiB"},
        {"  anonymous after the burst", [&](const row_result& r) { return mib(r.end_anon_kib); },
         ""},
        {"CPU to idle (start-up)",
         [&](const row_result& r) { return fmt::format("{:.1f} ms", r.startup_cpu_ms); }, ""},
        {"Socket Mode connections",
         [](const row_result& r) { return std::to_string(r.connections); }, ""},
        {"answers (response_url)", [](const row_result& r) { return std::to_string(r.answers); },
         ""},
        {"envelope size", [](const row_result& r) { return fmt::format("{} B", r.envelope_bytes); },
         ""},
    };
    constexpr int label_w = 30, col_w = 22;
    std::cout << fmt::format("{:<{}}", "metric", label_w);
    for (const auto& r : rows)
        std::cout << fmt::format(" | {:>{}}", column_title(r.name), col_w);
    std::cout << fmt::format(" | {}\n", "Tugboat target");
    std::cout << std::string(label_w, '-');
    for (std::size_t i = 0; i < rows.size(); ++i)
        std::cout << "-+-" << std::string(col_w, '-');
    std::cout << "-+-" << std::string(14, '-') << "\n";
    for (const auto& m : metrics) {
        std::cout << fmt::format("{:<{}}", m.label, label_w);
        for (const auto& r : rows) {
            std::cout << fmt::format(" | {:>{}}", r.ok ? m.value(r) : std::string("failed"), col_w);
        }
        std::cout << fmt::format(" | {}\n", m.target);
    }
    for (const auto& r : rows) {
        if (!r.ok) {
            std::cout << "\n" << column_title(r.name) << " failed: " << r.error << "\n";
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    auto parsed = parse_args(argc, argv);
    if (!parsed) {
        return 2;
    }
    bench_env env;
    env.cfg = std::move(*parsed);
    for (const auto& row : env.cfg.rows) {
        const fs::path& need = row.starts_with("tugboat") ? env.cfg.tugboat : env.cfg.bolt_app;
        if (!fs::exists(need)) {
            std::cerr << "bench_slack: " << need << " does not exist (" << row << "). Build "
                      << "tugboat, or run `npm ci` in bench/bolt, or pass --rows without it.\n";
            return 2;
        }
    }

    char tmpl[] = "/tmp/bench-slack-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
        std::cerr << "bench_slack: cannot create a scratch folder in /tmp: " << std::strerror(errno)
                  << "\n";
        return 1;
    }
    env.dir = tmpl;
    const auto& pki = tugboat::sandbox::default_test_pki();
    if (auto w = tugboat::sandbox::write_test_pki(pki, env.dir); !w) {
        std::cerr << "bench_slack: " << w.error().message << "\n";
        return 1;
    }
    {
        // Tugboat's config declares a cluster; nothing in the bench contacts it.
        tugboat::sandbox::kubeconfig_context ctx;
        ctx.name = "main";
        ctx.server = "https://127.0.0.1:9";
        ctx.ca_pem = pki.ca.cert_pem();
        ctx.token = "bench-unused";
        std::ofstream(env.dir / "kubeconfig") << tugboat::sandbox::make_kubeconfig({ctx});
    }
    auto tls = tugboat::sandbox::make_server_tls_context(pki.server.cert_pem, pki.server.key_pem);
    if (!tls) {
        std::cerr << "bench_slack: " << tls.error().message << "\n";
        return 1;
    }
    env.tls = *tls;

    // Before anything else runs: the platform's own latency, across CPUs and on one.
    std::optional<std::pair<double, double>> floor;
    if (std::thread::hardware_concurrency() >= 2) {
        auto across = tcp_round_trip_p50_ms(0, 1);
        auto same = tcp_round_trip_p50_ms(0, 0);
        if (across && same) {
            floor = std::pair{*across, *same};
        }
    }
    std::string load_before = read_text("/proc/loadavg");
    load_before = load_before.substr(
        0, load_before.find(' ', load_before.find(' ', load_before.find(' ') + 1) + 1));
    std::vector<row_result> results;
    asio::io_context ioc(1);
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            co_await warm_up(env);
            for (const auto& row : env.cfg.rows) {
                std::cerr << "bench_slack: running " << column_title(row) << " …\n";
                auto r = co_await run_row(env, row);
                results.push_back(std::move(r));
            }
        },
        [](const std::exception_ptr& e) {
            if (e)
                std::rethrow_exception(e);
        });
    ioc.run();

    print_report(env.cfg, results, load_before, floor);
    if (env.cfg.keep) {
        std::cout << "\nScratch folder (logs, database): " << env.dir << "\n";
    } else {
        std::error_code ec;
        fs::remove_all(env.dir, ec);
    }
    return std::all_of(results.begin(), results.end(), [](const auto& r) { return r.ok; }) ? 0 : 1;
}
