#pragma once

// The verdict of `kubectl rollout status` on one Deployment state, as a pure function, so the
// deploy workflow judges a rollout exactly as an operator's kubectl would.

#include "integrations/kubernetes_types.hpp"

#include <optional>
#include <string>

namespace tugboat::integrations {

/// Where a rollout stands.
struct rollout_verdict {
    bool done = false;    ///< every replica updated and available, no old pods left
    bool failed = false;  ///< Progressing=False with ProgressDeadlineExceeded
    /// kubectl's sentence, e.g. "Waiting for deployment \"api\" rollout to finish: 1 of 3
    /// updated replicas are available..." or "deployment \"api\" successfully rolled out".
    std::string message;
    /// Short counters for a chat thread: "updated 3/5, available 2/5" (plus ", old 1" while
    /// old pods terminate).
    std::string progress;
};

/// Judges `d` in kubectl's order: revision mismatch (when `expected_revision` is given) and
/// unobserved spec changes are "waiting"; then ProgressDeadlineExceeded fails; then updated <
/// desired, old replicas pending termination, available < updated wait; otherwise done.
rollout_verdict rollout_status(const deployment_state& d,
                               std::optional<int> expected_revision = std::nullopt);

}  // namespace tugboat::integrations
