#pragma once

// Who belongs to which Slack user group. Deploy policies name groups (S…) as well as people
// (U…/W…), so the workflows ask this before they check a policy; bot/slack_directory.hpp is the
// Slack-backed implementation.

#include "core/result.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>
#include <vector>

namespace tugboat::commands {

/// Who belongs to which Slack user group; policies name groups (S…) as well as people (U…/W…).
class directory {
public:
    virtual ~directory() = default;
    /// The user-group IDs `user` belongs to (empty when none). Errors: unavailable when Slack
    /// cannot be asked and nothing is known from earlier.
    virtual boost::asio::awaitable<core::result<std::vector<std::string>>> groups_of(
        std::string user) = 0;
    /// The e-mail address of `user` from their profile (access grants map it to a Kubernetes
    /// subject). Errors: not_found when the profile has none, unavailable when Slack cannot
    /// be asked.
    virtual boost::asio::awaitable<core::result<std::string>> email_of(std::string user) {
        co_return core::make_error(core::errc::unavailable,
                                   "e-mail addresses of " + user + " are not known here");
    }
};

}  // namespace tugboat::commands
