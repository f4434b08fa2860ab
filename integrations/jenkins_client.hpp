#pragma once

// Jenkins remote API client for deploy pipelines: trigger a parameterized job, follow its queue
// item to a build, read the build, its Stage View stages and logs, abort it and answer its
// `input` steps. Workflows use the abstract `jenkins`; `jenkins_http_client` talks to a real
// Jenkins (API token, CSRF crumbs, folders). Beast and JSON stay in jenkins_client.cpp.

#include "core/config.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"
#include "integrations/http_types.hpp"
#include "integrations/pipeline_eta.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tugboat::integrations {

/// A queue item created (or reused) by a trigger.
struct jenkins_queue_ref {
    std::int64_t id = 0;
    std::string url;      ///< absolute URL of the item, as Jenkins gave it in Location
    bool merged = false;  ///< Jenkins answered 303: an item with the same parameters was waiting
};

/// Where a queue item is.
struct jenkins_queue_item {
    enum class state {
        waiting,    ///< still queued (quiet period, blocked or waiting for an executor)
        cancelled,  ///< left the queue without a build
        started,    ///< left the queue as build `build_number`
        gone,       ///< Jenkins forgot it (left items expire ~5 min after leaving): look the
                    ///< build up by parameter instead (find_build_by_parameter)
    };
    state status = state::waiting;
    std::string why;  ///< waiting: Jenkins' reason ("Waiting for next available executor"), or ""
    int build_number = 0;   ///< started only
    std::string build_url;  ///< started only; absolute
};

/// A build's result as Jenkins names it; `none` while it runs.
enum class jenkins_result { none, success, unstable, failure, aborted, not_built };

/// "SUCCESS", "FAILURE", …, or "" for none.
std::string_view to_string(jenkins_result r) noexcept;

/// One build of a job.
struct jenkins_build {
    int number = 0;
    std::string url;  ///< absolute
    bool building = false;
    jenkins_result result = jenkins_result::none;
    std::chrono::system_clock::time_point started;  ///< Jenkins' `timestamp`
    std::chrono::milliseconds duration{0};          ///< 0 while building
    /// From Jenkins' recent builds; nullopt when Jenkins has none (-1).
    std::optional<std::chrono::milliseconds> estimated_duration;
    std::int64_t queue_id = 0;                      ///< the queue item it came from; 0 when unknown
    std::map<std::string, std::string> parameters;  ///< password values are not exposed
};

/// Stage View status of a run or a stage.
enum class jenkins_stage_status {
    not_executed,
    in_progress,
    paused_pending_input,
    success,
    failed,
    unstable,
    aborted,
    unknown,  ///< a value this client does not know
};

/// "IN_PROGRESS", "FAILED", … as Stage View names it.
std::string_view to_string(jenkins_stage_status s) noexcept;

/// One stage of a Pipeline run.
struct jenkins_stage {
    std::string id;  ///< flow node id; opaque, pass it to stage_log
    std::string name;
    jenkins_stage_status status = jenkins_stage_status::unknown;
    std::chrono::system_clock::time_point started;
    std::chrono::milliseconds duration{0};  ///< grows while the stage runs
    std::chrono::milliseconds paused{0};    ///< time spent waiting at an input step
    std::string error;                      ///< failed stages: Jenkins' error message
};

/// An `input` step waiting for an answer.
struct jenkins_input {
    std::string id;  ///< as Jenkins normalized it; pass it to answer_input
    std::string message;
    std::string proceed_text;  ///< the proceed button's label
};

/// A Pipeline run as Stage View describes it.
struct jenkins_run {
    int number = 0;
    jenkins_stage_status status = jenkins_stage_status::unknown;
    std::chrono::system_clock::time_point started;
    std::chrono::milliseconds duration{0};
    std::vector<jenkins_stage> stages;
    std::optional<jenkins_input> pending_input;  ///< set while paused at an input step
};

/// Past successful runs as ETA history: stage durations without input waits, runs in another
/// state left out (a failed run stops early and would shorten every estimate).
std::vector<past_run> eta_history(const std::vector<jenkins_run>& runs);

/// The stages of a run as the ETA helper wants them: finished ones done, the rest running, with
/// input waits left out of elapsed times.
std::vector<current_stage> eta_progress(const jenkins_run& run);

/// A Jenkins server, as deploy workflows use it. Every call has the configured per-request
/// deadline (errc::timeout) and honours cancellation of the awaiting coroutine
/// (errc::cancelled). Errors say what failed and what to check: permission_denied (401 token
/// refused, 403 missing permission), not_found (job, build, input), conflict (job disabled),
/// unavailable (Jenkins down or answering 5xx after retries), rate_limited, invalid_argument
/// (bad job path, parameters Jenkins refused), protocol_error (an answer that is not the
/// expected JSON). `job_path` is the job's full name, folders separated by '/'.
class jenkins {
public:
    virtual ~jenkins() = default;

    /// Queues a build of `job_path` with `parameters` (buildWithParameters; plain build when
    /// there are none). A 303 (same parameters already queued) is success with `merged` set.
    /// Not retried once the request may have reached Jenkins: on timeout or a dropped
    /// connection the build may or may not be queued, and the caller must look it up
    /// (find_build_by_parameter with the deploy id it passed) before triggering again.
    virtual boost::asio::awaitable<core::result<jenkins_queue_ref>> trigger(
        std::string job_path, std::map<std::string, std::string> parameters) = 0;

    /// Where queue item `id` is now; a forgotten item is `gone`, not an error.
    virtual boost::asio::awaitable<core::result<jenkins_queue_item>> queue_item(
        std::int64_t id) = 0;

    /// The newest of the job's recent builds (the last `limit`, e.g. 50) whose parameter `name`
    /// equals `value`, or nullopt. How a restarted bot re-finds the build of a deploy id. Builds
    /// still in the queue are not found; triggering again with the same parameters then merges into
    /// the waiting item (303) instead of queuing a second one.
    virtual boost::asio::awaitable<core::result<std::optional<jenkins_build>>>
    find_build_by_parameter(std::string job_path, std::string name, std::string value,
                            std::size_t limit) = 0;

    /// The item of `job_path` still waiting in Jenkins' queue whose parameter `name` equals
    /// `value`, or nullopt: with find_build_by_parameter, how a bot restarted right after a
    /// trigger finds what it queued before the answer was saved.
    virtual boost::asio::awaitable<core::result<std::optional<jenkins_queue_ref>>>
    find_queued_by_parameter(std::string job_path, std::string name, std::string value) = 0;

    /// Build `number` of `job_path`.
    virtual boost::asio::awaitable<core::result<jenkins_build>> build(std::string job_path,
                                                                      int number) = 0;

    /// Stage View's description of build `number`, with the pending input when it is paused.
    virtual boost::asio::awaitable<core::result<jenkins_run>> stages(std::string job_path,
                                                                     int number) = 0;

    /// The job's most recent runs (newest first, at most the 10 Stage View keeps) with their
    /// stages: the history for ETAs (see eta_history).
    virtual boost::asio::awaitable<core::result<std::vector<jenkins_run>>> recent_runs(
        std::string job_path) = 0;

    /// The last `max_lines` lines of the build's console, ANSI colours removed.
    virtual boost::asio::awaitable<core::result<std::string>> console_tail(
        std::string job_path, int number, std::size_t max_lines) = 0;

    /// The last `max_lines` lines of one stage's log (`stage_id` from stages()), as plain text.
    virtual boost::asio::awaitable<core::result<std::string>> stage_log(std::string job_path,
                                                                        int number,
                                                                        std::string stage_id,
                                                                        std::size_t max_lines) = 0;

    /// Asks Jenkins to stop build `number` (the build ends ABORTED shortly after). Stopping a
    /// finished build succeeds and changes nothing.
    virtual boost::asio::awaitable<core::result<void>> abort(std::string job_path, int number) = 0;

    /// Answers the pending input `input_id` of build `number`: proceed, or abort the build.
    /// not_found when no such input is pending (answered already, or the build moved on).
    virtual boost::asio::awaitable<core::result<void>> answer_input(std::string job_path,
                                                                    int number,
                                                                    std::string input_id,
                                                                    bool proceed) = 0;
};

/// Tuning a deployment rarely changes; tests shrink the backoff.
struct jenkins_client_options {
    retry_policy retry;
    int max_attempts = 3;  ///< per request, the first included; see http_request::max_attempts
};

/// `jenkins` over HTTPS with an API token (HTTP Basic, sent pre-emptively). POSTs carry a
/// CSRF crumb from /crumbIssuer together with that response's session cookie (needed by
/// Jenkins before 2.96 and behind some proxies, harmless otherwise); a 403 for a stale crumb
/// is answered by fetching a new one once. Idempotent requests are retried on connection
/// failures, 429 and 5xx by the HTTP client.
///
/// Single-threaded: use from coroutines on the executor given to create(). Concurrent calls
/// are fine. Destroying it with calls in flight is not allowed.
class jenkins_http_client final : public jenkins {
public:
    /// Builds a client for `config` (url ending in '/', user, api_token, ca_file, timeout).
    /// Fails with config_error when the CA file is unusable.
    static core::result<jenkins_http_client> create(boost::asio::any_io_executor executor,
                                                    const core::jenkins_config& config,
                                                    core::logger& log,
                                                    jenkins_client_options options = {});

    jenkins_http_client(jenkins_http_client&&) noexcept;
    jenkins_http_client& operator=(jenkins_http_client&&) noexcept;
    ~jenkins_http_client() override;

    boost::asio::awaitable<core::result<jenkins_queue_ref>> trigger(
        std::string job_path, std::map<std::string, std::string> parameters) override;
    boost::asio::awaitable<core::result<jenkins_queue_item>> queue_item(std::int64_t id) override;
    boost::asio::awaitable<core::result<std::optional<jenkins_build>>> find_build_by_parameter(
        std::string job_path, std::string name, std::string value, std::size_t limit) override;
    boost::asio::awaitable<core::result<std::optional<jenkins_queue_ref>>> find_queued_by_parameter(
        std::string job_path, std::string name, std::string value) override;
    boost::asio::awaitable<core::result<jenkins_build>> build(std::string job_path,
                                                              int number) override;
    boost::asio::awaitable<core::result<jenkins_run>> stages(std::string job_path,
                                                             int number) override;
    boost::asio::awaitable<core::result<std::vector<jenkins_run>>> recent_runs(
        std::string job_path) override;
    boost::asio::awaitable<core::result<std::string>> console_tail(std::string job_path, int number,
                                                                   std::size_t max_lines) override;
    boost::asio::awaitable<core::result<std::string>> stage_log(std::string job_path, int number,
                                                                std::string stage_id,
                                                                std::size_t max_lines) override;
    boost::asio::awaitable<core::result<void>> abort(std::string job_path, int number) override;
    boost::asio::awaitable<core::result<void>> answer_input(std::string job_path, int number,
                                                            std::string input_id,
                                                            bool proceed) override;

    class impl;

private:
    explicit jenkins_http_client(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace tugboat::integrations
