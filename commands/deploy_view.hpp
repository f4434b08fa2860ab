#pragma once

// What a deploy looks like in Slack: the root message that is edited in place as the deploy
// moves, and the thread replies. Pure functions of the deploy's state, so the engine only
// decides *when* to say something.

#include "commands/deploy_policy.hpp"
#include "commands/message.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace tugboat::commands {

/// Everything the root message shows.
struct deploy_view {
    std::string id;  ///< "d-000012"
    std::string service;
    std::string version;
    std::string environment;
    std::string requester;  ///< user ID
    std::string phase;      ///< plain words: "waiting for approval", "building: Test", …
    enum class state { waiting, running, succeeded, failed, cancelled } status = state::waiting;
    std::optional<double> progress;                ///< 0..1
    std::optional<std::chrono::milliseconds> eta;  ///< time still needed
    std::string build_url;                         ///< Jenkins build, when known
    int build_number = 0;
    std::string failure;  ///< one line, for failed deploys
    std::string reason;   ///< --reason, when given
};

/// "▓▓▓▓▓░░░░░ 50%".
std::string progress_bar(double fraction, int width = 10);

/// The root message: header with the outcome emoji, fields, progress bar + ETA, links, and a
/// Cancel button while the deploy can still be stopped.
message root_message(const deploy_view& v);

/// A reply asking for approval, with Approve / Reject buttons carrying the deploy id.
message approval_request_message(const deploy_view& v, const std::vector<std::string>& approvers,
                                 int required, std::chrono::seconds expires_after);

/// "12s", "3m 05s", "1h 02m".
std::string short_duration(std::chrono::milliseconds d);

}  // namespace tugboat::commands
