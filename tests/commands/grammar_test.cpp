#include "commands/grammar.hpp"
#include "commands/command.hpp"

#include <catch2/catch.hpp>

using namespace tugboat;
using namespace tugboat::commands;

namespace {

core::config test_config() {
    core::config cfg;
    for (const char* name : {"payments-api", "orders-api", "search"}) {
        cfg.services.push_back(core::service_config{.name = name});
    }
    for (const char* name : {"dev", "staging", "prod"}) {
        cfg.environments.push_back(core::environment_config{.name = name});
    }
    cfg.access.roles.push_back(core::access_role_config{.name = "read-logs"});
    cfg.access.roles.push_back(core::access_role_config{.name = "exec-pod"});
    return cfg;
}

std::vector<std::string> texts(const std::vector<token>& tokens) {
    std::vector<std::string> out;
    for (const auto& t : tokens) {
        out.push_back(t.text);
    }
    return out;
}

using strings = std::vector<std::string>;

// Parses with the real registration list.
parse_result parse_line(std::string_view line) {
    static const command_registry registry = make_registry();
    static const core::config cfg = test_config();
    return parse(registry.specs(), line, cfg);
}

std::string problem_of(std::string_view line) {
    auto r = parse_line(line);
    REQUIRE_FALSE(r);
    return r.error().problem;
}

}  // namespace

TEST_CASE("tokenize: words, quotes and escapes", "[unit]") {
    SECTION("plain words with any whitespace") {
        auto t = tokenize("  deploy\tpayments-api \n prod\u00a0v1.2  ");
        REQUIRE(t);
        CHECK(texts(*t) == strings{"deploy", "payments-api", "prod", "v1.2"});
    }
    SECTION("double and single quotes group words and mark the token quoted") {
        auto t = tokenize(R"(lock api prod --reason "db migration" 'two words')");
        REQUIRE(t);
        CHECK(texts(*t) == strings{"lock", "api", "prod", "--reason", "db migration", "two words"});
        CHECK((*t)[4].quoted);
        CHECK_FALSE((*t)[3].quoted);
    }
    SECTION("typographic quotes from Slack and macOS") {
        auto t = tokenize("--reason \u201cfix checkout\u201d \u2018it\u2019s fine\u2019");
        REQUIRE(t);
        CHECK(texts(*t) == strings{"--reason", "fix checkout", "it\u2019s fine"});
    }
    SECTION("apostrophes inside words are literal") {
        auto t = tokenize("faq why doesn't it\u2019s pod start");
        REQUIRE(t);
        CHECK(texts(*t) == strings{"faq", "why", "doesn't", "it\u2019s", "pod", "start"});
    }
    SECTION("a quote right after = opens a value") {
        auto t = tokenize(R"(--reason="hot fix" --grep='a b')");
        REQUIRE(t);
        CHECK(texts(*t) == strings{"--reason=hot fix", "--grep=a b"});
        CHECK_FALSE((*t)[0].quoted);
    }
    SECTION("backslash escapes quotes, spaces and itself, and stays before anything else") {
        auto t = tokenize(R"(say \"hi\" a\ b "x \" y" c:\\d --grep err\d+)");
        REQUIRE(t);
        CHECK(texts(*t) == strings{"say", "\"hi\"", "a b", "x \" y", "c:\\d", "--grep", "err\\d+"});
    }
    SECTION("an empty quoted argument is kept") {
        auto t = tokenize(R"(a "" b)");
        REQUIRE(t);
        CHECK(texts(*t) == strings{"a", "", "b"});
    }
    SECTION("em and en dashes at the start of a word become --") {
        auto t = tokenize("logs api prod \u2014since 5m \u2013tail 10 \"\u2014kept\"");
        REQUIRE(t);
        CHECK(texts(*t) ==
              strings{"logs", "api", "prod", "--since", "5m", "--tail", "10", "\u2014kept"});
    }
}

TEST_CASE("tokenize: an unclosed quote is an error that says how to fix it", "[unit]") {
    for (const char* line :
         {R"(lock api prod --reason "db migration)", "x \u201cnever closed", "x 'open"}) {
        auto t = tokenize(line);
        REQUIRE_FALSE(t);
        CHECK(t.error().code == core::errc::invalid_argument);
        CHECK_THAT(t.error().message, Catch::Contains("never closed"));
        CHECK_THAT(t.error().message, Catch::Contains("closing quote"));
    }
}

TEST_CASE("parse: deploy with positionals, version and flags", "[unit]") {
    auto r = parse_line(
        R"(/deploy payments-api prod v1.4.2 --reason "fix checkout" --override-freeze hotfix)");
    REQUIRE(r);
    CHECK(r->command->name == "deploy");
    REQUIRE(r->subcommand != nullptr);
    CHECK(r->subcommand->name == "start");
    CHECK(r->path() == "deploy start");
    CHECK(r->arg("service") == "payments-api");
    CHECK(r->arg("env") == "prod");
    CHECK(r->arg("version") == "v1.4.2");
    CHECK(r->flag("reason") == "fix checkout");
    CHECK(r->flag("override-freeze") == "hotfix");
    CHECK_FALSE(r->has_flag("nope"));
}

TEST_CASE("parse: flags in any position, --flag=value, and names fixed to config case", "[unit]") {
    auto r = parse_line(
        "logs --since=30m Payments-API --tail 50 PROD --previous --grep \"read timeout\"");
    REQUIRE(r);
    CHECK(r->command->name == "logs");
    CHECK(r->arg("service") == "payments-api");
    CHECK(r->arg("env") == "prod");
    CHECK(r->duration("since") == std::chrono::minutes{30});
    CHECK(r->number("tail") == 50);
    CHECK(r->flag("previous") == "true");
    CHECK(r->flag("grep") == "read timeout");
}

TEST_CASE("parse: subcommands, optional args and value kinds", "[unit]") {
    SECTION("named subcommand") {
        auto r = parse_line("deploy rollback payments-api prod 7");
        REQUIRE(r);
        CHECK(r->path() == "deploy rollback");
        CHECK(r->number("revision") == 7);
    }
    SECTION("optional positionals may be left out") {
        auto r = parse_line("deploy status");
        REQUIRE(r);
        CHECK(r->path() == "deploy status");
        CHECK(r->arg("service").empty());
    }
    SECTION("an optional first argument is skipped when the word fits the second") {
        auto r = parse_line("status prod");
        REQUIRE(r);
        CHECK(r->arg("service").empty());
        CHECK(r->arg("env") == "prod");
        auto both = parse_line("status payments-api prod");
        REQUIRE(both);
        CHECK(both->arg("service") == "payments-api");
        // A word that fits neither is still a service typo.
        CHECK_THAT(problem_of("status paymnts-api"), Catch::Contains("payments-api"));
    }
    SECTION("ids drop a leading #") {
        auto r = parse_line("deploy cancel #42");
        REQUIRE(r);
        CHECK(r->arg("id") == "42");
    }
    SECTION("users come as mentions and are stored as IDs") {
        auto r = parse_line("access audit --user <@U12AB|ann> --since 7d");
        REQUIRE(r);
        CHECK(r->flag("user") == "U12AB");
        CHECK(r->duration("since") == std::chrono::hours{24 * 7});
    }
    SECTION("roles validate against the config") {
        auto r = parse_line("access request read-logs prod --for 2h --reason \"INC-1\"");
        REQUIRE(r);
        CHECK(r->arg("role") == "read-logs");
    }
    SECTION("the rest argument takes every remaining word, flags included") {
        auto r = parse_line("faq what does --force do");
        REQUIRE(r);
        CHECK(r->path() == "faq ask");
        CHECK(r->arg("question") == "what does --force do");
        auto explicit_ask = parse_line("faq ask how do I restart a pod");
        REQUIRE(explicit_ask);
        CHECK(explicit_ask->arg("question") == "how do I restart a pod");
    }
    SECTION("-- ends flags") {
        CHECK_THAT(problem_of("logs search dev -- --weird"),
                   Catch::StartsWith("Too many arguments: I didn't expect `--weird`."));
        REQUIRE(parse_line("logs search dev -- "));
    }
    SECTION("a quoted word that looks like a flag is a value") {
        auto r = parse_line("logs search dev --grep \"--verbose\"");
        REQUIRE(r);
        CHECK(r->flag("grep") == "--verbose");
    }
}

TEST_CASE("parse: unknown command suggests the closest and points at help", "[unit]") {
    auto r = parse_line("/deplyo payments-api prod");
    REQUIRE_FALSE(r);
    CHECK(r.error().problem == "Unknown command `/deplyo`. Did you mean `/deploy`?");
    CHECK(r.error().hint == "Type `help` to see all commands.");
    CHECK(r.error().usage.empty());
    CHECK(problem_of("hlep") == "Unknown command `hlep`. Did you mean `help`?");
    CHECK(problem_of("xyzzy") == "Unknown command `xyzzy`.");
}

TEST_CASE("parse: typo'd service, environment and role get suggestions and usage", "[unit]") {
    auto r = parse_line("deploy paymnets-api prod");
    REQUIRE_FALSE(r);
    CHECK(r.error().problem == "Unknown service `paymnets-api`. Did you mean `payments-api`?");
    REQUIRE(r.error().usage.size() == 1);
    CHECK(r.error().usage.front() ==
          "/deploy <service> <env> [version] [--reason <text>] [--override-freeze <reason>]");
    CHECK(r.error().hint == "Type `help deploy` for details.");

    CHECK(problem_of("deploy payments-api prdo") ==
          "Unknown environment `prdo`. Did you mean `prod`?");
    CHECK(problem_of("status search qa") ==
          "Unknown environment `qa`. Known environments: `dev`, `staging` and `prod`.");
    CHECK(problem_of("access request read-log prod") ==
          "Unknown access role `read-log`. Did you mean `read-logs`?");

    CHECK_THAT(problem_of("deploy <b>x</b> prod"),
               Catch::StartsWith("Unknown service `&lt;b&gt;x&lt;/b&gt;`."));

    auto sub = parse_line("deploy rollback payments-api stging");
    REQUIRE_FALSE(sub);
    CHECK(sub.error().hint == "Type `help deploy rollback` for details.");
    CHECK(sub.error().usage.front() ==
          "/deploy rollback <service> <env> [revision] [--reason <text>]");
}

TEST_CASE("parse: flag mistakes are explained", "[unit]") {
    CHECK(problem_of("logs search prod --sinc 5m") ==
          "Unknown flag `--sinc`. Did you mean `--since`?");
    CHECK_THAT(problem_of("logs search prod --colour"),
               Catch::StartsWith("Unknown flag `--colour`. Flags here: `--since`, `--tail`"));
    CHECK(problem_of("deploy unlock search prod --force") ==
          "Unknown flag `--force`: `/deploy unlock` takes no flags.");
    CHECK(problem_of("logs search prod --since") ==
          "`--since` needs a value: `--since &lt;duration&gt;`.");
    CHECK(problem_of("logs search prod --since --previous") ==
          "`--since` needs a value: `--since &lt;duration&gt;`.");
    CHECK(problem_of("logs search prod --previous=yes") ==
          "`--previous` is a switch and takes no value; write just `--previous`.");
    CHECK(problem_of("logs search prod --tail 5 --tail 6") == "`--tail` is given twice; keep one.");
    CHECK_THAT(problem_of("logs search prod --since 5x"),
               Catch::StartsWith("`--since 5x` isn't a duration."));
    CHECK(problem_of("logs search prod --tail lots") ==
          "`--tail lots` isn't a whole number from 1 to 1000000.");
    CHECK_THAT(problem_of("deploy search prod v1..2\u00e9"),
               Catch::Contains("doesn't look like a version"));
    CHECK_THAT(problem_of("access audit --user bob"),
               Catch::StartsWith("`--user bob` isn't someone"));
}

TEST_CASE("parse: missing and extra arguments", "[unit]") {
    auto r = parse_line("deploy payments-api");
    REQUIRE_FALSE(r);
    CHECK(r.error().problem ==
          "Missing `&lt;env&gt;`: an environment, e.g. `dev` or `prod`. Environments: `dev`, "
          "`staging` and `prod`.");
    CHECK(problem_of("deploy unlock search prod x") == "Too many arguments: I didn't expect `x`.");
    CHECK(problem_of("deploy cancel 12 db migration") ==
          "Too many arguments: I didn't expect `db migration`. Put quotes around a value with "
          "spaces, like `\"two words\"`.");
}

TEST_CASE("parse: subcommand typos and bare commands", "[unit]") {
    SECTION("typo of a subcommand where a service was expected") {
        auto r = parse_line("deploy stauts");
        REQUIRE_FALSE(r);
        CHECK(r.error().problem == "Unknown subcommand `stauts`. Did you mean `/deploy status`?");
        CHECK(r.error().usage.size() == 8);
    }
    SECTION("a command that needs a subcommand") {
        auto r = parse_line("access revok 12");
        REQUIRE_FALSE(r);
        CHECK(r.error().problem == "Unknown subcommand `revok`. Did you mean `/access revoke`?");
        CHECK(problem_of("access frobnicate") ==
              "Unknown subcommand `frobnicate`. `/access` can do: `request`, `list`, `approve`, "
              "`deny`, `extend`, `revoke` and `audit`.");
    }
    SECTION("a bare command lists its forms") {
        auto r = parse_line("/deploy");
        REQUIRE_FALSE(r);
        CHECK(r.error().problem == "`/deploy` needs a bit more. Pick one of these:");
        CHECK(r.error().usage.front() ==
              "/deploy <service> <env> [version] [--reason <text>] [--override-freeze <reason>]");
        CHECK(r.error().usage.at(1) == "/deploy status [id]");
    }
}

TEST_CASE("parse: help in any of the usual forms becomes the help command", "[unit]") {
    for (const char* line : {"help deploy rollback", "deploy rollback --help", "deploy rollback -h",
                             "/deploy help rollback"}) {
        auto r = parse_line(line);
        REQUIRE(r);
        CHECK(r->command->name == "help");
        CHECK(r->arg("command") == "deploy");
    }
    auto bare = parse_line("deploy --help");
    REQUIRE(bare);
    CHECK(bare->arg("command") == "deploy");
    CHECK(bare->arg("subcommand").empty());
    auto rollback = parse_line("deploy rollback --help");
    REQUIRE(rollback);
    CHECK(rollback->arg("subcommand") == "rollback");
    auto empty = parse_line("   ");
    REQUIRE(empty);
    CHECK(empty->command->name == "help");
}

TEST_CASE("parse: an unclosed quote shows the command's usage", "[unit]") {
    auto r = parse_line(R"(deploy search prod --reason "oops)");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().problem, Catch::Contains("never closed"));
    CHECK(r.error().hint == "Type `help deploy` for details.");
    CHECK_FALSE(r.error().usage.empty());
}

TEST_CASE("usage_error::text lays out problem, usage and hint", "[unit]") {
    usage_error one{
        "Missing `&lt;env&gt;`.", {"/logs <service> <env>"}, "Type `help logs` for details."};
    CHECK(one.text() ==
          "Missing `&lt;env&gt;`.\nUsage: `/logs &lt;service&gt; &lt;env&gt;`\nType `help logs` "
          "for details.");
    usage_error many{"Pick one:", {"/a x", "/a y"}, ""};
    CHECK(many.text() == "Pick one:\nUsage:\n`/a x`\n`/a y`");
}

TEST_CASE("registry: one list, attach by name, actions by prefix", "[unit]") {
    command_registry registry = make_registry();
    std::vector<std::string> names;
    for (const auto* s : registry.specs()) {
        names.push_back(s->name);
    }
    CHECK(names == strings{"deploy", "status", "logs", "access", "faq", "help"});
    CHECK(registry.enabled("help"));
    CHECK_FALSE(registry.enabled("deploy"));
    CHECK(registry.find("/Deploy") == registry.specs().front());
    CHECK(registry.find("nope") == nullptr);

    command_spec dup{.name = "deploy"};
    CHECK(registry.declare(dup).error().code == core::errc::already_exists);
    command_spec bad{.name = "Bad Name"};
    CHECK(registry.declare(bad).error().code == core::errc::invalid_argument);

    struct stray_command final : command {
        command_spec s{.name = "stray"};
        const command_spec& spec() const override { return s; }
        boost::asio::awaitable<core::result<void>> handle(request) override {
            co_return core::ok();
        }
    } stray;
    auto attached = registry.attach(stray);
    REQUIRE_FALSE(attached);
    CHECK(attached.error().code == core::errc::not_found);
    CHECK_THAT(attached.error().message, Catch::Contains("registration list"));

    struct deploy_actions final : action_handler {
        boost::asio::awaitable<core::result<void>> handle_action(request) override {
            co_return core::ok();
        }
    } actions;
    REQUIRE(registry.attach_actions("deploy", actions));
    CHECK(registry.attach_actions("deploy", actions).error().code == core::errc::already_exists);
    CHECK(registry.attach_actions("a.b", actions).error().code == core::errc::invalid_argument);
    CHECK(registry.action_handler_for("deploy.approve") == &actions);
    CHECK(registry.action_handler_for("deploy") == &actions);
    CHECK(registry.action_handler_for("deployx.approve") == nullptr);
    CHECK(registry.action_handler_for("access.deny") == nullptr);
}

TEST_CASE("parse: access request in its typed forms", "[unit]") {
    SECTION("positional, as the user guide shows it") {
        auto r = parse_line(R"(/access request read-logs prod/payments 2h "investigate INC-1")");
        REQUIRE(r);
        CHECK(r->arg("role") == "read-logs");
        CHECK(r->arg("env") == "prod/payments");
        CHECK(r->arg("duration") == "2h");
        CHECK(r->arg("reason") == "investigate INC-1");
    }
    SECTION("flags instead, and break-glass after the reason") {
        auto r =
            parse_line(R"(access request exec-pod dev --reason "fix it" --for 30m --break-glass)");
        REQUIRE(r);
        CHECK(r->flag("reason") == "fix it");
        CHECK(r->flag("for") == "30m");
        CHECK(r->has_flag("break-glass"));
    }
    SECTION("typed alone it runs request with nothing filled in (the form)") {
        auto r = parse_line("/access");
        REQUIRE(r);
        REQUIRE(r->subcommand != nullptr);
        CHECK(r->subcommand->name == "request");
        CHECK(r->args.empty());
    }
    SECTION("an unknown role names the known ones") {
        CHECK(problem_of("access request raed-logs prod 1h") ==
              "Unknown access role `raed-logs`. Did you mean `read-logs`?");
    }
}
