#include "integrations/kubernetes_client.hpp"
#include "integrations/within.hpp"

#include <fmt/format.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <tuple>
#include <utility>
#include <variant>

namespace tugboat::integrations {

namespace asio = boost::asio;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr const char* revision_key = "deployment.kubernetes.io/revision";
constexpr const char* hash_label = "pod-template-hash";
constexpr const char* rbac_group = "rbac.authorization.k8s.io";

// ---- lenient JSON reading: real servers send nulls and omit zero values ----

const json& at(const json& j, std::string_view key) {
    static const json null_value;
    if (!j.is_object()) {
        return null_value;
    }
    auto it = j.find(key);
    return it == j.end() ? null_value : *it;
}

std::string str(const json& j, std::string_view key) {
    const json& v = at(j, key);
    return v.is_string() ? v.get<std::string>() : std::string();
}

long long num(const json& j, std::string_view key, long long fallback = 0) {
    const json& v = at(j, key);
    if (v.is_number_integer()) {
        return v.get<long long>();
    }
    if (v.is_number()) {
        return static_cast<long long>(v.get<double>());
    }
    return fallback;
}

int to_int(long long v) {
    return static_cast<int>(std::clamp<long long>(v, INT32_MIN, INT32_MAX));
}

std::map<std::string, std::string> string_map(const json& j) {
    std::map<std::string, std::string> out;
    if (j.is_object()) {
        for (const auto& [k, v] : j.items()) {
            if (v.is_string()) {
                out[k] = v.get<std::string>();
            }
        }
    }
    return out;
}

int parse_revision(const std::string& text) {
    if (text.empty() || text.size() > 9 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return 0;
    }
    return std::stoi(text);
}

std::vector<k8s_condition> parse_conditions(const json& status) {
    std::vector<k8s_condition> out;
    const json& list = at(status, "conditions");
    if (!list.is_array()) {
        return out;
    }
    for (const auto& c : list) {
        out.push_back({str(c, "type"), str(c, "status"), str(c, "reason"), str(c, "message")});
    }
    return out;
}

std::vector<container_image> parse_containers(const json& pod_template) {
    std::vector<container_image> out;
    const json& list = at(at(pod_template, "spec"), "containers");
    if (list.is_array()) {
        for (const auto& c : list) {
            out.push_back({str(c, "name"), str(c, "image")});
        }
    }
    return out;
}

deployment_state parse_deployment(const json& d) {
    const json& meta = at(d, "metadata");
    const json& spec = at(d, "spec");
    const json& status = at(d, "status");
    deployment_state s;
    s.ns = str(meta, "namespace");
    s.name = str(meta, "name");
    s.uid = str(meta, "uid");
    s.resource_version = str(meta, "resourceVersion");
    s.generation = num(meta, "generation");
    s.observed_generation = num(status, "observedGeneration");
    s.replicas = to_int(num(spec, "replicas", 1));
    s.status_replicas = to_int(num(status, "replicas"));
    s.updated_replicas = to_int(num(status, "updatedReplicas"));
    s.ready_replicas = to_int(num(status, "readyReplicas"));
    s.available_replicas = to_int(num(status, "availableReplicas"));
    s.unavailable_replicas = to_int(num(status, "unavailableReplicas"));
    s.paused = at(spec, "paused").is_boolean() && at(spec, "paused").get<bool>();
    s.progress_deadline_seconds = to_int(num(spec, "progressDeadlineSeconds", 600));
    s.revision = parse_revision(str(at(meta, "annotations"), revision_key));
    s.conditions = parse_conditions(status);
    s.containers = parse_containers(at(spec, "template"));
    s.selector = string_map(at(at(spec, "selector"), "matchLabels"));
    return s;
}

void parse_container_statuses(const json& list, bool init, std::vector<container_state>& out) {
    if (!list.is_array()) {
        return;
    }
    for (const auto& cs : list) {
        container_state c;
        c.name = str(cs, "name");
        c.image = str(cs, "image");
        c.init = init;
        c.ready = at(cs, "ready").is_boolean() && at(cs, "ready").get<bool>();
        c.restart_count = to_int(num(cs, "restartCount"));
        const json& state = at(cs, "state");
        for (const char* which : {"waiting", "running", "terminated"}) {
            const json& s = at(state, which);
            if (s.is_object()) {
                c.state = which;
                c.reason = str(s, "reason");
                c.message = str(s, "message");
                if (at(s, "exitCode").is_number()) {
                    c.exit_code = to_int(num(s, "exitCode"));
                }
                break;
            }
        }
        const json& last = at(at(cs, "lastState"), "terminated");
        if (last.is_object()) {
            c.last_reason = str(last, "reason");
            if (at(last, "exitCode").is_number()) {
                c.last_exit_code = to_int(num(last, "exitCode"));
            }
            c.last_finished_at = str(last, "finishedAt");
        }
        out.push_back(std::move(c));
    }
}

pod_info parse_pod(const json& p) {
    const json& meta = at(p, "metadata");
    const json& status = at(p, "status");
    pod_info pod;
    pod.ns = str(meta, "namespace");
    pod.name = str(meta, "name");
    pod.phase = str(status, "phase");
    pod.reason = str(status, "reason");
    pod.message = str(status, "message");
    pod.node = str(at(p, "spec"), "nodeName");
    pod.start_time = str(status, "startTime");
    pod.terminating = at(meta, "deletionTimestamp").is_string();
    pod.labels = string_map(at(meta, "labels"));
    pod.conditions = parse_conditions(status);
    parse_container_statuses(at(status, "initContainerStatuses"), true, pod.containers);
    parse_container_statuses(at(status, "containerStatuses"), false, pod.containers);
    // Containers the kubelet has not reported yet still have a name and an image.
    const json& spec_containers = at(at(p, "spec"), "containers");
    if (spec_containers.is_array()) {
        for (const auto& c : spec_containers) {
            std::string name = str(c, "name");
            bool known = std::any_of(pod.containers.begin(), pod.containers.end(),
                                     [&](const container_state& s) { return s.name == name; });
            if (!known) {
                container_state s;
                s.name = name;
                s.image = str(c, "image");
                pod.containers.push_back(std::move(s));
            }
        }
    }
    return pod;
}

event_info parse_event(const json& e) {
    event_info ev;
    ev.type = str(e, "type");
    ev.reason = str(e, "reason");
    ev.message = str(e, "message");
    const json& involved = at(e, "involvedObject");
    ev.involved_kind = str(involved, "kind");
    ev.involved_name = str(involved, "name");
    ev.field_path = str(involved, "fieldPath");
    const json& series = at(e, "series");
    ev.count = to_int(num(series, "count", num(e, "count", 1)));
    for (std::string t : {str(series, "lastObservedTime"), str(e, "lastTimestamp"),
                          str(e, "eventTime"), str(at(e, "metadata"), "creationTimestamp")}) {
        if (!t.empty()) {
            ev.last_time = std::move(t);
            break;
        }
    }
    return ev;
}

role_binding parse_binding(const json& b) {
    const json& meta = at(b, "metadata");
    role_binding rb;
    rb.ns = str(meta, "namespace");
    rb.name = str(meta, "name");
    rb.role_kind = str(at(b, "roleRef"), "kind");
    rb.role_name = str(at(b, "roleRef"), "name");
    const json& subjects = at(b, "subjects");
    if (subjects.is_array() && !subjects.empty()) {
        rb.subject_kind = str(subjects[0], "kind");
        rb.subject_name = str(subjects[0], "name");
        rb.subject_namespace = str(subjects[0], "namespace");
    }
    rb.labels = string_map(at(meta, "labels"));
    rb.annotations = string_map(at(meta, "annotations"));
    return rb;
}

json binding_json(const role_binding& b) {
    json subject = {{"kind", b.subject_kind}, {"name", b.subject_name}};
    if (b.subject_kind == "ServiceAccount") {
        subject["namespace"] = b.subject_namespace;
    } else {
        subject["apiGroup"] = rbac_group;
    }
    json meta = {{"name", b.name}};
    if (!b.ns.empty()) {
        meta["namespace"] = b.ns;
    }
    if (!b.labels.empty()) {
        meta["labels"] = b.labels;
    }
    if (!b.annotations.empty()) {
        meta["annotations"] = b.annotations;
    }
    return {{"apiVersion", std::string(rbac_group) + "/v1"},
            {"kind", b.ns.empty() ? "ClusterRoleBinding" : "RoleBinding"},
            {"metadata", meta},
            {"subjects", json::array({subject})},
            {"roleRef", {{"apiGroup", rbac_group}, {"kind", b.role_kind}, {"name", b.role_name}}}};
}

std::string binding_path(const std::string& ns) {
    std::string base = std::string("/apis/") + rbac_group + "/v1/";
    return ns.empty() ? base + "clusterrolebindings"
                      : base + "namespaces/" + query_escape(ns) + "/rolebindings";
}

std::string deployments_path(const std::string& ns) {
    return "/apis/apps/v1/namespaces/" + query_escape(ns) + "/deployments";
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

bool transient(core::errc code) {
    return code == core::errc::unavailable || code == core::errc::timeout ||
           code == core::errc::rate_limited;
}

asio::awaitable<void> sleep_for(steady::duration d) {
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace

std::string query_escape(std::string_view text) {
    std::string out;
    for (unsigned char c : text) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

// ---- the client ----

class kubernetes_http_client::impl {
public:
    impl(std::string name, cluster_access access, core::logger& log,
         kubernetes_client_options options, http_client http)
        : name_(std::move(name)),
          access_(std::move(access)),
          log_(log),
          opt_(options),
          http_(std::move(http)) {}

    const std::string& name() const { return name_; }
    const kubernetes_client_options& options() const { return opt_; }
    core::logger& log() { return log_; }

    http_request make_request(http_method method, const std::string& path_and_query,
                              std::string body = {}, std::string content_type = {}) const {
        http_request r;
        r.method = method;
        r.url = access_.server + path_and_query;
        r.headers = {{"Accept", "application/json"}};
        if (!access_.token.empty()) {
            r.headers.emplace_back("Authorization", "Bearer " + access_.token);
        }
        if (!content_type.empty()) {
            r.headers.emplace_back("Content-Type", std::move(content_type));
        }
        r.body = std::move(body);
        r.timeout = opt_.request_timeout;
        r.max_attempts = opt_.max_attempts;
        // Every write this client makes is safe to repeat: patches are conditional on a
        // resourceVersion or set absolute values, creates accept AlreadyExists, deletes accept
        // NotFound. So 429 (API Priority and Fairness) and 5xx are retried for all methods,
        // honouring Retry-After, as client-go does.
        r.idempotent = true;
        return r;
    }

    /// Re-reads a rotated service-account token; true when it changed.
    bool reload_token() {
        if (access_.token_file.empty()) {
            return false;
        }
        std::ifstream in(access_.token_file, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        text = trim(std::move(text));
        if (!in.bad() && !text.empty() && text != access_.token) {
            access_.token = std::move(text);
            log_.info("k8s_token_reloaded", {{"cluster", name_}});
            return true;
        }
        return false;
    }

    void set_auth(http_request& r) const {
        for (auto& [k, v] : r.headers) {
            if (k == "Authorization") {
                v = "Bearer " + access_.token;
            }
        }
    }

    core::error transport_failure(core::error e, const std::string& what) const {
        std::string hint;
        if (e.code == core::errc::unavailable) {
            hint = "; is the API server up and reachable from the bot?";
        } else if (e.code == core::errc::protocol_error) {
            hint = fmt::format("; check the cluster's CA and server URL in {}", access_.origin);
        }
        return core::make_error(e.code, fmt::format("cluster {} ({}): {} failed: {}{}", name_,
                                                    access_.server, what, e.message, hint));
    }

    /// The error for a non-2xx response, from its Status object when it has one.
    core::error api_failure(const http_response& response, const std::string& what) const {
        json status = json::parse(response.body, nullptr, false);
        std::string message = str(status, "message");
        std::string reason = str(status, "reason");
        if (message.empty()) {
            message = response.body.substr(0, 300);
        }
        const json& causes = at(at(status, "details"), "causes");
        if (causes.is_array() && response.status == 422) {
            std::vector<std::string> parts;
            for (const auto& c : causes) {
                parts.push_back(fmt::format("{}: {}", str(c, "field"), str(c, "message")));
            }
            message = fmt::format("{} ({})", message, fmt::join(parts, "; "));
        }
        auto fail = [&](core::errc code, std::string text) {
            return core::make_error(
                code, fmt::format("cluster {}: {} failed: {}", name_, what, std::move(text)));
        };
        switch (response.status) {
            case 401:
                return fail(core::errc::permission_denied,
                            fmt::format("401 Unauthorized: the API server rejected the bot's {} "
                                        "from {}; it is wrong or expired: renew it in the "
                                        "kubeconfig (or the service-account token) and reload",
                                        access_.token.empty() ? "client certificate" : "token",
                                        access_.origin));
            case 403:
                return fail(core::errc::permission_denied,
                            message +
                                " (grant the bot's identity this permission with a Role "
                                "or ClusterRole binding)");
            case 409:
                return fail(
                    reason == "AlreadyExists" ? core::errc::already_exists : core::errc::conflict,
                    message);
            case 429:
                return fail(
                    core::errc::rate_limited,
                    fmt::format("429 {}: the API server is overloaded; try again later", message));
            default:
                return fail(errc_for_status(response.status),
                            fmt::format("HTTP {}: {}", response.status, message));
        }
    }

    /// Performs `r`; a 401 with a token file re-reads the token and tries once more.
    asio::awaitable<core::result<http_response>> call(http_request r, std::string what) {
        // Named copies: GCC 12 mishandles temporaries inside co_await expressions.
        http_request first = r;
        auto response = co_await http_.send(std::move(first));
        if (response && response->status == 401 && reload_token()) {
            set_auth(r);
            response = co_await http_.send(std::move(r));
        }
        if (!response) {
            co_return transport_failure(std::move(response).error(), what);
        }
        if (auto pf = response->header("X-Kubernetes-PF-PriorityLevel-UID");
            pf && response->status == 429) {
            log_.warn("k8s_throttled", {{"cluster", name_}, {"priority_level", *pf}});
        }
        co_return std::move(*response);
    }

    /// A 2xx response's JSON, or the error.
    asio::awaitable<core::result<json>> call_json(http_request r, std::string what) {
        auto response = co_await call(std::move(r), what);
        if (!response) {
            co_return std::move(response).error();
        }
        if (!response->ok()) {
            co_return api_failure(*response, what);
        }
        json body = json::parse(response->body, nullptr, false);
        if (body.is_discarded()) {
            co_return core::make_error(core::errc::protocol_error,
                                       fmt::format("cluster {}: {}: the API server answered "
                                                   "HTTP {} with a body that is not JSON",
                                                   name_, what, response->status));
        }
        co_return body;
    }

    asio::awaitable<core::result<json>> get_json(std::string path, std::string what) {
        auto r = make_request(http_method::get, path);
        co_return co_await call_json(std::move(r), std::move(what));
    }

    struct listing {
        std::vector<json> items;
        std::string resource_version;
    };

    /// Every item of a collection, page by page. A continue token that expired (410) restarts
    /// the list once.
    asio::awaitable<core::result<listing>> list_all(std::string path, std::string query,
                                                    std::string what) {
        for (int restart = 0;; ++restart) {
            listing out;
            std::string token;
            bool expired = false;
            for (;;) {
                std::string url = path + "?limit=500" + (query.empty() ? "" : "&" + query);
                if (!token.empty()) {
                    url += "&continue=" + query_escape(token);
                }
                auto r = make_request(http_method::get, url);
                auto response = co_await call(std::move(r), what);
                if (!response) {
                    co_return std::move(response).error();
                }
                if (response->status == 410 && !token.empty() && restart == 0) {
                    expired = true;
                    break;
                }
                if (!response->ok()) {
                    co_return api_failure(*response, what);
                }
                json page = json::parse(response->body, nullptr, false);
                const json& items = at(page, "items");
                if (page.is_discarded() || !(items.is_array() || items.is_null())) {
                    co_return core::make_error(
                        core::errc::protocol_error,
                        fmt::format("cluster {}: {}: the answer is not a list", name_, what));
                }
                if (items.is_array()) {
                    out.items.insert(out.items.end(), items.begin(), items.end());
                }
                if (out.resource_version.empty()) {
                    out.resource_version = str(at(page, "metadata"), "resourceVersion");
                }
                token = str(at(page, "metadata"), "continue");
                if (token.empty()) {
                    break;
                }
            }
            if (!expired) {
                co_return out;
            }
        }
    }

    asio::awaitable<core::result<http_stream>> open_stream(http_request r,
                                                           milliseconds idle_timeout,
                                                           std::string what) {
        http_request first = r;
        auto s = co_await http_.open_stream(std::move(first), idle_timeout);
        if (s && s->status() == 401 && reload_token()) {
            set_auth(r);
            s = co_await http_.open_stream(std::move(r), idle_timeout);
        }
        if (!s) {
            co_return transport_failure(std::move(s).error(), what);
        }
        co_return std::move(*s);
    }

    /// The error of a stream opened with a non-200 status, from its body.
    asio::awaitable<core::error> stream_failure(http_stream& s, std::string what) {
        http_response r;
        r.status = s.status();
        r.headers = s.headers();
        auto body = co_await s.read_all(64 * 1024);
        if (body) {
            r.body = std::move(*body);
        }
        co_return api_failure(r, what);
    }

    /// Re-reads and re-applies `attempt` while it ends in 409 Conflict, a bounded number of
    /// times with a short growing pause.
    template <class T, class F>
    asio::awaitable<core::result<T>> retry_on_conflict(F attempt, std::string what) {
        for (int i = 0;; ++i) {
            core::result<T> r = co_await attempt();
            if (r || r.error().code != core::errc::conflict || i >= opt_.conflict_retries) {
                co_return r;
            }
            log_.debug("k8s_conflict_retry",
                       {{"cluster", name_}, {"op", what}, {"attempt", i + 1}});
            auto pause = milliseconds(20 * (i + 1));
            co_await sleep_for(pause);
        }
    }

private:
    std::string name_;
    cluster_access access_;
    core::logger& log_;
    kubernetes_client_options opt_;
    http_client http_;
};

namespace {

// ---- watch ----

class http_deployment_watch final : public deployment_watch {
public:
    http_deployment_watch(kubernetes_http_client::impl& client, std::string ns, std::string name,
                          std::string rv)
        : client_(client),
          ns_(std::move(ns)),
          name_(std::move(name)),
          rv_(std::move(rv)),
          need_list_(rv_.empty()) {}

    std::string resource_version() const override { return rv_; }

    asio::awaitable<core::result<deployment_state>> next(milliseconds max_wait) override {
        const auto deadline = steady::now() + max_wait;
        for (;;) {
            if (need_list_) {
                auto listed = co_await relist(deadline);
                if (!listed) {
                    if (transient(listed.error().code) && co_await pause(deadline)) {
                        continue;
                    }
                    co_return std::move(listed).error();
                }
                need_list_ = false;
                co_return std::move(*listed);
            }
            if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                if (line.find_first_not_of(" \r\t") == std::string::npos) {
                    continue;
                }
                auto event = handle_line(line);
                if (event) {
                    co_return std::move(*event);
                }
                continue;
            }
            if (!stream_) {
                if (steady::now() >= deadline) {
                    co_return timed_out(max_wait);
                }
                if (std::exchange(pause_before_open_, false) && !co_await pause(deadline)) {
                    co_return timed_out(max_wait);
                }
                auto opened = co_await open(deadline);
                if (!opened) {
                    if (transient(opened.error().code) && co_await pause(deadline)) {
                        continue;
                    }
                    co_return std::move(opened).error();
                }
                continue;
            }
            auto left = deadline - steady::now();
            if (left <= steady::duration::zero()) {
                close();
                co_return timed_out(max_wait);
            }
            auto read = stream_->next();
            auto piece = co_await within(std::move(read), left);
            if (!piece) {
                // Nothing within max_wait: the read was cancelled, which spoils the stream;
                // the next call re-watches from the last resourceVersion.
                close();
                co_return timed_out(max_wait);
            }
            if (!*piece) {
                if (piece->error().code == core::errc::cancelled) {
                    close();
                    co_return std::move(*piece).error();
                }
                client_.log().info("k8s_watch_dropped", {{"cluster", client_.name()},
                                                         {"deployment", ns_ + "/" + name_},
                                                         {"rv", rv_},
                                                         {"error", piece->error().message}});
                last_error_ = std::move(*piece).error();
                close();
                if (!co_await pause(deadline)) {
                    co_return timed_out(max_wait);
                }
                continue;
            }
            if ((*piece)->empty()) {
                // The server ended the watch (timeoutSeconds): re-watch from the last RV, at
                // once unless it ended without sending anything (then it may be failing).
                bool empty_watch = !got_data_;
                close();
                if (empty_watch && !co_await pause(deadline)) {
                    co_return timed_out(max_wait);
                }
                continue;
            }
            got_data_ = true;
            buffer_ += **piece;
        }
    }

private:
    std::string what() const { return fmt::format("watching deployment {}/{}", ns_, name_); }

    void close() {
        stream_.reset();
        buffer_.clear();
        got_data_ = false;
    }

    core::error timed_out(milliseconds max_wait) const {
        if (last_error_ && failures_ > 0) {
            return *last_error_;
        }
        return core::make_error(core::errc::timeout,
                                fmt::format("cluster {}: deployment {}/{} did not change within "
                                            "{} ms",
                                            client_.name(), ns_, name_, max_wait.count()));
    }

    // Waits before the next attempt, growing while failures repeat; false when the deadline
    // would pass first.
    asio::awaitable<bool> pause(steady::time_point deadline) {
        ++failures_;
        auto base = client_.options().watch_backoff;
        auto delay = std::min<milliseconds>(base * (1 << std::min(failures_ - 1, 5)),
                                            std::chrono::seconds{5});
        if (steady::now() + delay >= deadline) {
            co_return false;
        }
        co_await sleep_for(delay);
        co_return true;
    }

    // A fresh list of just this Deployment: its state and a resourceVersion to watch from.
    asio::awaitable<core::result<deployment_state>> relist(steady::time_point deadline) {
        auto query = "fieldSelector=" + query_escape("metadata.name=" + name_);
        auto r = client_.make_request(http_method::get, deployments_path(ns_) + "?" + query);
        r.timeout = std::max<milliseconds>(
            milliseconds{1}, std::min<milliseconds>(client_.options().request_timeout,
                                                    std::chrono::duration_cast<milliseconds>(
                                                        deadline - steady::now())));
        auto context = what();
        auto list = co_await client_.call_json(std::move(r), context);
        if (!list) {
            last_error_ = list.error();
            co_return std::move(list).error();
        }
        const json& items = at(*list, "items");
        rv_ = str(at(*list, "metadata"), "resourceVersion");
        if (!items.is_array() || items.empty()) {
            co_return core::make_error(core::errc::not_found,
                                       fmt::format("cluster {}: deployment {}/{} does not exist",
                                                   client_.name(), ns_, name_));
        }
        failures_ = 0;
        last_error_.reset();
        client_.log().debug(
            "k8s_watch_listed",
            {{"cluster", client_.name()}, {"deployment", ns_ + "/" + name_}, {"rv", rv_}});
        co_return parse_deployment(items[0]);
    }

    asio::awaitable<core::result<void>> open(steady::time_point deadline) {
        std::string query = fmt::format(
            "watch=1&allowWatchBookmarks=true&timeoutSeconds={}&fieldSelector={}&"
            "resourceVersion={}",
            client_.options().watch_timeout.count(), query_escape("metadata.name=" + name_),
            query_escape(rv_));
        auto r = client_.make_request(http_method::get, deployments_path(ns_) + "?" + query);
        r.timeout = std::max<milliseconds>(
            milliseconds{1}, std::min<milliseconds>(client_.options().request_timeout,
                                                    std::chrono::duration_cast<milliseconds>(
                                                        deadline - steady::now())));
        // A backstop only: next() bounds every read by the caller's max_wait.
        auto idle = client_.options().watch_timeout + std::chrono::seconds{60};
        auto context = what();
        auto s = co_await client_.open_stream(std::move(r), idle, context);
        if (!s) {
            last_error_ = s.error();
            co_return std::move(s).error();
        }
        if (s->status() == 410) {
            need_list_ = true;  // too old: list again, then watch from the list's version
            co_return core::ok();
        }
        if (s->status() != 200) {
            auto e = co_await client_.stream_failure(*s, context);
            last_error_ = e;
            co_return e;
        }
        stream_.emplace(std::move(*s));
        client_.log().debug(
            "k8s_watch_opened",
            {{"cluster", client_.name()}, {"deployment", ns_ + "/" + name_}, {"rv", rv_}});
        co_return core::ok();
    }

    // Handles one watch event; a value when it carries a new state of the Deployment.
    std::optional<core::result<deployment_state>> handle_line(const std::string& line) {
        json event = json::parse(line, nullptr, false);
        if (!event.is_object()) {
            client_.log().warn("k8s_watch_bad_event",
                               {{"cluster", client_.name()}, {"bytes", line.size()}});
            return std::nullopt;
        }
        std::string type = str(event, "type");
        const json& object = at(event, "object");
        if (type == "ADDED" || type == "MODIFIED") {
            rv_ = str(at(object, "metadata"), "resourceVersion");
            failures_ = 0;
            last_error_.reset();
            return core::result<deployment_state>(parse_deployment(object));
        }
        if (type == "DELETED") {
            rv_ = str(at(object, "metadata"), "resourceVersion");
            return core::result<deployment_state>(core::make_error(
                core::errc::not_found, fmt::format("cluster {}: deployment {}/{} was deleted",
                                                   client_.name(), ns_, name_)));
        }
        if (type == "BOOKMARK") {
            // Only the resourceVersion of a bookmark means anything.
            if (auto rv = str(at(object, "metadata"), "resourceVersion"); !rv.empty()) {
                rv_ = std::move(rv);
            }
            return std::nullopt;
        }
        if (type == "ERROR") {
            long long code = num(object, "code");
            client_.log().info("k8s_watch_error", {{"cluster", client_.name()},
                                                   {"deployment", ns_ + "/" + name_},
                                                   {"code", code},
                                                   {"reason", str(object, "reason")}});
            close();
            if (code == 410) {
                need_list_ = true;
            } else {
                // Other errors: back off, then re-watch from the last RV.
                last_error_ =
                    core::make_error(errc_for_status(static_cast<int>(code)),
                                     fmt::format("cluster {}: {}: the watch failed: {}",
                                                 client_.name(), what(), str(object, "message")));
                pause_before_open_ = true;
            }
        }
        return std::nullopt;
    }

    kubernetes_http_client::impl& client_;
    std::string ns_;
    std::string name_;
    std::string rv_;
    bool need_list_ = false;
    std::optional<http_stream> stream_;
    std::string buffer_;
    bool got_data_ = false;
    bool pause_before_open_ = false;
    int failures_ = 0;
    std::optional<core::error> last_error_;
};

// ---- followed logs ----

class http_log_stream final : public log_stream {
public:
    explicit http_log_stream(http_stream s) : stream_(std::move(s)) {}

    asio::awaitable<core::result<std::optional<std::string>>> next_line(
        milliseconds max_wait) override {
        const auto deadline = steady::now() + max_wait;
        for (;;) {
            if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                co_return std::optional<std::string>(std::move(line));
            }
            if (failure_) {
                co_return *failure_;
            }
            if (ended_) {
                if (!buffer_.empty()) {
                    co_return std::optional<std::string>(std::exchange(buffer_, {}));
                }
                co_return std::optional<std::string>();
            }
            auto left = deadline - steady::now();
            if (left <= steady::duration::zero()) {
                failure_ = core::make_error(core::errc::timeout,
                                            fmt::format("no log line within {} ms; the log "
                                                        "stream is closed",
                                                        max_wait.count()));
                continue;
            }
            auto read = stream_.next();
            auto piece = co_await within(std::move(read), left);
            if (!piece) {
                failure_ = core::make_error(core::errc::timeout,
                                            fmt::format("no log line within {} ms; the log "
                                                        "stream is closed",
                                                        max_wait.count()));
                continue;
            }
            if (!*piece) {
                failure_ = std::move(*piece).error();
                continue;
            }
            if ((*piece)->empty()) {
                ended_ = true;
                continue;
            }
            buffer_ += **piece;
        }
    }

private:
    http_stream stream_;
    std::string buffer_;
    bool ended_ = false;
    std::optional<core::error> failure_;
};

std::string log_query(const log_request& req, bool follow) {
    std::vector<std::string> q;
    if (!req.container.empty()) {
        q.push_back("container=" + query_escape(req.container));
    }
    if (req.tail_lines > 0) {
        q.push_back(fmt::format("tailLines={}", req.tail_lines));
    }
    if (req.previous) {
        q.emplace_back("previous=true");
    }
    if (req.timestamps) {
        q.emplace_back("timestamps=true");
    }
    if (req.since_seconds > 0) {
        q.push_back(fmt::format("sinceSeconds={}", req.since_seconds));
    }
    if (follow) {
        q.emplace_back("follow=true");
    } else if (req.limit_bytes > 0) {
        q.push_back(fmt::format("limitBytes={}", req.limit_bytes));
    }
    return fmt::format("/api/v1/namespaces/{}/pods/{}/log?{}", query_escape(req.ns),
                       query_escape(req.pod), fmt::join(q, "&"));
}

std::string log_what(const log_request& req) {
    return fmt::format("reading the {}log of {}/{}{}", req.previous ? "previous " : "", req.ns,
                       req.pod, req.container.empty() ? "" : " container " + req.container);
}

}  // namespace

// ---- kubernetes_http_client ----

core::result<std::unique_ptr<kubernetes_http_client>> kubernetes_http_client::create(
    asio::any_io_executor executor, std::string cluster_name, cluster_access access,
    core::logger& log, kubernetes_client_options options) {
    http_client_options http_options;
    http_options.tls = access.tls;
    http_options.retry = options.retry;
    auto http = http_client::create(std::move(executor), log, std::move(http_options));
    if (!http) {
        return core::make_error(
            http.error().code,
            fmt::format("cluster {} ({}): {}", cluster_name, access.origin, http.error().message));
    }
    log.info("k8s_client_created",
             {{"cluster", cluster_name},
              {"server", access.server},
              {"auth", access.token.empty() ? "client-certificate" : "token"}});
    auto p = std::make_unique<impl>(std::move(cluster_name), std::move(access), log, options,
                                    std::move(*http));
    return std::unique_ptr<kubernetes_http_client>(new kubernetes_http_client(std::move(p)));
}

kubernetes_http_client::kubernetes_http_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
kubernetes_http_client::~kubernetes_http_client() = default;

const std::string& kubernetes_http_client::cluster_name() const {
    return impl_->name();
}

asio::awaitable<core::result<deployment_state>> kubernetes_http_client::get_deployment(
    std::string ns, std::string name) {
    auto what = fmt::format("reading deployment {}/{}", ns, name);
    auto path = deployments_path(ns) + "/" + query_escape(name);
    auto d = co_await impl_->get_json(path, what);
    if (!d) {
        co_return std::move(d).error();
    }
    co_return parse_deployment(*d);
}

asio::awaitable<core::result<std::vector<deployment_state>>>
kubernetes_http_client::list_deployments(std::string ns) {
    auto path = deployments_path(ns);
    auto what = fmt::format("listing deployments in {}", ns);
    auto list = co_await impl_->list_all(path, std::string(), what);
    if (!list) {
        co_return std::move(list).error();
    }
    std::vector<deployment_state> out;
    for (const auto& item : list->items) {
        out.push_back(parse_deployment(item));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    co_return out;
}

asio::awaitable<core::result<std::vector<pod_info>>> kubernetes_http_client::list_pods(
    std::string ns, std::string label_selector) {
    std::string query =
        label_selector.empty() ? std::string() : "labelSelector=" + query_escape(label_selector);
    auto path = "/api/v1/namespaces/" + query_escape(ns) + "/pods";
    auto what = fmt::format("listing pods in {}", ns);
    auto list = co_await impl_->list_all(path, query, what);
    if (!list) {
        co_return std::move(list).error();
    }
    std::vector<std::pair<std::string, pod_info>> sorted;
    for (const auto& item : list->items) {
        sorted.emplace_back(str(at(item, "metadata"), "creationTimestamp"), parse_pod(item));
    }
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
        return std::tie(a.first, a.second.name) < std::tie(b.first, b.second.name);
    });
    std::vector<pod_info> out;
    for (auto& [created, pod] : sorted) {
        out.push_back(std::move(pod));
    }
    co_return out;
}

asio::awaitable<core::result<std::vector<event_info>>> kubernetes_http_client::list_events(
    std::string ns, event_filter filter) {
    std::vector<std::string> fields;
    if (!filter.kind.empty()) {
        fields.push_back("involvedObject.kind=" + filter.kind);
    }
    if (!filter.name.empty()) {
        fields.push_back("involvedObject.name=" + filter.name);
    }
    if (!filter.field_selector.empty()) {
        fields.push_back(filter.field_selector);
    }
    std::string query =
        fields.empty() ? std::string()
                       : "fieldSelector=" + query_escape(fmt::format("{}", fmt::join(fields, ",")));
    auto path = "/api/v1/namespaces/" + query_escape(ns) + "/events";
    auto what = fmt::format("listing events in {}", ns);
    auto list = co_await impl_->list_all(path, query, what);
    if (!list) {
        co_return std::move(list).error();
    }
    std::vector<event_info> out;
    for (const auto& item : list->items) {
        out.push_back(parse_event(item));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.last_time < b.last_time; });
    co_return out;
}

asio::awaitable<core::result<std::string>> kubernetes_http_client::pod_log(log_request request) {
    auto what = log_what(request);
    auto r = impl_->make_request(http_method::get, log_query(request, false));
    for (auto& [name, value] : r.headers) {
        if (name == "Accept") {
            value = "text/plain, application/json";  // logs are text; errors are Status JSON
        }
    }
    auto response = co_await impl_->call(std::move(r), what);
    if (!response) {
        co_return std::move(response).error();
    }
    if (!response->ok()) {
        co_return impl_->api_failure(*response, what);
    }
    co_return std::move(response->body);
}

asio::awaitable<core::result<std::unique_ptr<log_stream>>> kubernetes_http_client::follow_log(
    log_request request) {
    auto what = "following the log of " + request.ns + "/" + request.pod;
    auto r = impl_->make_request(http_method::get, log_query(request, true));
    // A followed log may stay quiet for long; next_line() bounds each wait itself.
    auto s = co_await impl_->open_stream(std::move(r), std::chrono::hours{24}, what);
    if (!s) {
        co_return std::move(s).error();
    }
    if (s->status() != 200) {
        co_return co_await impl_->stream_failure(*s, what);
    }
    co_return std::unique_ptr<log_stream>(new http_log_stream(std::move(*s)));
}

asio::awaitable<core::result<deployment_state>> kubernetes_http_client::set_image(
    std::string ns, std::string deployment, std::string container, std::string image) {
    auto what = fmt::format("setting the image of deployment {}/{}", ns, deployment);
    impl& c = *impl_;
    auto attempt = [&]() -> asio::awaitable<core::result<deployment_state>> {
        std::string path = deployments_path(ns) + "/" + query_escape(deployment);
        auto current = co_await c.get_json(path, what);
        if (!current) {
            co_return std::move(current).error();
        }
        auto state = parse_deployment(*current);
        std::vector<std::string> names;
        for (const auto& ci : state.containers) {
            names.push_back(ci.name);
        }
        std::string target = container;
        if (target.empty()) {
            if (names.size() != 1) {
                co_return core::make_error(
                    core::errc::invalid_argument,
                    fmt::format("cluster {}: deployment {}/{} has several containers ({}); say "
                                "which one gets the image",
                                c.name(), ns, deployment, fmt::join(names, ", ")));
            }
            target = names.front();
        } else if (std::find(names.begin(), names.end(), target) == names.end()) {
            // A strategic merge patch would add a container of that name: refuse instead.
            co_return core::make_error(
                core::errc::not_found,
                fmt::format("cluster {}: deployment {}/{} has no container \"{}\"; its "
                            "containers: {}",
                            c.name(), ns, deployment, target, fmt::join(names, ", ")));
        }
        json container_patch = {{"name", target}, {"image", image}};
        json patch = {
            // The resourceVersion just read makes the patch conditional (409 when stale).
            {"metadata", {{"resourceVersion", state.resource_version}}},
            {"spec", {{"template", {{"spec", {{"containers", json::array({container_patch})}}}}}}}};
        auto r = c.make_request(http_method::patch, path, patch.dump(),
                                "application/strategic-merge-patch+json");
        auto written = co_await c.call_json(std::move(r), what);
        if (!written) {
            co_return std::move(written).error();
        }
        c.log().info("k8s_image_set", {{"cluster", c.name()},
                                       {"deployment", ns + "/" + deployment},
                                       {"container", target},
                                       {"image", image}});
        co_return parse_deployment(*written);
    };
    co_return co_await c.retry_on_conflict<deployment_state>(attempt, what);
}

asio::awaitable<core::result<rollback_outcome>> kubernetes_http_client::rollback(
    std::string ns, std::string deployment, std::optional<int> revision) {
    auto what = fmt::format("rolling back deployment {}/{}", ns, deployment);
    impl& c = *impl_;
    auto attempt = [&]() -> asio::awaitable<core::result<rollback_outcome>> {
        std::string path = deployments_path(ns) + "/" + query_escape(deployment);
        auto current = co_await c.get_json(path, what);
        if (!current) {
            co_return std::move(current).error();
        }
        const json& d = *current;
        auto state = parse_deployment(d);
        if (state.paused) {
            co_return core::make_error(
                core::errc::conflict,
                fmt::format("cluster {}: deployment {}/{} is paused; resume it first (kubectl "
                            "rollout resume) and try again",
                            c.name(), ns, deployment));
        }
        std::string query = "labelSelector=" + query_escape(state.selector_string());
        auto rs_path = "/apis/apps/v1/namespaces/" + query_escape(ns) + "/replicasets";
        auto sets = co_await c.list_all(rs_path, query, what);
        if (!sets) {
            co_return std::move(sets).error();
        }
        // The Deployment's own ReplicaSets: controller owner reference with its uid.
        std::map<int, const json*> by_revision;
        for (const auto& rs : sets->items) {
            const json& owners = at(at(rs, "metadata"), "ownerReferences");
            bool owned =
                owners.is_array() && std::any_of(owners.begin(), owners.end(), [&](const json& o) {
                    return at(o, "controller").is_boolean() && at(o, "controller").get<bool>() &&
                           str(o, "uid") == state.uid;
                });
            int rev = parse_revision(str(at(at(rs, "metadata"), "annotations"), revision_key));
            if (owned && rev > 0) {
                by_revision[rev] = &rs;
            }
        }
        std::vector<int> known;
        for (const auto& [rev, rs] : by_revision) {
            known.push_back(rev);
        }
        int target = 0;
        if (revision && *revision > 0) {
            if (!by_revision.count(*revision)) {
                co_return core::make_error(
                    core::errc::not_found,
                    fmt::format("cluster {}: deployment {}/{} has no revision {}; revisions "
                                "kept: {}",
                                c.name(), ns, deployment, *revision, fmt::join(known, ", ")));
            }
            target = *revision;
        } else {
            if (known.size() < 2) {
                co_return core::make_error(
                    core::errc::not_found,
                    fmt::format("cluster {}: deployment {}/{} has no earlier revision to roll "
                                "back to (no rollout history found)",
                                c.name(), ns, deployment));
            }
            target = known[known.size() - 2];
        }
        const json& rs = *by_revision[target];
        json pod_template = at(at(rs, "spec"), "template");
        if (pod_template.contains("metadata") && pod_template["metadata"].contains("labels")) {
            pod_template["metadata"]["labels"].erase(hash_label);
        }
        rollback_outcome out;
        out.from_revision = state.revision;
        out.to_revision = target;
        out.images = parse_containers(pod_template);
        if (pod_template == at(at(d, "spec"), "template")) {
            out.skipped = true;
            out.deployment = std::move(state);
            co_return out;
        }
        // Annotations as kubectl builds them: the Deployment's own bookkeeping keys stay, the
        // rest (e.g. kubernetes.io/change-cause) come from the ReplicaSet.
        static const std::vector<std::string> keep = {
            "kubectl.kubernetes.io/last-applied-configuration",
            revision_key,
            "deployment.kubernetes.io/revision-history",
            "deployment.kubernetes.io/desired-replicas",
            "deployment.kubernetes.io/max-replicas",
            "deprecated.deployment.rollback.to"};
        json annotations = json::object();
        auto own = string_map(at(at(d, "metadata"), "annotations"));
        for (const auto& key : keep) {
            if (auto it = own.find(key); it != own.end()) {
                annotations[key] = it->second;
            }
        }
        for (const auto& [key, value] : string_map(at(at(rs, "metadata"), "annotations"))) {
            if (std::find(keep.begin(), keep.end(), key) == keep.end()) {
                annotations[key] = value;
            }
        }
        json patch = json::array();
        // Carrying the resourceVersion read above makes the patch conditional (409 when stale).
        patch.push_back({{"op", "replace"},
                         {"path", "/metadata/resourceVersion"},
                         {"value", state.resource_version}});
        patch.push_back({{"op", "replace"}, {"path", "/spec/template"}, {"value", pod_template}});
        patch.push_back({{"op", "add"}, {"path", "/metadata/annotations"}, {"value", annotations}});
        auto r =
            c.make_request(http_method::patch, path, patch.dump(), "application/json-patch+json");
        auto written = co_await c.call_json(std::move(r), what);
        if (!written) {
            co_return std::move(written).error();
        }
        c.log().info("k8s_rolled_back", {{"cluster", c.name()},
                                         {"deployment", ns + "/" + deployment},
                                         {"from_revision", out.from_revision},
                                         {"to_revision", target}});
        out.deployment = parse_deployment(*written);
        co_return out;
    };
    co_return co_await c.retry_on_conflict<rollback_outcome>(attempt, what);
}

asio::awaitable<core::result<std::unique_ptr<deployment_watch>>>
kubernetes_http_client::watch_deployment(std::string ns, std::string name,
                                         std::string from_resource_version) {
    co_return std::unique_ptr<deployment_watch>(new http_deployment_watch(
        *impl_, std::move(ns), std::move(name), std::move(from_resource_version)));
}

asio::awaitable<core::result<void>> kubernetes_http_client::apply_role_binding(
    role_binding binding) {
    impl& c = *impl_;
    std::string kind = binding.ns.empty() ? "ClusterRoleBinding" : "RoleBinding";
    auto what = fmt::format("creating {} {}{}", kind, binding.ns.empty() ? "" : binding.ns + "/",
                            binding.name);
    json body = binding_json(binding);
    auto create = c.make_request(http_method::post, binding_path(binding.ns), body.dump(),
                                 "application/json");
    auto created = co_await c.call_json(std::move(create), what);
    if (created) {
        c.log().info(
            "k8s_binding_created",
            {{"cluster", c.name()}, {"kind", kind}, {"name", binding.name}, {"ns", binding.ns}});
        co_return core::ok();
    }
    if (created.error().code != core::errc::already_exists) {
        co_return std::move(created).error();
    }
    // It exists (a retry, or a restarted bot): accept it when it grants the same thing.
    std::string path = binding_path(binding.ns) + "/" + query_escape(binding.name);
    auto attempt = [&]() -> asio::awaitable<core::result<bool>> {
        auto existing = co_await c.get_json(path, what);
        if (!existing) {
            co_return std::move(existing).error();
        }
        const json& roleref = at(*existing, "roleRef");
        if (str(roleref, "kind") != binding.role_kind ||
            str(roleref, "name") != binding.role_name) {
            co_return core::make_error(
                core::errc::conflict,
                fmt::format("cluster {}: {} {} already exists for {} {} (a binding's role cannot "
                            "change); delete it first",
                            c.name(), kind, binding.name, str(roleref, "kind"),
                            str(roleref, "name")));
        }
        json wanted = body;
        const json& meta = at(*existing, "metadata");
        bool same = at(*existing, "subjects") == wanted["subjects"] &&
                    string_map(at(meta, "labels")) == binding.labels &&
                    string_map(at(meta, "annotations")) == binding.annotations;
        if (same) {
            co_return false;
        }
        wanted["metadata"]["resourceVersion"] = str(meta, "resourceVersion");
        auto update = c.make_request(http_method::put, path, wanted.dump(), "application/json");
        auto updated = co_await c.call_json(std::move(update), what);
        if (!updated) {
            co_return std::move(updated).error();
        }
        co_return true;
    };
    auto done = co_await c.retry_on_conflict<bool>(attempt, what);
    if (!done) {
        co_return std::move(done).error();
    }
    c.log().info(
        "k8s_binding_exists",
        {{"cluster", c.name()}, {"kind", kind}, {"name", binding.name}, {"updated", *done}});
    co_return core::ok();
}

asio::awaitable<core::result<void>> kubernetes_http_client::delete_role_binding(std::string ns,
                                                                                std::string name) {
    impl& c = *impl_;
    std::string kind = ns.empty() ? "ClusterRoleBinding" : "RoleBinding";
    auto what = fmt::format("deleting {} {}{}", kind, ns.empty() ? "" : ns + "/", name);
    auto request =
        c.make_request(http_method::delete_, binding_path(ns) + "/" + query_escape(name));
    auto response = co_await c.call(std::move(request), what);
    if (!response) {
        co_return std::move(response).error();
    }
    if (response->status == 404) {
        co_return core::ok();  // already gone: what we wanted
    }
    if (!response->ok()) {
        co_return c.api_failure(*response, what);
    }
    c.log().info("k8s_binding_deleted",
                 {{"cluster", c.name()}, {"kind", kind}, {"name", name}, {"ns", ns}});
    co_return core::ok();
}

asio::awaitable<core::result<std::vector<role_binding>>> kubernetes_http_client::list_role_bindings(
    std::string label_selector) {
    impl& c = *impl_;
    std::string query =
        label_selector.empty() ? std::string() : "labelSelector=" + query_escape(label_selector);
    std::vector<role_binding> out;
    std::string base = std::string("/apis/") + rbac_group + "/v1/";
    for (const char* resource : {"rolebindings", "clusterrolebindings"}) {
        auto path = base + resource;
        auto what = fmt::format("listing {}", resource);
        auto list = co_await c.list_all(path, query, what);
        if (!list) {
            co_return std::move(list).error();
        }
        for (const auto& item : list->items) {
            out.push_back(parse_binding(item));
        }
    }
    co_return out;
}

core::result<std::map<std::string, std::unique_ptr<kubernetes>>> make_kubernetes_clients(
    asio::any_io_executor executor, const std::vector<core::cluster_config>& clusters,
    core::logger& log, const env_getter& env, kubernetes_client_options options) {
    std::map<std::string, std::unique_ptr<kubernetes>> out;
    for (const auto& cluster : clusters) {
        auto access = load_cluster_access(cluster, env);
        if (!access) {
            return std::move(access).error();
        }
        auto client = kubernetes_http_client::create(executor, cluster.name, std::move(*access),
                                                     log, options);
        if (!client) {
            return std::move(client).error();
        }
        out[cluster.name] = std::move(*client);
    }
    return out;
}

}  // namespace tugboat::integrations
