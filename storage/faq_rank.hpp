#pragma once

// "tugboat_rank", the FAQ's ranking function, registered with FTS5 on every connection beside
// the tokenizer (database::open):
//
//   tugboat_rank(faq_search, statistics, weight_title, weight_questions, weight_heading,
//                weight_body)
//
// Okapi BM25 as FTS5's bm25() computes it (k1 = 1.2, b = 0.75, a phrase's idf from the rows
// that have it, a column's matches counted times its weight) but higher is better, and with
// `statistics` bound (a faq_rank_statistics, statement::bind_pointer) each section is scored
// with the numbers of the sections in its own language: the row count, average length and
// idf a table of that language alone would have. One docs folder of English and Korean pages
// then ranks each page as its own language's index would, where bm25() mixes both (the
// Korean pages' bigrams lengthen the average, English words look rarer than they are). The
// lengths are read from memory too, not from the docsize table once per row. With NULL
// instead, every section counts as one language and the result equals -bm25().

#include "core/result.hpp"
#include "storage/database.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tugboat::storage {

/// What tugboat_rank needs to know of every section; read once per index version.
struct faq_rank_statistics {
    static constexpr const char* pointer_type = "tugboat_faq_rank_statistics";

    struct section {
        std::int64_t document = 0;
        std::int64_t tokens = 0;  ///< in all columns, as FTS5 counted them
        int language = 0;         ///< index into `languages`
    };
    struct language {
        std::string name;  ///< front matter "language"; "" for [0]
        std::int64_t sections = 0;
        std::int64_t tokens = 0;
    };

    std::unordered_map<std::int64_t, section> sections;  ///< by faq_search rowid
    std::vector<language> languages;  ///< [0]: every section; then one per language

    /// Index into `languages` of `name`; 0 when no section is in it.
    int language_of(std::string_view name) const;
};

/// Reads the statistics of the index as it is now. Errors: storage_error.
core::result<faq_rank_statistics> read_faq_rank_statistics(database& db);

}  // namespace tugboat::storage
