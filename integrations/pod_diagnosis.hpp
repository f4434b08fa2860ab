#pragma once

// Why a rollout's pods are not becoming ready, in plain words for a chat thread: a pure
// function over pod states and their Warning events.

#include "integrations/kubernetes_types.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::integrations {

/// The kinds of trouble the bot recognises.
enum class pod_problem_kind {
    image_pull,     ///< ErrImagePull / ImagePullBackOff / InvalidImageName
    crash_loop,     ///< CrashLoopBackOff (the previous instance's log says why)
    oom_killed,     ///< killed for exceeding its memory limit
    config_error,   ///< CreateContainerConfigError: missing secret/configmap (key)
    create_error,   ///< CreateContainerError, RunContainerError, StartError
    unschedulable,  ///< FailedScheduling: no node fits
    mount_failed,   ///< FailedMount / FailedAttachVolume
    probe_failed,   ///< Unhealthy: readiness/liveness probe failures
    evicted,        ///< the pod was evicted (node pressure)
};

/// Stable lower-case name, e.g. "image_pull".
std::string_view to_string(pod_problem_kind kind) noexcept;

/// One problem, possibly shared by several pods of the same rollout.
struct pod_problem {
    pod_problem_kind kind = pod_problem_kind::crash_loop;
    std::vector<std::string> pods;  ///< affected pods, in the order first seen
    std::string container;          ///< "" for pod-level problems (scheduling, eviction)
    std::string image;              ///< the container's image, when known
    int restarts = 0;               ///< highest restart count among the pods
    std::optional<int> exit_code;   ///< the last exit code, when known
    /// One sentence for people, e.g. "container api cannot pull image reg/api:9.9 (pod
    /// api-7d9f-x2k4q): failed to resolve reference …: not found".
    std::string summary;
    std::string detail;  ///< the cluster's own message (waiting message or event text)
};

/// Finds what is wrong with `pods`, using `events` about them (events about other objects are
/// ignored; only Warning events count). Problems are de-duplicated: the same kind, container
/// and cause on several pods is one problem listing every pod. Healthy pods give nothing.
std::vector<pod_problem> diagnose(const std::vector<pod_info>& pods,
                                  const std::vector<event_info>& events);

}  // namespace tugboat::integrations
