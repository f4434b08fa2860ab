#include "sandbox/sandbox_app.hpp"

#include "bot/app.hpp"
#include "bot/config_loader.hpp"
#include "core/clock.hpp"
#include "core/logger.hpp"
#include "core/text.hpp"
#include "sandbox/console_view.hpp"
#include "sandbox/fake_jenkins.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/fake_slack.hpp"
#include "sandbox/http_server.hpp"
#include "sandbox/kubeconfig_writer.hpp"
#include "sandbox/test_ca.hpp"
#include "storage/database.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <random>

namespace tugboat::sandbox {

namespace fs = std::filesystem;

namespace {

/// Appends log lines to a file so the terminal shows only the conversation.
class file_sink final : public core::log_sink {
public:
    explicit file_sink(const fs::path& path) : out_(path, std::ios::app) {}
    void write(core::log_level, std::string_view line) override {
        out_ << line << '\n';
        out_.flush();
    }

private:
    std::ofstream out_;
};

fs::path make_work_dir() {
    std::random_device rd;
    auto dir = fs::temp_directory_path() / fmt::format("tugboat-sandbox-{:08x}", rd());
    fs::create_directories(dir);
    return dir;
}

std::string lower_word(std::string_view s) {
    std::string out;
    for (char c : s) {
        out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    return out;
}

/// "@bob #payments: text" → ("bob", "payments", "text"); either prefix is optional.
struct typed_line {
    std::string user;
    std::string channel;
    std::string text;
    bool in_thread = false;  ///< "#help^:": in the thread of the channel's latest message
};

typed_line split_prefix(std::string_view line) {
    typed_line out;
    std::string_view rest = core::trim(line);
    auto word = [&](char sigil) -> std::string {
        if (rest.empty() || rest.front() != sigil) {
            return {};
        }
        std::size_t end = 1;
        while (end < rest.size() && (std::isalnum(static_cast<unsigned char>(rest[end])) ||
                                     rest[end] == '-' || rest[end] == '_')) {
            ++end;
        }
        std::string w(rest.substr(1, end - 1));
        rest = core::trim(rest.substr(end));
        return w;
    };
    std::string_view original = rest;
    out.user = word('@');
    out.channel = word('#');
    if (!out.channel.empty() && rest.starts_with("^:")) {
        out.in_thread = true;
        rest.remove_prefix(1);
    }
    if ((!out.user.empty() || !out.channel.empty()) && !rest.empty() && rest.front() == ':') {
        out.text = std::string(core::trim(rest.substr(1)));
        return out;
    }
    // Not a prefix after all (e.g. "@tugboat help" or "#general"): the whole line is the text.
    return typed_line{{}, {}, std::string(original), false};
}

}  // namespace

std::string user_id_for(std::string_view name) {
    std::string upper;
    for (char c : name) {
        if (std::isalnum(static_cast<unsigned char>(c))) {
            upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
        }
    }
    return "U0" + upper;
}

struct sandbox_app::state {
    boost::asio::io_context& ioc;
    sandbox_options options;
    fs::path work_dir;
    std::unique_ptr<core::log_sink> sink;
    std::unique_ptr<core::logger> log;
    core::config config;
    std::unique_ptr<console_view> view;
    std::optional<fake_slack> slack;
    std::optional<fake_jenkins> jenkins;
    std::map<std::string, std::unique_ptr<fake_kubernetes>> clusters;  // by config cluster name
    std::unique_ptr<bot::app> bot;
    std::unique_ptr<core::clock> access_clock;  // outlives bot restarts
    bool bot_running = false;
    std::string bot_failure;  // why the bot stopped, when it did on its own
    std::string default_user = "alice";
    std::string default_channel;

    explicit state(boost::asio::io_context& io) : ioc(io) {}
};

sandbox_app::sandbox_app(std::unique_ptr<state> s) : s_(std::move(s)) {}
sandbox_app::~sandbox_app() = default;

console_view& sandbox_app::console() {
    return *s_->view;
}
fake_slack& sandbox_app::slack() {
    return *s_->slack;
}
fake_jenkins& sandbox_app::jenkins() {
    return *s_->jenkins;
}
fake_kubernetes& sandbox_app::cluster(const std::string& name) {
    return *s_->clusters.at(name);
}
const core::clock& sandbox_app::access_clock() const {
    return *s_->access_clock;
}
const fs::path& sandbox_app::work_dir() const {
    return s_->work_dir;
}

namespace {

/// The cluster names the bundled config uses; each gets its own fake API server.
constexpr std::array<const char*, 2> sandbox_clusters{"onprem", "cloud"};

}  // namespace

core::result<void> start_fakes(sandbox_app::state& s, const test_pki& pki,
                               std::map<std::string, std::string, std::less<>>& env) {
    fake_jenkins_options jo;
    jo.cert_pem = pki.server.cert_pem;
    jo.key_pem = pki.server.key_pem;
    jo.speed = s.options.speed;
    jo.api_token = "sandbox-jenkins-token";
    jo.log = s.log.get();
    auto j = fake_jenkins::start(s.ioc.get_executor(), jo);
    if (!j) {
        return core::make_error(j.error().code, "fake Jenkins: " + j.error().message);
    }
    s.jenkins.emplace(std::move(*j));
    env["JENKINS_URL"] = s.jenkins->base_url() + "/";

    std::vector<kubeconfig_context> contexts;
    for (const char* name : sandbox_clusters) {
        fake_kubernetes_options ko;
        ko.name = name;
        ko.speed = s.options.speed;
        ko.log = s.log.get();
        auto k = fake_kubernetes::start(s.ioc.get_executor(), ko);
        if (!k) {
            return core::make_error(k.error().code,
                                    fmt::format("fake cluster {}: {}", name, k.error().message));
        }
        contexts.push_back({name, (*k)->base_url(), (*k)->ca_pem(), (*k)->token(), {}, {}, {}});
        s.clusters[name] = std::move(*k);
    }
    std::ofstream kc(s.work_dir / "kubeconfig");
    kc << make_kubeconfig(contexts);
    if (!kc) {
        return core::make_error(core::errc::config_error, "cannot write the sandbox kubeconfig");
    }
    return core::ok();
}

/// Services in trouble, so `/status` has something to show: search-web crash-loops in beta and
/// is half-way through a rollout whose new pods never get ready in prod; orders-api cannot be
/// scheduled in beta. Seeded before the healthy rest (seed_fakes skips what exists).
void seed_status_demo(sandbox_app::state& s) {
    struct demo {
        const char* service;
        const char* env;
        const char* tag;
        const char* rolling_to;  // set_image to this tag after seeding, or null
        bool crash;              // the running pods start crash-looping
    };
    constexpr std::array<demo, 3> demos{{
        {"search-web", "beta", "1.0.0", nullptr, true},
        {"search-web", "prod", "1.0.0", "1.1.0-notready", false},
        {"orders-api", "beta", "3f9c2ab-pending", nullptr, false},
    }};
    for (const auto& d : demos) {
        const auto* svc = s.config.find_service(d.service);
        const auto* env = s.config.find_environment(d.env);
        if (svc == nullptr || env == nullptr || !svc->workloads.contains(env->name)) {
            continue;
        }
        for (const auto& cluster : env->clusters) {
            auto it = s.clusters.find(cluster);
            if (it == s.clusters.end()) {
                continue;
            }
            for (const auto& w : svc->workloads.at(env->name)) {
                std::string repo = svc->image.empty()
                                       ? fmt::format("registry.sandbox.local/{}", svc->name)
                                       : svc->image;
                fake_deployment f;
                f.ns = w.namespace_name.empty() ? env->namespace_name : w.namespace_name;
                f.name = w.deployment;
                f.image = fmt::format("{}:{}", repo, d.tag);
                if (!w.container.empty()) {
                    f.containers = {{w.container, f.image}};
                }
                f.replicas = 2;
                // Long enough that the demo rollout is still going when people look.
                f.progress_deadline_seconds = 7200;
                it->second->add_namespace(f.ns);
                if (!it->second->add_deployment(f)) {
                    continue;
                }
                if (d.rolling_to != nullptr) {
                    (void)it->second->set_image(
                        f.ns, f.name, fmt::format("{}:{}", repo, d.rolling_to), w.container);
                }
                if (d.crash) {
                    for (const auto& pod : it->second->pods_of(f.ns, f.name)) {
                        it->second->set_pod_scenario(f.ns, pod, pod_scenario::crash_loop);
                    }
                }
            }
        }
    }
}

/// Gives the fakes what the config names: a Jenkins job per service and its Deployments in
/// every environment's cluster, running version 1.0.0 (orders-api: a git sha).
void seed_fakes(sandbox_app::state& s) {
    seed_status_demo(s);
    for (const auto& svc : s.config.services) {
        if (!svc.job.empty()) {
            fake_job job;
            job.full_name = svc.job;
            std::string env_param;
            for (const auto& [param, placeholder] : svc.job_parameters) {
                job.parameters.push_back({param});
                if (placeholder == "{env}") {
                    env_param = param;
                }
            }
            // Like many real pipelines, the Deploy stage asks before touching prod.
            if (!env_param.empty()) {
                for (auto& stage : job.stages) {
                    if (stage.name == "Deploy") {
                        fake_input ask;
                        ask.id = "ReleaseToProd";
                        ask.message = "Release to prod now?";
                        ask.ok = "Release";
                        ask.only_if = env_param + "=prod";
                        stage.input = ask;
                    }
                }
            }
            s.jenkins->add_job(job);
        }
        for (const auto& [env_name, workloads] : svc.workloads) {
            const auto* env = s.config.find_environment(env_name);
            if (env == nullptr) {
                continue;
            }
            for (const auto& cluster : env->clusters) {
                auto it = s.clusters.find(cluster);
                if (it == s.clusters.end()) {
                    continue;
                }
                for (const auto& w : workloads) {
                    fake_deployment d;
                    d.ns = w.namespace_name.empty() ? env->namespace_name : w.namespace_name;
                    d.name = w.deployment;
                    std::string repo = svc.image.empty()
                                           ? fmt::format("registry.sandbox.local/{}", svc.name)
                                           : svc.image;
                    bool sha = svc.version_pattern == "sha";
                    d.image = fmt::format("{}:{}", repo, sha ? "3f9c2ab" : "1.0.0");
                    if (!w.container.empty()) {
                        d.containers = {{w.container, d.image}};
                    }
                    d.previous_images = {fmt::format("{}:{}", repo, sha ? "9d1e0f7" : "0.9.0")};
                    d.replicas = 2;
                    it->second->add_namespace(d.ns);
                    std::string ns = d.ns;
                    std::string container = w.container.empty() ? w.deployment : w.container;
                    (void)it->second->add_deployment(std::move(d));
                    // A leaked credential, so `/logs` in the tour shows what redaction hides.
                    for (const auto& pod : it->second->pods_of(ns, w.deployment)) {
                        it->second->append_pod_log(
                            ns, pod, container,
                            fmt::format("WARN retrying database dsn=postgres://{}:hunter2@{}-db."
                                        "{}.svc:5432/app password=hunter2",
                                        svc.name, svc.name, ns));
                    }
                }
            }
        }
    }
    // "Jenkins applies, Tugboat follows": the Deploy stage sets the image in the clusters.
    s.jenkins->on_deploy([&s](const fake_deploy& d) {
        auto param = [&](std::string_view placeholder) -> std::string {
            for (const auto& svc : s.config.services) {
                if (svc.job != d.job) {
                    continue;
                }
                for (const auto& [name, value] : svc.job_parameters) {
                    if (value == placeholder) {
                        auto it = d.parameters.find(name);
                        return it == d.parameters.end() ? "" : it->second;
                    }
                }
            }
            return {};
        };
        const auto* svc = s.config.find_service(param("{service}"));
        const auto* env = s.config.find_environment(param("{env}"));
        if (svc == nullptr || env == nullptr) {
            return;
        }
        auto w = svc->workloads.find(env->name);
        if (w == svc->workloads.end()) {
            return;
        }
        for (const auto& cluster : env->clusters) {
            auto it = s.clusters.find(cluster);
            if (it == s.clusters.end()) {
                continue;
            }
            for (const auto& ref : w->second) {
                std::string repo = svc->image.empty()
                                       ? fmt::format("registry.sandbox.local/{}", svc->name)
                                       : svc->image;
                (void)it->second->set_image(
                    ref.namespace_name.empty() ? env->namespace_name : ref.namespace_name,
                    ref.deployment, fmt::format("{}:{}", repo, param("{version}")), ref.container);
            }
        }
    });
}

/// Builds the bot on the sandbox's config and database and runs it in the background.
core::result<void> start_bot(sandbox_app::state& s) {
    // The fakes run `speed` times faster than real servers; the bot's polling keeps pace.
    bot::app_options bot_options;
    auto scaled = [&](std::chrono::milliseconds real, std::chrono::milliseconds floor) {
        auto ms = std::chrono::milliseconds{
            static_cast<long long>(static_cast<double>(real.count()) / s.options.speed)};
        return std::max(ms, floor);
    };
    auto& t = bot_options.deploy_timing;
    t.poll = scaled(t.poll, std::chrono::milliseconds{20});
    t.root_update_min = scaled(t.root_update_min, std::chrono::milliseconds{20});
    t.watch_wait = scaled(t.watch_wait, std::chrono::milliseconds{50});
    t.sweep = scaled(t.sweep, std::chrono::milliseconds{100});
    // Access grants run on a clock `speed` times faster than real time (kept across restarts
    // in the state), so a 30-minute grant ends in seconds.
    if (!s.access_clock) {
        s.access_clock = std::make_unique<core::scaled_clock>(s.options.speed);
    }
    bot_options.access_clock = s.access_clock.get();
    // Slack's rate limits keep pace too (the fake measures them `speed` times tighter): at real
    // pace a deploy's thread replies would trickle in at one a second per channel.
    bot_options.send_queue.channel_interval =
        scaled(bot_options.send_queue.channel_interval, std::chrono::milliseconds{1});
    bot_options.send_queue.budget_scale = s.options.speed;
    bot_options.access_timing.tick =
        scaled(bot_options.access_timing.tick, std::chrono::milliseconds{20});
    auto bot = bot::app::create(s.ioc.get_executor(), s.config, *s.log, bot_options);
    if (!bot) {
        return bot.error();
    }
    s.bot = std::move(*bot);
    s.bot_running = true;
    sandbox_app::state* raw = &s;
    boost::asio::co_spawn(
        s.ioc,
        [raw]() -> boost::asio::awaitable<void> {
            auto r = co_await raw->bot->run();
            raw->bot_running = false;
            if (!r) {
                raw->bot_failure = r.error().message;
                raw->view->echo(fmt::format("\n(the bot stopped: {})\n", r.error().message));
            }
        },
        [raw](const std::exception_ptr& e) {
            if (e) {
                raw->bot_running = false;
                raw->bot_failure = "crashed; see " + (raw->work_dir / "sandbox.log").string();
            }
        });
    return core::ok();
}

namespace {

/// Whether `text` is a button's "type:" line ("deploy.approve d-000003") whose button is not on
/// screen: an action id shown earlier, or one of the bot's followed by a single value.
bool looks_like_button(const sandbox_app::state& s, std::string_view text) {
    const auto space = text.find(' ');
    const std::string_view action = text.substr(0, space);
    if (s.view->shows_action(action)) {
        return true;
    }
    const bool one_value =
        space != std::string_view::npos && text.find(' ', space + 1) == std::string_view::npos;
    return one_value && action.find('.') != std::string_view::npos && s.bot->handles_action(action);
}

}  // namespace

/// The fake Slack over TLS with the sandbox's CA, so the bot's wss:// path runs as in production.
core::result<void> start_slack(sandbox_app::state& s, const test_pki& pki,
                               std::map<std::string, std::string, std::less<>>& env) {
    auto opts = sandbox_slack_workspace();
    auto tls = make_server_tls_context(pki.server.cert_pem, pki.server.key_pem);
    if (!tls) {
        return tls.error();
    }
    opts.tls = *tls;
    opts.log = s.log.get();
    opts.rate_limits.posts_per_second *= s.options.speed;
    opts.rate_limits.window = std::chrono::duration_cast<std::chrono::milliseconds>(
        opts.rate_limits.window / s.options.speed);
    auto slack = fake_slack::start(s.ioc.get_executor(), opts);
    if (!slack) {
        return core::make_error(slack.error().code, "fake Slack: " + slack.error().message);
    }
    s.slack.emplace(std::move(*slack));
    env["SLACK_API_URL"] = s.slack->api_url();
    env["SLACK_BOT_TOKEN"] = opts.bot_token;
    env["SLACK_APP_TOKEN"] = opts.app_token;
    return core::ok();
}

core::result<std::unique_ptr<sandbox_app>> sandbox_app::start(boost::asio::io_context& ioc,
                                                              sandbox_options options,
                                                              std::ostream& out) {
    auto s = std::make_unique<state>(ioc);
    s->options = options;
    if (s->options.config.empty()) {
        s->options.config = fs::path(TUGBOAT_SANDBOX_DIR) / "sandbox.yaml";
    }
    std::error_code ec;
    s->work_dir = options.work_dir.empty() ? make_work_dir() : options.work_dir;
    fs::create_directories(s->work_dir, ec);
    if (ec) {
        return core::make_error(core::errc::config_error,
                                fmt::format("cannot create the sandbox folder {}: {}",
                                            s->work_dir.string(), ec.message()));
    }
    if (options.verbose) {
        s->sink = std::make_unique<core::stderr_sink>();
    } else {
        s->sink = std::make_unique<file_sink>(s->work_dir / "sandbox.log");
    }
    s->log = std::make_unique<core::logger>(*s->sink, core::log_level::debug);

    const auto& pki = default_test_pki();
    if (auto r = write_test_pki(pki, s->work_dir); !r) {
        return r.error();
    }
    std::map<std::string, std::string, std::less<>> env{
        {"SANDBOX_DIR", s->work_dir.string()},
        {"JENKINS_API_TOKEN", "sandbox-jenkins-token"},
    };
    if (auto r = start_slack(*s, pki, env); !r) {
        return r.error();
    }
    if (auto r = start_fakes(*s, pki, env); !r) {
        return r.error();
    }
    bot::env_lookup lookup = [env](std::string_view name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) {
            return std::nullopt;
        }
        return it->second;
    };
    auto cfg = bot::read_config(s->options.config.string(), lookup);
    if (!cfg) {
        return cfg.error();
    }
    s->config = std::move(*cfg);
    if (s->options.adjust_config) {
        s->options.adjust_config(s->config);
    }
    seed_fakes(*s);

    s->view = std::make_unique<console_view>(out, console_options{options.width, options.ansi});
    for (const auto& c : s->slack->options().channels) {
        s->view->name_channel(c.id, "#" + c.name);
    }
    for (const auto& u : s->slack->options().users) {
        s->view->name_channel(u.id, "@" + u.name);
        s->view->name_channel(s->slack->dm_channel(u.id), "DM with @" + u.name);
    }
    for (const auto& g : s->slack->options().usergroups) {
        s->view->name_channel(g.id, "@" + g.handle);
    }
    s->view->follow(*s->slack);
    if (!s->config.channels.empty()) {
        s->default_channel = s->config.channels.front().id;
    }

    if (auto r = start_bot(*s); !r) {
        return r.error();
    }
    s->log->info("sandbox_started", {{"dir", s->work_dir.string()}});
    return std::unique_ptr<sandbox_app>(new sandbox_app(std::move(s)));
}

std::string sandbox_app::banner() const {
    std::string channels;
    for (const auto& c : s_->config.channels) {
        channels += (channels.empty() ? "#" : ", #") + c.name;
    }
    return fmt::format(
        "Tugboat sandbox — the real bot against local fakes of Slack, Jenkins and Kubernetes;\n"
        "nothing leaves this machine.\n"
        "  You are @alice. Others: @bob (SRE, approves prod), @carol, @dave.\n"
        "  Channels: {}. Commands go to {} unless you write \"#channel: …\";\n"
        "  \"#channel^: …\" replies in the thread of that channel's latest message.\n"
        "  Try:  help    /deploy payments-api dev 1.4.2    @bob: help deploy\n"
        "  Press a button by typing what it shows, e.g. deploy.approve d-000012. Quit with "
        "Ctrl-D.\n"
        "  Bot log: {}\n",
        channels, s_->view->channel_label(s_->default_channel),
        (s_->work_dir / "sandbox.log").string());
}

boost::asio::awaitable<bool> sandbox_app::ready() {
    boost::asio::steady_timer timer(s_->ioc);
    auto deadline = std::chrono::steady_clock::now() + s_->options.settle_timeout;
    while (!s_->bot->ready()) {
        if (!s_->bot_running || std::chrono::steady_clock::now() > deadline) {
            s_->view->echo(fmt::format("\n(the bot did not connect to the fake Slack: {})\n",
                                       s_->bot_failure.empty() ? "timed out" : s_->bot_failure));
            co_return false;
        }
        timer.expires_after(std::chrono::milliseconds{2});
        co_await timer.async_wait(boost::asio::use_awaitable);
    }
    co_return true;
}

bool sandbox_app::type(std::string_view line) {
    typed_line t = split_prefix(line);
    if (t.text.empty()) {
        return false;
    }
    state& s = *s_;
    std::string user = user_id_for(t.user.empty() ? s.default_user : lower_word(t.user));
    std::string channel = s.default_channel;
    if (!t.channel.empty()) {
        channel.clear();
        for (const auto& c : s.slack->options().channels) {
            if (c.name == t.channel) {
                channel = c.id;
            }
        }
        if (channel.empty()) {
            std::string names;
            for (const auto& c : s.slack->options().channels) {
                names += (names.empty() ? "#" : ", #") + c.name;
            }
            s.view->echo(fmt::format("(sandbox: there is no channel #{}; the workspace has {})\n",
                                     t.channel, names));
            return false;
        }
    }
    core::result<std::string> sent = core::make_error(core::errc::invalid_argument, "");
    const std::string mention = "@tugboat";
    std::string thread_ts;
    if (t.in_thread) {
        const auto top = s.slack->messages(channel);
        if (top.empty()) {
            s.view->echo(fmt::format("(sandbox: #{} has no message to reply to)\n", t.channel));
            return false;
        }
        thread_ts = top.back().ts;
    }
    if (auto pressed = s.view->press(t.text)) {
        sent = s.slack->deliver_block_action(user, pressed->channel, pressed->message_ts,
                                             pressed->action_id, pressed->value);
    } else if (looks_like_button(s, t.text)) {
        // Sent as a message it would become a question to the bot ("faq.down 2").
        s.view->echo(
            fmt::format("(sandbox: no button on screen says `{}`; type exactly what one "
                        "shows after \"type:\")\n",
                        t.text));
        return false;
    } else if (t.text.front() == '/') {
        auto space = t.text.find(' ');
        std::string rest = space == std::string::npos ? "" : t.text.substr(space + 1);
        sent = s.slack->deliver_slash_command(user, channel, t.text.substr(0, space), rest);
    } else if (t.text.starts_with(mention)) {
        std::string text =
            fmt::format("<@{}>{}", s.slack->options().bot_user_id, t.text.substr(mention.size()));
        sent = s.slack->deliver_app_mention(user, channel, text, thread_ts);
    } else if (t.in_thread) {
        sent = s.slack->deliver_message(user, channel, t.text, thread_ts);
    } else {
        sent = s.slack->deliver_dm(user, t.text);
    }
    if (!sent) {
        s.view->echo(
            fmt::format("(sandbox: Slack did not deliver that: {})\n", sent.error().message));
        return false;
    }
    return true;
}

boost::asio::awaitable<bool> sandbox_app::settle() {
    boost::asio::steady_timer timer(s_->ioc);
    auto deadline = std::chrono::steady_clock::now() + s_->options.settle_timeout;
    int quiet = 0;
    // Quiet = every envelope acked, no command running, no Slack call queued — three ticks in a
    // row, because work that just ended may have started work that has not begun yet.
    while (quiet < 3) {
        if (std::chrono::steady_clock::now() > deadline) {
            co_return false;
        }
        timer.expires_after(std::chrono::milliseconds{5});
        co_await timer.async_wait(boost::asio::use_awaitable);
        auto st = s_->bot->stats();
        bool idle = s_->slack->in_flight() == 0 && st.in_progress == 0 && st.pending_calls == 0;
        quiet = idle ? quiet + 1 : 0;
    }
    co_return true;
}

boost::asio::awaitable<bool> sandbox_app::restart_bot() {
    co_await shutdown();
    s_->bot.reset();
    s_->bot_failure.clear();
    if (auto r = start_bot(*s_); !r) {
        s_->view->echo(fmt::format("\n(the bot did not start again: {})\n", r.error().message));
        co_return false;
    }
    co_return co_await ready();
}

boost::asio::awaitable<void> sandbox_app::shutdown() {
    s_->bot->stop();
    boost::asio::steady_timer timer(s_->ioc);
    for (int i = 0; i < 500 && s_->bot_running; ++i) {
        timer.expires_after(std::chrono::milliseconds{10});
        co_await timer.async_wait(boost::asio::use_awaitable);
    }
}

boost::asio::awaitable<int> sandbox_app::run_script(std::vector<std::string> lines) {
    if (!co_await ready()) {
        co_return 1;
    }
    int rc = 0;
    for (const auto& line : lines) {
        std::string_view text = core::trim(line);
        // "# note" is a comment; "#payments: …" names a channel.
        if (text.empty() || text == "#" || text.starts_with("# ")) {
            continue;
        }
        std::string who = split_prefix(text).user;
        s_->view->echo(fmt::format("\n{}> {}\n", who.empty() ? s_->default_user : who,
                                   split_prefix(text).text));
        type(text);
        if (!co_await settle()) {
            s_->view->echo(fmt::format("\n(still working after {} s; going on)\n",
                                       s_->options.settle_timeout.count() / 1000));
            rc = 1;
        }
    }
    co_return rc;
}

}  // namespace tugboat::sandbox
