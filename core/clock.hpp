#pragma once

#include <chrono>

namespace tugboat::core {

using time_point = std::chrono::system_clock::time_point;
using std::chrono::milliseconds;
using std::chrono::seconds;

/// Wall-clock source, injected so workflows and tests can move time instead of sleeping.
class clock {
public:
    virtual ~clock() = default;
    /// The current wall-clock time.
    virtual time_point now() const = 0;
};

/// The real clock.
class system_clock final : public clock {
public:
    time_point now() const override { return std::chrono::system_clock::now(); }
};

/// A clock that only moves when told to; for tests.
class manual_clock final : public clock {
public:
    explicit manual_clock(time_point start = time_point{std::chrono::seconds{1'700'000'000}})
        : now_(start) {}
    time_point now() const override { return now_; }
    void advance(std::chrono::system_clock::duration d) { now_ += d; }
    void set(time_point t) { now_ = t; }

private:
    time_point now_;
};

/// Real time sped up `factor` times from the moment it is built, so that hours pass in
/// seconds (the sandbox and its tests; production uses system_clock).
class scaled_clock final : public clock {
public:
    explicit scaled_clock(double factor)
        : factor_(factor), origin_(std::chrono::system_clock::now()) {}
    time_point now() const override {
        auto real = std::chrono::system_clock::now() - origin_;
        return origin_ +
               std::chrono::duration_cast<std::chrono::system_clock::duration>(real * factor_);
    }

private:
    double factor_;
    time_point origin_;
};

/// Seconds since the Unix epoch, the form stored in SQLite.
inline long long to_unix(time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
inline time_point from_unix(long long s) {
    return time_point{std::chrono::seconds{s}};
}

}  // namespace tugboat::core
