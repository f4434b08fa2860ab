#pragma once

// The Kubernetes API as the bot uses it: read Deployments, Pods, Events and logs; change an
// image, roll back, follow a rollout with a watch; manage RoleBindings for /access. The
// interface speaks plain structs (kubernetes_types.hpp); the HTTP implementation talks
// HTTPS+JSON to kube-apiserver with the cluster's CA and a bearer token or client certificate.

#include "core/config.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"
#include "integrations/http_client.hpp"
#include "integrations/kubeconfig.hpp"
#include "integrations/kubernetes_types.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tugboat::integrations {

/// Follows one Deployment through list+watch. `next()` yields its states as they change;
/// bookmarks, 410 Gone (re-list) and dropped or ended streams (re-watch from the last
/// resourceVersion) are handled inside. Use from one coroutine at a time.
class deployment_watch {
public:
    virtual ~deployment_watch() = default;
    /// The Deployment's next state, waiting at most `max_wait`. The first call after creation
    /// without a resourceVersion, and the call after a 410, return the current state from a
    /// fresh list. Errors: timeout (nothing changed within max_wait; the watch stays usable),
    /// not_found (the Deployment is gone or was deleted), permission_denied, unavailable (the
    /// cluster could not be reached until max_wait), cancelled.
    virtual boost::asio::awaitable<core::result<deployment_state>> next(
        std::chrono::milliseconds max_wait) = 0;
    /// The latest resourceVersion seen (events and bookmarks); resume a watch from it.
    virtual std::string resource_version() const = 0;
};

/// A followed container log (`kubectl logs -f`).
class log_stream {
public:
    virtual ~log_stream() = default;
    /// The next complete line (without the newline), or nullopt when the log ended (container
    /// exited or restarted, pod deleted). Errors: timeout when no line came within
    /// `max_wait`, unavailable when the connection dropped; after any error the stream is
    /// finished and keeps returning that error.
    virtual boost::asio::awaitable<core::result<std::optional<std::string>>> next_line(
        std::chrono::milliseconds max_wait) = 0;
};

/// What to read of a container's log.
struct log_request {
    std::string ns;
    std::string pod;
    std::string container;    ///< required when the pod has several containers
    int tail_lines = 200;     ///< last N lines; <= 0 = all
    bool previous = false;    ///< the last terminated instance (for CrashLoopBackOff)
    bool timestamps = false;  ///< prefix each line with its RFC 3339 (nano) time and a space
    std::size_t limit_bytes = 256 * 1024;  ///< cut the log (not when following); 0 = no cut
    int since_seconds = 0;                 ///< only lines of the last N seconds; <= 0 = all
};

/// One Kubernetes cluster. Every method has a deadline (the client's request timeout) and
/// honours cancellation. Errors name the cluster and the object, and say what to check:
/// permission_denied (401: credentials; 403: RBAC, with the server's message), not_found,
/// conflict, invalid_argument (422/400, with the server's causes), rate_limited (429 beyond
/// the retries), unavailable (unreachable, 5xx), timeout, protocol_error.
class kubernetes {
public:
    virtual ~kubernetes() = default;

    /// The configured cluster name, for messages.
    virtual const std::string& cluster_name() const = 0;

    virtual boost::asio::awaitable<core::result<deployment_state>> get_deployment(
        std::string ns, std::string name) = 0;
    /// Every Deployment of the namespace, by name.
    virtual boost::asio::awaitable<core::result<std::vector<deployment_state>>> list_deployments(
        std::string ns) = 0;
    /// Pods matching `label_selector` ("app=api,tier!=db"; "" = all), oldest first.
    virtual boost::asio::awaitable<core::result<std::vector<pod_info>>> list_pods(
        std::string ns, std::string label_selector) = 0;
    /// Events of the namespace matching `filter`, oldest first by last occurrence.
    virtual boost::asio::awaitable<core::result<std::vector<event_info>>> list_events(
        std::string ns, event_filter filter) = 0;

    /// A container's log text (tail, previous instance, cut at limit_bytes).
    virtual boost::asio::awaitable<core::result<std::string>> pod_log(log_request request) = 0;
    /// Follows a container's log from its last `tail_lines` lines on.
    virtual boost::asio::awaitable<core::result<std::unique_ptr<log_stream>>> follow_log(
        log_request request) = 0;

    /// Sets the image of `container` ("" = the only container) like `kubectl set image`
    /// (strategic merge patch, conditional on the resourceVersion read just before; 409s are
    /// retried). Returns the Deployment as written: its generation is the one to watch for.
    /// not_found names the existing containers when there is no such container.
    virtual boost::asio::awaitable<core::result<deployment_state>> set_image(std::string ns,
                                                                             std::string deployment,
                                                                             std::string container,
                                                                             std::string image) = 0;
    /// `kubectl rollout undo`: restores the pod template of `revision` (nullopt = the previous
    /// one) from the Deployment's ReplicaSets. Refuses paused Deployments (conflict) and
    /// missing history (not_found). 409s on the conditional patch are retried after re-reading.
    virtual boost::asio::awaitable<core::result<rollback_outcome>> rollback(
        std::string ns, std::string deployment, std::optional<int> revision) = 0;

    /// Watches one Deployment from `from_resource_version` ("" = list first and start from
    /// its current state). Opening does no I/O; the first `next()` connects.
    virtual boost::asio::awaitable<core::result<std::unique_ptr<deployment_watch>>>
    watch_deployment(std::string ns, std::string name, std::string from_resource_version) = 0;

    /// Creates the binding, or accepts an existing one with the same role and subject
    /// (labels and annotations are then brought up to date). A binding of that name to a
    /// different role fails with conflict (roleRef cannot change).
    virtual boost::asio::awaitable<core::result<void>> apply_role_binding(role_binding binding) = 0;
    /// Deletes a RoleBinding (`ns` set) or ClusterRoleBinding (`ns` ""); already gone is fine.
    virtual boost::asio::awaitable<core::result<void>> delete_role_binding(std::string ns,
                                                                           std::string name) = 0;
    /// RoleBindings of every namespace and ClusterRoleBindings matching `label_selector`.
    virtual boost::asio::awaitable<core::result<std::vector<role_binding>>> list_role_bindings(
        std::string label_selector) = 0;
};

/// Tunables of the HTTP implementation.
struct kubernetes_client_options {
    std::chrono::milliseconds request_timeout{std::chrono::seconds{20}};  ///< per API call
    /// Attempts per call (429 with Retry-After, 5xx, connection failures); every write the
    /// client makes is safe to repeat (conditional patches, create-or-accept).
    int max_attempts = 5;
    retry_policy retry;
    int conflict_retries = 5;  ///< re-read and re-apply on 409 Conflict, this many times
    /// Server-side length of one watch request (timeoutSeconds); the watch then re-opens.
    std::chrono::seconds watch_timeout{std::chrono::minutes{5}};
    /// Pause before re-opening a watch after a dropped stream or a failed attempt (doubles
    /// up to 5 s while failures repeat).
    std::chrono::milliseconds watch_backoff{std::chrono::milliseconds{200}};
};

/// The Kubernetes API over HTTPS for one cluster.
class kubernetes_http_client final : public kubernetes {
public:
    /// Builds the client (and its HTTP client with the cluster's CA and client certificate).
    /// Fails with config_error when the TLS material is unusable. Never logs the token.
    static core::result<std::unique_ptr<kubernetes_http_client>> create(
        boost::asio::any_io_executor executor, std::string cluster_name, cluster_access access,
        core::logger& log, kubernetes_client_options options = {});

    ~kubernetes_http_client() override;
    kubernetes_http_client(const kubernetes_http_client&) = delete;
    kubernetes_http_client& operator=(const kubernetes_http_client&) = delete;

    const std::string& cluster_name() const override;
    boost::asio::awaitable<core::result<deployment_state>> get_deployment(
        std::string ns, std::string name) override;
    boost::asio::awaitable<core::result<std::vector<deployment_state>>> list_deployments(
        std::string ns) override;
    boost::asio::awaitable<core::result<std::vector<pod_info>>> list_pods(
        std::string ns, std::string label_selector) override;
    boost::asio::awaitable<core::result<std::vector<event_info>>> list_events(
        std::string ns, event_filter filter) override;
    boost::asio::awaitable<core::result<std::string>> pod_log(log_request request) override;
    boost::asio::awaitable<core::result<std::unique_ptr<log_stream>>> follow_log(
        log_request request) override;
    boost::asio::awaitable<core::result<deployment_state>> set_image(std::string ns,
                                                                     std::string deployment,
                                                                     std::string container,
                                                                     std::string image) override;
    boost::asio::awaitable<core::result<rollback_outcome>> rollback(
        std::string ns, std::string deployment, std::optional<int> revision) override;
    boost::asio::awaitable<core::result<std::unique_ptr<deployment_watch>>> watch_deployment(
        std::string ns, std::string name, std::string from_resource_version) override;
    boost::asio::awaitable<core::result<void>> apply_role_binding(role_binding binding) override;
    boost::asio::awaitable<core::result<void>> delete_role_binding(std::string ns,
                                                                   std::string name) override;
    boost::asio::awaitable<core::result<std::vector<role_binding>>> list_role_bindings(
        std::string label_selector) override;

    class impl;

private:
    explicit kubernetes_http_client(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

/// Builds a client for every configured cluster, by name: its kubeconfig file and context, or
/// the in-cluster service account. Fails (config_error, naming the cluster) on the first
/// cluster whose access cannot be loaded.
core::result<std::map<std::string, std::unique_ptr<kubernetes>>> make_kubernetes_clients(
    boost::asio::any_io_executor executor, const std::vector<core::cluster_config>& clusters,
    core::logger& log, const env_getter& env = process_env_getter(),
    kubernetes_client_options options = {});

/// `text` percent-encoded for a URL query value (selectors, names).
std::string query_escape(std::string_view text);

}  // namespace tugboat::integrations
