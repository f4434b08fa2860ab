#pragma once

#include <cstddef>

namespace tugboat::core {

/// Counts work in progress (a command being handled, a deploy following its pipeline). Work
/// that waits for a person (an approval) is not in progress: its coroutine has ended and a row
/// remembers it. The sandbox's script mode waits for the count to reach zero before typing the
/// next line; shutdown waits for it too. Single-threaded, like everything on the io_context.
class work_tracker {
public:
    /// RAII token: counts as one unit of work for as long as it lives.
    class scope {
    public:
        explicit scope(work_tracker& t) : t_(&t) { ++t_->active_; }
        scope(scope&& o) noexcept : t_(o.t_) { o.t_ = nullptr; }
        scope& operator=(scope&&) = delete;
        scope(const scope&) = delete;
        scope& operator=(const scope&) = delete;
        ~scope() {
            if (t_ != nullptr) {
                --t_->active_;
                ++t_->finished_;
            }
        }

    private:
        work_tracker* t_;
    };

    scope start() { return scope(*this); }
    std::size_t active() const noexcept { return active_; }
    /// How many units have ended so far; lets a waiter notice work that started and ended.
    std::size_t finished() const noexcept { return finished_; }

private:
    std::size_t active_ = 0;
    std::size_t finished_ = 0;
};

}  // namespace tugboat::core
