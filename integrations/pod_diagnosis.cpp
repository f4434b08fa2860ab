#include "integrations/pod_diagnosis.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace tugboat::integrations {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

bool contains(std::string_view s, std::string_view part) {
    return s.find(part) != std::string_view::npos;
}

// "spec.containers{api}" → "api"; "" when the event is about the pod as a whole.
std::string container_of(const event_info& e) {
    auto open = e.field_path.find('{');
    auto close = e.field_path.rfind('}');
    if (open == std::string::npos || close == std::string::npos || close < open) {
        return {};
    }
    return e.field_path.substr(open + 1, close - open - 1);
}

class collector {
public:
    // Adds a problem, merging it into an earlier one with the same key.
    void add(pod_problem p, const std::string& pod, const std::string& cause) {
        std::string key = fmt::format("{}|{}|{}", to_string(p.kind), p.container, cause);
        for (std::size_t i = 0; i < keys_.size(); ++i) {
            if (keys_[i] != key) {
                continue;
            }
            auto& existing = out_[i];
            if (std::find(existing.pods.begin(), existing.pods.end(), pod) == existing.pods.end()) {
                existing.pods.push_back(pod);
            }
            existing.restarts = std::max(existing.restarts, p.restarts);
            return;
        }
        p.pods = {pod};
        keys_.push_back(std::move(key));
        out_.push_back(std::move(p));
    }

    // Whether a problem of `kind` was already found for this pod and container.
    bool has(pod_problem_kind kind, const std::string& pod, const std::string& container) const {
        return std::any_of(out_.begin(), out_.end(), [&](const pod_problem& p) {
            return p.kind == kind && p.container == container &&
                   std::find(p.pods.begin(), p.pods.end(), pod) != p.pods.end();
        });
    }

    std::vector<pod_problem> take() {
        // Summaries name the pods, so they are written once every pod is known.
        for (auto& p : out_) {
            std::string who = p.pods.size() == 1
                                  ? fmt::format("pod {}", p.pods.front())
                                  : fmt::format("{} pods, e.g. {}", p.pods.size(), p.pods.front());
            // Plain replacement, not fmt: cluster messages may hold braces.
            if (auto at = p.summary.find("{who}"); at != std::string::npos) {
                p.summary.replace(at, 5, who);
            }
        }
        return std::move(out_);
    }

private:
    std::vector<std::string> keys_;
    std::vector<pod_problem> out_;
};

// The registry's words for a failed pull: the kubelet's "Failed to pull image" event carries
// them even while the container only says "Back-off pulling image".
std::string pull_failure_text(const std::vector<const event_info*>& events,
                              const std::string& container, const std::string& fallback) {
    for (const auto* e : events) {
        if (e->reason == "Failed" && container_of(*e) == container &&
            starts_with(e->message, "Failed to pull image")) {
            return e->message;
        }
    }
    return fallback;
}

}  // namespace

std::string_view to_string(pod_problem_kind kind) noexcept {
    switch (kind) {
        case pod_problem_kind::image_pull: return "image_pull";
        case pod_problem_kind::crash_loop: return "crash_loop";
        case pod_problem_kind::oom_killed: return "oom_killed";
        case pod_problem_kind::config_error: return "config_error";
        case pod_problem_kind::create_error: return "create_error";
        case pod_problem_kind::unschedulable: return "unschedulable";
        case pod_problem_kind::mount_failed: return "mount_failed";
        case pod_problem_kind::probe_failed: return "probe_failed";
        case pod_problem_kind::evicted: return "evicted";
    }
    return "unknown";
}

std::vector<pod_problem> diagnose(const std::vector<pod_info>& pods,
                                  const std::vector<event_info>& events) {
    collector found;
    for (const auto& pod : pods) {
        std::vector<const event_info*> warnings;
        for (const auto& e : events) {
            if (e.type == "Warning" && e.involved_kind == "Pod" && e.involved_name == pod.name) {
                warnings.push_back(&e);
            }
        }
        if (pod.reason == "Evicted") {
            pod_problem p;
            p.kind = pod_problem_kind::evicted;
            p.detail = pod.message;
            p.summary = "{who} was evicted from its node: " + pod.message;
            found.add(std::move(p), pod.name, "");
        }
        for (const auto& c : pod.containers) {
            pod_problem p;
            p.container = c.name;
            p.image = c.image;
            p.restarts = c.restart_count;
            const std::string& why = c.reason;
            if (c.state == "waiting" && (why == "ErrImagePull" || why == "ImagePullBackOff" ||
                                         why == "InvalidImageName" || why == "ErrImageNeverPull")) {
                p.kind = pod_problem_kind::image_pull;
                p.detail = pull_failure_text(warnings, c.name, c.message);
                std::string hint =
                    contains(p.detail, "not found") ? " (does the tag exist?)"
                    : contains(p.detail, "unauthorized") || contains(p.detail, "denied")
                        ? " (check the image pull secret)"
                        : "";
                p.summary = fmt::format("container {} cannot pull image {}{} ({{who}}): {}", c.name,
                                        c.image, hint, p.detail);
                found.add(std::move(p), pod.name, c.image);
                continue;
            }
            if (c.state == "waiting" && why == "CreateContainerConfigError") {
                p.kind = pod_problem_kind::config_error;
                p.detail = c.message;
                p.summary = fmt::format(
                    "container {} cannot start because its configuration is broken ({{who}}): {}",
                    c.name, c.message);
                found.add(std::move(p), pod.name, c.message);
                continue;
            }
            if (c.state == "waiting" &&
                (why == "CreateContainerError" || why == "RunContainerError")) {
                p.kind = pod_problem_kind::create_error;
                p.detail = c.message;
                p.summary = fmt::format("the runtime cannot create container {} ({{who}}): {}",
                                        c.name, c.message);
                found.add(std::move(p), pod.name, c.message);
                continue;
            }
            bool oom =
                c.last_reason == "OOMKilled" || (c.state == "terminated" && why == "OOMKilled");
            if (oom) {
                p.kind = pod_problem_kind::oom_killed;
                p.exit_code = c.last_exit_code ? c.last_exit_code : c.exit_code;
                p.detail = "OOMKilled";
                p.summary = fmt::format(
                    "container {} was killed for using more memory than its limit (OOMKilled, "
                    "exit code {}), restarted {} times ({{who}}); raise the memory limit or fix "
                    "the leak",
                    c.name, p.exit_code.value_or(137), c.restart_count);
                found.add(std::move(p), pod.name, "");
                continue;
            }
            // Between two crashes the container runs again for a moment: a failed last run and
            // a BackOff warning about it still make it a crash loop.
            const bool restarted_after_crash =
                c.state == "running" && !c.ready && c.restart_count > 0 &&
                c.last_exit_code.value_or(0) != 0 &&
                std::ranges::any_of(warnings, [&](const event_info* e) {
                    if (e->reason != "BackOff") {
                        return false;
                    }
                    auto about = container_of(*e);
                    return about.empty() || about == c.name;
                });
            if ((c.state == "waiting" && why == "CrashLoopBackOff") || restarted_after_crash) {
                p.kind = pod_problem_kind::crash_loop;
                p.exit_code = c.last_exit_code;
                p.detail = c.message;
                std::string exit = c.last_exit_code
                                       ? fmt::format(", last exit code {}", *c.last_exit_code)
                                       : std::string();
                p.summary = fmt::format(
                    "container {} keeps crashing (CrashLoopBackOff, restarted {} times{}) "
                    "({{who}}); its previous log shows why",
                    c.name, c.restart_count, exit);
                found.add(std::move(p), pod.name, "");
                continue;
            }
            if (c.state == "terminated" && (why == "StartError" || why == "ContainerCannotRun")) {
                p.kind = pod_problem_kind::create_error;
                p.exit_code = c.exit_code;
                p.detail = c.message;
                p.summary = fmt::format("container {} could not run ({{who}}): {}", c.name,
                                        c.message.empty() ? why : c.message);
                found.add(std::move(p), pod.name, c.message);
            }
        }
        // Problems only events tell: scheduling, volumes, probes.
        std::set<std::string> seen;
        for (const auto* e : warnings) {
            std::string container = container_of(*e);
            pod_problem p;
            p.container = container;
            p.detail = e->message;
            if (e->reason == "FailedScheduling") {
                p.kind = pod_problem_kind::unschedulable;
                p.summary = "no node can run {who}: " + e->message;
            } else if (e->reason == "FailedMount" || e->reason == "FailedAttachVolume") {
                p.kind = pod_problem_kind::mount_failed;
                p.summary = "a volume cannot be mounted for {who}: " + e->message;
            } else if (e->reason == "Unhealthy") {
                p.kind = pod_problem_kind::probe_failed;
                // A crash loop explains failing probes better than the probes do.
                if (found.has(pod_problem_kind::crash_loop, pod.name, container) ||
                    found.has(pod_problem_kind::oom_killed, pod.name, container)) {
                    continue;
                }
                for (const auto& c : pod.containers) {
                    if (c.name == container) {
                        p.image = c.image;
                        p.restarts = c.restart_count;
                    }
                }
                std::string whose =
                    container.empty() ? std::string("a container") : "container " + container;
                p.summary = fmt::format("{} fails its health checks ({{who}}, {} times): {}", whose,
                                        e->count, e->message);
            } else {
                continue;
            }
            // Aggregated events repeat with different counts; one line per cause is enough.
            if (!seen.insert(std::string(to_string(p.kind)) + "|" + container).second) {
                continue;
            }
            // Scheduling messages differ only by node counts between pods; merge by reason.
            std::string cause =
                p.kind == pod_problem_kind::probe_failed ? e->message : std::string();
            found.add(std::move(p), pod.name, cause);
        }
    }
    return found.take();
}

}  // namespace tugboat::integrations
