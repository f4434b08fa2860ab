#include "sandbox/fake_jenkins.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <exception>
#include <random>
#include <set>
#include <span>

namespace tugboat::sandbox {

namespace asio = boost::asio;
using json = nlohmann::ordered_json;  // Jenkins' field order, which makes dumps easy to read
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Types shared by fake_jenkins::state and the helpers below; not in an anonymous namespace
// because state (a class with external linkage) holds them.
namespace jenkins_detail {

enum class stage_status { in_progress, paused, success, failed, aborted, not_executed };

struct param_value {
    std::string name;
    std::string value;
    fake_parameter::kind type = fake_parameter::kind::string;
    friend bool operator==(const param_value&, const param_value&) = default;
};

struct stage_run {
    std::string id;  // flow node id; its single step node is id + 1
    std::string name;
    std::string command;  // first "+ …" line, shown as the step's parameterDescription
    stage_status status = stage_status::in_progress;
    std::int64_t start_ms = 0;
    std::int64_t end_ms = 0;  // 0 while running
    std::int64_t pause_ms = 0;
    std::string log;
    std::string error;  // message of a failed stage
};

enum class input_answer { none, proceed, abort };

struct build_run {
    explicit build_run(asio::any_io_executor ex) : wake(std::move(ex)) {}

    std::string job;
    int number = 0;
    int queue_id = 0;
    bool seeded = false;
    bool auto_placed = false;  // seeded without an end time: moves back as newer ones come
    std::vector<param_value> params;
    std::int64_t queued_ms = 0;
    std::int64_t start_ms = 0;
    std::int64_t end_ms = 0;  // 0 while building
    std::optional<fake_result> result;
    std::vector<fake_stage> plan;  // the job's stages when the build started
    std::string failing_stage;
    std::vector<stage_run> stages;
    std::string console;
    std::optional<fake_input> input;  // the pending input step, id normalized
    std::int64_t input_since_ms = 0;
    input_answer answer = input_answer::none;
    std::map<std::string, std::string> input_values;
    bool stop_requested = false;
    asio::steady_timer wake;  // cancelled to interrupt the build's current wait

    bool building() const { return !result.has_value(); }
};

enum class queue_phase { waiting, buildable, blocked, left };

struct queue_item {
    explicit queue_item(asio::any_io_executor ex) : wake(std::move(ex)) {}

    int id = 0;
    std::string job;
    std::vector<param_value> params;
    std::int64_t since_ms = 0;
    std::int64_t buildable_ms = 0;  // end of the quiet period
    queue_phase phase = queue_phase::waiting;
    bool cancelled = false;
    int build_number = 0;
    steady::time_point left_at;
    std::string why;
    asio::steady_timer wake;
};

struct job_entry {
    fake_job def;
    std::vector<std::unique_ptr<build_run>> builds;  // ascending numbers
    int next_number = 1;
    std::size_t triggers = 0;
    std::size_t started = 0;
};

struct fault {
    int remaining = 0;
    int status = 500;
    std::string prefix;
};

}  // namespace jenkins_detail

using namespace jenkins_detail;

struct fake_jenkins::state {
    state(asio::any_io_executor ex, fake_jenkins_options opts)
        : executor(std::move(ex)), options(std::move(opts)), rng(std::random_device{}()) {}

    core::logger& log() { return options.log ? *options.log : core::null_logger(); }

    asio::any_io_executor executor;
    fake_jenkins_options options;
    std::shared_ptr<asio::ssl::context> tls;
    std::optional<http_server> server;
    std::uint16_t port = 0;
    std::vector<recorded_request> earlier_requests;  // from before the last restart
    std::map<std::string, job_entry, std::less<>> jobs;
    std::map<int, std::unique_ptr<queue_item>> queue;
    int next_queue_id = 100;
    std::map<std::string, std::string> sessions;  // session id → crumb
    std::string cookie_name;
    std::vector<fault> faults;
    std::vector<std::pair<std::string, milliseconds>> delays;
    std::function<void(const fake_deploy&)> deploy_hook;
    bool closed = false;  // the fake was destroyed: every simulated build ends
    std::mt19937_64 rng;

    /// Root URL with the context path and a trailing '/'.
    std::string base_url() const {
        return fmt::format("{}://127.0.0.1:{}{}/", tls ? "https" : "http", port,
                           options.context_path);
    }

    steady::duration scaled(milliseconds d) const {
        return std::chrono::duration_cast<steady::duration>(
            std::chrono::duration<double, std::milli>(static_cast<double>(d.count()) /
                                                      options.speed));
    }
};

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::int64_t now_ms() {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t to_ms(steady::duration d) {
    return std::chrono::duration_cast<milliseconds>(d).count();
}

// ---- text helpers ----

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int hi = hex_digit(s[i + 1]);
            int lo = hex_digit(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
    }
    return out;
}

// One URL path segment, escaped the way Jenkins writes job URLs (space → %20).
std::string encode_segment(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view s) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!s.empty()) {
        auto amp = s.find('&');
        auto part = s.substr(0, amp);
        s = amp == std::string_view::npos ? std::string_view{} : s.substr(amp + 1);
        if (part.empty()) {
            continue;
        }
        auto eq = part.find('=');
        auto value = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
        out.emplace_back(percent_decode(part.substr(0, eq), true), percent_decode(value, true));
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : in) {
        if (c == '=') {
            break;
        }
        auto pos = alphabet.find(c);
        if (pos == std::string_view::npos) {
            return std::nullopt;
        }
        buffer = (buffer << 6) | static_cast<unsigned>(pos);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
    }
    return out;
}

std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '&': out += "&amp;"; break;
            default: out.push_back(c);
        }
    }
    return out;
}

std::string random_hex(std::mt19937_64& rng, std::size_t chars) {
    std::string out;
    while (out.size() < chars) {
        out += fmt::format("{:016x}", rng());
    }
    out.resize(chars);
    return out;
}

// "deploy/payments-api" → "deploy » payments-api", as Jenkins shows nested items.
std::string display_name(std::string_view full_name) {
    std::string out;
    for (char c : full_name) {
        out += c == '/' ? std::string(" \u00bb ") : std::string(1, c);
    }
    return out;
}

std::string short_name(std::string_view full_name) {
    auto slash = full_name.rfind('/');
    return std::string(slash == std::string_view::npos ? full_name : full_name.substr(slash + 1));
}

// Jenkins normalizes input ids by upper-casing the first letter; without an id it uses a
// digest of the message.
std::string normalize_input_id(const fake_input& input) {
    std::string id = input.id;
    if (id.empty()) {
        id = fmt::format("{:016x}", std::hash<std::string>{}(input.message));
    }
    id[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(id[0])));
    return id;
}

std::string_view result_name(fake_result r) {
    switch (r) {
        case fake_result::success: return "SUCCESS";
        case fake_result::unstable: return "UNSTABLE";
        case fake_result::failure: return "FAILURE";
        case fake_result::aborted: return "ABORTED";
        case fake_result::not_built: return "NOT_BUILT";
    }
    return "FAILURE";
}

std::string_view stage_status_name(stage_status s) {
    switch (s) {
        case stage_status::in_progress: return "IN_PROGRESS";
        case stage_status::paused: return "PAUSED_PENDING_INPUT";
        case stage_status::success: return "SUCCESS";
        case stage_status::failed: return "FAILED";
        case stage_status::aborted: return "ABORTED";
        case stage_status::not_executed: return "NOT_EXECUTED";
    }
    return "FAILED";
}

// The Stage View status of a whole run.
std::string_view run_status(const build_run& b) {
    if (b.building()) {
        return b.input ? "PAUSED_PENDING_INPUT" : "IN_PROGRESS";
    }
    switch (*b.result) {
        case fake_result::success: return "SUCCESS";
        case fake_result::unstable: return "UNSTABLE";
        case fake_result::failure: return "FAILED";
        case fake_result::aborted: return "ABORTED";
        case fake_result::not_built: return "NOT_EXECUTED";
    }
    return "FAILED";
}

std::optional<std::string> param(const std::vector<param_value>& params, std::string_view name) {
    for (const auto& p : params) {
        if (p.name == name) {
            return p.value;
        }
    }
    return std::nullopt;
}

std::map<std::string, std::string> param_map(const std::vector<param_value>& params) {
    std::map<std::string, std::string> out;
    for (const auto& p : params) {
        out[p.name] = p.value;
    }
    return out;
}

// ---- what builds print ----

// Replaces ${NAME} by the build's parameter; a few common names fall back to something
// plausible so default logs read well for jobs without those parameters.
std::string substitute(std::string_view line, const std::vector<param_value>& params,
                       const std::string& job) {
    std::string out;
    std::size_t i = 0;
    while (i < line.size()) {
        auto open = line.find("${", i);
        auto close = open == std::string_view::npos ? open : line.find('}', open);
        if (close == std::string_view::npos) {
            out += line.substr(i);
            break;
        }
        out += line.substr(i, open - i);
        std::string name(line.substr(open + 2, close - open - 2));
        if (auto v = param(params, name)) {
            out += *v;
        } else if (name == "SERVICE") {
            out += short_name(job);
        } else if (name == "VERSION") {
            out += "latest";
        } else if (name == "ENVIRONMENT") {
            out += "dev";
        } else {
            out += line.substr(open, close - open + 1);
        }
        i = close + 1;
    }
    return out;
}

std::vector<std::string> default_stage_log(const std::string& stage) {
    if (stage == "Checkout") {
        return {"Cloning the remote Git repository",
                "Cloning repository https://git.sandbox.local/${SERVICE}.git",
                "Checking out Revision 3f9c2e1d4b7a0c55 (refs/tags/${VERSION})",
                "Commit message: \"Release ${VERSION}\""};
    }
    if (stage == "Build") {
        return {"+ make build VERSION=${VERSION}", "[1/4] Resolving dependencies",
                "[2/4] Compiling 214 sources", "[3/4] Linking ${SERVICE}", "[4/4] Build OK"};
    }
    if (stage == "Test") {
        return {"+ make test",
                "Running 128 tests in 3 suites",
                "suite ledger ....... ok",
                "suite refunds ...... ok",
                "suite api .......... ok",
                "128 passed, 0 failed"};
    }
    if (stage == "Push") {
        return {"+ docker build -t registry.sandbox.local/${SERVICE}:${VERSION} .",
                "Successfully built 9c1e2f3a7b21",
                "+ docker push registry.sandbox.local/${SERVICE}:${VERSION}",
                "The push refers to repository [registry.sandbox.local/${SERVICE}]",
                "${VERSION}: digest: sha256:4f1c9a0e7d2b6c8e5a3f1b9d7c5e3a1f0e8d6c4b2a09f7e5d3c1b"
                "9a7f5e3d1c size: 1789"};
    }
    if (stage == "Deploy") {
        return {
            "+ kubectl -n ${ENVIRONMENT} set image deployment/${SERVICE} "
            "app=registry.sandbox.local/${SERVICE}:${VERSION}",
            "deployment.apps/${SERVICE} image updated",
            "+ kubectl -n ${ENVIRONMENT} rollout status deployment/${SERVICE} --timeout=5m",
            "Waiting for deployment \"${SERVICE}\" rollout to finish: 1 of 2 updated replicas "
            "are available...",
            "deployment \"${SERVICE}\" successfully rolled out"};
    }
    std::string lower;
    for (char c : stage) {
        lower.push_back(c == ' ' ? '-'
                                 : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    return {"+ ./ci/" + lower + ".sh", stage + " done"};
}

// How a stage fails: how many of its normal lines come first, what it prints, the exit code.
struct failure_script {
    std::size_t keep = 0;
    std::vector<std::string> lines;
    int exit_code = 1;
};

failure_script stage_failure(const std::string& stage, std::size_t normal_lines) {
    if (stage == "Build") {
        return {3,
                {"src/ledger.cpp: In function 'long ledger::balance(const ledger::account&)':",
                 "src/ledger.cpp:42:17: error: 'amount_cents' was not declared in this scope",
                 "   42 |     total += amount_cents;", "      |              ^~~~~~~~~~~~",
                 "make: *** [Makefile:31: build/ledger.o] Error 1"},
                2};
    }
    if (stage == "Test") {
        return {3,
                {"suite refunds ...... FAILED",
                 "  refund_exceeding_charge_is_rejected: expected status REJECTED, got ACCEPTED",
                 "    at tests/refunds_test.cpp:87", "suite api .......... ok",
                 "127 passed, 1 failed", "make: *** [Makefile:40: test] Error 1"},
                1};
    }
    if (stage == "Push") {
        return {3,
                {"The push refers to repository [registry.sandbox.local/${SERVICE}]",
                 "denied: requested access to the resource is denied"},
                1};
    }
    if (stage == "Deploy") {
        return {1,
                {"Error from server (Forbidden): deployments.apps \"${SERVICE}\" is forbidden: "
                 "User \"system:serviceaccount:ci:jenkins\" cannot patch resource \"deployments\" "
                 "in API group \"apps\" in the namespace \"${ENVIRONMENT}\""},
                1};
    }
    return {(normal_lines + 1) / 2, {stage + " failed"}, 1};
}

// Console lines of the shell steps get the "[Pipeline] sh" marker Jenkins prints before them.
std::string console_line(const std::string& line) {
    if (line.rfind("+ ", 0) == 0) {
        return "[Pipeline] sh\n" + line + "\n";
    }
    return line + "\n";
}

std::string console_header(const std::string& user, const std::string& job) {
    std::string workspace = job;
    std::replace(workspace.begin(), workspace.end(), '/', '_');
    return fmt::format(
        "Started by user {}\n[Pipeline] Start of Pipeline\n[Pipeline] node\n"
        "Running on Jenkins in /var/jenkins_home/workspace/{}\n[Pipeline] {{\n",
        user, workspace);
}

std::string stage_open(const std::string& name) {
    return fmt::format("[Pipeline] stage\n[Pipeline] {{ ({})\n", name);
}

constexpr std::string_view stage_close = "[Pipeline] }\n[Pipeline] // stage\n";

std::string console_footer(const std::string& error, fake_result result) {
    std::string out = "[Pipeline] }\n[Pipeline] // node\n[Pipeline] End of Pipeline\n";
    if (!error.empty()) {
        out += "ERROR: " + error + "\n";
    }
    out += fmt::format("Finished: {}\n", result_name(result));
    return out;
}

std::string stage_id(std::size_t index) {
    return std::to_string(6 + 7 * index);  // opaque to clients, numeric like real flow node ids
}

// ---- HTTP answers ----

struct reply {
    int status = 200;
    std::string body;
    http_headers headers;
};

constexpr std::string_view html_type = "text/html;charset=iso-8859-1";
constexpr std::string_view text_type = "text/plain;charset=UTF-8";
constexpr std::string_view json_type = "application/json;charset=utf-8";

// The servlet container's error page, as Jenkins' Jetty writes it.
reply error_reply(int status, std::string_view message, std::string_view uri) {
    std::string body = fmt::format(
        "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n"
        "<title>Error {0} {1}</title>\n</head>\n<body><h2>HTTP ERROR {0} {1}</h2>\n<table>\n"
        "<tr><th>URI:</th><td>{2}</td></tr>\n<tr><th>STATUS:</th><td>{0}</td></tr>\n"
        "<tr><th>MESSAGE:</th><td>{1}</td></tr>\n<tr><th>SERVLET:</th><td>Stapler</td></tr>\n"
        "</table>\n</body>\n</html>\n",
        status, html_escape(message), html_escape(uri));
    return {status, std::move(body), {{"Content-Type", std::string(html_type)}}};
}

reply not_found(std::string_view uri) {
    return error_reply(404, "Not Found", uri);
}

reply json_reply(const json& j, int status = 200) {
    return {status, j.dump(), {{"Content-Type", std::string(json_type)}}};
}

reply text_reply(std::string body) {
    return {200, std::move(body), {{"Content-Type", std::string(text_type)}}};
}

reply redirect(int status, std::string location) {
    return {status, {}, {{"Location", std::move(location)}}};
}

// ---- `tree=` ----

struct tree_node {
    std::string name;
    bool has_children = false;
    std::vector<tree_node> children;
    std::optional<std::pair<long, long>> range;  // [from, to); to < 0 = to the end
};

std::vector<tree_node> parse_tree(std::string_view s, std::size_t& i) {
    std::vector<tree_node> out;
    while (i < s.size() && s[i] != ']') {
        tree_node node;
        while (i < s.size() && s[i] != ',' && s[i] != '[' && s[i] != ']' && s[i] != '{') {
            if (s[i] != ' ') {
                node.name.push_back(s[i]);
            }
            ++i;
        }
        if (i < s.size() && s[i] == '[') {
            ++i;
            node.has_children = true;
            node.children = parse_tree(s, i);
            if (i < s.size() && s[i] == ']') {
                ++i;
            }
        }
        if (i < s.size() && s[i] == '{') {
            auto close = s.find('}', i);
            auto spec = s.substr(i + 1, close == std::string_view::npos ? close : close - i - 1);
            i = close == std::string_view::npos ? s.size() : close + 1;
            auto comma = spec.find(',');
            auto number = [](std::string_view t, long fallback) {
                return t.empty() ? fallback : std::strtol(std::string(t).c_str(), nullptr, 10);
            };
            if (comma == std::string_view::npos) {
                long n = number(spec, 0);
                node.range = std::pair{n, n + 1};
            } else {
                node.range =
                    std::pair{number(spec.substr(0, comma), 0), number(spec.substr(comma + 1), -1)};
            }
        }
        if (!node.name.empty()) {
            out.push_back(std::move(node));
        }
        if (i < s.size() && s[i] == ',') {
            ++i;
        }
    }
    return out;
}

// Keeps only the selected fields, as Jenkins' `tree=` does; `_class` always stays. A field
// selected without sub-fields keeps only the `_class` of the objects in it.
json apply_tree(const json& value, const std::vector<tree_node>& nodes) {
    if (value.is_array()) {
        json out = json::array();
        for (const auto& element : value) {
            out.push_back(apply_tree(element, nodes));
        }
        return out;
    }
    if (!value.is_object()) {
        return value;
    }
    json out = json::object();
    if (auto it = value.find("_class"); it != value.end()) {
        out["_class"] = *it;
    }
    for (const auto& node : nodes) {
        auto it = value.find(node.name);
        if (it == value.end()) {
            continue;
        }
        json field = *it;
        if (field.is_array() && node.range) {
            auto size = static_cast<long>(field.size());
            long from = std::clamp(node.range->first, 0L, size);
            long to = node.range->second < 0 ? size : std::clamp(node.range->second, from, size);
            json sliced = json::array();
            for (long k = from; k < to; ++k) {
                sliced.push_back(field[static_cast<std::size_t>(k)]);
            }
            field = std::move(sliced);
        }
        out[node.name] =
            apply_tree(field, node.has_children ? node.children : std::vector<tree_node>{});
    }
    return out;
}

reply shaped(const json& j, const request_context& ctx) {
    auto tree = ctx.query("tree");
    if (!tree || tree->empty()) {
        return json_reply(j);
    }
    std::size_t i = 0;
    return json_reply(apply_tree(j, parse_tree(*tree, i)));
}

}  // namespace

// ---- the server logic ----

namespace jenkins_detail {

using state = fake_jenkins::state;

class api {
public:
    api(std::shared_ptr<state> st, const request_context& ctx)
        : st_(std::move(st)), s_(*st_), ctx_(ctx) {}

    reply dispatch();

private:
    // URLs
    std::string root() const { return s_.base_url(); }
    std::string job_rel(std::string_view full) const {
        std::string out;
        std::size_t i = 0;
        while (i <= full.size()) {
            auto slash = full.find('/', i);
            auto part = full.substr(i, slash == std::string_view::npos ? slash : slash - i);
            out += "job/" + encode_segment(part) + "/";
            if (slash == std::string_view::npos) {
                break;
            }
            i = slash + 1;
        }
        return out;
    }
    std::string job_url(std::string_view full) const { return root() + job_rel(full); }
    std::string build_url(const build_run& b) const {
        return fmt::format("{}{}/", job_url(b.job), b.number);
    }
    // Stage View links are paths with the context path, without scheme and host.
    std::string build_path(const build_run& b) const {
        return fmt::format("{}/{}{}/", s_.options.context_path, job_rel(b.job), b.number);
    }

    std::optional<reply> check_auth();
    std::optional<reply> check_crumb();
    std::optional<std::string> session_cookie() const;
    std::map<std::string, std::string> submitted() const;

    reply crumb_issuer();
    reply root_json();
    reply folder_json(const std::string& folder);
    json children(const std::string& folder) const;
    reply job_route(job_entry& job, std::span<const std::string> rest);
    reply build_route(job_entry& job, build_run& b, std::span<const std::string> rest);
    reply queue_route(std::span<const std::string> rest);
    reply trigger(job_entry& job, bool with_parameters);
    reply input_route(build_run& b, const std::string& id, const std::string& action);
    reply stop_build(build_run& b);

    json job_json(const job_entry& job) const;
    json build_json(const job_entry& job, const build_run& b) const;
    json build_ref(const build_run* b) const;
    json queue_json(const queue_item& item) const;
    json run_json(const build_run& b) const;
    json stage_json(const build_run& b, const stage_run& s) const;
    json pending_inputs(const build_run& b) const;
    json parameter_definition(const fake_parameter& p) const;
    json parameters_action(const std::vector<param_value>& params) const;

    bool is_post() const { return ctx_.method() == "POST"; }
    reply requires_post() const {
        auto r = error_reply(405, "This URL requires POST", uri_);
        r.headers.emplace_back("Allow", "POST");
        return r;
    }

    std::shared_ptr<state> st_;
    state& s_;
    const request_context& ctx_;
    std::string uri_;
};

}  // namespace jenkins_detail

namespace {

std::int64_t estimated_duration(const job_entry& job) {
    // Jenkins averages up to three recent builds: the last successful one and other
    // successful/unstable ones among the last six, padded with failed ones.
    std::vector<const build_run*> picked;
    std::vector<const build_run*> fallback;
    const build_run* last_ok = nullptr;
    for (auto it = job.builds.rbegin(); it != job.builds.rend(); ++it) {
        const auto& b = **it;
        if (!b.building() &&
            (*b.result == fake_result::success || *b.result == fake_result::unstable)) {
            last_ok = &b;
            break;
        }
    }
    if (last_ok) {
        picked.push_back(last_ok);
    }
    int looked = 0;
    for (auto it = job.builds.rbegin(); it != job.builds.rend() && picked.size() < 3 && looked < 6;
         ++it, ++looked) {
        const auto& b = **it;
        if (b.building() || &b == last_ok) {
            continue;
        }
        if (*b.result == fake_result::success || *b.result == fake_result::unstable) {
            picked.push_back(&b);
        } else if (*b.result == fake_result::failure) {
            fallback.push_back(&b);
        }
    }
    for (std::size_t k = 0; picked.size() < 3 && k < fallback.size(); ++k) {
        picked.push_back(fallback[k]);
    }
    if (picked.empty()) {
        return -1;
    }
    std::int64_t total = 0;
    for (const auto* b : picked) {
        total += b->end_ms - b->start_ms;
    }
    return total / static_cast<std::int64_t>(picked.size());
}

build_run* running_build(job_entry& job) {
    for (auto& b : job.builds) {
        if (b->building()) {
            return b.get();
        }
    }
    return nullptr;
}

build_run* resolve_build(const job_entry& job, std::string_view ref) {
    auto newest = [&](auto pred) -> build_run* {
        for (auto it = job.builds.rbegin(); it != job.builds.rend(); ++it) {
            if (pred(**it)) {
                return it->get();
            }
        }
        return nullptr;
    };
    auto completed_with = [&](std::initializer_list<fake_result> results) {
        return newest([results](const build_run& b) {
            return !b.building() &&
                   std::find(results.begin(), results.end(), *b.result) != results.end();
        });
    };
    if (ref == "lastBuild") {
        return newest([](const build_run&) { return true; });
    }
    if (ref == "firstBuild") {
        return job.builds.empty() ? nullptr : job.builds.front().get();
    }
    if (ref == "lastCompletedBuild") {
        return newest([](const build_run& b) { return !b.building(); });
    }
    if (ref == "lastSuccessfulBuild") {
        return completed_with({fake_result::success, fake_result::unstable});
    }
    if (ref == "lastStableBuild") {
        return completed_with({fake_result::success});
    }
    if (ref == "lastFailedBuild") {
        return completed_with({fake_result::failure});
    }
    if (ref == "lastUnstableBuild") {
        return completed_with({fake_result::unstable});
    }
    if (ref == "lastUnsuccessfulBuild") {
        return completed_with({fake_result::unstable, fake_result::failure, fake_result::aborted,
                               fake_result::not_built});
    }
    if (ref.empty() || ref.size() > 9 ||
        !std::all_of(ref.begin(), ref.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return nullptr;
    }
    int number = std::stoi(std::string(ref));
    for (auto& b : job.builds) {
        if (b->number == number) {
            return b.get();
        }
    }
    return nullptr;
}

std::string color_of(const job_entry& job) {
    if (job.def.disabled) {
        return "disabled";
    }
    std::string color = "notbuilt";
    bool building = false;
    for (auto it = job.builds.rbegin(); it != job.builds.rend(); ++it) {
        if ((*it)->building()) {
            building = true;
            continue;
        }
        switch (*(*it)->result) {
            case fake_result::success: color = "blue"; break;
            case fake_result::unstable: color = "yellow"; break;
            case fake_result::failure: color = "red"; break;
            case fake_result::aborted: color = "aborted"; break;
            case fake_result::not_built: color = "notbuilt"; break;
        }
        break;
    }
    return building ? color + "_anime" : color;
}

std::string params_text(const std::vector<param_value>& params) {
    std::string out;
    for (const auto& p : params) {
        out += "\n" + p.name + "=" + p.value;
    }
    return out;
}

bool is_folder(const fake_jenkins::state& s, std::string_view name) {
    for (const auto& [full, job] : s.jobs) {
        if (full.size() > name.size() && full.compare(0, name.size(), name) == 0 &&
            full[name.size()] == '/') {
            return true;
        }
    }
    return false;
}

void wake_queue_of(fake_jenkins::state& s, const std::string& job) {
    for (auto& [id, item] : s.queue) {
        if (item->job == job && item->phase != queue_phase::left) {
            item->wake.cancel();
        }
    }
}

// ---- simulation ----

// Waits until `deadline`, or less when the build is stopped or the fake shuts down.
asio::awaitable<void> nap(const fake_jenkins::state& s, build_run& b, steady::time_point deadline) {
    while (!s.closed && !b.stop_requested && steady::now() < deadline) {
        b.wake.expires_at(deadline);
        co_await b.wake.async_wait(use_tuple);
    }
}

void log_line(build_run& b, stage_run& stage, const std::string& line) {
    b.console += console_line(line);
    stage.log += line + "\n";
}

std::string failing_stage_for(const job_entry& job, const std::vector<param_value>& params) {
    static const std::pair<std::string_view, std::string_view> markers[] = {
        {"failbuild", "Build"},
        {"failtest", "Test"},
        {"failpush", "Push"},
        {"faildeploy", "Deploy"}};
    std::set<std::string> failing;
    if (!job.def.failing_stage.empty()) {
        failing.insert(job.def.failing_stage);
    }
    for (const auto& p : params) {
        for (auto [marker, stage] : markers) {
            if (p.value.find(marker) != std::string::npos) {
                failing.insert(std::string(stage));
            }
        }
    }
    for (const auto& stage : job.def.stages) {
        if (failing.contains(stage.name)) {
            return stage.name;
        }
    }
    return {};
}

bool input_applies(const fake_stage& stage, const std::vector<param_value>& params) {
    if (!stage.input) {
        return false;
    }
    const auto& cond = stage.input->only_if;
    if (cond.empty()) {
        return true;
    }
    auto eq = cond.find('=');
    auto value = param(params, cond.substr(0, eq));
    return value && eq != std::string::npos && *value == cond.substr(eq + 1);
}

void finish_build(fake_jenkins::state& s, build_run& b, fake_result result,
                  const std::string& error) {
    for (std::size_t k = b.stages.size(); k < b.plan.size(); ++k) {
        stage_run skipped;
        skipped.id = stage_id(k);
        skipped.name = b.plan[k].name;
        skipped.status = stage_status::not_executed;
        skipped.start_ms = skipped.end_ms = now_ms();
        skipped.log = fmt::format("Stage \"{}\" skipped due to earlier failure(s)\n", skipped.name);
        b.console += stage_open(skipped.name) + skipped.log + std::string(stage_close);
        b.stages.push_back(std::move(skipped));
    }
    b.console += console_footer(error, result);
    b.end_ms = now_ms();
    b.result = result;
    b.input.reset();
    s.log().info(
        "fake_jenkins_build_finished",
        {{"job", b.job}, {"build", b.number}, {"result", std::string(result_name(result))}});
    wake_queue_of(s, b.job);
}

asio::awaitable<void> run_build(std::shared_ptr<fake_jenkins::state> st, build_run& b) {
    auto& s = *st;
    const std::string& user = s.options.user;
    b.console = console_header(user, b.job);
    for (std::size_t k = 0; k < b.plan.size(); ++k) {
        const auto& def = b.plan[k];
        stage_run stage;
        stage.id = stage_id(k);
        stage.name = def.name;
        stage.start_ms = now_ms();
        b.console += stage_open(def.name);
        b.stages.push_back(stage);
        auto current = [&b]() -> stage_run& { return b.stages.back(); };

        if (input_applies(def, b.params)) {
            fake_input input = *def.input;
            input.id = normalize_input_id(input);
            b.console +=
                fmt::format("[Pipeline] input\n{}\n{} or Abort\n", input.message, input.ok);
            b.input = input;
            b.input_since_ms = now_ms();
            b.answer = input_answer::none;
            current().status = stage_status::paused;
            s.log().info("fake_jenkins_input_pending",
                         {{"job", b.job}, {"build", b.number}, {"input", input.id}});
            while (!s.closed && !b.stop_requested && b.answer == input_answer::none) {
                b.wake.expires_at(steady::time_point::max());
                co_await b.wake.async_wait(use_tuple);
            }
            if (s.closed) {
                co_return;
            }
            current().pause_ms = now_ms() - b.input_since_ms;
            b.input.reset();
            if (b.answer == input_answer::proceed && !b.stop_requested) {
                b.console += fmt::format("Approved by {}\n", user);
                current().status = stage_status::in_progress;
            } else {
                b.console += b.stop_requested ? fmt::format("Aborted by {}\n", user)
                                              : fmt::format("Rejected by {}\n", user);
                current().status = stage_status::aborted;
                current().end_ms = now_ms();
                b.console += std::string(stage_close);
                finish_build(s, b, fake_result::aborted, {});
                co_return;
            }
        }

        auto lines = def.log.empty() ? default_stage_log(def.name) : def.log;
        bool failing = def.name == b.failing_stage;
        failure_script failure;
        auto duration = s.scaled(def.duration);
        if (failing) {
            failure = stage_failure(def.name, lines.size());
            lines.resize(std::min(lines.size(), failure.keep));
            lines.insert(lines.end(), failure.lines.begin(), failure.lines.end());
            duration /= 2;  // failures tend to come before the stage's usual end
        }
        if (lines.empty()) {
            lines.push_back("+ true");
        }
        auto start = steady::now();
        auto step = duration / static_cast<long>(lines.size());
        for (std::size_t n = 0; n < lines.size() && !b.stop_requested && !s.closed; ++n) {
            if (n > 0) {
                co_await nap(s, b, start + step * static_cast<long>(n));
                if (b.stop_requested || s.closed) {
                    break;
                }
            }
            auto line = substitute(lines[n], b.params, b.job);
            if (current().command.empty() && line.rfind("+ ", 0) == 0) {
                current().command = line.substr(2);
            }
            log_line(b, current(), line);
            if (n == 0 && !failing && def.name == s.options.deploy_stage && s.deploy_hook) {
                s.log().info("fake_jenkins_deploy", {{"job", b.job}, {"build", b.number}});
                s.deploy_hook(fake_deploy{b.job, b.number, param_map(b.params)});
            }
        }
        co_await nap(s, b, start + duration);
        if (s.closed) {
            co_return;
        }
        current().end_ms = now_ms();
        if (b.stop_requested) {
            b.console += fmt::format("Aborted by {}\n", user);
            current().status = stage_status::aborted;
            b.console += std::string(stage_close);
            finish_build(s, b, fake_result::aborted, {});
            co_return;
        }
        if (failing) {
            auto error = fmt::format("script returned exit code {}", failure.exit_code);
            current().status = stage_status::failed;
            current().error = error;
            b.console += std::string(stage_close);
            finish_build(s, b, fake_result::failure, error);
            co_return;
        }
        current().status = stage_status::success;
        b.console += std::string(stage_close);
    }
    finish_build(s, b, fake_result::success, {});
}

// Waits until `deadline`, or less when the item is cancelled or the fake shuts down.
asio::awaitable<void> item_nap(const fake_jenkins::state& s, queue_item& item,
                               steady::time_point deadline) {
    while (!s.closed && !item.cancelled && steady::now() < deadline) {
        item.wake.expires_at(deadline);
        co_await item.wake.async_wait(use_tuple);
    }
}

asio::awaitable<void> run_queue_item(std::shared_ptr<fake_jenkins::state> st, int id) {
    auto& s = *st;
    auto& item = *s.queue.at(id);
    auto quiet = item.buildable_ms - item.since_ms;
    if (quiet > 0) {
        co_await item_nap(s, item, steady::now() + milliseconds(quiet));
    }
    if (s.closed || item.cancelled) {
        co_return;
    }
    item.phase = queue_phase::buildable;
    item.buildable_ms = now_ms();
    auto* job = &s.jobs.find(item.job)->second;
    co_await item_nap(s, item, steady::now() + s.scaled(job->def.queue_delay));
    while (!s.closed && !item.cancelled && !job->def.concurrent && running_build(*job)) {
        auto* blocking = running_build(*job);
        auto estimate = estimated_duration(*job);
        auto elapsed = now_ms() - blocking->start_ms;
        item.phase = queue_phase::blocked;
        item.why = fmt::format(
            "Build #{} is already in progress (ETA:{})", blocking->number,
            estimate < 0
                ? std::string("N/A")
                : fmt::format("{} sec", std::max<std::int64_t>(0, estimate - elapsed) / 1000));
        item.wake.expires_at(steady::time_point::max());
        co_await item.wake.async_wait(use_tuple);
    }
    if (s.closed || item.cancelled) {
        co_return;
    }
    auto build = std::make_unique<build_run>(s.executor);
    build->job = item.job;
    build->number = job->next_number++;
    build->queue_id = item.id;
    build->params = item.params;
    build->queued_ms = item.since_ms;
    build->start_ms = now_ms();
    build->plan = job->def.stages;
    build->failing_stage = failing_stage_for(*job, item.params);
    auto& b = *job->builds.emplace_back(std::move(build));
    ++job->started;
    item.phase = queue_phase::left;
    item.left_at = steady::now();
    item.build_number = b.number;
    item.why.clear();
    s.log().info("fake_jenkins_build_started",
                 {{"job", b.job}, {"build", b.number}, {"queue_id", item.id}});
    co_await run_build(st, b);
}

void spawn(const std::shared_ptr<fake_jenkins::state>& st, asio::awaitable<void> task) {
    std::weak_ptr<fake_jenkins::state> weak = st;
    asio::co_spawn(st->executor, std::move(task), [weak](const std::exception_ptr& e) {
        if (!e) {
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            if (auto s = weak.lock()) {
                s->log().error("fake_jenkins_simulation_failed", {{"error", ex.what()}});
            }
        }
    });
}

}  // namespace

// ---- request handling ----

namespace jenkins_detail {

std::optional<std::string> api::session_cookie() const {
    auto header = ctx_.header("Cookie");
    if (!header) {
        return std::nullopt;
    }
    std::string_view rest = *header;
    while (!rest.empty()) {
        auto semi = rest.find(';');
        auto part = rest.substr(0, semi);
        rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
        while (!part.empty() && part.front() == ' ') {
            part.remove_prefix(1);
        }
        auto eq = part.find('=');
        if (eq != std::string_view::npos && part.substr(0, eq) == s_.cookie_name) {
            return std::string(part.substr(eq + 1));
        }
    }
    return std::nullopt;
}

// Query parameters and, for form posts, body fields; the body wins.
std::map<std::string, std::string> api::submitted() const {
    std::map<std::string, std::string> out;
    const auto& target = ctx_.target();
    if (auto q = target.find('?'); q != std::string::npos) {
        for (auto& [k, v] : parse_form(std::string_view(target).substr(q + 1))) {
            out.emplace(std::move(k), std::move(v));
        }
    }
    auto type = ctx_.header("Content-Type").value_or("");
    if (type.find("multipart/") == std::string::npos && type.find("json") == std::string::npos) {
        for (auto& [k, v] : parse_form(ctx_.body())) {
            out[k] = std::move(v);
        }
    }
    return out;
}

std::optional<reply> api::check_auth() {
    auto header = ctx_.header("Authorization");
    constexpr std::string_view basic = "Basic ";
    if (!header || header->size() < basic.size() ||
        !std::equal(basic.begin(), basic.end(), header->begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
        })) {
        // Anonymous: Jenkins with anonymous read off answers 403 and points at the login page.
        std::string body = fmt::format(
            "<html><head><meta http-equiv='refresh' content='1;url=/login?from={0}'/>"
            "<script>window.location.replace('/login?from={0}');</script></head><body "
            "style='background-color:white; color:white;'>\n\nAuthentication required\n"
            "<!--\n-->\n\n</body></html>\n",
            encode_segment(uri_));
        return reply{403,
                     std::move(body),
                     {{"Content-Type", "text/html;charset=utf-8"},
                      {"X-You-Are-Authenticated-As", "anonymous"},
                      {"X-You-Are-In-Group-Disabled",
                       "JENKINS-39402: use -Dhudson.security."
                       "AccessDeniedException2.REPORT_GROUP_"
                       "HEADERS=true or use /whoAmI to diagnose"},
                      {"X-Required-Permission", "hudson.model.Hudson.Read"},
                      {"X-Permission-Implied-By", "hudson.security.Permission.GenericRead"},
                      {"X-Permission-Implied-By", "hudson.model.Hudson.Administer"}}};
    }
    auto decoded = base64_decode(std::string_view(*header).substr(basic.size()));
    std::string user;
    if (decoded) {
        user = decoded->substr(0, decoded->find(':'));
    }
    if (!decoded || *decoded != s_.options.user + ":" + s_.options.api_token) {
        auto r = error_reply(401, "Invalid password/token for user: " + user, uri_);
        r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"Jenkins\"");
        return r;
    }
    return std::nullopt;
}

std::optional<reply> api::check_crumb() {
    // The fake knows one credential, an API token, so token_exempt means no checks at all.
    if (s_.options.csrf != csrf_mode::enforced) {
        return std::nullopt;
    }
    auto crumb = ctx_.header("Jenkins-Crumb");
    if (!crumb) {
        auto form = submitted();
        if (auto it = form.find("Jenkins-Crumb"); it != form.end()) {
            crumb = it->second;
        }
    }
    auto session = session_cookie();
    if (crumb && session) {
        auto it = s_.sessions.find(*session);
        if (it != s_.sessions.end() && it->second == *crumb) {
            return std::nullopt;
        }
    }
    s_.log().debug("fake_jenkins_crumb_rejected", {{"path", ctx_.path()},
                                                   {"sent_field", crumb.has_value()},
                                                   {"sent_session", session.has_value()}});
    return error_reply(403, "No valid crumb was included in the request", uri_);
}

reply api::crumb_issuer() {
    if (s_.options.csrf == csrf_mode::disabled) {
        return not_found(uri_);
    }
    http_headers headers;
    auto session = session_cookie();
    if (!session || !s_.sessions.contains(*session)) {
        session = "node0" + random_hex(s_.rng, 26) + ".node0";
        s_.sessions[*session] = random_hex(s_.rng, 64);
        headers.emplace_back(
            "Set-Cookie",
            fmt::format("{}={}; Path={}; {}HttpOnly", s_.cookie_name, *session,
                        s_.options.context_path.empty() ? "/" : s_.options.context_path,
                        s_.tls ? "Secure; " : ""));
    }
    json j = {{"_class", "hudson.security.csrf.DefaultCrumbIssuer"},
              {"crumb", s_.sessions[*session]},
              {"crumbRequestField", "Jenkins-Crumb"}};
    auto r = shaped(j, ctx_);
    r.headers.insert(r.headers.end(), headers.begin(), headers.end());
    return r;
}

json api::children(const std::string& folder) const {
    json out = json::array();
    std::set<std::string> seen;
    std::string prefix = folder.empty() ? "" : folder + "/";
    for (const auto& [full, job] : s_.jobs) {
        if (full.compare(0, prefix.size(), prefix) != 0) {
            continue;
        }
        auto rest = full.substr(prefix.size());
        auto slash = rest.find('/');
        auto name = rest.substr(0, slash);
        if (!seen.insert(name).second) {
            continue;
        }
        if (slash == std::string::npos) {
            out.push_back({{"_class", "org.jenkinsci.plugins.workflow.job.WorkflowJob"},
                           {"name", name},
                           {"url", job_url(full)},
                           {"color", color_of(job)}});
        } else {
            out.push_back({{"_class", "com.cloudbees.hudson.plugins.folder.Folder"},
                           {"name", name},
                           {"url", job_url(prefix + name)}});
        }
    }
    return out;
}

reply api::root_json() {
    json j = {{"_class", "hudson.model.Hudson"},
              {"assignedLabels", json::array({{{"name", "built-in"}}})},
              {"mode", "NORMAL"},
              {"nodeDescription", "the Jenkins controller's built-in node"},
              {"nodeName", ""},
              {"numExecutors", 2},
              {"description", nullptr},
              {"jobs", children("")},
              {"quietingDown", false},
              {"url", root()},
              {"useCrumbs", s_.options.csrf != csrf_mode::disabled},
              {"useSecurity", true}};
    return shaped(j, ctx_);
}

reply api::folder_json(const std::string& folder) {
    json j = {{"_class", "com.cloudbees.hudson.plugins.folder.Folder"},
              {"actions", json::array({json::object()})},
              {"description", nullptr},
              {"displayName", short_name(folder)},
              {"displayNameOrNull", nullptr},
              {"fullDisplayName", display_name(folder)},
              {"fullName", folder},
              {"name", short_name(folder)},
              {"url", job_url(folder)},
              {"healthReport", json::array()},
              {"jobs", children(folder)}};
    return shaped(j, ctx_);
}

json api::parameter_definition(const fake_parameter& p) const {
    std::string def = p.default_value;
    if (p.type == fake_parameter::kind::choice && def.empty() && !p.choices.empty()) {
        def = p.choices.front();
    }
    switch (p.type) {
        case fake_parameter::kind::boolean:
            return {{"_class", "hudson.model.BooleanParameterDefinition"},
                    {"defaultParameterValue",
                     {{"_class", "hudson.model.BooleanParameterValue"},
                      {"name", p.name},
                      {"value", def == "true"}}},
                    {"description", p.description},
                    {"name", p.name},
                    {"type", "BooleanParameterDefinition"}};
        case fake_parameter::kind::choice:
            return {{"_class", "hudson.model.ChoiceParameterDefinition"},
                    {"defaultParameterValue",
                     {{"_class", "hudson.model.StringParameterValue"},
                      {"name", p.name},
                      {"value", def}}},
                    {"description", p.description},
                    {"name", p.name},
                    {"type", "ChoiceParameterDefinition"},
                    {"choices", p.choices}};
        case fake_parameter::kind::string: break;
    }
    return {{"_class", "hudson.model.StringParameterDefinition"},
            {"defaultParameterValue",
             {{"_class", "hudson.model.StringParameterValue"}, {"name", p.name}, {"value", def}}},
            {"description", p.description},
            {"name", p.name},
            {"type", "StringParameterDefinition"},
            {"trim", false}};
}

json api::parameters_action(const std::vector<param_value>& params) const {
    json values = json::array();
    for (const auto& p : params) {
        if (p.type == fake_parameter::kind::boolean) {
            values.push_back({{"_class", "hudson.model.BooleanParameterValue"},
                              {"name", p.name},
                              {"value", p.value == "true"}});
        } else {
            values.push_back({{"_class", "hudson.model.StringParameterValue"},
                              {"name", p.name},
                              {"value", p.value}});
        }
    }
    return {{"_class", "hudson.model.ParametersAction"}, {"parameters", values}};
}

json api::build_ref(const build_run* b) const {
    if (!b) {
        return nullptr;
    }
    return {{"_class", "org.jenkinsci.plugins.workflow.job.WorkflowRun"},
            {"number", b->number},
            {"url", build_url(*b)}};
}

json api::queue_json(const queue_item& item) const {
    static constexpr std::string_view classes[] = {
        "hudson.model.Queue$WaitingItem", "hudson.model.Queue$BuildableItem",
        "hudson.model.Queue$BlockedItem", "hudson.model.Queue$LeftItem"};
    const auto& job = s_.jobs.find(item.job)->second;
    json actions = json::array();
    if (!job.def.parameters.empty()) {
        actions.push_back(parameters_action(item.params));
    }
    actions.push_back(
        {{"_class", "hudson.model.CauseAction"},
         {"causes", json::array({{{"_class", "hudson.model.Cause$UserIdCause"},
                                  {"shortDescription", "Started by user " + s_.options.user},
                                  {"userId", s_.options.user},
                                  {"userName", s_.options.user}}})}});
    json why = nullptr;
    switch (item.phase) {
        case queue_phase::waiting:
            why = fmt::format(
                "In the quiet period. Expires in {:.1f} sec",
                static_cast<double>(std::max<std::int64_t>(0, item.buildable_ms - now_ms())) /
                    1000.0);
            break;
        case queue_phase::buildable: why = "Waiting for next available executor"; break;
        case queue_phase::blocked: why = item.why; break;
        case queue_phase::left: break;
    }
    json j = {{"_class", classes[static_cast<int>(item.phase)]},
              {"actions", actions},
              {"blocked", item.phase == queue_phase::blocked},
              {"buildable", item.phase == queue_phase::buildable},
              {"id", item.id},
              {"inQueueSince", item.since_ms},
              {"params", params_text(item.params)},
              {"stuck", false},
              {"task",
               {{"_class", "org.jenkinsci.plugins.workflow.job.WorkflowJob"},
                {"name", short_name(item.job)},
                {"url", job_url(item.job)},
                {"color", color_of(job)}}},
              {"url", fmt::format("queue/item/{}/", item.id)},
              {"why", why}};
    switch (item.phase) {
        case queue_phase::waiting: j["timestamp"] = item.buildable_ms; break;
        case queue_phase::buildable:
            j["buildableStartMilliseconds"] = item.buildable_ms;
            j["pending"] = false;
            break;
        case queue_phase::blocked: j["buildableStartMilliseconds"] = item.buildable_ms; break;
        case queue_phase::left: {
            j["cancelled"] = item.cancelled;
            const build_run* b = nullptr;
            for (const auto& candidate : job.builds) {
                if (candidate->number == item.build_number && !item.cancelled) {
                    b = candidate.get();
                }
            }
            j["executable"] = build_ref(b);
            break;
        }
    }
    return j;
}

json api::job_json(const job_entry& job) const {
    const auto& full = job.def.full_name;
    json builds = json::array();
    for (auto it = job.builds.rbegin(); it != job.builds.rend(); ++it) {
        builds.push_back(build_ref(it->get()));
    }
    json properties = json::array();
    json actions = json::array();
    if (!job.def.parameters.empty()) {
        json defs = json::array();
        for (const auto& p : job.def.parameters) {
            defs.push_back(parameter_definition(p));
        }
        json prop = {{"_class", "hudson.model.ParametersDefinitionProperty"},
                     {"parameterDefinitions", defs}};
        actions.push_back(prop);
        properties.push_back(prop);
    }
    actions.push_back(json::object());
    if (!job.def.concurrent) {
        properties.push_back(
            {{"_class",
              "org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty"}});
    }
    const queue_item* queued = nullptr;
    for (const auto& [id, item] : s_.queue) {
        if (item->job == full && item->phase != queue_phase::left) {
            queued = item.get();
            break;
        }
    }
    return {{"_class", "org.jenkinsci.plugins.workflow.job.WorkflowJob"},
            {"actions", actions},
            {"description", ""},
            {"displayName", short_name(full)},
            {"displayNameOrNull", nullptr},
            {"fullDisplayName", display_name(full)},
            {"fullName", full},
            {"name", short_name(full)},
            {"url", job_url(full)},
            {"buildable", !job.def.disabled},
            {"builds", builds},
            {"color", color_of(job)},
            {"firstBuild", build_ref(resolve_build(job, "firstBuild"))},
            {"healthReport", json::array()},
            {"inQueue", queued != nullptr},
            {"keepDependencies", false},
            {"lastBuild", build_ref(resolve_build(job, "lastBuild"))},
            {"lastCompletedBuild", build_ref(resolve_build(job, "lastCompletedBuild"))},
            {"lastFailedBuild", build_ref(resolve_build(job, "lastFailedBuild"))},
            {"lastStableBuild", build_ref(resolve_build(job, "lastStableBuild"))},
            {"lastSuccessfulBuild", build_ref(resolve_build(job, "lastSuccessfulBuild"))},
            {"lastUnstableBuild", build_ref(resolve_build(job, "lastUnstableBuild"))},
            {"lastUnsuccessfulBuild", build_ref(resolve_build(job, "lastUnsuccessfulBuild"))},
            {"nextBuildNumber", job.next_number},
            {"property", properties},
            {"queueItem", queued ? queue_json(*queued) : json(nullptr)},
            {"concurrentBuild", job.def.concurrent},
            {"resumeBlocked", false}};
}

json api::build_json(const job_entry& job, const build_run& b) const {
    json actions = json::array();
    actions.push_back(
        {{"_class", "hudson.model.CauseAction"},
         {"causes", json::array({{{"_class", "hudson.model.Cause$UserIdCause"},
                                  {"shortDescription", "Started by user " + s_.options.user},
                                  {"userId", s_.options.user},
                                  {"userName", s_.options.user}}})}});
    if (!job.def.parameters.empty() || !b.params.empty()) {
        actions.push_back(parameters_action(b.params));
    }
    actions.push_back(json::object());
    actions.push_back({{"_class", "org.jenkinsci.plugins.workflow.job.views.FlowGraphAction"}});
    if (b.input) {
        actions.push_back(
            {{"_class", "org.jenkinsci.plugins.workflow.support.steps.input.InputAction"}});
    }
    actions.push_back(json::object());
    const build_run* previous = nullptr;
    const build_run* next = nullptr;
    for (std::size_t k = 0; k < job.builds.size(); ++k) {
        if (job.builds[k].get() == &b) {
            previous = k > 0 ? job.builds[k - 1].get() : nullptr;
            next = k + 1 < job.builds.size() ? job.builds[k + 1].get() : nullptr;
        }
    }
    return {{"_class", "org.jenkinsci.plugins.workflow.job.WorkflowRun"},
            {"actions", actions},
            {"artifacts", json::array()},
            {"building", b.building()},
            {"description", nullptr},
            {"displayName", fmt::format("#{}", b.number)},
            {"duration", b.building() ? 0 : b.end_ms - b.start_ms},
            {"estimatedDuration", estimated_duration(job)},
            {"executor",
             b.building() ? json{{"_class", "hudson.model.OneOffExecutor"}} : json(nullptr)},
            {"fullDisplayName", fmt::format("{} #{}", display_name(b.job), b.number)},
            {"id", std::to_string(b.number)},
            {"keepLog", false},
            {"number", b.number},
            {"queueId", b.queue_id},
            {"result", b.result ? json(std::string(result_name(*b.result))) : json(nullptr)},
            {"timestamp", b.start_ms},
            {"url", build_url(b)},
            {"changeSets", json::array()},
            {"culprits", json::array()},
            {"inProgress", b.building()},
            {"nextBuild", build_ref(next)},
            {"previousBuild", build_ref(previous)}};
}

json api::stage_json(const build_run& b, const stage_run& s) const {
    auto end = s.end_ms ? s.end_ms : now_ms();
    auto pause = s.pause_ms;
    if (s.status == stage_status::paused) {
        pause = now_ms() - b.input_since_ms;
    }
    json j = {
        {"_links",
         {{"self",
           {{"href", fmt::format("{}execution/node/{}/wfapi/describe", build_path(b), s.id)}}}}},
        {"id", s.id},
        {"name", s.name},
        {"execNode", ""},
        {"status", stage_status_name(s.status)},
        {"startTimeMillis", s.start_ms},
        {"durationMillis", end - s.start_ms},
        {"pauseDurationMillis", pause}};
    if (!s.error.empty()) {
        j["error"] = {{"message", s.error}, {"type", "hudson.AbortException"}};
    }
    return j;
}

json api::run_json(const build_run& b) const {
    json links = {{"self", {{"href", build_path(b) + "wfapi/describe"}}}};
    if (b.input) {
        links["pendingInputActions"] = {{"href", build_path(b) + "wfapi/pendingInputActions"}};
    }
    json stages = json::array();
    std::int64_t pause = 0;
    for (const auto& s : b.stages) {
        auto j = stage_json(b, s);
        pause += j["pauseDurationMillis"].get<std::int64_t>();
        stages.push_back(std::move(j));
    }
    auto end = b.building() ? now_ms() : b.end_ms;
    return {{"_links", links},
            {"id", std::to_string(b.number)},
            {"name", fmt::format("#{}", b.number)},
            {"status", run_status(b)},
            {"startTimeMillis", b.start_ms},
            {"endTimeMillis", end},
            {"durationMillis", end - b.start_ms},
            {"queueDurationMillis", b.start_ms - b.queued_ms},
            {"pauseDurationMillis", pause},
            {"stages", stages}};
}

json api::pending_inputs(const build_run& b) const {
    json out = json::array();
    if (!b.input) {
        return out;
    }
    const auto& in = *b.input;
    json inputs = json::array();
    for (const auto& p : in.parameters) {
        auto def = parameter_definition(p);
        json definition = {{"defaultVal", def["defaultParameterValue"]["value"]}};
        if (p.type == fake_parameter::kind::choice) {
            definition["choices"] = p.choices;
        }
        inputs.push_back({{"name", p.name},
                          {"type", def["type"]},
                          {"description", p.description},
                          {"definition", definition}});
    }
    auto base = build_path(b);
    out.push_back({{"id", in.id},
                   {"proceedText", in.ok},
                   {"message", in.message},
                   {"inputs", inputs},
                   {"proceedUrl", base + "wfapi/inputSubmit?inputId=" + in.id},
                   {"abortUrl", base + "input/" + in.id + "/abort"},
                   {"redirectApprovalUrl", base + "input/"}});
    return out;
}

reply api::trigger(job_entry& job, bool with_parameters) {
    if (!is_post()) {
        return requires_post();
    }
    const auto& def = job.def;
    if (def.disabled) {
        return error_reply(409, fmt::format("{} is disabled", def.full_name), uri_);
    }
    auto form = submitted();
    std::map<std::string, std::string> given;
    if (with_parameters) {
        if (def.parameters.empty()) {
            return error_reply(500, "This build is not parameterized!", uri_);
        }
        given = form;
    } else if (!def.parameters.empty()) {
        auto it = form.find("json");
        if (it == form.end()) {
            return error_reply(400, "This page expects a form submission", uri_);
        }
        auto parsed = json::parse(it->second, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object()) {
            return error_reply(400, "Failed to parse the json form field", uri_);
        }
        auto list = parsed.value("parameter", json::array());
        if (list.is_object()) {
            list = json::array({list});
        }
        for (const auto& p : list) {
            if (p.is_object() && p.contains("name") && p.contains("value")) {
                given[p["name"].get<std::string>()] =
                    p["value"].is_string() ? p["value"].get<std::string>() : p["value"].dump();
            }
        }
    }
    std::vector<param_value> values;
    for (const auto& p : def.parameters) {
        auto it = given.find(p.name);
        param_value v{p.name, p.default_value, p.type};
        if (p.type == fake_parameter::kind::choice && v.value.empty() && !p.choices.empty()) {
            v.value = p.choices.front();
        }
        if (it != given.end()) {
            v.value = it->second;
        }
        if (p.type == fake_parameter::kind::boolean) {
            v.value = (v.value == "true" || v.value == "on") ? "true" : "false";
        }
        if (p.type == fake_parameter::kind::choice &&
            std::find(p.choices.begin(), p.choices.end(), v.value) == p.choices.end()) {
            return error_reply(
                500, fmt::format("Illegal choice for parameter {}: {}", p.name, v.value), uri_);
        }
        values.push_back(std::move(v));
    }
    ++job.triggers;
    // Jenkins merges a request into an equivalent item still waiting in the queue.
    for (const auto& [id, item] : s_.queue) {
        if (item->job == def.full_name && item->phase != queue_phase::left &&
            item->params == values) {
            s_.log().info("fake_jenkins_trigger_merged",
                          {{"job", def.full_name}, {"queue_id", id}});
            return redirect(303, fmt::format("{}queue/item/{}/", root(), id));
        }
    }
    std::int64_t quiet_ms = 0;
    if (auto it = form.find("delay"); it != form.end()) {
        quiet_ms = to_ms(s_.scaled(
            milliseconds(1000 * std::strtoll(it->second.c_str(), nullptr, 10))));  // "5sec" → 5 s
    }
    auto item = std::make_unique<queue_item>(s_.executor);
    item->id = s_.next_queue_id++;
    item->job = def.full_name;
    item->params = std::move(values);
    item->since_ms = now_ms();
    item->buildable_ms = item->since_ms + std::max<std::int64_t>(0, quiet_ms);
    item->phase = quiet_ms > 0 ? queue_phase::waiting : queue_phase::buildable;
    int id = item->id;
    s_.queue.emplace(id, std::move(item));
    s_.log().info("fake_jenkins_queued", {{"job", def.full_name}, {"queue_id", id}});
    spawn(st_, run_queue_item(st_, id));
    return redirect(201, fmt::format("{}queue/item/{}/", root(), id));
}

reply api::input_route(build_run& b, const std::string& id, const std::string& action) {
    if (!is_post()) {
        return requires_post();
    }
    if (!b.input || b.input->id != id) {
        return not_found(uri_);
    }
    const auto& in = *b.input;
    if (!in.submitter.empty()) {
        bool allowed = false;
        std::string_view list = in.submitter;
        while (!list.empty()) {
            auto comma = list.find(',');
            auto name = list.substr(0, comma);
            while (!name.empty() && name.front() == ' ') {
                name.remove_prefix(1);
            }
            while (!name.empty() && name.back() == ' ') {
                name.remove_suffix(1);
            }
            allowed = allowed || name == s_.options.user;
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        }
        if (!allowed) {
            return error_reply(403, fmt::format("You need to be {} to submit this.", in.submitter),
                               uri_);
        }
    }
    auto form = submitted();
    bool proceed = action == "proceedEmpty" || action == "proceed" || action == "inputSubmit" ||
                   (action == "submit" && form.contains("proceed"));
    if (proceed && action != "proceedEmpty") {
        if (auto it = form.find("json"); it != form.end()) {
            auto parsed = json::parse(it->second, nullptr, false);
            auto list =
                parsed.is_object() ? parsed.value("parameter", json::array()) : json::array();
            if (list.is_object()) {
                list = json::array({list});
            }
            for (const auto& p : list) {
                if (!p.is_object() || !p.contains("name")) {
                    continue;
                }
                auto name = p["name"].get<std::string>();
                bool known = std::any_of(in.parameters.begin(), in.parameters.end(),
                                         [&](const fake_parameter& d) { return d.name == name; });
                if (!known) {
                    return error_reply(400, "No such parameter definition: " + name, uri_);
                }
                auto value = p.value("value", json(""));
                b.input_values[name] = value.is_string() ? value.get<std::string>() : value.dump();
            }
        }
    }
    b.answer = proceed ? input_answer::proceed : input_answer::abort;
    s_.log().info("fake_jenkins_input_answered",
                  {{"job", b.job}, {"build", b.number}, {"proceed", proceed}});
    b.wake.cancel();
    return {200, {}, {{"Content-Type", std::string(text_type)}}};
}

reply api::stop_build(build_run& b) {
    if (!is_post()) {
        return requires_post();
    }
    if (b.building() && !b.stop_requested) {
        b.stop_requested = true;
        s_.log().info("fake_jenkins_stop_requested", {{"job", b.job}, {"build", b.number}});
        b.wake.cancel();
    }
    return redirect(302, build_url(b));
}

reply api::build_route(job_entry& job, build_run& b, std::span<const std::string> rest) {
    auto is = [&](std::initializer_list<std::string_view> want) {
        return rest.size() == want.size() && std::equal(want.begin(), want.end(), rest.begin());
    };
    if (rest.empty()) {
        return {200,
                fmt::format("<html><body><h1>{} #{}</h1></body></html>\n", b.job, b.number),
                {{"Content-Type", "text/html;charset=utf-8"}}};
    }
    if (is({"api", "json"})) {
        return shaped(build_json(job, b), ctx_);
    }
    if (is({"consoleText"})) {
        return text_reply(b.console);
    }
    if (is({"logText", "progressiveText"})) {
        auto start = std::strtoll(ctx_.query("start").value_or("0").c_str(), nullptr, 10);
        auto offset = static_cast<std::size_t>(
            std::clamp<long long>(start, 0, static_cast<long long>(b.console.size())));
        auto r = text_reply(b.console.substr(offset));
        r.headers.emplace_back("X-Text-Size", std::to_string(b.console.size()));
        if (b.building()) {
            r.headers.emplace_back("X-More-Data", "true");
        }
        return r;
    }
    if (is({"wfapi"}) || is({"wfapi", "describe"})) {
        return shaped(run_json(b), ctx_);
    }
    if (is({"wfapi", "pendingInputActions"})) {
        return json_reply(pending_inputs(b));
    }
    if (is({"wfapi", "inputSubmit"})) {
        return input_route(b, ctx_.query("inputId").value_or(""), "inputSubmit");
    }
    if (rest.size() == 3 && rest[0] == "input") {
        return input_route(b, rest[1], rest[2]);
    }
    if (is({"stop"}) || is({"term"}) || is({"kill"})) {
        return stop_build(b);
    }
    if (rest.size() == 5 && rest[0] == "execution" && rest[1] == "node" && rest[3] == "wfapi") {
        // A stage node, or its single step node (stage id + 1).
        for (const auto& s : b.stages) {
            bool stage_node = rest[2] == s.id;
            bool step_node = rest[2] == std::to_string(std::stoi(s.id) + 1);
            if (!stage_node && !step_node) {
                continue;
            }
            auto node_path = fmt::format("{}execution/node/{}/", build_path(b), rest[2]);
            if (rest[4] == "log") {
                bool running =
                    s.status == stage_status::in_progress || s.status == stage_status::paused;
                return json_reply({{"nodeId", rest[2]},
                                   {"nodeStatus", stage_status_name(s.status)},
                                   {"length", s.log.size()},
                                   {"hasMore", running},
                                   {"text", html_escape(s.log)},
                                   {"consoleUrl", node_path + "log"}});
            }
            if (rest[4] == "describe") {
                auto step_id = std::to_string(std::stoi(s.id) + 1);
                auto step = stage_json(b, s);
                step["_links"] = {{"self",
                                   {{"href", fmt::format("{}execution/node/{}/wfapi/describe",
                                                         build_path(b), step_id)}}},
                                  {"log",
                                   {{"href", fmt::format("{}execution/node/{}/wfapi/log",
                                                         build_path(b), step_id)}}}};
                step["id"] = step_id;
                step["name"] = "Shell Script";
                step["parameterDescription"] = s.command;
                step["parentNodes"] = json::array({s.id});
                auto j = stage_json(b, s);
                if (step_node) {
                    return json_reply(step);
                }
                j["stageFlowNodes"] = json::array({step});
                return json_reply(j);
            }
        }
        return not_found(uri_);
    }
    return not_found(uri_);
}

reply api::job_route(job_entry& job, std::span<const std::string> rest) {
    auto is = [&](std::initializer_list<std::string_view> want) {
        return rest.size() == want.size() && std::equal(want.begin(), want.end(), rest.begin());
    };
    if (rest.empty()) {
        return {200,
                fmt::format("<html><body><h1>{}</h1></body></html>\n", job.def.full_name),
                {{"Content-Type", "text/html;charset=utf-8"}}};
    }
    if (is({"api", "json"})) {
        auto j = job_json(job);
        if (ctx_.query("tree")) {
            // With `tree=` Jenkins exports whatever fields of the builds are asked for (e.g.
            // builds[number,actions[parameters[name,value]]]), not just the depth-0 reference.
            json builds = json::array();
            for (auto it = job.builds.rbegin(); it != job.builds.rend(); ++it) {
                builds.push_back(build_json(job, **it));
            }
            j["builds"] = std::move(builds);
        }
        return shaped(j, ctx_);
    }
    if (is({"buildWithParameters"})) {
        return trigger(job, true);
    }
    if (is({"build"})) {
        return trigger(job, false);
    }
    if (is({"disable"}) || is({"enable"})) {
        if (!is_post()) {
            return requires_post();
        }
        job.def.disabled = rest[0] == "disable";
        return redirect(302, job_url(job.def.full_name));
    }
    if (is({"wfapi"}) || is({"wfapi", "describe"})) {
        auto path = s_.options.context_path + "/" + job_rel(job.def.full_name);
        return json_reply({{"_links",
                            {{"self", {{"href", path + "wfapi/describe"}}},
                             {"runs", {{"href", path + "wfapi/runs"}}}}},
                           {"name", short_name(job.def.full_name)},
                           {"runCount", job.builds.size()}});
    }
    if (is({"wfapi", "runs"})) {
        json runs = json::array();
        for (auto it = job.builds.rbegin(); it != job.builds.rend() && runs.size() < 10; ++it) {
            runs.push_back(run_json(**it));
        }
        return json_reply(runs);
    }
    if (auto* b = resolve_build(job, rest[0])) {
        return build_route(job, *b, rest.subspan(1));
    }
    return not_found(uri_);
}

reply api::queue_route(std::span<const std::string> rest) {
    auto is = [&](std::initializer_list<std::string_view> want) {
        return rest.size() == want.size() && std::equal(want.begin(), want.end(), rest.begin());
    };
    if (is({"api", "json"})) {
        json items = json::array();
        for (const auto& [id, item] : s_.queue) {
            if (item->phase != queue_phase::left) {
                items.push_back(queue_json(*item));
            }
        }
        return shaped({{"_class", "hudson.model.Queue"},
                       {"discoverableItems", json::array()},
                       {"items", items}},
                      ctx_);
    }
    if (is({"cancelItem"})) {
        if (!is_post()) {
            return requires_post();
        }
        auto id = std::strtol(ctx_.query("id").value_or("0").c_str(), nullptr, 10);
        auto it = s_.queue.find(static_cast<int>(id));
        if (it == s_.queue.end() || it->second->phase == queue_phase::left) {
            return not_found(uri_);
        }
        auto& item = *it->second;
        item.cancelled = true;
        item.phase = queue_phase::left;
        item.left_at = steady::now();
        item.wake.cancel();
        s_.log().info("fake_jenkins_queue_cancelled", {{"job", item.job}, {"queue_id", item.id}});
        return {204, {}, {}};
    }
    if (rest.size() == 4 && rest[0] == "item" && rest[2] == "api" && rest[3] == "json") {
        auto id = std::strtol(rest[1].c_str(), nullptr, 10);
        auto it = s_.queue.find(static_cast<int>(id));
        if (it == s_.queue.end()) {
            return not_found(uri_);
        }
        const auto& item = *it->second;
        // Jenkins remembers items that left the queue only for a while.
        if (item.phase == queue_phase::left &&
            steady::now() - item.left_at > s_.options.left_item_ttl) {
            return not_found(uri_);
        }
        return shaped(queue_json(item), ctx_);
    }
    return not_found(uri_);
}

reply api::dispatch() {
    uri_ = ctx_.path();
    std::string_view path = uri_;
    const auto& context = s_.options.context_path;
    if (!context.empty()) {
        if (path.compare(0, context.size(), context) != 0 ||
            (path.size() > context.size() && path[context.size()] != '/')) {
            return not_found(uri_);
        }
        path.remove_prefix(context.size());
    }
    std::vector<std::string> segs;
    while (!path.empty()) {
        if (path.front() == '/') {
            path.remove_prefix(1);
            continue;
        }
        auto slash = path.find('/');
        segs.push_back(percent_decode(path.substr(0, slash), false));
        path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
    }
    if (auto denied = check_auth()) {
        return *denied;
    }
    if (is_post()) {
        if (auto denied = check_crumb()) {
            return *denied;
        }
    }
    std::span<const std::string> all(segs);
    auto is = [&](std::initializer_list<std::string_view> want) {
        return segs.size() == want.size() && std::equal(want.begin(), want.end(), segs.begin());
    };
    if (segs.empty()) {
        return {200,
                "<html><body><h1>Dashboard [Jenkins]</h1></body></html>\n",
                {{"Content-Type", "text/html;charset=utf-8"}}};
    }
    if (is({"api", "json"})) {
        return root_json();
    }
    if (is({"crumbIssuer", "api", "json"})) {
        return crumb_issuer();
    }
    if (is({"me", "api", "json"})) {
        return shaped({{"_class", "hudson.model.User"},
                       {"absoluteUrl", root() + "user/" + encode_segment(s_.options.user)},
                       {"description", nullptr},
                       {"fullName", s_.options.user},
                       {"id", s_.options.user},
                       {"property", json::array()}},
                      ctx_);
    }
    if (is({"whoAmI", "api", "json"})) {
        return shaped({{"_class", "hudson.security.WhoAmI"},
                       {"anonymous", false},
                       {"authenticated", true},
                       {"authorities", json::array({"authenticated"})},
                       {"details", nullptr},
                       {"name", s_.options.user}},
                      ctx_);
    }
    if (segs[0] == "queue") {
        return queue_route(all.subspan(1));
    }
    if (segs[0] != "job") {
        return not_found(uri_);
    }
    std::string full;
    std::size_t i = 0;
    while (i + 1 < segs.size() && segs[i] == "job") {
        full += (full.empty() ? "" : "/") + segs[i + 1];
        i += 2;
        if (auto it = s_.jobs.find(full); it != s_.jobs.end()) {
            return job_route(it->second, all.subspan(i));
        }
    }
    if (is_folder(s_, full)) {
        auto rest = all.subspan(i);
        if (rest.empty() || (rest.size() == 2 && rest[0] == "api" && rest[1] == "json")) {
            return folder_json(full);
        }
    }
    return not_found(uri_);
}

}  // namespace jenkins_detail

namespace {

std::optional<int> take_fault(fake_jenkins::state& s, const std::string& path) {
    for (auto it = s.faults.begin(); it != s.faults.end(); ++it) {
        if (path.compare(0, it->prefix.size(), it->prefix) == 0) {
            int status = it->status;
            if (--it->remaining <= 0) {
                s.faults.erase(it);
            }
            return status;
        }
    }
    return std::nullopt;
}

asio::awaitable<void> serve(std::weak_ptr<fake_jenkins::state> weak, request_context& ctx) {
    auto st = weak.lock();
    if (!st) {
        co_await ctx.respond(503, "Jenkins is shutting down\n");
        co_return;
    }
    auto path = ctx.path();
    if (auto status = take_fault(*st, path)) {
        st->log().debug("fake_jenkins_fault", {{"path", path}, {"status", *status}});
        if (*status == 0) {
            ctx.drop();
            co_return;
        }
        auto r = error_reply(*status,
                             *status == 500   ? "Server Error"
                             : *status == 502 ? "Bad Gateway"
                             : *status == 503 ? "Service Unavailable"
                                              : "Injected failure",
                             path);
        r.headers.emplace_back("X-Jenkins", st->options.version);
        co_await ctx.respond(r.status, std::move(r.body), std::move(r.headers));
        co_return;
    }
    milliseconds delay{0};
    for (const auto& [prefix, d] : st->delays) {
        if (path.compare(0, prefix.size(), prefix) == 0) {
            delay = std::max(delay, d);
        }
    }
    if (delay.count() > 0) {
        co_await ctx.sleep(delay);
    }
    reply r = api(st, ctx).dispatch();
    r.headers.emplace_back("X-Jenkins", st->options.version);
    r.headers.emplace_back("X-Jenkins-Session", "5e3f9a1c");
    co_await ctx.respond(r.status, std::move(r.body), std::move(r.headers));
}

core::result<void> listen(const std::shared_ptr<fake_jenkins::state>& st) {
    http_server_options options;
    options.tls = st->tls;
    options.port = st->port;
    options.log = st->options.log;
    auto server = http_server::start(st->executor, std::move(options));
    if (!server) {
        return server.error();
    }
    std::weak_ptr<fake_jenkins::state> weak = st;
    // A weak pointer: the server lives inside the state and must not keep it alive.
    server->route("*", "*", [weak](request_context& ctx) { return serve(weak, ctx); });
    st->port = server->port();
    st->server.emplace(std::move(*server));
    return core::ok();
}

}  // namespace

// ---- public API ----

std::vector<fake_stage> default_pipeline() {
    using std::chrono::seconds;
    return {{"Checkout", seconds{3}, {}, {}},
            {"Build", seconds{30}, {}, {}},
            {"Test", seconds{40}, {}, {}},
            {"Push", seconds{10}, {}, {}},
            {"Deploy", seconds{20}, {}, {}}};
}

core::result<fake_jenkins> fake_jenkins::start(asio::any_io_executor executor,
                                               fake_jenkins_options options) {
    if (!(options.speed > 0)) {
        return core::make_error(core::errc::invalid_argument,
                                fmt::format("fake Jenkins speed must be above 0 (got {}); use 1 "
                                            "for real time or e.g. 20 to run 20 times faster",
                                            options.speed));
    }
    auto& cp = options.context_path;
    while (!cp.empty() && cp.back() == '/') {
        cp.pop_back();
    }
    if (!cp.empty() && cp.front() != '/') {
        cp.insert(cp.begin(), '/');
    }
    auto st = std::make_shared<state>(std::move(executor), std::move(options));
    st->tls = st->options.tls;
    if (!st->tls && !st->options.cert_pem.empty()) {
        auto ctx = make_server_tls_context(st->options.cert_pem, st->options.key_pem);
        if (!ctx) {
            return core::make_error(core::errc::invalid_argument,
                                    "fake Jenkins certificate unusable: " + ctx.error().message);
        }
        st->tls = *ctx;
    }
    st->cookie_name = "JSESSIONID." + random_hex(st->rng, 8);
    if (auto r = listen(st); !r) {
        return r.error();
    }
    st->log().info("fake_jenkins_started", {{"url", st->base_url()}});
    return fake_jenkins(std::move(st));
}

fake_jenkins::fake_jenkins(std::shared_ptr<state> s) : state_(std::move(s)) {}
fake_jenkins::fake_jenkins(fake_jenkins&&) noexcept = default;

fake_jenkins& fake_jenkins::operator=(fake_jenkins&& other) noexcept {
    if (this != &other) {
        shutdown();
        state_ = std::move(other.state_);
    }
    return *this;
}

fake_jenkins::~fake_jenkins() {
    shutdown();
}

void fake_jenkins::shutdown() noexcept {
    if (!state_ || state_->closed) {
        return;
    }
    auto& s = *state_;
    s.closed = true;
    if (s.server) {
        s.server->stop();
    }
    for (auto& [id, item] : s.queue) {
        item->wake.cancel();
    }
    for (auto& [name, job] : s.jobs) {
        for (auto& b : job.builds) {
            b->wake.cancel();
        }
    }
    s.deploy_hook = nullptr;
}

void fake_jenkins::add_job(fake_job job) {
    auto name = job.full_name;
    while (!name.empty() && name.back() == '/') {
        name.pop_back();
    }
    job.full_name = name;
    state_->jobs[name].def = std::move(job);
}

bool fake_jenkins::add_past_build(std::string_view name, fake_past_build past) {
    auto it = state_->jobs.find(name);
    if (it == state_->jobs.end()) {
        return false;
    }
    auto& s = *state_;
    auto& job = it->second;
    auto b = std::make_unique<build_run>(s.executor);
    b->job = job.def.full_name;
    b->number = job.next_number++;
    b->seeded = true;
    for (const auto& p : job.def.parameters) {
        auto given = past.parameters.find(p.name);
        b->params.push_back(
            {p.name, given != past.parameters.end() ? given->second : p.default_value, p.type});
    }
    for (const auto& [k, v] : past.parameters) {
        if (!param(b->params, k)) {
            b->params.push_back({k, v, fake_parameter::kind::string});
        }
    }
    auto duration = to_ms(s.scaled(past.duration));
    std::int64_t end = now_ms() - to_ms(s.scaled(std::chrono::minutes{1}));
    if (past.ended_ago.count() > 0) {
        end = now_ms() - past.ended_ago.count();
    } else {
        // Seeded builds line up one after another, ten minutes apart, the newest ending last.
        b->auto_placed = true;
        auto shift = to_ms(s.scaled(std::chrono::minutes{10})) + duration;
        for (auto& earlier : job.builds) {
            if (!earlier->auto_placed) {
                continue;
            }
            earlier->queued_ms -= shift;
            earlier->start_ms -= shift;
            earlier->end_ms -= shift;
            for (auto& stage : earlier->stages) {
                stage.start_ms -= shift;
                stage.end_ms -= shift;
            }
        }
    }
    b->end_ms = end;
    b->start_ms = end - duration;
    b->queued_ms = b->start_ms - 1000;
    b->plan = job.def.stages;
    b->console = console_header(s.options.user, b->job);
    // Stages share the duration in proportion to their definitions; a failed or aborted build
    // stops at its last stage.
    std::int64_t planned = 0;
    for (const auto& st : b->plan) {
        planned += st.duration.count();
    }
    std::int64_t t = b->start_ms;
    std::string error;
    for (std::size_t k = 0; k < b->plan.size(); ++k) {
        const auto& def = b->plan[k];
        stage_run stage;
        stage.id = stage_id(k);
        stage.name = def.name;
        stage.start_ms = t;
        auto share = planned > 0 ? duration * def.duration.count() / planned
                                 : duration / static_cast<std::int64_t>(b->plan.size());
        t += share;
        stage.end_ms = t;
        bool last = k + 1 == b->plan.size();
        auto lines = def.log.empty() ? default_stage_log(def.name) : def.log;
        stage.status = stage_status::success;
        if (last && past.result == fake_result::failure) {
            auto failure = stage_failure(def.name, lines.size());
            lines.resize(std::min(lines.size(), failure.keep));
            lines.insert(lines.end(), failure.lines.begin(), failure.lines.end());
            stage.status = stage_status::failed;
            error = fmt::format("script returned exit code {}", failure.exit_code);
            stage.error = error;
        } else if (last && past.result == fake_result::aborted) {
            stage.status = stage_status::aborted;
        }
        b->console += stage_open(def.name);
        for (const auto& line : lines) {
            auto text = substitute(line, b->params, b->job);
            if (stage.command.empty() && text.rfind("+ ", 0) == 0) {
                stage.command = text.substr(2);
            }
            log_line(*b, stage, text);
        }
        if (stage.status == stage_status::aborted) {
            b->console += fmt::format("Aborted by {}\n", s.options.user);
        }
        b->console += std::string(stage_close);
        b->stages.push_back(std::move(stage));
    }
    b->console += console_footer(error, past.result);
    b->result = past.result;
    job.builds.push_back(std::move(b));
    return true;
}

void fake_jenkins::on_deploy(std::function<void(const fake_deploy&)> hook) {
    state_->deploy_hook = std::move(hook);
}

std::string fake_jenkins::base_url() const {
    return state_->base_url();
}

std::uint16_t fake_jenkins::port() const noexcept {
    return state_->port;
}

void fake_jenkins::fail_next(int count, int status, std::string path_prefix) {
    if (count > 0) {
        state_->faults.push_back({count, status, std::move(path_prefix)});
    }
}

void fake_jenkins::set_response_delay(milliseconds delay, std::string path_prefix) {
    auto& delays = state_->delays;
    std::erase_if(delays, [&](const auto& d) { return d.first == path_prefix; });
    if (delay.count() > 0) {
        delays.emplace_back(std::move(path_prefix), delay);
    }
}

void fake_jenkins::expire_sessions() {
    state_->sessions.clear();
}

bool fake_jenkins::set_failing_stage(std::string_view job, std::string stage) {
    auto it = state_->jobs.find(job);
    if (it == state_->jobs.end()) {
        return false;
    }
    it->second.def.failing_stage = std::move(stage);
    return true;
}

bool fake_jenkins::set_disabled(std::string_view job, bool disabled) {
    auto it = state_->jobs.find(job);
    if (it == state_->jobs.end()) {
        return false;
    }
    it->second.def.disabled = disabled;
    return true;
}

void fake_jenkins::stop() {
    auto& s = *state_;
    if (!s.server) {
        return;
    }
    s.server->stop();
    const auto& seen = s.server->requests();
    s.earlier_requests.insert(s.earlier_requests.end(), seen.begin(), seen.end());
    s.server.reset();
    s.log().info("fake_jenkins_down", {{"port", s.port}});
}

core::result<void> fake_jenkins::restart() {
    if (state_->server) {
        return core::ok();
    }
    auto r = listen(state_);
    if (r) {
        state_->log().info("fake_jenkins_up", {{"port", state_->port}});
    }
    return r;
}

std::size_t fake_jenkins::trigger_count(std::string_view job) const {
    auto it = state_->jobs.find(job);
    return it == state_->jobs.end() ? 0 : it->second.triggers;
}

std::size_t fake_jenkins::build_count(std::string_view job) const {
    auto it = state_->jobs.find(job);
    return it == state_->jobs.end() ? 0 : it->second.started;
}

namespace {

fake_build_info info_of(const build_run& b) {
    fake_build_info info;
    info.number = b.number;
    info.queue_id = b.queue_id;
    info.seeded = b.seeded;
    info.building = b.building();
    info.result = b.result ? std::string(result_name(*b.result)) : std::string{};
    info.parameters = param_map(b.params);
    for (const auto& s : b.stages) {
        info.stages.emplace_back(s.name, std::string(stage_status_name(s.status)));
    }
    info.console = b.console;
    return info;
}

}  // namespace

std::vector<fake_build_info> fake_jenkins::builds(std::string_view job) const {
    std::vector<fake_build_info> out;
    auto it = state_->jobs.find(job);
    if (it != state_->jobs.end()) {
        for (const auto& b : it->second.builds) {
            out.push_back(info_of(*b));
        }
    }
    return out;
}

std::optional<fake_build_info> fake_jenkins::build(std::string_view job, int number) const {
    auto it = state_->jobs.find(job);
    if (it == state_->jobs.end()) {
        return std::nullopt;
    }
    for (const auto& b : it->second.builds) {
        if (b->number == number) {
            return info_of(*b);
        }
    }
    return std::nullopt;
}

std::vector<recorded_request> fake_jenkins::requests() const {
    auto out = state_->earlier_requests;
    if (state_->server) {
        const auto& now = state_->server->requests();
        out.insert(out.end(), now.begin(), now.end());
    }
    return out;
}

void fake_jenkins::clear_requests() noexcept {
    state_->earlier_requests.clear();
    if (state_->server) {
        state_->server->clear_requests();
    }
}

}  // namespace tugboat::sandbox
