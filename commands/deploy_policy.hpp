#pragma once

// The guard rails of /deploy as pure functions: who may deploy, who may approve, which freeze
// window is in force and who may deploy through it. No I/O apart from reading the system time
// zone database (see active_freeze); the caller resolves the person's groups first
// (commands/directory.hpp) and passes them in a principal.

#include "commands/directory.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::commands {

/// A person acting, with the Slack user groups they belong to.
struct principal {
    std::string user;                 ///< U…/W…
    std::vector<std::string> groups;  ///< S… IDs
};

/// `user` with the groups `people` knows; without groups (and a warning logged) when Slack
/// cannot be asked, so group-based permissions are then refused rather than assumed.
boost::asio::awaitable<principal> principal_of(directory& people, core::logger& log,
                                               std::string user);

/// `who` is listed in `ids` directly, through one of their groups, or ids holds "*".
bool matches(const principal& who, const std::vector<std::string>& ids);

/// How an ID from a policy is written in a Slack message: <@U…> for people, <!subteam^S…> for
/// groups, "anyone" for "*".
std::string mention(std::string_view id);

/// Mentions joined for a sentence: "<@U1>, <!subteam^S1> or <@U2>".
std::string mentions(const std::vector<std::string>& ids);

/// ok, or permission_denied with a message saying who may deploy there and whom to ask
/// (names as Slack mentions: <@U…> for users, <!subteam^S…> for groups).
core::result<void> may_deploy(const principal& who, const core::service_config& svc,
                              const core::environment_config& env);

/// Approvers: env.policy.approval.approvers, or the service's owners when that list is empty.
std::vector<std::string> approvers_for(const core::service_config& svc,
                                       const core::environment_config& env);

/// ok, or permission_denied: the requester approving their own deploy (unless
/// allow_self_approval) — "You asked for this deploy, so someone else has to approve it: …";
/// someone not among the approvers — who can.
core::result<void> may_approve(const principal& who, std::string_view requester,
                               const core::service_config& svc,
                               const core::environment_config& env);

/// A freeze window in force.
struct freeze_hit {
    std::string name;
    core::time_point ends;  ///< when this occurrence of the window ends
    /// For people: "weekly freeze `weekend` (Fri 18:00 – Sat 08:00 Europe/Berlin)" or
    /// "freeze `Year-end` (2026-12-21 00:00 – 2027-01-04 00:00 Europe/Berlin)".
    std::string description;
};

/// The first freeze window of `env` (in config order) in force at `now`, or nullopt.
///
/// Absolute windows include `from` and exclude `to`; a bare date `YYYY-MM-DD` is read as 00:00
/// (and `to` as the end of that day), as the loader documents. Weekly windows start at
/// `start_time` on each listed day and end at `end_time` the same day, or the next day when
/// `end_time` is not after `start_time`. Wall-clock times are read in the window's time zone with
/// its daylight-saving rules, so a window across a DST change is shorter or longer in real time.
/// A wall-clock time skipped by a DST change is taken as the same clock reading after the jump
/// (02:30 on a spring-forward night in Berlin is 03:30 CEST); a repeated one (a fall-back
/// night) as the C library's mktime resolves it. Unknown weekday names are ignored. A time
/// zone missing from /usr/share/zoneinfo is read as UTC (the loader refuses such configs).
///
/// Not thread-safe: zones other than UTC are read through the C library's localtime_r/mktime
/// with TZ switched for the call and restored afterwards. Tugboat runs on one thread.
std::optional<freeze_hit> active_freeze(const core::environment_config& env, core::time_point now);

/// ok, or permission_denied naming who may override: the environment's freeze_overriders and
/// the bot's admins.
core::result<void> may_override_freeze(const principal& who, const core::environment_config& env,
                                       const std::vector<std::string>& bot_admins);

}  // namespace tugboat::commands
