#include "commands/deploy_view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tugboat::commands {

std::string progress_bar(double fraction, int width) {
    fraction = std::clamp(fraction, 0.0, 1.0);
    int filled = static_cast<int>(std::lround(fraction * width));
    std::string bar;
    for (int i = 0; i < width; ++i) {
        bar += i < filled ? "▓" : "░";
    }
    return fmt::format("{} {}%", bar, static_cast<int>(std::lround(fraction * 100)));
}

std::string short_duration(std::chrono::milliseconds d) {
    auto s = std::max<long long>(0, std::chrono::duration_cast<std::chrono::seconds>(d).count());
    if (s < 60) {
        return fmt::format("{}s", s);
    }
    if (s < 3600) {
        return fmt::format("{}m {:02}s", s / 60, s % 60);
    }
    return fmt::format("{}h {:02}m", s / 3600, (s % 3600) / 60);
}

message root_message(const deploy_view& v) {
    using state = deploy_view::state;
    const char* icon = v.status == state::succeeded   ? "✅"
                       : v.status == state::failed    ? "❌"
                       : v.status == state::cancelled ? "⏹️"
                       : v.status == state::waiting   ? "⏳"
                                                      : "🚀";
    message m;
    m.text = fmt::format("{} Deploy {} {} to {}: {}", icon, v.service, v.version, v.environment,
                         v.phase);
    m.add(header{fmt::format("{} {} {} → {}", icon, v.service, v.version, v.environment)});
    section facts;
    facts.fields = {
        {"Phase", v.phase}, {"Requested by", mention(v.requester)}, {"Deploy", "`" + v.id + "`"}};
    if (v.build_number > 0) {
        facts.fields.push_back(
            {"Jenkins", v.build_url.empty()
                            ? fmt::format("build #{}", v.build_number)
                            : fmt::format("<{}|build #{}>", v.build_url, v.build_number)});
    }
    if (v.status == state::running && v.eta) {
        facts.fields.push_back({"ETA", "about " + short_duration(*v.eta)});
    }
    m.add(std::move(facts));
    if (v.status == state::running && v.progress) {
        m.add(section{progress_bar(*v.progress), {}});
    }
    if (v.status == state::failed && !v.failure.empty()) {
        m.add(section{"*Why:* " + escape_mrkdwn(v.failure), {}});
    }
    if (!v.reason.empty()) {
        m.add(context{{"Reason: " + escape_mrkdwn(v.reason)}});
    }
    if (v.status == state::running || v.status == state::waiting) {
        button cancel{"Cancel", "deploy.cancel", v.id, button_style::danger,
                      confirm_dialog{"Cancel this deploy?",
                                     fmt::format("{} {} to {} will be stopped.", v.service,
                                                 v.version, v.environment),
                                     "Cancel deploy", "Keep going", true}};
        m.add(actions{{std::move(cancel)}});
    }
    return m;
}

message approval_request_message(const deploy_view& v, const std::vector<std::string>& approvers,
                                 int required, std::chrono::seconds expires_after) {
    message m;
    m.text = fmt::format("Approval needed: {} {} to {}", v.service, v.version, v.environment);
    m.add(section{
        fmt::format("*Approval needed* — {} wants to deploy *{}* `{}` to *{}*.\n"
                    "{} approval{} from {}; the requester cannot approve. "
                    "Expires in {}.",
                    mention(v.requester), v.service, v.version, v.environment, required,
                    required == 1 ? "" : "s", mentions(approvers), short_duration(expires_after)),
        {}});
    m.add(actions{{button{"Approve", "deploy.approve", v.id, button_style::primary, {}},
                   button{"Reject", "deploy.reject", v.id, button_style::danger, {}}}});
    return m;
}

}  // namespace tugboat::commands
