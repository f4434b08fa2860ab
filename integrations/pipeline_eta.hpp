#pragma once

// How long a running pipeline still needs, from the stage durations of its job's past runs.
// Pure: no I/O and no clock; the caller passes elapsed times it measured or Jenkins reported.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tugboat::integrations {

/// One finished run of a job: its stages in order with how long each took (time spent
/// waiting at an `input` step left out, since it says nothing about the next run).
struct past_run {
    std::vector<std::pair<std::string, std::chrono::milliseconds>> stages;
};

/// Duration percentiles of one stage over the runs it appeared in.
struct stage_stats {
    std::string name;
    std::chrono::milliseconds p50{0};
    std::chrono::milliseconds p90{0};
    std::size_t samples = 0;  ///< runs that had this stage
};

/// Per-stage p50 and p90 (nearest-rank) over `history`, in pipeline order: the order of the
/// run with the most stages, then stages only other runs had, by first appearance.
std::vector<stage_stats> stage_percentiles(const std::vector<past_run>& history);

/// A stage of the run being estimated, as far as it got.
struct current_stage {
    enum class state { done, running };
    std::string name;
    state status = state::running;
    /// Time the stage has run so far (done: its whole duration), input waits left out.
    std::chrono::milliseconds elapsed{0};
};

/// The estimate for one running build.
struct pipeline_eta {
    /// Typical (p50) time still needed; nullopt when there is nothing to estimate from.
    std::optional<std::chrono::milliseconds> remaining;
    /// Pessimistic (p90) time still needed, ≥ `remaining`; nullopt like `remaining`.
    std::optional<std::chrono::milliseconds> remaining_p90;
    /// Share of the work done, in [0, 0.99] while running (1 is for the caller to show once
    /// the build has finished); nullopt like `remaining`.
    std::optional<double> progress;
    bool from_history = false;  ///< false = Jenkins' estimatedDuration or nothing was used
};

/// Estimates the rest of a running build.
///
/// With history: a running stage needs max(p50 − elapsed, 0) more (p90 likewise); a stage not
/// reached yet needs its p50 (p90) if it appeared in at least half of the past runs (stages
/// that are usually skipped count as nothing); stages the history does not know add nothing.
/// Progress = work done / (work done + remaining), where work done sums the elapsed times.
///
/// Without history (or when none of the history's stages are known): falls back to
/// `estimated_duration` (Jenkins' estimatedDuration, positive) against `build_elapsed` (time
/// since the build started), with remaining_p90 = remaining. When that is missing too, every
/// field is nullopt.
pipeline_eta estimate_remaining(const std::vector<stage_stats>& stats, std::size_t history_runs,
                                const std::vector<current_stage>& current,
                                std::chrono::milliseconds build_elapsed,
                                std::optional<std::chrono::milliseconds> estimated_duration);

/// Convenience: stage_percentiles(history) then estimate_remaining(…).
pipeline_eta estimate_remaining(const std::vector<past_run>& history,
                                const std::vector<current_stage>& current,
                                std::chrono::milliseconds build_elapsed,
                                std::optional<std::chrono::milliseconds> estimated_duration);

}  // namespace tugboat::integrations
