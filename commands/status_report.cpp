#include "commands/status_report.hpp"

#include "integrations/pod_diagnosis.hpp"
#include "integrations/rollout_status.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <regex>
#include <set>

namespace tugboat::commands {

namespace {

using integrations::deployment_state;
using integrations::event_info;
using integrations::pod_info;

/// Lines of one environment block are capped so a sick service cannot blow the message up.
constexpr std::size_t max_problem_lines = 5;
constexpr std::size_t max_warning_lines = 5;
constexpr std::size_t max_restart_pods = 3;

std::optional<core::time_point> parse_rfc3339(std::string_view text) {
    if (text.size() < 19) {
        return std::nullopt;
    }
    std::tm tm{};
    int year = 0;
    int month = 0;
    std::string s(text.substr(0, 19));
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &year, &month, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec) != 6) {
        return std::nullopt;
    }
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    // Kubernetes writes event times in UTC ("Z"); offsets other than that are not expected.
    return core::time_point{std::chrono::seconds{timegm(&tm)}};
}

/// "payments-api-7d9f8c6b5d" (ReplicaSet) or "payments-api-7d9f8c6b5d-x2kq4" (pod) of
/// Deployment "payments-api": the deployment name, then one or two dash-free parts. A sibling
/// Deployment "payments-api-worker" has pods with three parts after the prefix, so it does not
/// match.
bool belongs_to(const event_info& e, const std::string& deployment) {
    if (e.involved_kind == "Deployment") {
        return e.involved_name == deployment;
    }
    if (e.involved_kind != "Pod" && e.involved_kind != "ReplicaSet") {
        return false;
    }
    if (e.involved_name.size() <= deployment.size() + 1 ||
        e.involved_name.compare(0, deployment.size(), deployment) != 0 ||
        e.involved_name[deployment.size()] != '-') {
        return false;
    }
    auto rest = std::string_view(e.involved_name).substr(deployment.size() + 1);
    auto dashes = std::count(rest.begin(), rest.end(), '-');
    return e.involved_kind == "Pod" ? dashes == 1 : dashes == 0;
}

/// kubectl's verdict says "waiting" both while new pods roll in and when an unchanged
/// Deployment lost available pods; only the first is a rollout.
bool rolling_out(const deployment_state& d, const integrations::rollout_verdict& v) {
    return !v.done && !v.failed &&
           (d.generation > d.observed_generation || d.updated_replicas < d.replicas ||
            d.status_replicas > d.updated_replicas);
}

/// Problems that will not heal by waiting (probe failures and scheduling may, mid-rollout).
bool hard_problem(integrations::pod_problem_kind k) {
    using integrations::pod_problem_kind;
    return k != pod_problem_kind::probe_failed && k != pod_problem_kind::unschedulable;
}

/// Versions the pods run in `container` ("" = the first regular one) other than `current`.
std::vector<std::string> other_versions(const std::vector<const pod_info*>& pods,
                                        const std::string& container, const std::string& current) {
    std::vector<std::string> out;
    for (const auto* p : pods) {
        for (const auto& c : p->containers) {
            if (c.init || (!container.empty() && c.name != container)) {
                continue;
            }
            std::string v = image_version(c.image);
            if (v != current && std::find(out.begin(), out.end(), v) == out.end()) {
                out.push_back(v);
            }
            break;
        }
    }
    return out;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

/// Cuts a cluster message to one readable line.
std::string one_line(std::string_view text, std::size_t limit = 240) {
    std::string out;
    for (char c : text) {
        out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
    }
    if (out.size() > limit) {
        out.resize(limit);
        out += "…";
    }
    return out;
}

std::string deploy_line(const last_deploy& d, core::time_point now) {
    std::string icon = d.outcome == "succeeded" ? "✅"
                       : d.outcome == "failed"  ? "❌"
                       : d.outcome == "running" ? "🚀"
                                                : "⏹️";
    auto age = std::chrono::duration_cast<std::chrono::seconds>(now - d.at);
    std::string how = d.outcome;
    if (d.outcome == "running" && !d.phase.empty()) {
        how = "running: " + d.phase;
    }
    if (d.outcome == "failed" && !d.failure.empty()) {
        how = "failed: " + escape_mrkdwn(one_line(d.failure, 160));
    }
    std::string who = d.requester == "tugboat" ? std::string("Tugboat") : mention(d.requester);
    std::string thread = !d.link.empty()       ? fmt::format(" · <{}|its thread>", d.link)
                         : d.thread_ts.empty() ? std::string()
                                               : fmt::format(" · thread in <#{}>", d.channel);
    return fmt::format("Last deploy: {} `{}` `{}` by {}, {} ago — {}{} · `/deploy status {}`", icon,
                       d.id, escape_mrkdwn(d.version), who, short_age(age), how, thread, d.id);
}

/// The lines of one Deployment in one cluster.
std::string workload_lines(const workload_report& w, const std::string& service,
                           const std::string& env, core::time_point now,
                           std::chrono::minutes warning_window) {
    std::string where = fmt::format("`{}` {}/{}", w.cluster, w.ns, w.deployment);
    if (!w.failure.empty()) {
        return fmt::format("⚠️ {}: {}\n", where, escape_mrkdwn(w.failure));
    }
    const deployment_state& d = w.state;
    auto verdict = integrations::rollout_status(d);
    std::string image = d.image_of(w.container);
    std::string out =
        fmt::format("{} · `{}` ({}) · revision {}\n", where, escape_mrkdwn(image_version(image)),
                    escape_mrkdwn(image), d.revision);
    out += fmt::format("Replicas: {} desired · {} updated · {} ready · {} available\n", d.replicas,
                       d.updated_replicas, d.ready_replicas, d.available_replicas);
    if (verdict.failed) {
        out += fmt::format("❌ Rollout stuck: {} ({})\n", escape_mrkdwn(verdict.message),
                           verdict.progress);
    } else if (rolling_out(d, verdict)) {
        std::vector<const pod_info*> pods;
        for (const auto& p : w.pods) {
            pods.push_back(&p);
        }
        auto old = other_versions(pods, w.container, image_version(image));
        std::string from;
        for (const auto& v : old) {
            from += fmt::format("{}`{}`", from.empty() ? " from " : ", ", escape_mrkdwn(v));
        }
        out += fmt::format("🚀 Rollout in progress{} to `{}`: {}\n", from,
                           escape_mrkdwn(image_version(image)), verdict.progress);
    } else if (!verdict.done) {
        out += fmt::format("No rollout in progress, but only {} of {} replicas are available\n",
                           d.available_replicas, d.replicas);
    } else if (d.paused) {
        out += "⏸️ Rollouts are paused on this Deployment\n";
    } else {
        out += "No rollout in progress\n";
    }

    // Why pods are not ready, in the diagnosis' words; pods it has nothing to say about are
    // listed with their own short reason.
    auto problems = integrations::diagnose(w.pods, w.warnings);
    std::set<std::string> explained;
    std::vector<std::string> lines;
    for (const auto& p : problems) {
        for (const auto& pod : p.pods) {
            explained.insert(pod);
        }
        std::string line = "• " + escape_mrkdwn(one_line(p.summary, 400));
        if (p.kind == integrations::pod_problem_kind::crash_loop ||
            p.kind == integrations::pod_problem_kind::oom_killed) {
            line +=
                fmt::format(" (`/logs {} {} --previous --pod {}`)", service, env, p.pods.front());
        }
        lines.push_back(std::move(line));
    }
    for (const auto& pod : w.pods) {
        if (pod.ready() || explained.contains(pod.name)) {
            continue;
        }
        std::string why = pod_short_reason(pod);
        std::string detail;
        for (const auto& c : pod.conditions) {
            if (c.type == "PodScheduled" && c.status == "False" && !c.message.empty()) {
                detail = ": " + escape_mrkdwn(one_line(c.message));
            }
        }
        lines.push_back(fmt::format("• pod {} is not ready ({}){}", pod.name, why, detail));
    }
    if (!lines.empty()) {
        out += "Not ready or failing:\n";
        for (std::size_t i = 0; i < lines.size() && i < max_problem_lines; ++i) {
            out += lines[i] + "\n";
        }
        if (lines.size() > max_problem_lines) {
            out += fmt::format("• … and {} more\n", lines.size() - max_problem_lines);
        }
    }

    std::vector<std::pair<int, std::string>> restarts;
    int total = 0;
    for (const auto& pod : w.pods) {
        if (pod.restarts() > 0) {
            restarts.emplace_back(pod.restarts(), pod.name);
            total += pod.restarts();
        }
    }
    if (total > 0) {
        std::sort(restarts.begin(), restarts.end(), std::greater<>());
        std::string top;
        for (std::size_t i = 0; i < restarts.size() && i < max_restart_pods; ++i) {
            top +=
                fmt::format("{}{} {}", i == 0 ? "" : ", ", restarts[i].second, restarts[i].first);
        }
        if (restarts.size() > max_restart_pods) {
            top += ", …";
        }
        out += fmt::format("Restarts: {} ({})\n", total, top);
    } else {
        out += "Restarts: 0\n";
    }

    auto warnings = recent_warnings(w.warnings, w.deployment, now, warning_window);
    if (warnings.empty()) {
        out += fmt::format("No Warning events in the last {} min\n", warning_window.count());
    } else {
        out += fmt::format("Warning events, last {} min:\n", warning_window.count());
        for (std::size_t i = 0; i < warnings.size() && i < max_warning_lines; ++i) {
            const auto& e = warnings[i];
            std::string on =
                e.objects.size() == 1
                    ? e.objects.front()
                    : fmt::format("{} objects, e.g. {}", e.objects.size(), e.objects.front());
            out += fmt::format("• {}× {} ({}): {}\n", e.count, e.reason, on,
                               escape_mrkdwn(one_line(e.message, 200)));
        }
        if (warnings.size() > max_warning_lines) {
            out += fmt::format("• … and {} more kinds\n", warnings.size() - max_warning_lines);
        }
    }
    for (const auto& f : w.partial_failures) {
        out += fmt::format("⚠️ {}\n", escape_mrkdwn(f));
    }
    return out;
}

/// ✅ healthy, 🚀 rolling, ❌ unhealthy, ⚠️ could not be read (worst first wins).
std::string environment_icon(const environment_report& e) {
    if (e.workloads.empty()) {
        return "➖";
    }
    bool unreachable = false;
    bool rolling = false;
    bool sick = false;
    for (const auto& w : e.workloads) {
        if (!w.failure.empty()) {
            unreachable = true;
            continue;
        }
        auto v = integrations::rollout_status(w.state);
        bool moving = rolling_out(w.state, v);
        rolling = rolling || moving;
        sick = sick || v.failed || (!moving && !v.done);
        for (const auto& p : integrations::diagnose(w.pods, w.warnings)) {
            sick = sick || hard_problem(p.kind) || !moving;
        }
    }
    if (sick) {
        return "❌";
    }
    if (unreachable) {
        return "⚠️";
    }
    return rolling ? "🚀" : "✅";
}

}  // namespace

core::result<void> may_read(const principal& who, const core::environment_config& env,
                            const core::service_config* svc,
                            const std::vector<std::string>& bot_admins) {
    const auto& readers = env.policy.readers;
    if (matches(who, readers) || matches(who, bot_admins)) {
        return core::ok();
    }
    std::string ask;
    if (svc != nullptr && !svc->owners.empty()) {
        ask = fmt::format("{} (owners of {})", mentions(svc->owners), svc->name);
    } else if (!bot_admins.empty()) {
        ask = fmt::format("{} (Tugboat's admins)", mentions(bot_admins));
    } else {
        ask = "whoever maintains Tugboat's configuration";
    }
    if (readers.empty()) {
        return core::make_error(
            core::errc::permission_denied,
            fmt::format("Nobody may see the status of `{}`: its policy lists no `readers`. To "
                        "change that, ask {}.",
                        env.name, ask));
    }
    return core::make_error(
        core::errc::permission_denied,
        fmt::format("You may not see the status of `{}`: it is for {}. Ask one of them, or ask {} "
                    "to add you to the `readers` of `{}`.",
                    env.name, mentions(readers), ask, env.name));
}

std::vector<warning_summary> recent_warnings(const std::vector<event_info>& events,
                                             const std::string& deployment, core::time_point now,
                                             std::chrono::minutes window) {
    std::vector<warning_summary> out;
    std::map<std::string, std::size_t> index;
    for (const auto& e : events) {
        if (e.type != "Warning" || !belongs_to(e, deployment)) {
            continue;
        }
        auto at = parse_rfc3339(e.last_time);
        if (!at || *at < now - window) {
            continue;
        }
        // Replicas say the same thing in their own names ("… in pod api-7d9f-x2k4q_prod(uid)");
        // with the object's name and uid taken out, one line covers them all.
        std::string same = e.message;
        for (auto pos = same.find(e.involved_name);
             !e.involved_name.empty() && pos != std::string::npos;
             pos = same.find(e.involved_name, pos + 1)) {
            same.replace(pos, e.involved_name.size(), "\x1e");
        }
        static const std::regex uid(R"(\([0-9a-f]{8}-[0-9a-f-]{27}\))");
        same = std::regex_replace(same, uid, "");
        std::string key = e.reason + "\x1f" + same;
        auto [it, fresh] = index.try_emplace(key, out.size());
        if (fresh) {
            out.push_back({e.reason, e.message, 0, {}, e.last_time});
        }
        auto& w = out[it->second];
        w.count += std::max(e.count, 1);
        std::string object = lower(e.involved_kind) + "/" + e.involved_name;
        if (std::find(w.objects.begin(), w.objects.end(), object) == w.objects.end()) {
            w.objects.push_back(std::move(object));
        }
        w.last_time = std::max(w.last_time, e.last_time);
    }
    std::stable_sort(
        out.begin(), out.end(),
        [](const warning_summary& a, const warning_summary& b) { return a.count > b.count; });
    return out;
}

std::string image_version(std::string_view image) {
    if (auto at = image.find('@'); at != std::string_view::npos) {
        auto digest = image.substr(at + 1);
        return std::string(digest.substr(0, std::min<std::size_t>(digest.size(), 19)));
    }
    auto slash = image.rfind('/');
    auto colon = image.rfind(':');
    if (colon == std::string_view::npos || (slash != std::string_view::npos && colon < slash)) {
        return image.empty() ? std::string("?") : std::string("latest");
    }
    return std::string(image.substr(colon + 1));
}

std::string short_age(std::chrono::seconds age) {
    using namespace std::chrono;
    auto s = std::max<long long>(age.count(), 0);
    if (s < 60) {
        return fmt::format("{}s", s);
    }
    if (s < 3600) {
        return fmt::format("{}m", s / 60);
    }
    if (s < 86400) {
        return fmt::format("{}h {:02}m", s / 3600, s % 3600 / 60);
    }
    return fmt::format("{}d {}h", s / 86400, s % 86400 / 3600);
}

message render_service_status(const core::service_config& svc,
                              const std::vector<environment_report>& envs, core::time_point now,
                              std::chrono::minutes warning_window) {
    message out;
    out.text = fmt::format("Status of {}", svc.name);
    out.add(header{fmt::format("Status of {}", svc.name)});
    std::string summary;
    for (const auto& e : envs) {
        summary += fmt::format("{}{} {}", summary.empty() ? "" : " · ",
                               e.refused.empty() ? environment_icon(e) : std::string("🙈"), e.name);
    }
    out.add(context{{summary}});
    for (const auto& e : envs) {
        std::string text = fmt::format("*{}*", e.name);
        if (!e.refused.empty()) {
            out.add(section{text + " — not shown: " + e.refused, {}});
            continue;
        }
        text += " " + environment_icon(e) + "\n";
        if (e.workloads.empty()) {
            text += fmt::format("{} has no workloads in {}.\n", svc.name, e.name);
        }
        // A section per cluster: Slack cuts a section at 3000 characters, and a sick cluster
        // must not push its neighbours or the deploy and lock lines out of view.
        for (std::size_t i = 0; i < e.workloads.size(); ++i) {
            text += workload_lines(e.workloads[i], svc.name, e.name, now, warning_window);
            out.add(section{std::move(text), {}});
            text.clear();
        }
        if (e.deploy) {
            text += deploy_line(*e.deploy, now) + "\n";
        } else {
            text += "Last deploy: none by Tugboat yet\n";
        }
        if (e.lock) {
            auto age = std::chrono::duration_cast<std::chrono::seconds>(now - e.lock->since);
            if (e.lock->deploy_id.empty()) {
                text += fmt::format("🔒 Locked by {} {} ago: {} (`/deploy unlock {} {}`)\n",
                                    mention(e.lock->holder), short_age(age),
                                    escape_mrkdwn(e.lock->reason), svc.name, e.name);
            } else {
                text += fmt::format("🔒 Locked by deploy `{}` of {} since {} ago\n",
                                    e.lock->deploy_id, mention(e.lock->holder), short_age(age));
            }
        } else {
            text += "Not locked\n";
        }
        if (e.freeze) {
            auto left = std::chrono::duration_cast<std::chrono::seconds>(e.freeze->ends - now);
            text += fmt::format("❄️ Frozen: {}, ends in {}\n", e.freeze->description,
                                short_age(left));
        }
        out.add(section{text, {}});
    }
    return out;
}

std::string pod_short_reason(const pod_info& pod) {
    if (pod.ready()) {
        return {};
    }
    if (pod.terminating) {
        return "Terminating";
    }
    if (!pod.reason.empty()) {
        return pod.reason;
    }
    for (const auto& c : pod.containers) {
        if (c.state == "waiting" && !c.reason.empty() && c.reason != "ContainerCreating" &&
            c.reason != "PodInitializing") {
            return c.reason;
        }
    }
    for (const auto& c : pod.containers) {
        if (c.last_reason == "OOMKilled" || c.reason == "OOMKilled") {
            return "OOMKilled";
        }
    }
    if (pod.phase == "Pending") {
        for (const auto& c : pod.conditions) {
            if (c.type == "PodScheduled" && c.status == "False") {
                return "Pending: " + (c.reason.empty() ? std::string("not scheduled") : c.reason);
            }
        }
        for (const auto& c : pod.containers) {
            if (c.state == "waiting" && !c.reason.empty()) {
                return c.reason;
            }
        }
        return "Pending";
    }
    for (const auto& c : pod.containers) {
        if (!c.init && !c.ready && c.state == "running") {
            return "Running, not ready";
        }
    }
    return pod.phase.empty() ? std::string("not ready") : pod.phase;
}

std::vector<const pod_info*> pods_matching(const std::vector<pod_info>& pods,
                                           const std::map<std::string, std::string>& selector) {
    std::vector<const pod_info*> out;
    if (selector.empty()) {
        return out;  // an empty selector would claim every pod of the namespace
    }
    for (const auto& p : pods) {
        bool all = std::all_of(selector.begin(), selector.end(), [&](const auto& kv) {
            auto it = p.labels.find(kv.first);
            return it != p.labels.end() && it->second == kv.second;
        });
        if (all) {
            out.push_back(&p);
        }
    }
    return out;
}

void add_to_cell(summary_cell& cell, const deployment_state& d,
                 const std::vector<const pod_info*>& pods, const std::string& container) {
    std::string v = image_version(d.image_of(container));
    if (std::find(cell.versions.begin(), cell.versions.end(), v) == cell.versions.end()) {
        cell.versions.push_back(v);
    }
    cell.desired += d.replicas;
    cell.ready += d.ready_replicas;
    auto verdict = integrations::rollout_status(d);
    cell.failed_rollout = cell.failed_rollout || verdict.failed;
    bool moving = rolling_out(d, verdict);
    cell.rolling = cell.rolling || moving;
    if (moving) {
        for (auto& o : other_versions(pods, container, v)) {
            if (std::find(cell.old_versions.begin(), cell.old_versions.end(), o) ==
                cell.old_versions.end()) {
                cell.old_versions.push_back(std::move(o));
            }
        }
    }
    if (!cell.problem.empty()) {
        return;
    }
    for (const auto* p : pods) {
        if (!p->terminating) {
            std::string why = pod_short_reason(*p);
            if (!why.empty()) {
                cell.problem = why;
                return;
            }
        }
        for (const auto& c : p->containers) {
            if (c.last_reason == "OOMKilled") {
                cell.problem = "OOMKilled restarts";
                return;
            }
        }
    }
}

message render_summary(const std::vector<summary_line>& lines, const std::string& scope,
                       const std::vector<std::string>& notes) {
    message out;
    out.text = "Status: " + scope;
    out.add(header{"Status"});
    out.add(context{{scope}});
    std::string text;
    bool any_refused = false;
    for (const auto& l : lines) {
        std::string row = fmt::format("*{}*", l.service);
        for (const auto& c : l.cells) {
            std::string cell;
            if (!c.refused.empty()) {
                any_refused = true;
                cell = "🙈 not allowed";
            } else if (c.missing && c.versions.empty() && c.failures.empty()) {
                cell = "➖ not deployed";
            } else {
                bool sick = c.failed_rollout || (!c.rolling && c.ready < c.desired) ||
                            (!c.problem.empty() && !c.rolling);
                std::string icon = sick                  ? "❌"
                                   : !c.failures.empty() ? "⚠️"
                                   : c.rolling           ? "🚀"
                                                         : "✅";
                auto quoted = [](const std::vector<std::string>& vs) {
                    std::string joined;
                    for (const auto& v : vs) {
                        joined += (joined.empty() ? "`" : ", `") + escape_mrkdwn(v) + "`";
                    }
                    return joined;
                };
                std::string versions = quoted(c.versions);
                if (!c.old_versions.empty()) {
                    versions = fmt::format("{} → {}", quoted(c.old_versions), versions);
                }
                cell = fmt::format("{} {} {}/{}", icon, versions.empty() ? "?" : versions, c.ready,
                                   c.desired);
                if (!c.problem.empty()) {
                    cell += " " + escape_mrkdwn(c.problem);
                }
                for (const auto& f : c.failures) {
                    cell += " " + escape_mrkdwn(f);
                }
            }
            if (c.deploying) {
                cell += " 🚀deploying";
            }
            if (c.locked) {
                cell += " 🔒";
            }
            if (c.frozen) {
                cell += " ❄️";
            }
            row += fmt::format(" · {} {}", c.environment, cell);
        }
        text += row + "\n";
    }
    if (lines.empty()) {
        text = "No services are configured.";
    }
    out.add(section{text, {}});
    if (!notes.empty()) {
        std::string why;
        for (const auto& n : notes) {
            why += "⚠️ " + escape_mrkdwn(one_line(n, 400)) + "\n";
        }
        out.add(section{why, {}});
    }
    std::string legend =
        "✅ healthy · 🚀 rolling out · ❌ unhealthy · ⚠️ cluster not readable · 🔒 "
        "locked "
        "· "
        "❄️ "
        "frozen. Details: `/status &lt;service&gt; [env]`.";
    if (any_refused) {
        legend += " 🙈: you are not among that environment's `readers`.";
    }
    out.add(context{{legend}});
    return out;
}

std::string describe_cluster_failure(const core::error& e) {
    switch (e.code) {
        case core::errc::permission_denied: {
            // kube-apiserver's RBAC refusal has one fixed shape; name the missing permission.
            static const std::regex rbac(
                R"re(User "([^"]+)" cannot (\S+) resource "([^"]+)" in API group "([^"]*)" (?:in the namespace "([^"]+)"|at the cluster scope))re");
            std::smatch m;
            if (std::regex_search(e.message, m, rbac)) {
                std::string group = m[4].str().empty() ? "core" : m[4].str();
                std::string where = m[5].matched ? fmt::format("in namespace `{}`", m[5].str())
                                                 : std::string("cluster-wide");
                return fmt::format(
                    "forbidden: the bot ({}) may not `{}` `{}` (API group {}) {}; grant it that "
                    "with a Role and RoleBinding (or ClusterRole) for that identity",
                    m[1].str(), m[2].str(), m[3].str(), group, where);
            }
            return "forbidden: " + e.message;
        }
        case core::errc::unavailable: return "unreachable: " + e.message;
        case core::errc::timeout: return "timed out: " + e.message;
        case core::errc::not_found: return "not found: " + e.message;
        case core::errc::rate_limited: return "throttled: " + e.message;
        default: return e.message;
    }
}

}  // namespace tugboat::commands
