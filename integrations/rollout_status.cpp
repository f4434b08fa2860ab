#include "integrations/rollout_status.hpp"

#include <fmt/format.h>

namespace tugboat::integrations {

rollout_verdict rollout_status(const deployment_state& d, std::optional<int> expected_revision) {
    rollout_verdict v;
    v.progress = fmt::format("updated {}/{}, available {}/{}", d.updated_replicas, d.replicas,
                             d.available_replicas, d.replicas);
    if (d.status_replicas > d.updated_replicas) {
        v.progress += fmt::format(", old {}", d.status_replicas - d.updated_replicas);
    }
    // A revision other than the one we asked for means someone else rolled out meanwhile;
    // like kubectl, keep waiting rather than report another rollout's result as ours.
    if (expected_revision && *expected_revision > 0 && d.revision != *expected_revision) {
        v.message = fmt::format("Waiting for deployment \"{}\" to reach revision {} (now at {})",
                                d.name, *expected_revision, d.revision);
        return v;
    }
    if (d.generation > d.observed_generation) {
        v.message = "Waiting for deployment spec update to be observed...";
        return v;
    }
    if (const auto* c = d.condition("Progressing"); c && c->reason == "ProgressDeadlineExceeded") {
        v.failed = true;
        v.message = fmt::format("deployment \"{}\" exceeded its progress deadline", d.name);
        return v;
    }
    if (d.updated_replicas < d.replicas) {
        v.message = fmt::format(
            "Waiting for deployment \"{}\" rollout to finish: {} out of {} new replicas have "
            "been updated...",
            d.name, d.updated_replicas, d.replicas);
        return v;
    }
    if (d.status_replicas > d.updated_replicas) {
        v.message = fmt::format(
            "Waiting for deployment \"{}\" rollout to finish: {} old replicas are pending "
            "termination...",
            d.name, d.status_replicas - d.updated_replicas);
        return v;
    }
    if (d.available_replicas < d.updated_replicas) {
        v.message = fmt::format(
            "Waiting for deployment \"{}\" rollout to finish: {} of {} updated replicas are "
            "available...",
            d.name, d.available_replicas, d.updated_replicas);
        return v;
    }
    v.done = true;
    v.message = fmt::format("deployment \"{}\" successfully rolled out", d.name);
    return v;
}

}  // namespace tugboat::integrations
