#pragma once

// A Kubernetes API server on 127.0.0.1 over TLS (the test CA) that behaves like kube-apiserver
// plus its controllers for what Tugboat uses: Deployments, ReplicaSets with revisions, Pods,
// Events, pod logs, Namespaces, RBAC bindings, Leases and SelfSubjectAccessReviews; list with
// selectors and pagination; watch streams with bookmarks and 410 Gone; 409 on stale writes;
// 401/403/429/5xx as Status objects. A rollout simulator moves Deployments through rolling
// updates whose outcome depends on the image tag (see `scenario_for_image`). Timings are
// simulated seconds divided by `speed`. Single-threaded: use it from its executor's thread.

#include "core/logger.hpp"
#include "core/result.hpp"
#include "sandbox/http_server.hpp"
#include "sandbox/kubeconfig_writer.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::sandbox {

/// How a container (or, for `unschedulable`, its pod) behaves once created.
enum class pod_scenario {
    success,        ///< starts and becomes ready
    slow,           ///< like success, several times slower
    image_pull,     ///< ErrImagePull ↔ ImagePullBackOff, registry "not found" message
    crash_loop,     ///< runs briefly, exits 1 with a stack trace; CrashLoopBackOff, restarts grow
    oom_killed,     ///< like crash_loop but killed with OOMKilled / exit code 137
    unschedulable,  ///< Pending, PodScheduled=False, FailedScheduling events
    config_error,   ///< CreateContainerConfigError: a secret is missing
    never_ready,    ///< runs, but its readiness probe keeps failing
};

/// Stable lower-case name ("crash_loop", …).
std::string_view to_string(pod_scenario s) noexcept;

/// The scenario an image's tag asks for (case-insensitive, first match): "imagepull" →
/// image_pull, "crash" → crash_loop, "oom" → oom_killed, "pending"/"unschedulable" →
/// unschedulable, "configerror" → config_error, "slow" → slow, "deadline"/"notready" →
/// never_ready; anything else → success. "reg/api:1.4.2-crash" crash-loops.
pod_scenario scenario_for_image(std::string_view image);

/// One container of a seeded Deployment.
struct fake_container {
    std::string name;
    std::string image;
};

/// A Deployment to seed, created with its ReplicaSet and (for healthy images) ready pods.
struct fake_deployment {
    std::string ns = "default";
    std::string name;
    /// Image of the single container (named like the Deployment) when `containers` is empty.
    std::string image;
    std::vector<fake_container> containers;  ///< several containers, e.g. an app and a sidecar
    int replicas = 1;
    /// Selector and pod labels; empty = {"app": name}.
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> annotations;
    /// Images of earlier revisions, oldest first; each leaves a ReplicaSet scaled to 0, so
    /// rollbacks have history. The current image gets the next revision.
    std::vector<std::string> previous_images;
    int progress_deadline_seconds = 600;  ///< simulated seconds
    int revision_history_limit = 10;
};

/// A RoleBinding or ClusterRoleBinding as stored.
struct fake_binding {
    std::string kind;  ///< "RoleBinding" or "ClusterRoleBinding"
    std::string ns;    ///< "" for ClusterRoleBinding
    std::string name;
    std::string role_kind;  ///< "ClusterRole" or "Role"
    std::string role_name;
    /// "User:alice@example.com", "Group:sre", "ServiceAccount:ops/bot".
    std::vector<std::string> subjects;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> annotations;
};

/// Settings of one fake cluster.
struct fake_kubernetes_options {
    std::string name = "fake";  ///< cluster name, for logs and kubeconfig entries
    /// Bearer token accepted (besides client certificates issued by the test CA).
    std::string token = "tugboat-fake-kubernetes-token";
    /// User the token authenticates as (named in 403 messages).
    std::string token_user = "system:serviceaccount:ops:tugboat";
    double speed = 1.0;      ///< simulated durations are divided by this
    std::uint16_t port = 0;  ///< 0 = any free port
    /// Watch events kept; a watch from an older resourceVersion gets 410 Gone.
    std::size_t watch_history = 2000;
    /// Simulated seconds between BOOKMARK events on watches that allow them.
    double bookmark_interval = 60;
    /// Watch length when the client gives no timeoutSeconds (real seconds).
    std::chrono::seconds default_watch_timeout{std::chrono::minutes{30}};
    /// Namespaces that exist from the start (besides default, kube-system, kube-public).
    std::vector<std::string> namespaces;
    core::logger* log = nullptr;  ///< lifecycle at info, requests and rollout steps at debug
};

/// The fake cluster. Destroy it before its io_context; destroying it stops it.
class fake_kubernetes {
public:
    /// Starts listening with TLS on 127.0.0.1 (server certificate from default_test_pki()).
    /// Fails with unavailable when the port cannot be bound.
    static core::result<std::unique_ptr<fake_kubernetes>> start(
        boost::asio::any_io_executor executor, fake_kubernetes_options options);

    ~fake_kubernetes();
    fake_kubernetes(const fake_kubernetes&) = delete;
    fake_kubernetes& operator=(const fake_kubernetes&) = delete;

    // ---- connecting ----

    /// "https://127.0.0.1:PORT".
    std::string base_url() const;
    std::uint16_t port() const noexcept;
    const fake_kubernetes_options& options() const noexcept;
    /// The CA that signed the server certificate (and accepted client certificates).
    std::string ca_pem() const;
    /// The bearer token currently accepted.
    const std::string& token() const noexcept;
    /// A client certificate and key the server accepts (user "tugboat", group system:masters).
    std::string client_cert_pem() const;
    std::string client_key_pem() const;
    /// A kubeconfig entry for this cluster: token auth, or the client certificate.
    kubeconfig_context kubeconfig_entry(std::string context_name, bool use_client_cert = false,
                                        std::string ns = {}) const;

    // ---- cluster down ----

    /// Stops serving: connections are reset, new ones refused. The cluster's state is kept
    /// and the rollout simulator keeps running. Idempotent.
    void stop();
    /// Serves again on the same port. Fails with unavailable when the port was taken meanwhile.
    core::result<void> restart();
    bool running() const noexcept;

    // ---- seeding and driving ----

    /// Creates a namespace if missing.
    void add_namespace(std::string ns);
    /// Creates a Deployment with its ReplicaSet(s) and pods; healthy pods start ready, others
    /// start their scenario. Fails with already_exists or invalid_argument (no image).
    core::result<void> add_deployment(fake_deployment d);
    /// Changes a container's image the way a client's PATCH would, starting a rollout.
    /// `container` "" = the first container. Fails with not_found naming what is missing.
    core::result<void> set_image(std::string ns, std::string deployment, std::string image,
                                 std::string container = {});
    /// Makes an existing pod's container (all containers when `container` is "") behave per
    /// `scenario` from now on, e.g. start crash-looping. False when there is no such pod.
    bool set_pod_scenario(std::string ns, std::string pod, pod_scenario scenario,
                          std::string container = {});
    /// Replaces the log lines of a pod's container (current or previous instance). Lines get
    /// timestamps one millisecond apart, ending now. False when there is no such container.
    bool set_pod_logs(std::string ns, std::string pod, std::string container,
                      std::vector<std::string> lines, bool previous = false);
    /// Appends one line to the current instance's log (followers receive it).
    bool append_pod_log(std::string ns, std::string pod, std::string container, std::string line);
    /// Fills the current log with `lines` deterministic lines of about `line_bytes` bytes each,
    /// one millisecond apart up to `newest` (the epoch: now), for benchmarks. Pods given the
    /// same `newest` are equally busy however long filling them takes.
    bool generate_pod_logs(std::string ns, std::string pod, std::string container,
                           std::size_t lines, std::size_t line_bytes = 120,
                           std::chrono::system_clock::time_point newest = {});
    /// Deletes a pod as `kubectl delete pod` would (its ReplicaSet replaces it); reading its
    /// log afterwards is 404. False when there is no such pod.
    bool delete_pod(std::string ns, std::string pod);
    /// Stores (or replaces) a binding as someone with kubectl would, bypassing the API.
    void add_binding(const fake_binding& b);
    /// Deletes a binding as someone with kubectl would; false when there was none.
    bool remove_binding(std::string_view ns, std::string_view name);
    /// Records a core/v1 Event about an object (aggregated like the real ones).
    void add_event(std::string ns, std::string kind, std::string name, std::string type,
                   std::string reason, std::string message);

    // ---- inspecting ----

    /// The stored object as the API would serve it, or nullopt. `resource` is the plural
    /// ("deployments", "pods", "rolebindings", "namespaces", …); `ns` "" for cluster scope.
    std::optional<std::string> object_json(std::string_view resource, std::string_view ns,
                                           std::string_view name) const;
    /// Names of objects of `resource` in `ns` ("" = all namespaces) matching `label_selector`.
    std::vector<std::string> names(std::string_view resource, std::string_view ns,
                                   std::string_view label_selector = {}) const;
    /// Pods currently belonging to a Deployment, oldest first.
    std::vector<std::string> pods_of(std::string_view ns, std::string_view deployment) const;
    /// The Deployment's deployment.kubernetes.io/revision annotation, 0 when absent.
    int revision(std::string_view ns, std::string_view deployment) const;
    /// Whether `kubectl rollout status` would call the Deployment done.
    bool rollout_complete(std::string_view ns, std::string_view deployment) const;
    /// Whether its Progressing condition says ProgressDeadlineExceeded.
    bool rollout_failed(std::string_view ns, std::string_view deployment) const;
    /// The latest resourceVersion handed out.
    std::uint64_t resource_version() const noexcept;
    /// Every RoleBinding and ClusterRoleBinding now stored.
    std::vector<fake_binding> bindings() const;
    std::size_t bindings_created() const noexcept;  ///< by clients, since start
    std::size_t bindings_deleted() const noexcept;  ///< by clients, since start
    /// Every HTTP request received since start (across restarts), oldest first.
    std::vector<recorded_request> requests() const;
    /// How many requests had this method and a path starting with `path_prefix`.
    std::size_t count_requests(std::string_view method, std::string_view path_prefix) const;
    void clear_requests();
    /// Watch streams currently open.
    std::size_t open_watches() const noexcept;

    /// Waits until `done()` holds, re-checking after every change in the cluster; false when
    /// `timeout` passed first. Cancellable.
    boost::asio::awaitable<bool> wait_until(std::function<bool()> done,
                                            std::chrono::milliseconds timeout);

    // ---- failure injection ----
    // `count` -1 = until cleared; `path_prefix` "" = every path. A delay applies first (a slow
    // server answers everything late, 401s included); drop, 429 and status apply after
    // authentication, in that order, before authorization.

    /// The next `count` requests get 429 TooManyRequests with Retry-After, as API Priority and
    /// Fairness answers.
    void inject_too_many_requests(int count, std::string path_prefix = {},
                                  int retry_after_seconds = 1);
    /// The next `count` requests get `status` (500, 503, 504) with a Status body.
    void inject_status(int status, int count, std::string path_prefix = {});
    /// The next `count` requests are answered `delay` late (a slow API server).
    void inject_delay(std::chrono::milliseconds delay, int count, std::string path_prefix = {});
    /// The next `count` requests have their connection reset before any response.
    void inject_drop(int count, std::string path_prefix = {});
    /// Requests whose path starts with `path_prefix` and whose verb (get, list, watch, create,
    /// update, patch, delete, or "*") matches get 403 Forbidden as RBAC would deny them.
    void forbid(std::string path_prefix, std::string verb = "*");
    /// Removes every injection and forbid rule.
    void clear_faults();
    /// Replaces the accepted bearer token (token rotation); the old one gets 401.
    void set_token(std::string token);
    /// The next `count` watch requests get an ERROR event with 410 Gone instead of events.
    void force_watch_gone(int count = 1);
    /// Forgets the watch history and expires continue tokens: every earlier resourceVersion
    /// is now too old (as etcd compaction does).
    void compact();
    /// Resets every open watch connection abruptly (no final chunk).
    void drop_watches();
    /// Ends every open watch stream cleanly, as a server-side timeout does.
    void end_watches();

    struct state;

private:
    explicit fake_kubernetes(std::shared_ptr<state> s);
    std::shared_ptr<state> state_;
};

}  // namespace tugboat::sandbox
