#pragma once

// Reads the YAML configuration into core::config and checks all of it, reporting every problem
// at once with file:line:column, what is wrong and how to fix it. yaml-cpp stays in the .cpp.

#include "core/config.hpp"
#include "core/result.hpp"

#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::bot {

/// One thing wrong with the configuration.
struct config_problem {
    std::string file;     ///< the config file (problems in files it names point at the naming key)
    int line = 0;         ///< 1-based; 0 when the problem has no single place
    int column = 0;       ///< 1-based; 0 when unknown
    std::string message;  ///< what is wrong, naming the key and the thing it belongs to
    std::string hint;     ///< how to fix it
};

/// Looks up an environment variable; nullopt when unset. Tests inject a map, main uses
/// process_env().
using env_lookup = std::function<std::optional<std::string>(std::string_view)>;

/// The real process environment (getenv). Only call before any thread is started.
env_lookup process_env();

/// What the loader may touch besides the file itself.
struct load_options {
    /// Read secrets from the environment / files, check the Slack tokens' shape and the
    /// in-cluster environment. Off for `check-config --offline`.
    bool resolve_secrets = true;
    /// Check that files and folders named in the config exist (kubeconfig and its context, CA
    /// bundles, FAQ folders, the database's folder). Off for `check-config --offline`.
    bool check_files = true;
};

struct load_result {
    core::config config;                   ///< meaningful only when problems is empty
    std::vector<config_problem> problems;  ///< sorted by line; empty = the config is good
    bool unreadable = false;               ///< the file itself could not be read

    bool ok() const noexcept { return problems.empty(); }
};

/// Reads and checks the config file at `path`. Never throws for bad input and never stops at
/// the first problem (except a YAML syntax error, after which nothing can be read). `${VAR}`
/// in string values and `{env: VAR}` secrets are looked up with `env`; SLACK_API_URL,
/// SLACK_APP_TOKEN, SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET override the file when set.
/// Relative paths are resolved against the file's folder.
load_result load_config(const std::string& path, const env_lookup& env,
                        const load_options& options = {});

/// Same, from text; `file_name` is used in problems and to resolve relative paths.
load_result load_config_text(std::string_view yaml, const std::string& file_name,
                             const env_lookup& env, const load_options& options = {});

/// Loads the config for the bot itself: the config, or a config_error whose message is
/// format_problems() of everything wrong.
core::result<core::config> read_config(const std::string& path, const env_lookup& env);

/// "file:line:col: message\n    hint: …\n" for each problem.
std::string format_problems(std::span<const config_problem> problems);

/// "3 services, 3 environments, 2 clusters, 1 Jenkins server, 5 channels, 3 access roles".
std::string summarize(const core::config& config);

/// `tugboat check-config FILE`: prints every problem (or "OK: <summary>") to `out`. Returns the
/// exit code: 0 good, 1 problems found, 2 file unreadable.
int run_check_config(const std::string& path, std::ostream& out,
                     const env_lookup& env = process_env(), const load_options& options = {});

/// The whole `check-config` subcommand: `args` are the words after "check-config"
/// (`FILE [--offline]`). Usage errors go to `out` with exit code 2.
int check_config_command(std::span<const std::string> args, std::ostream& out,
                         const env_lookup& env = process_env());

}  // namespace tugboat::bot
