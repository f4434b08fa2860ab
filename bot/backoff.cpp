#include "bot/backoff.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <random>

namespace tugboat::bot {

namespace {

using ms = std::chrono::milliseconds;

// Uniform in [lo, hi]; r in [0, 1).
ms between(ms lo, ms hi, double r) {
    if (hi <= lo) {
        return lo;
    }
    r = std::clamp(r, 0.0, 1.0);
    auto span = static_cast<double>((hi - lo).count());
    return lo + ms{static_cast<ms::rep>(std::llround(span * r))};
}

}  // namespace

backoff::backoff(backoff_policy policy, std::function<double()> random01)
    : policy_(policy), random01_(std::move(random01)) {}

std::chrono::milliseconds backoff::next() {
    const ms cap = std::max(policy_.cap, policy_.floor);
    const ms initial = std::clamp(policy_.initial, policy_.floor, cap);
    const double r = random01_ ? random01_() : 0.5;
    ms delay{0};
    if (policy_.jitter == jitter_kind::full) {
        // Grow in double and clamp before converting so a long outage cannot overflow.
        double base = static_cast<double>(initial.count()) *
                      std::pow(std::max(policy_.multiplier, 1.0), std::min(attempts_, 62));
        base = std::min(base, static_cast<double>(cap.count()));
        delay = between(policy_.floor, ms{static_cast<ms::rep>(base)}, r);
    } else {
        const ms prev = previous_.count() == 0 ? initial : previous_;
        const ms upper = std::min(cap, prev * 3);
        delay = between(initial, upper, r);
    }
    delay = std::clamp(delay, policy_.floor, cap);
    previous_ = delay;
    ++attempts_;
    return delay;
}

void backoff::reset() noexcept {
    attempts_ = 0;
    previous_ = ms{0};
}

void backoff::connection_ended(std::chrono::milliseconds lived) noexcept {
    if (lived >= policy_.healthy_after) {
        reset();
    }
}

std::function<double()> default_random01() {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

std::string_view to_string(end_reason reason) noexcept {
    switch (reason) {
        case end_reason::stopped: return "stopped";
        case end_reason::refresh_requested: return "refresh_requested";
        case end_reason::warning: return "warning";
        case end_reason::too_many_websockets: return "too_many_websockets";
        case end_reason::link_disabled: return "link_disabled";
        case end_reason::unknown_disconnect: return "unknown_disconnect";
        case end_reason::dropped: return "dropped";
        case end_reason::connect_failed: return "connect_failed";
        case end_reason::open_failed: return "open_failed";
        case end_reason::auth_failed: return "auth_failed";
    }
    return "unknown";
}

end_reason classify_disconnect(std::string_view reason) noexcept {
    if (reason == "refresh_requested") {
        return end_reason::refresh_requested;
    }
    if (reason == "warning") {
        return end_reason::warning;
    }
    if (reason == "too_many_websockets") {
        return end_reason::too_many_websockets;
    }
    if (reason == "link_disabled") {
        return end_reason::link_disabled;
    }
    return end_reason::unknown_disconnect;
}

end_reason classify_open_error(std::string_view slack_error) noexcept {
    // The Slack SDKs treat these as unrecoverable: looping on them only hammers the API.
    static constexpr std::array<std::string_view, 12> fatal = {
        "invalid_auth",  "not_authed",    "account_inactive",       "token_revoked",
        "token_expired", "missing_scope", "missing_args",           "forbidden_team",
        "team_disabled", "no_permission", "user_removed_from_team", "not_allowed_token_type",
    };
    if (std::find(fatal.begin(), fatal.end(), slack_error) != fatal.end()) {
        return end_reason::auth_failed;
    }
    if (slack_error == "link_disabled") {
        return end_reason::link_disabled;
    }
    return end_reason::open_failed;
}

std::string_view to_string(step_kind step) noexcept {
    switch (step) {
        case step_kind::reconnect_now: return "reconnect_now";
        case step_kind::backoff: return "backoff";
        case step_kind::long_backoff: return "long_backoff";
        case step_kind::stop: return "stop";
    }
    return "unknown";
}

step_kind next_step(end_reason reason) noexcept {
    switch (reason) {
        case end_reason::refresh_requested:
        case end_reason::warning: return step_kind::reconnect_now;
        case end_reason::link_disabled: return step_kind::long_backoff;
        case end_reason::auth_failed:
        case end_reason::stopped: return step_kind::stop;
        case end_reason::too_many_websockets:
        case end_reason::unknown_disconnect:
        case end_reason::dropped:
        case end_reason::connect_failed:
        case end_reason::open_failed: return step_kind::backoff;
    }
    return step_kind::backoff;
}

}  // namespace tugboat::bot
