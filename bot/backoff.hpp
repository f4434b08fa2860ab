#pragma once

// Reconnect policy of the Socket Mode client, as plain values and functions: how long to wait
// before the next connection attempt, and what to do after a connection ends. No sockets, no
// clock reads: the caller measures durations and supplies random numbers, so tests can pin both.

#include <chrono>
#include <functional>
#include <string_view>

namespace tugboat::bot {

/// How random the delays are.
enum class jitter_kind {
    /// Uniform in [floor, min(cap, initial * multiplier^n)]: spreads many clients best.
    full,
    /// Uniform in [initial, min(cap, previous * 3)]: each delay builds on the previous one.
    decorrelated,
};

/// Delays between connection attempts. Plain values so tests can shrink them.
struct backoff_policy {
    std::chrono::milliseconds initial{500};  ///< base of the first delay
    std::chrono::milliseconds cap{30'000};   ///< largest ordinary delay
    /// No delay is shorter than this, whatever the jitter draws: never a tight loop.
    std::chrono::milliseconds floor{100};
    double multiplier = 2.0;  ///< growth per failed attempt (full jitter)
    jitter_kind jitter = jitter_kind::full;
    /// Delay when retrying soon cannot help (Socket Mode switched off, link_disabled): retry
    /// rarely and log an error each time.
    std::chrono::milliseconds long_delay{std::chrono::minutes{5}};
    /// A connection that stayed up this long was healthy: the next failure starts over from
    /// `initial` instead of continuing to grow.
    std::chrono::milliseconds healthy_after{std::chrono::seconds{30}};
};

/// Exponential backoff with jitter. One per connection slot; single-threaded.
class backoff {
public:
    /// `random01` returns numbers in [0, 1); it is called once per `next()`.
    backoff(backoff_policy policy, std::function<double()> random01);

    /// The delay before the next attempt; grows with each call until `reset` or a healthy
    /// connection. Always within [policy.floor, policy.cap] (floor wins if floor > cap).
    std::chrono::milliseconds next();

    /// Starts over from the initial delay.
    void reset() noexcept;

    /// Tells the policy a connection ended after being up for `lived`; resets when it was
    /// healthy (see backoff_policy::healthy_after).
    void connection_ended(std::chrono::milliseconds lived) noexcept;

    /// Delays handed out since the last reset.
    int attempts() const noexcept { return attempts_; }

    const backoff_policy& policy() const noexcept { return policy_; }

private:
    backoff_policy policy_;
    std::function<double()> random01_;
    int attempts_ = 0;
    std::chrono::milliseconds previous_{0};
};

/// A random source in [0, 1) for `backoff`, seeded from std::random_device.
std::function<double()> default_random01();

/// Why a connection (or an attempt to get one) ended, as far as reconnecting is concerned.
enum class end_reason {
    stopped,              ///< we are shutting down
    refresh_requested,    ///< Slack `disconnect` refresh_requested: routine recycle
    warning,              ///< Slack `disconnect` warning: a forced close follows in ~10 s
    too_many_websockets,  ///< Slack `disconnect` too_many_websockets: over the 10-socket cap
    link_disabled,        ///< Slack `disconnect` link_disabled: Socket Mode switched off
    unknown_disconnect,   ///< a `disconnect` with a reason we do not know
    dropped,              ///< read error, close without `disconnect`, dead-connection detector
    connect_failed,       ///< TCP, TLS or WebSocket handshake failed, or no `hello` in time
    open_failed,          ///< apps.connections.open failed in a way that may pass (network,
                          ///< 5xx, ratelimited, unknown error)
    auth_failed,          ///< apps.connections.open refused the token: retrying cannot help
};

/// Stable lower-case name, for logs.
std::string_view to_string(end_reason reason) noexcept;

/// The `reason` of a Slack `disconnect` message.
end_reason classify_disconnect(std::string_view reason) noexcept;

/// The `error` of a failed apps.connections.open: invalid_auth, not_authed, account_inactive,
/// token_revoked, token_expired, missing_scope, missing_args, forbidden_team, team_disabled,
/// user_removed_from_team, no_permission and not_allowed_token_type are auth_failed; link_disabled
/// (reported by some gateways) is link_disabled; anything else open_failed.
end_reason classify_open_error(std::string_view slack_error) noexcept;

/// What the connection slot does next.
enum class step_kind {
    reconnect_now,  ///< open a replacement at once, keeping the old connection until it is ready
    backoff,        ///< wait backoff.next(), then reconnect with a fresh URL
    long_backoff,   ///< wait policy.long_delay and log an error, then reconnect
    stop,           ///< give up: run() ends with an error (or normally when stopped)
};

/// Stable lower-case name, for logs.
std::string_view to_string(step_kind step) noexcept;

/// The next step after `reason`: refresh_requested and warning reconnect now (replacement
/// first); link_disabled long backoff; auth_failed and stopped stop; everything else backs
/// off, including too_many_websockets (another socket of ours may close soon).
step_kind next_step(end_reason reason) noexcept;

}  // namespace tugboat::bot
