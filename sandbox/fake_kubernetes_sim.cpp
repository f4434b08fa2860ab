#include "sandbox/fake_kubernetes_sim.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace tugboat::sandbox::kube {
namespace {

// Simulated seconds of each step of a pod's life (divided by the speed).
constexpr double observe_delay = 0.3;    // the controller notices a spec change
constexpr double schedule_delay = 0.3;   // the scheduler places a new pod
constexpr double create_time = 1.0;      // image pull + container creation
constexpr double ready_time = 1.0;       // until the readiness probe passes
constexpr double slow_factor = 5.0;      // "slow" images take this much longer
constexpr double crash_after = 2.0;      // a crashing container's run
constexpr double pull_error_time = 1.0;  // ErrImagePull before ImagePullBackOff
constexpr double retry_period = 10.0;    // kubelet/scheduler retries without back-off
constexpr double max_backoff = 300.0;    // kubelet's back-off cap

constexpr const char* revision_key = "deployment.kubernetes.io/revision";
constexpr const char* history_key = "deployment.kubernetes.io/revision-history";
constexpr const char* hash_key = "pod-template-hash";

std::string key_of(const std::string& ns, const std::string& name) {
    return ns + "/" + name;
}

int revision_of(const json& object) {
    auto annotations = string_map(object, "annotations");
    auto it = annotations.find(revision_key);
    if (it == annotations.end()) {
        return 0;
    }
    try {
        return std::stoi(it->second);
    } catch (const std::exception&) {
        return 0;
    }
}

std::string image_tag(const std::string& image) {
    auto slash = image.rfind('/');
    auto colon = image.rfind(':');
    if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) {
        return "latest";
    }
    auto at = image.find('@', colon);
    return image.substr(colon + 1, at == std::string::npos ? std::string::npos : at - colon - 1);
}

// The fully qualified reference containerd reports: docker.io/library/ for bare names.
std::string full_image(const std::string& image) {
    auto slash = image.find('/');
    std::string first = image.substr(0, slash);
    bool has_registry = slash != std::string::npos &&
                        (first.find('.') != std::string::npos ||
                         first.find(':') != std::string::npos || first == "localhost");
    std::string out = has_registry                 ? image
                      : slash == std::string::npos ? "docker.io/library/" + image
                                                   : "docker.io/" + image;
    if (out.rfind(':') == std::string::npos || out.rfind(':') < out.rfind('/')) {
        out += ":latest";
    }
    return out;
}

int resolve_int_or_percent(const json& value, int total, bool round_up, int fallback_percent) {
    if (value.is_number_integer()) {
        return value.get<int>();
    }
    int percent = fallback_percent;
    if (value.is_string()) {
        std::string s = value.get<std::string>();
        if (!s.empty() && s.back() == '%') {
            s.pop_back();
        }
        try {
            percent = std::stoi(s);
        } catch (const std::exception&) {
            percent = fallback_percent;
        }
    }
    double exact = static_cast<double>(total) * percent / 100.0;
    return static_cast<int>(round_up ? std::ceil(exact) : std::floor(exact));
}

json strip_hash(json pod_template) {
    if (pod_template.contains("metadata") && pod_template["metadata"].contains("labels")) {
        pod_template["metadata"]["labels"].erase(hash_key);
    }
    return pod_template;
}

const json* find_condition(const json& object, std::string_view type) {
    // No copies: the result points into `object`.
    auto status = object.find("status");
    if (status == object.end() || !status->is_object()) {
        return nullptr;
    }
    auto conditions = status->find("conditions");
    if (conditions == status->end() || !conditions->is_array()) {
        return nullptr;
    }
    for (const auto& c : *conditions) {
        if (c.value("type", "") == type) {
            return &c;
        }
    }
    return nullptr;
}

// Sets a Deployment condition the way the controller does: lastTransitionTime moves only when
// the status flips, lastUpdateTime whenever anything (or `touch`) changes.
void set_condition(json& conditions, const std::string& type, const std::string& status,
                   const std::string& reason, const std::string& message, const std::string& now,
                   bool touch) {
    for (auto& c : conditions) {
        if (c.value("type", "") != type) {
            continue;
        }
        bool changed = c.value("status", "") != status || c.value("reason", "") != reason ||
                       c.value("message", "") != message;
        if (c.value("status", "") != status) {
            c["lastTransitionTime"] = now;
        }
        if (changed || touch) {
            c["lastUpdateTime"] = now;
        }
        c["status"] = status;
        c["reason"] = reason;
        c["message"] = message;
        return;
    }
    conditions.push_back({{"type", type},
                          {"status", status},
                          {"lastUpdateTime", now},
                          {"lastTransitionTime", now},
                          {"reason", reason},
                          {"message", message}});
}

std::string current_progress_reason(const json& d) {
    const json* c = find_condition(d, "Progressing");
    return c ? c->value("reason", "") : "";
}

void put_counter(json& status, const char* key, int value) {
    // The API omits zero counters (omitempty); clients must read a missing one as 0.
    if (value > 0) {
        status[key] = value;
    } else {
        status.erase(key);
    }
}

// A stable digest per image, as a registry would report it.
std::string image_id(const std::string& image) {
    std::uint32_t h = 2166136261u;
    for (unsigned char ch : image) {
        h ^= ch;
        h *= 16777619u;
    }
    std::string digest;
    for (int i = 0; i < 8; ++i) {
        digest += fmt::format("{:08x}", h);
        h = h * 16777619u + 0x9e3779b9u;
    }
    auto ref = full_image(image);
    return ref.substr(0, ref.rfind(':')) + "@sha256:" + digest;
}

std::string now_text() {
    return rfc3339(std::chrono::system_clock::now());
}

}  // namespace

bool pod_sim::ready() const {
    return scheduled && !containers.empty() &&
           std::all_of(containers.begin(), containers.end(),
                       [](const container_sim& c) { return c.ready; });
}

bool rollout_done(const json& d) {
    const json& meta = d["metadata"];
    const json status = d.value("status", json::object());
    if (meta.value("generation", 0LL) > status.value("observedGeneration", 0LL)) {
        return false;
    }
    if (rollout_deadline_exceeded(d)) {
        return false;
    }
    int replicas = d["spec"].value("replicas", 1);
    int updated = status.value("updatedReplicas", 0);
    if (updated < replicas) {
        return false;
    }
    if (status.value("replicas", 0) > updated) {
        return false;
    }
    return status.value("availableReplicas", 0) >= updated;
}

bool rollout_deadline_exceeded(const json& d) {
    const json* c = find_condition(d, "Progressing");
    return c && c->value("reason", "") == "ProgressDeadlineExceeded";
}

cluster_sim::cluster_sim(object_store& store, double speed, core::logger& log)
    : store_(store), speed_(speed > 0 ? speed : 1.0), log_(log) {}

std::chrono::steady_clock::duration cluster_sim::scaled(double simulated_seconds) const {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(simulated_seconds / speed_));
}

double cluster_sim::backoff_seconds(int failures) const {
    return std::min(max_backoff, 10.0 * std::pow(2.0, std::max(0, failures - 1)));
}

void cluster_sim::ensure_namespace(const std::string& ns) {
    if (store_.get(namespaces(), "", ns)) {
        return;
    }
    json object = {{"metadata", {{"name", ns}, {"labels", {{"kubernetes.io/metadata.name", ns}}}}},
                   {"spec", {{"finalizers", {"kubernetes"}}}},
                   {"status", {{"phase", "Active"}}}};
    store_.create(namespaces(), std::move(object));
}

// ---- deployments ----

void cluster_sim::default_deployment(json& d) {
    json& spec = d["spec"];
    if (!spec.contains("replicas")) {
        spec["replicas"] = 1;
    }
    if (!spec.contains("strategy")) {
        spec["strategy"] = {{"type", "RollingUpdate"},
                            {"rollingUpdate", {{"maxSurge", "25%"}, {"maxUnavailable", "25%"}}}};
    }
    if (!spec.contains("revisionHistoryLimit")) {
        spec["revisionHistoryLimit"] = 10;
    }
    if (!spec.contains("progressDeadlineSeconds")) {
        spec["progressDeadlineSeconds"] = 600;
    }
    json& pod_spec = spec["template"]["spec"];
    if (!spec["template"].contains("metadata")) {
        spec["template"]["metadata"] = json::object();
    }
    for (auto [key, value] : {std::pair<const char*, json>{"restartPolicy", "Always"},
                              {"terminationGracePeriodSeconds", 30},
                              {"dnsPolicy", "ClusterFirst"},
                              {"schedulerName", "default-scheduler"},
                              {"securityContext", json::object()}}) {
        if (!pod_spec.contains(key)) {
            pod_spec[key] = value;
        }
    }
    if (pod_spec.contains("containers") && pod_spec["containers"].is_array()) {
        for (auto& c : pod_spec["containers"]) {
            if (!c.is_object()) {
                continue;
            }
            if (!c.contains("imagePullPolicy")) {
                bool latest = image_tag(c.value("image", "")) == "latest";
                c["imagePullPolicy"] = latest ? "Always" : "IfNotPresent";
            }
            if (!c.contains("terminationMessagePath")) {
                c["terminationMessagePath"] = "/dev/termination-log";
            }
            if (!c.contains("terminationMessagePolicy")) {
                c["terminationMessagePolicy"] = "File";
            }
            if (!c.contains("resources")) {
                c["resources"] = json::object();
            }
        }
    }
}

std::vector<std::pair<std::string, std::string>> cluster_sim::validate_deployment(const json& d) {
    std::vector<std::pair<std::string, std::string>> causes;
    const json spec = d.value("spec", json::object());
    if (spec.contains("replicas") &&
        (!spec["replicas"].is_number_integer() || spec["replicas"].get<int>() < 0)) {
        causes.emplace_back("spec.replicas", "must be greater than or equal to 0");
    }
    const json containers = spec.value("template", json::object())
                                .value("spec", json::object())
                                .value("containers", json::array());
    if (!containers.is_array() || containers.empty()) {
        causes.emplace_back("spec.template.spec.containers", "Required value");
    } else {
        for (std::size_t i = 0; i < containers.size(); ++i) {
            const auto& c = containers[i];
            if (!c.is_object() || c.value("name", "").empty()) {
                causes.emplace_back(fmt::format("spec.template.spec.containers[{}].name", i),
                                    "Required value");
            }
            if (!c.is_object() || c.value("image", "").empty()) {
                causes.emplace_back(fmt::format("spec.template.spec.containers[{}].image", i),
                                    "Required value");
            }
        }
    }
    json match = spec.value("selector", json::object()).value("matchLabels", json::object());
    json labels = spec.value("template", json::object())
                      .value("metadata", json::object())
                      .value("labels", json::object());
    if (!match.is_object() || match.empty()) {
        causes.emplace_back("spec.selector",
                            "Invalid value: empty selector is invalid for deployment");
    } else if (!matches(from_match_labels(match), labels)) {
        causes.emplace_back("spec.template.metadata.labels",
                            fmt::format("Invalid value: {}: `selector` does not match template "
                                        "`labels`",
                                        labels.dump()));
    }
    return causes;
}

core::result<void> cluster_sim::add_deployment(const fake_deployment& seed, mono_time now) {
    std::vector<fake_container> containers = seed.containers;
    if (containers.empty()) {
        containers.push_back({seed.name, seed.image});
    }
    if (seed.name.empty()) {
        return core::make_error(core::errc::invalid_argument,
                                "a fake Deployment needs a name, e.g. \"payments-api\"");
    }
    for (const auto& c : containers) {
        if (c.image.empty() || c.name.empty()) {
            return core::make_error(core::errc::invalid_argument,
                                    fmt::format("Deployment {}/{}: every container needs a name "
                                                "and an image, e.g. reg/app:1.0",
                                                seed.ns, seed.name));
        }
    }
    if (store_.get(deployments(), seed.ns, seed.name)) {
        return core::make_error(core::errc::already_exists,
                                fmt::format("Deployment {}/{} already exists", seed.ns, seed.name));
    }
    ensure_namespace(seed.ns);
    json labels = json::object();
    if (seed.labels.empty()) {
        labels["app"] = seed.name;
    }
    for (const auto& [k, v] : seed.labels) {
        labels[k] = v;
    }
    auto template_for = [&](const std::string& first_image) {
        json list = json::array();
        for (std::size_t i = 0; i < containers.size(); ++i) {
            std::string image = i == 0 ? first_image : containers[i].image;
            list.push_back({{"name", containers[i].name},
                            {"image", image},
                            {"ports", {{{"containerPort", 8080}, {"protocol", "TCP"}}}}});
        }
        return json{{"metadata", {{"labels", labels}}}, {"spec", {{"containers", list}}}};
    };
    std::vector<std::string> images = seed.previous_images;
    images.push_back(containers.front().image);

    json d = {{"metadata", {{"name", seed.name}, {"namespace", seed.ns}, {"labels", labels}}},
              {"spec",
               {{"replicas", seed.replicas},
                {"selector", {{"matchLabels", labels}}},
                {"template", template_for(images.front())},
                {"progressDeadlineSeconds", seed.progress_deadline_seconds},
                {"revisionHistoryLimit", seed.revision_history_limit}}},
              {"status", json::object()}};
    if (!seed.annotations.empty()) {
        d["metadata"]["annotations"] = seed.annotations;
    }
    default_deployment(d);
    if (auto causes = validate_deployment(d); !causes.empty()) {
        return core::make_error(core::errc::invalid_argument,
                                fmt::format("Deployment {}/{}: {}: {}", seed.ns, seed.name,
                                            causes.front().first, causes.front().second));
    }
    store_.create(deployments(), d);
    // Each earlier image becomes a finished rollout, so the ReplicaSets carry real revisions.
    for (std::size_t i = 0; i < images.size(); ++i) {
        if (i > 0) {
            json current = *store_.get(deployments(), seed.ns, seed.name);
            current["spec"]["template"] = template_for(images[i]);
            default_deployment(current);
            store_.replace(deployments(), std::move(current));
        }
        // Until nothing changes any more: done, or stuck on a failing image (which the
        // simulator then plays out in time).
        for (int round = 0; round < 50; ++round) {
            auto before = store_.revision();
            reconcile(seed.ns, seed.name, now, true);
            if (store_.revision() == before) {
                break;
            }
        }
    }
    log_.debug("fake_k8s_seeded",
               {{"deployment", key_of(seed.ns, seed.name)}, {"image", containers.front().image}});
    return core::ok();
}

void cluster_sim::deployment_changed(const std::string& ns, const std::string& name,
                                     mono_time now) {
    schedule_deployment(ns, name, now + scaled(observe_delay));
}

void cluster_sim::schedule_deployment(const std::string& ns, const std::string& name,
                                      mono_time at) {
    auto& ds = deployments_[key_of(ns, name)];
    if (!ds.due || at < *ds.due) {
        ds.due = at;
    }
}

std::vector<json> cluster_sim::owned_replicasets(const json& d) const {
    std::vector<json> out;
    std::string uid = d["metadata"].value("uid", "");
    for (const json* rs : store_.list(replicasets(), d["metadata"].value("namespace", ""))) {
        for (const auto& ref :
             rs->value("metadata", json::object()).value("ownerReferences", json::array())) {
            if (ref.value("uid", "") == uid && ref.value("controller", false)) {
                out.push_back(*rs);
                break;
            }
        }
    }
    std::sort(out.begin(), out.end(),
              [](const json& a, const json& b) { return revision_of(a) < revision_of(b); });
    return out;
}

std::vector<pod_sim*> cluster_sim::pods_of_replicaset(const std::string& ns,
                                                      const std::string& rs) {
    std::vector<pod_sim*> out;
    for (auto& [key, p] : pods_) {
        if (p.ns == ns && p.replicaset == rs) {
            out.push_back(&p);
        }
    }
    return out;
}

bool cluster_sim::scale_replicaset(json rs, int replicas, const json& d) {
    int before = rs["spec"].value("replicas", 0);
    if (before == replicas) {
        return false;
    }
    rs["spec"]["replicas"] = replicas;
    auto& annotations = rs["metadata"]["annotations"];
    annotations["deployment.kubernetes.io/desired-replicas"] =
        std::to_string(d["spec"].value("replicas", 1));
    store_.replace(replicasets(), rs);
    std::string name = rs["metadata"].value("name", "");
    std::string message =
        replicas > before
            ? fmt::format("Scaled up replica set {} to {}", name, replicas)
            : fmt::format("Scaled down replica set {} to {} from {}", name, replicas, before);
    record_event({{"kind", "Deployment"},
                  {"namespace", d["metadata"]["namespace"]},
                  {"name", d["metadata"]["name"]},
                  {"uid", d["metadata"]["uid"]},
                  {"apiVersion", "apps/v1"},
                  {"resourceVersion", d["metadata"]["resourceVersion"]}},
                 "Normal", "ScalingReplicaSet", message, "deployment-controller");
    log_.debug("fake_k8s_scaled", {{"replicaset", name}, {"from", before}, {"to", replicas}});
    return true;
}

int cluster_sim::pod_count(const json& rs) {
    return static_cast<int>(
        pods_of_replicaset(rs["metadata"].value("namespace", ""), rs["metadata"].value("name", ""))
            .size());
}

int cluster_sim::ready_count(const json& rs) {
    int n = 0;
    for (auto* p : pods_of_replicaset(rs["metadata"].value("namespace", ""),
                                      rs["metadata"].value("name", ""))) {
        n += p->ready() ? 1 : 0;
    }
    return n;
}

json cluster_sim::replicaset_annotations(const json& d, int revision, const json& existing) const {
    const json& spec = d["spec"];
    const int desired = spec.value("replicas", 1);
    json a = existing.is_object() ? existing : json::object();
    // Like the controller: the Deployment's own annotations travel to its ReplicaSets.
    for (const auto& [k, v] : string_map(d, "annotations")) {
        if (k.rfind("deployment.kubernetes.io/", 0) != 0 &&
            k != "kubectl.kubernetes.io/last-applied-configuration") {
            a[k] = v;
        }
    }
    a[revision_key] = std::to_string(revision);
    a["deployment.kubernetes.io/desired-replicas"] = std::to_string(desired);
    int surge = resolve_int_or_percent(spec.value("strategy", json::object())
                                           .value("rollingUpdate", json::object())
                                           .value("maxSurge", json("25%")),
                                       desired, true, 25);
    a["deployment.kubernetes.io/max-replicas"] = std::to_string(desired + surge);
    return a;
}

json cluster_sim::new_replicaset(const json& d, bool spec_changed, progress_note& note) {
    const std::string ns = d["metadata"].value("namespace", "");
    const std::string name = d["metadata"].value("name", "");
    const json& pod_template = d["spec"]["template"];
    auto owned = owned_replicasets(d);
    int max_revision = 0;
    json found;
    for (const auto& rs : owned) {
        max_revision = std::max(max_revision, revision_of(rs));
        if (strip_hash(rs["spec"]["template"]) == pod_template) {
            found = rs;
        }
    }
    if (found.is_null()) {
        std::string hash = template_hash(pod_template);
        std::string rs_name = name + "-" + hash;
        while (store_.get(replicasets(), ns, rs_name)) {
            rs_name = name + "-" + hash + store_.random_suffix(1);  // a hash collision
        }
        json labels = pod_template["metadata"].value("labels", json::object());
        labels[hash_key] = hash;
        json rs_template = pod_template;
        rs_template["metadata"]["labels"] = labels;
        json selector = d["spec"].value("selector", json::object());
        selector["matchLabels"][hash_key] = hash;
        json owner = {
            {"apiVersion", "apps/v1"},     {"kind", "Deployment"}, {"name", name},
            {"uid", d["metadata"]["uid"]}, {"controller", true},   {"blockOwnerDeletion", true}};
        json rs = {{"metadata",
                    {{"name", rs_name},
                     {"namespace", ns},
                     {"labels", labels},
                     {"annotations", replicaset_annotations(d, max_revision + 1, nullptr)},
                     {"ownerReferences", json::array({owner})}}},
                   {"spec", {{"replicas", 0}, {"selector", selector}, {"template", rs_template}}},
                   {"status", {{"replicas", 0}}}};
        note = {"NewReplicaSetCreated", fmt::format("Created new replica set \"{}\"", rs_name)};
        log_.debug("fake_k8s_new_replicaset", {{"deployment", key_of(ns, name)},
                                               {"replicaset", rs_name},
                                               {"revision", max_revision + 1}});
        return store_.create(replicasets(), std::move(rs));
    }
    json annotations = found["metadata"].value("annotations", json::object());
    if (revision_of(found) < max_revision) {
        // A rollback: the older ReplicaSet becomes the newest revision, remembering its old one.
        std::string history = annotations.value(history_key, "");
        history += (history.empty() ? "" : ",") + std::to_string(revision_of(found));
        json updated = replicaset_annotations(d, max_revision + 1, annotations);
        updated[history_key] = history;
        found["metadata"]["annotations"] = updated;
        note = {"FoundNewReplicaSet",
                fmt::format("Found new replica set \"{}\"", found["metadata"].value("name", ""))};
        return store_.replace(replicasets(), found);
    }
    if (spec_changed) {
        json updated = replicaset_annotations(d, revision_of(found), annotations);
        if (updated != annotations) {
            found["metadata"]["annotations"] = updated;
            return store_.replace(replicasets(), found);
        }
    }
    return found;
}

bool cluster_sim::scale_replicasets(const json& d, const std::string& new_name) {
    const json& spec = d["spec"];
    bool resized = false;
    const int desired = spec.value("replicas", 1);
    auto owned = owned_replicasets(d);
    auto find_new = [&] {
        for (const auto& rs : owned) {
            if (rs["metadata"]["name"] == new_name) {
                return rs;
            }
        }
        return json();
    };
    json new_rs = find_new();
    const json strategy = spec.value("strategy", json::object());
    if (strategy.value("type", "RollingUpdate") == "Recreate") {
        bool old_left = false;
        for (const auto& rs : owned) {
            if (rs["metadata"]["name"] != new_name) {
                old_left = old_left || pod_count(rs) > 0;
                resized |= scale_replicaset(rs, 0, d);
            }
        }
        if (!old_left) {
            resized |= scale_replicaset(new_rs, desired, d);
        }
        return resized;
    }
    const json rolling = strategy.value("rollingUpdate", json::object());
    int surge = resolve_int_or_percent(rolling.value("maxSurge", json("25%")), desired, true, 25);
    int unavailable =
        resolve_int_or_percent(rolling.value("maxUnavailable", json("25%")), desired, false, 25);
    if (surge == 0 && unavailable == 0) {
        unavailable = 1;
    }
    // Up: the new ReplicaSet grows while the total stays within desired + maxSurge.
    int new_replicas = new_rs["spec"].value("replicas", 0);
    if (new_replicas > desired) {
        resized |= scale_replicaset(new_rs, desired, d);
    } else if (new_replicas < desired) {
        int total = 0;
        for (const auto& rs : owned) {
            total += rs["spec"].value("replicas", 0);
        }
        int grow = std::min(desired + surge - total, desired - new_replicas);
        if (grow > 0) {
            resized |= scale_replicaset(new_rs, new_replicas + grow, d);
        }
    }
    // Down: old ReplicaSets shrink while availability stays at desired - maxUnavailable; old
    // pods that are not ready go first.
    owned = owned_replicasets(d);
    new_rs = find_new();
    int all_pods = 0;
    int available = 0;
    for (const auto& rs : owned) {
        all_pods += pod_count(rs);
        available += ready_count(rs);
    }
    int min_available = desired - unavailable;
    int new_unavailable = new_rs["spec"].value("replicas", 0) - ready_count(new_rs);
    int max_scaled_down = all_pods - min_available - new_unavailable;
    if (max_scaled_down <= 0) {
        return resized;
    }
    for (const auto& rs : owned) {
        if (rs["metadata"]["name"] == new_name || max_scaled_down <= 0) {
            continue;
        }
        int replicas = rs["spec"].value("replicas", 0);
        int cut = std::min(replicas - ready_count(rs), max_scaled_down);
        if (cut > 0) {
            resized |= scale_replicaset(rs, replicas - cut, d);
            max_scaled_down -= cut;
        }
    }
    owned = owned_replicasets(d);
    int scale_down = available - min_available;
    for (const auto& rs : owned) {
        if (rs["metadata"]["name"] == new_name || scale_down <= 0) {
            continue;
        }
        int replicas = rs["spec"].value("replicas", 0);
        int cut = std::min(replicas, scale_down);
        if (cut > 0) {
            resized |= scale_replicaset(rs, replicas - cut, d);
            scale_down -= cut;
        }
    }
    return resized;
}

bool cluster_sim::update_status(json& d, const std::string& new_name, const progress_note& note,
                                bool first_observation, deployment_sim& ds, mono_time now) {
    const json& spec = d["spec"];
    const int desired = spec.value("replicas", 1);
    const bool paused = spec.value("paused", false);
    const std::string stamp = now_text();
    const json old_status = d["status"];
    int replicas = 0;
    int ready = 0;
    int spec_total = 0;
    int updated = 0;
    for (const auto& rs : owned_replicasets(d)) {
        int pods = pod_count(rs);
        replicas += pods;
        ready += ready_count(rs);
        spec_total += rs["spec"].value("replicas", 0);
        if (rs["metadata"]["name"] == new_name) {
            updated = pods;
        }
    }
    // Pods count as available once ready (minReadySeconds 0).
    const int available = ready;
    json& status = d["status"];
    status["observedGeneration"] = d["metadata"].value("generation", 1LL);
    put_counter(status, "replicas", replicas);
    put_counter(status, "updatedReplicas", updated);
    put_counter(status, "readyReplicas", ready);
    put_counter(status, "availableReplicas", available);
    put_counter(status, "unavailableReplicas", std::max(0, spec_total - available));

    int max_unavailable = resolve_int_or_percent(spec.value("strategy", json::object())
                                                     .value("rollingUpdate", json::object())
                                                     .value("maxUnavailable", json("25%")),
                                                 desired, false, 25);
    json& conditions = status["conditions"];
    if (available >= desired - max_unavailable) {
        set_condition(conditions, "Available", "True", "MinimumReplicasAvailable",
                      "Deployment has minimum availability.", stamp, false);
    } else {
        set_condition(conditions, "Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.", stamp, false);
    }
    // The controller's DeploymentComplete and DeploymentProgressing.
    const bool complete = updated == desired && replicas == desired && available == desired;
    int old_before = old_status.value("replicas", 0) - old_status.value("updatedReplicas", 0);
    bool progressed = updated > old_status.value("updatedReplicas", 0) ||
                      replicas - updated < old_before ||
                      ready > old_status.value("readyReplicas", 0) ||
                      available > old_status.value("availableReplicas", 0) || !note.reason.empty();
    const int deadline = spec.value("progressDeadlineSeconds", 600);
    // A finished rollout never times out; the next template change starts a new one.
    const bool finished = current_progress_reason(d) == "NewReplicaSetAvailable";
    if (paused) {
        set_condition(conditions, "Progressing", "Unknown", "DeploymentPaused",
                      "Deployment is paused", stamp, false);
    } else if (complete) {
        set_condition(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                      fmt::format("ReplicaSet \"{}\" has successfully progressed.", new_name),
                      stamp, false);
    } else if (progressed || first_observation) {
        ds.last_progress = now;
        if (!note.reason.empty()) {
            set_condition(conditions, "Progressing", "True", note.reason, note.message, stamp,
                          true);
        } else {
            set_condition(conditions, "Progressing", "True", "ReplicaSetUpdated",
                          fmt::format("ReplicaSet \"{}\" is progressing.", new_name), stamp, true);
        }
    } else if (!finished && now >= ds.last_progress + scaled(deadline)) {
        if (!rollout_deadline_exceeded(d)) {
            log_.debug("fake_k8s_deadline_exceeded",
                       {{"deployment", d["metadata"].value("name", "")}});
        }
        set_condition(conditions, "Progressing", "False", "ProgressDeadlineExceeded",
                      fmt::format("ReplicaSet \"{}\" has timed out progressing.", new_name), stamp,
                      false);
    }
    // Available first, then Progressing, as the controller writes them.
    std::stable_sort(conditions.begin(), conditions.end(), [](const json& a, const json& b) {
        return a.value("type", "") == "Available" && b.value("type", "") != "Available";
    });
    return !paused && !complete && !rollout_deadline_exceeded(d) &&
           current_progress_reason(d) != "NewReplicaSetAvailable";
}

void cluster_sim::reconcile(const std::string& ns, const std::string& name, mono_time now,
                            bool instant) {
    const json* stored = store_.get(deployments(), ns, name);
    if (!stored) {
        deployments_.erase(key_of(ns, name));
        return;
    }
    auto& ds = deployments_[key_of(ns, name)];
    ds.due.reset();
    if (ds.last_progress == mono_time{}) {
        ds.last_progress = now;
    }
    json d = *stored;
    json& status = d["status"];
    if (!status.is_object()) {
        status = json::object();
    }
    if (!status.contains("conditions")) {
        status["conditions"] = json::array();
    }
    const bool first_observation = !status.contains("observedGeneration");
    const bool spec_changed =
        d["metadata"].value("generation", 1LL) != status.value("observedGeneration", 0LL);
    if (spec_changed) {
        ds.last_progress = now;
    }

    progress_note note;
    json new_rs = new_replicaset(d, spec_changed, note);
    const std::string new_name = new_rs["metadata"].value("name", "");
    d["metadata"]["annotations"][revision_key] = std::to_string(revision_of(new_rs));
    // A resized ReplicaSet is a change the controller sees again, as the real one does through
    // its ReplicaSet informer; otherwise the next step would wait for the progress deadline.
    if (!d["spec"].value("paused", false) && scale_replicasets(d, new_name)) {
        schedule_deployment(ns, name, now + scaled(observe_delay));
    }
    for (const auto& rs : owned_replicasets(d)) {
        sync_pods(rs, d, instant, now);
    }
    for (const auto& rs : owned_replicasets(d)) {
        write_replicaset_status(rs);
    }
    cleanup_history(d);
    bool watch_deadline = update_status(d, new_name, note, first_observation, ds, now);
    store_.replace(deployments(), d);
    if (watch_deadline) {
        const int deadline = d["spec"].value("progressDeadlineSeconds", 600);
        schedule_deployment(ns, name, ds.last_progress + scaled(deadline));
    }
}

void cluster_sim::sync_pods(const json& rs, const json& d, bool instant, mono_time now) {
    std::string ns = rs["metadata"].value("namespace", "");
    std::string name = rs["metadata"].value("name", "");
    int want = rs["spec"].value("replicas", 0);
    auto pods = pods_of_replicaset(ns, name);
    for (int have = static_cast<int>(pods.size()); have < want; ++have) {
        create_pod(rs, d, instant, now);
    }
    if (static_cast<int>(pods.size()) > want) {
        // Not-ready pods go first, then the newest, as the ReplicaSet controller ranks them.
        std::stable_sort(pods.begin(), pods.end(), [](const pod_sim* a, const pod_sim* b) {
            if (a->ready() != b->ready()) {
                return !a->ready();
            }
            return a->start_time > b->start_time;
        });
        std::vector<std::string> victims;
        for (std::size_t i = 0; i + want < pods.size(); ++i) {
            victims.push_back(pods[i]->name);
        }
        for (const auto& v : victims) {
            delete_pod(ns, v, &rs);
        }
    }
}

void cluster_sim::create_pod(const json& rs, const json& d, bool instant, mono_time now) {
    const std::string ns = rs["metadata"].value("namespace", "");
    const std::string rs_name = rs["metadata"].value("name", "");
    std::string name;
    do {
        name = rs_name + "-" + store_.random_suffix(5);
    } while (store_.get(pods(), ns, name));
    const json& tmpl = rs["spec"]["template"];
    json meta = {{"name", name},
                 {"generateName", rs_name + "-"},
                 {"namespace", ns},
                 {"labels", tmpl["metadata"].value("labels", json::object())},
                 {"ownerReferences",
                  {{{"apiVersion", "apps/v1"},
                    {"kind", "ReplicaSet"},
                    {"name", rs_name},
                    {"uid", rs["metadata"]["uid"]},
                    {"controller", true},
                    {"blockOwnerDeletion", true}}}}};
    if (tmpl["metadata"].contains("annotations")) {
        meta["annotations"] = tmpl["metadata"]["annotations"];
    }
    json spec = tmpl.value("spec", json::object());
    if (!spec.contains("serviceAccountName")) {
        spec["serviceAccountName"] = "default";
    }
    const json& created =
        store_.create(pods(), {{"metadata", meta},
                               {"spec", spec},
                               {"status", {{"phase", "Pending"}, {"qosClass", "BestEffort"}}}});

    pod_sim p;
    p.ns = ns;
    p.name = name;
    p.uid = created["metadata"].value("uid", "");
    p.replicaset = rs_name;
    p.deployment = d["metadata"].value("name", "");
    p.sequence = ++next_pod_;
    for (const auto& c : spec.value("containers", json::array())) {
        container_sim cs;
        cs.name = c.value("name", "");
        cs.image = c.value("image", "");
        cs.scenario = scenario_for_image(cs.image);
        p.unschedulable = p.unschedulable || cs.scenario == pod_scenario::unschedulable;
        p.containers.push_back(std::move(cs));
    }
    p.due = now + scaled(schedule_delay);
    record_event({{"kind", "ReplicaSet"},
                  {"namespace", ns},
                  {"name", rs_name},
                  {"uid", rs["metadata"]["uid"]},
                  {"apiVersion", "apps/v1"}},
                 "Normal", "SuccessfulCreate", "Created pod: " + name, "replicaset-controller");
    auto& slot = pods_[key_of(ns, name)] = std::move(p);
    if (instant) {
        make_ready_now(slot, now);
    }
    write_pod(slot, now);
}

// Seeded pods: already scheduled and, for healthy scenarios, running and ready.
void cluster_sim::make_ready_now(pod_sim& p, mono_time now) {
    if (p.unschedulable) {
        return;
    }
    step_pod(p, now);  // schedules it
    for (auto& c : p.containers) {
        bool healthy = c.scenario == pod_scenario::success || c.scenario == pod_scenario::slow;
        if (!healthy) {
            continue;
        }
        start_container(p, c, now, true);
        c.ready = true;
        c.due.reset();
    }
}

void cluster_sim::delete_pod(const std::string& ns, const std::string& name, const json* rs) {
    auto it = pods_.find(key_of(ns, name));
    if (it != pods_.end()) {
        for (const auto& c : it->second.containers) {
            if (c.stage == container_stage::running) {
                record_event(container_ref(it->second, c), "Normal", "Killing",
                             "Stopping container " + c.name, "kubelet", it->second.node);
            }
        }
        pods_.erase(it);
    }
    store_.remove(pods(), ns, name);
    if (rs) {
        record_event({{"kind", "ReplicaSet"},
                      {"namespace", ns},
                      {"name", (*rs)["metadata"]["name"]},
                      {"uid", (*rs)["metadata"]["uid"]},
                      {"apiVersion", "apps/v1"}},
                     "Normal", "SuccessfulDelete", "Deleted pod: " + name, "replicaset-controller");
    }
    if (on_logs) {
        on_logs();  // followers of the pod's logs end
    }
}

void cluster_sim::write_replicaset_status(const json& rs) {
    json updated = rs;
    std::string ns = rs["metadata"].value("namespace", "");
    auto pods = pods_of_replicaset(ns, rs["metadata"].value("name", ""));
    int ready = 0;
    for (auto* p : pods) {
        ready += p->ready() ? 1 : 0;
    }
    json status = {{"replicas", static_cast<int>(pods.size())},
                   {"observedGeneration", rs["metadata"].value("generation", 1LL)}};
    put_counter(status, "fullyLabeledReplicas", static_cast<int>(pods.size()));
    put_counter(status, "readyReplicas", ready);
    put_counter(status, "availableReplicas", ready);
    updated["status"] = status;
    store_.replace(replicasets(), std::move(updated));
}

void cluster_sim::cleanup_history(const json& d) {
    int limit = d["spec"].value("revisionHistoryLimit", 10);
    auto owned = owned_replicasets(d);
    std::vector<json> idle;
    int newest = 0;
    for (const auto& rs : owned) {
        newest = std::max(newest, revision_of(rs));
    }
    for (const auto& rs : owned) {
        std::string ns = rs["metadata"].value("namespace", "");
        if (revision_of(rs) != newest && rs["spec"].value("replicas", 0) == 0 &&
            pods_of_replicaset(ns, rs["metadata"].value("name", "")).empty()) {
            idle.push_back(rs);
        }
    }
    for (std::size_t i = 0; i + limit < idle.size(); ++i) {
        store_.remove(replicasets(), idle[i]["metadata"].value("namespace", ""),
                      idle[i]["metadata"].value("name", ""));
    }
}

void cluster_sim::object_deleted(const resource_type& r, const json& last, mono_time now) {
    std::string ns = last["metadata"].value("namespace", "");
    std::string name = last["metadata"].value("name", "");
    if (&r == &pods()) {
        auto it = pods_.find(key_of(ns, name));
        if (it != pods_.end()) {
            std::string deployment = it->second.deployment;
            pods_.erase(it);
            if (!deployment.empty()) {
                schedule_deployment(ns, deployment, now);
            }
        }
        if (on_logs) {
            on_logs();
        }
        return;
    }
    if (&r == &deployments()) {
        // Background cascading deletion: the garbage collector removes dependents.
        std::string uid = last["metadata"].value("uid", "");
        std::vector<json> doomed;
        for (const json* rs : store_.list(replicasets(), ns)) {
            for (const auto& ref : (*rs)["metadata"].value("ownerReferences", json::array())) {
                if (ref.value("uid", "") == uid) {
                    doomed.push_back(*rs);
                    break;
                }
            }
        }
        for (const auto& rs : doomed) {
            if (auto gone = store_.remove(replicasets(), ns, rs["metadata"].value("name", ""))) {
                object_deleted(replicasets(), *gone, now);
            }
        }
        deployments_.erase(key_of(ns, name));
        return;
    }
    if (&r == &replicasets()) {
        std::vector<std::string> doomed;
        for (auto& [key, p] : pods_) {
            if (p.ns == ns && p.replicaset == name) {
                doomed.push_back(p.name);
            }
        }
        for (const auto& pod : doomed) {
            delete_pod(ns, pod, nullptr);
        }
        for (const auto& ref : last["metadata"].value("ownerReferences", json::array())) {
            if (ref.value("kind", "") == "Deployment") {
                schedule_deployment(ns, ref.value("name", ""), now);
            }
        }
    }
}

// ---- kubelet ----

json cluster_sim::container_ref(const pod_sim& p, const container_sim& c) const {
    return {{"kind", "Pod"},      {"namespace", p.ns},
            {"name", p.name},     {"uid", p.uid},
            {"apiVersion", "v1"}, {"fieldPath", fmt::format("spec.containers{{{}}}", c.name)}};
}

void cluster_sim::append_log(container_sim& c, std::vector<std::string> lines) {
    auto now = std::chrono::system_clock::now();
    for (std::size_t i = 0; i < lines.size(); ++i) {
        // Distinct, increasing timestamps keep the order visible with timestamps=true.
        c.log.current.push_back({now + std::chrono::microseconds(i), std::move(lines[i])});
    }
    if (on_logs) {
        on_logs();
    }
}

void cluster_sim::start_container(pod_sim& p, container_sim& c, mono_time now, bool first) {
    const std::string host = p.node;
    const json ref = container_ref(p, c);
    if (first) {
        record_event(ref, "Normal", "Pulling", fmt::format("Pulling image \"{}\"", c.image),
                     "kubelet", host);
        record_event(ref, "Normal", "Pulled",
                     fmt::format("Successfully pulled image \"{}\" in 1.042s (1.042s including "
                                 "waiting)",
                                 c.image),
                     "kubelet", host);
    } else {
        record_event(ref, "Normal", "Pulled",
                     fmt::format("Container image \"{}\" already present on machine", c.image),
                     "kubelet", host);
    }
    record_event(ref, "Normal", "Created", "Created container " + c.name, "kubelet", host);
    record_event(ref, "Normal", "Started", "Started container " + c.name, "kubelet", host);
    if (c.ever_started) {
        c.log.previous = std::move(c.log.current);
        c.log.has_previous = true;
        c.log.current.clear();
    }
    ++c.log.run;
    c.log.ended = false;
    c.stage = container_stage::running;
    c.ever_started = true;
    c.ready = false;
    c.started_at = std::chrono::system_clock::now();
    c.container_id = "containerd://" + store_.random_hex(64);
    c.waiting_message.clear();

    std::string stamp = rfc3339(c.started_at);
    std::string tag = image_tag(c.image);
    std::vector<std::string> lines = {
        fmt::format("{} INFO starting {} version={} pid=1", stamp, c.name, tag),
        fmt::format("{} INFO loaded configuration from /etc/{}/config.yaml", stamp, c.name),
    };
    double next = ready_time;
    switch (c.scenario) {
        case pod_scenario::crash_loop:
            lines.push_back(fmt::format("{} INFO connecting to database host={}-db.{}.svc:5432",
                                        stamp, c.name, p.ns));
            next = crash_after;
            break;
        case pod_scenario::oom_killed:
            lines.push_back(fmt::format("{} INFO warming cache entries=2500000", stamp));
            next = crash_after;
            break;
        case pod_scenario::slow:
            lines.push_back(fmt::format("{} INFO warming cache entries=2500000", stamp));
            lines.push_back(fmt::format("{} INFO listening on 0.0.0.0:8080", stamp));
            next = ready_time * slow_factor;
            break;
        default:
            lines.push_back(fmt::format("{} INFO connected to database host={}-db.{}.svc:5432",
                                        stamp, c.name, p.ns));
            lines.push_back(fmt::format("{} INFO listening on 0.0.0.0:8080", stamp));
            break;
    }
    append_log(c, std::move(lines));
    c.due = now + scaled(next);
}

void cluster_sim::enter_pull_error(pod_sim& p, container_sim& c, mono_time now) {
    std::string ref = full_image(c.image);
    c.stage = container_stage::pull_error;
    c.waiting_message = fmt::format(
        "rpc error: code = NotFound desc = failed to pull and unpack image \"{}\": failed to "
        "resolve reference \"{}\": {}: not found",
        ref, ref, ref);
    json cref = container_ref(p, c);
    record_event(cref, "Normal", "Pulling", fmt::format("Pulling image \"{}\"", c.image), "kubelet",
                 p.node);
    record_event(cref, "Warning", "Failed",
                 fmt::format("Failed to pull image \"{}\": {}", c.image, c.waiting_message),
                 "kubelet", p.node);
    record_event(cref, "Warning", "Failed", "Error: ErrImagePull", "kubelet", p.node);
    c.due = now + scaled(pull_error_time);
}

void cluster_sim::step_pod(pod_sim& p, mono_time now) {
    p.due.reset();
    if (p.scheduled) {
        return;
    }
    json ref = {{"kind", "Pod"},
                {"namespace", p.ns},
                {"name", p.name},
                {"uid", p.uid},
                {"apiVersion", "v1"}};
    ++p.scheduling_attempts;
    if (p.unschedulable) {
        record_event(ref, "Warning", "FailedScheduling",
                     "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are "
                     "available: 3 No preemption victims found for incoming pod.",
                     "default-scheduler");
        p.due = now + scaled(retry_period * 3);
        return;
    }
    int node = next_node_++ % 3 + 1;
    p.scheduled = true;
    p.node = fmt::format("node-{}", node);
    p.host_ip = fmt::format("10.0.0.{}", node + 10);
    p.pod_ip = fmt::format("10.244.{}.{}", node, next_ip_++ % 250 + 2);
    p.start_time = std::chrono::system_clock::now();
    record_event(ref, "Normal", "Scheduled",
                 fmt::format("Successfully assigned {}/{} to {}", p.ns, p.name, p.node),
                 "default-scheduler");
    for (auto& c : p.containers) {
        double t = c.scenario == pod_scenario::slow ? create_time * slow_factor : create_time;
        c.due = now + scaled(t);
    }
}

void cluster_sim::step_container(pod_sim& p, container_sim& c, mono_time now) {
    c.due.reset();
    json ref = container_ref(p, c);
    switch (c.stage) {
        case container_stage::creating:
            if (c.scenario == pod_scenario::image_pull) {
                enter_pull_error(p, c, now);
            } else if (c.scenario == pod_scenario::config_error) {
                c.stage = container_stage::config_error;
                c.waiting_message = fmt::format("secret \"{}-secrets\" not found",
                                                p.deployment.empty() ? c.name : p.deployment);
                record_event(ref, "Warning", "Failed", "Error: " + c.waiting_message, "kubelet",
                             p.node);
                c.due = now + scaled(retry_period);
            } else {
                start_container(p, c, now, !c.ever_started);
            }
            return;
        case container_stage::pull_error:
            c.stage = container_stage::pull_backoff;
            c.waiting_message = fmt::format("Back-off pulling image \"{}\"", c.image);
            ++c.failures;
            record_event(ref, "Normal", "BackOff", c.waiting_message, "kubelet", p.node);
            record_event(ref, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", p.node);
            c.due = now + scaled(backoff_seconds(c.failures));
            return;
        case container_stage::pull_backoff:
            if (c.scenario == pod_scenario::image_pull) {
                enter_pull_error(p, c, now);
            } else {
                c.stage = container_stage::creating;
                c.due = now;
            }
            return;
        case container_stage::config_error:
            if (c.scenario == pod_scenario::config_error) {
                record_event(ref, "Warning", "Failed", "Error: " + c.waiting_message, "kubelet",
                             p.node);
                c.due = now + scaled(retry_period);
            } else {
                start_container(p, c, now, !c.ever_started);
            }
            return;
        case container_stage::running:
            switch (c.scenario) {
                case pod_scenario::crash_loop:
                case pod_scenario::oom_killed: {
                    bool oom = c.scenario == pod_scenario::oom_killed;
                    auto finished = std::chrono::system_clock::now();
                    std::string stamp = rfc3339(finished);
                    if (!oom) {
                        append_log(c,
                                   {fmt::format("{} ERROR could not connect to {}-db.{}.svc:5432: "
                                                "connection refused",
                                                stamp, c.name, p.ns),
                                    "Traceback (most recent call last):",
                                    "  File \"/app/server.py\", line 88, in <module>", "    main()",
                                    "  File \"/app/server.py\", line 61, in main",
                                    "    db = connect(settings.DATABASE_URL)",
                                    "  File \"/app/db.py\", line 23, in connect",
                                    "    raise ConnectionError(f\"could not connect to {host}: "
                                    "connection refused\")",
                                    fmt::format("ConnectionError: could not connect to "
                                                "{}-db.{}.svc:5432: connection refused",
                                                c.name, p.ns)});
                    }
                    c.last_terminated = {{"exitCode", oom ? 137 : 1},
                                         {"reason", oom ? "OOMKilled" : "Error"},
                                         {"startedAt", rfc3339(c.started_at)},
                                         {"finishedAt", stamp},
                                         {"containerID", c.container_id}};
                    c.log.ended = true;
                    ++c.restarts;
                    ++c.failures;
                    c.ready = false;
                    c.stage = container_stage::crash_backoff;
                    double backoff = backoff_seconds(c.failures);
                    c.waiting_message =
                        fmt::format("back-off {}s restarting failed container={} pod={}_{}({})",
                                    static_cast<int>(backoff), c.name, p.name, p.ns, p.uid);
                    record_event(ref, "Warning", "BackOff",
                                 fmt::format("Back-off restarting failed container {} in pod "
                                             "{}_{}({})",
                                             c.name, p.name, p.ns, p.uid),
                                 "kubelet", p.node);
                    c.due = now + scaled(backoff);
                    if (on_logs) {
                        on_logs();
                    }
                    return;
                }
                case pod_scenario::never_ready:
                    c.ready = false;
                    record_event(ref, "Warning", "Unhealthy",
                                 "Readiness probe failed: HTTP probe failed with statuscode: 503",
                                 "kubelet", p.node);
                    c.due = now + scaled(retry_period);
                    return;
                default:
                    c.ready = true;
                    c.failures = 0;
                    return;
            }
        case container_stage::crash_backoff: start_container(p, c, now, false); return;
    }
}

json cluster_sim::pod_status(const pod_sim& p) const {
    json status = {{"qosClass", "BestEffort"}};
    if (!p.scheduled) {
        status["phase"] = "Pending";
        if (p.scheduling_attempts > 0) {
            status["conditions"] = {
                {{"type", "PodScheduled"},
                 {"status", "False"},
                 {"lastProbeTime", nullptr},
                 {"lastTransitionTime", now_text()},
                 {"reason", "Unschedulable"},
                 {"message",
                  "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are "
                  "available: 3 No preemption victims found for incoming pod."}}};
        }
        return status;
    }
    bool all_started = std::all_of(p.containers.begin(), p.containers.end(),
                                   [](const container_sim& c) { return c.ever_started; });
    status["phase"] = all_started ? "Running" : "Pending";
    std::string since = rfc3339(p.ready_changed);
    std::string started = rfc3339(p.start_time);
    std::vector<std::string> unready;
    for (const auto& c : p.containers) {
        if (!c.ready) {
            unready.push_back(c.name);
        }
    }
    auto ready_condition = [&](const char* type) {
        json c = {{"type", type},
                  {"status", unready.empty() ? "True" : "False"},
                  {"lastProbeTime", nullptr},
                  {"lastTransitionTime", since}};
        if (!unready.empty()) {
            c["reason"] = "ContainersNotReady";
            c["message"] =
                fmt::format("containers with unready status: [{}]", fmt::join(unready, " "));
        }
        return c;
    };
    status["conditions"] = {{{"type", "Initialized"},
                             {"status", "True"},
                             {"lastProbeTime", nullptr},
                             {"lastTransitionTime", started}},
                            ready_condition("Ready"),
                            ready_condition("ContainersReady"),
                            {{"type", "PodScheduled"},
                             {"status", "True"},
                             {"lastProbeTime", nullptr},
                             {"lastTransitionTime", started}}};
    status["hostIP"] = p.host_ip;
    status["podIP"] = p.pod_ip;
    status["podIPs"] = {{{"ip", p.pod_ip}}};
    status["startTime"] = started;
    json statuses = json::array();
    for (const auto& c : p.containers) {
        json cs = {{"name", c.name},
                   {"ready", c.ready},
                   {"restartCount", c.restarts},
                   {"image", c.image},
                   {"imageID", c.ever_started ? image_id(c.image) : ""},
                   {"started", c.stage == container_stage::running}};
        if (!c.container_id.empty()) {
            cs["containerID"] = c.container_id;
        }
        switch (c.stage) {
            case container_stage::creating:
                cs["state"] = {{"waiting", {{"reason", "ContainerCreating"}}}};
                break;
            case container_stage::pull_error:
                cs["state"] = {
                    {"waiting", {{"reason", "ErrImagePull"}, {"message", c.waiting_message}}}};
                break;
            case container_stage::pull_backoff:
                cs["state"] = {
                    {"waiting", {{"reason", "ImagePullBackOff"}, {"message", c.waiting_message}}}};
                break;
            case container_stage::config_error:
                cs["state"] = {
                    {"waiting",
                     {{"reason", "CreateContainerConfigError"}, {"message", c.waiting_message}}}};
                break;
            case container_stage::running:
                cs["state"] = {{"running", {{"startedAt", rfc3339(c.started_at)}}}};
                break;
            case container_stage::crash_backoff:
                cs["state"] = {
                    {"waiting", {{"reason", "CrashLoopBackOff"}, {"message", c.waiting_message}}}};
                break;
        }
        cs["lastState"] =
            c.last_terminated.is_null() ? json::object() : json{{"terminated", c.last_terminated}};
        statuses.push_back(std::move(cs));
    }
    status["containerStatuses"] = statuses;
    return status;
}

void cluster_sim::write_pod(pod_sim& p, mono_time now) {
    const json* stored = store_.get(pods(), p.ns, p.name);
    if (!stored) {
        return;
    }
    bool ready = p.ready();
    if (ready != p.was_ready || p.ready_changed == wall_time{}) {
        p.ready_changed = std::chrono::system_clock::now();
    }
    json updated = *stored;
    if (p.scheduled) {
        updated["spec"]["nodeName"] = p.node;
    }
    // Keep transition times stable: only a change of readiness moves them.
    json status = pod_status(p);
    if (!p.scheduled && stored->contains("status") && (*stored)["status"].contains("conditions") &&
        status.contains("conditions")) {
        status["conditions"][0]["lastTransitionTime"] =
            (*stored)["status"]["conditions"][0].value("lastTransitionTime", now_text());
    }
    updated["status"] = status;
    store_.replace(pods(), std::move(updated));
    if (ready != p.was_ready) {
        p.was_ready = ready;
        if (!p.deployment.empty()) {
            schedule_deployment(p.ns, p.deployment, now);
        }
    }
}

bool cluster_sim::set_pod_scenario(const std::string& ns, const std::string& pod,
                                   pod_scenario scenario, const std::string& container,
                                   mono_time now) {
    auto it = pods_.find(key_of(ns, pod));
    if (it == pods_.end()) {
        return false;
    }
    pod_sim& p = it->second;
    bool found = false;
    for (auto& c : p.containers) {
        if (!container.empty() && c.name != container) {
            continue;
        }
        found = true;
        c.scenario = scenario;
        switch (c.stage) {
            case container_stage::running:
                // Crash, turn unready or become ready at once.
                c.due = now;
                break;
            case container_stage::pull_error:
            case container_stage::pull_backoff:
            case container_stage::config_error:
                if (scenario != pod_scenario::image_pull &&
                    scenario != pod_scenario::config_error) {
                    c.stage = container_stage::creating;
                }
                c.due = now;
                break;
            case container_stage::crash_backoff:
            case container_stage::creating: c.due = now; break;
        }
    }
    if (scenario == pod_scenario::unschedulable && !p.scheduled) {
        p.unschedulable = true;
    }
    return found;
}

const pod_sim* cluster_sim::find_pod(const std::string& ns, const std::string& name) const {
    auto it = pods_.find(key_of(ns, name));
    return it == pods_.end() ? nullptr : &it->second;
}

container_log* cluster_sim::log_of(const std::string& ns, const std::string& pod,
                                   const std::string& container) {
    auto it = pods_.find(key_of(ns, pod));
    if (it == pods_.end()) {
        return nullptr;
    }
    for (auto& c : it->second.containers) {
        if (c.name == container) {
            return &c.log;
        }
    }
    return nullptr;
}

void cluster_sim::logs_changed() {
    if (on_logs) {
        on_logs();
    }
}

void cluster_sim::record_event(const json& involved, const std::string& type,
                               const std::string& reason, const std::string& message,
                               const std::string& component, const std::string& host) {
    std::string ns = involved.value("namespace", "");
    if (ns.empty()) {
        ns = "default";
    }
    std::string index_key = involved.value("uid", "") + "|" + involved.value("fieldPath", "") +
                            "|" + type + "|" + reason + "|" + message;
    std::string stamp = now_text();
    json source = {{"component", component}};
    if (!host.empty()) {
        source["host"] = host;
    }
    if (auto it = event_index_.find(index_key); it != event_index_.end()) {
        auto slash = it->second.find('/');
        if (const json* existing =
                store_.get(events(), it->second.substr(0, slash), it->second.substr(slash + 1))) {
            json e = *existing;
            e["count"] = e.value("count", 1) + 1;
            e["lastTimestamp"] = stamp;
            store_.replace(events(), std::move(e));
            return;
        }
    }
    std::string name = involved.value("name", "") + "." + store_.random_hex(16);
    json e = {{"metadata", {{"name", name}, {"namespace", ns}}},
              {"involvedObject", involved},
              {"reason", reason},
              {"message", message},
              {"source", source},
              {"firstTimestamp", stamp},
              {"lastTimestamp", stamp},
              {"count", 1},
              {"type", type},
              {"eventTime", nullptr},
              {"reportingComponent", component},
              {"reportingInstance", host}};
    store_.create(events(), std::move(e));
    event_index_[index_key] = key_of(ns, name);
}

// ---- time ----

void cluster_sim::advance(mono_time now) {
    // Bounded: each round handles what is due; a reconcile may make more things due at `now`.
    for (int round = 0; round < 100; ++round) {
        bool any = false;
        std::vector<std::string> keys;
        for (const auto& [key, p] : pods_) {
            keys.push_back(key);
        }
        for (const auto& key : keys) {
            auto it = pods_.find(key);
            if (it == pods_.end()) {
                continue;
            }
            pod_sim& p = it->second;
            bool changed = false;
            if (p.due && *p.due <= now) {
                step_pod(p, now);
                changed = true;
            }
            for (auto& c : p.containers) {
                if (c.due && *c.due <= now) {
                    step_container(p, c, now);
                    changed = true;
                }
            }
            if (changed) {
                any = true;
                write_pod(p, now);
            }
        }
        std::vector<std::string> due;
        for (const auto& [key, ds] : deployments_) {
            if (ds.due && *ds.due <= now) {
                due.push_back(key);
            }
        }
        for (const auto& key : due) {
            auto slash = key.find('/');
            reconcile(key.substr(0, slash), key.substr(slash + 1), now, false);
            any = true;
        }
        if (!any) {
            return;
        }
    }
}

std::optional<mono_time> cluster_sim::next_due() const {
    std::optional<mono_time> next;
    auto consider = [&](const std::optional<mono_time>& t) {
        if (t && (!next || *t < *next)) {
            next = t;
        }
    };
    for (const auto& [key, p] : pods_) {
        consider(p.due);
        for (const auto& c : p.containers) {
            consider(c.due);
        }
    }
    for (const auto& [key, ds] : deployments_) {
        consider(ds.due);
    }
    return next;
}

}  // namespace tugboat::sandbox::kube

namespace tugboat::sandbox {

std::string_view to_string(pod_scenario s) noexcept {
    switch (s) {
        case pod_scenario::success: return "success";
        case pod_scenario::slow: return "slow";
        case pod_scenario::image_pull: return "image_pull";
        case pod_scenario::crash_loop: return "crash_loop";
        case pod_scenario::oom_killed: return "oom_killed";
        case pod_scenario::unschedulable: return "unschedulable";
        case pod_scenario::config_error: return "config_error";
        case pod_scenario::never_ready: return "never_ready";
    }
    return "success";
}

pod_scenario scenario_for_image(std::string_view image) {
    std::string tag = kube::image_tag(std::string(image));
    std::transform(tag.begin(), tag.end(), tag.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto has = [&](std::string_view word) { return tag.find(word) != std::string::npos; };
    if (has("imagepull")) {
        return pod_scenario::image_pull;
    }
    if (has("crash")) {
        return pod_scenario::crash_loop;
    }
    if (has("oom")) {
        return pod_scenario::oom_killed;
    }
    if (has("pending") || has("unschedulable")) {
        return pod_scenario::unschedulable;
    }
    if (has("configerror")) {
        return pod_scenario::config_error;
    }
    if (has("slow")) {
        return pod_scenario::slow;
    }
    if (has("deadline") || has("notready")) {
        return pod_scenario::never_ready;
    }
    return pod_scenario::success;
}

}  // namespace tugboat::sandbox
