#include "bot/dispatcher.hpp"

#include <boost/asio/co_spawn.hpp>

#include <exception>

namespace tugboat::bot {

dispatcher::dispatcher(boost::asio::any_io_executor executor, storage::database& db, router& router,
                       core::work_tracker& tracker, core::logger& log, const core::clock& clock,
                       std::size_t max_in_flight)
    : executor_(std::move(executor)),
      inbox_(db),
      router_(router),
      tracker_(tracker),
      log_(log),
      clock_(clock),
      max_in_flight_(std::max<std::size_t>(max_in_flight, 1)) {}

bool dispatcher::submit(commands::inbound_event ev) {
    std::vector<commands::inbound_event> one;
    one.push_back(std::move(ev));
    return submit_batch(std::move(one)).front();
}

std::vector<bool> dispatcher::submit_batch(std::vector<commands::inbound_event> events) {
    // The keys are lent to the inbox and given back: a copy would be an allocation per event.
    std::vector<std::string> keys;
    std::vector<std::size_t> keyed;  // index in `events` of each key
    keys.reserve(events.size());
    keyed.reserve(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (!events[i].idempotency_key.empty()) {
            keys.push_back(std::move(events[i].idempotency_key));
            keyed.push_back(i);
        }
    }
    std::vector<bool> started(events.size(), true);
    if (!keys.empty()) {
        auto fresh = inbox_.record_batch(keys, clock_.now());
        for (std::size_t k = 0; k < keyed.size(); ++k) {
            events[keyed[k]].idempotency_key = std::move(keys[k]);
        }
        if (!fresh) {
            log_.error("inbox_failed", {{"error", fresh.error().message}, {"events", keys.size()}});
        } else {
            for (std::size_t k = 0; k < keyed.size(); ++k) {
                started[keyed[k]] = (*fresh)[k];
            }
        }
    }
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (!started[i]) {
            ++duplicates_;
            log_.info("duplicate_event", {{"key", events[i].idempotency_key},
                                          {"kind", commands::to_string(events[i].kind)}});
            continue;
        }
        start(std::move(events[i]));
    }
    return started;
}

void dispatcher::start(commands::inbound_event&& ev) {
    if (router_.ignores(ev)) {
        if (log_.enabled(core::log_level::debug)) {
            log_.debug("event_ignored",
                       {{"kind", commands::to_string(ev.kind)}, {"action_id", ev.action_id}});
        }
        return;
    }
    if (in_flight_ < max_in_flight_) {
        spawn(std::move(ev), tracker_.start());
        return;
    }
    waiting_.emplace_back(std::move(ev), tracker_.start());
    peak_waiting_ = std::max(peak_waiting_, waiting_.size());
    if (waiting_.size() % 1000 == 0) {
        log_.warn("events_waiting", {{"waiting", waiting_.size()}, {"in_flight", in_flight_}});
    }
}

void dispatcher::finished() {
    --in_flight_;
    if (!waiting_.empty() && in_flight_ < max_in_flight_) {
        auto [ev, work] = std::move(waiting_.front());
        waiting_.pop_front();
        spawn(std::move(ev), std::move(work));
    }
}

void dispatcher::spawn(commands::inbound_event&& ev, core::work_tracker::scope work) {
    peak_in_flight_ = std::max(peak_in_flight_, ++in_flight_);
    // The work scope ends with the completion, when the router's coroutine is done.
    boost::asio::co_spawn(executor_, router_.route(std::move(ev)),
                          [this, work = std::move(work)](std::exception_ptr e, route_outcome) {
                              finished();
                              if (!e) {
                                  return;
                              }
                              try {
                                  std::rethrow_exception(e);
                              } catch (const std::exception& ex) {
                                  log_.error("event_handler_crashed", {{"what", ex.what()}});
                              } catch (...) {
                                  log_.error("event_handler_crashed", {{"what", "unknown"}});
                              }
                          });
}

}  // namespace tugboat::bot
