#pragma once

// Plain HTTP request/response values and the pure retry rules of the HTTP client. No Beast or
// OpenSSL here: clients of the HTTP client (Slack, Jenkins, Kubernetes) include only this.

#include "core/result.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tugboat::integrations {

/// The request methods the bot uses.
enum class http_method { get, head, post, put, patch, delete_, options };

/// "GET", "POST", … as written on the wire.
std::string_view to_string(http_method method) noexcept;

/// True for methods RFC 9110 defines as idempotent (GET, HEAD, PUT, DELETE, OPTIONS).
bool is_idempotent(http_method method) noexcept;

/// Header fields in wire order. Names compare ASCII case-insensitively (see `find_header`).
using http_headers = std::vector<std::pair<std::string, std::string>>;

/// The value of the first header named `name` (any case), or nullopt.
std::optional<std::string> find_header(const http_headers& headers, std::string_view name);

/// The values of every header named `name` (any case), in order; e.g. each Set-Cookie.
std::vector<std::string> find_headers(const http_headers& headers, std::string_view name);

/// One HTTP exchange to perform.
struct http_request {
    http_method method = http_method::get;
    /// Absolute URL: `https://host[:port]/path?query` or `http://…` (plain, for local fakes).
    std::string url;
    /// Extra header fields. Host, Content-Length and (unless given) User-Agent are set by the
    /// client. Values are never logged.
    http_headers headers;
    std::string body;
    /// Budget for the whole call, every attempt and backoff wait included. For streams it
    /// covers connecting and receiving the response head; the body has an idle timeout instead.
    std::chrono::milliseconds timeout{std::chrono::seconds{30}};
    /// Whether a retry may repeat the request's effect; nullopt = derived from the method.
    /// Set it to true for a POST the server deduplicates (e.g. by an idempotency key).
    std::optional<bool> idempotent;
    /// Attempts in total, the first included; 1 disables retries.
    int max_attempts = 3;

    bool is_idempotent() const noexcept {
        return idempotent.value_or(integrations::is_idempotent(method));
    }
};

/// A complete HTTP response. Any status is a response, not an error: callers decide what a
/// 404 or 409 means to them (`errc_for_status` gives the usual mapping).
struct http_response {
    int status = 0;
    http_headers headers;
    std::string body;

    /// The value of header `name` (any case), or nullopt.
    std::optional<std::string> header(std::string_view name) const {
        return find_header(headers, name);
    }
    /// True for 2xx.
    bool ok() const noexcept { return status >= 200 && status < 300; }
};

/// The usual error category for a non-2xx status: 401/403 permission_denied, 404/410
/// not_found, 409/412 conflict, 429 rate_limited, 408/504 timeout, other 5xx unavailable,
/// other 4xx invalid_argument.
core::errc errc_for_status(int status) noexcept;

/// How the client spaces out retries. Plain values so tests can shrink them.
struct retry_policy {
    /// Backoff before the second attempt; doubles (see `multiplier`) for each later one.
    std::chrono::milliseconds initial_backoff{200};
    /// Largest backoff between two attempts, before jitter.
    std::chrono::milliseconds max_backoff{std::chrono::seconds{10}};
    double multiplier = 2.0;
    /// Longest Retry-After the client waits for itself. A server asking for more gets its
    /// 429/503 handed back to the caller, which can schedule the retry itself.
    std::chrono::milliseconds max_retry_after{std::chrono::seconds{30}};
};

/// True for statuses that say "try again later": 429, 500, 502, 503, 504.
bool is_retryable_status(int status) noexcept;

/// Parses a Retry-After value: delay-seconds ("120") or an IMF-fixdate ("Sun, 06 Nov 1994
/// 08:49:37 GMT", relative to `now`; a date in the past gives zero). Nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

/// Backoff before attempt `attempt + 1`, after `attempt` (1-based) failed: exponential with
/// "equal jitter", i.e. uniformly in [base/2, base] where base = initial * multiplier^(attempt-1)
/// capped at max_backoff. `random01` is a number in [0, 1) from the caller's random source.
std::chrono::milliseconds backoff_delay(const retry_policy& policy, int attempt, double random01);

/// What one attempt ended with, as far as retrying is concerned.
struct attempt_outcome {
    /// Request bytes may have reached the server (false when connecting failed).
    bool sent = false;
    /// Status of the response received, if any.
    std::optional<int> status;
    /// Parsed Retry-After of that response, if any.
    std::optional<std::chrono::milliseconds> retry_after;
    /// The failure will not go away by retrying (e.g. certificate verification failed).
    bool permanent = false;
};

/// Whether to retry after `attempt` (1-based) ended with `outcome`, and after what delay.
/// Nullopt = stop and report the outcome. Rules: never past `max_attempts` or for permanent
/// failures; a failure to connect is retried for every request because nothing was sent;
/// anything else only for idempotent requests: transport failures, and retryable statuses
/// (Retry-After honoured when present, no retry when it exceeds policy.max_retry_after).
std::optional<std::chrono::milliseconds> next_retry_delay(const retry_policy& policy,
                                                          const attempt_outcome& outcome,
                                                          bool idempotent, int attempt,
                                                          int max_attempts, double random01);

}  // namespace tugboat::integrations
