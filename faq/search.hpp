#pragma once

// Ranked FAQ search with a confidence score that decides whether the bot answers or declines.
//
// A question becomes OR-ed term groups: words minus question words and English stop words,
// Korean words minus their particles and endings ("배포하려면" → 배포) matched as phrases of
// syllable bigrams, each widened by the glossary (배포 → deploy). Sections are ranked with bm25,
// title and alternative questions weighted above headings and the body, best section per
// document; a page whose title or alternative question fits the question ranks up to a quarter
// higher (twin pages: init containers / debugging init containers). How much of the question
// (terms weighted by rarity, idf; an ordinary word — in the English word list, or Hangul — weighs
// at most 2, a name found nowhere 3× its idf: React in a Korean question, kubeadm in an English
// one) the top section covers is its coverage; a logistic model per language over that and the
// rest of `answer_evidence` gives the confidence that decides answer or decline. Korean words
// are analysed by faq/korean.hpp. A page that answered an earlier question like this one, by its
// asker's word (faq_learned, faq_repository::teach), ranks higher by how alike the two are; a
// question much like one the platform team said the docs do not answer is declined.

#include "core/result.hpp"
#include "faq/words.hpp"
#include "storage/database.hpp"
#include "storage/faq_rank.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::faq {

struct sync_report;

using glossary = std::map<std::string, std::vector<std::string>>;

/// The built-in ko↔en glossary; configured entries add to it.
const glossary& default_glossary();

struct search_options {
    double answer_threshold = 0.4;  ///< answer when confidence ≥ this, else decline
    glossary extra_glossary;        ///< term → synonyms; used in both directions
    /// Added to the built-in list of tools beside Kubernetes (answer_evidence::others): "name"
    /// or "name/other spelling".
    std::vector<std::string> extra_tools;
    int max_hits = 3;  ///< documents returned
    /// A list of ordinary English words (faq/words.hpp), read on the first question that needs
    /// it. "" or an unreadable file: English words are neither capped nor read as names.
    std::string words;
};

/// One ranked section (the best one of its document).
struct search_hit {
    std::int64_t section_id = 0;
    std::string document;       ///< key in the index: folder/relative/path.md
    std::string relative_path;  ///< relative to its folder
    std::string title;
    std::string heading_path;
    std::string anchor;
    std::string url;      ///< front matter `url`, "" when the page has none
    std::string owner;    ///< front matter `owner`
    std::string snippet;  ///< plain text with matched words in *bold* (Slack mrkdwn)
    double score = 0;     ///< -bm25: higher is better
    double rank = 0;      ///< the page's score: its sections, language and name (ranks hits)
    double fit = 0;       ///< 0–1: how well the page's title or questions fit the question
    double coverage = 0;  ///< 0–1: idf-weighted share of the question's terms found here
    /// 0–1: how alike the closest earlier question is whose asker said this page answered it
    double learned = 0;

    /// "relative/path.md#anchor": how feedback names a section across re-indexing.
    std::string ref() const {
        return anchor.empty() ? relative_path : relative_path + "#" + anchor;
    }
};

/// The section a person names (what `/faq teach` is given): "relative/path.md#anchor" as hits
/// show it, the path alone for the page's first section, or the page's front-matter `url`, with
/// or without "#anchor". Nullopt when the index has no such section. Errors: storage_error.
core::result<std::optional<search_hit>> find_section(storage::database& db, std::string_view ref);

/// How one question word fared: what the confidence is computed from.
struct term_stat {
    std::int64_t sections = 0;  ///< sections of the index containing it (0: a word never used)
    bool in_top = false;        ///< found in the first hit
    double weight = 0;          ///< what it weighs in the coverage (its idf, by kind of word)
};

/// What the answer-or-decline model reads about a question and its first hit. Weights are in
/// units of the largest idf the index allows (a word in no section), so they mean the same in a
/// small index and a large one.
struct answer_evidence {
    double coverage = 0;  ///< the first hit's coverage
    double fit = 0;       ///< the first page's name fit
    double margin = 0;    ///< ln((rank₁ + 1) / (rank₂ + 1)): how far ahead the first page is
    double asked = 0;     ///< ln(1 + the question's weight)
    double shared = 0;    ///< ln(1 + the weight of the question's words in the first hit)
    double terms = 0;     ///< how many terms the question has
    double missing = 0;   ///< how many of them the first hit lacks
    double rarest = 0;    ///< the largest weight of a word in the first hit
    /// English questions: how many capitalised words (Airflow, Vault, GitHub) the first hit
    /// lacks, most often another product's name. Korean questions: 0 (a Latin word in a
    /// Korean question already weighs as a name).
    double products = 0;
    /// How many tools beside Kubernetes (Helm, Argo CD, Grafana, Terraform: a built-in list)
    /// the question names and the first hit does not.
    double others = 0;

    static constexpr std::size_t size = 10;
    static constexpr std::array<std::string_view, size> names{
        "coverage", "fit",     "margin", "asked",    "shared",
        "terms",    "missing", "rarest", "products", "others"};
    /// In the order of `names`, and of decline_model::weights.
    std::array<double, size> values() const {
        return {coverage, fit, margin, asked, shared, terms, missing, rarest, products, others};
    }
};

/// Answer or decline: a logistic model per language over `answer_evidence`, fitted on the
/// labelled questions of bench/faq_eval (`bench_faq_eval --fit-decline`). Its probability is
/// shifted so that 0.4 — faq.answer_threshold's default — is where it declines 4 % of the
/// answerable questions it was fitted on.
struct decline_model {
    double intercept = 0;
    std::array<double, answer_evidence::size> weights{};

    double confidence(const answer_evidence& e) const;
};
const decline_model& default_decline_model(std::string_view language);

struct search_result {
    std::vector<search_hit> hits;       ///< best first, one per document
    std::vector<std::string> terms;     ///< the words searched for, after stripping
    std::vector<term_stat> term_stats;  ///< one per element of `terms`
    answer_evidence evidence;           ///< what the confidence is computed from
    double confidence = 0;              ///< 0–1
    bool answer = false;                ///< confidence ≥ the threshold
    /// An earlier question like this one is one the docs do not answer (the platform team said
    /// so): the confidence is capped below the default threshold.
    bool known_gap = false;
    /// The other tools (answer_evidence::others) the question names, as it wrote them, that
    /// the first hit does not mention.
    std::vector<std::string> tools_unmentioned;
};

/// One term group of a question: the word as asked and what the FTS5 query matches.
struct query_term {
    std::string word;
    std::string match;  ///< FTS5 expression: a phrase, or phrases OR-ed in parentheses
    std::vector<std::string> phrases;  ///< the phrases of `match`, unquoted; "키*": a prefix
    bool in_identifier = false;        ///< part of a name from the asker's setup (LOG_LEVEL)
};

/// The term groups of `question` (exposed for tests and the CLI's --json output).
std::vector<query_term> parse_question(std::string_view question, const glossary& extra = {});

/// The words of one name of a page (its title or an alternative question), each as its tokens.
using page_name = std::vector<std::vector<std::string>>;

/// The questions whose askers said a section answered them (faq_learned), as the searcher keeps
/// them: each question's tokens and the page that answered it ("": the platform team said the
/// docs do not answer it), and which questions have each token.
struct lesson_index {
    struct lesson {
        std::vector<std::string> tokens;
        std::string page;           ///< folder-relative path; "": the docs do not answer it
        std::int64_t asked_at = 0;  ///< when it was asked (unix; 0: not known)
    };
    std::vector<lesson> lessons;
    std::map<std::string, std::vector<std::uint32_t>> by_token;
};

/// Searches the database's FAQ index. Keeps per-term section counts, page names and the
/// index's statistics (tugboat_rank's) between calls; call `forget_statistics` after
/// re-indexing. Keeps what it learned from askers too; call `forget_lessons` after teaching it
/// (faq_repository::teach).
class searcher {
public:
    searcher(storage::database& db, search_options options);

    /// Errors: storage_error. An empty or stop-word-only question gives no hits, not an error.
    core::result<search_result> search(std::string_view question);

    void forget_statistics() {
        forget_word_counts();
        names_.clear();
        statistics_.reset();
        page_sections_.clear();
        paths_.clear();
        forget_lessons();
    }
    /// After a pass over the docs folders: forgets what `forget_statistics` does when the pass
    /// changed the index, and nothing otherwise. The periodic pass (`faq.reindex_every`) mostly
    /// finds nothing changed, and the question after it would otherwise pay for reading every
    /// cache again (about 50 ms on 10,000 sections with 5,000 learned questions, bench).
    void after_sync(const sync_report& pass);
    /// Whether the index's statistics are read and kept (tests).
    bool holds_statistics() const { return statistics_.has_value(); }
    void forget_lessons() { lessons_.reset(); }
    /// Only the per-term counts: the next questions cost what new words cost (bench).
    void forget_word_counts() { counts_.clear(); }
    const search_options& options() const { return options_; }

private:
    /// How many sections a term group matches ("": all sections), among those in `language`
    /// (an index into the statistics' languages; 0: all), cached until forget_statistics.
    core::result<std::int64_t> count(const std::string& match, int language);
    /// The index's statistics, read once until forget_statistics.
    core::result<const storage::faq_rank_statistics*> statistics();
    /// What askers taught, read once until forget_lessons.
    core::result<const lesson_index*> lessons();
    /// Whether the page `document` (its key in the index) changed after `asked_at` (unix; 0:
    /// never known, false): a question the docs did not answer then may be answered now.
    core::result<bool> changed_since(const std::string& document, std::int64_t asked_at);
    /// The ordinary English words, read on first use; null without a readable list.
    const word_list* ordinary_words();
    /// What a question word weighs in the coverage: its idf among `sections`, `matching` of
    /// which contain it, adjusted for what kind of word it is.
    double term_weight(std::string_view word, std::int64_t sections, std::int64_t matching,
                       std::string_view language, bool in_identifier);

    storage::database* db_;
    search_options options_;
    std::map<std::pair<std::string, int>, std::int64_t> counts_;
    glossary synonyms_;  ///< normalized word → alternatives, both directions
    /// Document id → its names (title, alternative questions), each as its words' tokens.
    std::map<std::int64_t, std::vector<page_name>> names_;
    std::optional<storage::faq_rank_statistics> statistics_;
    std::map<std::int64_t, std::int64_t> page_sections_;  ///< document id → sections
    std::map<std::int64_t, std::string> paths_;           ///< document id → folder-relative path
    std::optional<lesson_index> lessons_;
    std::optional<word_list> words_;
    bool words_read_ = false;
};

}  // namespace tugboat::faq
