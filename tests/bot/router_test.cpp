#include "bot/router.hpp"
#include "commands/command.hpp"
#include "commands/deploy.hpp"
#include "tests/support/run_test.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <stdexcept>

using namespace tugboat;
using commands::event_kind;
using commands::inbound_event;
using commands::message;
using commands::message_ref;

namespace {

// A chat that records what would have been said. The real implementations are Slack's and the
// console's; this one only lets the tests see where each answer went.
class recording_chat final : public commands::chat {
public:
    struct call {
        std::string method;  // post, update, reply, ephemeral, dm, upload
        std::string channel;
        std::string user;
        std::string thread_ts;
        message msg;
    };
    std::vector<call> calls;

    std::string text(std::size_t i = 0) const {
        REQUIRE(i < calls.size());
        return commands::to_terminal_text(calls[i].msg, {.width = 400});
    }

    boost::asio::awaitable<core::result<message_ref>> post(std::string channel,
                                                           message msg) override {
        calls.push_back({"post", channel, {}, {}, std::move(msg)});
        co_return message_ref{channel, next_ts()};
    }
    boost::asio::awaitable<core::result<void>> update(message_ref ref, message msg, bool) override {
        calls.push_back({"update", ref.channel, {}, ref.ts, std::move(msg)});
        co_return core::ok();
    }
    boost::asio::awaitable<core::result<message_ref>> reply(message_ref root, message msg,
                                                            bool) override {
        calls.push_back({"reply", root.channel, {}, root.ts, std::move(msg)});
        co_return message_ref{root.channel, next_ts()};
    }
    boost::asio::awaitable<core::result<void>> ephemeral(std::string channel, std::string user,
                                                         std::string thread_ts,
                                                         message msg) override {
        calls.push_back({"ephemeral", channel, user, thread_ts, std::move(msg)});
        co_return core::ok();
    }
    boost::asio::awaitable<core::result<void>> respond(std::string url, message msg) override {
        calls.push_back({"respond", url, {}, {}, std::move(msg)});
        co_return core::ok();
    }
    boost::asio::awaitable<core::result<message_ref>> dm(std::string user, message msg) override {
        calls.push_back({"dm", {}, user, {}, std::move(msg)});
        co_return message_ref{"D" + user, next_ts()};
    }
    boost::asio::awaitable<core::result<void>> react(message_ref ref, std::string name) override {
        calls.push_back({"react:" + name, ref.channel, {}, ref.ts, {}});
        co_return core::ok();
    }
    boost::asio::awaitable<core::result<void>> remove(message_ref ref) override {
        calls.push_back({"remove", ref.channel, {}, ref.ts, {}});
        co_return core::ok();
    }
    boost::asio::awaitable<core::result<void>> upload(std::string channel, std::string thread_ts,
                                                      std::string, std::string,
                                                      std::string) override {
        calls.push_back({"upload", channel, {}, thread_ts, {}});
        co_return core::ok();
    }

private:
    std::string next_ts() { return "1700000000." + std::to_string(++ts_); }
    int ts_ = 0;
};

// What the test deploy handler saw, and what it should do next.
struct deploy_probe {
    int calls = 0;
    commands::invocation input;
    inbound_event event;
    std::optional<core::error> fail_with;
    bool throw_instead = false;
};

class test_deploy final : public commands::command {
public:
    explicit test_deploy(deploy_probe& probe) : probe_(probe) {}
    const commands::command_spec& spec() const override { return commands::deploy_spec(); }
    boost::asio::awaitable<core::result<void>> handle(commands::request req) override {
        ++probe_.calls;
        probe_.input = req.input;
        probe_.event = req.event;
        if (probe_.throw_instead) {
            throw std::runtime_error("jenkins client exploded");
        }
        if (probe_.fail_with) {
            co_return *probe_.fail_with;
        }
        message reply = commands::plain_message("Deploying `" + req.input.arg("service") +
                                                "` to *" + req.input.arg("env") + "*");
        co_return co_await req.answer(std::move(reply));
    }

private:
    deploy_probe& probe_;
};

class test_actions final : public commands::action_handler {
public:
    std::vector<inbound_event> seen;
    boost::asio::awaitable<core::result<void>> handle_action(commands::request req) override {
        seen.push_back(req.event);
        message reply = commands::plain_message("Approved #" + req.event.action_value);
        co_return co_await req.answer(std::move(reply));
    }
};

// Only the listed people may run deployer-level commands.
class deployers_only final : public bot::policy {
public:
    std::vector<bot::authorization_request> asked;
    boost::asio::awaitable<core::result<void>> authorize(bot::authorization_request req) override {
        asked.push_back(req);
        if (req.level == commands::access_level::deployer && req.actor != "UDEPLOYER") {
            co_return core::make_error(core::errc::permission_denied,
                                       "Only deployers can deploy to " + req.args["env"] +
                                           ". Ask in #platform to be added.");
        }
        co_return core::ok();
    }
};

core::config test_config() {
    core::config cfg;
    cfg.services.push_back({.name = "payments-api"});
    cfg.services.push_back({.name = "search"});
    for (const char* env : {"dev", "staging", "prod"}) {
        cfg.environments.push_back({.name = env});
    }
    return cfg;
}

inbound_event text_event(event_kind kind, std::string text) {
    inbound_event ev;
    ev.kind = kind;
    ev.actor = "UDEPLOYER";
    ev.channel = kind == event_kind::direct_message ? "D42" : "C1";
    ev.message_ts = kind == event_kind::slash_command ? "" : "1699999999.000100";
    ev.text = std::move(text);
    return ev;
}

// Everything a router needs, wired like main.cpp does.
struct router_fixture {
    boost::asio::io_context ioc;
    core::config cfg = test_config();
    core::string_sink sink;
    core::logger log{sink, core::log_level::info};
    core::manual_clock clock;
    recording_chat chat;
    deploy_probe probe;
    test_deploy deploy{probe};
    test_actions actions;
    deployers_only policy;
    commands::command_registry registry = commands::make_registry();
    bot::router router{registry, cfg, chat, log, clock, policy};

    router_fixture() {
        REQUIRE(registry.attach(deploy));
        REQUIRE(registry.attach_actions("deploy", actions));
    }

    bot::route_outcome route(inbound_event ev) {
        return test::run_test(ioc, router.route(std::move(ev)));
    }
};

}  // namespace

TEST_CASE("router: a slash command reaches its handler with parsed arguments", "[unit]") {
    router_fixture f;
    auto outcome = f.route(text_event(
        event_kind::slash_command, "deploy Payments-API prod v1.4.2 --reason \u201chot fix\u201d"));
    CHECK(outcome == bot::route_outcome::handled);
    REQUIRE(f.probe.calls == 1);
    CHECK(f.probe.input.path() == "deploy start");
    CHECK(f.probe.input.arg("service") == "payments-api");
    CHECK(f.probe.input.arg("version") == "v1.4.2");
    CHECK(f.probe.input.flag("reason") == "hot fix");
    CHECK(f.probe.event.actor == "UDEPLOYER");
    REQUIRE(f.chat.calls.size() == 1);
    CHECK(f.chat.calls[0].method == "ephemeral");
    CHECK(f.chat.calls[0].user == "UDEPLOYER");
    CHECK(f.chat.text() == "Deploying `payments-api` to prod\n");
    REQUIRE(f.policy.asked.size() == 1);
    CHECK(f.policy.asked[0].command == "deploy");
    CHECK(f.policy.asked[0].subcommand == "start");
    CHECK(f.policy.asked[0].level == commands::access_level::deployer);
    CHECK(f.policy.asked[0].args.at("env") == "prod");
}

TEST_CASE("router: unknown commands get a suggestion and a pointer to help", "[unit]") {
    router_fixture f;
    CHECK(f.route(text_event(event_kind::direct_message, "/deplyo payments-api prod")) ==
          bot::route_outcome::invalid_input);
    CHECK(f.probe.calls == 0);
    REQUIRE(f.chat.calls.size() == 1);
    CHECK(f.chat.calls[0].method == "post");  // a DM answers in the DM
    CHECK(f.chat.calls[0].channel == "D42");
    CHECK(f.chat.text() ==
          "Unknown command `/deplyo`. Did you mean `/deploy`?\n\nType `help` to see all "
          "commands.\n");
}

TEST_CASE("router: argument errors show the usage line and where to read more", "[unit]") {
    router_fixture f;
    CHECK(f.route(text_event(event_kind::slash_command, "deploy payments-api prdo")) ==
          bot::route_outcome::invalid_input);
    CHECK(f.probe.calls == 0);
    REQUIRE(f.chat.calls.size() == 1);
    CHECK(f.chat.calls[0].method == "ephemeral");
    CHECK(f.chat.text() ==
          "Unknown environment `prdo`. Did you mean `prod`?\n"
          "Usage: `/deploy <service> <env> [version] [--reason <text>] [--override-freeze "
          "<reason>]`\n\n"
          "Type `help deploy` for details.\n");
    // The Slack form escapes the angle brackets so they are not read as links.
    CHECK_THAT(commands::to_slack_blocks_json(f.chat.calls[0].msg),
               Catch::Contains("`/deploy &lt;service&gt; &lt;env&gt; [version]"));
}

TEST_CASE("router: mentions are answered in their thread", "[unit]") {
    router_fixture f;
    SECTION("a new thread under the mention") {
        CHECK(f.route(text_event(event_kind::mention, "help deploy")) ==
              bot::route_outcome::handled);
        REQUIRE(f.chat.calls.size() == 1);
        CHECK(f.chat.calls[0].method == "reply");
        CHECK(f.chat.calls[0].thread_ts == "1699999999.000100");
        CHECK_THAT(f.chat.text(), Catch::StartsWith("/deploy\n"));
    }
    SECTION("the thread the mention was in") {
        inbound_event ev = text_event(event_kind::mention, "");
        ev.thread_ts = "1699999000.000001";
        CHECK(f.route(ev) == bot::route_outcome::handled);
        REQUIRE(f.chat.calls.size() == 1);
        CHECK(f.chat.calls[0].thread_ts == "1699999000.000001");
        CHECK_THAT(f.chat.text(), Catch::StartsWith("Tugboat commands\n"));
    }
}

TEST_CASE("router: help for unknown topics suggests the right one", "[unit]") {
    router_fixture f;
    CHECK(f.route(text_event(event_kind::direct_message, "help deplyo")) ==
          bot::route_outcome::handled);
    CHECK(f.chat.text() ==
          "There's no command `deplyo`. Did you mean `help deploy`? Type `help` to see all "
          "commands.\n");
    f.chat.calls.clear();
    CHECK(f.route(text_event(event_kind::direct_message, "help deploy rolback")) ==
          bot::route_outcome::handled);
    CHECK_THAT(f.chat.text(),
               Catch::StartsWith("`/deploy` has no subcommand `rolback`. Did you mean `help "
                                 "deploy rollback`?\n\n/deploy\n"));
}

TEST_CASE("router: a declared command without a handler is not enabled", "[unit]") {
    router_fixture f;
    CHECK(f.route(text_event(event_kind::slash_command, "status search")) ==
          bot::route_outcome::not_enabled);
    REQUIRE(f.chat.calls.size() == 1);
    CHECK(f.chat.text() == "`/status` is not enabled on this bot. Type `help` to see what is.\n");
    CHECK(f.policy.asked.empty());
}

TEST_CASE("router: the policy can refuse, and its reason is shown", "[unit]") {
    router_fixture f;
    inbound_event ev = text_event(event_kind::slash_command, "deploy search prod");
    ev.actor = "UVISITOR";
    CHECK(f.route(ev) == bot::route_outcome::denied);
    CHECK(f.probe.calls == 0);
    CHECK(f.chat.text() == "Only deployers can deploy to prod. Ask in #platform to be added.\n");
    // Reader-level subcommands pass the same policy.
    f.chat.calls.clear();
    ev.text = "deploy status search";
    CHECK(f.route(ev) == bot::route_outcome::handled);
    CHECK(f.probe.calls == 1);
}

TEST_CASE("router: handler errors and crashes reach the person and the log", "[unit]") {
    router_fixture f;
    SECTION("an error value is shown as written") {
        f.probe.fail_with =
            core::make_error(core::errc::conflict,
                             "`search` is locked in prod by <@U7>. Try again after it is "
                             "unlocked, or type `deploy unlock search prod`.");
        CHECK(f.route(text_event(event_kind::slash_command, "deploy search prod")) ==
              bot::route_outcome::failed);
        CHECK(f.chat.text() ==
              "`search` is locked in prod by @U7. Try again after it is unlocked, or type "
              "`deploy unlock search prod`.\n");
        CHECK_THAT(f.sink.text(), Catch::Contains("command_failed"));
        CHECK_THAT(f.sink.text(), Catch::Contains("code=conflict"));
    }
    SECTION("an exception becomes an apology and an error log line") {
        f.probe.throw_instead = true;
        CHECK(f.route(text_event(event_kind::slash_command, "deploy search prod")) ==
              bot::route_outcome::failed);
        CHECK_THAT(f.chat.text(), Catch::StartsWith("Sorry, `/deploy` failed on my side."));
        CHECK_THAT(f.sink.text(), Catch::Contains("command_crashed"));
        CHECK_THAT(f.sink.text(), Catch::Contains("jenkins client exploded"));
    }
}

TEST_CASE("router: message text stays out of info logs", "[unit]") {
    router_fixture f;
    CHECK(f.route(text_event(event_kind::slash_command,
                             "deploy search prod --reason \"customer ACME outage\"")) ==
          bot::route_outcome::handled);
    CHECK_THAT(f.sink.text(), Catch::Contains("command"));
    CHECK_THAT(f.sink.text(), !Catch::Contains("ACME"));
}

TEST_CASE("router: buttons go to the action handler of their prefix", "[unit]") {
    router_fixture f;
    inbound_event press;
    press.kind = event_kind::button;
    press.actor = "UAPPROVER";
    press.channel = "C1";
    press.thread_ts = "1699999000.000001";
    press.message_ts = "1699999001.000002";
    press.action_id = "deploy.approve";
    press.action_value = "42";
    CHECK(f.route(press) == bot::route_outcome::handled);
    REQUIRE(f.actions.seen.size() == 1);
    CHECK(f.actions.seen[0].action_value == "42");
    REQUIRE(f.chat.calls.size() == 1);
    CHECK(f.chat.calls[0].method == "ephemeral");
    CHECK(f.chat.calls[0].thread_ts == "1699999000.000001");
    CHECK(f.chat.text() == "Approved #42\n");

    f.chat.calls.clear();
    press.action_id = "access.deny";
    CHECK(f.route(press) == bot::route_outcome::unknown_action);
    REQUIRE(f.chat.calls.size() == 1);
    CHECK_THAT(f.chat.text(), Catch::StartsWith("That button isn't handled by this bot (action "
                                                "`access.deny`)"));
}

TEST_CASE("router: modal events answer by DM, unhandled closes are ignored", "[unit]") {
    router_fixture f;
    inbound_event submit;
    submit.kind = event_kind::modal_submission;
    submit.actor = "UAPPROVER";
    submit.action_id = "deploy.reject_reason";
    submit.action_value = "42";
    submit.values = {{"reason", "tests are red"}};
    CHECK(f.route(submit) == bot::route_outcome::handled);
    REQUIRE(f.chat.calls.size() == 1);
    CHECK(f.chat.calls[0].method == "dm");
    CHECK(f.chat.calls[0].user == "UAPPROVER");
    CHECK(f.actions.seen.at(0).values.at("reason") == "tests are red");

    f.chat.calls.clear();
    inbound_event closed;
    closed.kind = event_kind::modal_closed;
    closed.actor = "UAPPROVER";
    closed.action_id = "faq.feedback";
    CHECK(f.route(closed) == bot::route_outcome::ignored);
    CHECK(f.chat.calls.empty());

    // The dispatcher asks first, and spends no coroutine on what would be ignored.
    CHECK(f.router.ignores(closed));
    CHECK_FALSE(f.router.ignores(submit));
    inbound_event listened = closed;
    listened.action_id = "deploy.reject_reason";  // a handler exists: it may want the close
    CHECK_FALSE(f.router.ignores(listened));
    CHECK_FALSE(f.router.ignores(text_event(event_kind::direct_message, "help")));
}

TEST_CASE("router: a DM written in a thread is answered in that thread", "[unit]") {
    router_fixture f;
    inbound_event ev = text_event(event_kind::direct_message, "nope");
    ev.thread_ts = "1699999000.000001";
    CHECK(f.route(ev) == bot::route_outcome::invalid_input);
    REQUIRE(f.chat.calls.size() == 1);
    CHECK(f.chat.calls[0].method == "reply");
    CHECK(f.chat.calls[0].channel == "D42");
    CHECK(f.chat.calls[0].thread_ts == "1699999000.000001");
}
