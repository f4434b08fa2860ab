#pragma once

#include "commands/command.hpp"
#include "commands/directory.hpp"
#include "commands/grammar.hpp"
#include "core/config.hpp"
#include "core/logger.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <map>
#include <string>

namespace tugboat::integrations {
class kubernetes;
}

namespace tugboat::storage {
class database;
}

namespace tugboat::commands {

/// The declaration of `/status` (grammar, usage and help), listed in commands/registry.cpp.
const command_spec& status_spec();

/// Limits of one `/status`.
struct status_timing {
    /// Longest wait for one cluster's answers (each API call also keeps the client's own
    /// request timeout); a cluster slower than this shows as "timed out", the others still show.
    std::chrono::milliseconds deadline{std::chrono::seconds{10}};
    /// Warning events older than this are left out.
    std::chrono::minutes warning_window{15};
};

/// What `/status` uses. Everything referenced must outlive the command.
struct status_deps {
    const core::config& config;
    storage::database& db;
    directory& people;
    std::map<std::string, integrations::kubernetes*, std::less<>> clusters;  ///< by cluster name
    core::logger& log;
    status_timing timing;
};

/// `/status <service> [env]`: one block per environment and cluster (version, replicas,
/// rollout, pods not ready and why, restarts, recent Warning events, last deploy, lock,
/// freeze). `/status` alone: one line per service of the channel it was typed in (every
/// service when the channel has none). Clusters are asked in parallel, each within
/// status_timing::deadline; one that fails shows why without hiding the others. Environments
/// the person is not among the `readers` of are refused (named explicitly) or left out with a
/// note (otherwise).
class status_command final : public command {
public:
    explicit status_command(status_deps deps);
    const command_spec& spec() const override;
    boost::asio::awaitable<core::result<void>> handle(request req) override;

private:
    status_deps d_;
};

}  // namespace tugboat::commands
