// The sandbox end to end, as a newcomer would use it: scripted lines through the real router,
// commands and console chat.

#include "sandbox/console_chat.hpp"
#include "sandbox/sandbox_app.hpp"
#include "tests/support/run_test.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <random>
#include <sstream>

using namespace tugboat;

namespace {

std::filesystem::path scratch_dir() {
    std::random_device rd;
    auto dir = std::filesystem::temp_directory_path() /
               ("tugboat-sandbox-test-" + std::to_string(rd()));
    std::filesystem::create_directories(dir);
    return dir;
}

}  // namespace

TEST_CASE("sandbox --script: help, an unknown command and a typo'd service", "[loopback]") {
    boost::asio::io_context ioc;
    std::ostringstream out;
    sandbox::sandbox_options options;
    options.work_dir = scratch_dir();
    options.speed = 50;
    options.settle_timeout = std::chrono::seconds{20};
    auto app = sandbox::sandbox_app::start(ioc, options, out);
    REQUIRE(app);
    int rc = test::run_test(ioc,
                            (*app)->run_script({"help", "/deplyo payments-api beta 1.2.3",
                                                "/deploy paymnets-api beta 1.2.3",
                                                "@bob: help deploy"}),
                            std::chrono::seconds{30});
    CHECK(rc == 0);
    const std::string& t = (*app)->chat().transcript();
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
    std::filesystem::remove_all(options.work_dir);
}

TEST_CASE("sandbox: typing a shown button's action presses it", "[loopback]") {
    boost::asio::io_context ioc;
    std::ostringstream out;
    core::config cfg;
    sandbox::console_chat chat(out, cfg);
    commands::message msg;
    msg.add(commands::actions{{commands::button{"Approve", "deploy.approve", "12"}}});
    std::optional<commands::message_ref> ref;
    test::run_test(ioc, [&]() -> boost::asio::awaitable<void> {
        auto posted = co_await chat.post("C0DEPLOYS", msg);
        REQUIRE(posted);
        ref = *posted;
    }());
    REQUIRE(ref);
    CHECK(chat.transcript().find("deploy.approve 12") != std::string::npos);
    auto pressed = chat.press("deploy.approve 12");
    REQUIRE(pressed);
    CHECK(pressed->kind == commands::event_kind::button);
    CHECK(pressed->action_id == "deploy.approve");
    CHECK(pressed->action_value == "12");
    CHECK(pressed->message_ts == ref->ts);
    CHECK_FALSE(chat.press("deploy.approve 13"));
}
