#pragma once

// "tugboat_rank", the FAQ's ranking function, registered with FTS5 on every connection beside
// the tokenizer (database::open):
//
//   tugboat_rank(faq_search, statistics, weight_title, weight_questions, weight_heading,
//                weight_body [, words])
//
// BM25F: a phrase's matches in each column count times the column's weight, each column
// normalised by its own length against that column's average, before the usual saturation
// (k1 = 1.2; b = 0.5 for the title, questions and heading, 0.9 for the body; a phrase's idf as
// FTS5's bm25() has it). FTS5's bm25() normalises the weighted matches by the section's whole
// length, so a long body dilutes a match in a short title. With `statistics` bound (a
// faq_rank_statistics, statement::bind_pointer) each section is scored with the numbers of the
// sections in its own language: the row count, the average lengths and the idf a table of that
// language alone would have. One docs folder of English and Korean pages then ranks each page as
// its own language's index would, where one table mixes both (the Korean pages' bigrams lengthen
// the averages, a word both use looks commoner than it is). The lengths are read from memory too,
// not from the docsize table once per row. With NULL instead, every section counts as one language,
// and its lengths come from FTS5. `words` ("0 0 1 2 2") says which word of the question each
// phrase of the MATCH is a form of (its glossary synonyms, other spellings): a word counts once,
// by its best-scoring form, and its other forms add 0.3 of theirs. Without it every phrase is a
// word of its own.

#include "core/result.hpp"
#include "storage/database.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tugboat::storage {

/// What tugboat_rank needs to know of every section; read once per index version.
struct faq_rank_statistics {
    static constexpr const char* pointer_type = "tugboat_faq_rank_statistics";

    static constexpr std::size_t columns = 4;  ///< faq_search: title, questions, heading, body
    using lengths = std::array<std::int64_t, columns>;  ///< tokens per column, as FTS5 counts

    struct section {
        std::int64_t document = 0;
        lengths tokens{};
        int language = 0;  ///< index into `languages`
    };
    struct language {
        std::string name;  ///< front matter "language"; "" for [0]
        std::int64_t sections = 0;
        lengths tokens{};  ///< summed over its sections
    };

    std::unordered_map<std::int64_t, section> sections;  ///< by faq_search rowid
    std::vector<language> languages;  ///< [0]: every section; then one per language

    /// Index into `languages` of `name`; 0 when no section is in it.
    int language_of(std::string_view name) const;
};

/// Reads the statistics of the index as it is now. Errors: storage_error.
core::result<faq_rank_statistics> read_faq_rank_statistics(database& db);

}  // namespace tugboat::storage
