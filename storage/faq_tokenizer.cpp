#include "storage/faq_tokenizer.hpp"

#include <sqlite3.h>

#include <array>
#include <cstring>

namespace tugboat::storage {
namespace {

// Base letters of U+0100–U+017F (Latin Extended-A), so "Čeština" folds like unicode61 would.
constexpr std::string_view latin_ext_a =
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiijjjjkkkllllllllllnnnnnnnnnoooooooo"
    "rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

// Folds U+00C0–U+00FF; '\0' marks the two signs (×, ÷) in that block.
// The sv suffix keeps the string_view's length past the embedded NULs.
using std::string_view_literals::operator""sv;
constexpr std::string_view latin_1 =
    "aaaaaaaceeeeiiiidnooooo\0ouuuuyts"
    "aaaaaaaceeeeiiiidnooooo\0ouuuuyty"sv;
static_assert(latin_1.size() == 64);
static_assert(latin_ext_a.size() == 128);

bool is_combining_mark(char32_t c) {
    return (c >= 0x300 && c <= 0x36F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
           (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF) ||
           (c >= 0xFE20 && c <= 0xFE2F);
}

bool is_separator(char32_t c) {
    if (c < 0x80) {
        return !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
    }
    return (c >= 0x80 && c <= 0xBF) || c == 0xD7 || c == 0xF7 ||  // Latin-1 signs
           (c >= 0x2000 && c <= 0x2BFF) ||                        // punctuation, arrows, symbols
           (c >= 0x3000 && c <= 0x303F) ||                        // CJK punctuation
           (c >= 0xFE00 && c <= 0xFE0F) ||                        // variation selectors
           (c >= 0xFF00 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
           (c >= 0xE000 && c <= 0xF8FF) ||    // private use
           (c >= 0xFFF0 && c <= 0xFFFF) ||    // specials, including U+FFFD for bad bytes
           (c >= 0x1F000 && c <= 0x1FAFF) ||  // emoji and pictographs
           (c >= 0xE0000);                    // tags
}

/// Appends the folded form of a word character.
void append_folded(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    } else if (c >= 0xC0 && c <= 0xFF) {
        if (c == 0xC6 || c == 0xE6) {
            out += "ae";
        } else if (c == 0xDF) {
            out += "ss";
        } else {
            out += latin_1[c - 0xC0];
        }
    } else if (c >= 0x100 && c <= 0x17F) {
        out += latin_ext_a[c - 0x100];
    } else if ((c >= 0x391 && c <= 0x3A9) || (c >= 0x410 && c <= 0x42F)) {
        append_utf8(out, c + 0x20);  // Greek and Cyrillic capitals
    } else if (c >= 0x400 && c <= 0x40F) {
        append_utf8(out, c + 0x50);
    } else {
        append_utf8(out, c);
    }
}

bool is_lead_jamo(char32_t c) {
    return c >= 0x1100 && c <= 0x1112;
}
bool is_vowel_jamo(char32_t c) {
    return c >= 0x1161 && c <= 0x1175;
}
bool is_trail_jamo(char32_t c) {
    return c >= 0x11A8 && c <= 0x11C2;
}

/// Composes conjoining jamo at `i` onto `c` (Unicode canonical composition for Hangul, the only
/// part of NFC that changes how Korean tokenizes).
char32_t compose_hangul(char32_t c, std::string_view text, std::size_t& i) {
    std::size_t peek = i;
    if (is_lead_jamo(c)) {
        char32_t v = next_code_point(text, peek);
        if (!is_vowel_jamo(v)) {
            return c;
        }
        c = 0xAC00 + ((c - 0x1100) * 21 + (v - 0x1161)) * 28;
        i = peek;
    }
    if (is_hangul_syllable(c) && (c - 0xAC00) % 28 == 0) {
        char32_t t = next_code_point(text, peek = i);
        if (is_trail_jamo(t)) {
            c += t - 0x11A7;
            i = peek;
        }
    }
    return c;
}

class porter {
public:
    explicit porter(std::string w) : b_(std::move(w)), k_(static_cast<int>(b_.size()) - 1) {}

    std::string run() {
        if (k_ <= 1) {
            return b_;
        }
        step1ab();
        if (k_ > 0) {
            step1c();
            step2();
            step3();
            step4();
            step5();
        }
        return b_.substr(0, static_cast<std::size_t>(k_) + 1);
    }

private:
    char at(int i) const { return b_[static_cast<std::size_t>(i)]; }

    bool cons(int i) const {
        switch (at(i)) {
            case 'a':
            case 'e':
            case 'i':
            case 'o':
            case 'u': return false;
            case 'y': return i == 0 || !cons(i - 1);
            default: return true;
        }
    }

    /// Moves `i` past letters that are (not) consonants; false when b[0..j] ends first.
    bool skip(int& i, bool consonants) const {
        while (i <= j_ && cons(i) == consonants) {
            ++i;
        }
        return i <= j_;
    }

    // The number of vowel-consonant sequences in b[0..j].
    int m() const {
        int n = 0;
        int i = 0;
        if (!skip(i, true)) {
            return 0;
        }
        for (;;) {
            if (!skip(i, false)) {
                return n;
            }
            ++n;
            if (!skip(i, true)) {
                return n;
            }
        }
    }

    bool vowel_in_stem() const {
        for (int i = 0; i <= j_; ++i) {
            if (!cons(i)) {
                return true;
            }
        }
        return false;
    }

    bool double_c(int j) const { return j >= 1 && at(j) == at(j - 1) && cons(j); }

    bool cvc(int i) const {
        if (i < 2 || !cons(i) || cons(i - 1) || !cons(i - 2)) {
            return false;
        }
        char c = at(i);
        return c != 'w' && c != 'x' && c != 'y';
    }

    bool ends(std::string_view s) {
        const int len = static_cast<int>(s.size());
        const int from = k_ - len + 1;
        if (from < 0 || b_.compare(static_cast<std::size_t>(from), s.size(), s) != 0) {
            return false;
        }
        j_ = k_ - len;
        return true;
    }

    void set_to(std::string_view s) {
        b_.replace(static_cast<std::size_t>(j_) + 1, std::string::npos, s);
        k_ = j_ + static_cast<int>(s.size());
    }

    void r(std::string_view s) {
        if (m() > 0) {
            set_to(s);
        }
    }

    void step1ab() {
        if (at(k_) == 's') {
            if (ends("sses")) {
                k_ -= 2;
            } else if (ends("ies")) {
                set_to("i");
            } else if (at(k_ - 1) != 's') {
                --k_;
            }
        }
        if (ends("eed")) {
            if (m() > 0) {
                --k_;
            }
        } else if ((ends("ed") || ends("ing")) && vowel_in_stem()) {
            k_ = j_;
            if (ends("at")) {
                set_to("ate");
            } else if (ends("bl")) {
                set_to("ble");
            } else if (ends("iz")) {
                set_to("ize");
            } else if (double_c(k_)) {
                --k_;
                char c = at(k_);
                if (c == 'l' || c == 's' || c == 'z') {
                    ++k_;
                }
            } else if (j_ = k_; m() == 1 && cvc(k_)) {
                set_to("e");
            }
        }
    }

    void step1c() {
        if (ends("y") && vowel_in_stem()) {
            b_[static_cast<std::size_t>(k_)] = 'i';
        }
    }

    bool try_rules(std::initializer_list<std::pair<std::string_view, std::string_view>> rules) {
        for (auto [suffix, replacement] : rules) {
            if (ends(suffix)) {
                r(replacement);
                return true;
            }
        }
        return false;
    }

    void step2() {
        switch (at(k_ - 1)) {
            case 'a': try_rules({{"ational", "ate"}, {"tional", "tion"}}); break;
            case 'c': try_rules({{"enci", "ence"}, {"anci", "ance"}}); break;
            case 'e': try_rules({{"izer", "ize"}}); break;
            case 'l':
                try_rules({{"bli", "ble"},
                           {"alli", "al"},
                           {"entli", "ent"},
                           {"eli", "e"},
                           {"ousli", "ous"}});
                break;
            case 'o': try_rules({{"ization", "ize"}, {"ation", "ate"}, {"ator", "ate"}}); break;
            case 's':
                try_rules(
                    {{"alism", "al"}, {"iveness", "ive"}, {"fulness", "ful"}, {"ousness", "ous"}});
                break;
            case 't': try_rules({{"aliti", "al"}, {"iviti", "ive"}, {"biliti", "ble"}}); break;
            case 'g': try_rules({{"logi", "log"}}); break;
            default: break;
        }
    }

    void step3() {
        switch (at(k_)) {
            case 'e': try_rules({{"icate", "ic"}, {"ative", ""}, {"alize", "al"}}); break;
            case 'i': try_rules({{"iciti", "ic"}}); break;
            case 'l': try_rules({{"ical", "ic"}, {"ful", ""}}); break;
            case 's': try_rules({{"ness", ""}}); break;
            default: break;
        }
    }

    void step4() {
        static constexpr std::array<std::string_view, 19> suffixes{
            "al",  "ance", "ence", "er",  "ic",  "able", "ible", "ant", "ement", "ment",
            "ent", "ion",  "ou",   "ism", "ate", "iti",  "ous",  "ive", "ize"};
        for (auto s : suffixes) {
            if (!ends(s)) {
                continue;
            }
            if (s == "ion" && !(j_ >= 0 && (at(j_) == 's' || at(j_) == 't'))) {
                continue;
            }
            if (m() > 1) {
                k_ = j_;
            }
            return;
        }
    }

    void step5() {
        j_ = k_;
        if (at(k_) == 'e') {
            int a = m();
            if (a > 1 || (a == 1 && !cvc(k_ - 1))) {
                --k_;
            }
        }
        if (at(k_) == 'l' && double_c(k_) && m() > 1) {
            --k_;
        }
    }

    std::string b_;
    int k_;
    int j_ = 0;
};

bool is_ascii_letters(std::string_view w) {
    for (char c : w) {
        if (c < 'a' || c > 'z') {
            return false;
        }
    }
    return true;
}

// FTS5 glue: the tokenizer keeps no state, so every instance is the same static object.
int fts5_create(void*, const char**, int, Fts5Tokenizer** out) {
    static int instance = 0;
    *out = reinterpret_cast<Fts5Tokenizer*>(&instance);
    return SQLITE_OK;
}

void fts5_delete(Fts5Tokenizer*) {}

int fts5_tokenize(Fts5Tokenizer*, void* ctx, int, const char* text, int size,
                  int (*token)(void*, int, const char*, int, int, int)) {
    int rc = SQLITE_OK;
    faq_tokenize(std::string_view{text, static_cast<std::size_t>(size)}, [&](const faq_token& t) {
        if (rc == SQLITE_OK) {
            rc = token(ctx, 0, t.text.data(), static_cast<int>(t.text.size()), t.start, t.end);
        }
    });
    return rc;
}

}  // namespace

bool is_hangul_syllable(char32_t c) {
    return c >= 0xAC00 && c <= 0xD7A3;
}

char32_t next_code_point(std::string_view text, std::size_t& i) {
    const auto b0 = static_cast<unsigned char>(text[i++]);
    if (b0 < 0x80) {
        return b0;
    }
    int extra = 0;
    char32_t c = 0;
    if ((b0 & 0xE0) == 0xC0) {
        extra = 1;
        c = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
        extra = 2;
        c = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
        extra = 3;
        c = b0 & 0x07;
    } else {
        return 0xFFFD;
    }
    for (int n = 0; n < extra; ++n) {
        if (i >= text.size() || (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            return 0xFFFD;
        }
        c = (c << 6) | (static_cast<unsigned char>(text[i++]) & 0x3F);
    }
    return c;
}

void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

std::string porter_stem(std::string word) {
    return porter{std::move(word)}.run();
}

void faq_tokenize(std::string_view text, const std::function<void(const faq_token&)>& emit) {
    struct syllable {
        char32_t c;
        int start;
        int end;
    };
    std::vector<syllable> hangul;
    faq_token word;
    bool in_word = false;

    auto flush = [&] {
        if (hangul.size() == 1) {
            faq_token t{.start = hangul[0].start, .end = hangul[0].end};
            append_utf8(t.text, hangul[0].c);
            emit(t);
        }
        for (std::size_t n = 0; n + 1 < hangul.size(); ++n) {
            faq_token t{.start = hangul[n].start, .end = hangul[n + 1].end};
            append_utf8(t.text, hangul[n].c);
            append_utf8(t.text, hangul[n + 1].c);
            emit(t);
        }
        hangul.clear();
        if (in_word) {
            if (word.text.size() > 2 && is_ascii_letters(word.text)) {
                word.text = porter_stem(std::move(word.text));
            }
            emit(word);
            word = {};
            in_word = false;
        }
    };

    std::size_t i = 0;
    while (i < text.size()) {
        const int start = static_cast<int>(i);
        char32_t c = compose_hangul(next_code_point(text, i), text, i);
        if (is_combining_mark(c)) {
            continue;  // diacritics are dropped without ending the word
        }
        if (is_hangul_syllable(c)) {
            if (in_word) {
                flush();
            }
            hangul.push_back({c, start, static_cast<int>(i)});
            continue;
        }
        if (is_separator(c)) {
            flush();
            continue;
        }
        if (!hangul.empty()) {
            flush();
        }
        if (!in_word) {
            in_word = true;
            word.start = start;
        }
        append_folded(word.text, c);
        word.end = static_cast<int>(i);
    }
    flush();
}

std::vector<faq_token> faq_tokens(std::string_view text) {
    std::vector<faq_token> out;
    faq_tokenize(text, [&](const faq_token& t) { out.push_back(t); });
    return out;
}

namespace detail {

int register_faq_rank(fts5_api* api);  // storage/faq_rank.cpp

/// Registers the "tugboat" FTS5 tokenizer and the tugboat_rank function on `db`; called by
/// database::open before migrating.
int register_faq_tokenizer(sqlite3* db) {
    fts5_api* api = nullptr;
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, nullptr);
    if (rc != SQLITE_OK) {
        return rc;
    }
    sqlite3_bind_pointer(st, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
    sqlite3_step(st);
    rc = sqlite3_finalize(st);
    if (rc != SQLITE_OK || api == nullptr) {
        return rc == SQLITE_OK ? SQLITE_ERROR : rc;
    }
    fts5_tokenizer tokenizer{fts5_create, fts5_delete, fts5_tokenize};
    rc = api->xCreateTokenizer(api, "tugboat", nullptr, &tokenizer, nullptr);
    return rc == SQLITE_OK ? register_faq_rank(api) : rc;
}

}  // namespace detail
}  // namespace tugboat::storage
