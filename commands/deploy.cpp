#include "commands/deploy.hpp"

namespace tugboat::commands {

namespace {

arg_spec service_arg(bool required = true) {
    return {.name = "service",
            .kind = arg_kind::service,
            .required = required,
            .help = "a service from the bot's config, e.g. `payments-api`"};
}

arg_spec env_arg(bool required = true) {
    return {.name = "env",
            .kind = arg_kind::environment,
            .required = required,
            .help = "an environment, e.g. `staging` or `prod`"};
}

flag_spec reason_flag() {
    return {.name = "reason",
            .value_name = "text",
            .help = "why; shown to approvers and kept in the audit log"};
}

command_spec make() {
    command_spec start{
        .name = "start",
        .summary = "Deploy a version of a service to an environment.",
        .details =
            "Runs the environment's checks first (approvals, freeze windows, locks), then "
            "starts the build and follows the rollout in a thread.",
        .args = {service_arg(),
                 env_arg(),
                 {.name = "version",
                  .kind = arg_kind::version,
                  .required = false,
                  .help = "a tag or commit SHA; leave it out to promote the version that last "
                          "succeeded in the environment before this one"}},
        .flags = {reason_flag(),
                  {.name = "override-freeze",
                   .help = "deploy during a freeze window (only people allowed to override)"}},
        .examples = {"deploy payments-api staging v1.4.2",
                     "deploy payments-api prod --reason \"fix checkout timeout\""},
        .access = access_level::deployer,
    };
    command_spec status{
        .name = "status",
        .summary = "Show deploys in progress and waiting for approval.",
        .args = {service_arg(false), env_arg(false)},
        .examples = {"deploy status", "deploy status payments-api prod"},
        .access = access_level::reader,
    };
    command_spec logs{
        .name = "logs",
        .summary = "Show the build log of a deploy.",
        .args = {{.name = "id",
                  .kind = arg_kind::id,
                  .help = "the deploy's id, shown in its messages"}},
        .flags = {{.name = "tail",
                   .value_name = "lines",
                   .kind = arg_kind::number,
                   .help = "only the last this many lines"}},
        .examples = {"deploy logs 42", "deploy logs 42 --tail 50"},
        .access = access_level::reader,
    };
    command_spec rollback{
        .name = "rollback",
        .summary = "Roll a service back to the version before the current one.",
        .args = {service_arg(), env_arg()},
        .flags = {{.name = "to",
                   .value_name = "version",
                   .kind = arg_kind::version,
                   .help = "roll back to this version instead of the previous one"},
                  reason_flag()},
        .examples = {"deploy rollback payments-api prod",
                     "deploy rollback payments-api prod --to v1.4.1 --reason \"500s on checkout\""},
        .access = access_level::deployer,
    };
    command_spec cancel{
        .name = "cancel",
        .summary = "Stop a deploy that is waiting or running.",
        .args = {{.name = "id",
                  .kind = arg_kind::id,
                  .help = "the deploy's id, shown in its messages"}},
        .flags = {reason_flag()},
        .examples = {"deploy cancel 42"},
        .access = access_level::deployer,
    };
    command_spec lock{
        .name = "lock",
        .summary = "Stop deploys of a service to an environment until unlocked.",
        .args = {service_arg(), env_arg()},
        .flags = {reason_flag(),
                  {.name = "for",
                   .value_name = "duration",
                   .kind = arg_kind::duration,
                   .help = "unlock by itself after this long, e.g. `2h`"}},
        .examples = {"deploy lock payments-api prod --reason \"db migration\" --for 2h"},
        .access = access_level::deployer,
    };
    command_spec unlock{
        .name = "unlock",
        .summary = "Allow deploys again after a lock.",
        .args = {service_arg(), env_arg()},
        .examples = {"deploy unlock payments-api prod"},
        .access = access_level::deployer,
    };
    command_spec history{
        .name = "history",
        .summary = "List recent deploys of a service.",
        .args = {service_arg(), env_arg(false)},
        .flags = {{.name = "limit",
                   .value_name = "count",
                   .kind = arg_kind::number,
                   .help = "how many deploys to list (default 10)"}},
        .examples = {"deploy history payments-api", "deploy history payments-api prod --limit 20"},
        .access = access_level::reader,
    };
    return command_spec{
        .name = "deploy",
        .summary = "Deploy, roll back and lock services.",
        .details =
            "Deploy progress is posted in a thread under the first message; approvers get "
            "buttons there.",
        .subcommands = {std::move(start), std::move(status), std::move(logs), std::move(rollback),
                        std::move(cancel), std::move(lock), std::move(unlock), std::move(history)},
        .default_subcommand = "start",
        .access = access_level::reader,
    };
}

}  // namespace

const command_spec& deploy_spec() {
    static const command_spec spec = make();
    return spec;
}

}  // namespace tugboat::commands
