#pragma once

// Every Web API call the bot makes on its own initiative goes through this queue, which keeps
// Tugboat inside Slack's rate limits and never loses a message silently:
// - calls for one thread (or one channel's top-level messages) are made in the order they were
//   queued; other threads and message edits are not held up behind them;
// - chat.postMessage is paced per channel (Slack allows ~1 message/s/channel, short bursts);
// - every method has a per-minute budget from its tier, bursts included, served first come
//   first served;
// - HTTP 429 pauses that method (for chat.postMessage: that channel) for Retry-After, then the
//   same call is retried; 5xx and transport failures are retried with backoff;
// - a chat.update for a message that still has an unsent update queued replaces it, so only the
//   newest content is sent;
// - a call that finally fails is logged with its reason and counted.

#include "bot/slack_web_api.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace tugboat::bot {

/// Slack's rate-limit tiers, per method per workspace.
enum class slack_tier { tier1, tier2, tier3, tier4, post_message };

/// The tier of a Web API method (tier 3 for methods we do not know).
slack_tier tier_of(std::string_view method) noexcept;

/// Calls per minute a tier allows.
int per_minute(slack_tier tier) noexcept;

/// Which calls go first when a method's budget is short.
enum class send_priority { normal, high };

struct send_queue_options {
    /// Attempts per call for 5xx and transport failures, the first included. 429s do not count:
    /// Slack asked us to wait, not to give up.
    int max_attempts = 5;
    std::chrono::milliseconds initial_backoff{500};
    std::chrono::milliseconds max_backoff{std::chrono::seconds{30}};
    /// Longest total time a call may wait in the queue and in 429 pauses before it fails.
    /// Generous: a thousand deploys' root edits share chat.update's ~50 a minute.
    std::chrono::milliseconds max_wait{std::chrono::minutes{30}};
    /// chat.postMessage pacing per channel: at most `channel_burst` at once, then one per
    /// `channel_interval`.
    std::chrono::milliseconds channel_interval{1000};
    int channel_burst = 3;
    /// Multiplies every tier budget; tests and benchmarks against the fake may raise it.
    double budget_scale = 1.0;
};

/// Counters, for logs, `doctor` and benchmarks.
struct send_queue_stats {
    std::size_t sent = 0;          ///< calls Slack accepted (ok:true)
    std::size_t refused = 0;       ///< calls Slack answered ok:false (not retried)
    std::size_t failed = 0;        ///< calls given up after retries (logged at error)
    std::size_t rate_limited = 0;  ///< 429 answers received
    std::size_t retried = 0;       ///< retries after 5xx/transport failures
    std::size_t coalesced = 0;     ///< updates replaced by a newer one before being sent
};

class slack_send_queue {
public:
    slack_send_queue(boost::asio::any_io_executor executor, slack_web_api& api, core::logger& log,
                     send_queue_options options = {});
    ~slack_send_queue();
    slack_send_queue(const slack_send_queue&) = delete;
    slack_send_queue& operator=(const slack_send_queue&) = delete;

    /// Queues `method` with a JSON body and waits for Slack's reply. `channel` and `thread_ts`
    /// order the call among others for the same thread (or the channel's top level; no
    /// channel: per method). A non-empty `coalesce_key` (e.g. "update:C1:1700.1") gives the
    /// call a lane of its own and lets a later call with the same key replace it while it is
    /// still queued; both callers then get the newer call's reply. Errors: the transport error
    /// after the last attempt, timeout after max_wait, cancelled on shutdown. ok:false replies
    /// are returned as replies. `high` calls are let through before every `normal` one
    /// waiting for the same method's budget.
    boost::asio::awaitable<core::result<slack_reply>> submit(
        std::string method, std::string channel, std::string coalesce_key, std::string json_body,
        std::string thread_ts = {}, send_priority priority = send_priority::normal);

    /// Same for a form-encoded method (files.getUploadURLExternal).
    boost::asio::awaitable<core::result<slack_reply>> submit_form(std::string method,
                                                                  std::string channel,
                                                                  form_fields fields);

    const send_queue_stats& stats() const noexcept;
    /// Calls queued or in flight.
    std::size_t pending() const noexcept;

    /// Fails every queued call with `cancelled` and stops the lanes.
    void stop();

    struct state;

private:
    std::shared_ptr<state> s_;
};

}  // namespace tugboat::bot
