#include "sandbox/fake_kubernetes_store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace tugboat::sandbox::kube {

// ---- time ----

namespace {

std::string format_time(wall_time t, int fraction_digits) {
    using namespace std::chrono;
    auto secs = time_point_cast<seconds>(t);
    if (secs > t) {
        secs -= seconds{1};
    }
    auto nanos = duration_cast<nanoseconds>(t - secs).count();
    std::time_t tt = system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (fraction_digits == 6) {
        out += fmt::format(".{:06}", nanos / 1000);
    } else if (fraction_digits == 9) {
        out += fmt::format(".{:09}", nanos);
    }
    return out + "Z";
}

}  // namespace

std::string rfc3339(wall_time t) {
    return format_time(t, 0);
}
std::string rfc3339_micro(wall_time t) {
    return format_time(t, 6);
}
std::string rfc3339_nano(wall_time t) {
    return format_time(t, 9);
}

std::optional<wall_time> parse_rfc3339(std::string_view s) {
    std::tm tm{};
    int consumed = 0;
    std::string text(s);
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
        consumed != 19) {
        return std::nullopt;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    std::size_t i = 19;
    std::chrono::nanoseconds fraction{0};
    if (i < text.size() && text[i] == '.') {
        ++i;
        long long value = 0;
        int digits = 0;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
            if (digits < 9) {
                value = value * 10 + (text[i] - '0');
                ++digits;
            }
            ++i;
        }
        for (; digits < 9; ++digits) {
            value *= 10;
        }
        fraction = std::chrono::nanoseconds{value};
    }
    std::chrono::seconds offset{0};
    if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
        ++i;
    } else if (i + 6 == text.size() && (text[i] == '+' || text[i] == '-')) {
        int h = 0;
        int m = 0;
        if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &h, &m) != 2) {
            return std::nullopt;
        }
        offset = std::chrono::seconds{(h * 3600 + m * 60) * (text[i] == '+' ? 1 : -1)};
        i += 6;
    } else {
        return std::nullopt;
    }
    if (i != text.size()) {
        return std::nullopt;
    }
    std::time_t tt = timegm(&tm);
    auto t = std::chrono::system_clock::from_time_t(tt) - offset;
    return t + std::chrono::duration_cast<std::chrono::system_clock::duration>(fraction);
}

// ---- resources ----

namespace {

const std::vector<resource_type>& catalogue() {
    static const std::vector<resource_type> types = [] {
        std::vector<resource_type> v;
        v.push_back({"", "v1", "namespaces", "Namespace", false, false, false, {"status.phase"}});
        v.push_back({"",
                     "v1",
                     "pods",
                     "Pod",
                     true,
                     false,
                     true,
                     {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                      "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
                      "status.nominatedNodeName"}});
        v.push_back(
            {"",
             "v1",
             "events",
             "Event",
             true,
             false,
             false,
             {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}});
        v.push_back({"", "v1", "configmaps", "ConfigMap", true, false, false, {}});
        v.push_back({"apps", "v1", "deployments", "Deployment", true, true, true, {}});
        v.push_back(
            {"apps", "v1", "replicasets", "ReplicaSet", true, true, true, {"status.replicas"}});
        v.push_back({"rbac.authorization.k8s.io",
                     "v1",
                     "rolebindings",
                     "RoleBinding",
                     true,
                     false,
                     false,
                     {}});
        v.push_back({"rbac.authorization.k8s.io",
                     "v1",
                     "clusterrolebindings",
                     "ClusterRoleBinding",
                     false,
                     false,
                     false,
                     {}});
        v.push_back({"rbac.authorization.k8s.io", "v1", "roles", "Role", true, false, false, {}});
        v.push_back({"rbac.authorization.k8s.io",
                     "v1",
                     "clusterroles",
                     "ClusterRole",
                     false,
                     false,
                     false,
                     {}});
        v.push_back({"coordination.k8s.io", "v1", "leases", "Lease", true, false, false, {}});
        return v;
    }();
    return types;
}

}  // namespace

const resource_type* find_resource(std::string_view group, std::string_view version,
                                   std::string_view plural) {
    for (const auto& r : catalogue()) {
        if (r.group == group && r.version == version && r.resource == plural) {
            return &r;
        }
    }
    return nullptr;
}

const resource_type* find_resource(std::string_view plural) {
    for (const auto& r : catalogue()) {
        if (r.resource == plural) {
            return &r;
        }
    }
    return nullptr;
}

const resource_type& namespaces() {
    return *find_resource("namespaces");
}
const resource_type& pods() {
    return *find_resource("pods");
}
const resource_type& events() {
    return *find_resource("events");
}
const resource_type& deployments() {
    return *find_resource("deployments");
}
const resource_type& replicasets() {
    return *find_resource("replicasets");
}

// ---- errors ----

namespace {

json details_for(const resource_type& r, std::string_view name) {
    json d = json::object();
    if (!name.empty()) {
        d["name"] = name;
    }
    if (!r.group.empty()) {
        d["group"] = r.group;
    }
    d["kind"] = r.resource;
    return d;
}

}  // namespace

json to_status(const api_error& e) {
    json s = {{"kind", "Status"},    {"apiVersion", "v1"},   {"metadata", json::object()},
              {"status", "Failure"}, {"message", e.message}, {"reason", e.reason}};
    if (!e.details.is_null()) {
        s["details"] = e.details;
    }
    s["code"] = e.code;
    return s;
}

api_error not_found(const resource_type& r, std::string_view name) {
    return {404, "NotFound", fmt::format("{} \"{}\" not found", r.qualified(), name),
            details_for(r, name)};
}

api_error already_exists(const resource_type& r, std::string_view name) {
    return {409, "AlreadyExists", fmt::format("{} \"{}\" already exists", r.qualified(), name),
            details_for(r, name)};
}

api_error conflict(const resource_type& r, std::string_view name) {
    return {409, "Conflict",
            fmt::format("Operation cannot be fulfilled on {} \"{}\": the object has been "
                        "modified; please apply your changes to the latest version and try again",
                        r.qualified(), name),
            details_for(r, name)};
}

api_error bad_request(std::string message) {
    return {400, "BadRequest", std::move(message), nullptr};
}

api_error invalid(const resource_type& r, std::string_view name,
                  const std::vector<std::pair<std::string, std::string>>& causes) {
    json d = details_for(r, name);
    d["kind"] = r.kind;
    json list = json::array();
    std::string summary;
    for (const auto& [field, message] : causes) {
        list.push_back({{"reason", "FieldValueInvalid"}, {"message", message}, {"field", field}});
        summary += (summary.empty() ? "" : ", ") + field + ": " + message;
    }
    d["causes"] = list;
    return {422, "Invalid",
            fmt::format("{}{} \"{}\" is invalid: {}", r.kind, r.group.empty() ? "" : "." + r.group,
                        name, summary),
            d};
}

// ---- label selectors ----

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.remove_suffix(1);
    }
    return s;
}

// Splits on commas outside parentheses.
std::vector<std::string_view> split_terms(std::string_view text) {
    std::vector<std::string_view> out;
    int depth = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || (text[i] == ',' && depth == 0)) {
            out.push_back(trim(text.substr(start, i - start)));
            start = i + 1;
        } else if (text[i] == '(') {
            ++depth;
        } else if (text[i] == ')') {
            --depth;
        }
    }
    return out;
}

bool valid_label_key(std::string_view key) {
    if (key.empty()) {
        return false;
    }
    return std::all_of(key.begin(), key.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
               c == '/';
    });
}

// Label values: empty, or up to 63 alphanumerics, '-', '_', '.', starting and ending
// alphanumeric.
bool valid_label_value(std::string_view v) {
    if (v.empty()) {
        return true;
    }
    auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
    return v.size() <= 63 && alnum(v.front()) && alnum(v.back()) &&
           std::all_of(v.begin(), v.end(),
                       [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

std::string label_value(const json& labels, const std::string& key, bool& present) {
    present = false;
    if (!labels.is_object()) {
        return {};
    }
    auto it = labels.find(key);
    if (it == labels.end() || !it->is_string()) {
        return {};
    }
    present = true;
    return it->get<std::string>();
}

}  // namespace

outcome<label_selector> parse_label_selector(std::string_view text) {
    label_selector out;
    if (trim(text).empty()) {
        return out;
    }
    for (auto term : split_terms(text)) {
        auto fail = [&] {
            return bad_request(fmt::format(
                "unable to parse requirement: found '{}', expected one of: key=value, key!=value, "
                "key in (a,b), key notin (a), key, !key",
                term));
        };
        if (term.empty()) {
            return fail();
        }
        label_requirement req;
        if (term.front() == '!') {
            req.key = std::string(trim(term.substr(1)));
            req.operation = label_requirement::op::not_exists;
        } else if (auto p = term.find(" notin ");
                   p != std::string_view::npos ||
                   (p = term.find(" in ")) != std::string_view::npos) {
            bool notin = term.substr(p, 7) == " notin ";
            req.key = std::string(trim(term.substr(0, p)));
            req.operation = notin ? label_requirement::op::not_in : label_requirement::op::in;
            auto rest = trim(term.substr(p + (notin ? 7 : 4)));
            if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') {
                return fail();
            }
            rest = rest.substr(1, rest.size() - 2);
            while (true) {
                auto comma = rest.find(',');
                auto v = trim(rest.substr(0, comma));
                if (!v.empty()) {
                    req.values.emplace_back(v);
                }
                if (comma == std::string_view::npos) {
                    break;
                }
                rest.remove_prefix(comma + 1);
            }
        } else if (auto ne = term.find("!="); ne != std::string_view::npos) {
            req.key = std::string(trim(term.substr(0, ne)));
            req.operation = label_requirement::op::not_equals;
            req.values.emplace_back(trim(term.substr(ne + 2)));
        } else if (auto eq = term.find('='); eq != std::string_view::npos) {
            req.key = std::string(trim(term.substr(0, eq)));
            req.operation = label_requirement::op::equals;
            auto value = term.substr(eq + 1);
            if (!value.empty() && value.front() == '=') {
                value.remove_prefix(1);
            }
            req.values.emplace_back(trim(value));
        } else {
            req.key = std::string(term);
            req.operation = label_requirement::op::exists;
        }
        if (!valid_label_key(req.key) ||
            !std::all_of(req.values.begin(), req.values.end(),
                         [](const std::string& v) { return valid_label_value(v); })) {
            return fail();
        }
        out.push_back(std::move(req));
    }
    return out;
}

bool matches(const label_selector& selector, const json& labels) {
    for (const auto& req : selector) {
        bool present = false;
        std::string value = label_value(labels, req.key, present);
        auto in_values = [&] {
            return std::find(req.values.begin(), req.values.end(), value) != req.values.end();
        };
        switch (req.operation) {
            case label_requirement::op::equals:
                if (!present || value != req.values.front()) {
                    return false;
                }
                break;
            case label_requirement::op::not_equals:
                if (present && value == req.values.front()) {
                    return false;
                }
                break;
            case label_requirement::op::in:
                if (!present || !in_values()) {
                    return false;
                }
                break;
            case label_requirement::op::not_in:
                if (present && in_values()) {
                    return false;
                }
                break;
            case label_requirement::op::exists:
                if (!present) {
                    return false;
                }
                break;
            case label_requirement::op::not_exists:
                if (present) {
                    return false;
                }
                break;
        }
    }
    return true;
}

label_selector from_match_labels(const json& match_labels) {
    label_selector out;
    if (!match_labels.is_object()) {
        return out;
    }
    for (auto it = match_labels.begin(); it != match_labels.end(); ++it) {
        out.push_back({it.key(), label_requirement::op::equals, {it->get<std::string>()}});
    }
    return out;
}

// ---- field selectors ----

outcome<field_selector> parse_field_selector(std::string_view text, const resource_type& r) {
    field_selector out;
    if (trim(text).empty()) {
        return out;
    }
    for (auto term : split_terms(text)) {
        field_requirement req;
        std::size_t op = term.find("!=");
        std::size_t value_at = 0;
        if (op != std::string_view::npos) {
            req.negate = true;
            value_at = op + 2;
        } else if ((op = term.find("==")) != std::string_view::npos) {
            value_at = op + 2;
        } else if ((op = term.find('=')) != std::string_view::npos) {
            value_at = op + 1;
        } else {
            return bad_request(
                fmt::format("invalid selector: '{}'; can't understand '{}'", text, term));
        }
        req.field = std::string(trim(term.substr(0, op)));
        req.value = std::string(trim(term.substr(value_at)));
        bool known = req.field == "metadata.name" || req.field == "metadata.namespace" ||
                     std::find(r.field_labels.begin(), r.field_labels.end(), req.field) !=
                         r.field_labels.end();
        if (!known) {
            return bad_request(fmt::format("field label not supported: {}", req.field));
        }
        out.push_back(std::move(req));
    }
    return out;
}

namespace {

std::string field_value(const json& object, const std::string& field) {
    // Events' "source" selects on the reporting component.
    std::string path = field == "source" ? "source.component" : field;
    const json* at = &object;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto dot = path.find('.', start);
        auto key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (!at->is_object() || !at->contains(key)) {
            return {};
        }
        at = &(*at)[key];
        if (dot == std::string::npos) {
            break;
        }
        start = dot + 1;
    }
    if (at->is_string()) {
        return at->get<std::string>();
    }
    if (at->is_boolean()) {
        return at->get<bool>() ? "true" : "false";
    }
    if (at->is_number()) {
        return at->dump();
    }
    return {};
}

}  // namespace

bool matches(const field_selector& selector, const json& object) {
    for (const auto& req : selector) {
        bool equal = field_value(object, req.field) == req.value;
        if (equal == req.negate) {
            return false;
        }
    }
    return true;
}

// ---- patches ----

namespace {

// Merge keys of the list fields the strategic merge patch merges element-wise (from the
// patchMergeKey tags of k8s.io/api); other lists are replaced.
std::string_view merge_key(std::string_view field) {
    static const std::map<std::string_view, std::string_view> keys = {
        {"containers", "name"},
        {"initContainers", "name"},
        {"ephemeralContainers", "name"},
        {"env", "name"},
        {"ports", "containerPort"},
        {"volumeMounts", "mountPath"},
        {"volumes", "name"},
        {"imagePullSecrets", "name"},
        {"conditions", "type"},
        {"ownerReferences", "uid"},
        {"hostAliases", "ip"},
        {"volumeDevices", "devicePath"},
    };
    auto it = keys.find(field);
    return it == keys.end() ? std::string_view{} : it->second;
}

std::string media_type(std::string_view content_type) {
    auto semi = content_type.find(';');
    std::string out(trim(content_type.substr(0, semi)));
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

}  // namespace

json strategic_merge(json target, const json& patch) {
    if (!patch.is_object()) {
        return patch;
    }
    if (auto d = patch.find("$patch"); d != patch.end() && *d == "replace") {
        json replacement = patch;
        replacement.erase("$patch");
        return replacement;
    }
    if (!target.is_object()) {
        target = json::object();
    }
    for (auto it = patch.begin(); it != patch.end(); ++it) {
        const std::string& key = it.key();
        if (!key.empty() && key.front() == '$') {
            continue;  // $retainKeys, $setElementOrder/…: ordering hints the fake ignores
        }
        const json& value = it.value();
        if (value.is_null()) {
            target.erase(key);
            continue;
        }
        auto mk = merge_key(key);
        if (value.is_array() && !mk.empty() && target.contains(key) && target[key].is_array()) {
            json& list = target[key];
            std::string mkey(mk);
            for (const auto& element : value) {
                if (!element.is_object() || !element.contains(mkey)) {
                    list.push_back(element);
                    continue;
                }
                auto match = std::find_if(list.begin(), list.end(), [&](const json& existing) {
                    return existing.is_object() && existing.contains(mkey) &&
                           existing[mkey] == element[mkey];
                });
                bool remove = element.contains("$patch") && element["$patch"] == "delete";
                if (remove) {
                    if (match != list.end()) {
                        list.erase(match);
                    }
                } else if (match != list.end()) {
                    *match = strategic_merge(*match, element);
                } else {
                    json added = element;
                    added.erase("$patch");
                    list.push_back(std::move(added));
                }
            }
            continue;
        }
        if (value.is_object()) {
            json base = target.contains(key) ? target[key] : json::object();
            target[key] = strategic_merge(std::move(base), value);
            continue;
        }
        target[key] = value;
    }
    return target;
}

outcome<json> apply_patch(const json& current, std::string_view content_type,
                          std::string_view body) {
    std::string type = media_type(content_type);
    json patch = json::parse(body, nullptr, false);
    if (type == "application/json-patch+json") {
        if (patch.is_discarded() || !patch.is_array()) {
            return bad_request(
                "the JSON patch must be an array of operations, e.g. "
                "[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":2}]");
        }
        try {
            return current.patch(patch);
        } catch (const json::exception& e) {
            return api_error{422, "Invalid", std::string("the JSON patch failed: ") + e.what(),
                             nullptr};
        }
    }
    if (type == "application/merge-patch+json" ||
        type == "application/strategic-merge-patch+json") {
        if (patch.is_discarded() || !patch.is_object()) {
            return bad_request("the patch body is not a JSON object");
        }
        if (type == "application/merge-patch+json") {
            json out = current;
            out.merge_patch(patch);
            return out;
        }
        return strategic_merge(current, patch);
    }
    return api_error{415, "UnsupportedMediaType",
                     fmt::format("the body of the request was in an unknown format - accepted "
                                 "media types include: application/json-patch+json, "
                                 "application/merge-patch+json, "
                                 "application/strategic-merge-patch+json (got \"{}\")",
                                 type),
                     nullptr};
}

// ---- store ----

std::string_view to_string(change_type t) noexcept {
    switch (t) {
        case change_type::added: return "ADDED";
        case change_type::modified: return "MODIFIED";
        case change_type::deleted: return "DELETED";
    }
    return "MODIFIED";
}

object_store::object_store(std::size_t history_limit, std::uint64_t seed)
    : history_limit_(std::max<std::size_t>(history_limit, 1)), rng_(seed) {}

void object_store::compact() {
    history_.clear();
    compacted_ = revision_;
    ++compactions_;
}

const json* object_store::get(const resource_type& r, std::string_view ns,
                              std::string_view name) const {
    auto b = objects_.find(r.qualified());
    if (b == objects_.end()) {
        return nullptr;
    }
    auto it = b->second.find({r.namespaced ? std::string(ns) : std::string(), std::string(name)});
    return it == b->second.end() ? nullptr : &it->second;
}

std::vector<const json*> object_store::list(const resource_type& r, std::string_view ns) const {
    std::vector<const json*> out;
    auto b = objects_.find(r.qualified());
    if (b == objects_.end()) {
        return out;
    }
    for (const auto& [key, object] : b->second) {
        if (ns.empty() || !r.namespaced || key.first == ns) {
            out.push_back(&object);
        }
    }
    return out;
}

void object_store::record(change_type type, const resource_type& r, json object, json previous) {
    history_.push_back({revision_, type, &r, std::move(object), std::move(previous)});
    while (history_.size() > history_limit_) {
        compacted_ = history_.front().rv;
        history_.pop_front();
    }
    if (on_change) {
        on_change();
    }
}

const json& object_store::create(const resource_type& r, json object) {
    auto& meta = object["metadata"];
    std::string ns = r.namespaced ? meta.value("namespace", "") : "";
    std::string name = meta.value("name", "");
    if (!r.namespaced) {
        meta.erase("namespace");
    }
    object["apiVersion"] = r.api_version();
    object["kind"] = r.kind;
    meta["uid"] = make_uid();
    meta["resourceVersion"] = std::to_string(++revision_);
    if (!meta.contains("creationTimestamp") || meta["creationTimestamp"].is_null()) {
        meta["creationTimestamp"] = rfc3339(std::chrono::system_clock::now());
    }
    if (r.has_generation) {
        meta["generation"] = 1;
    }
    auto& slot = objects_[r.qualified()][{ns, name}];
    slot = std::move(object);
    record(change_type::added, r, slot, nullptr);
    return slot;
}

const json& object_store::replace(const resource_type& r, json object) {
    auto& meta = object["metadata"];
    std::string ns = r.namespaced ? meta.value("namespace", "") : "";
    std::string name = meta.value("name", "");
    auto& slot = objects_[r.qualified()][{ns, name}];
    const auto& old_meta = slot["metadata"];
    meta["uid"] = old_meta["uid"];
    meta["creationTimestamp"] = old_meta["creationTimestamp"];
    object["apiVersion"] = r.api_version();
    object["kind"] = r.kind;
    if (r.has_generation) {
        long long generation = old_meta.value("generation", 1LL);
        if (object.value("spec", json::object()) != slot.value("spec", json::object())) {
            ++generation;
        }
        meta["generation"] = generation;
    }
    meta["resourceVersion"] = old_meta["resourceVersion"];
    if (object == slot) {
        return slot;
    }
    meta["resourceVersion"] = std::to_string(++revision_);
    json previous = std::move(slot);
    slot = std::move(object);
    record(change_type::modified, r, slot, std::move(previous));
    return slot;
}

std::optional<json> object_store::remove(const resource_type& r, std::string_view ns,
                                         std::string_view name) {
    auto b = objects_.find(r.qualified());
    if (b == objects_.end()) {
        return std::nullopt;
    }
    auto it = b->second.find({r.namespaced ? std::string(ns) : std::string(), std::string(name)});
    if (it == b->second.end()) {
        return std::nullopt;
    }
    json last = std::move(it->second);
    b->second.erase(it);
    json previous = last;
    last["metadata"]["resourceVersion"] = std::to_string(++revision_);
    record(change_type::deleted, r, last, std::move(previous));
    return last;
}

std::string object_store::make_uid() {
    std::string hex = random_hex(32);
    return fmt::format("{}-{}-4{}-a{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 3),
                       hex.substr(15, 3), hex.substr(18, 12));
}

std::string object_store::random_suffix(std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += name_alphabet[rng_() % name_alphabet.size()];
    }
    return out;
}

std::string object_store::random_hex(std::size_t n) {
    static constexpr std::string_view digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[rng_() % 16];
    }
    return out;
}

std::string template_hash(const json& pod_template) {
    std::uint32_t h = 2166136261u;
    for (unsigned char c : pod_template.dump()) {
        h ^= c;
        h *= 16777619u;
    }
    std::string decimal = std::to_string(h);
    std::string out;
    for (unsigned char c : decimal) {
        out += name_alphabet[c % name_alphabet.size()];
    }
    return out;
}

std::map<std::string, std::string> string_map(const json& object, std::string_view key) {
    std::map<std::string, std::string> out;
    if (!object.contains("metadata")) {
        return out;
    }
    const auto& meta = object["metadata"];
    auto it = meta.find(std::string(key));
    if (it == meta.end() || !it->is_object()) {
        return out;
    }
    for (auto e = it->begin(); e != it->end(); ++e) {
        if (e->is_string()) {
            out[e.key()] = e->get<std::string>();
        }
    }
    return out;
}

}  // namespace tugboat::sandbox::kube
