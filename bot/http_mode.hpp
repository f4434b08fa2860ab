#pragma once

// Slack HTTP mode, for workspaces that cannot use Socket Mode: a small HTTP/1.1 server that
// takes Slack's Events API callbacks, slash commands and interactivity posts on one Request
// URL (POST /slack/events by default), verifies each request's signature
// (bot/slack_signature.hpp), answers url_verification, acknowledges with 200 at once and hands
// the event over. Anything unsigned, badly signed or stale gets 401 and has no effect. GET
// /healthz answers "ok" for load balancers. Plain HTTP only: put it behind a reverse proxy
// that terminates TLS (docs/slack-setup.md). Beast stays in http_mode.cpp.

#include "commands/event.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tugboat::bot {

/// Settings of the HTTP mode server. Durations are plain values so tests can shrink them.
struct http_mode_options {
    /// Listen address "host:port" (config slack.http_listen), e.g. "0.0.0.0:3000",
    /// "[::]:3000", "127.0.0.1:0" (port 0 = any free port, for tests).
    std::string listen = "0.0.0.0:3000";
    /// The one Request URL path for Event Subscriptions, Slash Commands and Interactivity.
    std::string events_path = "/slack/events";
    /// Health check path: GET answers 200 "ok" without a signature.
    std::string health_path = "/healthz";
    /// Slack's signing secret (config slack.signing_secret). Required; never logged.
    core::secret signing_secret;
    /// The bot's own user ID (auth.test), to strip mentions and ignore its own messages;
    /// empty = taken from each event's authorizations.
    std::string bot_user_id;
    /// Longest message/command text accepted (see event_parse_options::max_text_bytes).
    std::size_t max_text_bytes = 40'000;
    /// Largest request body; a bigger one gets 413. Slack's largest posts (block_actions
    /// carrying a whole message) stay far below.
    std::size_t max_body_bytes = 1024 * 1024;
    /// Bound on reading one request (head and body) once it has started, and on writing the
    /// answer: a client that trickles bytes is dropped after this.
    std::chrono::milliseconds read_timeout{std::chrono::seconds{10}};
    /// Keep-alive connections idle longer than this are closed. Above common proxy defaults
    /// (nginx keepalive 60 s) so the proxy, not us, usually closes first.
    std::chrono::milliseconds idle_timeout{std::chrono::seconds{75}};
    /// Connections open at once; further ones are closed at once.
    std::size_t max_connections = 256;
    /// Replay window for X-Slack-Request-Timestamp (Slack: 5 minutes).
    std::chrono::seconds signature_window{300};
    /// Bound on waiting for open connections to finish when stopping.
    std::chrono::milliseconds close_timeout{std::chrono::seconds{2}};
    /// Time source for the replay window; null = the system clock. Must outlive the server.
    const core::clock* clock = nullptr;
    /// Optional: the JSON body of the 200 that acknowledges a slash command, e.g.
    /// {"response_type":"in_channel"} so the command stays visible; "" = empty body. Runs before
    /// the answer is written, so it must be quick.
    std::function<std::string(const commands::inbound_event&)> slash_ack;
};

/// Options from the configuration: listen address and signing secret; the rest defaulted.
http_mode_options http_mode_options_from(const core::config& config);

/// Counters since construction.
struct http_mode_stats {
    std::size_t connections = 0;        ///< TCP connections accepted
    std::size_t requests = 0;           ///< HTTP requests read
    std::size_t events = 0;             ///< events handed to the handler
    std::size_t ignored = 0;            ///< signed payloads ignored on purpose (bot messages, …)
    std::size_t unauthorized = 0;       ///< 401: missing, bad or stale signature
    std::size_t bad_requests = 0;       ///< 400/405/413/415: malformed or unexpected requests
    std::size_t url_verifications = 0;  ///< challenges answered
    std::size_t retries_acked = 0;      ///< http_timeout re-deliveries acked without handling
};

/// The server. Single-threaded: construct, run and stop it on one executor. Destroy it only
/// after run() has completed (or when run() was never called).
class http_mode_server {
public:
    /// Receives each accepted event before its 200 is written, so by the time Slack sees the
    /// acknowledgement the event is in our hands (the dispatcher records its key). Its
    /// idempotency_key is Slack's own ID (event_id, trigger_id, …), the same on re-deliveries,
    /// which the dispatcher de-duplicates. Called on the executor; must not block (spawn slow
    /// work). An exception is logged and answered with 500, so Slack delivers again.
    using event_handler = std::function<void(commands::inbound_event)>;

    http_mode_server(boost::asio::any_io_executor executor, http_mode_options options,
                     core::logger& log, event_handler on_event);
    ~http_mode_server();
    http_mode_server(const http_mode_server&) = delete;
    http_mode_server& operator=(const http_mode_server&) = delete;

    /// Binds and listens (run() does it when not done yet); after this port() is known.
    /// Errors: config_error for an empty signing secret, a malformed listen address or empty
    /// paths; unavailable when the address cannot be bound (port in use, host not local).
    /// Idempotent.
    core::result<void> listen();

    /// The bound port, 0 before listen().
    std::uint16_t port() const noexcept;

    /// Accepts and serves connections until stop() or cancellation (both end it normally,
    /// after closing open connections, bounded by close_timeout). Fails only when listen()
    /// fails. Call once.
    boost::asio::awaitable<core::result<void>> run();

    /// Stops accepting and closes every connection. Idempotent; returns at once.
    void stop();

    http_mode_stats stats() const noexcept;

    class impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace tugboat::bot
