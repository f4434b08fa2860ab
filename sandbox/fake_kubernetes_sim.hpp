#pragma once

// Internal to the fake Kubernetes API server: the controllers and kubelets behind the API.
// The deployment controller does rolling updates (maxSurge/maxUnavailable, revisions, history
// limit, progress deadline) and writes the status fields kubectl reads; the replica set
// controller creates and deletes pods; a kubelet per pod plays its containers' scenarios
// (pulls, starts, crashes, back-offs), writes their logs and records Events. Everything is
// driven by `advance(now)` with monotonic times, so the owner decides when time passes.

#include "core/logger.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/fake_kubernetes_store.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tugboat::sandbox::kube {

using mono_time = std::chrono::steady_clock::time_point;

struct log_line {
    wall_time at;
    std::string text;
};

/// The log of one container: its current (or last exited) instance and the one before.
struct container_log {
    std::vector<log_line> current;
    std::vector<log_line> previous;
    bool has_previous = false;
    std::uint64_t run = 0;  ///< bumped at each (re)start; log followers stop when it changes
    bool ended = false;     ///< the current instance has exited
};

/// Where a container is in its life.
enum class container_stage {
    creating,
    pull_error,
    pull_backoff,
    config_error,
    running,
    crash_backoff
};

struct container_sim {
    std::string name;
    std::string image;
    pod_scenario scenario = pod_scenario::success;
    container_stage stage = container_stage::creating;
    bool ready = false;
    bool ever_started = false;
    int restarts = 0;
    int failures = 0;  ///< consecutive failures, the back-off exponent
    wall_time started_at{};
    json last_terminated;  ///< the lastState.terminated object, or null
    std::string container_id;
    std::string waiting_message;
    std::optional<mono_time> due;
    container_log log;
};

struct pod_sim {
    std::string ns;
    std::string name;
    std::string uid;
    std::string replicaset;      ///< owning ReplicaSet, "" for bare pods
    std::string deployment;      ///< owning Deployment, "" if none
    std::uint64_t sequence = 0;  ///< creation order across the cluster
    bool scheduled = false;
    bool unschedulable = false;
    int scheduling_attempts = 0;
    std::string node;
    std::string host_ip;
    std::string pod_ip;
    wall_time start_time{};
    wall_time ready_changed{};
    bool was_ready = false;
    std::optional<mono_time> due;  ///< next scheduling attempt
    std::vector<container_sim> containers;

    bool ready() const;
};

/// kubectl's rollout-status verdict on a Deployment object (see the reference's §5).
bool rollout_done(const json& deployment);
/// Whether its Progressing condition has reason ProgressDeadlineExceeded.
bool rollout_deadline_exceeded(const json& deployment);

class cluster_sim {
public:
    cluster_sim(object_store& store, double speed, core::logger& log);

    /// Creates a namespace if missing.
    void ensure_namespace(const std::string& ns);
    /// Seeds a Deployment (see fake_kubernetes::add_deployment).
    core::result<void> add_deployment(const fake_deployment& d, mono_time now);

    /// Fills the defaults kube-apiserver adds to a Deployment on every write.
    static void default_deployment(json& deployment);
    /// Validation errors of a Deployment as (field, message) pairs; empty when valid.
    static std::vector<std::pair<std::string, std::string>> validate_deployment(
        const json& deployment);

    /// After a client created or changed a Deployment.
    void deployment_changed(const std::string& ns, const std::string& name, mono_time now);
    /// After a client deleted an object (cascades for Deployments and ReplicaSets; an owned
    /// pod is replaced by its ReplicaSet).
    void object_deleted(const resource_type& r, const json& last, mono_time now);

    /// Runs everything due at `now`.
    void advance(mono_time now);
    /// When something is next due, if anything is.
    std::optional<mono_time> next_due() const;

    /// See fake_kubernetes::set_pod_scenario.
    bool set_pod_scenario(const std::string& ns, const std::string& pod, pod_scenario scenario,
                          const std::string& container, mono_time now);

    const pod_sim* find_pod(const std::string& ns, const std::string& name) const;
    /// A container's log, or null.
    container_log* log_of(const std::string& ns, const std::string& pod,
                          const std::string& container);
    /// Call after changing a log from outside, so followers wake up.
    void logs_changed();

    /// Records a core/v1 Event, aggregating repeats (count, lastTimestamp) as the real
    /// event recorder does. `involved` is an object reference (kind, namespace, name, uid,
    /// apiVersion, fieldPath?).
    void record_event(const json& involved, const std::string& type, const std::string& reason,
                      const std::string& message, const std::string& component,
                      const std::string& host = {});

    /// Called when logs change (followers wait for it).
    std::function<void()> on_logs;

private:
    struct deployment_sim {
        std::optional<mono_time> due;
        mono_time last_progress{};
    };

    /// Why the Progressing condition moved this round (empty = nothing special).
    struct progress_note {
        std::string reason;
        std::string message;
    };

    std::chrono::steady_clock::duration scaled(double simulated_seconds) const;
    double backoff_seconds(int failures) const;

    // The deployment controller, one sync: new ReplicaSet, scaling, pods, status.
    void reconcile(const std::string& ns, const std::string& name, mono_time now, bool instant);
    json new_replicaset(const json& deployment, bool spec_changed, progress_note& note);
    json replicaset_annotations(const json& deployment, int revision, const json& existing) const;
    /// One pass of the rolling update; true when it resized a ReplicaSet.
    bool scale_replicasets(const json& deployment, const std::string& new_name);
    /// Writes status and conditions into `deployment`; true while the progress deadline
    /// still has to be watched.
    bool update_status(json& deployment, const std::string& new_name, const progress_note& note,
                       bool first_observation, deployment_sim& ds, mono_time now);
    int pod_count(const json& rs);
    int ready_count(const json& rs);
    void schedule_deployment(const std::string& ns, const std::string& name, mono_time at);
    std::vector<json> owned_replicasets(const json& deployment) const;
    std::vector<pod_sim*> pods_of_replicaset(const std::string& ns, const std::string& rs);
    bool scale_replicaset(json rs, int replicas, const json& deployment);
    void sync_pods(const json& rs, const json& deployment, bool instant, mono_time now);
    void create_pod(const json& rs, const json& deployment, bool instant, mono_time now);
    void delete_pod(const std::string& ns, const std::string& name, const json* rs);
    void write_replicaset_status(const json& rs);
    void cleanup_history(const json& deployment);

    void step_pod(pod_sim& p, mono_time now);
    void step_container(pod_sim& p, container_sim& c, mono_time now);
    void start_container(pod_sim& p, container_sim& c, mono_time now, bool first);
    void enter_pull_error(pod_sim& p, container_sim& c, mono_time now);
    void make_ready_now(pod_sim& p, mono_time now);
    void write_pod(pod_sim& p, mono_time now);
    json pod_status(const pod_sim& p) const;
    json container_ref(const pod_sim& p, const container_sim& c) const;
    void append_log(container_sim& c, std::vector<std::string> lines);

    object_store& store_;
    double speed_;
    core::logger& log_;
    std::map<std::string, pod_sim> pods_;                // by "ns/name"
    std::map<std::string, deployment_sim> deployments_;  // by "ns/name"
    std::map<std::string, std::string> event_index_;     // aggregation key → "ns/name"
    int next_node_ = 0;
    int next_ip_ = 10;
    std::uint64_t next_pod_ = 0;
};

}  // namespace tugboat::sandbox::kube
