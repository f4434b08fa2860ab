#pragma once

// Where a Kubernetes API server is and how to authenticate to it: read from a kubeconfig file
// (one context of it) or from a pod's service-account files (in-cluster). The result is what
// the HTTP client needs: a server URL, TLS options and a bearer token. Certificate
// verification is never disabled: a kubeconfig asking for insecure-skip-tls-verify is refused.
// yaml-cpp stays in kubeconfig.cpp.

#include "core/config.hpp"
#include "core/result.hpp"
#include "integrations/tls.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tugboat::integrations {

/// How to reach one cluster.
struct cluster_access {
    std::string server;  ///< "https://host:port", no trailing '/'
    /// Trust anchors (the cluster's CA: system roots off, as kubectl does, when one is named)
    /// and the client certificate, when the user has one.
    tls_options tls;
    /// kubeconfig `tls-server-name`, or empty. Not applied yet: the HTTP client checks the
    /// certificate against the URL's host.
    std::string tls_server_name;
    std::string token;       ///< bearer token, or empty (client certificate only)
    std::string token_file;  ///< file the token was read from, or empty; re-read it on 401
    std::string namespace_name = "default";  ///< the context's namespace (in-cluster: the pod's)
    /// Where this came from, for messages: "context prod in /etc/kube/config" or "in-cluster".
    std::string origin;
};

/// The directory a pod's service-account token, CA and namespace are mounted in.
inline const std::filesystem::path default_service_account_dir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

/// Looks up an environment variable; nullopt when unset.
using env_getter = std::function<std::optional<std::string>(std::string_view)>;

/// The real process environment (getenv).
env_getter process_env_getter();

/// Reads the kubeconfig file at `path` and resolves `context` (empty = its current-context).
/// Relative file paths inside it are relative to the file's folder. Errors (config_error),
/// each naming the file and the entry at fault: unreadable file, invalid YAML, no such context
/// (lists the available ones and the closest match), a context whose cluster or user is
/// missing, a cluster without an https:// server, insecure-skip-tls-verify (refused), exec or
/// auth-provider credential plugins (not supported: use a token), username/password, a user
/// without credentials, a client certificate without its key, bad base64 in a `*-data` field,
/// unreadable certificate, key or token files.
core::result<cluster_access> load_kubeconfig(const std::string& path,
                                             std::string_view context = {});

/// Same, from the file's text; `path` is used in messages and to resolve relative paths.
core::result<cluster_access> parse_kubeconfig(std::string_view yaml, const std::string& path,
                                              std::string_view context = {});

/// The in-cluster configuration, as client-go's InClusterConfig: server from
/// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (IPv6 hosts bracketed), token, CA and
/// namespace from the files in `service_account_dir`. Errors (config_error): not running in a
/// pod (variables unset), token or CA file unreadable.
core::result<cluster_access> load_in_cluster(
    const env_getter& env,
    const std::filesystem::path& service_account_dir = default_service_account_dir);

/// A configured cluster's access: in-cluster or its kubeconfig and context. Errors as above,
/// prefixed with the cluster's name.
core::result<cluster_access> load_cluster_access(
    const core::cluster_config& cluster, const env_getter& env,
    const std::filesystem::path& service_account_dir = default_service_account_dir);

/// Standard base64 (padding optional, whitespace ignored); nullopt on any other character.
std::optional<std::string> base64_decode(std::string_view text);

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);

}  // namespace tugboat::integrations
