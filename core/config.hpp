#pragma once

// The whole configuration as plain structs, read once at start (bot/config_loader) and passed
// by const reference. std only: every folder may include it.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::core {

/// A secret resolved at load time from an environment variable or a file. Never printed.
class secret {
public:
    secret() = default;
    explicit secret(std::string value) : value_(std::move(value)) {}
    /// The secret itself; only for the code that puts it on the wire.
    const std::string& reveal() const noexcept { return value_; }
    bool empty() const noexcept { return value_.empty(); }

private:
    std::string value_;
};

/// Where a secret comes from, as written in the config (`{env: NAME}` or `{file: PATH}`).
struct secret_source {
    std::string env;   ///< environment variable name, or empty
    std::string file;  ///< file path (whitespace trimmed), or empty
};

struct slack_config {
    std::string mode = "socket";                    ///< "socket" or "http"
    std::string api_url = "https://slack.com/api/";  ///< overridden by SLACK_API_URL
    secret app_token;                               ///< xapp-…, Socket Mode only (SLACK_APP_TOKEN)
    secret bot_token;                               ///< xoxb-… (SLACK_BOT_TOKEN)
    secret signing_secret;                          ///< HTTP mode only (SLACK_SIGNING_SECRET)
    int connections = 2;                            ///< parallel Socket Mode connections
    std::string http_listen = "0.0.0.0:3000";       ///< HTTP mode listen address
    std::string ca_file;                            ///< extra CA bundle for TLS, or empty
};

struct jenkins_config {
    std::string name;
    std::string url;  ///< base URL, e.g. https://jenkins.example.com/
    std::string user;
    secret api_token;
    std::string ca_file;
    std::chrono::seconds timeout{30};
};

struct cluster_config {
    std::string name;
    bool in_cluster = false;  ///< use the pod's service account instead of a kubeconfig
    std::string kubeconfig;   ///< kubeconfig file path
    std::string context;      ///< context in that file; empty = current-context
};

struct approval_policy {
    int required = 0;                    ///< approvals needed; 0 = no approval
    std::vector<std::string> approvers;  ///< Slack user IDs (U…) or user-group IDs (S…)
    std::chrono::seconds expires_after{std::chrono::hours{1}};
};

struct freeze_window {
    std::string name;
    std::string from;                ///< ISO date-time "2026-12-20T00:00" (absolute window) or empty
    std::string to;                  ///< ISO date-time (absolute window) or empty
    std::vector<std::string> days;   ///< weekly window: "fri", "sat", … (empty if absolute)
    std::string start_time;          ///< weekly window start "HH:MM"
    std::string end_time;            ///< weekly window end "HH:MM"
    std::string timezone = "UTC";
};

struct environment_policy {
    std::vector<std::string> deployers;  ///< who may deploy (user/group IDs; "*" = everyone)
    std::vector<std::string> readers;    ///< who may read status/logs ("*" = everyone)
    approval_policy approval;
    std::string requires_success_in;     ///< promotion order: env a version must have passed
    std::vector<freeze_window> freezes;
    std::vector<std::string> freeze_overriders;
    std::string when_locked = "queue";   ///< "queue" or "refuse"
    bool auto_rollback = false;
    bool broadcast_failures = true;
    bool logs_require_grant = false;     ///< /logs needs an active access grant
};

struct environment_config {
    std::string name;
    std::vector<std::string> clusters;  ///< cluster names
    std::string namespace_name;         ///< default namespace for services in this env
    environment_policy policy;
};

struct channel_config {
    std::string name;  ///< name used in this config
    std::string id;    ///< Slack channel ID (C…)
};

struct workload_ref {
    std::string deployment;
    std::string container;   ///< container whose image is set; empty = first
    std::string namespace_name;  ///< empty = the environment's namespace
    std::string cluster;         ///< empty = every cluster of the environment
};

struct service_config {
    std::string name;
    std::string team;
    std::vector<std::string> owners;  ///< user/group IDs
    std::string channel;              ///< channel name (see channels)
    std::string jenkins;              ///< jenkins server name
    std::string job;                  ///< job path, folders separated by '/'
    std::map<std::string, std::string> job_parameters;  ///< jenkins param → "{service}" etc.
    std::string version_pattern = "semver";  ///< "semver", "sha" or a regex
    std::string rollout = "jenkins";         ///< "jenkins" (Jenkins applies) or "image" (bot sets)
    std::string image;                       ///< image repository when rollout = image
    std::string rollback = "kubernetes";     ///< "kubernetes" (previous RS) or "jenkins"
    std::map<std::string, std::vector<workload_ref>> workloads;  ///< env name → workloads
};

struct access_role_config {
    std::string name;
    std::string description;
    std::string kind = "ClusterRole";  ///< ClusterRole or Role that is bound
    std::string role;                  ///< name of that role
    std::string scope = "namespace";   ///< "namespace" or "cluster"
    std::chrono::seconds max_duration{std::chrono::hours{8}};
    std::vector<std::string> approvers;
    int approvals_required = 1;
    bool reason_required = true;
    std::vector<std::string> auto_approve_in;  ///< environments where it is auto-approved
    bool break_glass = false;
    bool self_extend = false;
    bool allow_escalation = false;  ///< explicitly accept a role that could escalate
};

struct access_config {
    std::string approvals_channel;  ///< channel name
    std::string subject_template = "oidc:{email}";
    std::string subject_kind = "User";  ///< User or Group
    std::vector<std::string> admins;
    std::vector<access_role_config> roles;
};

struct faq_config {
    std::vector<std::string> folders;
    std::string help_channel;
    double answer_threshold = 0.35;
    std::map<std::string, std::vector<std::string>> glossary;
    std::chrono::seconds reindex_every{std::chrono::minutes{10}};
};

struct bot_config {
    std::string database = "tugboat.db";
    std::string log_level = "info";
    std::string log_format = "kv";  ///< "kv" or "json"
    std::vector<std::string> admins;
};

struct config {
    std::string source_path;  ///< the file it was read from
    bot_config bot;
    slack_config slack;
    std::vector<jenkins_config> jenkins;
    std::vector<cluster_config> clusters;
    std::vector<environment_config> environments;
    std::vector<channel_config> channels;
    std::vector<service_config> services;
    access_config access;
    faq_config faq;

    const service_config* find_service(std::string_view name) const {
        for (const auto& s : services) {
            if (s.name == name) {
                return &s;
            }
        }
        return nullptr;
    }
    const environment_config* find_environment(std::string_view name) const {
        for (const auto& e : environments) {
            if (e.name == name) {
                return &e;
            }
        }
        return nullptr;
    }
    std::vector<std::string> service_names() const {
        std::vector<std::string> out;
        for (const auto& s : services) {
            out.push_back(s.name);
        }
        return out;
    }
    std::vector<std::string> environment_names() const {
        std::vector<std::string> out;
        for (const auto& e : environments) {
            out.push_back(e.name);
        }
        return out;
    }
};

}  // namespace tugboat::core
