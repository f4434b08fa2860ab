#include "commands/redact.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace tugboat::commands {

namespace {

constexpr std::size_t npos = std::string_view::npos;

// glibc's memmem is vectorised; std::string_view::find walks memchr on the first byte, which
// is slow for needles starting with a common letter.
std::size_t find_in(std::string_view hay, std::string_view needle, std::size_t from = 0) {
    if (from >= hay.size()) {
        return npos;
    }
    const void* p = ::memmem(hay.data() + from, hay.size() - from, needle.data(), needle.size());
    return p == nullptr ? npos : static_cast<std::size_t>(static_cast<const char*>(p) - hay.data());
}

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_upper_or_digit(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_b64url(char c) {
    return is_alnum(c) || c == '-' || c == '_';
}
bool is_token_char(char c) {  // RFC 6750 b64token plus '=' padding
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' ||
           c == '=';
}
bool is_key_char(char c) {
    return is_alnum(c) || c == '_' || c == '-' || c == '.';
}
bool is_space(char c) {
    return c == ' ' || c == '\t';
}
char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

struct span {
    std::size_t begin;
    std::size_t end;
};

// ---- private keys ----

// Position just after the "-----END … PRIVATE KEY-----" marker at or after `from`, or npos.
std::size_t pem_end(std::string_view line, std::size_t from) {
    for (std::size_t e = find_in(line, "-----END ", from); e != npos;
         e = find_in(line, "-----END ", e + 1)) {
        auto close = find_in(line, "PRIVATE KEY-----", e);
        if (close != npos) {
            return close + std::string_view("PRIVATE KEY-----").size();
        }
    }
    return npos;
}

// "-----BEGIN <LABEL>PRIVATE KEY-----" at `b`: the position after it, or npos.
std::size_t pem_begin_end(std::string_view line, std::size_t b) {
    std::size_t label = b + std::string_view("-----BEGIN ").size();
    auto close = find_in(line, "-----", label);
    if (close == npos || close - label > 40) {
        return npos;
    }
    auto text = line.substr(label, close - label);
    if (!text.ends_with("PRIVATE KEY") ||
        !std::ranges::all_of(text, [](char c) { return (c >= 'A' && c <= 'Z') || c == ' '; })) {
        return npos;
    }
    return close + 5;
}

// Replaces private keys that start in `line`; returns whether anything changed. A key whose END
// is not on this line leaves the stream in the block.
bool redact_private_keys(std::string& line, redact_state& state) {
    bool changed = false;
    if (state.in_private_key) {
        auto e = pem_end(line, 0);
        if (e == npos) {
            line.assign(redacted_mark);
            return true;
        }
        line.replace(0, e, redacted_mark);
        state.in_private_key = false;
        changed = true;
    }
    for (std::size_t b = find_in(line, "-----BEGIN ", 0); b != npos;
         b = find_in(line, "-----BEGIN ", b + 1)) {
        auto after_begin = pem_begin_end(line, b);
        if (after_begin == npos) {
            continue;
        }
        auto e = pem_end(line, after_begin);
        if (e == npos) {
            line.replace(b, npos, redacted_mark);
            state.in_private_key = true;
            return true;
        }
        line.replace(b, e - b, redacted_mark);
        changed = true;
    }
    return changed;
}

// ---- one-line rules ----
//
// One pass over the line looks only at a few trigger bytes (a table lookup per byte); each
// trigger checks its rule at that spot and adds the spans to hide. Separate searches per rule
// cost several times more on the many lines that hold no secret at all.

bool word_start(std::string_view line, std::size_t i) {
    return i == 0 || !is_alnum(line[i - 1]);
}

bool equals_lower(std::string_view text, std::size_t at, std::string_view word_lower) {
    if (at + word_lower.size() > text.size()) {
        return false;
    }
    for (std::size_t k = 0; k < word_lower.size(); ++k) {
        if (lower(text[at + k]) != word_lower[k]) {
            return false;
        }
    }
    return true;
}

// "Bearer x" / "Basic x" (any case) with the scheme word at `i`.
void auth_scheme_at(std::string_view line, std::size_t i, std::vector<span>& out) {
    std::size_t v = 0;
    std::size_t min_token = 1;
    if (equals_lower(line, i, "bearer")) {
        v = i + 6;
    } else if (equals_lower(line, i, "basic")) {
        v = i + 5;
        min_token = 8;  // "basic setup" is prose, not a credential
    } else {
        return;
    }
    std::size_t spaces = v;
    while (v < line.size() && is_space(line[v])) {
        ++v;
    }
    if (v == spaces) {
        return;
    }
    std::size_t e = v;
    while (e < line.size() && is_token_char(line[e])) {
        ++e;
    }
    if (e - v >= min_token && line.substr(v, e - v) != redacted_mark) {
        out.push_back({v, e});
    }
}

// header.payload.signature, each base64url; the header always starts with "eyJ" ('{"'). `j` is
// the 'J'. Returns where scanning may go on.
std::size_t jwt_at(std::string_view line, std::size_t j, std::vector<span>& out) {
    if (j < 2 || line[j - 2] != 'e' || line[j - 1] != 'y') {
        return j;
    }
    std::size_t b = j - 2;
    if (b > 0 && is_b64url(line[b - 1])) {
        return j;
    }
    std::size_t e = b;
    int dots = 0;
    std::size_t first_part = 0;
    while (e < line.size() && (is_b64url(line[e]) || (line[e] == '.' && dots < 2))) {
        if (line[e] == '.') {
            if (dots == 0) {
                first_part = e - b;
            }
            ++dots;
        }
        ++e;
    }
    if (dots == 2 && first_part >= 10) {
        out.push_back({b, e});
        return e - 1;
    }
    return j;
}

// AKIA/ASIA + 16 upper-case letters or digits, at `b`.
void aws_access_key_at(std::string_view line, std::size_t b, std::vector<span>& out) {
    if (!word_start(line, b) || b + 20 > line.size() ||
        (line.substr(b, 4) != "AKIA" && line.substr(b, 4) != "ASIA")) {
        return;
    }
    bool ok = std::all_of(line.begin() + static_cast<std::ptrdiff_t>(b + 4),
                          line.begin() + static_cast<std::ptrdiff_t>(b + 20), is_upper_or_digit);
    if (ok && (b + 20 == line.size() || !is_alnum(line[b + 20]))) {
        out.push_back({b, b + 20});
    }
}

// A 40-character secret access key, only on lines that mention AWS: a bare 40-character
// base64 word elsewhere is as likely a digest or an id.
void aws_secret_keys(std::string_view line, std::vector<span>& out) {
    auto word_char = [](char c) { return is_alnum(c) || c == '/' || c == '+'; };
    std::size_t i = 0;
    while (i < line.size()) {
        if (!word_char(line[i])) {
            ++i;
            continue;
        }
        std::size_t b = i;
        bool up = false;
        bool low = false;
        bool digit = false;
        while (i < line.size() && word_char(line[i])) {
            char c = line[i];
            up = up || (c >= 'A' && c <= 'Z');
            low = low || (c >= 'a' && c <= 'z');
            digit = digit || (c >= '0' && c <= '9');
            ++i;
        }
        if (i - b == 40 && up && low && digit) {
            out.push_back({b, i});
        }
    }
}

// scheme://user:password@host, with `s` at the ':' of "://".
void url_password_at(std::string_view line, std::size_t s, std::vector<span>& out) {
    std::size_t e = s + 3;
    std::size_t colon = npos;
    while (e < line.size() && line[e] != '@' && line[e] != '/' && !is_space(line[e]) &&
           line[e] != '"' && line[e] != '\'') {
        if (line[e] == ':' && colon == npos) {
            colon = e;
        }
        ++e;
    }
    if (e < line.size() && line[e] == '@' && colon != npos && colon + 1 < e) {
        out.push_back({colon + 1, e});
    }
}

// xoxb-…, xoxp-…, xapp-… at `b`.
void slack_token_at(std::string_view line, std::size_t b, std::vector<span>& out) {
    std::size_t body = 0;
    if (b + 5 <= line.size() && line.substr(b, 3) == "xox" &&
        std::string_view("abposr").find(line[b + 3]) != npos && line[b + 4] == '-') {
        body = b + 5;
    } else if (line.substr(b, 5) == "xapp-") {
        body = b + 5;
    } else {
        return;
    }
    std::size_t e = body;
    while (e < line.size() && (is_alnum(line[e]) || line[e] == '-')) {
        ++e;
    }
    if (e - body >= 8) {
        out.push_back({b, e});
    }
}

bool secret_key_name(std::string_view key) {
    static constexpr std::array<std::string_view, 11> words{
        "password", "passwd",  "pwd",        "secret",      "token",     "api_key",
        "apikey",   "api-key", "access_key", "private_key", "credential"};
    if (key.size() < 3) {
        return false;
    }
    // Every word holds a 'w', 'k' or 'c': most keys (id, path, status, …) stop here.
    if (!std::ranges::any_of(key, [](char c) {
            char l = lower(c);
            return l == 'w' || l == 'k' || l == 'c';
        })) {
        return false;
    }
    std::array<char, 64> buf{};
    if (key.size() > buf.size()) {
        key = key.substr(key.size() - buf.size());
    }
    for (std::size_t i = 0; i < key.size(); ++i) {
        buf[i] = lower(key[i]);
    }
    std::string_view k(buf.data(), key.size());
    return std::ranges::any_of(words, [&](std::string_view w) { return k.find(w) != npos; });
}

// key=value, key: value, "key": "value", key = 'value' — the value only; `sep` is the '=' or
// ':'.
void key_value_at(std::string_view line, std::size_t sep, std::vector<span>& out) {
    std::size_t k = sep;
    while (k > 0 && is_space(line[k - 1]) && sep - k < 4) {
        --k;
    }
    if (k > 0 && (line[k - 1] == '"' || line[k - 1] == '\'')) {
        --k;
    }
    std::size_t key_end = k;
    while (k > 0 && is_key_char(line[k - 1])) {
        --k;
    }
    if (!secret_key_name(line.substr(k, key_end - k))) {
        return;
    }
    std::size_t v = sep + 1;
    while (v < line.size() && is_space(line[v]) && v - sep < 5) {
        ++v;
    }
    std::size_t e = v;
    if (v < line.size() && (line[v] == '"' || line[v] == '\'')) {
        char q = line[v];
        ++v;
        e = v;
        while (e < line.size() && line[e] != q) {
            ++e;
        }
    } else {
        while (e < line.size() && !is_space(line[e]) &&
               std::string_view("\"',;&)}]").find(line[e]) == npos) {
            ++e;
        }
    }
    if (e > v && !line.substr(v).starts_with(redacted_mark)) {
        out.push_back({v, e});
    }
}

// The bytes at which a rule may match (an embedded NUL also stops strcspn; it matches nothing).
constexpr const char* triggers = "bBJAwWx=:";

// `line` must be NUL-terminated (a std::string's data): strcspn finds the next trigger 16 bytes
// at a time (SSE4.2 in glibc).
void scan_line(std::string_view line, std::vector<span>& out) {
    bool mentions_aws = false;
    const std::size_t n = line.size();
    const char* base = line.data();
    for (std::size_t i = std::strcspn(base, triggers); i < n;
         i += 1 + std::strcspn(base + i + 1, triggers)) {
        const char c = line[i];
        switch (c) {
            case 'b':
            case 'B':
                if (word_start(line, i)) {
                    auth_scheme_at(line, i, out);
                }
                break;
            case 'J': i = jwt_at(line, i, out); break;
            case 'A': aws_access_key_at(line, i, out); break;
            case 'w':
            case 'W':
                mentions_aws = mentions_aws || (i > 0 && i + 1 < n && lower(line[i - 1]) == 'a' &&
                                                lower(line[i + 1]) == 's');
                break;
            case 'x':
                if (word_start(line, i)) {
                    slack_token_at(line, i, out);
                }
                break;
            case ':':
                if (i + 2 < n && line[i + 1] == '/' && line[i + 2] == '/') {
                    url_password_at(line, i, out);
                } else {
                    key_value_at(line, i, out);
                }
                break;
            case '=': key_value_at(line, i, out); break;
            default: break;
        }
    }
    if (mentions_aws) {
        aws_secret_keys(line, out);
    }
}

// Applies the spans (any order, may overlap) from the back.
void hide(std::string& line, std::vector<span>& spans) {
    std::ranges::sort(spans, [](const span& a, const span& b) { return a.begin < b.begin; });
    std::vector<span> merged;
    for (const auto& s : spans) {
        if (!merged.empty() && s.begin <= merged.back().end) {
            merged.back().end = std::max(merged.back().end, s.end);
        } else {
            merged.push_back(s);
        }
    }
    for (auto it = merged.rbegin(); it != merged.rend(); ++it) {
        line.replace(it->begin, it->end - it->begin, redacted_mark);
    }
}

}  // namespace

core::result<redactor> redactor::create(const std::vector<std::string>& extra_patterns) {
    redactor r;
    for (const auto& p : extra_patterns) {
        try {
            r.extra_.emplace_back(p, std::regex::ECMAScript | std::regex::optimize);
        } catch (const std::regex_error& e) {
            return core::make_error(
                core::errc::invalid_argument,
                fmt::format("redaction pattern `{}` is not a valid regular expression: {}", p,
                            e.what()));
        }
    }
    return r;
}

bool redactor::redact_line(std::string& line, redact_state& state) const {
    bool changed = false;
    // std::string::find (memchr on '-') beats memmem's set-up cost on short lines.
    if (state.in_private_key || line.find("-----") != std::string::npos) {
        changed = redact_private_keys(line, state);
        if (state.in_private_key && line == redacted_mark) {
            return true;
        }
    }
    std::vector<span> spans;  // allocates only when something matched
    scan_line(line, spans);
    if (!spans.empty()) {
        hide(line, spans);
        changed = true;
    }
    for (const auto& re : extra_) {
        if (std::regex_search(line, re)) {
            line = std::regex_replace(line, re, std::string(redacted_mark));
            changed = true;
        }
    }
    return changed;
}

std::string redactor::redact_text(std::string_view text) const {
    std::string out;
    out.reserve(text.size());
    redact_state state;
    std::string line;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        bool has_nl = nl != npos;
        line.assign(text.substr(pos, has_nl ? nl - pos : npos));
        redact_line(line, state);
        out += line;
        if (has_nl) {
            out += '\n';
        }
        pos = has_nl ? nl + 1 : text.size();
    }
    return out;
}

}  // namespace tugboat::commands
