#include "bot/doctor.hpp"

#include "bot/slack_web_api.hpp"
#include "core/text.hpp"
#include "faq/indexer.hpp"
#include "faq/words.hpp"
#include "integrations/http_client.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <exception>
#include <functional>
#include <ostream>
#include <set>
#include <utility>

namespace tugboat::bot {

namespace asio = boost::asio;
using json = nlohmann::json;
using integrations::http_client;
using integrations::http_method;
using integrations::http_request;
using integrations::http_response;

namespace {

enum class outcome { pass, fail, skipped };

// One line of the checklist.
struct check_line {
    outcome result = outcome::pass;
    std::string what;
    std::string fix;  // failures only
};

check_line pass(std::string what) {
    return {outcome::pass, std::move(what), {}};
}
check_line fail(std::string what, std::string fix) {
    return {outcome::fail, std::move(what), std::move(fix)};
}
check_line skipped(std::string what) {
    return {outcome::skipped, std::move(what), {}};
}

// A single line as a task's result. (GCC 12 rejects braced vectors in co_return.)
std::vector<check_line> one(check_line line) {
    std::vector<check_line> lines;
    lines.push_back(std::move(line));
    return lines;
}

// A titled group of lines, printed in config order whatever order the checks finish in.
struct section {
    std::string title;
    std::vector<check_line> lines;
};

using task = std::function<asio::awaitable<std::vector<check_line>>()>;

// Runs every task concurrently on this executor and returns their lines in task order. A task
// that throws (a bug) becomes a failed line instead of ending the doctor.
asio::awaitable<std::vector<std::vector<check_line>>> run_concurrently(std::vector<task> tasks) {
    auto executor = co_await asio::this_coro::executor;
    std::vector<std::vector<check_line>> results(tasks.size());
    std::size_t remaining = tasks.size();
    asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        asio::co_spawn(
            executor, tasks[i](), [&, i](std::exception_ptr e, std::vector<check_line> lines) {
                if (e) {
                    std::string why = "unknown error";
                    try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& ex) {
                        why = ex.what();
                    } catch (...) {
                    }
                    lines = {
                        fail("check crashed: " + why, "this is a Tugboat bug; please report it")};
                }
                results[i] = std::move(lines);
                if (--remaining == 0) {
                    all_done.cancel();
                }
            });
    }
    // The tasks reference this frame, so wait for all of them even if we are cancelled; each
    // has its own deadlines.
    co_await asio::this_coro::throw_if_cancelled(false);
    while (remaining > 0) {
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return results;
}

std::string seconds_text(std::chrono::milliseconds d) {
    return fmt::format("{} s", std::max<long long>(1, (d.count() + 999) / 1000));
}

std::string json_string(const json& doc, const char* pointer) {
    try {
        const auto& v = doc.at(json::json_pointer(pointer));
        return v.is_string() ? v.get<std::string>() : std::string{};
    } catch (const json::exception&) {
        return {};
    }
}

bool json_bool(const json& doc, const char* pointer) {
    try {
        const auto& v = doc.at(json::json_pointer(pointer));
        return v.is_boolean() && v.get<bool>();
    } catch (const json::exception&) {
        return false;
    }
}

// ---- Slack ----

struct slack_identity {
    bool ok = false;
    std::string bot_name = "tugboat";
};

asio::awaitable<std::vector<check_line>> check_slack_tokens(const core::config& config,
                                                            slack_web_api& api,
                                                            slack_identity& identity) {
    std::vector<check_line> lines;
    const auto& slack = config.slack;
    auto auth = co_await api.call("auth.test", "{}");
    if (!auth) {
        lines.push_back(
            fail(fmt::format("Slack Web API at {} not reachable: {}", api.base_url(),
                             auth.error().message),
                 "check this host's network/proxy access to slack.com (or slack.api_url / "
                 "SLACK_API_URL)"));
        co_return lines;
    }
    if (!auth->ok) {
        lines.push_back(fail(fmt::format("Slack refused the bot token from {} ({})",
                                         slack.bot_token.source().describe(),
                                         auth->error.empty() ? "no answer" : auth->error),
                             explain_slack_error("auth.test", *auth, "the workspace")));
        co_return lines;
    }
    identity.ok = true;
    if (auto user = auth->field("user"); !user.empty()) {
        identity.bot_name = user;
    }
    lines.push_back(pass(fmt::format("Slack bot token valid (team {}, bot @{})",
                                     auth->field("team"), identity.bot_name)));

    if (auth->scopes.empty()) {
        lines.push_back(
            skipped("Bot token scopes not checked: Slack sent no x-oauth-scopes header"));
    } else {
        const auto& required = required_bot_scopes();
        auto missing = missing_scopes(auth->scopes, required);
        if (missing.empty()) {
            lines.push_back(
                pass(fmt::format("Bot token has all {} required scopes", required.size())));
        } else {
            std::string list;
            for (const auto& s : missing) {
                list += (list.empty() ? "" : ", ") + s;
            }
            lines.push_back(fail(
                fmt::format("Bot token lacks scope{} {}", missing.size() == 1 ? "" : "s", list),
                "add them in the app settings under OAuth & Permissions → Scopes → Bot Token "
                "Scopes (docs/slack-app-manifest.yaml lists them all), then reinstall the app to "
                "the workspace so the token gets them"));
        }
    }

    if (slack.mode == "http") {
        if (slack.signing_secret.empty()) {
            lines.push_back(fail("No Slack signing secret (needed in HTTP mode)",
                                 "set SLACK_SIGNING_SECRET to the Signing Secret from the app "
                                 "settings → Basic Information → App Credentials"));
        } else {
            lines.push_back(pass(fmt::format(
                "Slack signing secret set from {} (HTTP mode; Slack's requests prove it)",
                slack.signing_secret.source().describe())));
        }
        co_return lines;
    }

    if (slack.app_token.empty()) {
        lines.push_back(fail("No Slack app-level token (needed in Socket Mode)",
                             "set SLACK_APP_TOKEN to an app-level token (xapp-…) with scope "
                             "connections:write: app settings → Basic Information → App-Level "
                             "Tokens"));
        co_return lines;
    }
    // Only asks for a connection URL; the doctor never connects to it, so no events are taken
    // away from a running bot.
    auto open = co_await api.call_with_token("apps.connections.open", "{}", slack.app_token);
    if (!open) {
        lines.push_back(fail(fmt::format("Slack app token not checked: {}", open.error().message),
                             "check this host's network access to slack.com"));
    } else if (!open->ok) {
        const auto& e = open->error;
        std::string fix;
        if (e == "not_allowed_token_type") {
            fix = fmt::format(
                "{} holds a bot or user token; use the app-level token (xapp-…) "
                "from Basic Information → App-Level Tokens",
                slack.app_token.source().describe());
        } else if (e == "invalid_auth" || e == "not_authed" || e == "token_revoked" ||
                   e == "account_inactive") {
            fix = fmt::format(
                "generate a new app-level token with scope connections:write "
                "(Basic Information → App-Level Tokens) and put it in {}",
                slack.app_token.source().describe());
        } else if (e == "missing_scope") {
            fix =
                "the app-level token needs the connections:write scope; create a new one "
                "with it under Basic Information → App-Level Tokens";
        } else {
            fix =
                "make sure Socket Mode is enabled (app settings → Socket Mode), or switch to "
                "`slack: {mode: http}`";
        }
        lines.push_back(
            fail(fmt::format("Slack refused the app token for Socket Mode ({})", e), fix));
    } else {
        lines.push_back(pass("Slack app token valid (Socket Mode can connect)"));
    }
    co_return lines;
}

asio::awaitable<std::vector<check_line>> check_channel(core::channel_config channel,
                                                       slack_web_api& api,
                                                       const slack_identity& identity) {
    const auto label = fmt::format("#{} ({})", channel.name, channel.id);
    if (!identity.ok) {
        co_return one(skipped(label + " not checked: the bot token does not work"));
    }
    form_fields args;
    args.emplace_back("channel", channel.id);
    auto info = co_await api.call_form("conversations.info", std::move(args));
    if (!info) {
        co_return one(fail(fmt::format("{}: not checked: {}", label, info.error().message),
                           "check this host's network access to slack.com"));
    }
    if (!info->ok) {
        std::string fix;
        if (info->error == "channel_not_found") {
            fix = fmt::format(
                "check the ID of `{}` under channels: in the config (in Slack: channel name → "
                "About → Channel ID); for a private channel, /invite @{} there first",
                channel.name, identity.bot_name);
        } else {
            fix = explain_slack_error("conversations.info", *info, "#" + channel.name);
        }
        co_return one(fail(fmt::format("{}: Slack answered {}", label, info->error), fix));
    }
    auto doc = json::parse(info->body, nullptr, false);
    const auto slack_name = json_string(doc, "/channel/name");
    const auto& shown = slack_name.empty() ? channel.name : slack_name;
    const bool archived = json_bool(doc, "/channel/is_archived");
    const bool member = json_bool(doc, "/channel/is_member");
    if (archived) {
        co_return one(
            fail(fmt::format("#{} ({}) is archived", shown, channel.id),
                 fmt::format("unarchive it or point `{}` under channels: at a live channel",
                             channel.name)));
    }
    if (!member) {
        co_return one(
            fail(fmt::format("#{} ({}): @{} is not a member", shown, channel.id, identity.bot_name),
                 fmt::format("/invite @{} in #{}", identity.bot_name, shown)));
    }
    co_return one(
        pass(fmt::format("#{} ({}): @{} is a member", shown, channel.id, identity.bot_name)));
}

// ---- shared HTTP failure advice ----

// What to do about a transport failure to `what`; `tls_fix` for certificate problems.
std::string transport_fix(const core::error& e, std::string_view url_fix, std::string_view tls_fix,
                          std::chrono::milliseconds timeout) {
    if (e.code == core::errc::timeout) {
        return fmt::format(
            "nothing came back within {}; check firewalls and proxies between "
            "this host and the server, and that it is not overloaded",
            seconds_text(timeout));
    }
    if (e.code == core::errc::protocol_error && e.message.find("TLS") != std::string::npos) {
        return std::string(tls_fix);
    }
    if (e.code == core::errc::config_error) {
        return std::string(tls_fix);
    }
    return std::string(url_fix);
}

// ---- Jenkins ----

asio::awaitable<std::vector<check_line>> check_jenkins(core::jenkins_config jenkins,
                                                       core::logger& log,
                                                       std::chrono::milliseconds timeout) {
    timeout = std::min<std::chrono::milliseconds>(timeout, jenkins.timeout);
    const auto label = fmt::format("Jenkins {} ({})", jenkins.name, jenkins.url);
    const auto tls_fix = fmt::format(
        "set `ca_file` of Jenkins `{}` to the PEM bundle of the CA that signed its certificate",
        jenkins.name);
    integrations::http_client_options options;
    options.tls.ca_file = jenkins.ca_file;
    auto client = http_client::create(co_await asio::this_coro::executor, log, options);
    if (!client) {
        co_return one(fail(
            fmt::format("{}: TLS settings unusable: {}", label, client.error().message), tls_fix));
    }
    std::string base = jenkins.url;
    if (base.empty() || base.back() != '/') {
        base += '/';
    }
    http_request req;
    req.url = base + "api/json?tree=mode,nodeDescription";
    req.timeout = timeout;
    req.max_attempts = 2;
    req.headers.emplace_back(
        "Authorization",
        "Basic " + integrations::base64_encode(jenkins.user + ":" + jenkins.api_token.reveal()));
    auto res = co_await client->send(std::move(req));
    if (!res) {
        co_return one(fail(
            fmt::format("{}: {}", label, res.error().message),
            transport_fix(res.error(),
                          fmt::format("check `url` of Jenkins `{}` (scheme, host, port) and that "
                                      "Jenkins is up and reachable from this host",
                                      jenkins.name),
                          tls_fix, timeout)));
    }
    const auto token_where = jenkins.api_token.source().describe();
    switch (res->status) {
        case 200: break;
        case 401:
            co_return one(fail(
                fmt::format("{}: HTTP 401, user `{}` and its API token were refused", label,
                            jenkins.user),
                fmt::format("create a new API token for `{}` (Jenkins → your name → Security → "
                            "API Token) and put it in {}; check `user` too",
                            jenkins.user, token_where)));
        case 403:
            co_return one(fail(
                fmt::format("{}: HTTP 403, user `{}` may not read Jenkins", label, jenkins.user),
                fmt::format("grant `{}` Overall/Read, and Job/Read, Job/Build and Job/Cancel on "
                            "the deploy jobs (Manage Jenkins → Security)",
                            jenkins.user)));
        case 404:
            co_return one(
                fail(fmt::format("{}: HTTP 404, no Jenkins API at this URL", label),
                     fmt::format("set `url` of Jenkins `{}` to Jenkins's root URL, including any "
                                 "context path (e.g. https://ci.example.com/jenkins/)",
                                 jenkins.name)));
        default:
            co_return one(
                fail(fmt::format("{}: answered HTTP {}", label, res->status),
                     "Jenkins or a proxy in front of it is failing; check its logs and try "
                     "again"));
    }
    const auto version = res->header("X-Jenkins");
    if (!version) {
        co_return one(
            fail(fmt::format("{}: answered 200, but not as Jenkins (no X-Jenkins header)", label),
                 fmt::format("set `url` of Jenkins `{}` to Jenkins's root URL, not a login page or "
                             "another service",
                             jenkins.name)));
    }
    co_return one(
        pass(fmt::format("{}: answers as `{}` (Jenkins {})", label, jenkins.user, *version)));
}

// ---- Kubernetes ----

// Namespaces the bot works in on `cluster`, each with an environment that uses it.
std::vector<std::pair<std::string, std::string>> namespaces_on(const core::config& config,
                                                               const std::string& cluster) {
    std::vector<std::pair<std::string, std::string>> out;
    std::set<std::string> seen;
    auto add = [&](const std::string& ns, const std::string& env) {
        if (!ns.empty() && seen.insert(ns).second) {
            out.emplace_back(ns, env);
        }
    };
    for (const auto& env : config.environments) {
        if (std::find(env.clusters.begin(), env.clusters.end(), cluster) == env.clusters.end()) {
            continue;
        }
        add(env.namespace_name, env.name);
        for (const auto& service : config.services) {
            auto it = service.workloads.find(env.name);
            if (it == service.workloads.end()) {
                continue;
            }
            for (const auto& w : it->second) {
                if (w.cluster.empty() || w.cluster == cluster) {
                    add(w.namespace_name, env.name);
                }
            }
        }
    }
    return out;
}

// The user named in a Forbidden Status message ('User "system:serviceaccount:ops:bot" cannot').
std::string forbidden_user(const std::string& body) {
    auto doc = json::parse(body, nullptr, false);
    const auto message = doc.is_discarded() ? body : json_string(doc, "/message");
    const auto start = message.find("User \"");
    if (start == std::string::npos) {
        return {};
    }
    const auto end = message.find('"', start + 6);
    return end == std::string::npos ? std::string{} : message.substr(start + 6, end - start - 6);
}

asio::awaitable<std::vector<check_line>> check_cluster(
    core::cluster_config cluster, std::vector<std::pair<std::string, std::string>> namespaces,
    core::logger& log, doctor_options options) {
    std::vector<check_line> lines;
    const auto env = options.env ? options.env : integrations::process_env_getter();
    auto access = integrations::load_cluster_access(cluster, env, options.service_account_dir);
    if (!access) {
        lines.push_back(fail(fmt::format("Cluster {}: cannot load its credentials", cluster.name),
                             access.error().message));
        co_return lines;
    }
    const auto label = fmt::format("Cluster {} ({})", cluster.name, access->server);
    const auto tls_fix = fmt::format(
        "the API server's certificate does not match the CA in {}; update "
        "certificate-authority-data there (kubectl config view --raw shows what kubectl uses)",
        access->origin);
    integrations::http_client_options http_options;
    http_options.tls = access->tls;
    auto client = http_client::create(co_await asio::this_coro::executor, log, http_options);
    if (!client) {
        lines.push_back(
            fail(fmt::format("{}: TLS settings unusable: {}", label, client.error().message),
                 fmt::format("fix the certificates named in {}", access->origin)));
        co_return lines;
    }
    auto get = [&](std::string path) -> asio::awaitable<core::result<http_response>> {
        http_request req;
        req.url = access->server + path;
        req.timeout = options.check_timeout;
        req.max_attempts = 2;
        req.headers.emplace_back("Accept", "application/json");
        if (!access->token.empty()) {
            req.headers.emplace_back("Authorization", "Bearer " + access->token);
        }
        co_return co_await client->send(std::move(req));
    };
    const auto credentials_fix = fmt::format(
        "the credentials in {} are wrong or expired; issue a new ServiceAccount token (kubectl "
        "create token …) or client certificate and update it there",
        access->origin);

    auto version = co_await get("/version");
    if (!version) {
        lines.push_back(
            fail(fmt::format("{}: {}", label, version.error().message),
                 transport_fix(version.error(),
                               fmt::format("check `server:` in {} and that the API server is "
                                           "reachable from this host",
                                           access->origin),
                               tls_fix, options.check_timeout)));
        co_return lines;
    }
    if (version->status == 401) {
        lines.push_back(
            fail(fmt::format("{}: HTTP 401, credentials refused", label), credentials_fix));
        co_return lines;
    }
    if (version->status != 200) {
        lines.push_back(fail(fmt::format("{}: /version answered HTTP {}", label, version->status),
                             fmt::format("check that `server:` in {} is the API server itself, "
                                         "not a proxy or dashboard",
                                         access->origin)));
        co_return lines;
    }
    auto doc = json::parse(version->body, nullptr, false);
    const auto git_version = doc.is_discarded() ? std::string{} : json_string(doc, "/gitVersion");
    lines.push_back(pass(fmt::format("{}: API server answers (Kubernetes {})", label,
                                     git_version.empty() ? "version unknown" : git_version)));

    for (const auto& [ns, env_name] : namespaces) {
        auto list =
            co_await get(fmt::format("/apis/apps/v1/namespaces/{}/deployments?limit=1", ns));
        const auto what = fmt::format(
            "Cluster {}: list deployments in namespace {} (environment "
            "{})",
            cluster.name, ns, env_name);
        if (!list) {
            lines.push_back(fail(fmt::format("{}: {}", what, list.error().message),
                                 transport_fix(list.error(), "check the API server's health",
                                               tls_fix, options.check_timeout)));
            continue;
        }
        if (list->status == 200) {
            lines.push_back(pass(what));
            continue;
        }
        if (list->status == 401) {
            lines.push_back(fail(what + ": HTTP 401, credentials refused", credentials_fix));
            continue;
        }
        if (list->status == 403) {
            const auto user = forbidden_user(list->body);
            const auto who = user.empty() ? std::string("the bot's ServiceAccount/user")
                                          : fmt::format("`{}`", user);
            lines.push_back(fail(
                fmt::format("{}: HTTP 403, {} lacks list deployments in {}", what, who, ns),
                fmt::format("bind {} in namespace {} to a role allowing get, list, watch and "
                            "patch on deployments.apps (plus replicasets, pods, pods/log, events "
                            "read), e.g. `kubectl create rolebinding tugboat -n {} "
                            "--clusterrole=<role> {}`; verify with `kubectl auth can-i list "
                            "deployments -n {}{}`",
                            user.empty() ? "the bot's identity" : user, ns, ns,
                            user.starts_with("system:serviceaccount:")
                                ? "--serviceaccount=" + user.substr(22)
                                : "--user=" + (user.empty() ? std::string("<user>") : user),
                            ns, user.empty() ? "" : " --as " + user)));
            continue;
        }
        lines.push_back(fail(fmt::format("{}: answered HTTP {}", what, list->status),
                             fmt::format("check that namespace {} exists and the API server is "
                                         "healthy",
                                         ns)));
    }
    co_return lines;
}

}  // namespace

const std::vector<std::string>& required_bot_scopes() {
    static const std::vector<std::string> scopes = {
        "commands",          "chat:write",      "im:write",         "im:history",
        "app_mentions:read", "users:read",      "users:read.email", "usergroups:read",
        "files:write",       "reactions:write", "channels:read",    "groups:read",
    };
    return scopes;
}

std::vector<std::string> missing_scopes(std::string_view granted,
                                        const std::vector<std::string>& required) {
    std::set<std::string> have;
    for (const auto& s : core::split(granted, ',')) {
        auto t = core::trim(s);
        if (!t.empty()) {
            have.emplace(t);
        }
    }
    std::vector<std::string> missing;
    for (const auto& s : required) {
        if (!have.contains(s)) {
            missing.push_back(s);
        }
    }
    return missing;
}

// Local files only: the answer folders and the word list that tells phrasing from names.
std::vector<check_line> check_faq(const core::faq_config& faq) {
    std::vector<check_line> lines;
    for (const auto& folder : faq.folders) {
        std::vector<std::string> problems;
        const auto pages = faq::markdown_files(folder, problems).size();
        if (!problems.empty() || pages == 0) {
            lines.push_back(fail(fmt::format("FAQ folder {}: {}", folder,
                                             problems.empty() ? "no .md files" : problems.front()),
                                 "put the Markdown answers there, or fix `faq.folders`"));
        } else {
            lines.push_back(pass(fmt::format("FAQ folder {}: {} Markdown files", folder, pages)));
        }
    }
    if (faq.words.empty()) {
        lines.push_back(skipped("Word list: off (`faq.words` is \"\")"));
    } else if (auto words = faq::word_list::load(faq.words)) {
        lines.push_back(
            pass(fmt::format("Word list {}: {} ordinary English words", faq.words, words->size())));
    } else {
        lines.push_back(
            fail(fmt::format("Word list {} cannot be read", faq.words),
                 "install Debian's `wamerican`, or set `faq.words: \"\"` to do without (long, "
                 "chatty English questions are then declined more often)"));
    }
    return lines;
}

asio::awaitable<int> run_doctor(const core::config& config, http_client& slack_http,
                                std::ostream& out, core::logger& log, doctor_options options) {
    out << "tugboat doctor: checking "
        << (config.source_path.empty() ? std::string("the configuration") : config.source_path)
        << "\n";
    out.flush();

    slack_web_api api(slack_http, config.slack.api_url, config.slack.bot_token, log);
    slack_identity identity;

    std::vector<section> sections;
    sections.push_back({"Slack", {}});
    // Channel checks need the bot's name and a working token, so they follow the token checks;
    // Jenkins and the clusters do not wait for Slack.
    std::vector<task> tasks;
    tasks.emplace_back([&]() -> asio::awaitable<std::vector<check_line>> {
        auto lines = co_await check_slack_tokens(config, api, identity);
        std::vector<task> channel_tasks;
        for (const auto& channel : config.channels) {
            channel_tasks.emplace_back(
                [&, channel] { return check_channel(channel, api, identity); });
        }
        for (auto& channel_lines : co_await run_concurrently(std::move(channel_tasks))) {
            lines.insert(lines.end(), channel_lines.begin(), channel_lines.end());
        }
        co_return lines;
    });
    if (!config.jenkins.empty()) {
        sections.push_back({"Jenkins", {}});
        tasks.emplace_back([&]() -> asio::awaitable<std::vector<check_line>> {
            std::vector<task> each;
            for (const auto& j : config.jenkins) {
                each.emplace_back([&, j] { return check_jenkins(j, log, options.check_timeout); });
            }
            std::vector<check_line> lines;
            for (auto& part : co_await run_concurrently(std::move(each))) {
                lines.insert(lines.end(), part.begin(), part.end());
            }
            co_return lines;
        });
    }
    if (!config.clusters.empty()) {
        sections.push_back({"Kubernetes", {}});
        tasks.emplace_back([&]() -> asio::awaitable<std::vector<check_line>> {
            std::vector<task> each;
            for (const auto& c : config.clusters) {
                each.emplace_back([&, c] {
                    return check_cluster(c, namespaces_on(config, c.name), log, options);
                });
            }
            std::vector<check_line> lines;
            for (auto& part : co_await run_concurrently(std::move(each))) {
                lines.insert(lines.end(), part.begin(), part.end());
            }
            co_return lines;
        });
    }
    auto results = co_await run_concurrently(std::move(tasks));
    if (!config.faq.folders.empty()) {
        sections.push_back({"FAQ", {}});
        results.push_back(check_faq(config.faq));
    }

    std::size_t total = 0;
    std::size_t failed = 0;
    for (std::size_t i = 0; i < sections.size(); ++i) {
        out << "\n" << sections[i].title << "\n";
        for (const auto& line : results[i]) {
            switch (line.result) {
                case outcome::pass:
                    ++total;
                    out << "  ✔ " << line.what << "\n";
                    break;
                case outcome::fail:
                    ++total;
                    ++failed;
                    out << "  ✘ " << line.what << " — fix: " << line.fix << "\n";
                    break;
                case outcome::skipped: out << "  – " << line.what << "\n"; break;
            }
        }
    }
    if (failed == 0) {
        out << "\nAll " << total << " checks passed.\n";
    } else {
        out << "\n"
            << failed << " of " << total << " checks failed; fix them and run `tugboat "
            << "doctor` again.\n";
    }
    out.flush();
    log.info("doctor_done", {{"checks", static_cast<long long>(total)},
                             {"failed", static_cast<long long>(failed)}});
    co_return failed == 0 ? 0 : 1;
}

std::string_view doctor_usage() {
    return "Usage: tugboat doctor CONFIG\n"
           "\n"
           "Checks that everything CONFIG depends on works: the Slack bot token (auth.test) and\n"
           "its scopes, the app-level token (Socket Mode) or signing secret (HTTP mode), that the\n"
           "bot is a member of every configured channel, that every Jenkins server accepts the\n"
           "bot's API token, and that every cluster answers and lets the bot list deployments in\n"
           "each environment's namespace. Prints a checklist with a fix for every failure.\n"
           "Exit code: 0 all checks passed, 1 some failed, 2 usage or config errors.\n";
}

}  // namespace tugboat::bot
