#include "storage/faq_rank.hpp"

#include "storage/query.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <tuple>
#include <utility>

namespace tugboat::storage {
namespace {

constexpr double k1 = 1.2;
constexpr double b = 0.75;

/// What one query's scoring needs and computes once: per language, its average section
/// length and every phrase's idf among its sections.
struct query_data {
    std::size_t phrases = 0;
    std::vector<double> average_length;  ///< by language
    std::vector<double> idf;             ///< [language * phrases + phrase]
    std::vector<double> frequency;       ///< per phrase, of the row being scored
};

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
    std::vector<faq_rank_statistics::language> languages;
    if (statistics != nullptr) {
        languages = statistics->languages;
    }
    if (languages.empty()) {
        sqlite3_int64 rows = 0;
        sqlite3_int64 tokens = 0;
        if (int rc = api->xRowCount(fts, &rows); rc != SQLITE_OK) {
            return rc;
        }
        if (int rc = api->xColumnTotalSize(fts, -1, &tokens); rc != SQLITE_OK) {
            return rc;
        }
        languages.push_back({"", rows, tokens});
    }
    for (const auto& l : languages) {
        d.average_length.push_back(
            l.sections > 0 ? static_cast<double>(l.tokens) / static_cast<double>(l.sections) : 1.0);
    }
    d.phrases = static_cast<std::size_t>(api->xPhraseCount(fts));
    d.idf.assign(languages.size() * d.phrases, 0.0);
    d.frequency.assign(d.phrases, 0.0);
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
        d->frequency[static_cast<std::size_t>(phrase)] +=
            column + 1 < argc ? sqlite3_value_double(argv[column + 1]) : 1.0;
    }
    // A section the statistics do not know (indexed after they were read) counts as any
    // language, with its length from FTS5.
    std::int64_t tokens = 0;
    std::size_t language = 0;
    const faq_rank_statistics::section* known = nullptr;
    if (statistics != nullptr) {
        if (auto it = statistics->sections.find(api->xRowid(fts));
            it != statistics->sections.end()) {
            known = &it->second;
        }
    }
    if (known != nullptr) {
        tokens = known->tokens;
        language = static_cast<std::size_t>(known->language);
    } else {
        int n = 0;
        if (int rc = api->xColumnSize(fts, -1, &n); rc != SQLITE_OK) {
            return fail(rc);
        }
        tokens = n;
    }
    const double norm =
        k1 * (1 - b + b * static_cast<double>(tokens) / d->average_length[language]);
    double score = 0;
    for (std::size_t p = 0; p < d->phrases; ++p) {
        const double f = d->frequency[p];
        if (f > 0) {
            score += d->idf[language * d->phrases + p] * f * (k1 + 1) / (f + norm);
        }
    }
    sqlite3_result_double(ctx, score);
}

/// The FTS5 docsize blob: one varint (SQLite's format) per column, the tokens in it.
std::int64_t total_tokens(std::string_view blob) {
    std::int64_t total = 0;
    std::uint64_t value = 0;
    for (unsigned char c : blob) {
        value = (value << 7) | (c & 0x7f);
        if ((c & 0x80) == 0) {
            total += static_cast<std::int64_t>(value);
            value = 0;
        }
    }
    return total;
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
    auto sections =
        query_all(db,
                  "SELECT s.id, s.document_id, z.sz FROM faq_sections s "
                  "JOIN faq_search_docsize z ON z.id = s.id",
                  [](statement& st) {
                      return std::tuple{st.get_int(0), st.get_int(1), total_tokens(st.get_text(2))};
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
            out.languages[language].sections += 1;
            out.languages[language].tokens += tokens;
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
