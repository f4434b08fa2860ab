#include "commands/status.hpp"

#include "commands/deploy_policy.hpp"
#include "commands/status_report.hpp"
#include "integrations/kubernetes_client.hpp"
#include "integrations/within.hpp"
#include "storage/deploy_repository.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <set>
#include <utility>

namespace tugboat::commands {

namespace asio = boost::asio;

const command_spec& status_spec() {
    static const command_spec spec{
        .name = "status",
        .summary = "Show which version runs where and whether it is healthy.",
        .details =
            "With a service: per environment and cluster the running version, replicas, "
            "rollout, pods that are not ready and why, restarts, Warning events of the last "
            "15 minutes, the last deploy, locks and freezes. Without: one line per service of "
            "this channel.",
        .args = {{.name = "service",
                  .kind = arg_kind::service,
                  .required = false,
                  .help = "only this service; leave it out for the services of this channel "
                          "(`/status prod`: all of them in prod)"},
                 {.name = "env",
                  .kind = arg_kind::environment,
                  .required = false,
                  .help = "only this environment"}},
        .examples = {"status", "status prod", "status payments-api", "status payments-api prod"},
        .access = access_level::reader,
    };
    return spec;
}

namespace {

/// Runs every task at once and returns their results in the order given. Cancelling the
/// caller cancels every task.
template <class T>
asio::awaitable<std::vector<T>> all_of(std::vector<asio::awaitable<T>> tasks) {
    std::vector<T> out(tasks.size());
    if (tasks.empty()) {
        co_return out;
    }
    auto ex = co_await asio::this_coro::executor;
    using op = decltype(asio::co_spawn(ex, std::move(tasks.front()), asio::deferred));
    std::vector<op> ops;
    ops.reserve(tasks.size());
    for (auto& t : tasks) {
        ops.push_back(asio::co_spawn(ex, std::move(t), asio::deferred));
    }
    auto group = asio::experimental::make_parallel_group(std::move(ops));
    auto [order, errors, values] =
        co_await group.async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    for (std::size_t i = 0; i < values.size(); ++i) {
        // A task that threw left a default value; its exception is a bug, rethrown here so the
        // router logs it like any other handler failure.
        if (errors[i]) {
            std::rethrow_exception(errors[i]);
        }
        out[i] = std::move(values[i]);
    }
    co_return out;
}

/// `op`'s result, or timeout when `limit` passed first (the operation is then cancelled).
template <class T>
asio::awaitable<core::result<T>> within(asio::awaitable<core::result<T>> op,
                                        std::chrono::milliseconds limit, std::string what) {
    auto raced = co_await integrations::within(std::move(op), limit);
    if (raced) {
        co_return std::move(*raced);
    }
    co_return core::make_error(core::errc::timeout,
                               fmt::format("{} did not answer within {} ms", what, limit.count()));
}

std::string format_id(std::int64_t id) {
    return storage::format_deploy_id(id);
}

last_deploy to_last_deploy(const storage::deploy_record& r) {
    last_deploy d;
    d.id = format_id(r.id);
    d.version = r.version;
    d.requester = r.requester;
    d.outcome = std::string(storage::to_string(r.outcome));
    d.phase = r.phase;
    d.failure = r.failure_reason;
    d.at = r.created_at;
    d.finished_at = r.finished_at;
    d.channel = r.slack_channel;
    d.thread_ts = r.slack_root_ts;
    return d;
}

/// Where a service runs in an environment: one entry per cluster and Deployment.
struct placement {
    std::string cluster;
    std::string ns;
    std::string deployment;
    std::string container;
};

std::vector<placement> placements(const core::service_config& svc,
                                  const core::environment_config& env) {
    std::vector<placement> out;
    auto it = svc.workloads.find(env.name);
    if (it == svc.workloads.end()) {
        return out;
    }
    for (const auto& cluster : env.clusters) {
        for (const auto& w : it->second) {
            if (!w.cluster.empty() && w.cluster != cluster) {
                continue;
            }
            out.push_back({cluster,
                           w.namespace_name.empty() ? env.namespace_name : w.namespace_name,
                           w.deployment, w.container});
        }
    }
    return out;
}

/// What one (cluster, namespace) holds, for the summary.
struct namespace_snapshot {
    std::string failure;
    std::vector<integrations::deployment_state> deployments;
    std::vector<integrations::pod_info> pods;
};

}  // namespace

status_command::status_command(status_deps deps) : d_(std::move(deps)) {}

const command_spec& status_command::spec() const {
    return status_spec();
}

namespace {

/// Reads one Deployment, then its pods and the namespace's Warning events in parallel.
asio::awaitable<workload_report> read_workload(integrations::kubernetes* k8s,
                                               workload_report report) {
    using namespace asio::experimental::awaitable_operators;
    auto got = co_await k8s->get_deployment(report.ns, report.deployment);
    if (!got) {
        report.failure = describe_cluster_failure(got.error());
        co_return report;
    }
    report.state = std::move(*got);
    integrations::event_filter warnings{.field_selector = "type=Warning"};
    auto pods_op = k8s->list_pods(report.ns, report.state.selector_string());
    auto events_op = k8s->list_events(report.ns, warnings);
    auto both = co_await (std::move(pods_op) && std::move(events_op));
    auto& pods = std::get<0>(both);
    auto& events = std::get<1>(both);
    if (pods) {
        report.pods = std::move(*pods);
    } else {
        report.partial_failures.push_back("pods: " + describe_cluster_failure(pods.error()));
    }
    if (events) {
        report.warnings = std::move(*events);
    } else {
        report.partial_failures.push_back("events: " + describe_cluster_failure(events.error()));
    }
    co_return report;
}

/// read_workload within the deadline; a missing cluster client is reported, not thrown.
asio::awaitable<workload_report> read_workload_within(integrations::kubernetes* k8s,
                                                      workload_report report,
                                                      std::chrono::milliseconds deadline) {
    if (k8s == nullptr) {
        report.failure =
            fmt::format("unreachable: the bot has no client for cluster `{}`", report.cluster);
        co_return report;
    }
    // The whole read races the deadline; wrap it in a result so `within` applies.
    auto wrapped = [](integrations::kubernetes* k,
                      workload_report r) -> asio::awaitable<core::result<workload_report>> {
        auto done = co_await read_workload(k, std::move(r));
        co_return done;
    };
    std::string what = fmt::format("cluster {}", report.cluster);
    workload_report fallback = report;
    auto op = wrapped(k8s, std::move(report));
    auto raced = co_await within<workload_report>(std::move(op), deadline, what);
    if (raced) {
        co_return std::move(*raced);
    }
    fallback.failure = describe_cluster_failure(raced.error());
    co_return fallback;
}

asio::awaitable<namespace_snapshot> read_namespace(integrations::kubernetes* k8s, std::string ns,
                                                   std::chrono::milliseconds deadline,
                                                   std::string cluster) {
    using namespace asio::experimental::awaitable_operators;
    namespace_snapshot out;
    if (k8s == nullptr) {
        out.failure = fmt::format("unreachable: no client for cluster `{}`", cluster);
        co_return out;
    }
    auto read = [](integrations::kubernetes* k,
                   std::string n) -> asio::awaitable<core::result<namespace_snapshot>> {
        auto deps_op = k->list_deployments(n);
        auto pods_op = k->list_pods(n, "");
        auto both = co_await (std::move(deps_op) && std::move(pods_op));
        auto& ds = std::get<0>(both);
        auto& ps = std::get<1>(both);
        if (!ds) {
            co_return ds.error();
        }
        namespace_snapshot s;
        s.deployments = std::move(*ds);
        if (ps) {
            s.pods = std::move(*ps);
        }
        co_return s;
    };
    auto op = read(k8s, ns);
    auto raced = co_await within<namespace_snapshot>(std::move(op), deadline, "cluster " + cluster);
    if (!raced) {
        out.failure = describe_cluster_failure(raced.error());
        co_return out;
    }
    co_return std::move(*raced);
}

}  // namespace

asio::awaitable<core::result<void>> status_command::handle(request req) {
    const core::config& cfg = d_.config;
    const std::string service = req.input.arg("service");
    const std::string env_name = req.input.arg("env");
    principal who = co_await principal_of(d_.people, d_.log, req.event.actor);
    storage::deploy_repository repo(d_.db);
    const auto now = req.clock.now();

    auto client_of = [&](const std::string& cluster) -> integrations::kubernetes* {
        auto it = d_.clusters.find(cluster);
        return it == d_.clusters.end() ? nullptr : it->second;
    };

    if (service.empty()) {
        // The services of this channel; every service when none names it.
        std::set<std::string> channel_names;
        for (const auto& c : cfg.channels) {
            if (c.id == req.event.channel) {
                channel_names.insert(c.name);
            }
        }
        std::vector<const core::service_config*> services;
        for (const auto& s : cfg.services) {
            if (channel_names.contains(s.channel)) {
                services.push_back(&s);
            }
        }
        std::string here = req.event.channel.empty() || req.event.channel.front() == 'D'
                               ? std::string("this conversation")
                               : fmt::format("<#{}>", req.event.channel);
        std::string scope = fmt::format("Services of {}", here);
        if (services.empty()) {
            for (const auto& s : cfg.services) {
                services.push_back(&s);
            }
            scope = fmt::format("All {} services (none names {} as its channel)", services.size(),
                                here);
        }
        std::vector<const core::environment_config*> envs;
        for (const auto& e : cfg.environments) {
            if (env_name.empty() || e.name == env_name) {
                envs.push_back(&e);
            }
        }
        if (!envs.empty() && !env_name.empty()) {
            if (auto ok = may_read(who, *envs.front(), nullptr, cfg.bot.admins); !ok) {
                co_return ok.error();
            }
        }
        // One read per (cluster, namespace) covers every service placed there.
        std::vector<std::pair<std::string, std::string>> keys;
        for (const auto* s : services) {
            for (const auto* e : envs) {
                for (const auto& p : placements(*s, *e)) {
                    std::pair<std::string, std::string> key{p.cluster, p.ns};
                    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
                        keys.push_back(key);
                    }
                }
            }
        }
        std::vector<asio::awaitable<namespace_snapshot>> tasks;
        tasks.reserve(keys.size());
        for (const auto& [cluster, ns] : keys) {
            tasks.push_back(read_namespace(client_of(cluster), ns, d_.timing.deadline, cluster));
        }
        auto snapshots = co_await all_of(std::move(tasks));

        std::set<std::pair<std::string, std::string>> running;
        if (auto unfinished = repo.list_unfinished()) {
            for (const auto& r : *unfinished) {
                running.insert({r.service, r.environment});
            }
        }
        std::set<std::pair<std::string, std::string>> locked;
        if (auto locks = repo.list_locks()) {
            for (const auto& l : *locks) {
                locked.insert({l.service, l.environment});
            }
        }
        std::vector<summary_line> lines;
        for (const auto* s : services) {
            summary_line line{s->name, {}};
            for (const auto* e : envs) {
                auto where = placements(*s, *e);
                if (where.empty()) {
                    continue;
                }
                summary_cell cell;
                cell.environment = e->name;
                if (auto ok = may_read(who, *e, s, cfg.bot.admins); !ok) {
                    cell.refused = ok.error().message;
                    line.cells.push_back(std::move(cell));
                    continue;
                }
                for (const auto& p : where) {
                    std::size_t k = static_cast<std::size_t>(
                        std::find(keys.begin(), keys.end(), std::make_pair(p.cluster, p.ns)) -
                        keys.begin());
                    const auto& snap = snapshots[k];
                    if (!snap.failure.empty()) {
                        // "unreachable: …" → "cloud: unreachable"; the note says the rest.
                        cell.failures.push_back(fmt::format(
                            "{}: {}", p.cluster, snap.failure.substr(0, snap.failure.find(':'))));
                        continue;
                    }
                    auto d = std::find_if(snap.deployments.begin(), snap.deployments.end(),
                                          [&](const integrations::deployment_state& x) {
                                              return x.name == p.deployment;
                                          });
                    if (d == snap.deployments.end()) {
                        cell.missing = true;
                        continue;
                    }
                    add_to_cell(cell, *d, pods_matching(snap.pods, d->selector), p.container);
                }
                cell.deploying = running.contains({s->name, e->name});
                cell.locked = locked.contains({s->name, e->name});
                cell.frozen = active_freeze(*e, now).has_value();
                line.cells.push_back(std::move(cell));
            }
            lines.push_back(std::move(line));
        }
        std::vector<std::string> notes;
        for (std::size_t k = 0; k < keys.size(); ++k) {
            if (!snapshots[k].failure.empty()) {
                notes.push_back(fmt::format("`{}` namespace {}: {}", keys[k].first, keys[k].second,
                                            snapshots[k].failure));
            }
        }
        co_return co_await req.answer(render_summary(lines, scope, notes));
    }

    const core::service_config* svc = cfg.find_service(service);
    if (svc == nullptr) {
        // The grammar resolved the name against the same config; only a reload could get here.
        co_return core::make_error(core::errc::not_found,
                                   fmt::format("There is no service `{}`. Type `/status` to see "
                                               "them all.",
                                               service));
    }
    std::vector<const core::environment_config*> envs;
    for (const auto& e : cfg.environments) {
        if (svc->workloads.contains(e.name) && (env_name.empty() || e.name == env_name)) {
            envs.push_back(&e);
        }
    }
    if (envs.empty()) {
        std::vector<std::string> where;
        for (const auto& e : cfg.environments) {
            if (svc->workloads.contains(e.name)) {
                where.push_back(e.name);
            }
        }
        if (where.empty()) {
            co_return core::make_error(
                core::errc::not_found,
                fmt::format("`{}` has no workloads in any environment; its config names none.",
                            svc->name));
        }
        co_return core::make_error(
            core::errc::not_found,
            fmt::format("`{}` does not run in `{}`; it runs in {}. Type `/status {} {}`.",
                        svc->name, env_name, list_names(where), svc->name, where.front()));
    }

    std::vector<environment_report> reports;
    std::vector<asio::awaitable<workload_report>> tasks;
    std::vector<std::size_t> task_env;
    std::string first_refusal;
    for (const auto* e : envs) {
        environment_report r;
        r.name = e->name;
        if (auto ok = may_read(who, *e, svc, cfg.bot.admins); !ok) {
            if (!env_name.empty()) {
                co_return ok.error();
            }
            r.refused = ok.error().message;
            if (first_refusal.empty()) {
                first_refusal = r.refused;
            }
            reports.push_back(std::move(r));
            continue;
        }
        for (const auto& p : placements(*svc, *e)) {
            workload_report w;
            w.cluster = p.cluster;
            w.ns = p.ns;
            w.deployment = p.deployment;
            w.container = p.container;
            tasks.push_back(
                read_workload_within(client_of(p.cluster), std::move(w), d_.timing.deadline));
            task_env.push_back(reports.size());
        }
        if (auto hist = repo.history(svc->name, e->name, 1); hist && !hist->empty()) {
            r.deploy = to_last_deploy(hist->front());
            r.deploy->link = req.chat.link({r.deploy->channel, r.deploy->thread_ts});
        }
        if (auto lock = repo.get_lock(svc->name, e->name); lock && *lock) {
            const auto& l = **lock;
            r.lock = lock_report{l.holder, l.reason,
                                 l.deploy_id ? format_id(*l.deploy_id) : std::string(), l.since};
        }
        r.freeze = active_freeze(*e, now);
        reports.push_back(std::move(r));
    }
    if (tasks.empty() && !first_refusal.empty()) {
        co_return core::make_error(core::errc::permission_denied, first_refusal);
    }
    auto read = co_await all_of(std::move(tasks));
    for (std::size_t i = 0; i < read.size(); ++i) {
        reports[task_env[i]].workloads.push_back(std::move(read[i]));
    }
    co_return co_await req.answer(
        render_service_status(*svc, reports, now, d_.timing.warning_window));
}

}  // namespace tugboat::commands
