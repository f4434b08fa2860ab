// `tugboat doctor` against the fake Slack, fake Jenkins and fake Kubernetes (real HTTP on
// 127.0.0.1): a healthy setup passes, and each broken piece shows up as ✘ with its fix.

#include "bot/doctor.hpp"
#include "integrations/http_client.hpp"
#include "sandbox/fake_jenkins.hpp"
#include "sandbox/fake_kubernetes.hpp"
#include "sandbox/fake_slack.hpp"
#include "sandbox/http_server.hpp"
#include "sandbox/kubeconfig_writer.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

namespace asio = boost::asio;
using namespace tugboat;
using test::temp_dir;
namespace fs = std::filesystem;

namespace {

struct doctor_fixture {
    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink, core::log_level::debug};
    temp_dir dir;
    sandbox::fake_slack_options slack_options = sandbox::sandbox_slack_workspace();
    std::optional<sandbox::fake_slack> slack;
    std::optional<sandbox::fake_jenkins> jenkins;
    std::unique_ptr<sandbox::fake_kubernetes> kube;
    std::optional<integrations::http_client> http;
    core::config config;

    doctor_fixture() {
        auto s = sandbox::fake_slack::start(ioc.get_executor(), slack_options);
        REQUIRE(s);
        slack.emplace(std::move(*s));

        sandbox::fake_jenkins_options jenkins_options;
        auto j = sandbox::fake_jenkins::start(ioc.get_executor(), jenkins_options);
        REQUIRE(j);
        jenkins.emplace(std::move(*j));

        sandbox::fake_kubernetes_options kube_options;
        kube_options.namespaces = {"payments", "orders"};
        auto k = sandbox::fake_kubernetes::start(ioc.get_executor(), kube_options);
        REQUIRE(k);
        kube = std::move(*k);

        auto h = integrations::http_client::create(ioc.get_executor(), log, {});
        REQUIRE(h);
        http.emplace(std::move(*h));

        config.source_path = "tugboat.yaml";
        config.slack.api_url = slack->api_url();
        config.slack.bot_token = core::secret(slack_options.bot_token, {"SLACK_BOT_TOKEN", ""});
        config.slack.app_token = core::secret(slack_options.app_token, {"SLACK_APP_TOKEN", ""});
        config.channels = {{"deploys", "C0DEPLOYS"}, {"payments", "C0PAYMENTS"}};

        core::jenkins_config jc;
        jc.name = "ci";
        jc.url = jenkins->base_url();
        jc.user = jenkins_options.user;
        jc.api_token = core::secret(jenkins_options.api_token, {"JENKINS_TOKEN", ""});
        jc.timeout = std::chrono::seconds{5};
        config.jenkins.push_back(jc);

        const auto kubeconfig = dir.path / "kubeconfig";
        std::ofstream(kubeconfig) << sandbox::make_kubeconfig({kube->kubeconfig_entry("fake")});
        config.clusters.push_back({"onprem", false, kubeconfig.string(), "fake"});
        core::environment_config beta;
        beta.name = "beta";
        beta.clusters = {"onprem"};
        beta.namespace_name = "payments";
        config.environments.push_back(beta);
    }

    int run(std::string& output) {
        std::ostringstream out;
        bot::doctor_options options;
        options.check_timeout = std::chrono::seconds{3};
        int code = test::run_test(ioc, bot::run_doctor(config, *http, out, log, options),
                                  std::chrono::seconds{20});
        output = out.str();
        INFO(output);
        return code;
    }
};

}  // namespace

TEST_CASE("doctor: a healthy setup passes every check with exit code 0", "[loopback]") {
    doctor_fixture f;
    std::string out;
    int code = f.run(out);
    INFO(out);
    CHECK(code == 0);
    CHECK_THAT(out, Catch::Contains("✔ Slack bot token valid (team Tugboat, bot @tugboat)"));
    CHECK_THAT(out, Catch::Contains("✔ Slack app token valid"));
    CHECK_THAT(out, Catch::Contains("✔ #deploys (C0DEPLOYS): @tugboat is a member"));
    CHECK_THAT(out, Catch::Contains("✔ #payments (C0PAYMENTS): @tugboat is a member"));
    CHECK_THAT(out, Catch::Contains("✔ Jenkins ci"));
    CHECK_THAT(out, Catch::Contains("(Jenkins 2.452.3)"));
    CHECK_THAT(out, Catch::Contains("API server answers (Kubernetes v1.29.2"));
    CHECK_THAT(out, Catch::Contains("✔ Cluster onprem: list deployments in namespace payments"));
    CHECK_THAT(out, !Catch::Contains("✘"));
    CHECK_THAT(out, Catch::Contains("checks passed"));
    // The doctor never opens the Socket Mode connection it asked for.
    CHECK(f.slack->total_connections() == 0);
    // No secret reaches the output or the log.
    CHECK_THAT(out, !Catch::Contains(f.slack_options.bot_token));
    CHECK_THAT(f.sink.text(), !Catch::Contains(f.slack_options.bot_token));
}

TEST_CASE("doctor: a channel without the bot fails with the /invite fix", "[loopback]") {
    doctor_fixture f;
    f.config.channels.push_back({"random", "C0RANDOM"});
    std::string out;
    CHECK(f.run(out) == 1);
    CHECK_THAT(out, Catch::Contains("✘ #random (C0RANDOM): @tugboat is not a member — fix: "
                                    "/invite @tugboat in #random"));
    CHECK_THAT(out, Catch::Contains("✔ #deploys (C0DEPLOYS)"));
    CHECK_THAT(out, Catch::Contains("1 of "));
}

TEST_CASE("doctor: an unknown channel ID says where to find the right one", "[loopback]") {
    doctor_fixture f;
    f.config.channels.push_back({"typo", "C0NOSUCH"});
    std::string out;
    CHECK(f.run(out) == 1);
    CHECK_THAT(out, Catch::Contains("✘ #typo (C0NOSUCH): Slack answered channel_not_found — fix:"));
    CHECK_THAT(out, Catch::Contains("Channel ID"));
}

TEST_CASE("doctor: a refused bot token fails and skips the channel checks", "[loopback]") {
    doctor_fixture f;
    f.config.slack.bot_token = core::secret("xoxb-wrong", {"SLACK_BOT_TOKEN", ""});
    std::string out;
    CHECK(f.run(out) == 1);
    CHECK_THAT(out, Catch::Contains("✘ Slack refused the bot token from environment variable "
                                    "SLACK_BOT_TOKEN (invalid_auth) — fix:"));
    CHECK_THAT(out, Catch::Contains("– #deploys (C0DEPLOYS) not checked"));
}

TEST_CASE("doctor: a bad app token fails with where to get the right one", "[loopback]") {
    doctor_fixture f;
    f.config.slack.app_token = core::secret(f.slack_options.bot_token, {"SLACK_APP_TOKEN", ""});
    std::string out;
    CHECK(f.run(out) == 1);
    CHECK_THAT(out, Catch::Contains("✘ Slack refused the app token for Socket Mode "
                                    "(not_allowed_token_type) — fix:"));
    CHECK_THAT(out, Catch::Contains("App-Level Tokens"));
}

TEST_CASE("doctor: Jenkins 401 fails with the API token fix", "[loopback]") {
    doctor_fixture f;
    f.config.jenkins[0].api_token = core::secret("wrong-token", {"JENKINS_TOKEN", ""});
    std::string out;
    CHECK(f.run(out) == 1);
    CHECK_THAT(out, Catch::Contains("HTTP 401, user `tugboat` and its API token were refused — "
                                    "fix: create a new API token for `tugboat`"));
    CHECK_THAT(out, Catch::Contains("environment variable JENKINS_TOKEN"));
    CHECK_THAT(out, !Catch::Contains("wrong-token"));
}

TEST_CASE("doctor: Jenkins that is down fails with the URL fix", "[loopback]") {
    doctor_fixture f;
    f.jenkins->stop();
    std::string out;
    CHECK(f.run(out) == 1);
    CHECK_THAT(out, Catch::Contains("✘ Jenkins ci"));
    CHECK_THAT(out, Catch::Contains("fix: check `url` of Jenkins `ci`"));
}

TEST_CASE("doctor: a cluster denying list deployments fails with the RBAC fix", "[loopback]") {
    doctor_fixture f;
    f.kube->forbid("/apis/apps/v1/namespaces/payments/deployments", "list");
    std::string out;
    CHECK(f.run(out) == 1);
    CHECK_THAT(out, Catch::Contains("✘ Cluster onprem: list deployments in namespace payments"));
    CHECK_THAT(out, Catch::Contains("HTTP 403"));
    CHECK_THAT(out, Catch::Contains("kubectl auth can-i list deployments -n payments"));
}

TEST_CASE("doctor: a cluster with a missing kubeconfig context fails with the choices",
          "[loopback]") {
    doctor_fixture f;
    f.config.clusters[0].context = "fkae";
    std::string out;
    CHECK(f.run(out) == 1);
    CHECK_THAT(out, Catch::Contains("✘ Cluster onprem: cannot load its credentials — fix:"));
    CHECK_THAT(out, Catch::Contains("Did you mean `fake`"));
}

TEST_CASE("doctor: missing bot token scopes are listed", "[loopback]") {
    // The fake Slack does not send x-oauth-scopes, so a plain server plays Slack here.
    asio::io_context ioc;
    core::string_sink sink;
    core::logger log{sink};
    sandbox::http_server_options options;
    auto server = sandbox::http_server::start(ioc.get_executor(), options);
    REQUIRE(server);
    server->route("POST", "/api/auth.test", [](sandbox::request_context& ctx) {
        return ctx.respond_json(
            200, R"({"ok":true,"team":"Tugboat","user":"tugboat","team_id":"T1","user_id":"U1"})",
            {{"x-oauth-scopes",
              "commands,chat:write,im:write,im:history,app_mentions:read,"
              "users:read,users:read.email,files:write,channels:read"}});
    });
    server->route("POST", "/api/apps.connections.open", [](sandbox::request_context& ctx) {
        return ctx.respond_json(200, R"({"ok":true,"url":"wss://example.invalid/link"})");
    });
    auto client = integrations::http_client::create(ioc.get_executor(), log, {});
    REQUIRE(client);
    core::config config;
    config.slack.api_url = server->base_url() + "/api/";
    config.slack.bot_token = core::secret("xoxb-1");
    config.slack.app_token = core::secret("xapp-1");
    std::ostringstream out;
    int code = test::run_test(ioc, bot::run_doctor(config, *client, out, log));
    INFO(out.str());
    CHECK(code == 1);
    CHECK_THAT(out.str(), Catch::Contains("✘ Bot token lacks scopes usergroups:read, "
                                          "reactions:write, groups:read — fix: add them"));
}

TEST_CASE("doctor: scope comparison", "[unit]") {
    const auto& required = bot::required_bot_scopes();
    CHECK(required.size() == 12);
    std::string all;
    for (const auto& s : required) {
        all += s + ",";
    }
    CHECK(bot::missing_scopes(all, required).empty());
    CHECK(
        bot::missing_scopes(" commands , chat:write", {"chat:write", "commands", "files:write"}) ==
        std::vector<std::string>{"files:write"});
    CHECK(bot::missing_scopes("", {"commands"}) == std::vector<std::string>{"commands"});
}

TEST_CASE("doctor: the FAQ folders and the word list", "[loopback]") {
    doctor_fixture f;
    fs::create_directories(f.dir.path / "faq" / "guides");
    std::ofstream(f.dir.path / "faq" / "guides" / "deploy.md") << "# Deploying\n\nType /deploy.\n";
    fs::create_directories(f.dir.path / "empty");
    std::ofstream(f.dir.path / "words") << "chatty\nswapped\n";
    f.config.faq.folders = {(f.dir.path / "faq").string()};
    f.config.faq.words = (f.dir.path / "words").string();
    std::string out;
    SECTION("present") {
        CHECK(f.run(out) == 0);
        CHECK_THAT(out, Catch::Contains("FAQ\n  ✔ FAQ folder "));
        CHECK_THAT(out, Catch::Contains(": 1 Markdown files"));
        CHECK_THAT(out, Catch::Contains(": 2 ordinary English words"));
    }
    SECTION("an empty folder and a missing word list fail with what to do") {
        f.config.faq.folders.push_back((f.dir.path / "empty").string());
        f.config.faq.words = (f.dir.path / "missing-words").string();
        CHECK(f.run(out) == 1);
        CHECK_THAT(out, Catch::Contains("empty: no .md files — fix: put the Markdown answers"));
        CHECK_THAT(out, Catch::Contains("missing-words cannot be read — fix: install Debian's "
                                        "`wamerican`"));
    }
    SECTION("turned off") {
        f.config.faq.words = "";
        CHECK(f.run(out) == 0);
        CHECK_THAT(out, Catch::Contains("– Word list: off"));
    }
}
