#include "bot/config_loader.hpp"

#include "core/text.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <regex>
#include <set>
#include <sstream>

namespace tugboat::bot {

namespace {

namespace fs = std::filesystem;
using namespace std::string_view_literals;

// 1-based position in the config file; 0 = unknown.
struct pos {
    int line = 0;
    int column = 0;
};

pos pos_of(const YAML::Node& n) {
    if (!n.IsDefined()) {
        return {};
    }
    const YAML::Mark m = n.Mark();
    if (m.is_null()) {
        return {};
    }
    return {m.line + 1, m.column + 1};
}

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) {
            out += sep;
        }
        out += item;
    }
    return out;
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

bool is_upper_alnum(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Names used in this config and typed in chat commands: no spaces, no upper case.
bool valid_name(std::string_view s) {
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    return !s.empty() && s.size() <= 63 && alnum(s.front()) && std::ranges::all_of(s, [&](char c) {
        return alnum(c) || c == '-' || c == '_' || c == '.';
    });
}

// Kubernetes DNS label (namespaces, containers) or subdomain (deployments).
bool valid_dns(std::string_view s, bool allow_dots) {
    if (s.empty() || s.size() > (allow_dots ? 253U : 63U)) {
        return false;
    }
    auto ok = [allow_dots](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
               (allow_dots && c == '.');
    };
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    return std::ranges::all_of(s, ok) && alnum(s.front()) && alnum(s.back());
}

bool valid_env_name(std::string_view s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front()))) {
        return false;
    }
    return std::ranges::all_of(
        s, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool slack_id(std::string_view s, std::string_view first_letters) {
    return s.size() >= 3 && s.size() <= 24 && first_letters.find(s.front()) != s.npos &&
           std::ranges::all_of(s.substr(1), is_upper_alnum);
}

bool looks_like_slack_token(std::string_view s) {
    for (std::size_t i = 0; i + 5 <= s.size(); ++i) {
        auto rest = s.substr(i);
        if (rest.starts_with("xapp-")) {
            return true;
        }
        if (rest.starts_with("xox") && rest[3] >= 'a' && rest[3] <= 'z' && rest[4] == '-') {
            return true;
        }
    }
    return false;
}

// Every `{word}` in `text` that is not one of `allowed`.
std::vector<std::string> unknown_placeholders(std::string_view text,
                                              std::span<const std::string> allowed) {
    std::vector<std::string> out;
    for (std::size_t open = text.find('{'); open != text.npos; open = text.find('{', open + 1)) {
        auto close = text.find('}', open + 1);
        if (close == text.npos) {
            break;
        }
        auto word = text.substr(open + 1, close - open - 1);
        bool identifier = !word.empty() && std::ranges::all_of(word, [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
        });
        if (identifier && std::ranges::find(allowed, word) == allowed.end()) {
            out.emplace_back(word);
        }
    }
    return out;
}

const std::vector<std::string>& job_placeholders() {
    static const std::vector<std::string> v{"service", "env", "version", "deploy_id"};
    return v;
}

// Keys that are valid somewhere else: a better hint than "unknown" when one is misplaced.
std::string_view belongs_under(std::string_view key) {
    static const std::pair<std::string_view, std::string_view> table[] = {
        {"deployers", "`policy:` of an environment"},
        {"readers", "`policy:` of an environment"},
        {"approval", "`policy:` of an environment"},
        {"requires_success_in", "`policy:` of an environment"},
        {"freezes", "`policy:` of an environment"},
        {"freeze_overriders", "`policy:` of an environment"},
        {"when_locked", "`policy:` of an environment"},
        {"auto_rollback", "`policy:` of an environment"},
        {"broadcast_failures", "`policy:` of an environment"},
        {"logs_require_grant", "`policy:` of an environment"},
        {"bot_token", "`slack:`"},
        {"app_token", "`slack:`"},
        {"signing_secret", "`slack:`"},
        {"api_url", "`slack:`"},
        {"connections", "`slack:`"},
        {"http_listen", "`slack:`"},
        {"database", "`bot:`"},
        {"log_level", "`bot:`"},
        {"log_format", "`bot:`"},
        {"kubeconfig", "a cluster under `clusters:`"},
        {"in_cluster", "a cluster under `clusters:`"},
        {"deployment", "a workload under a service's `workloads:`"},
        {"roles", "`access:`"},
        {"approvals_channel", "`access:`"},
    };
    for (const auto& [k, where] : table) {
        if (k == key) {
            return where;
        }
    }
    return {};
}

std::optional<int> parse_int(std::string_view s) {
    int v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

std::optional<double> parse_double(std::string_view s) {
    // std::from_chars for double is in libstdc++ 11+, but istringstream keeps this portable.
    std::istringstream in{std::string(s)};
    in.imbue(std::locale::classic());
    double v = 0;
    if (!(in >> v) || !in.eof()) {
        return std::nullopt;
    }
    return v;
}

// "HH:MM" → normalized "HH:MM", or nullopt.
std::optional<std::string> parse_clock(std::string_view s) {
    auto colon = s.find(':');
    if (colon == s.npos || colon == 0 || colon > 2 || s.size() - colon - 1 != 2) {
        return std::nullopt;
    }
    auto h = parse_int(s.substr(0, colon));
    auto m = parse_int(s.substr(colon + 1));
    if (!h || !m || *h < 0 || *h > 23 || *m < 0 || *m > 59) {
        return std::nullopt;
    }
    return fmt::format("{:02}:{:02}", *h, *m);
}

// "YYYY-MM-DD" or "YYYY-MM-DD[T ]HH:MM" → "YYYY-MM-DDTHH:MM". A bare date is the start of that
// day, or with `end_of_day` the start of the next one (so `to: 2026-01-04` includes that day).
std::optional<std::string> parse_date_time(std::string_view s, bool end_of_day) {
    if (s.size() < 10 || s[4] != '-' || s[7] != '-') {
        return std::nullopt;
    }
    auto y = parse_int(s.substr(0, 4));
    auto mo = parse_int(s.substr(5, 2));
    auto d = parse_int(s.substr(8, 2));
    if (!y || !mo || !d) {
        return std::nullopt;
    }
    std::chrono::year_month_day date{std::chrono::year{*y},
                                     std::chrono::month{static_cast<unsigned>(*mo)},
                                     std::chrono::day{static_cast<unsigned>(*d)}};
    if (!date.ok()) {
        return std::nullopt;
    }
    std::string time = "00:00";
    if (s.size() > 10) {
        if (s[10] != 'T' && s[10] != ' ') {
            return std::nullopt;
        }
        auto clock = parse_clock(s.substr(11));
        if (!clock) {
            return std::nullopt;
        }
        time = *clock;
    } else if (end_of_day) {
        date = std::chrono::year_month_day{std::chrono::sys_days{date} + std::chrono::days{1}};
    }
    return fmt::format("{:04}-{:02}-{:02}T{}", static_cast<int>(date.year()),
                       static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                       time);
}

// Weekday names and ranges ("fri", "Friday", "mon-fri") → indexes 0 (mon) … 6 (sun).
std::optional<std::vector<int>> parse_days(std::string_view s) {
    static const std::string_view shorts[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    static const std::string_view longs[] = {"monday", "tuesday",  "wednesday", "thursday",
                                             "friday", "saturday", "sunday"};
    auto one = [&](std::string_view w) -> std::optional<int> {
        std::string l = core::to_lower(core::trim(w));
        for (int i = 0; i < 7; ++i) {
            if (l == shorts[i] || l == longs[i]) {
                return i;
            }
        }
        return std::nullopt;
    };
    auto dash = s.find('-');
    if (dash == s.npos) {
        auto d = one(s);
        if (!d) {
            return std::nullopt;
        }
        return std::vector<int>{*d};
    }
    auto a = one(s.substr(0, dash));
    auto b = one(s.substr(dash + 1));
    if (!a || !b) {
        return std::nullopt;
    }
    std::vector<int> out;
    for (int d = *a;; d = (d + 1) % 7) {
        out.push_back(d);
        if (d == *b) {
            break;
        }
    }
    return out;
}

bool valid_timezone(std::string_view tz) {
    if (tz == "UTC") {
        return true;
    }
    if (tz.empty() || tz.find("..") != tz.npos || tz.front() == '/' ||
        !std::ranges::all_of(tz, [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' ||
                   c == '-' || c == '+';
        })) {
        return false;
    }
    // The system tz database is the authority when present; without it, accept the shape.
    const fs::path db = "/usr/share/zoneinfo";
    std::error_code ec;
    if (!fs::is_directory(db, ec)) {
        return true;
    }
    return fs::is_regular_file(db / std::string(tz), ec);
}

std::optional<std::string> read_text_file(const fs::path& p, std::string& why) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
        why = "it is a folder";
        return std::nullopt;
    }
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        why = std::strerror(errno);  // NOLINT(concurrency-mt-unsafe): single-threaded start-up
        return std::nullopt;
    }
    std::ostringstream s;
    s << in.rdbuf();
    return std::move(s).str();
}

// The value under `key` in `map`, or a null node. (yaml-cpp's const operator[] returns an
// invalid node for a missing key, and asking that node anything throws.)
YAML::Node child(const YAML::Node& map, std::string_view key) {
    if (!map.IsMap()) {
        return YAML::Node{};
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == key) {
            return it->second;
        }
    }
    return YAML::Node{};
}

std::string to_upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
    return std::ranges::find(v, s) != v.end();
}

// One key/value pair of a YAML mapping.
struct field {
    std::string key;
    YAML::Node value;
    pos key_pos;
    pos value_pos;  // the key's position when the value is empty
};

class loader;

// Walks one mapping: reports duplicate keys at construction and, in finish(), every key that no
// get() asked for. The known keys are exactly those asked for, so the list cannot drift from
// the code that reads them.
class map_reader {
public:
    map_reader(loader& l, const YAML::Node& map, std::string where, pos at,
               std::string_view item_noun = {});

    const field* get(std::string_view key) {
        if (!contains(known_, key)) {
            known_.emplace_back(key);
        }
        for (const auto& f : fields_) {
            if (f.key == key) {
                return &f;
            }
        }
        return nullptr;
    }
    void finish();
    const std::vector<field>& fields() const { return fields_; }
    const std::string& where() const { return where_; }
    pos at() const { return at_; }

private:
    loader& l_;
    std::string where_;
    pos at_;
    std::vector<field> fields_;
    std::vector<std::string> known_;
};

class loader {
public:
    loader(std::string file, fs::path base, const env_lookup& env, load_options options,
           std::vector<std::string> lines)
        : file_(std::move(file)),
          base_(std::move(base)),
          env_(env),
          opt_(options),
          lines_(std::move(lines)) {}

    core::config cfg;
    std::vector<config_problem> problems;

    void report(pos p, std::string message, std::string hint) {
        problems.push_back({file_, p.line, p.column, std::move(message), std::move(hint)});
    }

    void load(const YAML::Node& root);
    void report_syntax(const YAML::Mark& mark, const std::string& msg);

private:
    // --- typed readers: each reports its own problems and leaves the default on failure ---

    std::optional<std::string> scalar(const YAML::Node& v, pos p, std::string_view what);
    std::optional<std::string> expand(std::string_view in, pos p);
    std::optional<std::string> text(map_reader& r, std::string_view key, bool required,
                                    std::string_view example = {});
    void missing(map_reader& r, const field* f, std::string_view key, std::string_view example);
    void boolean(map_reader& r, std::string_view key, bool& out);
    void integer(map_reader& r, std::string_view key, int& out, int min, int max);
    void duration(map_reader& r, std::string_view key, std::chrono::seconds& out,
                  std::chrono::seconds max);
    void choice(map_reader& r, std::string_view key, std::string& out,
                std::initializer_list<std::string_view> allowed);

    struct item {
        std::string value;
        pos at;
    };
    std::optional<std::vector<item>> list(map_reader& r, std::string_view key,
                                          bool* present = nullptr);
    std::optional<std::vector<item>> list_of(const YAML::Node& v, pos at, std::string_view what);
    std::vector<std::string> principals(map_reader& r, std::string_view key, bool allow_everyone,
                                        bool* present = nullptr);
    bool expect_map(const field& f, std::string_view what, std::string_view example);
    bool check_ref(std::string_view name, pos at, const std::vector<std::string>& defined,
                   std::string_view what, std::string_view section, std::string_view owner);
    void check_name(const field& f, std::string_view noun);
    void check_dns(std::string_view v, pos at, std::string_view what, bool allow_dots);
    std::string resolve_path(std::string_view p) const;
    std::optional<std::string> path(map_reader& r, std::string_view key, bool required,
                                    bool must_exist, std::string_view example = {});
    bool check_file(const std::string& p, pos at, std::string_view what);
    void ca_file(map_reader& r, std::string& out);
    std::optional<std::string> check_url(std::string url, pos at, std::string_view what);
    void secret_field(map_reader& r, std::string_view key, core::secret& out, bool required,
                      std::string_view example_var, std::string_view override_var = {},
                      std::string_view prefix = {}, std::string_view prefix_hint = {});

    // --- sections, loaded definitions first so references can be checked as they are read ---

    void load_channels(const field& f);
    void load_jenkins(const field& f);
    void load_clusters(const field& f);
    void check_kubeconfig(const core::cluster_config& c, pos path_pos, pos context_pos);
    void load_environments(const field& f);
    void load_policy(const field& f, core::environment_config& env);
    void load_approval(const field& f, core::approval_policy& a, const std::string& env);
    void load_freezes(const field& f, std::vector<core::freeze_window>& out,
                      const std::string& env);
    void load_freeze(const YAML::Node& node, pos at, const std::string& where,
                     core::freeze_window& w);
    void check_promotion_cycles();
    void load_services(const field& f);
    void load_parameters(const field* f, core::service_config& s, bool uses_jenkins);
    void load_workloads(const field* f, core::service_config& s, pos service_pos);
    void load_access(const field& f);
    void load_role(const field& f, core::access_role_config& role);
    void check_escalation(const field& f, const core::access_role_config& role);
    void load_faq(const field& f);
    void load_logs(const field& f);
    void load_bot(const field* f);
    void load_slack(const field* f);

    std::string file_;
    fs::path base_;
    const env_lookup& env_;
    load_options opt_;
    std::vector<std::string> lines_;

    // Every name defined, valid or not, so one bad entry does not cascade into "not defined".
    std::vector<std::string> channel_names_;
    std::vector<std::string> jenkins_names_;
    std::vector<std::string> cluster_names_;
    std::vector<std::string> env_names_;
    std::map<std::string, pos> promotion_pos_;
};

map_reader::map_reader(loader& l, const YAML::Node& map, std::string where, pos at,
                       std::string_view item_noun)
    : l_(l), where_(std::move(where)), at_(at) {
    for (auto it = map.begin(); it != map.end(); ++it) {
        // Copies: `it->` yields a proxy that dies at the end of the statement.
        const YAML::Node k = it->first;
        const YAML::Node v = it->second;
        const pos kp = pos_of(k);
        if (!k.IsScalar()) {
            l_.report(kp, fmt::format("{} has a key that is not a plain name", where_),
                      "write keys as plain words followed by a colon, e.g. `name: value`");
            continue;
        }
        const std::string& key = k.Scalar();
        auto first = std::ranges::find(fields_, key, &field::key);
        if (first != fields_.end()) {
            l_.report(kp,
                      item_noun.empty()
                          ? fmt::format("duplicate key `{}` in {} (first at line {})", key, where_,
                                        first->key_pos.line)
                          : fmt::format("{} `{}` is defined twice in {} (first at line {})",
                                        item_noun, key, where_, first->key_pos.line),
                      "remove or rename one of them; only the first would be used");
            continue;
        }
        fields_.push_back({key, v, kp, v.IsNull() ? kp : pos_of(v)});
    }
}

void map_reader::finish() {
    for (const auto& f : fields_) {
        if (contains(known_, f.key)) {
            continue;
        }
        std::string dym = core::did_you_mean(f.key, known_);
        std::string_view home = belongs_under(f.key);
        std::string hint = !home.empty() && dym.empty()
                               ? fmt::format("`{}` belongs under {}", f.key, home)
                               : fmt::format("keys allowed here: {}", join(known_));
        l_.report(f.key_pos, fmt::format("unknown key `{}` in {}.{}", f.key, where_, dym),
                  std::move(hint));
    }
}

// ---------------------------------------------------------------------------------------------
// typed readers

std::optional<std::string> loader::scalar(const YAML::Node& v, pos p, std::string_view what) {
    if (v.IsNull()) {
        return std::string{};
    }
    if (v.IsMap() && v.size() == 1 && v.begin()->second.IsNull()) {
        // `key: {version}` is a YAML mapping, not the text "{version}".
        report(p, fmt::format("{} must be a single value, not a mapping", what),
               fmt::format("quote placeholders: write `\"{{{}}}\"`; unquoted `{{…}}` is a YAML "
                           "mapping",
                           v.begin()->first.Scalar()));
        return std::nullopt;
    }
    if (!v.IsScalar()) {
        report(p,
               fmt::format("{} must be a single value, not a {}", what,
                           v.IsMap() ? "mapping" : "list"),
               "write one value on the same line, e.g. `key: value`");
        return std::nullopt;
    }
    const std::string& raw = v.Scalar();
    if (looks_like_slack_token(raw)) {
        report(p, fmt::format("{} contains what looks like a Slack token", what),
               "secrets must come from the environment or a file: remove it (and rotate it) and "
               "write e.g. `bot_token: {env: SLACK_BOT_TOKEN}` under `slack:`");
        return std::nullopt;
    }
    return expand(raw, p);
}

// `${NAME}`, `${NAME:-default}` (default when unset or empty), `$${` for a literal `${`.
std::optional<std::string> loader::expand(std::string_view in, pos p) {
    std::string out;
    bool ok = true;
    std::size_t i = 0;
    while (i < in.size()) {
        if (in.substr(i).starts_with("$${")) {
            out += "${";
            i += 3;
            continue;
        }
        if (!in.substr(i).starts_with("${")) {
            out += in[i++];
            continue;
        }
        const auto close = in.find('}', i + 2);
        if (close == in.npos) {
            report(p, fmt::format("unterminated `${{` in `{}`", in),
                   "close it with `}`, or write `$${` for a literal `${`");
            return std::nullopt;
        }
        std::string_view body = in.substr(i + 2, close - i - 2);
        std::string_view name = body;
        std::optional<std::string_view> fallback;
        if (auto d = body.find(":-"); d != body.npos) {
            name = body.substr(0, d);
            fallback = body.substr(d + 2);
        }
        i = close + 1;
        if (!valid_env_name(name)) {
            report(p,
                   fmt::format("`${{{}}}` in `{}` does not name an environment variable", body, in),
                   "write `${NAME}` or `${NAME:-default}` with letters, digits and `_`");
            ok = false;
            continue;
        }
        auto value = env_(name);
        if (value && !value->empty()) {
            out += *value;
        } else if (fallback) {
            out += *fallback;
        } else if (value) {
            // Set but empty: the operator chose that.
        } else {
            report(p, fmt::format("environment variable {} is not set (used in `{}`)", name, in),
                   fmt::format("export {}=… before running, or give a default: `${{{}:-…}}`", name,
                               name));
            ok = false;
        }
    }
    if (!ok) {
        return std::nullopt;
    }
    return out;
}

std::optional<std::string> loader::text(map_reader& r, std::string_view key, bool required,
                                        std::string_view example) {
    const field* f = r.get(key);
    if (f == nullptr || f->value.IsNull()) {
        if (required) {
            missing(r, f, key, example);
        }
        return std::nullopt;
    }
    auto v = scalar(f->value, f->value_pos, fmt::format("`{}` in {}", key, r.where()));
    if (v && v->empty() && required) {
        missing(r, f, key, example);
        return std::nullopt;
    }
    return v;
}

void loader::missing(map_reader& r, const field* f, std::string_view key,
                     std::string_view example) {
    std::string hint = example.empty() ? fmt::format("add `{}: …` (see docs/configuration.md)", key)
                                       : fmt::format("add e.g. `{}: {}`", key, example);
    if (f != nullptr && f->key_pos.line > 0 && f->key_pos.line <= static_cast<int>(lines_.size()) &&
        lines_[static_cast<std::size_t>(f->key_pos.line - 1)].find(" #") != std::string::npos) {
        hint += "; note that an unquoted ` #` starts a YAML comment";
    }
    report(f != nullptr ? f->key_pos : r.at(),
           fmt::format("{} {} `{}`", r.where(), f != nullptr ? "has an empty" : "is missing", key),
           std::move(hint));
}

void loader::boolean(map_reader& r, std::string_view key, bool& out) {
    const field* f = r.get(key);
    if (f == nullptr) {
        return;
    }
    auto v = scalar(f->value, f->value_pos, fmt::format("`{}` in {}", key, r.where()));
    if (!v) {
        return;
    }
    if (*v == "true") {
        out = true;
    } else if (*v == "false") {
        out = false;
    } else {
        report(f->value_pos,
               fmt::format("`{}` in {} must be true or false, not `{}`", key, r.where(), *v),
               fmt::format("write `{}: true` or `{}: false`", key, key));
    }
}

void loader::integer(map_reader& r, std::string_view key, int& out, int min, int max) {
    const field* f = r.get(key);
    if (f == nullptr) {
        return;
    }
    auto v = scalar(f->value, f->value_pos, fmt::format("`{}` in {}", key, r.where()));
    if (!v) {
        return;
    }
    auto n = parse_int(*v);
    if (!n || *n < min || *n > max) {
        report(f->value_pos,
               fmt::format("`{}` in {} must be a whole number from {} to {}, not `{}`", key,
                           r.where(), min, max, *v),
               fmt::format("write e.g. `{}: {}`", key, std::clamp(out, min, max)));
        return;
    }
    out = *n;
}

std::string compact_duration(std::chrono::seconds d) {
    const auto s = d.count();
    if (s % 86400 == 0) {
        return fmt::format("{}d", s / 86400);
    }
    if (s % 3600 == 0) {
        return fmt::format("{}h", s / 3600);
    }
    if (s % 60 == 0) {
        return fmt::format("{}m", s / 60);
    }
    return fmt::format("{}s", s);
}

void loader::duration(map_reader& r, std::string_view key, std::chrono::seconds& out,
                      std::chrono::seconds max) {
    const field* f = r.get(key);
    if (f == nullptr) {
        return;
    }
    auto v = scalar(f->value, f->value_pos, fmt::format("`{}` in {}", key, r.where()));
    if (!v) {
        return;
    }
    auto d = core::parse_duration(*v);
    if (!d) {
        report(f->value_pos, fmt::format("`{}` in {} is not a duration: `{}`", key, r.where(), *v),
               fmt::format("write a number with a unit (s, m, h, d, w), e.g. `{}: {}`", key,
                           compact_duration(out)));
        return;
    }
    if (*d > max) {
        report(f->value_pos,
               fmt::format("`{}` in {} is {}, more than the limit of {}", key, r.where(),
                           compact_duration(*d), compact_duration(max)),
               fmt::format("use at most `{}: {}`", key, compact_duration(max)));
        return;
    }
    out = *d;
}

void loader::choice(map_reader& r, std::string_view key, std::string& out,
                    std::initializer_list<std::string_view> allowed) {
    const field* f = r.get(key);
    if (f == nullptr) {
        return;
    }
    auto v = scalar(f->value, f->value_pos, fmt::format("`{}` in {}", key, r.where()));
    if (!v) {
        return;
    }
    std::vector<std::string> names(allowed.begin(), allowed.end());
    if (!contains(names, *v)) {
        report(f->value_pos,
               fmt::format("`{}` in {} must be {}, not `{}`.{}", key, r.where(),
                           join(names, " or "), *v, core::did_you_mean(*v, names)),
               fmt::format("write e.g. `{}: {}`", key, names.front()));
        return;
    }
    out = *v;
}

std::optional<std::vector<loader::item>> loader::list(map_reader& r, std::string_view key,
                                                      bool* present) {
    const field* f = r.get(key);
    if (present != nullptr) {
        *present = f != nullptr;
    }
    if (f == nullptr || f->value.IsNull()) {
        return std::nullopt;
    }
    return list_of(f->value, f->value_pos, fmt::format("`{}` in {}", key, r.where()));
}

std::optional<std::vector<loader::item>> loader::list_of(const YAML::Node& v, pos at,
                                                         std::string_view what) {
    std::vector<item> out;
    if (v.IsScalar()) {
        auto s = scalar(v, at, what);
        if (!s) {
            return std::nullopt;
        }
        out.push_back({*s, at});
        return out;
    }
    if (!v.IsSequence()) {
        report(at, fmt::format("{} must be a list", what),
               "write `[a, b]`, or one `- item` per line");
        return std::nullopt;
    }
    bool ok = true;
    for (const auto& e : v) {
        auto s = scalar(e, pos_of(e), fmt::format("an entry of {}", what));
        if (!s) {
            ok = false;
            continue;
        }
        out.push_back({*s, pos_of(e)});
    }
    if (!ok) {
        return std::nullopt;
    }
    return out;
}

std::vector<std::string> loader::principals(map_reader& r, std::string_view key,
                                            bool allow_everyone, bool* present) {
    std::vector<std::string> out;
    auto items = list(r, key, present);
    if (!items) {
        return out;
    }
    for (const auto& it : *items) {
        if (it.value == "*" && allow_everyone) {
            out.push_back(it.value);
            continue;
        }
        if (slack_id(it.value, "UWS")) {
            out.push_back(it.value);
            continue;
        }
        std::string hint;
        if (it.value == "*") {
            hint = "`*` (everyone) is not allowed here; list people or groups by ID";
        } else if (it.value.find('@') != std::string::npos) {
            hint =
                "handles and e-mail addresses change; use the member ID (profile → ⋮ → Copy "
                "member ID) or the user group's ID (S…)";
        } else if (slack_id(to_upper(it.value), "UWS")) {
            hint = fmt::format("Slack IDs are upper-case: write `{}`", to_upper(it.value));
        } else {
            hint = "use the member ID (profile → ⋮ → Copy member ID) or the user group's ID (S…)";
        }
        if (allow_everyone && it.value != "*") {
            hint += R"(; write "*" (quoted) for everyone)";
        }
        report(it.at,
               fmt::format("`{}` in {}: `{}` is not a Slack user ID (U…/W…) or user-group ID (S…)",
                           key, r.where(), it.value),
               std::move(hint));
    }
    return out;
}

bool loader::expect_map(const field& f, std::string_view what, std::string_view example) {
    if (f.value.IsMap()) {
        return true;
    }
    if (f.value.IsNull()) {
        report(f.key_pos, fmt::format("{} is empty", what),
               fmt::format("fill it in, e.g. {}, or remove it", example));
        return false;
    }
    report(f.value_pos,
           fmt::format("{} must be a mapping (`key: value` lines indented below it), not a {}",
                       what, f.value.IsSequence() ? "list" : "single value"),
           fmt::format("write e.g. {}", example));
    return false;
}

bool loader::check_ref(std::string_view name, pos at, const std::vector<std::string>& defined,
                       std::string_view what, std::string_view section, std::string_view owner) {
    if (contains(defined, name)) {
        return true;
    }
    report(at,
           fmt::format("{}: {} `{}` is not defined under `{}`.{}", owner, what, name, section,
                       core::did_you_mean(name, defined)),
           defined.empty()
               ? fmt::format("add a `{}:` section that defines `{}`", section, name)
               : fmt::format("define it under `{}:`, or use one of: {}", section, join(defined)));
    return false;
}

void loader::check_name(const field& f, std::string_view noun) {
    if (!valid_name(f.key)) {
        report(f.key_pos, fmt::format("{} name `{}` is not a valid name", noun, f.key),
               "names are typed in chat commands: use lower-case letters, digits, `-`, `_` and "
               "`.`, starting with a letter or digit (at most 63 characters)");
    }
}

void loader::check_dns(std::string_view v, pos at, std::string_view what, bool allow_dots) {
    if (!valid_dns(v, allow_dots)) {
        report(at, fmt::format("{} `{}` is not a valid Kubernetes name", what, v),
               allow_dots ? "use lower-case letters, digits, `-` and `.`, starting and ending "
                            "with a letter or digit"
                          : "use lower-case letters, digits and `-`, starting and ending with a "
                            "letter or digit, at most 63 characters");
    }
}

std::string loader::resolve_path(std::string_view p) const {
    if (p.empty() || p == ":memory:") {
        return std::string(p);
    }
    fs::path out{std::string(p)};
    if (out.is_relative()) {
        out = base_ / out;
    }
    return out.lexically_normal().string();
}

std::optional<std::string> loader::path(map_reader& r, std::string_view key, bool required,
                                        bool must_exist, std::string_view example) {
    auto v = text(r, key, required, example);
    if (!v || v->empty()) {
        return std::nullopt;
    }
    std::string resolved = resolve_path(*v);
    if (must_exist && opt_.check_files) {
        check_file(resolved, r.get(key)->value_pos, fmt::format("`{}` in {}", key, r.where()));
    }
    return resolved;
}

bool loader::check_file(const std::string& p, pos at, std::string_view what) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
        report(at, fmt::format("{}: file `{}` does not exist", what, p),
               "fix the path (relative paths start at the config file's folder), or use "
               "`check-config --offline` on a machine without the bot's files");
        return false;
    }
    std::string why;
    if (!read_text_file(p, why)) {
        report(at, fmt::format("{}: `{}` cannot be read: {}", what, p, why),
               "point it at a file the bot's user may read");
        return false;
    }
    return true;
}

void loader::ca_file(map_reader& r, std::string& out) {
    auto p = path(r, "ca_file", false, true);
    if (!p) {
        return;
    }
    out = *p;
    std::string why;
    std::error_code ec;
    if (!opt_.check_files || !fs::is_regular_file(*p, ec)) {
        return;
    }
    auto content = read_text_file(*p, why);
    if (content && content->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
        report(r.get("ca_file")->value_pos,
               fmt::format("`ca_file` in {}: `{}` holds no PEM certificate", r.where(), *p),
               "use a PEM bundle (blocks starting with -----BEGIN CERTIFICATE-----)");
    }
}

std::optional<std::string> loader::check_url(std::string url, pos at, std::string_view what) {
    std::string_view rest = url;
    const bool tls = rest.starts_with("https://");
    if (!tls && !rest.starts_with("http://")) {
        report(at, fmt::format("{} must start with https://, not `{}`", what, url),
               "write the full base URL, e.g. `https://jenkins.example.com/`");
        return std::nullopt;
    }
    rest.remove_prefix(tls ? 8 : 7);
    std::string_view authority = rest.substr(0, rest.find('/'));
    if (authority.find('@') != authority.npos) {
        report(at, fmt::format("{} contains credentials", what),
               "remove `user:password@` (and rotate the password); credentials belong in "
               "`user` + `api_token: {env: …}`");
        return std::nullopt;
    }
    std::string_view host = authority.starts_with('[')
                                ? authority.substr(0, authority.find(']') + 1)
                                : authority.substr(0, authority.find(':'));
    if (host.empty()) {
        report(at, fmt::format("{} has no host: `{}`", what, url),
               "write the full base URL, e.g. `https://jenkins.example.com/`");
        return std::nullopt;
    }
    const bool loopback = host == "localhost" || host.starts_with("127.") || host == "[::1]";
    if (!tls && !loopback) {
        report(at, fmt::format("{} uses plain http:// to `{}`", what, host),
               "use https:// (plain HTTP is allowed only for localhost and 127.0.0.1); name an "
               "internal CA with `ca_file:` if needed");
        return std::nullopt;
    }
    if (!url.ends_with('/')) {
        url += '/';
    }
    return url;
}

void loader::secret_field(map_reader& r, std::string_view key, core::secret& out, bool required,
                          std::string_view example_var, std::string_view override_var,
                          std::string_view prefix, std::string_view prefix_hint) {
    const field* f = r.get(key);
    const std::string what = fmt::format("`{}` in {}", key, r.where());
    std::optional<std::string> overridden;
    if (!override_var.empty()) {
        auto v = env_(override_var);
        if (v && !v->empty()) {
            overridden = std::move(v);
        }
    }

    core::secret_source src;
    const bool written = f != nullptr && !f->value.IsNull();
    if (written) {
        if (f->value.IsScalar()) {
            report(f->value_pos,
                   fmt::format("{} is written inline; secrets must come from the environment or "
                               "a file: write `{}: {{env: {}}}`",
                               what, key, example_var),
                   fmt::format("or `{}: {{file: /run/secrets/{}}}`. A secret in the config file "
                               "leaks through backups, diffs and screen shares: rotate this one",
                               key, core::to_lower(example_var)));
            return;
        }
        if (!f->value.IsMap()) {
            report(f->value_pos,
                   fmt::format("{} must be `{{env: NAME}}` or `{{file: PATH}}`", what),
                   fmt::format("write `{}: {{env: {}}}`", key, example_var));
            return;
        }
        map_reader sr(*this, f->value, what, f->key_pos);
        auto env = text(sr, "env", false);
        auto file = text(sr, "file", false);
        sr.finish();
        const bool has_env = env && !env->empty();
        const bool has_file = file && !file->empty();
        if (has_env == has_file) {
            report(f->value_pos,
                   fmt::format("{} must name exactly one source, `env` or `file`", what),
                   fmt::format("write `{}: {{env: {}}}` or `{}: {{file: /run/secrets/…}}`", key,
                               example_var, key));
            return;
        }
        if (has_env && !valid_env_name(*env)) {
            report(f->value_pos,
                   fmt::format("{}: `{}` is not an environment variable name", what, *env),
                   fmt::format("use letters, digits and `_`, e.g. `{}`", example_var));
            return;
        }
        src.env = has_env ? *env : std::string{};
        src.file = has_file ? resolve_path(*file) : std::string{};
    }

    if (overridden) {
        src = core::secret_source{std::string(override_var), {}};
    } else if (!written) {
        // With --offline a key that has an environment override may legitimately be absent.
        if (required && (opt_.resolve_secrets || override_var.empty())) {
            report(f != nullptr ? f->key_pos : r.at(),
                   fmt::format("{} is missing `{}`", r.where(), key),
                   fmt::format(
                       "add `{}: {{env: {}}}`{}", key, example_var,
                       override_var.empty()
                           ? std::string{}
                           : fmt::format(", or set {} in the bot's environment", override_var)));
        }
        return;
    }
    if (!opt_.resolve_secrets) {
        out = core::secret({}, std::move(src));
        return;
    }

    std::string value;
    const pos at = f != nullptr ? f->value_pos : pos{};
    if (overridden) {
        value = *overridden;
    } else if (!src.env.empty()) {
        auto v = env_(src.env);
        if (!v || v->empty()) {
            report(at,
                   fmt::format("{}: environment variable {} is {}", what, src.env,
                               v ? "empty" : "not set"),
                   fmt::format("export {}=… for the bot; `check-config --offline` skips secrets",
                               src.env));
            return;
        }
        value = *v;
    } else {
        std::string why;
        auto content = read_text_file(src.file, why);
        if (!content) {
            report(at, fmt::format("{}: cannot read secret file `{}`: {}", what, src.file, why),
                   "check the path and that the bot's user may read it; `check-config --offline` "
                   "skips secrets");
            return;
        }
        value = std::string(core::trim(*content));
        if (value.empty()) {
            report(at, fmt::format("{}: secret file `{}` is empty", what, src.file),
                   "write the secret into the file (surrounding whitespace is ignored)");
            return;
        }
    }
    if (!prefix.empty() && !value.starts_with(prefix)) {
        report(at,
               fmt::format("{}: the value from {} does not start with `{}`", what, src.describe(),
                           prefix),
               std::string(prefix_hint));
        return;
    }
    out = core::secret(std::move(value), std::move(src));
}

// ---------------------------------------------------------------------------------------------
// sections

void loader::load_channels(const field& f) {
    if (!expect_map(f, "`channels`", "`deploys: C0123ABCD`")) {
        return;
    }
    map_reader entries(*this, f.value, "`channels`", f.key_pos, "channel");
    for (const auto& e : entries.fields()) {
        channel_names_.push_back(e.key);
        check_name(e, "channel");
        core::channel_config c{e.key, {}};
        auto id = scalar(e.value, e.value_pos, fmt::format("channel `{}`", e.key));
        if (id && id->empty()) {
            std::string hint = fmt::format(
                "write `{}: C0123ABCD` (channel details → About → "
                "Channel ID)",
                e.key);
            report(e.key_pos, fmt::format("channel `{}` has no ID", e.key), std::move(hint));
        } else if (id && !slack_id(*id, "CG")) {
            report(
                e.value_pos,
                fmt::format("channel `{}`: `{}` is not a Slack channel ID (C… or G…)", e.key, *id),
                "use the channel's ID, not its name: channel details → About → Channel ID");
        } else if (id) {
            c.id = *id;
        }
        cfg.channels.push_back(std::move(c));
    }
}

void loader::load_jenkins(const field& f) {
    if (!expect_map(f, "`jenkins`", "`ci: {url: https://jenkins.example.com/, …}`")) {
        return;
    }
    map_reader entries(*this, f.value, "`jenkins`", f.key_pos, "Jenkins server");
    for (const auto& e : entries.fields()) {
        jenkins_names_.push_back(e.key);
        check_name(e, "Jenkins server");
        core::jenkins_config j;
        j.name = e.key;
        const std::string owner = fmt::format("Jenkins server `{}`", e.key);
        if (!expect_map(e, owner, "`url: https://jenkins.example.com/`")) {
            cfg.jenkins.push_back(std::move(j));
            continue;
        }
        map_reader r(*this, e.value, owner, e.key_pos);
        if (auto url = text(r, "url", true, "https://jenkins.example.com/")) {
            if (auto n =
                    check_url(*url, r.get("url")->value_pos, fmt::format("`url` of {}", owner))) {
                j.url = *n;
            }
        }
        if (auto user = text(r, "user", true, "tugboat")) {
            j.user = *user;
        }
        secret_field(r, "api_token", j.api_token, true, "JENKINS_API_TOKEN");
        ca_file(r, j.ca_file);
        duration(r, "timeout", j.timeout, std::chrono::minutes{10});
        r.finish();
        cfg.jenkins.push_back(std::move(j));
    }
}

void loader::load_clusters(const field& f) {
    if (!expect_map(f, "`clusters`", "`onprem: {kubeconfig: /etc/tugboat/kubeconfig}`")) {
        return;
    }
    map_reader entries(*this, f.value, "`clusters`", f.key_pos, "cluster");
    for (const auto& e : entries.fields()) {
        cluster_names_.push_back(e.key);
        check_name(e, "cluster");
        core::cluster_config c;
        c.name = e.key;
        const std::string owner = fmt::format("cluster `{}`", e.key);
        if (!expect_map(e, owner, "`kubeconfig: /etc/tugboat/kubeconfig` or `in_cluster: true`")) {
            cfg.clusters.push_back(std::move(c));
            continue;
        }
        map_reader r(*this, e.value, owner, e.key_pos);
        boolean(r, "in_cluster", c.in_cluster);
        auto kubeconfig = text(r, "kubeconfig", false);
        auto context = text(r, "context", false);
        r.finish();
        const bool has_kubeconfig = kubeconfig && !kubeconfig->empty();
        const bool has_context = context && !context->empty();
        // Present but unusable (e.g. an unset ${VAR}) was reported already; do not pile on.
        const bool wrote_kubeconfig =
            r.get("kubeconfig") != nullptr && !r.get("kubeconfig")->value.IsNull();
        if (c.in_cluster && (has_kubeconfig || has_context)) {
            report(e.key_pos,
                   fmt::format("{} sets both `in_cluster: true` and `{}`", owner,
                               has_kubeconfig ? "kubeconfig" : "context"),
                   "keep one: `in_cluster: true` when the bot runs in that cluster, otherwise "
                   "`kubeconfig:` (and `context:`)");
        } else if (!c.in_cluster && !wrote_kubeconfig) {
            report(e.key_pos, fmt::format("{} says neither `kubeconfig` nor `in_cluster`", owner),
                   "add `kubeconfig: /path/to/kubeconfig` (and `context: name`), or "
                   "`in_cluster: true` when the bot runs inside that cluster");
        }
        if (has_kubeconfig) {
            c.kubeconfig = resolve_path(*kubeconfig);
        }
        if (has_context) {
            c.context = *context;
        }
        if (has_kubeconfig && !c.in_cluster && opt_.check_files) {
            check_kubeconfig(c, r.get("kubeconfig")->value_pos,
                             has_context ? r.get("context")->value_pos : pos{});
        }
        if (c.in_cluster && opt_.resolve_secrets) {
            auto host = env_("KUBERNETES_SERVICE_HOST");
            if (!host || host->empty()) {
                report(r.get("in_cluster")->value_pos,
                       fmt::format("{} uses `in_cluster: true`, but KUBERNETES_SERVICE_HOST is "
                                   "not set: the bot is not running in a Kubernetes pod",
                                   owner),
                       "run the bot inside that cluster, or use `kubeconfig:`; "
                       "`check-config --offline` skips this check");
            }
        }
        cfg.clusters.push_back(std::move(c));
    }
}

void loader::check_kubeconfig(const core::cluster_config& c, pos path_pos, pos context_pos) {
    const std::string owner = fmt::format("cluster `{}`", c.name);
    if (!check_file(c.kubeconfig, path_pos, fmt::format("`kubeconfig` of {}", owner))) {
        return;
    }
    YAML::Node doc;
    try {
        doc = YAML::LoadFile(c.kubeconfig);
    } catch (const YAML::Exception& e) {
        report(
            path_pos,
            fmt::format("{}: kubeconfig `{}` is not valid YAML: {}", owner, c.kubeconfig, e.what()),
            "check it with `kubectl config view --kubeconfig <file>`");
        return;
    }
    std::vector<std::string> contexts;
    if (const YAML::Node list = child(doc, "contexts"); list.IsSequence()) {
        for (const auto& ctx : list) {
            if (const YAML::Node name = child(ctx, "name"); name.IsScalar()) {
                contexts.push_back(name.Scalar());
            }
        }
    }
    const std::string listed = contexts.empty() ? std::string("none") : join(contexts);
    if (c.context.empty()) {
        const YAML::Node cur = child(doc, "current-context");
        const std::string current = cur.IsScalar() ? cur.Scalar() : std::string{};
        if (current.empty()) {
            report(path_pos,
                   fmt::format("{}: kubeconfig `{}` has no current-context and no `context:` is "
                               "given",
                               owner, c.kubeconfig),
                   fmt::format("add `context:` with one of its contexts: {}", listed));
        } else if (!contains(contexts, current)) {
            report(path_pos,
                   fmt::format("{}: current-context `{}` of kubeconfig `{}` is not one of its "
                               "contexts",
                               owner, current, c.kubeconfig),
                   fmt::format("add `context:` with one of: {}", listed));
        }
        return;
    }
    if (!contains(contexts, c.context)) {
        report(context_pos,
               fmt::format("{}: context `{}` is not in kubeconfig `{}`.{}", owner, c.context,
                           c.kubeconfig, core::did_you_mean(c.context, contexts)),
               fmt::format("use one of its contexts: {}", listed));
    }
}

void loader::load_environments(const field& f) {
    if (!expect_map(f, "`environments`", "`prod: {clusters: [cloud], namespace: prod}`")) {
        return;
    }
    map_reader entries(*this, f.value, "`environments`", f.key_pos, "environment");
    for (const auto& e : entries.fields()) {
        env_names_.push_back(e.key);  // all of them first: `requires_success_in` may look ahead
    }
    for (const auto& e : entries.fields()) {
        check_name(e, "environment");
        core::environment_config env;
        env.name = e.key;
        const std::string lower = core::to_lower(e.key);
        env.production =
            lower.starts_with("prod") || lower.ends_with("-prod") || lower.ends_with("_prod");
        const std::string owner = fmt::format("environment `{}`", e.key);
        if (!expect_map(e, owner, "`clusters: [cloud]`, `namespace: prod`")) {
            cfg.environments.push_back(std::move(env));
            continue;
        }
        map_reader r(*this, e.value, owner, e.key_pos);
        bool has_one = false;
        bool has_many = false;
        auto one = list(r, "cluster", &has_one);
        auto many = list(r, "clusters", &has_many);
        if (has_one && has_many) {
            report(r.get("clusters")->key_pos,
                   fmt::format("{} has both `cluster` and `clusters`", owner),
                   "keep one: `clusters: [a, b]` or `cluster: a`");
        } else if (!has_one && !has_many) {
            report(
                e.key_pos, fmt::format("{} is missing `clusters`", owner),
                cluster_names_.empty()
                    ? std::string("add e.g. `clusters: [onprem]` and define it under `clusters:`")
                    : fmt::format("add e.g. `clusters: [{}]`", cluster_names_.front()));
        }
        const auto& items = has_many ? many : one;
        if (items) {
            if (items->empty()) {
                report(r.get(has_many ? "clusters" : "cluster")->key_pos,
                       fmt::format("{} lists no clusters", owner), "name at least one cluster");
            }
            for (const auto& it : *items) {
                check_ref(it.value, it.at, cluster_names_, "cluster", "clusters", owner);
                env.clusters.push_back(it.value);
            }
        }
        if (auto ns = text(r, "namespace", true, e.key)) {
            check_dns(*ns, r.get("namespace")->value_pos, fmt::format("`namespace` of {}", owner),
                      false);
            env.namespace_name = *ns;
        }
        boolean(r, "production", env.production);
        if (const field* policy = r.get("policy")) {
            load_policy(*policy, env);
        } else if (env.production) {
            report(e.key_pos,
                   fmt::format("production {} has no `policy` saying who may deploy", owner),
                   "add `policy:` with `deployers: [S0123ABCD]` (user or group IDs), or "
                   "`deployers: [\"*\"]` to allow everyone; or set `production: false`");
        }
        r.finish();
        cfg.environments.push_back(std::move(env));
    }
    check_promotion_cycles();
}

void loader::load_policy(const field& f, core::environment_config& env) {
    const std::string owner = fmt::format("the policy of environment `{}`", env.name);
    if (!expect_map(f, owner, "`deployers: [S0123ABCD]`")) {
        return;
    }
    map_reader r(*this, f.value, owner, f.key_pos);
    auto& p = env.policy;
    bool has_deployers = false;
    auto deployers = principals(r, "deployers", true, &has_deployers);
    if (has_deployers) {
        p.deployers = std::move(deployers);
    } else if (env.production) {
        report(f.key_pos,
               fmt::format("production environment `{}` does not say who may deploy", env.name),
               "add `deployers: [S0123ABCD]` (user or group IDs), or `deployers: [\"*\"]` to "
               "allow everyone; or set `production: false` on the environment");
    }
    bool has_readers = false;
    auto readers = principals(r, "readers", true, &has_readers);
    if (has_readers) {
        p.readers = std::move(readers);
    }
    if (const field* a = r.get("approval")) {
        load_approval(*a, p.approval, env.name);
    }
    if (auto req = text(r, "requires_success_in", false); req && !req->empty()) {
        const pos at = r.get("requires_success_in")->value_pos;
        if (*req == env.name) {
            report(at, fmt::format("environment `{}` requires success in itself", env.name),
                   "name the environment a version must pass first, e.g. "
                   "`requires_success_in: beta`");
        } else if (check_ref(*req, at, env_names_, "environment", "environments",
                             fmt::format("`requires_success_in` of environment `{}`", env.name))) {
            p.requires_success_in = *req;
            promotion_pos_[env.name] = at;
        }
    }
    if (const field* fr = r.get("freezes")) {
        load_freezes(*fr, p.freezes, env.name);
    }
    p.freeze_overriders = principals(r, "freeze_overriders", false);
    choice(r, "when_locked", p.when_locked, {"queue", "refuse"});
    boolean(r, "auto_rollback", p.auto_rollback);
    boolean(r, "broadcast_failures", p.broadcast_failures);
    boolean(r, "logs_require_grant", p.logs_require_grant);
    r.finish();
}

void loader::load_approval(const field& f, core::approval_policy& a, const std::string& env) {
    const std::string owner = fmt::format("the approval policy of environment `{}`", env);
    if (!expect_map(f, owner, "`{required: 1, approvers: [S0123ABCD]}`")) {
        return;
    }
    map_reader r(*this, f.value, owner, f.key_pos);
    integer(r, "required", a.required, 0, 10);
    const std::size_t before = problems.size();
    a.approvers = principals(r, "approvers", true);
    const bool approvers_ok = problems.size() == before;
    duration(r, "expires_after", a.expires_after, std::chrono::days{7});
    boolean(r, "allow_self_approval", a.allow_self_approval);
    r.finish();
    if (a.required == 0 || !approvers_ok) {
        return;
    }
    if (a.approvers.empty()) {
        report(f.key_pos,
               fmt::format("environment `{}` requires {} but lists no `approvers`", env,
                           plural(static_cast<std::size_t>(a.required), "approval", "approvals")),
               "add `approvers: [S0123ABCD]` (user or group IDs)");
        return;
    }
    const bool open_ended = std::ranges::any_of(
        a.approvers, [](const std::string& p) { return p == "*" || p.starts_with('S'); });
    if (!open_ended && a.approvers.size() < static_cast<std::size_t>(a.required)) {
        report(r.get("required")->value_pos,
               fmt::format("environment `{}` requires {} but only {} listed", env,
                           plural(static_cast<std::size_t>(a.required), "approval", "approvals"),
                           plural(a.approvers.size(), "approver is", "approvers are")),
               "list more approvers, add a user group (S…), or lower `required`");
    }
}

void loader::load_freezes(const field& f, std::vector<core::freeze_window>& out,
                          const std::string& env) {
    if (f.value.IsNull()) {
        return;
    }
    if (!f.value.IsSequence()) {
        report(f.value_pos, fmt::format("`freezes` of environment `{}` must be a list", env),
               "write one `- name: …` entry per freeze window");
        return;
    }
    int n = 0;
    for (const auto& node : f.value) {
        ++n;
        const pos at = pos_of(node);
        const YAML::Node name = child(node, "name");
        std::string label = name.IsScalar() ? fmt::format("freeze window `{}`", name.Scalar())
                                            : fmt::format("freeze window {}", n);
        std::string where = fmt::format("{} of environment `{}`", label, env);
        if (!node.IsMap()) {
            report(at, fmt::format("{} must be a mapping", where),
                   "write `- name: …` followed by `from`/`to` or `days`/`start`/`end`");
            continue;
        }
        core::freeze_window w;
        load_freeze(node, at, where, w);
        out.push_back(std::move(w));
    }
}

void loader::load_freeze(const YAML::Node& node, pos at, const std::string& where,
                         core::freeze_window& w) {
    map_reader r(*this, node, where, at);
    if (auto name = text(r, "name", true, "Holiday freeze")) {
        w.name = *name;
    }
    auto from = text(r, "from", false);
    auto to = text(r, "to", false);
    bool has_days = false;
    auto days = list(r, "days", &has_days);
    auto start = text(r, "start", false);
    auto end = text(r, "end", false);
    if (auto tz = text(r, "timezone", false); tz && !tz->empty()) {
        if (valid_timezone(*tz)) {
            w.timezone = *tz;
        } else {
            report(r.get("timezone")->value_pos,
                   fmt::format("`timezone` of {} is not a known time zone: `{}`", where, *tz),
                   "use `UTC` or an IANA name such as `Europe/Berlin` or `America/New_York`");
        }
    }
    r.finish();

    const bool absolute = (from && !from->empty()) || (to && !to->empty());
    const bool weekly = has_days || (start && !start->empty()) || (end && !end->empty());
    if (absolute && weekly) {
        report(at,
               fmt::format("{} mixes a date range (`from`/`to`) with a weekly window "
                           "(`days`/`start`/`end`)",
                           where),
               "split it into two freeze windows");
        return;
    }
    if (!absolute && !weekly) {
        report(at, fmt::format("{} has neither `from`/`to` nor `days`/`start`/`end`", where),
               "write `from: 2026-12-20` and `to: 2027-01-04`, or `days: [fri]`, "
               "`start: \"16:00\"` and `end: \"23:59\"`");
        return;
    }
    auto need = [&](const std::optional<std::string>& v, std::string_view key,
                    std::string_view example) {
        if (!v || v->empty()) {
            missing(r, r.get(key), key, example);
            return false;
        }
        return true;
    };
    if (absolute) {
        const bool have = need(from, "from", "2026-12-20") && need(to, "to", "2027-01-04");
        if (!have) {
            return;
        }
        auto f = parse_date_time(*from, false);
        auto t = parse_date_time(*to, true);
        for (auto [v, key, parsed] : {std::tuple{&*from, "from", &f}, std::tuple{&*to, "to", &t}}) {
            if (!*parsed) {
                report(r.get(key)->value_pos,
                       fmt::format("`{}` of {} is not a date: `{}`", key, where, *v),
                       "write `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`, e.g. `2026-12-20T18:00`");
            }
        }
        if (!f || !t) {
            return;
        }
        if (*t <= *f) {
            report(r.get("to")->value_pos, fmt::format("{} ends before it starts", where),
                   "swap `from` and `to`, or fix the dates");
            return;
        }
        w.from = *f;
        w.to = *t;
        return;
    }
    static const std::string_view names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    std::set<int> picked;
    if (!has_days || !days || days->empty()) {
        if (!has_days || (days && days->empty())) {
            missing(r, r.get("days"), "days", "[sat, sun]");
        }
    } else {
        for (const auto& d : *days) {
            auto parsed = parse_days(d.value);
            if (!parsed) {
                report(d.at, fmt::format("`days` of {}: `{}` is not a weekday", where, d.value),
                       "write `mon` … `sun`, full names, or a range such as `mon-fri`");
                continue;
            }
            picked.insert(parsed->begin(), parsed->end());
        }
    }
    for (int d : picked) {
        w.days.emplace_back(names[d]);
    }
    if (!need(start, "start", "\"16:00\"") || !need(end, "end", "\"23:59\"")) {
        return;
    }
    auto s = parse_clock(*start);
    auto e = parse_clock(*end);
    for (auto [v, key, parsed] : {std::tuple{&*start, "start", &s}, std::tuple{&*end, "end", &e}}) {
        if (!*parsed) {
            report(r.get(key)->value_pos,
                   fmt::format("`{}` of {} is not a time of day: `{}`", key, where, *v),
                   "write 24-hour `HH:MM`, e.g. `18:30`");
        }
    }
    if (s && e && *s == *e) {
        report(r.get("end")->value_pos, fmt::format("{} starts and ends at {}", where, *s),
               "give different times; an `end` before `start` runs past midnight");
        return;
    }
    w.start_time = s.value_or("");
    w.end_time = e.value_or("");
}

void loader::check_promotion_cycles() {
    std::set<std::string> reported;
    for (const auto& env : cfg.environments) {
        std::vector<std::string> chain{env.name};
        std::string next = env.policy.requires_success_in;
        while (!next.empty() && !contains(chain, next)) {
            chain.push_back(next);
            const auto* e = cfg.find_environment(next);
            next = e != nullptr ? e->policy.requires_success_in : std::string{};
        }
        if (next != env.name || reported.contains(env.name)) {
            continue;
        }
        reported.insert(chain.begin(), chain.end());
        chain.push_back(env.name);
        report(promotion_pos_[env.name],
               fmt::format("the promotion order loops: {}", join(chain, " needs ")),
               "remove `requires_success_in` from one of these environments");
    }
}

void loader::load_services(const field& f) {
    if (!expect_map(f, "`services`", "`payments-api: {channel: payments, …}`")) {
        return;
    }
    map_reader entries(*this, f.value, "`services`", f.key_pos, "service");
    for (const auto& e : entries.fields()) {
        check_name(e, "service");
        core::service_config s;
        s.name = e.key;
        const std::string owner = fmt::format("service `{}`", e.key);
        if (!expect_map(e, owner, "`channel: deploys`, `workloads: {dev: payments-api}`")) {
            cfg.services.push_back(std::move(s));
            continue;
        }
        map_reader r(*this, e.value, owner, e.key_pos);
        if (auto team = text(r, "team", false)) {
            s.team = *team;
        }
        s.owners = principals(r, "owners", false);
        if (auto ch =
                text(r, "channel", true,
                     channel_names_.empty() ? std::string("deploys") : channel_names_.front())) {
            check_ref(*ch, r.get("channel")->value_pos, channel_names_, "channel", "channels",
                      owner);
            s.channel = *ch;
        }
        choice(r, "rollout", s.rollout, {"jenkins", "image"});
        choice(r, "rollback", s.rollback, {"kubernetes", "jenkins"});
        const bool uses_jenkins = s.rollout == "jenkins" || s.rollback == "jenkins";
        if (auto jk = text(r, "jenkins", false); jk && !jk->empty()) {
            check_ref(*jk, r.get("jenkins")->value_pos, jenkins_names_, "Jenkins server", "jenkins",
                      owner);
            s.jenkins = *jk;
        } else if (uses_jenkins && jenkins_names_.size() == 1) {
            s.jenkins = jenkins_names_.front();
        } else if (uses_jenkins) {
            report(e.key_pos,
                   fmt::format("{} uses Jenkins (`rollout` or `rollback` is `jenkins`) but no "
                               "Jenkins server is {}",
                               owner, jenkins_names_.empty() ? "defined" : "named"),
                   jenkins_names_.empty()
                       ? std::string("add a server under `jenkins:`, or set `rollout: image` and "
                                     "`rollback: kubernetes`")
                       : fmt::format("add `jenkins:` with one of: {}", join(jenkins_names_)));
        }
        if (auto job = text(r, "job", uses_jenkins, "deploy/" + e.key); job && !job->empty()) {
            const pos at = r.get("job")->value_pos;
            if (job->front() == '/' || job->back() == '/' || job->find("//") != job->npos) {
                report(at, fmt::format("`job` of {} has an empty folder: `{}`", owner, *job),
                       "write folders and job separated by single `/`, e.g. `deploy/payments-api`");
            }
            static const std::vector<std::string> allowed{"service", "env"};
            for (const auto& bad : unknown_placeholders(*job, allowed)) {
                report(at,
                       fmt::format("`job` of {} uses unknown placeholder `{{{}}}`.{}", owner, bad,
                                   core::did_you_mean(bad, allowed)),
                       "a job path may use {service} and {env}");
            }
            s.job = *job;
        }
        load_parameters(r.get("parameters"), s, uses_jenkins);
        if (auto vp = text(r, "version_pattern", false); vp && !vp->empty()) {
            const pos at = r.get("version_pattern")->value_pos;
            static const std::vector<std::string> named{"semver", "sha"};
            const bool word = std::ranges::all_of(*vp, [](char c) { return c >= 'a' && c <= 'z'; });
            if (!contains(named, *vp) && word) {
                // A bare word would compile as a regex matching only itself: surely a typo.
                report(at,
                       fmt::format("`version_pattern` of {} is `{}`, which is neither `semver` nor "
                                   "`sha`.{}",
                                   owner, *vp, core::did_you_mean(*vp, named)),
                       "write `semver`, `sha`, or a regex for the whole version, e.g. "
                       "`release-[0-9]+`");
            } else if (!contains(named, *vp)) {
                try {
                    std::regex re(*vp, std::regex::ECMAScript);
                    s.version_pattern = *vp;
                } catch (const std::regex_error& ex) {
                    report(at,
                           fmt::format("`version_pattern` of {} is not a valid regex: {}", owner,
                                       ex.what()),
                           "write `semver`, `sha`, or an ECMAScript regex for the whole version, "
                           "e.g. `release-[0-9]+`");
                }
            } else {
                s.version_pattern = *vp;
            }
        }
        if (auto img = text(r, "image", s.rollout == "image", "registry.example.com/" + e.key);
            img && !img->empty()) {
            const auto last =
                img->substr(img->rfind('/') == std::string::npos ? 0 : img->rfind('/'));
            if (img->find('@') != std::string::npos || last.find(':') != std::string::npos) {
                report(r.get("image")->value_pos,
                       fmt::format("`image` of {} has a tag or digest: `{}`", owner, *img),
                       "give the repository only; the bot appends `:<version>`");
            }
            s.image = *img;
        }
        duration(r, "build_timeout", s.build_timeout, std::chrono::hours{24});
        duration(r, "rollout_timeout", s.rollout_timeout, std::chrono::hours{24});
        load_workloads(r.get("workloads"), s, e.key_pos);
        r.finish();
        cfg.services.push_back(std::move(s));
    }
}

void loader::load_parameters(const field* f, core::service_config& s, bool uses_jenkins) {
    if (f == nullptr || f->value.IsNull()) {
        if (uses_jenkins) {
            s.job_parameters = {{"SERVICE", "{service}"},
                                {"ENVIRONMENT", "{env}"},
                                {"VERSION", "{version}"},
                                {"DEPLOY_ID", "{deploy_id}"}};
        }
        return;
    }
    const std::string owner = fmt::format("the `parameters` of service `{}`", s.name);
    if (!expect_map(*f, owner, "`VERSION: \"{version}\"`")) {
        return;
    }
    map_reader pr(*this, f->value, owner, f->key_pos, "parameter");
    for (const auto& p : pr.fields()) {
        auto v = scalar(p.value, p.value_pos,
                        fmt::format("parameter `{}` of service `{}`", p.key, s.name));
        if (!v) {
            continue;
        }
        for (const auto& bad : unknown_placeholders(*v, job_placeholders())) {
            report(
                p.value_pos,
                fmt::format("parameter `{}` of service `{}` uses unknown placeholder `{{{}}}`.{}",
                            p.key, s.name, bad, core::did_you_mean(bad, job_placeholders())),
                "the placeholders are {service}, {env}, {version} and {deploy_id}");
        }
        s.job_parameters[p.key] = *v;
    }
    if (!uses_jenkins) {
        return;
    }
    for (std::string_view needed : {"{version}"sv, "{deploy_id}"sv}) {
        const bool found = std::ranges::any_of(s.job_parameters, [&](const auto& kv) {
            return kv.second.find(needed) != std::string::npos;
        });
        if (!found) {
            report(f->key_pos, fmt::format("{} never pass `{}`", owner, needed),
                   needed == "{deploy_id}"
                       ? "add e.g. `DEPLOY_ID: \"{deploy_id}\"` (the job must accept it): after a "
                         "restart the bot finds its build by this ID instead of starting another"
                       : "add e.g. `VERSION: \"{version}\"`; otherwise the job cannot know what "
                         "to deploy");
        }
    }
}

void loader::load_workloads(const field* f, core::service_config& s, pos service_pos) {
    const std::string owner = fmt::format("service `{}`", s.name);
    if (f == nullptr || f->value.IsNull()) {
        report(f != nullptr ? f->key_pos : service_pos, fmt::format("{} has no `workloads`", owner),
               fmt::format("add `workloads:` mapping each environment to its Deployment(s), e.g. "
                           "`workloads: {{{}: {}}}`",
                           env_names_.empty() ? std::string("dev") : env_names_.front(), s.name));
        return;
    }
    if (!expect_map(*f, fmt::format("the `workloads` of {}", owner),
                    fmt::format("`dev: {}`", s.name))) {
        return;
    }
    map_reader envs(*this, f->value, fmt::format("the `workloads` of {}", owner), f->key_pos,
                    "environment");
    for (const auto& e : envs.fields()) {
        const bool env_ok =
            check_ref(e.key, e.key_pos, env_names_, "environment", "environments", owner);
        const core::environment_config* env = cfg.find_environment(e.key);
        std::vector<std::pair<YAML::Node, pos>> nodes;
        if (e.value.IsSequence()) {
            for (const auto& n : e.value) {
                nodes.emplace_back(n, pos_of(n));
            }
        } else if (!e.value.IsNull()) {
            nodes.emplace_back(e.value, e.value_pos);
        }
        if (nodes.empty()) {
            report(e.key_pos, fmt::format("{} lists no workloads in `{}`", owner, e.key),
                   fmt::format("name the Deployment, e.g. `{}: {}`, or remove the line", e.key,
                               s.name));
            continue;
        }
        std::vector<core::workload_ref> refs;
        int n = 0;
        for (const auto& [node, at] : nodes) {
            ++n;
            const std::string where =
                nodes.size() == 1 ? fmt::format("the workload of {} in `{}`", owner, e.key)
                                  : fmt::format("workload {} of {} in `{}`", n, owner, e.key);
            core::workload_ref w;
            if (node.IsScalar()) {
                if (auto d = scalar(node, at, where)) {
                    check_dns(*d, at, fmt::format("`deployment` of {}", where), true);
                    w.deployment = *d;
                }
            } else if (node.IsMap()) {
                map_reader wr(*this, node, where, at);
                if (auto d = text(wr, "deployment", true, s.name)) {
                    check_dns(*d, wr.get("deployment")->value_pos,
                              fmt::format("`deployment` of {}", where), true);
                    w.deployment = *d;
                }
                if (auto c = text(wr, "container", false); c && !c->empty()) {
                    check_dns(*c, wr.get("container")->value_pos,
                              fmt::format("`container` of {}", where), false);
                    w.container = *c;
                }
                if (auto ns = text(wr, "namespace", false); ns && !ns->empty()) {
                    check_dns(*ns, wr.get("namespace")->value_pos,
                              fmt::format("`namespace` of {}", where), false);
                    w.namespace_name = *ns;
                }
                if (auto cl = text(wr, "cluster", false); cl && !cl->empty()) {
                    const pos cat = wr.get("cluster")->value_pos;
                    if (check_ref(*cl, cat, cluster_names_, "cluster", "clusters", where) &&
                        env != nullptr && !contains(env->clusters, *cl)) {
                        report(cat,
                               fmt::format("{}: cluster `{}` is not one of environment `{}`'s "
                                           "clusters ({})",
                                           where, *cl, e.key, join(env->clusters)),
                               "use one of the environment's clusters, or add it to its "
                               "`clusters`");
                    }
                    w.cluster = *cl;
                }
                wr.finish();
            } else {
                report(at, fmt::format("{} must be a Deployment name or a mapping", where),
                       "write `- payments-api` or `- {deployment: payments-api, container: app}`");
                continue;
            }
            refs.push_back(std::move(w));
        }
        if (env_ok) {
            s.workloads[e.key] = std::move(refs);
        }
    }
}

void loader::load_access(const field& f) {
    if (!expect_map(f, "`access`", "`roles: {view: {role: view}}`")) {
        return;
    }
    map_reader r(*this, f.value, "`access`", f.key_pos);
    auto& a = cfg.access;
    a.admins = principals(r, "admins", false);
    if (auto t = text(r, "subject_template", false); t && !t->empty()) {
        const pos at = r.get("subject_template")->value_pos;
        static const std::vector<std::string> allowed{"email", "user_id"};
        for (const auto& bad : unknown_placeholders(*t, allowed)) {
            report(
                at,
                fmt::format("`subject_template` in `access` uses unknown placeholder `{{{}}}`.{}",
                            bad, core::did_you_mean(bad, allowed)),
                "the placeholders are {email} and {user_id}");
        }
        if (t->find("{email}") == std::string::npos && t->find("{user_id}") == std::string::npos) {
            report(at, "`subject_template` in `access` names nobody: it has no placeholder",
                   "include {email} or {user_id}, e.g. `oidc:{email}`");
        }
        a.subject_template = *t;
    }
    choice(r, "subject_kind", a.subject_kind, {"User", "Group"});
    const auto channel = text(r, "approvals_channel", false);
    if (channel && !channel->empty()) {
        check_ref(*channel, r.get("approvals_channel")->value_pos, channel_names_, "channel",
                  "channels", "`access.approvals_channel`");
        a.approvals_channel = *channel;
    }
    if (const field* roles = r.get("roles"); roles != nullptr && !roles->value.IsNull()) {
        if (expect_map(*roles, "`access.roles`", "`view: {role: view}`")) {
            map_reader entries(*this, roles->value, "`access.roles`", roles->key_pos,
                               "access role");
            for (const auto& e : entries.fields()) {
                check_name(e, "access role");
                core::access_role_config role;
                role.name = e.key;
                if (expect_map(e, fmt::format("access role `{}`", e.key), "`role: view`")) {
                    load_role(e, role);
                }
                a.roles.push_back(std::move(role));
            }
        }
    }
    r.finish();
    const bool needs_channel = std::ranges::any_of(
        a.roles, [](const core::access_role_config& x) { return x.approvals_required > 0; });
    if (needs_channel && !channel) {
        report(f.key_pos, "`access` has roles that need approval but no `approvals_channel`",
               "add `approvals_channel: <channel name>`: approval requests are posted there");
    }
}

void loader::load_role(const field& f, core::access_role_config& role) {
    const std::string owner = fmt::format("access role `{}`", f.key);
    map_reader r(*this, f.value, owner, f.key_pos);
    if (auto d = text(r, "description", false)) {
        role.description = *d;
    }
    if (auto k = text(r, "role", true, "view")) {
        const bool ok = std::ranges::all_of(*k, [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                   c == ':' || c == '_';
        });
        if (!ok) {
            report(r.get("role")->value_pos,
                   fmt::format("`role` of {}: `{}` is not a Kubernetes role name", owner, *k),
                   "name an existing ClusterRole or Role, e.g. `view`");
        }
        role.role = *k;
    }
    choice(r, "kind", role.kind, {"ClusterRole", "Role"});
    choice(r, "scope", role.scope, {"namespace", "cluster"});
    if (role.kind == "Role" && role.scope == "cluster") {
        report(r.get("scope")->value_pos,
               fmt::format("{}: a Role lives in one namespace and cannot be granted cluster-wide",
                           owner),
               "use `kind: ClusterRole`, or `scope: namespace`");
    }
    duration(r, "max_duration", role.max_duration, std::chrono::days{7});
    const std::size_t before = problems.size();
    role.approvers = principals(r, "approvers", false);
    const bool approvers_ok = problems.size() == before;
    integer(r, "approvals_required", role.approvals_required, 0, 5);
    boolean(r, "reason_required", role.reason_required);
    auto env_list = [&](std::string_view key, std::vector<std::string>& out) {
        if (auto items = list(r, key)) {
            for (const auto& it : *items) {
                if (check_ref(it.value, it.at, env_names_, "environment", "environments",
                              fmt::format("`{}` of {}", key, owner))) {
                    out.push_back(it.value);
                }
            }
        }
    };
    env_list("environments", role.environments);
    env_list("auto_approve_in", role.auto_approve_in);
    if (!role.environments.empty()) {
        for (const auto& env : role.auto_approve_in) {
            if (!contains(role.environments, env)) {
                report(r.get("auto_approve_in")->value_pos,
                       fmt::format("{} is auto-approved in `{}` but cannot be requested there",
                                   owner, env),
                       fmt::format("add `{}` to `environments`, or remove it from "
                                   "`auto_approve_in`",
                                   env));
            }
        }
    }
    boolean(r, "break_glass", role.break_glass);
    boolean(r, "self_extend", role.self_extend);
    boolean(r, "allow_escalation", role.allow_escalation);
    if (const field* g = r.get("grants"); g != nullptr && !g->value.IsNull()) {
        if (!g->value.IsSequence()) {
            report(g->value_pos, fmt::format("`grants` of {} must be a list", owner),
                   "write `- {verbs: [get, list], resources: [pods]}` per rule");
        } else {
            int n = 0;
            for (const auto& rule : g->value) {
                ++n;
                const std::string where = fmt::format("grant {} of {}", n, owner);
                if (!rule.IsMap()) {
                    report(pos_of(rule), fmt::format("{} must be a mapping", where),
                           "write `- {verbs: [get, list], resources: [pods]}`");
                    continue;
                }
                map_reader gr(*this, rule, where, pos_of(rule));
                core::grant_rule out;
                if (auto verbs = list(gr, "verbs")) {
                    for (const auto& v : *verbs) {
                        out.verbs.push_back(core::to_lower(v.value));
                    }
                } else {
                    missing(gr, gr.get("verbs"), "verbs", "[get, list, watch]");
                }
                if (auto res = list(gr, "resources")) {
                    for (const auto& v : *res) {
                        out.resources.push_back(core::to_lower(v.value));
                    }
                } else {
                    missing(gr, gr.get("resources"), "resources", "[pods, pods/log]");
                }
                gr.finish();
                role.grants.push_back(std::move(out));
            }
        }
    }
    r.finish();
    if (role.approvals_required > 0 && role.approvers.empty() && cfg.access.admins.empty() &&
        approvers_ok) {
        report(
            f.key_pos,
            fmt::format(
                "{} needs {} but has no `approvers`, and `access.admins` is empty", owner,
                plural(static_cast<std::size_t>(role.approvals_required), "approval", "approvals")),
            "add `approvers: [S0123ABCD]` to the role, or `admins:` under `access:`");
    }
    check_escalation(f, role);
}

void loader::check_escalation(const field& f, const core::access_role_config& role) {
    std::vector<std::string> prod;
    for (const auto& env : cfg.environments) {
        if (env.production &&
            (role.environments.empty() || contains(role.environments, env.name))) {
            prod.push_back(env.name);
        }
    }
    const std::string in_prod = fmt::format("production ({})", join(prod));
    std::vector<std::string> why;
    const std::string& bound = role.role;
    if (bound == "cluster-admin") {
        why.emplace_back("binds `cluster-admin`, which can do anything in the cluster");
    } else if (bound.starts_with("system:")) {
        why.push_back(fmt::format("binds the built-in `{}`", bound));
    } else if (bound == "admin" || bound == "edit") {
        if (role.scope == "cluster") {
            why.push_back(fmt::format("binds `{}` cluster-wide, which reads every Secret", bound));
        } else if (!prod.empty()) {
            why.push_back(
                fmt::format("binds `{}` in {}, which reads Secrets and can run pods as "
                            "any service account there",
                            bound, in_prod));
        }
    }
    for (const auto& g : role.grants) {
        const bool any_verb = contains(g.verbs, "*");
        auto verb = [&](std::string_view v) { return any_verb || contains(g.verbs, v); };
        auto resource = [&](std::string_view x) {
            return contains(g.resources, "*") || contains(g.resources, x);
        };
        if (any_verb) {
            why.emplace_back("grants every verb (`*`)");
        } else {
            for (std::string_view v : {"bind"sv, "escalate"sv, "impersonate"sv}) {
                if (verb(v)) {
                    why.push_back(fmt::format("grants `{}`", v));
                }
            }
        }
        if (contains(g.resources, "*")) {
            why.emplace_back("grants every resource (`*`)");
        }
        if (resource("serviceaccounts/token") && verb("create")) {
            why.emplace_back("can create service-account tokens");
        }
        if (!prod.empty() && resource("secrets") &&
            (verb("get") || verb("list") || verb("watch"))) {
            why.push_back(fmt::format("reads Secrets in {}", in_prod));
        }
    }
    std::vector<std::string> unique;
    for (auto& w : why) {
        if (!contains(unique, w)) {
            unique.push_back(std::move(w));
        }
    }
    if (unique.empty() || role.allow_escalation) {
        return;
    }
    report(f.key_pos,
           fmt::format("access role `{}` could escalate privileges: it {}", role.name,
                       join(unique, "; it ")),
           "grant something narrower, or, if this is deliberate (e.g. break-glass), add "
           "`allow_escalation: true` to the role");
}

void loader::load_faq(const field& f) {
    if (!expect_map(f, "`faq`", "`folders: [faq]`")) {
        return;
    }
    auto& q = cfg.faq;
    map_reader r(*this, f.value, "`faq`", f.key_pos);
    if (auto folders = list(r, "folders")) {
        for (const auto& it : *folders) {
            std::string p = resolve_path(it.value);
            std::error_code ec;
            if (opt_.check_files && !fs::is_directory(p, ec)) {
                report(it.at, fmt::format("`folders` in `faq`: folder `{}` does not exist", p),
                       "fix the path (relative paths start at the config file's folder), or "
                       "use `check-config --offline`");
            }
            q.folders.push_back(std::move(p));
        }
    }
    if (auto hc = text(r, "help_channel", false); hc && !hc->empty()) {
        check_ref(*hc, r.get("help_channel")->value_pos, channel_names_, "channel", "channels",
                  "`faq.help_channel`");
        q.help_channel = *hc;
    }
    if (const field* t = r.get("answer_threshold")) {
        if (auto v = scalar(t->value, t->value_pos, "`answer_threshold` in `faq`")) {
            auto d = parse_double(*v);
            if (!d || *d <= 0 || *d > 1) {
                report(t->value_pos,
                       fmt::format("`answer_threshold` in `faq` must be a number above 0 and at "
                                   "most 1, not `{}`",
                                   *v),
                       "write e.g. `answer_threshold: 0.35`");
            } else {
                q.answer_threshold = *d;
            }
        }
    }
    duration(r, "reindex_every", q.reindex_every, std::chrono::days{1});
    if (auto w = text(r, "words", false)) {
        q.words = w->empty() ? "" : resolve_path(*w);
        std::error_code ec;
        if (opt_.check_files && !q.words.empty() && !fs::is_regular_file(q.words, ec)) {
            report(r.get("words")->value_pos,
                   fmt::format("`words` in `faq`: file `{}` does not exist", q.words),
                   "install Debian's `wamerican` and write `/usr/share/dict/words`, or write "
                   "`words: \"\"` to do without");
        }
    }
    if (const field* g = r.get("glossary"); g != nullptr && !g->value.IsNull()) {
        if (expect_map(*g, "`faq.glossary`", "`k8s: [kubernetes]`")) {
            map_reader terms(*this, g->value, "`faq.glossary`", g->key_pos, "term");
            for (const auto& t : terms.fields()) {
                if (auto words =
                        list_of(t.value, t.value_pos, fmt::format("glossary term `{}`", t.key))) {
                    auto& out = q.glossary[core::to_lower(t.key)];
                    for (const auto& w : *words) {
                        out.push_back(core::to_lower(w.value));
                    }
                }
            }
        }
    }
    if (auto tools = list(r, "other_tools")) {
        for (const auto& t : *tools) {
            q.other_tools.push_back(core::to_lower(t.value));
        }
    }
    r.finish();
}

void loader::load_logs(const field& f) {
    if (!expect_map(f, "`logs`", "`redact_patterns: ['ssn=[0-9-]+']`")) {
        return;
    }
    map_reader r(*this, f.value, "`logs`", f.key_pos);
    if (auto patterns = list(r, "redact_patterns")) {
        for (const auto& it : *patterns) {
            try {
                std::regex compiled(it.value, std::regex::ECMAScript);
            } catch (const std::regex_error& e) {
                report(it.at,
                       fmt::format("`redact_patterns` in `logs`: `{}` is not a valid regular "
                                   "expression ({})",
                                   it.value, e.what()),
                       "write an ECMAScript regex, e.g. `'card=[0-9]{12,19}'`; quote it in YAML");
                continue;
            }
            cfg.logs.redact_patterns.push_back(it.value);
        }
    }
    r.finish();
}

void loader::load_bot(const field* f) {
    auto& b = cfg.bot;
    std::optional<std::string> database;
    if (f != nullptr && expect_map(*f, "`bot`", "`database: /var/lib/tugboat/tugboat.db`")) {
        map_reader r(*this, f->value, "`bot`", f->key_pos);
        database = text(r, "database", false);
        if (database && !database->empty() && opt_.check_files && *database != ":memory:") {
            const auto dir = fs::path(resolve_path(*database)).parent_path();
            std::error_code ec;
            if (!fs::is_directory(dir, ec)) {
                report(r.get("database")->value_pos,
                       fmt::format("`database` in `bot`: folder `{}` does not exist", dir.string()),
                       "create the folder, or fix the path (relative paths start at the config "
                       "file's folder)");
            }
        }
        choice(r, "log_level", b.log_level, {"debug", "info", "warn", "error", "off"});
        choice(r, "log_format", b.log_format, {"kv", "json"});
        b.admins = principals(r, "admins", false);
        r.finish();
    }
    b.database = resolve_path(database && !database->empty() ? *database : b.database);
}

void loader::load_slack(const field* f) {
    auto& s = cfg.slack;
    // Without a `slack:` section everything can still come from the environment.
    const YAML::Node empty(YAML::NodeType::Map);
    if (f != nullptr && !f->value.IsNull() &&
        !expect_map(*f, "`slack`", "`bot_token: {env: SLACK_BOT_TOKEN}`")) {
        return;
    }
    map_reader r(*this, f != nullptr && f->value.IsMap() ? f->value : empty, "`slack`",
                 f != nullptr ? f->key_pos : pos{});
    choice(r, "mode", s.mode, {"socket", "http"});
    if (auto url = text(r, "api_url", false); url && !url->empty()) {
        if (auto n = check_url(*url, r.get("api_url")->value_pos, "`api_url` in `slack`")) {
            s.api_url = *n;
        }
    }
    if (auto url = env_("SLACK_API_URL"); url && !url->empty()) {
        if (auto n = check_url(*url, {}, "SLACK_API_URL (overrides `slack.api_url`)")) {
            s.api_url = *n;
        }
    }
    secret_field(r, "app_token", s.app_token, s.mode == "socket", "SLACK_APP_TOKEN",
                 "SLACK_APP_TOKEN", "xapp-",
                 "use the app-level token with the connections:write scope (app settings → "
                 "Basic Information → App-Level Tokens)");
    secret_field(r, "bot_token", s.bot_token, true, "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN", "xoxb-",
                 "use the Bot User OAuth Token (app settings → OAuth & Permissions)");
    secret_field(r, "signing_secret", s.signing_secret, s.mode == "http", "SLACK_SIGNING_SECRET",
                 "SLACK_SIGNING_SECRET");
    integer(r, "connections", s.connections, 1, 10);
    if (auto listen = text(r, "http_listen", false); listen && !listen->empty()) {
        const auto colon = listen->rfind(':');
        auto port = colon == std::string::npos
                        ? std::nullopt
                        : parse_int(std::string_view(*listen).substr(colon + 1));
        if (colon == 0 || !port || *port < 1 || *port > 65535) {
            report(r.get("http_listen")->value_pos,
                   fmt::format("`http_listen` in `slack` must be `host:port`, not `{}`", *listen),
                   "write e.g. `0.0.0.0:3000` or `[::]:3000`");
        } else {
            s.http_listen = *listen;
        }
    }
    ca_file(r, s.ca_file);
    r.finish();
}

void loader::load(const YAML::Node& root) {
    if (!root.IsDefined() || root.IsNull()) {
        report({1, 1}, "the file is empty",
               "start from examples/tugboat.yaml; docs/configuration.md describes every key");
        return;
    }
    if (!root.IsMap()) {
        report(pos_of(root),
               "the top level must be a mapping of sections (bot, slack, channels, jenkins, "
               "clusters, environments, services, access, faq)",
               "start from examples/tugboat.yaml");
        return;
    }
    map_reader top(*this, root, "the top level", {1, 1});
    if (const field* v = top.get("version")) {
        auto s = scalar(v->value, v->value_pos, "`version`");
        if (s && *s != "1") {
            report(v->value_pos, fmt::format("`version: {}` is not supported", *s),
                   "write `version: 1`, or leave it out");
        }
    }
    auto section = [&](std::string_view name, bool required, std::string_view example) {
        const field* f = top.get(name);
        if (f == nullptr && required) {
            report(
                {}, fmt::format("the required section `{}` is missing", name),
                fmt::format("add e.g. `{}:` with {} (see examples/tugboat.yaml)", name, example));
        }
        return f;
    };
    // Definitions first, so references can be checked while they are read.
    if (const field* f = section("channels", true, "`deploys: C0123ABCD`")) {
        load_channels(*f);
    }
    if (const field* f = section("jenkins", false, "")) {
        load_jenkins(*f);
    }
    if (const field* f = section("clusters", true, "`onprem: {kubeconfig: …}`")) {
        load_clusters(*f);
    }
    if (const field* f = section("environments", true, "`dev: {clusters: [onprem], …}`")) {
        load_environments(*f);
    }
    if (const field* f = section("services", true, "`payments-api: {channel: …}`")) {
        load_services(*f);
    }
    if (const field* f = section("access", false, "")) {
        load_access(*f);
    }
    if (const field* f = section("faq", false, "")) {
        load_faq(*f);
    }
    if (const field* f = section("logs", false, "")) {
        load_logs(*f);
    }
    load_bot(section("bot", false, ""));
    load_slack(section("slack", false, ""));
    top.finish();
}

void loader::report_syntax(const YAML::Mark& mark, const std::string& msg) {
    const pos at = mark.is_null() ? pos{} : pos{mark.line + 1, mark.column + 1};
    std::string hint = "fix the YAML at that spot; nothing after it could be checked";
    auto line_has = [&](int line, std::string_view what) {
        return line >= 0 && line < static_cast<int>(lines_.size()) &&
               lines_[static_cast<std::size_t>(line)].find(what) != std::string::npos;
    };
    if (line_has(mark.line, "\t") || line_has(mark.line - 1, "\t") ||
        line_has(mark.line + 1, "\t")) {
        hint = "YAML indentation must use spaces, not tabs";
    } else if (msg.find("alias") != std::string::npos) {
        hint = R"(`*` starts a YAML alias: quote it, e.g. `deployers: ["*"]`)";
    } else if (msg.find("illegal map value") != std::string::npos) {
        hint =
            "a value cannot hold another `key: value` on the same line: quote the value, or "
            "put the inner mapping on indented lines below";
    } else if (msg.find("end of") != std::string::npos) {
        hint = "a `[`, `{` or quote is not closed";
    }
    report(at, fmt::format("YAML syntax error: {}", msg), std::move(hint));
}

void sort_problems(std::vector<config_problem>& problems) {
    std::ranges::stable_sort(problems, [](const config_problem& a, const config_problem& b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
}

}  // namespace

env_lookup process_env() {
    return [](std::string_view name) -> std::optional<std::string> {
        // NOLINTNEXTLINE(concurrency-mt-unsafe): only read at start-up, before any thread
        const char* v = std::getenv(std::string(name).c_str());
        if (v == nullptr) {
            return std::nullopt;
        }
        return std::string(v);
    };
}

load_result load_config_text(std::string_view yaml, const std::string& file_name,
                             const env_lookup& env, const load_options& options) {
    std::error_code ec;
    fs::path dir = fs::path(file_name).parent_path();
    fs::path base = dir.empty() ? fs::current_path(ec) : fs::absolute(dir, ec);
    loader l(file_name, base, env, options, core::split(yaml, '\n'));
    YAML::Node root;
    load_result out;
    try {
        root = YAML::Load(std::string(yaml));
    } catch (const YAML::ParserException& e) {
        l.report_syntax(e.mark, e.msg);
        out.problems = std::move(l.problems);
        return out;
    } catch (const YAML::Exception& e) {
        l.report({}, fmt::format("cannot parse the file: {}", e.what()), "check the YAML syntax");
        out.problems = std::move(l.problems);
        return out;
    }
    try {
        l.cfg.source_path = file_name;
        l.load(root);
    } catch (const YAML::Exception& e) {
        // yaml-cpp throws only on misuse; report rather than crash the check.
        l.report({}, fmt::format("internal error while reading the config: {}", e.what()),
                 "please report this with the config file");
    }
    sort_problems(l.problems);
    out.config = std::move(l.cfg);
    out.problems = std::move(l.problems);
    return out;
}

load_result load_config(const std::string& path, const env_lookup& env,
                        const load_options& options) {
    std::string why;
    auto text = read_text_file(path, why);
    if (!text) {
        load_result out;
        out.unreadable = true;
        out.problems.push_back({path, 0, 0, fmt::format("cannot read the config file: {}", why),
                                "check the path, e.g. `tugboat check-config "
                                "/etc/tugboat/tugboat.yaml`"});
        return out;
    }
    return load_config_text(*text, path, env, options);
}

core::result<core::config> read_config(const std::string& path, const env_lookup& env) {
    auto loaded = load_config(path, env);
    if (!loaded.ok()) {
        return core::make_error(core::errc::config_error, format_problems(loaded.problems));
    }
    return std::move(loaded.config);
}

std::string format_problems(std::span<const config_problem> problems) {
    std::string out;
    for (const auto& p : problems) {
        if (p.line > 0 && p.column > 0) {
            out += fmt::format("{}:{}:{}: {}\n", p.file, p.line, p.column, p.message);
        } else if (p.line > 0) {
            out += fmt::format("{}:{}: {}\n", p.file, p.line, p.message);
        } else {
            out += fmt::format("{}: {}\n", p.file, p.message);
        }
        if (!p.hint.empty()) {
            out += fmt::format("    hint: {}\n", p.hint);
        }
    }
    return out;
}

std::string summarize(const core::config& c) {
    return fmt::format("{}, {}, {}, {}, {}, {}", plural(c.services.size(), "service", "services"),
                       plural(c.environments.size(), "environment", "environments"),
                       plural(c.clusters.size(), "cluster", "clusters"),
                       plural(c.jenkins.size(), "Jenkins server", "Jenkins servers"),
                       plural(c.channels.size(), "channel", "channels"),
                       plural(c.access.roles.size(), "access role", "access roles"));
}

int run_check_config(const std::string& path, std::ostream& out, const env_lookup& env,
                     const load_options& options) {
    auto loaded = load_config(path, env, options);
    if (loaded.ok()) {
        out << fmt::format("OK: {}: {}{}\n", path, summarize(loaded.config),
                           options.resolve_secrets && options.check_files
                               ? ""
                               : " (offline: secrets and files not checked)");
        return 0;
    }
    out << format_problems(loaded.problems);
    out << fmt::format("{} in {}\n", plural(loaded.problems.size(), "problem", "problems"), path);
    return loaded.unreadable ? 2 : 1;
}

int check_config_command(std::span<const std::string> args, std::ostream& out,
                         const env_lookup& env) {
    static constexpr std::string_view usage =
        "usage: tugboat check-config FILE [--offline]\n"
        "  Checks the configuration and prints every problem with file:line.\n"
        "  --offline  skip secrets (environment variables, secret files, in-cluster\n"
        "             credentials) and files named in the config; for checking on a laptop\n"
        "  exit code: 0 good, 1 problems found, 2 usage error or unreadable file\n";
    load_options options;
    std::optional<std::string> file;
    for (const auto& a : args) {
        if (a == "--help" || a == "-h") {
            out << usage;
            return 0;
        }
        if (a == "--offline") {
            options.resolve_secrets = false;
            options.check_files = false;
            continue;
        }
        if (a.starts_with("-")) {
            static const std::vector<std::string> flags{"--offline", "--help"};
            out << fmt::format("unknown option `{}`.{}\n", a, core::did_you_mean(a, flags))
                << usage;
            return 2;
        }
        if (file) {
            out << fmt::format("check-config takes one FILE, got `{}` and `{}`\n", *file, a)
                << usage;
            return 2;
        }
        file = a;
    }
    if (!file) {
        out << "check-config needs the config FILE\n" << usage;
        return 2;
    }
    return run_check_config(*file, out, env, options);
}

}  // namespace tugboat::bot
