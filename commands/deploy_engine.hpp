#pragma once

// The deploy workflow: request → (queue for the lock) → (approval) → Jenkins build → Kubernetes
// rollout → done, told in one Slack thread. Every step is saved in the deploy's row before it
// is carried out and every effect is repeatable (the build carries the deploy id, so a resumed
// deploy finds its build instead of starting a second one), so a restart — even kill -9 —
// resumes each unfinished deploy in its thread.

#include "commands/chat.hpp"
#include "commands/directory.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"
#include "core/work_tracker.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace tugboat::integrations {
class jenkins;
class kubernetes;
}  // namespace tugboat::integrations

namespace tugboat::storage {
class database;
}

namespace tugboat::commands {

/// Pacing; tests and the sandbox shrink it.
struct deploy_timing {
    std::chrono::milliseconds poll{2000};  ///< Jenkins queue item and stage polling
    /// The root message is edited at most this often (its end and waits for people always):
    /// Slack allows ~50 edits a minute per workspace, and the thread replies carry the detail.
    std::chrono::milliseconds root_update_min{30000};
    /// Longest wait for a rollout change before the pods are checked for trouble.
    std::chrono::milliseconds watch_wait{5000};
    /// All builds followed at once share this many Jenkins polls a second (one request each):
    /// with many deploys in flight each is polled less often than `poll`.
    double jenkins_polls_per_second = 25;
    /// How often waiting approvals are checked for expiry.
    std::chrono::milliseconds sweep{30000};
};

/// What the workflow uses. Everything referenced must outlive the engine.
struct deploy_deps {
    boost::asio::any_io_executor executor;
    const core::config& config;
    commands::chat& chat;
    storage::database& db;
    directory& people;
    std::map<std::string, integrations::jenkins*, std::less<>> jenkins;      ///< by server name
    std::map<std::string, integrations::kubernetes*, std::less<>> clusters;  ///< by cluster name
    core::logger& log;
    const core::clock& clock;
    core::work_tracker& tracker;
    deploy_timing timing;
};

/// A `/deploy` as typed, already parsed (names are the config's).
struct deploy_request {
    std::string service;
    std::string environment;
    std::string version;  ///< "" = promote what last succeeded in requires_success_in
    std::string requester;
    std::string channel;  ///< where it was typed (used when the service has no channel)
    std::string reason;
    std::optional<std::string> override_freeze;  ///< the override's reason, when asked for
};

class deploy_engine {
public:
    explicit deploy_engine(deploy_deps deps);
    ~deploy_engine();
    deploy_engine(const deploy_engine&) = delete;
    deploy_engine& operator=(const deploy_engine&) = delete;

    /// Checks the request (policy, freeze, promotion order, version format, locks) and starts
    /// it. Returns what to tell the requester (where the thread is, or their queue position);
    /// permission_denied / invalid_argument / conflict errors say why not and what to do.
    boost::asio::awaitable<core::result<std::string>> request(deploy_request r);

    /// `/deploy rollback`: rolls the service back (per its rollback mode) as a deploy of its
    /// own, with the same policy, lock and thread.
    boost::asio::awaitable<core::result<std::string>> rollback(
        std::string service, std::string environment, std::string revision, std::string requester,
        std::string channel, std::string reason);

    /// An Approve (`approve` true) or Reject press by `actor` on deploy `id`.
    boost::asio::awaitable<core::result<std::string>> decide(std::string id, std::string actor,
                                                             bool approve);

    /// Answers the pipeline's pending `input` step (Proceed / Abort buttons).
    boost::asio::awaitable<core::result<std::string>> answer_input(std::string id,
                                                                   std::string actor, bool proceed);

    /// Stops a deploy: aborts its build when one runs, releases its lock.
    boost::asio::awaitable<core::result<std::string>> cancel(std::string id, std::string actor,
                                                             std::string reason);

    /// Manual locks: nobody deploys service+env until unlocked.
    boost::asio::awaitable<core::result<std::string>> lock(std::string service,
                                                           std::string environment,
                                                           std::string actor, std::string reason);
    boost::asio::awaitable<core::result<std::string>> unlock(std::string service,
                                                             std::string environment,
                                                             std::string actor);

    /// `/deploy history` and `/deploy status <id>` as messages.
    core::result<message> history(std::string service, std::string environment, int limit);
    core::result<message> status(std::string id);
    /// The last `lines` lines of the deploy's Jenkins build log, as a code block.
    boost::asio::awaitable<core::result<message>> build_log(std::string id, std::size_t lines);
    /// Deploys in progress or waiting (optionally of one service/environment).
    core::result<message> active(std::string service, std::string environment);

    /// Resumes every unfinished deploy (after a restart) and starts the approval-expiry sweep.
    void start();
    /// Stops the sweep and asks running deploys to pause (they resume on the next start()).
    void stop();
    /// True when nothing of the engine runs any more (after stop(), once its coroutines
    /// have returned); destroy it only then.
    bool idle() const noexcept;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace tugboat::commands
