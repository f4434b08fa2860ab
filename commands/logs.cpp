#include "commands/logs.hpp"

#include "commands/deploy_policy.hpp"
#include "integrations/kubernetes_client.hpp"
#include "integrations/within.hpp"
#include "storage/grant_repository.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <climits>

#include <algorithm>
#include <iterator>
#include <set>

namespace tugboat::commands {

namespace asio = boost::asio;
namespace k8s = tugboat::integrations;

const command_spec& logs_spec() {
    static const command_spec spec{
        .name = "logs",
        .summary = "Show recent log lines of a service's pods.",
        .details =
            "Reads every pod of the service's Deployment in every cluster of the environment, "
            "merges the lines by time and posts them in a thread; long output is shared as a "
            "file. Secrets (tokens, passwords, keys) are redacted. See docs/logs.md.",
        .args = {{.name = "service",
                  .kind = arg_kind::service,
                  .help = "a service from the bot's config, e.g. `payments-api`"},
                 {.name = "env",
                  .kind = arg_kind::environment,
                  .help = "an environment, e.g. `staging` or `prod`"}},
        .flags = {{.name = "since",
                   .value_name = "duration",
                   .kind = arg_kind::duration,
                   .help = "only lines newer than this, e.g. `30m` (default 15m)"},
                  {.name = "tail",
                   .value_name = "lines",
                   .kind = arg_kind::number,
                   .help = "only the last this many lines per pod (default 100, at most 10000)"},
                  {.name = "container",
                   .value_name = "name",
                   .help = "the container to read when pods have several"},
                  {.name = "grep",
                   .value_name = "pattern",
                   .help = "only lines matching this regular expression; quote it if it has "
                           "spaces"},
                  {.name = "previous", .help = "logs of the previous, crashed container"},
                  {.name = "pod", .value_name = "name", .help = "only this pod"}},
        .examples = {"logs payments-api prod --since 30m --grep timeout",
                     "logs payments-api staging --previous --pod payments-api-7d9f8-x2kq4"},
        .access = access_level::reader,
    };
    return spec;
}

// ---- time ----

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) {
    if (at + n > s.size()) {
        return false;
    }
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339_ns(std::string_view s) {
    int y = 0;
    int mo = 0;
    int d = 0;
    int h = 0;
    int mi = 0;
    int sec = 0;
    if (s.size() < 20 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) ||
        s[7] != '-' || !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
        !digits(s, 17, 2, sec) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60) {
        return std::nullopt;
    }
    std::size_t i = 19;
    std::int64_t frac = 0;
    if (s[i] == '.') {
        ++i;
        int n = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (n < 9) {
                frac = frac * 10 + (s[i] - '0');
                ++n;
            }
            ++i;
        }
        if (n == 0) {
            return std::nullopt;
        }
        for (; n < 9; ++n) {
            frac *= 10;
        }
    }
    std::int64_t offset = 0;
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        int oh = 0;
        int om = 0;
        if (!digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' ||
            !digits(s, i + 4, 2, om)) {
            return std::nullopt;
        }
        offset = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return std::nullopt;
    }
    if (i != s.size()) {
        return std::nullopt;
    }
    std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset;
    return secs * 1'000'000'000 + frac;
}

// ---- permissions ----

core::result<void> may_read_environment(const principal& who, const core::environment_config& env) {
    const auto& readers = env.policy.readers;
    if (matches(who, readers)) {
        return core::ok();
    }
    if (readers.empty()) {
        return core::make_error(
            core::errc::permission_denied,
            fmt::format("Nobody may read logs or status of `{}`: its policy lists no readers. An "
                        "admin can add people to `readers` under `environments.{}.policy`.",
                        env.name, env.name));
    }
    return core::make_error(
        core::errc::permission_denied,
        fmt::format("You may not read logs or status of `{}`: its readers are {}. Ask one of them, "
                    "or ask an admin to add you to `readers` of `{}`.",
                    env.name, mentions(readers), env.name));
}

namespace {

// ---- running things concurrently on this thread ----

std::string seconds_text(std::chrono::milliseconds d) {
    return fmt::format("{} s", std::max<long long>(1, (d.count() + 999) / 1000));
}

using integrations::within;

// Jobs run by `width` workers; the caller waits for every job, even when cancelled, because
// the jobs point into its frame (each job has its own deadline).
template <class Job, class Ctx>
struct job_pool {
    std::vector<Job>* jobs = nullptr;
    Ctx* ctx = nullptr;
    asio::awaitable<void> (*run)(Job*, Ctx*) = nullptr;
    std::size_t next = 0;
    std::size_t active = 0;
    std::optional<asio::steady_timer> done;
};

template <class Job, class Ctx>
asio::awaitable<void> pool_worker(job_pool<Job, Ctx>* p) {
    while (p->next < p->jobs->size()) {
        Job* job = &(*p->jobs)[p->next++];
        auto work = p->run(job, p->ctx);
        co_await std::move(work);
    }
}

template <class Job, class Ctx>
asio::awaitable<void> run_jobs(std::vector<Job>* jobs, Ctx* ctx,
                               asio::awaitable<void> (*run)(Job*, Ctx*), std::size_t width) {
    if (jobs->empty()) {
        co_return;
    }
    auto ex = co_await asio::this_coro::executor;
    job_pool<Job, Ctx> p;
    p.jobs = jobs;
    p.ctx = ctx;
    p.run = run;
    p.done.emplace(ex, asio::steady_timer::time_point::max());
    p.active = std::min(std::max<std::size_t>(width, 1), jobs->size());
    const std::size_t workers = p.active;
    for (std::size_t i = 0; i < workers; ++i) {
        asio::co_spawn(ex, pool_worker(&p), [&p](const std::exception_ptr&) {
            if (--p.active == 0) {
                p.done->cancel();
            }
        });
    }
    co_await asio::this_coro::throw_if_cancelled(false);
    while (p.active > 0) {
        co_await p.done->async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

// ---- finding the pods ----

struct workload {
    std::string ns;
    std::string deployment;
    std::string container;  ///< from the config; may be ""
};

struct cluster_job {
    std::string cluster;
    k8s::kubernetes* client = nullptr;
    workload what;
    std::optional<core::error> failure;  // timeout included
    k8s::deployment_state deployment;
    std::vector<k8s::pod_info> pods;
};

struct discover_ctx {
    logs_limits limits;
};

asio::awaitable<core::result<std::pair<k8s::deployment_state, std::vector<k8s::pod_info>>>>
find_pods(k8s::kubernetes* client, std::string ns, std::string deployment) {
    auto d = co_await client->get_deployment(ns, deployment);
    if (!d) {
        co_return std::move(d).error();
    }
    // The selector comes from the Deployment itself: labels in the config could drift.
    auto selector = d->selector_string();
    auto pods = co_await client->list_pods(ns, selector);
    if (!pods) {
        co_return std::move(pods).error();
    }
    std::erase_if(*pods, [](const k8s::pod_info& p) { return p.phase == "Pending"; });
    co_return std::make_pair(std::move(*d), std::move(*pods));
}

asio::awaitable<void> discover(cluster_job* job, discover_ctx* ctx) {
    auto op = find_pods(job->client, job->what.ns, job->what.deployment);
    auto found = co_await within(std::move(op), ctx->limits.cluster_deadline);
    if (!found) {
        job->failure = core::make_error(
            core::errc::timeout,
            fmt::format("did not answer within {}", seconds_text(ctx->limits.cluster_deadline)));
        co_return;
    }
    if (!*found) {
        job->failure = std::move(*found).error();
        co_return;
    }
    job->deployment = std::move((*found)->first);
    job->pods = std::move((*found)->second);
}

std::string cluster_note(const cluster_job& job) {
    const auto& e = *job.failure;
    switch (e.code) {
        case core::errc::permission_denied:
            return fmt::format(
                "cluster `{}` refused the bot: it needs `get` on `deployments` (apps) and `list` "
                "on `pods` in namespace `{}`. {}",
                job.cluster, job.what.ns, e.message);
        case core::errc::not_found:
            return fmt::format("cluster `{}` has no Deployment `{}` in namespace `{}`.",
                               job.cluster, job.what.deployment, job.what.ns);
        case core::errc::timeout:
            return fmt::format("cluster `{}` {} (reading Deployment `{}/{}` and its pods).",
                               job.cluster, e.message, job.what.ns, job.what.deployment);
        default: return fmt::format("cluster `{}` is unreachable: {}", job.cluster, e.message);
    }
}

// ---- reading and merging ----

struct pod_job {
    k8s::kubernetes* client = nullptr;
    std::string cluster;
    k8s::log_request request;
    std::uint32_t source = 0;
};

bool log_entry_before(const log_entry& a, const log_entry& b) {
    if (a.at_ns != b.at_ns) {
        return a.at_ns < b.at_ns;
    }
    if (a.source != b.source) {
        return a.source < b.source;
    }
    return a.seq < b.seq;
}

bool has_regex_syntax(std::string_view s) {
    return s.find_first_of(R"(\^$.|?*+()[]{})") != std::string_view::npos;
}

// What one pod's log gave so far; summed into logs_result at the end.
struct source_read {
    bool done = false;
    std::size_t lines = 0;       // matching lines read, kept or not
    std::size_t redacted = 0;    // lines in which something was hidden
    std::int64_t oldest_at = 0;  // time of its first line
    bool more = false;           // a shortened tail came back full: older lines exist
};

// Merges each pod's log into the newest `max_lines` lines as it arrives, so at most one pod's
// body and the kept lines are in memory at once.
struct collector {
    const logs_query* query = nullptr;
    const redactor* redact = nullptr;
    logs_limits limits;
    bool literal_grep = false;
    logs_result* out = nullptr;
    std::vector<source_read> read;  // by source
    std::size_t forbidden = 0;
    std::size_t failed = 0;
    std::vector<std::string> forbidden_notes;
    std::vector<std::string> forbidden_keys;  ///< "cluster/namespace" already noted

    bool keep(const std::string& text) const {
        if (query->grep.empty()) {
            return true;
        }
        if (literal_grep) {
            return text.find(query->grep) != std::string::npos;
        }
        return std::regex_search(text, *query->grep_regex);
    }

    void add(std::uint32_t source, const std::string& body, int tail_asked) {
        source_read& r = read[source];
        if (r.done) {  // read again with the whole tail: its first lines are replaced
            std::erase_if(out->lines, [&](const log_entry& e) { return e.source == source; });
        }
        r = {.done = true};
        bool cut = limits.limit_bytes > 0 && body.size() >= limits.limit_bytes;
        if (cut) {
            out->cut_pods.push_back(out->sources[source]);
        }
        const auto body_lines =
            static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n'));
        r.more = tail_asked < query->tail && body_lines >= static_cast<std::size_t>(tail_asked);
        std::vector<log_entry> mine;
        mine.reserve(body_lines + 1);
        redact_state state;
        std::int64_t last_at = 0;
        bool first = true;
        std::uint32_t seq = 0;
        std::size_t pos = 0;
        // Once the kept lines are full, a line older than the oldest kept one would be dropped by
        // the merge below: count it, but skip the copy and the redaction, as it is never shown.
        // With --grep every line must be matched (on redacted text) to be counted.
        const bool full = query->grep.empty() && out->lines.size() >= limits.max_lines;
        const std::int64_t oldest = full ? out->lines.front().at_ns : 0;
        std::size_t skipped = 0;
        while (pos < body.size()) {
            auto nl = body.find('\n', pos);
            if (nl == std::string::npos && cut) {
                break;  // limitBytes may end mid-line: drop the fragment
            }
            std::size_t end = nl == std::string::npos ? body.size() : nl;
            std::string_view line(body.data() + pos, end - pos);
            pos = end + 1;
            auto space = line.find(' ');
            std::optional<std::int64_t> at;
            if (space != std::string_view::npos) {
                at = parse_rfc3339_ns(line.substr(0, space));
            }
            if (at) {
                last_at = *at;
                if (first) {
                    r.oldest_at = *at;
                    first = false;
                }
            }
            // A private key's BEGIN must still be seen, so that its later lines are hidden.
            if (full && at && *at < oldest && !state.in_private_key &&
                line.find("-----") == std::string_view::npos) {
                ++skipped;
                continue;
            }
            std::string text(at ? line.substr(space + 1) : line);
            if (redact->redact_line(text, state)) {
                ++r.redacted;
            }
            if (!keep(text)) {
                continue;
            }
            mine.push_back({last_at, source, seq++, std::move(text)});
        }
        r.lines = mine.size() + skipped;
        if (skipped > 0) {
            out->capped = true;
        }
        if (mine.size() > limits.max_lines) {
            mine.erase(mine.begin(),
                       mine.begin() + static_cast<std::ptrdiff_t>(mine.size() - limits.max_lines));
            out->capped = true;
        }
        std::vector<log_entry> merged;
        merged.reserve(std::min(out->lines.size() + mine.size(), limits.max_lines + mine.size()));
        std::merge(std::make_move_iterator(out->lines.begin()),
                   std::make_move_iterator(out->lines.end()), std::make_move_iterator(mine.begin()),
                   std::make_move_iterator(mine.end()), std::back_inserter(merged),
                   log_entry_before);
        if (merged.size() > limits.max_lines) {
            merged.erase(merged.begin(), merged.begin() + static_cast<std::ptrdiff_t>(
                                                              merged.size() - limits.max_lines));
            out->capped = true;
        }
        out->lines = std::move(merged);
    }

    // The pods whose shortened tail may not reach back to the oldest kept line.
    bool needs_whole_tail(std::uint32_t source) const {
        const source_read& r = read[source];
        return r.more &&
               (out->lines.size() < limits.max_lines || r.oldest_at >= out->lines.front().at_ns);
    }

    void sum_up() {
        for (const auto& r : read) {
            out->pods += r.done ? 1 : 0;
            out->total_lines += r.lines;
            out->redacted_lines += r.redacted;
            out->older_unread = out->older_unread || r.more;
        }
    }
};

asio::awaitable<void> read_pod(pod_job* job, collector* c) {
    auto op = job->client->pod_log(job->request);
    auto body = co_await within(std::move(op), c->limits.pod_deadline);
    const std::string& label = c->out->sources[job->source];
    if (!body) {
        ++c->failed;
        c->out->notes.push_back(fmt::format("`{}`: no answer from cluster `{}` within {}.", label,
                                            job->cluster, seconds_text(c->limits.pod_deadline)));
        co_return;
    }
    if (*body) {
        c->add(job->source, **body, job->request.tail_lines);
        co_return;
    }
    const auto& e = body->error();
    ++c->failed;
    const std::string& pod = job->request.pod;
    if (e.code == core::errc::not_found) {
        c->out->notes.push_back(fmt::format(
            "`{}` (pod `{}`) was deleted while its log was read; the other pods are shown.", label,
            pod));
    } else if (e.code == core::errc::permission_denied) {
        ++c->forbidden;
        // Once per cluster and namespace, not once per pod.
        std::string key = job->cluster + "/" + job->request.ns;
        if (std::ranges::find(c->forbidden_keys, key) == c->forbidden_keys.end()) {
            c->forbidden_keys.push_back(key);
            std::string note = fmt::format(
                "cluster `{}` refused to show pod logs: the bot needs `get` on `pods/log` in "
                "namespace `{}`; an admin can grant it with a Role bound to the bot's identity. "
                "The API server said: {}",
                job->cluster, job->request.ns, e.message);
            c->forbidden_notes.push_back(note);
            c->out->notes.push_back(std::move(note));
        }
    } else if (e.message.find("previous terminated container") != std::string::npos) {
        c->out->notes.push_back(
            fmt::format("`{}` has no previous container: it has not restarted.", label));
    } else if (e.message.find("waiting to start") != std::string::npos) {
        c->out->notes.push_back(
            fmt::format("`{}`: container is waiting to start, no log yet.", label));
    } else {
        c->out->notes.push_back(fmt::format("`{}`: {}", label, e.message));
    }
}

// "payments-api-7d9f8-x2kq4" → "x2kq4": the part that tells the pods of one ReplicaSet apart.
std::string short_pod(std::string_view pod, std::string_view deployment) {
    std::string_view rest = pod;
    if (rest.starts_with(deployment) && rest.size() > deployment.size() + 1 &&
        rest[deployment.size()] == '-') {
        rest.remove_prefix(deployment.size() + 1);
    }
    auto dash = rest.rfind('-');
    return std::string(dash == std::string_view::npos ? rest : rest.substr(dash + 1));
}

}  // namespace

asio::awaitable<core::result<logs_result>> collect_logs(
    std::map<std::string, k8s::kubernetes*, std::less<>> clusters, logs_query q, redactor redact,
    logs_limits limits) {
    logs_result out;
    // Targets × clusters, discovered in parallel.
    std::vector<cluster_job> found;
    for (const auto& t : q.targets) {
        for (const auto& name : t.clusters) {
            cluster_job job;
            job.cluster = name;
            job.what = {t.ns, t.deployment, t.container};
            auto it = clusters.find(name);
            if (it == clusters.end()) {
                out.notes.push_back(
                    fmt::format("cluster `{}` is not configured on this bot; skipped.", name));
                continue;
            }
            job.client = it->second;
            found.push_back(std::move(job));
        }
    }
    discover_ctx dctx{limits};
    co_await run_jobs(&found, &dctx, &discover, found.size());

    std::size_t reachable = 0;
    std::size_t refused = 0;
    std::set<std::string> deployments;
    for (const auto& job : found) {
        if (job.failure) {
            refused += job.failure->code == core::errc::permission_denied ? 1 : 0;
            out.notes.push_back(cluster_note(job));
            continue;
        }
        ++reachable;
        deployments.insert(job.what.deployment);
        if (std::ranges::find(out.clusters_read, job.cluster) == out.clusters_read.end()) {
            out.clusters_read.push_back(job.cluster);
        }
        if (job.pods.empty()) {
            out.notes.push_back(fmt::format("cluster `{}` has no running pods of `{}/{}`.",
                                            job.cluster, job.what.ns, job.what.deployment));
        }
    }
    if (reachable == 0) {
        std::string why;
        for (const auto& n : out.notes) {
            why += "\n• " + n;
        }
        co_return core::make_error(
            refused == found.size() && !found.empty() ? core::errc::permission_denied
                                                      : core::errc::unavailable,
            fmt::format("Could not read the pods of `{}`:{}",
                        q.targets.empty() ? "" : q.targets.front().deployment, why));
    }

    // Pick pods and containers.
    std::set<std::string> cluster_names;
    for (const auto& job : found) {
        cluster_names.insert(job.cluster);
    }
    const bool label_cluster = cluster_names.size() > 1;
    const bool label_deployment = deployments.size() > 1;
    std::vector<pod_job> jobs;
    std::vector<std::string> all_pods;
    std::set<std::string> containers_read;
    for (const auto& job : found) {
        if (job.failure) {
            continue;
        }
        std::vector<std::string> names;
        for (const auto& c : job.deployment.containers) {
            names.push_back(c.name);
        }
        std::string container = !q.container.empty() ? q.container : job.what.container;
        if (container.empty() && !names.empty()) {
            container = names.front();
        }
        if (!names.empty() && std::ranges::find(names, container) == names.end()) {
            co_return core::make_error(
                core::errc::invalid_argument,
                fmt::format("Deployment `{}` has no container `{}`; its containers are {}. "
                            "Example: `--container {}`.",
                            job.what.deployment, container, list_names(names), names.front()));
        }
        for (const auto& n : names) {
            if (n != container &&
                std::ranges::find(out.other_containers, n) == out.other_containers.end()) {
                out.other_containers.push_back(n);
            }
        }
        for (const auto& p : job.pods) {
            all_pods.push_back(p.name);
            if (!q.pod.empty() && p.name != q.pod && !p.name.ends_with("-" + q.pod)) {
                continue;
            }
            containers_read.insert(container);
            std::string label = short_pod(p.name, job.what.deployment);
            if (label_deployment) {
                label = job.what.deployment + "/" + label;
            }
            if (label_cluster) {
                label = job.cluster + "/" + label;
            }
            pod_job pj;
            pj.client = job.client;
            pj.cluster = job.cluster;
            pj.request.ns = job.what.ns;
            pj.request.pod = p.name;
            pj.request.container = container;
            pj.request.tail_lines = q.tail;  // shortened below when many pods share the cap
            pj.request.previous = q.previous;
            pj.request.timestamps = true;
            pj.request.limit_bytes = limits.limit_bytes;
            pj.request.since_seconds = q.since ? static_cast<int>(q.since->count()) : 0;
            pj.source = static_cast<std::uint32_t>(out.sources.size());
            out.sources.push_back(std::move(label));
            jobs.push_back(std::move(pj));
        }
    }
    if (!q.pod.empty() && jobs.empty()) {
        std::vector<std::string> shown = all_pods;
        co_return core::make_error(
            core::errc::not_found,
            all_pods.empty()
                ? fmt::format("There is no pod `{}`: the service has no running pods there.", q.pod)
                : fmt::format("There is no pod `{}` among {}.{}", q.pod, list_names(shown),
                              did_you_mean(q.pod, shown,
                                           [](const std::string& s) { return "`" + s + "`"; })));
    }
    // Same-named labels (a pod suffix repeated across ReplicaSets) fall back to full names.
    {
        std::map<std::string, int> seen;
        for (const auto& s : out.sources) {
            ++seen[s];
        }
        for (std::size_t i = 0; i < out.sources.size(); ++i) {
            if (seen[out.sources[i]] > 1) {
                out.sources[i] = (label_cluster ? jobs[i].cluster + "/" : "") + jobs[i].request.pod;
            }
        }
    }
    out.container = containers_read.size() == 1 ? *containers_read.begin() : std::string();
    std::erase_if(out.other_containers,
                  [&](const std::string& n) { return containers_read.contains(n); });

    collector c;
    c.query = &q;
    c.redact = &redact;
    c.limits = limits;
    c.literal_grep = !q.grep.empty() && !has_regex_syntax(q.grep);
    c.out = &out;
    c.read.resize(out.sources.size());
    // Only the newest max_lines lines of all pods are shown: read twice each pod's share first
    // and go back for the whole tail only where that did not reach the oldest line kept. With
    // evenly busy pods this reads a fraction of the bytes, and shows the same lines.
    const auto share = static_cast<int>(std::min<std::size_t>(
        INT_MAX, 2 * limits.max_lines / std::max<std::size_t>(jobs.size(), 1) + 1));
    const bool in_two_reads = q.grep.empty() && share < q.tail;
    if (in_two_reads) {
        for (auto& j : jobs) {
            j.request.tail_lines = share;
        }
    }
    co_await run_jobs(&jobs, &c, &read_pod, limits.parallel_pods);
    if (in_two_reads) {
        std::vector<pod_job> again;
        for (const auto& j : jobs) {
            if (c.needs_whole_tail(j.source)) {
                again.push_back(j);
                again.back().request.tail_lines = q.tail;
            }
        }
        co_await run_jobs(&again, &c, &read_pod, limits.parallel_pods);
    }
    c.sum_up();
    if (!jobs.empty() && c.forbidden == jobs.size()) {
        std::string why;
        for (const auto& n : c.forbidden_notes) {
            why += "\n• " + n;
        }
        co_return core::make_error(core::errc::permission_denied,
                                   "The bot may not read these pods' logs:" + why);
    }
    std::ranges::sort(out.cut_pods);
    co_return out;
}

std::string render_log_lines(const logs_result& r) {
    std::size_t width = 0;
    for (const auto& s : r.sources) {
        width = std::max(width, s.size());
    }
    std::string out;
    std::size_t bytes = 0;
    for (const auto& l : r.lines) {
        bytes += l.text.size() + width + 15;
    }
    out.reserve(bytes);
    for (const auto& l : r.lines) {
        std::int64_t secs =
            l.at_ns >= 0 ? l.at_ns / 1'000'000'000 : (l.at_ns - 999'999'999) / 1'000'000'000;
        std::int64_t ms = (l.at_ns - secs * 1'000'000'000) / 1'000'000;
        std::int64_t tod = ((secs % 86400) + 86400) % 86400;
        fmt::format_to(std::back_inserter(out), "{:<{}} {:02}:{:02}:{:02}.{:03} ",
                       r.sources[l.source], width, tod / 3600, tod / 60 % 60, tod % 60, ms);
        out += l.text;
        out += '\n';
    }
    return out;
}

// ---- the command ----

namespace {

std::string utc_date(std::int64_t at_ns) {
    std::int64_t days = at_ns / 1'000'000'000 / 86400;
    // civil_from_days (H. Hinnant)
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const auto doe = static_cast<unsigned>(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return fmt::format("{:04}-{:02}-{:02}", y + (m <= 2 ? 1 : 0), m, d);
}

std::string duration_text(std::chrono::seconds s) {
    auto n = s.count();
    if (n % 86400 == 0) {
        return fmt::format("{}d", n / 86400);
    }
    if (n % 3600 == 0) {
        return fmt::format("{}h", n / 3600);
    }
    if (n % 60 == 0) {
        return fmt::format("{}m", n / 60);
    }
    return fmt::format("{}s", n);
}

// A role that lets people read logs in `env`, for the refusal's example.
std::string logs_role(const core::config& cfg, const std::string& env) {
    for (const auto& r : cfg.access.roles) {
        if (r.break_glass || (!r.environments.empty() &&
                              std::ranges::find(r.environments, env) == r.environments.end())) {
            continue;
        }
        for (const auto& g : r.grants) {
            auto has = [](const std::vector<std::string>& v, std::string_view x) {
                return std::ranges::find(v, x) != v.end() || std::ranges::find(v, "*") != v.end();
            };
            if (has(g.resources, "pods/log") && has(g.verbs, "get")) {
                return r.name;
            }
        }
    }
    return "view";
}

/// ok when `user` holds an active, unexpired grant for `env`/`ns`.
core::result<bool> has_logs_grant(storage::database& db, const std::string& user,
                                  const std::string& env, const std::string& ns,
                                  core::time_point now) {
    storage::grant_repository grants(db);
    auto mine = grants.list_by_requester(user, 100);
    if (!mine) {
        return mine.error();
    }
    return std::ranges::any_of(*mine, [&](const storage::grant_record& g) {
        return g.state == storage::grant_state::active && g.environment == env &&
               (g.kube_namespace.empty() || g.kube_namespace == ns) && g.expires_at &&
               *g.expires_at > now;
    });
}

message summary(const std::string& service, const core::environment_config& env,
                const logs_query& q, const logs_result& r, const std::string& actor,
                std::size_t shown_lines, std::size_t limit_kib) {
    std::string scope;
    if (q.previous) {
        scope = "previous containers";
    } else if (q.since) {
        scope = "last " + duration_text(*q.since);
    } else {
        scope = "all available";
    }
    std::string what = fmt::format(
        "*Logs of `{}` in `{}`*: {} pod{} on {}{} — {}, up to {} lines per pod{}", service,
        env.name, r.pods, r.pods == 1 ? "" : "s",
        fmt::format("`{}`", fmt::join(r.clusters_read, "`, `")),
        r.container.empty() ? "" : fmt::format(", container `{}`", r.container), scope, q.tail,
        q.grep.empty() ? "" : fmt::format(", matching `{}`", escape_mrkdwn(q.grep)));
    message m;
    m.text = fmt::format("Logs of {} in {}", service, env.name);
    std::string body = what;
    if (r.lines.empty()) {
        body += "\nNo log lines" + std::string(q.grep.empty() ? "." : " matched.");
    } else {
        body +=
            fmt::format("\n{} line{} in the thread, oldest first; times are UTC ({}).", shown_lines,
                        shown_lines == 1 ? "" : "s", utc_date(r.lines.back().at_ns));
    }
    m.add(section{body, {}});
    std::vector<std::string> notes;
    if (r.capped) {
        notes.push_back(fmt::format(
            ":warning: *Truncated*: showing the newest {} of {}{} matching lines. Narrow it "
            "with `--since`, `--tail`, `--grep` or `--pod`.",
            shown_lines, r.older_unread ? "more than " : "", r.total_lines));
    }
    if (!r.cut_pods.empty()) {
        notes.push_back(fmt::format(
            ":warning: *Truncated*: the log of {} was cut at {} KiB per pod (Kubernetes returns "
            "the start of the range), so its newest lines are missing. Use a smaller `--tail` or "
            "`--since` to read them.",
            list_names(r.cut_pods), limit_kib));
    }
    for (const auto& n : r.notes) {
        notes.push_back(":warning: " + n);
    }
    if (!notes.empty()) {
        std::string text;
        for (const auto& n : notes) {
            text += (text.empty() ? "" : "\n") + n;
        }
        m.add(section{text, {}});
    }
    std::vector<std::string> ctx{fmt::format("Asked by <@{}>", actor)};
    if (r.redacted_lines > 0) {
        ctx.push_back(fmt::format("secrets hidden in {} line{}", r.redacted_lines,
                                  r.redacted_lines == 1 ? "" : "s"));
    }
    if (!r.other_containers.empty()) {
        ctx.push_back(fmt::format("other containers: {} (use `--container`)",
                                  fmt::join(r.other_containers, ", ")));
    }
    m.add(context{ctx});
    return m;
}

}  // namespace

logs_command::logs_command(logs_deps deps) : deps_(std::move(deps)) {}

const command_spec& logs_command::spec() const {
    return logs_spec();
}

asio::awaitable<core::result<void>> logs_command::handle(request req) {
    const invocation& in = req.input;
    const logs_limits& lim = deps_.limits;
    const std::string service = in.arg("service");
    const std::string env_name = in.arg("env");
    const auto* svc = req.config.find_service(service);
    const auto* env = req.config.find_environment(env_name);
    if (svc == nullptr || env == nullptr) {
        co_return core::make_error(
            core::errc::not_found,
            fmt::format("Unknown service or environment `{} {}`. Type `help logs`.", service,
                        env_name));
    }
    auto wl = svc->workloads.find(env->name);
    if (wl == svc->workloads.end() || wl->second.empty()) {
        std::vector<std::string> where;
        for (const auto& [e, w] : svc->workloads) {
            where.push_back(e);
        }
        co_return core::make_error(
            core::errc::not_found,
            where.empty()
                ? fmt::format("`{}` runs in no environment: its config has no `workloads`.",
                              service)
                : fmt::format("`{}` does not run in `{}`; it runs in {}. Example: `/logs {} {}`.",
                              service, env->name, list_names(where), service, where.front()));
    }

    // Who may read: the environment's readers, then an access grant where one is required.
    principal who{req.event.actor, {}};
    if (!matches(who, env->policy.readers)) {
        auto groups = co_await deps_.people.groups_of(req.event.actor);
        if (groups) {
            who.groups = std::move(*groups);
        }
    }
    if (auto ok = may_read_environment(who, *env); !ok) {
        co_return ok.error();
    }

    // Flags.
    logs_query q;
    q.previous = in.has_flag("previous");
    q.tail = lim.default_tail;
    if (auto t = in.number("tail")) {
        if (*t > lim.max_tail) {
            co_return core::make_error(
                core::errc::invalid_argument,
                fmt::format("`--tail {}` is too many: at most {} lines per pod. Example: `/logs {} "
                            "{} --tail 500`, or narrow with `--since 5m`.",
                            *t, lim.max_tail, service, env->name));
        }
        q.tail = static_cast<int>(*t);
    }
    if (auto s = in.duration("since")) {
        q.since = *s;
    } else if (!q.previous) {
        // A crashed container's last lines may be older than the default window.
        q.since = lim.default_since;
    }
    q.container = in.flag("container").value_or("");
    q.pod = in.flag("pod").value_or("");
    q.grep = in.flag("grep").value_or("");
    if (!q.grep.empty()) {
        try {
            q.grep_regex.emplace(q.grep, std::regex::ECMAScript | std::regex::optimize);
        } catch (const std::regex_error& e) {
            co_return core::make_error(
                core::errc::invalid_argument,
                fmt::format("`--grep {}` is not a valid regular expression ({}). Escape special "
                            "characters with `\\`, e.g. `--grep \"timeout|refused\"` or `--grep "
                            "\"\\(500\\)\"`.",
                            q.grep, e.what()));
        }
    }
    for (const auto& w : wl->second) {
        logs_query::target t;
        t.ns = w.namespace_name.empty() ? env->namespace_name : w.namespace_name;
        t.deployment = w.deployment;
        t.container = w.container;
        if (w.cluster.empty()) {
            t.clusters = env->clusters;
        } else {
            t.clusters = {w.cluster};
        }
        q.targets.push_back(std::move(t));
    }

    if (env->policy.logs_require_grant) {
        for (const auto& t : q.targets) {
            auto granted =
                has_logs_grant(deps_.db, req.event.actor, env->name, t.ns, req.clock.now());
            if (!granted) {
                co_return granted.error();
            }
            if (!*granted) {
                co_return core::make_error(
                    core::errc::permission_denied,
                    fmt::format("Logs of `{}` need an active access grant, and you have none for "
                                "`{}/{}`. Request one with `/access request {} {}/{} 2h "
                                "\"reason\"`, then run this command again once it is granted.",
                                env->name, env->name, t.ns, logs_role(req.config, env->name),
                                env->name, t.ns));
            }
        }
    }

    auto redact = redactor::create(req.config.logs.redact_patterns);
    if (!redact) {
        co_return redact.error();
    }
    auto collected = co_await collect_logs(deps_.clusters, q, std::move(*redact), lim);
    if (!collected) {
        co_return std::move(collected).error();
    }
    const logs_result& r = *collected;
    std::string text = render_log_lines(r);
    message root =
        summary(service, *env, q, r, req.event.actor, r.lines.size(), lim.limit_bytes / 1024);

    // The summary is the root of a thread (or a reply in the thread the person asked in), and
    // the lines go under it, so a long log never floods the channel.
    message_ref thread;
    if (!req.event.thread_ts.empty()) {
        thread = {req.event.channel, req.event.thread_ts};
        auto said = co_await req.chat.reply(thread, std::move(root), false);
        if (!said) {
            co_return std::move(said).error();
        }
    } else {
        auto posted = co_await req.chat.post(req.event.channel, std::move(root));
        if (!posted) {
            co_return std::move(posted).error();
        }
        thread = *posted;
    }
    if (r.lines.empty()) {
        co_return core::ok();
    }
    if (text.size() <= lim.max_message_chars) {
        message lines;
        lines.text = fmt::format("{} log lines of {} in {}", r.lines.size(), service, env->name);
        lines.add(code{std::move(text), true});
        auto said = co_await req.chat.reply(thread, std::move(lines), false);
        if (!said) {
            co_return std::move(said).error();
        }
        co_return core::ok();
    }
    auto filename = fmt::format("{}-{}-logs.txt", service, env->name);
    auto title = fmt::format("Logs of {} in {} ({} lines{})", service, env->name, r.lines.size(),
                             r.capped || !r.cut_pods.empty() ? ", truncated" : "");
    co_return co_await req.chat.upload(thread.channel, thread.ts, std::move(filename),
                                       std::move(text), std::move(title));
}

}  // namespace tugboat::commands
