#include "commands/deploy_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <system_error>

namespace tugboat::commands {

namespace {

using namespace std::chrono;

bool contains(const std::vector<std::string>& ids, std::string_view id) {
    return std::ranges::find(ids, id) != ids.end();
}

/// Whom to ask to change a list in the config: the service's owners when it has any.
std::string owners_or_maintainers(const core::service_config& svc) {
    if (svc.owners.empty()) {
        return "whoever maintains Tugboat's configuration";
    }
    return fmt::format("{} (owners of {})", mentions(svc.owners), svc.name);
}

// ---- wall-clock time in a zone ----

/// A wall-clock reading: a civil date and minutes after midnight.
struct wall_time {
    year_month_day date;
    int minutes = 0;
};

/// Switches the process time zone (TZ) for its lifetime and restores it afterwards. Not
/// thread-safe: setenv/tzset change process-wide state, which is fine on Tugboat's one thread.
class scoped_tz {
public:
    explicit scoped_tz(const std::string& zone) {
        if (const char* old = std::getenv("TZ")) {
            old_ = old;
        }
        ::setenv("TZ", zone.c_str(), 1);
        ::tzset();
    }
    ~scoped_tz() {
        if (old_) {
            ::setenv("TZ", old_->c_str(), 1);
        } else {
            ::unsetenv("TZ");
        }
        ::tzset();
    }
    scoped_tz(const scoped_tz&) = delete;
    scoped_tz& operator=(const scoped_tz&) = delete;

private:
    std::optional<std::string> old_;
};

/// A zone the C library can read from the system database, or nullopt for UTC (including
/// zones the database does not have, which glibc would silently read as UTC anyway).
std::optional<std::string> system_zone(const std::string& tz) {
    if (tz.empty() || tz == "UTC" || tz == "Etc/UTC") {
        return std::nullopt;
    }
    const char* dir = std::getenv("TZDIR");
    std::filesystem::path db = dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo";
    std::error_code ec;
    if (tz.find("..") != std::string::npos || !std::filesystem::is_regular_file(db / tz, ec)) {
        return std::nullopt;
    }
    return tz;
}

/// The UTC instant of wall-clock time `w` in zone `tz`.
core::time_point to_utc(const wall_time& w, const std::string& tz) {
    auto zone = system_zone(tz);
    if (!zone) {
        return time_point_cast<core::time_point::duration>(sys_days{w.date} + minutes{w.minutes});
    }
    scoped_tz guard(*zone);
    std::tm tm{};
    tm.tm_year = static_cast<int>(w.date.year()) - 1900;
    tm.tm_mon = static_cast<int>(static_cast<unsigned>(w.date.month())) - 1;
    tm.tm_mday = static_cast<int>(static_cast<unsigned>(w.date.day()));
    tm.tm_hour = w.minutes / 60;
    tm.tm_min = w.minutes % 60;
    tm.tm_isdst = -1;  // let the zone's rules decide whether DST applies
    return core::time_point{seconds{std::mktime(&tm)}};
}

/// The wall-clock reading of `t` in zone `tz` (to the minute).
wall_time to_wall(core::time_point t, const std::string& tz) {
    auto zone = system_zone(tz);
    if (!zone) {
        auto day = floor<days>(t);
        return {year_month_day{day}, static_cast<int>(duration_cast<minutes>(t - day).count())};
    }
    scoped_tz guard(*zone);
    std::time_t secs =
        system_clock::to_time_t(time_point_cast<system_clock::duration>(floor<seconds>(t)));
    std::tm tm{};
    ::localtime_r(&secs, &tm);
    return {year_month_day{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                           day{static_cast<unsigned>(tm.tm_mday)}},
            tm.tm_hour * 60 + tm.tm_min};
}

std::optional<int> parse_int(std::string_view s) {
    int v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) {
        return std::nullopt;
    }
    return v;
}

/// "HH:MM" → minutes after midnight.
std::optional<int> parse_clock(std::string_view s) {
    if (s.size() != 5 || s[2] != ':') {
        return std::nullopt;
    }
    auto h = parse_int(s.substr(0, 2));
    auto m = parse_int(s.substr(3, 2));
    if (!h || !m || *h > 23 || *m > 59) {
        return std::nullopt;
    }
    return *h * 60 + *m;
}

/// "YYYY-MM-DDTHH:MM" or "YYYY-MM-DD" (00:00, or the end of that day when `is_end`).
std::optional<wall_time> parse_date_time(std::string_view s, bool is_end) {
    if (s.size() < 10 || s[4] != '-' || s[7] != '-') {
        return std::nullopt;
    }
    auto y = parse_int(s.substr(0, 4));
    auto m = parse_int(s.substr(5, 2));
    auto d = parse_int(s.substr(8, 2));
    if (!y || !m || !d) {
        return std::nullopt;
    }
    year_month_day date{year{*y}, month{static_cast<unsigned>(*m)}, day{static_cast<unsigned>(*d)}};
    if (!date.ok()) {
        return std::nullopt;
    }
    if (s.size() == 10) {
        if (is_end) {
            return wall_time{year_month_day{sys_days{date} + days{1}}, 0};
        }
        return wall_time{date, 0};
    }
    if (s.size() != 16 || (s[10] != 'T' && s[10] != ' ')) {
        return std::nullopt;
    }
    auto clock = parse_clock(s.substr(11));
    if (!clock) {
        return std::nullopt;
    }
    return wall_time{date, *clock};
}

constexpr std::array<std::string_view, 7> day_keys{"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
constexpr std::array<std::string_view, 7> day_names{"Sun", "Mon", "Tue", "Wed",
                                                    "Thu", "Fri", "Sat"};

/// Index into day_keys (0 = Sunday, as std::chrono::weekday), or nullopt for unknown names.
std::optional<unsigned> weekday_index(std::string_view key) {
    for (unsigned i = 0; i < day_keys.size(); ++i) {
        if (day_keys[i] == key) {
            return i;
        }
    }
    return std::nullopt;
}

std::string format_wall(const wall_time& w) {
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", static_cast<int>(w.date.year()),
                       static_cast<unsigned>(w.date.month()), static_cast<unsigned>(w.date.day()),
                       w.minutes / 60, w.minutes % 60);
}

std::string format_clock(int minutes_of_day) {
    return fmt::format("{:02}:{:02}", minutes_of_day / 60, minutes_of_day % 60);
}

std::string zone_label(const std::string& tz) {
    return tz.empty() ? std::string("UTC") : tz;
}

std::optional<freeze_hit> absolute_hit(const core::freeze_window& w, core::time_point now) {
    auto from = parse_date_time(w.from, false);
    auto to = parse_date_time(w.to, true);
    if (!from || !to) {
        return std::nullopt;
    }
    auto start = to_utc(*from, w.timezone);
    auto end = to_utc(*to, w.timezone);
    if (now < start || now >= end) {
        return std::nullopt;
    }
    return freeze_hit{w.name, end,
                      fmt::format("freeze `{}` ({} – {} {})", w.name, format_wall(*from),
                                  format_wall(*to), zone_label(w.timezone))};
}

std::optional<freeze_hit> weekly_hit(const core::freeze_window& w, core::time_point now) {
    auto start_min = parse_clock(w.start_time);
    auto end_min = parse_clock(w.end_time);
    if (!start_min || !end_min) {
        return std::nullopt;
    }
    const bool overnight = *end_min <= *start_min;
    const auto local_now = to_wall(now, w.timezone);
    // An occurrence lasts less than a day, so only one that started today or yesterday (local
    // dates) can be in force now.
    for (int back : {0, 1}) {
        const sys_days start_day = sys_days{local_now.date} - days{back};
        const unsigned wd = weekday{start_day}.c_encoding();
        const bool listed = std::ranges::any_of(
            w.days, [&](const std::string& d) { return weekday_index(d) == wd; });
        if (!listed) {
            continue;
        }
        const wall_time from{year_month_day{start_day}, *start_min};
        const sys_days end_day = overnight ? start_day + days{1} : start_day;
        const wall_time to{year_month_day{end_day}, *end_min};
        const auto start = to_utc(from, w.timezone);
        const auto end = to_utc(to, w.timezone);
        if (now < start || now >= end) {
            continue;
        }
        return freeze_hit{
            w.name, end,
            fmt::format("weekly freeze `{}` ({} {} – {} {} {})", w.name, day_names[wd],
                        format_clock(*start_min), day_names[weekday{end_day}.c_encoding()],
                        format_clock(*end_min), zone_label(w.timezone))};
    }
    return std::nullopt;
}

}  // namespace

std::string mention(std::string_view id) {
    if (id == "*") {
        return "anyone";
    }
    if (id.starts_with('S')) {
        return fmt::format("<!subteam^{}>", id);
    }
    if (id.starts_with('U') || id.starts_with('W')) {
        return fmt::format("<@{}>", id);
    }
    return std::string(id);
}

std::string mentions(const std::vector<std::string>& ids) {
    std::string out;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) {
            out += i + 1 == ids.size() ? " or " : ", ";
        }
        out += mention(ids[i]);
    }
    return out;
}

boost::asio::awaitable<principal> principal_of(directory& people, core::logger& log,
                                               std::string user) {
    principal p{user, {}};
    auto groups = co_await people.groups_of(user);
    if (groups) {
        p.groups = std::move(*groups);
    } else {
        log.warn("groups_unavailable", {{"user", user}, {"error", groups.error().message}});
    }
    co_return p;
}

bool matches(const principal& who, const std::vector<std::string>& ids) {
    if (contains(ids, "*") || (!who.user.empty() && contains(ids, who.user))) {
        return true;
    }
    return std::ranges::any_of(who.groups, [&](const std::string& g) { return contains(ids, g); });
}

core::result<void> may_deploy(const principal& who, const core::service_config& svc,
                              const core::environment_config& env) {
    const auto& deployers = env.policy.deployers;
    if (matches(who, deployers)) {
        return core::ok();
    }
    if (deployers.empty()) {
        return core::make_error(
            core::errc::permission_denied,
            fmt::format("Nobody may deploy to {}: its policy lists no deployers. To change that, "
                        "ask {}.",
                        env.name, owners_or_maintainers(svc)));
    }
    return core::make_error(
        core::errc::permission_denied,
        fmt::format("You may not deploy {} to {}: deploys there are for {}. Ask one of them to "
                    "deploy it for you; to be added to the deployers, ask {}.",
                    svc.name, env.name, mentions(deployers), owners_or_maintainers(svc)));
}

std::vector<std::string> approvers_for(const core::service_config& svc,
                                       const core::environment_config& env) {
    const auto& listed = env.policy.approval.approvers;
    return listed.empty() ? svc.owners : listed;
}

core::result<void> may_approve(const principal& who, std::string_view requester,
                               const core::service_config& svc,
                               const core::environment_config& env) {
    const auto approvers = approvers_for(svc, env);
    if (!requester.empty() && who.user == requester && !env.policy.approval.allow_self_approval) {
        const std::string others =
            contains(approvers, "*") ? std::string("anyone else") : mentions(approvers);
        return core::make_error(
            core::errc::permission_denied,
            approvers.empty()
                ? fmt::format("You asked for this deploy, so someone else has to approve it, but "
                              "{} in {} has no approvers and no owners; ask {} to name some.",
                              svc.name, env.name, owners_or_maintainers(svc))
                : fmt::format("You asked for this deploy, so someone else has to approve it: {}.",
                              others));
    }
    if (matches(who, approvers)) {
        return core::ok();
    }
    if (approvers.empty()) {
        return core::make_error(
            core::errc::permission_denied,
            fmt::format("Nobody can approve deploys of {} to {}: the policy names no approvers "
                        "and the service has no owners. To change that, ask {}.",
                        svc.name, env.name, owners_or_maintainers(svc)));
    }
    return core::make_error(core::errc::permission_denied,
                            fmt::format("You are not an approver for {} in {}. {} can approve it.",
                                        svc.name, env.name, mentions(approvers)));
}

std::optional<freeze_hit> active_freeze(const core::environment_config& env, core::time_point now) {
    for (const auto& w : env.policy.freezes) {
        auto hit = w.weekly() ? weekly_hit(w, now) : absolute_hit(w, now);
        if (hit) {
            return hit;
        }
    }
    return std::nullopt;
}

core::result<void> may_override_freeze(const principal& who, const core::environment_config& env,
                                       const std::vector<std::string>& bot_admins) {
    if (matches(who, env.policy.freeze_overriders) || matches(who, bot_admins)) {
        return core::ok();
    }
    std::vector<std::string> allowed = env.policy.freeze_overriders;
    for (const auto& a : bot_admins) {
        if (!contains(allowed, a)) {
            allowed.push_back(a);
        }
    }
    if (allowed.empty()) {
        return core::make_error(
            core::errc::permission_denied,
            fmt::format("Nobody may deploy to {} during a freeze: it names no "
                        "`freeze_overriders` and the bot has no admins. Wait until the freeze "
                        "ends.",
                        env.name));
    }
    return core::make_error(
        core::errc::permission_denied,
        fmt::format("You may not deploy to {} during a freeze. Only {} may override it: ask one "
                    "of them, or wait until the freeze ends.",
                    env.name, mentions(allowed)));
}

}  // namespace tugboat::commands
