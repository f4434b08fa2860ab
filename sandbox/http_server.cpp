#include "sandbox/http_server.hpp"

#include "integrations/byte_stream.hpp"
#include "sandbox/corking_stream.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include <list>
#include <stdexcept>

namespace tugboat::sandbox {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using integrations::byte_stream;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Percent-decoding; malformed escapes are kept as they are, as lenient servers do.
std::string percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
    }
    return out;
}

// Splits "a=1&b=x+y" into decoded pairs (form encoding: '+' is a space).
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view s) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!s.empty()) {
        auto amp = s.find('&');
        auto part = s.substr(0, amp);
        s = amp == std::string_view::npos ? std::string_view{} : s.substr(amp + 1);
        if (part.empty()) {
            continue;
        }
        auto eq = part.find('=');
        auto key = part.substr(0, eq);
        auto value = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
        out.emplace_back(percent_decode(key, true), percent_decode(value, true));
    }
    return out;
}

// "/a/b%20c/" → {"a", "b c", ""}.
std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> out;
    if (!path.empty() && path.front() == '/') {
        path.remove_prefix(1);
    }
    while (true) {
        auto slash = path.find('/');
        out.push_back(percent_decode(path.substr(0, slash), false));
        if (slash == std::string_view::npos) {
            break;
        }
        path.remove_prefix(slash + 1);
    }
    return out;
}

bool match_route(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                 std::map<std::string, std::string>& params) {
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const auto& seg = pattern[i];
        if (seg == "*" && i + 1 == pattern.size()) {
            std::string rest;
            for (std::size_t j = i; j < path.size(); ++j) {
                rest += (j == i ? "" : "/") + path[j];
            }
            params["*"] = rest;
            return true;
        }
        if (i >= path.size()) {
            return false;
        }
        if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
            params[seg.substr(1, seg.size() - 2)] = path[i];
        } else if (seg != path[i]) {
            return false;
        }
    }
    return pattern.size() == path.size();
}

http_headers copy_headers(const http::fields& fields) {
    http_headers out;
    for (const auto& f : fields) {
        out.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    return out;
}

std::string utf8_entry(X509_NAME* name, int index) {
    unsigned char* text = nullptr;
    int len =
        ASN1_STRING_to_UTF8(&text, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
    if (len < 0) {
        return {};
    }
    std::string out(reinterpret_cast<char*>(text), static_cast<std::size_t>(len));
    OPENSSL_free(text);
    return out;
}

std::optional<client_identity> peer_identity(SSL* ssl) {
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) {
        return std::nullopt;
    }
    client_identity id;
    X509_NAME* name = X509_get_subject_name(cert);
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i >= 0) {
        id.common_name = utf8_entry(name, i);
    }
    for (i = -1; (i = X509_NAME_get_index_by_NID(name, NID_organizationName, i)) >= 0;) {
        id.organizations.push_back(utf8_entry(name, i));
    }
    return id;
}

// Closes with a TCP reset rather than a FIN, the way a crashed peer looks.
void reset_socket(tcp::socket& socket) {
    error_code ec;
    if (socket.is_open()) {
        socket.set_option(asio::socket_base::linger(true, 0), ec);
        socket.close(ec);
    }
}

}  // namespace

struct route_entry {
    std::string method;
    std::vector<std::string> segments;
    http_server::handler handler;
};

struct live_connection {
    asio::cancellation_signal cancel;
    detail::server_connection* conn = nullptr;
};

struct http_server::state {
    state(asio::any_io_executor ex, http_server_options opts)
        : executor(ex), options(std::move(opts)), acceptor(ex) {}

    core::logger& log() { return options.log ? *options.log : core::null_logger(); }

    asio::any_io_executor executor;
    http_server_options options;
    tcp::acceptor acceptor;
    std::uint16_t port = 0;
    std::vector<route_entry> routes;
    std::vector<recorded_request> transcript;
    std::size_t cleared = 0;  // requests dropped by clear_requests; keeps sequence numbers valid
    std::size_t accepted = 0;
    std::list<live_connection> live;
    bool stopped = false;

    recorded_request* find_recorded(std::size_t seq) {
        if (seq < cleared || seq - cleared >= transcript.size()) {
            return nullptr;
        }
        return &transcript[seq - cleared];
    }
};

namespace detail {

// What request_context needs from the connection a request arrived on; implemented once per
// stream type (plain, TLS).
class server_connection {
public:
    server_connection(std::shared_ptr<http_server::state> st,
                      std::list<live_connection>::iterator entry)
        : state(std::move(st)), entry_(entry) {
        entry_->conn = this;
    }
    virtual ~server_connection() { entry_->conn = nullptr; }
    server_connection(const server_connection&) = delete;
    server_connection& operator=(const server_connection&) = delete;

    virtual asio::awaitable<error_code> write_message(http::response<http::string_body>& res) = 0;
    virtual asio::awaitable<error_code> write_head(http::response<http::empty_body>& res) = 0;
    virtual asio::awaitable<error_code> write_chunk(const std::string& data) = 0;
    virtual asio::awaitable<error_code> write_last_chunk() = 0;
    virtual asio::awaitable<core::result<std::unique_ptr<websocket_session>>> upgrade() = 0;
    /// Resets the connection now; pending operations complete with errors.
    virtual void reset() = 0;

    std::shared_ptr<http_server::state> state;

protected:
    // Serves one request; returns whether the connection may carry another.
    asio::awaitable<bool> serve(const http::request<http::string_body>& req,
                                const std::optional<client_identity>& client);

private:
    std::list<live_connection>::iterator entry_;
};

}  // namespace detail

namespace {

class ws_session final : public websocket_session {
public:
    explicit ws_session(byte_stream& stream) : ws_(stream) {}

    asio::awaitable<core::result<void>> accept(const http::request<http::string_body>& req) {
        // The websocket has its own timers from here on; the TCP deadline must not interfere.
        tcp().expires_never();
        websocket::stream_base::timeout timeouts{};
        timeouts.handshake_timeout = std::chrono::seconds{5};
        timeouts.idle_timeout = websocket::stream_base::none();
        timeouts.keep_alive_pings = false;
        ws_.set_option(timeouts);
        auto [ec] = co_await ws_.async_accept(req, use_tuple);
        if (ec) {
            co_return core::make_error(core::errc::unavailable,
                                       "WebSocket handshake failed: " + ec.message());
        }
        co_return core::ok();
    }

    asio::awaitable<core::result<std::string>> read() override {
        beast::flat_buffer buffer;
        auto [ec, n] = co_await ws_.async_read(buffer, use_tuple);
        if (ec == websocket::error::closed) {
            close_code_ = ws_.reason().code;
            co_return core::make_error(
                core::errc::unavailable,
                fmt::format("the client closed the WebSocket (code {})", close_code_));
        }
        if (ec) {
            co_return core::make_error(ec == asio::error::operation_aborted
                                           ? core::errc::cancelled
                                           : core::errc::unavailable,
                                       "WebSocket read failed: " + ec.message());
        }
        co_return beast::buffers_to_string(buffer.data());
    }

    asio::awaitable<core::result<void>> write(std::string text) override {
        std::vector<std::string> one;
        one.push_back(std::move(text));
        co_return co_await write_all(std::move(one));
    }

    asio::awaitable<core::result<void>> write_all(std::vector<std::string> texts) override {
        ws_.text(true);
        error_code ec;
        for (std::size_t i = 0; i < texts.size() && !ec; ++i) {
            ws_.next_layer().cork(i + 1 < texts.size());
            auto [write_ec, n] = co_await ws_.async_write(asio::buffer(texts[i]), use_tuple);
            ec = write_ec;
        }
        ws_.next_layer().cork(false);
        if (ec) {
            co_return core::make_error(core::errc::unavailable,
                                       "WebSocket write failed: " + ec.message());
        }
        co_return core::ok();
    }

    asio::awaitable<void> close(int code, std::string reason) override {
        // Close reasons are limited to 123 bytes by RFC 6455.
        std::string_view text = std::string_view(reason).substr(0, 123);
        websocket::close_reason why(static_cast<websocket::close_code>(code),
                                    beast::string_view(text.data(), text.size()));
        co_await ws_.async_close(why, use_tuple);
    }

    void drop() override { reset_socket(tcp().socket()); }

    int close_code() const override { return close_code_; }

private:
    beast::tcp_stream& tcp() { return ws_.next_layer().next_layer().tcp(); }

    websocket::stream<corking_stream<byte_stream&>> ws_;
    int close_code_ = 0;
};

class connection final : public detail::server_connection {
public:
    connection(std::shared_ptr<http_server::state> st, std::list<live_connection>::iterator entry,
               byte_stream stream)
        : server_connection(std::move(st), entry), stream_(std::move(stream)) {}

    asio::awaitable<void> run() {
        auto& options = state->options;
        if (auto* tls = stream_.tls()) {
            tcp().expires_after(std::chrono::seconds{10});
            auto [ec] = co_await tls->async_handshake(ssl::stream_base::server, use_tuple);
            if (ec) {
                state->log().debug("http_server_tls_failed", {{"error", ec.message()}});
                co_return;
            }
            client_ = peer_identity(tls->native_handle());
        }
        for (;;) {
            tcp().expires_after(options.idle_timeout);
            http::request_parser<http::string_body> parser;
            parser.body_limit(options.max_body_bytes);
            auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, use_tuple);
            if (ec) {
                break;  // the client closed, went idle too long, or sent garbage
            }
            tcp().expires_never();
            request_ = parser.release();
            bool keep = co_await serve(request_, client_);
            if (!keep || state->stopped) {
                break;
            }
        }
        co_await close_gracefully();
    }

    asio::awaitable<error_code> write_message(http::response<http::string_body>& res) override {
        auto [ec, n] = co_await http::async_write(stream_, res, use_tuple);
        co_return ec;
    }

    asio::awaitable<error_code> write_head(http::response<http::empty_body>& res) override {
        http::response_serializer<http::empty_body> serializer{res};
        auto [ec, n] = co_await http::async_write_header(stream_, serializer, use_tuple);
        co_return ec;
    }

    asio::awaitable<error_code> write_chunk(const std::string& data) override {
        auto [ec, n] =
            co_await asio::async_write(stream_, http::make_chunk(asio::buffer(data)), use_tuple);
        co_return ec;
    }

    asio::awaitable<error_code> write_last_chunk() override {
        auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk_last(), use_tuple);
        co_return ec;
    }

    asio::awaitable<core::result<std::unique_ptr<websocket_session>>> upgrade() override {
        auto session = std::make_unique<ws_session>(stream_);
        auto accepted = co_await session->accept(request_);
        if (!accepted) {
            co_return std::move(accepted).error();
        }
        co_return std::unique_ptr<websocket_session>(std::move(session));
    }

    void reset() override { reset_socket(tcp().socket()); }

private:
    beast::tcp_stream& tcp() { return stream_.tcp(); }

    asio::awaitable<void> close_gracefully() {
        if (!tcp().socket().is_open()) {
            co_return;
        }
        if (auto* tls = stream_.tls()) {
            // Bounded: a client that keeps the connection pooled never answers close_notify.
            tcp().expires_after(std::chrono::seconds{1});
            co_await tls->async_shutdown(use_tuple);
        }
        error_code ec;
        tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
        tcp().socket().close(ec);
    }

    byte_stream stream_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> request_;
    std::optional<client_identity> client_;
};

}  // namespace

asio::awaitable<bool> detail::server_connection::serve(
    const http::request<http::string_body>& req, const std::optional<client_identity>& client) {
    auto& st = *state;
    recorded_request rec;
    rec.method = std::string(req.method_string());
    rec.target = std::string(req.target());
    rec.headers = copy_headers(req.base());
    rec.body = req.body();
    std::size_t seq = st.cleared + st.transcript.size();
    st.transcript.push_back(rec);

    std::string path = rec.path();
    auto segments = split_path(path);
    std::map<std::string, std::string> params;
    const route_entry* matched = nullptr;
    for (const auto& r : st.routes) {
        params.clear();
        if ((r.method == "*" || r.method == rec.method) &&
            match_route(r.segments, segments, params)) {
            matched = &r;
            break;
        }
    }

    request_context ctx(*this, std::move(rec),
                        matched ? params : std::map<std::string, std::string>{},
                        websocket::is_upgrade(req), client, seq);
    ctx.keep_alive_ = req.keep_alive();
    if (!matched) {
        co_await ctx.respond(
            404, fmt::format("no route for {} {} on this fake server\n", ctx.method(), path));
    } else {
        // A copy: the handler's captures must stay put while its coroutine runs, even if
        // routes are added meanwhile.
        http_server::handler handler = matched->handler;
        std::string failure;
        try {
            co_await handler(ctx);
        } catch (const std::exception& e) {
            failure = e.what();
        }
        if (st.stopped) {
            co_return false;
        }
        if (!failure.empty()) {
            st.log().warn("http_server_handler_failed",
                          {{"method", ctx.method()}, {"path", path}, {"error", failure}});
            if (ctx.phase_ == request_context::phase::pending) {
                co_await ctx.respond(500, "handler failed: " + failure + "\n");
            }
            ctx.keep_alive_ = false;
        }
    }
    if (ctx.phase_ == request_context::phase::pending) {
        co_await ctx.respond(
            500, fmt::format("the handler for {} {} did not answer\n", ctx.method(), path));
    }
    if (ctx.phase_ == request_context::phase::streaming) {
        co_await ctx.end_chunked();
    }
    auto* recorded = st.find_recorded(seq);
    st.log().debug(
        "http_server_request",
        {{"method", ctx.method()}, {"path", path}, {"status", recorded ? recorded->status : 0}});
    co_return ctx.keep_alive_;
}

// ---- request_context ----

request_context::request_context(detail::server_connection& conn, recorded_request request,
                                 std::map<std::string, std::string> params, bool upgrade,
                                 std::optional<client_identity> client,
                                 std::size_t transcript_index)
    : conn_(&conn),
      request_(std::move(request)),
      params_(std::move(params)),
      upgrade_(upgrade),
      client_(std::move(client)),
      transcript_index_(transcript_index) {}

std::optional<std::string> request_context::query(std::string_view name) const {
    auto q = request_.target.find('?');
    if (q == std::string::npos) {
        return std::nullopt;
    }
    for (auto& [key, value] : parse_form(std::string_view(request_.target).substr(q + 1))) {
        if (key == name) {
            return value;
        }
    }
    return std::nullopt;
}

std::string request_context::param(std::string_view name) const {
    auto it = params_.find(std::string(name));
    return it == params_.end() ? std::string{} : it->second;
}

std::map<std::string, std::string> request_context::form() const {
    std::map<std::string, std::string> out;
    for (auto& [key, value] : parse_form(request_.body)) {
        out.emplace(std::move(key), std::move(value));
    }
    return out;
}

asio::any_io_executor request_context::executor() const {
    return conn_->state->executor;
}

namespace {

template <class Body>
void apply_headers(http::response<Body>& res, const http_headers& headers, bool keep_alive) {
    for (const auto& [name, value] : headers) {
        res.insert(name, value);
    }
    if (!keep_alive) {
        res.keep_alive(false);
    }
}

}  // namespace

asio::awaitable<void> request_context::respond(int status, std::string body, http_headers headers) {
    if (phase_ != phase::pending) {
        throw std::logic_error("request_context: answered twice");
    }
    phase_ = phase::done;
    http::response<http::string_body> res;
    res.version(11);
    res.result(static_cast<unsigned>(status));
    if (!integrations::find_header(headers, "Content-Type")) {
        res.set(http::field::content_type, "text/plain; charset=utf-8");
    }
    apply_headers(res, headers, keep_alive_);
    keep_alive_ = res.keep_alive();
    res.body() = std::move(body);
    res.prepare_payload();
    if (auto* rec = conn_->state->find_recorded(transcript_index_)) {
        rec->status = status;
    }
    auto ec = co_await conn_->write_message(res);
    if (ec) {
        keep_alive_ = false;
    }
}

asio::awaitable<void> request_context::respond_json(int status, std::string json,
                                                    http_headers headers) {
    headers.emplace_back("Content-Type", "application/json; charset=utf-8");
    co_await respond(status, std::move(json), std::move(headers));
}

asio::awaitable<bool> request_context::begin_chunked(int status, http_headers headers) {
    if (phase_ != phase::pending) {
        throw std::logic_error("request_context: answered twice");
    }
    phase_ = phase::streaming;
    http::response<http::empty_body> res;
    res.version(11);
    res.result(static_cast<unsigned>(status));
    apply_headers(res, headers, keep_alive_);
    keep_alive_ = res.keep_alive();
    res.chunked(true);
    if (auto* rec = conn_->state->find_recorded(transcript_index_)) {
        rec->status = status;
    }
    auto ec = co_await conn_->write_head(res);
    if (ec) {
        phase_ = phase::done;
        keep_alive_ = false;
        co_return false;
    }
    co_return true;
}

asio::awaitable<bool> request_context::write_chunk(std::string data) {
    if (phase_ != phase::streaming) {
        co_return false;
    }
    if (data.empty()) {
        co_return true;  // an empty chunk would end the body
    }
    auto ec = co_await conn_->write_chunk(data);
    if (ec) {
        phase_ = phase::done;
        keep_alive_ = false;
        co_return false;
    }
    co_return true;
}

asio::awaitable<void> request_context::end_chunked() {
    if (phase_ != phase::streaming) {
        co_return;
    }
    phase_ = phase::done;
    auto ec = co_await conn_->write_last_chunk();
    if (ec) {
        keep_alive_ = false;
    }
}

void request_context::drop() {
    phase_ = phase::done;
    keep_alive_ = false;
    conn_->reset();
}

asio::awaitable<core::result<std::unique_ptr<websocket_session>>>
request_context::accept_websocket() {
    if (!upgrade_ || phase_ != phase::pending) {
        co_return core::make_error(core::errc::invalid_argument,
                                   "accept_websocket: not a pending WebSocket upgrade request");
    }
    phase_ = phase::done;
    keep_alive_ = false;  // after the session the connection is finished
    if (auto* rec = conn_->state->find_recorded(transcript_index_)) {
        rec->status = 101;
    }
    co_return co_await conn_->upgrade();
}

asio::awaitable<void> request_context::sleep(std::chrono::milliseconds d) {
    asio::steady_timer timer(conn_->state->executor, d);
    co_await timer.async_wait(asio::use_awaitable);
}

// ---- server ----

core::result<std::shared_ptr<ssl::context>> make_server_tls_context(
    const std::string& cert_pem, const std::string& key_pem, const std::string& client_ca_pem) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    error_code ec;
    ctx->use_certificate_chain(asio::buffer(cert_pem), ec);
    if (!ec) {
        ctx->use_private_key(asio::buffer(key_pem), ssl::context::pem, ec);
    }
    if (ec) {
        return core::make_error(core::errc::config_error,
                                "server TLS identity unusable: " + ec.message());
    }
    if (!client_ca_pem.empty()) {
        ctx->add_certificate_authority(asio::buffer(client_ca_pem), ec);
        if (ec) {
            return core::make_error(core::errc::config_error,
                                    "client CA unusable: " + ec.message());
        }
        // Requested, not required: Kubernetes accepts a bearer token instead.
        ctx->set_verify_mode(ssl::verify_peer);
        // OpenSSL refuses to resume sessions on a server that verifies clients unless sessions
        // are tied to a context id, as real API servers do; clients resume here too.
        static constexpr unsigned char session_context[] = "tugboat-sandbox";
        SSL_CTX_set_session_id_context(ctx->native_handle(), session_context,
                                       sizeof(session_context) - 1);
    }
    return ctx;
}

namespace {

asio::awaitable<void> run_connection(std::shared_ptr<http_server::state> st,
                                     std::list<live_connection>::iterator entry,
                                     byte_stream stream) {
    try {
        connection conn(st, entry, std::move(stream));
        co_await conn.run();
    } catch (const std::exception&) {
        // Cancellation by stop() surfaces here as an exception; nothing is left to clean up.
    }
}

void spawn_connection(const std::shared_ptr<http_server::state>& st, tcp::socket socket) {
    auto entry = st->live.emplace(st->live.end());
    // The entry owns the cancellation signal; stop() may have posted an emit on it that runs
    // after the connection ended (a reset socket ends it first), so it is erased after that.
    auto done =
        asio::bind_cancellation_slot(entry->cancel.slot(), [st, entry](const std::exception_ptr&) {
            asio::post(st->executor, [st, entry] { st->live.erase(entry); });
        });
    beast::tcp_stream tcp_layer(std::move(socket));
    asio::co_spawn(
        st->executor,
        run_connection(st, entry, byte_stream(std::move(tcp_layer), st->options.tls.get())),
        std::move(done));
}

asio::awaitable<void> accept_loop(std::shared_ptr<http_server::state> st) {
    while (!st->stopped) {
        auto [ec, socket] = co_await st->acceptor.async_accept(use_tuple);
        if (st->stopped) {
            co_return;
        }
        if (ec) {
            st->log().warn("http_server_accept_failed", {{"error", ec.message()}});
            if (ec == asio::error::operation_aborted || !st->acceptor.is_open()) {
                co_return;
            }
            continue;
        }
        ++st->accepted;
        // Like real servers (Go's net/http sets it too): no Nagle delay on the body's last piece.
        socket.set_option(asio::ip::tcp::no_delay(true), ec);
        spawn_connection(st, std::move(socket));
    }
}

}  // namespace

core::result<http_server> http_server::start(asio::any_io_executor executor,
                                             http_server_options options) {
    auto st = std::make_shared<state>(executor, std::move(options));
    error_code ec;
    auto address = asio::ip::make_address(st->options.address, ec);
    if (ec) {
        return core::make_error(core::errc::invalid_argument,
                                "listen address \"" + st->options.address +
                                    "\" is not an IP address; use e.g. 127.0.0.1");
    }
    tcp::endpoint endpoint(address, st->options.port);
    st->acceptor.open(endpoint.protocol(), ec);
    if (!ec) {
        st->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) {
        st->acceptor.bind(endpoint, ec);
    }
    if (!ec) {
        st->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        return core::make_error(core::errc::unavailable,
                                fmt::format("cannot listen on {}:{} ({}); choose another port",
                                            st->options.address, st->options.port, ec.message()));
    }
    st->port = st->acceptor.local_endpoint().port();
    asio::co_spawn(executor, accept_loop(st), [](const std::exception_ptr&) {});
    return http_server(std::move(st));
}

http_server::http_server(std::shared_ptr<state> s) : state_(std::move(s)) {}
http_server::http_server(http_server&&) noexcept = default;
http_server& http_server::operator=(http_server&& other) noexcept {
    if (this != &other) {
        stop();
        state_ = std::move(other.state_);
    }
    return *this;
}

http_server::~http_server() {
    stop();
}

void http_server::route(std::string method, std::string pattern, handler h) {
    state_->routes.push_back({std::move(method), split_path(pattern), std::move(h)});
}

std::uint16_t http_server::port() const noexcept {
    return state_->port;
}

std::string http_server::base_url() const {
    const auto& address = state_->options.address;
    bool ipv6 = address.find(':') != std::string::npos;
    return fmt::format("{}://{}{}{}:{}", state_->options.tls ? "https" : "http", ipv6 ? "[" : "",
                       address, ipv6 ? "]" : "", state_->port);
}

const std::vector<recorded_request>& http_server::requests() const noexcept {
    return state_->transcript;
}

void http_server::clear_requests() noexcept {
    state_->cleared += state_->transcript.size();
    state_->transcript.clear();
}

std::size_t http_server::connections_accepted() const noexcept {
    return state_->accepted;
}

std::size_t http_server::open_connections() const noexcept {
    return state_->live.size();
}

void http_server::stop() {
    if (!state_ || state_->stopped) {
        return;
    }
    state_->stopped = true;
    error_code ec;
    state_->acceptor.close(ec);
    for (auto& entry : state_->live) {
        if (entry.conn) {
            entry.conn->reset();
        }
        entry.cancel.emit(asio::cancellation_type::terminal);
    }
}

}  // namespace tugboat::sandbox
