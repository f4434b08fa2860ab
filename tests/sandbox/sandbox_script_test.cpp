// The sandbox end to end, as a newcomer would use it: scripted lines delivered by the fake Slack
// over Socket Mode to the real bot, whose Web API calls the console prints.

#include "bench/process_probe.hpp"
#include "sandbox/console_view.hpp"
#include "sandbox/fake_slack.hpp"
#include "sandbox/sandbox_app.hpp"
#include "sandbox/slack_blocks.hpp"
#include "tests/support/sandbox_world.hpp"
#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <filesystem>

using namespace tugboat;

TEST_CASE("sandbox --script: help, an unknown command and a typo'd service", "[loopback]") {
    test::sandbox_world w("script", {}, 0, 50);
    CHECK(w.script({"help", "/deplyo payments-api beta 1.2.3", "/deploy paymnets-api beta 1.2.3",
                    "@bob: help deploy", "@tugboat help status"}) == 0);
    const std::string& t = w.app->console().transcript();
    // Everything went through Slack's wire protocol: the bot connected and acked every line.
    CHECK(w.app->slack().calls("apps.connections.open").size() >= 1);
    CHECK(w.app->slack().acked_count() == 5);
    // The generated help lists the commands.
    CHECK(t.find("Tugboat commands") != std::string::npos);
    CHECK(t.find("help deploy") != std::string::npos);
    // Unknown command: a suggestion and where to look.
    CHECK(t.find("Unknown command `deplyo`. Did you mean `/deploy`?") != std::string::npos);
    // Typo'd service: a suggestion and the usage line.
    CHECK(t.find("Unknown service `paymnets-api`. Did you mean `payments-api`?") !=
          std::string::npos);
    CHECK(t.find("Usage: `/deploy <service> <env>") != std::string::npos);
    // Acting as another user works and shows the command's generated help.
    CHECK(t.find("bob> help deploy") != std::string::npos);
    CHECK(t.find("/deploy history <service>") != std::string::npos);
    // A mention in a channel is answered too.
    CHECK(t.find("/status [service] [env]") != std::string::npos);
}

TEST_CASE("sandbox: the console reads back exactly what the bot sent to Slack", "[unit]") {
    commands::message msg;
    msg.add(commands::header{"Deploy d-000012"})
        .add(commands::section{"*payments-api* `1.4.2` to beta", {{"Phase", "building"}}})
        .add(commands::context{{"asked by <@U0ALICE>"}})
        .add(commands::code{"line 1\nline 2"})
        .add(commands::divider{})
        .add(commands::actions{{commands::button{"Approve", "deploy.approve", "d-000012"},
                                commands::button{"Cancel", "deploy.cancel", "d-000012"}}});
    auto back = sandbox::message_from_slack(commands::slack_fallback_text(msg),
                                            commands::to_slack_blocks_json(msg));
    CHECK(commands::to_terminal_text(back) == commands::to_terminal_text(msg));
    CHECK(commands::to_terminal_text(back).find("type: deploy.approve d-000012") !=
          std::string::npos);
    SECTION("a plain-text message or unreadable blocks show the text") {
        auto plain = sandbox::message_from_slack("just text", "");
        CHECK(commands::to_terminal_text(plain).find("just text") != std::string::npos);
        auto broken = sandbox::message_from_slack("fallback", "[{\"type\":");
        CHECK(commands::to_terminal_text(broken).find("fallback") != std::string::npos);
    }
}

// The executable itself, as README's tour runs it: its script mode once read a coroutine's
// captures after they had gone out of scope, which only ASan in the real binary showed.
TEST_CASE("sandbox --script: the tugboat-sandbox executable runs a script and exits 0",
          "[loopback]") {
    test::temp_dir dir;
    auto script = dir.write("script.txt",
                            "help\n"
                            "/deploy payments-api dev 1.4.2\n"
                            "/status payments-api dev\n"
                            "/faq how do I roll back a deploy?\n");
    auto log = dir.path / "out.txt";
    std::string error;
    pid_t pid = bench::spawn_process({TUGBOAT_SANDBOX_BINARY, "--script", script.string(),
                                      "--speed", "100", "--work-dir", dir.file("work")},
                                     {}, log, error);
    REQUIRE(pid > 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    const std::string out = bench::read_text(log);
    INFO(out);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(out.find("Tugboat commands") != std::string::npos);
    CHECK(out.find("is live in dev") != std::string::npos);
    CHECK(out.find("alice> /status payments-api dev") != std::string::npos);
    CHECK(out.find("using-tugboat.md#undo-a-deploy") != std::string::npos);
}

TEST_CASE("sandbox: a button's line typed with no such button is not sent as a question",
          "[loopback]") {
    test::sandbox_world w("buttons");
    REQUIRE(w.script({"deploy.approve d-000042"}) == 0);
    CHECK(w.app->console().transcript().find(
              "(sandbox: no button on screen says `deploy.approve d-000042`") != std::string::npos);
    CHECK(w.app->slack().acked_count() == 0);
    // Longer text that starts like an action id is a question as usual.
    REQUIRE(w.script({"faq.md has a typo, who fixes it?"}) == 0);
    CHECK(w.app->slack().acked_count() == 1);
}
