#include "bot/config_loader.hpp"
#include "bot/access_rbac.hpp"
#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using tugboat::bot::config_problem;
using tugboat::bot::load_config;
using tugboat::bot::load_config_text;
using tugboat::bot::load_options;
using tugboat::bot::load_result;
using tugboat::test::temp_dir;

const std::string source_dir = TUGBOAT_SOURCE_DIR;

// The environment the loader sees; tests never touch the real process environment.
struct fake_env {
    std::map<std::string, std::string, std::less<>> vars{
        {"SLACK_BOT_TOKEN", "xoxb-test-bot"},
        {"SLACK_APP_TOKEN", "xapp-test-app"},
        {"JENKINS_API_TOKEN", "jenkins-secret"},
        {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
    };
    tugboat::bot::env_lookup lookup() const {
        return [this](std::string_view name) -> std::optional<std::string> {
            auto it = vars.find(name);
            if (it == vars.end()) {
                return std::nullopt;
            }
            return it->second;
        };
    }
};

// A small valid config that tests extend or edit.
const std::string base_config = R"(slack:
  bot_token: {env: SLACK_BOT_TOKEN}
  app_token: {env: SLACK_APP_TOKEN}
channels:
  deploys: C0DEPLOYS
  approvals: C0APPROVALS
clusters:
  main:
    in_cluster: true
environments:
  dev:
    cluster: main
    namespace: dev
  prod:
    cluster: main
    namespace: prod
    policy:
      deployers: [S0DEVS]
services:
  web:
    channel: deploys
    rollout: image
    image: registry.example.com/web
    workloads:
      dev: web
      prod: web
)";

std::string replace(std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

// 1-based line of the first occurrence of `needle`.
int line_of(const std::string& text, const std::string& needle) {
    auto at = text.find(needle);
    REQUIRE(at != std::string::npos);
    return 1 +
           static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

load_result load_text(const std::string& text, const fake_env& env = {},
                      load_options options = {}) {
    return load_config_text(text, "test.yaml", env.lookup(), options);
}

std::string all(const load_result& r) {
    return tugboat::bot::format_problems(r.problems);
}

// The problem on `line` whose message contains `text`, or null.
const config_problem* find(const load_result& r, int line, const std::string& text) {
    for (const auto& p : r.problems) {
        if (p.line == line && p.message.find(text) != std::string::npos) {
            return &p;
        }
    }
    return nullptr;
}

// The result must outlive the pointer.
const config_problem* find(const load_result&& r, int line, const std::string& text) = delete;

bool has(const load_result& r, int line, const std::string& text) {
    return find(r, line, text) != nullptr;
}

}  // namespace

TEST_CASE("config: the base config used by these tests is valid", "[unit]") {
    auto r = load_text(base_config);
    INFO(all(r));
    CHECK(r.ok());
}

TEST_CASE("config: the sample in examples/ passes the check", "[unit]") {
    fake_env env;
    SECTION("with its secrets, without the production machine's files") {
        auto r = load_config(source_dir + "/examples/tugboat.yaml", env.lookup(),
                             load_options{.resolve_secrets = true, .check_files = false});
        INFO(all(r));
        REQUIRE(r.ok());
        const auto& c = r.config;
        CHECK(c.services.size() == 3);
        CHECK(c.environment_names() == std::vector<std::string>{"dev", "beta", "prod"});
        CHECK(c.slack.bot_token.reveal() == "xoxb-test-bot");
        CHECK(c.slack.bot_token.source().env == "SLACK_BOT_TOKEN");
        CHECK(c.jenkins.at(0).api_token.reveal() == "jenkins-secret");
        CHECK(c.bot.database == "/var/lib/tugboat/tugboat.db");  // ${VAR:-default}

        const auto* prod = c.find_environment("prod");
        REQUIRE(prod != nullptr);
        CHECK(prod->production);
        CHECK(prod->policy.approval.required == 1);
        CHECK(prod->policy.approval.expires_after == std::chrono::hours{1});
        CHECK(prod->policy.requires_success_in == "beta");
        CHECK(prod->policy.when_locked == "refuse");
        REQUIRE(prod->policy.freezes.size() == 2);
        CHECK(prod->policy.freezes[0].from == "2026-12-21T00:00");
        CHECK(prod->policy.freezes[0].to == "2027-01-05T00:00");  // a bare `to` date is inclusive
        CHECK(prod->policy.freezes[1].days == std::vector<std::string>{"fri"});
        CHECK(prod->policy.freezes[1].start_time == "15:00");
        CHECK(prod->policy.freezes[1].timezone == "Europe/Berlin");
        CHECK_FALSE(c.find_environment("dev")->production);

        const auto* orders = c.find_service("orders-api");
        REQUIRE(orders != nullptr);
        CHECK(orders->jenkins == "ci");  // the only server is the default
        CHECK(orders->job_parameters.at("DEPLOY_ID") == "{deploy_id}");  // default parameters
        const auto* payments = c.find_service("payments-api");
        REQUIRE(payments->workloads.at("prod").size() == 2);
        CHECK(payments->workloads.at("prod")[1].container == "worker");
        CHECK(c.find_service("search-web")->workloads.at("prod")[0].namespace_name == "search");
        CHECK(c.find_access_role("break-glass")->allow_escalation);
        CHECK(c.channel_id("access-approvals") == "G0ACCESS");
        CHECK(c.faq.glossary.at("k8s") == std::vector<std::string>{"kubernetes", "kube"});
        CHECK(c.faq.other_tools == std::vector<std::string>{"backstage", "rundeck/런덱"});
    }
    SECTION("offline, with no environment at all") {
        fake_env empty;
        empty.vars.clear();
        auto r = load_config(source_dir + "/examples/tugboat.yaml", empty.lookup(),
                             load_options{.resolve_secrets = false, .check_files = false});
        INFO(all(r));
        CHECK(r.ok());
    }
}

TEST_CASE("config: the sandbox config loads with the launcher's variables", "[unit]") {
    temp_dir dir;
    dir.write("kubeconfig", R"(apiVersion: v1
kind: Config
current-context: onprem
contexts:
  - name: onprem
    context: {cluster: onprem, user: bot}
  - name: cloud
    context: {cluster: cloud, user: bot}
)");
    dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    fs::create_directories(dir.path / "faq");
    fake_env env;
    env.vars["SANDBOX_DIR"] = dir.path.string();
    env.vars["SANDBOX_FAQ_DIR"] = (dir.path / "faq").string();
    env.vars["JENKINS_URL"] = "https://127.0.0.1:40123";
    env.vars["SLACK_API_URL"] = "https://127.0.0.1:40124/api";

    auto r = load_config(source_dir + "/sandbox/sandbox.yaml", env.lookup());
    INFO(all(r));
    REQUIRE(r.ok());
    const auto& c = r.config;
    CHECK(c.service_names() ==
          std::vector<std::string>{"payments-api", "orders-api", "search-web"});
    CHECK(c.jenkins.at(0).url == "https://127.0.0.1:40123/");
    CHECK(c.slack.api_url == "https://127.0.0.1:40124/api/");
    CHECK(c.find_cluster("cloud")->context == "cloud");
    CHECK(c.find_cluster("cloud")->kubeconfig == (dir.path / "kubeconfig").string());
    CHECK(c.find_environment("prod")->clusters == std::vector<std::string>{"cloud"});
    CHECK(c.find_environment("prod")->policy.approval.required == 1);
    CHECK(c.find_environment("prod")->policy.freezes.at(0).weekly());
    CHECK(c.bot.database == (dir.path / "tugboat.db").string());
    CHECK(c.find_service("orders-api")->version_pattern == "sha");
}

TEST_CASE("config: a broken file reports every problem at once, each at its line", "[unit]") {
    fake_env env;
    auto r = load_config(source_dir + "/tests/bot/fixtures/broken.yaml", env.lookup());
    INFO(all(r));
    struct expected {
        int line;
        std::string text;
    };
    const std::vector<expected> want{
        {4, "`bot_token` in `slack` is written inline; secrets must come from the environment"},
        {8, "`#deploys` is not a Slack channel ID"},
        {13, "environment variable UNSET_JENKINS_URL is not set"},
        {19, "does-not-exist.kubeconfig` does not exist"},
        {26, "cluster `clod` is not defined under `clusters`"},
        {32, "`alice` is not a Slack user ID"},
        {33, "`expires_after` in the approval policy of environment `prod` is not a duration"},
        {34, "`when_locked` in the policy of environment `prod` must be queue or refuse"},
        {37, "service `payments-api` is missing `channel`"},  // follows from the typo below
        {39, "unknown key `chanel` in service `payments-api`. Did you mean `channel`?"},
        {40, "Jenkins server `jenkns` is not defined under `jenkins`"},
        {42, "never pass `{deploy_id}`"},
        {44, "`version_pattern` of service `payments-api` is not a valid regex"},
        {47, "environment `staging` is not defined under `environments`"},
        {49, "channel `paymnts` is not defined under `channels`. Did you mean `payments`?"},
        {54, "service `payments-api` is defined twice in `services` (first at line 37)"},
        {61, "access role `root` could escalate privileges"},
    };
    for (const auto& w : want) {
        INFO("line " << w.line << ": " << w.text);
        const auto* p = find(r, w.line, w.text);
        REQUIRE(p != nullptr);
        CHECK(p->file.ends_with("broken.yaml"));
        CHECK(p->column > 0);
        CHECK_FALSE(p->hint.empty());
    }
    CHECK(r.problems.size() == want.size());
}

TEST_CASE("config: problems print as file:line:column with a hint", "[unit]") {
    fake_env env;
    auto r = load_config(source_dir + "/tests/bot/fixtures/broken.yaml", env.lookup());
    const std::string text = all(r);
    CHECK_THAT(text, Catch::Contains("broken.yaml:39:5: unknown key `chanel` in service "
                                     "`payments-api`. Did you mean `channel`?\n    hint: keys "
                                     "allowed here: team, owners, channel"));
}

TEST_CASE("config: unknown keys are errors, with the closest key suggested", "[unit]") {
    SECTION("a typo") {
        auto text = replace(base_config, "    rollout: image", "    rollout: image\n    imgae: x");
        auto r = load_text(text);
        const auto* p = find(r, line_of(text, "imgae"), "unknown key `imgae` in service `web`");
        REQUIRE(p != nullptr);
        CHECK_THAT(p->message, Catch::EndsWith("Did you mean `image`?"));
    }
    SECTION("a key in the wrong place says where it belongs") {
        auto text = replace(base_config, "    namespace: dev\n",
                            "    namespace: dev\n    deployers: [S0DEVS]\n");
        auto r = load_text(text);
        const auto* p = find(r, line_of(text, "    deployers: [S0DEVS]\n  prod"),
                             "unknown key `deployers` in environment `dev`");
        REQUIRE(p != nullptr);
        CHECK_THAT(p->hint, Catch::Contains("belongs under `policy:`"));
    }
    SECTION("an unknown section") {
        auto r = load_text(base_config + "servics: {}\n");
        CHECK(has(r, line_of(base_config + "servics", "servics"),
                  "unknown key `servics` in the top level. Did you mean `services`?"));
    }
}

TEST_CASE("config: secrets written inline are refused", "[unit]") {
    SECTION("in a secret key") {
        auto text =
            replace(base_config, "bot_token: {env: SLACK_BOT_TOKEN}", "bot_token: xoxb-123-456");
        auto r = load_text(text);
        const auto* p = find(r, 2,
                             "secrets must come from the environment or a file: write "
                             "`bot_token: {env: SLACK_BOT_TOKEN}`");
        REQUIRE(p != nullptr);
        CHECK(p->hint.find("xoxb-123-456") == std::string::npos);  // never echo the secret
        CHECK(p->message.find("xoxb-123-456") == std::string::npos);
    }
    SECTION("a token pasted into any other value") {
        auto text = replace(base_config, "    channel: deploys\n",
                            "    channel: deploys\n    team: xoxp-1-2-3\n");
        auto r = load_text(text);
        CHECK(has(r, line_of(text, "team:"), "looks like a Slack token"));
    }
    SECTION("a secret `${VAR}` expanded into the key is still inline") {
        auto text = replace(base_config, "bot_token: {env: SLACK_BOT_TOKEN}",
                            "bot_token: ${SLACK_BOT_TOKEN}");
        auto r = load_text(text);
        CHECK(has(r, 2, "is written inline"));
    }
}

TEST_CASE("config: secrets come from the environment or files", "[unit]") {
    temp_dir dir;
    SECTION("a file, trimmed, relative to the config") {
        dir.write("jenkins-token", "  s3cret\n");
        auto text = base_config +
                    "jenkins:\n  ci:\n    url: https://ci.example.com\n    user: bot\n"
                    "    api_token: {file: jenkins-token}\n";
        fake_env env;
        auto r = load_config_text(text, (dir.path / "tugboat.yaml").string(), env.lookup());
        INFO(all(r));
        REQUIRE(r.ok());
        CHECK(r.config.jenkins.at(0).api_token.reveal() == "s3cret");
        CHECK(r.config.jenkins.at(0).api_token.source().file ==
              (dir.path / "jenkins-token").string());
        CHECK(r.config.jenkins.at(0).url == "https://ci.example.com/");
    }
    SECTION("a missing file or variable is a problem, unless offline") {
        auto text = base_config +
                    "jenkins:\n  ci:\n    url: https://ci.example.com\n    user: bot\n"
                    "    api_token: {file: nope}\n";
        text = replace(text, "{env: SLACK_APP_TOKEN}", "{env: MY_APP_TOKEN}");
        fake_env env;
        env.vars.erase("SLACK_APP_TOKEN");
        auto r = load_config_text(text, (dir.path / "tugboat.yaml").string(), env.lookup());
        CHECK(has(r, line_of(text, "api_token"), "cannot read secret file"));
        CHECK(has(r, 3, "environment variable MY_APP_TOKEN is not set"));
        auto offline = load_config_text(text, (dir.path / "tugboat.yaml").string(), env.lookup(),
                                        {.resolve_secrets = false, .check_files = false});
        INFO(all(offline));
        CHECK(offline.ok());
    }
    SECTION("a token of the wrong kind") {
        fake_env env;
        env.vars["SLACK_BOT_TOKEN"] = "xapp-oops";
        auto r = load_text(base_config, env);
        CHECK(has(r, 2, "does not start with `xoxb-`"));
    }
    SECTION("both or neither source") {
        auto text = replace(base_config, "{env: SLACK_BOT_TOKEN}", "{env: A, file: b}");
        CHECK(has(load_text(text), 2, "must name exactly one source"));
    }
}

TEST_CASE("config: SLACK_* environment variables override the file", "[unit]") {
    auto text = replace(base_config, "{env: SLACK_BOT_TOKEN}", "{env: MY_BOT_TOKEN}");
    text = replace(text, "slack:\n", "slack:\n  api_url: https://slack.example.com/api\n");
    fake_env env;
    env.vars["MY_BOT_TOKEN"] = "xoxb-from-config";
    SECTION("unset: the file's values") {
        env.vars.erase("SLACK_BOT_TOKEN");
        auto r = load_text(text, env);
        INFO(all(r));
        REQUIRE(r.ok());
        CHECK(r.config.slack.bot_token.reveal() == "xoxb-from-config");
        CHECK(r.config.slack.api_url == "https://slack.example.com/api/");
    }
    SECTION("set: the environment wins") {
        env.vars["SLACK_BOT_TOKEN"] = "xoxb-from-env";
        env.vars["SLACK_API_URL"] = "https://127.0.0.1:9999/api/";
        auto r = load_text(text, env);
        INFO(all(r));
        REQUIRE(r.ok());
        CHECK(r.config.slack.bot_token.reveal() == "xoxb-from-env");
        CHECK(r.config.slack.bot_token.source().env == "SLACK_BOT_TOKEN");
        CHECK(r.config.slack.api_url == "https://127.0.0.1:9999/api/");
    }
    SECTION("no slack section at all: everything from the environment") {
        auto bare = replace(base_config,
                            "slack:\n  bot_token: {env: SLACK_BOT_TOKEN}\n  app_token: {env: "
                            "SLACK_APP_TOKEN}\n",
                            "");
        auto r = load_text(bare, env);
        INFO(all(r));
        REQUIRE(r.ok());
        CHECK(r.config.slack.app_token.reveal() == "xapp-test-app");
        env.vars.erase("SLACK_APP_TOKEN");
        CHECK_THAT(all(load_text(bare, env)), Catch::Contains("`slack` is missing `app_token`"));
    }
}

TEST_CASE("config: references to undefined names are reported", "[unit]") {
    SECTION("channel") {
        auto text = replace(base_config, "channel: deploys", "channel: deplys");
        CHECK(has(load_text(text), line_of(text, "deplys"),
                  "channel `deplys` is not defined under `channels`. Did you mean `deploys`?"));
    }
    SECTION("cluster") {
        auto text = replace(base_config, "    cluster: main\n    namespace: dev",
                            "    cluster: mian\n    namespace: dev");
        CHECK(has(load_text(text), line_of(text, "mian"), "cluster `mian` is not defined"));
    }
    SECTION("Jenkins server") {
        auto text = replace(base_config, "    rollout: image\n",
                            "    rollout: image\n    jenkins: build\n");
        CHECK(has(load_text(text), line_of(text, "jenkins: build"),
                  "Jenkins server `build` is not defined under `jenkins`"));
    }
    SECTION("Jenkins used but none defined") {
        auto text = replace(base_config, "    rollout: image\n",
                            "    rollout: jenkins\n    job: deploy/web\n");
        CHECK(has(load_text(text), line_of(text, "  web:"), "no Jenkins server is defined"));
    }
    SECTION("workload environment") {
        auto text = replace(base_config, "      prod: web", "      prd: web");
        CHECK(has(load_text(text), line_of(text, "prd:"),
                  "environment `prd` is not defined under `environments`. Did you mean `prod`?"));
    }
    SECTION("workload cluster outside its environment") {
        auto text = base_config + "  clusters:\n";  // placeholder replaced below
        text =
            replace(base_config, "clusters:\n  main:\n    in_cluster: true\n",
                    "clusters:\n  main:\n    in_cluster: true\n  other:\n    in_cluster: true\n");
        text = replace(text, "      prod: web", "      prod: {deployment: web, cluster: other}");
        CHECK(has(load_text(text), line_of(text, "cluster: other}"),
                  "cluster `other` is not one of environment `prod`'s clusters"));
    }
    SECTION("promotion order") {
        auto text = replace(base_config, "      deployers: [S0DEVS]",
                            "      deployers: [S0DEVS]\n      requires_success_in: beat");
        CHECK(has(load_text(text), line_of(text, "beat"), "environment `beat` is not defined"));
    }
    SECTION("promotion loop") {
        auto text = replace(base_config, "      deployers: [S0DEVS]",
                            "      deployers: [S0DEVS]\n      requires_success_in: dev");
        text = replace(text, "    namespace: dev\n",
                       "    namespace: dev\n    policy:\n      requires_success_in: prod\n");
        auto r = load_text(text);
        INFO(all(r));
        CHECK(has(r, line_of(text, "requires_success_in: prod"),
                  "the promotion order loops: dev needs prod needs dev"));
        CHECK(r.problems.size() == 1);
    }
    SECTION("access channel and environments") {
        auto text = base_config + R"(access:
  approvals_channel: aprovals
  admins: [S0SRE]
  roles:
    view:
      role: view
      auto_approve_in: [qa]
)";
        auto r = load_text(text);
        CHECK(has(r, line_of(text, "aprovals"), "channel `aprovals` is not defined"));
        CHECK(has(r, line_of(text, "[qa]"), "environment `qa` is not defined"));
    }
}

TEST_CASE("config: Slack IDs, names and enums are checked", "[unit]") {
    SECTION("lower-case user ID") {
        auto text = replace(base_config, "deployers: [S0DEVS]", "deployers: [u0alice]");
        auto r = load_text(text);
        const auto* p = find(r, line_of(text, "u0alice"), "is not a Slack user ID");
        REQUIRE(p != nullptr);
        CHECK_THAT(p->hint, Catch::Contains("write `U0ALICE`"));
    }
    SECTION("a handle instead of an ID") {
        auto text = replace(base_config, "deployers: [S0DEVS]", "deployers: [\"@alice\"]");
        auto r = load_text(text);
        const auto* p = find(r, line_of(text, "@alice"), "is not a Slack user ID");
        REQUIRE(p != nullptr);
        CHECK_THAT(p->hint, Catch::Contains("member ID"));
    }
    SECTION("a channel name with a space") {
        auto text = replace(base_config, "  approvals: C0APPROVALS", "  Release Train: C0TRAIN");
        CHECK(has(load_text(text), line_of(text, "Release"),
                  "channel name `Release Train` is not a valid name"));
    }
    SECTION("an enum typo") {
        auto text = replace(base_config, "rollout: image", "rollout: imag");
        CHECK(has(load_text(text), line_of(text, "imag"),
                  "must be jenkins or image, not `imag`. Did you mean `image`?"));
    }
    SECTION("production without deployers") {
        auto text = replace(base_config, "    policy:\n      deployers: [S0DEVS]\n", "");
        CHECK(has(load_text(text), line_of(text, "  prod:"),
                  "production environment `prod` has no `policy`"));
    }
    SECTION("placeholders in job parameters") {
        auto text =
            replace(base_config, "    rollout: image\n    image: registry.example.com/web\n",
                    "    rollout: image\n    image: registry.example.com/web\n"
                    "    rollback: jenkins\n    job: deploy/web\n    parameters:\n"
                    "      V: \"{versoin}\"\n      ID: {deploy_id}\n");
        text = replace(text, "slack:",
                       "jenkins:\n  ci: {url: https://ci.example.com, user: u, api_token: {env: "
                       "JENKINS_API_TOKEN}}\nslack:");
        auto r = load_text(text);
        INFO(all(r));
        CHECK(has(r, line_of(text, "{versoin}"),
                  "unknown placeholder `{versoin}`. Did you mean `version`?"));
        const auto* p =
            find(r, line_of(text, "ID: {deploy_id}"), "must be a single value, not a mapping");
        REQUIRE(p != nullptr);
        CHECK_THAT(p->hint, Catch::Contains("quote placeholders"));
    }
}

TEST_CASE("config: durations need a unit and a sane size", "[unit]") {
    auto with = [](const std::string& value) {
        return replace(base_config,
                       "    workloads:", "    rollout_timeout: " + value + "\n    workloads:");
    };
    SECTION("valid") {
        auto r = load_text(with("1h30m"));
        INFO(all(r));
        REQUIRE(r.ok());
        CHECK(r.config.services.at(0).rollout_timeout == std::chrono::minutes{90});
    }
    SECTION("no unit") {
        auto text = with("90");
        auto r = load_text(text);
        const auto* p = find(r, line_of(text, "rollout_timeout"), "is not a duration: `90`");
        REQUIRE(p != nullptr);
        CHECK_THAT(p->hint, Catch::Contains("e.g. `rollout_timeout: 10m`"));
    }
    SECTION("unknown unit") {
        auto text = with("10y");
        CHECK(has(load_text(text), line_of(text, "rollout_timeout"), "is not a duration: `10y`"));
    }
    SECTION("too long") {
        auto text = with("3d");
        CHECK(has(load_text(text), line_of(text, "rollout_timeout"), "more than the limit of 1d"));
    }
}

TEST_CASE("config: requestable roles that could escalate are refused unless allowed", "[unit]") {
    auto roles = [](const std::string& body) {
        return base_config +
               "access:\n  approvals_channel: approvals\n  admins: [S0SRE]\n  roles:\n" + body;
    };
    SECTION("narrow roles pass") {
        auto r =
            load_text(roles("    view:\n      role: view\n"
                            "    dev-edit:\n      role: edit\n      environments: [dev]\n"
                            "    logs:\n      role: logs\n      grants:\n"
                            "        - {verbs: [get, list], resources: [pods, pods/log]}\n"));
        INFO(all(r));
        CHECK(r.ok());
    }
    struct bad_case {
        std::string body;
        std::string why;
    };
    const std::vector<bad_case> cases{
        {"    root:\n      role: cluster-admin\n", "binds `cluster-admin`"},
        {"    editor:\n      role: edit\n", "binds `edit` in production (prod)"},
        {"    wide:\n      role: admin\n      environments: [dev]\n      scope: cluster\n",
         "binds `admin` cluster-wide"},
        {"    su:\n      role: su\n      grants:\n        - {verbs: [impersonate], resources: "
         "[users]}\n",
         "grants `impersonate`"},
        {"    tok:\n      role: tok\n      environments: [dev]\n      grants:\n"
         "        - {verbs: [create], resources: [serviceaccounts/token]}\n",
         "can create service-account tokens"},
        {"    peek:\n      role: peek\n      grants:\n        - {verbs: [get], resources: "
         "[secrets]}\n",
         "reads Secrets in production (prod)"},
        {"    star:\n      role: star\n      environments: [dev]\n      grants:\n"
         "        - {verbs: [\"*\"], resources: [pods]}\n",
         "grants every verb"},
    };
    for (const auto& c : cases) {
        SECTION(c.why) {
            auto text = roles(c.body);
            auto r = load_text(text);
            INFO(all(r));
            const auto* p = find(r, line_of(text, c.body.substr(4, c.body.find(':') - 4) + ":"),
                                 "could escalate privileges");
            REQUIRE(p != nullptr);
            CHECK_THAT(p->message, Catch::Contains(c.why));
            CHECK_THAT(p->hint, Catch::Contains("allow_escalation: true"));
            CHECK(r.problems.size() == 1);

            auto allowed = load_text(text + "      allow_escalation: true\n");
            INFO(all(allowed));
            CHECK(allowed.ok());
        }
    }
    SECTION("secrets outside production are fine") {
        auto r = load_text(
            roles("    peek:\n      role: peek\n      environments: [dev]\n      grants:\n"
                  "        - {verbs: [get], resources: [secrets]}\n"));
        INFO(all(r));
        CHECK(r.ok());
    }
}

TEST_CASE("config: freeze windows are checked and normalized", "[unit]") {
    auto with = [](const std::string& freezes) {
        return replace(base_config, "      deployers: [S0DEVS]\n",
                       "      deployers: [S0DEVS]\n      freezes:\n" + freezes);
    };
    SECTION("weekly with a day range") {
        auto r =
            load_text(with("        - {name: Weekdays late, days: [Mon-Wed, fri], start: \"9:05\", "
                           "end: \"06:00\", timezone: America/New_York}\n"));
        INFO(all(r));
        REQUIRE(r.ok());
        const auto& w = r.config.find_environment("prod")->policy.freezes.at(0);
        CHECK(w.days == std::vector<std::string>{"mon", "tue", "wed", "fri"});
        CHECK(w.start_time == "09:05");
        CHECK(w.end_time == "06:00");
        CHECK(w.timezone == "America/New_York");
    }
    SECTION("absolute with times") {
        auto r = load_text(
            with("        - {name: Launch, from: \"2026-03-01 18:00\", to: 2026-03-02T06:30}\n"));
        INFO(all(r));
        REQUIRE(r.ok());
        const auto& w = r.config.find_environment("prod")->policy.freezes.at(0);
        CHECK(w.from == "2026-03-01T18:00");
        CHECK(w.to == "2026-03-02T06:30");
        CHECK(w.timezone == "UTC");
    }
    SECTION("mistakes") {
        auto text = with(
            "        - {name: Backwards, from: 2026-03-02, to: 2026-03-01}\n"
            "        - {name: Mixed, from: 2026-03-02, days: [sat]}\n"
            "        - {name: Bad day, days: [funday], start: \"10:00\", end: \"11:00\"}\n"
            "        - {name: Bad zone, days: [sat], start: \"25:00\", end: \"11:00\", timezone: "
            "Mars/Olympus}\n"
            "        - {name: Bad date, from: 2026-02-30, to: 2026-03-01}\n");
        auto r = load_text(text);
        INFO(all(r));
        CHECK(has(r, line_of(text, "Backwards"), "ends before it starts"));
        CHECK(has(r, line_of(text, "Mixed"), "mixes a date range"));
        CHECK(has(r, line_of(text, "funday"), "`funday` is not a weekday"));
        CHECK(
            has(r, line_of(text, "Mars"),
                "`start` of freeze window `Bad zone` of environment `prod` is not a time of day"));
        CHECK(has(r, line_of(text, "Mars"), "not a known time zone: `Mars/Olympus`"));
        CHECK(has(r, line_of(text, "2026-02-30"), "is not a date: `2026-02-30`"));
        CHECK(r.problems.size() == 6);
    }
}

TEST_CASE("config: ${VAR} expansion", "[unit]") {
    fake_env env;
    env.vars["NS"] = "dev-1";
    env.vars["EMPTY"] = "";
    SECTION("value, default, and a literal ${") {
        auto text = replace(base_config, "    namespace: dev\n", "    namespace: ${NS}\n");
        text =
            replace(text, "  web:\n", "  web:\n    team: \"${TEAM:-core}-${EMPTY:-x} $${HOME}\"\n");
        auto r = load_text(text, env);
        INFO(all(r));
        REQUIRE(r.ok());
        CHECK(r.config.find_environment("dev")->namespace_name == "dev-1");
        CHECK(r.config.services.at(0).team == "core-x ${HOME}");
    }
    SECTION("unset and malformed") {
        auto text =
            replace(base_config, "  web:\n", "  web:\n    team: ${TEAM}\n    owners: ${9X}\n");
        auto r = load_text(text, env);
        CHECK(has(r, line_of(text, "${TEAM}"), "environment variable TEAM is not set"));
        CHECK(has(r, line_of(text, "${9X}"), "does not name an environment variable"));
    }
}

TEST_CASE("config: files named in the config are checked", "[unit]") {
    temp_dir dir;
    dir.write("kubeconfig", "apiVersion: v1\ncontexts:\n  - name: onprem-admin\n  - name: cloud\n");
    dir.write("not-a-ca.pem", "hello\n");
    auto text = replace(base_config, "  main:\n    in_cluster: true\n",
                        "  main:\n    kubeconfig: kubeconfig\n    context: onprem-admn\n"
                        "  second:\n    kubeconfig: kubeconfig\n");
    text = replace(text, "slack:\n", "slack:\n  ca_file: not-a-ca.pem\n");
    fake_env env;
    auto r = load_config_text(text, (dir.path / "tugboat.yaml").string(), env.lookup());
    INFO(all(r));
    CHECK(has(r, line_of(text, "onprem-admn"), "context `onprem-admn` is not in kubeconfig"));
    CHECK(find(r, line_of(text, "onprem-admn"), "Did you mean `onprem-admin`?") != nullptr);
    CHECK(has(r, line_of(text, "  second:") + 1,
              "has no current-context and no `context:` is given"));
    CHECK(has(r, line_of(text, "not-a-ca.pem"), "holds no PEM certificate"));
    CHECK(r.problems.size() == 3);
}

TEST_CASE("config: YAML syntax errors point at the line", "[unit]") {
    SECTION("tabs") {
        auto r = load_text("slack:\n\tmode: socket\n");
        REQUIRE(r.problems.size() == 1);
        CHECK_THAT(r.problems[0].message, Catch::StartsWith("YAML syntax error"));
        CHECK_THAT(r.problems[0].hint, Catch::Contains("spaces, not tabs"));
    }
    SECTION("an unquoted *") {
        auto text = replace(base_config, "deployers: [S0DEVS]", "deployers: [*]");
        auto r = load_text(text);
        REQUIRE(r.problems.size() == 1);
        CHECK(r.problems[0].line == line_of(text, "[*]"));
        CHECK_THAT(r.problems[0].hint, Catch::Contains(R"(["*"])"));
    }
    SECTION("an empty file") {
        auto r = load_text("# nothing yet\n");
        REQUIRE(r.problems.size() == 1);
        CHECK_THAT(r.problems[0].message, Catch::Contains("empty"));
    }
}

TEST_CASE("config: check-config prints every problem and sets the exit code", "[unit]") {
    fake_env env;
    std::ostringstream out;
    SECTION("good file") {
        std::vector<std::string> args{source_dir + "/examples/tugboat.yaml", "--offline"};
        CHECK(tugboat::bot::check_config_command(args, out, env.lookup()) == 0);
        CHECK_THAT(out.str(), Catch::StartsWith("OK: "));
        CHECK_THAT(out.str(),
                   Catch::Contains("3 services, 3 environments, 2 clusters, 1 Jenkins server"));
    }
    SECTION("broken file") {
        std::vector<std::string> args{source_dir + "/tests/bot/fixtures/broken.yaml"};
        CHECK(tugboat::bot::check_config_command(args, out, env.lookup()) == 1);
        CHECK_THAT(out.str(), Catch::Contains("broken.yaml:4:14: `bot_token`"));
        CHECK_THAT(out.str(), Catch::EndsWith("17 problems in " + args[0] + "\n"));
    }
    SECTION("missing file") {
        std::vector<std::string> args{source_dir + "/no/such/tugboat.yaml"};
        CHECK(tugboat::bot::check_config_command(args, out, env.lookup()) == 2);
        CHECK_THAT(out.str(), Catch::Contains("cannot read the config file"));
    }
    SECTION("usage errors") {
        std::vector<std::string> args{"x.yaml", "--ofline"};
        CHECK(tugboat::bot::check_config_command(args, out, env.lookup()) == 2);
        CHECK_THAT(out.str(),
                   Catch::Contains("unknown option `--ofline`. Did you mean `--offline`?"));
        CHECK(tugboat::bot::check_config_command({}, out, env.lookup()) == 2);
    }
}

TEST_CASE("config: read_config returns the problems as a config_error", "[unit]") {
    fake_env env;
    auto r =
        tugboat::bot::read_config(source_dir + "/tests/bot/fixtures/broken.yaml", env.lookup());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == tugboat::core::errc::config_error);
    CHECK_THAT(r.error().message, Catch::Contains(":61:5: access role `root`"));
}

TEST_CASE("config: logs.redact_patterns must compile", "[unit]") {
    SECTION("valid") {
        auto r = load_text(base_config + "logs:\n  redact_patterns: ['card=[0-9]{12,19}']\n");
        INFO(all(r));
        REQUIRE(r.ok());
        CHECK(r.config.logs.redact_patterns == std::vector<std::string>{"card=[0-9]{12,19}"});
    }
    SECTION("a pattern that does not compile names itself") {
        auto text = base_config + "logs:\n  redact_patterns: ['ok', '(broken']\n";
        CHECK(has(load_text(text), line_of(text, "(broken"), "`(broken` is not a valid regular"));
    }
}

TEST_CASE("access-rbac: the bot may bind exactly the catalog's roles", "[unit]") {
    auto path = std::filesystem::path(TUGBOAT_SOURCE_DIR) / "examples" / "tugboat.yaml";
    std::vector<std::string> args{path.string(), "--service-account", "platform/bot"};
    std::ostringstream out;
    int rc = tugboat::bot::access_rbac_command(
        args, out, [](std::string_view) { return std::optional<std::string>{}; });
    INFO(out.str());
    REQUIRE(rc == 0);
    const std::string text = out.str();
    CHECK(text.find("resourceNames: [\"admin\", \"tugboat-debug\", \"view\"]") !=
          std::string::npos);
    CHECK(text.find("verbs: [\"bind\"]") != std::string::npos);
    CHECK(text.find("name: bot\n    namespace: platform") != std::string::npos);
    CHECK(text.find("cluster-admin") == std::string::npos);
    std::vector<std::string> bad{path.string(), "--service-account", "nobody"};
    std::ostringstream err;
    CHECK(tugboat::bot::access_rbac_command(
              bad, err, [](std::string_view) { return std::optional<std::string>{}; }) == 2);
    CHECK(err.str().find("NAMESPACE/NAME") != std::string::npos);
}

TEST_CASE("config: faq.words names a word list, or \"\" for none", "[unit]") {
    SECTION("a missing file is a problem with what to install") {
        const std::string text = base_config + "faq:\n  words: /nonexistent/words\n";
        auto r = load_text(text);
        const auto* p =
            find(r, line_of(text, "words:"), "`words` in `faq`: file `/nonexistent/words`");
        REQUIRE(p != nullptr);
        CHECK_THAT(p->hint, Catch::Contains("wamerican"));
    }
    SECTION("empty turns it off") {
        auto r = load_text(base_config + "faq:\n  words: \"\"\n");
        INFO(all(r));
        CHECK(r.ok());
        CHECK(r.config.faq.words.empty());
    }
    SECTION("by default Debian's list") {
        auto r = load_text(base_config);
        CHECK(r.config.faq.words == "/usr/share/dict/words");
    }
}
