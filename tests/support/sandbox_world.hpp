#pragma once

// The sandbox (real bot, fake Slack, Jenkins and clusters) for a loopback test: started in a
// scratch folder, freeze windows removed so that outcomes do not depend on the day, shut down
// and removed at the end. Test files derive their `world` from it.

#include "sandbox/sandbox_app.hpp"
#include "tests/support/run_test.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace tugboat::test {

struct sandbox_world {
    boost::asio::io_context ioc;
    std::ostringstream out;
    sandbox::sandbox_options options;
    std::unique_ptr<sandbox::sandbox_app> app;

    /// `adjust` changes the sandbox config after the freezes are cleared; `width` is the
    /// console's (0 = the default); `speed` divides the fakes' durations and multiplies the
    /// access clock.
    explicit sandbox_world(std::string name, std::function<void(core::config&)> adjust = {},
                           int width = 0, double speed = 100) {
        options.adjust_config = [adjust](core::config& c) {
            for (auto& e : c.environments) {
                e.policy.freezes.clear();
            }
            if (adjust) {
                adjust(c);
            }
        };
        std::random_device rd;
        options.work_dir = std::filesystem::temp_directory_path() /
                           ("tugboat-" + name + "-test-" + std::to_string(rd()));
        options.speed = speed;
        options.settle_timeout = std::chrono::seconds{20};
        if (width > 0) {
            options.width = width;
        }
        auto a = sandbox::sandbox_app::start(ioc, options, out);
        REQUIRE(a);
        app = std::move(*a);
    }
    ~sandbox_world() {
        run_test(ioc, app->shutdown(), std::chrono::seconds{10});
        std::error_code ec;
        std::filesystem::remove_all(options.work_dir, ec);
    }
    sandbox_world(const sandbox_world&) = delete;
    sandbox_world& operator=(const sandbox_world&) = delete;

    /// Types `lines` as people would; 0 when the bot went idle after each one.
    int script(std::vector<std::string> lines) {
        return run_test(ioc, app->run_script(std::move(lines)), std::chrono::seconds{60});
    }
};

}  // namespace tugboat::test
