#include "commands/access.hpp"

namespace tugboat::commands {

namespace {

arg_spec id_arg() {
    return {.name = "id", .kind = arg_kind::id, .help = "the request's id, shown in its messages"};
}

command_spec make() {
    command_spec request{
        .name = "request",
        .summary = "Ask for temporary access to an environment.",
        .details = "Approvers are asked in the approvals channel; access ends by itself.",
        .args = {{.name = "role",
                  .kind = arg_kind::role,
                  .help = "an access role from the bot's config, e.g. `read-logs`"},
                 {.name = "env",
                  .kind = arg_kind::environment,
                  .help = "the environment to get access to"}},
        .flags = {{.name = "for",
                   .value_name = "duration",
                   .kind = arg_kind::duration,
                   .help = "how long you need it, e.g. `2h` (at most the role's limit)"},
                  {.name = "reason",
                   .value_name = "text",
                   .help = "why you need it; shown to approvers and kept in the audit log"}},
        .examples = {"access request read-logs prod --for 2h --reason \"investigate INC-123\""},
    };
    command_spec list{
        .name = "list",
        .summary = "Show your active and pending access.",
        .flags = {{.name = "all", .help = "everyone's, not just yours (approvers and admins)"}},
        .examples = {"access list", "access list --all"},
    };
    command_spec approve{
        .name = "approve",
        .summary = "Approve an access request.",
        .args = {id_arg()},
        .examples = {"access approve 17"},
        .access = access_level::approver,
    };
    command_spec deny{
        .name = "deny",
        .summary = "Turn down an access request.",
        .args = {id_arg()},
        .flags = {{.name = "reason", .value_name = "text", .help = "told to the requester"}},
        .examples = {"access deny 17 --reason \"use read-only first\""},
        .access = access_level::approver,
    };
    command_spec extend{
        .name = "extend",
        .summary = "Keep access longer than first granted.",
        .args = {id_arg()},
        .flags = {{.name = "for",
                   .value_name = "duration",
                   .kind = arg_kind::duration,
                   .help = "how much longer, e.g. `1h`"}},
        .examples = {"access extend 17 --for 1h"},
    };
    command_spec revoke{
        .name = "revoke",
        .summary = "End access now.",
        .args = {id_arg()},
        .examples = {"access revoke 17"},
    };
    command_spec audit{
        .name = "audit",
        .summary = "Show who had which access, when, and who approved it.",
        .flags = {{.name = "user",
                   .value_name = "person",
                   .kind = arg_kind::user,
                   .help = "only this person (mention them)"},
                  {.name = "since",
                   .value_name = "duration",
                   .kind = arg_kind::duration,
                   .help = "how far back, e.g. `7d` (default 1d)"}},
        .examples = {"access audit --since 7d"},
        .access = access_level::admin,
    };
    return command_spec{
        .name = "access",
        .summary = "Request temporary Kubernetes access and review who had it.",
        .subcommands = {std::move(request), std::move(list), std::move(approve), std::move(deny),
                        std::move(extend), std::move(revoke), std::move(audit)},
    };
}

}  // namespace

const command_spec& access_spec() {
    static const command_spec spec = make();
    return spec;
}

}  // namespace tugboat::commands
