#include "commands/deploy_engine.hpp"

#include "commands/deploy_policy.hpp"
#include "commands/deploy_view.hpp"
#include "commands/redact.hpp"
#include "integrations/jenkins_client.hpp"
#include "integrations/kubernetes_client.hpp"
#include "integrations/pipeline_eta.hpp"
#include "integrations/pod_diagnosis.hpp"
#include "integrations/rollout_status.hpp"
#include "storage/audit_repository.hpp"
#include "storage/database.hpp"
#include "storage/deploy_repository.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <deque>
#include <optional>
#include <regex>
#include <set>
#include <utility>

namespace tugboat::commands {

namespace asio = boost::asio;
using nlohmann::json;
using storage::deploy_outcome;
using storage::deploy_record;

namespace {

/// Phases, as stored in deploy_record::phase.
namespace phase {
constexpr const char* requested = "requested";  // saved, lock not asked for yet
constexpr const char* queued = "queued";        // waiting for the service+env lock
constexpr const char* awaiting_approval = "awaiting_approval";
constexpr const char* ready = "ready";                // cleared to run
constexpr const char* triggering = "triggering";      // asking Jenkins for a build
constexpr const char* building = "building";          // following the Jenkins build
constexpr const char* rolling_back = "rolling_back";  // asking Kubernetes to undo
constexpr const char* rolling_out = "rolling_out";    // following the Deployments
constexpr const char* done = "done";
}  // namespace phase

/// The workflow's own part of the row (deploy_record::state_json).
struct saved_state {
    std::string reason;
    std::string override_reason;
    std::vector<std::string> approvals;
    bool rollback = false;
    std::string rollback_revision;
    std::int64_t queue_id = 0;
    std::string build_url;
    std::vector<std::string> stages_told;
    std::vector<std::string> problems_told;
    std::string cancel_by;
    std::int64_t approval_deadline = 0;  // unix seconds
    std::string requested_channel;
    std::string input_told;  // the Jenkins input step last shown with buttons
    bool end_shown = false;  // Slack accepted the root edit that shows the outcome
};

saved_state read_state(const deploy_record& d) {
    saved_state s;
    auto j = json::parse(d.state_json, nullptr, false);
    if (!j.is_object()) {
        return s;
    }
    s.reason = j.value("reason", "");
    s.override_reason = j.value("override_reason", "");
    s.approvals = j.value("approvals", std::vector<std::string>{});
    s.rollback = j.value("rollback", false);
    s.rollback_revision = j.value("rollback_revision", "");
    s.queue_id = j.value("queue_id", std::int64_t{0});
    s.build_url = j.value("build_url", "");
    s.stages_told = j.value("stages_told", std::vector<std::string>{});
    s.problems_told = j.value("problems_told", std::vector<std::string>{});
    s.cancel_by = j.value("cancel_by", "");
    s.approval_deadline = j.value("approval_deadline", std::int64_t{0});
    s.requested_channel = j.value("requested_channel", "");
    s.input_told = j.value("input_told", "");
    s.end_shown = j.value("end_shown", false);
    return s;
}

void write_state(deploy_record& d, const saved_state& s) {
    json j{{"reason", s.reason},
           {"override_reason", s.override_reason},
           {"approvals", s.approvals},
           {"rollback", s.rollback},
           {"rollback_revision", s.rollback_revision},
           {"queue_id", s.queue_id},
           {"build_url", s.build_url},
           {"stages_told", s.stages_told},
           {"problems_told", s.problems_told},
           {"cancel_by", s.cancel_by},
           {"approval_deadline", s.approval_deadline},
           {"requested_channel", s.requested_channel},
           {"input_told", s.input_told},
           {"end_shown", s.end_shown}};
    d.state_json = j.dump();
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
    for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos)) {
        text.replace(pos, from.size(), to);
        pos += to.size();
    }
    return text;
}

/// The last `n` lines of `text`.
std::string tail_lines(const std::string& text, std::size_t n) {
    std::size_t pos = text.size();
    for (std::size_t lines = 0; pos > 0 && lines <= n;) {
        pos = text.rfind('\n', pos - 1);
        if (pos == std::string::npos) {
            return text;
        }
        ++lines;
        if (lines > n) {
            return text.substr(pos + 1);
        }
    }
    return text;
}

std::string utc(core::time_point t) {
    std::time_t secs = static_cast<std::time_t>(core::to_unix(t));
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02} UTC", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min);
}

/// The requester of what the bot starts by itself (automatic rollbacks): the environment's
/// policy already allowed the deploy it repairs, so no checks or approvals apply.
constexpr const char* system_actor = "tugboat";

struct target {
    integrations::kubernetes* cluster = nullptr;
    std::string cluster_name;
    std::string ns;
    std::string deployment;
    std::string container;
};

}  // namespace

struct deploy_engine::impl {
    deploy_deps d;
    storage::deploy_repository repo;
    storage::audit_repository audit_log;
    struct live {
        bool cancel = false;
        asio::steady_timer* sleeper = nullptr;
        /// Counts as work in progress except while the pipeline waits for a person.
        std::optional<core::work_tracker::scope> work;
    };
    std::map<std::int64_t, live*> running;  // deploys whose coroutine runs now
    std::map<std::int64_t, std::chrono::steady_clock::time_point> last_root_edit;
    std::map<std::int64_t, std::string> last_root_shown;
    std::unique_ptr<asio::steady_timer> sweeper;
    std::size_t sending = 0;           // senders running (see outbox)
    std::size_t following_builds = 0;  // deploys polling Jenkins now
    bool stopping = false;

    std::optional<redactor> redact;  // log excerpts in threads are redacted like /logs

    explicit impl(deploy_deps deps) : d(std::move(deps)), repo(d.db), audit_log(d.db) {
        auto r = redactor::create(d.config.logs.redact_patterns);
        if (!r) {  // check-config refuses such patterns; keep the built-in rules at least
            r = redactor::create({});
        }
        if (r) {
            redact.emplace(std::move(*r));
        }
    }

    std::string scrub(std::string_view text) const {
        return redact ? redact->redact_text(text) : std::string(text);
    }

    // ---- small helpers ----

    void audit(std::string actor, std::string action, std::string subject, json details = {}) {
        storage::audit_entry e;
        e.at = d.clock.now();
        e.actor = std::move(actor);
        e.action = std::move(action);
        e.subject = std::move(subject);
        e.details_json = details.is_null() ? "{}" : details.dump();
        if (auto r = audit_log.append(e); !r) {
            d.log.error("audit_failed", {{"action", e.action}, {"error", r.error().message}});
        }
    }

    std::optional<deploy_record> load(std::int64_t id) {
        auto r = repo.get(id);
        if (!r) {
            d.log.error("deploy_load_failed", {{"id", id}, {"error", r.error().message}});
            return std::nullopt;
        }
        return *r;
    }

    /// Loads, changes and saves deploy `id`, retrying when someone saved in between.
    core::result<deploy_record> modify(std::int64_t id,
                                       const std::function<void(deploy_record&)>& change) {
        for (int attempt = 0; attempt < 5; ++attempt) {
            auto got = repo.get(id);
            if (!got) {
                return got.error();
            }
            if (!*got) {
                return core::make_error(
                    core::errc::not_found,
                    fmt::format("There is no deploy `{}`.", storage::format_deploy_id(id)));
            }
            deploy_record rec = std::move(**got);
            change(rec);
            auto saved = repo.update(rec);
            if (saved) {
                return rec;
            }
            if (saved.error().code != core::errc::conflict) {
                return saved.error();
            }
        }
        return core::make_error(core::errc::conflict, "the deploy kept changing; try again");
    }

    const core::service_config* service_of(const deploy_record& r) const {
        return d.config.find_service(r.service);
    }
    const core::environment_config* env_of(const deploy_record& r) const {
        return d.config.find_environment(r.environment);
    }

    std::string channel_for(const core::service_config& svc, const std::string& fallback) const {
        for (const auto& c : d.config.channels) {
            if (c.name == svc.channel) {
                return c.id;
            }
        }
        return fallback;
    }

    deploy_view view_of(const deploy_record& r) const {
        saved_state s = read_state(r);
        deploy_view v;
        v.id = storage::format_deploy_id(r.id);
        v.service = r.service;
        v.version = r.version;
        v.environment = r.environment;
        v.requester = r.requester;
        v.reason = s.reason;
        v.build_number = static_cast<int>(r.build_number.value_or(0));
        v.build_url = s.build_url;
        v.failure = r.failure_reason;
        switch (r.outcome) {
            case deploy_outcome::succeeded:
                v.status = deploy_view::state::succeeded;
                v.phase = "done";
                break;
            case deploy_outcome::failed:
                v.status = deploy_view::state::failed;
                v.phase = "failed";
                break;
            case deploy_outcome::cancelled:
                v.status = deploy_view::state::cancelled;
                v.phase =
                    s.cancel_by.empty() ? "cancelled" : "cancelled by " + mention(s.cancel_by);
                break;
            case deploy_outcome::running:
                v.status = r.phase == phase::queued || r.phase == phase::awaiting_approval ||
                                   r.phase == phase::requested
                               ? deploy_view::state::waiting
                               : deploy_view::state::running;
                v.phase = r.phase == phase::requested           ? "starting"
                          : r.phase == phase::queued            ? "waiting for the lock"
                          : r.phase == phase::awaiting_approval ? "waiting for approval"
                          : r.phase == phase::rolling_out       ? "rolling out"
                          : r.phase == phase::rolling_back      ? "rolling back"
                          : r.phase == phase::ready             ? "starting"
                          : r.build_number                      ? "building"
                                                                : "queued in Jenkins";
                break;
        }
        return v;
    }

    commands::message_ref root_of(const deploy_record& r) const {
        return {r.slack_channel, r.slack_root_ts};
    }

    /// What a deploy still has to tell Slack. Deploys never wait for Slack (chat.update's
    /// workspace budget is ~50 edits a minute, shared by every deploy); what they say waits
    /// here instead, a few hundred bytes a message: replies go out one after another (thread
    /// order), and the root edit waits in one slot where a newer edit replaces it. A milestone
    /// (an ending, a wait for people) gets a second editor: while the first edit waits for
    /// Slack's budget, it hands the newer content to the send queue, which merges it into the
    /// waiting call and lets it jump the line. Progress edits just wait in the slot.
    struct outbox {
        commands::message_ref root;
        std::deque<std::pair<message, bool>> replies;  // with reply_broadcast
        bool replying = false;
        std::optional<message> edit;
        bool edit_milestone = false;
        bool edit_is_end = false;
        int editors = 0;
    };
    std::map<std::int64_t, outbox> outboxes;

    outbox& outbox_of(const deploy_record& r) {
        auto& ob = outboxes[r.id];
        ob.root = root_of(r);
        return ob;
    }

    /// Senders run detached; idle() counts them, so the engine outlives them.
    void in_background(asio::awaitable<void> send) {
        ++sending;
        asio::co_spawn(d.executor, std::move(send), [this](const std::exception_ptr& e) {
            --sending;
            if (e) {
                d.log.error("deploy_message_crashed", {});
            }
        });
    }

    void forget_if_done(std::int64_t id) {
        auto it = outboxes.find(id);
        if (it != outboxes.end() && !it->second.replying && it->second.editors == 0) {
            outboxes.erase(it);
        }
    }

    asio::awaitable<void> send_replies(std::int64_t id) {
        while (true) {
            auto it = outboxes.find(id);
            if (it->second.replies.empty()) {
                it->second.replying = false;
                break;
            }
            auto next = std::move(it->second.replies.front());
            it->second.replies.pop_front();
            auto ok = co_await d.chat.reply(it->second.root, std::move(next.first), next.second);
            if (!ok) {
                d.log.warn("deploy_reply_failed", {{"id", id}, {"error", ok.error().message}});
            }
        }
        forget_if_done(id);
    }

    asio::awaitable<void> send_edits(std::int64_t id) {
        while (true) {
            auto it = outboxes.find(id);
            outbox& ob = it->second;
            if (!ob.edit) {
                --ob.editors;
                break;
            }
            message msg = std::move(*ob.edit);
            ob.edit.reset();
            bool milestone = std::exchange(ob.edit_milestone, false);
            bool the_end = std::exchange(ob.edit_is_end, false);
            auto ok = co_await d.chat.update(ob.root, std::move(msg), milestone);
            if (!ok) {
                d.log.warn("deploy_root_update_failed",
                           {{"id", id}, {"error", ok.error().message}});
            } else if (the_end) {
                (void)modify(id, [](deploy_record& x) {
                    saved_state s = read_state(x);
                    s.end_shown = true;
                    write_state(x, s);
                });
            }
        }
        forget_if_done(id);
    }

    /// Edits the root message; in-between edits are dropped when the last one was recent.
    void show(const deploy_record& r, const deploy_view& v, bool force) {
        if (r.slack_root_ts.empty()) {
            return;
        }
        auto now = std::chrono::steady_clock::now();
        auto& last = last_root_edit[r.id];
        if (!force && now - last < d.timing.root_update_min) {
            return;
        }
        auto msg = root_message(v);
        // Slack calls are the scarce resource (a few per deploy): skip edits that change nothing.
        std::string rendered = to_slack_payload_json(msg);
        auto& shown = last_root_shown[r.id];
        if (rendered == shown) {
            return;
        }
        shown = std::move(rendered);
        last = now;
        auto& ob = outbox_of(r);
        ob.edit = std::move(msg);
        ob.edit_milestone = ob.edit_milestone || force;
        ob.edit_is_end = r.outcome != deploy_outcome::running;
        if (ob.editors == 0 || (force && ob.editors == 1)) {
            ++ob.editors;
            in_background(send_edits(r.id));
        }
    }

    void reply(const deploy_record& r, message msg, bool broadcast = false) {
        if (r.slack_root_ts.empty()) {
            return;
        }
        auto& ob = outbox_of(r);
        ob.replies.emplace_back(std::move(msg), broadcast);
        if (!ob.replying) {
            ob.replying = true;
            in_background(send_replies(r.id));
        }
    }

    void say(const deploy_record& r, std::string mrkdwn, bool broadcast = false) {
        reply(r, plain_message(std::move(mrkdwn)), broadcast);
    }

    /// Jenkins is shared with everyone: with many builds followed at once each is polled less
    /// often, so that all of them together stay within timing.jenkins_polls_per_second.
    std::chrono::milliseconds build_poll() const {
        auto spread = std::chrono::milliseconds{static_cast<long>(
            1000.0 * static_cast<double>(following_builds) / d.timing.jenkins_polls_per_second)};
        return std::max(d.timing.poll, spread);
    }

    /// Sleeps unless the deploy is cancelled or the engine stops; false when it should end.
    asio::awaitable<bool> nap(live& l, std::chrono::milliseconds how_long) {
        if (l.cancel || stopping) {
            co_return false;
        }
        asio::steady_timer t(d.executor);
        l.sleeper = &t;
        t.expires_after(how_long);
        // Woken early by cancel(): the error code says nothing the flags do not.
        (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        l.sleeper = nullptr;
        co_return !l.cancel && !stopping;
    }

    // ---- checks at request time ----

    asio::awaitable<principal> who(std::string user) {
        co_return co_await principal_of(d.people, d.log, std::move(user));
    }

    /// Takes the service+env lock for `id`, or says who holds it. A lock left by a deploy
    /// that finished or vanished is released first.
    core::result<bool> take_lock(const deploy_record& r) {
        storage::env_lock l{r.service, r.environment, r.id, r.requester, "deploy", d.clock.now()};
        auto taken = repo.acquire_lock(l);
        if (taken) {
            return true;
        }
        if (taken.error().code != core::errc::conflict) {
            return taken.error();
        }
        auto holder = repo.get_lock(r.service, r.environment);
        if (holder && *holder && (*holder)->deploy_id) {
            auto other = repo.get(*(*holder)->deploy_id);
            if (other && (!*other || (*other)->outcome != deploy_outcome::running)) {
                d.log.info("stale_lock_released", {{"service", r.service}, {"env", r.environment}});
                (void)repo.release_locks_of(*(*holder)->deploy_id);
                if (repo.acquire_lock(l)) {
                    return true;
                }
            }
        }
        return false;
    }

    std::string lock_holder_text(const std::string& service, const std::string& env) {
        auto holder = repo.get_lock(service, env);
        if (!holder || !*holder) {
            return "someone";
        }
        const auto& h = **holder;
        auto since = std::chrono::duration_cast<std::chrono::milliseconds>(d.clock.now() - h.since);
        if (h.deploy_id) {
            return fmt::format("deploy `{}` by {} (since {} ago)",
                               storage::format_deploy_id(*h.deploy_id), mention(h.holder),
                               short_duration(since));
        }
        return fmt::format("a lock by {} — “{}” — since {} ago", mention(h.holder), h.reason,
                           short_duration(since));
    }

    // ---- the workflow ----

    asio::awaitable<core::result<std::string>> create(deploy_request r, bool is_rollback,
                                                      std::string rollback_revision) {
        const auto* svc = d.config.find_service(r.service);
        const auto* env = d.config.find_environment(r.environment);
        if (svc == nullptr || env == nullptr) {
            co_return core::make_error(core::errc::invalid_argument,
                                       "Unknown service or environment. Type `help deploy`.");
        }
        if (!svc->workloads.contains(env->name)) {
            co_return core::make_error(
                core::errc::invalid_argument,
                fmt::format("`{}` does not run in `{}` (the config lists no workloads there).",
                            svc->name, env->name));
        }
        const bool automatic = r.requester == system_actor;
        principal me{r.requester, {}};
        if (!automatic) {
            auto found = co_await who(r.requester);
            me = std::move(found);
        }
        if (auto ok = may_deploy(me, *svc, *env); !ok && !automatic) {
            co_return ok.error();
        }
        if (!is_rollback) {
            if (r.version.empty()) {
                if (env->policy.requires_success_in.empty()) {
                    co_return core::make_error(
                        core::errc::invalid_argument,
                        fmt::format("Which version? Type `/deploy {} {} <version>`.", svc->name,
                                    env->name));
                }
                auto last = repo.last_successful(svc->name, env->policy.requires_success_in);
                if (!last || !*last) {
                    co_return core::make_error(
                        core::errc::invalid_argument,
                        fmt::format("Nothing has succeeded in `{}` yet to promote. Type "
                                    "`/deploy {} {} <version>`.",
                                    env->policy.requires_success_in, svc->name, env->name));
                }
                r.version = (*last)->version;
            }
            if (!std::regex_match(r.version,
                                  std::regex(core::version_regex(svc->version_pattern)))) {
                co_return core::make_error(
                    core::errc::invalid_argument,
                    fmt::format("`{}` is not a version of {} (expected {}, e.g. `{}`).", r.version,
                                svc->name, svc->version_pattern,
                                svc->version_pattern == "sha" ? "3f9c2ab" : "v1.4.2"));
            }
            if (!env->policy.requires_success_in.empty()) {
                auto hist = repo.history(svc->name, env->policy.requires_success_in, 50);
                bool passed = false;
                if (hist) {
                    for (const auto& h : *hist) {
                        passed = passed ||
                                 (h.version == r.version && h.outcome == deploy_outcome::succeeded);
                    }
                }
                if (!passed) {
                    co_return core::make_error(
                        core::errc::permission_denied,
                        fmt::format("`{}` has not been deployed to `{}` successfully yet, and "
                                    "`{}` only takes versions that have. Deploy it there first: "
                                    "`/deploy {} {} {}`.",
                                    r.version, env->policy.requires_success_in, env->name,
                                    svc->name, env->policy.requires_success_in, r.version));
                }
            }
        }
        if (auto freeze = active_freeze(*env, d.clock.now()); freeze && !automatic) {
            if (!r.override_freeze) {
                co_return core::make_error(
                    core::errc::permission_denied,
                    fmt::format("`{}` is frozen: {}. If this cannot wait, someone allowed to "
                                "override can type `/deploy {} {} {} --override-freeze \"why\"`.",
                                env->name, freeze->description, svc->name, env->name, r.version));
            }
            if (auto ok = may_override_freeze(me, *env, d.config.bot.admins); !ok) {
                co_return ok.error();
            }
        }
        auto manual = repo.get_lock(svc->name, env->name);
        if (manual && *manual && !(*manual)->deploy_id) {
            co_return core::make_error(
                core::errc::conflict,
                fmt::format("`{}` in `{}` is locked: {}. Ask them, or `/deploy unlock {} {}` "
                            "when it is safe.",
                            svc->name, env->name, lock_holder_text(svc->name, env->name), svc->name,
                            env->name));
        }

        deploy_record rec;
        rec.service = svc->name;
        rec.environment = env->name;
        rec.version = is_rollback ? "rollback" + (rollback_revision.empty()
                                                      ? std::string{}
                                                      : " to revision " + rollback_revision)
                                  : r.version;
        rec.requester = r.requester;
        rec.phase = phase::requested;
        rec.created_at = d.clock.now();
        rec.updated_at = rec.created_at;
        rec.slack_channel = channel_for(*svc, r.channel);
        saved_state st;
        st.reason = r.reason;
        st.override_reason = r.override_freeze.value_or("");
        st.rollback = is_rollback;
        st.rollback_revision = rollback_revision;
        st.requested_channel = r.channel;
        write_state(rec, st);
        auto id = repo.insert(rec);
        if (!id) {
            co_return id.error();
        }
        std::string shown = storage::format_deploy_id(*id);
        audit(r.requester, is_rollback ? "deploy.rollback_requested" : "deploy.requested", shown,
              {{"service", rec.service},
               {"env", rec.environment},
               {"version", rec.version},
               {"reason", r.reason}});
        if (r.override_freeze) {
            audit(r.requester, "deploy.freeze_overridden", shown, {{"reason", *r.override_freeze}});
        }

        auto first = root_message(view_of(rec));
        last_root_shown[rec.id] = to_slack_payload_json(first);
        auto root = co_await d.chat.post(rec.slack_channel, std::move(first));
        if (!root) {
            (void)modify(*id, [&](deploy_record& x) {
                x.outcome = deploy_outcome::failed;
                x.phase = phase::done;
                x.failure_reason = root.error().message;
                x.finished_at = d.clock.now();
            });
            co_return root.error();
        }
        auto saved = modify(*id, [&](deploy_record& x) { x.slack_root_ts = root->ts; });
        if (!saved) {
            co_return saved.error();
        }
        rec = *saved;
        if (r.override_freeze) {
            say(rec,
                fmt::format("🧊 Freeze overridden by {}: {}", mention(r.requester),
                            escape_mrkdwn(*r.override_freeze)),
                true);
        }

        co_return co_await lock_or_queue(rec);
    }

    /// Takes the lock and begins, or queues (or refuses) behind whoever holds it.
    asio::awaitable<core::result<std::string>> lock_or_queue(deploy_record rec) {
        const auto* env = env_of(rec);
        std::string shown = storage::format_deploy_id(rec.id);
        auto locked = take_lock(rec);
        if (!locked) {
            co_return locked.error();
        }
        if (!*locked) {
            std::string holder = lock_holder_text(rec.service, rec.environment);
            if (env->policy.when_locked == "refuse") {
                say(rec, fmt::format("🚫 Refused: {} is deploying.", holder));
                (void)co_await finish(rec.id, deploy_outcome::cancelled,
                                      "refused: " + holder + " is deploying");
                co_return core::make_error(
                    core::errc::conflict,
                    fmt::format("`{}` in `{}` is busy: {}. Try again when it is done.", rec.service,
                                rec.environment, holder));
            }
            auto pos = repo.enqueue(rec.id, d.clock.now());
            int position = pos ? *pos : 0;
            auto saved = modify(rec.id, [](deploy_record& x) { x.phase = phase::queued; });
            if (saved) {
                show(*saved, view_of(*saved), true);
            }
            say(rec, fmt::format("⏳ Queued behind {} (position {}). It starts by "
                                 "itself; {} will be told.",
                                 holder, position, mention(rec.requester)));
            co_return fmt::format("Deploy `{}` is queued (position {}) — follow it in <#{}>.",
                                  shown, position, rec.slack_channel);
        }
        co_await begin(rec.id);
        co_return fmt::format("Deploy `{}` started — follow it in <#{}>.", shown,
                              rec.slack_channel);
    }

    /// The lock is ours: ask for approval, or go.
    asio::awaitable<void> begin(std::int64_t id) {
        auto rec = load(id);
        if (!rec || rec->outcome != deploy_outcome::running) {
            co_return;
        }
        const auto* svc = service_of(*rec);
        const auto* env = env_of(*rec);
        if (svc == nullptr || env == nullptr) {
            co_await finish(id, deploy_outcome::failed,
                            "the service or environment is no longer in the config");
            co_return;
        }
        const auto& approval = env->policy.approval;
        if (approval.required > 0 && rec->requester != system_actor) {
            auto deadline = d.clock.now() + approval.expires_after;
            auto saved = modify(id, [&](deploy_record& x) {
                x.phase = phase::awaiting_approval;
                saved_state s = read_state(x);
                s.approval_deadline = core::to_unix(deadline);
                write_state(x, s);
            });
            if (!saved) {
                co_return;
            }
            show(*saved, view_of(*saved), true);
            auto ask = approval_request_message(view_of(*saved), approvers_for(*svc, *env),
                                                approval.required, approval.expires_after);
            reply(*saved, std::move(ask));
            co_return;
        }
        auto saved = modify(id, [&](deploy_record& x) { x.phase = phase::ready; });
        if (saved) {
            spawn(id);
        }
    }

    void spawn(std::int64_t id) {
        if (running.contains(id) || stopping) {
            return;
        }
        asio::co_spawn(d.executor, drive(id, d.tracker.start()),
                       [this, id](const std::exception_ptr& e) {
                           if (e) {
                               try {
                                   std::rethrow_exception(e);
                               } catch (const std::exception& ex) {
                                   d.log.error("deploy_crashed", {{"id", id}, {"what", ex.what()}});
                               }
                           }
                       });
    }

    asio::awaitable<void> drive(std::int64_t id, core::work_tracker::scope work) {
        live me;
        me.work.emplace(std::move(work));
        running[id] = &me;
        struct unregister {
            impl* self;
            std::int64_t id;
            ~unregister() { self->running.erase(id); }
        } guard{this, id};
        while (!stopping) {
            auto rec = load(id);
            if (!rec || rec->outcome != deploy_outcome::running) {
                break;
            }
            if (me.cancel) {
                co_await cancelled(*rec);
                break;
            }
            std::string p = rec->phase;
            saved_state st = read_state(*rec);
            const auto* svc = service_of(*rec);
            if (svc == nullptr || env_of(*rec) == nullptr) {
                co_await finish(id, deploy_outcome::failed,
                                "the service or environment is no longer in the config");
                break;
            }
            std::optional<std::string> next;
            std::string failure;
            if (p == phase::ready) {
                next = st.rollback
                           ? (svc->rollback == "jenkins" ? phase::triggering : phase::rolling_back)
                       : svc->jenkins.empty() ? phase::rolling_out
                                              : phase::triggering;
            } else if (p == phase::triggering) {
                auto r = co_await trigger(*rec, me);
                if (!r) {
                    failure = r.error().message;
                } else {
                    next = phase::building;
                }
            } else if (p == phase::building) {
                auto r = co_await follow_build(*rec, me);
                if (!r) {
                    failure = r.error().message;
                } else if (*r) {
                    next = phase::rolling_out;
                }
            } else if (p == phase::rolling_back) {
                auto r = co_await undo(*rec);
                if (!r) {
                    failure = r.error().message;
                } else {
                    next = phase::rolling_out;
                }
            } else if (p == phase::rolling_out) {
                auto r = co_await follow_rollout(*rec, me);
                if (!r) {
                    failure = r.error().message;
                } else if (*r) {
                    co_await finish(id, deploy_outcome::succeeded, "");
                    break;
                }
            } else {
                break;  // queued or awaiting approval: nothing runs until the lock or an approval
            }
            if (me.cancel) {
                continue;
            }
            if (!failure.empty()) {
                co_await fail(id, failure);
                break;
            }
            if (next) {
                auto saved = modify(id, [&](deploy_record& x) { x.phase = *next; });
                if (!saved) {
                    break;
                }
                show(*saved, view_of(*saved), false);
            }
        }
    }

    integrations::jenkins* jenkins_of(const core::service_config& svc) {
        auto it = d.jenkins.find(svc.jenkins);
        return it == d.jenkins.end() ? nullptr : it->second;
    }

    std::string job_of(const deploy_record& r, const core::service_config& svc) const {
        return replace_all(replace_all(svc.job, "{service}", r.service), "{env}", r.environment);
    }

    std::string version_for_build(const deploy_record& r, const saved_state& st) {
        if (!st.rollback) {
            return r.version;
        }
        // A Jenkins-mode rollback re-runs the version that succeeded before the current one.
        auto hist = repo.history(r.service, r.environment, 50);
        std::vector<std::string> good;
        if (hist) {
            for (const auto& h : *hist) {
                if (h.outcome == deploy_outcome::succeeded && h.id != r.id &&
                    !h.version.starts_with("rollback") && !contains(good, h.version)) {
                    good.push_back(h.version);
                }
            }
        }
        return good.size() >= 2 ? good[1] : "";
    }

    asio::awaitable<core::result<void>> trigger(const deploy_record& r, live& /*me*/) {
        const auto* svc = service_of(r);
        auto* j = jenkins_of(*svc);
        if (j == nullptr) {
            co_return core::make_error(
                core::errc::config_error,
                fmt::format("no Jenkins server `{}` is configured", svc->jenkins));
        }
        saved_state st = read_state(r);
        if (st.queue_id != 0) {
            co_return core::ok();  // resumed after the trigger was saved: follow that item
        }
        std::string version = version_for_build(r, st);
        if (version.empty()) {
            co_return core::make_error(core::errc::not_found,
                                       "there is no earlier successful version to roll back to");
        }
        std::string job = job_of(r, *svc);
        std::string id = storage::format_deploy_id(r.id);
        std::map<std::string, std::string> params;
        std::string id_param;
        for (const auto& [name, placeholder] : svc->job_parameters) {
            std::string v = replace_all(placeholder, "{service}", r.service);
            v = replace_all(v, "{env}", r.environment);
            v = replace_all(v, "{version}", version);
            v = replace_all(v, "{deploy_id}", id);
            if (placeholder.find("{deploy_id}") != std::string::npos) {
                id_param = name;
            }
            params[name] = v;
        }
        auto remember = [&](const integrations::jenkins_queue_ref& item) {
            return modify(r.id, [&](deploy_record& x) {
                x.jenkins_queue_url = item.url;
                saved_state s = read_state(x);
                s.queue_id = item.id;
                write_state(x, s);
            });
        };
        // Resumed after the trigger may have reached Jenkins: find that item or build, never
        // start two.
        if (!id_param.empty()) {
            auto queued = co_await j->find_queued_by_parameter(job, id_param, id);
            if (queued && *queued) {
                auto saved = remember(**queued);
                co_return saved ? core::ok() : core::result<void>(saved.error());
            }
            auto found = co_await j->find_build_by_parameter(job, id_param, id, 50);
            if (found && *found) {
                auto saved = modify(r.id, [&](deploy_record& x) {
                    x.build_number = (*found)->number;
                    saved_state s = read_state(x);
                    s.build_url = (*found)->url;
                    write_state(x, s);
                });
                co_return saved ? core::ok() : core::result<void>(saved.error());
            }
        }
        auto queued = co_await j->trigger(job, params);
        if (!queued) {
            co_return core::make_error(
                queued.error().code, "Jenkins did not start the build: " + queued.error().message);
        }
        audit("tugboat", "deploy.build_triggered", id, {{"job", job}, {"queue_id", queued->id}});
        auto saved = remember(*queued);
        if (!saved) {
            co_return saved.error();
        }
        // No reply of its own: the root shows "queued in Jenkins", then the build link.
        show(*saved, view_of(*saved), false);
        co_return core::ok();
    }

    /// Follows the build to its end; true when it succeeded, false when cancelled.
    asio::awaitable<core::result<bool>> follow_build(const deploy_record& start, live& me) {
        const auto* svc = service_of(start);
        auto* j = jenkins_of(*svc);
        if (j == nullptr) {
            co_return core::make_error(core::errc::config_error, "Jenkins is not configured");
        }
        std::string job = job_of(start, *svc);
        std::string id = storage::format_deploy_id(start.id);
        deploy_record rec = start;
        auto deadline = d.clock.now() + svc->build_timeout;
        ++following_builds;
        struct uncount {
            std::size_t& n;
            ~uncount() { --n; }
        } counted{following_builds};
        // Queue item → build number.
        while (!rec.build_number) {
            saved_state st = read_state(rec);
            auto item = co_await j->queue_item(st.queue_id);
            if (item && item->status == integrations::jenkins_queue_item::state::started) {
                auto saved = modify(rec.id, [&](deploy_record& x) {
                    x.build_number = item->build_number;
                    saved_state s = read_state(x);
                    s.build_url = item->build_url;
                    write_state(x, s);
                });
                if (!saved) {
                    co_return saved.error();
                }
                rec = *saved;
                show(rec, view_of(rec), false);
                break;
            }
            if (item && item->status == integrations::jenkins_queue_item::state::cancelled) {
                co_return core::make_error(core::errc::cancelled,
                                           "the build was cancelled in Jenkins' queue");
            }
            if (item && item->status == integrations::jenkins_queue_item::state::gone) {
                (void)modify(rec.id, [&](deploy_record& x) {
                    x.phase = phase::triggering;
                    saved_state s = read_state(x);
                    s.queue_id = 0;
                    write_state(x, s);
                });
                co_return core::make_error(core::errc::not_found,
                                           "Jenkins forgot the queue item before it started");
            }
            if (d.clock.now() > deadline) {
                co_return core::make_error(core::errc::timeout,
                                           fmt::format("the build did not start within {}",
                                                       short_duration(svc->build_timeout)));
            }
            if (!co_await nap(me, build_poll())) {
                co_return false;
            }
        }
        int number = static_cast<int>(*rec.build_number);
        std::vector<integrations::past_run> history = eta_history(*svc);
        std::optional<integrations::jenkins_build> first_read;
        while (true) {
            auto run = co_await j->stages(job, number);
            if (run) {
                co_await tell_stages(rec, *run);
                if (run->pending_input) {
                    co_await ask_input(rec, *run->pending_input);
                    me.work.reset();
                } else if (!me.work) {
                    me.work.emplace(d.tracker.start());
                }
                if (auto fresh = load(rec.id)) {
                    rec = *fresh;
                }
            }
            // The stage view says whether the run goes on; the build itself is read once (its
            // start and Jenkins' estimate) and again when it ends: one request per poll.
            bool going_on =
                run && (run->status == integrations::jenkins_stage_status::in_progress ||
                        run->status == integrations::jenkins_stage_status::paused_pending_input);
            std::optional<integrations::jenkins_build> b;
            if (!going_on || !first_read) {
                auto got = co_await j->build(job, number);
                if (got) {
                    b = std::move(*got);
                    if (!first_read) {
                        first_read = b;
                    }
                }
            }
            if (b && !b->building && b->result != integrations::jenkins_result::none) {
                auto last = co_await j->stages(job, number);  // the last stage may have ended
                run = std::move(last);
                if (run) {
                    co_await tell_stages(rec, *run);
                    if (auto fresh = load(rec.id)) {
                        rec = *fresh;
                    }
                    remember_stages(job, *run);
                }
                if (b->result == integrations::jenkins_result::success) {
                    co_return true;  // the stage replies said it; the root moves on
                }
                if (b->result == integrations::jenkins_result::aborted && me.cancel) {
                    co_return false;
                }
                co_return core::make_error(core::errc::internal,
                                           co_await build_failure(rec, job, number, *b, run));
            }
            if (run) {
                auto v = view_of(rec);
                auto current = integrations::eta_progress(*run);
                auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now() -
                    (first_read ? first_read->started : run->started));
                auto eta = integrations::estimate_remaining(
                    history, current, elapsed,
                    first_read ? first_read->estimated_duration : std::nullopt);
                v.eta = eta.remaining;
                v.progress = eta.progress;
                for (const auto& s : run->stages) {
                    if (s.status == integrations::jenkins_stage_status::in_progress) {
                        v.phase = "building: " + s.name;
                    }
                    if (s.status == integrations::jenkins_stage_status::paused_pending_input) {
                        v.phase = fmt::format("{}: waiting for an answer in the thread", s.name);
                    }
                }
                show(rec, v, false);
            }
            if (d.clock.now() > deadline) {
                (void)co_await j->abort(job, number);
                co_return core::make_error(core::errc::timeout,
                                           fmt::format("the build took longer than {} and was "
                                                       "stopped",
                                                       short_duration(svc->build_timeout)));
            }
            if (!co_await nap(me, build_poll())) {
                if (me.cancel) {
                    (void)co_await j->abort(job, number);
                }
                co_return false;
            }
        }
    }

    std::vector<integrations::past_run> eta_history(const core::service_config& svc) {
        // Stage samples are stored one row each; sample i of every stage forms past run i.
        std::vector<integrations::past_run> runs;
        auto rows = repo.recent_stages(svc.job, std::nullopt, 400);
        if (!rows) {
            return runs;
        }
        std::map<std::string, std::size_t> seen;
        for (auto it = rows->rbegin(); it != rows->rend(); ++it) {
            std::size_t i = seen[it->stage]++;
            if (runs.size() <= i) {
                runs.resize(i + 1);
            }
            runs[i].stages.emplace_back(it->stage, it->duration);
        }
        return runs;
    }

    void remember_stages(const std::string& job, const integrations::jenkins_run& run) {
        if (run.status != integrations::jenkins_stage_status::success) {
            return;  // a failed run stops early and would shorten every estimate
        }
        for (const auto& s : run.stages) {
            storage::stage_duration sd{job, s.name, s.duration - s.paused, d.clock.now()};
            (void)repo.record_stage(sd);
        }
    }

    /// A reply for each stage that finished since the last look, and the input buttons.
    asio::awaitable<void> tell_stages(const deploy_record& rec,
                                      const integrations::jenkins_run& run) {
        saved_state st = read_state(rec);
        std::vector<std::string> newly;
        std::string text;
        for (const auto& s : run.stages) {
            bool finished = s.status == integrations::jenkins_stage_status::success ||
                            s.status == integrations::jenkins_stage_status::unstable;
            if (finished && !contains(st.stages_told, s.name)) {
                newly.push_back(s.name);
                text += fmt::format("{}✔️ Stage *{}* passed in {}", text.empty() ? "" : "\n",
                                    s.name, short_duration(s.duration - s.paused));
            }
        }
        if (newly.empty()) {
            co_return;
        }
        auto saved = modify(rec.id, [&](deploy_record& x) {
            saved_state s = read_state(x);
            for (const auto& n : newly) {
                if (!contains(s.stages_told, n)) {
                    s.stages_told.push_back(n);
                }
            }
            write_state(x, s);
        });
        if (saved) {
            say(*saved, text);
        }
    }

    /// A pipeline `input` step: Proceed / Abort buttons in the thread, once per step.
    asio::awaitable<void> ask_input(const deploy_record& rec, integrations::jenkins_input input) {
        if (read_state(rec).input_told == input.id) {
            co_return;
        }
        auto saved = modify(rec.id, [&](deploy_record& x) {
            saved_state s = read_state(x);
            s.input_told = input.id;
            write_state(x, s);
        });
        if (!saved) {
            co_return;
        }
        std::string id = storage::format_deploy_id(rec.id);
        message m;
        m.text = "The pipeline asks: " + input.message;
        m.add(section{
            fmt::format("⏸️ The pipeline is waiting: *{}*", escape_mrkdwn(input.message)), {}});
        m.add(actions{{button{input.proceed_text.empty() ? "Proceed" : input.proceed_text,
                              "deploy.input_proceed",
                              id,
                              button_style::primary,
                              {}},
                       button{"Abort", "deploy.input_abort", id, button_style::danger, {}}}});
        reply(*saved, std::move(m));
    }

    /// Why the build failed, with the failed stage's log tail.
    asio::awaitable<std::string> build_failure(const deploy_record& rec, std::string job,
                                               int number, integrations::jenkins_build b,
                                               core::result<integrations::jenkins_run> run) {
        std::string stage;
        std::string stage_id;
        if (run) {
            for (const auto& s : run->stages) {
                if (s.status == integrations::jenkins_stage_status::failed && stage.empty()) {
                    stage = s.name;
                    stage_id = s.id;
                }
            }
        }
        auto* j = jenkins_of(*service_of(rec));
        core::result<std::string> log = core::make_error(core::errc::not_found, "");
        if (!stage_id.empty()) {
            auto stage_log = co_await j->stage_log(job, number, stage_id, 40);
            log = std::move(stage_log);
        }
        if (!log || log->empty()) {
            auto console = co_await j->console_tail(job, number, 40);
            log = std::move(console);
        }
        std::string what = stage.empty()
                               ? fmt::format("build #{} ended {}", number, to_string(b.result))
                               : fmt::format("stage {} failed in build #{}", stage, number);
        if (log && !log->empty()) {
            std::string tail = tail_lines(*log, 40);
            message m;
            m.text = "❌ " + what;
            m.add(section{fmt::format("❌ *{}* — last lines of the log:", escape_mrkdwn(what)), {}});
            m.add(code{scrub(tail), true});
            if (!b.url.empty()) {
                m.add(context{{fmt::format("<{}console|Full log in Jenkins>", b.url)}});
            }
            reply(rec, std::move(m));
        }
        co_return what;
    }

    std::vector<target> targets_of(const deploy_record& r) {
        std::vector<target> out;
        const auto* svc = service_of(r);
        const auto* env = env_of(r);
        auto w = svc->workloads.find(env->name);
        if (w == svc->workloads.end()) {
            return out;
        }
        for (const auto& ref : w->second) {
            for (const auto& cluster : env->clusters) {
                if (!ref.cluster.empty() && ref.cluster != cluster) {
                    continue;
                }
                auto it = d.clusters.find(cluster);
                out.push_back(
                    {it == d.clusters.end() ? nullptr : it->second, cluster,
                     ref.namespace_name.empty() ? env->namespace_name : ref.namespace_name,
                     ref.deployment, ref.container});
            }
        }
        return out;
    }

    asio::awaitable<core::result<void>> undo(const deploy_record& r) {
        saved_state st = read_state(r);
        std::optional<int> revision;
        if (!st.rollback_revision.empty()) {
            revision = std::stoi(st.rollback_revision);
        }
        for (const auto& t : targets_of(r)) {
            if (t.cluster == nullptr) {
                co_return core::make_error(
                    core::errc::config_error,
                    fmt::format("no cluster `{}` is configured", t.cluster_name));
            }
            auto done = co_await t.cluster->rollback(t.ns, t.deployment, revision);
            if (!done) {
                co_return core::make_error(done.error().code,
                                           fmt::format("rollback of {} in {}: {}", t.deployment,
                                                       t.cluster_name, done.error().message));
            }
            say(r, fmt::format("↩️ {} in {} rolled back from revision {} to {}.", t.deployment,
                               t.cluster_name, done->from_revision, done->to_revision));
        }
        co_return core::ok();
    }

    /// Follows every workload to the end of its rollout; true when all are done.
    asio::awaitable<core::result<bool>> follow_rollout(const deploy_record& start, live& me) {
        const auto* svc = service_of(start);
        saved_state st = read_state(start);
        deploy_record rec = start;
        auto deadline = d.clock.now() + svc->rollout_timeout;
        const auto targets = targets_of(rec);
        for (const auto& t : targets) {
            if (t.cluster == nullptr) {
                co_return core::make_error(
                    core::errc::config_error,
                    fmt::format("no cluster `{}` is configured", t.cluster_name));
            }
            std::string wanted;
            if (!st.rollback && svc->rollout == "image") {
                wanted = fmt::format("{}:{}", svc->image, rec.version);
                auto set = co_await t.cluster->set_image(t.ns, t.deployment, t.container, wanted);
                if (!set) {
                    co_return core::make_error(
                        set.error().code,
                        fmt::format("setting the image of {} in {}: {}", t.deployment,
                                    t.cluster_name, set.error().message));
                }
            } else if (!st.rollback) {
                wanted = ":" + rec.version;  // Jenkins applied it; check the tag arrived
            }
            auto watch = co_await t.cluster->watch_deployment(t.ns, t.deployment, "");
            if (!watch) {
                co_return watch.error();
            }
            std::string last_progress;
            std::string running_image;
            bool moved = false;
            while (true) {
                auto state = co_await (*watch)->next(d.timing.watch_wait);
                if (state) {
                    auto verdict = integrations::rollout_status(*state);
                    bool right_image =
                        wanted.empty() || state->image_of(t.container).ends_with(wanted);
                    if (verdict.failed) {
                        co_return core::make_error(
                            core::errc::internal,
                            co_await rollout_failure(rec, t, verdict.message));
                    }
                    if (verdict.done && right_image) {
                        if (targets.size() > 1) {  // with one, "is live" says it
                            say(rec, fmt::format("🚢 {} in {} rolled out: {}.", t.deployment,
                                                 t.cluster_name, verdict.progress));
                        }
                        break;
                    }
                    // Jenkins (or a GitOps tool behind it) may apply the change a little
                    // after the build; wait for it until the rollout deadline.
                    running_image = state->image_of(t.container);
                    moved = verdict.progress != last_progress;
                    if (moved) {
                        last_progress = verdict.progress;
                        auto v = view_of(rec);
                        v.phase = fmt::format("rolling out {} in {}: {}", t.deployment,
                                              t.cluster_name, verdict.progress);
                        show(rec, v, false);
                    }
                } else if (state.error().code != core::errc::timeout) {
                    d.log.warn("rollout_watch_error",
                               {{"id", rec.id}, {"error", state.error().message}});
                }
                // Pods are looked at when the rollout stalls, not on every change: a thousand
                // healthy rollouts must not list their pods every few seconds.
                if (!moved) {
                    co_await tell_trouble(rec, t);
                }
                moved = false;
                if (auto fresh = load(rec.id)) {
                    rec = *fresh;
                }
                if (me.cancel || stopping) {
                    co_return false;
                }
                if (d.clock.now() > deadline && !running_image.empty() &&
                    !running_image.ends_with(wanted)) {
                    co_return core::make_error(
                        core::errc::timeout,
                        fmt::format("the build passed, but {} in {} still runs {} after {}: "
                                    "check that the pipeline's deploy step updates it",
                                    t.deployment, t.cluster_name, running_image,
                                    short_duration(svc->rollout_timeout)));
                }
                if (d.clock.now() > deadline) {
                    co_return core::make_error(
                        core::errc::timeout,
                        co_await rollout_failure(
                            rec, t,
                            fmt::format("did not finish within {}",
                                        short_duration(svc->rollout_timeout))));
                }
            }
        }
        co_return true;
    }

    /// Posts each new problem of the workload's pods once (with the crash log for crash loops).
    asio::awaitable<std::vector<integrations::pod_problem>> tell_trouble(const deploy_record& rec,
                                                                         const target& t) {
        auto dep = co_await t.cluster->get_deployment(t.ns, t.deployment);
        if (!dep) {
            co_return std::vector<integrations::pod_problem>{};
        }
        auto pods = co_await t.cluster->list_pods(t.ns, dep->selector_string());
        integrations::event_filter filter;
        filter.field_selector = "type=Warning";
        auto events = co_await t.cluster->list_events(t.ns, filter);
        if (!pods) {
            co_return std::vector<integrations::pod_problem>{};
        }
        auto problems = integrations::diagnose(
            *pods, events ? *events : std::vector<integrations::event_info>{});
        saved_state st = read_state(rec);
        for (const auto& p : problems) {
            std::string key = fmt::format("{}/{}/{}", to_string(p.kind), p.container, p.image);
            if (contains(st.problems_told, key)) {
                continue;
            }
            st.problems_told.push_back(key);
            message m;
            m.text = "⚠️ " + p.summary;
            m.add(section{fmt::format("⚠️ *{}* in {}: {}", to_string(p.kind), t.cluster_name,
                                      escape_mrkdwn(p.summary)),
                          {}});
            if (p.kind == integrations::pod_problem_kind::crash_loop && !p.pods.empty()) {
                integrations::log_request lr;
                lr.ns = t.ns;
                lr.pod = p.pods.front();
                lr.container = p.container;
                lr.tail_lines = 20;
                lr.previous = true;
                auto log = co_await t.cluster->pod_log(lr);
                if (log && !log->empty()) {
                    m.add(code{scrub(*log), true});
                }
            }
            reply(rec, std::move(m));
        }
        (void)modify(rec.id, [&](deploy_record& x) {
            saved_state s = read_state(x);
            s.problems_told = st.problems_told;
            write_state(x, s);
        });
        co_return problems;
    }

    asio::awaitable<std::string> rollout_failure(const deploy_record& rec, const target& t,
                                                 std::string what) {
        auto problems = co_await tell_trouble(rec, t);
        std::string cause = problems.empty() ? what : problems.front().summary;
        co_return fmt::format("rollout of {} in {} failed: {}", t.deployment, t.cluster_name,
                              cause);
    }

    // ---- endings ----

    asio::awaitable<void> fail(std::int64_t id, std::string why) {
        auto rec = load(id);
        if (!rec) {
            co_return;
        }
        const auto* env = env_of(*rec);
        bool broadcast = env == nullptr || env->policy.broadcast_failures;
        say(*rec, fmt::format("❌ Deploy failed: {}", escape_mrkdwn(why)), broadcast);
        co_await finish(id, deploy_outcome::failed, why);
        saved_state st = read_state(*rec);
        if (env != nullptr && env->policy.auto_rollback && !st.rollback &&
            rec->phase == phase::rolling_out) {
            deploy_request undo_it{
                rec->service,
                rec->environment,
                "",
                system_actor,
                st.requested_channel,
                "automatic rollback after " + storage::format_deploy_id(id) + " failed",
                std::nullopt};
            auto r = co_await create(std::move(undo_it), true, "");
            if (!r) {
                d.log.warn("auto_rollback_failed", {{"id", id}, {"error", r.error().message}});
            }
        }
    }

    asio::awaitable<void> cancelled(const deploy_record& rec) {
        say(rec, "⏹️ Deploy cancelled.");
        co_await finish(rec.id, deploy_outcome::cancelled, "cancelled");
    }

    /// Marks the end, releases the lock, tells everyone and starts whoever queued next.
    asio::awaitable<core::result<void>> finish(std::int64_t id, deploy_outcome outcome,
                                               std::string why) {
        auto saved = modify(id, [&](deploy_record& x) {
            x.outcome = outcome;
            x.phase = phase::done;
            x.failure_reason = outcome == deploy_outcome::failed ? why : "";
            x.finished_at = d.clock.now();
        });
        if (!saved) {
            co_return saved.error();
        }
        (void)repo.dequeue(id);
        (void)repo.release_locks_of(id);
        std::string shown = storage::format_deploy_id(id);
        audit(outcome == deploy_outcome::cancelled ? read_state(*saved).cancel_by : "tugboat",
              fmt::format("deploy.{}", storage::to_string(outcome)), shown, {{"reason", why}});
        show(*saved, view_of(*saved), true);
        if (outcome == deploy_outcome::succeeded) {
            auto took = std::chrono::duration_cast<std::chrono::milliseconds>(d.clock.now() -
                                                                              saved->created_at);
            say(*saved,
                fmt::format("🎉 {} `{}` is live in *{}* ({}). {}", saved->service, saved->version,
                            saved->environment, short_duration(took), mention(saved->requester)));
        }
        last_root_edit.erase(id);
        last_root_shown.erase(id);
        co_await start_next(saved->service, saved->environment);
        co_return core::ok();
    }

    asio::awaitable<void> start_next(std::string service, std::string environment) {
        auto q = repo.queue(service, environment);
        if (!q || q->empty()) {
            co_return;
        }
        std::int64_t next = q->front().deploy_id;
        auto rec = load(next);
        if (!rec) {
            co_return;
        }
        auto locked = take_lock(*rec);
        if (!locked || !*locked) {
            co_return;
        }
        (void)repo.dequeue(next);
        say(*rec, fmt::format("🔓 The lock is free; starting now. {}", mention(rec->requester)));
        co_await begin(next);
    }

    bool sweeping = false;

    asio::awaitable<void> sweep() {
        sweeping = true;
        struct done_flag {
            bool& flag;
            ~done_flag() { flag = false; }
        } guard{sweeping};
        while (!stopping) {
            auto list = repo.list_unfinished();
            if (list) {
                for (const auto& r : *list) {
                    saved_state st = read_state(r);
                    if (r.phase == phase::awaiting_approval && st.approval_deadline > 0 &&
                        core::to_unix(d.clock.now()) >= st.approval_deadline) {
                        say(r,
                            "⌛ Nobody approved in time; the deploy request expired. "
                            "Ask again with the same command when approvers are around.");
                        co_await finish(r.id, deploy_outcome::cancelled, "approval expired");
                    }
                }
            }
            asio::steady_timer t(d.executor);
            sweeper_timer = &t;
            t.expires_after(d.timing.sweep);
            (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            sweeper_timer = nullptr;
        }
    }
    asio::steady_timer* sweeper_timer = nullptr;

    std::optional<std::int64_t> parse_id(const std::string& text) {
        return storage::parse_deploy_id(text);
    }
};

deploy_engine::deploy_engine(deploy_deps deps) : impl_(std::make_unique<impl>(std::move(deps))) {}
deploy_engine::~deploy_engine() = default;

boost::asio::awaitable<core::result<std::string>> deploy_engine::request(deploy_request r) {
    co_return co_await impl_->create(std::move(r), false, "");
}

boost::asio::awaitable<core::result<std::string>> deploy_engine::rollback(
    std::string service, std::string environment, std::string revision, std::string requester,
    std::string channel, std::string reason) {
    deploy_request r{std::move(service), std::move(environment), "",          std::move(requester),
                     std::move(channel), std::move(reason),      std::nullopt};
    co_return co_await impl_->create(std::move(r), true, std::move(revision));
}

boost::asio::awaitable<core::result<std::string>> deploy_engine::decide(std::string id_text,
                                                                        std::string actor,
                                                                        bool approve) {
    impl& m = *impl_;
    auto id = m.parse_id(id_text);
    auto rec = id ? m.load(*id) : std::nullopt;
    if (!rec) {
        co_return core::make_error(core::errc::not_found,
                                   fmt::format("There is no deploy `{}`.", id_text));
    }
    if (rec->outcome != deploy_outcome::running || rec->phase != phase::awaiting_approval) {
        co_return core::make_error(core::errc::conflict,
                                   fmt::format("Deploy `{}` is not waiting for approval any more "
                                               "(it is {}).",
                                               id_text, m.view_of(*rec).phase));
    }
    const auto* svc = m.service_of(*rec);
    const auto* env = m.env_of(*rec);
    principal who = co_await m.who(actor);
    if (auto ok = may_approve(who, rec->requester, *svc, *env); !ok) {
        co_return ok.error();
    }
    saved_state st = read_state(*rec);
    if (st.approval_deadline > 0 && core::to_unix(m.d.clock.now()) >= st.approval_deadline) {
        m.say(*rec, "⌛ This approval request expired; ask the requester to deploy again.");
        co_await m.finish(rec->id, deploy_outcome::cancelled, "approval expired");
        co_return core::make_error(core::errc::conflict, "That approval request had expired.");
    }
    if (!approve) {
        m.audit(actor, "deploy.rejected", id_text);
        m.say(*rec, fmt::format("🚫 Rejected by {}.", mention(actor)), false);
        (void)m.modify(rec->id, [&](deploy_record& x) {
            saved_state s = read_state(x);
            s.cancel_by = actor;
            write_state(x, s);
        });
        co_await m.finish(rec->id, deploy_outcome::cancelled, "rejected");
        co_return fmt::format("You rejected deploy `{}`.", id_text);
    }
    if (contains(st.approvals, actor)) {
        co_return fmt::format("You already approved deploy `{}`.", id_text);
    }
    int needed = env->policy.approval.required;
    auto saved = m.modify(rec->id, [&](deploy_record& x) {
        saved_state s = read_state(x);
        if (!contains(s.approvals, actor)) {
            s.approvals.push_back(actor);
        }
        if (static_cast<int>(s.approvals.size()) >= needed) {
            x.phase = phase::ready;
        }
        write_state(x, s);
    });
    if (!saved) {
        co_return saved.error();
    }
    m.audit(actor, "deploy.approved", id_text);
    int have = static_cast<int>(read_state(*saved).approvals.size());
    m.say(*saved, fmt::format("👍 Approved by {} ({}/{}).", mention(actor), have, needed));
    if (saved->phase == phase::ready) {
        m.spawn(saved->id);
    }
    co_return fmt::format("You approved deploy `{}`.", id_text);
}

boost::asio::awaitable<core::result<std::string>> deploy_engine::answer_input(std::string id_text,
                                                                              std::string actor,
                                                                              bool proceed) {
    impl& m = *impl_;
    auto id = m.parse_id(id_text);
    auto rec = id ? m.load(*id) : std::nullopt;
    if (!rec || rec->outcome != deploy_outcome::running || !rec->build_number) {
        co_return core::make_error(
            core::errc::conflict,
            fmt::format("Deploy `{}` is not waiting for an answer.", id_text));
    }
    const auto* svc = m.service_of(*rec);
    const auto* env = m.env_of(*rec);
    principal who = co_await m.who(actor);
    // Answering a pipeline question is as much a go/no-go as an approval where one is needed.
    auto allowed = env->policy.approval.required > 0 ? may_approve(who, rec->requester, *svc, *env)
                                                     : may_deploy(who, *svc, *env);
    if (!allowed) {
        co_return allowed.error();
    }
    auto* j = m.jenkins_of(*svc);
    std::string job = m.job_of(*rec, *svc);
    int number = static_cast<int>(*rec->build_number);
    auto run = co_await j->stages(job, number);
    if (!run || !run->pending_input) {
        co_return core::make_error(core::errc::conflict,
                                   "The pipeline is not waiting for an answer any more.");
    }
    std::string input_id = run->pending_input->id;
    auto answered = co_await j->answer_input(job, number, input_id, proceed);
    if (!answered) {
        co_return answered.error();
    }
    // The pipeline runs again from here: busy now, not from the workflow's next poll, so that
    // whoever waits for the bot to go idle (shutdown, the sandbox's scripts) waits for it.
    if (auto it = m.running.find(rec->id); it != m.running.end() && !it->second->work) {
        it->second->work.emplace(m.d.tracker.start());
    }
    m.audit(actor, proceed ? "deploy.input_proceeded" : "deploy.input_aborted", id_text,
            {{"input", input_id}});
    m.say(*rec, fmt::format("{} {} by {}.", proceed ? "▶️ Proceeded" : "⏹️ Aborted",
                            escape_mrkdwn(run->pending_input->message), mention(actor)));
    co_return fmt::format("Answered: {}.", proceed ? "proceed" : "abort");
}

boost::asio::awaitable<core::result<std::string>> deploy_engine::cancel(std::string id_text,
                                                                        std::string actor,
                                                                        std::string reason) {
    impl& m = *impl_;
    auto id = m.parse_id(id_text);
    auto rec = id ? m.load(*id) : std::nullopt;
    if (!rec) {
        co_return core::make_error(
            core::errc::not_found,
            fmt::format("There is no deploy `{}`. Type `/deploy status` to see running ones.",
                        id_text));
    }
    if (rec->outcome != deploy_outcome::running) {
        co_return core::make_error(core::errc::conflict,
                                   fmt::format("Deploy `{}` already ended ({}).", id_text,
                                               storage::to_string(rec->outcome)));
    }
    const auto* svc = m.service_of(*rec);
    const auto* env = m.env_of(*rec);
    principal who = co_await m.who(actor);
    if (actor != rec->requester && !matches(who, m.d.config.bot.admins) &&
        (svc == nullptr || env == nullptr || !may_deploy(who, *svc, *env))) {
        co_return core::make_error(
            core::errc::permission_denied,
            fmt::format("Only {} or someone who may deploy {} to {} can "
                        "cancel it.",
                        mention(rec->requester), rec->service, rec->environment));
    }
    (void)m.modify(rec->id, [&](deploy_record& x) {
        saved_state s = read_state(x);
        s.cancel_by = actor;
        write_state(x, s);
    });
    m.audit(actor, "deploy.cancel_requested", id_text, {{"reason", reason}});
    auto live = m.running.find(rec->id);
    if (live != m.running.end()) {
        live->second->cancel = true;
        if (live->second->sleeper != nullptr) {
            live->second->sleeper->cancel();
        }
        co_return fmt::format("Stopping deploy `{}`…", id_text);
    }
    m.say(*rec, fmt::format("⏹️ Cancelled by {}{}.", mention(actor),
                            reason.empty() ? "" : ": " + escape_mrkdwn(reason)));
    co_await m.finish(rec->id, deploy_outcome::cancelled, "cancelled");
    co_return fmt::format("Deploy `{}` is cancelled.", id_text);
}

boost::asio::awaitable<core::result<std::string>> deploy_engine::lock(std::string service,
                                                                      std::string environment,
                                                                      std::string actor,
                                                                      std::string reason) {
    impl& m = *impl_;
    const auto* svc = m.d.config.find_service(service);
    const auto* env = m.d.config.find_environment(environment);
    principal who = co_await m.who(actor);
    if (auto ok = may_deploy(who, *svc, *env); !ok) {
        co_return ok.error();
    }
    if (reason.empty()) {
        co_return core::make_error(
            core::errc::invalid_argument,
            fmt::format("Say why, so others know: `/deploy lock {} {} \"db migration\"`.", service,
                        environment));
    }
    storage::env_lock l{service, environment, std::nullopt, actor, reason, m.d.clock.now()};
    auto taken = m.repo.acquire_lock(l);
    if (!taken) {
        co_return core::make_error(
            core::errc::conflict,
            fmt::format("`{}` in `{}` is already held: {}.", service, environment,
                        m.lock_holder_text(service, environment)));
    }
    m.audit(actor, "deploy.locked", service + "/" + environment, {{"reason", reason}});
    co_return fmt::format(
        "🔒 `{}` in `{}` is locked: {}. Nobody can deploy it until "
        "`/deploy unlock {} {}`.",
        service, environment, reason, service, environment);
}

boost::asio::awaitable<core::result<std::string>> deploy_engine::unlock(std::string service,
                                                                        std::string environment,
                                                                        std::string actor) {
    impl& m = *impl_;
    auto held = m.repo.get_lock(service, environment);
    if (!held) {
        co_return held.error();
    }
    if (!*held) {
        co_return core::make_error(core::errc::not_found, fmt::format("`{}` in `{}` is not locked.",
                                                                      service, environment));
    }
    if ((*held)->deploy_id) {
        co_return core::make_error(
            core::errc::conflict,
            fmt::format("`{}` in `{}` is held by deploy `{}`, not by a manual lock. To stop it: "
                        "`/deploy cancel {}`.",
                        service, environment, storage::format_deploy_id(*(*held)->deploy_id),
                        storage::format_deploy_id(*(*held)->deploy_id)));
    }
    const auto* svc = m.d.config.find_service(service);
    const auto* env = m.d.config.find_environment(environment);
    principal who = co_await m.who(actor);
    if (auto ok = may_deploy(who, *svc, *env); !ok) {
        co_return ok.error();
    }
    (void)m.repo.release_lock(service, environment);
    m.audit(actor, "deploy.unlocked", service + "/" + environment);
    co_await m.start_next(service, environment);
    co_return fmt::format("🔓 `{}` in `{}` is unlocked.", service, environment);
}

core::result<message> deploy_engine::history(std::string service, std::string environment,
                                             int limit) {
    impl& m = *impl_;
    std::optional<std::string> env;
    if (!environment.empty()) {
        env = environment;
    }
    auto rows = m.repo.history(service, env, limit);
    if (!rows) {
        return rows.error();
    }
    message out;
    out.add(header{
        fmt::format("Deploys of {}{}", service, environment.empty() ? "" : " in " + environment)});
    if (rows->empty()) {
        out.add(section{"No deploys yet.", {}});
        return out;
    }
    std::string lines;
    for (const auto& r : *rows) {
        auto v = m.view_of(r);
        std::string took =
            r.finished_at ? short_duration(std::chrono::duration_cast<std::chrono::milliseconds>(
                                *r.finished_at - r.created_at))
                          : "running";
        std::string link = r.slack_root_ts.empty() ? "" : fmt::format(" · <#{}>", r.slack_channel);
        lines += fmt::format("`{}` {} `{}` → {} by {} — {} ({}), {}{}\n", v.id,
                             r.outcome == deploy_outcome::succeeded ? "✅"
                             : r.outcome == deploy_outcome::failed  ? "❌"
                             : r.outcome == deploy_outcome::running ? "🚀"
                                                                    : "⏹️",
                             r.version, r.environment, mention(r.requester), v.phase, took,
                             utc(r.created_at), link);
    }
    out.add(section{lines, {}});
    return out;
}

core::result<message> deploy_engine::status(std::string id_text) {
    impl& m = *impl_;
    auto id = m.parse_id(id_text);
    auto rec = id ? m.load(*id) : std::nullopt;
    if (!rec) {
        return core::make_error(core::errc::not_found,
                                fmt::format("There is no deploy `{}`. Type `/deploy history "
                                            "<service>` to find one.",
                                            id_text));
    }
    auto msg = root_message(m.view_of(*rec));
    // A status answer is a snapshot: no buttons that would act on the live deploy.
    std::erase_if(msg.blocks, [](const block& b) { return std::holds_alternative<actions>(b); });
    if (!rec->slack_root_ts.empty()) {
        msg.add(context{
            {fmt::format("Thread: <#{}> (message {})", rec->slack_channel, rec->slack_root_ts)}});
    }
    return msg;
}

boost::asio::awaitable<core::result<message>> deploy_engine::build_log(std::string id_text,
                                                                       std::size_t lines) {
    impl& m = *impl_;
    auto id = m.parse_id(id_text);
    auto rec = id ? m.load(*id) : std::nullopt;
    if (!rec) {
        co_return core::make_error(core::errc::not_found,
                                   fmt::format("There is no deploy `{}`.", id_text));
    }
    const auto* svc = m.service_of(*rec);
    auto* j = svc == nullptr ? nullptr : m.jenkins_of(*svc);
    if (j == nullptr || !rec->build_number) {
        co_return core::make_error(core::errc::not_found,
                                   fmt::format("Deploy `{}` has no Jenkins build (yet).", id_text));
    }
    auto log =
        co_await j->console_tail(m.job_of(*rec, *svc), static_cast<int>(*rec->build_number), lines);
    if (!log) {
        co_return log.error();
    }
    message out;
    out.add(section{
        fmt::format("Last {} lines of build #{} of `{}`:", lines, *rec->build_number, id_text),
        {}});
    out.add(code{*log, true});
    co_return out;
}

core::result<message> deploy_engine::active(std::string service, std::string environment) {
    impl& m = *impl_;
    auto rows = m.repo.list_unfinished();
    if (!rows) {
        return rows.error();
    }
    std::string lines;
    for (const auto& r : *rows) {
        if ((!service.empty() && r.service != service) ||
            (!environment.empty() && r.environment != environment)) {
            continue;
        }
        auto v = m.view_of(r);
        lines += fmt::format("`{}` {} `{}` → {} by {} — {}\n", v.id, r.service, r.version,
                             r.environment, mention(r.requester), v.phase);
    }
    auto locks = m.repo.list_locks();
    if (locks) {
        for (const auto& l : *locks) {
            if (!l.deploy_id && (service.empty() || l.service == service)) {
                lines += fmt::format("🔒 {} in {} locked by {}: {}\n", l.service, l.environment,
                                     mention(l.holder), l.reason);
            }
        }
    }
    message out;
    out.add(section{lines.empty() ? "No deploys running or waiting." : lines, {}});
    return out;
}

void deploy_engine::start() {
    impl& m = *impl_;
    m.stopping = false;
    auto list = m.repo.list_unfinished();
    if (list) {
        for (const auto& r : *list) {
            if (r.phase == phase::requested) {
                // Stopped between saving the request and taking the lock: do that now.
                asio::co_spawn(
                    m.d.executor,
                    [&m, r]() -> asio::awaitable<void> { (void)co_await m.lock_or_queue(r); },
                    asio::detached);
            } else if (r.phase != phase::queued && r.phase != phase::awaiting_approval) {
                m.d.log.info("deploy_resumed", {{"id", r.id}, {"phase", r.phase}});
                m.spawn(r.id);
            }
        }
    }
    // An ending the root message never showed (Slack failed, or the bot stopped with the edit
    // still queued) is shown now; the edit is idempotent, unlike a reply.
    auto ended = m.repo.finished_since(m.d.clock.now() - std::chrono::hours{24});
    if (ended) {
        for (const auto& r : *ended) {
            if (!read_state(r).end_shown) {
                m.show(r, m.view_of(r), true);
            }
        }
    }
    asio::co_spawn(m.d.executor, m.sweep(), asio::detached);
}

bool deploy_engine::idle() const noexcept {
    return !impl_->sweeping && impl_->running.empty() && impl_->sending == 0;
}

void deploy_engine::stop() {
    impl& m = *impl_;
    m.stopping = true;
    if (m.sweeper_timer != nullptr) {
        m.sweeper_timer->cancel();
    }
    for (auto& [id, l] : m.running) {
        if (l->sleeper != nullptr) {
            l->sleeper->cancel();
        }
    }
}

}  // namespace tugboat::commands
