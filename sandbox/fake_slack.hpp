#pragma once

// A Slack-compatible server on 127.0.0.1: the Web API (Slack's response shapes and errors), Socket
// Mode over ws:// or wss:// (hello, envelopes, acks, re-delivery after a missed ack, disconnect
// messages, abrupt drops), file uploads, response_url, rate-limit measurement and 429/5xx
// injection. Everything the bot does lands in a workspace model that tests query; the sandbox's
// "via Slack" mode prints it. Single-threaded: use it from its executor's thread.

#include "core/clock.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"
#include "sandbox/http_server.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace tugboat::sandbox {

// ---- seed data ----

/// A conversation the workspace starts with.
struct slack_channel {
    std::string id;    ///< C… (public), G… (private) or D… (DM)
    std::string name;  ///< without '#'
    /// User IDs in the channel; empty = every known user.
    std::vector<std::string> members;
    /// Whether the bot was invited; posting into a channel it is not in fails with not_in_channel.
    bool bot_member = true;
    bool is_private = false;
};

/// A person (or another bot) in the workspace.
struct slack_user {
    std::string id;    ///< U…
    std::string name;  ///< handle, e.g. "alice"
    std::string email;
    bool is_bot = false;
    std::string real_name;  ///< empty = name
};

/// A user group (S…), as mentioned with <!subteam^S…>.
struct slack_usergroup {
    std::string id;
    std::string handle;
    std::vector<std::string> users;
};

/// Slack's per-method rate limits. They are always measured (see fake_slack::rate_violations);
/// `enforce` also answers calls over the limit with HTTP 429 + Retry-After.
struct slack_rate_limits {
    bool enforce = false;
    /// chat.postMessage and in-channel response_url posts, per channel: a steady rate with a
    /// short burst on top (a token bucket of `post_burst` tokens refilled at this rate).
    double posts_per_second = 1.0;
    int post_burst = 4;
    /// Calls per `window` by method, overriding the tier table (Tier 1: 1, Tier 2: 20,
    /// Tier 3: 50, Tier 4: 100 per minute). Tests shrink these instead of waiting a minute.
    std::map<std::string, int> per_window;
    std::chrono::milliseconds window{std::chrono::minutes{1}};
};

/// Settings of the fake. The defaults describe an empty workspace; see sandbox_slack_workspace.
struct fake_slack_options {
    /// TLS server context (see make_server_tls_context); null = http:// and ws://.
    std::shared_ptr<boost::asio::ssl::context> tls;
    std::uint16_t port = 0;                            ///< 0 = any free port
    std::string bot_token = "xoxb-tugboat-sandbox";    ///< accepted for Web API methods
    std::string app_token = "xapp-1-tugboat-sandbox";  ///< accepted for apps.connections.open
    std::string team_id = "T0TUGBOAT";
    std::string team_domain = "tugboat";
    std::string team_name = "Tugboat";
    std::string app_id = "A0TUGBOAT";
    std::string bot_id = "B0TUGBOAT";
    std::string bot_user_id = "U0TUGBOAT";
    std::string bot_name = "tugboat";
    std::vector<slack_channel> channels;
    std::vector<slack_user> users;
    std::vector<slack_usergroup> usergroups;
    /// An envelope not acked within this is re-delivered (events) or reported as timed out
    /// to its user (commands, interactions), as Slack does after ~3 s.
    std::chrono::milliseconds ack_timeout{std::chrono::seconds{3}};
    /// Re-deliveries of an unacked events_api envelope (retry_attempt 1…this).
    int max_redeliveries = 3;
    /// Re-deliveries carry a new envelope_id (same event_id), so only event_id dedupes them.
    bool fresh_envelope_id_on_retry = false;
    /// trigger_ids expire this long after the interaction that issued them.
    std::chrono::milliseconds trigger_ttl{std::chrono::seconds{3}};
    /// Socket Mode connections open at once; the next gets a too_many_websockets disconnect.
    std::size_t max_connections = 10;
    slack_rate_limits rate_limits;
    /// Source of message ts and event_time; null = the system clock.
    const core::clock* clock = nullptr;
    core::logger* log = nullptr;  ///< lifecycle at info, each call/envelope at debug; null = silent
};

/// The sandbox's workspace, matching sandbox/sandbox.yaml: channels deploys, payments, orders,
/// search, approvals, help (bot invited) and random (bot not invited); people alice, bob,
/// carol, dave (U0ALICE…, alice@example.com…); groups S0DEVS (alice, carol), S0SRE (bob, dave).
fake_slack_options sandbox_slack_workspace();

// ---- workspace model ----

/// An earlier version of an edited message.
struct slack_message_version {
    std::string text;
    std::string blocks_json;  ///< "" when it had no blocks
    std::string via;          ///< "chat.update" or "response_url"
};

/// A message in a channel, posted by the bot (Web API, response_url, ack) or by a person
/// (delivered envelopes).
struct slack_message {
    std::string channel;
    std::string ts;         ///< "1700000000.000100" style; unique and increasing
    std::string thread_ts;  ///< the thread's root ts for replies; "" for top-level messages
    std::string user;       ///< author's user ID (the bot user for bot messages)
    std::string bot_id;     ///< set for messages the bot posted
    std::string text;
    std::string blocks_json;  ///< "" when the message has no blocks
    bool reply_broadcast = false;
    bool deleted = false;
    /// How it got here: "chat.postMessage", "response_url", "ack", "files.completeUploadExternal"
    /// for the bot; "person" for delivered user messages.
    std::string via;
    std::vector<slack_message_version> edits;  ///< oldest first
    std::string edited_ts;                     ///< when it was last edited, "" if never
    std::map<std::string, std::vector<std::string>> reactions;  ///< emoji name → user IDs
    std::vector<std::string> files;                             ///< file IDs shared with it

    bool from_bot() const noexcept { return !bot_id.empty(); }
    bool is_reply() const noexcept { return !thread_ts.empty() && thread_ts != ts; }
};

/// A message only one user sees: chat.postEphemeral, an ephemeral response_url post, a slash
/// command's ack payload, or Slack's own "operation_timeout" notice (user "USLACKBOT").
struct slack_ephemeral {
    std::string channel;
    std::string user;  ///< who sees it
    std::string ts;
    std::string thread_ts;
    std::string text;
    std::string blocks_json;
    std::string via;        ///< "chat.postEphemeral", "response_url", "ack", "slackbot"
    bool replaced = false;  ///< a later response_url post replaced it
};

/// A file from the upload v2 flow.
struct slack_file {
    std::string id;  ///< F…
    std::string filename;
    std::string title;
    std::size_t declared_length = 0;  ///< `length` given to files.getUploadURLExternal
    std::string content;              ///< bytes POSTed to the upload URL
    bool uploaded = false;
    bool completed = false;  ///< files.completeUploadExternal ran
    std::string channel;     ///< shared into, "" = private
    std::string thread_ts;
    std::string initial_comment;
};

/// A modal opened with views.open.
struct slack_view {
    std::string id;  ///< V…
    std::string user;
    std::string json;  ///< the view as last set by views.open/update or an ack's response_action
    std::string hash;
    std::string external_id;
    std::string callback_id;
    bool open = true;
    std::string errors_json;           ///< the last response_action "errors" map, "" if none
    std::vector<std::string> history;  ///< earlier `json` values, oldest first
};

/// One Web API call as the fake understood it.
struct slack_api_call {
    std::string method;     ///< "chat.postMessage"
    std::string args_json;  ///< arguments as a JSON object (form fields as strings, JSON-typed
                            ///< form fields such as blocks parsed)
    std::string token;      ///< "bot", "app", "none" or "invalid"
    int status = 200;       ///< HTTP status answered (0 = connection dropped)
    bool ok = false;
    std::string error;          ///< Slack error code when !ok, e.g. "channel_not_found"
    std::string response_json;  ///< body answered
    std::chrono::steady_clock::time_point at;

    /// Argument `name` as text (strings as they are, other JSON values dumped), "" if absent.
    std::string arg(std::string_view name) const;
};

/// One sending of an envelope over a Socket Mode connection.
struct slack_delivery {
    std::string envelope_id;
    int retry_attempt = 0;
    std::size_t connection = 0;
    std::chrono::steady_clock::time_point sent_at;
};

/// An envelope the fake pushed, with its deliveries and ack.
struct slack_envelope {
    std::string envelope_id;  ///< of the first delivery
    std::string type;         ///< "events_api", "slash_commands", "interactive" ("" for raw)
    std::string kind;  ///< "app_mention", "message", "/deploy", "block_actions", "view_submission"
    std::string event_id;                    ///< events_api only
    std::string json;                        ///< the envelope as first built
    std::vector<slack_delivery> deliveries;  ///< empty while no connection was open
    bool acked = false;
    std::size_t ack_connection = 0;
    std::chrono::steady_clock::time_point acked_at{};
    /// From the latest delivery sent before the ack to the ack.
    std::chrono::microseconds ack_latency{0};
    std::string ack_payload;  ///< the ack's "payload" as JSON, "" when it had none
    int duplicate_acks = 0;
    bool late_ack = false;  ///< acked after the ack timeout of the delivery it answered
    bool gave_up = false;   ///< never acked in time, after every re-delivery allowed
};

/// A call the rate limits would have refused (whether or not enforcement was on).
struct slack_rate_violation {
    std::string method;   ///< "chat.postMessage", "response_url", "users.info", …
    std::string channel;  ///< for per-channel posting limits, else ""
    std::chrono::steady_clock::time_point at;
};

/// A Socket Mode connection currently open.
struct slack_connection_info {
    std::size_t id = 0;  ///< 1, 2, … in connection order
    bool disconnect_sent = false;
    std::size_t delivered = 0;
    std::size_t acks = 0;
    std::chrono::steady_clock::time_point opened_at;
};

/// What changed in the workspace, for observers (the sandbox console prints these).
enum class slack_change_kind {
    message_posted,
    message_updated,
    message_deleted,
    ephemeral_posted,
    ephemeral_replaced,
    reaction_added,
    view_opened,
    view_updated,
    view_closed,
};

/// One workspace change; look the message, ephemeral or view up by the fields given.
struct slack_change {
    slack_change_kind kind;
    std::string channel;  ///< message and ephemeral changes
    std::string ts;       ///< message or ephemeral ts
    std::string user;     ///< ephemeral recipient, reacting user or view owner
    std::string view_id;  ///< view changes
};

/// The fake Slack server. Destroy it before its io_context; destroying it stops it.
class fake_slack {
public:
    /// Starts listening on 127.0.0.1. Fails with unavailable when the port cannot be bound and
    /// with invalid_argument when the seed data is inconsistent (e.g. duplicate IDs).
    static core::result<fake_slack> start(boost::asio::any_io_executor executor,
                                          fake_slack_options options);

    fake_slack(fake_slack&&) noexcept;
    fake_slack& operator=(fake_slack&&) noexcept;
    ~fake_slack();

    /// "https://127.0.0.1:PORT" (http:// without TLS).
    std::string base_url() const;
    /// base_url() + "/api/": what the bot's slack.api_url should be.
    std::string api_url() const;
    std::uint16_t port() const noexcept;
    const fake_slack_options& options() const noexcept;

    // ---- workspace queries ----

    /// Live top-level messages of `channel` (thread replies only when broadcast), oldest first.
    std::vector<slack_message> messages(std::string_view channel) const;
    /// The live thread rooted at `thread_ts`: the root first, then its replies.
    std::vector<slack_message> thread(std::string_view channel, std::string_view thread_ts) const;
    /// Any message, deleted ones included; null when there is none. Valid until the fake is
    /// destroyed.
    const slack_message* find_message(std::string_view channel, std::string_view ts) const;
    /// Every ephemeral message, oldest first.
    const std::vector<slack_ephemeral>& ephemerals() const noexcept;
    /// Ephemeral messages shown to `user`, oldest first.
    std::vector<slack_ephemeral> ephemerals_for(std::string_view user) const;
    const std::vector<slack_file>& files() const noexcept;
    const slack_file* file(std::string_view id) const;
    const std::vector<slack_view>& views() const noexcept;
    const slack_view* view(std::string_view id) const;
    /// The DM channel (D…) between `user` and the bot, created on first use.
    std::string dm_channel(std::string_view user);

    // ---- transcript ----

    /// Every Web API call, oldest first.
    const std::vector<slack_api_call>& calls() const noexcept;
    /// The calls of one method, oldest first.
    std::vector<slack_api_call> calls(std::string_view method) const;
    /// Every HTTP request received (Web API, uploads, response_url, WebSocket upgrades).
    const std::vector<recorded_request>& requests() const noexcept;
    /// Every envelope pushed, in order.
    const std::deque<slack_envelope>& envelopes() const noexcept;
    /// The envelope with this envelope_id (any delivery's), or null.
    const slack_envelope* envelope(std::string_view envelope_id) const;
    /// Frames from clients that were not acks of a known envelope (bad JSON, unknown IDs).
    const std::vector<std::string>& unexpected_frames() const noexcept;
    /// Envelopes acked / awaiting an ack / re-deliveries made so far.
    std::size_t acked_count() const noexcept;
    std::size_t in_flight() const noexcept;
    std::size_t redeliveries() const noexcept;

    // ---- rate limits ----

    /// Every call over its limit so far.
    const std::vector<slack_rate_violation>& rate_violations() const noexcept;
    /// How many calls of `method` were over their limit.
    std::size_t rate_violations(std::string_view method) const;
    /// Turns 429 answers for calls over the limit on or off.
    void enforce_rate_limits(bool on);

    // ---- failure injection (method "*" = any method; count -1 = until cleared) ----

    /// The next `count` calls get HTTP 429, Retry-After `retry_after_s`, error "ratelimited".
    void inject_ratelimit(std::string method, int count, int retry_after_s = 1);
    /// The next `count` calls get this HTTP status (500, 502, 503) and a non-JSON body.
    void inject_http_status(std::string method, int count, int status);
    /// The next `count` calls fail with {"ok":false,"error":error}.
    void inject_error(std::string method, int count, std::string error);
    /// Calls fail with missing_scope, naming `needed` and the scopes the token has.
    void inject_missing_scope(std::string method, std::string needed, int count = -1);
    /// The next `count` calls have their connection reset before any response.
    void inject_drop(std::string method, int count);
    void clear_injections();

    // ---- Socket Mode: envelopes ----
    // Each builds a realistic envelope, sends it to an open connection (round robin; held
    // until one opens) and returns its envelope_id. Unknown users or channels fail with
    // not_found naming them.

    /// A slash command typed by `user` in `channel`: "/deploy" with text "payments-api beta".
    core::result<std::string> deliver_slash_command(std::string user, std::string channel,
                                                    std::string command, std::string text);
    /// `user` mentions the bot in `channel` (thread reply when thread_ts is set). The message
    /// is stored in the channel; "<@BOT> " is prepended when the text does not mention the bot.
    /// Fails with conflict when the bot is not in the channel (Slack would not deliver it).
    core::result<std::string> deliver_app_mention(std::string user, std::string channel,
                                                  std::string text, std::string thread_ts = {});
    /// A plain message event (message.channels / message.im) from `user`, stored in the
    /// channel. Fails with conflict when the bot is not in the channel.
    core::result<std::string> deliver_message(std::string user, std::string channel,
                                              std::string text, std::string thread_ts = {});
    /// A direct message from `user` to the bot (message event in the user's D… channel).
    core::result<std::string> deliver_dm(std::string user, std::string text);
    /// `user` presses the element `action_id` of the message (or ephemeral) `message_ts`,
    /// sending `value`. Fails with not_found when there is no such message.
    core::result<std::string> deliver_block_action(std::string user, std::string channel,
                                                   std::string message_ts, std::string action_id,
                                                   std::string value);
    /// `user` submits the open view `view_id` with `state_values_json` (the view's
    /// state.values object: {"block":{"action":{"type":"plain_text_input","value":"x"}}}).
    core::result<std::string> deliver_view_submission(std::string user, std::string view_id,
                                                      std::string state_values_json);
    /// Sends `text` as it is (bad payload tests). When it is an object with an envelope_id,
    /// its ack is tracked (no re-delivery). Returns that envelope_id or "".
    std::string deliver_raw(std::string text);

    // ---- Socket Mode: connections ----

    std::vector<slack_connection_info> connections() const;
    std::size_t open_connections() const noexcept;
    /// Connections accepted since start, refused ones included.
    std::size_t total_connections() const noexcept;
    /// Sends {"type":"disconnect","reason":reason} ("warning", "refresh_requested",
    /// "link_disabled", "too_many_websockets") and, after `close_after`, closes the socket
    /// (never when nullopt). False when no such connection is open.
    bool send_disconnect(std::size_t connection, std::string reason,
                         std::optional<std::chrono::milliseconds> close_after = std::nullopt);
    /// send_disconnect to every open connection.
    void send_disconnect_all(std::string reason,
                             std::optional<std::chrono::milliseconds> close_after = std::nullopt);
    /// Closes with a close frame (code 1000 unless given).
    bool close_connection(std::size_t connection, int code = 1000);
    /// Resets the TCP connection without a close frame, like a network failure.
    bool drop_connection(std::size_t connection);
    /// While `error` is non-empty apps.connections.open fails with it (e.g. "link_disabled"
    /// style outages); "" accepts connections again.
    void refuse_connections(std::string error);
    /// While stalled the fake reads nothing from its sockets, so acks go unseen (and envelopes
    /// time out); frames already read are handled when unstalled.
    void stall(bool on);

    // ---- observing ----

    /// Calls `observer` on the executor's thread after each workspace change. Observers may
    /// call back into the fake.
    void on_change(std::function<void(const slack_change&)> observer);
    /// Waits until `done()` holds, re-checking it after every change, ack, delivery or
    /// connection event; false when `timeout` passed first. Cancellable.
    boost::asio::awaitable<bool> wait_until(std::function<bool()> done,
                                            std::chrono::milliseconds timeout);

    /// Stops listening, resets every connection. Idempotent.
    void stop();

    struct state;

private:
    explicit fake_slack(std::shared_ptr<state> s);
    std::shared_ptr<state> state_;
};

}  // namespace tugboat::sandbox
