// The one registration list: every command Tugboat has, in the order `help` lists them.

#include "commands/access.hpp"
#include "commands/command.hpp"
#include "commands/deploy.hpp"
#include "commands/faq.hpp"
#include "commands/help.hpp"
#include "commands/logs.hpp"
#include "commands/status.hpp"

#include <stdexcept>

namespace tugboat::commands {

command_registry make_registry() {
    command_registry registry;
    for (const command_spec* spec : {&deploy_spec(), &status_spec(), &logs_spec(), &access_spec(),
                                     &faq_spec(), &help_spec()}) {
        // A duplicate or malformed name here is a programming error, caught by the tests.
        if (auto declared = registry.declare(*spec); !declared) {
            throw std::logic_error(declared.error().message);
        }
    }
    if (auto attached = registry.attach(std::make_unique<help_command>()); !attached) {
        throw std::logic_error(attached.error().message);
    }
    return registry;
}

}  // namespace tugboat::commands
