#include "bot/app.hpp"

#include "bot/dispatcher.hpp"
#include "bot/http_mode.hpp"
#include "bot/router.hpp"
#include "bot/slack_chat.hpp"
#include "bot/slack_directory.hpp"
#include "bot/slack_web_api.hpp"
#include "commands/access.hpp"
#include "commands/command.hpp"
#include "commands/deploy.hpp"
#include "commands/faq.hpp"
#include "commands/logs.hpp"
#include "commands/status.hpp"
#include "core/work_tracker.hpp"
#include "integrations/http_client.hpp"
#include "integrations/jenkins_client.hpp"
#include "integrations/kubernetes_client.hpp"
#include "storage/database.hpp"

#include <fmt/format.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>

namespace tugboat::bot {

struct app::parts {
    boost::asio::any_io_executor executor;
    const core::config& config;
    core::logger& log;
    app_options options;
    core::system_clock system_clock;
    const core::clock* clock = nullptr;
    std::optional<storage::database> db;
    std::optional<integrations::http_client> slack_http;
    std::optional<slack_web_api> api;
    std::optional<slack_send_queue> queue;
    std::optional<slack_chat> chat;
    std::optional<slack_directory> people;
    std::vector<std::unique_ptr<integrations::jenkins_http_client>> jenkins;
    std::map<std::string, std::unique_ptr<integrations::kubernetes>> clusters;
    std::unique_ptr<commands::deploy_engine> deploys;
    std::unique_ptr<commands::deploy_command> deploy_cmd;
    std::unique_ptr<commands::access_engine> access;
    std::unique_ptr<commands::access_command> access_cmd;
    std::unique_ptr<commands::status_command> status_cmd;
    std::unique_ptr<commands::logs_command> logs_cmd;
    std::unique_ptr<commands::faq_command> faq_cmd;
    commands::command_registry registry;
    std::optional<admin_policy> policy;
    std::optional<router> routes;
    core::work_tracker tracker;
    std::optional<dispatcher> dispatch;
    std::unique_ptr<socket_mode_client> socket;
    std::unique_ptr<http_mode_server> http;
    std::size_t events = 0;
    core::time_point last_purge{};
    bool stopping = false;

    parts(boost::asio::any_io_executor ex, const core::config& cfg, core::logger& l, app_options o)
        : executor(std::move(ex)), config(cfg), log(l), options(std::move(o)) {
        clock = options.clock != nullptr ? options.clock : &system_clock;
    }

    /// Events are recorded in the inbox as they arrive; old keys go at most every ten minutes,
    /// on the arrival path, so no timer outlives the app.
    void purge_inbox_now_and_then() {
        auto now = clock->now();
        if (now - last_purge < std::chrono::minutes{10}) {
            return;
        }
        last_purge = now;
        auto purged = dispatch->purge_inbox(now, options.inbox_retention);
        if (!purged) {
            log.warn("inbox_purge_failed", {{"error", purged.error().message}});
        }
    }

    void on_events(std::vector<commands::inbound_event> evs) {
        events += evs.size();
        purge_inbox_now_and_then();
        dispatch->submit_batch(std::move(evs));
    }

    /// Jenkins servers, clusters and the deploy workflow, registered with the commands.
    core::result<void> build_workflows() {
        commands::deploy_deps deps{executor,
                                   config,
                                   *chat,
                                   *db,
                                   *people,
                                   {},
                                   {},
                                   log,
                                   *clock,
                                   tracker,
                                   options.deploy_timing};
        for (const auto& j : config.jenkins) {
            auto client = integrations::jenkins_http_client::create(executor, j, log);
            if (!client) {
                return core::make_error(client.error().code, fmt::format("Jenkins `{}`: {}", j.name,
                                                                         client.error().message));
            }
            jenkins.push_back(
                std::make_unique<integrations::jenkins_http_client>(std::move(*client)));
            deps.jenkins[j.name] = jenkins.back().get();
        }
        auto k8s = integrations::make_kubernetes_clients(executor, config.clusters, log);
        if (!k8s) {
            return k8s.error();
        }
        clusters = std::move(*k8s);
        for (auto& [name, client] : clusters) {
            deps.clusters[name] = client.get();
        }
        deploys = std::make_unique<commands::deploy_engine>(std::move(deps));
        deploy_cmd = std::make_unique<commands::deploy_command>(*deploys);
        registry = commands::make_registry();
        if (auto r = registry.attach(*deploy_cmd); !r) {
            return r.error();
        }
        // /status and /logs read the same clusters (and deploy history) as the workflow.
        commands::status_deps status{config, *db, *people, {}, log, options.status_timing};
        commands::logs_deps logs{{}, *db, *people, {}};
        for (auto& [name, client] : clusters) {
            status.clusters[name] = client.get();
            logs.clusters[name] = client.get();
        }
        status_cmd = std::make_unique<commands::status_command>(std::move(status));
        if (auto r = registry.attach(*status_cmd); !r) {
            return r.error();
        }
        logs_cmd = std::make_unique<commands::logs_command>(std::move(logs));
        if (auto r = registry.attach(*logs_cmd); !r) {
            return r.error();
        }
        if (auto r = attach_access(); !r) {
            return r.error();
        }
        if (auto r = attach_faq(); !r) {
            return r;
        }
        return registry.attach_actions("deploy", *deploy_cmd);
    }

    /// `/access`: grants on the same clusters, on their own (possibly faster) clock.
    core::result<void> attach_access() {
        const core::clock& grant_clock =
            options.access_clock != nullptr ? *options.access_clock : *clock;
        commands::access_deps deps{executor, config, *chat,       *db,     *people,
                                   {},       log,    grant_clock, tracker, options.access_timing};
        for (auto& [name, client] : clusters) {
            deps.clusters[name] = client.get();
        }
        access = std::make_unique<commands::access_engine>(std::move(deps));
        access_cmd = std::make_unique<commands::access_command>(*access);
        if (auto r = registry.attach(*access_cmd); !r) {
            return r;
        }
        return registry.attach_actions("access", *access_cmd);
    }

    /// /faq, indexed once now so the first question does not wait for it.
    core::result<void> attach_faq() {
        faq_cmd =
            std::make_unique<commands::faq_command>(commands::faq_deps{*db, config, log, *clock});
        if (auto r = faq_cmd->reload(); !r) {
            return r.error();
        }
        if (auto r = registry.attach(*faq_cmd); !r) {
            return r;
        }
        return registry.attach_actions("faq", *faq_cmd);
    }

    /// auth.test: is the bot token good, and who is the bot?
    boost::asio::awaitable<core::result<std::string>> whoami() {
        auto r = co_await api->call("auth.test", "{}");
        if (!r) {
            co_return core::make_error(
                core::errc::unavailable,
                fmt::format("cannot reach Slack at {}: {}. Check the network and slack.api_url.",
                            api->base_url(), r.error().message));
        }
        if (!r->ok) {
            co_return core::make_error(core::errc::permission_denied,
                                       explain_slack_error("auth.test", *r, ""));
        }
        chat->know_workspace(r->field("url"));
        co_return r->field("user_id");
    }

    boost::asio::awaitable<void> drain() {
        boost::asio::steady_timer timer(executor);
        auto deadline = std::chrono::steady_clock::now() + options.drain_timeout;
        while ((tracker.active() > 0 || !deploys->idle() || !access->idle()) &&
               std::chrono::steady_clock::now() < deadline) {
            timer.expires_after(std::chrono::milliseconds{20});
            co_await timer.async_wait(boost::asio::use_awaitable);
        }
        if (tracker.active() > 0) {
            log.warn("shutdown_with_work_in_progress", {{"active", tracker.active()}});
        }
        queue->stop();
        // Messages the deploys handed to the queue now end as cancelled; let them return
        // before the engine they belong to is destroyed.
        for (int i = 0; i < 100 && !deploys->idle(); ++i) {
            timer.expires_after(std::chrono::milliseconds{5});
            co_await timer.async_wait(boost::asio::use_awaitable);
        }
    }
};

app::app(std::unique_ptr<parts> p) : p_(std::move(p)) {}
app::~app() = default;

core::result<std::unique_ptr<app>> app::create(boost::asio::any_io_executor executor,
                                               const core::config& config, core::logger& log,
                                               app_options options) {
    auto p = std::make_unique<parts>(executor, config, log, std::move(options));
    auto db = storage::database::open(config.bot.database, log);
    if (!db) {
        return db.error();
    }
    p->db.emplace(std::move(*db));

    integrations::http_client_options http_opts;
    http_opts.tls.ca_file = config.slack.ca_file;
    auto http = integrations::http_client::create(executor, log, http_opts);
    if (!http) {
        return core::make_error(http.error().code,
                                "Slack client (slack.ca_file): " + http.error().message);
    }
    p->slack_http.emplace(std::move(*http));
    p->api.emplace(*p->slack_http, config.slack.api_url, config.slack.bot_token, log);
    p->queue.emplace(executor, *p->api, log, p->options.send_queue);
    p->chat.emplace(*p->queue, *p->api, config, log);
    p->people.emplace(*p->api, *p->clock, log);
    if (auto r = p->build_workflows(); !r) {
        return r.error();
    }
    p->policy.emplace(config, *p->people, log);
    p->routes.emplace(p->registry, config, *p->chat, log, *p->clock, *p->policy);
    p->dispatch.emplace(executor, *p->db, *p->routes, p->tracker, log, *p->clock,
                        p->options.max_handlers);
    return std::unique_ptr<app>(new app(std::move(p)));
}

boost::asio::awaitable<core::result<void>> app::run() {
    parts& p = *p_;
    auto me = co_await p.whoami();
    if (!me) {
        co_return me.error();
    }
    if (p.stopping) {
        co_return core::ok();
    }
    p.log.info("slack_identity", {{"bot_user", *me}, {"mode", p.config.slack.mode}});
    p.deploys->start();
    p.access->start();
    core::result<void> served = core::ok();
    if (p.config.slack.mode == "http") {
        auto o = http_mode_options_from(p.config);
        o.bot_user_id = *me;
        o.clock = p.clock;
        p.http = std::make_unique<http_mode_server>(p.executor, std::move(o), p.log,
                                                    [&p](commands::inbound_event ev) {
                                                        std::vector<commands::inbound_event> one;
                                                        one.push_back(std::move(ev));
                                                        p.on_events(std::move(one));
                                                    });
        served = co_await p.http->run();
    } else {
        socket_mode_options o;
        o.app_token = p.config.slack.app_token.reveal();
        o.api_url = p.api->base_url();
        o.connections = p.config.slack.connections;
        o.tls.ca_file = p.config.slack.ca_file;
        o.bot_user_id = *me;
        if (p.options.tune_socket_mode) {
            p.options.tune_socket_mode(o);
        }
        p.socket = std::make_unique<socket_mode_client>(
            p.executor, std::move(o), *p.slack_http, p.log,
            [&p](std::vector<commands::inbound_event> evs) { p.on_events(std::move(evs)); });
        served = co_await p.socket->run();
    }
    p.deploys->stop();
    p.access->stop();
    co_await p.drain();
    p.log.info("stopped", {{"events", p.events}, {"duplicates", p.dispatch->duplicates()}});
    co_return served;
}

void app::stop() {
    p_->stopping = true;
    if (p_->socket) {
        p_->socket->stop();
    }
    if (p_->http) {
        p_->http->stop();
    }
}

bool app::ready() const noexcept {
    if (p_->socket) {
        return p_->socket->ready();
    }
    return p_->http && p_->http->port() != 0;
}

bool app::handles_action(std::string_view action_id) const {
    return p_->registry.action_handler_for(action_id) != nullptr;
}

std::uint16_t app::http_port() const noexcept {
    return p_->http ? p_->http->port() : 0;
}

app_stats app::stats() const noexcept {
    return {p_->events,
            p_->dispatch->duplicates(),
            p_->tracker.active(),
            p_->dispatch->peak_in_flight(),
            p_->dispatch->peak_waiting(),
            p_->queue->pending(),
            p_->queue->stats()};
}

}  // namespace tugboat::bot
