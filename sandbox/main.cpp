// tugboat-sandbox: the whole bot in a terminal chat against local fake servers.

#include "sandbox/sandbox_app.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace asio = boost::asio;
using tugboat::sandbox::sandbox_app;

namespace {

constexpr const char* usage =
    R"(Usage: tugboat-sandbox [--script FILE] [--speed N] [--timeout SECONDS]
                       [--config FILE] [--work-dir DIR] [--width N] [--color] [--verbose]

Starts Tugboat against local fake Jenkins and Kubernetes servers and lets you chat with it.
  --script FILE   type each line of FILE (or of stdin when it is not a terminal), waiting after
                  each until the work it started has settled; "@bob: …" acts as bob
  --speed N       run the fakes' simulated durations, the bot's polling, Slack's rate limits
                  and access grants' clock N times faster (default 1; 20 in script mode)
  --timeout S     how long to wait for work to settle after a scripted line (default 60)
  --config FILE   another sandbox config (default: the bundled sandbox/sandbox.yaml)
  --work-dir DIR  keep the database, CA, kubeconfig and log here (default: a new temp folder)
  --width N       wrap messages at N columns (default 100)
  --color         bold and dim with ANSI escapes
  --verbose       print the bot's log to stderr instead of <work-dir>/sandbox.log
)";

asio::awaitable<void> interactive(sandbox_app& app, asio::io_context& ioc) {
    asio::posix::stream_descriptor in(ioc, ::dup(STDIN_FILENO));
    asio::streambuf buf;
    if (!co_await app.ready()) {
        co_return;
    }
    while (true) {
        std::cout << "\nalice> " << std::flush;
        auto [ec, n] =
            co_await asio::async_read_until(in, buf, '\n', asio::as_tuple(asio::use_awaitable));
        if (ec) {
            std::cout << "\nbye\n";
            break;
        }
        std::string line(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + n);
        buf.consume(n);
        if (line == "quit\n" || line == "exit\n") {
            break;
        }
        if (app.type(line)) {
            co_await app.settle();
        }
    }
    co_await app.shutdown();
}

// A coroutine function, not a capturing lambda: a lambda's captures live in the lambda object,
// which would be gone by the time io_context::run resumes the coroutine.
asio::awaitable<int> run_scripted(sandbox_app& app, std::vector<std::string> lines) {
    int rc = co_await app.run_script(std::move(lines));
    co_await app.shutdown();
    co_return rc;
}

bool parse_number(const std::string& s, double& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size() && out > 0;
}

}  // namespace

int main(int argc, char** argv) {
    tugboat::sandbox::sandbox_options options;
    std::string script;
    bool speed_given = false;
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) {
                std::cerr << "tugboat-sandbox: " << a << " needs a value\n\n" << usage;
                std::exit(2);
            }
            return args[++i];
        };
        double number = 0;
        if (a == "--script") {
            script = value();
        } else if (a == "--speed" && parse_number(value(), number)) {
            options.speed = number;
            speed_given = true;
        } else if (a == "--timeout" && parse_number(value(), number)) {
            options.settle_timeout = std::chrono::milliseconds{static_cast<long>(number * 1000)};
        } else if (a == "--width" && parse_number(value(), number)) {
            options.width = static_cast<std::size_t>(number);
        } else if (a == "--config") {
            options.config = value();
        } else if (a == "--work-dir") {
            options.work_dir = value();
        } else if (a == "--color") {
            options.ansi = true;
        } else if (a == "--verbose") {
            options.verbose = true;
        } else if (a == "--help" || a == "-h") {
            std::cout << usage;
            return 0;
        } else {
            std::cerr << "tugboat-sandbox: unknown or invalid option `" << a << "`\n\n" << usage;
            return 2;
        }
    }
    const bool scripted = !script.empty() || !::isatty(STDIN_FILENO);
    if (scripted && !speed_given) {
        options.speed = 20;
    }

    asio::io_context ioc;
    auto app = sandbox_app::start(ioc, options, std::cout);
    if (!app) {
        std::cerr << "tugboat-sandbox: " << app.error().message << "\n";
        return 1;
    }
    int rc = 0;
    if (scripted) {
        std::vector<std::string> lines;
        std::ifstream file;
        std::istream* in = &std::cin;
        if (!script.empty()) {
            file.open(script);
            if (!file) {
                std::cerr << "tugboat-sandbox: cannot read script " << script << "\n";
                return 2;
            }
            in = &file;
        }
        for (std::string line; std::getline(*in, line);) {
            lines.push_back(line);
        }
        asio::co_spawn(ioc, run_scripted(**app, std::move(lines)),
                       [&](std::exception_ptr e, int r) {
                           rc = e ? 1 : r;
                           ioc.stop();
                       });
    } else {
        std::cout << (*app)->banner();
        asio::co_spawn(ioc, interactive(**app, ioc), [&](std::exception_ptr e) {
            rc = e ? 1 : 0;
            ioc.stop();
        });
    }
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](auto, int) { ioc.stop(); });
    ioc.run();
    return rc;
}
