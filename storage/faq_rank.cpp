#include "storage/faq_rank.hpp"

#include "storage/query.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <numeric>
#include <tuple>
#include <utility>

namespace tugboat::storage {
namespace {

constexpr double k1 = 1.2;
constexpr std::size_t columns = faq_rank_statistics::columns;
// How much each column's length counts (b), in faq_search's order. The body 0.9 rather than
// the usual 0.75: on all 6,080 labelled questions English top-1 rose 81.6 → 81.9 % and its
// correct declines 78.3 → 79.2 %, Korean no change (bench/faq.md). The title and questions
// are the page's name, and so is the start of every heading path; how much of the name a
// question asks about is already its name fit (faq/search.cpp). At 0.9 a longer name lost
// twice, and "초기화 컨테이너가 계속 실패해요" went to 초기화 컨테이너 instead of 초기화 컨테이너
// 디버그하기; 0–0.9 there moved the labelled questions by ±0.2 points.
constexpr std::array<double, columns> b{0.5, 0.5, 0.5, 0.9};

// A word of the question counts once, by the form that scores best in the section; its other
// forms (glossary synonyms, other spellings, a Korean word's first two syllables) add 0.3 of
// theirs. Summed in full, a section with a word in both scripts — the Korean title
// "초기화 컨테이너(Init Containers) 디버그하기" — counted it twice: "init container 여러 개면
// 순서대로 돌아요?" went to that page, not to 초기화 컨테이너, in 47 of the 82 Korean questions
// about the concept page. On all 9,800 labelled questions top-1 rose 80.7 → 81.4 % (en) and
// 84.1 → 85.6 % (ko), top-3 held, and with the decline model refitted the declines held too;
// 0 (the best form only) and 0.6 did less (bench/faq.md, session 19).
constexpr double other_forms = 0.3;

/// What one query's scoring needs and computes once: per language, the average length of
/// each column and every phrase's idf among its sections.
struct query_data {
    std::size_t phrases = 0;
    std::vector<double> average;     ///< [language * columns + column]
    std::vector<double> idf;         ///< [language * phrases + phrase]
    std::vector<double> frequency;   ///< [phrase * columns + column], of the row being scored
    std::vector<std::size_t> group;  ///< [phrase]: the word of the question it is a form of
    std::vector<double> best;        ///< [word]: its best form's score, of the row being scored
};

/// "0 0 1 2 2": the word of the question each phrase is a form of. Without it, or when it does
/// not name a word below the phrase count for every phrase, each phrase is a word of its own.
void read_groups(sqlite3_value* value, query_data& d) {
    d.group.clear();
    if (value != nullptr && sqlite3_value_type(value) == SQLITE_TEXT) {
        std::string_view text{reinterpret_cast<const char*>(sqlite3_value_text(value)),
                              static_cast<std::size_t>(sqlite3_value_bytes(value))};
        while (!text.empty()) {
            std::size_t word = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), word);
            if (ec != std::errc{} || word >= d.phrases) {
                d.group.clear();
                break;
            }
            d.group.push_back(word);
            text.remove_prefix(static_cast<std::size_t>(end - text.data()));
            text.remove_prefix(text.starts_with(' ') ? 1 : 0);
        }
    }
    if (d.group.size() != d.phrases) {
        d.group.resize(d.phrases);
        std::iota(d.group.begin(), d.group.end(), std::size_t{0});
    }
    d.best.assign(d.phrases, 0.0);
}

struct phrase_hits {
    const faq_rank_statistics* statistics;
    std::vector<std::int64_t> by_language;
};

int count_hit(const Fts5ExtensionApi* api, Fts5Context* fts, void* context) {
    auto& hits = *static_cast<phrase_hits*>(context);
    ++hits.by_language[0];
    if (hits.statistics != nullptr) {
        if (auto it = hits.statistics->sections.find(api->xRowid(fts));
            it != hits.statistics->sections.end() && it->second.language != 0) {
            ++hits.by_language[static_cast<std::size_t>(it->second.language)];
        }
    }
    return SQLITE_OK;
}

int prepare(const Fts5ExtensionApi* api, Fts5Context* fts, const faq_rank_statistics* statistics,
            query_data& d) {
    std::vector<faq_rank_statistics::language> whole_table;  // without statistics
    if (statistics == nullptr || statistics->languages.empty()) {
        auto& all = whole_table.emplace_back();
        sqlite3_int64 n = 0;
        if (int rc = api->xRowCount(fts, &n); rc != SQLITE_OK) {
            return rc;
        }
        all.sections = n;
        for (std::size_t c = 0; c < columns; ++c) {
            if (int rc = api->xColumnTotalSize(fts, static_cast<int>(c), &n); rc != SQLITE_OK) {
                return rc;
            }
            all.tokens[c] = n;
        }
    }
    const auto& languages = whole_table.empty() ? statistics->languages : whole_table;
    for (const auto& l : languages) {
        for (auto tokens : l.tokens) {
            // An empty column matches nothing; 1 only keeps the division defined.
            d.average.push_back(
                tokens > 0 ? static_cast<double>(tokens) / static_cast<double>(l.sections) : 1.0);
        }
    }
    d.phrases = static_cast<std::size_t>(api->xPhraseCount(fts));
    d.idf.assign(languages.size() * d.phrases, 0.0);
    d.frequency.assign(d.phrases * columns, 0.0);
    for (std::size_t p = 0; p < d.phrases; ++p) {
        phrase_hits hits{statistics, std::vector<std::int64_t>(languages.size(), 0)};
        if (int rc = api->xQueryPhrase(fts, static_cast<int>(p), &hits, count_hit);
            rc != SQLITE_OK) {
            return rc;
        }
        for (std::size_t l = 0; l < languages.size(); ++l) {
            const auto n = static_cast<double>(languages[l].sections);
            const auto m = static_cast<double>(hits.by_language[l]);
            // As bm25(): a phrase in more than half the rows still counts, a little.
            d.idf[l * d.phrases + p] = std::max(1e-6, std::log((n - m + 0.5) / (m + 0.5)));
        }
    }
    return SQLITE_OK;
}

void rank(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* ctx, int argc,
          sqlite3_value** argv) {
    const auto* statistics = argc > 0
                                 ? static_cast<const faq_rank_statistics*>(sqlite3_value_pointer(
                                       argv[0], faq_rank_statistics::pointer_type))
                                 : nullptr;
    const auto fail = [&](int rc) { sqlite3_result_error_code(ctx, rc); };
    auto* d = static_cast<query_data*>(api->xGetAuxdata(fts, 0));
    if (d == nullptr) {
        auto fresh = std::make_unique<query_data>();
        if (int rc = prepare(api, fts, statistics, *fresh); rc != SQLITE_OK) {
            return fail(rc);
        }
        read_groups(argc > 5 ? argv[5] : nullptr, *fresh);
        d = fresh.get();
        if (int rc = api->xSetAuxdata(fts, fresh.release(),
                                      [](void* p) { delete static_cast<query_data*>(p); });
            rc != SQLITE_OK) {
            return fail(rc);
        }
    }
    std::fill(d->frequency.begin(), d->frequency.end(), 0.0);
    int matches = 0;
    if (int rc = api->xInstCount(fts, &matches); rc != SQLITE_OK) {
        return fail(rc);
    }
    for (int i = 0; i < matches; ++i) {
        int phrase = 0;
        int column = 0;
        int offset = 0;
        if (int rc = api->xInst(fts, i, &phrase, &column, &offset); rc != SQLITE_OK) {
            return fail(rc);
        }
        if (static_cast<std::size_t>(column) < columns) {
            d->frequency[static_cast<std::size_t>(phrase) * columns +
                         static_cast<std::size_t>(column)] += 1;
        }
    }
    // A section the statistics do not know (indexed after they were read) counts as any
    // language, with its lengths from FTS5.
    faq_rank_statistics::section row;
    const faq_rank_statistics::section* known = nullptr;
    if (statistics != nullptr) {
        if (auto it = statistics->sections.find(api->xRowid(fts));
            it != statistics->sections.end()) {
            known = &it->second;
        }
    }
    if (known == nullptr) {
        for (std::size_t c = 0; c < columns; ++c) {
            int n = 0;
            if (int rc = api->xColumnSize(fts, static_cast<int>(c), &n); rc != SQLITE_OK) {
                return fail(rc);
            }
            row.tokens[c] = n;
        }
        known = &row;
    }
    const auto language = static_cast<std::size_t>(known->language);
    std::array<double, columns> scale{};  // weight ÷ length normalisation, per column
    for (std::size_t c = 0; c < columns; ++c) {
        const double weight =
            c + 1 < static_cast<std::size_t>(argc) ? sqlite3_value_double(argv[c + 1]) : 1.0;
        scale[c] = weight / (1 - b[c] +
                             b[c] * static_cast<double>(known->tokens[c]) /
                                 d->average[language * columns + c]);
    }
    std::fill(d->best.begin(), d->best.end(), 0.0);
    double score = 0;
    for (std::size_t p = 0; p < d->phrases; ++p) {
        double tf = 0;
        for (std::size_t c = 0; c < columns; ++c) {
            tf += d->frequency[p * columns + c] * scale[c];
        }
        if (tf > 0) {
            const double s = d->idf[language * d->phrases + p] * tf * (k1 + 1) / (tf + k1);
            // Over a word's forms the smaller of each pair adds up to all of them but the best.
            auto& best = d->best[d->group[p]];
            score += other_forms * std::min(best, s);
            best = std::max(best, s);
        }
    }
    for (double best : d->best) {
        score += best;
    }
    sqlite3_result_double(ctx, score);
}

/// The FTS5 docsize blob: one varint (SQLite's format) per column, the tokens in it.
faq_rank_statistics::lengths column_tokens(std::string_view blob) {
    faq_rank_statistics::lengths out{};
    std::size_t column = 0;
    std::uint64_t value = 0;
    for (unsigned char c : blob) {
        value = (value << 7) | (c & 0x7f);
        if ((c & 0x80) == 0) {
            if (column < out.size()) {
                out[column++] = static_cast<std::int64_t>(value);
            }
            value = 0;
        }
    }
    return out;
}

}  // namespace

int faq_rank_statistics::language_of(std::string_view name) const {
    for (std::size_t i = 1; i < languages.size(); ++i) {
        if (languages[i].name == name) {
            return static_cast<int>(i);
        }
    }
    return 0;
}

core::result<faq_rank_statistics> read_faq_rank_statistics(database& db) {
    auto documents =
        query_all(db,
                  "SELECT id, coalesce(json_extract(front_matter_json, '$.language'), '') "
                  "FROM faq_documents",
                  [](statement& st) {
                      return std::pair{st.get_int(0), st.get_text(1)};
                  });
    if (!documents) {
        return std::move(documents).error();
    }
    auto sections = query_all(
        db,
        "SELECT s.id, s.document_id, z.sz FROM faq_sections s "
        "JOIN faq_search_docsize z ON z.id = s.id",
        [](statement& st) {
            return std::tuple{st.get_int(0), st.get_int(1), column_tokens(st.get_text(2))};
        });
    if (!sections) {
        return std::move(sections).error();
    }
    faq_rank_statistics out;
    out.languages.push_back({});
    std::unordered_map<std::int64_t, int> language_of_document;
    for (const auto& [id, name] : *documents) {
        int index = name.empty() ? 0 : out.language_of(name);
        if (index == 0 && !name.empty()) {
            index = static_cast<int>(out.languages.size());
            out.languages.push_back({name});
        }
        language_of_document[id] = index;
    }
    for (const auto& [id, document, tokens] : *sections) {
        const faq_rank_statistics::section s{
            .document = document, .tokens = tokens, .language = language_of_document[document]};
        const auto add = [&](std::size_t language) {
            auto& l = out.languages[language];
            l.sections += 1;
            for (std::size_t c = 0; c < columns; ++c) {
                l.tokens[c] += tokens[c];
            }
        };
        add(0);
        if (s.language != 0) {
            add(static_cast<std::size_t>(s.language));
        }
        out.sections.emplace(id, s);
    }
    return out;
}

namespace detail {

/// Registers tugboat_rank; called by register_faq_tokenizer, which has the FTS5 API at hand.
int register_faq_rank(fts5_api* api) {
    return api->xCreateFunction(api, "tugboat_rank", nullptr, rank, nullptr);
}

}  // namespace detail
}  // namespace tugboat::storage
