#pragma once

// Temporary Kubernetes access: a request card in the approvals channel, approvals by the role's
// approvers (never the requester), a RoleBinding/ClusterRoleBinding in every cluster of the
// environment, and its removal on time. The grant's row (storage/grant_repository) is the
// workflow's state and durable timers (storage/timer_repository) its clock, so a restart — even
// kill -9 — resumes every grant: bindings being created are created, expiries that passed while
// the bot was down are carried out at start, and removals that failed are retried.

#include "commands/chat.hpp"
#include "commands/directory.hpp"
#include "commands/message.hpp"
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
class kubernetes;
}

namespace tugboat::storage {
class database;
}

namespace tugboat::commands {

/// Pacing. `tick` is real time; the others are measured on the engine's clock, which the
/// sandbox runs faster than real time.
struct access_timing {
    std::chrono::milliseconds tick{std::chrono::seconds{5}};  ///< due timers checked this often
    std::chrono::seconds reconcile_every{std::chrono::minutes{1}};
    std::chrono::seconds retry{std::chrono::seconds{30}};  ///< a failed cluster is tried again
    std::chrono::seconds remind_before{std::chrono::minutes{10}};
};

/// What the workflow uses. Everything referenced must outlive the engine.
struct access_deps {
    boost::asio::any_io_executor executor;
    const core::config& config;
    commands::chat& chat;
    storage::database& db;
    directory& people;
    std::map<std::string, integrations::kubernetes*, std::less<>> clusters;  ///< by name
    core::logger& log;
    const core::clock& clock;
    core::work_tracker& tracker;
    access_timing timing;
};

/// `/access request`, as typed or submitted in the form.
struct access_request {
    std::string role;
    std::string target;    ///< "env" or "env/namespace"
    std::string duration;  ///< "2h"; "" = the role's maximum
    std::string reason;
    std::string requester;
    bool break_glass = false;
};

class access_engine {
public:
    explicit access_engine(access_deps deps);
    ~access_engine();
    access_engine(const access_engine&) = delete;
    access_engine& operator=(const access_engine&) = delete;

    /// Checks the request against the catalog and files it: posts the card with Approve/Deny,
    /// DMs the requester; grants at once when the role is auto-approved there or when
    /// break-glass is used. Returns what to tell the requester; invalid_argument /
    /// permission_denied errors say what was wrong and what to type instead.
    boost::asio::awaitable<core::result<std::string>> request(access_request r);

    /// Approve (`approve`) or Deny by `actor` on grant `id`. The requester, people who are not
    /// approvers of the role, and decisions on requests no longer pending are refused.
    /// Concurrent approvals produce one grant.
    boost::asio::awaitable<core::result<std::string>> decide(std::string id, std::string actor,
                                                             bool approve, std::string reason);

    /// Ends a grant now (requester, approver or admin), or withdraws a pending request.
    boost::asio::awaitable<core::result<std::string>> revoke(std::string id, std::string actor);

    /// Extends an active grant by `by` (nullopt = its original length): at once when the role
    /// allows self-extension within its maximum, else as a request for approval in the thread.
    boost::asio::awaitable<core::result<std::string>> extend(
        std::string id, std::string actor, std::optional<std::chrono::seconds> by);

    /// Approves (`approve`) or turns down a pending extension of grant `id`.
    boost::asio::awaitable<core::result<std::string>> decide_extension(std::string id,
                                                                       std::string actor,
                                                                       bool approve);

    /// `/access list`: the actor's open and recent grants; `all`: everyone's open ones
    /// (approvers and admins only).
    boost::asio::awaitable<core::result<message>> list(std::string actor, bool all);

    /// `/access audit` for admins: entries about grants, newest first, optionally only those
    /// of `user` (requester or actor) or of `role`, since `since` ago.
    boost::asio::awaitable<core::result<message>> audit(std::string actor, std::string user,
                                                        std::string role,
                                                        std::chrono::seconds since);

    /// The request form, pre-filled with what was typed.
    form request_form(const access_request& typed) const;

    /// Resumes unfinished grants, then checks due timers every `tick` and reconciles the
    /// clusters at start and every `reconcile_every`.
    void start();
    /// Stops the loop; grants resume on the next start().
    void stop();
    /// True when the loop has ended after stop().
    bool idle() const noexcept;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace tugboat::commands
