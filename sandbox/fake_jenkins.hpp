#pragma once

// A fake Jenkins on 127.0.0.1 that answers the remote API the way a real Jenkins with the
// Pipeline and Stage View plugins does, for the parts Tugboat uses: Basic auth with an API
// token, CSRF crumbs tied to a session cookie, jobs in folders, buildWithParameters → queue item
// → build, build JSON, Stage View (`wfapi`) stages and logs, progressive console text, `input`
// steps, stop, and failures on demand (failing stages, 500s, slow answers, going down).
//
// Builds run in simulated time: every duration given here is divided by `speed`, and everything
// the fake reports (timestamps, durations, estimatedDuration) is real wall-clock time, so ETAs a
// client computes from it match what it observes.

#include "core/logger.hpp"
#include "core/result.hpp"
#include "sandbox/http_server.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace tugboat::sandbox {

/// A build parameter definition (`property[].parameterDefinitions[]` of the job JSON), also
/// used for the fields of an `input` step.
struct fake_parameter {
    enum class kind { string, choice, boolean };
    std::string name;
    kind type = kind::string;
    /// Default value; for a choice the first choice when empty; "true"/"false" for a boolean.
    std::string default_value;
    std::vector<std::string> choices;  ///< for kind::choice
    std::string description;
};

/// An `input` step at the start of a stage: the build pauses (PAUSED_PENDING_INPUT) until
/// someone proceeds or aborts through the API.
struct fake_input {
    /// Input id; the first letter is upper-cased as Jenkins does. Empty = derived from the
    /// message, as Jenkins does without an explicit id.
    std::string id = "Approve";
    std::string message = "Proceed?";
    std::string ok = "Proceed";  ///< the proceed button text (`proceedText`)
    /// Comma-separated user ids allowed to answer; empty = anyone with Job/Build.
    std::string submitter;
    std::vector<fake_parameter> parameters;  ///< `inputs`; answered with `…/proceed` + json
    /// "NAME=value": pause only in builds whose parameter NAME has this value; empty = always.
    std::string only_if;
};

/// One stage of a job's pipeline.
struct fake_stage {
    std::string name;
    std::chrono::milliseconds duration{std::chrono::seconds{10}};  ///< simulated
    /// Lines the stage prints, spread evenly over its duration; `${NAME}` is replaced by the
    /// build's parameter NAME. Empty = typical lines for the stage's name (Checkout, Build,
    /// Test, Push, Deploy, …).
    std::vector<std::string> log;
    std::optional<fake_input> input;
};

/// Checkout 3 s, Build 30 s, Test 40 s, Push 10 s, Deploy 20 s (simulated).
std::vector<fake_stage> default_pipeline();

/// A Pipeline job. Builds fail on purpose when a parameter value contains "failbuild",
/// "failtest", "failpush" or "faildeploy" (the Build, Test, Push or Deploy stage fails with a
/// realistic log), or always at `failing_stage`.
struct fake_job {
    /// Full name, folders separated by '/': "deploy/payments-api" is served at
    /// /job/deploy/job/payments-api/. Folders are created for the leading parts.
    std::string full_name;
    /// Parameter definitions; empty = a job that is not parameterized (trigger with /build).
    std::vector<fake_parameter> parameters;
    std::vector<fake_stage> stages = default_pipeline();
    std::string failing_stage;  ///< name of a stage that fails in every build; empty = none
    /// How long a new queue item waits for an executor (simulated).
    std::chrono::milliseconds queue_delay{std::chrono::seconds{2}};
    /// false = `disableConcurrentBuilds()`: an item stays blocked while a build runs.
    bool concurrent = true;
    bool disabled = false;  ///< triggers answer 409, job color "disabled"
};

/// Build results as Jenkins names them.
enum class fake_result { success, unstable, failure, aborted, not_built };

/// A finished build to seed a job's history with (for estimatedDuration and ETAs).
struct fake_past_build {
    fake_result result = fake_result::success;
    std::chrono::milliseconds duration{std::chrono::minutes{2}};  ///< simulated
    std::map<std::string, std::string> parameters;
    /// How long before now it ended (real time); 0 = placed automatically: the newest seeded
    /// build ends a (simulated) minute ago and each earlier one ten minutes before the next
    /// one starts.
    std::chrono::milliseconds ended_ago{0};
};

/// How the fake treats CSRF crumbs on POSTs.
enum class csrf_mode {
    /// Every POST needs `Jenkins-Crumb` plus the session cookie it was issued with (Jenkins
    /// before 2.96, or behind some proxies); clients that handle this handle all cases.
    enforced,
    /// API-token requests are exempt, as in Jenkins 2.96 and later.
    token_exempt,
    /// CSRF protection off: /crumbIssuer/api/json answers 404.
    disabled,
};

/// Settings of a fake Jenkins.
struct fake_jenkins_options {
    std::string user = "tugboat";
    std::string api_token = "sandbox-jenkins-token";
    /// TLS server context; when null, `cert_pem` + `key_pem` make one; when all are empty the
    /// fake speaks plain HTTP.
    std::shared_ptr<boost::asio::ssl::context> tls;
    std::string cert_pem;
    std::string key_pem;
    std::uint16_t port = 0;    ///< 0 = any free port
    std::string context_path;  ///< e.g. "/jenkins"; empty = served at the root
    double speed = 1.0;        ///< simulated durations are divided by this; must be > 0
    csrf_mode csrf = csrf_mode::enforced;
    /// How long a queue item stays readable after leaving the queue (Jenkins: 5 minutes);
    /// afterwards /queue/item/<id>/api/json answers 404. Real time, not scaled by `speed`.
    std::chrono::milliseconds left_item_ttl{std::chrono::minutes{5}};
    /// The stage whose start calls the deploy hook (see fake_jenkins::on_deploy).
    std::string deploy_stage = "Deploy";
    std::string version = "2.452.3";  ///< sent as X-Jenkins on every response
    core::logger* log = nullptr;      ///< lifecycle at info, each request at debug; null = silent
};

/// What the deploy hook gets when a build's deploy stage starts.
struct fake_deploy {
    std::string job;  ///< full name
    int build = 0;
    std::map<std::string, std::string> parameters;
};

/// A build as the fake sees it, for test assertions.
struct fake_build_info {
    int number = 0;
    int queue_id = 0;  ///< 0 for seeded builds
    bool seeded = false;
    bool building = false;
    std::string result;  ///< "" while building, else "SUCCESS", "FAILURE", "ABORTED", …
    std::map<std::string, std::string> parameters;
    /// Stage name → Stage View status (IN_PROGRESS, SUCCESS, FAILED, …) for stages reached.
    std::vector<std::pair<std::string, std::string>> stages;
    std::string console;  ///< console text so far
};

/// The fake server. Single-threaded: use it from the executor's thread. Destroy it before its
/// io_context; destroying it stops the server and every simulated build.
class fake_jenkins {
public:
    /// Starts listening. Fails with invalid_argument for a bad option (speed ≤ 0, unusable
    /// certificate), unavailable when the port cannot be bound.
    static core::result<fake_jenkins> start(boost::asio::any_io_executor executor,
                                            fake_jenkins_options options);

    fake_jenkins(fake_jenkins&&) noexcept;
    fake_jenkins& operator=(fake_jenkins&&) noexcept;
    ~fake_jenkins();

    /// Adds (or replaces the definition of) a job; existing builds are kept.
    void add_job(fake_job job);
    /// Appends a finished build to `job`'s history; false when there is no such job.
    bool add_past_build(std::string_view job, fake_past_build build);
    /// Called when a build's deploy stage starts (not when that stage is the one failing), with
    /// the build's parameters; the sandbox points it at the fake Kubernetes so the image changes.
    void on_deploy(std::function<void(const fake_deploy&)> hook);

    /// Root URL with the context path and a trailing '/', e.g. "https://127.0.0.1:40123/".
    std::string base_url() const;
    std::uint16_t port() const noexcept;

    // ---- faults ----

    /// The next `count` requests whose path (as sent) starts with `path_prefix` get `status`
    /// with a Jenkins-style HTML error page; status 0 resets the connection instead.
    void fail_next(int count, int status = 500, std::string path_prefix = {});
    /// Delays every answer to a path starting with `path_prefix` by `delay` (real time);
    /// zero removes the delay for that prefix.
    void set_response_delay(std::chrono::milliseconds delay, std::string path_prefix = {});
    /// Forgets every session: crumbs and cookies issued so far get 403 until re-fetched.
    void expire_sessions();
    /// Makes `stage` fail in later builds of `job` (empty = none); false for an unknown job.
    bool set_failing_stage(std::string_view job, std::string stage);
    /// Disables or enables a job; false for an unknown job.
    bool set_disabled(std::string_view job, bool disabled);
    /// Jenkins goes down: the port is closed and connections reset. Builds keep running in the
    /// background, as if only the network to Jenkins failed. Idempotent.
    void stop();
    /// Listens again on the same port after `stop`. Fails with unavailable when the port was
    /// taken meanwhile.
    core::result<void> restart();

    // ---- observation ----

    /// Accepted trigger requests for `job` (build/buildWithParameters), merged ones included.
    std::size_t trigger_count(std::string_view job) const;
    /// Builds started from triggers (seeded history excluded).
    std::size_t build_count(std::string_view job) const;
    /// Every build of `job`, seeded ones included, oldest first.
    std::vector<fake_build_info> builds(std::string_view job) const;
    /// One build, or nullopt.
    std::optional<fake_build_info> build(std::string_view job, int number) const;
    /// Every request received, oldest first, across `stop`/`restart`.
    std::vector<recorded_request> requests() const;
    void clear_requests() noexcept;

    struct state;

private:
    explicit fake_jenkins(std::shared_ptr<state> s);
    void shutdown() noexcept;
    std::shared_ptr<state> state_;
};

}  // namespace tugboat::sandbox
