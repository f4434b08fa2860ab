#pragma once

// Slack user-group membership for the deploy policies, from usergroups.list with its members:
// one call answers for every group, so the whole map is cached and refreshed as a unit.

#include "bot/slack_web_api.hpp"
#include "commands/directory.hpp"
#include "core/clock.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tugboat::bot {

struct slack_directory_options {
    /// How long a fetched membership map is used before it is fetched again.
    std::chrono::milliseconds ttl{std::chrono::minutes{5}};
    /// After a failed refresh while an older map is served, how long until the next attempt
    /// (so a Slack outage costs one call per this, not one per question).
    std::chrono::milliseconds retry_after_failure{std::chrono::seconds{30}};
};

/// commands::directory backed by Slack's usergroups.list (include_users=true; needs the
/// usergroups:read scope). Runs on the io thread; concurrent callers share one refresh.
class slack_directory final : public commands::directory {
public:
    /// `clock` measures the cache's age; all referents must outlive the directory.
    slack_directory(slack_web_api& api, const core::clock& clock, core::logger& log,
                    slack_directory_options options = {});
    ~slack_directory() override;

    /// The group IDs `user` belongs to, from a map at most `ttl` old. When a refresh fails and
    /// an older map exists, that map is used and a warning logged. Errors: unavailable (Slack
    /// unreachable or refusing the call, with what to fix) when no map was ever fetched;
    /// cancelled when the refresh this call waited for was cancelled.
    boost::asio::awaitable<core::result<std::vector<std::string>>> groups_of(
        std::string user) override;

    /// The profile e-mail from users.info (needs users:read.email), cached for the process.
    /// Errors: not_found when the profile has none, unavailable when Slack refuses or is down.
    boost::asio::awaitable<core::result<std::string>> email_of(std::string user) override;

    /// Forgets the map so the next question fetches it again.
    void invalidate() noexcept;

private:
    using membership = std::unordered_map<std::string, std::vector<std::string>>;
    struct flight;

    bool fresh() const;
    boost::asio::awaitable<void> refresh();
    boost::asio::awaitable<core::result<membership>> fetch();
    std::vector<std::string> lookup(const std::string& user) const;

    slack_web_api& api_;
    const core::clock& clock_;
    core::logger& log_;
    slack_directory_options options_;
    std::optional<membership> map_;
    core::time_point fetched_at_{};
    core::time_point next_attempt_{};  ///< after a failure with a stale map
    std::optional<core::error> last_error_;
    std::shared_ptr<flight> flight_;
    std::unordered_map<std::string, std::string>
        emails_;  ///< the latest refresh; in progress until it is finished
};

}  // namespace tugboat::bot
