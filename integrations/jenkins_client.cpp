#include "integrations/jenkins_client.hpp"

#include "integrations/http_client.hpp"
#include "integrations/jenkins_wire.hpp"
#include "integrations/kubeconfig.hpp"  // base64_encode

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>

namespace tugboat::integrations {

namespace asio = boost::asio;
using json = nlohmann::json;
using std::chrono::milliseconds;

std::string_view to_string(jenkins_result r) noexcept {
    switch (r) {
        case jenkins_result::none: return "";
        case jenkins_result::success: return "SUCCESS";
        case jenkins_result::unstable: return "UNSTABLE";
        case jenkins_result::failure: return "FAILURE";
        case jenkins_result::aborted: return "ABORTED";
        case jenkins_result::not_built: return "NOT_BUILT";
    }
    return "";
}

std::string_view to_string(jenkins_stage_status s) noexcept {
    switch (s) {
        case jenkins_stage_status::not_executed: return "NOT_EXECUTED";
        case jenkins_stage_status::in_progress: return "IN_PROGRESS";
        case jenkins_stage_status::paused_pending_input: return "PAUSED_PENDING_INPUT";
        case jenkins_stage_status::success: return "SUCCESS";
        case jenkins_stage_status::failed: return "FAILED";
        case jenkins_stage_status::unstable: return "UNSTABLE";
        case jenkins_stage_status::aborted: return "ABORTED";
        case jenkins_stage_status::unknown: return "UNKNOWN";
    }
    return "UNKNOWN";
}

std::vector<past_run> eta_history(const std::vector<jenkins_run>& runs) {
    std::vector<past_run> out;
    for (const auto& run : runs) {
        if (run.status != jenkins_stage_status::success) {
            continue;
        }
        past_run p;
        for (const auto& s : run.stages) {
            p.stages.emplace_back(s.name, std::max(s.duration - s.paused, milliseconds{0}));
        }
        out.push_back(std::move(p));
    }
    return out;
}

std::vector<current_stage> eta_progress(const jenkins_run& run) {
    std::vector<current_stage> out;
    for (const auto& s : run.stages) {
        if (s.status == jenkins_stage_status::not_executed) {
            continue;  // skipped, or never reached in a finished run
        }
        bool running = s.status == jenkins_stage_status::in_progress ||
                       s.status == jenkins_stage_status::paused_pending_input;
        out.push_back({s.name, running ? current_stage::state::running : current_stage::state::done,
                       std::max(s.duration - s.paused, milliseconds{0})});
    }
    return out;
}

namespace {

// ---- JSON readers: tolerant of missing fields and nulls, as Jenkins omits what it lacks ----

std::string str(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) {
        return {};
    }
    return it->get<std::string>();
}

std::int64_t num(const json& j, const char* key, std::int64_t fallback = 0) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) {
        return fallback;
    }
    return it->get<std::int64_t>();
}

std::chrono::system_clock::time_point epoch_ms(std::int64_t ms) {
    return std::chrono::system_clock::time_point{milliseconds{ms}};
}

jenkins_result parse_result(const json& j) {
    auto r = str(j, "result");
    if (r == "SUCCESS") {
        return jenkins_result::success;
    }
    if (r == "UNSTABLE") {
        return jenkins_result::unstable;
    }
    if (r == "FAILURE") {
        return jenkins_result::failure;
    }
    if (r == "ABORTED") {
        return jenkins_result::aborted;
    }
    if (r == "NOT_BUILT") {
        return jenkins_result::not_built;
    }
    return jenkins_result::none;
}

jenkins_stage_status parse_status(const std::string& s) {
    static const std::pair<std::string_view, jenkins_stage_status> names[] = {
        {"NOT_EXECUTED", jenkins_stage_status::not_executed},
        {"IN_PROGRESS", jenkins_stage_status::in_progress},
        {"PAUSED_PENDING_INPUT", jenkins_stage_status::paused_pending_input},
        {"SUCCESS", jenkins_stage_status::success},
        {"FAILED", jenkins_stage_status::failed},
        {"UNSTABLE", jenkins_stage_status::unstable},
        {"ABORTED", jenkins_stage_status::aborted},
    };
    for (const auto& [name, status] : names) {
        if (s == name) {
            return status;
        }
    }
    return jenkins_stage_status::unknown;
}

// Parameters from `actions[]`, found by content rather than index: most actions are `{}`.
std::map<std::string, std::string> parse_parameters(const json& build) {
    std::map<std::string, std::string> out;
    auto actions = build.find("actions");
    if (actions == build.end() || !actions->is_array()) {
        return out;
    }
    for (const auto& action : *actions) {
        auto params = action.is_object() ? action.find("parameters") : action.end();
        if (!action.is_object() || params == action.end() || !params->is_array()) {
            continue;
        }
        for (const auto& p : *params) {
            if (!p.is_object() || !p.contains("name")) {
                continue;
            }
            auto value = p.value("value", json());
            out[str(p, "name")] = value.is_string() ? value.get<std::string>()
                                  : value.is_null() ? std::string{}
                                                    : value.dump();
        }
    }
    return out;
}

jenkins_build parse_build(const json& j) {
    jenkins_build b;
    b.number = static_cast<int>(num(j, "number"));
    b.url = str(j, "url");
    b.building = j.value("building", false);
    b.result = parse_result(j);
    b.started = epoch_ms(num(j, "timestamp"));
    b.duration = milliseconds{num(j, "duration")};
    if (auto est = num(j, "estimatedDuration", -1); est > 0) {
        b.estimated_duration = milliseconds{est};
    }
    b.queue_id = num(j, "queueId");
    b.parameters = parse_parameters(j);
    return b;
}

jenkins_run parse_run(const json& j) {
    jenkins_run run;
    // Run ids are opaque in general (old builds used dates); current ones are the number.
    auto id = str(j, "id");
    if (!id.empty() &&
        std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        run.number = std::stoi(id);
    }
    run.status = parse_status(str(j, "status"));
    run.started = epoch_ms(num(j, "startTimeMillis"));
    run.duration = milliseconds{num(j, "durationMillis")};
    if (auto stages = j.find("stages"); stages != j.end() && stages->is_array()) {
        for (const auto& s : *stages) {
            jenkins_stage stage;
            stage.id = str(s, "id");
            stage.name = str(s, "name");
            stage.status = parse_status(str(s, "status"));
            stage.started = epoch_ms(num(s, "startTimeMillis"));
            stage.duration = milliseconds{num(s, "durationMillis")};
            stage.paused = milliseconds{num(s, "pauseDurationMillis")};
            if (auto err = s.find("error"); err != s.end() && err->is_object()) {
                stage.error = str(*err, "message");
            }
            run.stages.push_back(std::move(stage));
        }
    }
    return run;
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

// A redirect to a page under `rel` (e.g. "job/a/job/b/7/"): how Jenkins acknowledges form
// POSTs such as stop. Matched on the path so a proxy rewriting the host does not matter, while a
// redirect to a login page does not count.
bool redirected_under(const http_response& r, std::string_view rel) {
    if (r.status != 301 && r.status != 302 && r.status != 303) {
        return false;
    }
    auto location = r.header("Location").value_or("");
    location = location.substr(0, location.find('?'));
    return contains(location, rel);
}

bool stale_crumb(const http_response& r) {
    return r.status == 403 && contains(r.body, "No valid crumb");
}

}  // namespace

// ---- impl ----

class jenkins_http_client::impl {
public:
    impl(http_client http, const core::jenkins_config& config, core::logger& log,
         jenkins_client_options options)
        : http_(std::move(http)),
          config_(config),
          log_(&log),
          options_(options),
          authorization_("Basic " + base64_encode(config.user + ":" + config.api_token.reveal())) {}

    asio::awaitable<core::result<jenkins_queue_ref>> trigger(
        std::string job_path, std::map<std::string, std::string> parameters);
    asio::awaitable<core::result<jenkins_queue_item>> queue_item(std::int64_t id);
    asio::awaitable<core::result<std::optional<jenkins_build>>> find_build_by_parameter(
        std::string job_path, std::string name, std::string value, std::size_t limit);
    asio::awaitable<core::result<std::optional<jenkins_queue_ref>>> find_queued_by_parameter(
        std::string job_path, std::string name, std::string value);
    asio::awaitable<core::result<jenkins_build>> build(std::string job_path, int number);
    asio::awaitable<core::result<jenkins_run>> stages(std::string job_path, int number);
    asio::awaitable<core::result<std::vector<jenkins_run>>> recent_runs(std::string job_path);
    asio::awaitable<core::result<std::string>> console_tail(std::string job_path, int number,
                                                            std::size_t max_lines);
    asio::awaitable<core::result<std::string>> stage_log(std::string job_path, int number,
                                                         std::string stage_id,
                                                         std::size_t max_lines);
    asio::awaitable<core::result<void>> abort(std::string job_path, int number);
    asio::awaitable<core::result<void>> answer_input(std::string job_path, int number,
                                                     std::string input_id, bool proceed);

private:
    struct crumb {
        std::string field;  // header name, normally Jenkins-Crumb
        std::string value;
        std::string cookie;  // the session the crumb belongs to, "name=value; …"
    };

    http_request make_request(http_method method, const std::string& path) const;
    asio::awaitable<core::result<http_response>> get(std::string path, std::string what);
    asio::awaitable<core::result<json>> get_json(std::string path, std::string what,
                                                 std::string not_found);
    asio::awaitable<core::result<http_response>> post(std::string path, std::string body,
                                                      bool idempotent, std::string what);
    asio::awaitable<core::result<void>> fetch_crumb(std::string what);
    asio::awaitable<core::result<http_response>> send(http_request request, std::string what);

    core::error status_error(const http_response& r, std::string_view what,
                             std::string_view not_found) const;
    std::string job_not_found(std::string_view job_path) const;
    std::string build_not_found(std::string_view job_path, int number) const;

    http_client http_;
    core::jenkins_config config_;
    core::logger* log_;
    jenkins_client_options options_;
    std::string authorization_;
    std::optional<crumb> crumb_;
    bool crumbs_disabled_ = false;  // crumbIssuer answered 404: CSRF protection is off
};

http_request jenkins_http_client::impl::make_request(http_method method,
                                                     const std::string& path) const {
    http_request r;
    r.method = method;
    r.url = config_.url + path;
    r.timeout = config_.timeout;
    r.max_attempts = options_.max_attempts;
    // Sent pre-emptively: Jenkins answers anonymous requests with 403 or a login redirect
    // rather than a 401 challenge.
    r.headers.emplace_back("Authorization", authorization_);
    return r;
}

asio::awaitable<core::result<http_response>> jenkins_http_client::impl::send(http_request request,
                                                                             std::string what) {
    auto r = co_await http_.send(std::move(request));
    if (r) {
        co_return std::move(r);
    }
    auto e = std::move(r).error();
    switch (e.code) {
        case core::errc::cancelled: co_return e;
        case core::errc::timeout:
            co_return core::make_error(
                e.code, fmt::format("Jenkins at {} did not answer within {} s while {} ({}): "
                                    "check that Jenkins is healthy, or raise the timeout",
                                    config_.url, config_.timeout.count(), what, e.message));
        case core::errc::protocol_error:
            co_return core::make_error(
                e.code, fmt::format("talking to Jenkins at {} failed while {} ({}): if this is "
                                    "about the certificate, check ca_file of Jenkins '{}'",
                                    config_.url, what, e.message, config_.name));
        default:
            co_return core::make_error(
                e.code, fmt::format("could not reach Jenkins at {} while {} ({}): check that "
                                    "Jenkins is up and the url of Jenkins '{}' is right",
                                    config_.url, what, e.message, config_.name));
    }
}

asio::awaitable<core::result<http_response>> jenkins_http_client::impl::get(std::string path,
                                                                            std::string what) {
    co_return co_await send(make_request(http_method::get, path), std::move(what));
}

asio::awaitable<core::result<json>> jenkins_http_client::impl::get_json(std::string path,
                                                                        std::string what,
                                                                        std::string not_found) {
    auto r = co_await get(path, what);
    if (!r) {
        co_return std::move(r).error();
    }
    if (r->status != 200) {
        co_return status_error(*r, what, not_found);
    }
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded()) {
        co_return core::make_error(
            core::errc::protocol_error,
            fmt::format("Jenkins answered {} with something that is not JSON (\"{}\"): check "
                        "that the url points at Jenkins itself, not a proxy's page",
                        what, error_page_summary(r->body, 80)));
    }
    co_return j;
}

asio::awaitable<core::result<void>> jenkins_http_client::impl::fetch_crumb(std::string what) {
    auto r = co_await get("crumbIssuer/api/json", "fetching a CSRF crumb for " + what);
    if (!r) {
        co_return std::move(r).error();
    }
    if (r->status == 404) {
        // CSRF protection is off: POSTs go without a crumb (as python-jenkins does).
        crumbs_disabled_ = true;
        crumb_.reset();
        co_return core::ok();
    }
    if (r->status != 200) {
        co_return status_error(*r, "fetching a CSRF crumb for " + what, {});
    }
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || str(j, "crumb").empty()) {
        co_return core::make_error(core::errc::protocol_error,
                                   "Jenkins' crumbIssuer answered without a crumb while " + what +
                                       ": check that the url points at Jenkins itself");
    }
    crumb c;
    c.field = str(j, "crumbRequestField");
    if (c.field.empty()) {
        c.field = "Jenkins-Crumb";
    }
    c.value = str(j, "crumb");
    // The default issuer ties the crumb to the web session: keep its cookie with it.
    for (const auto& set_cookie : find_headers(r->headers, "Set-Cookie")) {
        auto pair = set_cookie.substr(0, set_cookie.find(';'));
        if (!c.cookie.empty()) {
            c.cookie += "; ";
        }
        c.cookie += pair;
    }
    crumb_ = std::move(c);
    crumbs_disabled_ = false;
    log_->debug("jenkins_crumb_fetched", {{"jenkins", config_.name}});
    co_return core::ok();
}

asio::awaitable<core::result<http_response>> jenkins_http_client::impl::post(std::string path,
                                                                             std::string body,
                                                                             bool idempotent,
                                                                             std::string what) {
    // A stale crumb is answered with 403 before Jenkins acts, so one retry with a fresh crumb
    // cannot repeat an effect, even for a trigger.
    for (int attempt = 1;; ++attempt) {
        if (!crumb_ && !crumbs_disabled_) {
            auto fetched = co_await fetch_crumb(what);
            if (!fetched) {
                co_return std::move(fetched).error();
            }
        }
        auto request = make_request(http_method::post, path);
        request.idempotent = idempotent;
        request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
        if (crumb_) {
            request.headers.emplace_back(crumb_->field, crumb_->value);
            if (!crumb_->cookie.empty()) {
                request.headers.emplace_back("Cookie", crumb_->cookie);
            }
        }
        request.body = body;
        auto r = co_await send(std::move(request), what);
        if (!r || !stale_crumb(*r) || attempt == 2) {
            co_return r;
        }
        log_->info("jenkins_crumb_refresh", {{"jenkins", config_.name}, {"status", r->status}});
        crumb_.reset();
        crumbs_disabled_ = false;
    }
}

std::string jenkins_http_client::impl::job_not_found(std::string_view job_path) const {
    return fmt::format(
        "Jenkins '{}' has no job \"{}\" (404 for {}{}): check the job path in the service "
        "config (folders separated by '/') and that user {} has Job/Read on it",
        config_.name, job_path, config_.url, job_url_path(job_path).value_or(""), config_.user);
}

std::string jenkins_http_client::impl::build_not_found(std::string_view job_path,
                                                       int number) const {
    return fmt::format(
        "Jenkins '{}' has no build #{} of \"{}\" (404): the build may have been deleted by the "
        "job's build retention, or the job path is wrong",
        config_.name, number, job_path);
}

core::error jenkins_http_client::impl::status_error(const http_response& r, std::string_view what,
                                                    std::string_view not_found) const {
    auto summary = error_page_summary(r.body);
    switch (r.status) {
        case 401:
            return core::make_error(
                core::errc::permission_denied,
                fmt::format("Jenkins refused the API token for user {} (401) while {}: check that "
                            "the token in {} is current, belongs to user {} and was not revoked "
                            "(Jenkins: People → {} → Security → API Token)",
                            config_.user, what, config_.api_token.source().describe(), config_.user,
                            config_.user));
        case 403: {
            if (r.header("X-You-Are-Authenticated-As") == "anonymous") {
                return core::make_error(
                    core::errc::permission_denied,
                    fmt::format("Jenkins treated the bot as anonymous (403) while {}: check that "
                                "user and api_token of Jenkins '{}' are set",
                                what, config_.name));
            }
            if (stale_crumb(r)) {
                return core::make_error(
                    core::errc::permission_denied,
                    fmt::format("Jenkins rejected a freshly fetched CSRF crumb (403) while {}: "
                                "check that no proxy between the bot and Jenkins drops the "
                                "session cookie or changes the client address",
                                what));
            }
            auto permission = r.header("X-Required-Permission");
            return core::make_error(
                core::errc::permission_denied,
                fmt::format("Jenkins user {} is not allowed to do this (403{}) while {}{}: grant "
                            "the permission to {} in Jenkins' security settings",
                            config_.user, permission ? ", needs " + *permission : std::string{},
                            what, summary.empty() ? "" : " (" + summary + ")", config_.user));
        }
        case 404:
            return core::make_error(core::errc::not_found,
                                    not_found.empty()
                                        ? fmt::format("Jenkins answered 404 while {}", what)
                                        : std::string(not_found));
        case 409:
            return core::make_error(
                core::errc::conflict,
                fmt::format("Jenkins refused (409) while {}{}: the job is probably disabled; "
                            "enable it in Jenkins",
                            what, summary.empty() ? "" : " (" + summary + ")"));
        case 429:
            return core::make_error(
                core::errc::rate_limited,
                fmt::format("Jenkins is rate limiting the bot (429) while {}: try again later",
                            what));
        default: break;
    }
    if (r.status >= 300 && r.status < 400) {
        auto location = r.header("Location").value_or("");
        auto at = location.find('?');
        location = location.substr(0, at);
        if (contains(location, "login") || !location.starts_with(config_.url)) {
            return core::make_error(
                core::errc::permission_denied,
                fmt::format("Jenkins redirected to {} ({}) while {}: a login front-end (SSO proxy) "
                            "seems to be in the way; point the url of Jenkins '{}' at Jenkins "
                            "itself or let API-token requests through",
                            location, r.status, what, config_.name));
        }
        return core::make_error(core::errc::protocol_error,
                                fmt::format("Jenkins answered an unexpected redirect ({} to {}) "
                                            "while {}",
                                            r.status, location, what));
    }
    auto code = errc_for_status(r.status);
    std::string advice = r.status >= 500 ? "; check Jenkins' health and its log" : "";
    return core::make_error(code, fmt::format("Jenkins answered {} while {}{}{}", r.status, what,
                                              summary.empty() ? "" : ": " + summary, advice));
}

// ---- operations ----

asio::awaitable<core::result<jenkins_queue_ref>> jenkins_http_client::impl::trigger(
    std::string job_path, std::map<std::string, std::string> parameters) {
    auto job = job_url_path(job_path);
    if (!job) {
        co_return std::move(job).error();
    }
    auto what = fmt::format("triggering \"{}\"", job_path);
    // Not idempotent: a retry after the request may have reached Jenkins could queue a second
    // deploy (Jenkins merges equal parameters only while the first item still waits). Only
    // connect failures are retried (nothing was sent). When the answer is lost the caller
    // looks the build up by the deploy id it passed instead of triggering blindly again.
    // buildWithParameters fails on a job without parameters ("not parameterized"): use build.
    auto action = parameters.empty() ? "build" : "buildWithParameters";
    auto r = co_await post(*job + action, form_encode(parameters), false, what);
    if (!r) {
        auto e = std::move(r).error();
        if (e.code == core::errc::timeout || e.code == core::errc::unavailable) {
            e.message +=
                "; the build may have been queued anyway: look for it by its deploy id "
                "before triggering again";
        }
        co_return e;
    }
    if (r->status == 201 || r->status == 303) {
        auto location = r->header("Location").value_or("");
        auto id = queue_id_from_location(location);
        if (!id) {
            co_return core::make_error(
                core::errc::protocol_error,
                fmt::format("Jenkins accepted {} ({}) but its Location \"{}\" is not a queue "
                            "item: check that the url points at Jenkins itself",
                            what, r->status, location));
        }
        jenkins_queue_ref ref{*id, location, r->status == 303};
        log_->info("jenkins_triggered", {{"jenkins", config_.name},
                                         {"job", job_path},
                                         {"queue_id", *id},
                                         {"merged", ref.merged}});
        co_return ref;
    }
    if (r->status == 404) {
        co_return status_error(*r, what, job_not_found(job_path));
    }
    auto e = status_error(*r, what, {});
    auto summary = error_page_summary(r->body);
    if ((r->status == 400 || r->status == 500) &&
        (contains(summary, "parameter") || contains(summary, "parameterized"))) {
        // Jenkins reports bad parameter values as server errors; they are the caller's.
        e.code = core::errc::invalid_argument;
        e.message += fmt::format(
            ": check the job_parameters of the service against the "
            "parameters \"{}\" defines",
            job_path);
    }
    co_return e;
}

asio::awaitable<core::result<jenkins_queue_item>> jenkins_http_client::impl::queue_item(
    std::int64_t id) {
    auto what = fmt::format("reading queue item {}", id);
    auto r = co_await get(fmt::format("queue/item/{}/api/json", id), what);
    if (!r) {
        co_return std::move(r).error();
    }
    jenkins_queue_item item;
    if (r->status == 404) {
        item.status = jenkins_queue_item::state::gone;
        co_return item;
    }
    if (r->status != 200) {
        co_return status_error(*r, what, {});
    }
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        co_return core::make_error(core::errc::protocol_error,
                                   "Jenkins answered " + what + " with something that is not JSON");
    }
    item.why = str(j, "why");
    if (j.value("cancelled", false)) {
        item.status = jenkins_queue_item::state::cancelled;
        co_return item;
    }
    // A left item without an executable that is not cancelled is between queue and build for
    // a moment: it stays `waiting` until the next poll shows the build.
    auto exe = j.find("executable");
    if (exe != j.end() && exe->is_object() && exe->contains("number")) {
        item.status = jenkins_queue_item::state::started;
        item.build_number = static_cast<int>(num(*exe, "number"));
        item.build_url = str(*exe, "url");
    }
    co_return item;
}

asio::awaitable<core::result<std::optional<jenkins_build>>>
jenkins_http_client::impl::find_build_by_parameter(std::string job_path, std::string name,
                                                   std::string value, std::size_t limit) {
    auto job = job_url_path(job_path);
    if (!job) {
        co_return std::move(job).error();
    }
    // One request: `tree` exports the selected fields of each of the newest `limit` builds.
    auto spec = fmt::format(
        "builds[number,url,building,result,timestamp,duration,estimatedDuration,queueId,"
        "actions[parameters[name,value]]]{{0,{}}}",
        limit);
    auto j = co_await get_json(
        *job + "api/json?" + tree_query(spec),
        fmt::format("looking for the build of \"{}\" with {}={}", job_path, name, value),
        job_not_found(job_path));
    if (!j) {
        co_return std::move(j).error();
    }
    std::optional<jenkins_build> found;
    auto builds = j->find("builds");
    if (builds == j->end() || !builds->is_array()) {
        co_return found;
    }
    for (const auto& b : *builds) {  // newest first
        auto params = parse_parameters(b);
        if (auto it = params.find(name); it != params.end() && it->second == value) {
            found = parse_build(b);
            break;
        }
    }
    co_return found;
}

asio::awaitable<core::result<std::optional<jenkins_queue_ref>>>
jenkins_http_client::impl::find_queued_by_parameter(std::string job_path, std::string name,
                                                    std::string value) {
    auto job = job_url_path(job_path);
    if (!job) {
        co_return std::move(job).error();
    }
    auto j = co_await get_json(
        "/queue/api/json?" + tree_query("items[id,url,task[url],actions[parameters[name,value]]]"),
        fmt::format("looking in the queue for \"{}\" with {}={}", job_path, name, value), "");
    if (!j) {
        co_return std::move(j).error();
    }
    std::optional<jenkins_queue_ref> found;
    auto items = j->find("items");
    if (items == j->end() || !items->is_array()) {
        co_return found;
    }
    for (const auto& item : *items) {
        const json* task = item.contains("task") ? &item["task"] : nullptr;
        std::string task_url = task != nullptr && task->is_object() ? task->value("url", "") : "";
        // Items name their job by absolute URL; the job's path is its tail.
        if (!task_url.ends_with(*job)) {
            continue;
        }
        auto params = parse_parameters(item);
        if (auto it = params.find(name); it != params.end() && it->second == value) {
            std::string url = item.value("url", "");
            if (!url.starts_with("http")) {
                url = config_.url + (config_.url.ends_with('/') ? "" : "/") + url;
            }
            found = jenkins_queue_ref{item.value("id", std::int64_t{0}), url, false};
            break;
        }
    }
    co_return found;
}

asio::awaitable<core::result<jenkins_build>> jenkins_http_client::impl::build(std::string job_path,
                                                                              int number) {
    auto job = job_url_path(job_path);
    if (!job) {
        co_return std::move(job).error();
    }
    auto j = co_await get_json(
        fmt::format("{}{}/api/json?{}", *job, number,
                    tree_query("number,url,building,result,timestamp,duration,estimatedDuration,"
                               "queueId,actions[parameters[name,value]]")),
        fmt::format("reading build #{} of \"{}\"", number, job_path),
        build_not_found(job_path, number));
    if (!j) {
        co_return std::move(j).error();
    }
    co_return parse_build(*j);
}

asio::awaitable<core::result<jenkins_run>> jenkins_http_client::impl::stages(std::string job_path,
                                                                             int number) {
    auto job = job_url_path(job_path);
    if (!job) {
        co_return std::move(job).error();
    }
    auto base = fmt::format("{}{}/", *job, number);
    auto what = fmt::format("reading the stages of build #{} of \"{}\"", number, job_path);
    auto j = co_await get_json(base + "wfapi/describe", what,
                               build_not_found(job_path, number) +
                                   " (or the Pipeline Stage View plugin is not installed)");
    if (!j) {
        co_return std::move(j).error();
    }
    auto run = parse_run(*j);
    if (run.number == 0) {
        run.number = number;
    }
    if (run.status != jenkins_stage_status::paused_pending_input) {
        co_return run;
    }
    auto pending = co_await get_json(base + "wfapi/pendingInputActions",
                                     "reading the pending input of build #" +
                                         std::to_string(number) + " of \"" + job_path + "\"",
                                     build_not_found(job_path, number));
    if (!pending) {
        co_return std::move(pending).error();
    }
    if (pending->is_array() && !pending->empty() && (*pending)[0].is_object()) {
        const auto& first = (*pending)[0];
        run.pending_input =
            jenkins_input{str(first, "id"), str(first, "message"), str(first, "proceedText")};
    }
    co_return run;
}

asio::awaitable<core::result<std::vector<jenkins_run>>> jenkins_http_client::impl::recent_runs(
    std::string job_path) {
    auto job = job_url_path(job_path);
    if (!job) {
        co_return std::move(job).error();
    }
    auto j = co_await get_json(*job + "wfapi/runs",
                               fmt::format("reading the recent runs of \"{}\"", job_path),
                               job_not_found(job_path));
    if (!j) {
        co_return std::move(j).error();
    }
    std::vector<jenkins_run> runs;
    if (j->is_array()) {
        for (const auto& r : *j) {
            if (r.is_object()) {
                runs.push_back(parse_run(r));
            }
        }
    }
    co_return runs;
}

asio::awaitable<core::result<std::string>> jenkins_http_client::impl::console_tail(
    std::string job_path, int number, std::size_t max_lines) {
    auto job = job_url_path(job_path);
    if (!job) {
        co_return std::move(job).error();
    }
    // Jenkins cannot serve a log from its end (progressiveText restarts at 0 for offsets past
    // the end), so the whole text is read; the HTTP client's body limit bounds it.
    auto what = fmt::format("reading the console of build #{} of \"{}\"", number, job_path);
    auto r = co_await get(fmt::format("{}{}/consoleText", *job, number), what);
    if (!r) {
        co_return std::move(r).error();
    }
    if (r->status != 200) {
        co_return status_error(*r, what, build_not_found(job_path, number));
    }
    co_return last_lines(strip_ansi(r->body), max_lines);
}

asio::awaitable<core::result<std::string>> jenkins_http_client::impl::stage_log(
    std::string job_path, int number, std::string stage_id, std::size_t max_lines) {
    auto job = job_url_path(job_path);
    if (!job) {
        co_return std::move(job).error();
    }
    auto node = [&](const std::string& id) {
        return fmt::format("{}{}/execution/node/{}/wfapi/", *job, number, percent_encode(id));
    };
    auto what = fmt::format("reading the log of stage {} of build #{} of \"{}\"", stage_id, number,
                            job_path);
    auto not_found = fmt::format(
        "Jenkins has no stage {} in build #{} of \"{}\" (404): take the "
        "stage id from the build's stages",
        stage_id, number, job_path);
    // A stage's own flow node has little output; its steps (stageFlowNodes) carry the log.
    auto described = co_await get_json(node(stage_id) + "describe", what, not_found);
    if (!described) {
        co_return std::move(described).error();
    }
    std::vector<std::string> ids;
    if (auto steps = described->find("stageFlowNodes");
        steps != described->end() && steps->is_array()) {
        for (const auto& step : *steps) {
            if (auto id = str(step, "id"); !id.empty()) {
                ids.push_back(id);
            }
        }
    }
    if (ids.empty()) {
        ids.push_back(stage_id);
    }
    std::string text;
    for (const auto& id : ids) {
        auto log = co_await get_json(node(id) + "log", what, not_found);
        if (!log) {
            co_return std::move(log).error();
        }
        // Stage View sends the log as HTML (escaped, with console annotations).
        auto piece = html_to_text(str(*log, "text"));
        if (!text.empty() && !text.ends_with('\n')) {
            text.push_back('\n');
        }
        text += piece;
    }
    co_return last_lines(strip_ansi(text), max_lines);
}

asio::awaitable<core::result<void>> jenkins_http_client::impl::abort(std::string job_path,
                                                                     int number) {
    auto job = job_url_path(job_path);
    if (!job) {
        co_return std::move(job).error();
    }
    auto what = fmt::format("stopping build #{} of \"{}\"", number, job_path);
    // Stopping twice is harmless, so the HTTP client may retry it like a GET.
    auto r = co_await post(fmt::format("{}{}/stop", *job, number), {}, true, what);
    if (!r) {
        co_return std::move(r).error();
    }
    // Jenkins answers a stop with a redirect to the build page.
    if (r->ok() || redirected_under(*r, fmt::format("{}{}/", *job, number))) {
        log_->info("jenkins_stop_requested",
                   {{"jenkins", config_.name}, {"job", job_path}, {"build", number}});
        co_return core::ok();
    }
    co_return status_error(*r, what, build_not_found(job_path, number));
}

asio::awaitable<core::result<void>> jenkins_http_client::impl::answer_input(std::string job_path,
                                                                            int number,
                                                                            std::string input_id,
                                                                            bool proceed) {
    auto job = job_url_path(job_path);
    if (!job) {
        co_return std::move(job).error();
    }
    auto what = fmt::format("{} input {} of build #{} of \"{}\"",
                            proceed ? "approving" : "rejecting", input_id, number, job_path);
    auto path = fmt::format("{}{}/input/{}/{}", *job, number, percent_encode(input_id),
                            proceed ? "proceedEmpty" : "abort");
    // Not retried once sent: a second answer fails ("already given") and would hide the first.
    auto r = co_await post(path, {}, false, what);
    if (!r) {
        co_return std::move(r).error();
    }
    if (r->ok() || redirected_under(*r, fmt::format("{}{}/", *job, number))) {
        log_->info("jenkins_input_answered", {{"jenkins", config_.name},
                                              {"job", job_path},
                                              {"build", number},
                                              {"proceed", proceed}});
        co_return core::ok();
    }
    co_return status_error(
        *r, what,
        fmt::format("build #{} of \"{}\" has no pending input \"{}\" (404): it was answered "
                    "already, the build moved on, or the input id is wrong",
                    number, job_path, input_id));
}

// ---- the public class forwards to impl, whose address stays put when the client moves ----

core::result<jenkins_http_client> jenkins_http_client::create(asio::any_io_executor executor,
                                                              const core::jenkins_config& config,
                                                              core::logger& log,
                                                              jenkins_client_options options) {
    if (config.url.empty() || config.url.back() != '/') {
        return core::make_error(core::errc::config_error,
                                fmt::format("the url of Jenkins '{}' must end in '/' (got \"{}\")",
                                            config.name, config.url));
    }
    http_client_options http_options;
    http_options.tls.ca_file = config.ca_file;
    http_options.retry = options.retry;
    auto http = http_client::create(std::move(executor), log, std::move(http_options));
    if (!http) {
        auto e = std::move(http).error();
        e.message = fmt::format("Jenkins '{}': {}", config.name, e.message);
        return e;
    }
    return jenkins_http_client(std::make_unique<impl>(std::move(*http), config, log, options));
}

jenkins_http_client::jenkins_http_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
jenkins_http_client::jenkins_http_client(jenkins_http_client&&) noexcept = default;
jenkins_http_client& jenkins_http_client::operator=(jenkins_http_client&&) noexcept = default;
jenkins_http_client::~jenkins_http_client() = default;

asio::awaitable<core::result<jenkins_queue_ref>> jenkins_http_client::trigger(
    std::string job_path, std::map<std::string, std::string> parameters) {
    return impl_->trigger(std::move(job_path), std::move(parameters));
}

asio::awaitable<core::result<jenkins_queue_item>> jenkins_http_client::queue_item(std::int64_t id) {
    return impl_->queue_item(id);
}

asio::awaitable<core::result<std::optional<jenkins_build>>>
jenkins_http_client::find_build_by_parameter(std::string job_path, std::string name,
                                             std::string value, std::size_t limit) {
    return impl_->find_build_by_parameter(std::move(job_path), std::move(name), std::move(value),
                                          limit);
}

asio::awaitable<core::result<std::optional<jenkins_queue_ref>>>
jenkins_http_client::find_queued_by_parameter(std::string job_path, std::string name,
                                              std::string value) {
    return impl_->find_queued_by_parameter(std::move(job_path), std::move(name), std::move(value));
}

asio::awaitable<core::result<jenkins_build>> jenkins_http_client::build(std::string job_path,
                                                                        int number) {
    return impl_->build(std::move(job_path), number);
}

asio::awaitable<core::result<jenkins_run>> jenkins_http_client::stages(std::string job_path,
                                                                       int number) {
    return impl_->stages(std::move(job_path), number);
}

asio::awaitable<core::result<std::vector<jenkins_run>>> jenkins_http_client::recent_runs(
    std::string job_path) {
    return impl_->recent_runs(std::move(job_path));
}

asio::awaitable<core::result<std::string>> jenkins_http_client::console_tail(
    std::string job_path, int number, std::size_t max_lines) {
    return impl_->console_tail(std::move(job_path), number, max_lines);
}

asio::awaitable<core::result<std::string>> jenkins_http_client::stage_log(std::string job_path,
                                                                          int number,
                                                                          std::string stage_id,
                                                                          std::size_t max_lines) {
    return impl_->stage_log(std::move(job_path), number, std::move(stage_id), max_lines);
}

asio::awaitable<core::result<void>> jenkins_http_client::abort(std::string job_path, int number) {
    return impl_->abort(std::move(job_path), number);
}

asio::awaitable<core::result<void>> jenkins_http_client::answer_input(std::string job_path,
                                                                      int number,
                                                                      std::string input_id,
                                                                      bool proceed) {
    return impl_->answer_input(std::move(job_path), number, std::move(input_id), proceed);
}

}  // namespace tugboat::integrations
