#pragma once

// HTTP/1.1 client over TCP and TLS with keep-alive pooling, a deadline on every call and
// retries with backoff. Beast and OpenSSL stay in http_client.cpp.

#include "core/logger.hpp"
#include "core/result.hpp"
#include "integrations/http_types.hpp"
#include "integrations/tls.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace tugboat::integrations {

/// Settings of one HTTP client; one client per remote system (Slack, a Jenkins, a cluster).
struct http_client_options {
    tls_options tls;     ///< trust anchors and client certificate for https:// URLs
    retry_policy retry;  ///< backoff between attempts (see http_request::max_attempts)
    /// Idle keep-alive connections older than this are closed instead of reused. Kept below
    /// common server idle timeouts so the server rarely closes a connection under us.
    std::chrono::milliseconds pool_idle_timeout{std::chrono::seconds{15}};
    /// Connections open at once to one scheme+host+port (idle ones included; 0 = no limit).
    /// Further requests wait, first come first served and within their own deadline, for one
    /// of them instead of dialling more: one TLS handshake costs far more than the wait for
    /// a busy connection, and each open TLS connection holds tens of KiB. Streams
    /// (open_stream) are not counted and never wait: they hold a connection for minutes.
    std::size_t max_connections_per_host = 8;
    std::size_t max_idle_per_host = 8;  ///< idle connections kept per scheme+host+port
    /// Largest body `send` accepts; a bigger response fails with protocol_error.
    std::size_t max_body_bytes = 32 * 1024 * 1024;
    std::string user_agent = "tugboat/0.1";  ///< sent unless the request sets User-Agent
};

/// A response whose body is read incrementally: Kubernetes watches, followed pod logs.
/// Status and headers are known before any body byte. Owns its connection exclusively and
/// closes it when destroyed; destroying it is how a caller stops reading early.
class http_stream {
public:
    struct state;
    explicit http_stream(std::unique_ptr<state> s);
    http_stream(http_stream&&) noexcept;
    http_stream& operator=(http_stream&&) noexcept;
    ~http_stream();

    int status() const noexcept;
    const http_headers& headers() const noexcept;
    /// The value of header `name` (any case), or nullopt.
    std::optional<std::string> header(std::string_view name) const;

    /// The next body bytes as they arrive, in arbitrary pieces (not aligned to chunks or
    /// lines). An empty string means the body ended normally; after that it keeps returning
    /// empty. Errors: timeout when nothing arrives within the idle timeout, unavailable when
    /// the connection drops before the body's end, cancelled on cancellation.
    boost::asio::awaitable<core::result<std::string>> next();

    /// The rest of the body (e.g. the Status object of a 410), failing with protocol_error
    /// past `limit` bytes. Each read waits at most the idle timeout.
    boost::asio::awaitable<core::result<std::string>> read_all(std::size_t limit = 1024 * 1024);

private:
    std::unique_ptr<state> state_;
};

/// HTTP client. Every call has a deadline (http_request::timeout) and honours cancellation
/// of the awaiting coroutine (errc::cancelled); both also bound the wait for a connection when
/// the host is at max_connections_per_host (timeout names that wait). TLS sessions are
/// resumed on new connections to a host (see resume_client_tls). Transport failures are errors;
/// every HTTP status, after retries, is a response. Retries follow `next_retry_delay`: connect
/// failures always, retryable statuses (429/5xx, Retry-After honoured) and dropped connections only
/// for idempotent requests, and never past the deadline. A pooled connection the server closed
/// while idle is replaced transparently when it fails before any response byte (for
/// non-idempotent requests only when writing the request failed).
///
/// Error categories: invalid_argument (bad URL), timeout, cancelled, unavailable (refused,
/// reset, DNS), protocol_error (TLS verification failure, malformed response, body too large).
/// Logs one debug line per attempt (method, host, path without query, status, ms); header
/// values and query strings are never logged.
///
/// Single-threaded: use from coroutines on the executor given at creation. Destroying the
/// client with requests in flight is not allowed; stopping the io_context is.
class http_client {
public:
    /// Builds a client; fails with config_error when the TLS options are unusable (unreadable
    /// CA file, key not matching its certificate, …).
    static core::result<http_client> create(boost::asio::any_io_executor executor,
                                            core::logger& log, http_client_options options);

    http_client(http_client&&) noexcept;
    http_client& operator=(http_client&&) noexcept;
    ~http_client();

    /// Performs `request` and returns the whole response.
    boost::asio::awaitable<core::result<http_response>> send(http_request request);

    /// Performs `request` and returns as soon as the response head has arrived; read the body
    /// with http_stream::next. `request.timeout` bounds connecting and the head (with retries
    /// as for `send`); `idle_timeout` bounds each wait for body bytes afterwards.
    boost::asio::awaitable<core::result<http_stream>> open_stream(
        http_request request, std::chrono::milliseconds idle_timeout);

    /// Idle keep-alive connections currently pooled, over all hosts.
    std::size_t idle_connections() const noexcept;

    /// Closes every idle pooled connection.
    void close_idle() noexcept;

    class impl;

private:
    explicit http_client(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace tugboat::integrations
