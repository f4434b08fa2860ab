#include "integrations/pipeline_eta.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace tugboat::integrations {

namespace {

using std::chrono::milliseconds;

// Nearest-rank percentile of sorted, non-empty `values`: the smallest value with at least
// p·n values at or below it. Robust for the handful of runs Jenkins keeps in Stage View.
milliseconds percentile(const std::vector<milliseconds>& sorted, double p) {
    auto n = sorted.size();
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(n) - 1e-9));
    rank = std::clamp<std::size_t>(rank, 1, n);
    return sorted[rank - 1];
}

constexpr double max_running_progress = 0.99;

pipeline_eta from_estimated_duration(milliseconds build_elapsed,
                                     std::optional<milliseconds> estimated) {
    pipeline_eta eta;
    if (!estimated || estimated->count() <= 0) {
        return eta;
    }
    auto elapsed = std::max(build_elapsed, milliseconds{0});
    auto remaining = std::max(*estimated - elapsed, milliseconds{0});
    eta.remaining = remaining;
    eta.remaining_p90 = remaining;
    eta.progress = std::min(max_running_progress, static_cast<double>(elapsed.count()) /
                                                      static_cast<double>(estimated->count()));
    return eta;
}

}  // namespace

std::vector<stage_stats> stage_percentiles(const std::vector<past_run>& history) {
    // Pipeline order: the longest run's stages first, then what only other runs had.
    std::vector<std::string> order;
    const past_run* longest = nullptr;
    for (const auto& run : history) {
        if (!longest || run.stages.size() > longest->stages.size()) {
            longest = &run;
        }
    }
    auto add_name = [&](const std::string& name) {
        if (std::find(order.begin(), order.end(), name) == order.end()) {
            order.push_back(name);
        }
    };
    if (longest) {
        for (const auto& [name, d] : longest->stages) {
            add_name(name);
        }
    }
    std::map<std::string, std::vector<milliseconds>> samples;
    for (const auto& run : history) {
        for (const auto& [name, d] : run.stages) {
            add_name(name);
            samples[name].push_back(std::max(d, milliseconds{0}));
        }
    }
    std::vector<stage_stats> out;
    out.reserve(order.size());
    for (const auto& name : order) {
        auto& values = samples[name];
        std::sort(values.begin(), values.end());
        out.push_back({name, percentile(values, 0.5), percentile(values, 0.9), values.size()});
    }
    return out;
}

pipeline_eta estimate_remaining(const std::vector<stage_stats>& stats, std::size_t history_runs,
                                const std::vector<current_stage>& current,
                                milliseconds build_elapsed,
                                std::optional<milliseconds> estimated_duration) {
    auto known = [&](const std::string& name) {
        return std::find_if(stats.begin(), stats.end(),
                            [&](const stage_stats& s) { return s.name == name; });
    };
    bool any_known =
        current.empty() || std::any_of(current.begin(), current.end(), [&](const current_stage& c) {
            return known(c.name) != stats.end();
        });
    if (stats.empty() || history_runs == 0 || !any_known) {
        // A renamed pipeline shares no stage with its history: the history would only mislead.
        return from_estimated_duration(build_elapsed, estimated_duration);
    }

    milliseconds done{0};
    milliseconds remaining{0};
    milliseconds remaining_p90{0};
    for (const auto& c : current) {
        auto elapsed = std::max(c.elapsed, milliseconds{0});
        done += elapsed;
        if (c.status != current_stage::state::running) {
            continue;
        }
        if (auto it = known(c.name); it != stats.end()) {
            remaining += std::max(it->p50 - elapsed, milliseconds{0});
            remaining_p90 += std::max(it->p90 - elapsed, milliseconds{0});
        }
    }
    for (const auto& s : stats) {
        bool reached = std::any_of(current.begin(), current.end(),
                                   [&](const current_stage& c) { return c.name == s.name; });
        // Stages skipped in most runs (a `when` that rarely holds) are not expected.
        if (reached || s.samples * 2 < history_runs) {
            continue;
        }
        remaining += s.p50;
        remaining_p90 += s.p90;
    }

    pipeline_eta eta;
    eta.from_history = true;
    eta.remaining = remaining;
    eta.remaining_p90 = std::max(remaining_p90, remaining);
    auto total = done + remaining;
    eta.progress = total.count() > 0
                       ? std::min(max_running_progress, static_cast<double>(done.count()) /
                                                            static_cast<double>(total.count()))
                       : 0.0;
    return eta;
}

pipeline_eta estimate_remaining(const std::vector<past_run>& history,
                                const std::vector<current_stage>& current,
                                milliseconds build_elapsed,
                                std::optional<milliseconds> estimated_duration) {
    return estimate_remaining(stage_percentiles(history), history.size(), current, build_elapsed,
                              estimated_duration);
}

}  // namespace tugboat::integrations
