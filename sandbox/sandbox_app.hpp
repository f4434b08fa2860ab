#pragma once

// The sandbox: the real bot (bot/app.hpp) against a fake Slack, a fake Jenkins and two fake
// Kubernetes clusters on 127.0.0.1, so a newcomer can try every command without Slack, Jenkins
// or a cluster. What people type is delivered by the fake Slack over Socket Mode (wss, test
// CA); what the bot posts through the Web API is printed by a console view.

#include "commands/event.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

namespace tugboat::sandbox {

class console_view;
class fake_slack;
class fake_jenkins;
class fake_kubernetes;

struct sandbox_options {
    std::filesystem::path config;    ///< default: the bundled sandbox/sandbox.yaml
    std::filesystem::path work_dir;  ///< scratch folder (db, CA, kubeconfig, log); default: temp
    /// Simulated durations of the fakes and the bot's pacing (polling, Slack's rate limits) are
    /// divided by this.
    double speed = 1.0;
    std::chrono::milliseconds settle_timeout{std::chrono::seconds{60}};
    std::size_t width = 100;
    bool ansi = false;
    bool verbose = false;  ///< bot logs to stderr instead of <work_dir>/sandbox.log
    /// Changes the loaded config before the bot starts (tests: freeze windows, policies).
    std::function<void(core::config&)> adjust_config;
};

/// Sandbox people, as in sandbox.yaml: alice (default), bob, carol, dave.
std::string user_id_for(std::string_view name);

/// A running sandbox. Everything runs on the given io_context's thread.
class sandbox_app {
public:
    /// Starts the fakes, writes the CA and kubeconfig to the work folder, loads the config,
    /// opens the database and starts the bot. Errors say what failed (e.g. the config's
    /// problems, with lines). Wait for ready() before typing.
    static core::result<std::unique_ptr<sandbox_app>> start(boost::asio::io_context& ioc,
                                                            sandbox_options options,
                                                            std::ostream& out);
    ~sandbox_app();
    sandbox_app(const sandbox_app&) = delete;
    sandbox_app& operator=(const sandbox_app&) = delete;

    /// Waits until the bot's Socket Mode connection is up; false (with the reason printed) when
    /// the bot stopped or did not connect within `settle_timeout`.
    boost::asio::awaitable<bool> ready();

    /// Sends one typed line through the fake Slack as `default_user` would: "@bob: …" acts as
    /// bob, "#payments: …" in another channel, a line starting with '/' is a slash command,
    /// "@tugboat …" mentions the bot, a line matching a shown button presses it, anything else
    /// is a DM to the bot. Returns false for an empty line or one that could not be delivered
    /// (the reason is printed).
    bool type(std::string_view line);

    /// Waits until the work started so far has settled (finished, or waiting for a person);
    /// false when `settle_timeout` passed first.
    boost::asio::awaitable<bool> settle();

    /// Types each line, echoing it, and settles after each. Returns the exit code: 0, or 1 when
    /// some line did not settle in time.
    boost::asio::awaitable<int> run_script(std::vector<std::string> lines);

    /// Stops the bot and starts a new one on the same database, as after a crash or a
    /// deploy of the bot itself; waits until it is connected again. False when it did not.
    boost::asio::awaitable<bool> restart_bot();

    /// Stops the bot (closing its connections) and waits for it; call before destroying.
    boost::asio::awaitable<void> shutdown();

    console_view& console();
    fake_slack& slack();
    fake_jenkins& jenkins();
    /// The fake cluster `name` ("onprem" or "cloud").
    fake_kubernetes& cluster(const std::string& name);
    const std::filesystem::path& work_dir() const;
    /// The clock access grants run on: `speed` times faster than real time.
    const core::clock& access_clock() const;
    /// One paragraph telling a newcomer what runs where and what to type.
    std::string banner() const;

    struct state;

private:
    explicit sandbox_app(std::unique_ptr<state> s);
    std::unique_ptr<state> s_;
};

}  // namespace tugboat::sandbox
