#include "commands/logs.hpp"

namespace tugboat::commands {

const command_spec& logs_spec() {
    static const command_spec spec{
        .name = "logs",
        .summary = "Show recent log lines of a service's pods.",
        .details = "Long output is shared as a file instead of a message.",
        .args = {{.name = "service",
                  .kind = arg_kind::service,
                  .help = "a service from the bot's config, e.g. `payments-api`"},
                 {.name = "env",
                  .kind = arg_kind::environment,
                  .help = "an environment, e.g. `staging` or `prod`"}},
        .flags = {{.name = "since",
                   .value_name = "duration",
                   .kind = arg_kind::duration,
                   .help = "only lines newer than this, e.g. `30m` (default 15m)"},
                  {.name = "tail",
                   .value_name = "lines",
                   .kind = arg_kind::number,
                   .help = "only the last this many lines per pod (default 100)"},
                  {.name = "container",
                   .value_name = "name",
                   .help = "the container to read when pods have several"},
                  {.name = "grep",
                   .value_name = "pattern",
                   .help = "only lines containing this text; quote it if it has spaces"},
                  {.name = "previous", .help = "logs of the previous, crashed container"},
                  {.name = "pod", .value_name = "name", .help = "only this pod"}},
        .examples = {"logs payments-api prod --since 30m --grep timeout",
                     "logs payments-api staging --previous --pod payments-api-7d9f8-x2kq4"},
        .access = access_level::reader,
    };
    return spec;
}

}  // namespace tugboat::commands
