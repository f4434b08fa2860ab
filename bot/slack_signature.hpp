#pragma once

// Slack's request signing (HTTP mode): every request to the Request URL carries
// X-Slack-Request-Timestamp and X-Slack-Signature = "v0=" + hex(HMAC-SHA256(signing secret,
// "v0:" + timestamp + ":" + raw body)). Pure functions with an injected "now", so the replay
// window is tested without waiting. OpenSSL stays in slack_signature.cpp.

#include "core/clock.hpp"
#include "core/result.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace tugboat::bot {

/// How far a request's timestamp may be from our clock, either way: Slack's documented 5
/// minutes. Older requests are treated as replays; newer ones as forged or a broken clock.
inline constexpr std::chrono::seconds slack_signature_window{300};

/// The signature Slack would send for `body` posted at `timestamp` (the header's text, Unix
/// seconds): "v0=" followed by 64 lower-case hex digits.
std::string compute_slack_signature(std::string_view signing_secret, std::string_view timestamp,
                                    std::string_view body);

/// Checks a request's X-Slack-Request-Timestamp (`timestamp`) and X-Slack-Signature
/// (`signature`) against its raw `body`. The signature is compared in constant time. Fails
/// with permission_denied and a message saying which check failed (never echoing the secret
/// or the expected signature): empty signing secret, missing or malformed header, timestamp
/// outside `window` of `now` (too old: a replay; in the future: a clock problem), unknown
/// signature version, mismatch (wrong secret or altered body).
core::result<void> verify_slack_signature(std::string_view signing_secret,
                                          std::string_view timestamp, std::string_view signature,
                                          std::string_view body, core::time_point now,
                                          std::chrono::seconds window = slack_signature_window);

}  // namespace tugboat::bot
