#include "sandbox/sandbox_app.hpp"

#include "bot/config_loader.hpp"
#include "bot/dispatcher.hpp"
#include "bot/router.hpp"
#include "commands/command.hpp"
#include "core/clock.hpp"
#include "core/logger.hpp"
#include "core/text.hpp"
#include "core/work_tracker.hpp"
#include "sandbox/console_chat.hpp"
#include "sandbox/fake_jenkins.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/http_server.hpp"
#include "sandbox/kubeconfig_writer.hpp"
#include "sandbox/test_ca.hpp"
#include "storage/database.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

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
    if ((!out.user.empty() || !out.channel.empty()) && !rest.empty() && rest.front() == ':') {
        out.text = std::string(core::trim(rest.substr(1)));
        return out;
    }
    // Not a prefix after all (e.g. "@tugboat help" or "#general"): the whole line is the text.
    return typed_line{{}, {}, std::string(original)};
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
    core::system_clock clock;
    core::config config;
    std::optional<storage::database> db;
    std::unique_ptr<console_chat> chat;
    commands::command_registry registry;
    bot::allow_all_policy policy;
    std::unique_ptr<bot::router> router;
    core::work_tracker tracker;
    std::unique_ptr<bot::dispatcher> dispatcher;
    std::optional<fake_jenkins> jenkins;
    std::map<std::string, std::unique_ptr<fake_kubernetes>> clusters;  // by config cluster name
    std::string default_user = "alice";
    std::string default_channel;
    std::uint64_t typed = 0;

    explicit state(boost::asio::io_context& io) : ioc(io) {}
};

sandbox_app::sandbox_app(std::unique_ptr<state> s) : s_(std::move(s)) {}
sandbox_app::~sandbox_app() = default;

console_chat& sandbox_app::chat() { return *s_->chat; }
const fs::path& sandbox_app::work_dir() const { return s_->work_dir; }

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

/// Gives the fakes what the config names: a Jenkins job per service and its Deployments in
/// every environment's cluster, running version 1.0.0 (orders-api: a git sha).
void seed_fakes(sandbox_app::state& s) {
    for (const auto& svc : s.config.services) {
        if (!svc.job.empty()) {
            fake_job job;
            job.full_name = svc.job;
            for (const auto& [param, placeholder] : svc.job_parameters) {
                job.parameters.push_back({param});
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
                    d.previous_images = {fmt::format("{}:{}", repo, sha ? "9d1e0f7" : "0.9.0")};
                    d.replicas = env_name == "prod" ? 3 : 2;
                    it->second->add_namespace(d.ns);
                    (void)it->second->add_deployment(std::move(d));
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
                    ref.deployment, fmt::format("{}:{}", repo, param("{version}")),
                    ref.container);
            }
        }
    });
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
        {"SLACK_BOT_TOKEN", "xoxb-sandbox-bot-token"},
        {"SLACK_APP_TOKEN", "xapp-sandbox-app-token"},
        {"JENKINS_API_TOKEN", "sandbox-jenkins-token"},
    };
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
    seed_fakes(*s);

    auto db = storage::database::open(s->config.bot.database, *s->log);
    if (!db) {
        return db.error();
    }
    s->db.emplace(std::move(*db));

    s->chat = std::make_unique<console_chat>(out, s->config,
                                             console_options{options.width, options.ansi});
    s->registry = commands::make_registry();
    s->router = std::make_unique<bot::router>(s->registry, s->config, *s->chat, *s->log, s->clock,
                                              s->policy);
    s->dispatcher = std::make_unique<bot::dispatcher>(ioc.get_executor(), *s->db, *s->router,
                                                      s->tracker, *s->log, s->clock);
    if (!s->config.channels.empty()) {
        s->default_channel = s->config.channels.front().id;
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
        "Tugboat sandbox — the real bot against local fakes; nothing leaves this machine.\n"
        "  You are @alice. Others: @bob (SRE, approves prod), @carol, @dave.\n"
        "  Channels: {}. Messages go to #{} unless you write \"#channel: …\".\n"
        "  Try:  help    /deploy payments-api dev 1.4.2    @bob: help deploy\n"
        "  Press a button by typing what it shows, e.g. deploy.approve 12. Quit with Ctrl-D.\n"
        "  Bot log: {}\n",
        channels, s_->chat->channel_label(s_->default_channel).substr(1),
        (s_->work_dir / "sandbox.log").string());
}

bool sandbox_app::type(std::string_view line) {
    typed_line t = split_prefix(line);
    if (t.text.empty()) {
        return false;
    }
    std::string user = t.user.empty() ? s_->default_user : lower_word(t.user);
    std::string channel = s_->default_channel;
    if (!t.channel.empty()) {
        channel = t.channel;  // an unknown name stays as typed; the bot says it does not know it
        for (const auto& c : s_->config.channels) {
            if (c.name == t.channel) {
                channel = c.id;
            }
        }
    }
    commands::inbound_event ev;
    if (auto pressed = s_->chat->press(t.text)) {
        ev = std::move(*pressed);
    } else if (t.text.front() == '/') {
        auto space = t.text.find(' ');
        std::string name = t.text.substr(0, space);
        std::string rest = space == std::string::npos ? "" : t.text.substr(space + 1);
        ev.kind = commands::event_kind::slash_command;
        ev.channel = channel;
        ev.text = commands::slash_command_text(name, rest);
    } else {
        ev.kind = commands::event_kind::direct_message;
        ev.channel = "D-" + user_id_for(user);
        ev.text = t.text;
    }
    ev.actor = user_id_for(user);
    ev.actor_name = user;
    ev.idempotency_key = fmt::format("sandbox-{}", ++s_->typed);
    s_->dispatcher->submit(std::move(ev));
    return true;
}

boost::asio::awaitable<bool> sandbox_app::settle() {
    boost::asio::steady_timer timer(s_->ioc);
    auto deadline = std::chrono::steady_clock::now() + s_->options.settle_timeout;
    int quiet = 0;
    // Two quiet ticks in a row: work that just ended may have posted work that has not started.
    while (quiet < 2) {
        if (std::chrono::steady_clock::now() > deadline) {
            co_return false;
        }
        timer.expires_after(std::chrono::milliseconds{5});
        co_await timer.async_wait(boost::asio::use_awaitable);
        quiet = s_->tracker.active() == 0 ? quiet + 1 : 0;
    }
    co_return true;
}

boost::asio::awaitable<int> sandbox_app::run_script(std::vector<std::string> lines) {
    int rc = 0;
    for (const auto& line : lines) {
        std::string_view text = core::trim(line);
        if (text.empty() || text.front() == '#') {
            continue;
        }
        std::string who = split_prefix(text).user;
        s_->chat->echo(fmt::format("\n{}> {}\n", who.empty() ? s_->default_user : who,
                                   split_prefix(text).text));
        type(text);
        if (!co_await settle()) {
            s_->chat->echo(fmt::format("\n(still working after {} s; going on)\n",
                                       s_->options.settle_timeout.count() / 1000));
            rc = 1;
        }
    }
    co_return rc;
}

}  // namespace tugboat::sandbox
