#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tugboat::core {

/// Error categories shared by every module. Map foreign error codes to these in one place
/// per module (e.g. integrations/http maps boost::system::error_code).
enum class errc {
    invalid_argument,   ///< the caller gave something malformed
    not_found,          ///< a named thing does not exist
    already_exists,     ///< the thing was created before (idempotency hit)
    conflict,           ///< optimistic-concurrency or state conflict (HTTP 409, busy lock)
    permission_denied,  ///< authn/authz refused (HTTP 401/403, Slack invalid_auth)
    rate_limited,       ///< HTTP 429 / Slack ratelimited
    unavailable,        ///< peer down, connection refused, 5xx
    timeout,            ///< a deadline passed
    cancelled,          ///< the operation was cancelled (shutdown, user cancel)
    protocol_error,     ///< the peer answered something we cannot understand
    storage_error,      ///< SQLite failed
    config_error,       ///< configuration is wrong
    internal,           ///< a bug
};

/// Stable lower-case name of an error category, for logs and tests.
constexpr std::string_view to_string(errc code) noexcept {
    switch (code) {
        case errc::invalid_argument: return "invalid_argument";
        case errc::not_found: return "not_found";
        case errc::already_exists: return "already_exists";
        case errc::conflict: return "conflict";
        case errc::permission_denied: return "permission_denied";
        case errc::rate_limited: return "rate_limited";
        case errc::unavailable: return "unavailable";
        case errc::timeout: return "timeout";
        case errc::cancelled: return "cancelled";
        case errc::protocol_error: return "protocol_error";
        case errc::storage_error: return "storage_error";
        case errc::config_error: return "config_error";
        case errc::internal: return "internal";
    }
    return "unknown";
}

/// An error crossing a module boundary: a category plus a message a person can act on.
struct error {
    errc code = errc::internal;
    std::string message;

    friend bool operator==(const error&, const error&) = default;
};

inline error make_error(errc code, std::string message) {
    return error{code, std::move(message)};
}

/// Value or error. Cheap to move; check before use (`if (!r) return r.error();`).
template <class T>
class [[nodiscard]] result {
public:
    result(T value)
        : v_(std::in_place_index<0>, std::move(value)) {}          // NOLINT: implicit on purpose
    result(core::error e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT: implicit on purpose

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & {
        assert(has_value());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(has_value());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(has_value());
        return std::get<0>(std::move(v_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const core::error& error() const& {
        assert(!has_value());
        return std::get<1>(v_);
    }
    core::error&& error() && {
        assert(!has_value());
        return std::get<1>(std::move(v_));
    }

    /// The value, or `fallback` when this holds an error.
    T value_or(T fallback) const& { return has_value() ? std::get<0>(v_) : std::move(fallback); }

private:
    std::variant<T, core::error> v_;
};

template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(core::error e) : err_(std::move(e)), ok_(false) {}  // NOLINT: implicit on purpose

    bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    const core::error& error() const& {
        assert(!ok_);
        return err_;
    }
    core::error&& error() && {
        assert(!ok_);
        return std::move(err_);
    }

private:
    core::error err_;
    bool ok_ = true;
};

/// Convenience for `return ok();` in result<void> functions.
inline result<void> ok() {
    return {};
}

}  // namespace tugboat::core
