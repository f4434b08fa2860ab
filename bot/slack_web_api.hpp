#pragma once

// Slack's Web API over the shared HTTP client: one call = one HTTP attempt. Retrying, pacing
// and rate limits belong to the send queue (slack_send_queue.hpp), which knows what may be
// repeated.

#include "core/config.hpp"
#include "core/logger.hpp"
#include "core/result.hpp"
#include "integrations/http_types.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tugboat::integrations {
class http_client;
}

namespace tugboat::bot {

/// What Slack answered to one call.
struct slack_reply {
    int http_status = 200;
    bool ok = false;
    std::string error;    ///< Slack's error code when !ok ("not_in_channel", "ratelimited", …)
    std::string needed;   ///< missing_scope: the scope to add
    std::string warning;  ///< comma-separated warnings of a successful call
    std::optional<std::chrono::milliseconds> retry_after;  ///< on HTTP 429
    std::string scopes;  ///< the token's scopes (x-oauth-scopes header), when sent
    std::string body;    ///< the raw JSON object

    /// A top-level string field of the body ("ts", "channel", "url", …), or "".
    std::string field(std::string_view name) const;
    /// A string at a JSON pointer in the body ("/channel/id", "/user/profile/email"), or "".
    std::string pointer(std::string_view json_pointer) const;
};

using form_fields = std::vector<std::pair<std::string, std::string>>;

class slack_web_api {
public:
    /// `base_url` like "https://slack.com/api/" (a trailing slash is added when missing).
    slack_web_api(integrations::http_client& http, std::string base_url, core::secret bot_token,
                  core::logger& log);

    /// POSTs a JSON body to `method` with the bot token. Errors only for transport failures
    /// (unavailable, timeout, cancelled) or a body that is not Slack's JSON (protocol_error);
    /// HTTP 429/5xx and ok:false come back as replies.
    boost::asio::awaitable<core::result<slack_reply>> call(std::string method,
                                                           std::string json_body);

    /// Same with a form-encoded body, for the methods that do not take JSON.
    boost::asio::awaitable<core::result<slack_reply>> call_form(std::string method,
                                                                form_fields fields);

    /// Same with another token (the app-level token for apps.connections.open).
    boost::asio::awaitable<core::result<slack_reply>> call_with_token(std::string method,
                                                                      std::string json_body,
                                                                      core::secret token);

    /// POSTs a message to an interaction's response_url (no token: the URL is the credential).
    boost::asio::awaitable<core::result<slack_reply>> post_response_url(std::string url,
                                                                        std::string json_body);

    /// Step 2 of the file upload: sends the bytes to the URL files.getUploadURLExternal gave.
    boost::asio::awaitable<core::result<void>> upload_bytes(std::string upload_url,
                                                            std::string content);

    /// views.open: shows the modal `view_json` to whoever's interaction carried `trigger_id`
    /// (valid 3 s, once). Called directly rather than through the send queue for that reason.
    boost::asio::awaitable<core::result<slack_reply>> views_open(std::string trigger_id,
                                                                 std::string view_json);
    /// views.update: replaces an open modal's view.
    boost::asio::awaitable<core::result<slack_reply>> views_update(std::string view_id,
                                                                   std::string view_json);
    /// users.info (form arguments; the profile's email needs the users:read.email scope).
    boost::asio::awaitable<core::result<slack_reply>> users_info(std::string user);
    /// users.lookupByEmail (form arguments; needs users:read.email).
    boost::asio::awaitable<core::result<slack_reply>> users_lookup_by_email(std::string email);

    const std::string& base_url() const noexcept { return base_url_; }

private:
    boost::asio::awaitable<core::result<slack_reply>> post(std::string url,
                                                           std::string content_type,
                                                           std::string body,
                                                           const core::secret* token);

    integrations::http_client& http_;
    std::string base_url_;
    core::secret bot_token_;
    core::logger& log_;
};

/// Parses Slack's answer; protocol_error when the body is not a JSON object with `ok` (and the
/// status is not 429/5xx, which may carry anything).
core::result<slack_reply> parse_slack_reply(int http_status, const integrations::http_headers& h,
                                            std::string body);

/// What went wrong and what to do about it, for the operator's log and the person who asked:
/// not_in_channel → "invite @tugboat to #deploys (/invite @tugboat)", missing_scope → the scope
/// to add and where, invalid_auth → which token to check, … `where` names the channel.
std::string explain_slack_error(std::string_view method, const slack_reply& reply,
                                std::string_view where);

/// Errors no retry can fix: the token is wrong, revoked or lacks a scope.
bool is_auth_error(std::string_view slack_error) noexcept;

}  // namespace tugboat::bot
