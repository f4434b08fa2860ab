#pragma once

// The running bot: every concrete part built from the configuration and wired together —
// SQLite, the Slack Web API client and send queue, the chat, the command registry, router and
// dispatcher, and one Slack transport (Socket Mode or HTTP mode). `tugboat run` and the
// sandbox's Slack mode both use it, so the sandbox exercises exactly the production path.

#include "bot/slack_send_queue.hpp"
#include "bot/socket_mode.hpp"
#include "commands/access_engine.hpp"
#include "commands/deploy_engine.hpp"
#include "commands/status.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tugboat::bot {

/// What the configuration does not say; defaults are right for production.
struct app_options {
    /// Time source; null = the system clock. Must outlive the app.
    const core::clock* clock = nullptr;
    send_queue_options send_queue;
    /// Lets tests and benchmarks shrink Socket Mode timeouts; token, URL, TLS and connection
    /// count are filled from the configuration before it runs.
    std::function<void(socket_mode_options&)> tune_socket_mode;
    /// Deploy workflow pacing; the sandbox shrinks it along with its fakes' durations.
    commands::deploy_timing deploy_timing;
    /// Access grant pacing (timer checks, reconciler, retries).
    commands::access_timing access_timing;
    /// Time source of access grants (expiries, reminders); null = `clock`. The sandbox runs
    /// it faster than real time so that hours of a grant pass in seconds.
    const core::clock* access_clock = nullptr;
    /// `/status` limits (per-cluster deadline, Warning event window).
    commands::status_timing status_timing;
    /// How long shutdown waits for commands in progress before closing the send queue.
    std::chrono::milliseconds drain_timeout{std::chrono::seconds{10}};
    /// Inbox keys (event IDs already handled) are kept this long; Slack re-delivers for a few
    /// minutes at most, so an hour leaves a wide margin.
    std::chrono::minutes inbox_retention{60};
    /// Events handled at once; more wait in arrival order (see bot/dispatcher.hpp).
    std::size_t max_handlers = 64;
};

/// Counters for logs, `doctor` and benchmarks.
struct app_stats {
    std::size_t events = 0;         ///< events handed to the dispatcher
    std::size_t duplicates = 0;     ///< dropped by the dispatcher's inbox (re-deliveries)
    std::size_t in_progress = 0;    ///< commands being handled or waiting to be
    std::size_t peak_handling = 0;  ///< most events handled at once so far
    std::size_t peak_waiting = 0;   ///< most events waiting for a free handler so far
    std::size_t pending_calls = 0;  ///< Slack calls queued or in flight
    send_queue_stats slack;
};

class app {
public:
    /// Opens the database and builds every part. Errors: the database's (locked, newer schema,
    /// unwritable folder) and config_error for unusable TLS settings (slack.ca_file).
    static core::result<std::unique_ptr<app>> create(boost::asio::any_io_executor executor,
                                                     const core::config& config, core::logger& log,
                                                     app_options options = {});
    ~app();
    app(const app&) = delete;
    app& operator=(const app&) = delete;

    /// Checks the bot token with auth.test (and learns the bot's user ID), then serves Slack
    /// through the configured transport until stop() or cancellation; on the way out it waits
    /// (bounded by drain_timeout) for commands in progress. Fails with permission_denied when
    /// Slack refuses a token, unavailable when Slack cannot be reached at start, and with the
    /// transport's error otherwise (port in use, bad app token). Call once.
    boost::asio::awaitable<core::result<void>> run();

    /// Asks run() to finish. Idempotent; returns at once.
    void stop();

    /// True once the transport can receive events (a Socket Mode socket said hello, or the
    /// HTTP server listens).
    bool ready() const noexcept;

    /// HTTP mode: the bound port once ready (0 before, or in Socket Mode).
    std::uint16_t http_port() const noexcept;

    app_stats stats() const noexcept;

    /// Whether a button with this action id ("deploy.approve") would reach a handler: the
    /// sandbox tells a button typed from memory from a question with it.
    bool handles_action(std::string_view action_id) const;

    struct parts;

private:
    explicit app(std::unique_ptr<parts> p);
    std::unique_ptr<parts> p_;
};

}  // namespace tugboat::bot
