#include "commands/access.hpp"

#include "commands/access_engine.hpp"

#include <fmt/format.h>

namespace tugboat::commands {

namespace {

arg_spec id_arg() {
    return {.name = "id", .kind = arg_kind::id, .help = "the request's id, shown in its messages"};
}

command_spec make() {
    command_spec request{
        .name = "request",
        .summary = "Ask for temporary access to an environment.",
        .details =
            "Approvers are asked in the approvals channel; the clock starts when access "
            "is granted and it ends by itself. `/access` alone opens a form.",
        .args = {{.name = "role",
                  .kind = arg_kind::role,
                  .help = "an access role from the bot's config, e.g. `view`"},
                 {.name = "env",
                  .help = "the environment, optionally with a namespace: `prod/payments`"},
                 {.name = "duration",
                  .required = false,
                  .help = "how long you need it, e.g. `2h` (at most the role's limit)"},
                 {.name = "reason",
                  .required = false,
                  .help = "why you need it, in quotes; shown to approvers and kept in the audit "
                          "log"}},
        .flags = {{.name = "for",
                   .value_name = "duration",
                   .kind = arg_kind::duration,
                   .help = "the duration as a flag instead"},
                  {.name = "reason", .value_name = "text", .help = "the reason as a flag instead"},
                  {.name = "break-glass",
                   .help = "emergency: granted at once without approval (roles that allow it; "
                           "a reason is required and everyone is told)"}},
        .examples = {"access request read-logs prod/payments 2h \"investigate INC-123\"",
                     "access request read-logs dev 30m --break-glass --reason \"prod is down\"",
                     "access"},
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
        .examples = {"access approve g-000017"},
        .access = access_level::approver,
    };
    command_spec deny{
        .name = "deny",
        .summary = "Turn down an access request.",
        .args = {id_arg()},
        .flags = {{.name = "reason", .value_name = "text", .help = "told to the requester"}},
        .examples = {"access deny g-000017 --reason \"use read-only first\""},
        .access = access_level::approver,
    };
    command_spec extend{
        .name = "extend",
        .summary = "Keep access longer than first granted.",
        .args = {id_arg(),
                 {.name = "duration",
                  .kind = arg_kind::duration,
                  .required = false,
                  .help = "how much longer, e.g. `1h` (default: as long again)"}},
        .flags = {{.name = "for",
                   .value_name = "duration",
                   .kind = arg_kind::duration,
                   .help = "the duration as a flag instead"}},
        .examples = {"access extend g-000017 1h"},
    };
    command_spec revoke{
        .name = "revoke",
        .summary = "End access now.",
        .args = {id_arg()},
        .examples = {"access revoke g-000017"},
    };
    command_spec audit{
        .name = "audit",
        .summary = "Show who had which access, when, and who approved it.",
        .args = {{.name = "filter",
                  .required = false,
                  .help = "a person (mention them) or a role name"}},
        .flags = {{.name = "user",
                   .value_name = "person",
                   .kind = arg_kind::user,
                   .help = "only this person (mention them)"},
                  {.name = "since",
                   .value_name = "duration",
                   .kind = arg_kind::duration,
                   .help = "how far back, e.g. `7d` (default 1d)"}},
        .examples = {"access audit --since 7d", "access audit view"},
        .access = access_level::admin,
    };
    return command_spec{
        .name = "access",
        .summary = "Request temporary Kubernetes access and review who had it.",
        .subcommands = {std::move(request), std::move(list), std::move(approve), std::move(deny),
                        std::move(extend), std::move(revoke), std::move(audit)},
        .when_bare = "request",
    };
}

}  // namespace

const command_spec& access_spec() {
    static const command_spec spec = make();
    return spec;
}

access_command::access_command(access_engine& engine) : engine_(engine) {}

const command_spec& access_command::spec() const {
    return access_spec();
}

namespace asio = boost::asio;

asio::awaitable<core::result<void>> access_command::handle(request req) {
    const invocation& in = req.input;
    const std::string sub = in.subcommand ? in.subcommand->name : "request";
    const std::string& actor = req.event.actor;
    if (sub == "request") {
        access_request r;
        r.role = in.arg("role");
        r.target = in.arg("env");
        r.duration = in.arg("duration");
        r.reason = in.arg("reason");
        if (auto given = in.flag("for")) {
            // With --for, a second positional word is the reason: `view prod "why" --for 2h`.
            if (r.reason.empty()) {
                r.reason = r.duration;
            }
            r.duration = *given;
        }
        r.reason = in.flag("reason").value_or(r.reason);
        r.requester = actor;
        r.break_glass = in.has_flag("break-glass");
        if (r.role.empty() || r.target.empty()) {
            auto opened =
                co_await req.chat.open_form(req.event.trigger_id, engine_.request_form(r));
            if (opened) {
                co_return core::ok();
            }
            co_return core::make_error(core::errc::invalid_argument,
                                       "Say what you need: `/access request &lt;role&gt; "
                                       "&lt;env&gt;[/&lt;namespace&gt;] &lt;duration&gt; "
                                       "\"&lt;reason&gt;\"`, e.g. `/access request view "
                                       "prod/payments 2h \"INC-123\"`. Type "
                                       "`help access` for the roles.");
        }
        auto said = co_await engine_.request(std::move(r));
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (sub == "approve" || sub == "deny") {
        auto said = co_await engine_.decide(in.arg("id"), actor, sub == "approve",
                                            in.flag("reason").value_or(""));
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (sub == "revoke") {
        auto said = co_await engine_.revoke(in.arg("id"), actor);
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (sub == "extend") {
        auto by = in.flag("for") ? in.duration("for") : in.duration("duration");
        auto said = co_await engine_.extend(in.arg("id"), actor, by);
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (sub == "list") {
        auto listed = co_await engine_.list(actor, in.has_flag("all"));
        co_return co_await answer_or_fail(req, std::move(listed));
    }
    if (sub == "audit") {
        std::string filter = in.arg("filter");
        std::string user = in.flag("user").value_or("");
        std::string role;
        if (filter.starts_with("<@")) {
            auto end = filter.find_first_of("|>");
            user = filter.substr(2, end == std::string::npos ? std::string::npos : end - 2);
        } else if (!filter.empty() && (filter.front() == 'U' || filter.front() == 'W') &&
                   req.config.find_access_role(filter) == nullptr) {
            user = filter;
        } else {
            role = filter;
        }
        auto since = in.duration("since").value_or(std::chrono::hours{24});
        auto listed = co_await engine_.audit(actor, user, role, since);
        co_return co_await answer_or_fail(req, std::move(listed));
    }
    co_return core::make_error(
        core::errc::invalid_argument,
        fmt::format("`access {}` is not available. Type `help access`.", sub));
}

asio::awaitable<core::result<void>> access_command::handle_action(request req) {
    const std::string& action = req.event.action_id;
    const std::string& id = req.event.action_value;
    const std::string& actor = req.event.actor;
    if (action == "access.approve") {
        auto said = co_await engine_.decide(id, actor, true, "");
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (action == "access.deny") {
        // The reason is asked in a form; without one (no trigger), the typed command is shown.
        form f;
        f.callback_id = "access.deny_reason";
        f.title = "Deny access";
        f.submit = "Deny";
        f.metadata = id;
        f.intro = fmt::format(
            "Denying `{}`. The requester sees your reason. (Or type `/access "
            "deny {} --reason \"…\"`.)",
            id, id);
        f.fields = {{"reason", "Reason", "e.g. use the read-only role first", true, false, ""}};
        auto opened = co_await req.chat.open_form(req.event.trigger_id, std::move(f));
        if (opened) {
            co_return core::ok();
        }
        co_return co_await req.answer(plain_message(
            fmt::format("Type `/access deny {} --reason \"…\"` to deny it with a reason.", id)));
    }
    if (action == "access.deny_reason") {
        auto it = req.event.values.find("reason");
        std::string reason = it == req.event.values.end() ? "" : it->second;
        auto said = co_await engine_.decide(id, actor, false, reason);
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (action == "access.request") {
        auto value = [&](const char* k) {
            auto it = req.event.values.find(k);
            return it == req.event.values.end() ? std::string{} : it->second;
        };
        access_request r{value("role"),   value("target"), value("duration"),
                         value("reason"), actor,           false};
        auto said = co_await engine_.request(std::move(r));
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (action == "access.extend") {
        auto said = co_await engine_.extend(id, actor, std::nullopt);
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (action == "access.revoke") {
        auto said = co_await engine_.revoke(id, actor);
        co_return co_await answer_or_fail(req, std::move(said));
    }
    if (action == "access.approve_extension" || action == "access.deny_extension") {
        auto said =
            co_await engine_.decide_extension(id, actor, action == "access.approve_extension");
        co_return co_await answer_or_fail(req, std::move(said));
    }
    co_return core::make_error(core::errc::invalid_argument,
                               fmt::format("This button (`{}`) is not known any more.", action));
}

}  // namespace tugboat::commands
