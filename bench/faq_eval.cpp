// FAQ retrieval evaluation (issue 7): indexes the bilingual Kubernetes docs corpus one language at
// a time and runs the labelled questions in bench/faq_eval/questions.tsv against it, printing
// top-1, top-3, correct declines and wrong declines per language.
//
//   bench_faq_eval [--split held|dev|all] [--corpus DIR] [--questions FILE] [--glossary FILE]
//                  [--threshold X] [--words FILE] [--misses] [--features FILE] [--fit-decline]
//                  [--bilingual] [--learn [--learn-from FILE] [--lessons N] [--lessons-shown K]
//                  [--wrong-lessons PERCENT] [--team-answers]] [--plain]
//
// --bilingual indexes both languages' pages together, as the bot does when its docs folders hold
// a page and its translation: a question may then find either.
//
// --learn asks each split after teaching the search what the askers of the other splits (or of
// --learn-from FILE) would have confirmed: each answerable question whose page was among the
// first K hits shown (3: a 👍 on the answer or a match picked after a 👎; 1: 👍 only), at most N
// of them, PERCENT of them confirming a wrong page instead (faq/search.hpp, faq_learned). With
// --team-answers, each answerable question none of those hits answered is escalated and the
// platform team names its page (a ✓ in the help channel, or `/faq teach`), and each out-of-scope
// question reaches the team too (declined, or after its asker's 👎), who say the docs do not
// answer it (an answer in the help thread that links no page, or `/faq teach N none`).
//
// --fit-decline fits the answer-or-decline model (faq::decline_model) per language on the
// chosen questions, reports it with every split left out in turn, and prints the model fitted on
// all of them for faq/search.cpp.
//
// --plain measures plain FTS5 + bm25 instead of the bot's search, on the same sections and
// questions: the baseline issue 7 gives for orientation (plain_baseline below).
//
// questions.tsv: language, split, expected file(s) ("a.md|b.md", or "-" when the corpus has no
// answer), question — tab-separated. The glossary file has "term: synonym, synonym" lines.

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/text.hpp"
#include "faq/indexer.hpp"
#include "faq/search.hpp"
#include "storage/database.hpp"
#include "storage/faq_repository.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace tugboat;

namespace {

struct labelled {
    std::string language;
    std::string split;
    std::vector<std::string> expected;  // empty: out of scope
    std::string question;
};

/// The file names of the corpus's pages, which the labels name.
std::set<std::string> page_names_in(const std::string& corpus) {
    std::vector<std::string> problems;  // an unreadable corpus has no pages, which main reports
    std::set<std::string> out;
    for (const auto& file : faq::markdown_files(corpus, problems)) {
        out.insert(std::filesystem::path(file).filename().string());
    }
    return out;
}

/// The labelled questions of `path`, or nothing after saying on stderr which lines are wrong:
/// a label naming no page of the corpus would count its question as missed on every run.
std::optional<std::vector<labelled>> read_questions(const std::string& path,
                                                    const std::set<std::string>& pages) {
    std::ifstream in(path);
    if (!in) {
        std::cerr << path << ": cannot be read\n";
        return std::nullopt;
    }
    std::vector<labelled> out;
    bool ok = true;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const auto where = fmt::format("{}:{}: ", path, number);
        auto cols = core::split(line, '\t');
        if (cols.size() != 4) {
            std::cerr << where << "expected 4 tab-separated columns, got " << cols.size() << "\n";
            ok = false;
            continue;
        }
        labelled q{cols[0], cols[1], {}, cols[3]};
        if (cols[2] != "-") {
            q.expected = core::split(cols[2], '|');
        }
        for (const auto& page : q.expected) {
            if (!pages.contains(page)) {
                std::cerr << where << "`" << page
                          << "` is not a page of the corpus (several pages are separated by "
                             "`|`, no answer is `-`)\n";
                ok = false;
            }
        }
        out.push_back(std::move(q));
    }
    if (!ok) {
        return std::nullopt;
    }
    return out;
}

faq::glossary read_glossary(const std::string& path) {
    faq::glossary g;
    if (path.empty()) {
        return g;
    }
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (line.empty() || line[0] == '#' || colon == std::string::npos) {
            continue;
        }
        auto& synonyms = g[std::string{core::trim(line.substr(0, colon))}];
        for (auto& s : core::split(line.substr(colon + 1), ',')) {
            if (auto t = core::trim(s); !t.empty()) {
                synonyms.emplace_back(t);
            }
        }
    }
    return g;
}

std::string file_name(const std::string& relative) {
    return std::filesystem::path(relative).filename().string();
}

/// Whether the page at `relative` is one the question's label names.
bool answers(const labelled& q, const std::string& relative) {
    return std::find(q.expected.begin(), q.expected.end(), file_name(relative)) != q.expected.end();
}

struct sample {
    std::string split;
    bool answerable;
    faq::answer_evidence evidence;
};

constexpr std::size_t n_features = faq::answer_evidence::size;
// Where the model declines: this share of the answerable questions it is fitted on (the target
// allows 5 % on unseen ones), placed at the default faq.answer_threshold.
constexpr double fitted_wrong_declines = 0.04;

/// Solves a·x = b (a small dense system, positive definite) by Gaussian elimination.
std::vector<double> solve(std::vector<std::vector<double>> a, std::vector<double> b) {
    const std::size_t n = b.size();
    for (std::size_t c = 0; c < n; ++c) {
        for (std::size_t r = c + 1; r < n; ++r) {
            const double f = a[r][c] / a[c][c];
            for (std::size_t k = c; k < n; ++k) {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    std::vector<double> x(n);
    for (std::size_t c = n; c-- > 0;) {
        double v = b[c];
        for (std::size_t k = c + 1; k < n; ++k) {
            v -= a[c][k] * x[k];
        }
        x[c] = v / a[c][c];
    }
    return x;
}

/// L2-regularised logistic regression (Newton's method) on standardised features, returned on
/// the features' own scale with the intercept moved so that `threshold` is where it declines
/// `fitted_wrong_declines` of the answerable samples.
faq::decline_model fit(const std::vector<const sample*>& samples, double threshold) {
    std::array<double, n_features> mean{}, scale{};
    for (const auto* s : samples) {
        const auto x = s->evidence.values();
        for (std::size_t j = 0; j < n_features; ++j) {
            mean[j] += x[j] / static_cast<double>(samples.size());
        }
    }
    for (const auto* s : samples) {
        const auto x = s->evidence.values();
        for (std::size_t j = 0; j < n_features; ++j) {
            scale[j] += std::pow(x[j] - mean[j], 2) / static_cast<double>(samples.size());
        }
    }
    for (auto& v : scale) {
        v = v > 0 ? std::sqrt(v) : 1.0;
    }
    constexpr std::size_t n = n_features + 1;
    constexpr double ridge = 1.0;
    // Each sample standardised once, with a leading 1 for the intercept.
    std::vector<std::array<double, n>> rows;
    for (const auto* s : samples) {
        const auto x = s->evidence.values();
        auto& z = rows.emplace_back();
        z[0] = 1.0;
        for (std::size_t j = 0; j < n_features; ++j) {
            z[j + 1] = (x[j] - mean[j]) / scale[j];
        }
    }
    std::vector<double> w(n, 0.0);
    for (int iteration = 0; iteration < 15; ++iteration) {
        std::vector<std::vector<double>> hessian(n, std::vector<double>(n, 0.0));
        std::vector<double> gradient(n, 0.0);
        for (std::size_t r = 0; r < rows.size(); ++r) {
            const auto& z = rows[r];
            double t = 0;
            for (std::size_t i = 0; i < n; ++i) {
                t += w[i] * z[i];
            }
            const double p = 1.0 / (1.0 + std::exp(-std::clamp(t, -30.0, 30.0)));
            const double error = p - (samples[r]->answerable ? 1.0 : 0.0);
            for (std::size_t i = 0; i < n; ++i) {
                gradient[i] += error * z[i];
                for (std::size_t k = 0; k < n; ++k) {
                    hessian[i][k] += p * (1 - p) * z[i] * z[k];
                }
            }
        }
        for (std::size_t i = 1; i < n; ++i) {
            hessian[i][i] += ridge;
            gradient[i] += ridge * w[i];
        }
        const auto step = solve(std::move(hessian), std::move(gradient));
        for (std::size_t i = 0; i < n; ++i) {
            w[i] -= step[i];
        }
    }
    faq::decline_model model{w[0], {}};
    for (std::size_t j = 0; j < n_features; ++j) {
        model.weights[j] = w[j + 1] / scale[j];
        model.intercept -= w[j + 1] * mean[j] / scale[j];
    }
    std::vector<double> answerable;
    for (const auto* s : samples) {
        if (s->answerable) {
            answerable.push_back(model.confidence(s->evidence));
        }
    }
    std::sort(answerable.begin(), answerable.end());
    const double at = answerable[static_cast<std::size_t>(fitted_wrong_declines *
                                                          static_cast<double>(answerable.size()))];
    auto logit = [](double p) { return std::log(p / (1 - p)); };
    model.intercept += logit(threshold) - logit(at);
    return model;
}

/// Fits on every split but one, in turn, and on all; prints what each would have decided.
void report_fit(const std::string& language, const std::vector<sample>& samples, double threshold) {
    std::vector<std::string> splits;
    for (const auto& s : samples) {
        if (std::find(splits.begin(), splits.end(), s.split) == splits.end()) {
            splits.push_back(s.split);
        }
    }
    // Fitted on every sample not in `left_out` ("" leaves none out: no split has that name).
    auto fit_without = [&](const std::string& left_out) {
        std::vector<const sample*> rest;
        for (const auto& s : samples) {
            if (s.split != left_out) {
                rest.push_back(&s);
            }
        }
        return fit(rest, threshold);
    };
    int answerable = 0, wrong = 0, out_of_scope = 0, correct = 0;
    for (const auto& left_out : splits) {
        const auto model = fit_without(left_out);
        for (const auto& s : samples) {
            if (s.split == left_out) {
                const bool answer = model.confidence(s.evidence) >= threshold;
                (s.answerable ? answerable : out_of_scope) += 1;
                (s.answerable ? wrong : correct) += (answer ? 0 : 1);
            }
        }
    }
    const auto model = fit_without("");
    fmt::print(
        "{}: each of {} splits left out in turn: wrong declines {:.1f} % of {}, correct "
        "declines {:.1f} % of {}\n  fitted on all: {{{:.4f}, {{{:.4f}}}}}\n",
        language, splits.size(), 100.0 * wrong / std::max(answerable, 1), answerable,
        100.0 * correct / std::max(out_of_scope, 1), out_of_scope, model.intercept,
        fmt::join(model.weights, ", "));
}

}  // namespace

/// A question some asker said a page answered: what --learn teaches the search.
struct lesson {
    std::string split, question, section;
};

/// What the askers of `questions` would teach: each answerable one of `language` whose page was
/// among the first `shown` hits, as a vote for that hit's section (1: their 👍 on the answer;
/// 3: also the match they picked after a 👎); with `team`, the others' pages, and "" (not in the
/// docs) for each out-of-scope one. Asked of an index that has learned nothing.
core::result<std::vector<lesson>> lessons_of(faq::searcher& search,
                                             const std::vector<labelled>& questions,
                                             const std::string& language, std::size_t shown,
                                             double wrong, bool team) {
    std::vector<lesson> out;
    double mistakes = 0;
    for (const auto& q : questions) {
        if (q.language != language) {
            continue;
        }
        if (q.expected.empty()) {
            if (team) {
                out.push_back({q.split, q.question, ""});
            }
            continue;
        }
        auto r = search.search(q.question);
        if (!r) {
            return std::move(r).error();
        }
        // Every 1/wrong-th asker confirms a page that did not answer them: the first one shown.
        mistakes += wrong;
        if (mistakes >= 1) {
            auto hit = std::find_if(r->hits.begin(), r->hits.end(), [&](const faq::search_hit& h) {
                return !answers(q, h.relative_path);
            });
            if (hit != r->hits.end()) {
                mistakes -= 1;
                out.push_back({q.split, q.question, hit->ref()});
                continue;
            }
        }
        const auto shown_end = r->hits.begin() + std::min(shown, r->hits.size());
        const auto confirmed =
            std::find_if(r->hits.begin(), shown_end,
                         [&](const faq::search_hit& h) { return answers(q, h.relative_path); });
        if (confirmed != shown_end) {
            out.push_back({q.split, q.question, confirmed->ref()});
        } else if (team) {
            out.push_back({q.split, q.question, q.expected.front()});
        }
    }
    return out;
}

/// Replaces what the index has learned with at most `most` lessons (a random choice, the same
/// for a split every run) of every split but `current`, leaving out any question also asked,
/// word for word, in `current`.
core::result<void> teach_all_but(storage::database& db, const std::vector<lesson>& lessons,
                                 const std::vector<labelled>& asked, const std::string& language,
                                 const std::string& current, std::size_t most) {
    auto tx = storage::transaction::begin(db);
    if (!tx) {
        return std::move(tx).error();
    }
    if (auto r = db.exec("DELETE FROM faq_learned"); !r) {
        return r;
    }
    std::set<std::string> asked_here;
    for (const auto& q : asked) {
        if (q.language == language && q.split == current) {
            asked_here.insert(core::to_lower(q.question));
        }
    }
    std::vector<std::size_t> order(lessons.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937 rng(static_cast<std::uint32_t>(std::hash<std::string>{}(current)));
    std::shuffle(order.begin(), order.end(), rng);
    storage::faq_repository repo(db);
    std::int64_t taught = 0;
    for (auto i : order) {
        const auto& l = lessons[i];
        if (static_cast<std::size_t>(taught) >= most) {
            break;
        }
        if (l.split == current || asked_here.contains(core::to_lower(l.question))) {
            continue;
        }
        if (auto r = repo.teach({.id = ++taught, .question = l.question}, l.section); !r) {
            return std::move(r).error();
        }
    }
    return tx->commit();
}

/// One language's results, as the table prints them.
struct tally {
    int answerable = 0, top1 = 0, top3 = 0, wrong_declines = 0;
    int out_of_scope = 0, correct_declines = 0;
};

void print_row(const std::string& language, const tally& t) {
    auto pct = [](int a, int n) { return n == 0 ? 0.0 : 100.0 * a / n; };
    fmt::print("| {} | {} | {:.1f} % | {:.1f} % | {:.1f} % | {} | {:.1f} % |\n", language,
               t.answerable, pct(t.top1, t.answerable), pct(t.top3, t.answerable),
               pct(t.wrong_declines, t.answerable), t.out_of_scope,
               pct(t.correct_declines, t.out_of_scope));
}

/// Issue 7's orientation figure, measured on the same sections and questions: plain FTS5
/// (`unicode61`, no stemming, no glossary), the question's words OR-ed, ranked by bm25 over
/// heading and body. Plain search has no decline rule; it declines below the score that declines
/// 5 % of these answerable questions, a threshold set on the very questions it is judged on, which
/// flatters it.
core::result<tally> plain_baseline(storage::database& db, const std::vector<labelled>& all,
                                   const std::string& language, const std::string& split) {
    if (auto r =
            db.exec("CREATE VIRTUAL TABLE plain USING fts5 (heading, body, tokenize = 'unicode61');"
                    "INSERT INTO plain (rowid, heading, body) SELECT id, heading_path, body "
                    "FROM faq_sections;");
        !r) {
        return r.error();
    }
    std::vector<double> answerable_scores;
    std::vector<double> out_of_scope_scores;
    tally t;
    for (const auto& q : all) {
        if (q.language != language || (split != "all" && q.split != split)) {
            continue;
        }
        // Each run of letters and digits as a quoted term, so that no word is read as FTS5 syntax.
        std::string match;
        std::string word;
        for (char c : q.question + ' ') {
            if (std::isalnum(static_cast<unsigned char>(c)) ||
                static_cast<unsigned char>(c) >= 0x80) {
                word += c;
            } else if (!word.empty()) {
                match += (match.empty() ? "\"" : " OR \"") + word + '"';
                word.clear();
            }
        }
        std::vector<std::string> pages;
        double score = 0;  // no match at all: declined
        if (!match.empty()) {
            auto st = db.prepare(
                "SELECT d.path, -bm25(plain) FROM plain JOIN faq_sections s ON s.id = plain.rowid "
                "JOIN faq_documents d ON d.id = s.document_id WHERE plain MATCH ?1 "
                "ORDER BY bm25(plain) LIMIT 50");
            if (!st) {
                return std::move(st).error();
            }
            st->bind(1, match);
            for (;;) {
                auto row = st->step();
                if (!row) {
                    return std::move(row).error();
                }
                if (!*row) {
                    break;
                }
                if (pages.empty()) {
                    score = st->get_double(1);
                }
                auto page = file_name(st->get_text(0));
                if (std::find(pages.begin(), pages.end(), page) == pages.end()) {
                    pages.push_back(page);
                }
            }
        }
        if (q.expected.empty()) {
            ++t.out_of_scope;
            out_of_scope_scores.push_back(score);
            continue;
        }
        ++t.answerable;
        answerable_scores.push_back(score);
        auto found = std::find_if(pages.begin(), pages.end(),
                                  [&](const std::string& p) { return answers(q, p); });
        if (found != pages.end()) {
            t.top1 += found == pages.begin() ? 1 : 0;
            t.top3 += found - pages.begin() < 3 ? 1 : 0;
        }
    }
    if (answerable_scores.empty()) {
        return t;
    }
    std::sort(answerable_scores.begin(), answerable_scores.end());
    const double threshold = answerable_scores[answerable_scores.size() / 20];
    auto below = [&](double s) { return s < threshold; };
    t.wrong_declines = static_cast<int>(std::ranges::count_if(answerable_scores, below));
    t.correct_declines = static_cast<int>(std::ranges::count_if(out_of_scope_scores, below));
    return t;
}

int main(int argc, char** argv) {
    const std::string source = TUGBOAT_SOURCE_DIR;
    std::string split = "held";
    std::string corpus = source + "/../shared/faq-corpus/k8s-docs";
    std::string questions = source + "/bench/faq_eval/questions.tsv";
    std::string glossary_file = source + "/bench/faq_eval/glossary.txt";
    double threshold = faq::search_options{}.answer_threshold;
    std::string words = core::faq_config{}.words;
    bool misses = false;
    std::string features_file;
    bool fit_decline = false;
    bool bilingual = false;
    bool learn = false;
    std::string learn_from;
    std::size_t max_lessons = std::numeric_limits<std::size_t>::max();
    std::size_t lessons_shown = 3;
    double wrong_lessons = 0;
    bool team_answers = false;
    bool plain = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--split") {
            split = value();
        } else if (a == "--corpus") {
            corpus = value();
        } else if (a == "--questions") {
            questions = value();
        } else if (a == "--glossary") {
            glossary_file = value();
        } else if (a == "--threshold") {
            threshold = std::stod(value());
        } else if (a == "--words") {
            words = value();
        } else if (a == "--misses") {
            misses = true;
        } else if (a == "--features") {
            features_file = value();
        } else if (a == "--fit-decline") {
            fit_decline = true;
        } else if (a == "--bilingual") {
            bilingual = true;
        } else if (a == "--learn") {
            learn = true;
        } else if (a == "--learn-from") {
            learn_from = value();
        } else if (a == "--lessons") {
            max_lessons = std::stoul(value());
        } else if (a == "--lessons-shown") {
            lessons_shown = std::stoul(value());
        } else if (a == "--wrong-lessons") {
            wrong_lessons = std::stod(value()) / 100;
        } else if (a == "--team-answers") {
            team_answers = true;
        } else if (a == "--plain") {
            plain = true;
        } else {
            std::cerr << "unknown argument " << a
                      << "; try --split held|dev|all, --corpus DIR, --questions FILE, "
                         "--glossary FILE, --threshold X, --words FILE, --misses, --features FILE, "
                         "--fit-decline, --bilingual, --learn, --learn-from FILE, --lessons N, "
                         "--lessons-shown K, --wrong-lessons PERCENT, --team-answers, --plain\n";
            return 2;
        }
    }
    if (plain && (learn || fit_decline || !features_file.empty() || misses)) {
        std::cerr << "--plain measures plain FTS5 alone; run it without --learn, --fit-decline, "
                     "--features and --misses\n";
        return 2;
    }
    const auto pages = page_names_in(corpus);
    if (pages.empty()) {
        std::cerr << corpus << ": no Markdown pages (is ../shared beside the checkout?)\n";
        return 2;
    }
    const auto read = read_questions(questions, pages);
    const auto lessons_read = learn_from.empty() ? read : read_questions(learn_from, pages);
    if (!read || !lessons_read) {
        return 2;
    }
    const auto& all = *read;
    const auto& lesson_questions = *lessons_read;
    const auto glossary = read_glossary(glossary_file);
    core::system_clock clock;

    // One line per question with what its confidence was computed from, to study the decline
    // rule: language, split, expected rank (-1: out of scope), confidence, first and second
    // hit's score, first hit's coverage and name fit, first and second page's rank score,
    // word:sections:found:weight….
    std::ofstream features;
    if (!features_file.empty()) {
        features.open(features_file);
    }
    if (plain) {
        fmt::print(
            "FAQ evaluation of plain FTS5 unicode61 + bm25 (the baseline): split={} "
            "corpus={}{}\n\n",
            split, corpus, bilingual ? " (both languages indexed together)" : "");
    } else {
        fmt::print("FAQ evaluation: split={} threshold={:.2f} words={} corpus={}{}\n\n", split,
                   threshold, words.empty() ? "none" : words, corpus,
                   bilingual ? " (both languages indexed together)" : "");
    }
    fmt::print(
        "| language | answerable | top-1 | top-3 | wrong declines | out of scope | correct "
        "declines |\n|---|---|---|---|---|---|---|\n");
    std::vector<std::pair<std::string, std::vector<sample>>> samples;
    for (const std::string language : {"en", "ko"}) {
        auto& fitted = samples.emplace_back(language, std::vector<sample>{}).second;
        auto db = storage::database::open(":memory:", core::null_logger());
        if (!db) {
            std::cerr << db.error().message << "\n";
            return 1;
        }
        std::vector<std::string> folders{(std::filesystem::path(corpus) / language).string()};
        if (bilingual) {
            folders.push_back(
                (std::filesystem::path(corpus) / (language == "en" ? "ko" : "en")).string());
        }
        faq::indexer idx(*db, folders, clock);
        if (auto r = idx.sync(); !r || r->files == 0) {
            std::cerr << "cannot index " << corpus << "/" << language << "\n";
            return 1;
        }
        if (plain) {
            auto t = plain_baseline(*db, all, language, split);
            if (!t) {
                std::cerr << t.error().message << "\n";
                return 1;
            }
            print_row(language, *t);
            continue;
        }
        faq::searcher search(
            *db, {.answer_threshold = threshold, .extra_glossary = glossary, .words = words});
        if (features.is_open()) {
            auto st = db->prepare("SELECT count(*) FROM faq_search");
            if (st && st->step()) {
                features << "# " << language << " sections " << st->get_int(0) << '\n';
            }
        }
        tally t;
        std::vector<lesson> lessons;
        if (learn) {
            auto taught = lessons_of(search, lesson_questions, language, lessons_shown,
                                     wrong_lessons, team_answers);
            if (!taught) {
                std::cerr << taught.error().message << "\n";
                return 1;
            }
            lessons = std::move(*taught);
        }
        // With --learn each split is asked with what the others taught; otherwise all at once.
        std::vector<std::string> order{""};
        if (learn) {
            order.clear();
            for (const auto& q : all) {
                if (q.language == language &&
                    std::find(order.begin(), order.end(), q.split) == order.end()) {
                    order.push_back(q.split);
                }
            }
        }
        for (const auto& current : order) {
            if (learn) {
                if (auto r = teach_all_but(*db, lessons, all, language, current, max_lessons); !r) {
                    std::cerr << r.error().message << "\n";
                    return 1;
                }
                search.forget_lessons();
            }
            for (const auto& q : all) {
                if (q.language != language || (split != "all" && q.split != split) ||
                    (learn && q.split != current)) {
                    continue;
                }
                auto r = search.search(q.question);
                if (!r) {
                    std::cerr << r.error().message << "\n";
                    return 1;
                }
                std::vector<std::string> got;
                auto rank = r->hits.size();
                for (std::size_t i = 0; i < r->hits.size(); ++i) {
                    got.push_back(file_name(r->hits[i].relative_path));
                    if (rank == r->hits.size() && answers(q, r->hits[i].relative_path)) {
                        rank = i;
                    }
                }
                fitted.push_back({q.split, !q.expected.empty(), r->evidence});
                const bool ok = q.expected.empty() ? !r->answer : rank == 0 && r->answer;
                if (q.expected.empty()) {
                    ++t.out_of_scope;
                    t.correct_declines += r->answer ? 0 : 1;
                } else {
                    ++t.answerable;
                    t.top1 += rank == 0 ? 1 : 0;
                    t.top3 += rank < 3 ? 1 : 0;
                    t.wrong_declines += r->answer ? 0 : 1;
                }
                if (features.is_open()) {
                    features << language << '\t' << q.split << '\t'
                             << (q.expected.empty() ? -1 : static_cast<int>(rank)) << '\t'
                             << r->confidence << '\t' << (r->hits.empty() ? 0.0 : r->hits[0].score)
                             << '\t' << (r->hits.size() < 2 ? 0.0 : r->hits[1].score) << '\t'
                             << (r->hits.empty() ? 0.0 : r->hits[0].coverage) << '\t'
                             << (r->hits.empty() ? 0.0 : r->hits[0].fit) << '\t'
                             << (r->hits.empty() ? 0.0 : r->hits[0].rank) << '\t'
                             << (r->hits.size() < 2 ? 0.0 : r->hits[1].rank);
                    for (std::size_t i = 0; i < r->term_stats.size(); ++i) {
                        features << '\t' << r->terms[i] << ':' << r->term_stats[i].sections << ':'
                                 << r->term_stats[i].in_top << ':' << r->term_stats[i].weight;
                    }
                    features << '\n';
                }
                if (misses && !ok) {
                    fmt::print(stderr,
                               "MISS {} [{}] conf={:.2f}{} expected={} got={} terms={} q={}\n",
                               language, q.split, r->confidence,
                               r->known_gap ? " (like one not in the docs)" : "",
                               q.expected.empty() ? "-" : q.expected.front(), fmt::join(got, ","),
                               fmt::join(r->terms, "/"), q.question);
                }
            }
        }
        print_row(language, t);
    }
    fmt::print(
        "\ntargets: top-1 ≥ 85 %, top-3 ≥ 95 %, wrong declines ≤ 5 %, correct declines ≥ "
        "80 %\n");
    if (fit_decline) {
        fmt::print("\n");
        for (const auto& [language, fitted] : samples) {
            report_fit(language, fitted, threshold);
        }
    }
    return 0;
}
