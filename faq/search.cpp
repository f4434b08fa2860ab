#include "faq/search.hpp"

#include "faq/indexer.hpp"
#include "faq/korean.hpp"
#include "faq/markdown.hpp"
#include "storage/faq_rank.hpp"
#include "storage/faq_tokenizer.hpp"
#include "storage/query.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <numeric>
#include <set>
#include <utility>

namespace tugboat::faq {
namespace {

// bm25 column weights, in the order of faq_search's columns: a match in the title or an
// alternative question says more about what a page answers than one in passing in its body.
constexpr std::string_view ranking_sql =
    "SELECT s.id, s.document_id, r.score, d.front_matter_json, d.path "
    "FROM (SELECT rowid, "
    "tugboat_rank(faq_search, ?2, 6.0, 6.0, 3.0, 1.0, ?3) AS score FROM faq_search "
    "WHERE faq_search MATCH ?1 "
    "ORDER BY score DESC LIMIT 60) r JOIN faq_sections s ON s.id = r.rowid "
    "JOIN faq_documents d ON d.id = s.document_id ORDER BY r.score DESC";

constexpr std::int64_t scoring_budget = 1000;

// A page that answered an earlier question like this one, by its asker's word (faq_learned),
// ranks higher by 1 + 3 × alike², alike being the share of this question's weight the earlier
// one holds: the askers' own words bridge what the docs put differently ("restarting before it's
// even up" → startup probes). Squared, so that only a close question moves a page far. With
// each question set left out in turn, learning from 300 of the others' questions lifted top-1
// 81.3 → 89.0 % (en) and 84.6 → 90.2 % (ko); weights 1–6 and powers 1–3 were within 1.5
// points of that (bench/faq.md).
constexpr double learned_weight = 3.0;
// Earlier questions less alike than this are not looked for (at most 1.2× for a page).
constexpr double least_alike = 0.25;

// A question at least this alike to one whose asker confirmed the first page is as sure as that:
// its confidence is at least the likeness. With every set left out in turn and 300 lessons,
// Korean wrong declines fell 4.3 → 2.9 % and English 4.1 → 4.0 %, correct declines unchanged;
// 0.6 and 0.75 declined fewer answerable questions and also fewer out-of-scope ones.
constexpr double learned_alike = 0.8;

// A question at least this alike to one the platform team said the docs do not answer (a lesson
// without a page), and more alike to it by `gap_margin` than to any question its first page
// answered, is as unsure as 1 − likeness, halved: below the default threshold, so it is declined
// with the offer to ask the team instead of getting the nearest page — unless that page changed
// after the earlier question was asked (its answer may have been added). Out-of-scope questions
// come back (Helm, Terraform, the VPN): with each question set left out in turn and the team's word
// on the others, English correct declines rose 73.9 → 92.2 % and Korean 85.3 → 94.8 %, wrong
// declines 2.6 → 3.8 % and 1.9 → 2.6 %; at 0.4 wrong declines passed 5 %, at 0.6 correct declines
// fell to 89 % (bench/faq.md, session 17).
constexpr double gap_alike = 0.5;
constexpr double gap_margin = 0.1;

// A word found nowhere in the docs weighs half again as much as its idf (which is barely above
// that of a word found once): no page can cover it, and once question words, fillers and
// generic verbs are dropped, such words are nearly always what the docs do not cover
// (Terraform, 점심): 19 of the 28 out-of-scope evaluation questions have one, 2 of the 92
// answerable ones. (That was before ordinary words were told from names, below; it now applies
// to an English question when there is no word list, and a Hangul word is capped after it.)
constexpr double unknown_word_weight = 1.5;

// A word that no page uses and that names something weighs twice as much again: the question
// is about another product. In a Korean question that is a word in Latin letters (React, MySQL,
// GRANT, pip, Dockerfile) — Korean questions keep English only for names, while a Korean word
// found nowhere is as often an inflected form the analysis missed (넣어두고); 1.5 → 3 turned 3
// more of 72 Korean out-of-scope questions into declines and no answerable one of 225. In an
// English question it is a word the English word list lacks (kubeadm, ECR, pgbouncer). Hangul
// in an English question is a name too.
constexpr double name_word_weight = 3.0;

// An ordinary word — one the English word list has, or any Hangul word (there is no Korean
// list) — weighs at most this, about the idf of a word in one section of eight: idf favours
// rare words, and the rare ordinary words of a question are mostly how it is put (chunk, ago,
// chatty, 귀찮네, 넣어두고), while its rare names (initialDelaySeconds, kubeconfig, CronJob) are
// what it is about. Long, chatty questions were declined because such words diluted the
// coverage. Chosen on 1,492 labelled questions, with every set left out in turn (bench/faq.md).
constexpr double ordinary_word_cap = 2.0;

// A page ranks by its best section plus its next ones at 0.35, 0.35², …: a page with several
// sections on the question is more likely the page about it than one lucky section elsewhere
// (top-1 on the English questions +7 of 76, Korean −1 of 76; 0.2 and 0.5 did worse).
constexpr double more_sections = 0.35;

// A page in the language of the question is preferred over an equally good one in the other:
// glossary words and code match both, but people want to read the answer in their language.
constexpr double other_language = 0.5;

// A page whose name (title, or one of its front-matter questions) is what the question asks
// about ranks up to a quarter higher (the F-measure of name_fit below): twin pages share their
// body words (초기화 컨테이너 and 초기화 컨테이너 디버그하기, service and debug-service) and differ
// in their names. 0.15–0.35 gave the same results on every question set, none worse than without.
constexpr double name_weight = 0.25;

// A leading page's best section also ranks up to half higher by how much of the question it
// covers (the weighted share of the question's words in it): the page that answers the whole
// question, rare names included, over one with more hits on its common words (PDB 걸어두면
// 디플로이먼트 롤링 업데이트도 막히나요 → the disruption budget page, not the Deployment page).
// On all 1,412 labelled answerable questions top-3 rose 94.6 → 95.6 % in English and 95.5 →
// 95.8 % in Korean, better or equal in every set but one; top-1 did not move (81.9 → 81.7,
// 83.6 → 83.7 %); 1 and 2 lowered English top-1 and the correct declines (bench/faq.md).
constexpr double coverage_weight = 0.5;

// For a Korean question a long page ranks lower, by 1 + 0.15 × ln(sections / 8): Korean words
// match as syllable bigrams, and a page of 30 or 40 sections (시크릿, 디플로이먼트, 로깅) shares a
// few with almost any question, enough to pass the shorter page that answers it. On all 2,840
// labelled questions Korean top-1 rose 82.0 → 84.6 %, up in 18 sets and down in 3, and no
// other measure fell; in English it was up in 7 sets and down in 9, so English has none.
constexpr double korean_long_page_weight = 0.15;
constexpr double usual_page_sections = 8;

// Question words and particles carry no topic; matching them only adds noise to bm25 and makes
// any question look covered. Pronouns, "but", what is left of a contraction (doesn't → doesn + t)
// and words of emphasis (really, actually, still) were added later: top-1 on all English sets
// 80.1 → 81.0 %, up in 9 sets and down in 1.
constexpr std::array<std::string_view, 133> english_stop_words{
    "a",      "an",       "the",    "i",          "me",      "my",    "we",      "our",    "you",
    "your",   "it",       "its",    "is",         "are",     "was",   "were",    "be",     "been",
    "am",     "do",       "does",   "did",        "done",    "how",   "what",    "why",    "when",
    "where",  "which",    "who",    "whom",       "whose",   "can",   "could",   "should", "would",
    "will",   "shall",    "may",    "might",      "must",    "to",    "of",      "in",     "on",
    "at",     "for",      "with",   "from",       "by",      "about", "into",    "onto",   "and",
    "or",     "not",      "no",     "yes",        "there",   "here",  "this",    "that",   "these",
    "those",  "then",     "than",   "so",         "if",      "as",    "have",    "has",    "had",
    "need",   "want",     "like",   "make",       "use",     "using", "way",     "please", "help",
    "tell",   "know",     "some",   "any",        "all",     "just",  "also",    "get",    "s",
    "t",      "m",        "there",  "difference", "between", "but",   "because", "they",   "them",
    "their",  "he",       "him",    "his",        "she",     "her",   "us",      "nor",    "don",
    "doesn",  "didn",     "won",    "isn",        "aren",    "wasn",  "weren",   "hasn",   "haven",
    "hadn",   "shouldn",  "wouldn", "couldn",     "ve",      "ll",    "re",      "d",      "very",
    "really", "actually", "even",   "though",     "still",   "too",   "again"};

bool is_hangul_token(std::string_view t) {
    std::size_t i = 0;
    return !t.empty() && storage::is_hangul_syllable(storage::next_code_point(t, i));
}

/// Whether `word` is written in the script of a question in `language` ("ko": Hangul, or
/// digits and symbols only; else anything without Hangul).
bool in_script_of(std::string_view word, std::string_view language) {
    bool hangul = false, latin = false;
    for (std::size_t i = 0; i < word.size();) {
        const char32_t c = storage::next_code_point(word, i);
        hangul = hangul || storage::is_hangul_syllable(c);
        latin = latin || (c < 0x80 && std::isalpha(static_cast<int>(c)) != 0);
    }
    return language == "ko" ? !latin : !hangul;
}

constexpr std::size_t syllable_bytes = 3;  // every composed Hangul syllable is 3 bytes of UTF-8

struct question_word {
    std::string surface;  // what FTS5 is given (it tokenizes it the same way as the index)
    std::string norm;     // for stop words and the glossary: stemmed, or the stripped Hangul
    std::vector<std::string> variants;  // other spellings of a Korean stem
    bool prefix = false;                // a one-syllable Korean stem, matched as a prefix
    bool in_identifier = false;         // part of a name the asker wrote (see identifier_at)
};

/// Whether the Latin word at [start, end) of `text` is part of an identifier from the asker's
/// own setup: a run of letters, digits and `_ - . = /` around it that holds `_` or `=`
/// (SPRING_PROFILES_ACTIVE, TZ=Asia/Seoul) or has three parts or more
/// (settlement-daily-report-generator, mqtt-broker.iot.svc).
bool identifier_at(std::string_view text, std::size_t start, std::size_t end) {
    auto joins = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' ||
               c == '.' || c == '=' || c == '/';
    };
    while (start > 0 && joins(text[start - 1])) {
        --start;
    }
    while (end < text.size() && joins(text[end])) {
        ++end;
    }
    auto run = text.substr(start, end - start);
    while (!run.empty() && !std::isalnum(static_cast<unsigned char>(run.back()))) {
        run.remove_suffix(1);
    }
    while (!run.empty() && !std::isalnum(static_cast<unsigned char>(run.front()))) {
        run.remove_prefix(1);
    }
    if (run.find_first_of("_=") != std::string_view::npos) {
        return true;
    }
    return std::count_if(run.begin(), run.end(), [](char c) { return c == '-' || c == '.'; }) >= 2;
}

/// Words of `text`: Hangul words rebuilt from their overlapping bigrams (NFC, as the tokenizer
/// composed them), other words as written plus their stemmed form.
std::vector<question_word> split_words(std::string_view text) {
    std::vector<question_word> words;
    int prev_end = -1;
    bool prev_hangul = false;
    for (const auto& t : storage::faq_tokens(text)) {
        const bool hangul = is_hangul_token(t.text);
        if (hangul && prev_hangul && t.start < prev_end) {
            words.back().surface += t.text.substr(t.text.size() - syllable_bytes);
        } else if (hangul) {
            words.push_back({t.text, {}, {}});
        } else {
            words.push_back({std::string{text.substr(static_cast<std::size_t>(t.start),
                                                     static_cast<std::size_t>(t.end - t.start))},
                             t.text,
                             {},
                             false,
                             identifier_at(text, static_cast<std::size_t>(t.start),
                                           static_cast<std::size_t>(t.end))});
        }
        prev_end = t.end;
        prev_hangul = hangul;
    }
    for (auto& w : words) {
        if (w.norm.empty()) {
            auto k = analyze_korean_word(w.surface);
            w.surface = w.norm = std::move(k.stem);
            w.variants = std::move(k.variants);
            w.prefix = k.prefix;
        }
    }
    return words;
}

std::string normalize(std::string_view phrase) {
    std::string out;
    for (auto& w : split_words(phrase)) {
        out += out.empty() ? "" : " ";
        out += w.norm;
    }
    return out;
}

const std::set<std::string>& stop_words() {
    static const std::set<std::string> words = [] {
        std::set<std::string> out;
        for (auto w : english_stop_words) {
            out.insert(storage::porter_stem(std::string{w}));
            out.insert(std::string{w});
        }
        return out;
    }();
    return words;
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        out += c;
        if (c == '"') {
            out += '"';
        }
    }
    out += '"';
    return out;
}

glossary both_ways(const glossary& extra) {
    glossary out;
    auto add = [&](const glossary& g) {
        for (const auto& [term, synonyms] : g) {
            std::vector<std::string> all{term};
            all.insert(all.end(), synonyms.begin(), synonyms.end());
            for (const auto& a : all) {
                auto& alternatives = out[normalize(a)];
                for (const auto& b : all) {
                    if (&a != &b && std::find(alternatives.begin(), alternatives.end(), b) ==
                                        alternatives.end()) {
                        alternatives.push_back(b);
                    }
                }
            }
        }
    };
    add(default_glossary());
    add(extra);
    return out;
}

// Short forms developers type in chat, widened one way only: "env" also finds "environment",
// but a question about environments does not match every "env:" in a YAML example.
const std::map<std::string, std::string>& abbreviations() {
    static const auto table = [] {
        std::map<std::string, std::string> t;
        for (const auto& [short_form, long_form] :
             std::initializer_list<std::pair<std::string_view, std::string_view>>{
                 {"env", "environment"},
                 {"var", "variable"},
                 {"k8s", "kubernetes"},
                 {"repo", "repository"},
                 {"db", "database"},
                 {"args", "arguments"},
                 {"msg", "message"},
                 {"img", "image"},
                 {"perms", "permissions"},
                 {"creds", "credentials"},
                 {"pw", "password"},
                 {"dir", "directory"},
                 {"deps", "dependencies"},
                 {"infra", "infrastructure"},
                 {"mem", "memory"}}) {
            t.emplace(normalize(short_form), long_form);
        }
        return t;
    }();
    return table;
}

std::vector<query_term> parse_with(std::string_view question, const glossary& synonyms) {
    std::vector<query_term> terms;
    std::set<std::string> seen;
    auto words = split_words(question);
    // Two-word glossary entries ("roll back") are one term, so "rollback" can match them.
    for (std::size_t i = 0; i + 1 < words.size(); ++i) {
        auto pair = words[i].norm + " " + words[i + 1].norm;
        auto it = synonyms.find(pair);
        if (it == synonyms.end()) {
            continue;
        }
        query_term t{words[i].surface + " " + words[i + 1].surface,
                     "(" + quoted(words[i].surface + " " + words[i + 1].surface),
                     {words[i].surface + " " + words[i + 1].surface}};
        for (const auto& s : it->second) {
            t.match += " OR " + quoted(s);
            t.phrases.push_back(s);
        }
        t.match += ")";
        terms.push_back(std::move(t));
        seen.insert(words[i].norm);
        seen.insert(words[i + 1].norm);
    }
    for (auto& w : words) {
        if (w.norm.empty() || stop_words().contains(w.norm) || !seen.insert(w.norm).second) {
            continue;
        }
        query_term t{w.surface, quoted(w.surface), {w.surface}, w.in_identifier};
        if (w.prefix) {
            t.match += "*";
            t.phrases.front() += "*";
        }
        std::vector<std::string> alternatives = w.variants;
        // The glossary may know the word in another spelling (셸 for 셸로, 삭제 for 지우려면).
        std::vector<std::string> spellings{w.norm};
        spellings.insert(spellings.end(), w.variants.begin(), w.variants.end());
        for (const auto& spelling : spellings) {
            if (auto it = synonyms.find(spelling); it != synonyms.end()) {
                for (const auto& s : it->second) {
                    if (std::find(alternatives.begin(), alternatives.end(), s) ==
                        alternatives.end()) {
                        alternatives.push_back(s);
                    }
                }
            }
        }
        if (auto it = abbreviations().find(w.norm); it != abbreviations().end()) {
            alternatives.push_back(it->second);
        }
        // Korean compounds and verb stems vary in their last syllables (디버깅, 디버그하기): a
        // long word also matches its first two syllables.
        if (is_hangul_token(w.surface) && w.surface.size() >= 3 * syllable_bytes) {
            alternatives.push_back(w.surface.substr(0, 2 * syllable_bytes));
        }
        if (!alternatives.empty()) {
            t.match = "(" + t.match;
            for (const auto& s : alternatives) {
                t.match += " OR " + quoted(s);
                t.phrases.push_back(s);
            }
            t.match += ")";
        }
        terms.push_back(std::move(t));
    }
    return terms;
}

double idf(std::int64_t sections, std::int64_t matching) {
    const auto n = static_cast<double>(sections);
    const auto m = static_cast<double>(matching);
    return std::log(1.0 + (n - m + 0.5) / (m + 0.5));
}

/// A phrase as FTS5 matches it: its tokens in a row, the last one only as a prefix when the
/// phrase ends in '*'. Tokenized once per question, not once per text it is looked for in.
struct phrase {
    std::vector<std::string> tokens;
    bool prefix = false;
};

std::vector<std::vector<phrase>> tokenized(const std::vector<query_term>& terms) {
    std::vector<std::vector<phrase>> out;
    for (const auto& t : terms) {
        auto& phrases = out.emplace_back();
        for (const auto& p : t.phrases) {
            auto& ph = phrases.emplace_back();
            ph.prefix = p.ends_with('*');
            storage::faq_tokenize(
                p, [&](const storage::faq_token& token) { ph.tokens.push_back(token.text); });
        }
    }
    return out;
}

/// Where `p` first occurs in `tokens`: the index of its first token, or tokens.size().
std::size_t find(const std::vector<std::string>& tokens, const phrase& p) {
    const auto& want = p.tokens;
    if (want.empty() || want.size() > tokens.size()) {
        return tokens.size();
    }
    for (std::size_t start = 0; start + want.size() <= tokens.size(); ++start) {
        bool all = true;
        for (std::size_t k = 0; k < want.size() && all; ++k) {
            const auto& token = tokens[start + k];
            all = p.prefix && k + 1 == want.size() ? token.starts_with(want[k]) : token == want[k];
        }
        if (all) {
            return start;
        }
    }
    return tokens.size();
}

bool contains(const std::vector<std::string>& tokens, const phrase& p) {
    return find(tokens, p) < tokens.size();
}

bool contains_any(const std::vector<std::string>& tokens, const std::vector<phrase>& phrases) {
    return std::any_of(phrases.begin(), phrases.end(),
                       [&](const phrase& p) { return contains(tokens, p); });
}

/// Which terms occur in the section (same phrase semantics as FTS5, checked on its text). One
/// row read and a scan of its tokens instead of an FTS5 query per term: on a large index those
/// queries, each loading the doclists of every word, were most of a question's time.
core::result<std::vector<bool>> terms_in(storage::database& db,
                                         const std::vector<std::vector<phrase>>& terms,
                                         std::int64_t section_id) {
    auto st = db.prepare("SELECT title, questions, heading, body FROM faq_search WHERE rowid = ?");
    if (!st) {
        return std::move(st).error();
    }
    st->bind(1, section_id);
    auto row = st->step();
    if (!row) {
        return std::move(row).error();
    }
    std::vector<bool> found(terms.size(), false);
    if (!*row) {
        return found;
    }
    for (int column = 0; column < 4; ++column) {
        std::vector<std::string> tokens;
        storage::faq_tokenize(st->get_text(column),
                              [&](const storage::faq_token& t) { tokens.push_back(t.text); });
        for (std::size_t i = 0; i < terms.size(); ++i) {
            found[i] = found[i] || contains_any(tokens, terms[i]);
        }
    }
    return found;
}

/// How alike the closest earlier question answered by a page is: the share of this question's
/// weight its words hold, as the coverage of a section.
struct learned_page {
    double alike = 0;
    std::int64_t asked_at = 0;  ///< when that question was asked (unix; 0: not known)
};

/// Pages (folder-relative path; "": not in the docs) that answered earlier questions like this
/// one, by their askers' votes or the team's word.
std::map<std::string, learned_page> learned_pages(const lesson_index& index,
                                                  const std::vector<std::vector<phrase>>& terms,
                                                  const std::vector<term_stat>& stats,
                                                  double total) {
    std::map<std::string, learned_page> pages;
    if (index.lessons.empty() || total <= 0) {
        return pages;
    }
    // Questions are found through the token lists of the question's heavier terms: one that
    // holds none of them is alike by less than `least_alike` and would barely move a page, and
    // the lists of its lightest (commonest) words are the longest. Each term's weight is added
    // once to every question holding one of its phrases; a phrase of one token is found exactly
    // in the lists, a longer one is checked.
    std::vector<std::size_t> by_weight(terms.size());
    std::iota(by_weight.begin(), by_weight.end(), std::size_t{0});
    std::stable_sort(by_weight.begin(), by_weight.end(), [&](std::size_t a, std::size_t b) {
        return stats[a].weight > stats[b].weight;
    });
    std::size_t heavy = by_weight.size();
    for (double light = 0; heavy > 0;) {
        light += stats[by_weight[heavy - 1]].weight;
        if (light >= least_alike * total) {
            break;
        }
        --heavy;
    }
    std::vector<double> shared(index.lessons.size(), 0.0);
    std::vector<std::size_t> counted(index.lessons.size(), terms.size());
    for (std::size_t k = 0; k < heavy; ++k) {
        const auto i = by_weight[k];
        for (const auto& p : terms[i]) {
            if (p.tokens.empty()) {
                continue;
            }
            const auto& first = p.tokens.front();
            const bool one_token = p.tokens.size() == 1;
            for (auto it = index.by_token.lower_bound(first);
                 it != index.by_token.end() &&
                 (one_token && p.prefix ? it->first.starts_with(first) : it->first == first);
                 ++it) {
                for (auto l : it->second) {
                    if (counted[l] != i && (one_token || contains(index.lessons[l].tokens, p))) {
                        counted[l] = i;
                        shared[l] += stats[i].weight;
                    }
                }
            }
        }
    }
    for (std::size_t l = 0; l < shared.size(); ++l) {
        if (shared[l] == 0) {
            continue;
        }
        for (std::size_t k = heavy; k < by_weight.size(); ++k) {
            const auto i = by_weight[k];
            shared[l] += contains_any(index.lessons[l].tokens, terms[i]) ? stats[i].weight : 0.0;
        }
    }
    for (std::size_t l = 0; l < shared.size(); ++l) {
        if (shared[l] > 0) {
            auto& page = pages[index.lessons[l].page];
            if (shared[l] / total > page.alike) {
                page = {shared[l] / total, index.lessons[l].asked_at};
            }
        }
    }
    return pages;
}

/// Words of a page's name (its title or one of its alternative questions) that say what it is
/// about, each as its tokens: stems, without question and stop words.
std::vector<std::vector<std::string>> name_words(std::string_view name) {
    std::vector<std::vector<std::string>> out;
    for (auto& w : split_words(name)) {
        if (w.norm.empty() || stop_words().contains(w.norm)) {
            continue;
        }
        std::vector<std::string> tokens;
        storage::faq_tokenize(w.surface,
                              [&](const storage::faq_token& t) { tokens.push_back(t.text); });
        out.push_back(std::move(tokens));
    }
    return out;
}

/// The names of a page: its title and alternative questions. Words in parentheses gloss the
/// word before them (`시크릿(Secret)`), so a name with them also counts without them.
std::vector<page_name> page_names(std::string_view front_matter_json) {
    auto meta = front_matter_from_json(front_matter_json);
    std::vector<page_name> out;
    meta.questions.push_back(meta.title);
    for (const auto& name : meta.questions) {
        out.push_back(name_words(name));
        std::string bare;
        int depth = 0;
        for (char c : name) {
            depth += c == '(' ? 1 : 0;
            bare += depth > 0 ? ' ' : c;
            depth -= c == ')' && depth > 0 ? 1 : 0;
        }
        if (bare != name) {
            out.push_back(name_words(bare));
        }
    }
    return out;
}

/// How well a page's name matches the question, as the F-measure of two shares: of the name's
/// words the question asks about (precision: 초기화 컨테이너 fits "초기화 컨테이너는 무엇에 쓰나요"
/// better than 초기화 컨테이너 디버그하기) and of the question's terms the name holds (recall:
/// 프라이빗 레지스트리에서 이미지 받아오기 fits "프라이빗 레지스트리에서 이미지를 받으려면?" better
/// than 이미지). The best of the page's names counts.
double name_fit(const std::vector<page_name>& names,
                const std::vector<std::vector<phrase>>& terms) {
    double best = 0;
    for (const auto& words : names) {
        if (words.empty() || terms.empty()) {
            continue;
        }
        std::vector<bool> asked(terms.size(), false);
        double covered = 0;
        for (const auto& tokens : words) {
            bool any = false;
            for (std::size_t i = 0; i < terms.size(); ++i) {
                if (contains_any(tokens, terms[i])) {
                    asked[i] = any = true;
                }
            }
            covered += any ? 1.0 : 0.0;
        }
        const double precision = covered / static_cast<double>(words.size());
        const double recall = static_cast<double>(std::count(asked.begin(), asked.end(), true)) /
                              static_cast<double>(terms.size());
        if (precision + recall > 0) {
            best = std::max(best, 2 * precision * recall / (precision + recall));
        }
    }
    return best;
}

// Words of a question about something that does not work. Such a question is about a
// troubleshooting page (디버그, debug) even when it does not say so, and a question without them
// is more likely about the concept page of the same topic (service vs debug-service).
constexpr auto trouble_markers = std::to_array<std::string_view>(
    {"안 돼", "안돼",     "안 되",   "안되",  "안 떠", "안 나",   "안 붙", "에러",
     "오류",  "실패",     "문제",    "원인",  "장애",  "error",   "fail",  "stuck",
     "crash", "not work", "doesn't", "won't", "can't", "refused", "broken"});
constexpr auto trouble_words =
    std::to_array<std::string_view>({"디버그", "디버깅", "debug", "troubleshoot"});

// Tools beside Kubernetes that have docs of their own. A question naming one that its best
// section never mentions is most often about that tool (a Helm release's history, Argo CD's
// sync, a Grafana panel), however many Kubernetes words it shares with the section. What runs
// in the cluster (Postgres, nginx, an Envoy or Fluent Bit sidecar) or holds its images (Harbor,
// Nexus) is left out: running and pulling it is what the docs explain. Comma-separated, as a
// list of strings would take a line per name; other spellings follow a slash (Korean docs keep
// a tool's Latin name, a Korean question may spell it in Hangul).
constexpr std::string_view other_tools =
    "helm/헬름, kustomize, kompose, argocd, argo/아르고, fluxcd, flux, spinnaker, tekton, "
    "jenkins/젠킨스, github actions/깃허브 액션, gitlab/깃랩, circleci, buildkite, skaffold, "
    "terraform/테라폼, opentofu, pulumi, ansible, crossplane, cloudformation, istio/이스티오, "
    "istiod, linkerd, cilium, calico, flannel, traefik, kong, metallb, cloudflare, route53, "
    "external-dns, cert-manager, letsencrypt, let's encrypt, vault, sealed-secrets, "
    "external-secrets, sops, secrets manager, key vault, prometheus/프로메테우스, "
    "grafana/그라파나, loki, promtail, jaeger, zipkin, datadog/데이터독, new relic, newrelic, "
    "sentry/센트리, splunk, elasticsearch, opensearch, kibana, logstash, opentelemetry, otel, "
    "thanos, alertmanager, pagerduty, opsgenie, cloudwatch, stackdriver, kube-state-metrics, "
    "karpenter/카펜터, keda, cluster autoscaler, vertical pod autoscaler, vpa, descheduler, eks, "
    "gke, aks, openshift, rancher, k3s, k3d, microk8s, kubeadm, kops, eksctl, gcloud, fargate, "
    "irsa, workload identity, gatekeeper, kyverno, falco, trivy, kube-bench, snyk, sonarqube, "
    "velero, kasten, agones, kubeflow, kserve, mlflow, airflow";

/// The part of `rest` before the first `separator`, which is taken off `rest` with it.
std::string_view next_item(std::string_view& rest, char separator) {
    const auto end = std::min(rest.find(separator), rest.size());
    const auto item = rest.substr(0, end);
    rest.remove_prefix(std::min(end + 1, rest.size()));
    return item;
}

/// A tool's spellings ("helm/헬름"), each a phrase.
std::vector<phrase> tool_spellings(std::string_view names) {
    std::vector<phrase> out;
    while (!names.empty()) {
        auto& p = out.emplace_back();
        storage::faq_tokenize(next_item(names, '/'),
                              [&](const storage::faq_token& t) { p.tokens.push_back(t.text); });
    }
    return out;
}

/// The tools of `other_tools` and of `extra` a question names: each as a term whose phrases
/// are its spellings, and as the question wrote it.
struct named_tools {
    std::vector<std::vector<phrase>> terms;
    std::vector<std::string> written;
};

named_tools tools_named(std::string_view question, const std::vector<std::string>& extra) {
    static const auto built_in = [] {
        std::vector<std::vector<phrase>> out;
        for (std::string_view rest = other_tools; !rest.empty();) {
            out.push_back(tool_spellings(next_item(rest, ',')));
        }
        return out;
    }();
    const auto asked = storage::faq_tokens(question);
    std::vector<std::string> tokens;
    for (const auto& t : asked) {
        tokens.push_back(t.text);
    }
    named_tools named;
    // The first spelling the question has, as written ("Helm", "헬름"): what a decline names.
    auto add = [&](std::vector<phrase> spellings) {
        for (const auto& p : spellings) {
            if (auto at = find(tokens, p); at < tokens.size()) {
                const auto& last = asked[at + p.tokens.size() - 1];
                named.written.emplace_back(
                    question.substr(static_cast<std::size_t>(asked[at].start),
                                    static_cast<std::size_t>(last.end - asked[at].start)));
                named.terms.push_back(std::move(spellings));
                return;
            }
        }
    };
    for (const auto& spellings : built_in) {
        add(spellings);
    }
    // A configured name that is also built in counts once.
    auto known = [&](const phrase& p) {
        return std::any_of(
            named.terms.begin(), named.terms.end(), [&](const std::vector<phrase>& term) {
                return std::any_of(term.begin(), term.end(),
                                   [&](const phrase& q) { return q.tokens == p.tokens; });
            });
    };
    for (const auto& names : extra) {
        if (auto spellings = tool_spellings(names);
            std::none_of(spellings.begin(), spellings.end(), known)) {
            add(std::move(spellings));
        }
    }
    return named;
}

/// What a page shares with its translations: its path without the folder or file-name part
/// that names its language (docs/en/deploy.md and docs/ko/deploy.md, deploy.ko.md and deploy.md;
/// two configured folders docs/en and docs/ko also pair this way).
std::string translation_key(std::string_view path, std::string_view language) {
    if (language.empty()) {
        return std::string{path};
    }
    const auto names_language = [&](std::string_view part) {
        return part.starts_with(language) &&
               (part.size() == language.size() || part[language.size()] == '-' ||
                part[language.size()] == '_');
    };
    std::string key;
    for (auto slash = path.find('/'); slash != std::string_view::npos; slash = path.find('/')) {
        if (!names_language(path.substr(0, slash))) {
            key.append(path.substr(0, slash + 1));
        }
        path.remove_prefix(slash + 1);
    }
    // What is left is the file name: deploy.ko.md → deploy.md.
    const auto extension = path.rfind('.');
    const auto tag = path.substr(0, extension).rfind('.');
    if (extension != std::string_view::npos && tag != std::string_view::npos &&
        names_language(path.substr(tag + 1, extension - tag - 1))) {
        return key.append(path.substr(0, tag)).append(path.substr(extension));
    }
    return key.append(path);
}

bool about_trouble(std::string_view question) {
    std::string lower{question};
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return std::any_of(trouble_markers.begin(), trouble_markers.end(),
                       [&](std::string_view m) { return lower.find(m) != std::string::npos; });
}

/// The snippet on one line, without code marks: bold inside a code span shows as asterisks.
std::string one_line(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    std::erase(s, '`');
    auto first = s.find_first_not_of(' ');
    auto last = s.find_last_not_of(' ');
    return first == std::string::npos ? std::string{} : s.substr(first, last - first + 1);
}

/// Shown after the title, so the title's own heading is not repeated.
void drop_title_from_heading(search_hit& hit) {
    if (hit.heading_path.starts_with(hit.title + " > ")) {
        hit.heading_path.erase(0, hit.title.size() + 3);
    }
}

}  // namespace

const glossary& default_glossary() {
    static const glossary g{
        {"배포", {"deploy", "deployment", "release"}},
        {"권한", {"access", "permission"}},
        {"롤백", {"rollback", "roll back"}},
        {"로그", {"log", "logs"}},
        {"상태", {"status"}},
    };
    return g;
}

std::vector<query_term> parse_question(std::string_view question, const glossary& extra) {
    return parse_with(question, both_ways(extra));
}

searcher::searcher(storage::database& db, search_options options)
    : db_(&db), options_(std::move(options)), synonyms_(both_ways(options_.extra_glossary)) {
    // The connection keeps a small page cache on purpose (database.cpp); the FTS index is read
    // over and over, and copying its pages in with pread was most of a query's time. Mapped
    // pages are shared with the OS cache instead. Best effort: without it search is slower.
    (void)db_->exec("PRAGMA mmap_size = 268435456");
}

void searcher::after_sync(const sync_report& pass) {
    if (pass.changed()) {
        forget_statistics();
    }
}

core::result<std::int64_t> searcher::count(const std::string& match, int language) {
    auto key = std::pair{match, language};
    if (auto it = counts_.find(key); it != counts_.end()) {
        return it->second;
    }
    const auto first_int = [](storage::statement& st) { return st.get_int(0); };
    std::int64_t n = 0;
    if (language != 0 && match.empty()) {
        n = statistics_->languages[static_cast<std::size_t>(language)].sections;
    } else if (language != 0) {
        auto rows = storage::query_all(
            *db_, "SELECT rowid FROM faq_search WHERE faq_search MATCH ?", first_int, match);
        if (!rows) {
            return std::move(rows).error();
        }
        n = std::count_if(rows->begin(), rows->end(), [&](std::int64_t row) {
            auto it = statistics_->sections.find(row);
            return it != statistics_->sections.end() && it->second.language == language;
        });
    } else {
        auto row = match.empty()
                       ? storage::query_one(*db_, "SELECT count(*) FROM faq_search", first_int)
                       : storage::query_one(
                             *db_, "SELECT count(*) FROM faq_search WHERE faq_search MATCH ?",
                             first_int, match);
        if (!row) {
            return std::move(row).error();
        }
        n = row->value_or(0);
    }
    return counts_[std::move(key)] = n;
}

core::result<const storage::faq_rank_statistics*> searcher::statistics() {
    if (!statistics_) {
        auto read = storage::read_faq_rank_statistics(*db_);
        if (!read) {
            return std::move(read).error();
        }
        statistics_ = std::move(*read);
        page_sections_.clear();
        for (const auto& [id, section] : statistics_->sections) {
            ++page_sections_[section.document];
        }
    }
    return &*statistics_;
}

core::result<bool> searcher::changed_since(const std::string& document, std::int64_t asked_at) {
    if (asked_at == 0) {
        return false;
    }
    auto mtime = storage::query_one(
        *db_, "SELECT mtime_at FROM faq_documents WHERE path = ?",
        [](storage::statement& st) { return st.get_int(0); }, document);
    if (!mtime) {
        return std::move(mtime).error();
    }
    return mtime->value_or(0) > asked_at;
}

core::result<const lesson_index*> searcher::lessons() {
    if (!lessons_) {
        auto rows = storage::query_all(
            *db_,
            "SELECT l.question, l.section, coalesce(a.at, 0) FROM faq_learned l "
            "LEFT JOIN faq_asks a ON a.id = l.id",
            [](storage::statement& st) {
                lesson_index::lesson l;
                storage::faq_tokenize(st.get_text(0), [&](const storage::faq_token& t) {
                    l.tokens.push_back(t.text);
                });
                const auto section = st.get_text(1);
                l.page = section.substr(0, section.find('#'));
                l.asked_at = st.get_int(2);
                return l;
            });
        if (!rows) {
            return std::move(rows).error();
        }
        lesson_index index{.lessons = std::move(*rows), .by_token = {}};
        for (std::uint32_t n = 0; n < index.lessons.size(); ++n) {
            for (const auto& token : index.lessons[n].tokens) {
                auto& with = index.by_token[token];
                if (with.empty() || with.back() != n) {
                    with.push_back(n);
                }
            }
        }
        lessons_ = std::move(index);
    }
    return &*lessons_;
}

const word_list* searcher::ordinary_words() {
    if (!words_read_ && !options_.words.empty()) {
        words_read_ = true;
        words_ = word_list::load(options_.words);
    }
    return words_ ? &*words_ : nullptr;
}

double searcher::term_weight(std::string_view word, std::int64_t sections, std::int64_t matching,
                             std::string_view language, bool in_identifier) {
    const double rarity = idf(sections, matching);
    const auto unless_found = [&](double factor) {
        return matching > 0 ? rarity : rarity * factor;
    };
    // A quantity no page has (10MB, 512m, 9am, 5432) is a detail of the question, not what it is
    // about: it weighs as an ordinary word. One a page has (137, 10500m) is an exact match and
    // keeps its idf. Names with digits start with a letter (S3, EC2, arm64). So is a part of a
    // name from the asker's own setup (LOG_LEVEL, settlement-daily-report): weighed as another
    // product's name, it had a Korean question about env precedence or name limits declined.
    // On the 9,440 labelled questions, Korean wrong declines 4.3 → 3.8 %, correct declines
    // 85.8 → 85.6 % (English 4.2 → 4.0 %, 73.7 → 73.1 %); on three sets written after
    // (fresh80–82), Korean wrong declines 6.7 → 5.2 %, docs alone and taught (bench/faq.md).
    if (matching == 0 && (in_identifier || (!word.empty() && word[0] >= '0' && word[0] <= '9'))) {
        return std::min(rarity, ordinary_word_cap);
    }
    if (!in_script_of(word, language)) {
        return unless_found(name_word_weight);
    }
    if (language == "ko") {
        const double w = unless_found(unknown_word_weight);
        return in_script_of(word, "en") ? w : std::min(w, ordinary_word_cap);  // en: no Hangul
    }
    const word_list* list = ordinary_words();
    if (list == nullptr) {
        return unless_found(unknown_word_weight);
    }
    return list->contains(word) ? std::min(rarity, ordinary_word_cap)
                                : unless_found(name_word_weight);
}

core::result<search_result> searcher::search(std::string_view question) {
    search_result result;
    auto terms = parse_with(question, synonyms_);
    if (terms.empty()) {
        return result;
    }
    auto stats = statistics();
    if (!stats) {
        return std::move(stats).error();
    }
    const std::string language = detect_language(question);
    // In a docs folder of both languages, a word's weight in the coverage comes from the pages
    // in the question's language, as it would in an index of that language alone (the ranking
    // does the same, tugboat_rank); a question in a language no page has counts every page.
    const int counted = (*stats)->languages.size() > 2 ? (*stats)->language_of(language) : 0;
    auto sections = count("", counted);
    if (!sections) {
        return std::move(sections).error();
    }
    std::vector<std::pair<std::int64_t, std::size_t>> by_rarity;  // (sections matching, term)
    double total = 0;
    std::string match;
    for (std::size_t i = 0; i < terms.size(); ++i) {
        result.terms.push_back(terms[i].word);
        auto n = count(terms[i].match, counted);
        if (!n) {
            return std::move(n).error();
        }
        const double weight =
            term_weight(terms[i].word, *sections, *n, language, terms[i].in_identifier);
        result.term_stats.push_back({.sections = *n, .weight = weight});
        total += weight;
        by_rarity.emplace_back(*n, i);
        match += match.empty() ? "" : " OR ";
        match += terms[i].match;
    }
    // Scoring every section that shares one common word with the question is what makes a
    // query slow on a large index. The best sections contain the question's rare words, so when
    // the whole OR would touch more than `scoring_budget` sections, only the rarest terms (up to
    // the budget, at least one) rank; the common ones, which bm25 weighs least, still count in
    // the coverage. Small indexes (every team's docs so far) rank with every term.
    std::sort(by_rarity.begin(), by_rarity.end());
    std::string candidates;
    std::string groups;  // for each phrase of the match, which of its terms it is a form of
    std::size_t ranked = 0;
    std::int64_t touched = 0;
    for (const auto& [n, i] : by_rarity) {
        if (!candidates.empty() && touched + n > scoring_budget) {
            break;
        }
        touched += n;
        candidates += candidates.empty() ? "" : " OR ";
        candidates += terms[i].match;
        for (std::size_t p = 0; p < terms[i].phrases.size(); ++p) {
            groups += fmt::format("{} ", ranked);
        }
        ++ranked;
    }
    // Even the rarest word is everywhere ("deploy" in a deploy FAQ): bm25 weighs such words
    // near zero, so rank the sections that have them in their title, questions or heading —
    // the rarest word, or when that is still over the budget (every word of the question is
    // common) the rarest two, three… together: scoring a few thousand sections was the slowest
    // 1 % of queries (7–9 ms on 10,000 sections). The first within the budget ranks, else the
    // smallest that finds anything.
    // Snippets highlight the words that ranked (reading every common word's doclist again for
    // each snippet cost more than the ranking).
    const std::string highlighted = candidates;
    if (touched > scoring_budget) {
        // Their own spelling only: glossary twins of a word found everywhere add rows, not rank.
        std::string words;
        std::int64_t fewest = 0;
        for (const auto& [ignored, i] : by_rarity) {
            words += words.empty() ? "" : " AND ";
            words += quoted(terms[i].word);
            auto in_titles = "{title questions heading} : (" + words + ")";
            auto n = count(in_titles, counted);
            if (!n) {
                return std::move(n).error();
            }
            if (*n == 0) {
                break;
            }
            if (fewest == 0 || *n < fewest) {
                fewest = *n;
                candidates = std::move(in_titles);
                groups.clear();  // one phrase per term
            }
            if (*n <= scoring_budget) {
                break;
            }
        }
    }
    match = std::move(candidates);

    struct candidate {
        std::int64_t section;
        std::int64_t document;
        double score;
        double rank_score = 0;
        int extra = 0;
        double fit = 0;
        std::vector<bool> present;  // which question terms its section has
        double coverage = 0;
        std::string meta;  // the document's front matter (JSON)
        std::string language;
        std::string translation;  // translation_key of the document
        double learned = 0;
    };
    std::vector<candidate> best;  // one per document
    const std::map<std::int64_t, std::int64_t>* sections_of =
        language == "ko" ? &page_sections_ : nullptr;
    {
        auto st = db_->prepare(ranking_sql);
        if (!st) {
            return std::move(st).error();
        }
        st->bind(1, match);
        st->bind(3, groups);
        st->bind_pointer(2, *stats, storage::faq_rank_statistics::pointer_type);
        for (;;) {
            auto row = st->step();
            if (!row) {
                return std::move(row).error();
            }
            if (!*row) {
                break;
            }
            candidate c{st->get_int(0), st->get_int(1), st->get_double(2)};
            // Read with the statistics, not parsed from the front matter again for every row.
            if (auto known = (*stats)->sections.find(c.section);
                known != (*stats)->sections.end()) {
                c.language =
                    (*stats)->languages[static_cast<std::size_t>(known->second.language)].name;
            }
            if (!c.language.empty() && c.language != language) {
                c.score *= other_language;
            }
            double rank = c.score;
            if (sections_of != nullptr) {
                const auto n = sections_of->find(c.document);
                const double length =
                    n == sections_of->end() ? 1.0 : static_cast<double>(n->second);
                rank /= 1.0 + korean_long_page_weight *
                                  std::log(std::max(1.0, length / usual_page_sections));
            }
            auto same = std::find_if(best.begin(), best.end(),
                                     [&](const candidate& b) { return b.document == c.document; });
            if (same == best.end()) {
                c.rank_score = rank;
                c.meta = st->get_text(3);
                c.translation = translation_key(st->get_text(4), c.language);
                best.push_back(c);
            } else {
                same->rank_score += rank * std::pow(more_sections, ++same->extra);
            }
        }
    }
    const auto wanted = tokenized(terms);
    auto taught = lessons();
    if (!taught) {
        return std::move(taught).error();
    }
    const auto learned = learned_pages(**taught, wanted, result.term_stats, total);
    for (auto& c : best) {
        if (learned.empty()) {
            break;
        }
        auto path = paths_.find(c.document);
        if (path == paths_.end()) {
            std::string relative;
            front_matter_from_json(c.meta, &relative);
            path = paths_.emplace(c.document, std::move(relative)).first;
        }
        if (auto it = learned.find(path->second); it != learned.end()) {
            c.learned = it->second.alike;
            c.rank_score *= 1.0 + learned_weight * c.learned * c.learned;
        }
    }
    std::stable_sort(best.begin(), best.end(), [](const candidate& a, const candidate& b) {
        return a.rank_score > b.rank_score;
    });
    {
        auto asked = wanted;
        if (about_trouble(question)) {
            static const auto trouble =
                tokenized({{.phrases = {trouble_words.begin(), trouble_words.end()}}});
            asked.push_back(trouble.front());
        }
        // The leading pages only (and every one shown): a bonus of a quarter or a half does
        // not lift a page from further down.
        const std::size_t n = std::min<std::size_t>(
            best.size(), std::max<std::size_t>(10, static_cast<std::size_t>(options_.max_hits)));
        for (std::size_t i = 0; i < n; ++i) {
            auto known = names_.find(best[i].document);
            if (known == names_.end()) {
                known = names_.emplace(best[i].document, page_names(best[i].meta)).first;
            }
            best[i].fit = name_fit(known->second, asked);
            auto present = terms_in(*db_, wanted, best[i].section);
            if (!present) {
                return std::move(present).error();
            }
            best[i].present = std::move(*present);
            for (std::size_t t = 0; t < terms.size(); ++t) {
                best[i].coverage += best[i].present[t] ? result.term_stats[t].weight : 0.0;
            }
            best[i].coverage = total > 0 ? best[i].coverage / total : 0.0;
            best[i].rank_score *=
                (1.0 + name_weight * best[i].fit) * (1.0 + coverage_weight * best[i].coverage);
        }
        std::stable_sort(
            best.begin(), best.begin() + static_cast<std::ptrdiff_t>(n),
            [](const candidate& a, const candidate& b) { return a.rank_score > b.rank_score; });
        // A page and its translation are one answer: shown once, in the question's language when
        // it has one, at the better of the two places. Otherwise a bilingual docs folder fills the
        // "other matches" with the same page twice (a tenth of the evaluation's questions, asked
        // of both languages' pages at once) and the first page seems to have no lead.
        std::size_t scored = n;  // the leading pages, whose coverage and fit are known
        for (std::size_t i = 0; i < scored; ++i) {
            for (std::size_t j = i + 1; j < scored;) {
                if (best[j].translation != best[i].translation ||
                    best[j].language == best[i].language) {
                    ++j;
                    continue;
                }
                if (best[j].language == language) {
                    std::swap(best[i], best[j]);
                    std::swap(best[i].rank_score, best[j].rank_score);
                }
                best.erase(best.begin() + static_cast<std::ptrdiff_t>(j));
                --scored;
            }
        }
    }
    if (best.size() > static_cast<std::size_t>(options_.max_hits)) {
        best.resize(static_cast<std::size_t>(options_.max_hits));
    }
    for (const auto& c : best) {
        search_hit hit{.section_id = c.section,
                       .score = c.score,
                       .rank = c.rank_score,
                       .fit = c.fit,
                       .coverage = c.coverage,
                       .learned = c.learned};
        if (result.hits.empty()) {
            for (std::size_t i = 0; i < terms.size(); ++i) {
                result.term_stats[i].in_top = c.present[i];
            }
        }
        auto st = db_->prepare(
            "SELECT d.path, d.front_matter_json, s.heading_path, s.anchor, "
            "snippet(faq_search, 3, '*', '*', '…', 24) FROM faq_search "
            "JOIN faq_sections s ON s.id = faq_search.rowid "
            "JOIN faq_documents d ON d.id = s.document_id "
            "WHERE faq_search MATCH ? AND faq_search.rowid = ?");
        if (!st) {
            return std::move(st).error();
        }
        st->bind_all(highlighted, c.section);
        auto row = st->step();
        if (!row) {
            return std::move(row).error();
        }
        if (!*row) {
            continue;
        }
        hit.document = st->get_text(0);
        auto meta = front_matter_from_json(st->get_text(1), &hit.relative_path);
        hit.title = meta.title;
        hit.url = meta.url;
        hit.owner = meta.owner;
        hit.heading_path = st->get_text(2);
        drop_title_from_heading(hit);
        hit.anchor = st->get_text(3);
        hit.snippet = one_line(st->get_text(4));
        result.hits.push_back(std::move(hit));
    }
    if (result.hits.empty()) {
        return result;
    }
    // Answer or decline, from how much of the question the first hit covers, how rare the
    // words it shares are, how many it lacks (and how many names of other products and tools),
    // how well the page's name fits and how far it leads. Declining 4 % of the answerable
    // questions, the hand-made rule this replaced (coverage, or the rare words shared, times
    // 1 + name fit) declined 71 % (en) / 82 % (ko) of the out-of-scope ones and the fitted
    // model 82 % / 91 %, each of 36 question sets left out in turn; on twelve sets written
    // after, wrong declines fell 7.2 → 5.2 % / 6.5 → 4.8 % and correct declines rose 73 → 79 %
    // / 84 → 92 % (bench/faq.md).
    const double unit = idf(*sections, 0);
    auto& e = result.evidence;
    const auto& first = result.hits[0];
    e.coverage = first.coverage;
    e.fit = first.fit;
    e.margin =
        std::log((first.rank + 1) / ((result.hits.size() > 1 ? result.hits[1].rank : 0) + 1));
    e.asked = std::log1p(total / unit);
    e.shared = std::log1p(first.coverage * total / unit);
    e.terms = static_cast<double>(terms.size());
    for (std::size_t i = 0; i < terms.size(); ++i) {
        const auto& t = result.term_stats[i];
        e.missing += t.in_top ? 0 : 1;
        e.rarest = std::max(e.rarest, t.in_top ? t.weight / unit : 0.0);
        const auto first_letter = static_cast<unsigned char>(result.terms[i].front());
        e.products += language != "ko" && !t.in_top && std::isupper(first_letter) ? 1 : 0;
    }
    if (auto named = tools_named(question, options_.extra_tools); !named.terms.empty()) {
        auto present = terms_in(*db_, named.terms, first.section_id);
        if (!present) {
            return std::move(present).error();
        }
        for (std::size_t i = 0; i < present->size(); ++i) {
            if (!(*present)[i]) {
                result.tools_unmentioned.push_back(std::move(named.written[i]));
            }
        }
        e.others = static_cast<double>(result.tools_unmentioned.size());
    }
    result.confidence = default_decline_model(language).confidence(e);
    if (first.learned >= learned_alike) {
        result.confidence = std::max(result.confidence, first.learned);
    }
    if (auto gap = learned.find(""); gap != learned.end() && gap->second.alike >= gap_alike &&
                                     gap->second.alike >= first.learned + gap_margin) {
        auto changed = changed_since(first.document, gap->second.asked_at);
        if (!changed) {
            return std::move(changed).error();
        }
        if (!*changed) {
            result.confidence = std::min(result.confidence, (1 - gap->second.alike) / 2);
            result.known_gap = true;
        }
    }
    result.answer = result.confidence >= options_.answer_threshold;
    return result;
}

core::result<std::optional<search_hit>> find_section(storage::database& db, std::string_view ref) {
    const auto hash = ref.find('#');
    const std::string_view page = ref.substr(0, hash);
    const std::string_view anchor = hash == std::string_view::npos ? "" : ref.substr(hash + 1);
    if (page.empty()) {
        return std::optional<search_hit>{};
    }
    struct document_row {
        std::int64_t id;
        std::string path, front_matter;
    };
    auto documents = storage::query_all(
        db, "SELECT id, path, front_matter_json FROM faq_documents ORDER BY path",
        [](storage::statement& st) {
            return document_row{st.get_int(0), st.get_text(1), st.get_text(2)};
        });
    if (!documents) {
        return std::move(documents).error();
    }
    for (const auto& d : *documents) {
        search_hit hit;
        auto meta = front_matter_from_json(d.front_matter, &hit.relative_path);
        if (hit.relative_path != page && (meta.url.empty() || meta.url != page)) {
            continue;
        }
        // The page's first section when no anchor is named.
        auto section = storage::query_one(
            db,
            "SELECT id, heading_path, anchor, body FROM faq_sections WHERE document_id = ? AND "
            "(? = '' OR anchor = ?) ORDER BY ordinal LIMIT 1",
            [&](storage::statement& st) {
                hit.section_id = st.get_int(0);
                hit.heading_path = st.get_text(1);
                hit.anchor = st.get_text(2);
                return st.get_text(3);
            },
            d.id, anchor, anchor);
        if (!section) {
            return std::move(section).error();
        }
        if (!*section) {
            continue;
        }
        hit.document = d.path;
        hit.title = meta.title;
        hit.url = meta.url;
        hit.owner = meta.owner;
        drop_title_from_heading(hit);
        // The body's opening words stand in for a snippet: nothing was searched for.
        std::string body = one_line(std::move(**section));
        if (body.size() > 200) {
            auto cut = body.rfind(' ', 200);
            if (cut == std::string::npos) {
                cut = 200;
                while (cut > 0 && (static_cast<unsigned char>(body[cut]) & 0xC0) == 0x80) {
                    --cut;  // not in the middle of a UTF-8 character
                }
            }
            body = body.substr(0, cut) + " …";
        }
        hit.snippet = std::move(body);
        return std::optional<search_hit>{std::move(hit)};
    }
    return std::optional<search_hit>{};
}

double decline_model::confidence(const answer_evidence& e) const {
    const auto x = e.values();
    double z = intercept;
    for (std::size_t i = 0; i < x.size(); ++i) {
        z += weights[i] * x[i];
    }
    return 1.0 / (1.0 + std::exp(-z));
}

const decline_model& default_decline_model(std::string_view language) {
    // Printed by `bench_faq_eval --fit-decline` from the 10,880 labelled questions up to
    // fresh91 (bench/faq.md, session 22: refitted when `others` came in); weights in the order
    // of answer_evidence::names. English `products` (session 15), each set left out in turn:
    // correct declines 73.1 → 75.4 % at 4.1 % wrong declines. Long, wordy out-of-scope
    // questions are what it helps with: every other word they add makes the model surer
    // (`terms`), a word the docs lack included. `others`, each set left out in turn: correct
    // declines 72.2 → 85.3 % (en) and 84.4 → 88.6 % (ko) at 4.0 % wrong declines; on three sets
    // written after (fresh92–94), 71.1 → 88.9 % and 68.9 → 91.1 %.
    static constexpr decline_model english{
        -4.1240,
        {3.9594, 6.1048, 1.2272, -1.5145, 2.5802, 0.4847, -0.2221, -0.5508, -0.5434, -5.0687}};
    static constexpr decline_model korean{
        -3.9806, {5.7589, 4.4751, 0.1184, -2.1354, 0.7105, 0.8038, -0.5573, 1.6836, 0.0, -5.0468}};
    return language == "ko" ? korean : english;
}

}  // namespace tugboat::faq
