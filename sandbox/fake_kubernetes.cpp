#include "sandbox/fake_kubernetes.hpp"

#include "sandbox/fake_kubernetes_sim.hpp"
#include "sandbox/fake_kubernetes_store.hpp"
#include "sandbox/test_ca.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <list>

namespace tugboat::sandbox {

namespace asio = boost::asio;
using kube::api_error;
using kube::json;
using kube::mono_time;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// ---- small helpers ----

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

std::string base64url_encode(std::string_view bytes) {
    std::string out = base64_encode(bytes);
    for (auto& c : out) {
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    while (!out.empty() && out.back() == '=') {
        out.pop_back();
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        int v = -1;
        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '+' || c == '-') {
            v = 62;
        } else if (c == '/' || c == '_') {
            v = 63;
        } else if (c == '=') {
            break;
        } else {
            return std::nullopt;
        }
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    return out;
}

std::optional<long long> to_number(const std::optional<std::string>& text) {
    if (!text || text->empty()) {
        return std::nullopt;
    }
    try {
        std::size_t used = 0;
        long long v = std::stoll(*text, &used);
        if (used != text->size()) {
            return std::nullopt;
        }
        return v;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

bool truthy(const std::optional<std::string>& v) {
    return v && (*v == "1" || *v == "true" || *v == "True");
}

/// A parsed API path.
struct api_path {
    const kube::resource_type* resource = nullptr;
    std::string group;
    std::string version;
    std::string ns;
    std::string name;
    std::string subresource;
    bool access_review = false;  ///< authorization.k8s.io selfsubjectaccessreviews
};

std::vector<std::string> split(std::string_view path) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        auto part = path.substr(start, slash == std::string_view::npos ? path.npos : slash - start);
        if (!part.empty()) {
            out.emplace_back(part);
        }
        if (slash == std::string_view::npos) {
            break;
        }
        start = slash + 1;
    }
    return out;
}

std::optional<api_path> parse_api_path(std::string_view path) {
    auto seg = split(path);
    api_path out;
    std::size_t i = 0;
    if (seg.size() >= 2 && seg[0] == "api") {
        out.version = seg[1];
        i = 2;
    } else if (seg.size() >= 3 && seg[0] == "apis") {
        out.group = seg[1];
        out.version = seg[2];
        i = 3;
    } else {
        return std::nullopt;
    }
    std::vector<std::string> rest(seg.begin() + static_cast<std::ptrdiff_t>(i), seg.end());
    if (out.group == "authorization.k8s.io" && out.version == "v1" && rest.size() == 1 &&
        rest[0] == "selfsubjectaccessreviews") {
        out.access_review = true;
        return out;
    }
    if (rest.size() >= 3 && rest[0] == "namespaces") {
        out.ns = rest[1];
        rest.erase(rest.begin(), rest.begin() + 2);
    }
    if (rest.empty() || rest.size() > 3) {
        return std::nullopt;
    }
    out.resource = kube::find_resource(out.group, out.version, rest[0]);
    if (!out.resource) {
        return std::nullopt;
    }
    if (rest.size() >= 2) {
        out.name = rest[1];
    }
    if (rest.size() == 3) {
        out.subresource = rest[2];
    }
    // A namespace in the path of a cluster-scoped resource names nothing.
    if (!out.resource->namespaced && !out.ns.empty()) {
        return std::nullopt;
    }
    if (out.resource->namespaced && out.ns.empty() && !out.name.empty()) {
        return std::nullopt;
    }
    return out;
}

api_error unknown_path() {
    return {404, "NotFound", "the server could not find the requested resource", json::object()};
}

api_error method_not_allowed() {
    return {405, "MethodNotAllowed",
            "the server does not allow this method on the requested resource", json::object()};
}

std::string subject_string(const json& s) {
    std::string kind = s.value("kind", "");
    if (kind == "ServiceAccount") {
        return kind + ":" + s.value("namespace", "") + "/" + s.value("name", "");
    }
    return kind + ":" + s.value("name", "");
}

}  // namespace

// A watch, log follower or wait_until waiting for the cluster to change.
struct k8s_waiter {
    explicit k8s_waiter(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    bool signalled = false;
    bool drop = false;  // reset the connection (watches only)
    bool end = false;   // end the stream cleanly
    bool is_watch = false;
};

struct fake_kubernetes::state : std::enable_shared_from_this<fake_kubernetes::state> {
    state(asio::any_io_executor ex, fake_kubernetes_options opts)
        : executor(ex),
          options(std::move(opts)),
          store(options.watch_history, std::hash<std::string>{}(options.name)),
          sim(store, options.speed, log()),
          sim_timer(ex),
          token(options.token) {}

    core::logger& log() { return options.log ? *options.log : core::null_logger(); }

    asio::any_io_executor executor;
    fake_kubernetes_options options;
    std::shared_ptr<asio::ssl::context> tls;
    std::optional<http_server> server;
    std::uint16_t port = 0;
    std::vector<recorded_request> past_requests;
    kube::object_store store;
    kube::cluster_sim sim;
    asio::steady_timer sim_timer;
    std::optional<mono_time> sim_armed_at;
    std::string token;
    bool shut_down = false;

    enum class fault_kind { delay, drop, too_many, status };
    struct fault {
        fault_kind kind;
        int remaining;  // -1 = until cleared
        std::string prefix;
        int status = 0;
        int retry_after = 1;
        std::chrono::milliseconds delay{0};
    };
    std::vector<fault> faults;
    struct forbid_rule {
        std::string prefix;
        std::string verb;
    };
    std::vector<forbid_rule> forbidden;
    int force_gone = 0;
    std::list<k8s_waiter*> waiters;
    std::size_t bindings_created = 0;
    std::size_t bindings_deleted = 0;

    // ---- plumbing ----

    void notify_all() {
        for (auto* w : waiters) {
            w->signalled = true;
            w->timer.cancel();
        }
    }

    /// Arms the simulator's timer for its next due step.
    void schedule_sim() {
        if (shut_down) {
            return;
        }
        auto next = sim.next_due();
        if (!next) {
            sim_armed_at.reset();
            sim_timer.cancel();
            return;
        }
        if (sim_armed_at && *sim_armed_at == *next) {
            return;
        }
        sim_armed_at = *next;
        sim_timer.expires_at(*next);
        std::weak_ptr<state> weak = shared_from_this();
        sim_timer.async_wait([weak](const boost::system::error_code& ec) {
            if (ec) {
                return;
            }
            auto self = weak.lock();
            if (!self || self->shut_down) {
                return;
            }
            self->sim_armed_at.reset();
            self->sim.advance(steady::now());
            self->schedule_sim();
        });
    }

    /// Runs what is due now (after a write) and re-arms the timer.
    void kick_sim() {
        sim.advance(steady::now());
        schedule_sim();
    }

    std::optional<fault> take_fault(fault_kind kind, const std::string& path) {
        for (auto it = faults.begin(); it != faults.end(); ++it) {
            if (it->kind != kind || !starts_with(path, it->prefix)) {
                continue;
            }
            fault f = *it;
            if (it->remaining > 0 && --it->remaining == 0) {
                faults.erase(it);
            }
            return f;
        }
        return std::nullopt;
    }

    static http_headers common_headers() {
        return {{"Cache-Control", "no-cache, private"},
                {"X-Kubernetes-Pf-Flowschema-Uid", "6f0a3c52-1d4e-4c1a-9a53-tugboatflows"},
                {"X-Kubernetes-Pf-Prioritylevel-Uid", "0b7f1c1e-5d2a-4f7b-8e21-tugboatlevel"}};
    }

    asio::awaitable<void> respond(request_context& ctx, int status, const json& body,
                                  http_headers extra = {}) {
        auto headers = common_headers();
        headers.insert(headers.end(), extra.begin(), extra.end());
        headers.emplace_back("Audit-Id", store.make_uid());
        co_await ctx.respond_json(status, body.dump(), std::move(headers));
    }

    asio::awaitable<void> respond_error(request_context& ctx, const api_error& e,
                                        http_headers extra = {}) {
        co_await respond(ctx, e.code, kube::to_status(e), std::move(extra));
    }

    /// The authenticated user, or nullopt (401).
    std::optional<std::string> authenticate(const request_context& ctx) const {
        if (ctx.client() && !ctx.client()->common_name.empty()) {
            return ctx.client()->common_name;
        }
        auto auth = ctx.header("Authorization");
        if (auth && starts_with(*auth, "Bearer ") && auth->substr(7) == token && !token.empty()) {
            return options.token_user;
        }
        return std::nullopt;
    }

    bool is_forbidden(const std::string& path, const std::string& verb) const {
        return std::any_of(forbidden.begin(), forbidden.end(), [&](const forbid_rule& r) {
            return starts_with(path, r.prefix) && (r.verb == "*" || r.verb == verb);
        });
    }

    static api_error forbidden_error(const api_path& p, const std::string& verb,
                                     const std::string& user) {
        const auto& r = *p.resource;
        std::string what =
            p.name.empty() ? r.qualified() : fmt::format("{} \"{}\"", r.qualified(), p.name);
        std::string resource =
            p.subresource.empty() ? r.resource : r.resource + "/" + p.subresource;
        std::string scope =
            p.ns.empty() ? "at the cluster scope" : fmt::format("in the namespace \"{}\"", p.ns);
        json details = json::object();
        if (!p.name.empty()) {
            details["name"] = p.name;
        }
        if (!r.group.empty()) {
            details["group"] = r.group;
        }
        details["kind"] = r.resource;
        return {403, "Forbidden",
                fmt::format("{} is forbidden: User \"{}\" cannot {} resource \"{}\" in API group "
                            "\"{}\" {}",
                            what, user, verb, resource, r.group, scope),
                details};
    }

    // ---- the request pipeline ----

    asio::awaitable<void> handle(request_context& ctx) {
        std::string path = ctx.path();
        if (auto f = take_fault(fault_kind::delay, path)) {
            co_await ctx.sleep(f->delay);
        }
        auto user = authenticate(ctx);
        if (!user) {
            api_error e{401, "Unauthorized", "Unauthorized", nullptr};
            co_await respond_error(ctx, e);
            co_return;
        }
        if (take_fault(fault_kind::drop, path)) {
            ctx.drop();
            co_return;
        }
        if (auto f = take_fault(fault_kind::too_many, path)) {
            api_error e{429, "TooManyRequests", "Too many requests, please try again later.",
                        json{{"retryAfterSeconds", f->retry_after}}};
            http_headers headers{{"Retry-After", std::to_string(f->retry_after)}};
            co_await respond_error(ctx, e, std::move(headers));
            co_return;
        }
        if (auto f = take_fault(fault_kind::status, path)) {
            api_error failure = injected_status(f->status);
            co_await respond_error(ctx, failure);
            co_return;
        }
        auto parsed = parse_api_path(path);
        if (!parsed) {
            api_error failure = unknown_path();
            co_await respond_error(ctx, failure);
            co_return;
        }
        if (parsed->access_review) {
            co_await handle_access_review(ctx, *user);
            co_return;
        }
        const auto& method = ctx.method();
        bool watch = truthy(ctx.query("watch"));
        std::string verb;
        if (method == "GET") {
            verb = parsed->name.empty() ? (watch ? "watch" : "list") : "get";
        } else if (method == "POST" && parsed->name.empty()) {
            verb = "create";
        } else if (method == "PUT" && !parsed->name.empty()) {
            verb = "update";
        } else if (method == "PATCH" && !parsed->name.empty()) {
            verb = "patch";
        } else if (method == "DELETE" && !parsed->name.empty()) {
            verb = "delete";
        } else {
            api_error failure = method_not_allowed();
            co_await respond_error(ctx, failure);
            co_return;
        }
        if (is_forbidden(path, verb)) {
            api_error failure = forbidden_error(*parsed, verb, *user);
            co_await respond_error(ctx, failure);
            co_return;
        }
        if (!parsed->subresource.empty()) {
            co_await handle_subresource(ctx, *parsed, verb);
        } else if (verb == "get") {
            co_await handle_get(ctx, *parsed);
        } else if (verb == "list") {
            co_await handle_list(ctx, *parsed);
        } else if (verb == "watch") {
            co_await handle_watch(ctx, *parsed);
        } else if (verb == "create") {
            co_await handle_create(ctx, *parsed);
        } else if (verb == "update") {
            co_await handle_update(ctx, *parsed);
        } else if (verb == "patch") {
            co_await handle_patch(ctx, *parsed);
        } else {
            co_await handle_delete(ctx, *parsed);
        }
    }

    static api_error injected_status(int status) {
        switch (status) {
            case 503:
                return {503, "ServiceUnavailable",
                        "the server is currently unable to handle the request", json::object()};
            case 504:
                return {504, "Timeout",
                        "the server was unable to return a response in the time allotted, but "
                        "may still be processing the request",
                        json::object()};
            case 500:
                return {500,
                        "InternalError",
                        "Internal error occurred: injected failure (fake Kubernetes)",
                        {{"causes", {{{"message", "injected failure (fake Kubernetes)"}}}}}};
            default:
                return {status, "InternalError",
                        fmt::format("injected HTTP {} (fake Kubernetes)", status), json::object()};
        }
    }

    // ---- reads ----

    asio::awaitable<void> handle_get(request_context& ctx, const api_path& p) {
        const json* object = store.get(*p.resource, p.ns, p.name);
        if (!object) {
            api_error failure = kube::not_found(*p.resource, p.name);
            co_await respond_error(ctx, failure);
            co_return;
        }
        co_await respond(ctx, 200, *object);
    }

    struct list_filter {
        kube::label_selector labels;
        kube::field_selector fields;
        std::string ns;

        bool matches(const json& object) const {
            if (!ns.empty() && object["metadata"].value("namespace", "") != ns) {
                return false;
            }
            return kube::matches(labels, object["metadata"].value("labels", json())) &&
                   kube::matches(fields, object);
        }
    };

    static kube::outcome<list_filter> make_filter(const request_context& ctx, const api_path& p) {
        list_filter f;
        f.ns = p.ns;
        auto labels = kube::parse_label_selector(ctx.query("labelSelector").value_or(""));
        if (!labels.ok()) {
            return labels.error();
        }
        f.labels = labels.value();
        auto fields =
            kube::parse_field_selector(ctx.query("fieldSelector").value_or(""), *p.resource);
        if (!fields.ok()) {
            return fields.error();
        }
        f.fields = fields.value();
        return f;
    }

    static json list_item(json object) {
        object.erase("kind");
        object.erase("apiVersion");
        return object;
    }

    asio::awaitable<void> handle_list(request_context& ctx, const api_path& p) {
        auto filter = make_filter(ctx, p);
        if (!filter.ok()) {
            co_await respond_error(ctx, filter.error());
            co_return;
        }
        std::uint64_t list_rv = store.revision();
        std::pair<std::string, std::string> after;
        bool has_after = false;
        if (auto token = ctx.query("continue"); token && !token->empty()) {
            auto decoded = base64url_decode(*token);
            json parsed = decoded ? json::parse(*decoded, nullptr, false) : json();
            if (!parsed.is_object() || !parsed.contains("rv") || !parsed["rv"].is_number() ||
                !parsed.contains("start") || !parsed["start"].is_array() ||
                parsed["start"].size() != 2) {
                api_error failure = kube::bad_request(
                    "continue key is not valid: pass the "
                    "metadata.continue value of the previous page");
                co_await respond_error(ctx, failure);
                co_return;
            }
            list_rv = parsed["rv"].get<std::uint64_t>();
            if (list_rv < store.compacted() ||
                parsed.value("epoch", std::uint64_t{0}) != store.compactions()) {
                api_error failure = {
                    410, "Expired",
                    "The provided continue parameter is too old to display a consistent "
                    "list result. You can start a new list without the continue "
                    "parameter.",
                    json::object()};
                co_await respond_error(ctx, failure);
                co_return;
            }
            after = {parsed["start"][0].get<std::string>(), parsed["start"][1].get<std::string>()};
            has_after = true;
        }
        auto limit = to_number(ctx.query("limit")).value_or(0);
        json items = json::array();
        std::size_t remaining = 0;
        std::pair<std::string, std::string> last;
        for (const json* object : store.list(*p.resource, p.ns)) {
            if (!filter.value().matches(*object)) {
                continue;
            }
            std::pair<std::string, std::string> key = {(*object)["metadata"].value("namespace", ""),
                                                       (*object)["metadata"].value("name", "")};
            if (has_after && key <= after) {
                continue;
            }
            if (limit > 0 && static_cast<long long>(items.size()) >= limit) {
                ++remaining;
                continue;
            }
            items.push_back(list_item(*object));
            last = key;
        }
        json meta = {{"resourceVersion", std::to_string(list_rv)}};
        if (remaining > 0) {
            json token = {{"v", "meta.k8s.io/v1"},
                          {"rv", list_rv},
                          {"epoch", store.compactions()},
                          {"start", {last.first, last.second}}};
            meta["continue"] = base64url_encode(token.dump());
            meta["remainingItemCount"] = remaining;
        }
        json list = {{"kind", p.resource->kind + "List"},
                     {"apiVersion", p.resource->api_version()},
                     {"metadata", meta},
                     {"items", items}};
        co_await respond(ctx, 200, list);
    }

    // ---- watch ----

    struct waiter_guard {
        state& st;
        std::list<k8s_waiter*>::iterator it;
        waiter_guard(state& s, k8s_waiter& w) : st(s), it(s.waiters.insert(s.waiters.end(), &w)) {}
        ~waiter_guard() { st.waiters.erase(it); }
        waiter_guard(const waiter_guard&) = delete;
        waiter_guard& operator=(const waiter_guard&) = delete;
    };

    /// Waits for a signal or `until`; false when the coroutine was cancelled (server stopped).
    static asio::awaitable<bool> wait_for_signal(k8s_waiter& w, steady::time_point until) {
        if (!w.signalled) {
            w.timer.expires_at(until);
            co_await w.timer.async_wait(use_tuple);
        }
        auto cs = co_await asio::this_coro::cancellation_state;
        co_return cs.cancelled() == asio::cancellation_type::none;
    }

    static std::string watch_line(std::string_view type, const json& object) {
        return json{{"type", type}, {"object", object}}.dump() + "\n";
    }

    static json gone_status(std::uint64_t asked, std::uint64_t oldest) {
        return kube::to_status({410, "Expired",
                                fmt::format("too old resource version: {} ({})", asked, oldest),
                                nullptr});
    }

    json bookmark(const kube::resource_type& r, bool initial_end) const {
        json meta = {{"resourceVersion", std::to_string(store.revision())},
                     {"creationTimestamp", nullptr}};
        if (initial_end) {
            meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
        }
        return {{"kind", r.kind}, {"apiVersion", r.api_version()}, {"metadata", meta}};
    }

    asio::awaitable<void> handle_watch(request_context& ctx, const api_path& p) {
        auto filter = make_filter(ctx, p);
        if (!filter.ok()) {
            co_await respond_error(ctx, filter.error());
            co_return;
        }
        const auto& r = *p.resource;
        std::string rv_text = ctx.query("resourceVersion").value_or("");
        bool initial = rv_text.empty() || rv_text == "0";
        std::uint64_t cursor = store.revision();
        if (!initial) {
            auto rv = to_number(rv_text);
            if (!rv || *rv < 0) {
                api_error failure = kube::bad_request(
                    fmt::format("invalid resource version \"{}\": use the metadata.resourceVersion "
                                "of a list or a previous watch event",
                                rv_text));
                co_await respond_error(ctx, failure);
                co_return;
            }
            cursor = static_cast<std::uint64_t>(*rv);
        }
        bool bookmarks = truthy(ctx.query("allowWatchBookmarks"));
        bool send_initial = truthy(ctx.query("sendInitialEvents"));
        auto timeout = options.default_watch_timeout;
        if (auto t = to_number(ctx.query("timeoutSeconds")); t && *t > 0) {
            timeout = std::chrono::seconds{*t};
        }
        auto headers = common_headers();
        headers.emplace_back("Content-Type", "application/json");
        if (!co_await ctx.begin_chunked(200, headers)) {
            co_return;
        }
        k8s_waiter w(ctx.executor());
        w.is_watch = true;
        waiter_guard guard(*this, w);
        log().debug("fake_k8s_watch_opened", {{"resource", r.resource}, {"rv", cursor}});

        std::string batch;
        if (!initial && (force_gone > 0 || cursor < store.compacted())) {
            if (force_gone > 0) {
                --force_gone;
            }
            co_await ctx.write_chunk(
                watch_line("ERROR", gone_status(cursor, store.compacted() + 1)));
            co_return;
        }
        if (initial || send_initial) {
            for (const json* object : store.list(r, p.ns)) {
                if (filter.value().matches(*object)) {
                    batch += watch_line("ADDED", *object);
                }
            }
            cursor = store.revision();
            if (send_initial && bookmarks) {
                batch += watch_line("BOOKMARK", bookmark(r, true));
            }
        }
        const auto bookmark_period =
            std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(
                options.bookmark_interval / std::max(options.speed, 1e-6)));
        const auto end_at = steady::now() + timeout;
        auto next_bookmark = steady::now() + bookmark_period;
        for (;;) {
            w.signalled = false;
            if (w.drop) {
                ctx.drop();
                co_return;
            }
            if (w.end || shut_down) {
                break;
            }
            if (cursor < store.compacted()) {
                // The history moved past this watch while it was slow: as etcd compaction.
                batch += watch_line("ERROR", gone_status(cursor, store.compacted() + 1));
                co_await ctx.write_chunk(std::move(batch));
                co_return;
            }
            const auto& history = store.history();
            auto from = std::upper_bound(
                history.begin(), history.end(), cursor,
                [](std::uint64_t rv, const kube::history_entry& e) { return rv < e.rv; });
            for (auto it = from; it != history.end(); ++it) {
                cursor = it->rv;
                if (it->resource != &r) {
                    continue;
                }
                bool now_matches =
                    it->type != kube::change_type::deleted && filter.value().matches(it->object);
                bool was_matching =
                    it->type == kube::change_type::deleted
                        ? filter.value().matches(it->previous)
                        : !it->previous.is_null() && filter.value().matches(it->previous);
                if (now_matches && was_matching) {
                    batch += watch_line("MODIFIED", it->object);
                } else if (now_matches) {
                    batch += watch_line("ADDED", it->object);
                } else if (was_matching) {
                    batch += watch_line("DELETED", it->object);
                }
            }
            cursor = std::max(cursor, store.revision());
            auto now = steady::now();
            if (bookmarks && now >= next_bookmark) {
                batch += watch_line("BOOKMARK", bookmark(r, false));
                next_bookmark = now + bookmark_period;
            }
            if (!batch.empty()) {
                if (!co_await ctx.write_chunk(std::exchange(batch, {}))) {
                    co_return;  // the client went away
                }
                continue;  // more may have happened while writing
            }
            if (now >= end_at) {
                break;
            }
            auto until = bookmarks ? std::min(end_at, next_bookmark) : end_at;
            if (!co_await wait_for_signal(w, until)) {
                co_return;
            }
        }
        co_await ctx.end_chunked();
    }

    // ---- writes ----

    static kube::outcome<json> parse_body(const request_context& ctx) {
        json body = json::parse(ctx.body(), nullptr, false);
        if (body.is_discarded() || !body.is_object()) {
            return kube::bad_request(
                "the request body is not a JSON object; send the object as JSON with "
                "Content-Type: application/json");
        }
        if (!body.contains("metadata") || !body["metadata"].is_object()) {
            body["metadata"] = json::object();
        }
        return body;
    }

    bool is_binding(const kube::resource_type& r) const {
        return r.resource == "rolebindings" || r.resource == "clusterrolebindings";
    }

    /// Defaults and validation every write goes through; `current` is null on create.
    std::optional<api_error> admit(const kube::resource_type& r, json& object,
                                   const json* current) const {
        std::string name = object["metadata"].value("name", "");
        if (current && r.status_subresource) {
            // Writes to the main resource cannot change status (that is /status's job).
            object["status"] = current->value("status", json::object());
        } else if (!current && r.status_subresource) {
            object["status"] = json::object();
        }
        if (&r == &kube::deployments()) {
            kube::cluster_sim::default_deployment(object);
            auto causes = kube::cluster_sim::validate_deployment(object);
            if (!causes.empty()) {
                return kube::invalid(r, name, causes);
            }
        }
        if (is_binding(r)) {
            json ref = object.value("roleRef", json::object());
            std::vector<std::pair<std::string, std::string>> causes;
            if (ref.value("name", "").empty()) {
                causes.emplace_back("roleRef.name", "Required value");
            }
            std::string kind = ref.value("kind", "");
            if (kind != "ClusterRole" && (kind != "Role" || r.resource == "clusterrolebindings")) {
                causes.emplace_back(
                    "roleRef.kind",
                    fmt::format("Unsupported value: \"{}\": supported values: "
                                "\"ClusterRole\"{}",
                                kind, r.resource == "rolebindings" ? ", \"Role\"" : ""));
            }
            if (ref.value("apiGroup", "") != "rbac.authorization.k8s.io") {
                causes.emplace_back("roleRef.apiGroup",
                                    "Unsupported value: supported values: "
                                    "\"rbac.authorization.k8s.io\"");
            }
            const json subjects = object.value("subjects", json::array());
            for (std::size_t i = 0; i < subjects.size(); ++i) {
                const auto& s = subjects[i];
                std::string skind = s.value("kind", "");
                if (skind != "User" && skind != "Group" && skind != "ServiceAccount") {
                    causes.emplace_back(fmt::format("subjects[{}].kind", i),
                                        "Unsupported value: supported values: \"ServiceAccount\", "
                                        "\"User\", \"Group\"");
                }
                if (s.value("name", "").empty()) {
                    causes.emplace_back(fmt::format("subjects[{}].name", i), "Required value");
                }
                if (skind == "ServiceAccount" && s.value("namespace", "").empty()) {
                    causes.emplace_back(fmt::format("subjects[{}].namespace", i), "Required value");
                }
            }
            if (current && current->value("roleRef", json::object()) != ref) {
                causes.emplace_back("roleRef", "Invalid value: cannot change roleRef");
            }
            if (!causes.empty()) {
                return kube::invalid(r, name, causes);
            }
        }
        return std::nullopt;
    }

    void after_write(const kube::resource_type& r, const json& stored) {
        if (&r == &kube::deployments()) {
            sim.deployment_changed(stored["metadata"].value("namespace", ""),
                                   stored["metadata"].value("name", ""), steady::now());
        }
        kick_sim();
    }

    static bool dry_run(const request_context& ctx) {
        return ctx.query("dryRun").value_or("") == "All";
    }

    asio::awaitable<void> handle_create(request_context& ctx, const api_path& p) {
        const auto& r = *p.resource;
        auto body = parse_body(ctx);
        if (!body.ok()) {
            co_await respond_error(ctx, body.error());
            co_return;
        }
        json object = std::move(body.value());
        auto& meta = object["metadata"];
        if (object.contains("kind") && object["kind"] != r.kind) {
            api_error failure =
                kube::bad_request(fmt::format("the kind in the body ({}) does not match the "
                                              "resource of the URL ({}); expected kind {}",
                                              object["kind"].dump(), r.resource, r.kind));
            co_await respond_error(ctx, failure);
            co_return;
        }
        if (!meta.value("resourceVersion", "").empty()) {
            api_error failure = kube::bad_request(
                "resourceVersion should not be set on objects to be "
                "created; remove metadata.resourceVersion");
            co_await respond_error(ctx, failure);
            co_return;
        }
        if (r.namespaced) {
            std::string body_ns = meta.value("namespace", "");
            if (!body_ns.empty() && body_ns != p.ns) {
                api_error failure = kube::bad_request(
                    "the namespace of the provided object does not match "
                    "the namespace sent on the request");
                co_await respond_error(ctx, failure);
                co_return;
            }
            meta["namespace"] = p.ns;
            if (!store.get(kube::namespaces(), "", p.ns)) {
                api_error failure = kube::not_found(kube::namespaces(), p.ns);
                co_await respond_error(ctx, failure);
                co_return;
            }
        }
        std::string name = meta.value("name", "");
        if (name.empty() && !meta.value("generateName", "").empty()) {
            do {
                name = meta.value("generateName", "") + store.random_suffix(5);
            } while (store.get(r, p.ns, name));
            meta["name"] = name;
        }
        if (name.empty()) {
            auto e = kube::invalid(
                r, "", {{"metadata.name", "Required value: name or generateName is required"}});
            co_await respond_error(ctx, e);
            co_return;
        }
        if (store.get(r, p.ns, name)) {
            api_error failure = kube::already_exists(r, name);
            co_await respond_error(ctx, failure);
            co_return;
        }
        if (auto e = admit(r, object, nullptr)) {
            api_error failure = *e;
            co_await respond_error(ctx, failure);
            co_return;
        }
        if (dry_run(ctx)) {
            co_await respond(ctx, 201, object);
            co_return;
        }
        json stored = store.create(r, std::move(object));
        if (is_binding(r)) {
            ++bindings_created;
        }
        log().debug("fake_k8s_created", {{"resource", r.resource}, {"name", name}});
        after_write(r, stored);
        co_await respond(ctx, 201, stored);
    }

    /// Stores `object` as the new state of an existing object after the checks shared by
    /// PUT and PATCH; answers the request.
    asio::awaitable<void> finish_update(request_context& ctx, const api_path& p, json object,
                                        const json& current) {
        const auto& r = *p.resource;
        auto& meta = object["metadata"];
        if (meta.value("name", p.name) != p.name) {
            api_error failure =
                kube::bad_request(fmt::format("the name of the object ({}) does not match "
                                              "the name on the URL ({})",
                                              meta.value("name", ""), p.name));
            co_await respond_error(ctx, failure);
            co_return;
        }
        meta["name"] = p.name;
        if (r.namespaced) {
            if (!meta.value("namespace", p.ns).empty() && meta.value("namespace", p.ns) != p.ns) {
                api_error failure = kube::bad_request(
                    "the namespace of the provided object does not match "
                    "the namespace sent on the request");
                co_await respond_error(ctx, failure);
                co_return;
            }
            meta["namespace"] = p.ns;
        }
        std::string rv = meta.value("resourceVersion", "");
        if (!rv.empty() && rv != current["metadata"].value("resourceVersion", "")) {
            api_error failure = kube::conflict(r, p.name);
            co_await respond_error(ctx, failure);
            co_return;
        }
        if (auto e = admit(r, object, &current)) {
            api_error failure = *e;
            co_await respond_error(ctx, failure);
            co_return;
        }
        if (dry_run(ctx)) {
            co_await respond(ctx, 200, object);
            co_return;
        }
        json stored = store.replace(r, std::move(object));
        after_write(r, stored);
        co_await respond(ctx, 200, stored);
    }

    asio::awaitable<void> handle_update(request_context& ctx, const api_path& p) {
        const json* current = store.get(*p.resource, p.ns, p.name);
        if (!current) {
            api_error failure = kube::not_found(*p.resource, p.name);
            co_await respond_error(ctx, failure);
            co_return;
        }
        auto body = parse_body(ctx);
        if (!body.ok()) {
            co_await respond_error(ctx, body.error());
            co_return;
        }
        json snapshot = *current;
        co_await finish_update(ctx, p, std::move(body.value()), snapshot);
    }

    asio::awaitable<void> handle_patch(request_context& ctx, const api_path& p) {
        const json* current = store.get(*p.resource, p.ns, p.name);
        if (!current) {
            api_error failure = kube::not_found(*p.resource, p.name);
            co_await respond_error(ctx, failure);
            co_return;
        }
        auto patched =
            kube::apply_patch(*current, ctx.header("Content-Type").value_or(""), ctx.body());
        if (!patched.ok()) {
            co_await respond_error(ctx, patched.error());
            co_return;
        }
        json snapshot = *current;
        co_await finish_update(ctx, p, std::move(patched.value()), snapshot);
    }

    asio::awaitable<void> handle_delete(request_context& ctx, const api_path& p) {
        const auto& r = *p.resource;
        const json* current = store.get(r, p.ns, p.name);
        if (!current) {
            api_error failure = kube::not_found(r, p.name);
            co_await respond_error(ctx, failure);
            co_return;
        }
        json options_body = json::parse(ctx.body(), nullptr, false);
        if (options_body.is_object() && options_body.contains("preconditions")) {
            const json pre = options_body["preconditions"];
            const auto& meta = (*current)["metadata"];
            if ((pre.contains("resourceVersion") &&
                 pre["resourceVersion"] != meta["resourceVersion"]) ||
                (pre.contains("uid") && pre["uid"] != meta["uid"])) {
                api_error failure = kube::conflict(r, p.name);
                co_await respond_error(ctx, failure);
                co_return;
            }
        }
        if (dry_run(ctx)) {
            co_await respond(ctx, 200, *current);
            co_return;
        }
        auto last = store.remove(r, p.ns, p.name);
        if (is_binding(r)) {
            ++bindings_deleted;
        }
        sim.object_deleted(r, *last, steady::now());
        kick_sim();
        if (&r == &kube::pods()) {
            json shown = *last;
            shown["metadata"]["deletionTimestamp"] =
                kube::rfc3339(std::chrono::system_clock::now());
            shown["metadata"]["deletionGracePeriodSeconds"] = 30;
            co_await respond(ctx, 200, shown);
            co_return;
        }
        json details = {
            {"name", p.name}, {"kind", r.resource}, {"uid", (*last)["metadata"]["uid"]}};
        if (!r.group.empty()) {
            details["group"] = r.group;
        }
        json success = {{"kind", "Status"},
                        {"apiVersion", "v1"},
                        {"metadata", json::object()},
                        {"status", "Success"},
                        {"details", details}};
        co_await respond(ctx, 200, success);
    }

    // ---- subresources ----

    asio::awaitable<void> handle_subresource(request_context& ctx, const api_path& p,
                                             const std::string& verb) {
        const auto& r = *p.resource;
        if (&r == &kube::pods() && p.subresource == "log" && verb == "get") {
            co_await handle_logs(ctx, p);
            co_return;
        }
        if (&r == &kube::deployments() && p.subresource == "scale") {
            co_await handle_scale(ctx, p, verb);
            co_return;
        }
        if (p.subresource == "status" && verb == "get") {
            co_await handle_get(ctx, p);
            co_return;
        }
        api_error failure = unknown_path();
        co_await respond_error(ctx, failure);
    }

    json scale_of(const json& d) const {
        std::string selector;
        for (const auto& [k, v] :
             d["spec"]["selector"].value("matchLabels", json::object()).items()) {
            selector += (selector.empty() ? "" : ",") + k + "=" + v.get<std::string>();
        }
        const auto& meta = d["metadata"];
        return {{"kind", "Scale"},
                {"apiVersion", "autoscaling/v1"},
                {"metadata",
                 {{"name", meta["name"]},
                  {"namespace", meta["namespace"]},
                  {"uid", meta["uid"]},
                  {"resourceVersion", meta["resourceVersion"]},
                  {"creationTimestamp", meta["creationTimestamp"]}}},
                {"spec", {{"replicas", d["spec"].value("replicas", 1)}}},
                {"status",
                 {{"replicas", d.value("status", json::object()).value("replicas", 0)},
                  {"selector", selector}}}};
    }

    asio::awaitable<void> handle_scale(request_context& ctx, const api_path& p,
                                       const std::string& verb) {
        const json* current = store.get(kube::deployments(), p.ns, p.name);
        if (!current) {
            api_error failure = kube::not_found(kube::deployments(), p.name);
            co_await respond_error(ctx, failure);
            co_return;
        }
        if (verb == "get") {
            co_await respond(ctx, 200, scale_of(*current));
            co_return;
        }
        if (verb != "update" && verb != "patch") {
            api_error failure = method_not_allowed();
            co_await respond_error(ctx, failure);
            co_return;
        }
        json scale = scale_of(*current);
        if (verb == "patch") {
            auto patched =
                kube::apply_patch(scale, ctx.header("Content-Type").value_or(""), ctx.body());
            if (!patched.ok()) {
                co_await respond_error(ctx, patched.error());
                co_return;
            }
            scale = patched.value();
        } else {
            auto body = parse_body(ctx);
            if (!body.ok()) {
                co_await respond_error(ctx, body.error());
                co_return;
            }
            scale = body.value();
        }
        std::string rv = scale["metadata"].value("resourceVersion", "");
        if (!rv.empty() && rv != (*current)["metadata"].value("resourceVersion", "")) {
            api_error failure = kube::conflict(kube::deployments(), p.name);
            co_await respond_error(ctx, failure);
            co_return;
        }
        json replicas = scale.value("spec", json::object()).value("replicas", json());
        if (!replicas.is_number_integer() || replicas.get<int>() < 0) {
            auto e = kube::invalid(kube::deployments(), p.name,
                                   {{"spec.replicas", "must be greater than or equal to 0"}});
            co_await respond_error(ctx, e);
            co_return;
        }
        json d = *current;
        d["spec"]["replicas"] = replicas;
        json stored = store.replace(kube::deployments(), std::move(d));
        after_write(kube::deployments(), stored);
        co_await respond(ctx, 200, scale_of(stored));
    }

    // ---- logs ----

    static std::string format_line(const kube::log_line& l, bool timestamps) {
        return (timestamps ? kube::rfc3339_nano(l.at) + " " : std::string()) + l.text + "\n";
    }

    asio::awaitable<void> handle_logs(request_context& ctx, const api_path& p) {
        const json* pod = store.get(kube::pods(), p.ns, p.name);
        if (!pod) {
            api_error failure = kube::not_found(kube::pods(), p.name);
            co_await respond_error(ctx, failure);
            co_return;
        }
        std::vector<std::string> names;
        for (const auto& c : (*pod)["spec"].value("containers", json::array())) {
            names.push_back(c.value("name", ""));
        }
        std::string container = ctx.query("container").value_or("");
        if (container.empty()) {
            if (names.size() != 1) {
                api_error failure = kube::bad_request(fmt::format(
                    "a container name must be specified for pod {}, choose one of: [{}]", p.name,
                    fmt::join(names, " ")));
                co_await respond_error(ctx, failure);
                co_return;
            }
            container = names.front();
        } else if (std::find(names.begin(), names.end(), container) == names.end()) {
            api_error failure = kube::bad_request(
                fmt::format("container {} is not valid for pod {}", container, p.name));
            co_await respond_error(ctx, failure);
            co_return;
        }
        const kube::pod_sim* ps = sim.find_pod(p.ns, p.name);
        const kube::container_sim* cs = nullptr;
        if (ps) {
            for (const auto& c : ps->containers) {
                if (c.name == container) {
                    cs = &c;
                }
            }
        }
        bool previous = truthy(ctx.query("previous"));
        if (previous && (!cs || !cs->log.has_previous)) {
            api_error failure = kube::bad_request(fmt::format(
                "previous terminated container \"{}\" in pod \"{}\" not found", container, p.name));
            co_await respond_error(ctx, failure);
            co_return;
        }
        if (!previous && (!cs || !cs->ever_started)) {
            std::string why = "ContainerCreating";
            if (cs && (cs->stage == kube::container_stage::pull_error ||
                       cs->stage == kube::container_stage::pull_backoff)) {
                why = "trying and failing to pull image";
            } else if (cs && cs->stage == kube::container_stage::config_error) {
                why = "CreateContainerConfigError";
            }
            api_error failure = kube::bad_request(fmt::format(
                "container \"{}\" in pod \"{}\" is waiting to start: {}", container, p.name, why));
            co_await respond_error(ctx, failure);
            co_return;
        }
        bool timestamps = truthy(ctx.query("timestamps"));
        auto tail = to_number(ctx.query("tailLines"));
        auto limit = to_number(ctx.query("limitBytes"));
        auto since_seconds = to_number(ctx.query("sinceSeconds"));
        std::optional<kube::wall_time> since;
        if (since_seconds) {
            since = std::chrono::system_clock::now() - std::chrono::seconds{*since_seconds};
        } else if (auto st = ctx.query("sinceTime")) {
            since = kube::parse_rfc3339(*st);
            if (!since) {
                api_error failure = kube::bad_request(fmt::format(
                    "sinceTime \"{}\" is not an RFC 3339 time, e.g. 2024-05-01T10:00:00Z", *st));
                co_await respond_error(ctx, failure);
                co_return;
            }
        }
        const auto& lines = previous ? cs->log.previous : cs->log.current;
        std::size_t first = 0;
        if (since) {
            while (first < lines.size() && lines[first].at < *since) {
                ++first;
            }
        }
        if (tail && *tail >= 0 && lines.size() - first > static_cast<std::size_t>(*tail)) {
            first = lines.size() - static_cast<std::size_t>(*tail);
        }
        std::string body;
        for (std::size_t i = first; i < lines.size(); ++i) {
            body += format_line(lines[i], timestamps);
            if (limit && static_cast<long long>(body.size()) >= *limit) {
                break;
            }
        }
        if (limit && *limit >= 0 && static_cast<long long>(body.size()) > *limit) {
            body.resize(static_cast<std::size_t>(*limit));
        }
        if (!truthy(ctx.query("follow")) || previous) {
            auto headers = common_headers();
            headers.emplace_back("Content-Type", "text/plain");
            co_await ctx.respond(200, std::move(body), std::move(headers));
            co_return;
        }
        co_await follow_logs(ctx, p, container, std::move(body), lines.size(), timestamps, limit);
    }

    asio::awaitable<void> follow_logs(request_context& ctx, api_path p, std::string container,
                                      std::string first_part, std::size_t sent_lines,
                                      bool timestamps, std::optional<long long> limit) {
        auto headers = common_headers();
        headers.emplace_back("Content-Type", "text/plain");
        if (!co_await ctx.begin_chunked(200, headers)) {
            co_return;
        }
        std::size_t sent_bytes = first_part.size();
        if (!co_await ctx.write_chunk(std::move(first_part))) {
            co_return;
        }
        k8s_waiter w(ctx.executor());
        waiter_guard guard(*this, w);
        auto* log = sim.log_of(p.ns, p.name, container);
        const std::uint64_t run = log ? log->run : 0;
        for (;;) {
            w.signalled = false;
            log = sim.log_of(p.ns, p.name, container);
            if (!log || log->run != run || shut_down || w.end) {
                break;  // the pod is gone or the container restarted: the stream ends
            }
            std::string batch;
            for (; sent_lines < log->current.size(); ++sent_lines) {
                batch += format_line(log->current[sent_lines], timestamps);
            }
            if (limit && static_cast<long long>(sent_bytes + batch.size()) >= *limit) {
                batch.resize(static_cast<std::size_t>(*limit) - sent_bytes);
                co_await ctx.write_chunk(std::move(batch));
                break;
            }
            sent_bytes += batch.size();
            bool ended = log->ended;
            if (!batch.empty() && !co_await ctx.write_chunk(std::move(batch))) {
                co_return;
            }
            if (ended) {
                break;
            }
            if (!co_await wait_for_signal(w, steady::now() + options.default_watch_timeout)) {
                co_return;
            }
        }
        co_await ctx.end_chunked();
    }

    // ---- access reviews ----

    asio::awaitable<void> handle_access_review(request_context& ctx, const std::string& user) {
        if (ctx.method() != "POST") {
            api_error failure = method_not_allowed();
            co_await respond_error(ctx, failure);
            co_return;
        }
        auto body = parse_body(ctx);
        if (!body.ok()) {
            co_await respond_error(ctx, body.error());
            co_return;
        }
        json review = std::move(body.value());
        json attrs = review.value("spec", json::object()).value("resourceAttributes", json());
        if (!attrs.is_object()) {
            api_error failure{422, "Invalid",
                              "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: "
                              "spec.resourceAttributes: Required value: give namespace, verb, "
                              "group and resource",
                              json::object()};
            co_await respond_error(ctx, failure);
            co_return;
        }
        std::string group = attrs.value("group", "");
        std::string version = attrs.value("version", "v1");
        std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
        if (!attrs.value("namespace", "").empty()) {
            path += "/namespaces/" + attrs.value("namespace", "");
        }
        path += "/" + attrs.value("resource", "");
        if (!attrs.value("name", "").empty()) {
            path += "/" + attrs.value("name", "");
        }
        if (!attrs.value("subresource", "").empty()) {
            path += "/" + attrs.value("subresource", "");
        }
        bool allowed = !is_forbidden(path, attrs.value("verb", ""));
        review["apiVersion"] = "authorization.k8s.io/v1";
        review["kind"] = "SelfSubjectAccessReview";
        review["metadata"] = {{"creationTimestamp", nullptr}};
        review["status"] = {{"allowed", allowed}};
        if (allowed) {
            review["status"]["reason"] = fmt::format(
                "RBAC: allowed by ClusterRoleBinding \"tugboat\" of ClusterRole \"cluster-admin\" "
                "to User \"{}\"",
                user);
        }
        co_await respond(ctx, 201, review);
    }

    // ---- lifecycle ----

    core::result<void> listen() {
        http_server_options server_options;
        server_options.tls = tls;
        server_options.port = port;
        server_options.log = options.log;
        auto started = http_server::start(executor, server_options);
        if (!started) {
            return std::move(started).error();
        }
        server.emplace(std::move(*started));
        port = server->port();
        std::weak_ptr<state> weak = shared_from_this();
        auto api = [weak](request_context& ctx) -> asio::awaitable<void> {
            auto self = weak.lock();
            if (!self || self->shut_down) {
                co_await ctx.respond(503, "the fake Kubernetes API server has stopped\n");
                co_return;
            }
            co_await self->handle(ctx);
        };
        server->route("*", "/api/*", api);
        server->route("*", "/apis/*", api);
        auto version = [](request_context& ctx) -> asio::awaitable<void> {
            json v = {{"major", "1"},
                      {"minor", "29"},
                      {"gitVersion", "v1.29.2-tugboat-fake"},
                      {"gitCommit", "0000000000000000000000000000000000000000"},
                      {"gitTreeState", "clean"},
                      {"goVersion", "go1.21.7"},
                      {"compiler", "gc"},
                      {"platform", "linux/amd64"}};
            co_await ctx.respond_json(200, v.dump());
        };
        server->route("GET", "/version", version);
        for (const char* probe : {"/healthz", "/readyz", "/livez"}) {
            server->route("GET", probe, [](request_context& ctx) -> asio::awaitable<void> {
                co_await ctx.respond(200, "ok");
            });
        }
        return core::ok();
    }

    void stop_serving() {
        if (!server) {
            return;
        }
        for (auto* w : waiters) {
            if (w->is_watch) {
                w->drop = true;
            }
        }
        notify_all();
        const auto& transcript = server->requests();
        past_requests.insert(past_requests.end(), transcript.begin(), transcript.end());
        server->stop();
        server.reset();
    }
};

// ---- public API ----

core::result<std::unique_ptr<fake_kubernetes>> fake_kubernetes::start(
    asio::any_io_executor executor, fake_kubernetes_options options) {
    auto st = std::make_shared<state>(executor, std::move(options));
    const auto& pki = default_test_pki();
    auto tls = make_server_tls_context(pki.server.cert_pem, pki.server.key_pem, pki.ca.cert_pem());
    if (!tls) {
        return std::move(tls).error();
    }
    st->tls = *tls;
    st->port = st->options.port;
    st->store.on_change = [raw = st.get()] { raw->notify_all(); };
    st->sim.on_logs = [raw = st.get()] { raw->notify_all(); };
    for (const char* ns : {"default", "kube-system", "kube-public"}) {
        st->sim.ensure_namespace(ns);
    }
    for (const auto& ns : st->options.namespaces) {
        st->sim.ensure_namespace(ns);
    }
    if (auto listening = st->listen(); !listening) {
        return std::move(listening).error();
    }
    st->log().info("fake_k8s_started", {{"cluster", st->options.name},
                                        {"url", st->server->base_url()},
                                        {"speed", st->options.speed}});
    return std::unique_ptr<fake_kubernetes>(new fake_kubernetes(std::move(st)));
}

fake_kubernetes::fake_kubernetes(std::shared_ptr<state> s) : state_(std::move(s)) {}

fake_kubernetes::~fake_kubernetes() {
    state_->shut_down = true;
    state_->stop_serving();
    state_->sim_timer.cancel();
    state_->notify_all();
    state_->store.on_change = nullptr;
    state_->sim.on_logs = nullptr;
}

std::string fake_kubernetes::base_url() const {
    return fmt::format("https://127.0.0.1:{}", state_->port);
}

std::uint16_t fake_kubernetes::port() const noexcept {
    return state_->port;
}

const fake_kubernetes_options& fake_kubernetes::options() const noexcept {
    return state_->options;
}

std::string fake_kubernetes::ca_pem() const {
    return default_test_pki().ca.cert_pem();
}

const std::string& fake_kubernetes::token() const noexcept {
    return state_->token;
}

std::string fake_kubernetes::client_cert_pem() const {
    return default_test_pki().client.cert_pem;
}

std::string fake_kubernetes::client_key_pem() const {
    return default_test_pki().client.key_pem;
}

kubeconfig_context fake_kubernetes::kubeconfig_entry(std::string context_name, bool use_client_cert,
                                                     std::string ns) const {
    kubeconfig_context c;
    c.name = std::move(context_name);
    c.server = base_url();
    c.ca_pem = ca_pem();
    if (use_client_cert) {
        c.client_cert_pem = client_cert_pem();
        c.client_key_pem = client_key_pem();
    } else {
        c.token = state_->token;
    }
    c.ns = std::move(ns);
    return c;
}

void fake_kubernetes::stop() {
    if (state_->server) {
        state_->log().info("fake_k8s_stopped", {{"cluster", state_->options.name}});
    }
    state_->stop_serving();
}

core::result<void> fake_kubernetes::restart() {
    if (state_->server) {
        return core::ok();
    }
    auto r = state_->listen();
    if (r) {
        state_->log().info("fake_k8s_restarted",
                           {{"cluster", state_->options.name}, {"port", state_->port}});
    }
    return r;
}

bool fake_kubernetes::running() const noexcept {
    return state_->server.has_value();
}

void fake_kubernetes::add_namespace(std::string ns) {
    state_->sim.ensure_namespace(ns);
}

core::result<void> fake_kubernetes::add_deployment(fake_deployment d) {
    auto r = state_->sim.add_deployment(d, steady::now());
    state_->schedule_sim();
    return r;
}

core::result<void> fake_kubernetes::set_image(std::string ns, std::string deployment,
                                              std::string image, std::string container) {
    const json* current = state_->store.get(kube::deployments(), ns, deployment);
    if (!current) {
        return core::make_error(core::errc::not_found,
                                fmt::format("no Deployment {}/{} in the fake cluster {}", ns,
                                            deployment, state_->options.name));
    }
    json d = *current;
    auto& containers = d["spec"]["template"]["spec"]["containers"];
    bool found = false;
    for (auto& c : containers) {
        if (container.empty() || c.value("name", "") == container) {
            c["image"] = image;
            found = true;
            break;
        }
    }
    if (!found) {
        return core::make_error(
            core::errc::not_found,
            fmt::format("Deployment {}/{} has no container \"{}\"", ns, deployment, container));
    }
    json stored = state_->store.replace(kube::deployments(), std::move(d));
    state_->after_write(kube::deployments(), stored);
    return core::ok();
}

bool fake_kubernetes::set_pod_scenario(std::string ns, std::string pod, pod_scenario scenario,
                                       std::string container) {
    bool found = state_->sim.set_pod_scenario(ns, pod, scenario, container, steady::now());
    state_->kick_sim();
    return found;
}

bool fake_kubernetes::set_pod_logs(std::string ns, std::string pod, std::string container,
                                   std::vector<std::string> lines, bool previous) {
    auto* log = state_->sim.log_of(ns, pod, container);
    if (!log) {
        return false;
    }
    auto now = std::chrono::system_clock::now();
    std::vector<kube::log_line> out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        out.push_back({now - std::chrono::milliseconds(lines.size() - 1 - i), std::move(lines[i])});
    }
    if (previous) {
        log->previous = std::move(out);
        log->has_previous = true;
    } else {
        log->current = std::move(out);
    }
    state_->sim.logs_changed();
    return true;
}

bool fake_kubernetes::append_pod_log(std::string ns, std::string pod, std::string container,
                                     std::string line) {
    auto* log = state_->sim.log_of(ns, pod, container);
    if (!log) {
        return false;
    }
    log->current.push_back({std::chrono::system_clock::now(), std::move(line)});
    state_->sim.logs_changed();
    return true;
}

bool fake_kubernetes::generate_pod_logs(std::string ns, std::string pod, std::string container,
                                        std::size_t lines, std::size_t line_bytes,
                                        std::chrono::system_clock::time_point newest) {
    auto* log = state_->sim.log_of(ns, pod, container);
    if (!log) {
        return false;
    }
    static constexpr std::string_view paths[] = {"/api/v1/payments", "/api/v1/orders/42",
                                                 "/healthz", "/api/v1/refunds", "/metrics"};
    static constexpr int statuses[] = {200, 200, 200, 201, 200, 404, 200, 500};
    const auto now = newest == std::chrono::system_clock::time_point{}
                         ? std::chrono::system_clock::now()
                         : newest;
    log->current.clear();
    log->current.reserve(lines);
    for (std::size_t i = 0; i < lines; ++i) {
        auto at = now - std::chrono::milliseconds(lines - i);
        std::string text = fmt::format(
            "{} INFO request id={:08x} method=GET path={} status={} "
            "duration_ms={}",
            kube::rfc3339(at), i * 2654435761u % 0xffffffffu, paths[i % 5], statuses[i % 8],
            i % 97);
        if (text.size() + 1 < line_bytes) {
            text += " " + std::string(line_bytes - text.size() - 1, '.');
        }
        log->current.push_back({at, std::move(text)});
    }
    state_->sim.logs_changed();
    return true;
}

bool fake_kubernetes::delete_pod(std::string ns, std::string pod) {
    auto last = state_->store.remove(kube::pods(), ns, pod);
    if (!last) {
        return false;
    }
    state_->sim.object_deleted(kube::pods(), *last, steady::now());
    state_->kick_sim();
    return true;
}

void fake_kubernetes::add_event(std::string ns, std::string kind, std::string name,
                                std::string type, std::string reason, std::string message) {
    json involved = {{"kind", kind}, {"namespace", ns}, {"name", name}};
    for (const char* plural : {"pods", "deployments", "replicasets"}) {
        const auto& r = *kube::find_resource(plural);
        if (r.kind == kind) {
            if (const json* o = state_->store.get(r, ns, name)) {
                involved["uid"] = (*o)["metadata"]["uid"];
                involved["apiVersion"] = r.api_version();
            }
        }
    }
    state_->sim.record_event(involved, type, reason, message, "tugboat-test");
}

std::optional<std::string> fake_kubernetes::object_json(std::string_view resource,
                                                        std::string_view ns,
                                                        std::string_view name) const {
    const auto* r = kube::find_resource(resource);
    if (!r) {
        return std::nullopt;
    }
    const json* o = state_->store.get(*r, ns, name);
    if (!o) {
        return std::nullopt;
    }
    return o->dump();
}

std::vector<std::string> fake_kubernetes::names(std::string_view resource, std::string_view ns,
                                                std::string_view label_selector) const {
    std::vector<std::string> out;
    const auto* r = kube::find_resource(resource);
    auto selector = kube::parse_label_selector(label_selector);
    if (!r || !selector.ok()) {
        return out;
    }
    for (const json* o : state_->store.list(*r, ns)) {
        if (kube::matches(selector.value(), (*o)["metadata"].value("labels", json()))) {
            out.push_back((*o)["metadata"].value("name", ""));
        }
    }
    return out;
}

std::vector<std::string> fake_kubernetes::pods_of(std::string_view ns,
                                                  std::string_view deployment) const {
    std::vector<std::pair<std::uint64_t, std::string>> found;  // (creation order, name)
    for (const json* o : state_->store.list(kube::pods(), ns)) {
        const std::string name = (*o)["metadata"].value("name", "");
        const auto* p = state_->sim.find_pod(std::string(ns), name);
        if (p && p->deployment == deployment) {
            found.emplace_back(p->sequence, name);
        }
    }
    std::sort(found.begin(), found.end());
    std::vector<std::string> out;
    for (auto& [sequence, name] : found) {
        out.push_back(std::move(name));
    }
    return out;
}

int fake_kubernetes::revision(std::string_view ns, std::string_view deployment) const {
    const json* d = state_->store.get(kube::deployments(), ns, deployment);
    if (!d) {
        return 0;
    }
    auto annotations = kube::string_map(*d, "annotations");
    auto it = annotations.find("deployment.kubernetes.io/revision");
    return it == annotations.end() ? 0 : std::atoi(it->second.c_str());
}

bool fake_kubernetes::rollout_complete(std::string_view ns, std::string_view deployment) const {
    const json* d = state_->store.get(kube::deployments(), ns, deployment);
    return d && kube::rollout_done(*d);
}

bool fake_kubernetes::rollout_failed(std::string_view ns, std::string_view deployment) const {
    const json* d = state_->store.get(kube::deployments(), ns, deployment);
    return d && kube::rollout_deadline_exceeded(*d);
}

std::uint64_t fake_kubernetes::resource_version() const noexcept {
    return state_->store.revision();
}

std::vector<fake_binding> fake_kubernetes::bindings() const {
    std::vector<fake_binding> out;
    for (const char* plural : {"rolebindings", "clusterrolebindings"}) {
        for (const json* o : state_->store.list(*kube::find_resource(plural))) {
            fake_binding b;
            b.kind = o->value("kind", "");
            b.ns = (*o)["metadata"].value("namespace", "");
            b.name = (*o)["metadata"].value("name", "");
            b.role_kind = o->value("roleRef", json::object()).value("kind", "");
            b.role_name = o->value("roleRef", json::object()).value("name", "");
            for (const auto& s : o->value("subjects", json::array())) {
                b.subjects.push_back(subject_string(s));
            }
            b.labels = kube::string_map(*o, "labels");
            b.annotations = kube::string_map(*o, "annotations");
            out.push_back(std::move(b));
        }
    }
    return out;
}

void fake_kubernetes::add_binding(const fake_binding& b) {
    const bool cluster_wide = b.ns.empty();
    json subjects = json::array();
    for (const auto& text : b.subjects) {
        auto colon = text.find(':');
        subjects.push_back({{"kind", text.substr(0, colon)},
                            {"name", colon == std::string::npos ? "" : text.substr(colon + 1)},
                            {"apiGroup", "rbac.authorization.k8s.io"}});
    }
    json meta{{"name", b.name}, {"labels", b.labels}, {"annotations", b.annotations}};
    if (!cluster_wide) {
        meta["namespace"] = b.ns;
    }
    json o{{"apiVersion", "rbac.authorization.k8s.io/v1"},
           {"kind", cluster_wide ? "ClusterRoleBinding" : "RoleBinding"},
           {"metadata", meta},
           {"roleRef",
            {{"apiGroup", "rbac.authorization.k8s.io"},
             {"kind", b.role_kind.empty() ? "ClusterRole" : b.role_kind},
             {"name", b.role_name}}},
           {"subjects", subjects}};
    const auto& r = *kube::find_resource(cluster_wide ? "clusterrolebindings" : "rolebindings");
    if (state_->store.get(r, b.ns, b.name) != nullptr) {
        state_->store.replace(r, std::move(o));
    } else {
        state_->store.create(r, std::move(o));
    }
}

bool fake_kubernetes::remove_binding(std::string_view ns, std::string_view name) {
    const auto& r = *kube::find_resource(ns.empty() ? "clusterrolebindings" : "rolebindings");
    return state_->store.remove(r, ns, name).has_value();
}

std::size_t fake_kubernetes::bindings_created() const noexcept {
    return state_->bindings_created;
}

std::size_t fake_kubernetes::bindings_deleted() const noexcept {
    return state_->bindings_deleted;
}

std::vector<recorded_request> fake_kubernetes::requests() const {
    std::vector<recorded_request> out = state_->past_requests;
    if (state_->server) {
        const auto& current = state_->server->requests();
        out.insert(out.end(), current.begin(), current.end());
    }
    return out;
}

std::size_t fake_kubernetes::count_requests(std::string_view method,
                                            std::string_view path_prefix) const {
    auto all = requests();
    return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const auto& r) {
        return r.method == method && starts_with(r.path(), path_prefix);
    }));
}

void fake_kubernetes::clear_requests() {
    state_->past_requests.clear();
    if (state_->server) {
        state_->server->clear_requests();
    }
}

std::size_t fake_kubernetes::open_watches() const noexcept {
    return static_cast<std::size_t>(std::count_if(state_->waiters.begin(), state_->waiters.end(),
                                                  [](const k8s_waiter* w) { return w->is_watch; }));
}

asio::awaitable<bool> fake_kubernetes::wait_until(std::function<bool()> done,
                                                  std::chrono::milliseconds timeout) {
    auto st = state_;
    k8s_waiter w(st->executor);
    state::waiter_guard guard(*st, w);
    auto until = steady::now() + timeout;
    for (;;) {
        w.signalled = false;
        if (done()) {
            co_return true;
        }
        if (steady::now() >= until || st->shut_down) {
            co_return false;
        }
        if (!co_await state::wait_for_signal(w, until)) {
            co_return false;
        }
    }
}

void fake_kubernetes::inject_too_many_requests(int count, std::string path_prefix,
                                               int retry_after_seconds) {
    state_->faults.push_back(
        {state::fault_kind::too_many, count, std::move(path_prefix), 429, retry_after_seconds});
}

void fake_kubernetes::inject_status(int status, int count, std::string path_prefix) {
    state_->faults.push_back({state::fault_kind::status, count, std::move(path_prefix), status});
}

void fake_kubernetes::inject_delay(std::chrono::milliseconds delay, int count,
                                   std::string path_prefix) {
    state_->faults.push_back(
        {state::fault_kind::delay, count, std::move(path_prefix), 0, 1, delay});
}

void fake_kubernetes::inject_drop(int count, std::string path_prefix) {
    state_->faults.push_back({state::fault_kind::drop, count, std::move(path_prefix)});
}

void fake_kubernetes::forbid(std::string path_prefix, std::string verb) {
    state_->forbidden.push_back({std::move(path_prefix), std::move(verb)});
}

void fake_kubernetes::clear_faults() {
    state_->faults.clear();
    state_->forbidden.clear();
    state_->force_gone = 0;
}

void fake_kubernetes::set_token(std::string token) {
    state_->token = std::move(token);
}

void fake_kubernetes::force_watch_gone(int count) {
    state_->force_gone += count;
}

void fake_kubernetes::compact() {
    state_->store.compact();
    state_->notify_all();
}

void fake_kubernetes::drop_watches() {
    for (auto* w : state_->waiters) {
        if (w->is_watch) {
            w->drop = true;
        }
    }
    state_->notify_all();
}

void fake_kubernetes::end_watches() {
    for (auto* w : state_->waiters) {
        if (w->is_watch) {
            w->end = true;
        }
    }
    state_->notify_all();
}

}  // namespace tugboat::sandbox
