// tugboat: the composition root. Builds every concrete part from the configuration and runs
// them on one io_context.

#include "bot/config_loader.hpp"

#include <iostream>
#include <span>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(Usage: tugboat <command> [args]

Commands:
  check-config FILE [--offline]   check a configuration file; prints every problem with file:line
  version                         print the version
  help                            this text

The sandbox (local fakes, terminal chat) is a separate program: tugboat-sandbox.
)";

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
        std::cout << usage;
        return args.empty() ? 2 : 0;
    }
    const std::string& cmd = args[0];
    std::span<const std::string> rest(args.data() + 1, args.size() - 1);
    if (cmd == "check-config") {
        return tugboat::bot::check_config_command(rest, std::cout, tugboat::bot::process_env());
    }
    if (cmd == "version" || cmd == "--version") {
        std::cout << "tugboat " << TUGBOAT_VERSION << "\n";
        return 0;
    }
    std::cerr << "tugboat: unknown command `" << cmd << "`\n\n" << usage;
    return 2;
}
