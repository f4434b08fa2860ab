#pragma once

// The whole configuration as plain structs, read once at start (bot/config_loader) and passed
// by const reference. std only: every folder may include it. Every key is documented in
// docs/configuration.md; the loader has already checked every rule stated in the comments here,
// so consumers may rely on them (names resolve, IDs are well-formed, enums hold listed values).

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tugboat::core {

/// Where a secret comes from, as written in the config (`{env: NAME}` or `{file: PATH}`).
struct secret_source {
    std::string env;   ///< environment variable name, or empty
    std::string file;  ///< file path (relative paths already resolved), or empty

    /// "environment variable SLACK_BOT_TOKEN" / "file /run/secrets/x": for error messages that
    /// must say which secret was refused without showing it.
    std::string describe() const {
        if (!env.empty()) {
            return "environment variable " + env;
        }
        if (!file.empty()) {
            return "file " + file;
        }
        return "nowhere";
    }
};

/// A secret resolved at load time from an environment variable or a file. Never printed: it
/// has no stream operator and no formatter on purpose.
class secret {
public:
    secret() = default;
    explicit secret(std::string value, secret_source source = {})
        : value_(std::move(value)), source_(std::move(source)) {}
    /// The secret itself; only for the code that puts it on the wire.
    const std::string& reveal() const noexcept { return value_; }
    bool empty() const noexcept { return value_.empty(); }
    /// Where it was read from; safe to log.
    const secret_source& source() const noexcept { return source_; }

private:
    std::string value_;
    secret_source source_;
};

struct slack_config {
    std::string mode = "socket";                     ///< "socket" or "http"
    std::string api_url = "https://slack.com/api/";  ///< ends in '/'; overridden by SLACK_API_URL
    secret app_token;       ///< xapp-…, set when mode = socket (SLACK_APP_TOKEN overrides)
    secret bot_token;       ///< xoxb-…, always set (SLACK_BOT_TOKEN overrides)
    secret signing_secret;  ///< set when mode = http (SLACK_SIGNING_SECRET overrides)
    int connections = 2;    ///< parallel Socket Mode connections, 1..10
    std::string http_listen = "0.0.0.0:3000";  ///< HTTP mode listen address "host:port"
    std::string ca_file;                       ///< extra CA bundle for TLS, or empty
};

struct jenkins_config {
    std::string name;
    std::string url;  ///< base URL ending in '/', https (http only for loopback hosts)
    std::string user;
    secret api_token;
    std::string ca_file;               ///< extra CA bundle, or empty
    std::chrono::seconds timeout{30};  ///< per HTTP request
};

struct cluster_config {
    std::string name;
    bool in_cluster = false;  ///< use the pod's service account instead of a kubeconfig
    std::string kubeconfig;   ///< kubeconfig file path (empty when in_cluster)
    std::string context;      ///< context in that file; empty = its current-context
};

struct approval_policy {
    int required = 0;                    ///< approvals needed; 0 = no approval
    std::vector<std::string> approvers;  ///< user IDs (U…/W…), user-group IDs (S…) or "*"
    std::chrono::seconds expires_after{std::chrono::hours{1}};  ///< request lapses after this
    bool allow_self_approval = false;  ///< may the requester approve their own deploy
};

/// Either an absolute window (`from`/`to` set, `days` empty) or a weekly one (`days` set).
/// Times are wall-clock times in `timezone`.
struct freeze_window {
    std::string name;
    std::string from;               ///< absolute start "YYYY-MM-DDTHH:MM" (inclusive), or empty
    std::string to;                 ///< absolute end "YYYY-MM-DDTHH:MM" (exclusive), or empty
    std::vector<std::string> days;  ///< weekly: "mon" … "sun", lower-case, no duplicates
    std::string start_time;         ///< weekly start "HH:MM" on each listed day
    std::string end_time;           ///< weekly end "HH:MM"; not after start = ends the next day
    std::string timezone = "UTC";   ///< "UTC" or an IANA name such as "Europe/Berlin"

    bool weekly() const noexcept { return !days.empty(); }
};

struct environment_policy {
    std::vector<std::string> deployers{"*"};  ///< who may deploy (user/group IDs; "*" = everyone)
    std::vector<std::string> readers{"*"};    ///< who may read status/logs ("*" = everyone)
    approval_policy approval;
    std::string requires_success_in;  ///< promotion order: env a version must have passed, or ""
    std::vector<freeze_window> freezes;
    std::vector<std::string> freeze_overriders;  ///< user/group IDs allowed to deploy in a freeze
    std::string when_locked = "queue";           ///< "queue" or "refuse"
    bool auto_rollback = false;       ///< roll back by the service's rollback mode on failure
    bool broadcast_failures = true;   ///< also post failures to the channel, not just the thread
    bool logs_require_grant = false;  ///< /logs needs an active access grant
};

struct environment_config {
    std::string name;
    std::vector<std::string> clusters;  ///< cluster names, at least one
    std::string namespace_name;         ///< default namespace for services in this env
    bool production = false;  ///< stricter checks (defaults to true when the name has "prod")
    environment_policy policy;
};

struct channel_config {
    std::string name;  ///< name used in this config
    std::string id;    ///< Slack channel ID (C… or G…)
};

struct workload_ref {
    std::string deployment;
    std::string container;       ///< container whose image is set; empty = first
    std::string namespace_name;  ///< empty = the environment's namespace
    std::string cluster;         ///< empty = every cluster of the environment
};

struct service_config {
    std::string name;
    std::string team;
    std::vector<std::string> owners;  ///< user/group IDs
    std::string channel;              ///< channel name (see channels)
    std::string jenkins;              ///< jenkins server name, or "" when Jenkins is not used
    std::string job;  ///< job path, folders separated by '/'; may use {service} and {env}
    /// Jenkins parameter → value template; placeholders {service} {env} {version} {deploy_id}.
    /// Always passes {deploy_id} somewhere when Jenkins is used (resume finds the build by it).
    std::map<std::string, std::string> job_parameters;
    std::string version_pattern = "semver";  ///< "semver", "sha" or a regex (whole match)
    std::string rollout = "jenkins";  ///< "jenkins" (Jenkins applies) or "image" (bot sets image)
    std::string image;                ///< image repository without tag, when rollout = image
    std::string rollback = "kubernetes";  ///< "kubernetes" (previous ReplicaSet) or "jenkins"
    std::chrono::seconds build_timeout{std::chrono::minutes{30}};    ///< Jenkins build deadline
    std::chrono::seconds rollout_timeout{std::chrono::minutes{10}};  ///< rollout deadline
    std::map<std::string, std::vector<workload_ref>> workloads;      ///< env name → workloads
};

/// One rule of an access role's optional `grants:` hint, checked for escalation.
struct grant_rule {
    std::vector<std::string> verbs;      ///< lower-case, e.g. "get", "create", "*"
    std::vector<std::string> resources;  ///< e.g. "pods", "pods/log", "secrets", "*"
};

struct access_role_config {
    std::string name;
    std::string description;
    std::string kind = "ClusterRole";  ///< ClusterRole or Role that is bound
    std::string role;                  ///< name of that role
    std::string scope = "namespace";   ///< "namespace" (RoleBinding) or "cluster"
    std::chrono::seconds max_duration{std::chrono::hours{8}};
    std::vector<std::string> approvers;  ///< user/group IDs; empty = access.admins
    int approvals_required = 1;
    bool reason_required = true;
    std::vector<std::string> auto_approve_in;  ///< environments where it is auto-approved
    std::vector<std::string> environments;     ///< where it may be requested; empty = all
    bool break_glass = false;
    bool self_extend = false;
    bool allow_escalation = false;   ///< explicitly accept a role that could escalate
    std::vector<grant_rule> grants;  ///< what the role allows, as far as the config knows
};

struct access_config {
    std::string approvals_channel;                  ///< channel name, or "" when no role needs it
    std::string subject_template = "oidc:{email}";  ///< placeholders {email} {user_id}
    std::string subject_kind = "User";              ///< User or Group
    std::vector<std::string> admins;                ///< user/group IDs
    std::vector<access_role_config> roles;
};

struct faq_config {
    std::vector<std::string> folders;                          ///< directories of Markdown answers
    std::string help_channel;                                  ///< channel name, or ""
    double answer_threshold = 0.4;                             ///< 0 < t <= 1; see docs/faq.md
    std::map<std::string, std::vector<std::string>> glossary;  ///< term → synonyms
    /// Tools the docs do not cover, added to the built-in list (faq/search.cpp): "name" or
    /// "name/other spelling".
    std::vector<std::string> other_tools;
    std::chrono::seconds reindex_every{std::chrono::minutes{10}};
    /// Ordinary English words, one per line (Debian's wamerican); "" turns their use off.
    std::string words = "/usr/share/dict/words";
};

/// `/logs` settings beyond the per-environment `readers` and `logs_require_grant`.
struct logs_config {
    /// Extra ECMAScript regular expressions whose matches are hidden in logs, after the
    /// built-in rules (commands/redact.hpp); the loader has compiled each one.
    std::vector<std::string> redact_patterns;
};

struct bot_config {
    std::string database = "tugboat.db";  ///< SQLite file (relative to the config) or ":memory:"
    std::string log_level = "info";       ///< "debug", "info", "warn", "error" or "off"
    std::string log_format = "kv";        ///< "kv" or "json"
    std::vector<std::string> admins;      ///< user/group IDs
};

/// The ECMAScript regex a version must match in full for `version_pattern` (semver, sha, or the
/// pattern itself).
inline std::string version_regex(std::string_view version_pattern) {
    if (version_pattern == "semver") {
        return R"(v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*))"
               R"((-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?)";
    }
    if (version_pattern == "sha") {
        return "[0-9a-f]{7,40}";
    }
    return std::string(version_pattern);
}

struct config {
    std::string source_path;  ///< the file it was read from
    bot_config bot;
    slack_config slack;
    std::vector<jenkins_config> jenkins;
    std::vector<cluster_config> clusters;
    std::vector<environment_config> environments;  ///< in file order
    std::vector<channel_config> channels;
    std::vector<service_config> services;  ///< in file order
    access_config access;
    faq_config faq;
    logs_config logs;

    const service_config* find_service(std::string_view name) const {
        return find_named(services, name);
    }
    const environment_config* find_environment(std::string_view name) const {
        return find_named(environments, name);
    }
    const cluster_config* find_cluster(std::string_view name) const {
        return find_named(clusters, name);
    }
    const jenkins_config* find_jenkins(std::string_view name) const {
        return find_named(jenkins, name);
    }
    const channel_config* find_channel(std::string_view name) const {
        return find_named(channels, name);
    }
    const access_role_config* find_access_role(std::string_view name) const {
        return find_named(access.roles, name);
    }
    /// The Slack ID of a channel named in this config, or "" when there is none.
    std::string channel_id(std::string_view name) const {
        const auto* c = find_channel(name);
        return c ? c->id : std::string{};
    }
    std::vector<std::string> service_names() const { return names_of(services); }
    std::vector<std::string> environment_names() const { return names_of(environments); }
    std::vector<std::string> access_role_names() const { return names_of(access.roles); }

private:
    template <class T>
    static const T* find_named(const std::vector<T>& items, std::string_view name) {
        for (const auto& item : items) {
            if (item.name == name) {
                return &item;
            }
        }
        return nullptr;
    }
    template <class T>
    static std::vector<std::string> names_of(const std::vector<T>& items) {
        std::vector<std::string> out;
        out.reserve(items.size());
        for (const auto& item : items) {
            out.push_back(item.name);
        }
        return out;
    }
};

}  // namespace tugboat::core
