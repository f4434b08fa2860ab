#include "commands/deploy.hpp"

#include "commands/deploy_engine.hpp"
#include "commands/redact.hpp"

#include <fmt/format.h>

namespace tugboat::commands {

namespace asio = boost::asio;

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
            .help = "an environment, e.g. `dev` or `prod`"};
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
                   .value_name = "reason",
                   .help = "deploy during a freeze window (only people allowed to override); "
                           "audited and announced"}},
        .examples = {"deploy payments-api dev v1.4.2",
                     "deploy payments-api prod --reason \"fix checkout timeout\""},
        .access = access_level::deployer,
    };
    command_spec status{
        .name = "status",
        .summary = "Show one deploy, or every deploy in progress, waiting or locked.",
        .args = {{.name = "id",
                  .kind = arg_kind::id,
                  .required = false,
                  .help = "a deploy's id, shown in its messages; leave it out for all"}},
        .examples = {"deploy status", "deploy status d-000042"},
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
        .examples = {"deploy logs d-000042", "deploy logs d-000042 --tail 50"},
        .access = access_level::reader,
    };
    command_spec rollback{
        .name = "rollback",
        .summary = "Roll a service back to the version before the current one.",
        .details =
            "Restores the previous ReplicaSet (as `kubectl rollout undo` does) or re-runs "
            "the last good version through Jenkins, per service; same approvals and "
            "locks as a deploy.",
        .args = {service_arg(),
                 env_arg(),
                 {.name = "revision",
                  .kind = arg_kind::number,
                  .required = false,
                  .help = "a Deployment revision to go back to instead of the previous one"}},
        .flags = {reason_flag()},
        .examples = {"deploy rollback payments-api prod",
                     "deploy rollback payments-api prod 7 --reason \"500s on checkout\""},
        .access = access_level::deployer,
    };
    command_spec cancel{
        .name = "cancel",
        .summary = "Stop a deploy that is waiting or running.",
        .args = {{.name = "id",
                  .kind = arg_kind::id,
                  .help = "the deploy's id, shown in its messages"}},
        .flags = {reason_flag()},
        .examples = {"deploy cancel d-000042"},
        .access = access_level::deployer,
    };
    command_spec lock{
        .name = "lock",
        .summary = "Stop deploys of a service to an environment until unlocked.",
        .args = {service_arg(),
                 env_arg(),
                 {.name = "reason",
                  .kind = arg_kind::text,
                  .required = false,
                  .rest = true,
                  .help = "why, shown to everyone who tries to deploy"}},
        .examples = {"deploy lock payments-api prod \"db migration\""},
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

deploy_command::deploy_command(deploy_engine& engine) : engine_(engine) {}

const command_spec& deploy_command::spec() const {
    return deploy_spec();
}

asio::awaitable<core::result<void>> deploy_command::handle(request req) {
    const invocation& in = req.input;
    const std::string sub = in.subcommand ? in.subcommand->name : "start";
    const std::string& actor = req.event.actor;
    const std::string reason = in.flag("reason").value_or("");
    if (sub == "start") {
        deploy_request r{in.arg("service"), in.arg("env"), in.arg("version"),         actor,
                         req.event.channel, reason,        in.flag("override-freeze")};
        auto said = co_await engine_.request(std::move(r));
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (sub == "rollback") {
        auto said = co_await engine_.rollback(in.arg("service"), in.arg("env"), in.arg("revision"),
                                              actor, req.event.channel, reason);
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (sub == "cancel") {
        auto said = co_await engine_.cancel(in.arg("id"), actor, reason);
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (sub == "lock") {
        auto said =
            co_await engine_.lock(in.arg("service"), in.arg("env"), actor, in.arg("reason"));
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (sub == "unlock") {
        auto said = co_await engine_.unlock(in.arg("service"), in.arg("env"), actor);
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (sub == "history") {
        int limit = static_cast<int>(in.number("limit").value_or(10));
        co_return co_await answer_or_fail(req,
                                          engine_.history(in.arg("service"), in.arg("env"), limit));
    }
    if (sub == "status") {
        std::string id = in.arg("id");
        auto found = id.empty() ? engine_.active("", "") : engine_.status(id);
        co_return co_await answer_or_fail(req, std::move(found));
    }
    if (sub == "logs") {
        auto lines = static_cast<std::size_t>(in.number("tail").value_or(100));
        auto said = co_await engine_.build_log(in.arg("id"), lines);
        if (said) {
            // A build console echoes credentials as readily as a pod does: same rules as /logs.
            auto redact = redactor::create(req.config.logs.redact_patterns);
            if (!redact) {
                co_return redact.error();
            }
            for (auto& b : said->blocks) {
                if (auto* c = std::get_if<code>(&b)) {
                    c->text = redact->redact_text(c->text);
                }
            }
        }
        co_return co_await answer_or_fail(req, std::move(said));
    }
    co_return core::make_error(
        core::errc::invalid_argument,
        fmt::format("`deploy {}` is not available. Type `help deploy`.", sub));
}

asio::awaitable<core::result<void>> deploy_command::handle_action(request req) {
    const std::string& action = req.event.action_id;
    const std::string& id = req.event.action_value;
    if (action == "deploy.approve" || action == "deploy.reject") {
        auto said = co_await engine_.decide(id, req.event.actor, action == "deploy.approve");
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (action == "deploy.input_proceed" || action == "deploy.input_abort") {
        auto said =
            co_await engine_.answer_input(id, req.event.actor, action == "deploy.input_proceed");
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (action == "deploy.cancel") {
        auto said = co_await engine_.cancel(id, req.event.actor, "");
        co_return co_await answer_or_fail(req, std::move(said));
    }
    co_return core::make_error(core::errc::invalid_argument,
                               fmt::format("This button (`{}`) is not known any more.", action));
}

}  // namespace tugboat::commands
