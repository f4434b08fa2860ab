#include "bot/http_mode.hpp"

#include "bot/slack_events.hpp"
#include "bot/slack_signature.hpp"
#include "core/text.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <exception>
#include <list>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

namespace tugboat::bot {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using json = nlohmann::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Enough for Slack's headers; a bigger head is not Slack.
constexpr std::uint32_t max_header_bytes = 16 * 1024;

int hex_digit(char c) {
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

// application/x-www-form-urlencoded value decoding: '+' is a space, %XX a byte. A malformed
// escape is kept literally rather than failing the whole request: the signature already
// vouches for the body, and the payload parsers judge the values.
std::string form_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '+') {
            out.push_back(' ');
            continue;
        }
        if (c == '%' && i + 2 < s.size()) {
            const int hi = hex_digit(s[i + 1]);
            const int lo = hex_digit(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(c);
    }
    return out;
}

// The first occurrence of each field wins, as Slack never repeats one.
std::map<std::string, std::string> parse_form(std::string_view body) {
    std::map<std::string, std::string> out;
    for (const auto& part : core::split(body, '&')) {
        if (part.empty()) {
            continue;
        }
        const auto eq = part.find('=');
        auto key = form_decode(std::string_view(part).substr(0, eq));
        auto value = eq == std::string::npos ? std::string{}
                                             : form_decode(std::string_view(part).substr(eq + 1));
        out.emplace(std::move(key), std::move(value));
    }
    return out;
}

// "application/json; charset=utf-8" → "application/json".
std::string media_type(std::string_view content_type) {
    return core::to_lower(core::trim(content_type.substr(0, content_type.find(';'))));
}

struct listen_address {
    std::string host;
    std::string port;
};

core::result<listen_address> split_listen(std::string_view listen) {
    const auto colon = listen.rfind(':');
    auto bad = [&] {
        return core::make_error(
            core::errc::config_error,
            fmt::format("HTTP mode listen address `{}` is not `host:port`; write e.g. "
                        "`0.0.0.0:3000` or `[::]:3000` in slack.http_listen",
                        listen));
    };
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == listen.size()) {
        return bad();
    }
    std::string host(listen.substr(0, colon));
    std::string port(listen.substr(colon + 1));
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value > 65535) {
        return bad();
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    return listen_address{std::move(host), std::move(port)};
}

// What one request gets back.
struct reply {
    http::status status = http::status::ok;
    std::string body;
    std::string content_type = "text/plain; charset=utf-8";
    bool allow_post_only = false;  // 405 on the events path: say which method is allowed
};

// A top-level string field, or "" when absent or not a string (never throws).
std::string string_field(const json& doc, const char* key) {
    auto it = doc.find(key);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

reply text_reply(http::status status, std::string body) {
    return reply{status, std::move(body) + "\n"};
}

}  // namespace

http_mode_options http_mode_options_from(const core::config& config) {
    http_mode_options o;
    o.listen = config.slack.http_listen;
    o.signing_secret = config.slack.signing_secret;
    return o;
}

class http_mode_server::impl {
public:
    impl(asio::any_io_executor executor, http_mode_options options, core::logger& log,
         event_handler on_event)
        : executor_(std::move(executor)),
          options_(std::move(options)),
          log_(log),
          on_event_(std::move(on_event)),
          acceptor_(executor_),
          drained_(executor_) {}

    core::result<void> listen() {
        if (acceptor_.is_open()) {
            return core::ok();
        }
        if (options_.signing_secret.empty()) {
            return core::make_error(core::errc::config_error,
                                    "HTTP mode needs Slack's signing secret to verify requests; "
                                    "set SLACK_SIGNING_SECRET (app settings → Basic Information "
                                    "→ App Credentials → Signing Secret)");
        }
        if (options_.events_path.empty() || options_.events_path.front() != '/' ||
            options_.health_path.empty() || options_.health_path.front() != '/') {
            return core::make_error(core::errc::config_error,
                                    "HTTP mode paths must start with '/', e.g. /slack/events");
        }
        auto address = split_listen(options_.listen);
        if (!address) {
            return address.error();
        }
        error_code ec;
        tcp::endpoint endpoint;
        auto ip = asio::ip::make_address(address->host, ec);
        if (!ec) {
            endpoint = tcp::endpoint(ip, static_cast<unsigned short>(std::stoul(address->port)));
        } else {
            tcp::resolver resolver(executor_);
            auto found = resolver.resolve(address->host, address->port, tcp::resolver::passive, ec);
            if (ec || found.empty()) {
                return core::make_error(
                    core::errc::unavailable,
                    fmt::format("HTTP mode cannot listen on {}: {}; use an IP address of this "
                                "host or 0.0.0.0 in slack.http_listen",
                                options_.listen, ec ? ec.message() : "no address"));
            }
            endpoint = found.begin()->endpoint();
        }
        auto fail = [&](std::string_view step) {
            error_code ignored;
            acceptor_.close(ignored);
            return core::make_error(
                core::errc::unavailable,
                fmt::format("HTTP mode cannot listen on {} ({} failed: {}); is another process "
                            "using the port? Change slack.http_listen or stop it",
                            options_.listen, step, ec.message()));
        };
        acceptor_.open(endpoint.protocol(), ec);
        if (ec) {
            return fail("open");
        }
        acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
        acceptor_.bind(endpoint, ec);
        if (ec) {
            return fail("bind");
        }
        acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            return fail("listen");
        }
        port_ = acceptor_.local_endpoint(ec).port();
        log_.info("http_mode_listening", {{"address", options_.listen},
                                          {"port", static_cast<int>(port_)},
                                          {"path", options_.events_path}});
        return core::ok();
    }

    asio::awaitable<core::result<void>> run() {
        if (auto listening = listen(); !listening) {
            co_return listening;
        }
        // Cancellation ends the accept loop like stop(); the drain below must still run.
        co_await asio::this_coro::throw_if_cancelled(false);
        while (!stopping_) {
            auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
            if (ec) {
                if (stopping_ || ec == asio::error::operation_aborted) {
                    break;
                }
                // Out of file descriptors and the like: wait a little instead of spinning.
                log_.warn("http_mode_accept_failed", {{"error", ec.message()}});
                asio::steady_timer pause(executor_, std::chrono::milliseconds{100});
                co_await pause.async_wait(use_tuple);
                continue;
            }
            ++stats_.connections;
            socket.set_option(tcp::no_delay(true), ec);  // Nagle would delay the answer's body
            if (connections_.size() >= options_.max_connections) {
                log_.warn("http_mode_connection_refused",
                          {{"reason", "too many connections"},
                           {"open", static_cast<long long>(connections_.size())}});
                error_code ignored;
                socket.close(ignored);
                continue;
            }
            auto it = connections_.emplace(connections_.end(), std::move(socket));
            asio::co_spawn(executor_, serve(it), [this](const std::exception_ptr& e) {
                if (e) {
                    try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& ex) {
                        log_.error("http_mode_connection_crashed", {{"error", ex.what()}});
                    }
                }
            });
        }
        stop();
        // Connections notice the closed sockets at their next step; wait for them, bounded.
        if (!connections_.empty()) {
            drained_.expires_after(options_.close_timeout);
            co_await drained_.async_wait(use_tuple);
        }
        log_.info("http_mode_stopped", {{"requests", static_cast<long long>(stats_.requests)}});
        co_return core::ok();
    }

    void stop() {
        if (stopping_) {
            return;
        }
        stopping_ = true;
        error_code ignored;
        acceptor_.close(ignored);
        close_all();
    }

    std::uint16_t port() const noexcept { return port_; }
    const http_mode_stats& stats() const noexcept { return stats_; }

private:
    using connection_list = std::list<beast::tcp_stream>;

    void close_all() {
        for (auto& stream : connections_) {
            error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
            stream.socket().close(ignored);
        }
    }

    asio::awaitable<void> serve(connection_list::iterator it) {
        beast::tcp_stream& stream = *it;
        std::string remote;
        {
            error_code ec;
            auto ep = stream.socket().remote_endpoint(ec);
            remote = ec ? std::string("unknown") : ep.address().to_string();
        }
        beast::flat_buffer buffer;
        bool first = true;
        while (!stopping_) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(max_header_bytes);
            parser.body_limit(options_.max_body_bytes);
            // The first request should follow the connect closely; later ones may take as long
            // as a keep-alive connection may idle.
            stream.expires_after(first ? options_.read_timeout : options_.idle_timeout);
            auto [head_ec, head_n] =
                co_await http::async_read_header(stream, buffer, parser, use_tuple);
            if (head_ec) {
                if (!is_quiet_end(head_ec)) {
                    co_await answer_malformed(stream, head_ec, remote);
                }
                break;
            }
            first = false;
            stream.expires_after(options_.read_timeout);
            auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, use_tuple);
            if (body_ec) {
                if (!is_quiet_end(body_ec)) {
                    co_await answer_malformed(stream, body_ec, remote);
                }
                break;
            }
            ++stats_.requests;
            auto request = parser.release();
            const bool keep_alive = request.keep_alive() && !stopping_;
            reply r = handle(request, remote);

            http::response<http::string_body> response{r.status, request.version()};
            response.set(http::field::server, "tugboat");
            response.set(http::field::content_type, r.content_type);
            if (r.allow_post_only) {
                response.set(http::field::allow, "POST");
            }
            response.body() = std::move(r.body);
            response.keep_alive(keep_alive);
            response.prepare_payload();
            stream.expires_after(options_.read_timeout);
            auto [write_ec, write_n] = co_await http::async_write(stream, response, use_tuple);
            if (write_ec || !keep_alive) {
                break;
            }
        }
        error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        connections_.erase(it);
        if (stopping_ && connections_.empty()) {
            drained_.cancel();
        }
    }

    // The peer closed or went quiet between requests, or we are stopping: nothing to answer.
    bool is_quiet_end(const error_code& ec) const {
        return stopping_ || ec == http::error::end_of_stream || ec == beast::error::timeout ||
               ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
               ec == asio::error::eof;
    }

    // A request we could not read to the end gets a status saying why, then the connection
    // closes (its framing can no longer be trusted).
    asio::awaitable<void> answer_malformed(beast::tcp_stream& stream, const error_code& ec,
                                           const std::string& remote) {
        ++stats_.bad_requests;
        auto status = http::status::bad_request;
        std::string body = "malformed HTTP request";
        if (ec == http::error::body_limit) {
            status = http::status::payload_too_large;
            body = fmt::format("body larger than {} bytes", options_.max_body_bytes);
        } else if (ec == http::error::header_limit) {
            status = http::status::request_header_fields_too_large;
            body = "request head too large";
        }
        log_.warn(
            "http_mode_bad_request",
            {{"remote", remote}, {"status", static_cast<int>(status)}, {"error", ec.message()}});
        http::response<http::string_body> response{status, 11};
        response.set(http::field::content_type, "text/plain; charset=utf-8");
        response.body() = body + "\n";
        response.keep_alive(false);
        response.prepare_payload();
        stream.expires_after(options_.read_timeout);
        auto [write_ec, written] = co_await http::async_write(stream, response, use_tuple);
        if (write_ec) {
            co_return;
        }
        // Closing with unread request bytes would reset the connection and could destroy our
        // answer before the client reads it; read and discard for a short while first.
        error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        std::array<char, 4096> sink{};
        std::size_t discarded = 0;
        stream.expires_after(std::chrono::seconds{1});
        while (discarded < options_.max_body_bytes) {
            auto [read_ec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
            if (read_ec) {
                break;
            }
            discarded += n;
        }
    }

    reply handle(const http::request<http::string_body>& req, const std::string& remote) {
        const std::string_view target = req.target();
        const std::string_view path = target.substr(0, target.find('?'));
        if (path == options_.health_path) {
            if (req.method() == http::verb::get || req.method() == http::verb::head) {
                return text_reply(http::status::ok, "ok");
            }
            ++stats_.bad_requests;
            return text_reply(http::status::method_not_allowed, "use GET");
        }
        if (path != options_.events_path) {
            ++stats_.bad_requests;
            return text_reply(http::status::not_found, "not found");
        }
        if (req.method() != http::verb::post) {
            ++stats_.bad_requests;
            reply r = text_reply(http::status::method_not_allowed, "Slack posts here; use POST");
            r.allow_post_only = true;
            return r;
        }

        // Signature first: nothing about an unverified request is trusted or acted on.
        const auto now = options_.clock ? options_.clock->now() : std::chrono::system_clock::now();
        auto verified = verify_slack_signature(
            options_.signing_secret.reveal(), header(req, "X-Slack-Request-Timestamp"),
            header(req, "X-Slack-Signature"), req.body(), now, options_.signature_window);
        if (!verified) {
            ++stats_.unauthorized;
            log_.warn("http_mode_unauthorized",
                      {{"remote", remote}, {"reason", verified.error().message}});
            return text_reply(http::status::unauthorized, "invalid or missing Slack signature");
        }

        event_parse_options parse_options;
        parse_options.bot_user_id = options_.bot_user_id;
        parse_options.max_text_bytes = options_.max_text_bytes;

        const auto type = media_type(header(req, "Content-Type"));
        core::result<parsed_payload> parsed = parsed_payload{};
        if (type == "application/json") {
            auto doc = json::parse(req.body(), nullptr, false);
            if (doc.is_discarded() || !doc.is_object()) {
                return bad_payload(remote, "body is not a JSON object");
            }
            const auto kind = string_field(doc, "type");
            if (kind == "url_verification") {
                const auto challenge = doc.find("challenge");
                if (challenge == doc.end() || !challenge->is_string()) {
                    return bad_payload(remote, "url_verification without a string challenge");
                }
                ++stats_.url_verifications;
                log_.info("http_mode_url_verification", {{"remote", remote}});
                return reply{http::status::ok, challenge->get<std::string>()};
            }
            if (kind == "app_rate_limited") {
                // Slack dropped events for a minute; nothing to do but make it visible.
                log_.warn("http_mode_app_rate_limited", {{"team", string_field(doc, "team_id")}});
                return reply{};
            }
            parsed = parse_events_api_payload(req.body(), parse_options);
        } else if (type == "application/x-www-form-urlencoded") {
            auto form = parse_form(req.body());
            if (auto payload = form.find("payload"); payload != form.end()) {
                parsed = parse_interactive_payload(payload->second, parse_options);
            } else if (form.contains("ssl_check")) {
                return reply{};  // Slack checking our certificate; just a 200
            } else if (form.contains("command")) {
                parsed = parse_slash_command_form(form, parse_options);
            } else {
                return bad_payload(remote, "form has neither `command` nor `payload`");
            }
        } else {
            ++stats_.bad_requests;
            log_.warn("http_mode_bad_request",
                      {{"remote", remote}, {"status", 415}, {"content_type", type}});
            return text_reply(http::status::unsupported_media_type,
                              "expected application/json or application/x-www-form-urlencoded");
        }
        if (!parsed) {
            return bad_payload(remote, parsed.error().message);
        }
        if (!parsed->event) {
            ++stats_.ignored;
            log_.debug("http_mode_ignored", {{"why", parsed->ignored}});
            return reply{};
        }
        auto& ev = *parsed->event;

        // Slack re-sends an event it got no 200 for within 3 s. We answer at once, so an
        // http_timeout retry means the first delivery reached us and is being handled; other
        // reasons (connection_failed, http_error, …) may mean it never arrived, so those go
        // through, and the handler's de-duplication on the same key drops a real duplicate.
        const auto retry_num = header(req, "X-Slack-Retry-Num");
        const auto retry_reason = header(req, "X-Slack-Retry-Reason");
        if (!retry_num.empty() && retry_reason == "http_timeout") {
            ++stats_.retries_acked;
            log_.info("http_mode_retry_acked", {{"key", ev.idempotency_key},
                                                {"retry", std::string(retry_num)},
                                                {"reason", std::string(retry_reason)}});
            return reply{};
        }
        if (!retry_num.empty()) {
            log_.info("http_mode_retry", {{"key", ev.idempotency_key},
                                          {"retry", std::string(retry_num)},
                                          {"reason", std::string(retry_reason)}});
        }

        reply ack;
        if (ev.kind == commands::event_kind::slash_command && options_.slash_ack) {
            ack.body = options_.slash_ack(ev);
            if (!ack.body.empty()) {
                ack.content_type = "application/json";
            }
        }
        log_.debug("http_mode_event", {{"kind", commands::to_string(ev.kind)},
                                       {"key", ev.idempotency_key},
                                       {"actor", ev.actor},
                                       {"channel", ev.channel}});
        ++stats_.events;
        try {
            on_event_(std::move(ev));
        } catch (const std::exception& e) {
            log_.error("http_mode_handler_failed", {{"error", e.what()}});
            return text_reply(http::status::internal_server_error, "internal error");
        }
        return ack;
    }

    reply bad_payload(const std::string& remote, std::string_view why) {
        ++stats_.bad_requests;
        log_.warn("http_mode_bad_payload", {{"remote", remote}, {"error", why}});
        return text_reply(http::status::bad_request, "bad payload");
    }

    static std::string_view header(const http::request<http::string_body>& req,
                                   std::string_view name) {
        auto it = req.find(beast::string_view(name.data(), name.size()));
        if (it == req.end()) {
            return {};
        }
        auto v = it->value();
        return {v.data(), v.size()};
    }

    asio::any_io_executor executor_;
    http_mode_options options_;
    core::logger& log_;
    event_handler on_event_;
    tcp::acceptor acceptor_;
    asio::steady_timer drained_;  // cancelled when the last connection ends after stop()
    connection_list connections_;
    std::uint16_t port_ = 0;
    bool stopping_ = false;
    http_mode_stats stats_;
};

http_mode_server::http_mode_server(asio::any_io_executor executor, http_mode_options options,
                                   core::logger& log, event_handler on_event)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(options), log,
                                   std::move(on_event))) {}

http_mode_server::~http_mode_server() = default;

core::result<void> http_mode_server::listen() {
    return impl_->listen();
}

std::uint16_t http_mode_server::port() const noexcept {
    return impl_->port();
}

asio::awaitable<core::result<void>> http_mode_server::run() {
    return impl_->run();
}

void http_mode_server::stop() {
    impl_->stop();
}

http_mode_stats http_mode_server::stats() const noexcept {
    return impl_->stats();
}

}  // namespace tugboat::bot
