#include "integrations/http_client.hpp"

#include "integrations/byte_stream.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <vector>

namespace tugboat::integrations {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using boost::system::error_code;

// Private coroutines in this file take references to objects living in the frame of the
// coroutine that awaits them; they are always co_awaited directly, so the referents outlive
// them.

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t read_chunk_bytes = 16 * 1024;

// The parts of a URL the client needs, split once per call.
struct target {
    bool tls = true;
    std::string host;         // DNS name or IP literal, without IPv6 brackets
    std::string port;         // decimal
    std::string resource;     // path and query as sent on the wire
    std::string host_header;  // host[:port] as the Host field wants it
    std::string pool_key;     // scheme://host:port
    std::string log_host;     // host:port
    std::string log_path;     // path without the query, which may carry tokens
};

// The URL as it may appear in an error message: without the query.
std::string url_for_message(std::string_view url) {
    return std::string(url.substr(0, url.find('?')));
}

core::result<target> parse_target(const std::string& url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) {
        return core::make_error(core::errc::invalid_argument,
                                "URL \"" + url_for_message(url) + "\" is not an absolute URL (" +
                                    parsed.error().message() +
                                    "); write it as https://host[:port]/path");
    }
    const auto& u = *parsed;
    target t;
    if (u.scheme_id() == boost::urls::scheme::https) {
        t.tls = true;
    } else if (u.scheme_id() == boost::urls::scheme::http) {
        t.tls = false;
    } else {
        return core::make_error(core::errc::invalid_argument,
                                "URL \"" + url_for_message(url) +
                                    "\" must start with https:// (or http:// for local servers)");
    }
    t.host = u.host_address();
    if (t.host.empty()) {
        return core::make_error(core::errc::invalid_argument,
                                "URL \"" + url_for_message(url) +
                                    "\" has no host; write it as https://host[:port]/path");
    }
    std::string default_port = t.tls ? "443" : "80";
    t.port = u.has_port() && !u.port().empty() ? std::string(u.port()) : default_port;
    if (t.port.size() > 5 || std::stoul(t.port) == 0 || std::stoul(t.port) > 65535) {
        return core::make_error(core::errc::invalid_argument,
                                "URL \"" + url_for_message(url) +
                                    "\" has an invalid port; use a number from 1 to 65535");
    }
    bool ipv6 = u.host_type() == boost::urls::host_type::ipv6;
    std::string bracketed = ipv6 ? "[" + t.host + "]" : t.host;
    t.host_header = t.port == default_port ? bracketed : bracketed + ":" + t.port;
    t.log_host = bracketed + ":" + t.port;
    t.pool_key = std::string(t.tls ? "https://" : "http://") + t.log_host;
    t.resource = std::string(u.encoded_target());
    if (t.resource.empty() || t.resource.front() != '/') {
        t.resource.insert(0, "/");
    }
    t.log_path = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
    return t;
}

http::verb to_verb(http_method method) {
    switch (method) {
        case http_method::get: return http::verb::get;
        case http_method::head: return http::verb::head;
        case http_method::post: return http::verb::post;
        case http_method::put: return http::verb::put;
        case http_method::patch: return http::verb::patch;
        case http_method::delete_: return http::verb::delete_;
        case http_method::options: return http::verb::options;
    }
    return http::verb::get;
}

bool has_line_break(std::string_view s) {
    return s.find_first_of("\r\n") != std::string_view::npos;
}

// The single place where transport error codes become core errors.
core::error transport_error(const error_code& ec, std::string_view context) {
    auto fail = [&](core::errc code, std::string_view hint) {
        return core::make_error(code, fmt::format("{}: {}{}", context, ec.message(), hint));
    };
    if (ec == beast::error::timeout || ec == asio::error::timed_out) {
        return fail(core::errc::timeout,
                    "; the server did not answer in time (raise the timeout if it is just slow)");
    }
    if (ec == asio::error::operation_aborted) {
        return fail(core::errc::cancelled, "");
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec == ssl::error::stream_truncated) {
        return fail(core::errc::unavailable, " (the server closed the connection)");
    }
    if (ec.category() == http::make_error_code(http::error::bad_version).category() ||
        ec.category() == asio::error::get_ssl_category() ||
        ec.category() == ssl::error::get_stream_category()) {
        return fail(core::errc::protocol_error,
                    "; check the URL's scheme (http/https) and port, and the client "
                    "certificate if the server requires one");
    }
    return fail(core::errc::unavailable, "; check the URL and that the server is running");
}

// Failures that say the peer had closed a pooled connection before we used it.
bool closed_by_peer(const error_code& ec) {
    return ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::error::connection_aborted || ec == ssl::error::stream_truncated;
}

// Only these can go away by trying again; cancellation, bad input and protocol errors cannot.
bool is_transient(core::errc code) {
    return code == core::errc::unavailable || code == core::errc::timeout;
}

std::optional<std::string> header_of(const http::response_header<>& head, std::string_view name) {
    auto it = head.find(beast::string_view(name.data(), name.size()));
    if (it == head.end()) {
        return std::nullopt;
    }
    return std::string(it->value());
}

http_headers copy_headers(const http::response_header<>& head) {
    http_headers out;
    for (const auto& field : head) {
        out.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    return out;
}

long long elapsed_ms(steady::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - since).count();
}

}  // namespace

struct host_pool;

// A place under one host's connection cap (http_client_options::max_connections_per_host),
// held by a counted connection or by a request about to dial one. Freeing it hands it to the
// first request waiting for that host, if any.
class pool_slot {
public:
    pool_slot() = default;
    explicit pool_slot(std::shared_ptr<host_pool> pool) : pool_(std::move(pool)) {}
    pool_slot(pool_slot&&) noexcept = default;
    pool_slot& operator=(pool_slot&& other) noexcept {
        if (this != &other) {
            reset();
            pool_ = std::move(other.pool_);
        }
        return *this;
    }
    ~pool_slot() { reset(); }

    explicit operator bool() const noexcept { return pool_ != nullptr; }
    inline void reset() noexcept;

private:
    std::shared_ptr<host_pool> pool_;
};

// One TCP or TLS connection, pooled between requests to the same scheme+host+port.
struct connection {
    explicit connection(byte_stream s) : stream(std::move(s)) {}

    // First, so it is freed last: a request woken by it dials after this socket closed.
    pool_slot slot;  // empty for stream connections, which the cap does not count
    byte_stream stream;
    beast::flat_buffer buffer;
    steady::time_point idle_since{};

    beast::tcp_stream& tcp() { return stream.tcp(); }

    // True when the peer has neither closed nor sent anything since the last response: any
    // readable byte (EOF, a TLS alert, stray data) makes the connection unusable.
    bool still_idle() {
        auto& socket = tcp().socket();
        if (!socket.is_open() || buffer.size() != 0) {
            return false;
        }
        char byte = 0;
        auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
};

// A request in progress: its connection and the parser holding the response head.
struct exchange {
    std::unique_ptr<connection> conn;
    http::response_parser<http::buffer_body> parser;
    std::vector<char> chunk = std::vector<char>(read_chunk_bytes);

    // Reads more body into `chunk`; returns the error and the number of body bytes now there.
    // `whole` reads until the chunk is full or the body ends, otherwise until any progress.
    asio::awaitable<std::pair<error_code, std::size_t>> read_body_piece(bool whole) {
        auto& body = parser.get().body();
        body.data = chunk.data();
        body.size = chunk.size();
        std::tuple<error_code, std::size_t> got;
        if (whole) {
            got = co_await http::async_read(conn->stream, conn->buffer, parser, use_tuple);
        } else {
            got = co_await http::async_read_some(conn->stream, conn->buffer, parser, use_tuple);
        }
        auto [ec, n] = got;
        if (ec == http::error::need_buffer) {
            ec = {};
        }
        co_return std::pair{ec, chunk.size() - parser.get().body().size};
    }
};

struct pool_waiter;

// The connections of one scheme+host+port: how many count against the cap, the idle ones,
// and the requests waiting for one (FIFO). Shared with slots and waiters, which may outlive
// the client when the io_context is stopped mid-request.
struct host_pool : std::enable_shared_from_this<host_pool> {
    std::size_t open = 0;  // slots taken: idle, busy and being-dialled connections
    std::vector<std::unique_ptr<connection>> idle;  // oldest first
    std::deque<pool_waiter*> waiters;
    bool closed = false;  // the client is gone: nobody is woken any more

    inline void slot_freed() noexcept;
    inline void hand_over(std::unique_ptr<connection> conn);
};

// A request waiting for a connection to its host. Woken by cancelling its timer; what it was
// given (a connection, or a slot to dial with) is in `conn` / `slot`.
struct pool_waiter {
    pool_waiter(asio::any_io_executor ex, std::shared_ptr<host_pool> p)
        : timer(std::move(ex)), pool(std::move(p)) {}
    pool_waiter(const pool_waiter&) = delete;
    pool_waiter& operator=(const pool_waiter&) = delete;
    ~pool_waiter() {
        if (!granted) {
            std::erase(pool->waiters, this);
        }
    }

    void grant(std::unique_ptr<connection> c, pool_slot s) {
        conn = std::move(c);
        slot = std::move(s);
        granted = true;
        timer.cancel();
    }

    asio::steady_timer timer;
    std::shared_ptr<host_pool> pool;
    std::unique_ptr<connection> conn;
    pool_slot slot;
    bool granted = false;
};

void pool_slot::reset() noexcept {
    if (auto pool = std::move(pool_)) {
        pool->slot_freed();
    }
}

void host_pool::slot_freed() noexcept {
    if (closed || waiters.empty()) {
        --open;
        return;
    }
    // The place passes straight to the first waiter, which dials with it.
    pool_waiter* first = waiters.front();
    waiters.pop_front();
    first->grant(nullptr, pool_slot(shared_from_this()));
}

// A connection that just finished a request: to the first waiter if any (it keeps its slot).
void host_pool::hand_over(std::unique_ptr<connection> conn) {
    pool_waiter* first = waiters.front();
    waiters.pop_front();
    first->grant(std::move(conn), pool_slot());
}

struct http_stream::state {
    std::unique_ptr<exchange> ex;
    std::chrono::milliseconds idle_timeout{};
    int status = 0;
    http_headers headers;
    std::optional<core::error> failure;  // sticky: the connection is unusable after an error
    bool ended = false;
    core::logger* log = nullptr;
    std::string context;  // "GET host:port/path" for messages
    steady::time_point opened{};
    std::size_t bytes = 0;
};

http_stream::http_stream(std::unique_ptr<state> s) : state_(std::move(s)) {}
http_stream::http_stream(http_stream&&) noexcept = default;
http_stream& http_stream::operator=(http_stream&&) noexcept = default;
http_stream::~http_stream() = default;

int http_stream::status() const noexcept {
    return state_->status;
}

const http_headers& http_stream::headers() const noexcept {
    return state_->headers;
}

std::optional<std::string> http_stream::header(std::string_view name) const {
    return find_header(state_->headers, name);
}

asio::awaitable<core::result<std::string>> http_stream::next() {
    state& s = *state_;
    if (s.failure) {
        co_return *s.failure;
    }
    while (!s.ended) {
        if (s.ex->parser.is_done()) {
            s.ended = true;
            s.log->debug(
                "http_stream_end",
                {{"request", s.context}, {"bytes", s.bytes}, {"ms", elapsed_ms(s.opened)}});
            // The connection is not pooled: streams are long-lived and rare, and closing
            // keeps the ownership simple.
            s.ex.reset();
            break;
        }
        s.ex->conn->tcp().expires_after(s.idle_timeout);
        auto [ec, n] = co_await s.ex->read_body_piece(false);
        if (ec) {
            s.failure = transport_error(ec, s.context);
            if (ec == beast::error::timeout) {
                s.failure->message = fmt::format("{}: no data for {} ms; the stream is idle",
                                                 s.context, s.idle_timeout.count());
            }
            s.log->debug("http_stream_end", {{"request", s.context},
                                             {"bytes", s.bytes},
                                             {"error", core::to_string(s.failure->code)}});
            s.ex.reset();
            co_return *s.failure;
        }
        if (n > 0) {
            s.bytes += n;
            co_return std::string(s.ex->chunk.data(), n);
        }
    }
    co_return std::string{};
}

asio::awaitable<core::result<std::string>> http_stream::read_all(std::size_t limit) {
    std::string body;
    for (;;) {
        auto piece = co_await next();
        if (!piece) {
            co_return std::move(piece).error();
        }
        if (piece->empty()) {
            co_return body;
        }
        body += *piece;
        if (body.size() > limit) {
            co_return core::make_error(
                core::errc::protocol_error,
                fmt::format("{}: response body exceeds {} bytes", state_->context, limit));
        }
    }
}

class http_client::impl {
public:
    impl(asio::any_io_executor executor, core::logger& log, std::shared_ptr<ssl::context> tls,
         http_client_options options)
        : executor_(std::move(executor)),
          log_(log),
          tls_(std::move(tls)),
          options_(std::move(options)),
          random_(std::random_device{}()) {}

    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    ~impl() {
        // Slots of requests still suspended (a stopped io_context) must not wake anyone.
        for (auto& [key, pool] : pools_) {
            pool->closed = true;
            pool->idle.clear();
        }
    }

    asio::awaitable<core::result<http_response>> send(http_request request) {
        auto prepared = prepare(request);
        if (!prepared) {
            co_return std::move(prepared).error();
        }
        auto done = co_await perform(prepared->first, prepared->second, request, true);
        if (!done) {
            co_return std::move(done).error();
        }
        http_response response;
        response.status = done->ex->parser.get().result_int();
        response.headers = copy_headers(done->ex->parser.get().base());
        response.body = std::move(done->body);
        co_return response;
    }

    asio::awaitable<core::result<http_stream>> open_stream(http_request request,
                                                           std::chrono::milliseconds idle) {
        auto prepared = prepare(request);
        if (!prepared) {
            co_return std::move(prepared).error();
        }
        const target& t = prepared->first;
        auto done = co_await perform(t, prepared->second, request, false);
        if (!done) {
            co_return std::move(done).error();
        }
        auto s = std::make_unique<http_stream::state>();
        s->status = done->ex->parser.get().result_int();
        s->headers = copy_headers(done->ex->parser.get().base());
        s->ex = std::move(done->ex);
        s->idle_timeout = idle;
        s->log = &log_;
        s->context = fmt::format("{} {}{}", to_string(request.method), t.log_host, t.log_path);
        s->opened = steady::now();
        co_return http_stream(std::move(s));
    }

    std::size_t idle_connections() const noexcept {
        std::size_t n = 0;
        for (const auto& [key, pool] : pools_) {
            n += pool->idle.size();
        }
        return n;
    }

    void close_idle() noexcept {
        for (auto& [key, pool] : pools_) {
            // Moved out first: closing frees slots, which may wake waiters.
            auto closing = std::move(pool->idle);
            pool->idle.clear();
        }
    }

private:
    // What start_exchange ended with: an exchange whose response head has arrived, or an
    // error plus what the retry rules need to know about it.
    struct head_result {
        std::unique_ptr<exchange> ex;
        core::error error;
        bool sent = false;
        bool reused = false;
    };

    // A finished call: the exchange (head read) and, for send(), the whole body.
    struct completed {
        std::unique_ptr<exchange> ex;
        std::string body;
    };

    using wire_request = http::request<http::string_body>;

    core::result<std::pair<target, wire_request>> prepare(http_request& request) {
        auto t = parse_target(request.url);
        if (!t) {
            return std::move(t).error();
        }
        wire_request msg{to_verb(request.method), t->resource, 11};
        msg.set(http::field::host, t->host_header);
        bool has_user_agent = false;
        for (const auto& [name, value] : request.headers) {
            if (name.empty() || has_line_break(name) || has_line_break(value)) {
                return core::make_error(
                    core::errc::invalid_argument,
                    "HTTP header \"" + name + "\" is empty or contains a line break; remove it");
            }
            has_user_agent = has_user_agent || beast::iequals(name, "User-Agent");
            msg.insert(name, value);
        }
        if (!has_user_agent) {
            msg.set(http::field::user_agent, options_.user_agent);
        }
        msg.body() = std::move(request.body);
        msg.prepare_payload();
        return std::pair{std::move(*t), std::move(msg)};
    }

    // The retry loop shared by send() and open_stream().
    asio::awaitable<core::result<completed>> perform(const target& t, const wire_request& msg,
                                                     const http_request& request, bool want_body) {
        const auto deadline = steady::now() + request.timeout;
        const bool idempotent = request.is_idempotent();
        const int max_attempts = std::max(1, request.max_attempts);
        const bool head_only = request.method == http_method::head;
        const auto method = to_string(request.method);
        const std::string context = fmt::format("{} {}{}", method, t.log_host, t.log_path);

        for (int attempt = 1;; ++attempt) {
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none) {
                co_return core::make_error(core::errc::cancelled, context + ": cancelled");
            }
            const auto started = steady::now();
            auto head = co_await start_exchange(t, msg, deadline, idempotent, head_only, !want_body,
                                                context);
            attempt_outcome outcome{.sent = head.sent};
            core::error failure = std::move(head.error);

            if (head.ex) {
                int status = head.ex->parser.get().result_int();
                outcome.status = status;
                if (auto value = header_of(head.ex->parser.get().base(), "Retry-After")) {
                    outcome.retry_after =
                        parse_retry_after(*value, std::chrono::system_clock::now());
                }
                log_attempt(method, t, attempt, started, head.reused, status);
                auto delay = retry_delay(outcome, idempotent, attempt, max_attempts, deadline);
                if (delay) {
                    head.ex.reset();  // not worth draining a body we will not use
                    std::string reason = fmt::format("status {}", status);
                    bool waited = co_await wait(*delay, context, attempt, reason);
                    if (!waited) {
                        co_return core::make_error(core::errc::cancelled, context + ": cancelled");
                    }
                    continue;
                }
                if (!want_body) {
                    co_return completed{std::move(head.ex), {}};
                }
                auto body = co_await read_body(*head.ex, deadline, context);
                if (body) {
                    if (head.ex->parser.keep_alive()) {
                        release(std::move(head.ex->conn), t.pool_key);
                    }
                    co_return completed{std::move(head.ex), std::move(*body)};
                }
                // The connection dropped (or misbehaved) in the middle of the body.
                failure = std::move(body).error();
                outcome = attempt_outcome{.sent = true};
            } else {
                log_attempt(method, t, attempt, started, head.reused, failure.code);
            }

            outcome.permanent = !is_transient(failure.code);
            auto delay = retry_delay(outcome, idempotent, attempt, max_attempts, deadline);
            if (!delay) {
                co_return failure;
            }
            std::string reason(core::to_string(failure.code));
            bool waited = co_await wait(*delay, context, attempt, reason);
            if (!waited) {
                co_return core::make_error(core::errc::cancelled, context + ": cancelled");
            }
        }
    }

    // The retry rules, plus: a retry that could not start before the deadline is pointless.
    std::optional<std::chrono::milliseconds> retry_delay(const attempt_outcome& outcome,
                                                         bool idempotent, int attempt,
                                                         int max_attempts,
                                                         steady::time_point deadline) {
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        auto delay = next_retry_delay(options_.retry, outcome, idempotent, attempt, max_attempts,
                                      unit(random_));
        if (!delay || steady::now() + *delay >= deadline) {
            return std::nullopt;
        }
        return delay;
    }

    // Sleeps before the next attempt; false when cancelled meanwhile.
    asio::awaitable<bool> wait(std::chrono::milliseconds delay, const std::string& context,
                               int attempt, const std::string& reason) {
        log_.info("http_retry", {{"request", context},
                                 {"attempt", attempt},
                                 {"reason", reason},
                                 {"delay_ms", static_cast<long long>(delay.count())}});
        asio::steady_timer timer(executor_, delay);
        auto [ec] = co_await timer.async_wait(use_tuple);
        co_return !ec;
    }

    // Connects (or reuses a pooled connection), writes the request and reads the response
    // head. A pooled connection the server closed while idle is replaced once, transparently:
    // when writing fails, or, for idempotent requests, when the response fails before its
    // first byte.
    asio::awaitable<head_result> start_exchange(const target& t, const wire_request& msg,
                                                steady::time_point deadline, bool idempotent,
                                                bool head_only, bool stream,
                                                const std::string& context) {
        // Set when a stale pooled connection is being replaced: dial at once, in its slot.
        std::optional<pool_slot> replacing;
        for (;;) {
            head_result out;
            auto ex = std::make_unique<exchange>();
            pool_slot slot;
            if (replacing) {
                slot = std::move(*replacing);
                replacing.reset();
            } else {
                auto got = co_await acquire(t, deadline, stream, context);
                if (!got) {
                    out.error = std::move(got).error();
                    co_return out;
                }
                ex->conn = std::move(got->conn);
                slot = std::move(got->slot);
            }
            out.reused = ex->conn != nullptr;
            if (!ex->conn) {
                auto conn = co_await connect(t, deadline, context);
                if (!conn) {
                    out.error = std::move(conn).error();
                    co_return out;  // `slot` goes to the next waiter
                }
                ex->conn = std::move(*conn);
                ex->conn->slot = std::move(slot);
            }
            connection& c = *ex->conn;

            c.tcp().expires_at(deadline);
            auto [write_ec, written] = co_await http::async_write(c.stream, msg, use_tuple);
            if (write_ec) {
                if (out.reused && closed_by_peer(write_ec)) {
                    replacing = std::move(c.slot);
                    continue;
                }
                out.sent = true;
                out.error = transport_error(write_ec, context);
                co_return out;
            }

            // Bodies are bounded by send() itself; streams (watches) are unbounded.
            ex->parser.body_limit(boost::none);
            ex->parser.skip(head_only);
            auto [read_ec, read] =
                co_await http::async_read_header(c.stream, c.buffer, ex->parser, use_tuple);
            if (read_ec) {
                if (out.reused && idempotent && !ex->parser.got_some() && closed_by_peer(read_ec)) {
                    replacing = std::move(c.slot);
                    continue;
                }
                out.sent = true;
                out.error = transport_error(read_ec, context);
                co_return out;
            }
            out.sent = true;
            out.ex = std::move(ex);
            co_return out;
        }
    }

    asio::awaitable<core::result<std::string>> read_body(exchange& ex, steady::time_point deadline,
                                                         const std::string& context) {
        std::string body;
        while (!ex.parser.is_done()) {
            ex.conn->tcp().expires_at(deadline);
            auto [ec, n] = co_await ex.read_body_piece(true);
            if (ec) {
                co_return transport_error(ec, context);
            }
            if (body.size() + n > options_.max_body_bytes) {
                co_return core::make_error(
                    core::errc::protocol_error,
                    fmt::format("{}: response body exceeds {} bytes; use a streaming read for "
                                "large bodies",
                                context, options_.max_body_bytes));
            }
            body.append(ex.chunk.data(), n);
        }
        co_return body;
    }

    // Resolves a DNS name, bounded by the deadline (resolvers ignore cancellation slots, so a
    // timer cancels it).
    asio::awaitable<std::pair<error_code, tcp::resolver::results_type>> resolve(
        const target& t, steady::time_point deadline) {
        tcp::resolver resolver(executor_);
        asio::steady_timer timer(executor_, deadline);
        struct flags {
            bool finished = false;
            bool timed_out = false;
        };
        auto state = std::make_shared<flags>();
        timer.async_wait([&resolver, state](const error_code& ec) {
            // `finished` guards against a timer that fired just as the lookup completed.
            if (!ec && !state->finished) {
                state->timed_out = true;
                resolver.cancel();
            }
        });
        auto [ec, results] = co_await resolver.async_resolve(t.host, t.port, use_tuple);
        state->finished = true;
        timer.cancel();
        if (ec == asio::error::operation_aborted && state->timed_out) {
            ec = beast::error::timeout;
        }
        co_return std::pair{ec, std::move(results)};
    }

    asio::awaitable<core::result<std::unique_ptr<connection>>> connect(const target& t,
                                                                       steady::time_point deadline,
                                                                       const std::string& context,
                                                                       bool offer_session = true) {
        auto conn = std::make_unique<connection>(
            byte_stream(beast::tcp_stream(executor_), t.tls ? tls_.get() : nullptr));
        auto where = fmt::format("{}: cannot connect to {}", context, t.log_host);

        error_code ec;
        auto address = asio::ip::make_address(t.host, ec);
        conn->tcp().expires_at(deadline);
        if (!ec) {
            auto port = static_cast<unsigned short>(std::stoul(t.port));
            std::tie(ec) =
                co_await conn->tcp().async_connect(tcp::endpoint(address, port), use_tuple);
        } else {
            auto [resolve_ec, endpoints] = co_await resolve(t, deadline);
            if (resolve_ec) {
                co_return transport_error(resolve_ec, context + ": cannot resolve " + t.host);
            }
            conn->tcp().expires_at(deadline);
            std::tie(ec, std::ignore) = co_await conn->tcp().async_connect(endpoints, use_tuple);
        }
        if (ec) {
            co_return transport_error(ec, where);
        }
        // A request or response goes out in pieces (head, body, TLS records): with Nagle the
        // last piece would wait for the peer's delayed ACK, 40 ms on Linux.
        conn->tcp().socket().set_option(tcp::no_delay(true), ec);
        if (!t.tls) {
            conn->tcp().expires_never();
            co_return conn;
        }

        auto* tls = conn->stream.tls();
        auto prepared = prepare_client_tls(tls->native_handle(), t.host);
        if (!prepared) {
            co_return std::move(prepared).error();
        }
        auto offered = resume_client_tls(tls->native_handle(), t.pool_key, offer_session);
        if (!offered) {
            co_return std::move(offered).error();
        }
        // House rule: Asio's rfc2818-style check runs as the verify callback; the OpenSSL
        // parameter set by prepare_client_tls performs the same check with a precise reason.
        tls->set_verify_callback(ssl::host_name_verification(t.host));
        conn->tcp().expires_at(deadline);
        auto [handshake_ec] = co_await tls->async_handshake(ssl::stream_base::client, use_tuple);
        if (handshake_ec) {
            auto why = tls_verify_failure(tls->native_handle());
            if (*offered && why.empty() && handshake_ec != asio::error::operation_aborted &&
                steady::now() < deadline) {
                // Rather than decline to resume, some servers fail the handshake: forget the
                // session and try once more with a full handshake.
                forget_client_tls_session(t.pool_key, tls->native_handle());
                conn.reset();
                co_return co_await connect(t, deadline, context, false);
            }
            if (!why.empty()) {
                co_return core::make_error(
                    core::errc::protocol_error,
                    fmt::format("{}: TLS certificate of {} not accepted: {}; if the server uses a "
                                "private CA, add that CA with ca_file",
                                context, t.host, why));
            }
            co_return transport_error(handshake_ec,
                                      context + ": TLS handshake with " + t.log_host + " failed");
        }
        conn->tcp().expires_never();
        if (log_.enabled(core::log_level::debug)) {
            log_.debug(
                "http_connect",
                {{"host", t.log_host}, {"tls_resumed", tls_session_resumed(tls->native_handle())}});
        }
        co_return conn;
    }

    // What a request starts from: a pooled connection, or a slot to dial one with (empty for
    // streams, which the cap does not count).
    struct lease {
        std::unique_ptr<connection> conn;
        pool_slot slot;
    };

    std::shared_ptr<host_pool>& pool_for(const std::string& key) {
        auto& pool = pools_[key];
        if (!pool) {
            pool = std::make_shared<host_pool>();
        }
        return pool;
    }

    // A fresh idle connection, or null. Stale ones are closed; the first stale one's slot is
    // kept in `slot` so the caller can dial in its place without waiting.
    std::unique_ptr<connection> take_idle(host_pool& pool, pool_slot& slot) {
        while (!pool.idle.empty()) {
            auto conn = std::move(pool.idle.back());
            pool.idle.pop_back();
            if (steady::now() - conn->idle_since < options_.pool_idle_timeout &&
                conn->still_idle()) {
                return conn;
            }
            if (!slot) {
                slot = std::move(conn->slot);
            }
        }
        return nullptr;
    }

    // Waits, FIFO and bounded by the deadline and cancellation, until the host has a
    // connection or a place under the cap for this request. Streams never wait: they take an
    // idle connection out of the count, or dial one of their own.
    asio::awaitable<core::result<lease>> acquire(const target& t, steady::time_point deadline,
                                                 bool stream, std::string context) {
        auto pool = pool_for(t.pool_key);
        lease out;
        out.conn = take_idle(*pool, out.slot);
        if (out.conn || out.slot) {
            if (stream) {
                out.slot.reset();
                if (out.conn) {
                    out.conn->slot.reset();
                }
            }
            co_return out;
        }
        const std::size_t cap = options_.max_connections_per_host;
        if (stream) {
            co_return out;
        }
        if (cap == 0 || pool->open < cap) {
            ++pool->open;
            out.slot = pool_slot(pool);
            co_return out;
        }

        pool_waiter waiter(executor_, pool);
        waiter.timer.expires_at(deadline);
        pool->waiters.push_back(&waiter);
        const auto queued = pool->waiters.size();
        auto [ec] = co_await waiter.timer.async_wait(use_tuple);
        auto cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none) {
            // Whatever was granted passes on to the next waiter when `waiter` goes.
            co_return core::make_error(core::errc::cancelled, context + ": cancelled");
        }
        if (waiter.granted) {
            out.conn = std::move(waiter.conn);
            out.slot = std::move(waiter.slot);
            co_return out;
        }
        if (ec == asio::error::operation_aborted) {
            co_return core::make_error(core::errc::cancelled, context + ": cancelled");
        }
        co_return core::make_error(
            core::errc::timeout,
            fmt::format("{}: no connection to {} became free in time ({} in use, request was "
                        "{} in line); raise the timeout or max_connections_per_host",
                        context, t.log_host, cap, queued));
    }

    // Pools a connection after a complete keep-alive exchange, or hands it to a waiter.
    void release(std::unique_ptr<connection> conn, const std::string& key) {
        if (!conn->slot) {
            return;  // a stream's own connection
        }
        conn->tcp().expires_never();
        auto& pool = *pool_for(key);
        if (!pool.waiters.empty()) {
            pool.hand_over(std::move(conn));
            return;
        }
        if (options_.max_idle_per_host == 0) {
            return;
        }
        conn->idle_since = steady::now();
        pool.idle.push_back(std::move(conn));
        if (pool.idle.size() > options_.max_idle_per_host) {
            // The oldest is the likeliest to be closed by the peer.
            auto oldest = std::move(pool.idle.front());
            pool.idle.erase(pool.idle.begin());
        }
    }

    template <class Outcome>
    void log_attempt(std::string_view method, const target& t, int attempt,
                     steady::time_point started, bool reused, Outcome outcome) {
        if (!log_.enabled(core::log_level::debug)) {
            return;
        }
        std::string result;
        if constexpr (std::is_same_v<Outcome, int>) {
            result = std::to_string(outcome);
        } else {
            result = std::string(core::to_string(outcome));
        }
        log_.debug("http_request", {{"method", method},
                                    {"host", t.log_host},
                                    {"path", t.log_path},
                                    {"result", result},
                                    {"ms", elapsed_ms(started)},
                                    {"attempt", attempt},
                                    {"reused", reused}});
    }

    asio::any_io_executor executor_;
    core::logger& log_;
    std::shared_ptr<ssl::context> tls_;
    http_client_options options_;
    std::minstd_rand random_;
    std::map<std::string, std::shared_ptr<host_pool>> pools_;
};

core::result<http_client> http_client::create(asio::any_io_executor executor, core::logger& log,
                                              http_client_options options) {
    auto tls = make_client_tls_context(options.tls);
    if (!tls) {
        return std::move(tls).error();
    }
    return http_client(
        std::make_unique<impl>(std::move(executor), log, std::move(*tls), std::move(options)));
}

http_client::http_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
http_client::http_client(http_client&&) noexcept = default;
http_client& http_client::operator=(http_client&&) noexcept = default;
http_client::~http_client() = default;

asio::awaitable<core::result<http_response>> http_client::send(http_request request) {
    return impl_->send(std::move(request));
}

asio::awaitable<core::result<http_stream>> http_client::open_stream(
    http_request request, std::chrono::milliseconds idle_timeout) {
    return impl_->open_stream(std::move(request), idle_timeout);
}

std::size_t http_client::idle_connections() const noexcept {
    return impl_->idle_connections();
}

void http_client::close_idle() noexcept {
    impl_->close_idle();
}

}  // namespace tugboat::integrations
