#include "bot/slack_signature.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>

namespace tugboat::bot {

namespace {

constexpr std::string_view version_prefix = "v0=";

core::error refused(std::string message) {
    return core::make_error(core::errc::permission_denied, std::move(message));
}

}  // namespace

std::string compute_slack_signature(std::string_view signing_secret, std::string_view timestamp,
                                    std::string_view body) {
    std::string base;
    base.reserve(4 + timestamp.size() + body.size());
    base.append("v0:").append(timestamp).append(":").append(body);

    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int mac_len = 0;
    // HMAC() with a caller buffer cannot fail for SHA-256 short of memory exhaustion; an empty
    // result then simply never matches.
    HMAC(EVP_sha256(), signing_secret.data(), static_cast<int>(signing_secret.size()),
         reinterpret_cast<const unsigned char*>(base.data()), base.size(), mac.data(), &mac_len);

    static constexpr char hex[] = "0123456789abcdef";
    std::string out(version_prefix);
    out.reserve(version_prefix.size() + 2 * mac_len);
    for (unsigned int i = 0; i < mac_len; ++i) {
        out.push_back(hex[mac[i] >> 4]);
        out.push_back(hex[mac[i] & 0x0f]);
    }
    return out;
}

core::result<void> verify_slack_signature(std::string_view signing_secret,
                                          std::string_view timestamp, std::string_view signature,
                                          std::string_view body, core::time_point now,
                                          std::chrono::seconds window) {
    if (signing_secret.empty()) {
        return refused("no signing secret is configured (set SLACK_SIGNING_SECRET)");
    }
    if (timestamp.empty()) {
        return refused("X-Slack-Request-Timestamp header missing");
    }
    if (signature.empty()) {
        return refused("X-Slack-Signature header missing");
    }
    long long ts = 0;
    auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), ts);
    if (ec != std::errc{} || end != timestamp.data() + timestamp.size() || ts < 0) {
        return refused("X-Slack-Request-Timestamp is not a Unix time in seconds");
    }
    const long long skew = core::to_unix(now) - ts;
    if (skew > window.count()) {
        return refused(fmt::format(
            "request timestamp is {} s old (allowed {} s): a replay, or a clock far behind", skew,
            window.count()));
    }
    if (-skew > window.count()) {
        return refused(fmt::format(
            "request timestamp is {} s in the future (allowed {} s): check this host's clock",
            -skew, window.count()));
    }
    if (!signature.starts_with(version_prefix)) {
        return refused("X-Slack-Signature is not a v0 signature");
    }
    const std::string expected = compute_slack_signature(signing_secret, timestamp, body);
    // Lengths are public (always "v0=" + 64 hex digits), so only the content needs the
    // constant-time comparison.
    if (signature.size() != expected.size() ||
        CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0) {
        return refused("X-Slack-Signature does not match: wrong signing secret or altered body");
    }
    return core::ok();
}

}  // namespace tugboat::bot
