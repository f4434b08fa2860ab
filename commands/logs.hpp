#pragma once

// `/logs <service> <env>`: the recent log lines of a service's pods in every cluster of an
// environment, fetched in parallel, redacted, filtered, merged by time and posted as a root
// message with the lines in its thread (a code block, or a file when long). See docs/logs.md.

#include "commands/command.hpp"
#include "commands/directory.hpp"
#include "commands/grammar.hpp"
#include "commands/redact.hpp"
#include "core/config.hpp"
#include "core/result.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace tugboat::integrations {
class kubernetes;
}  // namespace tugboat::integrations

namespace tugboat::storage {
class database;
}

namespace tugboat::commands {

struct principal;

/// The declaration of `/logs` (grammar, usage and help), listed in commands/registry.cpp.
const command_spec& logs_spec();

/// Bounds of one /logs; tests and the benchmark change them.
struct logs_limits {
    int default_tail = 100;                                        ///< lines per pod without --tail
    int max_tail = 10000;                                          ///< largest --tail accepted
    std::chrono::seconds default_since{std::chrono::minutes{15}};  ///< without --since
    std::size_t limit_bytes = 2 * 1024 * 1024;                     ///< per pod (limitBytes)
    std::size_t max_lines = 20000;                                 ///< merged lines kept (newest)
    std::size_t max_message_chars = 2800;                          ///< above: uploaded as a file
    std::chrono::milliseconds cluster_deadline{std::chrono::seconds{10}};  ///< find the pods
    std::chrono::milliseconds pod_deadline{std::chrono::seconds{15}};      ///< one pod's log
    std::size_t parallel_pods = 10;  ///< log requests in flight at once (bounds memory)
};

/// What to read: the workloads of a service in the clusters of an environment, and how.
struct logs_query {
    /// One Deployment in some clusters.
    struct target {
        std::string ns;
        std::string deployment;
        std::string container;              ///< the workload's container; "" = the first
        std::vector<std::string> clusters;  ///< cluster names, in config order
    };
    std::vector<target> targets;
    std::string container;  ///< --container: overrides the targets' containers
    std::string pod;        ///< "" = every pod; else a pod name or its last part ("x2kq4")
    int tail = 100;         ///< lines per pod
    std::optional<std::chrono::seconds> since;
    bool previous = false;
    std::string grep;                      ///< "" = every line; applied to redacted text
    std::optional<std::regex> grep_regex;  ///< `grep` compiled (ECMAScript)
};

/// One merged line.
struct log_entry {
    std::int64_t at_ns = 0;    ///< the line's time (UTC, ns since the epoch)
    std::uint32_t source = 0;  ///< index into logs_result::sources
    std::uint32_t seq = 0;     ///< position within its pod's log (keeps order on equal times)
    std::string text;          ///< redacted
};

/// What was read, ready to render.
struct logs_result {
    std::vector<std::string> sources;           ///< short pod labels ("x2kq4", "cloud/x2kq4")
    std::vector<std::string> clusters_read;     ///< clusters that answered
    std::string container;                      ///< the container read ("" when pods differ)
    std::vector<std::string> other_containers;  ///< containers not read, for a hint
    std::size_t pods = 0;                       ///< pods whose log was read
    std::vector<log_entry> lines;               ///< oldest first, at most max_lines
    std::size_t total_lines = 0;                ///< matching lines before the cap
    std::size_t redacted_lines = 0;             ///< lines in which something was hidden
    bool capped = false;                        ///< lines were dropped for max_lines
    bool older_unread = false;  ///< some pods' older lines were not read (never shown anyway)
    std::vector<std::string> cut_pods;  ///< logs cut at limit_bytes (labels)
    std::vector<std::string> notes;     ///< mrkdwn: clusters down, pods gone, …
};

/// Reads, redacts, filters and merges the logs of `q` from `clusters` (by name; a name missing
/// from the map is a note). A cluster that is down, refuses or times out becomes a note and the
/// others are still read; so does a pod that vanished (404) or has no previous container.
/// Errors: not_found when `q.pod` matches no pod (with the pods there are), permission_denied
/// when every cluster refused (naming the permission the bot lacks), unavailable when no cluster
/// answered at all (saying which and why).
boost::asio::awaitable<core::result<logs_result>> collect_logs(
    std::map<std::string, integrations::kubernetes*, std::less<>> clusters, logs_query q,
    redactor redact, logs_limits limits);

/// The lines as text: "<pod label> <HH:MM:SS.mmm> <text>\n" each, labels padded.
std::string render_log_lines(const logs_result& r);

/// Parses an RFC 3339 time ("2026-11-26T10:00:00.123456789Z", any fraction, Z or ±hh:mm) into
/// ns since the epoch; nullopt when `text` is not one.
std::optional<std::int64_t> parse_rfc3339_ns(std::string_view text);

/// Whether `who` may read logs (and status) of `env`: ok, or permission_denied naming the
/// environment's readers. The rule is the environment's `policy.readers`.
core::result<void> may_read_environment(const principal& who, const core::environment_config& env);

/// What /logs uses. Everything referenced must outlive the command.
struct logs_deps {
    std::map<std::string, integrations::kubernetes*, std::less<>> clusters;  ///< by name
    storage::database& db;  ///< access grants, when an environment requires one
    directory& people;      ///< user groups named in `readers`
    logs_limits limits;
};

/// `/logs`: see the file comment.
class logs_command final : public command {
public:
    explicit logs_command(logs_deps deps);
    const command_spec& spec() const override;
    boost::asio::awaitable<core::result<void>> handle(request req) override;

private:
    logs_deps deps_;
};

}  // namespace tugboat::commands
