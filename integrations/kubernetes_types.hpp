#pragma once

// Plain values the Kubernetes client hands out: what the bot needs of Deployments, Pods, Events
// and RBAC bindings, without JSON. Shared by the client, the pure rollout and diagnosis helpers
// and the commands.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::integrations {

/// One entry of `status.conditions` (Deployment or Pod).
struct k8s_condition {
    std::string type;    ///< "Progressing", "Available", "PodScheduled", …
    std::string status;  ///< "True", "False", "Unknown"
    std::string reason;
    std::string message;
};

/// A container of a pod template: its name and image.
struct container_image {
    std::string name;
    std::string image;

    friend bool operator==(const container_image&, const container_image&) = default;
};

/// What a Deployment says about itself and its rollout. Missing status counters are 0, as the
/// API omits zero values.
struct deployment_state {
    std::string ns;
    std::string name;
    std::string uid;
    std::string resource_version;
    std::int64_t generation = 0;           ///< metadata.generation: bumped by spec changes
    std::int64_t observed_generation = 0;  ///< status.observedGeneration
    int replicas = 1;                      ///< spec.replicas (desired)
    int status_replicas = 0;               ///< status.replicas: pods of every revision
    int updated_replicas = 0;
    int ready_replicas = 0;
    int available_replicas = 0;
    int unavailable_replicas = 0;
    bool paused = false;
    int progress_deadline_seconds = 600;
    int revision = 0;  ///< annotation deployment.kubernetes.io/revision; 0 when absent
    std::vector<k8s_condition> conditions;
    std::vector<container_image> containers;      ///< spec.template.spec.containers
    std::map<std::string, std::string> selector;  ///< spec.selector.matchLabels

    /// The condition of this type, or null.
    const k8s_condition* condition(std::string_view type) const {
        for (const auto& c : conditions) {
            if (c.type == type) {
                return &c;
            }
        }
        return nullptr;
    }
    /// The image of container `container` ("" = the first one), or "".
    std::string image_of(std::string_view container = {}) const {
        for (const auto& c : containers) {
            if (container.empty() || c.name == container) {
                return c.image;
            }
        }
        return {};
    }
    /// The selector as a label selector string, "app=api,tier=web".
    std::string selector_string() const {
        std::string out;
        for (const auto& [k, v] : selector) {
            out += (out.empty() ? "" : ",") + k + "=" + v;
        }
        return out;
    }
};

/// The state of one container of a pod (from status.containerStatuses / initContainerStatuses).
struct container_state {
    std::string name;
    std::string image;
    bool init = false;  ///< an init container
    bool ready = false;
    int restart_count = 0;
    std::string state;    ///< "waiting", "running", "terminated" or "" (not reported yet)
    std::string reason;   ///< waiting/terminated reason, e.g. "CrashLoopBackOff", "OOMKilled"
    std::string message;  ///< waiting/terminated message
    std::optional<int> exit_code;  ///< when terminated
    std::string last_reason;       ///< lastState.terminated.reason, e.g. "OOMKilled"
    std::optional<int> last_exit_code;
    std::string last_finished_at;  ///< lastState.terminated.finishedAt
};

/// What a pod says about itself.
struct pod_info {
    std::string ns;
    std::string name;
    std::string phase;   ///< Pending, Running, Succeeded, Failed, Unknown
    std::string reason;  ///< status.reason, e.g. "Evicted"
    std::string message;
    std::string node;          ///< spec.nodeName; "" until scheduled
    std::string start_time;    ///< status.startTime (RFC 3339) or ""
    bool terminating = false;  ///< metadata.deletionTimestamp is set
    std::map<std::string, std::string> labels;
    std::vector<k8s_condition> conditions;
    std::vector<container_state> containers;  ///< init containers first

    /// Restarts over all containers.
    int restarts() const {
        int n = 0;
        for (const auto& c : containers) {
            n += c.restart_count;
        }
        return n;
    }
    /// Every regular container is ready.
    bool ready() const {
        bool any = false;
        for (const auto& c : containers) {
            if (!c.init) {
                any = true;
                if (!c.ready) {
                    return false;
                }
            }
        }
        return any;
    }
};

/// A core/v1 Event.
struct event_info {
    std::string type;  ///< "Normal" or "Warning"
    std::string reason;
    std::string message;
    std::string involved_kind;  ///< "Pod", "Deployment", …
    std::string involved_name;
    std::string field_path;  ///< e.g. "spec.containers{api}" or ""
    int count = 1;
    /// The latest of series.lastObservedTime, lastTimestamp, eventTime, creationTimestamp.
    std::string last_time;
};

/// Which events `list_events` returns. Empty fields do not filter.
struct event_filter {
    std::string kind;            ///< involvedObject.kind, e.g. "Pod"
    std::string name;            ///< involvedObject.name
    std::string field_selector;  ///< extra, e.g. "type=Warning"
};

/// A RoleBinding (namespace set) or ClusterRoleBinding (namespace empty) with one subject.
struct role_binding {
    std::string ns;  ///< "" = ClusterRoleBinding
    std::string name;
    std::string role_kind = "ClusterRole";  ///< "ClusterRole" or "Role"
    std::string role_name;
    std::string subject_kind = "User";  ///< "User", "Group" or "ServiceAccount"
    std::string subject_name;
    std::string subject_namespace;  ///< ServiceAccount subjects only
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> annotations;
};

/// What a rollback did.
struct rollback_outcome {
    int from_revision = 0;  ///< the Deployment's revision before
    int to_revision = 0;    ///< the revision whose template was restored
    /// Nothing was changed: the current template already is that revision's.
    bool skipped = false;
    std::vector<container_image> images;  ///< the containers now in the template
    deployment_state deployment;          ///< the Deployment after the patch
};

}  // namespace tugboat::integrations
