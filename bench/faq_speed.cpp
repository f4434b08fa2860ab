// FAQ speed (issue 7): a synthetic corpus of 1,000 Markdown documents with 10 sections each
// (10,000 sections, English and Korean; words drawn Zipf-like from 4,000 per language), indexed
// into a SQLite file as the bot does.
// Prints: full index time, re-index time of one changed file, the time to read the index's
// statistics (once per re-index), and query latency percentiles — with the per-term counts
// cached, each question asked right after itself and then all of them in turn (the bot's steady
// state), with the counts cleared before every query (a question of words never asked before),
// and with 5,000 learned questions.
//
//   bench_faq_speed [--documents N] [--queries N]

#include "core/clock.hpp"
#include "core/config.hpp"
#include "faq/indexer.hpp"
#include "faq/search.hpp"
#include "storage/database.hpp"
#include "storage/faq_rank.hpp"
#include "storage/faq_repository.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace tugboat;
namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

const std::vector<std::string> english{
    "deploy",      "rollback",   "pod",        "service",   "cluster",   "namespace", "secret",
    "config",      "volume",     "ingress",    "probe",     "container", "image",     "registry",
    "logs",        "metrics",    "alert",      "timeout",   "retry",     "network",   "policy",
    "access",      "permission", "approval",   "pipeline",  "build",     "release",   "version",
    "database",    "backup",     "restore",    "migration", "schema",    "queue",     "topic",
    "cache",       "memory",     "cpu",        "limit",     "request",   "quota",     "node",
    "scheduler",   "affinity",   "toleration", "taint",     "label",     "selector",  "replica",
    "autoscale",   "rollout",    "restart",    "crash",     "pending",   "evicted",   "oom",
    "certificate", "tls",        "dns",        "proxy",     "gateway",   "route",     "token"};
const std::vector<std::string> korean{
    "배포", "롤백",   "파드",         "서비스",   "클러스터", "네임스페이스", "시크릿",
    "설정", "볼륨",   "인그레스",     "프로브",   "컨테이너", "이미지",       "레지스트리",
    "로그", "지표",   "알림",         "시간초과", "재시도",   "네트워크",     "정책",
    "권한", "승인",   "파이프라인",   "빌드",     "릴리스",   "버전",         "데이터베이스",
    "백업", "복구",   "마이그레이션", "큐",       "캐시",     "메모리",       "제한",
    "요청", "할당량", "노드",         "스케줄러", "레플리카"};
const std::vector<std::string> particles{"를", "을", "이", "가", "에서", "으로", "는", ""};

/// A vocabulary like real docs: the domain words above plus generated ones, drawn with a Zipf
/// distribution (a few words everywhere, most words rare), as natural text is.
struct vocabulary {
    std::vector<std::string> words;
    std::vector<double> cumulative;

    vocabulary(const std::vector<std::string>& seed, bool ko, std::mt19937& rng) : words(seed) {
        const std::string consonants = "bcdfghklmnprstvz";
        const std::string vowels = "aeiou";
        while (words.size() < 4000) {
            std::string w;
            if (ko) {
                const int syllables = 2 + static_cast<int>(rng() % 3);
                for (int i = 0; i < syllables; ++i) {
                    std::string utf8;
                    char32_t c = 0xAC00 + rng() % 11172;
                    utf8 += static_cast<char>(0xE0 | (c >> 12));
                    utf8 += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
                    utf8 += static_cast<char>(0x80 | (c & 0x3F));
                    w += utf8;
                }
            } else {
                const int syllables = 2 + static_cast<int>(rng() % 3);
                for (int i = 0; i < syllables; ++i) {
                    w += consonants[rng() % consonants.size()];
                    w += vowels[rng() % vowels.size()];
                }
            }
            words.push_back(w);
        }
        double sum = 0;
        for (std::size_t r = 1; r <= words.size(); ++r) {
            sum += 1.0 / static_cast<double>(r);
            cumulative.push_back(sum);
        }
        for (auto& c : cumulative) {
            c /= sum;
        }
    }

    const std::string& draw(std::mt19937& rng) const {
        const double u = std::uniform_real_distribution<double>(0, 1)(rng);
        auto it = std::lower_bound(cumulative.begin(), cumulative.end(), u);
        return words[static_cast<std::size_t>(it - cumulative.begin()) % words.size()];
    }
};

const vocabulary* english_words = nullptr;
const vocabulary* korean_words = nullptr;

std::string words(std::mt19937& rng, int n, bool ko) {
    std::string out;
    const auto& vocab = ko ? *korean_words : *english_words;
    for (int i = 0; i < n; ++i) {
        out += vocab.draw(rng);
        if (ko) {
            out += particles[rng() % particles.size()];
        }
        out += (i % 12 == 11) ? ".\n" : " ";
    }
    return out;
}

std::string document(std::mt19937& rng, int id) {
    const bool ko = id % 2 == 1;
    std::string md = fmt::format("---\ntitle: {} {}\nquestions:\n  - {}\n---\n\n# {}\n\n",
                                 words(rng, 3, ko), id, words(rng, 6, ko), words(rng, 3, ko));
    for (int s = 0; s < 10; ++s) {
        md += fmt::format("## {} {}\n\n{}\n\n```\nkubectl get pods -n ns-{}\n```\n\n",
                          words(rng, 3, ko), s, words(rng, 60, ko), id);
    }
    return md;
}

double ms(steady::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
    int documents = 1000;
    int queries = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--documents") {
            documents = std::stoi(argv[i + 1]);
        } else if (a == "--queries") {
            queries = std::stoi(argv[i + 1]);
        }
    }
    const fs::path dir =
        fs::temp_directory_path() / ("tugboat-faq-bench-" + std::to_string(std::random_device{}()));
    const fs::path docs = dir / "docs";
    fs::create_directories(docs);
    std::mt19937 rng(7);
    const vocabulary en(english, false, rng);
    const vocabulary ko(korean, true, rng);
    english_words = &en;
    korean_words = &ko;
    // Written a minute "ago": a file changed in the last two seconds is re-read on every pass
    // (its time may not have settled), which would add reading all 1,000 files to the passes
    // timed below.
    const auto written = fs::file_time_type::clock::now() - std::chrono::minutes{1};
    for (int d = 0; d < documents; ++d) {
        const auto file = docs / fmt::format("doc-{:04}.md", d);
        std::ofstream(file) << document(rng, d);
        fs::last_write_time(file, written);
    }

    auto db = storage::database::open((dir / "faq.db").string(), core::null_logger());
    if (!db) {
        std::cerr << db.error().message << "\n";
        return 1;
    }
    core::system_clock clock;
    faq::indexer idx(*db, {docs.string()}, clock);

    auto t0 = steady::now();
    auto full = idx.sync();
    const double full_ms = ms(steady::now() - t0);
    if (!full) {
        std::cerr << full.error().message << "\n";
        return 1;
    }

    // An edit: new content, and a modification time later than any pass has seen.
    auto edit = [](const fs::path& file, std::string_view added) {
        std::ofstream(file, std::ios::app) << added;
        fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds{10});
    };

    // One file changes at a time (new content, a later modification time), nine times over:
    // what a re-index costs depends on the merges FTS5 has left to do.
    std::vector<double> one_ms;
    for (int k = 0; k < 9 && documents > 0; ++k) {
        edit(docs / fmt::format("doc-{:04}.md", (42 + k * 97) % documents),
             "\n## Kafka topics\n\nUse kafkactl.\n");
        t0 = steady::now();
        auto one = idx.sync();
        one_ms.push_back(ms(steady::now() - t0));
        if (!one || one->indexed != 1) {
            std::cerr << "re-index of one file did not re-index it\n";
            return 1;
        }
    }

    t0 = steady::now();
    auto none = idx.sync();
    const double none_ms = ms(steady::now() - t0);

    // Every file changes (a branch switch or a big docs merge): each is replaced in place.
    for (int d = 0; d < documents; ++d) {
        edit(docs / fmt::format("doc-{:04}.md", d), "\n## Changed\n\nRevised.\n");
    }
    t0 = steady::now();
    auto all = idx.sync();
    const double all_ms = ms(steady::now() - t0);

    // What the searcher pays once, on its first English question (timed here on its own).
    const std::string word_file = core::faq_config{}.words;
    t0 = steady::now();
    auto word_list = faq::word_list::load(word_file);
    const double words_ms = ms(steady::now() - t0);

    // What the searcher reads once after every re-index (section lengths and languages).
    t0 = steady::now();
    auto statistics = storage::read_faq_rank_statistics(*db);
    const double statistics_ms = ms(steady::now() - t0);
    if (!statistics) {
        std::cerr << "reading the statistics failed: " << statistics.error().message << "\n";
        return 1;
    }

    faq::searcher search(*db, {.words = word_file});
    std::vector<std::string> questions;
    for (int q = 0; q < queries; ++q) {
        const bool korean_question = q % 2 == 1;
        questions.push_back(
            korean_question
                ? words(rng, 3 + static_cast<int>(rng() % 3), true) + "어떻게 하나요?"
                : "how do I " + words(rng, 3 + static_cast<int>(rng() % 3), false) + "?");
    }
    std::vector<double> warm;  // each question right after itself
    std::vector<double> cold;
    int answered = 0;
    for (const auto& q : questions) {
        search.forget_word_counts();
        t0 = steady::now();
        auto r = search.search(q);
        cold.push_back(ms(steady::now() - t0));
        t0 = steady::now();
        auto again = search.search(q);
        warm.push_back(ms(steady::now() - t0));
        if (!r || !again) {
            std::cerr << "query failed\n";
            return 1;
        }
        answered += r->answer ? 1 : 0;
    }

    // Each question once more, in turn: cached counts, but not right after the same question
    // (whose pages the row above finds in SQLite's page cache), as the bot asks them.
    const auto each_in_turn =
        [&](const std::vector<std::string>& asked) -> std::optional<std::vector<double>> {
        std::vector<double> took;
        for (const auto& q : asked) {
            const auto start = steady::now();
            if (!search.search(q)) {
                return std::nullopt;
            }
            took.push_back(ms(steady::now() - start));
        }
        return took;
    };
    const auto in_turn = each_in_turn(questions);
    // The same naming another tool, whose presence in the first section is read once more.
    std::vector<std::string> tool_questions;
    for (std::size_t q = 0; q < questions.size(); ++q) {
        tool_questions.push_back(q % 2 == 1 ? "헬름으로 " + questions[q] : questions[q] + " helm");
    }
    const auto naming_tools = each_in_turn(tool_questions);
    if (!in_turn || !naming_tools) {
        std::cerr << "query failed\n";
        return 1;
    }

    // The same questions once the askers have confirmed `lessons` answers (faq_learned), a
    // quarter of them questions the team said the docs do not answer: each question also looks
    // for earlier questions like it.
    constexpr int lessons = 5000;
    {
        storage::faq_repository repo(*db);
        auto tx = storage::transaction::begin(*db);
        if (!tx) {
            std::cerr << "teaching failed: " << tx.error().message << "\n";
            return 1;
        }
        for (int l = 0; l < lessons; ++l) {
            const bool korean_lesson = l % 2 == 1;
            storage::faq_ask a{.question = korean_lesson ? words(rng, 4, true) + "어떻게 하나요?"
                                                         : "how do I " + words(rng, 4, false) + "?",
                               .at = clock.now()};
            if (!repo.record_ask(a)) {
                std::cerr << "teaching failed\n";
                return 1;
            }
            const auto page = fmt::format("doc-{:04}.md", static_cast<int>(rng() % documents));
            if (!repo.teach(a, l % 4 == 3 ? std::string{} : page)) {
                std::cerr << "teaching failed\n";
                return 1;
            }
        }
        if (!tx->commit()) {
            std::cerr << "teaching failed\n";
            return 1;
        }
    }
    search.forget_lessons();
    const auto learned = each_in_turn(questions);
    if (!learned) {
        std::cerr << "query failed\n";
        return 1;
    }

    // The bot's periodic pass (faq.reindex_every) and the question that triggers it: a pass that
    // finds nothing changed keeps the searcher's caches; one that changed the index does not.
    const auto after_passes = [&](bool changed) -> std::optional<std::vector<double>> {
        std::vector<double> took;
        for (std::size_t q = 0; q < 50 && q < questions.size(); ++q) {
            const auto start = steady::now();
            auto pass = idx.sync();
            if (!pass) {
                return std::nullopt;
            }
            if (changed) {
                search.forget_statistics();
            } else {
                search.after_sync(*pass);
            }
            if (!search.search(questions[q])) {
                return std::nullopt;
            }
            took.push_back(ms(steady::now() - start));
        }
        return took;
    };
    const auto unchanged_pass = after_passes(false);
    const auto changed_pass = after_passes(true);
    if (!unchanged_pass || !changed_pass) {
        std::cerr << "pass or query failed\n";
        return 1;
    }

    fmt::print("FAQ speed: {} documents, {} sections, {} queries (half Korean)\n\n", documents,
               full->sections, queries);
    fmt::print("| measure | result | target |\n|---|---|---|\n");
    fmt::print("| full index of {} documents | {:.0f} ms | ≤ 2000 ms |\n", documents, full_ms);
    fmt::print(
        "| re-index of one changed file, median / worst of {} | {:.1f} / {:.1f} ms | ≤ 50 ms |\n",
        one_ms.size(), percentile(one_ms, 0.5), percentile(one_ms, 1.0));
    fmt::print("| pass with nothing changed | {:.1f} ms | |\n", none_ms);
    fmt::print("| re-index of all {} files, each changed | {:.0f} ms | |\n",
               all ? all->indexed : -1, all_ms);
    if (word_list) {
        fmt::print("| reading {} ({} words), once | {:.1f} ms | |\n", word_file, word_list->size(),
                   words_ms);
    } else {
        fmt::print("| reading {} | not readable: install wamerican | |\n", word_file);
    }
    fmt::print("| reading the index's statistics, once per re-index | {:.1f} ms | |\n",
               statistics_ms);
    fmt::print("| query p50 / p99, word counts cached | {:.2f} / {:.2f} ms | p99 ≤ 5 ms |\n",
               percentile(warm, 0.5), percentile(warm, 0.99));
    fmt::print(
        "| query p50 / p99, word counts cleared each time | {:.2f} / {:.2f} ms | p99 ≤ 5 ms "
        "|\n",
        percentile(cold, 0.5), percentile(cold, 0.99));
    fmt::print(
        "| query p50 / p99, word counts cached, asked in turn | {:.2f} / {:.2f} ms | p99 ≤ 5 ms "
        "|\n",
        percentile(*in_turn, 0.5), percentile(*in_turn, 0.99));
    fmt::print(
        "| query p50 / p99, the same naming another tool (helm, 헬름) | {:.2f} / {:.2f} ms | p99 "
        "≤ 5 ms |\n",
        percentile(*naming_tools, 0.5), percentile(*naming_tools, 0.99));
    fmt::print(
        "| query p50 / p99, word counts cached, {} answers learned | {:.2f} / {:.2f} ms | p99 ≤ 5 "
        "ms |\n",
        lessons, percentile(*learned, 0.5), percentile(*learned, 0.99));
    fmt::print(
        "| pass with nothing changed + the question after it, median / worst of {} | {:.1f} / "
        "{:.1f} ms | |\n",
        unchanged_pass->size(), percentile(*unchanged_pass, 0.5), percentile(*unchanged_pass, 1.0));
    fmt::print(
        "| … the same, had the pass changed the index (caches read again) | {:.1f} / {:.1f} ms | "
        "|\n",
        percentile(*changed_pass, 0.5), percentile(*changed_pass, 1.0));
    std::vector<std::size_t> order(questions.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return warm[a] > warm[b]; });
    fmt::print("\nslowest (cached):\n");
    for (std::size_t i = 0; i < 5 && i < order.size(); ++i) {
        fmt::print("  {:.2f} ms  {}\n", warm[order[i]], questions[order[i]]);
    }
    fmt::print(
        "\n{} of {} random questions answered (they are word salad; this only shows the "
        "decline path runs too)\n",
        answered, queries);
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}
