#pragma once

// The chat interface on Slack: Block Kit payloads through the send queue, Slack's errors turned
// into messages that say what to fix.

#include "bot/slack_send_queue.hpp"
#include "bot/slack_web_api.hpp"
#include "commands/chat.hpp"
#include "core/config.hpp"
#include "core/logger.hpp"

#include <map>
#include <string>

namespace tugboat::bot {

class slack_chat final : public commands::chat {
public:
    /// `cfg` names channels in error messages ("#deploys" instead of C0123).
    slack_chat(slack_send_queue& queue, slack_web_api& api, const core::config& cfg,
               core::logger& log);

    boost::asio::awaitable<core::result<commands::message_ref>> post(
        std::string channel, commands::message msg) override;
    boost::asio::awaitable<core::result<void>> update(commands::message_ref ref,
                                                      commands::message msg,
                                                      bool milestone) override;
    boost::asio::awaitable<core::result<commands::message_ref>> reply(commands::message_ref root,
                                                                      commands::message msg,
                                                                      bool broadcast) override;
    boost::asio::awaitable<core::result<void>> ephemeral(std::string channel, std::string user,
                                                         std::string thread_ts,
                                                         commands::message msg) override;
    boost::asio::awaitable<core::result<commands::message_ref>> dm(std::string user,
                                                                   commands::message msg) override;
    boost::asio::awaitable<core::result<void>> upload(std::string channel, std::string thread_ts,
                                                      std::string filename, std::string content,
                                                      std::string title) override;

    boost::asio::awaitable<core::result<void>> respond(std::string response_url,
                                                       commands::message msg) override;
    boost::asio::awaitable<core::result<void>> open_form(std::string trigger_id,
                                                         commands::form f) override;

    /// Slack's permalink form, https://<workspace>.slack.com/archives/<channel>/p<ts digits>;
    /// "" until the workspace's URL is known (from auth.test, see know_workspace()).
    std::string link(const commands::message_ref& ref) const override;
    boost::asio::awaitable<core::result<void>> react(commands::message_ref ref,
                                                     std::string name) override;
    boost::asio::awaitable<core::result<void>> remove(commands::message_ref ref) override;
    void know_workspace(std::string url);

private:
    boost::asio::awaitable<core::result<commands::message_ref>> post_message(std::string channel,
                                                                             std::string thread_ts,
                                                                             commands::message msg,
                                                                             bool broadcast);
    /// Sends a call whose `done_already` error means the wanted state holds (already reacted,
    /// already deleted), so a retry after a lost answer is not a failure.
    boost::asio::awaitable<core::result<void>> submit_idempotent(std::string method,
                                                                 std::string channel,
                                                                 std::string body,
                                                                 std::string done_already);
    core::error failure(std::string_view method, const core::result<slack_reply>& r,
                        std::string_view channel) const;
    std::string where(std::string_view channel) const;

    slack_send_queue& queue_;
    slack_web_api& api_;
    const core::config& config_;
    core::logger& log_;
    std::map<std::string, std::string, std::less<>> dm_channels_;  // user → D… conversation
    std::string workspace_url_;                                    // "https://acme.slack.com/"
};

}  // namespace tugboat::bot
