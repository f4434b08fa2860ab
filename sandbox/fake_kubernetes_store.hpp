#pragma once

// Internal to the fake Kubernetes API server: the resource catalogue, the versioned object
// store with its watch history, label/field selectors, the three patch flavours and Status
// errors. Objects are kept as the JSON the API serves, so what tests read is what clients get.
// Included only by sandbox/fake_kubernetes*.cpp and their tests.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tugboat::sandbox::kube {

using json = nlohmann::json;
using wall_time = std::chrono::system_clock::time_point;

// ---- time ----

/// "2024-05-01T10:00:00Z" (metav1.Time).
std::string rfc3339(wall_time t);
/// "2024-05-01T10:00:00.123456Z" (metav1.MicroTime).
std::string rfc3339_micro(wall_time t);
/// "2024-05-01T10:00:00.123456789Z", as kubelet prefixes log lines.
std::string rfc3339_nano(wall_time t);
/// Parses RFC 3339 with optional fraction and "Z" or "±hh:mm"; nullopt when malformed.
std::optional<wall_time> parse_rfc3339(std::string_view text);

// ---- resources ----

/// One kind of object the fake serves.
struct resource_type {
    std::string group;     ///< "" for the core group
    std::string version;   ///< "v1"
    std::string resource;  ///< plural, as in URLs
    std::string kind;
    bool namespaced = true;
    bool has_generation = false;            ///< metadata.generation counts spec changes
    bool status_subresource = false;        ///< writes to the object keep the stored status
    std::vector<std::string> field_labels;  ///< beyond metadata.name and metadata.namespace

    std::string api_version() const { return group.empty() ? version : group + "/" + version; }
    /// "deployments.apps", "pods": how messages name the resource.
    std::string qualified() const { return group.empty() ? resource : resource + "." + group; }
};

/// The resource served at /api(s)/{group}/{version}/.../{plural}, or null.
const resource_type* find_resource(std::string_view group, std::string_view version,
                                   std::string_view plural);
/// The resource with this plural (any group), or null.
const resource_type* find_resource(std::string_view plural);
/// Shorthands for the resources the simulator writes.
const resource_type& namespaces();
const resource_type& pods();
const resource_type& events();
const resource_type& deployments();
const resource_type& replicasets();

// ---- errors ----

/// A failed API call: becomes a Status object with `code`.
struct api_error {
    int code = 500;
    std::string reason;
    std::string message;
    json details;  ///< null or an object
};

/// The Status JSON for `e` (kind Status, status Failure).
json to_status(const api_error& e);
api_error not_found(const resource_type& r, std::string_view name);
api_error already_exists(const resource_type& r, std::string_view name);
api_error conflict(const resource_type& r, std::string_view name);
api_error bad_request(std::string message);
/// 422 Invalid with one cause per (field, message).
api_error invalid(const resource_type& r, std::string_view name,
                  const std::vector<std::pair<std::string, std::string>>& causes);

/// Value or api_error.
template <class T>
class outcome {
public:
    outcome(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
    outcome(api_error e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT: implicit
    bool ok() const noexcept { return v_.index() == 0; }
    T& value() { return std::get<0>(v_); }
    const api_error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, api_error> v_;
};

// ---- selectors ----

struct label_requirement {
    enum class op { equals, not_equals, in, not_in, exists, not_exists };
    std::string key;
    op operation = op::equals;
    std::vector<std::string> values;
};
using label_selector = std::vector<label_requirement>;

/// Parses "app=web,tier!=db,env in (a,b),env notin (c),release,!canary".
outcome<label_selector> parse_label_selector(std::string_view text);
/// Whether `labels` (an object, or null) satisfies every requirement.
bool matches(const label_selector& selector, const json& labels);
/// The selector `key=value,…` for a matchLabels object.
label_selector from_match_labels(const json& match_labels);

struct field_requirement {
    std::string field;
    bool negate = false;
    std::string value;
};
using field_selector = std::vector<field_requirement>;

/// Parses "metadata.name=api,status.phase!=Running" against the fields `r` supports; an
/// unsupported field is a 400 like the real server's.
outcome<field_selector> parse_field_selector(std::string_view text, const resource_type& r);
bool matches(const field_selector& selector, const json& object);

// ---- patches ----

/// Applies a PATCH body of the given Content-Type (json-patch, merge-patch, strategic merge
/// patch) to `current`. 400 for unparsable bodies, 415 for other types, 422 when a JSON patch
/// operation fails.
outcome<json> apply_patch(const json& current, std::string_view content_type,
                          std::string_view body);
/// Strategic merge: like a merge patch, but lists of known fields (containers, env, ports,
/// volumes, …) merge element-wise by their key, and `$patch: delete|replace` directives work.
json strategic_merge(json target, const json& patch);

// ---- the store ----

enum class change_type { added, modified, deleted };
std::string_view to_string(change_type t) noexcept;

/// One change, as watches replay it.
struct history_entry {
    std::uint64_t rv = 0;
    change_type type = change_type::added;
    const resource_type* resource = nullptr;
    json object;    ///< after the change (the last state for deletions)
    json previous;  ///< before the change; null for additions
};

/// Every object of the cluster with one increasing resourceVersion counter and a bounded
/// history of changes.
class object_store {
public:
    explicit object_store(std::size_t history_limit, std::uint64_t seed = 1);

    /// The latest resourceVersion handed out.
    std::uint64_t revision() const noexcept { return revision_; }
    /// History covers changes with rv in (compacted(), revision()]; older ones are gone.
    std::uint64_t compacted() const noexcept { return compacted_; }
    const std::deque<history_entry>& history() const noexcept { return history_; }
    /// Forgets the whole history (every earlier resourceVersion becomes too old).
    void compact();
    /// How many times compact() ran; list continue tokens from before a compaction expire.
    std::uint64_t compactions() const noexcept { return compactions_; }

    const json* get(const resource_type& r, std::string_view ns, std::string_view name) const;
    /// Objects in key order (namespace, name); `ns` "" = every namespace.
    std::vector<const json*> list(const resource_type& r, std::string_view ns = {}) const;

    /// Stores a new object (the caller checked that the name is free): fills uid,
    /// resourceVersion, creationTimestamp (unless set) and generation.
    const json& create(const resource_type& r, json object);
    /// Replaces an existing object, keeping uid and creationTimestamp; bumps generation when
    /// the spec changed. Nothing happens (no new resourceVersion, no event) when the object
    /// is unchanged. Returns the stored object.
    const json& replace(const resource_type& r, json object);
    /// Removes an object; returns its last state (with the deletion's resourceVersion).
    std::optional<json> remove(const resource_type& r, std::string_view ns, std::string_view name);

    /// A random RFC 4122 style uid.
    std::string make_uid();
    /// `n` characters from Kubernetes' name alphabet (no vowels), as in pod name suffixes.
    std::string random_suffix(std::size_t n);
    std::string random_hex(std::size_t n);

    /// Called after every change.
    std::function<void()> on_change;

private:
    using bucket = std::map<std::pair<std::string, std::string>, json>;
    void record(change_type type, const resource_type& r, json object, json previous);

    std::map<std::string, bucket> objects_;  // by resource_type::qualified()
    std::deque<history_entry> history_;
    std::size_t history_limit_;
    std::uint64_t revision_ = 0;
    std::uint64_t compacted_ = 0;
    std::uint64_t compactions_ = 0;
    std::mt19937_64 rng_;
};

/// Kubernetes' name alphabet (consonants and digits without look-alikes).
inline constexpr std::string_view name_alphabet = "bcdfghjklmnpqrstvwxz2456789";

/// The pod-template-hash of a template, computed like the deployment controller does:
/// FNV-32a over the template, its decimal value mapped onto name_alphabet.
std::string template_hash(const json& pod_template);

/// metadata.<key> as a string map (labels, annotations), empty when absent.
std::map<std::string, std::string> string_map(const json& object, std::string_view key);

}  // namespace tugboat::sandbox::kube
