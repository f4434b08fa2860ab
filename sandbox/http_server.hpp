#pragma once

// A small HTTP/1.1 + WebSocket server on 127.0.0.1 for the fake Slack, Jenkins and Kubernetes
// and for tests. Plain or TLS, keep-alive, coroutine route handlers that can answer, stream a
// chunked body, upgrade to a WebSocket, stall or drop the connection. Every request is
// recorded so tests can assert on what clients sent.

#include "core/logger.hpp"
#include "core/result.hpp"
#include "integrations/http_types.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace tugboat::sandbox {

using integrations::http_headers;

/// One request as the server received it.
struct recorded_request {
    std::string method;  ///< "GET", "POST", …
    std::string target;  ///< path and query, as sent
    http_headers headers;
    std::string body;
    int status = 0;  ///< status the server answered with; 0 = none (dropped, still running)

    /// The value of header `name` (any case), or nullopt.
    std::optional<std::string> header(std::string_view name) const {
        return integrations::find_header(headers, name);
    }
    /// The target without its query.
    std::string path() const { return target.substr(0, target.find('?')); }
};

/// The subject of a verified TLS client certificate.
struct client_identity {
    std::string common_name;
    std::vector<std::string> organizations;
};

/// A server-side WebSocket, valid until the route handler that accepted it returns. One read
/// and one write may be in progress at the same time, not more.
class websocket_session {
public:
    virtual ~websocket_session() = default;
    /// The next message (text or binary) as a string. Fails with unavailable when the client
    /// closed (see `close_code`) or the connection broke.
    virtual boost::asio::awaitable<core::result<std::string>> read() = 0;
    /// Sends one text message; fails with unavailable when the connection is gone.
    virtual boost::asio::awaitable<core::result<void>> write(std::string text) = 0;
    /// Sends several text messages in one write (one TLS record while they fit), as a busy
    /// server's frames reach a client together.
    virtual boost::asio::awaitable<core::result<void>> write_all(
        std::vector<std::string> texts) = 0;
    /// Sends a close frame with `code` and waits for the client's answer (bounded).
    virtual boost::asio::awaitable<void> close(int code, std::string reason = {}) = 0;
    /// Drops the TCP connection without a close frame, like a crashed server.
    virtual void drop() = 0;
    /// Close code the client sent, 0 if none yet.
    virtual int close_code() const = 0;
};

namespace detail {
class server_connection;
}

/// What a route handler gets: the request, and the means to answer it. Answer exactly once:
/// `respond`, or `begin_chunked` + `write_chunk`… + `end_chunked`, or `accept_websocket`, or
/// `drop`. A handler that returns without answering gets a 500 sent for it; one that returns
/// mid-stream gets the stream ended cleanly.
class request_context {
public:
    const std::string& method() const noexcept { return request_.method; }
    const std::string& target() const noexcept { return request_.target; }
    std::string path() const { return request_.path(); }
    const http_headers& headers() const noexcept { return request_.headers; }
    const std::string& body() const noexcept { return request_.body; }
    /// The value of header `name` (any case), or nullopt.
    std::optional<std::string> header(std::string_view name) const { return request_.header(name); }
    /// The decoded value of query parameter `name` (first occurrence), or nullopt.
    std::optional<std::string> query(std::string_view name) const;
    /// The path segment matched by `{name}` in the route pattern, or the rest of the path for a
    /// trailing `*` (name "*"); empty when absent.
    std::string param(std::string_view name) const;
    /// The body decoded as application/x-www-form-urlencoded (as Slack and Jenkins post).
    std::map<std::string, std::string> form() const;
    /// The verified client certificate's subject, when the client presented one.
    const std::optional<client_identity>& client() const noexcept { return client_; }
    boost::asio::any_io_executor executor() const;

    /// Sends a complete response. Content-Type defaults to text/plain unless given.
    boost::asio::awaitable<void> respond(int status, std::string body = {},
                                         http_headers headers = {});
    /// Sends a complete application/json response.
    boost::asio::awaitable<void> respond_json(int status, std::string json,
                                              http_headers headers = {});
    /// Starts a chunked response; false when the client has gone.
    boost::asio::awaitable<bool> begin_chunked(int status, http_headers headers = {});
    /// Sends one chunk (empty data is skipped); false when the client has gone.
    boost::asio::awaitable<bool> write_chunk(std::string data);
    /// Ends a chunked response with the last chunk.
    boost::asio::awaitable<void> end_chunked();
    /// Resets the connection at once (TCP RST, no TLS close_notify): a crashed server.
    void drop();
    /// Completes the WebSocket handshake for an upgrade request.
    boost::asio::awaitable<core::result<std::unique_ptr<websocket_session>>> accept_websocket();
    /// True for a WebSocket upgrade request.
    bool is_websocket_upgrade() const noexcept { return upgrade_; }
    /// Waits `d` (e.g. to play a slow server); ends early by throwing when the server stops.
    boost::asio::awaitable<void> sleep(std::chrono::milliseconds d);

private:
    friend class detail::server_connection;
    enum class phase { pending, streaming, done };

    request_context(detail::server_connection& conn, recorded_request request,
                    std::map<std::string, std::string> params, bool upgrade,
                    std::optional<client_identity> client, std::size_t transcript_index);

    detail::server_connection* conn_;
    recorded_request request_;
    std::map<std::string, std::string> params_;
    bool upgrade_ = false;
    std::optional<client_identity> client_;
    std::size_t transcript_index_ = 0;
    phase phase_ = phase::pending;
    bool keep_alive_ = false;  // whether the connection may serve another request afterwards
};

/// Settings of a loopback server.
struct http_server_options {
    /// TLS server context (see `make_server_tls_context`); null = plain HTTP.
    std::shared_ptr<boost::asio::ssl::context> tls;
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;  ///< 0 = any free port
    /// Keep-alive connections idle longer than this are closed by the server.
    std::chrono::milliseconds idle_timeout{std::chrono::seconds{30}};
    std::size_t max_body_bytes = 16 * 1024 * 1024;
    core::logger* log = nullptr;  ///< debug line per request; null = silent
};

/// A TLS server context presenting `identity`. With `client_ca_pem`, client certificates are
/// requested and verified against it (optional for the client; see request_context::client).
core::result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls_context(
    const std::string& cert_pem, const std::string& key_pem, const std::string& client_ca_pem = {});

/// The loopback server. Single-threaded: use it from the executor's thread. Destroy it before
/// its io_context; destroying it stops it.
class http_server {
public:
    using handler = std::function<boost::asio::awaitable<void>(request_context&)>;

    /// Binds, listens and starts accepting. Fails with unavailable when the address cannot be
    /// bound (port in use).
    static core::result<http_server> start(boost::asio::any_io_executor executor,
                                           http_server_options options);

    http_server(http_server&&) noexcept;
    http_server& operator=(http_server&&) noexcept;
    ~http_server();

    /// Adds a route; the first matching route wins. `method` is "GET", "POST", … or "*".
    /// `pattern` is a path of literal segments, `{name}` segments (one segment each) and an
    /// optional final `*` (the rest of the path). Requests matching no route get a 404.
    void route(std::string method, std::string pattern, handler h);

    std::uint16_t port() const noexcept;
    /// "https://127.0.0.1:PORT" (or http://).
    std::string base_url() const;

    /// Every request received so far, oldest first.
    const std::vector<recorded_request>& requests() const noexcept;
    void clear_requests() noexcept;
    /// TCP connections accepted so far.
    std::size_t connections_accepted() const noexcept;
    /// Connections currently open.
    std::size_t open_connections() const noexcept;

    /// Stops accepting, resets every connection and cancels running handlers. Idempotent.
    void stop();

    struct state;

private:
    explicit http_server(std::shared_ptr<state> s);
    std::shared_ptr<state> state_;
};

}  // namespace tugboat::sandbox
