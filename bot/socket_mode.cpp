#include "bot/socket_mode.hpp"

#include "bot/slack_events.hpp"
#include "core/key_table.hpp"
#include "integrations/byte_stream.hpp"
#include "integrations/http_client.hpp"
#include "integrations/websocket_wire.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <deque>
#include <exception>
#include <iterator>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

namespace tugboat::bot {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace wire = integrations::websocket_wire;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using boost::system::error_code;
using std::chrono::milliseconds;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Room for one full TLS record per read.
constexpr std::size_t read_size = 16 * 1024;

// Keys seen within a time window, bounded in number; the oldest are forgotten first. Kept as
// hashes (core::key_table): 16 B in the ring and ≈10 B in the table per key.
class recent_keys {
public:
    recent_keys(steady::duration window, std::size_t capacity)
        : window_(window), capacity_(std::max<std::size_t>(capacity, 1)) {}

    // True when `key` was not seen within the window; remembers it either way.
    bool insert(std::string_view key, steady::time_point now) {
        while (count_ > 0 && (now - ring_[head_].at > window_ || count_ >= capacity_)) {
            table_.erase(ring_[head_].hash);
            head_ = (head_ + 1) % ring_.size();
            --count_;
        }
        const std::uint64_t h = core::key_table<none>::hash(key);
        if (!table_.insert(h, {})) {
            return false;
        }
        if (count_ == ring_.size()) {
            grow_ring();
        }
        ring_[(head_ + count_) % ring_.size()] = {h, now};
        ++count_;
        // The next insert at capacity erases the oldest hash, whose slot was last touched long
        // ago: start loading it now rather than stall on it then.
        if (count_ >= capacity_) {
            table_.prefetch(ring_[head_].hash);
        }
        return true;
    }

private:
    struct none {};
    struct entry {
        std::uint64_t hash;
        steady::time_point at;
    };

    // The ring grows with use up to `capacity`, so an idle bot keeps little.
    void grow_ring() {
        std::vector<entry> bigger;
        bigger.reserve(std::min(capacity_, std::max<std::size_t>(ring_.size() * 2, 64)));
        for (std::size_t k = 0; k < count_; ++k) {
            bigger.push_back(ring_[(head_ + k) % ring_.size()]);
        }
        bigger.resize(bigger.capacity());
        ring_.swap(bigger);
        head_ = 0;
    }

    steady::duration window_;
    std::size_t capacity_;
    core::key_table<none> table_;
    std::vector<entry> ring_;  // insertion order, for expiry
    std::size_t head_ = 0;     // oldest entry in ring_
    std::size_t count_ = 0;
};

// The parts of the WebSocket URL the client needs.
struct socket_url {
    bool tls = true;
    std::string host;         // DNS name or IP literal, without IPv6 brackets
    std::string port;         // decimal
    std::string target;       // path and query (the single-use ticket: never logged)
    std::string host_header;  // host[:port]
    std::string log_host;     // host:port
};

core::result<socket_url> parse_socket_url(std::string_view url, bool debug_reconnects) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) {
        return core::make_error(core::errc::protocol_error,
                                "apps.connections.open returned a URL that does not parse");
    }
    const auto& u = *parsed;
    socket_url out;
    if (u.scheme_id() == boost::urls::scheme::wss) {
        out.tls = true;
    } else if (u.scheme_id() == boost::urls::scheme::ws) {
        out.tls = false;
    } else {
        return core::make_error(core::errc::protocol_error,
                                fmt::format("apps.connections.open returned a {}:// URL; only "
                                            "wss:// (or ws:// for local servers) works",
                                            std::string(u.scheme())));
    }
    out.host = u.host_address();
    if (out.host.empty()) {
        return core::make_error(core::errc::protocol_error,
                                "apps.connections.open returned a URL without a host");
    }
    const std::string default_port = out.tls ? "443" : "80";
    out.port = u.has_port() && !u.port().empty() ? std::string(u.port()) : default_port;
    const bool ipv6 = u.host_type() == boost::urls::host_type::ipv6;
    const std::string bracketed = ipv6 ? "[" + out.host + "]" : out.host;
    out.host_header = out.port == default_port ? bracketed : bracketed + ":" + out.port;
    out.log_host = bracketed + ":" + out.port;
    out.target = std::string(u.encoded_target());
    if (out.target.empty() || out.target.front() != '/') {
        out.target.insert(0, "/");
    }
    if (debug_reconnects) {
        out.target += out.target.find('?') == std::string::npos ? '?' : '&';
        out.target += "debug_reconnects=true";
    }
    return out;
}

// What came of one apps.connections.open call.
struct open_outcome {
    std::string url;  // empty on failure
    end_reason reason = end_reason::open_failed;
    core::error error;
    milliseconds retry_after{0};
};

// One WebSocket and its reader, writer and keep-alive coroutines. Owned by the slot that opened
// it; it registers itself with the client so stop() can reach it. Destroyed only once `finished`.
struct socket_session {
    socket_session(asio::any_io_executor ex, std::size_t id_, std::size_t slot_,
                   std::size_t max_message, std::vector<socket_session*>& registry_)
        : id(id_),
          slot(slot_),
          frames(max_message),
          wake(ex, steady::time_point::max()),
          keepalive(ex),
          registry(&registry_) {
        registry->push_back(this);
    }
    ~socket_session() { std::erase(*registry, this); }
    socket_session(const socket_session&) = delete;
    socket_session& operator=(const socket_session&) = delete;

    // Tears the TCP connection down at once; pending operations complete with errors.
    void force_close() {
        error_code ec;
        if (stream) {
            stream->tcp().socket().close(ec);
        }
    }

    std::size_t id;
    std::size_t slot;
    std::optional<integrations::byte_stream> stream;  // set by connect()
    beast::flat_buffer buffer;                        // received bytes not yet parsed into frames
    wire::frame_reader frames;
    std::deque<std::string> outbox;     // acks waiting for the writer
    std::deque<std::uint64_t> tickets;  // their tickets (see send_ack)
    std::string control;                // pong and close frames waiting for the writer
    std::string sending;                // the frames of the write in progress
    std::uint64_t writing = 0;          // ticket of the ack being written, 0 = none
    asio::steady_timer wake;            // cancelled to wake the writer
    asio::steady_timer keepalive;       // paces the keep-alive check; cancelled at the end
    steady::time_point heard{};         // when bytes last arrived
    bool ping_sent = false;             // since bytes last arrived
    bool timed_out = false;             // the keep-alive gave up on a silent connection
    bool close_sent = false;            // our close frame is queued or written
    std::optional<std::uint16_t> close_received;  // Slack's close frame and its code
    bool writer_waiting = false;
    int running = 0;  // reader, writer and keep-alive coroutines alive
    bool handshaken = false;
    bool hello = false;
    bool counted_open = false;
    bool refresh = false;          // Slack asked for a replacement; still serving
    bool close_requested = false;  // the writer sends a close frame once the outbox is empty
    bool reader_done = false;
    bool finished = true;                  // no coroutine running (true until serve starts)
    std::optional<end_reason> disconnect;  // from Slack's `disconnect` message
    end_reason reason = end_reason::dropped;
    std::string detail;
    steady::time_point hello_at{};
    std::vector<socket_session*>* registry;
};

}  // namespace

class socket_mode_client::impl {
public:
    impl(asio::any_io_executor executor, socket_mode_options options,
         integrations::http_client& http, core::logger& log, events_handler on_events)
        : ex_(std::move(executor)),
          opt_(std::move(options)),
          http_(http),
          log_(log),
          on_events_(std::move(on_events)),
          envelopes_(std::max<milliseconds>(opt_.dedupe_window, std::chrono::minutes{10}),
                     opt_.dedupe_capacity),
          keys_(std::max<milliseconds>(opt_.dedupe_window, std::chrono::minutes{10}),
                opt_.dedupe_capacity) {
        event_parse_options parse;
        parse.bot_user_id = opt_.bot_user_id;
        parse.max_text_bytes = opt_.max_text_bytes;
        frames_ = socket_frame_parser(std::move(parse));
        if (!opt_.random01) {
            opt_.random01 = default_random01();
        }
        if (!opt_.api_url.empty() && opt_.api_url.back() != '/') {
            opt_.api_url += '/';
        }
        opt_.max_batch = std::max<std::size_t>(opt_.max_batch, 1);
    }

    ~impl() { *alive_ = false; }

    // ---- run / stop ----

    asio::awaitable<core::result<void>> run() {
        if (started_) {
            co_return core::make_error(core::errc::internal,
                                       "socket_mode_client::run() was called twice");
        }
        started_ = true;
        if (auto valid = validate(); !valid) {
            co_return valid;
        }
        log_.info("socket_mode_starting", {{"connections", opt_.connections}});
        for (int i = 1; i <= opt_.connections; ++i) {
            ++slots_running_;
            asio::co_spawn(ex_, run_slot(static_cast<std::size_t>(i)),
                           [this, i](std::exception_ptr e) {
                               log_crash("socket_mode_slot_crashed", e, i);
                               --slots_running_;
                               notify();
                           });
        }
        asio::steady_timer timer(ex_);
        while (slots_running_ > 0) {
            timer.expires_at(steady::time_point::max());
            waiters_.push_back(&timer);
            co_await timer.async_wait(use_tuple);
            std::erase(waiters_, &timer);
            // Cancelling run() is a shutdown request: close sockets cleanly, then finish.
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none) {
                stop();
                co_await asio::this_coro::reset_cancellation_state();
            }
        }
        // Everything read was acknowledged, so Slack will not send it again: hand it over.
        flush_now();
        log_.info("socket_mode_stopped",
                  {{"envelopes", stats_.envelopes}, {"reconnects", stats_.reconnects}});
        if (fatal_) {
            co_return *fatal_;
        }
        co_return core::ok();
    }

    void stop() {
        if (stopping_) {
            return;
        }
        stopping_ = true;
        for (socket_session* s : sessions_) {
            if (s->finished) {
                continue;
            }
            if (s->handshaken) {
                request_close(*s);
            } else {
                s->force_close();
            }
        }
        notify();
    }

    bool ready() const noexcept { return stats_.open_connections > 0; }
    const socket_mode_stats& stats() const noexcept { return stats_; }

    asio::awaitable<bool> wait_until(std::function<bool()> done, milliseconds timeout) {
        co_return co_await wait_for(observers_, std::move(done), steady::now() + timeout);
    }

private:
    core::result<void> validate() {
        const std::string& token = opt_.app_token;
        if (token.empty()) {
            return core::make_error(
                core::errc::config_error,
                "Socket Mode needs an app-level token: set SLACK_APP_TOKEN (or slack.app_token) "
                "to the app's xapp-… token (Basic Information → App-Level Tokens, scope "
                "connections:write)");
        }
        if (!token.starts_with("xapp-")) {
            // Name the kind of token given (its prefix) without revealing any of the secret.
            const auto dash = token.find('-');
            const std::string given =
                dash != std::string::npos && dash <= 4
                    ? fmt::format("starts with \"{}\"", token.substr(0, dash + 1))
                    : "is not an app-level token";
            return core::make_error(
                core::errc::config_error,
                fmt::format("the Socket Mode token {}: set SLACK_APP_TOKEN (or slack.app_token) to "
                            "the app's xapp-… token (Basic Information → App-Level Tokens); a "
                            "xoxb-… bot token belongs in SLACK_BOT_TOKEN",
                            given));
        }
        if (opt_.connections < 1 || opt_.connections > 10) {
            return core::make_error(
                core::errc::config_error,
                fmt::format("slack.connections is {}; Slack allows 1 to 10 Socket Mode "
                            "connections (2 is a good choice)",
                            opt_.connections));
        }
        return core::ok();
    }

    // ---- waiting ----

    // Wakes every waiter so it re-checks its condition.
    void notify() {
        for (auto* t : waiters_) {
            t->cancel();
        }
        notify_observers();
    }

    void notify_observers() {
        for (auto* t : observers_) {
            t->cancel();
        }
    }

    // Waits until `pred()` holds (re-checked after each notify) or `deadline`; false on the
    // deadline or when the awaiting coroutine is cancelled.
    template <class Pred>
    asio::awaitable<bool> wait_for(std::vector<asio::steady_timer*>& list, Pred pred,
                                   steady::time_point deadline) {
        asio::steady_timer timer(ex_);
        while (!pred()) {
            if (steady::now() >= deadline) {
                co_return false;
            }
            timer.expires_at(deadline);
            list.push_back(&timer);
            co_await timer.async_wait(use_tuple);
            std::erase(list, &timer);
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none) {
                co_return false;
            }
        }
        co_return true;
    }

    asio::awaitable<void> sleep(milliseconds d) {
        co_await wait_for(
            waiters_, [this] { return stopping_; }, steady::now() + d);
    }

    asio::awaitable<void> wait_stopped() {
        co_await wait_for(
            waiters_, [this] { return stopping_; }, steady::time_point::max());
    }

    // ---- one connection slot ----

    // Keeps one socket open: connect, serve, and on its end follow next_step().
    asio::awaitable<void> run_slot(std::size_t slot) {
        backoff delays(opt_.backoff, opt_.random01);
        std::unique_ptr<socket_session> current;
        try {
            while (!stopping_) {
                if (!current) {
                    current = co_await establish(slot, delays);
                    if (!current) {
                        break;
                    }
                    continue;
                }
                co_await wait_for(
                    waiters_, [&] { return stopping_ || current->finished || current->refresh; },
                    steady::time_point::max());
                if (stopping_) {
                    break;
                }
                if (!current->finished) {
                    // A routine refresh: the old socket keeps acking until the new one has
                    // said hello, so there is no moment without a connection.
                    log_.info(
                        "socket_mode_refresh",
                        {{"slot", slot},
                         {"connection", current->id},
                         {"reason",
                          to_string(current->disconnect.value_or(end_reason::refresh_requested))}});
                    auto replacement = co_await establish(slot, delays);
                    if (!replacement) {
                        break;
                    }
                    co_await retire(std::move(current));
                    current = std::move(replacement);
                    continue;
                }
                const end_reason reason = current->reason;
                delays.connection_ended(
                    std::chrono::duration_cast<milliseconds>(steady::now() - current->hello_at));
                current.reset();
                co_await after_end(slot, reason, delays);
            }
        } catch (const std::exception& e) {
            log_.error("socket_mode_slot_failed", {{"slot", slot}, {"what", e.what()}});
        }
        if (current) {
            co_await retire(std::move(current));
        }
    }

    // Sleeps as next_step(reason) says; a stop step ends the client.
    asio::awaitable<void> after_end(std::size_t slot, end_reason reason, backoff& delays,
                                    milliseconds at_least = milliseconds{0}) {
        const step_kind step = next_step(reason);
        milliseconds delay{0};
        if (step == step_kind::stop) {
            co_return;
        }
        if (step == step_kind::backoff) {
            delay = std::max(delays.next(), at_least);
        } else if (step == step_kind::long_backoff) {
            delay = std::max(delays.policy().long_delay, at_least);
            log_.error("socket_mode_unavailable",
                       {{"slot", slot},
                        {"reason", to_string(reason)},
                        {"retry_in_ms", delay.count()},
                        {"hint",
                         "Socket Mode is switched off for this app; turn it on under "
                         "Settings → Socket Mode"}});
        }
        if (!stopping_) {
            log_.info("socket_mode_reconnect", {{"slot", slot},
                                                {"reason", to_string(reason)},
                                                {"step", to_string(step)},
                                                {"attempt", delays.attempts()},
                                                {"delay_ms", delay.count()}});
        }
        if (delay.count() > 0) {
            co_await sleep(delay);
        }
    }

    // A fresh socket that said hello, or null when stopping or after a fatal error. Retries
    // with backoff until then.
    asio::awaitable<std::unique_ptr<socket_session>> establish(std::size_t slot, backoff& delays) {
        while (!stopping_) {
            open_outcome opened = co_await open_url();
            if (stopping_) {
                break;
            }
            if (opened.url.empty()) {
                if (next_step(opened.reason) == step_kind::stop) {
                    fail(std::move(opened.error));
                    break;
                }
                log_.warn("socket_mode_open_failed",
                          {{"slot", slot}, {"error", opened.error.message}});
                co_await after_end(slot, opened.reason, delays, opened.retry_after);
                continue;
            }
            auto url = parse_socket_url(opened.url, opt_.debug_reconnects);
            if (!url) {
                log_.warn("socket_mode_open_failed",
                          {{"slot", slot}, {"error", url.error().message}});
                co_await after_end(slot, end_reason::open_failed, delays);
                continue;
            }
            auto s = std::make_unique<socket_session>(ex_, ++session_ids_, slot,
                                                      opt_.max_message_bytes, sessions_);
            auto connected = co_await connect(*s, *url);
            if (!connected) {
                log_.warn("socket_mode_connect_failed",
                          {{"slot", slot}, {"error", connected.error().message}});
                s.reset();
                co_await after_end(slot, end_reason::connect_failed, delays);
                continue;
            }
            serve(*s);
            co_await wait_for(
                waiters_, [&] { return s->hello || s->finished || stopping_; },
                steady::now() + opt_.hello_timeout);
            if (s->hello && !s->finished) {
                co_return s;
            }
            // Slack may refuse before hello (too_many_websockets): follow its reason.
            const end_reason reason = s->finished
                                          ? s->disconnect.value_or(end_reason::connect_failed)
                                          : end_reason::connect_failed;
            if (!stopping_) {
                log_.warn("socket_mode_no_hello",
                          {{"slot", slot},
                           {"connection", s->id},
                           {"reason", to_string(reason)},
                           {"detail", s->finished ? s->detail
                                                  : fmt::format("no hello within {} ms",
                                                                opt_.hello_timeout.count())}});
            }
            co_await retire(std::move(s));
            if (!stopping_) {
                co_await after_end(slot, reason, delays);
            }
        }
        co_return nullptr;
    }

    void fail(core::error e) {
        log_.error("socket_mode_fatal", {{"error", e.message}});
        if (!fatal_) {
            fatal_ = std::move(e);
        }
        stop();
    }

    // Closes `s` with a close frame (at once with a TCP reset when it never finished its
    // handshake or the close handshake takes longer than close_timeout) and destroys it.
    asio::awaitable<void> retire(std::unique_ptr<socket_session> s) {
        if (!s->finished) {
            if (s->handshaken) {
                request_close(*s);
            } else {
                s->force_close();
            }
            const bool closed = co_await wait_for(
                waiters_, [&] { return s->finished; }, steady::now() + opt_.close_timeout);
            if (!closed) {
                s->force_close();
                co_await wait_for(
                    waiters_, [&] { return s->finished; }, steady::time_point::max());
            }
        }
    }

    // ---- apps.connections.open ----

    asio::awaitable<std::optional<core::result<integrations::http_response>>> send_open(
        integrations::http_request request) {
        co_return co_await http_.send(std::move(request));
    }

    asio::awaitable<open_outcome> open_url() {
        using namespace asio::experimental::awaitable_operators;
        integrations::http_request request;
        request.method = integrations::http_method::post;
        request.url = opt_.api_url + "apps.connections.open";
        request.headers = {{"Authorization", "Bearer " + opt_.app_token},
                           {"Content-Type", "application/x-www-form-urlencoded"}};
        request.timeout = opt_.open_timeout;
        request.max_attempts = 1;  // the slot's backoff spaces out retries
        open_outcome out;
        // Named awaitables, no temporaries in the co_await expression: GCC 12 may destroy such
        // temporaries twice.
        auto send = send_open(std::move(request));
        auto stopped = wait_stopped();
        auto raced = co_await (std::move(send) || std::move(stopped));
        if (raced.index() == 1 || !std::get<0>(raced)) {
            out.reason = end_reason::stopped;
            out.error = core::make_error(core::errc::cancelled, "stopped");
            co_return out;
        }
        auto& response = *std::get<0>(raced);
        if (!response) {
            out.error = core::make_error(
                response.error().code, "apps.connections.open failed: " + response.error().message);
            co_return out;
        }
        if (response->status == 429) {
            auto after = response->header("Retry-After");
            auto parsed =
                after ? integrations::parse_retry_after(*after, std::chrono::system_clock::now())
                      : std::nullopt;
            // Slack's SDKs wait 30 s when the header is missing.
            out.retry_after = parsed.value_or(std::chrono::seconds{30});
            out.error = core::make_error(core::errc::rate_limited,
                                         "apps.connections.open is rate limited (HTTP 429)");
            co_return out;
        }
        auto body = nlohmann::json::parse(response->body, nullptr, false);
        if (response->status != 200 || !body.is_object()) {
            out.error = core::make_error(
                core::errc::unavailable,
                fmt::format("apps.connections.open answered HTTP {}{}", response->status,
                            body.is_object() ? "" : " without a JSON body"));
            co_return out;
        }
        auto ok = body.find("ok");
        auto url = body.find("url");
        if (ok != body.end() && ok->is_boolean() && ok->get<bool>() && url != body.end() &&
            url->is_string() && !url->get_ref<const std::string&>().empty()) {
            out.url = url->get<std::string>();
            co_return out;
        }
        auto err = body.find("error");
        std::string code = err != body.end() && err->is_string() ? err->get<std::string>()
                                                                 : "no url in the answer";
        out.reason = classify_open_error(code);
        if (out.reason == end_reason::auth_failed) {
            out.error = core::make_error(
                core::errc::permission_denied,
                fmt::format("Slack refused the app-level token for Socket Mode ({}): set "
                            "SLACK_APP_TOKEN (or slack.app_token) to this app's xapp-… token "
                            "with the connections:write scope (Basic Information → App-Level "
                            "Tokens)",
                            code));
        } else {
            out.error =
                core::make_error(core::errc::unavailable, "apps.connections.open failed: " + code);
        }
        co_return out;
    }

    // ---- connecting ----

    // Resolves a DNS name, bounded by `deadline` (resolvers ignore the stream's timer).
    asio::awaitable<std::pair<error_code, tcp::resolver::results_type>> resolve(
        const socket_url& u, steady::time_point deadline) {
        tcp::resolver resolver(ex_);
        asio::steady_timer timer(ex_, deadline);
        auto fired = std::make_shared<bool>(false);
        timer.async_wait([&resolver, fired](const error_code& ec) {
            if (!ec && !*fired) {
                resolver.cancel();
            }
        });
        auto [ec, results] = co_await resolver.async_resolve(u.host, u.port, use_tuple);
        *fired = true;
        timer.cancel();
        co_return std::pair{ec, std::move(results)};
    }

    // resolve → TCP connect → SNI + host name verification → TLS handshake → expires_never →
    // WebSocket timeouts → WebSocket handshake (house rule 5).
    asio::awaitable<core::result<void>> connect(socket_session& s, socket_url u) {
        const auto deadline = steady::now() + opt_.connect_timeout;
        auto failed = [&](std::string_view step, const error_code& ec) {
            return core::make_error(
                ec == beast::error::timeout ? core::errc::timeout : core::errc::unavailable,
                fmt::format("Socket Mode {} with {} failed: {}", step, u.log_host, ec.message()));
        };
        if (u.tls && !tls_ctx_) {
            auto ctx = integrations::make_client_tls_context(opt_.tls);
            if (!ctx) {
                co_return std::move(ctx).error();
            }
            tls_ctx_ = std::move(*ctx);
        }
        s.stream.emplace(beast::tcp_stream(ex_), u.tls ? tls_ctx_.get() : nullptr);
        auto& stream = s.stream->tcp();

        error_code ec;
        auto address = asio::ip::make_address(u.host, ec);
        if (!ec) {
            stream.expires_at(deadline);
            auto port = static_cast<unsigned short>(std::stoul(u.port));
            std::tie(ec) = co_await stream.async_connect(tcp::endpoint(address, port), use_tuple);
        } else {
            auto [resolve_ec, endpoints] = co_await resolve(u, deadline);
            if (resolve_ec) {
                co_return failed("name lookup", resolve_ec);
            }
            stream.expires_at(deadline);
            std::tie(ec, std::ignore) = co_await stream.async_connect(endpoints, use_tuple);
        }
        if (ec || stopping_) {
            co_return failed("TCP connect", ec ? ec : asio::error::operation_aborted);
        }
        // An ack must leave at once, not wait behind Nagle for the ACK of the previous write.
        stream.socket().set_option(tcp::no_delay(true), ec);
        if (auto* tls = s.stream->tls()) {
            auto* native = tls->native_handle();
            if (auto prepared = integrations::prepare_client_tls(native, u.host); !prepared) {
                co_return std::move(prepared).error();
            }
            tls->set_verify_callback(ssl::host_name_verification(u.host));
            stream.expires_at(deadline);
            auto [hs_ec] = co_await tls->async_handshake(ssl::stream_base::client, use_tuple);
            if (hs_ec) {
                auto why = integrations::tls_verify_failure(native);
                if (!why.empty()) {
                    co_return core::make_error(
                        core::errc::protocol_error,
                        fmt::format("TLS certificate of {} not accepted: {}; if it uses a "
                                    "private CA, add that CA with slack.ca_file",
                                    u.host, why));
                }
                co_return failed("TLS handshake", hs_ec);
            }
        }
        // The upgrade: our request, then Slack's 101. Frames that follow it in the same read
        // stay in the buffer for the reader.
        const std::string key = wire::make_key();
        const std::string request =
            wire::upgrade_request(u.host_header, u.target, key, "tugboat/0.1");
        stream.expires_at(deadline);
        auto [write_ec, written] =
            co_await asio::async_write(*s.stream, asio::buffer(request), use_tuple);
        if (write_ec) {
            co_return failed("WebSocket handshake", write_ec);
        }
        for (;;) {
            auto [read_ec, n] =
                co_await s.stream->async_read_some(s.buffer.prepare(4096), use_tuple);
            if (read_ec) {
                co_return failed("WebSocket handshake", read_ec);
            }
            s.buffer.commit(n);
            auto answer = wire::parse_upgrade_response(buffered(s), key);
            if (!answer) {
                co_return core::make_error(
                    answer.error().code,
                    fmt::format("Socket Mode WebSocket handshake with {} failed: {}", u.log_host,
                                answer.error().message));
            }
            if (*answer > 0) {
                s.buffer.consume(*answer);
                break;
            }
        }
        stream.expires_never();
        s.heard = steady::now();
        s.handshaken = true;
        co_return core::ok();
    }

    // ---- serving one socket ----

    void serve(socket_session& s) {
        s.finished = false;
        s.running = 3;
        auto done = [this, &s](std::exception_ptr e) {
            log_crash("socket_mode_session_crashed", e, static_cast<int>(s.id));
            if (--s.running == 0) {
                s.finished = true;
                notify();
            }
        };
        asio::co_spawn(ex_, reader(s), done);
        asio::co_spawn(ex_, writer(s), done);
        asio::co_spawn(ex_, keep_alive(s), done);
    }

    static std::string_view buffered(const socket_session& s) {
        auto data = s.buffer.cdata();
        return {static_cast<const char*>(data.data()), data.size()};
    }

    // Handles every whole frame received, then reads more. All frames of one read are handled
    // in one pass, without a trip through the event loop per frame.
    asio::awaitable<void> reader(socket_session& s) {
        error_code ec;
        std::string failure;
        try {
            for (;;) {
                const std::string_view received = buffered(s);
                std::size_t used = 0;
                for (;;) {
                    auto m = s.frames.next(received, used);
                    if (!m) {
                        failure = m.error().message;
                        break;
                    }
                    if (!*m) {
                        break;
                    }
                    on_message(s, **m);
                }
                s.buffer.consume(used);
                if (!failure.empty()) {
                    // A peer that breaks the protocol gets no close handshake.
                    s.force_close();
                    break;
                }
                auto [read_ec, n] =
                    co_await s.stream->async_read_some(s.buffer.prepare(read_size), use_tuple);
                if (read_ec) {
                    ec = read_ec;
                    break;
                }
                s.buffer.commit(n);
                s.heard = steady::now();
                s.ping_sent = false;
            }
        } catch (...) {
            end_reading(s, asio::error::operation_aborted, {});
            throw;
        }
        end_reading(s, ec, std::move(failure));
    }

    void on_message(socket_session& s, const wire::message& m) {
        switch (m.op) {
            case wire::opcode::text: on_frame(s, m.payload); break;
            case wire::opcode::ping:
                if (!s.close_sent) {
                    wire::append_frame(s.control, wire::opcode::pong, m.payload, masks_);
                    wake_writer(s);
                }
                break;
            case wire::opcode::close:
                if (!s.close_received) {
                    s.close_received = wire::close_code(m.payload);
                    if (!s.close_sent) {
                        // Echo the code, then Slack closes the TCP connection.
                        const std::uint16_t code = *s.close_received;
                        wire::append_close(s.control, code == 1005 || code == 1006 ? 1000 : code,
                                           masks_);
                        s.close_sent = true;
                        wake_writer(s);
                        s.keepalive.cancel();  // it bounds the wait for the TCP close now
                    }
                }
                break;
            default: break;  // binary frames and pongs carry nothing for us
        }
    }

    void end_reading(socket_session& s, const error_code& ec, std::string failure) {
        s.reader_done = true;
        s.keepalive.cancel();
        if (s.close_requested || stopping_) {
            s.reason = stopping_ ? end_reason::stopped : s.disconnect.value_or(end_reason::stopped);
            s.detail = "closed by us";
        } else if (s.disconnect) {
            s.reason = *s.disconnect;
            s.detail = "closed by Slack after a disconnect message";
        } else {
            s.reason = end_reason::dropped;
            if (!failure.empty()) {
                s.detail = "protocol error: " + failure;
            } else if (s.close_received) {
                s.detail = fmt::format("closed by Slack without a disconnect message (code {})",
                                       *s.close_received);
            } else if (s.timed_out) {
                s.detail = fmt::format("no data or pong for {} ms: dead connection",
                                       opt_.idle_timeout.count());
            } else {
                s.detail = ec.message();
            }
        }
        if (s.counted_open) {
            s.counted_open = false;
            --stats_.open_connections;
            if (stats_.open_connections == 0 && !stopping_) {
                ++stats_.gaps;
            }
        }
        const bool routine = s.reason == end_reason::stopped || s.close_requested;
        if (routine) {
            log_.info("socket_mode_closed", {{"connection", s.id}, {"slot", s.slot}});
        } else {
            log_.warn("socket_mode_closed", {{"connection", s.id},
                                             {"slot", s.slot},
                                             {"reason", to_string(s.reason)},
                                             {"detail", s.detail}});
        }
        wake_writer(s);
        notify();
    }

    // Pings after half the idle timeout of silence and drops the connection after all of it
    // (a half-open TCP connection never reports an error); once a close frame went either way,
    // waits at most close_timeout for the TCP connection to end.
    asio::awaitable<void> keep_alive(socket_session& s) {
        const auto idle = std::max<steady::duration>(opt_.idle_timeout, milliseconds{4});
        while (!s.reader_done) {
            const bool closing = s.close_received || s.close_sent;
            s.keepalive.expires_after(closing ? steady::duration(opt_.close_timeout) : idle / 4);
            co_await s.keepalive.async_wait(use_tuple);
            if (s.reader_done) {
                break;
            }
            const auto now = steady::now();
            if (s.close_received || s.close_sent) {
                if (closing) {
                    s.force_close();  // Slack did not end the connection after the close
                }
                continue;
            }
            if (now - s.heard >= idle) {
                s.timed_out = true;
                s.force_close();
            } else if (now - s.heard >= idle / 2 && !s.ping_sent) {
                wire::append_frame(s.control, wire::opcode::ping, {}, masks_);
                s.ping_sent = true;
                wake_writer(s);
            }
        }
    }

    asio::awaitable<void> writer(socket_session& s) {
        for (;;) {
            if (!s.outbox.empty() || !s.control.empty()) {
                // The reader handles every frame of a read before this runs, so the acks of a
                // whole read leave in one TLS record and one system call. A close frame, once
                // queued, goes out last in the next write, and nothing may follow it.
                const bool last = s.close_sent;
                const bool written = co_await write_pending(s);
                if (written && !last) {
                    continue;
                }
                if (!written) {
                    s.force_close();  // the reader notices and ends the session
                }
                break;
            }
            if (s.reader_done || s.close_sent) {
                break;  // no writes may follow a close frame
            }
            if (s.close_requested) {
                wire::append_close(s.control, 1000, masks_);
                s.close_sent = true;
                s.keepalive.cancel();  // it bounds the wait for Slack's close now
                continue;
            }
            s.writer_waiting = true;
            co_await s.wake.async_wait(use_tuple);
            s.writer_waiting = false;
        }
        if (!s.outbox.empty() && log_.enabled(core::log_level::debug)) {
            log_.debug("socket_mode_acks_unsent",
                       {{"connection", s.id}, {"count", s.outbox.size()}});
        }
        s.outbox.clear();
        s.tickets.clear();
    }

    // Writes every queued ack, then any pong or close frame, in one write. The acks count as
    // written (see unwritten_floor) only once that write completed.
    asio::awaitable<bool> write_pending(socket_session& s) {
        const std::size_t count = s.outbox.size();
        s.writing = count > 0 ? s.tickets.front() : 0;
        s.sending.clear();
        for (std::size_t i = 0; i < count; ++i) {
            wire::append_frame(s.sending, wire::opcode::text, s.outbox.front(), masks_);
            recycle(std::move(s.outbox.front()));
            s.outbox.pop_front();
        }
        s.sending += s.control;
        s.control.clear();
        auto [ec, n] = co_await asio::async_write(*s.stream, asio::buffer(s.sending), use_tuple);
        s.tickets.erase(s.tickets.begin(), s.tickets.begin() + static_cast<std::ptrdiff_t>(count));
        s.writing = 0;
        if (!ec) {
            stats_.acks += count;
        }
        co_return !ec;
    }

    void wake_writer(socket_session& s) {
        if (s.writer_waiting) {
            s.wake.cancel();
        }
    }

    void request_close(socket_session& s) {
        s.close_requested = true;
        wake_writer(s);
    }

    // Queues an ack for the writer; returns its ticket. Tickets increase with every ack, so an
    // event whose ack ticket is below every ticket still queued or being written was acked.
    std::uint64_t send_ack(socket_session& s, std::string_view envelope_id,
                           std::string_view payload) {
        std::string msg;
        if (!spare_.empty()) {
            msg = std::move(spare_.back());
            spare_.pop_back();
        }
        make_ack_into(msg, envelope_id, payload);
        s.outbox.push_back(std::move(msg));
        s.tickets.push_back(++ack_tickets_);
        wake_writer(s);
        return ack_tickets_;
    }

    // The lowest ticket of an ack not yet written, over all sockets.
    std::uint64_t unwritten_floor() const {
        std::uint64_t floor = std::numeric_limits<std::uint64_t>::max();
        for (const socket_session* s : sessions_) {
            if (s->writing != 0) {
                floor = std::min(floor, s->writing);
            } else if (!s->tickets.empty()) {
                floor = std::min(floor, s->tickets.front());
            }
        }
        return floor;
    }

    void recycle(std::string msg) {
        if (spare_.size() < 64 && msg.capacity() <= 512) {
            spare_.push_back(std::move(msg));
        }
    }

    // The hot path: parse once, ack as soon as the envelope ID is known, then build the
    // event, de-duplicate it and queue it.
    void on_frame(socket_session& s, std::string_view text) {
        if (!observers_.empty()) {
            // Observers re-check after this frame was handled (the wake-up is posted).
            notify_observers();
        }
        auto parsed = frames_.parse_header(text);
        if (!parsed) {
            ++stats_.invalid;
            log_.warn("socket_mode_bad_frame",
                      {{"connection", s.id}, {"error", parsed.error().message}});
            return;
        }
        socket_frame& f = *parsed;
        if (f.type == frame_type::hello) {
            on_hello(s, f);
            return;
        }
        if (f.type == frame_type::disconnect) {
            on_disconnect(s, f);
            return;
        }
        if (f.envelope_id.empty()) {
            ++stats_.ignored;
            if (log_.enabled(core::log_level::debug)) {
                log_.debug("socket_mode_frame_ignored", {{"type", f.type_name}});
            }
            return;
        }
        ++stats_.envelopes;
        const auto now = steady::now();
        const bool fresh = envelopes_.insert(f.envelope_id, now);
        std::uint64_t ticket = 0;
        if (fresh && f.accepts_response_payload && opt_.ack_payload) {
            // The ack carries an answer built from the event, so the event comes first.
            f.payload = frames_.parse_payload();
            std::string ack_payload;
            if (f.payload && f.payload->event) {
                try {
                    ack_payload = opt_.ack_payload(*f.payload->event);
                } catch (const std::exception& e) {
                    log_.error("socket_mode_ack_payload_failed", {{"what", e.what()}});
                }
            }
            ticket = send_ack(s, f.envelope_id, ack_payload);
        } else {
            ticket = send_ack(s, f.envelope_id, {});
            if (fresh) {
                f.payload = frames_.parse_payload();
            }
        }
        const bool debug = log_.enabled(core::log_level::debug);
        if (!fresh) {
            ++stats_.duplicates;
            if (debug) {
                log_.debug("socket_mode_duplicate_envelope",
                           {{"envelope_id", f.envelope_id}, {"retry", f.retry_attempt}});
            }
            return;
        }
        if (!f.payload) {
            ++stats_.invalid;
            log_.warn("socket_mode_bad_payload", {{"envelope_id", f.envelope_id},
                                                  {"type", f.type_name},
                                                  {"error", f.payload.error().message}});
            return;
        }
        if (!f.payload->event) {
            ++stats_.ignored;
            if (debug) {
                log_.debug("socket_mode_ignored",
                           {{"envelope_id", f.envelope_id}, {"why", f.payload->ignored}});
            }
            return;
        }
        commands::inbound_event& ev = *f.payload->event;
        if (!ev.idempotency_key.empty() && !keys_.insert(ev.idempotency_key, now)) {
            ++stats_.duplicates;
            if (debug) {
                log_.debug("socket_mode_duplicate_event", {{"key", ev.idempotency_key},
                                                           {"retry", f.retry_attempt},
                                                           {"reason", f.retry_reason}});
            }
            return;
        }
        if (debug) {
            log_.debug("socket_mode_envelope", {{"connection", s.id},
                                                {"envelope_id", f.envelope_id},
                                                {"kind", commands::to_string(ev.kind)},
                                                {"key", ev.idempotency_key},
                                                {"retry", f.retry_attempt}});
        }
        enqueue(std::move(ev), ticket);
    }

    void on_hello(socket_session& s, const socket_frame& f) {
        if (s.hello) {
            return;
        }
        s.hello = true;
        s.hello_at = steady::now();
        s.counted_open = true;
        ++stats_.open_connections;
        ++stats_.connects;
        if (slot_connected_.size() <= s.slot) {
            slot_connected_.resize(s.slot + 1, false);
        }
        stats_.reconnects += slot_connected_[s.slot] ? 1 : 0;
        slot_connected_[s.slot] = true;
        log_.info("socket_mode_connected", {{"slot", s.slot},
                                            {"connection", s.id},
                                            {"open", stats_.open_connections},
                                            {"slack_num_connections", f.num_connections}});
        notify();
    }

    void on_disconnect(socket_session& s, const socket_frame& f) {
        const end_reason reason = classify_disconnect(f.disconnect_reason);
        s.disconnect = reason;
        log_.info("socket_mode_disconnect_message",
                  {{"connection", s.id}, {"reason", f.disconnect_reason}});
        if (next_step(reason) == step_kind::reconnect_now) {
            s.refresh = true;
        } else {
            // Slack will close it anyway; closing first lets the slot move on.
            request_close(s);
        }
        notify();
    }

    // ---- handing events over in batches ----

    // Events that arrive within `batch_window` of each other go out together, so the dispatcher
    // records their keys in one SQLite transaction; then the events whose acks are written are
    // handed over, so the handler's work never delays an ack already due. Only when acks make
    // no progress for a while (a socket that takes no writes) are the rest handed over anyway:
    // a re-delivery of theirs is de-duplicated. A timer, not re-posted hops: each trip through
    // the queue also polls the reactor, which was one system call per event under load.
    void enqueue(commands::inbound_event&& ev, std::uint64_t ack_ticket) {
        pending_.push_back(std::move(ev));
        pending_tickets_.push_back(ack_ticket);
        if (!flush_armed_) {
            flush_armed_ = true;
            batch_due_ = steady::now() + opt_.batch_window;
            flush_at(batch_due_);
        } else if (pending_.size() == opt_.max_batch) {
            flush_at(steady::now());
        }
    }

    void flush_at(steady::time_point due) {
        flush_timer_.expires_at(due);
        flush_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](error_code ec) {
            if (auto a = alive.lock(); a && *a && !ec) {
                flush_step();
            }
        });
    }

    void flush_step() {
        // How long events wait for acks that cannot be written before they are handed over.
        constexpr auto ack_patience = milliseconds{50};
        if (pending_.empty()) {
            flush_armed_ = false;
            return;
        }
        const auto now = steady::now();
        const bool full = pending_.size() >= opt_.max_batch;
        if (!full && now < batch_due_) {
            flush_at(batch_due_);
            return;
        }
        const std::uint64_t floor = unwritten_floor();
        auto acked = static_cast<std::size_t>(
            std::lower_bound(pending_tickets_.begin(), pending_tickets_.end(), floor) -
            pending_tickets_.begin());
        if (acked == 0) {
            if (floor != flush_floor_) {
                flush_floor_ = floor;
                stuck_since_ = now;
            }
            if (now - stuck_since_ < ack_patience) {
                flush_at(now + milliseconds{1});
                return;
            }
            acked = pending_.size();
        }
        hand_over(acked);
        stuck_since_ = now;
        if (pending_.empty()) {
            flush_armed_ = false;
        } else {
            batch_due_ = now + opt_.batch_window;
            flush_at(batch_due_);
        }
    }

    // Hands everything over (at shutdown: all of it was read, and acks will not be retried).
    void flush_now() { hand_over(pending_.size()); }

    // Hands the first `n` pending events to the handler.
    void hand_over(std::size_t n) {
        if (n == 0) {
            return;
        }
        std::vector<commands::inbound_event> batch;
        if (n == pending_.size()) {
            batch.swap(pending_);
            pending_tickets_.clear();
        } else {
            batch.reserve(n);
            std::move(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n),
                      std::back_inserter(batch));
            pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
            pending_tickets_.erase(pending_tickets_.begin(),
                                   pending_tickets_.begin() + static_cast<std::ptrdiff_t>(n));
        }
        stats_.events += batch.size();
        ++stats_.batches;
        try {
            if (on_events_) {
                on_events_(std::move(batch));
            }
        } catch (const std::exception& e) {
            log_.error("socket_mode_handler_failed", {{"what", e.what()}});
        }
        notify_observers();
    }

    void log_crash(std::string_view event, std::exception_ptr e, int id) {
        if (!e) {
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log_.error(event, {{"id", id}, {"what", ex.what()}});
        } catch (...) {
            log_.error(event, {{"id", id}, {"what", "unknown"}});
        }
    }

    asio::any_io_executor ex_;
    socket_mode_options opt_;
    integrations::http_client& http_;
    core::logger& log_;
    events_handler on_events_;
    socket_frame_parser frames_;
    std::shared_ptr<ssl::context> tls_ctx_;
    socket_mode_stats stats_;
    recent_keys envelopes_;
    recent_keys keys_;
    std::vector<commands::inbound_event> pending_;
    bool flush_armed_ = false;                    // the flush timer runs for the pending events
    std::vector<std::uint64_t> pending_tickets_;  // ack ticket of each pending event
    steady::time_point batch_due_{};  // when the oldest pending event is handed over at the latest
    steady::time_point stuck_since_{};  // since when no pending event's ack was written
    std::uint64_t flush_floor_ = 0;
    std::uint64_t ack_tickets_ = 0;     // last ticket issued
    std::vector<bool> slot_connected_;  // by slot: reached hello before
    asio::steady_timer flush_timer_{ex_};
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::vector<socket_session*> sessions_;
    std::vector<asio::steady_timer*> waiters_;    // slots, run(), retire()
    std::vector<asio::steady_timer*> observers_;  // wait_until()
    std::vector<std::string> spare_;              // ack buffers for reuse
    wire::mask_source masks_;
    std::size_t session_ids_ = 0;
    int slots_running_ = 0;
    bool started_ = false;
    bool stopping_ = false;
    std::optional<core::error> fatal_;
};

socket_mode_client::socket_mode_client(asio::any_io_executor executor, socket_mode_options options,
                                       integrations::http_client& http, core::logger& log,
                                       events_handler on_events)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(options), http, log,
                                   std::move(on_events))) {}

socket_mode_client::~socket_mode_client() = default;

asio::awaitable<core::result<void>> socket_mode_client::run() {
    return impl_->run();
}

void socket_mode_client::stop() {
    impl_->stop();
}

bool socket_mode_client::ready() const noexcept {
    return impl_->ready();
}

socket_mode_stats socket_mode_client::stats() const noexcept {
    return impl_->stats();
}

asio::awaitable<bool> socket_mode_client::wait_until(std::function<bool()> done,
                                                     std::chrono::milliseconds timeout) {
    return impl_->wait_until(std::move(done), timeout);
}

}  // namespace tugboat::bot
