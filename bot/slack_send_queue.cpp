#include "bot/slack_send_queue.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <deque>
#include <optional>
#include <random>
#include <set>
#include <variant>

namespace tugboat::bot {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

slack_tier tier_of(std::string_view m) noexcept {
    if (m == "chat.postMessage") {
        return slack_tier::post_message;
    }
    if (m == "chat.postEphemeral" || m == "views.open" || m == "views.update" ||
        m == "views.push" || m == "users.info" || m == "files.getUploadURLExternal" ||
        m == "files.completeUploadExternal" || m == "conversations.info") {
        return slack_tier::tier4;
    }
    if (m == "usergroups.users.list" || m == "auth.test") {
        return slack_tier::tier2;
    }
    return slack_tier::tier3;
}

int per_minute(slack_tier t) noexcept {
    switch (t) {
        case slack_tier::tier1: return 1;
        case slack_tier::tier2: return 20;
        case slack_tier::tier3: return 50;
        case slack_tier::tier4: return 100;
        // Slack paces chat.postMessage per channel (~1/s, see channel pacing); this is only a
        // workspace-wide guard against a runaway loop, not the real limit.
        case slack_tier::post_message: return 600;
    }
    return 50;
}

namespace {

/// A token bucket: `capacity` calls at once, refilled at `per_second`.
struct bucket {
    double tokens = 0;
    double capacity = 1;
    double per_second = 1;
    steady::time_point updated{};

    /// How long until a token is available (zero: take it now).
    steady::duration wait(steady::time_point now) {
        tokens = std::min(
            capacity, tokens + std::chrono::duration<double>(now - updated).count() * per_second);
        updated = now;
        if (tokens >= 1) {
            return steady::duration::zero();
        }
        return std::chrono::duration_cast<steady::duration>(
            std::chrono::duration<double>((1 - tokens) / per_second));
    }
    void take() { tokens -= 1; }
};

}  // namespace

/// One queued call. Callers wait on `done` (a timer that is cancelled on completion).
struct call {
    std::string method;
    std::string channel;
    std::string coalesce_key;
    std::variant<std::string, form_fields> body;
    steady::time_point queued_at;
    bool in_flight = false;    ///< being sent now (waiting calls may still take newer content)
    std::uint64_t ticket = 0;  ///< place in its method's line; 0 = not waiting for a token
    send_priority priority = send_priority::normal;
    asio::steady_timer* sleeping = nullptr;  ///< its lane's timer while it waits
    std::optional<core::result<slack_reply>> outcome;
    asio::steady_timer done;
    int waiters = 1;

    call(asio::any_io_executor ex) : done(ex, steady::time_point::max()) {}
};

struct slack_send_queue::state : std::enable_shared_from_this<slack_send_queue::state> {
    asio::any_io_executor executor;
    slack_web_api& api;
    core::logger& log;
    send_queue_options options;
    send_queue_stats stats;
    std::map<std::string, std::deque<std::shared_ptr<call>>, std::less<>> lanes;
    std::map<std::string, bucket, std::less<>> method_budgets;
    std::map<std::string, bucket, std::less<>> channel_budgets;
    std::map<std::string, steady::time_point, std::less<>> paused_until;  // method or channel
    /// Per method, the tickets of calls waiting only for its budget, oldest first: tokens go
    /// in that order, and each waiter sleeps until its own turn instead of all of them waking
    /// for every token (a thousand root edits can wait for chat.update at once).
    std::map<std::string, std::set<std::uint64_t>, std::less<>> in_line;
    std::uint64_t next_ticket = 0;
    std::size_t pending = 0;
    bool stopped = false;
    std::minstd_rand rng{std::random_device{}()};

    state(asio::any_io_executor ex, slack_web_api& a, core::logger& l, send_queue_options o)
        : executor(std::move(ex)), api(a), log(l), options(o) {}

    bucket& method_bucket(const std::string& method, steady::time_point now) {
        auto it = method_budgets.find(method);
        if (it == method_budgets.end()) {
            double per_min = per_minute(tier_of(method)) * options.budget_scale;
            bucket b;
            b.capacity = std::max(1.0, per_min / 10.0);  // bursts Slack tolerates
            // The burst counts inside the minute: Slack's window holds per_min calls, so the
            // refill leaves room for a full bucket in any 60 s.
            b.per_second = std::max(per_min - b.capacity, per_min / 2) / 60.0;
            b.tokens = b.capacity;
            b.updated = now;
            it = method_budgets.emplace(method, b).first;
        }
        return it->second;
    }

    bucket& channel_bucket(const std::string& channel, steady::time_point now) {
        auto it = channel_budgets.find(channel);
        if (it == channel_budgets.end()) {
            bucket b;
            b.per_second = 1000.0 / static_cast<double>(options.channel_interval.count()) *
                           options.budget_scale;
            b.capacity = options.channel_burst;
            b.tokens = b.capacity;
            b.updated = now;
            it = channel_budgets.emplace(channel, b).first;
        }
        return it->second;
    }

    /// How long `c` must wait before it may be sent; takes the tokens when it may go now.
    steady::duration admission(call& c, steady::time_point now) {
        steady::duration wait = steady::duration::zero();
        const bool post = c.method == "chat.postMessage";
        for (const std::string* key : {&c.method, post ? &c.channel : nullptr}) {
            if (key == nullptr) {
                continue;
            }
            auto p = paused_until.find(post && key == &c.channel ? "ch:" + c.channel : *key);
            if (p != paused_until.end() && p->second > now) {
                wait = std::max(wait, p->second - now);
            }
        }
        bucket* cb = nullptr;
        if (post && !c.channel.empty()) {
            cb = &channel_bucket(c.channel, now);
            wait = std::max(wait, cb->wait(now));
        }
        if (wait > steady::duration::zero()) {
            return wait;  // not in line for the method's budget until nothing else holds it up
        }
        auto& line = in_line[c.method];
        if (c.ticket == 0) {
            // High-priority tickets sort before every normal one.
            constexpr std::uint64_t normal_base = std::uint64_t{1} << 62;
            c.ticket = ++next_ticket + (c.priority == send_priority::high ? 0 : normal_base);
            line.insert(c.ticket);
        }
        auto ahead = static_cast<double>(std::distance(line.begin(), line.find(c.ticket)));
        bucket& mb = method_bucket(c.method, now);
        mb.wait(now);  // refills
        if (mb.tokens < ahead + 1) {
            return std::chrono::duration_cast<steady::duration>(
                std::chrono::duration<double>((ahead + 1 - mb.tokens) / mb.per_second));
        }
        leave_line(c);
        mb.take();
        if (cb != nullptr) {
            cb->take();
        }
        return steady::duration::zero();
    }

    void leave_line(call& c) {
        if (c.ticket != 0) {
            auto it = in_line.find(c.method);
            it->second.erase(c.ticket);
            if (it->second.empty()) {
                in_line.erase(it);
            }
            c.ticket = 0;
        }
    }

    std::chrono::milliseconds backoff(int attempt) {
        auto base = options.initial_backoff * (1 << std::min(attempt - 1, 10));
        base = std::min<std::chrono::milliseconds>(base, options.max_backoff);
        std::uniform_real_distribution<double> half(0.5, 1.0);
        return std::chrono::milliseconds{static_cast<long>(base.count() * half(rng))};
    }

    void finish(const std::shared_ptr<call>& c, core::result<slack_reply> r) {
        c->outcome.emplace(std::move(r));
        c->done.cancel();
    }

    asio::awaitable<void> run_lane(std::string lane) {
        auto self = shared_from_this();
        asio::steady_timer timer(executor);
        while (!stopped) {
            auto it = lanes.find(lane);
            if (it == lanes.end() || it->second.empty()) {
                lanes.erase(lane);
                co_return;
            }
            std::shared_ptr<call> c = it->second.front();
            auto r = co_await attempt_until_done(c, timer);
            if (stopped) {
                co_return;
            }
            leave_line(*c);  // it timed out while waiting
            it = lanes.find(lane);
            it->second.pop_front();
            --pending;
            finish(c, std::move(r));
        }
    }

    // Each branch awaits in its own statement: GCC 12 miscompiles co_await inside ?: and
    // assignments to an existing result.
    asio::awaitable<core::result<slack_reply>> send_once(std::shared_ptr<call> c) {
        if (auto* json_body = std::get_if<std::string>(&c->body)) {
            co_return co_await api.call(c->method, *json_body);
        }
        co_return co_await api.call_form(c->method, std::get<form_fields>(c->body));
    }

    asio::awaitable<core::result<slack_reply>> attempt_until_done(std::shared_ptr<call> c,
                                                                  asio::steady_timer& timer) {
        int attempt = 0;
        while (true) {
            auto now = steady::now();
            if (now - c->queued_at > options.max_wait) {
                co_return core::make_error(
                    core::errc::timeout,
                    fmt::format("{} waited more than {} s in the send queue", c->method,
                                std::chrono::duration_cast<std::chrono::seconds>(options.max_wait)
                                    .count()));
            }
            if (auto wait = admission(*c, now); wait > steady::duration::zero()) {
                timer.expires_after(wait);
                boost::system::error_code ec;
                c->sleeping = &timer;
                co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                c->sleeping = nullptr;
                if (stopped) {
                    co_return core::make_error(core::errc::cancelled, "send queue stopped");
                }
                continue;
            }
            ++attempt;
            c->in_flight = true;  // from now on a newer update queues behind it
            auto r = co_await send_once(c);
            c->in_flight = false;
            if (stopped) {
                co_return core::make_error(core::errc::cancelled, "send queue stopped");
            }
            std::optional<std::chrono::milliseconds> delay;
            std::string reason;
            if (r && r->http_status == 429) {
                ++stats.rate_limited;
                --attempt;  // Slack told us when to come back; that is not a failure
                auto ra = r->retry_after.value_or(std::chrono::seconds{30});
                bool post = c->method == "chat.postMessage";
                paused_until[post ? "ch:" + c->channel : c->method] = steady::now() + ra;
                log.warn("slack_rate_limited", {{"method", c->method},
                                                {"channel", c->channel},
                                                {"retry_after_ms", ra.count()}});
                continue;
            }
            if (!r) {
                if (r.error().code == core::errc::cancelled) {
                    co_return r;
                }
                reason = r.error().message;
            } else if (r->http_status >= 500) {
                reason = r->error;
            } else {
                co_return r;  // ok, or a refusal no retry can change
            }
            if (attempt >= options.max_attempts) {
                co_return core::make_error(
                    r ? core::errc::unavailable : r.error().code,
                    fmt::format("Slack kept failing {} ({}) after {} attempts", c->method, reason,
                                attempt));
            }
            ++stats.retried;
            delay = backoff(attempt);
            log.info("slack_retry", {{"method", c->method},
                                     {"attempt", attempt},
                                     {"reason", reason},
                                     {"delay_ms", delay->count()}});
            timer.expires_after(*delay);
            boost::system::error_code ec;
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            if (stopped) {
                co_return core::make_error(core::errc::cancelled, "send queue stopped");
            }
        }
    }

    asio::awaitable<core::result<slack_reply>> enqueue(std::string method, std::string channel,
                                                       std::string thread_ts,
                                                       std::string coalesce_key,
                                                       std::variant<std::string, form_fields> body,
                                                       send_priority priority) {
        auto self = shared_from_this();
        if (stopped) {
            co_return core::make_error(core::errc::cancelled, "send queue stopped");
        }
        // Only a thread's order matters; an edit waiting for chat.update's budget must not hold
        // back the replies of its channel.
        std::string lane = !coalesce_key.empty() ? coalesce_key
                           : channel.empty()     ? "method:" + method
                                                 : channel + "/" + thread_ts;
        auto& q = lanes[lane];
        std::shared_ptr<call> c;
        if (!coalesce_key.empty()) {
            for (auto& queued : q) {
                if (!queued->in_flight && queued->coalesce_key == coalesce_key) {
                    queued->body = std::move(body);  // only the newest content is sent
                    ++queued->waiters;
                    ++stats.coalesced;
                    if (priority > queued->priority) {
                        queued->priority = priority;
                        leave_line(*queued);  // a new ticket, ahead of the normal ones
                        if (queued->sleeping != nullptr) {
                            queued->sleeping->cancel();
                        }
                    }
                    c = queued;
                    break;
                }
            }
        }
        if (!c) {
            c = std::make_shared<call>(executor);
            c->method = std::move(method);
            c->channel = std::move(channel);
            c->coalesce_key = std::move(coalesce_key);
            c->body = std::move(body);
            c->priority = priority;
            c->queued_at = steady::now();
            q.push_back(c);
            ++pending;
            if (q.size() == 1) {
                asio::co_spawn(executor, run_lane(lane), asio::detached);
            }
        }
        boost::system::error_code ec;
        co_await c->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!c->outcome) {
            co_return core::make_error(core::errc::cancelled, "send queue stopped");
        }
        const auto& r = *c->outcome;
        if (--c->waiters == 0) {  // count each call once, not once per coalesced caller
            if (!r) {
                ++stats.failed;
                log.error("slack_call_failed", {{"method", c->method},
                                                {"channel", c->channel},
                                                {"reason", r.error().message}});
            } else if (r->ok) {
                ++stats.sent;
            } else {
                ++stats.refused;
                log.warn("slack_call_refused",
                         {{"method", c->method}, {"channel", c->channel}, {"error", r->error}});
            }
        }
        co_return r;
    }
};

slack_send_queue::slack_send_queue(asio::any_io_executor executor, slack_web_api& api,
                                   core::logger& log, send_queue_options options)
    : s_(std::make_shared<state>(std::move(executor), api, log, options)) {}

slack_send_queue::~slack_send_queue() {
    stop();
}

asio::awaitable<core::result<slack_reply>> slack_send_queue::submit(
    std::string method, std::string channel, std::string coalesce_key, std::string json_body,
    std::string thread_ts, send_priority priority) {
    auto s = s_;
    co_return co_await s->enqueue(std::move(method), std::move(channel), std::move(thread_ts),
                                  std::move(coalesce_key), std::move(json_body), priority);
}

asio::awaitable<core::result<slack_reply>> slack_send_queue::submit_form(std::string method,
                                                                         std::string channel,
                                                                         form_fields fields) {
    auto s = s_;
    co_return co_await s->enqueue(std::move(method), std::move(channel), "", "", std::move(fields),
                                  send_priority::normal);
}

const send_queue_stats& slack_send_queue::stats() const noexcept {
    return s_->stats;
}
std::size_t slack_send_queue::pending() const noexcept {
    return s_->pending;
}

void slack_send_queue::stop() {
    if (s_->stopped) {
        return;
    }
    s_->stopped = true;
    for (auto& [lane, q] : s_->lanes) {
        for (auto& c : q) {
            c->done.cancel();  // waiters see no outcome and report cancelled
        }
    }
    s_->lanes.clear();
    s_->in_line.clear();
    s_->pending = 0;
}

}  // namespace tugboat::bot
