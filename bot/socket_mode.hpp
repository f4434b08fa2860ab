#pragma once

// Slack Socket Mode client: gets a WebSocket URL from apps.connections.open with the app-level
// token, keeps `connections` sockets open (wss://, or ws:// for local servers), acknowledges
// every envelope as soon as its envelope_id is read (before its event is built), turns payloads
// into commands::inbound_event (bot/slack_events.hpp) and hands them over in batches.
// Reconnects on Slack's `disconnect` messages (replacement first, so a routine refresh leaves no
// gap) and on drops (backoff with jitter, see bot/backoff.hpp). Beast (TCP, TLS) and OpenSSL
// stay in socket_mode.cpp; the WebSocket framing is integrations/websocket_wire.hpp.

#include "bot/backoff.hpp"
#include "commands/event.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"
#include "integrations/tls.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tugboat::integrations {
class http_client;
}

namespace tugboat::bot {

/// Settings of the Socket Mode client. Durations are plain values so tests can shrink them.
struct socket_mode_options {
    /// App-level token (xapp-…, scope connections:write). Sent only to apps.connections.open,
    /// never logged.
    std::string app_token;
    /// Web API base ending in '/'; apps.connections.open is called below it.
    std::string api_url = "https://slack.com/api/";
    /// Sockets kept open at once (1..10). Two let one be refreshed while the other serves.
    int connections = 2;
    /// Trust anchors for wss:// (e.g. the test CA); peers are always verified.
    integrations::tls_options tls;
    /// The bot's own user ID (auth.test), to strip mentions and ignore its own messages;
    /// empty = taken from each event's authorizations.
    std::string bot_user_id;
    /// Longest message/command text accepted (see event_parse_options::max_text_bytes).
    std::size_t max_text_bytes = 40'000;
    /// Largest WebSocket message read; a bigger one drops that connection (Slack's largest
    /// payloads, block_actions with big messages, stay far below).
    std::size_t max_message_bytes = 1024 * 1024;

    std::chrono::milliseconds open_timeout{std::chrono::seconds{10}};  ///< apps.connections.open
    /// Resolve + TCP + TLS + WebSocket handshake.
    std::chrono::milliseconds connect_timeout{std::chrono::seconds{10}};
    /// From the WebSocket handshake to Slack's `hello`.
    std::chrono::milliseconds hello_timeout{std::chrono::seconds{10}};
    /// Dead-connection detector: a ping is sent after half of this without incoming data,
    /// and the connection is dropped (then replaced) after all of it.
    std::chrono::milliseconds idle_timeout{std::chrono::seconds{20}};
    /// Bound on the close handshake when shutting down or retiring a refreshed socket.
    std::chrono::milliseconds close_timeout{std::chrono::seconds{2}};

    /// Envelope IDs and event keys seen within this window are dropped as duplicates (in
    /// memory; the dispatcher's inbox covers restarts). At least 10 minutes.
    std::chrono::milliseconds dedupe_window{std::chrono::minutes{10}};
    /// Most keys remembered per set (as 64-bit hashes); the oldest go first beyond it. Slack
    /// re-delivers within minutes, and the dispatcher's inbox catches whatever falls out.
    std::size_t dedupe_capacity = 10'000;
    /// A burst is handed over once this many events are waiting (and their acks are written),
    /// even while more keep arriving.
    std::size_t max_batch = 256;
    /// How long the first event of a batch waits for others before it is handed over (its ack
    /// does not wait). Under load one inbox commit then covers many events instead of one each.
    std::chrono::milliseconds batch_window{2};

    backoff_policy backoff;            ///< delays between connection attempts
    std::function<double()> random01;  ///< jitter source in [0, 1); null = seeded at random
    /// Appends debug_reconnects=true to the socket URL: Slack then refreshes every ~6 minutes
    /// instead of hours, to exercise the reconnect path.
    bool debug_reconnects = false;

    /// Optional: the `payload` to put into the ack of an envelope that accepts one (slash
    /// commands): a JSON object such as {"response_type":"in_channel"}, or "" for a plain ack.
    /// Runs on the read path before the ack is sent, so it must be quick and not block.
    std::function<std::string(const commands::inbound_event&)> ack_payload;
};

/// Counters since construction.
struct socket_mode_stats {
    std::size_t open_connections = 0;  ///< sockets that said hello and are still open
    std::size_t envelopes = 0;         ///< envelopes received (re-deliveries included)
    std::size_t acks = 0;              ///< acks written to a socket
    std::size_t events = 0;            ///< events handed to the handler
    std::size_t batches = 0;           ///< handler calls
    std::size_t duplicates = 0;        ///< envelopes dropped as already seen
    std::size_t ignored = 0;           ///< payloads ignored on purpose (bot messages, …)
    std::size_t invalid = 0;           ///< frames or payloads that could not be parsed
    std::size_t connects = 0;          ///< sockets that reached hello
    std::size_t reconnects = 0;        ///< connects beyond the first one of each slot
    /// Times the number of open sockets fell to zero after being ready, shutdown excluded.
    std::size_t gaps = 0;
};

/// The Socket Mode client. Single-threaded: construct, run and stop it on one executor.
/// Destroy it only after run() has completed.
class socket_mode_client {
public:
    /// Receives the events read in one go, in arrival order, after every one of them was
    /// acknowledged. Each event's idempotency_key is the event's own ID (see slack_events.hpp);
    /// envelope-ID duplicates were already dropped. Called on the executor; must not block
    /// (spawn slow work). Exceptions are caught and logged.
    using events_handler = std::function<void(std::vector<commands::inbound_event>)>;

    socket_mode_client(boost::asio::any_io_executor executor, socket_mode_options options,
                       integrations::http_client& http, core::logger& log,
                       events_handler on_events);
    ~socket_mode_client();
    socket_mode_client(const socket_mode_client&) = delete;
    socket_mode_client& operator=(const socket_mode_client&) = delete;

    /// Connects and serves until stop() or cancellation (both end it normally, after closing
    /// every socket with a close frame, bounded by close_timeout), or until Slack refuses the
    /// app token: then it fails with permission_denied saying which token to fix. Fails with
    /// config_error at once for a missing or non-xapp token, unusable TLS options or a bad
    /// connection count. Network failures never end it: they are logged and retried with
    /// backoff. Call once.
    boost::asio::awaitable<core::result<void>> run();

    /// Asks run() to close every socket and finish. Idempotent; returns at once.
    void stop();

    /// True while at least one socket is open and has said hello.
    bool ready() const noexcept;

    socket_mode_stats stats() const noexcept;

    /// Waits until `done()` holds, re-checking it after every connection change and every
    /// batch handed over; false when `timeout` passed first.
    boost::asio::awaitable<bool> wait_until(std::function<bool()> done,
                                            std::chrono::milliseconds timeout);

    class impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace tugboat::bot
