#include "bot/slack_directory.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace tugboat::bot {

namespace asio = boost::asio;
using json = nlohmann::json;

/// A refresh in progress. Callers that arrive meanwhile wait on `done`, which never expires on
/// its own: the refresher marks it finished and cancels it when it ends, waking them all.
struct slack_directory::flight {
    explicit flight(asio::any_io_executor ex) : done(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer done;
    bool finished = false;
};

slack_directory::slack_directory(slack_web_api& api, const core::clock& clock, core::logger& log,
                                 slack_directory_options options)
    : api_(api), clock_(clock), log_(log), options_(options) {}

slack_directory::~slack_directory() = default;

void slack_directory::invalidate() noexcept {
    map_.reset();
    last_error_.reset();
}

bool slack_directory::fresh() const {
    return map_ && clock_.now() < fetched_at_ + options_.ttl;
}

std::vector<std::string> slack_directory::lookup(const std::string& user) const {
    auto it = map_->find(user);
    return it == map_->end() ? std::vector<std::string>{} : it->second;
}

boost::asio::awaitable<core::result<std::vector<std::string>>> slack_directory::groups_of(
    std::string user) {
    if (fresh()) {
        co_return lookup(user);
    }
    // With a stale map after a failure, keep serving it until the retry time instead of asking
    // Slack on every question.
    const bool backing_off = map_ && clock_.now() < next_attempt_;
    if (!backing_off) {
        if (auto f = flight_; f && !f->finished) {
            auto [ec] = co_await f->done.async_wait(asio::as_tuple(asio::use_awaitable));
            (void)ec;  // always operation_aborted: woken by the refresher or cancelled ourselves
            if (!f->finished) {
                co_return core::make_error(core::errc::cancelled,
                                           "stopped waiting for Slack user groups");
            }
        } else {
            co_await refresh();
        }
    }
    if (map_) {
        co_return lookup(user);
    }
    if (last_error_) {
        co_return *last_error_;
    }
    co_return core::make_error(core::errc::cancelled,
                               "the Slack user-group lookup was cancelled before it finished");
}

boost::asio::awaitable<void> slack_directory::refresh() {
    auto ex = co_await asio::this_coro::executor;
    auto f = std::make_shared<flight>(ex);
    flight_ = f;
    // Wake the waiters however this ends, cancellation (an exception) and destruction of the
    // frame included; it touches only the shared flight, never the directory.
    struct wake {
        std::shared_ptr<flight> f;
        ~wake() {
            f->finished = true;
            f->done.cancel();
        }
    } waker{f};

    auto fetched = co_await fetch();
    if (fetched) {
        log_.debug("usergroups_refreshed", {{"users", fetched->size()}});
        map_ = std::move(*fetched);
        fetched_at_ = clock_.now();
        last_error_.reset();
        co_return;
    }
    last_error_ = fetched.error();
    if (map_) {
        next_attempt_ = clock_.now() + options_.retry_after_failure;
        log_.warn(
            "usergroups_refresh_failed",
            {{"serving", "stale"},
             {"age_s",
              std::chrono::duration_cast<std::chrono::seconds>(clock_.now() - fetched_at_).count()},
             {"reason", fetched.error().message}});
    } else {
        log_.warn("usergroups_refresh_failed",
                  {{"serving", "nothing"}, {"reason", fetched.error().message}});
    }
}

boost::asio::awaitable<core::result<slack_directory::membership>> slack_directory::fetch() {
    // usergroups.list reads only form arguments (Slack does not take JSON bodies for it).
    form_fields args{{"include_users", "true"}};
    auto r = co_await api_.call_form("usergroups.list", std::move(args));
    if (!r) {
        co_return core::make_error(
            core::errc::unavailable,
            fmt::format("cannot ask Slack for user groups (usergroups.list): {}",
                        r.error().message));
    }
    if (!r->ok) {
        std::string why = r->http_status == 429 ? std::string("Slack rate-limited the call")
                          : r->http_status >= 500
                              ? fmt::format("Slack answered HTTP {}", r->http_status)
                              : explain_slack_error("usergroups.list", *r, "");
        co_return core::make_error(
            core::errc::unavailable,
            fmt::format("cannot read Slack user groups (usergroups.list): {}", why));
    }
    auto body = json::parse(r->body, nullptr, false);
    const json* groups = body.is_object() ? &body["usergroups"] : nullptr;
    if (groups == nullptr || !groups->is_array()) {
        co_return core::make_error(
            core::errc::unavailable,
            "cannot read Slack user groups: usergroups.list answered without a `usergroups` list");
    }
    membership out;
    for (const auto& g : *groups) {
        if (!g.is_object() || !g.contains("id") || !g["id"].is_string()) {
            continue;
        }
        // Disabled groups (date_delete set) grant nothing.
        if (g.contains("date_delete") && g["date_delete"].is_number() &&
            g["date_delete"].get<long long>() != 0) {
            continue;
        }
        const auto id = g["id"].get<std::string>();
        if (!g.contains("users") || !g["users"].is_array()) {
            continue;
        }
        for (const auto& u : g["users"]) {
            if (u.is_string()) {
                out[u.get<std::string>()].push_back(id);
            }
        }
    }
    co_return out;
}

boost::asio::awaitable<core::result<std::string>> slack_directory::email_of(std::string user) {
    if (auto known = emails_.find(user); known != emails_.end()) {
        co_return known->second;
    }
    auto r = co_await api_.users_info(user);
    if (!r) {
        co_return core::make_error(
            core::errc::unavailable,
            fmt::format("cannot ask Slack about {} (users.info): {}", user, r.error().message));
    }
    if (!r->ok) {
        co_return core::make_error(
            r->error == "user_not_found" ? core::errc::not_found : core::errc::unavailable,
            explain_slack_error("users.info", *r, ""));
    }
    auto email = r->pointer("/user/profile/email");
    if (email.empty()) {
        co_return core::make_error(core::errc::not_found,
                                   fmt::format("Slack shows no e-mail address for {} (the bot "
                                               "needs the users:read.email scope)",
                                               user));
    }
    emails_[user] = email;
    co_return email;
}

}  // namespace tugboat::bot
