#include "bot/slack_web_api.hpp"

#include "integrations/http_client.hpp"

#include <fmt/format.h>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace tugboat::bot {

using nlohmann::json;

namespace {

std::string form_encode(const form_fields& fields) {
    std::string out;
    for (const auto& [k, v] : fields) {
        if (!out.empty()) {
            out.push_back('&');
        }
        out += boost::urls::encode(k, boost::urls::unreserved_chars);
        out.push_back('=');
        out += boost::urls::encode(v, boost::urls::unreserved_chars);
    }
    return out;
}

std::string string_at(const json& j, std::string_view ptr) {
    try {
        const json& v = j.at(json::json_pointer(std::string(ptr)));
        return v.is_string() ? v.get<std::string>() : std::string{};
    } catch (const json::exception&) {
        return {};
    }
}

}  // namespace

std::string slack_reply::field(std::string_view name) const {
    return pointer(fmt::format("/{}", name));
}

std::string slack_reply::pointer(std::string_view json_pointer) const {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) {
        return {};
    }
    return string_at(j, json_pointer);
}

core::result<slack_reply> parse_slack_reply(int http_status, const integrations::http_headers& h,
                                            std::string body) {
    slack_reply r;
    r.http_status = http_status;
    r.scopes = integrations::find_header(h, "x-oauth-scopes").value_or("");
    if (http_status == 429) {
        auto ra = integrations::find_header(h, "retry-after");
        r.retry_after = ra ? integrations::parse_retry_after(*ra, std::chrono::system_clock::now())
                           : std::nullopt;
        // Slack documents no default; the Python SDK waits 30 s when the header is missing.
        if (!r.retry_after) {
            r.retry_after = std::chrono::seconds{30};
        }
        r.error = "ratelimited";
        r.body = std::move(body);
        return r;
    }
    if (http_status >= 500) {
        r.error = fmt::format("http_{}", http_status);
        r.body = std::move(body);
        return r;
    }
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
        return core::make_error(
            core::errc::protocol_error,
            fmt::format("Slack answered HTTP {} with something that is not a Web API reply; is "
                        "the API URL right?",
                        http_status));
    }
    r.ok = j["ok"].get<bool>();
    r.error = string_at(j, "/error");
    r.needed = string_at(j, "/needed");
    r.warning = string_at(j, "/warning");
    r.body = std::move(body);
    return r;
}

slack_web_api::slack_web_api(integrations::http_client& http, std::string base_url,
                             core::secret bot_token, core::logger& log)
    : http_(http), base_url_(std::move(base_url)), bot_token_(std::move(bot_token)), log_(log) {
    if (!base_url_.empty() && base_url_.back() != '/') {
        base_url_.push_back('/');
    }
}

boost::asio::awaitable<core::result<slack_reply>> slack_web_api::post(std::string url,
                                                                      std::string content_type,
                                                                      std::string body,
                                                                      const core::secret* token) {
    integrations::http_request req;
    req.method = integrations::http_method::post;
    req.url = std::move(url);
    req.headers.emplace_back("Content-Type", std::move(content_type));
    if (token != nullptr) {
        req.headers.emplace_back("Authorization", "Bearer " + token->reveal());
    }
    req.body = std::move(body);
    req.timeout = std::chrono::seconds{15};
    // One attempt: a POST to Slack is not idempotent, and the send queue owns retries.
    req.max_attempts = 1;
    auto resp = co_await http_.send(std::move(req));
    if (!resp) {
        co_return resp.error();
    }
    co_return parse_slack_reply(resp->status, resp->headers, std::move(resp->body));
}

boost::asio::awaitable<core::result<slack_reply>> slack_web_api::call(std::string method,
                                                                      std::string json_body) {
    co_return co_await post(base_url_ + method, "application/json; charset=utf-8",
                            std::move(json_body), &bot_token_);
}

boost::asio::awaitable<core::result<slack_reply>> slack_web_api::call_form(std::string method,
                                                                           form_fields fields) {
    co_return co_await post(base_url_ + method, "application/x-www-form-urlencoded",
                            form_encode(fields), &bot_token_);
}

boost::asio::awaitable<core::result<slack_reply>> slack_web_api::call_with_token(
    std::string method, std::string json_body, core::secret token) {
    co_return co_await post(base_url_ + method, "application/json; charset=utf-8",
                            std::move(json_body), &token);
}

boost::asio::awaitable<core::result<slack_reply>> slack_web_api::post_response_url(
    std::string url, std::string json_body) {
    integrations::http_request req;
    req.method = integrations::http_method::post;
    req.url = std::move(url);
    req.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
    req.body = std::move(json_body);
    req.timeout = std::chrono::seconds{15};
    req.max_attempts = 1;
    auto resp = co_await http_.send(std::move(req));
    if (!resp) {
        co_return resp.error();
    }
    // response_url answers {"ok":true} or plain text depending on the surface; treat 2xx as ok.
    slack_reply r;
    r.http_status = resp->status;
    r.ok = resp->ok();
    r.error = r.ok ? "" : fmt::format("http_{}", resp->status);
    r.body = std::move(resp->body);
    co_return r;
}

boost::asio::awaitable<core::result<void>> slack_web_api::upload_bytes(std::string upload_url,
                                                                       std::string content) {
    integrations::http_request req;
    req.method = integrations::http_method::post;
    req.url = std::move(upload_url);
    req.headers.emplace_back("Content-Type", "application/octet-stream");
    req.body = std::move(content);
    req.timeout = std::chrono::seconds{60};
    // The upload URL is single-use per file id, so repeating the bytes is harmless.
    req.idempotent = true;
    auto resp = co_await http_.send(std::move(req));
    if (!resp) {
        co_return resp.error();
    }
    if (!resp->ok()) {
        co_return core::make_error(integrations::errc_for_status(resp->status),
                                   fmt::format("file upload failed with HTTP {}", resp->status));
    }
    co_return core::ok();
}

bool is_auth_error(std::string_view e) noexcept {
    return e == "invalid_auth" || e == "not_authed" || e == "account_inactive" ||
           e == "token_revoked" || e == "token_expired" || e == "missing_scope" ||
           e == "no_permission" || e == "team_access_not_granted";
}

std::string explain_slack_error(std::string_view method, const slack_reply& r,
                                std::string_view where) {
    const std::string& e = r.error;
    if (e == "not_in_channel" || e == "channel_not_found") {
        return fmt::format(
            "Tugboat is not in {0} ({1}). Invite it there with `/invite @tugboat`; if {0} is "
            "private or the ID is wrong, check `channels:` in the config.",
            where, e);
    }
    if (e == "is_archived") {
        return fmt::format("{} is archived; point the config at a live channel.", where);
    }
    if (e == "missing_scope") {
        return fmt::format(
            "The bot token lacks the `{}` scope needed for {}. Add it under OAuth & Permissions "
            "in the Slack app settings (see docs/slack-app-manifest.yaml) and reinstall the app.",
            r.needed.empty() ? "required" : r.needed, method);
    }
    if (e == "invalid_auth" || e == "not_authed" || e == "token_revoked" || e == "token_expired" ||
        e == "account_inactive") {
        return fmt::format(
            "Slack refused the bot token ({}). Check SLACK_BOT_TOKEN (it starts with xoxb-) and "
            "that the app is still installed in the workspace.",
            e);
    }
    if (e == "user_not_in_channel") {
        return fmt::format("That person is not a member of {}, so they cannot see the reply.",
                           where);
    }
    if (e == "msg_too_long" || e == "msg_blocks_too_long" || e == "invalid_blocks") {
        return fmt::format(
            "Slack rejected the message as malformed or too long ({}); this is a "
            "Tugboat bug, please report it.",
            e);
    }
    if (e == "ratelimited") {
        return fmt::format("Slack is rate limiting {}; the message will be sent later.", method);
    }
    if (e.starts_with("http_5") || e == "internal_error" || e == "fatal_error" ||
        e == "service_unavailable" || e == "request_timeout") {
        return fmt::format("Slack had a problem answering {} ({}); retrying did not help.", method,
                           e);
    }
    return fmt::format("Slack refused {} in {}: {}.", method, where, e.empty() ? "unknown" : e);
}

boost::asio::awaitable<core::result<slack_reply>> slack_web_api::views_open(std::string trigger_id,
                                                                            std::string view_json) {
    auto view = nlohmann::json::parse(view_json, nullptr, false);
    nlohmann::json body = nlohmann::json::object();
    body["trigger_id"] = trigger_id;
    body["view"] = std::move(view);
    co_return co_await call("views.open", body.dump());
}

boost::asio::awaitable<core::result<slack_reply>> slack_web_api::views_update(
    std::string view_id, std::string view_json) {
    auto view = nlohmann::json::parse(view_json, nullptr, false);
    nlohmann::json body = nlohmann::json::object();
    body["view_id"] = view_id;
    body["view"] = std::move(view);
    co_return co_await call("views.update", body.dump());
}

boost::asio::awaitable<core::result<slack_reply>> slack_web_api::users_info(std::string user) {
    form_fields args;
    args.emplace_back("user", user);
    co_return co_await call_form("users.info", std::move(args));
}

boost::asio::awaitable<core::result<slack_reply>> slack_web_api::users_lookup_by_email(
    std::string email) {
    form_fields args;
    args.emplace_back("email", email);
    co_return co_await call_form("users.lookupByEmail", std::move(args));
}

}  // namespace tugboat::bot
