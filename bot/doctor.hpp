#pragma once

// `tugboat doctor CONFIG`: checks, against the real services, what a loaded configuration
// depends on — the Slack tokens and scopes, the bot's channel memberships, every Jenkins
// server and every cluster (reachable, credentials accepted, deployments readable in each
// environment's namespace) — and prints a checklist with a fix for every failure.

#include "core/config.hpp"
#include "core/logger.hpp"
#include "integrations/kubeconfig.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::integrations {
class http_client;
}

namespace tugboat::bot {

/// The bot token scopes Tugboat needs; docs/slack-app-manifest.yaml requests exactly these.
const std::vector<std::string>& required_bot_scopes();

/// Scopes of `required` missing from `granted` (Slack's comma-separated x-oauth-scopes), in
/// the order of `required`.
std::vector<std::string> missing_scopes(std::string_view granted,
                                        const std::vector<std::string>& required);

/// What the doctor may use besides the config.
struct doctor_options {
    /// Deadline of each network call (a Jenkins server's own `timeout` applies when shorter).
    std::chrono::milliseconds check_timeout{std::chrono::seconds{15}};
    /// Environment for in-cluster clusters; null = the process environment.
    integrations::env_getter env;
    /// Where in-cluster service-account files are mounted.
    std::filesystem::path service_account_dir = integrations::default_service_account_dir;
};

/// Runs every check and prints the checklist to `out`: "✔ what" for a pass, "✘ what — fix:
/// how" for a failure, "– what" for a check that could not be made (not a failure). Checks of
/// different systems run concurrently; every network call has a deadline. `slack_http` is the
/// client for Slack (trusting slack.ca_file); Jenkins servers and clusters get their own
/// clients with their TLS settings. References must outlive the coroutine. Returns the exit
/// code: 0 when every check passed, 1 when any failed.
boost::asio::awaitable<int> run_doctor(const core::config& config,
                                       integrations::http_client& slack_http, std::ostream& out,
                                       core::logger& log, doctor_options options = {});

/// Usage text of the subcommand, for `tugboat help` and usage errors.
std::string_view doctor_usage();

}  // namespace tugboat::bot
