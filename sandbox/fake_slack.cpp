#include "sandbox/fake_slack.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <list>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace tugboat::sandbox {

namespace asio = boost::asio;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Scopes the fake's bot token pretends to have; named in missing_scope answers.
constexpr std::string_view provided_scopes =
    "app_mentions:read,channels:history,channels:read,chat:write,commands,files:write,"
    "groups:read,im:history,im:write,reactions:write,usergroups:read,users:read,"
    "users:read.email";

std::string get_str(const json& j, const char* key) {
    if (!j.is_object()) {
        return {};
    }
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return {};
    }
    if (it->is_string()) {
        return it->get<std::string>();
    }
    return it->dump();
}

bool get_bool(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end()) {
        return false;
    }
    if (it->is_boolean()) {
        return it->get<bool>();
    }
    if (it->is_string()) {
        auto s = it->get<std::string>();
        return s == "true" || s == "1";
    }
    return it->is_number() && it->get<double>() != 0;
}

int get_int(const json& j, const char* key) {
    if (!j.is_object()) {
        return 0;
    }
    auto it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<int>() : 0;
}

bool has(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && !it->is_null();
}

// Slack counts characters, not bytes.
std::size_t utf8_length(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string utf8_truncate(const std::string& s, std::size_t chars) {
    std::size_t seen = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            if (seen == chars) {
                return s.substr(0, i);
            }
            ++seen;
        }
    }
    return s;
}

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

std::string url_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 &&
            hex_digit(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i] == '+' ? ' ' : s[i]);
        }
    }
    return out;
}

void add_query_args(std::string_view target, json& args) {
    auto q = target.find('?');
    if (q == std::string_view::npos) {
        return;
    }
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        auto amp = rest.find('&');
        auto part = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (part.empty()) {
            continue;
        }
        auto eq = part.find('=');
        auto key = url_decode(part.substr(0, eq));
        args[key] = eq == std::string_view::npos ? "" : url_decode(part.substr(eq + 1));
    }
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// The first part's content of a multipart/form-data body; the whole body for anything else.
std::string upload_content(const std::string& body, const std::string& content_type) {
    auto b = lower(content_type).find("boundary=");
    if (lower(content_type).rfind("multipart/", 0) != 0 || b == std::string::npos) {
        return body;
    }
    std::string boundary = content_type.substr(b + 9);
    if (!boundary.empty() && boundary.front() == '"') {
        boundary = boundary.substr(1, boundary.find('"', 1) - 1);
    }
    auto start = body.find("\r\n\r\n");
    if (start == std::string::npos) {
        return body;
    }
    start += 4;
    auto end = body.find("\r\n--" + boundary, start);
    return body.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// Splits "<@U1> deploy <@U2>" into rich_text elements, as Slack's clients send them.
json rich_text_blocks(const std::string& text, std::mt19937_64& rng) {
    json elements = json::array();
    std::size_t i = 0;
    while (i < text.size()) {
        auto at = text.find("<@", i);
        auto close = at == std::string::npos ? std::string::npos : text.find('>', at);
        if (at == std::string::npos || close == std::string::npos) {
            elements.push_back({{"type", "text"}, {"text", text.substr(i)}});
            break;
        }
        if (at > i) {
            elements.push_back({{"type", "text"}, {"text", text.substr(i, at - i)}});
        }
        auto id = text.substr(at + 2, close - at - 2);
        id = id.substr(0, id.find('|'));
        elements.push_back({{"type", "user"}, {"user_id", id}});
        i = close + 1;
    }
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string block_id;
    for (int k = 0; k < 4; ++k) {
        block_id.push_back(alphabet[rng() % (sizeof(alphabet) - 1)]);
    }
    return json::array({{{"type", "rich_text"},
                         {"block_id", block_id},
                         {"elements", json::array({{{"type", "rich_text_section"},
                                                    {"elements", std::move(elements)}}})}}});
}

// ---- Block Kit validation: the structural rules Slack enforces, with its error texts ----

class block_checker {
public:
    explicit block_checker(std::size_t max_blocks) : max_blocks_(max_blocks) {}

    void check(const json& blocks) {
        if (blocks.size() > max_blocks_) {
            fail(fmt::format("no more than {} items allowed", max_blocks_), "/blocks");
        }
        std::set<std::string> block_ids;
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            block(blocks[i], fmt::format("/blocks/{}", i), block_ids);
        }
    }

    std::vector<std::string> errors;
    std::size_t text_chars = 0;

private:
    void fail(std::string_view what, const std::string& ptr) {
        errors.push_back(fmt::format("[ERROR] {} [json-pointer:{}]", what, ptr));
    }

    void text_object(const json& t, const std::string& ptr, std::size_t max, bool plain_only) {
        if (!t.is_object()) {
            fail("must be a text object", ptr);
            return;
        }
        auto type = get_str(t, "type");
        if (type != "plain_text" && type != "mrkdwn") {
            fail("must be one of [plain_text, mrkdwn]", ptr + "/type");
        } else if (plain_only && type != "plain_text") {
            fail("must be plain_text", ptr + "/type");
        }
        auto it = t.find("text");
        if (it == t.end() || !it->is_string()) {
            fail("missing required field: text", ptr);
            return;
        }
        auto n = utf8_length(it->get_ref<const std::string&>());
        if (n == 0) {
            fail("must be more than 0 characters", ptr + "/text");
        } else if (n > max) {
            fail(fmt::format("must be less than {} characters", max + 1), ptr + "/text");
        }
        text_chars += n;
    }

    void optional_length(const json& e, const char* key, std::size_t max, const std::string& ptr) {
        auto v = get_str(e, key);
        if (utf8_length(v) > max) {
            fail(fmt::format("must be less than {} characters", max + 1), ptr + "/" + key);
        }
    }

    void confirm(const json& c, const std::string& ptr) {
        if (!c.is_object()) {
            fail("must be a confirmation dialog object", ptr);
            return;
        }
        text_object(c.value("title", json()), ptr + "/title", 100, true);
        text_object(c.value("text", json()), ptr + "/text", 300, false);
        text_object(c.value("confirm", json()), ptr + "/confirm", 30, true);
        text_object(c.value("deny", json()), ptr + "/deny", 30, true);
    }

    void element(const json& e, const std::string& ptr, std::set<std::string>& action_ids) {
        if (!e.is_object() || !e.contains("type")) {
            fail("missing required field: type", ptr);
            return;
        }
        auto type = get_str(e, "type");
        static const std::set<std::string> known = {"button",
                                                    "static_select",
                                                    "external_select",
                                                    "users_select",
                                                    "conversations_select",
                                                    "channels_select",
                                                    "multi_static_select",
                                                    "multi_users_select",
                                                    "overflow",
                                                    "datepicker",
                                                    "timepicker",
                                                    "checkboxes",
                                                    "radio_buttons",
                                                    "plain_text_input",
                                                    "image",
                                                    "number_input",
                                                    "email_text_input",
                                                    "url_text_input",
                                                    "mrkdwn",
                                                    "plain_text"};
        if (!known.contains(type)) {
            fail(fmt::format("unsupported type: {}", type), ptr + "/type");
            return;
        }
        if (type == "mrkdwn" || type == "plain_text") {
            text_object(e, ptr, 3000, false);
            return;
        }
        auto action_id = get_str(e, "action_id");
        if (utf8_length(action_id) > 255) {
            fail("must be less than 256 characters", ptr + "/action_id");
        }
        if (!action_id.empty() && !action_ids.insert(action_id).second) {
            fail(fmt::format("duplicate action_id: {}", action_id), ptr + "/action_id");
        }
        if (type == "button") {
            text_object(e.value("text", json()), ptr + "/text", 75, true);
            optional_length(e, "value", 2000, ptr);
            optional_length(e, "url", 3000, ptr);
            if (e.contains("style")) {
                auto style = get_str(e, "style");
                if (style != "primary" && style != "danger") {
                    fail("must be one of [primary, danger]", ptr + "/style");
                }
            }
        }
        if (type == "static_select" || type == "multi_static_select" || type == "overflow" ||
            type == "checkboxes" || type == "radio_buttons") {
            auto options = e.value("options", json());
            if (!e.contains("option_groups") &&
                (!options.is_array() || options.empty() || options.size() > 100)) {
                fail("must provide 1 to 100 options", ptr + "/options");
            }
        }
        if (type == "image") {
            if (get_str(e, "image_url").empty() && !e.contains("slack_file")) {
                fail("missing required field: image_url", ptr);
            }
            if (!e.contains("alt_text")) {
                fail("missing required field: alt_text", ptr);
            }
        }
        if (e.contains("confirm")) {
            confirm(e["confirm"], ptr + "/confirm");
        }
    }

    void block(const json& b, const std::string& ptr, std::set<std::string>& block_ids) {
        if (!b.is_object()) {
            fail("must be an object", ptr);
            return;
        }
        if (!b.contains("type") || !b["type"].is_string()) {
            fail("missing required field: type", ptr);
            return;
        }
        auto block_id = get_str(b, "block_id");
        if (utf8_length(block_id) > 255) {
            fail("must be less than 256 characters", ptr + "/block_id");
        }
        if (!block_id.empty() && !block_ids.insert(block_id).second) {
            fail(fmt::format("duplicate block_id: {}", block_id), ptr + "/block_id");
        }
        auto type = get_str(b, "type");
        std::set<std::string> action_ids;
        if (type == "section") {
            bool text = b.contains("text");
            bool fields = b.contains("fields");
            if (!text && !fields) {
                fail("must provide either text or fields", ptr);
            }
            if (text) {
                text_object(b["text"], ptr + "/text", 3000, false);
            }
            if (fields) {
                const auto& f = b["fields"];
                if (!f.is_array() || f.empty() || f.size() > 10) {
                    fail("must provide 1 to 10 fields", ptr + "/fields");
                } else {
                    for (std::size_t i = 0; i < f.size(); ++i) {
                        text_object(f[i], fmt::format("{}/fields/{}", ptr, i), 2000, false);
                    }
                }
            }
            if (b.contains("accessory")) {
                element(b["accessory"], ptr + "/accessory", action_ids);
            }
        } else if (type == "header") {
            text_object(b.value("text", json()), ptr + "/text", 150, true);
        } else if (type == "context" || type == "actions") {
            std::size_t max = type == "context" ? 10 : 25;
            const auto& els = b.value("elements", json());
            if (!els.is_array() || els.empty() || els.size() > max) {
                fail(fmt::format("must provide 1 to {} elements", max), ptr + "/elements");
                return;
            }
            for (std::size_t i = 0; i < els.size(); ++i) {
                element(els[i], fmt::format("{}/elements/{}", ptr, i), action_ids);
            }
        } else if (type == "image") {
            element(b, ptr, action_ids);
        } else if (type == "input") {
            text_object(b.value("label", json()), ptr + "/label", 2000, true);
            if (!b.contains("element")) {
                fail("missing required field: element", ptr);
            } else {
                element(b["element"], ptr + "/element", action_ids);
            }
        } else if (type == "rich_text") {
            if (!b.value("elements", json()).is_array()) {
                fail("missing required field: elements", ptr);
            }
        } else if (type == "markdown") {
            if (get_str(b, "text").empty()) {
                fail("missing required field: text", ptr);
            }
        } else if (type != "divider" && type != "file" && type != "video") {
            fail(fmt::format("unsupported type: {}", type), ptr + "/type");
        }
    }

    std::size_t max_blocks_;
};

// Per-minute allowances of Slack's tiers; -1 marks chat.postMessage's per-channel limit.
struct method_facts {
    int per_minute;
    bool json_body;  // accepts application/json bodies (others read only form/query arguments)
    bool app_token;  // takes the app-level token instead of the bot token
};

const std::unordered_map<std::string_view, method_facts>& method_table() {
    static const std::unordered_map<std::string_view, method_facts> table = {
        {"auth.test", {100, true, false}},
        {"apps.connections.open", {50, true, true}},
        {"chat.postMessage", {-1, true, false}},
        {"chat.update", {50, true, false}},
        {"chat.postEphemeral", {100, true, false}},
        {"chat.delete", {50, true, false}},
        {"reactions.add", {50, true, false}},
        {"views.open", {100, true, false}},
        {"views.update", {100, true, false}},
        {"users.info", {100, false, false}},
        {"users.lookupByEmail", {50, false, false}},
        {"conversations.info", {50, false, false}},
        {"conversations.open", {50, true, false}},
        {"conversations.replies", {50, false, false}},
        {"usergroups.list", {20, false, false}},
        {"usergroups.users.list", {20, false, false}},
        {"files.getUploadURLExternal", {100, false, false}},
        {"files.completeUploadExternal", {100, true, false}},
    };
    return table;
}

enum class injection_kind { ratelimit, status, error, missing_scope, drop };

struct injection {
    std::string method;
    int count;  // -1 = until cleared
    injection_kind kind;
    int number = 0;    // Retry-After seconds or HTTP status
    std::string text;  // error or needed scope
};

// What a Web API handler answers.
struct api_reply {
    int status = 200;
    json body;
    http_headers headers;
    bool drop = false;
    std::string raw;  // non-JSON body (injected 5xx)
};

api_reply fail(std::string error, json extra = json::object()) {
    api_reply r;
    r.body = json{{"ok", false}, {"error", std::move(error)}};
    for (auto& [k, v] : extra.items()) {
        r.body[k] = v;
    }
    return r;
}

api_reply fail_with_messages(std::string error, const std::vector<std::string>& messages) {
    return fail(std::move(error), {{"response_metadata", {{"messages", messages}}}});
}

api_reply ratelimited(int retry_after_s) {
    api_reply r = fail("ratelimited");
    r.status = 429;
    r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
    return r;
}

api_reply success(json body) {
    api_reply r;
    r.body = json{{"ok", true}};
    for (auto& [k, v] : body.items()) {
        r.body[k] = std::move(v);
    }
    return r;
}

}  // namespace

// ---- state ----

namespace {

struct channel_state {
    slack_channel info;
    bool is_im = false;
    std::string im_user;
    std::deque<slack_message> messages;  // in ts order: every ts comes from one increasing source
    double post_tokens = 0;
    steady::time_point post_refill{};
    bool bucket_started = false;
};

// A Socket Mode connection. The route handler that accepted it owns the WebSocket.
struct sm_conn {
    sm_conn(asio::any_io_executor ex, std::size_t id_, websocket_session* ws_)
        : id(id_), ws(ws_), wake(ex, steady::time_point::max()) {}
    std::size_t id;
    websocket_session* ws;  // null once the handler has returned
    std::deque<std::string> out;
    asio::steady_timer wake;  // the writer sleeps on it; cancel() wakes it
    bool gone = false;        // the reader ended: the socket is finished
    bool disconnect_sent = false;
    std::optional<int> close_code;  // the writer closes once its queue is empty
    std::size_t delivered = 0;
    std::size_t acks = 0;
    steady::time_point opened_at = steady::now();
};

struct envelope_extra {
    json doc;          // the envelope as it goes out next (retry fields, id)
    std::string wire;  // doc serialized
    bool tracked = true;
    bool redeliver = false;  // events_api: Slack retries these
    std::string user;
    std::string channel;
    std::string view_id;
};

struct inflight_entry {
    steady::time_point deadline;
    std::size_t index;
    std::size_t deliveries;  // the delivery count this deadline belongs to
};

// What a response_url answers for.
struct response_target {
    std::string channel;
    std::string user;
    std::string message_ts;  // the message whose button was pressed; "" for commands
    bool ephemeral_source = false;
    std::string last_ephemeral_ts;  // the latest ephemeral this URL posted
    int uses = 0;
    steady::time_point created = steady::now();
};

struct trigger_state {
    steady::time_point issued;
    std::string user;  // whose interaction issued it; a modal it opens belongs to them
    bool used = false;
};

}  // namespace

struct fake_slack::state : std::enable_shared_from_this<fake_slack::state> {
    state(asio::any_io_executor ex, fake_slack_options opts)
        : executor(ex), options(std::move(opts)), sweep_timer(ex, steady::time_point::max()) {
        std::random_device rd;
        rng.seed((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
    }

    core::logger& log() { return options.log ? *options.log : core::null_logger(); }

    asio::any_io_executor executor;
    fake_slack_options options;
    std::optional<http_server> server;
    std::string base;     // https://127.0.0.1:PORT
    std::string ws_base;  // wss://127.0.0.1:PORT
    std::mt19937_64 rng;
    bool stopped = false;

    // workspace
    std::unordered_map<std::string, channel_state> channels;
    std::unordered_map<std::string, std::string> channel_by_name;
    std::unordered_map<std::string, slack_user> users;
    std::unordered_map<std::string, std::string> user_by_email;
    std::unordered_map<std::string, slack_usergroup> groups;
    std::vector<slack_ephemeral> ephemerals;
    std::vector<slack_file> files;
    std::vector<slack_view> views;
    std::unordered_map<std::string, response_target> responses;
    std::unordered_map<std::string, trigger_state> triggers;
    std::unordered_set<std::string> tickets;
    std::int64_t last_ts_us = 0;
    std::uint64_t seq = 0;

    // transcript
    std::vector<slack_api_call> calls;
    std::deque<slack_envelope> envelopes;
    std::deque<envelope_extra> extras;  // deque: observers may add envelopes while one is used
    std::unordered_map<std::string, std::size_t> envelope_index;
    std::vector<std::string> unexpected;
    std::size_t acked = 0;
    std::size_t redelivered = 0;

    // rate limits and injections
    std::vector<slack_rate_violation> violations;
    std::unordered_map<std::string, std::deque<steady::time_point>> windows;
    std::vector<injection> injections;

    // Socket Mode
    std::vector<std::shared_ptr<sm_conn>> conns;
    std::size_t rr = 0;
    std::size_t conn_seq = 0;
    std::size_t total_conns = 0;
    std::deque<std::size_t> pending;  // envelopes waiting for a connection
    std::deque<inflight_entry> inflight;
    asio::steady_timer sweep_timer;
    bool stalled = false;
    std::string refuse_error;

    // observers
    std::vector<std::function<void(const slack_change&)>> observers;
    std::list<asio::steady_timer*> waiters;

    // ---- small helpers ----

    std::string next_ts() {
        auto now = options.clock ? options.clock->now() : std::chrono::system_clock::now();
        auto us =
            std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
        last_ts_us = std::max<std::int64_t>(us, last_ts_us + 1);
        return fmt::format("{}.{:06}", last_ts_us / 1'000'000, last_ts_us % 1'000'000);
    }
    long long now_unix() const {
        auto now = options.clock ? options.clock->now() : std::chrono::system_clock::now();
        return core::to_unix(now);
    }
    std::string uuid() {
        auto a = rng();
        auto b = rng();
        return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff,
                           a & 0xfff, ((b >> 48) & 0x3fff) | 0x8000, b & 0xffffffffffffULL);
    }
    std::string issue_trigger(const std::string& user) {
        auto id = fmt::format("{}.{}.{:016x}", 1000000 + (++seq), 4711000000ULL, rng());
        triggers[id] = {steady::now(), user, false};
        return id;
    }
    std::string issue_response_url(response_target target) {
        auto id = fmt::format("{}{}x{:012x}", options.team_id, ++seq, rng() & 0xffffffffffffULL);
        responses[id] = std::move(target);
        return base + "/response/" + id;
    }

    void notify_waiters() {
        for (auto* t : waiters) {
            t->cancel();
        }
    }
    void changed(slack_change change) {
        auto observers_now = observers;  // an observer may add observers
        for (auto& o : observers_now) {
            o(change);
        }
        notify_waiters();
    }
    asio::awaitable<void> wait_change(steady::time_point deadline) {
        asio::steady_timer timer(executor, deadline);
        auto it = waiters.insert(waiters.end(), &timer);
        struct unlink {
            std::list<asio::steady_timer*>& list;
            std::list<asio::steady_timer*>::iterator it;
            ~unlink() { list.erase(it); }
        } guard{waiters, it};
        co_await timer.async_wait(use_tuple);
    }

    channel_state* find_channel(std::string_view ref) {
        std::string key(ref);
        if (auto it = channels.find(key); it != channels.end()) {
            return &it->second;
        }
        if (!key.empty() && key.front() == '#') {
            key.erase(0, 1);
        }
        if (auto it = channel_by_name.find(key); it != channel_by_name.end()) {
            return &channels.at(it->second);
        }
        return nullptr;
    }
    const slack_user* find_user(std::string_view id) const {
        auto it = users.find(std::string(id));
        return it == users.end() ? nullptr : &it->second;
    }
    bool is_member(const channel_state& ch, const std::string& user) const {
        if (ch.is_im) {
            return user == ch.im_user;
        }
        const auto& m = ch.info.members;
        return m.empty() || std::find(m.begin(), m.end(), user) != m.end();
    }
    channel_state& dm(const std::string& user) {
        std::string id = "D" + (user.size() > 1 ? user.substr(1) : user);
        auto [it, created] = channels.try_emplace(id);
        if (created) {
            it->second.info.id = id;
            it->second.info.name = id;
            it->second.info.members = {user, options.bot_user_id};
            it->second.is_im = true;
            it->second.im_user = user;
        }
        return it->second;
    }
    slack_message* find_msg(channel_state& ch, std::string_view ts) {
        auto it =
            std::lower_bound(ch.messages.begin(), ch.messages.end(), ts,
                             [](const slack_message& m, std::string_view t) { return m.ts < t; });
        return it != ch.messages.end() && it->ts == ts ? &*it : nullptr;
    }
    slack_ephemeral* find_ephemeral(std::string_view ts) {
        for (auto& e : ephemerals) {
            if (e.ts == ts) {
                return &e;
            }
        }
        return nullptr;
    }
    slack_view* find_view(std::string_view id) {
        for (auto& v : views) {
            if (v.id == id) {
                return &v;
            }
        }
        return nullptr;
    }
    slack_file* find_file(std::string_view id) {
        for (auto& f : files) {
            if (f.id == id) {
                return &f;
            }
        }
        return nullptr;
    }

    // A reply to a reply belongs to the root's thread, as in Slack.
    std::string thread_root(channel_state& ch, const std::string& thread_ts) {
        if (thread_ts.empty()) {
            return {};
        }
        auto* parent = find_msg(ch, thread_ts);
        return parent && parent->is_reply() ? parent->thread_ts : thread_ts;
    }

    slack_message& store_message(channel_state& ch, slack_message m) {
        m.channel = ch.info.id;
        m.ts = next_ts();
        m.thread_ts = thread_root(ch, m.thread_ts);
        ch.messages.push_back(std::move(m));
        return ch.messages.back();
    }
    slack_message& post_bot_message(channel_state& ch, std::string text, std::string blocks,
                                    std::string thread_ts, std::string via) {
        slack_message m;
        m.user = options.bot_user_id;
        m.bot_id = options.bot_id;
        m.text = std::move(text);
        m.blocks_json = std::move(blocks);
        m.thread_ts = std::move(thread_ts);
        m.via = std::move(via);
        auto& stored = store_message(ch, std::move(m));
        changed({slack_change_kind::message_posted, stored.channel, stored.ts, {}, {}});
        return stored;
    }
    // Returns the new ephemeral's ts (observers may grow `ephemerals` meanwhile).
    std::string post_ephemeral(std::string channel, std::string user, std::string text,
                               std::string blocks, std::string thread_ts, std::string via) {
        slack_ephemeral e;
        e.channel = std::move(channel);
        e.user = std::move(user);
        e.ts = next_ts();
        e.thread_ts = std::move(thread_ts);
        e.text = std::move(text);
        e.blocks_json = std::move(blocks);
        e.via = std::move(via);
        slack_change change{slack_change_kind::ephemeral_posted, e.channel, e.ts, e.user, {}};
        ephemerals.push_back(std::move(e));
        changed(change);
        return change.ts;
    }

    // ---- JSON shapes ----

    json bot_profile() const {
        return {{"id", options.bot_id},
                {"app_id", options.app_id},
                {"user_id", options.bot_user_id},
                {"name", options.bot_name},
                {"deleted", false},
                {"updated", 1700000000},
                {"team_id", options.team_id},
                {"icons",
                 {{"image_36", "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png"},
                  {"image_48", "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png"},
                  {"image_72", "https://a.slack-edge.com/80588/img/plugins/app/service_72.png"}}}};
    }

    json message_json(channel_state& ch, const slack_message& m) {
        json j = {{"type", "message"},
                  {"text", m.text},
                  {"user", m.user},
                  {"ts", m.ts},
                  {"team", options.team_id}};
        if (m.from_bot()) {
            j["bot_id"] = m.bot_id;
            j["app_id"] = options.app_id;
            j["bot_profile"] = bot_profile();
        }
        if (!m.blocks_json.empty()) {
            j["blocks"] = json::parse(m.blocks_json, nullptr, false);
        }
        if (m.is_reply()) {
            j["thread_ts"] = m.thread_ts;
            if (auto* root = find_msg(ch, m.thread_ts)) {
                j["parent_user_id"] = root->user;
            }
            if (m.reply_broadcast) {
                j["subtype"] = "thread_broadcast";
            }
        }
        if (!m.edited_ts.empty()) {
            j["edited"] = {{"user", options.bot_user_id}, {"ts", m.edited_ts}};
        }
        if (!m.reactions.empty()) {
            json r = json::array();
            for (const auto& [name, who] : m.reactions) {
                r.push_back({{"name", name}, {"users", who}, {"count", who.size()}});
            }
            j["reactions"] = std::move(r);
        }
        if (!m.files.empty()) {
            json f = json::array();
            for (const auto& id : m.files) {
                if (auto* file = find_file(id)) {
                    f.push_back(file_json(*file));
                }
            }
            j["files"] = std::move(f);
            j["upload"] = false;
            j["display_as_bot"] = false;
        }
        return j;
    }

    json user_json(const slack_user& u) const {
        auto real = u.real_name.empty() ? u.name : u.real_name;
        json profile = {{"real_name", real},
                        {"real_name_normalized", real},
                        {"display_name", u.name},
                        {"display_name_normalized", u.name},
                        {"email", u.email},
                        {"team", options.team_id},
                        {"image_48", "https://secure.gravatar.com/avatar/0.jpg?s=48"}};
        if (u.is_bot) {
            profile["bot_id"] = "B" + u.id.substr(1);
            profile.erase("email");
        }
        return {{"id", u.id},
                {"team_id", options.team_id},
                {"name", u.name},
                {"deleted", false},
                {"real_name", real},
                {"tz", "Europe/Berlin"},
                {"tz_label", "Central European Time"},
                {"tz_offset", 3600},
                {"profile", std::move(profile)},
                {"is_admin", false},
                {"is_owner", false},
                {"is_primary_owner", false},
                {"is_restricted", false},
                {"is_ultra_restricted", false},
                {"is_bot", u.is_bot},
                {"is_app_user", false},
                {"updated", 1700000000}};
    }

    json channel_json(const channel_state& ch) const {
        const auto& c = ch.info;
        if (ch.is_im) {
            return {{"id", c.id},         {"created", 1700000000},
                    {"is_im", true},      {"is_org_shared", false},
                    {"user", ch.im_user}, {"is_user_deleted", false},
                    {"priority", 0}};
        }
        std::size_t members = c.members.empty() ? users.size() : c.members.size();
        return {{"id", c.id},
                {"name", c.name},
                {"name_normalized", c.name},
                {"is_channel", !c.is_private},
                {"is_group", c.is_private},
                {"is_im", false},
                {"is_mpim", false},
                {"is_private", c.is_private},
                {"created", 1700000000},
                {"creator", "U0CREATOR"},
                {"is_archived", false},
                {"is_general", c.name == "general"},
                {"is_shared", false},
                {"is_ext_shared", false},
                {"is_org_shared", false},
                {"is_member", c.bot_member},
                {"num_members", members},
                {"topic", {{"value", ""}, {"creator", ""}, {"last_set", 0}}},
                {"purpose", {{"value", ""}, {"creator", ""}, {"last_set", 0}}},
                {"context_team_id", options.team_id}};
    }

    json file_json(const slack_file& f) const {
        json channels_list = json::array();
        if (!f.channel.empty()) {
            channels_list.push_back(f.channel);
        }
        auto ext = f.filename.substr(f.filename.rfind('.') == std::string::npos
                                         ? f.filename.size()
                                         : f.filename.rfind('.') + 1);
        return {
            {"id", f.id},
            {"created", now_unix()},
            {"timestamp", now_unix()},
            {"name", f.filename},
            {"title", f.title},
            {"mimetype", ext == "log" || ext == "txt" ? "text/plain" : "application/octet-stream"},
            {"filetype", ext.empty() ? "text" : ext},
            {"pretty_type", ext.empty() ? "Plain Text" : ext},
            {"user", options.bot_user_id},
            {"user_team", options.team_id},
            {"editable", true},
            {"size", f.content.size()},
            {"mode", "hosted"},
            {"is_external", false},
            {"is_public", !f.channel.empty()},
            {"public_url_shared", false},
            {"display_as_bot", false},
            {"url_private", fmt::format("{}/files-pri/{}/{}", base, f.id, f.filename)},
            {"url_private_download",
             fmt::format("{}/files-pri/{}/download/{}", base, f.id, f.filename)},
            {"permalink", fmt::format("{}/files/{}/{}", base, options.bot_user_id, f.id)},
            {"channels", channels_list},
            {"groups", json::array()},
            {"ims", json::array()},
            {"comments_count", 0},
            {"has_rich_preview", false},
            {"file_access", "visible"}};
    }

    json view_json(const slack_view& v) const { return json::parse(v.json); }

    // ---- content checks shared by the posting methods ----

    // Checks text/blocks; fills `blocks_out` ("" when none). Nullopt = fine.
    std::optional<api_reply> check_content(const json& args, std::string& text,
                                           std::string& blocks_out, bool require_content,
                                           std::size_t max_text, bool truncate,
                                           std::vector<std::string>& warnings) {
        text = get_str(args, "text");
        blocks_out.clear();
        bool has_blocks = false;
        if (has(args, "blocks")) {
            const auto& b = args["blocks"];
            if (!b.is_array()) {
                return fail_with_messages("invalid_blocks_format",
                                          {"[ERROR] blocks must be a JSON array of block objects "
                                           "[json-pointer:/blocks]"});
            }
            block_checker checker(50);
            checker.check(b);
            if (!checker.errors.empty()) {
                return fail("invalid_blocks",
                            {{"errors", checker.errors},
                             {"response_metadata", {{"messages", checker.errors}}}});
            }
            if (checker.text_chars > 12000) {
                return fail("msg_blocks_too_long");
            }
            has_blocks = !b.empty();
            blocks_out = b.dump();
        }
        if (require_content && text.empty() && !has_blocks && !has(args, "attachments")) {
            return fail("no_text");
        }
        if (utf8_length(text) > max_text) {
            if (!truncate) {
                return fail("msg_too_long");
            }
            text = utf8_truncate(text, max_text);
            warnings.push_back("message_truncated");
        }
        return std::nullopt;
    }

    // ---- rate limits ----

    std::optional<api_reply> rate_gate(const std::string& method, channel_state* ch) {
        auto now = steady::now();
        const auto& limits = options.rate_limits;
        if (ch) {
            if (!ch->bucket_started) {
                ch->bucket_started = true;
                ch->post_tokens = limits.post_burst;
                ch->post_refill = now;
            }
            double elapsed = std::chrono::duration<double>(now - ch->post_refill).count();
            ch->post_tokens = std::min<double>(limits.post_burst,
                                               ch->post_tokens + elapsed * limits.posts_per_second);
            ch->post_refill = now;
            if (ch->post_tokens < 1.0) {
                violations.push_back({method, ch->info.id, now});
                if (limits.enforce) {
                    double wait = (1.0 - ch->post_tokens) / limits.posts_per_second;
                    return ratelimited(std::max(1, static_cast<int>(std::ceil(wait))));
                }
                ch->post_tokens = 0;
                return std::nullopt;
            }
            ch->post_tokens -= 1.0;
            return std::nullopt;
        }
        int limit = 0;
        if (auto o = limits.per_window.find(method); o != limits.per_window.end()) {
            limit = o->second;
        } else if (auto t = method_table().find(method); t != method_table().end()) {
            limit = t->second.per_minute;
        }
        if (limit <= 0) {
            return std::nullopt;
        }
        auto& w = windows[method];
        while (!w.empty() && now - w.front() >= limits.window) {
            w.pop_front();
        }
        if (static_cast<int>(w.size()) >= limit) {
            violations.push_back({method, {}, now});
            if (limits.enforce) {
                auto wait = std::chrono::duration<double>(limits.window - (now - w.front()));
                return ratelimited(std::max(1, static_cast<int>(std::ceil(wait.count()))));
            }
        }
        w.push_back(now);
        return std::nullopt;
    }

    // ---- injections ----

    std::optional<injection> take_injection(const std::string& method, bool scope_pass) {
        for (auto it = injections.begin(); it != injections.end(); ++it) {
            bool scope = it->kind == injection_kind::missing_scope;
            if (scope != scope_pass || (it->method != "*" && it->method != method)) {
                continue;
            }
            injection found = *it;
            if (it->count > 0 && --it->count == 0) {
                injections.erase(it);
            }
            return found;
        }
        return std::nullopt;
    }

    // ---- Web API ----

    using method_fn = api_reply (state::*)(const json&);

    asio::awaitable<void> handle_api(request_context& ctx) {
        slack_api_call call;
        call.method = ctx.param("method");
        call.at = steady::now();
        json args = json::object();
        api_reply reply = process_api(ctx, call, args);
        args.erase("token");  // never keep credentials in the transcript
        call.args_json = args.dump();
        call.status = reply.drop ? 0 : reply.status;
        std::string body = reply.drop ? "" : reply.raw.empty() ? reply.body.dump() : reply.raw;
        if (!reply.drop && reply.raw.empty()) {
            call.ok = reply.body.value("ok", false);
            call.error = get_str(reply.body, "error");
        }
        call.response_json = body;
        if (log().enabled(core::log_level::debug)) {
            log().debug("fake_slack_api",
                        {{"method", call.method}, {"status", call.status}, {"error", call.error}});
        }
        calls.push_back(std::move(call));
        notify_waiters();
        if (reply.drop) {
            ctx.drop();
            co_return;
        }
        if (!reply.raw.empty()) {
            co_await ctx.respond(reply.status, std::move(body), std::move(reply.headers));
            co_return;
        }
        co_await ctx.respond_json(reply.status, std::move(body), std::move(reply.headers));
    }

    api_reply process_api(request_context& ctx, slack_api_call& call, json& args) {
        const std::string& method = call.method;
        const auto& table = method_table();
        auto facts = table.find(method);
        // Arguments: query string, then the body (form, or JSON for methods that read JSON).
        add_query_args(ctx.target(), args);
        auto content_type = lower(ctx.header("Content-Type").value_or(""));
        std::string json_note;
        if (!ctx.body().empty()) {
            if (content_type.rfind("application/json", 0) == 0) {
                auto parsed = json::parse(ctx.body(), nullptr, false);
                if (parsed.is_discarded()) {
                    return fail("invalid_json");
                }
                if (!parsed.is_object()) {
                    return fail("json_not_object");
                }
                if (facts != table.end() && !facts->second.json_body) {
                    json_note = fmt::format(
                        "[ERROR] {} does not read JSON bodies; send the arguments as "
                        "application/x-www-form-urlencoded",
                        method);
                } else {
                    for (auto& [k, v] : parsed.items()) {
                        args[k] = v;
                    }
                }
            } else if (content_type.empty() ||
                       content_type.rfind("application/x-www-form-urlencoded", 0) == 0) {
                for (auto& [k, v] : ctx.form()) {
                    args[k] = v;
                }
                // JSON-typed arguments travel as JSON text inside form fields.
                for (const char* key : {"blocks", "attachments", "files", "view", "metadata"}) {
                    if (args.contains(key) && args[key].is_string()) {
                        auto inner = json::parse(args[key].get<std::string>(), nullptr, false);
                        if (!inner.is_discarded()) {
                            args[key] = std::move(inner);
                        }
                    }
                }
            } else {
                return fail_with_messages(
                    "invalid_post_type",
                    {fmt::format("[ERROR] unsupported Content-Type \"{}\"; use application/json "
                                 "or application/x-www-form-urlencoded",
                                 content_type)});
            }
        }

        if (auto inj = take_injection(method, false)) {
            switch (inj->kind) {
                case injection_kind::ratelimit: return ratelimited(inj->number);
                case injection_kind::error: return fail(inj->text);
                case injection_kind::drop: {
                    api_reply r;
                    r.drop = true;
                    return r;
                }
                case injection_kind::status: {
                    api_reply r;
                    r.status = inj->number;
                    r.raw = fmt::format("{} the fake Slack is having an (injected) outage\n",
                                        inj->number);
                    return r;
                }
                case injection_kind::missing_scope: break;
            }
        }

        // Credentials: the Authorization header, else a `token` argument.
        std::string token;
        auto auth = ctx.header("Authorization").value_or("");
        if (lower(auth).rfind("bearer ", 0) == 0) {
            token = auth.substr(7);
        } else {
            token = get_str(args, "token");
        }
        bool is_bot = !token.empty() && token == options.bot_token;
        bool is_app = !token.empty() && token == options.app_token;
        call.token = token.empty() ? "none" : is_bot ? "bot" : is_app ? "app" : "invalid";

        if (facts == table.end()) {
            return fail("unknown_method", {{"req_method", method}});
        }
        if (token.empty()) {
            return fail("not_authed");
        }
        if (!is_bot && !is_app) {
            return fail("invalid_auth");
        }
        if (is_app != facts->second.app_token) {
            return fail("not_allowed_token_type");
        }
        if (auto inj = take_injection(method, true)) {
            return fail("missing_scope",
                        {{"needed", inj->text}, {"provided", std::string(provided_scopes)}});
        }
        if (facts->second.per_minute > 0) {
            if (auto limited = rate_gate(method, nullptr)) {
                return *limited;
            }
        }
        api_reply reply = (this->*methods().at(method))(args);
        if (!json_note.empty() && !reply.body.value("ok", false)) {
            reply.body["response_metadata"]["messages"].push_back(json_note);
        }
        return reply;
    }

    static const std::unordered_map<std::string, method_fn>& methods() {
        static const std::unordered_map<std::string, method_fn> table = {
            {"auth.test", &state::auth_test},
            {"apps.connections.open", &state::connections_open},
            {"chat.postMessage", &state::chat_post_message},
            {"chat.update", &state::chat_update},
            {"chat.postEphemeral", &state::chat_post_ephemeral},
            {"chat.delete", &state::chat_delete},
            {"reactions.add", &state::reactions_add},
            {"views.open", &state::views_open},
            {"views.update", &state::views_update},
            {"users.info", &state::users_info},
            {"users.lookupByEmail", &state::users_lookup_by_email},
            {"conversations.info", &state::conversations_info},
            {"conversations.open", &state::conversations_open},
            {"conversations.replies", &state::conversations_replies},
            {"usergroups.list", &state::usergroups_list},
            {"usergroups.users.list", &state::usergroups_users_list},
            {"files.getUploadURLExternal", &state::files_get_upload_url},
            {"files.completeUploadExternal", &state::files_complete_upload},
        };
        return table;
    }

    api_reply auth_test(const json&) {
        return success({{"url", fmt::format("https://{}.slack.com/", options.team_domain)},
                        {"team", options.team_name},
                        {"user", options.bot_name},
                        {"team_id", options.team_id},
                        {"user_id", options.bot_user_id},
                        {"bot_id", options.bot_id},
                        {"is_enterprise_install", false}});
    }

    api_reply connections_open(const json&) {
        if (!refuse_error.empty()) {
            return fail(refuse_error);
        }
        auto ticket = uuid();
        tickets.insert(ticket);
        return success({{"url", fmt::format("{}/link/?ticket={}&app_id={}", ws_base, ticket,
                                            options.app_id)}});
    }

    // Resolves a channel argument: ID, name, "#name", or a user ID (the bot's DM with them).
    channel_state* channel_arg(const json& args, const char* key) {
        auto ref = get_str(args, key);
        if (ref.empty()) {
            return nullptr;
        }
        if (auto* ch = find_channel(ref)) {
            return ch;
        }
        if (ref.front() == 'U' && find_user(ref)) {
            return &dm(ref);
        }
        return nullptr;
    }

    api_reply chat_post_message(const json& args) {
        auto* ch = channel_arg(args, "channel");
        if (!ch) {
            return fail("channel_not_found");
        }
        if (!ch->info.bot_member) {
            return fail("not_in_channel");
        }
        if (auto limited = rate_gate("chat.postMessage", ch)) {
            return *limited;
        }
        std::string text;
        std::string blocks;
        std::vector<std::string> warnings;
        if (auto bad = check_content(args, text, blocks, true, 40000, true, warnings)) {
            return *bad;
        }
        slack_message m;
        m.user = options.bot_user_id;
        m.bot_id = options.bot_id;
        m.text = std::move(text);
        m.blocks_json = std::move(blocks);
        m.thread_ts = get_str(args, "thread_ts");
        m.reply_broadcast = !m.thread_ts.empty() && get_bool(args, "reply_broadcast");
        m.via = "chat.postMessage";
        auto& stored = store_message(*ch, std::move(m));
        auto reply = success(
            {{"channel", ch->info.id}, {"ts", stored.ts}, {"message", message_json(*ch, stored)}});
        if (!warnings.empty()) {
            reply.body["warning"] = warnings.front();
            reply.body["response_metadata"] = {
                {"warnings", warnings},
                {"messages",
                 {"[WARN] Your message was truncated to 40000 characters; split long text"}}};
        }
        changed({slack_change_kind::message_posted, stored.channel, stored.ts, {}, {}});
        return reply;
    }

    api_reply chat_update(const json& args) {
        auto* ch = channel_arg(args, "channel");
        if (!ch) {
            return fail("channel_not_found");
        }
        auto* m = find_msg(*ch, get_str(args, "ts"));
        if (!m || m->deleted) {
            return fail("message_not_found");
        }
        if (!m->from_bot()) {
            return fail("cant_update_message");
        }
        std::string text;
        std::string blocks;
        std::vector<std::string> warnings;
        if (auto bad = check_content(args, text, blocks, false, 4000, false, warnings)) {
            return *bad;
        }
        if (!has(args, "text") && !has(args, "blocks") && !has(args, "attachments")) {
            return fail("no_text");
        }
        m->edits.push_back({m->text, m->blocks_json, "chat.update"});
        // Slack keeps the previous text/blocks when an argument is left out.
        if (has(args, "text")) {
            m->text = std::move(text);
        }
        if (has(args, "blocks")) {
            m->blocks_json = args["blocks"].empty() ? "" : std::move(blocks);
        }
        m->edited_ts = next_ts();
        auto message = message_json(*ch, *m);
        changed({slack_change_kind::message_updated, m->channel, m->ts, {}, {}});
        return success(
            {{"channel", ch->info.id}, {"ts", m->ts}, {"text", m->text}, {"message", message}});
    }

    api_reply chat_post_ephemeral(const json& args) {
        auto* ch = channel_arg(args, "channel");
        if (!ch) {
            return fail("channel_not_found");
        }
        auto user = get_str(args, "user");
        if (!find_user(user)) {
            return fail("user_not_found");
        }
        if (!ch->info.bot_member) {
            return fail("not_in_channel");
        }
        if (!is_member(*ch, user)) {
            return fail("user_not_in_channel");
        }
        std::string text;
        std::string blocks;
        std::vector<std::string> warnings;
        if (auto bad = check_content(args, text, blocks, true, 40000, true, warnings)) {
            return *bad;
        }
        auto ts = post_ephemeral(ch->info.id, user, std::move(text), std::move(blocks),
                                 get_str(args, "thread_ts"), "chat.postEphemeral");
        return success({{"message_ts", ts}});
    }

    api_reply chat_delete(const json& args) {
        auto* ch = channel_arg(args, "channel");
        if (!ch) {
            return fail("channel_not_found");
        }
        auto* m = find_msg(*ch, get_str(args, "ts"));
        if (!m || m->deleted) {
            return fail("message_not_found");
        }
        if (!m->from_bot()) {
            return fail("cant_delete_message");
        }
        m->deleted = true;
        changed({slack_change_kind::message_deleted, m->channel, m->ts, {}, {}});
        return success({{"channel", ch->info.id}, {"ts", m->ts}});
    }

    api_reply reactions_add(const json& args) {
        auto* ch = channel_arg(args, "channel");
        if (!ch) {
            return fail("channel_not_found");
        }
        auto name = get_str(args, "name");
        if (name.empty() || name.find_first_of(": ") != std::string::npos) {
            return fail("invalid_name");
        }
        auto* m = find_msg(*ch, get_str(args, "timestamp"));
        if (!m || m->deleted) {
            return fail("message_not_found");
        }
        auto& who = m->reactions[name];
        if (std::find(who.begin(), who.end(), options.bot_user_id) != who.end()) {
            return fail("already_reacted");
        }
        who.push_back(options.bot_user_id);
        changed({slack_change_kind::reaction_added, m->channel, m->ts, options.bot_user_id, {}});
        return success(json::object());
    }

    // Checks a view object; nullopt = fine.
    std::optional<api_reply> check_view(const json& view) {
        if (!view.is_object()) {
            return fail_with_messages("invalid_arguments",
                                      {"[ERROR] missing required field: view"});
        }
        if (view.dump().size() > 250000) {
            return fail("view_too_large");
        }
        std::vector<std::string> problems;
        auto type = get_str(view, "type");
        if (type != "modal" && type != "home") {
            problems.push_back("[ERROR] must be one of [modal, home] [json-pointer:/view/type]");
        }
        if (type == "modal") {
            const auto& title = view.value("title", json());
            if (!title.is_object() || get_str(title, "type") != "plain_text" ||
                get_str(title, "text").empty()) {
                problems.push_back("[ERROR] missing required field: title [json-pointer:/view]");
            } else if (utf8_length(get_str(title, "text")) > 24) {
                problems.push_back(
                    "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]");
            }
        }
        const auto& blocks = view.value("blocks", json());
        if (!blocks.is_array()) {
            problems.push_back("[ERROR] missing required field: blocks [json-pointer:/view]");
        } else {
            block_checker checker(100);
            checker.check(blocks);
            for (auto& e : checker.errors) {
                problems.push_back(e);
            }
        }
        if (utf8_length(get_str(view, "private_metadata")) > 3000) {
            problems.push_back(
                "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]");
        }
        if (!problems.empty()) {
            return fail_with_messages("invalid_arguments", problems);
        }
        return std::nullopt;
    }

    // Stores `view` as the content of `v`, with the fields Slack adds.
    void set_view(slack_view& v, json view) {
        if (!v.json.empty()) {
            v.history.push_back(v.json);
        }
        v.hash = fmt::format("{}.{:08x}", now_unix(), static_cast<std::uint32_t>(rng()));
        v.callback_id = get_str(view, "callback_id");
        v.external_id = get_str(view, "external_id");
        view["id"] = v.id;
        view["team_id"] = options.team_id;
        view["app_id"] = options.app_id;
        view["app_installed_team_id"] = options.team_id;
        view["bot_id"] = options.bot_id;
        view["hash"] = v.hash;
        view["root_view_id"] = v.id;
        view["previous_view_id"] = nullptr;
        view["state"] = {{"values", json::object()}};
        for (const char* key : {"private_metadata", "callback_id", "external_id"}) {
            if (!view.contains(key)) {
                view[key] = "";
            }
        }
        for (const char* key : {"clear_on_close", "notify_on_close", "submit_disabled"}) {
            if (!view.contains(key)) {
                view[key] = false;
            }
        }
        v.json = view.dump();
    }

    api_reply views_open(const json& args) {
        auto trigger = get_str(args, "trigger_id");
        auto t = triggers.find(trigger);
        if (trigger.empty() || t == triggers.end()) {
            return fail("invalid_trigger_id");
        }
        if (t->second.used) {
            return fail("exchanged_trigger_id");
        }
        if (steady::now() - t->second.issued > options.trigger_ttl) {
            return fail("expired_trigger_id");
        }
        const auto& view = args.value("view", json());
        if (auto bad = check_view(view)) {
            return *bad;
        }
        t->second.used = true;
        slack_view v;
        v.id = fmt::format("V0{:08X}", ++seq);
        v.user = t->second.user;
        set_view(v, view);
        auto reply = success({{"view", view_json(v)}});
        slack_change change{slack_change_kind::view_opened, {}, {}, v.user, v.id};
        views.push_back(std::move(v));
        changed(change);
        return reply;
    }

    api_reply views_update(const json& args) {
        slack_view* v = nullptr;
        if (auto id = get_str(args, "view_id"); !id.empty()) {
            v = find_view(id);
        } else if (auto ext = get_str(args, "external_id"); !ext.empty()) {
            for (auto& candidate : views) {
                if (candidate.external_id == ext) {
                    v = &candidate;
                }
            }
        }
        if (!v) {
            return fail("not_found");
        }
        auto hash = get_str(args, "hash");
        if (!hash.empty() && hash != v->hash) {
            return fail("hash_conflict");
        }
        const auto& view = args.value("view", json());
        if (auto bad = check_view(view)) {
            return *bad;
        }
        set_view(*v, view);
        auto reply = success({{"view", view_json(*v)}});
        changed({slack_change_kind::view_updated, {}, {}, v->user, v->id});
        return reply;
    }

    api_reply users_info(const json& args) {
        auto* u = find_user(get_str(args, "user"));
        if (!u) {
            return fail("user_not_found");
        }
        return success({{"user", user_json(*u)}});
    }

    api_reply users_lookup_by_email(const json& args) {
        auto it = user_by_email.find(lower(get_str(args, "email")));
        if (it == user_by_email.end()) {
            return fail("users_not_found");
        }
        return success({{"user", user_json(users.at(it->second))}});
    }

    api_reply conversations_info(const json& args) {
        auto* ch = find_channel(get_str(args, "channel"));
        if (!ch) {
            return fail("channel_not_found");
        }
        return success({{"channel", channel_json(*ch)}});
    }

    api_reply conversations_open(const json& args) {
        if (auto* ch = find_channel(get_str(args, "channel"))) {
            return success({{"channel", channel_json(*ch)}});
        }
        auto list = get_str(args, "users");
        if (list.empty()) {
            return fail("users_list_not_supplied");
        }
        if (list.find(',') != std::string::npos) {
            return fail_with_messages(
                "invalid_arguments",
                {"[ERROR] the fake Slack opens 1:1 DMs only; pass a single user ID"});
        }
        if (!find_user(list)) {
            return fail("user_not_found");
        }
        bool existed = channels.contains("D" + list.substr(1));
        auto& ch = dm(list);
        auto reply = success({{"channel", {{"id", ch.info.id}}}});
        if (existed) {
            reply.body["no_op"] = true;
            reply.body["already_open"] = true;
        }
        return reply;
    }

    api_reply conversations_replies(const json& args) {
        auto* ch = find_channel(get_str(args, "channel"));
        if (!ch) {
            return fail("channel_not_found");
        }
        auto ts = get_str(args, "ts");
        auto* root = find_msg(*ch, ts);
        if (!root || root->deleted) {
            return fail("thread_not_found");
        }
        json list = json::array();
        list.push_back(message_json(*ch, *root));
        for (const auto& m : ch->messages) {
            if (!m.deleted && m.is_reply() && m.thread_ts == ts) {
                list.push_back(message_json(*ch, m));
            }
        }
        return success({{"messages", std::move(list)},
                        {"has_more", false},
                        {"response_metadata", {{"next_cursor", ""}}}});
    }

    // Slack's shape: every group with its handle; `users` only when include_users is set.
    api_reply usergroups_list(const json& args) {
        const bool with_users = get_bool(args, "include_users");
        json list = json::array();
        for (const auto& g : options.usergroups) {
            json item = {{"id", g.id},
                         {"team_id", options.team_id},
                         {"is_usergroup", true},
                         {"name", g.handle},
                         {"handle", g.handle},
                         {"date_delete", 0},
                         {"user_count", g.users.size()}};
            if (with_users) {
                item["users"] = g.users;
            }
            list.push_back(std::move(item));
        }
        return success({{"usergroups", std::move(list)}});
    }

    api_reply usergroups_users_list(const json& args) {
        auto it = groups.find(get_str(args, "usergroup"));
        if (it == groups.end()) {
            return fail("no_such_subteam");
        }
        return success({{"users", it->second.users}});
    }

    api_reply files_get_upload_url(const json& args) {
        auto filename = get_str(args, "filename");
        auto length = get_str(args, "length");
        bool numeric = !length.empty() && std::all_of(length.begin(), length.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
        if (filename.empty() || !numeric || std::stoull(length) == 0) {
            return fail_with_messages(
                "invalid_arguments",
                {"[ERROR] filename and length (a positive byte count) are required"});
        }
        slack_file f;
        f.id = fmt::format("F0{:08X}", ++seq);
        f.filename = filename;
        f.title = filename;
        f.declared_length = std::stoull(length);
        files.push_back(f);
        return success({{"upload_url", base + "/upload/v1/" + f.id}, {"file_id", f.id}});
    }

    api_reply files_complete_upload(const json& args) {
        const auto& list = args.value("files", json());
        if (!list.is_array() || list.empty()) {
            return fail_with_messages(
                "invalid_arguments",
                {"[ERROR] files must be a JSON array like [{\"id\":\"F…\",\"title\":\"…\"}]"});
        }
        std::vector<slack_file*> picked;
        for (const auto& item : list) {
            auto* f = find_file(get_str(item, "id"));
            if (!f || !f->uploaded) {
                return fail("file_not_found");
            }
            picked.push_back(f);
        }
        channel_state* ch = nullptr;
        if (has(args, "channel_id")) {
            ch = find_channel(get_str(args, "channel_id"));
            if (!ch) {
                return fail("channel_not_found");
            }
            if (!ch->info.bot_member) {
                return fail("not_in_channel");
            }
        }
        json out = json::array();
        std::vector<std::string> ids;
        for (std::size_t i = 0; i < picked.size(); ++i) {
            auto& f = *picked[i];
            if (auto title = get_str(list[i], "title"); !title.empty()) {
                f.title = title;
            }
            f.completed = true;
            f.initial_comment = get_str(args, "initial_comment");
            if (ch) {
                f.channel = ch->info.id;
                f.thread_ts = get_str(args, "thread_ts");
            }
            ids.push_back(f.id);
            out.push_back(file_json(f));
        }
        if (ch) {
            slack_message m;
            m.user = options.bot_user_id;
            m.bot_id = options.bot_id;
            m.text = get_str(args, "initial_comment");
            m.thread_ts = get_str(args, "thread_ts");
            m.files = ids;
            m.via = "files.completeUploadExternal";
            auto& stored = store_message(*ch, std::move(m));
            changed({slack_change_kind::message_posted, stored.channel, stored.ts, {}, {}});
        }
        return success({{"files", std::move(out)}});
    }

    // ---- uploads and response_url ----

    asio::awaitable<void> handle_upload(request_context& ctx) {
        auto* f = find_file(ctx.param("id"));
        if (!f) {
            co_await ctx.respond(404,
                                 "unknown upload URL; call files.getUploadURLExternal first\n");
            co_return;
        }
        f->content = upload_content(ctx.body(), ctx.header("Content-Type").value_or(""));
        f->uploaded = true;
        notify_waiters();
        co_await ctx.respond(200, fmt::format("OK - {}", f->content.size()));
    }

    asio::awaitable<void> handle_response_url(request_context& ctx) {
        slack_api_call call;
        call.method = "response_url";
        call.at = steady::now();
        call.token = "none";
        call.args_json = ctx.body();
        auto answer = process_response_url(ctx.param("id"), ctx.body());
        call.status = answer.first;
        call.response_json = answer.second.dump();
        call.ok = answer.second.value("ok", false);
        call.error = get_str(answer.second, "error");
        calls.push_back(std::move(call));
        notify_waiters();
        co_await ctx.respond_json(answer.first, answer.second.dump());
    }

    std::pair<int, json> process_response_url(const std::string& id, const std::string& text) {
        auto bad = [](int status, std::string error) {
            return std::pair<int, json>{status, json{{"ok", false}, {"error", std::move(error)}}};
        };
        auto it = responses.find(id);
        if (it == responses.end()) {
            return bad(404, "invalid_url");
        }
        auto& target = it->second;
        if (steady::now() - target.created > 30min) {
            return bad(404, "expired_url");
        }
        if (target.uses >= 5) {
            return bad(404, "used_url");
        }
        auto args = json::parse(text, nullptr, false);
        if (!args.is_object()) {
            return bad(400, "invalid_payload");
        }
        ++target.uses;
        auto* ch = find_channel(target.channel);
        if (get_bool(args, "delete_original")) {
            if (target.ephemeral_source || target.message_ts.empty()) {
                if (auto* e = find_ephemeral(target.ephemeral_source ? target.message_ts
                                                                     : target.last_ephemeral_ts)) {
                    e->replaced = true;
                    changed(
                        {slack_change_kind::ephemeral_replaced, e->channel, e->ts, e->user, {}});
                }
            } else if (auto* m = ch ? find_msg(*ch, target.message_ts) : nullptr) {
                m->deleted = true;
                changed({slack_change_kind::message_deleted, m->channel, m->ts, {}, {}});
            }
            return {200, json{{"ok", true}}};
        }
        std::string content;
        std::string blocks;
        std::vector<std::string> warnings;
        if (auto problem = check_content(args, content, blocks, true, 40000, true, warnings)) {
            return {400, problem->body};
        }
        auto thread_ts = get_str(args, "thread_ts");
        if (get_bool(args, "replace_original")) {
            if (!target.ephemeral_source && !target.message_ts.empty() && ch) {
                if (auto* m = find_msg(*ch, target.message_ts); m && !m->deleted) {
                    m->edits.push_back({m->text, m->blocks_json, "response_url"});
                    m->text = std::move(content);
                    m->blocks_json = std::move(blocks);
                    m->edited_ts = next_ts();
                    changed({slack_change_kind::message_updated, m->channel, m->ts, {}, {}});
                    return {200, json{{"ok", true}}};
                }
            }
            auto old_ts = target.ephemeral_source ? target.message_ts : target.last_ephemeral_ts;
            if (auto* e = find_ephemeral(old_ts)) {
                e->replaced = true;
                changed({slack_change_kind::ephemeral_replaced, e->channel, e->ts, e->user, {}});
            }
        }
        if (get_str(args, "response_type") == "in_channel" && ch) {
            if (auto limited = rate_gate("response_url", ch)) {
                return {limited->status, limited->body};
            }
            post_bot_message(*ch, std::move(content), std::move(blocks), thread_ts, "response_url");
            return {200, json{{"ok", true}}};
        }
        target.last_ephemeral_ts = post_ephemeral(target.channel, target.user, std::move(content),
                                                  std::move(blocks), thread_ts, "response_url");
        return {200, json{{"ok", true}}};
    }

    // ---- Socket Mode ----

    std::string hello_json() const {
        std::size_t open = 0;
        for (const auto& c : conns) {
            open += c->gone ? 0 : 1;
        }
        return json{{"type", "hello"},
                    {"num_connections", open},
                    {"debug_info",
                     {{"host", "applink-tugboat-fake"},
                      {"build_number", 1},
                      {"approximate_connection_time", 18060}}},
                    {"connection_info", {{"app_id", options.app_id}}}}
            .dump();
    }

    std::string disconnect_json(const std::string& reason) const {
        return json{{"type", "disconnect"},
                    {"reason", reason},
                    {"debug_info", {{"host", "applink-tugboat-fake"}}}}
            .dump();
    }

    static void queue(sm_conn& c, std::string text) {
        c.out.push_back(std::move(text));
        c.wake.cancel();
    }

    sm_conn* pick_connection() {
        // Round robin over connections that were not told to go away; those only when alone.
        sm_conn* fallback = nullptr;
        for (std::size_t i = 0; i < conns.size(); ++i) {
            auto& c = conns[(rr + i) % conns.size()];
            if (c->gone || c->close_code) {
                continue;
            }
            if (!c->disconnect_sent) {
                rr = (rr + i + 1) % conns.size();
                return c.get();
            }
            if (!fallback) {
                fallback = c.get();
            }
        }
        return fallback;
    }

    void send_envelope(std::size_t index) {
        auto* c = pick_connection();
        if (!c) {
            pending.push_back(index);
            return;
        }
        auto& rec = envelopes[index];
        auto& ex = extras[index];
        auto now = steady::now();
        rec.deliveries.push_back(
            {get_str(ex.doc, "envelope_id"), get_int(ex.doc, "retry_attempt"), c->id, now});
        ++c->delivered;
        queue(*c, ex.wire);
        if (ex.tracked) {
            if (inflight.empty()) {
                sweep_timer.cancel();
            }
            inflight.push_back({now + options.ack_timeout, index, rec.deliveries.size()});
        }
        if (log().enabled(core::log_level::debug)) {  // thousands per second in benchmarks
            log().debug("fake_slack_envelope",
                        {{"envelope_id", rec.deliveries.back().envelope_id},
                         {"type", rec.type},
                         {"connection", c->id},
                         {"retry_attempt", rec.deliveries.back().retry_attempt}});
        }
        notify_waiters();
    }

    std::string push_envelope(json doc, std::string type, std::string kind, envelope_extra ex) {
        slack_envelope rec;
        rec.envelope_id = get_str(doc, "envelope_id");
        rec.type = std::move(type);
        rec.kind = std::move(kind);
        if (doc.contains("payload")) {
            rec.event_id = get_str(doc["payload"], "event_id");
        }
        ex.wire = doc.dump();
        rec.json = ex.wire;
        ex.doc = std::move(doc);
        auto index = envelopes.size();
        if (!rec.envelope_id.empty()) {
            envelope_index[rec.envelope_id] = index;
        }
        auto id = rec.envelope_id;
        envelopes.push_back(std::move(rec));
        extras.push_back(std::move(ex));
        send_envelope(index);
        return id;
    }

    void flush_pending() {
        while (!pending.empty() && pick_connection()) {
            auto index = pending.front();
            pending.pop_front();
            send_envelope(index);
        }
    }

    void on_ack_timeout(const inflight_entry& entry) {
        auto& rec = envelopes[entry.index];
        auto& ex = extras[entry.index];
        if (rec.acked || rec.deliveries.size() != entry.deliveries) {
            return;
        }
        int attempt = rec.deliveries.back().retry_attempt;
        if (ex.redeliver && attempt < options.max_redeliveries) {
            ex.doc["retry_attempt"] = attempt + 1;
            ex.doc["retry_reason"] = "timeout";
            if (options.fresh_envelope_id_on_retry) {
                auto id = uuid();
                ex.doc["envelope_id"] = id;
                envelope_index[id] = entry.index;
            }
            ex.wire = ex.doc.dump();
            ++redelivered;
            log().debug("fake_slack_redeliver",
                        {{"envelope_id", rec.envelope_id}, {"retry_attempt", attempt + 1}});
            send_envelope(entry.index);
            return;
        }
        rec.gave_up = true;
        log().info("fake_slack_ack_missed",
                   {{"envelope_id", rec.envelope_id}, {"type", rec.type}, {"kind", rec.kind}});
        if (rec.type == "slash_commands") {
            // What the person sees in Slack when an app does not ack a command in time.
            post_ephemeral(ex.channel, ex.user,
                           fmt::format("{} failed with the error \"operation_timeout\"", rec.kind),
                           {}, {}, "slackbot");
        }
        notify_waiters();
    }

    asio::awaitable<void> sweep() {
        while (!stopped) {
            sweep_timer.expires_at(inflight.empty() ? steady::time_point::max()
                                                    : inflight.front().deadline);
            co_await sweep_timer.async_wait(use_tuple);
            auto now = steady::now();
            while (!stopped && !inflight.empty() && inflight.front().deadline <= now) {
                auto entry = inflight.front();
                inflight.pop_front();
                on_ack_timeout(entry);
            }
        }
    }

    void apply_ack_payload(std::size_t index, const json& payload) {
        auto& rec = envelopes[index];
        auto& ex = extras[index];
        if (!payload.is_object()) {
            return;
        }
        if (rec.type == "slash_commands") {
            std::string text;
            std::string blocks;
            std::vector<std::string> warnings;
            if (check_content(payload, text, blocks, true, 40000, true, warnings)) {
                return;  // {"response_type":"in_channel"} alone, or nothing Slack would show
            }
            auto* ch = find_channel(ex.channel);
            if (get_str(payload, "response_type") == "in_channel" && ch) {
                post_bot_message(*ch, std::move(text), std::move(blocks), {}, "ack");
            } else {
                post_ephemeral(ex.channel, ex.user, std::move(text), std::move(blocks), {}, "ack");
            }
            return;
        }
        if (rec.kind != "view_submission") {
            return;
        }
        auto* v = find_view(ex.view_id);
        if (!v) {
            return;
        }
        auto action = get_str(payload, "response_action");
        if (action == "errors") {
            v->errors_json = payload.value("errors", json::object()).dump();
            changed({slack_change_kind::view_updated, {}, {}, v->user, v->id});
        } else if ((action == "update" || action == "push") && payload.contains("view")) {
            if (action == "update") {
                set_view(*v, payload["view"]);
                v->errors_json.clear();
                changed({slack_change_kind::view_updated, {}, {}, v->user, v->id});
            } else {
                slack_view pushed;
                pushed.id = fmt::format("V0{:08X}", ++seq);
                pushed.user = v->user;
                set_view(pushed, payload["view"]);
                views.push_back(std::move(pushed));
                changed(
                    {slack_change_kind::view_opened, {}, {}, views.back().user, views.back().id});
            }
        } else {
            // No response_action closes the submitted view; "clear" closes the whole stack.
            for (auto& other : views) {
                if (other.open &&
                    (other.id == v->id || (action == "clear" && other.user == v->user))) {
                    other.open = false;
                    changed({slack_change_kind::view_closed, {}, {}, other.user, other.id});
                }
            }
        }
    }

    void on_frame(sm_conn& c, const std::string& text) {
        auto j = json::parse(text, nullptr, false);
        auto id = j.is_object() ? get_str(j, "envelope_id") : std::string{};
        auto found = envelope_index.find(id);
        if (id.empty() || found == envelope_index.end()) {
            unexpected.push_back(text);
            log().debug("fake_slack_unexpected_frame", {{"connection", c.id}});
            notify_waiters();
            return;
        }
        auto index = found->second;
        auto& rec = envelopes[index];
        if (rec.acked) {
            ++rec.duplicate_acks;
            notify_waiters();
            return;
        }
        auto now = steady::now();
        rec.acked = true;
        rec.acked_at = now;
        rec.ack_connection = c.id;
        ++c.acks;
        ++acked;
        auto answered = std::find_if(rec.deliveries.rbegin(), rec.deliveries.rend(),
                                     [&](const slack_delivery& d) { return d.envelope_id == id; });
        if (answered != rec.deliveries.rend()) {
            rec.ack_latency =
                std::chrono::duration_cast<std::chrono::microseconds>(now - answered->sent_at);
            rec.late_ack = now - answered->sent_at > options.ack_timeout;
        }
        if (j.contains("payload")) {
            rec.ack_payload = j["payload"].dump();
            apply_ack_payload(index, j["payload"]);
        }
        notify_waiters();
    }

    asio::awaitable<void> read_loop(std::shared_ptr<sm_conn> c) {
        while (!c->gone && c->ws) {
            auto frame = co_await c->ws->read();
            if (!frame) {
                break;
            }
            while (stalled && !stopped && !c->gone) {
                co_await wait_change(steady::time_point::max());
            }
            on_frame(*c, *frame);
        }
        c->gone = true;
        c->wake.cancel();
    }

    asio::awaitable<void> write_loop(std::shared_ptr<sm_conn> c) {
        for (;;) {
            if (c->gone || !c->ws) {
                co_return;
            }
            if (c->out.empty()) {
                if (c->close_code) {
                    // Ends the reader too: the client's close reply, or the bounded wait for it,
                    // finishes the socket.
                    co_await c->ws->close(*c->close_code, "");
                    co_return;
                }
                c->wake.expires_at(steady::time_point::max());
                co_await c->wake.async_wait(use_tuple);
                continue;
            }
            // Everything queued goes out in one write, as envelopes reach a client from a
            // busy Slack together; the acks already received are handled first (a few hops).
            for (std::size_t seen = 0, hops = 0; seen != c->out.size() && hops < 8; ++hops) {
                seen = c->out.size();
                co_await asio::post(c->wake.get_executor(), use_tuple);
            }
            std::vector<std::string> texts(std::make_move_iterator(c->out.begin()),
                                           std::make_move_iterator(c->out.end()));
            c->out.clear();
            auto written = co_await c->ws->write_all(std::move(texts));
            if (!written) {
                c->ws->drop();
                co_return;
            }
        }
    }

    asio::awaitable<void> handle_link(request_context& ctx) {
        if (!ctx.is_websocket_upgrade()) {
            co_await ctx.respond(400,
                                 "this is a Socket Mode URL: connect with a WebSocket client\n");
            co_return;
        }
        auto ticket = ctx.query("ticket").value_or("");
        if (!tickets.erase(ticket)) {
            co_await ctx.respond(
                401,
                "invalid_auth: unknown or already used ticket; call apps.connections.open "
                "for a fresh URL\n");
            co_return;
        }
        auto accepted = co_await ctx.accept_websocket();
        if (!accepted) {
            co_return;
        }
        std::unique_ptr<websocket_session> ws = std::move(*accepted);
        ++total_conns;
        auto c = std::make_shared<sm_conn>(executor, ++conn_seq, ws.get());
        std::size_t open = std::count_if(conns.begin(), conns.end(),
                                         [](const auto& other) { return !other->gone; });
        if (open >= options.max_connections) {
            log().info("fake_slack_too_many_websockets", {{"connection", c->id}});
            auto sent = co_await ws->write(disconnect_json("too_many_websockets"));
            (void)sent;  // closing either way
            co_await ws->close(1000, "too_many_websockets");
            notify_waiters();
            co_return;
        }
        struct unregister {
            std::shared_ptr<state> s;  // keeps the state alive however the frames unwind
            std::shared_ptr<sm_conn> c;
            ~unregister() {
                c->gone = true;
                c->ws = nullptr;
                std::erase(s->conns, c);
                s->log().info("fake_slack_socket_closed", {{"connection", c->id}});
                s->notify_waiters();
            }
        } guard{shared_from_this(), c};
        conns.push_back(c);
        queue(*c, hello_json());
        log().info(
            "fake_slack_socket_open",
            {{"connection", c->id}, {"open", conns.size()}, {"tls", options.tls != nullptr}});
        flush_pending();
        notify_waiters();
        using namespace asio::experimental::awaitable_operators;
        co_await (read_loop(c) && write_loop(c));
    }

    // ---- envelope builders ----

    core::result<const slack_user*> need_user(const std::string& id) const {
        if (auto* u = find_user(id)) {
            return u;
        }
        std::string known;
        for (const auto& [uid, u] : users) {
            known += (known.empty() ? "" : ", ") + uid;
        }
        return core::make_error(core::errc::not_found,
                                fmt::format("the fake Slack has no user {}; known users: {}", id,
                                            known.empty() ? "none" : known));
    }
    core::result<channel_state*> need_channel(const std::string& ref) {
        if (auto* ch = find_channel(ref)) {
            return ch;
        }
        std::string known;
        for (const auto& [cid, ch] : channels) {
            if (!ch.is_im) {
                known += (known.empty() ? "" : ", ") + cid + " (#" + ch.info.name + ")";
            }
        }
        return core::make_error(core::errc::not_found,
                                fmt::format("the fake Slack has no channel {}; known channels: {}",
                                            ref, known.empty() ? "none" : known));
    }

    json user_ref(const slack_user& u) const {
        return {{"id", u.id}, {"username", u.name}, {"name", u.name}, {"team_id", options.team_id}};
    }
    json team_ref() const { return {{"id", options.team_id}, {"domain", options.team_domain}}; }

    json event_envelope(json event, const std::string& channel) {
        auto event_type = get_str(event, "type");
        json payload = {
            {"token", "fake-verification-token"},
            {"team_id", options.team_id},
            {"api_app_id", options.app_id},
            {"event", std::move(event)},
            {"type", "event_callback"},
            {"event_id", fmt::format("Ev0{:09X}", ++seq)},
            {"event_time", now_unix()},
            {"authorizations", json::array({{{"enterprise_id", nullptr},
                                             {"team_id", options.team_id},
                                             {"user_id", options.bot_user_id},
                                             {"is_bot", true},
                                             {"is_enterprise_install", false}}})},
            {"is_ext_shared_channel", false},
            {"event_context", fmt::format("4-{}-{}-{}", event_type, options.team_id, channel)},
            {"context_team_id", options.team_id}};
        return {{"envelope_id", uuid()}, {"payload", std::move(payload)},
                {"type", "events_api"},  {"accepts_response_payload", false},
                {"retry_attempt", 0},    {"retry_reason", ""}};
    }

    core::result<std::string> user_message_event(const std::string& user, channel_state& ch,
                                                 std::string text, std::string thread_ts,
                                                 bool mention) {
        slack_message m;
        m.user = user;
        m.text = std::move(text);
        m.thread_ts = std::move(thread_ts);
        m.via = "person";
        auto& stored = store_message(ch, std::move(m));
        changed({slack_change_kind::message_posted, stored.channel, stored.ts, {}, {}});
        json event = {{"client_msg_id", uuid()},
                      {"type", mention ? "app_mention" : "message"},
                      {"text", stored.text},
                      {"user", user},
                      {"ts", stored.ts},
                      {"team", options.team_id},
                      {"blocks", rich_text_blocks(stored.text, rng)},
                      {"channel", ch.info.id},
                      {"event_ts", stored.ts}};
        if (!mention) {
            event["channel_type"] = ch.is_im ? "im" : ch.info.is_private ? "group" : "channel";
        }
        if (stored.is_reply()) {
            event["thread_ts"] = stored.thread_ts;
            if (auto* root = find_msg(ch, stored.thread_ts)) {
                event["parent_user_id"] = root->user;
            }
        }
        envelope_extra ex;
        ex.redeliver = true;
        ex.user = user;
        ex.channel = ch.info.id;
        return push_envelope(event_envelope(std::move(event), ch.info.id), "events_api",
                             mention ? "app_mention" : "message", std::move(ex));
    }
};

// ---- sandbox workspace ----

fake_slack_options sandbox_slack_workspace() {
    fake_slack_options o;
    for (auto [id, name] : {std::pair{"C0DEPLOYS", "deploys"}, std::pair{"C0PAYMENTS", "payments"},
                            std::pair{"C0ORDERS", "orders"}, std::pair{"C0SEARCH", "search"},
                            std::pair{"C0APPROVALS", "approvals"}, std::pair{"C0HELP", "help"}}) {
        o.channels.push_back({id, name, {}, true, false});
    }
    o.channels.push_back({"C0RANDOM", "random", {}, false, false});
    o.users = {
        {"U0ALICE", "alice", "alice@example.com", false, "Alice Archer"},
        {"U0BOB", "bob", "bob@example.com", false, "Bob Builder"},
        {"U0CAROL", "carol", "carol@example.com", false, "Carol Chen"},
        {"U0DAVE", "dave", "dave@example.com", false, "Dave Diaz"},
    };
    o.usergroups = {
        {"S0DEVS", "devs", {"U0ALICE", "U0CAROL"}},
        {"S0SRE", "sre", {"U0BOB", "U0DAVE"}},
    };
    return o;
}

// ---- slack_api_call ----

std::string slack_api_call::arg(std::string_view name) const {
    auto j = json::parse(args_json, nullptr, false);
    if (!j.is_object()) {
        return {};
    }
    return get_str(j, std::string(name).c_str());
}

// ---- fake_slack ----

core::result<fake_slack> fake_slack::start(asio::any_io_executor executor,
                                           fake_slack_options options) {
    auto st = std::make_shared<state>(executor, std::move(options));
    auto& o = st->options;
    if (o.bot_token.empty() || o.app_token.empty()) {
        return core::make_error(core::errc::invalid_argument,
                                "fake Slack needs a bot token (xoxb-…) and an app token (xapp-…)");
    }
    for (const auto& u : o.users) {
        if (!st->users.emplace(u.id, u).second) {
            return core::make_error(core::errc::invalid_argument,
                                    "fake Slack: user " + u.id + " is listed twice");
        }
        if (!u.email.empty()) {
            st->user_by_email[lower(u.email)] = u.id;
        }
    }
    for (const auto& c : o.channels) {
        auto [it, fresh] = st->channels.try_emplace(c.id);
        if (!fresh || c.id.empty()) {
            return core::make_error(
                core::errc::invalid_argument,
                "fake Slack: channel \"" + c.id + "\" is empty or listed twice");
        }
        it->second.info = c;
        if (c.id.front() == 'D' && c.members.size() == 1) {
            it->second.is_im = true;
            it->second.im_user = c.members.front();
        }
        st->channel_by_name[c.name] = c.id;
    }
    for (const auto& g : o.usergroups) {
        st->groups[g.id] = g;
    }

    http_server_options server_options;
    server_options.tls = o.tls;
    server_options.port = o.port;
    server_options.log = o.log;
    auto server = http_server::start(executor, server_options);
    if (!server) {
        return std::move(server).error();
    }
    st->server.emplace(std::move(*server));
    st->base = st->server->base_url();
    st->ws_base = (o.tls ? "wss" : "ws") + st->base.substr(st->base.find(':'));

    std::weak_ptr<state> weak = st;
    auto route = [&](std::string method, std::string pattern,
                     asio::awaitable<void> (state::*fn)(request_context&)) {
        st->server->route(std::move(method), std::move(pattern),
                          [weak, fn](request_context& ctx) -> asio::awaitable<void> {
                              auto self = weak.lock();
                              if (!self || self->stopped) {
                                  co_await ctx.respond(503, "the fake Slack has stopped\n");
                                  co_return;
                              }
                              co_await ((*self).*fn)(ctx);
                          });
    };
    route("*", "/api/{method}", &state::handle_api);
    route("POST", "/upload/v1/{id}", &state::handle_upload);
    route("POST", "/response/{id}", &state::handle_response_url);
    route("GET", "/link/", &state::handle_link);
    route("GET", "/link", &state::handle_link);

    asio::co_spawn(
        executor, [st]() -> asio::awaitable<void> { co_await st->sweep(); }, asio::detached);
    st->log().info("fake_slack_started", {{"url", st->base}, {"tls", o.tls != nullptr}});
    return fake_slack(std::move(st));
}

fake_slack::fake_slack(std::shared_ptr<state> s) : state_(std::move(s)) {}
fake_slack::fake_slack(fake_slack&&) noexcept = default;
fake_slack& fake_slack::operator=(fake_slack&& other) noexcept {
    if (this != &other) {
        stop();
        state_ = std::move(other.state_);
    }
    return *this;
}
fake_slack::~fake_slack() {
    stop();
}

void fake_slack::stop() {
    if (!state_ || state_->stopped) {
        return;
    }
    auto& s = *state_;
    s.stopped = true;
    // Frames still parked in the io_context unwind later, possibly after the logger and the
    // observers' captures are gone: from here on nothing outside the fake is touched.
    s.options.log = nullptr;
    s.observers.clear();
    s.server->stop();
    s.sweep_timer.cancel();
    for (auto& c : s.conns) {
        c->gone = true;
        c->wake.cancel();
    }
    s.notify_waiters();
}

std::string fake_slack::base_url() const {
    return state_->base;
}
std::string fake_slack::api_url() const {
    return state_->base + "/api/";
}
std::uint16_t fake_slack::port() const noexcept {
    return state_->server->port();
}
const fake_slack_options& fake_slack::options() const noexcept {
    return state_->options;
}

std::vector<slack_message> fake_slack::messages(std::string_view channel) const {
    std::vector<slack_message> out;
    if (auto* ch = state_->find_channel(channel)) {
        for (const auto& m : ch->messages) {
            if (!m.deleted && (!m.is_reply() || m.reply_broadcast)) {
                out.push_back(m);
            }
        }
    }
    return out;
}

std::vector<slack_message> fake_slack::thread(std::string_view channel,
                                              std::string_view thread_ts) const {
    std::vector<slack_message> out;
    if (auto* ch = state_->find_channel(channel)) {
        for (const auto& m : ch->messages) {
            if (!m.deleted && (m.ts == thread_ts || (m.is_reply() && m.thread_ts == thread_ts))) {
                out.push_back(m);
            }
        }
    }
    return out;
}

const slack_message* fake_slack::find_message(std::string_view channel, std::string_view ts) const {
    auto* ch = state_->find_channel(channel);
    return ch ? state_->find_msg(*ch, ts) : nullptr;
}

const std::vector<slack_ephemeral>& fake_slack::ephemerals() const noexcept {
    return state_->ephemerals;
}

std::vector<slack_ephemeral> fake_slack::ephemerals_for(std::string_view user) const {
    std::vector<slack_ephemeral> out;
    for (const auto& e : state_->ephemerals) {
        if (e.user == user) {
            out.push_back(e);
        }
    }
    return out;
}

const std::vector<slack_file>& fake_slack::files() const noexcept {
    return state_->files;
}
const slack_file* fake_slack::file(std::string_view id) const {
    return state_->find_file(id);
}
const std::vector<slack_view>& fake_slack::views() const noexcept {
    return state_->views;
}
const slack_view* fake_slack::view(std::string_view id) const {
    return state_->find_view(id);
}
std::string fake_slack::dm_channel(std::string_view user) {
    return state_->dm(std::string(user)).info.id;
}

const std::vector<slack_api_call>& fake_slack::calls() const noexcept {
    return state_->calls;
}
std::vector<slack_api_call> fake_slack::calls(std::string_view method) const {
    std::vector<slack_api_call> out;
    for (const auto& c : state_->calls) {
        if (c.method == method) {
            out.push_back(c);
        }
    }
    return out;
}
const std::vector<recorded_request>& fake_slack::requests() const noexcept {
    return state_->server->requests();
}
const std::deque<slack_envelope>& fake_slack::envelopes() const noexcept {
    return state_->envelopes;
}
const slack_envelope* fake_slack::envelope(std::string_view envelope_id) const {
    auto it = state_->envelope_index.find(std::string(envelope_id));
    return it == state_->envelope_index.end() ? nullptr : &state_->envelopes[it->second];
}
const std::vector<std::string>& fake_slack::unexpected_frames() const noexcept {
    return state_->unexpected;
}
std::size_t fake_slack::acked_count() const noexcept {
    return state_->acked;
}
std::size_t fake_slack::in_flight() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < state_->envelopes.size(); ++i) {
        const auto& e = state_->envelopes[i];
        n += state_->extras[i].tracked && !e.acked && !e.gave_up ? 1 : 0;
    }
    return n;
}
std::size_t fake_slack::redeliveries() const noexcept {
    return state_->redelivered;
}

const std::vector<slack_rate_violation>& fake_slack::rate_violations() const noexcept {
    return state_->violations;
}
std::size_t fake_slack::rate_violations(std::string_view method) const {
    return static_cast<std::size_t>(
        std::count_if(state_->violations.begin(), state_->violations.end(),
                      [&](const slack_rate_violation& v) { return v.method == method; }));
}
void fake_slack::enforce_rate_limits(bool on) {
    state_->options.rate_limits.enforce = on;
}

void fake_slack::inject_ratelimit(std::string method, int count, int retry_after_s) {
    state_->injections.push_back(
        {std::move(method), count, injection_kind::ratelimit, retry_after_s, {}});
}
void fake_slack::inject_http_status(std::string method, int count, int status) {
    state_->injections.push_back({std::move(method), count, injection_kind::status, status, {}});
}
void fake_slack::inject_error(std::string method, int count, std::string error) {
    state_->injections.push_back(
        {std::move(method), count, injection_kind::error, 0, std::move(error)});
}
void fake_slack::inject_missing_scope(std::string method, std::string needed, int count) {
    state_->injections.push_back(
        {std::move(method), count, injection_kind::missing_scope, 0, std::move(needed)});
}
void fake_slack::inject_drop(std::string method, int count) {
    state_->injections.push_back({std::move(method), count, injection_kind::drop, 0, {}});
}
void fake_slack::clear_injections() {
    state_->injections.clear();
}

core::result<std::string> fake_slack::deliver_slash_command(std::string user, std::string channel,
                                                            std::string command, std::string text) {
    auto& s = *state_;
    auto u = s.need_user(user);
    if (!u) {
        return std::move(u).error();
    }
    auto ch = s.need_channel(channel);
    if (!ch) {
        return std::move(ch).error();
    }
    auto& c = **ch;
    response_target target;
    target.channel = c.info.id;
    target.user = user;
    json payload = {{"token", "fake-verification-token"},
                    {"team_id", s.options.team_id},
                    {"team_domain", s.options.team_domain},
                    {"channel_id", c.info.id},
                    {"channel_name", c.is_im ? "directmessage" : c.info.name},
                    {"user_id", user},
                    {"user_name", (*u)->name},
                    {"command", command},
                    {"text", text},
                    {"api_app_id", s.options.app_id},
                    {"is_enterprise_install", false},
                    {"response_url", s.issue_response_url(std::move(target))},
                    {"trigger_id", s.issue_trigger(user)}};
    json doc = {{"envelope_id", s.uuid()},
                {"payload", std::move(payload)},
                {"type", "slash_commands"},
                {"accepts_response_payload", true}};
    envelope_extra ex;
    ex.user = user;
    ex.channel = c.info.id;
    return s.push_envelope(std::move(doc), "slash_commands", command, std::move(ex));
}

core::result<std::string> fake_slack::deliver_app_mention(std::string user, std::string channel,
                                                          std::string text, std::string thread_ts) {
    auto& s = *state_;
    if (auto u = s.need_user(user); !u) {
        return std::move(u).error();
    }
    auto ch = s.need_channel(channel);
    if (!ch) {
        return std::move(ch).error();
    }
    if (!(*ch)->info.bot_member) {
        return core::make_error(
            core::errc::conflict,
            fmt::format("the bot is not in #{}; Slack would not deliver the mention (invite it "
                        "with bot_member = true)",
                        (*ch)->info.name));
    }
    auto mention = "<@" + s.options.bot_user_id + ">";
    if (text.find(mention) == std::string::npos) {
        text = mention + " " + text;
    }
    return s.user_message_event(user, **ch, std::move(text), std::move(thread_ts), true);
}

core::result<std::string> fake_slack::deliver_message(std::string user, std::string channel,
                                                      std::string text, std::string thread_ts) {
    auto& s = *state_;
    if (auto u = s.need_user(user); !u) {
        return std::move(u).error();
    }
    auto ch = s.need_channel(channel);
    if (!ch) {
        return std::move(ch).error();
    }
    if (!(*ch)->is_im && !(*ch)->info.bot_member) {
        return core::make_error(
            core::errc::conflict,
            fmt::format("the bot is not in #{}; Slack would not send it the message (invite it "
                        "with bot_member = true)",
                        (*ch)->info.name));
    }
    return s.user_message_event(user, **ch, std::move(text), std::move(thread_ts), false);
}

core::result<std::string> fake_slack::deliver_dm(std::string user, std::string text) {
    auto& s = *state_;
    if (auto u = s.need_user(user); !u) {
        return std::move(u).error();
    }
    return s.user_message_event(user, s.dm(user), std::move(text), {}, false);
}

core::result<std::string> fake_slack::deliver_block_action(std::string user, std::string channel,
                                                           std::string message_ts,
                                                           std::string action_id,
                                                           std::string value) {
    auto& s = *state_;
    auto u = s.need_user(user);
    if (!u) {
        return std::move(u).error();
    }
    auto ch = s.need_channel(channel);
    if (!ch) {
        return std::move(ch).error();
    }
    auto& c = **ch;
    auto* m = s.find_msg(c, message_ts);
    auto* e = m ? nullptr : s.find_ephemeral(message_ts);
    if ((!m || m->deleted) && !e) {
        return core::make_error(
            core::errc::not_found,
            fmt::format("no message {} in #{} to press a button on", message_ts, c.info.name));
    }
    // The element's type, block and label come from the message, as Slack sends them.
    const std::string& blocks_text = m ? m->blocks_json : e->blocks_json;
    json element = {{"type", "button"}, {"action_id", action_id}};
    std::string block_id;
    auto blocks = blocks_text.empty() ? json::array() : json::parse(blocks_text, nullptr, false);
    if (blocks.is_array()) {
        for (const auto& b : blocks) {
            if (!b.is_object()) {
                continue;
            }
            json candidates = b.value("elements", json::array());
            if (b.contains("accessory")) {
                candidates.push_back(b["accessory"]);
            }
            for (const auto& el : candidates) {
                if (el.is_object() && get_str(el, "action_id") == action_id) {
                    element = el;
                    block_id = get_str(b, "block_id");
                }
            }
        }
    }
    json action = {{"action_id", action_id},
                   {"block_id", block_id},
                   {"type", get_str(element, "type")},
                   {"action_ts", s.next_ts()}};
    if (element.contains("text")) {
        action["text"] = element["text"];
    }
    if (get_str(element, "type").find("select") != std::string::npos ||
        get_str(element, "type") == "overflow" || get_str(element, "type") == "radio_buttons") {
        action["selected_option"] = {{"text", {{"type", "plain_text"}, {"text", value}}},
                                     {"value", value}};
    } else {
        action["value"] = value;
    }
    response_target target;
    target.channel = c.info.id;
    target.user = user;
    target.message_ts = message_ts;
    target.ephemeral_source = e != nullptr;
    json payload = {
        {"type", "block_actions"},
        {"user", s.user_ref(**u)},
        {"api_app_id", s.options.app_id},
        {"token", "fake-verification-token"},
        {"container",
         {{"type", "message"},
          {"message_ts", message_ts},
          {"channel_id", c.info.id},
          {"is_ephemeral", e != nullptr}}},
        {"trigger_id", s.issue_trigger(user)},
        {"team", s.team_ref()},
        {"enterprise", nullptr},
        {"is_enterprise_install", false},
        {"channel", {{"id", c.info.id}, {"name", c.is_im ? "directmessage" : c.info.name}}},
        {"state", {{"values", json::object()}}},
        {"response_url", s.issue_response_url(std::move(target))},
        {"actions", json::array({std::move(action)})}};
    if (m) {
        payload["message"] = s.message_json(c, *m);
    }
    json doc = {{"envelope_id", s.uuid()},
                {"payload", std::move(payload)},
                {"type", "interactive"},
                {"accepts_response_payload", false}};
    envelope_extra ex;
    ex.user = user;
    ex.channel = c.info.id;
    return s.push_envelope(std::move(doc), "interactive", "block_actions", std::move(ex));
}

core::result<std::string> fake_slack::deliver_view_submission(std::string user, std::string view_id,
                                                              std::string state_values_json) {
    auto& s = *state_;
    auto u = s.need_user(user);
    if (!u) {
        return std::move(u).error();
    }
    auto* v = s.find_view(view_id);
    if (!v || !v->open) {
        return core::make_error(
            core::errc::not_found,
            fmt::format("no open view {}; open one with views.open first", view_id));
    }
    auto values = json::parse(state_values_json, nullptr, false);
    if (!values.is_object()) {
        return core::make_error(core::errc::invalid_argument,
                                "state values must be a JSON object like "
                                "{\"block\":{\"action\":{\"type\":\"plain_text_input\","
                                "\"value\":\"x\"}}}");
    }
    json view = s.view_json(*v);
    view["state"] = {{"values", std::move(values)}};
    json payload = {{"type", "view_submission"},
                    {"team", s.team_ref()},
                    {"user", s.user_ref(**u)},
                    {"api_app_id", s.options.app_id},
                    {"token", "fake-verification-token"},
                    {"trigger_id", s.issue_trigger(user)},
                    {"view", std::move(view)},
                    {"response_urls", json::array()},
                    {"is_enterprise_install", false},
                    {"enterprise", nullptr}};
    json doc = {{"envelope_id", s.uuid()},
                {"payload", std::move(payload)},
                {"type", "interactive"},
                {"accepts_response_payload", true}};
    envelope_extra ex;
    ex.user = user;
    ex.view_id = view_id;
    return s.push_envelope(std::move(doc), "interactive", "view_submission", std::move(ex));
}

std::string fake_slack::deliver_raw(std::string text) {
    auto& s = *state_;
    auto doc = json::parse(text, nullptr, false);
    envelope_extra ex;
    ex.tracked = doc.is_object() && !get_str(doc, "envelope_id").empty();
    // Sent byte for byte, even when it is not JSON.
    slack_envelope rec;
    rec.envelope_id = ex.tracked ? get_str(doc, "envelope_id") : std::string{};
    rec.type = doc.is_object() ? get_str(doc, "type") : std::string{};
    rec.kind = "raw";
    rec.json = text;
    ex.wire = std::move(text);
    ex.doc = doc.is_discarded() ? json::object() : std::move(doc);
    auto index = s.envelopes.size();
    if (ex.tracked) {
        s.envelope_index[rec.envelope_id] = index;
    }
    auto id = rec.envelope_id;
    s.envelopes.push_back(std::move(rec));
    s.extras.push_back(std::move(ex));
    s.send_envelope(index);
    return id;
}

std::vector<slack_connection_info> fake_slack::connections() const {
    std::vector<slack_connection_info> out;
    for (const auto& c : state_->conns) {
        if (!c->gone) {
            out.push_back({c->id, c->disconnect_sent, c->delivered, c->acks, c->opened_at});
        }
    }
    return out;
}

std::size_t fake_slack::open_connections() const noexcept {
    return static_cast<std::size_t>(std::count_if(state_->conns.begin(), state_->conns.end(),
                                                  [](const auto& c) { return !c->gone; }));
}

std::size_t fake_slack::total_connections() const noexcept {
    return state_->total_conns;
}

namespace {

std::shared_ptr<sm_conn> find_conn(const std::vector<std::shared_ptr<sm_conn>>& conns,
                                   std::size_t id) {
    for (const auto& c : conns) {
        if (c->id == id && !c->gone && c->ws) {
            return c;
        }
    }
    return nullptr;
}

}  // namespace

bool fake_slack::send_disconnect(std::size_t connection, std::string reason,
                                 std::optional<std::chrono::milliseconds> close_after) {
    auto c = find_conn(state_->conns, connection);
    if (!c) {
        return false;
    }
    c->disconnect_sent = true;
    state::queue(*c, state_->disconnect_json(reason));
    state_->log().info("fake_slack_disconnect", {{"connection", connection}, {"reason", reason}});
    if (close_after) {
        if (*close_after <= std::chrono::milliseconds::zero()) {
            c->close_code = 1000;
            c->wake.cancel();
        } else {
            auto delay = *close_after;
            asio::co_spawn(
                state_->executor,
                [c, delay]() -> asio::awaitable<void> {
                    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
                    co_await timer.async_wait(use_tuple);
                    if (!c->gone) {
                        c->close_code = 1000;
                        c->wake.cancel();
                    }
                },
                asio::detached);
        }
    }
    state_->notify_waiters();
    return true;
}

void fake_slack::send_disconnect_all(std::string reason,
                                     std::optional<std::chrono::milliseconds> close_after) {
    std::vector<std::size_t> ids;
    for (const auto& c : state_->conns) {
        ids.push_back(c->id);
    }
    for (auto id : ids) {
        send_disconnect(id, reason, close_after);
    }
}

bool fake_slack::close_connection(std::size_t connection, int code) {
    auto c = find_conn(state_->conns, connection);
    if (!c) {
        return false;
    }
    c->close_code = code;
    c->wake.cancel();
    return true;
}

bool fake_slack::drop_connection(std::size_t connection) {
    auto c = find_conn(state_->conns, connection);
    if (!c) {
        return false;
    }
    state_->log().info("fake_slack_drop", {{"connection", connection}});
    c->ws->drop();
    return true;
}

void fake_slack::refuse_connections(std::string error) {
    state_->refuse_error = std::move(error);
}

void fake_slack::stall(bool on) {
    state_->stalled = on;
    state_->notify_waiters();
}

void fake_slack::on_change(std::function<void(const slack_change&)> observer) {
    state_->observers.push_back(std::move(observer));
}

asio::awaitable<bool> fake_slack::wait_until(std::function<bool()> done,
                                             std::chrono::milliseconds timeout) {
    auto self = state_;
    auto deadline = steady::now() + timeout;
    while (!done()) {
        if (self->stopped || steady::now() >= deadline) {
            co_return done();
        }
        co_await self->wait_change(deadline);
    }
    co_return true;
}

}  // namespace tugboat::sandbox
