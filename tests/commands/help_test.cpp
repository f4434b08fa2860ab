#include "commands/help.hpp"
#include "commands/access.hpp"
#include "commands/command.hpp"
#include "commands/deploy.hpp"
#include "commands/logs.hpp"

#include <catch2/catch.hpp>

using namespace tugboat;
using namespace tugboat::commands;

namespace {

std::string text_of(const message& m) {
    return to_terminal_text(m, {.width = 200});
}

struct fake_deploy final : command {
    const command_spec& spec() const override { return deploy_spec(); }
    boost::asio::awaitable<core::result<void>> handle(request) override { co_return core::ok(); }
};

}  // namespace

TEST_CASE("help: every declaration has a summary, examples, and examples that parse", "[unit]") {
    command_registry registry = make_registry();
    core::config cfg;
    cfg.services.push_back({.name = "payments-api"});
    cfg.services.push_back({.name = "search"});
    for (const char* env : {"dev", "staging", "prod"}) {
        cfg.environments.push_back({.name = env});
    }
    cfg.access.roles.push_back({.name = "read-logs"});
    for (const auto* top : registry.specs()) {
        CHECK_FALSE(top->summary.empty());
        std::vector<const command_spec*> leaves;
        if (top->subcommands.empty()) {
            leaves.push_back(top);
        }
        for (const auto& s : top->subcommands) {
            leaves.push_back(&s);
        }
        for (const auto* leaf : leaves) {
            INFO(top->name << " " << leaf->name);
            CHECK_FALSE(leaf->summary.empty());
            CHECK_FALSE(leaf->examples.empty());
            for (const auto& example : leaf->examples) {
                INFO(example);
                auto parsed = parse(registry.specs(), example, cfg);
                CHECK(parsed);
            }
        }
        if (!top->default_subcommand.empty()) {
            CHECK(top->find_subcommand(top->default_subcommand) != nullptr);
        }
    }
}

TEST_CASE("help: a command's help shows usage, subcommands and examples", "[unit]") {
    std::string text = text_of(help_for(deploy_spec(), nullptr));
    CHECK(text.starts_with("/deploy\n=======\n"));
    CHECK_THAT(text, Catch::Contains("    /deploy <service> <env> [version] [--reason <text>] "
                                     "[--override-freeze <reason>]\n    /deploy status [id]\n"));
    CHECK_THAT(text, Catch::Contains("`start` (or no subcommand) Deploy a version"));
    CHECK_THAT(text, Catch::Contains("`rollback` Roll a service back"));
    CHECK_THAT(text, Catch::Contains("Examples\n\n    /deploy payments-api dev v1.4.2\n"));
    CHECK_THAT(text,
               Catch::Contains("Type `help deploy <subcommand>` for its arguments and flags"));
}

TEST_CASE("help: a subcommand's help lists arguments and flags with their help", "[unit]") {
    const command_spec* rollback = deploy_spec().find_subcommand("rollback");
    REQUIRE(rollback != nullptr);
    message m = help_for(deploy_spec(), rollback);
    std::string text = text_of(m);
    CHECK(text.starts_with("/deploy rollback\n"));
    CHECK_THAT(
        text, Catch::Contains("    /deploy rollback <service> <env> [revision] [--reason <text>]"));
    CHECK_THAT(text, Catch::Contains("Arguments\n<service>: a service from the bot's config"));
    CHECK_THAT(text, Catch::Contains("[revision]: a Deployment revision to go back to"));
    CHECK_THAT(text, Catch::Contains("    /deploy rollback payments-api prod 7 --reason"));
    CHECK_THAT(text, Catch::Contains("Type `help deploy` for the other /deploy commands."));

    std::string logs = text_of(help_for(logs_spec(), nullptr));
    CHECK_THAT(logs, Catch::Contains("--previous: logs of the previous, crashed container"));
    CHECK_THAT(logs, Catch::Contains("Type `help` to see all commands."));
    std::string optional =
        text_of(help_for(deploy_spec(), deploy_spec().find_subcommand("status")));
    CHECK_THAT(optional,
               Catch::Contains("[id]: a deploy's id, shown in its messages; leave it out for all "
                               "(optional)"));
}

TEST_CASE("help: the overview lists enabled commands and names the others", "[unit]") {
    command_registry registry = make_registry();
    fake_deploy deploy;
    REQUIRE(registry.attach(deploy));
    std::string text = text_of(help_overview(registry));
    CHECK(text.starts_with("Tugboat commands\n"));
    CHECK_THAT(text, Catch::Contains("`/deploy` Deploy, roll back and lock services. Also: "
                                     "`status`, `logs`, `rollback`, `cancel`, `lock`, `unlock` "
                                     "and `history`."));
    CHECK_THAT(text, Catch::Contains("`help` Show what I can do"));
    CHECK_THAT(text, Catch::Contains("Type `help <command>` for details and examples"));
    CHECK_THAT(text, Catch::Contains(
                         "Not enabled on this bot: `/status`, `/logs`, `/access` and `/faq`."));
    CHECK_THAT(text, !Catch::Contains("`/status` Show"));
}

TEST_CASE("help: the Slack form of help is valid Block Kit", "[unit]") {
    const command_spec* request = access_spec().find_subcommand("request");
    REQUIRE(request != nullptr);
    std::string json = to_slack_blocks_json(help_for(access_spec(), request));
    CHECK_THAT(json, Catch::Contains("\"type\":\"header\""));
    CHECK_THAT(json, Catch::Contains("*&lt;role&gt;*"));                // field names are escaped
    CHECK_THAT(json, Catch::Contains("/access request <role> <env>"));  // code is raw
}
