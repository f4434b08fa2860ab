#include "bot/slack_events.hpp"

#include "core/text.hpp"

#include <fmt/format.h>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace tugboat::bot {

namespace {

namespace bj = boost::json;
using commands::event_kind;
using commands::inbound_event;

core::error bad(std::string message) {
    return core::make_error(core::errc::invalid_argument, std::move(message));
}

// One value of a parsed JSON text. A document is a vector of nodes in document order where a
// container's members follow it (`span` nodes with it), so nothing points anywhere and one
// vector serves frame after frame without allocating. Strings are views into the parsed text,
// or into the document's arena when unescaping changed them.
struct json {
    enum class type : std::uint8_t { null, boolean, int64, uint64, number, string, object, array };

    type t = type::null;
    bool flag = false;       // a boolean's value
    std::uint32_t span = 1;  // this node and every node nested in it
    std::uint64_t bits = 0;  // an int64's or uint64's value
    std::string_view key;    // the member's name when the parent is an object
    std::string_view text;   // a string's value

    bool is_null() const noexcept { return t == type::null; }
    bool is_bool() const noexcept { return t == type::boolean; }
    bool is_int64() const noexcept { return t == type::int64; }
    bool is_uint64() const noexcept { return t == type::uint64; }
    bool is_string() const noexcept { return t == type::string; }
    bool is_object() const noexcept { return t == type::object; }
    bool is_array() const noexcept { return t == type::array; }
    bool get_bool() const noexcept { return flag; }
    std::int64_t get_int64() const noexcept { return static_cast<std::int64_t>(bits); }
    std::uint64_t get_uint64() const noexcept { return bits; }
};

// The members of an object or the elements of an array, in document order.
class items {
public:
    class iterator {
    public:
        explicit iterator(const json* at) : at_(at) {}
        const json& operator*() const { return *at_; }
        iterator& operator++() {
            at_ += at_->span;
            return *this;
        }
        bool operator!=(const iterator& other) const { return at_ != other.at_; }

    private:
        const json* at_;
    };

    explicit items(const json& container)
        : first_(&container + 1), last_(&container + container.span) {}
    iterator begin() const { return iterator{first_}; }
    iterator end() const { return iterator{last_}; }
    bool empty() const { return first_ == last_; }
    const json& front() const { return *first_; }

private:
    const json* first_;
    const json* last_;
};

// Member `key` of `node` when `node` is an object that has it; never throws. Of duplicate
// names the last counts, as in nlohmann and Boost.JSON DOMs.
const json* member(const json& node, std::string_view key) {
    if (!node.is_object()) {
        return nullptr;
    }
    const json* found = nullptr;
    for (const json& m : items(node)) {
        if (m.key == key) {
            found = &m;
        }
    }
    return found;
}

const json* member(const json* node, std::string_view key) {
    return node == nullptr ? nullptr : member(*node, key);
}

// The string at `node`, or nullptr when absent or not a string.
const std::string_view* string_at(const json* node) {
    return node != nullptr && node->is_string() ? &node->text : nullptr;
}

// Member `key` as text: "" when absent or null; nullopt when present with another type.
std::optional<std::string_view> optional_string(const json* node, std::string_view key) {
    const json* m = member(node, key);
    if (m == nullptr || m->is_null()) {
        return std::string_view{};
    }
    if (const auto* s = string_at(m)) {
        return *s;
    }
    return std::nullopt;
}

// Reads optional string members into `out`, remembering the first one with a wrong type.
class reader {
public:
    explicit reader(std::string_view what) : what_(what) {}

    // Optional member: "" when absent or null.
    std::string opt(const json* node, std::string_view key, std::string_view path) {
        auto v = optional_string(node, key);
        if (!v) {
            fail(fmt::format("{} is not a string", path));
            return {};
        }
        return std::string{*v};
    }

    // Required member: a non-empty string.
    std::string req(const json* node, std::string_view key, std::string_view path) {
        const auto* s = string_at(member(node, key));
        if (s == nullptr || s->empty()) {
            fail(fmt::format("{} is missing or not a string", path));
            return {};
        }
        return std::string{*s};
    }

    void fail(std::string message) {
        if (error_.empty()) {
            error_ = std::move(message);
        }
    }

    bool ok() const noexcept { return error_.empty(); }

    core::error error() const { return bad(fmt::format("{} payload rejected: {}", what_, error_)); }

private:
    std::string_view what_;
    std::string error_;
};

core::result<void> check_text(std::string_view text, const event_parse_options& options,
                              std::string_view what) {
    if (text.size() > options.max_text_bytes) {
        return bad(fmt::format("{} payload rejected: text is {} bytes, more than the {} allowed",
                               what, text.size(), options.max_text_bytes));
    }
    return core::ok();
}

parsed_payload ignored(std::string reason) {
    parsed_payload out;
    out.ignored = std::move(reason);
    return out;
}

parsed_payload accepted(inbound_event ev) {
    parsed_payload out;
    out.event = std::move(ev);
    return out;
}

// Whoever wrote "<@UBOT> deploy" in a DM meant "deploy"; anything else stays as typed.
std::string strip_leading_mention(std::string_view text, std::string_view bot_user_id) {
    if (!bot_user_id.empty() && text.starts_with("<@")) {
        if (auto stripped = commands::mention_command_text(text, bot_user_id)) {
            return *stripped;
        }
    }
    return std::string{text};
}

// Drops a leading "<@U…>" or "<@U…|name>", whoever it names.
std::string strip_leading_mention_any(std::string_view text) {
    if (text.starts_with("<@")) {
        auto close = text.find('>');
        if (close != std::string_view::npos) {
            return std::string{core::trim(text.substr(close + 1))};
        }
    }
    return std::string{core::trim(text)};
}

// The bot's user ID: configured, or the authorization Slack sent along with the event.
std::string_view bot_user(const json& payload, const event_parse_options& options) {
    if (!options.bot_user_id.empty()) {
        return options.bot_user_id;
    }
    const json* auths = member(payload, "authorizations");
    if (auths != nullptr && auths->is_array() && !items(*auths).empty()) {
        const json& first = items(*auths).front();
        const json* is_bot = member(first, "is_bot");
        if (is_bot == nullptr || (is_bot->is_bool() && is_bot->get_bool())) {
            if (const auto* id = string_at(member(first, "user_id"))) {
                return *id;
            }
        }
    }
    return {};
}

core::result<parsed_payload> events_api(const json& payload, const event_parse_options& options) {
    reader r("events_api");
    if (!payload.is_object()) {
        return bad("events_api payload rejected: not a JSON object");
    }
    auto type = r.opt(&payload, "type", "type");
    if (!r.ok()) {
        return r.error();
    }
    if (type != "event_callback") {
        // url_verification and app_rate_limited carry no person's action.
        return ignored(fmt::format("unsupported callback type {}", type));
    }
    const json* event = member(payload, "event");
    if (event == nullptr || !event->is_object()) {
        return bad("events_api payload rejected: event is missing or not an object");
    }
    auto event_id = r.req(&payload, "event_id", "event_id");
    auto event_type = r.req(event, "type", "event.type");
    if (!r.ok()) {
        return r.error();
    }
    const bool mention = event_type == "app_mention";
    if (!mention && event_type != "message") {
        return ignored(fmt::format("unsupported event {}", event_type));
    }
    // Bot-authored messages come back to us as events; answering them risks a loop.
    if (const auto* bot_id = string_at(member(event, "bot_id")); bot_id && !bot_id->empty()) {
        return ignored("bot message");
    }
    auto subtype = r.opt(event, "subtype", "event.subtype");
    if (!r.ok()) {
        return r.error();
    }
    if (subtype == "bot_message") {
        return ignored("bot message");
    }
    // Edits, deletions, joins and the like are not someone asking for something; a shared
    // file or a thread broadcast still carries typed text.
    if (!subtype.empty() && subtype != "file_share" && subtype != "thread_broadcast") {
        return ignored(fmt::format("message subtype {}", subtype));
    }
    if (!mention) {
        auto channel_type = r.opt(event, "channel_type", "event.channel_type");
        if (!r.ok()) {
            return r.error();
        }
        if (channel_type != "im") {
            return ignored("not a DM");
        }
    }
    inbound_event ev;
    ev.kind = mention ? event_kind::mention : event_kind::direct_message;
    ev.actor = r.req(event, "user", "event.user");
    ev.channel = r.req(event, "channel", "event.channel");
    ev.message_ts = r.req(event, "ts", "event.ts");
    ev.thread_ts = r.opt(event, "thread_ts", "event.thread_ts");
    auto text = r.opt(event, "text", "event.text");
    if (!r.ok()) {
        return r.error();
    }
    if (auto fits = check_text(text, options, "events_api"); !fits) {
        return fits.error();
    }
    const std::string_view bot = bot_user(payload, options);
    if (!bot.empty() && ev.actor == bot) {
        return ignored("own message");
    }
    if (mention) {
        auto command = bot.empty() ? std::nullopt : commands::mention_command_text(text, bot);
        // Without a mention of our own ID (an unknown bot ID, a mention through a group), drop
        // whatever user mention leads the text, which is how people address the bot.
        text = command ? std::move(*command) : strip_leading_mention_any(text);
    } else {
        text = strip_leading_mention(text, bot);
    }
    ev.text = commands::unescape_slack_text(text);
    ev.idempotency_key = "event:" + event_id;
    return accepted(std::move(ev));
}

// One input element's state as text: its value, the selected option's value, the selected
// user/channel/date, or a comma-separated list for multi-selects. Nullopt when nothing is set.
std::optional<std::string> element_value(const json& element) {
    if (!element.is_object()) {
        return std::nullopt;
    }
    if (const auto* v = string_at(member(element, "value"))) {
        return std::string{*v};
    }
    if (const json* option = member(element, "selected_option")) {
        if (const auto* v = string_at(member(option, "value"))) {
            return std::string{*v};
        }
    }
    static constexpr std::string_view singles[] = {
        "selected_user", "selected_conversation", "selected_channel",
        "selected_date", "selected_time",         "selected_date_time",
    };
    for (auto key : singles) {
        const json* m = member(element, key);
        if (m == nullptr || m->is_null()) {
            continue;
        }
        if (const auto* s = string_at(m)) {
            return std::string{*s};
        }
        if (m->is_int64()) {
            return std::to_string(m->get_int64());
        }
        if (m->is_uint64()) {
            return std::to_string(m->get_uint64());
        }
    }
    static constexpr std::string_view lists[] = {"selected_options", "selected_users",
                                                 "selected_conversations", "selected_channels"};
    for (auto key : lists) {
        const json* m = member(element, key);
        if (m == nullptr || !m->is_array()) {
            continue;
        }
        std::string joined;
        for (const json& item : items(*m)) {
            const std::string_view* v =
                item.is_object() ? string_at(member(item, "value")) : string_at(&item);
            if (v == nullptr) {
                continue;
            }
            if (!joined.empty()) {
                joined += ',';
            }
            joined += *v;
        }
        return joined;
    }
    return std::nullopt;
}

core::result<parsed_payload> block_actions(const json& payload, reader& r,
                                           const event_parse_options& options) {
    const json* actions = member(payload, "actions");
    if (actions == nullptr || !actions->is_array() || items(*actions).empty() ||
        !items(*actions).front().is_object()) {
        return bad("block_actions payload rejected: actions is missing or empty");
    }
    const json& action = items(*actions).front();
    const json* user = member(payload, "user");
    const json* container = member(payload, "container");
    const json* message = member(payload, "message");
    inbound_event ev;
    ev.kind = event_kind::button;
    ev.actor = r.req(user, "id", "user.id");
    ev.actor_name = r.opt(user, "username", "user.username");
    if (ev.actor_name.empty()) {
        ev.actor_name = r.opt(user, "name", "user.name");
    }
    ev.action_id = r.req(&action, "action_id", "actions[0].action_id");
    auto action_ts = r.opt(&action, "action_ts", "actions[0].action_ts");
    ev.channel = r.opt(member(payload, "channel"), "id", "channel.id");
    if (ev.channel.empty()) {
        ev.channel = r.opt(container, "channel_id", "container.channel_id");
    }
    ev.message_ts = r.opt(container, "message_ts", "container.message_ts");
    if (ev.message_ts.empty()) {
        ev.message_ts = r.opt(message, "ts", "message.ts");
    }
    ev.thread_ts = r.opt(message, "thread_ts", "message.thread_ts");
    if (ev.thread_ts.empty()) {
        ev.thread_ts = r.opt(container, "thread_ts", "container.thread_ts");
    }
    ev.response_url = r.opt(&payload, "response_url", "response_url");
    ev.trigger_id = r.opt(&payload, "trigger_id", "trigger_id");
    if (!r.ok()) {
        return r.error();
    }
    ev.action_value = element_value(action).value_or(std::string{});
    if (auto fits = check_text(ev.action_value, options, "block_actions"); !fits) {
        return fits.error();
    }
    // action_ts identifies one click; a re-delivered envelope repeats it, a second click
    // does not (workflows make approving twice harmless).
    if (!action_ts.empty()) {
        ev.idempotency_key = fmt::format("action:{}:{}:{}", action_ts, ev.actor, ev.action_id);
    } else if (!ev.trigger_id.empty()) {
        ev.idempotency_key = "action:" + ev.trigger_id;
    }
    return accepted(std::move(ev));
}

core::result<parsed_payload> view_event(const json& payload, reader& r, bool submitted,
                                        const event_parse_options& options) {
    const json* view = member(payload, "view");
    if (view == nullptr || !view->is_object()) {
        return bad(fmt::format("{} payload rejected: view is missing or not an object",
                               submitted ? "view_submission" : "view_closed"));
    }
    inbound_event ev;
    ev.kind = submitted ? event_kind::modal_submission : event_kind::modal_closed;
    const json* user = member(payload, "user");
    ev.actor = r.req(user, "id", "user.id");
    ev.actor_name = r.opt(user, "username", "user.username");
    if (ev.actor_name.empty()) {
        ev.actor_name = r.opt(user, "name", "user.name");
    }
    auto view_id = r.req(view, "id", "view.id");
    auto hash = r.opt(view, "hash", "view.hash");
    ev.action_id = r.opt(view, "callback_id", "view.callback_id");
    ev.action_value = r.opt(view, "private_metadata", "view.private_metadata");
    ev.trigger_id = r.opt(&payload, "trigger_id", "trigger_id");
    const json* urls = member(payload, "response_urls");
    if (urls != nullptr && urls->is_array() && !items(*urls).empty()) {
        ev.response_url =
            r.opt(&items(*urls).front(), "response_url", "response_urls[0].response_url");
    }
    if (!r.ok()) {
        return r.error();
    }
    std::size_t total = ev.action_value.size();
    const json* values = member(member(view, "state"), "values");
    if (values != nullptr && values->is_object()) {
        for (const json& block : items(*values)) {
            if (!block.is_object()) {
                continue;
            }
            for (const json& element : items(block)) {
                if (auto v = element_value(element)) {
                    total += v->size();
                    ev.values[std::string{element.key}] = std::move(*v);
                }
            }
        }
    }
    if (total > options.max_text_bytes) {
        return bad(
            fmt::format("view payload rejected: values are {} bytes, more than the {} "
                        "allowed",
                        total, options.max_text_bytes));
    }
    // view.hash changes with every update of the view, so one submission of one version of a
    // modal is one event; re-deliveries repeat it.
    ev.idempotency_key = fmt::format("{}:{}:{}", submitted ? "view" : "view_closed", view_id, hash);
    return accepted(std::move(ev));
}

core::result<parsed_payload> interactive(const json& payload, const event_parse_options& options) {
    if (!payload.is_object()) {
        return bad("interactive payload rejected: not a JSON object");
    }
    reader r("interactive");
    auto type = r.req(&payload, "type", "type");
    if (!r.ok()) {
        return r.error();
    }
    if (type == "block_actions") {
        reader br("block_actions");
        return block_actions(payload, br, options);
    }
    if (type == "view_submission" || type == "view_closed") {
        reader vr(type == "view_submission" ? "view_submission" : "view_closed");
        return view_event(payload, vr, type == "view_submission", options);
    }
    return ignored(fmt::format("unsupported interactive type {}", type));
}

// Slash command from any key → text source (JSON object or form fields). `get` returns
// nullopt for a field present with a non-text type.
template <class Get>
core::result<parsed_payload> slash_command(Get get, const event_parse_options& options) {
    std::string problem;
    auto field = [&](std::string_view key, bool required) -> std::string {
        std::optional<std::string_view> v = get(key);
        if (!v) {
            problem = problem.empty() ? fmt::format("{} is not a string", key) : problem;
            return {};
        }
        if (required && v->empty()) {
            problem = problem.empty() ? fmt::format("{} is missing", key) : problem;
        }
        return std::string{*v};
    };
    auto command = field("command", true);
    auto text = field("text", false);
    inbound_event ev;
    ev.kind = event_kind::slash_command;
    ev.actor = field("user_id", true);
    ev.actor_name = field("user_name", false);
    ev.channel = field("channel_id", true);
    ev.response_url = field("response_url", false);
    ev.trigger_id = field("trigger_id", false);
    if (!problem.empty()) {
        return bad("slash command payload rejected: " + problem);
    }
    if (auto fits = check_text(text, options, "slash command"); !fits) {
        return fits.error();
    }
    ev.text = commands::slash_command_text(command, commands::unescape_slack_text(text));
    // trigger_id is unique per invocation; re-deliveries of the same /deploy repeat it.
    if (!ev.trigger_id.empty()) {
        ev.idempotency_key = "command:" + ev.trigger_id;
    }
    return accepted(std::move(ev));
}

core::result<parsed_payload> slash_command_json(const json& payload,
                                                const event_parse_options& options) {
    if (!payload.is_object()) {
        return bad("slash command payload rejected: not a JSON object");
    }
    return slash_command([&](std::string_view key) { return optional_string(&payload, key); },
                         options);
}

// Builds a document (see `json`) from Boost.JSON's SAX-style parser, but never builds the
// members of a payload that no event reads: a modal's blocks, title, close and submit, a
// message's or event's blocks, attachments and files, block_actions' state. Those are most of
// an interactive payload's size. Only members at fixed places below the payload root are
// dropped, so user-chosen names deeper down (block and action IDs in view.state.values) are
// never matched.
class document_builder {
public:
    static constexpr std::size_t max_object_size = std::numeric_limits<std::uint32_t>::max();
    static constexpr std::size_t max_array_size = max_object_size;
    static constexpr std::size_t max_key_size = max_object_size;
    static constexpr std::size_t max_string_size = max_object_size;

    // Forgets the last document. `envelope`: the text is a Socket Mode frame whose `payload`
    // member holds the payload; otherwise the text is the payload itself.
    void start(std::string_view text, bool envelope) {
        // One huge frame must not keep its memory for the life of the connection.
        if (nodes_.capacity() > 4096) {
            nodes_ = {};
        }
        if (scratch_.capacity() > std::size_t{64} * 1024) {
            scratch_ = {};
        }
        nodes_.clear();
        open_.clear();
        scratch_.clear();
        arena_.release();
        text_ = text;
        base_ = envelope ? 2 : 1;
        key_ = {};
        skipping_ = 0;
        skip_next_ = false;
    }

    // The root of the document parsed last.
    const json& root() const { return nodes_.front(); }

    bool on_document_begin(bj::error_code& /*ec*/) { return true; }
    bool on_document_end(bj::error_code& /*ec*/) { return true; }
    bool on_object_begin(bj::error_code& /*ec*/) { return open(json::type::object); }
    bool on_object_end(std::size_t /*n*/, bj::error_code& /*ec*/) { return close(); }
    bool on_array_begin(bj::error_code& /*ec*/) { return open(json::type::array); }
    bool on_array_end(std::size_t /*n*/, bj::error_code& /*ec*/) { return close(); }

    bool on_key_part(bj::string_view s, std::size_t /*n*/, bj::error_code& /*ec*/) {
        if (skipping_ == 0) {
            scratch_.append(s.data(), s.size());
        }
        return true;
    }
    bool on_key(bj::string_view s, std::size_t /*n*/, bj::error_code& /*ec*/) {
        if (skipping_ > 0) {
            return true;
        }
        const std::string_view k = finish(s);
        if (prunable(k)) {
            skip_next_ = true;
        } else {
            key_ = k;
        }
        return true;
    }
    bool on_string_part(bj::string_view s, std::size_t /*n*/, bj::error_code& /*ec*/) {
        if (skipping_ == 0 && !skip_next_) {
            scratch_.append(s.data(), s.size());
        }
        return true;
    }
    bool on_string(bj::string_view s, std::size_t /*n*/, bj::error_code& /*ec*/) {
        if (json* n = add(json::type::string)) {
            n->text = finish(s);
        }
        return true;
    }
    bool on_number_part(bj::string_view /*s*/, bj::error_code& /*ec*/) { return true; }
    bool on_int64(std::int64_t i, bj::string_view /*s*/, bj::error_code& /*ec*/) {
        if (json* n = add(json::type::int64)) {
            n->bits = static_cast<std::uint64_t>(i);
        }
        return true;
    }
    bool on_uint64(std::uint64_t u, bj::string_view /*s*/, bj::error_code& /*ec*/) {
        if (json* n = add(json::type::uint64)) {
            n->bits = u;
        }
        return true;
    }
    bool on_double(double /*d*/, bj::string_view /*s*/, bj::error_code& /*ec*/) {
        add(json::type::number);  // no payload field the bot reads is fractional
        return true;
    }
    bool on_bool(bool b, bj::error_code& /*ec*/) {
        if (json* n = add(json::type::boolean)) {
            n->flag = b;
        }
        return true;
    }
    bool on_null(bj::error_code& /*ec*/) {
        add(json::type::null);
        return true;
    }
    bool on_comment_part(bj::string_view /*s*/, bj::error_code& /*ec*/) { return true; }
    bool on_comment(bj::string_view /*s*/, bj::error_code& /*ec*/) { return true; }

private:
    // Whether member `k` of the object being read is one never read.
    bool prunable(std::string_view k) const {
        const std::size_t depth = open_.size();  // of the object holding `k`
        if (depth < base_ || depth > base_ + 1) {
            return false;
        }
        if (base_ == 2 && nodes_[open_[1]].key != "payload") {
            return false;  // an envelope member other than the payload
        }
        if (depth == base_) {
            return k == "state";  // block_actions' copy of the inputs; the action is enough
        }
        const std::string_view parent = nodes_[open_[depth - 1]].key;
        if (parent != "view" && parent != "message" && parent != "event") {
            return false;
        }
        return k == "blocks" || k == "attachments" || k == "files" ||
               (parent == "view" && (k == "title" || k == "close" || k == "submit"));
    }

    // The node for the next value; nullptr when the value is dropped.
    json* add(json::type t) {
        if (skipping_ > 0) {
            return nullptr;
        }
        if (skip_next_) {
            skip_next_ = false;
            scratch_.clear();  // parts of a dropped string
            return nullptr;
        }
        json& n = nodes_.emplace_back();
        n.t = t;
        n.key = std::exchange(key_, {});
        return &n;
    }

    bool open(json::type t) {
        if (skipping_ > 0 || skip_next_) {
            skip_next_ = false;
            ++skipping_;
            return true;
        }
        add(t);
        open_.push_back(static_cast<std::uint32_t>(nodes_.size() - 1));
        return true;
    }

    bool close() {
        if (skipping_ > 0) {
            --skipping_;
            return true;
        }
        const std::uint32_t at = open_.back();
        open_.pop_back();
        nodes_[at].span = static_cast<std::uint32_t>(nodes_.size() - at);
        return true;
    }

    // A string or key whose last piece is `last`: a view into the text when the parser handed
    // it over in one piece from there, else a copy in the arena (escapes, or pieces).
    std::string_view finish(bj::string_view last) {
        // std::less_equal: `last` may point into the parser's own buffer, and only the library
        // comparators order pointers into different objects.
        const std::less_equal<const char*> before_or_at;
        const char* begin = text_.data();
        const char* end = begin + text_.size();
        if (scratch_.empty() && before_or_at(begin, last.data()) &&
            before_or_at(last.data() + last.size(), end)) {
            return {last.data(), last.size()};
        }
        scratch_.append(last.data(), last.size());
        if (scratch_.empty()) {
            return {};
        }
        auto* copy = static_cast<char*>(arena_.allocate(scratch_.size(), 1));
        std::memcpy(copy, scratch_.data(), scratch_.size());
        const std::string_view out{copy, scratch_.size()};
        scratch_.clear();
        return out;
    }

    std::vector<json> nodes_;
    std::vector<std::uint32_t> open_;  // index of each open container, outermost first
    std::string scratch_;              // pieces of the string or key being read
    // Unescaped strings of one document; rewound, not freed, for the next.
    std::array<unsigned char, 4096> first_block_{};
    bj::monotonic_resource arena_{first_block_.data(), first_block_.size()};
    std::string_view text_;
    std::size_t base_ = 1;
    std::string_view key_;    // name of the member whose value comes next
    int skipping_ = 0;        // nesting depth inside a dropped container
    bool skip_next_ = false;  // the next value belongs to a dropped member
};

// Slack payloads nest a dozen levels at most (blocks in a message in an event); the bound
// keeps a hostile frame from growing the parser's stack. The parser also checks UTF-8, which
// a WebSocket text frame must be: Socket Mode reads frames without checking it first.
bj::parse_options json_limits() {
    bj::parse_options limits;
    limits.max_depth = 64;
    return limits;
}

// A reusable parser for one JSON text at a time.
class json_parser {
public:
    json_parser() : parser_{json_limits()} {}

    // The document in `text`, valid until the next call and while `text` lives; nullptr when
    // `text` is not exactly one valid JSON text.
    const json* parse(std::string_view text, bool envelope) {
        parser_.reset();
        parser_.handler().start(text, envelope);
        bj::error_code ec;
        const std::size_t used = parser_.write_some(false, text.data(), text.size(), ec);
        if (ec || used != text.size()) {
            return nullptr;
        }
        return &parser_.handler().root();
    }

private:
    bj::basic_parser<document_builder> parser_;
};

template <class Fn>
core::result<parsed_payload> parse_standalone(std::string_view text, std::string_view what, Fn fn) {
    try {
        auto parser = std::make_unique<json_parser>();
        const json* doc = parser->parse(text, /*envelope=*/false);
        if (doc == nullptr) {
            return bad(fmt::format("{} payload rejected: not valid JSON", what));
        }
        return fn(*doc);
    } catch (const std::exception& e) {
        // The accessors above check types first; this is a last line of defence.
        return bad(fmt::format("{} payload rejected: {}", what, e.what()));
    }
}

frame_type frame_type_of(std::string_view type) {
    if (type == "events_api") {
        return frame_type::events_api;
    }
    if (type == "slash_commands") {
        return frame_type::slash_commands;
    }
    if (type == "interactive") {
        return frame_type::interactive;
    }
    if (type == "hello") {
        return frame_type::hello;
    }
    if (type == "disconnect") {
        return frame_type::disconnect;
    }
    return frame_type::other;
}

int int_member(const json& node, std::string_view key) {
    const json* m = member(node, key);
    if (m == nullptr) {
        return 0;
    }
    if (m->is_uint64()) {
        return static_cast<int>(std::min<std::uint64_t>(m->get_uint64(), 1'000'000));
    }
    if (!m->is_int64()) {
        return 0;
    }
    auto v = m->get_int64();
    return v < 0 ? 0 : static_cast<int>(std::min<std::int64_t>(v, 1'000'000));
}

// The frame's own members; the payload is left in `doc` for payload_from.
core::result<socket_frame> header_from(const json& doc) {
    auto protocol = [](std::string message) {
        return core::make_error(core::errc::protocol_error,
                                "Socket Mode frame rejected: " + std::move(message));
    };
    if (!doc.is_object()) {
        return protocol("not a JSON object");
    }
    const auto* type_string = string_at(member(doc, "type"));
    if (type_string == nullptr) {
        return protocol("no string \"type\"");
    }
    const std::string_view type = *type_string;
    socket_frame frame;
    frame.type = frame_type_of(type);
    frame.type_name = type;
    if (frame.type == frame_type::hello) {
        frame.num_connections = int_member(doc, "num_connections");
        return frame;
    }
    if (frame.type == frame_type::disconnect) {
        if (const auto* reason = string_at(member(doc, "reason"))) {
            frame.disconnect_reason = *reason;
        }
        return frame;
    }
    if (const auto* id = string_at(member(doc, "envelope_id"))) {
        frame.envelope_id = *id;
    }
    if (frame.type == frame_type::other) {
        return frame;
    }
    if (frame.envelope_id.empty()) {
        return protocol(fmt::format("{} envelope without a string envelope_id", type));
    }
    if (const json* accepts = member(doc, "accepts_response_payload");
        accepts != nullptr && accepts->is_bool()) {
        frame.accepts_response_payload = accepts->get_bool();
    }
    frame.retry_attempt = int_member(doc, "retry_attempt");
    if (const auto* reason = string_at(member(doc, "retry_reason"))) {
        frame.retry_reason = *reason;
    }
    return frame;
}

// The event in an envelope whose header_from succeeded; empty for non-envelope frames.
core::result<parsed_payload> payload_from(const json& doc, frame_type type,
                                          std::string_view type_name,
                                          const event_parse_options& options) {
    if (type != frame_type::events_api && type != frame_type::slash_commands &&
        type != frame_type::interactive) {
        return parsed_payload{};
    }
    const json* payload = member(doc, "payload");
    if (payload == nullptr) {
        return bad(fmt::format("{} envelope has no payload", type_name));
    }
    switch (type) {
        case frame_type::events_api: return events_api(*payload, options);
        case frame_type::slash_commands: return slash_command_json(*payload, options);
        default: return interactive(*payload, options);
    }
}

void append_json_escaped(std::string& out, std::string_view text) {
    for (char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
                } else {
                    out += c;
                }
        }
    }
}

}  // namespace

core::result<parsed_payload> parse_events_api_payload(std::string_view json_text,
                                                      const event_parse_options& options) {
    return parse_standalone(json_text, "events_api",
                            [&](const json& doc) { return events_api(doc, options); });
}

core::result<parsed_payload> parse_interactive_payload(std::string_view json_text,
                                                       const event_parse_options& options) {
    return parse_standalone(json_text, "interactive",
                            [&](const json& doc) { return interactive(doc, options); });
}

core::result<parsed_payload> parse_slash_command_payload(std::string_view json_text,
                                                         const event_parse_options& options) {
    return parse_standalone(json_text, "slash command",
                            [&](const json& doc) { return slash_command_json(doc, options); });
}

core::result<parsed_payload> parse_slash_command_form(
    const std::map<std::string, std::string>& form, const event_parse_options& options) {
    return slash_command(
        [&](std::string_view key) -> std::optional<std::string_view> {
            auto it = form.find(std::string{key});
            return it == form.end() ? std::string_view{} : std::string_view{it->second};
        },
        options);
}

struct socket_frame_parser::state {
    json_parser parser;         // reused: a frame of a few KiB then costs no allocation
    const json* doc = nullptr;  // points into the caller's text
    frame_type type = frame_type::other;
    std::string type_name;
    bool have_header = false;
};

socket_frame_parser::socket_frame_parser(event_parse_options options)
    : options_(std::move(options)), state_(std::make_unique<state>()) {}

socket_frame_parser::~socket_frame_parser() = default;
socket_frame_parser::socket_frame_parser(socket_frame_parser&&) noexcept = default;
socket_frame_parser& socket_frame_parser::operator=(socket_frame_parser&&) noexcept = default;

core::result<socket_frame> socket_frame_parser::parse_header(std::string_view text) {
    state_->have_header = false;
    try {
        state_->doc = state_->parser.parse(text, /*envelope=*/true);
        if (state_->doc == nullptr) {
            return core::make_error(core::errc::protocol_error,
                                    "Socket Mode frame rejected: not valid JSON");
        }
        auto frame = header_from(*state_->doc);
        if (frame) {
            state_->type = frame->type;
            state_->type_name = frame->type_name;
            state_->have_header = true;
        }
        return frame;
    } catch (const std::exception& e) {
        return core::make_error(core::errc::protocol_error,
                                fmt::format("Socket Mode frame rejected: {}", e.what()));
    }
}

core::result<parsed_payload> socket_frame_parser::parse_payload() {
    if (!state_->have_header) {
        return bad("no Socket Mode frame was read: call parse_header first and check it");
    }
    state_->have_header = false;  // the payload is turned into an event once
    try {
        return payload_from(*state_->doc, state_->type, state_->type_name, options_);
    } catch (const std::exception& e) {
        // The accessors check types first; this is a last line of defence.
        return bad(fmt::format("{} payload rejected: {}", state_->type_name, e.what()));
    }
}

core::result<socket_frame> parse_socket_frame(std::string_view text,
                                              const event_parse_options& options) {
    socket_frame_parser parser(options);
    auto frame = parser.parse_header(text);
    if (frame) {
        frame->payload = parser.parse_payload();
    }
    return frame;
}

void make_ack_into(std::string& out, std::string_view envelope_id, std::string_view payload_json) {
    out.clear();
    out += R"({"envelope_id":")";
    append_json_escaped(out, envelope_id);
    out += '"';
    if (!payload_json.empty()) {
        out += R"(,"payload":)";
        out += payload_json;
    }
    out += '}';
}

std::string make_ack(std::string_view envelope_id, std::string_view payload_json) {
    std::string out;
    out.reserve(envelope_id.size() + payload_json.size() + 32);
    make_ack_into(out, envelope_id, payload_json);
    return out;
}

}  // namespace tugboat::bot
