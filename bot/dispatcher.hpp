#pragma once

// The one entry point of every transport: de-duplicates an inbound event on its idempotency key
// (in SQLite, so a re-delivery after a restart is caught too) and runs it through the router as
// tracked background work, so the transport can acknowledge and read on at once.

#include "bot/router.hpp"
#include "commands/event.hpp"
#include "core/clock.hpp"
#include "core/logger.hpp"
#include "core/work_tracker.hpp"
#include "storage/database.hpp"
#include "storage/inbox_repository.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <deque>
#include <span>
#include <utility>
#include <vector>

namespace tugboat::bot {

class dispatcher {
public:
    /// At most `max_in_flight` events are handled at once; the others wait in arrival order as
    /// plain records (a burst of commands must not become thousands of live coroutines, each
    /// holding a request to Slack).
    dispatcher(boost::asio::any_io_executor executor, storage::database& db, router& router,
               core::work_tracker& tracker, core::logger& log, const core::clock& clock,
               std::size_t max_in_flight = 64);

    /// Starts handling `ev` unless its idempotency key was seen before; returns whether it was
    /// started. An event without a key is always handled. A storage failure is logged and the
    /// event is handled anyway: acting twice on a rare re-delivery beats dropping a command.
    bool submit(commands::inbound_event ev);

    /// Same for many events, recording their keys in one transaction (Socket Mode batches what
    /// it read in one go). Element i tells whether events[i] was started.
    std::vector<bool> submit_batch(std::vector<commands::inbound_event> events);

    /// Forgets event keys older than `retention` (see inbox_repository::purge_older_than).
    core::result<std::int64_t> purge_inbox(core::time_point now, std::chrono::seconds retention) {
        return inbox_.purge_older_than(now, retention);
    }

    /// Events dropped as duplicates so far.
    std::size_t duplicates() const noexcept { return duplicates_; }
    /// Events being handled, and accepted events waiting for a free slot.
    std::size_t in_flight() const noexcept { return in_flight_; }
    std::size_t waiting() const noexcept { return waiting_.size(); }
    std::size_t peak_in_flight() const noexcept { return peak_in_flight_; }
    std::size_t peak_waiting() const noexcept { return peak_waiting_; }

private:
    // By reference: an event is ≈ 400 bytes of strings, and every move copies their buffers.
    void start(commands::inbound_event&& ev);
    void spawn(commands::inbound_event&& ev, core::work_tracker::scope work);
    void finished();

    boost::asio::any_io_executor executor_;
    storage::inbox_repository inbox_;
    router& router_;
    core::work_tracker& tracker_;
    core::logger& log_;
    const core::clock& clock_;
    std::size_t max_in_flight_;
    std::size_t in_flight_ = 0;
    std::size_t peak_in_flight_ = 0;
    std::size_t peak_waiting_ = 0;
    // Counted as work from acceptance, so a shutdown drains them too.
    std::deque<std::pair<commands::inbound_event, core::work_tracker::scope>> waiting_;
    std::size_t duplicates_ = 0;
};

}  // namespace tugboat::bot
