#include "commands/access_engine.hpp"

#include "commands/deploy_policy.hpp"
#include "commands/grammar.hpp"
#include "core/text.hpp"
#include "integrations/kubernetes_client.hpp"
#include "storage/audit_repository.hpp"
#include "storage/database.hpp"
#include "storage/grant_repository.hpp"
#include "storage/timer_repository.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <set>
#include <utility>

namespace tugboat::commands {

namespace asio = boost::asio;
using nlohmann::json;
using storage::grant_record;
using storage::grant_state;

namespace {

constexpr const char* managed_by_label = "app.kubernetes.io/managed-by";
constexpr const char* grant_label = "tugboat.io/grant";
constexpr const char* requester_label = "tugboat.io/requester";
constexpr const char* approvers_annotation = "tugboat.io/approvers";
constexpr const char* expires_annotation = "tugboat.io/expires-at";
constexpr const char* requester_annotation = "tugboat.io/requester";
constexpr const char* reason_annotation = "tugboat.io/reason";

// Durable timer kinds; the subject is the grant id ("g-000045").
constexpr const char* expiry_timer = "grant_expiry";
constexpr const char* reminder_timer = "grant_reminder";
constexpr const char* apply_timer = "grant_apply";      // bindings still to create
constexpr const char* cleanup_timer = "grant_cleanup";  // bindings still to remove

std::string utc_time(core::time_point t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02} UTC", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min);
}

std::string rfc3339(core::time_point t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/// "1h30m", "8h", "2d": the way durations are typed.
std::string as_typed(std::chrono::seconds d) {
    long long s = std::max<long long>(0, d.count());
    std::string out;
    for (auto [unit, size] : {std::pair{'d', 86400LL}, {'h', 3600LL}, {'m', 60LL}, {'s', 1LL}}) {
        if (s >= size) {
            out += std::to_string(s / size) + unit;
            s %= size;
        }
    }
    return out.empty() ? "0s" : out;
}

std::string human(std::chrono::milliseconds d) {
    return as_typed(std::chrono::duration_cast<std::chrono::seconds>(d));
}

/// The workflow's own part of the row (grant_record::bindings_json).
struct grant_extra {
    std::map<std::string, std::string> clusters;  ///< cluster → "applied" | "removed"
    std::string subject;                          ///< the Kubernetes subject, once known
    std::set<std::string> reported;  ///< clusters whose failure the thread was told about
    bool break_glass = false;
    std::string ended_by;           ///< who denied or revoked
    std::int64_t extension_ms = 0;  ///< a pending extension request
    std::string extension_by;
    std::vector<std::string> extension_approvals;
};

grant_extra read_extra(const grant_record& g) {
    grant_extra x;
    auto j = json::parse(g.bindings_json, nullptr, false);
    if (!j.is_object()) {
        return x;
    }
    if (j.contains("clusters") && j["clusters"].is_object()) {
        for (const auto& [k, v] : j["clusters"].items()) {
            x.clusters[k] = v.is_string() ? v.get<std::string>() : "";
        }
    }
    x.subject = j.value("subject", "");
    for (const auto& r : j.value("reported", json::array())) {
        x.reported.insert(r.get<std::string>());
    }
    x.break_glass = j.value("break_glass", false);
    x.ended_by = j.value("ended_by", "");
    x.extension_ms = j.value("extension_ms", std::int64_t{0});
    x.extension_by = j.value("extension_by", "");
    x.extension_approvals = j.value("extension_approvals", std::vector<std::string>{});
    return x;
}

void write_extra(grant_record& g, const grant_extra& x) {
    json j{{"clusters", x.clusters},         {"subject", x.subject},
           {"reported", x.reported},         {"break_glass", x.break_glass},
           {"ended_by", x.ended_by},         {"extension_ms", x.extension_ms},
           {"extension_by", x.extension_by}, {"extension_approvals", x.extension_approvals}};
    g.bindings_json = j.dump();
}

std::string binding_name(std::int64_t id) {
    return "tugboat-" + storage::format_grant_id(id);
}

}  // namespace

struct access_engine::impl {
    access_deps d;
    storage::grant_repository grants;
    storage::timer_repository timers;
    storage::audit_repository audit_log;
    bool stopping = false;
    bool looping = false;
    int busy = 0;  ///< decisions and removals in progress (idle() waits for them)
    asio::steady_timer* sleeper = nullptr;
    core::time_point last_reconcile{};
    /// Grants whose bindings are being changed right now; the reconciler leaves them alone.
    std::set<std::int64_t> in_flight;

    explicit impl(access_deps deps)
        : d(std::move(deps)), grants(d.db), timers(d.db), audit_log(d.db) {}

    // ---- small helpers ----

    std::string id_of(const grant_record& g) const { return storage::format_grant_id(g.id); }

    const core::access_role_config* role_of(const grant_record& g) const {
        return d.config.find_access_role(g.role);
    }

    std::vector<std::string> approvers_of(const core::access_role_config& role) const {
        return role.approvers.empty() ? d.config.access.admins : role.approvers;
    }

    void audit(const std::string& actor, const std::string& action, const grant_record& g,
               json details = json::object()) {
        storage::audit_entry e;
        e.at = d.clock.now();
        e.actor = actor;
        e.action = action;
        e.subject = id_of(g);
        details["role"] = g.role;
        details["environment"] = g.environment;
        details["namespace"] = g.kube_namespace;
        details["requester"] = g.requester;
        e.details_json = details.dump();
        if (auto r = audit_log.append(e); !r) {
            d.log.error("audit_failed", {{"action", action}, {"error", r.error().message}});
        }
    }

    std::optional<grant_record> load(std::int64_t id) {
        auto r = grants.get(id);
        if (!r) {
            d.log.error("grant_load_failed", {{"id", id}, {"error", r.error().message}});
            return std::nullopt;
        }
        return *r;
    }

    core::result<grant_record> find(const std::string& text) {
        auto id = storage::parse_grant_id(text);
        auto g = id ? load(*id) : std::nullopt;
        if (!g) {
            return core::make_error(core::errc::not_found,
                                    fmt::format("There is no access grant `{}`. Type `/access "
                                                "list` to see yours and their ids.",
                                                text));
        }
        return *g;
    }

    /// Re-reads the grant and applies `change` until the write is not a revision conflict;
    /// `change` returns false to leave the row as it is (the state moved on meanwhile).
    template <class Change>
    core::result<std::optional<grant_record>> modify(std::int64_t id, Change change) {
        for (int attempt = 0; attempt < 5; ++attempt) {
            auto g = load(id);
            if (!g) {
                return core::make_error(core::errc::not_found, "grant vanished");
            }
            if (!change(*g)) {
                return std::optional<grant_record>{};
            }
            g->updated_at = d.clock.now();
            auto saved = grants.update(*g);
            if (saved) {
                return std::optional<grant_record>{std::move(*g)};
            }
            if (saved.error().code != core::errc::conflict) {
                return saved.error();
            }
        }
        return core::make_error(core::errc::conflict, "grant kept changing; try again");
    }

    asio::awaitable<principal> who(std::string user) {
        co_return co_await principal_of(d.people, d.log, std::move(user));
    }

    bool is_admin(const principal& p) const {
        return matches(p, d.config.access.admins) || matches(p, d.config.bot.admins);
    }

    std::vector<std::string> clusters_of(const grant_record& g) const {
        const auto* env = d.config.find_environment(g.environment);
        return env ? env->clusters : std::vector<std::string>{};
    }

    std::string approvals_channel() const {
        return d.config.channel_id(d.config.access.approvals_channel);
    }

    // ---- what people see ----

    std::string what(const grant_record& g) const {
        std::string where =
            g.kube_namespace.empty()
                ? fmt::format("*{}* (whole cluster)", g.environment)
                : fmt::format("*{}* namespace `{}`", g.environment, g.kube_namespace);
        return fmt::format("*{}* in {}", g.role, where);
    }

    message card(const grant_record& g) const {
        const auto* role = role_of(g);
        grant_extra x = read_extra(g);
        std::vector<std::string> approvers;
        for (const auto& a : g.approvals) {
            approvers.push_back(a.approver);
        }
        std::string state;
        switch (g.state) {
            case grant_state::pending:
                state = fmt::format(
                    "⏳ Waiting for approval ({}/{}) from {}. The requester cannot "
                    "approve.",
                    g.approvals.size(), role ? role->approvals_required : 1,
                    role ? mentions(approvers_of(*role)) : "an approver");
                break;
            case grant_state::approved: state = "⚙️ Approved; creating the bindings…"; break;
            case grant_state::active:
                state =
                    fmt::format("✅ Active until {}", g.expires_at ? utc_time(*g.expires_at) : "?");
                break;
            case grant_state::rejected:
                state = fmt::format("🚫 Denied by {}: {}", mention(x.ended_by),
                                    escape_mrkdwn(g.failure_reason));
                break;
            case grant_state::cancelled:
                state = fmt::format("⏹️ Withdrawn by {}", mention(x.ended_by));
                break;
            case grant_state::expired:
                state =
                    fmt::format("⌛ Expired at {}", g.revoked_at ? utc_time(*g.revoked_at) : "?");
                break;
            case grant_state::revoked:
                state = fmt::format("🔒 Revoked by {} at {}", mention(x.ended_by),
                                    g.revoked_at ? utc_time(*g.revoked_at) : "?");
                break;
            case grant_state::failed:
                state = fmt::format("❌ Failed: {}", escape_mrkdwn(g.failure_reason));
                break;
        }
        message m;
        m.text = fmt::format("Access {}: {} {} {}", id_of(g), g.role, g.environment,
                             storage::to_string(g.state));
        m.add(section{
            fmt::format("{}*Access request `{}`* — {} asks for {} for {}.",
                        x.break_glass ? "🚨 *BREAK-GLASS* " : "", id_of(g), mention(g.requester),
                        what(g), human(g.duration)),
            {{"Reason", escape_mrkdwn(g.reason.empty() ? "—" : g.reason)}, {"State", state}}});
        if (!approvers.empty()) {
            m.add(context{{"Approved by " + mentions(approvers)}});
        }
        if (g.state == grant_state::pending) {
            m.add(actions{{button{"Approve", "access.approve", id_of(g), button_style::primary, {}},
                           button{"Deny", "access.deny", id_of(g), button_style::danger, {}}}});
        }
        return m;
    }

    message_ref root(const grant_record& g) const { return {g.slack_channel, g.slack_card_ts}; }

    /// Shows the card's new state and tells the thread what changed.
    asio::awaitable<void> tell(grant_record g, std::string mrkdwn, bool broadcast = false,
                               bool card_changed = true) {
        if (g.slack_card_ts.empty()) {
            co_return;
        }
        if (card_changed) {
            auto updated = co_await d.chat.update(root(g), card(g), true);
            if (!updated) {
                d.log.warn("grant_card_update_failed",
                           {{"grant", id_of(g)}, {"error", updated.error().message}});
            }
        }
        if (!mrkdwn.empty()) {
            auto replied =
                co_await d.chat.reply(root(g), plain_message(std::move(mrkdwn)), broadcast);
            if (!replied) {
                d.log.warn("grant_reply_failed",
                           {{"grant", id_of(g)}, {"error", replied.error().message}});
            }
        }
    }

    asio::awaitable<void> dm(std::string user, std::string mrkdwn) {
        auto sent = co_await d.chat.dm(user, plain_message(std::move(mrkdwn)));
        if (!sent) {
            d.log.warn("grant_dm_failed", {{"user", user}, {"error", sent.error().message}});
        }
    }

    std::string link(const grant_record& g) const {
        if (g.slack_card_ts.empty()) {
            return {};
        }
        auto url = d.chat.link({g.slack_channel, g.slack_card_ts});
        return url.empty()
                   ? fmt::format(" (see <#{}>, the card of `{}`)", g.slack_channel, id_of(g))
                   : fmt::format(" (see <{}|its card> in <#{}>)", url, g.slack_channel);
    }

    // ---- checks at request time ----

    struct checked {
        const core::access_role_config* role = nullptr;
        const core::environment_config* env = nullptr;
        std::string ns;
        std::chrono::seconds duration{};
    };

    core::result<checked> check(const access_request& r) const {
        const auto usage =
            "Type it as `/access request &lt;role&gt; &lt;env&gt;[/&lt;namespace&gt;] "
            "&lt;duration&gt; \"&lt;reason&gt;\"`, "
            "e.g. `/access request view prod/payments 2h \"INC-123\"`.";
        checked c;
        c.role = d.config.find_access_role(r.role);
        if (c.role == nullptr) {
            auto names = d.config.access_role_names();
            return core::make_error(
                core::errc::invalid_argument,
                fmt::format("There is no access role `{}`.{} Roles: {}. {}", r.role,
                            did_you_mean(r.role, names, [](const std::string& n) { return n; }),
                            list_names(names), usage));
        }
        auto slash = r.target.find('/');
        std::string env_name = r.target.substr(0, slash);
        c.env = d.config.find_environment(env_name);
        if (c.env == nullptr) {
            auto names = d.config.environment_names();
            return core::make_error(
                core::errc::invalid_argument,
                fmt::format("There is no environment `{}`.{} Environments: {}. {}", env_name,
                            did_you_mean(env_name, names, [](const std::string& n) { return n; }),
                            list_names(names), usage));
        }
        const auto& allowed = c.role->environments;
        if (!allowed.empty() &&
            std::find(allowed.begin(), allowed.end(), c.env->name) == allowed.end()) {
            return core::make_error(
                core::errc::invalid_argument,
                fmt::format("Role `{}` cannot be requested in `{}`; it is available in {}.",
                            c.role->name, c.env->name, list_names(allowed)));
        }
        if (c.role->scope == "cluster") {
            if (slash != std::string::npos) {
                return core::make_error(
                    core::errc::invalid_argument,
                    fmt::format("Role `{}` is granted for the whole cluster; leave out the "
                                "namespace: `/access request {} {} …`.",
                                c.role->name, c.role->name, c.env->name));
            }
        } else {
            c.ns = slash == std::string::npos ? c.env->namespace_name : r.target.substr(slash + 1);
            if (c.ns.empty()) {
                return core::make_error(
                    core::errc::invalid_argument,
                    fmt::format("Environment `{}` has no default namespace; name one: `/access "
                                "request {} {}/&lt;namespace&gt; …`.",
                                c.env->name, c.role->name, c.env->name));
            }
            bool valid =
                c.ns.size() <= 63 && std::all_of(c.ns.begin(), c.ns.end(), [](char ch) {
                    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
                });
            if (!valid) {
                return core::make_error(core::errc::invalid_argument,
                                        fmt::format("`{}` is not a namespace name (lower-case "
                                                    "letters, digits and `-`). {}",
                                                    c.ns, usage));
            }
        }
        if (r.duration.empty()) {
            c.duration = c.role->max_duration;
        } else {
            auto parsed = core::parse_duration(r.duration);
            if (!parsed || parsed->count() <= 0) {
                return core::make_error(
                    core::errc::invalid_argument,
                    fmt::format("`{}` isn't a duration. Use a number with a unit: `45m`, `2h` or "
                                "`1h30m` (at most {} for `{}`).",
                                r.duration, as_typed(c.role->max_duration), c.role->name));
            }
            c.duration = *parsed;
        }
        if (c.duration > c.role->max_duration) {
            return core::make_error(
                core::errc::invalid_argument,
                fmt::format("`{}` can be granted for at most {}; ask for `{}` or less.",
                            c.role->name, as_typed(c.role->max_duration),
                            as_typed(c.role->max_duration)));
        }
        if ((c.role->reason_required || r.break_glass) && core::trim(r.reason).empty()) {
            return core::make_error(
                core::errc::invalid_argument,
                fmt::format("`{}` needs a reason{}. {}", c.role->name,
                            r.break_glass ? " (break-glass always does)" : "", usage));
        }
        if (r.break_glass && !c.role->break_glass) {
            return core::make_error(core::errc::permission_denied,
                                    fmt::format("Role `{}` has no break-glass; request it for "
                                                "approval without `--break-glass`.",
                                                c.role->name));
        }
        return c;
    }

    // ---- the workflow ----

    /// Creates the bindings in every cluster; when all exist the grant becomes active and its
    /// clock starts. Clusters that fail are retried by the apply timer.
    /// Runs `step` for grant `id` unless a step of that grant runs already (false then), so
    /// that the bindings of one grant are never created and removed at the same time.
    asio::awaitable<bool> exclusive(std::int64_t id,
                                    asio::awaitable<void> (impl::*step)(std::int64_t)) {
        if (in_flight.contains(id)) {
            co_return false;
        }
        in_flight.insert(id);
        ++busy;
        auto work = d.tracker.start();
        co_await (this->*step)(id);
        in_flight.erase(id);
        --busy;
        co_return true;
    }

    asio::awaitable<void> apply(std::int64_t id) { co_await exclusive(id, &impl::apply_now); }

    asio::awaitable<void> apply_now(std::int64_t id) {
        auto g = load(id);
        if (!g || g->state != grant_state::approved) {
            co_return;
        }
        const auto* role = role_of(*g);
        if (role == nullptr) {
            co_await fail(*g, fmt::format("role `{}` is no longer in the config", g->role));
            co_return;
        }
        grant_extra x = read_extra(*g);
        if (x.subject.empty()) {
            auto subject = co_await subject_of(g->requester);
            if (!subject) {
                co_await fail(*g, subject.error().message);
                co_return;
            }
            x.subject = *subject;
        }
        std::vector<std::string> failed;
        std::string first_error;
        for (const auto& cluster : clusters_of(*g)) {
            if (x.clusters[cluster] == "applied") {
                continue;
            }
            auto ok = co_await put_binding(*g, x.subject, cluster,
                                           g->expires_at.value_or(d.clock.now() + g->duration));
            if (ok) {
                x.clusters[cluster] = "applied";
                audit("tugboat", "grant.binding_created", *g, json{{"cluster", cluster}});
            } else {
                failed.push_back(cluster);
                if (first_error.empty()) {
                    first_error = ok.error().message;
                }
            }
        }
        auto now = d.clock.now();
        auto saved = modify(id, [&](grant_record& r) {
            if (r.state != grant_state::approved) {
                return false;
            }
            grant_extra cur = read_extra(r);
            cur.subject = x.subject;
            for (const auto& [k, v] : x.clusters) {
                cur.clusters[k] = v;
            }
            if (failed.empty()) {
                r.state = grant_state::active;
                r.granted_at = now;
                r.expires_at = now + r.duration;
            }
            write_extra(r, cur);
            return true;
        });
        if (!saved || !*saved) {
            co_return;
        }
        grant_record& s = **saved;
        if (!failed.empty()) {
            (void)timers.schedule(apply_timer, id_of(s), now + d.timing.retry);
            grant_extra cur = read_extra(s);
            bool told = cur.reported.contains(failed.front());
            if (!told) {
                cur.reported.insert(failed.front());
                (void)modify(id, [&](grant_record& r) {
                    grant_extra c2 = read_extra(r);
                    c2.reported.insert(failed.begin(), failed.end());
                    write_extra(r, c2);
                    return true;
                });
                co_await tell(s,
                              fmt::format("⚠️ Could not create the binding in {}: {}. Trying "
                                          "again every {}; the clock starts once it exists "
                                          "everywhere.",
                                          list_names(failed), escape_mrkdwn(first_error),
                                          as_typed(d.timing.retry)));
            }
            co_return;
        }
        (void)timers.cancel(apply_timer, id_of(s));
        schedule_end(s);
        // The binding's expires-at annotation was written before the clock started; bring it
        // up to the real one so the reconciler and people reading the cluster agree.
        for (const auto& cluster : clusters_of(s)) {
            (void)co_await put_binding(s, x.subject, cluster, *s.expires_at);
        }
        audit("tugboat", "grant.granted", s,
              json{{"expires_at", core::to_unix(*s.expires_at)}, {"subject", x.subject}});
        co_await tell(s,
                      fmt::format("✅ Granted to {} as `{}` in {} until {}.", mention(s.requester),
                                  x.subject, list_names(clusters_of(s)), utc_time(*s.expires_at)));
        co_await dm(s.requester,
                    fmt::format("✅ Your access `{}` ({}) is active until {}. Type `/access "
                                "revoke {}` when you are done{}.",
                                id_of(s), what(s), utc_time(*s.expires_at), id_of(s), link(s)));
    }

    void schedule_end(const grant_record& g) {
        (void)timers.schedule(expiry_timer, id_of(g), *g.expires_at);
        auto remind_at = *g.expires_at - d.timing.remind_before;
        if (remind_at > *g.granted_at) {
            (void)timers.schedule(reminder_timer, id_of(g), remind_at);
        } else {
            (void)timers.cancel(reminder_timer, id_of(g));
        }
    }

    asio::awaitable<core::result<std::string>> subject_of(std::string user) {
        std::string tmpl = d.config.access.subject_template;
        std::string out;
        if (tmpl.find("{email}") != std::string::npos) {
            auto email = co_await d.people.email_of(user);
            if (!email) {
                co_return core::make_error(
                    email.error().code,
                    fmt::format("the Kubernetes subject needs the e-mail address of {} and Slack "
                                "did not give it ({}); add it to the Slack profile, or change "
                                "access.subject_template",
                                mention(user), email.error().message));
            }
            out = *email;
            tmpl.replace(tmpl.find("{email}"), 7, out);
        }
        while (tmpl.find("{user_id}") != std::string::npos) {
            tmpl.replace(tmpl.find("{user_id}"), 9, user);
        }
        co_return tmpl;
    }

    integrations::role_binding binding_for(const grant_record& g, const std::string& subject,
                                           core::time_point expires) const {
        const auto* role = role_of(g);
        integrations::role_binding b;
        b.ns = g.kube_namespace;
        b.name = binding_name(g.id);
        b.role_kind = role ? role->kind : "ClusterRole";
        b.role_name = role ? role->role : g.role;
        b.subject_kind = d.config.access.subject_kind;
        b.subject_name = subject;
        b.labels = {
            {managed_by_label, "tugboat"}, {grant_label, id_of(g)}, {requester_label, g.requester}};
        std::string approvers;
        for (const auto& a : g.approvals) {
            approvers += (approvers.empty() ? "" : ",") + a.approver;
        }
        b.annotations = {{approvers_annotation, approvers},
                         {expires_annotation, rfc3339(expires)},
                         {requester_annotation, g.requester},
                         {reason_annotation, g.reason}};
        return b;
    }

    asio::awaitable<core::result<void>> put_binding(grant_record g, std::string subject,
                                                    std::string cluster, core::time_point expires) {
        auto it = d.clusters.find(cluster);
        if (it == d.clusters.end()) {
            co_return core::make_error(core::errc::config_error,
                                       fmt::format("cluster `{}` is not configured", cluster));
        }
        auto b = binding_for(g, subject, expires);
        co_return co_await it->second->apply_role_binding(std::move(b));
    }

    asio::awaitable<void> fail(grant_record g, std::string why) {
        auto saved = modify(g.id, [&](grant_record& r) {
            if (storage::is_terminal(r.state)) {
                return false;
            }
            r.state = grant_state::failed;
            r.failure_reason = why;
            return true;
        });
        if (!saved || !*saved) {
            co_return;
        }
        (void)timers.cancel(apply_timer, id_of(g));
        audit("tugboat", "grant.failed", **saved, json{{"error", why}});
        co_await tell(**saved, fmt::format("❌ Could not grant: {}", escape_mrkdwn(why)));
        co_await dm(g.requester, fmt::format("❌ Your access `{}` could not be granted: {}",
                                             id_of(g), escape_mrkdwn(why)));
        // Bindings created in some clusters before the failure must not stay.
        co_await remove(g.id);
    }

    /// Ends the grant (`to` expired or revoked) and removes its bindings everywhere; clusters
    /// that cannot be reached are retried by the cleanup timer until done.
    asio::awaitable<core::result<grant_record>> end(std::int64_t id, grant_state to,
                                                    std::string actor) {
        auto now = d.clock.now();
        auto saved = modify(id, [&](grant_record& r) {
            if (r.state != grant_state::active && r.state != grant_state::approved) {
                return false;
            }
            r.state = to;
            r.revoked_at = now;
            grant_extra x = read_extra(r);
            x.ended_by = actor;
            x.reported.clear();
            x.extension_ms = 0;
            write_extra(r, x);
            return true;
        });
        if (!saved) {
            co_return saved.error();
        }
        if (!*saved) {
            co_return core::make_error(core::errc::conflict, "not active");
        }
        grant_record g = std::move(**saved);
        for (const char* kind : {expiry_timer, reminder_timer, apply_timer}) {
            (void)timers.cancel(kind, id_of(g));
        }
        if (to == grant_state::expired) {
            audit("tugboat", "grant.expired", g,
                  json{{"late_seconds",
                        g.expires_at ? core::to_unix(now) - core::to_unix(*g.expires_at) : 0}});
            co_await tell(g, fmt::format("⌛ Expired; removing the bindings."));
            co_await dm(g.requester,
                        fmt::format("⌛ Your access `{}` ({}) has ended.", id_of(g), what(g)));
        } else {
            audit(actor, "grant.revoked", g);
            co_await tell(g,
                          fmt::format("🔒 Revoked by {}; removing the bindings.", mention(actor)));
            if (actor != g.requester) {
                co_await dm(g.requester, fmt::format("🔒 Your access `{}` ({}) was revoked by {}.",
                                                     id_of(g), what(g), mention(actor)));
            }
        }
        co_await remove(id);
        co_return g;
    }

    /// Deletes the grant's bindings where they may exist.
    asio::awaitable<void> remove(std::int64_t id) {
        auto ran = co_await exclusive(id, &impl::remove_now);
        if (!ran) {
            // An apply of this grant is running; it stops at the state change and the cleanup
            // timer removes what it left.
            (void)timers.schedule(cleanup_timer, storage::format_grant_id(id), d.clock.now());
        }
    }

    asio::awaitable<void> remove_now(std::int64_t id) {
        auto g = load(id);
        if (!g || !storage::is_terminal(g->state)) {
            co_return;
        }
        grant_extra x = read_extra(*g);
        std::vector<std::string> failed;
        std::vector<std::string> recovered;
        std::string first_error;
        for (const auto& cluster : clusters_of(*g)) {
            if (x.clusters.contains(cluster) && x.clusters[cluster] == "removed") {
                continue;
            }
            auto it = d.clusters.find(cluster);
            if (it == d.clusters.end()) {
                continue;
            }
            auto gone =
                co_await it->second->delete_role_binding(g->kube_namespace, binding_name(g->id));
            if (gone) {
                x.clusters[cluster] = "removed";
                audit("tugboat", "grant.binding_removed", *g, json{{"cluster", cluster}});
                if (x.reported.contains(cluster)) {
                    recovered.push_back(cluster);
                }
            } else {
                failed.push_back(cluster);
                if (first_error.empty()) {
                    first_error = gone.error().message;
                }
            }
        }
        std::vector<std::string> newly_failed;
        for (const auto& c : failed) {
            if (!x.reported.contains(c)) {
                newly_failed.push_back(c);
                x.reported.insert(c);
            }
        }
        for (const auto& c : recovered) {
            x.reported.erase(c);
        }
        auto saved = modify(id, [&](grant_record& r) {
            write_extra(r, x);
            return true;
        });
        if (failed.empty()) {
            (void)timers.cancel(cleanup_timer, id_of(*g));
        } else {
            (void)timers.schedule(cleanup_timer, id_of(*g), d.clock.now() + d.timing.retry);
        }
        grant_record shown = saved && *saved ? **saved : *g;
        if (!newly_failed.empty()) {
            co_await tell(
                shown,
                fmt::format("⚠️ Could not remove the binding from {}: {}. Retrying every "
                            "{} until it is gone.",
                            list_names(newly_failed), escape_mrkdwn(first_error),
                            as_typed(d.timing.retry)),
                true);
        }
        if (!recovered.empty()) {
            audit("tugboat", "grant.removal_recovered", shown, json{{"clusters", recovered}});
            co_await tell(
                shown,
                fmt::format("✅ Binding removed from {} after retrying.", list_names(recovered)),
                true);
        }
    }

    // ---- timers and the reconciler ----

    asio::awaitable<void> on_timer(storage::timer t) {
        auto id = storage::parse_grant_id(t.subject);
        if (!id) {
            (void)timers.complete(t);
            co_return;
        }
        if (t.kind == expiry_timer) {
            (void)co_await end(*id, grant_state::expired, "tugboat");
        } else if (t.kind == reminder_timer) {
            co_await remind(*id);
        } else if (t.kind == apply_timer) {
            auto ran = co_await exclusive(*id, &impl::apply_now);
            if (!ran) {
                co_return;  // something else holds the grant; the timer fires again
            }
        } else if (t.kind == cleanup_timer) {
            co_await remove(*id);
        }
        (void)timers.complete(t);
    }

    asio::awaitable<void> remind(std::int64_t id) {
        auto g = load(id);
        if (!g || g->state != grant_state::active || !g->expires_at) {
            co_return;
        }
        auto left =
            std::chrono::duration_cast<std::chrono::seconds>(*g->expires_at - d.clock.now());
        message m;
        m.text = fmt::format("Your access {} ends soon", id_of(*g));
        m.add(section{fmt::format("⏰ Your access `{}` ({}) ends in {} (at {}). Need longer?",
                                  id_of(*g), what(*g), as_typed(left), utc_time(*g->expires_at)),
                      {}});
        m.add(actions{{button{"Extend", "access.extend", id_of(*g), button_style::primary, {}},
                       button{"I'm done", "access.revoke", id_of(*g), button_style::normal, {}}}});
        auto sent = co_await d.chat.dm(g->requester, std::move(m));
        if (!sent) {
            d.log.warn("grant_reminder_failed", {{"grant", id_of(*g)}});
        }
        audit("tugboat", "grant.reminded", *g);
    }

    /// Carries out what is due: timers, and expiries a lost timer would have missed.
    /// Starts what is due, each in its own coroutine, so that a cluster that hangs while one
    /// grant's bindings are retried delays no other grant's end. A timer being handled is not
    /// started again; its row stays until it is done (a restart then runs it again).
    void run_due() {
        auto now = d.clock.now();
        // An active grant whose end passed without a timer (lost, or written by an older
        // version) gets one now.
        auto overdue = grants.list_due_for_expiry(now);
        if (overdue) {
            for (const auto& g : *overdue) {
                if (!timers.get(expiry_timer, id_of(g)).value_or(std::nullopt)) {
                    (void)timers.schedule(expiry_timer, id_of(g), now);
                }
            }
        }
        auto due = timers.due(now, 100);
        if (!due) {
            return;
        }
        for (auto& t : *due) {
            bool ours = t.kind == expiry_timer || t.kind == reminder_timer ||
                        t.kind == apply_timer || t.kind == cleanup_timer;
            if (stopping || !ours || firing.contains(t.id)) {
                continue;
            }
            firing.insert(t.id);
            ++busy;
            asio::co_spawn(d.executor, on_timer(t), [this, id = t.id](const std::exception_ptr& e) {
                firing.erase(id);
                --busy;
                if (e) {
                    d.log.error("grant_timer_crashed", {{"timer", id}});
                }
            });
        }
    }
    std::set<std::int64_t> firing;  ///< timer ids being handled

    /// Compares the clusters with the grants in the background (see reconcile()).
    void start_reconcile() {
        if (reconciling) {
            return;
        }
        reconciling = true;
        ++busy;
        asio::co_spawn(d.executor, reconcile(), [this](const std::exception_ptr& e) {
            reconciling = false;
            --busy;
            if (e) {
                d.log.error("reconcile_crashed", {});
            }
        });
    }
    bool reconciling = false;

    /// Bindings Tugboat manages in the clusters, compared with the grants: expired or unknown
    /// ones are removed, missing active ones restored; every change is audited and reported.
    asio::awaitable<void> reconcile() {
        std::vector<std::string> changes;
        // Grants that became active after a cluster was listed are not missing there.
        const auto started = d.clock.now();
        for (const auto& [cluster, client] : d.clusters) {
            if (stopping) {
                co_return;
            }
            auto listed =
                co_await client->list_role_bindings(std::string(managed_by_label) + "=tugboat");
            if (!listed) {
                d.log.warn("reconcile_list_failed",
                           {{"cluster", cluster}, {"error", listed.error().message}});
                continue;
            }
            std::set<std::string> present;
            for (const auto& b : *listed) {
                auto label = b.labels.find(grant_label);
                auto id =
                    label == b.labels.end() ? std::nullopt : storage::parse_grant_id(label->second);
                auto g = id ? load(*id) : std::nullopt;
                auto where = g ? clusters_of(*g) : std::vector<std::string>{};
                bool wanted =
                    g && !in_flight.contains(g->id) &&
                    (g->state == grant_state::active || g->state == grant_state::approved) &&
                    g->kube_namespace == b.ns && binding_name(g->id) == b.name &&
                    std::find(where.begin(), where.end(), cluster) != where.end();
                if (g && in_flight.contains(g->id)) {
                    continue;
                }
                if (wanted) {
                    present.insert(id_of(*g));
                    continue;
                }
                auto work = d.tracker.start();
                auto gone = co_await client->delete_role_binding(b.ns, b.name);
                if (!gone) {
                    d.log.warn(
                        "reconcile_delete_failed",
                        {{"cluster", cluster}, {"name", b.name}, {"error", gone.error().message}});
                    continue;
                }
                std::string why = !g ? "unknown to Tugboat"
                                     : fmt::format("grant is {}", storage::to_string(g->state));
                changes.push_back(fmt::format("removed `{}{}` from `{}` ({})",
                                              b.ns.empty() ? "" : b.ns + "/", b.name, cluster,
                                              why));
                storage::audit_entry e;
                e.at = d.clock.now();
                e.actor = "tugboat";
                e.action = "grant.reconcile_removed";
                e.subject = g ? id_of(*g) : b.name;
                e.details_json =
                    json{{"cluster", cluster}, {"namespace", b.ns}, {"why", why}}.dump();
                (void)audit_log.append(e);
            }
            auto active = grants.list_active();
            if (!active) {
                continue;
            }
            for (const auto& g : *active) {
                auto clusters = clusters_of(g);
                if (in_flight.contains(g.id) || present.contains(id_of(g)) ||
                    (g.granted_at && *g.granted_at >= started) ||
                    std::find(clusters.begin(), clusters.end(), cluster) == clusters.end()) {
                    continue;
                }
                grant_extra x = read_extra(g);
                auto work = d.tracker.start();
                // Held like an apply: a grant that ends meanwhile gets a cleanup timer, which
                // removes what this puts back.
                in_flight.insert(g.id);
                auto put = co_await put_binding(g, x.subject, cluster, *g.expires_at);
                in_flight.erase(g.id);
                if (!put) {
                    d.log.warn("reconcile_restore_failed", {{"cluster", cluster},
                                                            {"grant", id_of(g)},
                                                            {"error", put.error().message}});
                    continue;
                }
                changes.push_back(
                    fmt::format("restored the missing binding of `{}` in `{}`", id_of(g), cluster));
                audit("tugboat", "grant.reconcile_restored", g, json{{"cluster", cluster}});
            }
        }
        if (changes.empty()) {
            co_return;
        }
        std::string text = "🔧 *Access drift repaired*:";
        for (const auto& c : changes) {
            text += "\n• " + c;
        }
        auto channel = approvals_channel();
        if (!channel.empty()) {
            auto posted = co_await d.chat.post(channel, plain_message(std::move(text)));
            if (!posted) {
                d.log.warn("drift_report_failed", {{"error", posted.error().message}});
            }
        }
    }

    asio::awaitable<void> loop() {
        looping = true;
        struct done_flag {
            bool& flag;
            ~done_flag() { flag = false; }
        } guard{looping};
        // Bindings a stopped bot was still creating are created now.
        auto open = grants.list_open();
        if (open) {
            for (const auto& g : *open) {
                if (g.state == grant_state::approved) {
                    (void)timers.schedule(apply_timer, id_of(g), d.clock.now());
                }
            }
        }
        while (!stopping) {
            run_due();
            auto now = d.clock.now();
            if (!stopping && now - last_reconcile >= d.timing.reconcile_every) {
                last_reconcile = now;
                start_reconcile();
            }
            if (stopping) {
                break;
            }
            asio::steady_timer t(d.executor);
            sleeper = &t;
            t.expires_after(d.timing.tick);
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            sleeper = nullptr;
        }
    }
};

access_engine::access_engine(access_deps deps) : impl_(std::make_unique<impl>(std::move(deps))) {}
access_engine::~access_engine() = default;

void access_engine::start() {
    impl_->stopping = false;
    impl_->last_reconcile = {};
    asio::co_spawn(impl_->d.executor, impl_->loop(), [this](const std::exception_ptr& e) {
        if (e) {
            impl_->looping = false;
            impl_->d.log.error("access_loop_crashed", {});
        }
    });
}

void access_engine::stop() {
    impl_->stopping = true;
    if (impl_->sleeper != nullptr) {
        impl_->sleeper->cancel();
    }
}

bool access_engine::idle() const noexcept {
    return !impl_->looping && impl_->busy == 0;
}

asio::awaitable<core::result<std::string>> access_engine::request(access_request r) {
    impl& m = *impl_;
    auto c = m.check(r);
    if (!c) {
        co_return c.error();
    }
    const auto& role = *c->role;
    grant_record g;
    g.requester = r.requester;
    g.role = role.name;
    g.environment = c->env->name;
    g.kube_namespace = c->ns;
    g.duration = c->duration;
    g.reason = std::string(core::trim(r.reason));
    bool auto_ok = role.approvals_required <= 0 ||
                   std::find(role.auto_approve_in.begin(), role.auto_approve_in.end(),
                             g.environment) != role.auto_approve_in.end();
    // Break-glass and auto-approved requests are approved from the start: their card never
    // shows buttons, and a restart before the bindings exist creates them (see loop()).
    const bool at_once = r.break_glass || auto_ok;
    g.state = at_once ? grant_state::approved : grant_state::pending;
    g.created_at = g.updated_at = m.d.clock.now();
    grant_extra x;
    x.break_glass = r.break_glass;
    write_extra(g, x);
    if (auto ins = m.grants.insert(g); !ins) {
        co_return ins.error();
    }
    m.audit(r.requester, r.break_glass ? "grant.break_glass" : "grant.requested", g,
            json{{"duration_seconds", c->duration.count()}, {"reason", g.reason}});

    auto channel = m.approvals_channel();
    if (!channel.empty()) {
        auto posted = co_await m.d.chat.post(channel, m.card(g));
        if (posted) {
            auto saved = m.modify(g.id, [&](grant_record& row) {
                row.slack_channel = posted->channel;
                row.slack_card_ts = posted->ts;
                return true;
            });
            if (saved && *saved) {
                g = std::move(**saved);
            }
        } else {
            m.d.log.warn("grant_card_failed", {{"error", posted.error().message}});
        }
    }
    if (at_once) {
        if (r.break_glass) {
            co_await m.tell(g,
                            fmt::format("🚨 Break-glass: {} granted this to themselves. Reason: "
                                        "{}. Review it afterwards.",
                                        mention(g.requester), escape_mrkdwn(g.reason)),
                            true, false);
        } else {
            m.audit("tugboat", "grant.auto_approved", g);
            co_await m.tell(g,
                            fmt::format("👍 Approved automatically (`{}` in `{}` needs no "
                                        "approval).",
                                        g.role, g.environment),
                            false, false);
        }
        co_await m.apply(g.id);
        auto now_g = m.load(g.id);
        if (now_g && now_g->state == grant_state::active) {
            co_return fmt::format("✅ Access `{}` ({}) is active until {}.", m.id_of(*now_g),
                                  m.what(*now_g), utc_time(*now_g->expires_at));
        }
        if (now_g && now_g->state == grant_state::failed) {
            co_return core::make_error(core::errc::unavailable,
                                       fmt::format("Access `{}` could not be granted: {}",
                                                   m.id_of(*now_g), now_g->failure_reason));
        }
        co_return fmt::format("Access `{}` is approved; the bindings are being created.",
                              m.id_of(g));
    }
    if (g.slack_card_ts.empty()) {
        co_return core::make_error(
            core::errc::unavailable,
            fmt::format("Request `{}` is saved, but approvers could not be asked: the approvals "
                        "channel ({}) is not set or not reachable. Ask an admin to check "
                        "`access.approvals_channel`.",
                        m.id_of(g),
                        m.d.config.access.approvals_channel.empty()
                            ? std::string("none")
                            : "#" + m.d.config.access.approvals_channel));
    }
    co_await m.tell(
        g,
        fmt::format("{} asks for {} for {}. {} approval{} needed from {}.", mention(g.requester),
                    m.what(g), human(g.duration), role.approvals_required,
                    role.approvals_required == 1 ? "" : "s", mentions(m.approvers_of(role))),
        false, false);
    co_await m.dm(g.requester, fmt::format("📨 Your request `{}` ({} for {}) is waiting for "
                                           "approval{}. The clock starts when it is granted.",
                                           m.id_of(g), m.what(g), human(g.duration), m.link(g)));
    co_return fmt::format("Request `{}` is waiting for approval in <#{}>.", m.id_of(g),
                          g.slack_channel);
}

asio::awaitable<core::result<std::string>> access_engine::decide(std::string id_text,
                                                                 std::string actor, bool approve,
                                                                 std::string reason) {
    impl& m = *impl_;
    auto found = m.find(id_text);
    if (!found) {
        co_return found.error();
    }
    const auto* role = m.role_of(*found);
    if (role == nullptr) {
        co_return core::make_error(core::errc::not_found,
                                   fmt::format("Role `{}` is no longer configured.", found->role));
    }
    principal p = co_await m.who(actor);
    // Re-read after the await: another approver may have decided meanwhile.
    auto g = m.load(found->id);
    if (!g) {
        co_return core::make_error(core::errc::not_found, "That request vanished.");
    }
    bool approved_by_actor = std::any_of(g->approvals.begin(), g->approvals.end(),
                                         [&](const auto& a) { return a.approver == actor; });
    if (approve && approved_by_actor) {
        // A double click: the first press counted.
        co_return fmt::format("You already approved `{}`; it is {} now.", m.id_of(*g),
                              storage::to_string(g->state));
    }
    if (g->state != grant_state::pending) {
        co_return core::make_error(
            core::errc::conflict,
            fmt::format("Request `{}` is not waiting for a decision any more (it is {}).",
                        m.id_of(*g), storage::to_string(g->state)));
    }
    if (actor == g->requester) {
        co_return core::make_error(
            core::errc::permission_denied,
            fmt::format("You asked for `{}`, so someone else has to {} it: {}.{}", m.id_of(*g),
                        approve ? "approve" : "deny", mentions(m.approvers_of(*role)),
                        role->break_glass ? " In an emergency, request it again with "
                                            "`--break-glass`."
                                          : ""));
    }
    if (!matches(p, m.approvers_of(*role)) && !m.is_admin(p)) {
        co_return core::make_error(
            core::errc::permission_denied,
            fmt::format("Only {} can {} `{}` requests; ask one of them.",
                        mentions(m.approvers_of(*role)), approve ? "approve" : "deny", role->name));
    }
    if (!approve) {
        if (core::trim(reason).empty()) {
            co_return core::make_error(
                core::errc::invalid_argument,
                fmt::format("Say why, so {} knows what to do instead: `/access deny {} --reason "
                            "\"…\"`.",
                            mention(g->requester), m.id_of(*g)));
        }
        auto saved = m.modify(g->id, [&](grant_record& r) {
            if (r.state != grant_state::pending) {
                return false;
            }
            r.state = grant_state::rejected;
            r.failure_reason = std::string(core::trim(reason));
            grant_extra x = read_extra(r);
            x.ended_by = actor;
            write_extra(r, x);
            return true;
        });
        if (!saved) {
            co_return saved.error();
        }
        if (!*saved) {
            co_return core::make_error(
                core::errc::conflict,
                fmt::format("Request `{}` was decided meanwhile.", m.id_of(*g)));
        }
        m.audit(actor, "grant.denied", **saved, json{{"reason", reason}});
        co_await m.tell(**saved,
                        fmt::format("🚫 Denied by {}: {}", mention(actor), escape_mrkdwn(reason)));
        co_await m.dm(g->requester,
                      fmt::format("🚫 Your request `{}` ({}) was denied by {}: {}", m.id_of(*g),
                                  m.what(*g), mention(actor), escape_mrkdwn(reason)));
        co_return fmt::format("You denied `{}`.", m.id_of(*g));
    }
    auto added = m.grants.add_approval(g->id, actor, m.d.clock.now());
    if (!added) {
        co_return added.error();
    }
    if (!*added) {
        co_return fmt::format("You already approved `{}`.", m.id_of(*g));
    }
    int needed = std::max(1, role->approvals_required);
    auto saved = m.modify(g->id, [&](grant_record& r) {
        if (r.state != grant_state::pending) {
            return false;
        }
        if (static_cast<int>(r.approvals.size()) >= needed) {
            r.state = grant_state::approved;
        }
        return true;
    });
    if (!saved) {
        co_return saved.error();
    }
    if (!*saved) {
        co_return fmt::format("`{}` was already approved; thanks.", m.id_of(*g));
    }
    m.audit(actor, "grant.approved", **saved);
    int have = static_cast<int>((*saved)->approvals.size());
    co_await m.tell(**saved,
                    fmt::format("👍 Approved by {} ({}/{}).", mention(actor), have, needed));
    if ((*saved)->state == grant_state::approved) {
        co_await m.apply(g->id);
    }
    co_return fmt::format("You approved `{}`.", m.id_of(*g));
}

asio::awaitable<core::result<std::string>> access_engine::revoke(std::string id_text,
                                                                 std::string actor) {
    impl& m = *impl_;
    auto g = m.find(id_text);
    if (!g) {
        co_return g.error();
    }
    principal p = co_await m.who(actor);
    const auto* role = m.role_of(*g);
    bool approver = std::any_of(g->approvals.begin(), g->approvals.end(),
                                [&](const auto& a) { return a.approver == actor; }) ||
                    (role && matches(p, m.approvers_of(*role)));
    if (actor != g->requester && !approver && !m.is_admin(p)) {
        co_return core::make_error(
            core::errc::permission_denied,
            fmt::format("Only {} (who asked), an approver of `{}` or an access admin can end "
                        "`{}`.",
                        mention(g->requester), g->role, m.id_of(*g)));
    }
    if (g->state == grant_state::pending) {
        if (actor != g->requester) {
            co_return core::make_error(
                core::errc::conflict,
                fmt::format("`{}` is still waiting for approval; deny it instead: `/access deny "
                            "{} --reason \"…\"`.",
                            m.id_of(*g), m.id_of(*g)));
        }
        auto saved = m.modify(g->id, [&](grant_record& r) {
            if (r.state != grant_state::pending) {
                return false;
            }
            r.state = grant_state::cancelled;
            grant_extra x = read_extra(r);
            x.ended_by = actor;
            write_extra(r, x);
            return true;
        });
        if (saved && *saved) {
            m.audit(actor, "grant.cancelled", **saved);
            co_await m.tell(**saved, fmt::format("⏹️ Withdrawn by {}.", mention(actor)));
            co_return fmt::format("You withdrew `{}`.", m.id_of(*g));
        }
    }
    auto ended = co_await m.end(g->id, grant_state::revoked, actor);
    if (!ended) {
        co_return core::make_error(core::errc::conflict,
                                   fmt::format("`{}` is not active (it is {}); nothing to revoke.",
                                               m.id_of(*g), storage::to_string(g->state)));
    }
    co_return fmt::format("`{}` is revoked; the bindings are removed.", m.id_of(*g));
}

asio::awaitable<core::result<std::string>> access_engine::extend(
    std::string id_text, std::string actor, std::optional<std::chrono::seconds> by) {
    impl& m = *impl_;
    auto g = m.find(id_text);
    if (!g) {
        co_return g.error();
    }
    if (g->state != grant_state::active || !g->expires_at || !g->granted_at) {
        co_return core::make_error(
            core::errc::conflict,
            fmt::format("`{}` is not active (it is {}); request access again instead.", m.id_of(*g),
                        storage::to_string(g->state)));
    }
    if (actor != g->requester) {
        co_return core::make_error(
            core::errc::permission_denied,
            fmt::format("Only {} can extend `{}`.", mention(g->requester), m.id_of(*g)));
    }
    const auto* role = m.role_of(*g);
    if (role == nullptr) {
        co_return core::make_error(core::errc::not_found, "That role is no longer configured.");
    }
    auto length = std::chrono::duration_cast<std::chrono::seconds>(*g->expires_at - *g->granted_at);
    auto room = role->max_duration - length;
    auto want = by.value_or(std::chrono::duration_cast<std::chrono::seconds>(g->duration));
    if (want > room) {
        want = room;
    }
    if (want.count() <= 0) {
        co_return core::make_error(
            core::errc::invalid_argument,
            fmt::format("`{}` already lasts the most `{}` allows ({}); request it again when it "
                        "ends.",
                        m.id_of(*g), role->name, as_typed(role->max_duration)));
    }
    if (role->self_extend) {
        auto saved = m.modify(g->id, [&](grant_record& r) {
            if (r.state != grant_state::active) {
                return false;
            }
            r.expires_at = *r.expires_at + want;
            return true;
        });
        if (!saved || !*saved) {
            co_return core::make_error(core::errc::conflict, "It changed meanwhile; try again.");
        }
        m.schedule_end(**saved);
        m.audit(actor, "grant.extended", **saved, json{{"by_seconds", want.count()}});
        co_await m.tell(**saved,
                        fmt::format("⏩ Extended by {} by {}; now until {}.", as_typed(want),
                                    mention(actor), utc_time(*(*saved)->expires_at)));
        co_return fmt::format("`{}` now lasts until {}.", m.id_of(*g),
                              utc_time(*(*saved)->expires_at));
    }
    auto saved = m.modify(g->id, [&](grant_record& r) {
        grant_extra x = read_extra(r);
        x.extension_ms = std::chrono::duration_cast<std::chrono::milliseconds>(want).count();
        x.extension_by = actor;
        x.extension_approvals.clear();
        write_extra(r, x);
        return true;
    });
    if (!saved || !*saved) {
        co_return core::make_error(core::errc::conflict, "It changed meanwhile; try again.");
    }
    m.audit(actor, "grant.extension_requested", **saved, json{{"by_seconds", want.count()}});
    message ask;
    ask.text = fmt::format("Extension of {} requested", m.id_of(*g));
    ask.add(section{
        fmt::format("⏩ {} asks to extend `{}` by {}. {} approval{} needed from {}.", mention(actor),
                    m.id_of(*g), as_typed(want), std::max(1, role->approvals_required),
                    role->approvals_required > 1 ? "s" : "", mentions(m.approvers_of(*role))),
        {}});
    ask.add(actions{
        {button{"Approve extension",
                "access.approve_extension",
                m.id_of(*g),
                button_style::primary,
                {}},
         button{
             "Deny extension", "access.deny_extension", m.id_of(*g), button_style::danger, {}}}});
    if (!g->slack_card_ts.empty()) {
        auto replied = co_await m.d.chat.reply(m.root(*g), std::move(ask), false);
        if (!replied) {
            m.d.log.warn("grant_reply_failed", {{"error", replied.error().message}});
        }
    }
    co_return fmt::format("Asked the approvers to extend `{}` by {}.", m.id_of(*g), as_typed(want));
}

asio::awaitable<core::result<std::string>> access_engine::decide_extension(std::string id_text,
                                                                           std::string actor,
                                                                           bool approve) {
    impl& m = *impl_;
    auto g = m.find(id_text);
    if (!g) {
        co_return g.error();
    }
    const auto* role = m.role_of(*g);
    principal p = co_await m.who(actor);
    auto cur = m.load(g->id);
    grant_extra x = cur ? read_extra(*cur) : grant_extra{};
    if (!cur || cur->state != grant_state::active || x.extension_ms <= 0 || role == nullptr) {
        co_return core::make_error(core::errc::conflict,
                                   fmt::format("No extension of `{}` is waiting.", id_text));
    }
    if (actor == cur->requester) {
        co_return core::make_error(core::errc::permission_denied,
                                   "You asked for this extension, so someone else has to "
                                   "approve it: " +
                                       mentions(m.approvers_of(*role)) + ".");
    }
    if (!matches(p, m.approvers_of(*role)) && !m.is_admin(p)) {
        co_return core::make_error(core::errc::permission_denied,
                                   fmt::format("Only {} can decide extensions of `{}`.",
                                               mentions(m.approvers_of(*role)), role->name));
    }
    int needed = std::max(1, role->approvals_required);
    bool granted = false;
    auto by = std::chrono::milliseconds{x.extension_ms};
    auto saved = m.modify(cur->id, [&](grant_record& r) {
        grant_extra y = read_extra(r);
        if (r.state != grant_state::active || y.extension_ms <= 0) {
            return false;
        }
        if (!approve) {
            y.extension_ms = 0;
        } else {
            if (std::find(y.extension_approvals.begin(), y.extension_approvals.end(), actor) ==
                y.extension_approvals.end()) {
                y.extension_approvals.push_back(actor);
            }
            if (static_cast<int>(y.extension_approvals.size()) >= needed) {
                r.expires_at = *r.expires_at + std::chrono::milliseconds{y.extension_ms};
                y.extension_ms = 0;
                granted = true;
            }
        }
        write_extra(r, y);
        return true;
    });
    if (!saved || !*saved) {
        co_return core::make_error(
            core::errc::conflict,
            fmt::format("The extension of `{}` was decided meanwhile.", id_text));
    }
    if (!approve) {
        m.audit(actor, "grant.extension_denied", **saved);
        co_await m.tell(**saved, fmt::format("🚫 Extension denied by {}.", mention(actor)));
        co_return fmt::format("You turned down the extension of `{}`.", id_text);
    }
    if (!granted) {
        m.audit(actor, "grant.extension_approved", **saved);
        co_await m.tell(**saved, fmt::format("👍 Extension approved by {}.", mention(actor)));
        co_return fmt::format("You approved the extension of `{}`.", id_text);
    }
    m.schedule_end(**saved);
    grant_extra y = read_extra(**saved);
    for (const auto& cluster : m.clusters_of(**saved)) {
        (void)co_await m.put_binding(**saved, y.subject, cluster, *(*saved)->expires_at);
    }
    m.audit(actor, "grant.extended", **saved,
            json{{"by_seconds", std::chrono::duration_cast<std::chrono::seconds>(by).count()}});
    co_await m.tell(**saved,
                    fmt::format("⏩ Extended by {} (approved by {}); now until {}.", human(by),
                                mention(actor), utc_time(*(*saved)->expires_at)));
    co_await m.dm(cur->requester, fmt::format("⏩ Your access `{}` now lasts until {}.", id_text,
                                              utc_time(*(*saved)->expires_at)));
    co_return fmt::format("You extended `{}`.", id_text);
}

asio::awaitable<core::result<message>> access_engine::list(std::string actor, bool all) {
    impl& m = *impl_;
    principal p = co_await m.who(actor);
    std::vector<grant_record> rows;
    if (all) {
        bool approver = m.is_admin(p);
        for (const auto& role : m.d.config.access.roles) {
            approver = approver || matches(p, m.approvers_of(role));
        }
        if (!approver) {
            co_return core::make_error(core::errc::permission_denied,
                                       "Only approvers and access admins see everyone's access; "
                                       "type `/access list` for yours.");
        }
        auto open = m.grants.list_open();
        if (!open) {
            co_return open.error();
        }
        rows = std::move(*open);
    } else {
        auto mine = m.grants.list_by_requester(actor, 20);
        if (!mine) {
            co_return mine.error();
        }
        rows = std::move(*mine);
    }
    std::string text;
    for (const auto& g : rows) {
        std::string when;
        if (g.state == grant_state::active && g.expires_at) {
            when = " until " + utc_time(*g.expires_at);
        }
        text +=
            fmt::format("• `{}` {} — {}{}{}\n", m.id_of(g), m.what(g), storage::to_string(g.state),
                        when, all ? " — " + mention(g.requester) : "");
    }
    if (text.empty()) {
        text = all ? "Nobody has access or a pending request right now."
                   : "You have no access grants. Ask with `/access request &lt;role&gt; "
                     "&lt;env&gt;[/&lt;namespace&gt;] &lt;duration&gt; \"&lt;reason&gt;\"`.";
    }
    message out;
    out.add(section{(all ? "*Open access grants*\n" : "*Your access grants*\n") + text, {}});
    co_return out;
}

asio::awaitable<core::result<message>> access_engine::audit(std::string actor, std::string user,
                                                            std::string role,
                                                            std::chrono::seconds since) {
    impl& m = *impl_;
    principal p = co_await m.who(actor);
    if (!m.is_admin(p)) {
        co_return core::make_error(core::errc::permission_denied,
                                   "Only access admins (" + mentions(m.d.config.access.admins) +
                                       ") can read the access audit log; ask one of them.");
    }
    storage::audit_query q;
    q.since = m.d.clock.now() - since;
    q.limit = 1000;
    auto rows = m.audit_log.query(q);
    if (!rows) {
        co_return rows.error();
    }
    std::string text;
    int shown = 0;
    for (const auto& e : *rows) {
        if (!e.action.starts_with("grant.")) {
            continue;
        }
        auto details = json::parse(e.details_json, nullptr, false);
        std::string req = details.is_object() ? details.value("requester", "") : "";
        std::string r = details.is_object() ? details.value("role", "") : "";
        if (!user.empty() && e.actor != user && req != user) {
            continue;
        }
        if (!role.empty() && r != role) {
            continue;
        }
        if (++shown > 40) {
            break;
        }
        text += fmt::format("• {} `{}` {} by {}{}\n", utc_time(e.at), e.subject, e.action,
                            e.actor == "tugboat" ? "Tugboat" : mention(e.actor),
                            r.empty() ? "" : fmt::format(" ({} for {})", r, mention(req)));
    }
    if (text.empty()) {
        text = fmt::format("Nothing in the last {}.", as_typed(since));
    }
    message out;
    out.add(section{"*Access audit* (newest first)\n" + text, {}});
    co_return out;
}

form access_engine::request_form(const access_request& typed) const {
    form f;
    f.callback_id = "access.request";
    f.title = "Request access";
    f.submit = "Request";
    std::string roles;
    for (const auto& r : impl_->d.config.access.roles) {
        roles += fmt::format("\n• `{}` — {} (at most {})", r.name, escape_mrkdwn(r.description),
                             as_typed(r.max_duration));
    }
    f.intro =
        "Or type `/access request &lt;role&gt; &lt;env&gt;[/&lt;namespace&gt;] &lt;duration&gt; "
        "\"&lt;reason&gt;\"`.\n"
        "Roles:" +
        roles;
    f.fields = {
        {"role", "Role", "e.g. view", false, false, typed.role},
        {"target", "Environment[/namespace]", "e.g. prod/payments", false, false, typed.target},
        {"duration", "For how long", "e.g. 2h", false, false, typed.duration},
        {"reason", "Reason", "shown to approvers and kept in the audit log", true, false,
         typed.reason}};
    return f;
}

}  // namespace tugboat::commands
