// tugboat: the composition root. Reads the configuration and runs the bot (bot/app.hpp), the
// doctor or the config check on one io_context.

#include "bot/access_rbac.hpp"
#include "bot/app.hpp"
#include "bot/config_loader.hpp"
#include "bot/doctor.hpp"
#include "faq/cli.hpp"
#include "integrations/http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <exception>
#include <iostream>
#include <span>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace tugboat;

constexpr const char* usage = R"(Usage: tugboat <command> [args]

Commands:
  run CONFIG                      run the bot (Slack Socket Mode or HTTP mode, per CONFIG)
  doctor CONFIG                   check tokens, scopes, channels, Jenkins and clusters
  check-config FILE [--offline]   check a configuration file; prints every problem with file:line
  access-rbac CONFIG              print the Kubernetes RBAC /access needs (bind the catalog roles)
  faq search --docs DIR [--json] QUESTION
                                  rank the FAQ sections under DIR for QUESTION, as the bot would
  version                         print the version
  help                            this text

Environment: SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET and SLACK_API_URL override
the configuration; see docs/configuration.md. The sandbox (local fakes, terminal chat) is a
separate program: tugboat-sandbox.
)";

/// Loads CONFIG for `run` and `doctor`; prints the problems and returns nullopt when it is bad.
std::optional<core::config> load(std::span<const std::string> args, std::string_view cmd) {
    if (args.size() != 1) {
        std::cerr << "tugboat " << cmd << ": expected one argument, the config file, e.g.\n"
                  << "  tugboat " << cmd << " /etc/tugboat/tugboat.yaml\n";
        return std::nullopt;
    }
    auto cfg = bot::read_config(args[0], bot::process_env());
    if (!cfg) {
        std::cerr << cfg.error().message << "\n"
                  << "Run `tugboat check-config " << args[0] << "` for details.\n";
        return std::nullopt;
    }
    return std::move(*cfg);
}

core::log_level level_of(const core::config& cfg) {
    core::log_level level = core::log_level::info;
    (void)core::parse_log_level(cfg.bot.log_level, level);  // validated by the loader
    return level;
}

int run_bot(const core::config& cfg) {
    asio::io_context ioc(1);
    core::stderr_sink sink;
    core::logger log(sink, level_of(cfg),
                     cfg.bot.log_format == "json" ? core::log_format::json : core::log_format::kv);
    auto app = bot::app::create(ioc.get_executor(), cfg, log);
    if (!app) {
        log.error("start_failed", {{"error", app.error().message}});
        return 1;
    }
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (!ec) {
            log.info("shutdown_requested", {{"signal", sig}});
            (*app)->stop();
        }
    });
    int rc = 0;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            log.info("starting", {{"version", TUGBOAT_VERSION}, {"config", cfg.source_path}});
            auto r = co_await (*app)->run();
            if (!r) {
                log.error("stopped_with_error", {{"error", r.error().message}});
                rc = 1;
            }
            signals.cancel();
        },
        [&](const std::exception_ptr& e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log.error("crashed", {{"what", ex.what()}});
                }
                rc = 3;
            }
        });
    ioc.run();
    return rc;
}

int run_doctor(const core::config& cfg) {
    asio::io_context ioc(1);
    core::stderr_sink sink;
    core::logger log(sink, core::log_level::warn);
    integrations::http_client_options opts;
    opts.tls.ca_file = cfg.slack.ca_file;
    auto http = integrations::http_client::create(ioc.get_executor(), log, opts);
    if (!http) {
        std::cerr << "slack.ca_file: " << http.error().message << "\n";
        return 2;
    }
    int rc = 1;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            rc = co_await bot::run_doctor(cfg, *http, std::cout, log);
        },
        [](const std::exception_ptr& e) {
            if (e) {
                std::rethrow_exception(e);
            }
        });
    ioc.run();
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
        std::cout << usage;
        return args.empty() ? 2 : 0;
    }
    const std::string& cmd = args[0];
    std::span<const std::string> rest(args.data() + 1, args.size() - 1);
    if (cmd == "check-config") {
        return bot::check_config_command(rest, std::cout, bot::process_env());
    }
    if (cmd == "access-rbac") {
        return bot::access_rbac_command(rest, std::cout, bot::process_env());
    }
    if (cmd == "run" || cmd == "doctor") {
        if (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h")) {
            std::cout << (cmd == "doctor" ? bot::doctor_usage() : "Usage: tugboat run CONFIG\n");
            return 0;
        }
        auto cfg = load(rest, cmd);
        if (!cfg) {
            return 2;
        }
        return cmd == "run" ? run_bot(*cfg) : run_doctor(*cfg);
    }
    if (cmd == "faq") {
        return faq::run_cli({rest.begin(), rest.end()}, std::cout, std::cerr);
    }
    if (cmd == "version" || cmd == "--version") {
        std::cout << "tugboat " << TUGBOAT_VERSION << "\n";
        return 0;
    }
    std::cerr << "tugboat: unknown command `" << cmd << "`\n\n" << usage;
    return 2;
}
