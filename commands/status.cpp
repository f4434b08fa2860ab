#include "commands/status.hpp"

namespace tugboat::commands {

const command_spec& status_spec() {
    static const command_spec spec{
        .name = "status",
        .summary = "Show which version runs where and whether it is healthy.",
        .args = {{.name = "service",
                  .kind = arg_kind::service,
                  .required = false,
                  .help = "only this service; leave it out for all of them"},
                 {.name = "env",
                  .kind = arg_kind::environment,
                  .required = false,
                  .help = "only this environment"}},
        .examples = {"status", "status payments-api", "status payments-api prod"},
        .access = access_level::reader,
    };
    return spec;
}

}  // namespace tugboat::commands
