#pragma once

// What `/status` shows, as pure functions over what the clusters and the deploy history said:
// who may read an environment, which Warning events are recent and about a workload, and the
// message itself. The command (commands/status.cpp) only gathers the inputs; everything here is
// testable without sockets.

#include "commands/deploy_policy.hpp"
#include "commands/message.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "integrations/kubernetes_types.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::commands {

/// ok, or permission_denied saying who may read `env` (its policy's `readers`) and whom to ask
/// to be added. `svc` may be null (the channel summary), then the bot's admins are named.
core::result<void> may_read(const principal& who, const core::environment_config& env,
                            const core::service_config* svc,
                            const std::vector<std::string>& bot_admins);

/// One Deployment of a service in one cluster, as read for `/status <service>`.
struct workload_report {
    std::string cluster;
    std::string ns;
    std::string deployment;
    std::string container;  ///< the service's container ("" = the first)
    /// Why nothing could be read: "unreachable: …", "forbidden: …", "not found: …"; empty
    /// when the Deployment was read.
    std::string failure;
    integrations::deployment_state state;
    std::vector<integrations::pod_info> pods;
    /// Warning events of the namespace; filtered and de-duplicated when rendered.
    std::vector<integrations::event_info> warnings;
    /// Why the events or pods could not be read although the Deployment could (e.g. RBAC).
    std::vector<std::string> partial_failures;
};

/// The last deploy of a service to an environment, as far as the history knows.
struct last_deploy {
    std::string id;  ///< "d-000012"
    std::string version;
    std::string requester;  ///< user ID, or "tugboat" for the bot's own rollbacks
    std::string outcome;    ///< "running", "succeeded", "failed", "cancelled"
    std::string phase;      ///< the workflow's phase, shown while it runs
    std::string failure;
    core::time_point at{};  ///< when it was requested
    std::optional<core::time_point> finished_at;
    std::string channel;  ///< where its thread is; "" when it never posted
    std::string thread_ts;
    std::string link;  ///< opens the thread in Slack; "" when unknown
};

/// A lock on service+environment (a deploy holds it, or a person locked it by hand).
struct lock_report {
    std::string holder;  ///< user ID
    std::string reason;
    std::string deploy_id;  ///< "" for a manual lock
    core::time_point since{};
};

/// Everything shown for one environment of a service.
struct environment_report {
    std::string name;
    /// Set when the person may not read this environment: the refusal, shown instead.
    std::string refused;
    std::vector<workload_report> workloads;  ///< one per cluster and Deployment
    std::optional<last_deploy> deploy;
    std::optional<lock_report> lock;
    std::optional<freeze_hit> freeze;
};

/// A recent Warning event, de-duplicated: the same reason and message about several objects
/// (or repeated) is one entry with the summed count.
struct warning_summary {
    std::string reason;
    std::string message;
    int count = 0;
    std::vector<std::string> objects;  ///< "pod/api-7d9f-x2k4q", first seen first
    std::string last_time;             ///< RFC 3339 of the newest occurrence
};

/// Warning events about `deployment` (the Deployment, its ReplicaSets and their pods, named
/// `<deployment>-<hash>[-<suffix>]`) whose last occurrence is within `window` of `now`,
/// de-duplicated, most frequent first.
std::vector<warning_summary> recent_warnings(const std::vector<integrations::event_info>& events,
                                             const std::string& deployment, core::time_point now,
                                             std::chrono::minutes window);

/// "reg/api:1.4.2" → "1.4.2"; "reg/api@sha256:abcd…" → "sha256:abcd…" (cut); "api" → "latest".
std::string image_version(std::string_view image);

/// "12s", "5m", "3h 05m", "2d 4h" ago-style ages.
std::string short_age(std::chrono::seconds age);

/// The `/status <service> [env]` message: a header, then one block per environment (and per
/// cluster within it) with version and image, replicas, rollout, pods not ready and why,
/// restarts, recent Warning events, the last deploy, lock and freeze.
message render_service_status(const core::service_config& svc,
                              const std::vector<environment_report>& envs, core::time_point now,
                              std::chrono::minutes warning_window);

/// One service's line in the channel summary: per environment, the version and health.
struct summary_cell {
    std::string environment;
    std::string refused;  ///< not readable by the person (the line says so, briefly)
    /// Clusters that could not be read, briefly: "cloud: unreachable".
    std::vector<std::string> failures;
    std::vector<std::string> versions;  ///< distinct template versions across clusters
    /// Versions pods still run while a rollout replaces them ("1.0.0" → versions).
    std::vector<std::string> old_versions;
    int desired = 0;
    int ready = 0;
    bool rolling = false;
    bool failed_rollout = false;
    std::string problem;   ///< short reason of the first pod not ready, e.g. "CrashLoopBackOff"
    bool missing = false;  ///< the Deployment does not exist where the config says
    bool locked = false;
    bool frozen = false;
    bool deploying = false;  ///< a deploy of it runs now
};

struct summary_line {
    std::string service;
    std::vector<summary_cell> cells;
};

/// The short reason a pod is not ready: a container's waiting reason (CrashLoopBackOff,
/// ImagePullBackOff, …), "OOMKilled", "Pending: Unschedulable", "Terminating" or the phase;
/// "" for a ready pod.
std::string pod_short_reason(const integrations::pod_info& pod);

/// Pods whose labels match `selector` (every key equal).
std::vector<const integrations::pod_info*> pods_matching(
    const std::vector<integrations::pod_info>& pods,
    const std::map<std::string, std::string>& selector);

/// Fills a summary cell's health fields from a Deployment and its pods.
void add_to_cell(summary_cell& cell, const integrations::deployment_state& d,
                 const std::vector<const integrations::pod_info*>& pods,
                 const std::string& container);

/// The `/status` channel summary: one line per service. `scope` says which services these are
/// ("services of #payments", or "all services: no service names this channel"). Cells name a
/// failed cluster briefly ("cloud: unreachable"); `notes` (one per cluster and namespace that
/// could not be read) say why, once, under the lines.
message render_summary(const std::vector<summary_line>& lines, const std::string& scope,
                       const std::vector<std::string>& notes = {});

/// A Kubernetes client error as a short cause for a cluster line: "forbidden: the bot may not
/// list pods in namespace prod (…)", "unreachable: …", "timed out: …", "not found: …".
std::string describe_cluster_failure(const core::error& e);

}  // namespace tugboat::commands
