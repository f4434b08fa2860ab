#pragma once

// Base tables of the FAQ: documents, their sections, feedback and unanswered questions. The
// full-text index over the sections (faq_search: FTS5 with the project tokenizer, see
// migrations.cpp) is kept in step here, by replace_sections and remove_document.

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/database.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::storage {

/// One indexed Markdown file.
struct faq_document {
    std::int64_t id = 0;  ///< assigned by upsert_document
    std::string path;     ///< unique; as configured (folder-relative or absolute)
    core::time_point mtime{};
    std::string hash;                      ///< content hash; unchanged hash → skip re-indexing
    std::string front_matter_json = "{}";  ///< opaque
};

/// One heading's worth of a document.
struct faq_section {
    std::int64_t id = 0;           ///< assigned by replace_sections
    std::int64_t document_id = 0;  ///< set by replace_sections
    int ordinal = 0;               ///< position in the document, from 0
    std::string heading_path;      ///< e.g. "Deploys > Rolling back"
    std::string anchor;            ///< e.g. "rolling-back"
    std::string body;
};

/// A 👍/👎 on an answer. `section` is "path#anchor", so it survives re-indexing.
struct faq_feedback {
    std::int64_t id = 0;
    std::string question;
    std::string section;
    int vote = 1;  ///< +1 or -1
    std::string user;
    core::time_point at{};
};

/// A match shown besides the answer, which a 👎 offers to pick instead.
struct faq_shown {
    std::string section;  ///< "path#anchor"
    std::string label;    ///< how the button names it
};

/// A question and the section its asker said answered it.
struct faq_lesson {
    std::int64_t id = 0;  ///< the ask's
    std::string question;
    std::string section;  ///< "path#anchor"
};

/// One question put to the FAQ and what it was shown; buttons refer to it by id.
struct faq_ask {
    std::int64_t id = 0;
    std::string question;
    std::string user;
    std::string channel;
    std::string thread_ts;
    std::string section;  ///< "path#anchor" of the answer shown, "" when declined
    bool answered = false;
    core::time_point at{};
    std::vector<faq_shown> others;  ///< the other matches shown, best first
    std::string help_channel;       ///< where it was posted for the platform team, "" if not
    std::string help_ts;
};

/// FAQ tables. Cheap; keeps a reference to `db`, which must outlive it.
class faq_repository {
public:
    explicit faq_repository(database& db) : db_(&db) {}

    /// Inserts the document or updates the one with the same path; sets and returns `d.id`.
    core::result<std::int64_t> upsert_document(faq_document& d);
    core::result<std::optional<faq_document>> get_document(std::string_view path);
    /// Every document, by path.
    core::result<std::vector<faq_document>> list_documents();
    /// Removes the document and its sections; true when it existed.
    core::result<bool> remove_document(std::string_view path);

    /// Replaces all sections of a document in one transaction; sets each section's id and
    /// document_id. Errors: conflict when the document does not exist.
    core::result<void> replace_sections(std::int64_t document_id,
                                        std::vector<faq_section>& sections);
    /// Inside a caller's transaction, remove_document and replace_sections hold back their
    /// changes to the full-text index; this writes them, and must come before the commit. A
    /// repository that held changes back is not used after its transaction is rolled back.
    /// (Called by them when they run in a transaction of their own.)
    core::result<void> write_search_index();
    /// The document's sections in order.
    core::result<std::vector<faq_section>> sections_of(std::int64_t document_id);
    /// Every section of every document.
    core::result<std::vector<faq_section>> all_sections();
    core::result<std::optional<faq_section>> get_section(std::int64_t id);

    /// Stores the vote; sets and returns its id. Errors: invalid_argument unless vote is ±1.
    core::result<std::int64_t> record_feedback(faq_feedback& f);
    /// Votes for a section ("path#anchor"), oldest first.
    core::result<std::vector<faq_feedback>> feedback_for(std::string_view section);

    /// Stores the question; sets and returns its id.
    core::result<std::int64_t> record_ask(faq_ask& a);
    core::result<std::optional<faq_ask>> get_ask(std::int64_t id);
    /// Declined questions nobody has taught a page for yet (the team may have said the docs do
    /// not answer them), newest first, at most `limit`.
    core::result<std::vector<faq_ask>> recent_declined(int limit);
    /// The question whose help-channel post is `ts` in `channel`, if any.
    core::result<std::optional<faq_ask>> escalated_at(std::string_view channel,
                                                      std::string_view ts);
    /// Remembers the help-channel post of an escalated question. Errors: not_found.
    core::result<void> record_escalation(std::int64_t ask_id, std::string_view channel,
                                         std::string_view ts);
    /// Remembers that `section` answered the ask's question (its asker's 👍, or a match they
    /// picked after a 👎), replacing what the ask taught before unless `replace` is false. The
    /// search ranks that section's page higher for questions like it (faq_learned); "" says the
    /// docs do not answer it, and the search declines questions like it. False when nothing
    /// changed.
    core::result<bool> teach(const faq_ask& a, std::string_view section, bool replace = true);
    /// Forgets what the ask taught; true when it taught something.
    core::result<bool> unteach(std::int64_t ask_id);
    /// How many asks teach the search a page (`gaps`: how many that the docs do not answer).
    core::result<std::int64_t> lesson_count(bool gaps = false);
    /// What the newest lessons are (id: the ask's), newest first, at most `limit`.
    core::result<std::vector<faq_lesson>> recent_lessons(int limit);
    /// Every vote, newest first, at most `limit`; only down-votes when `down_only`.
    core::result<std::vector<faq_feedback>> recent_feedback(int limit, bool down_only);
    /// How many questions were asked and how many of them answered.
    core::result<std::pair<std::int64_t, std::int64_t>> ask_counts();

private:
    struct search_row {
        std::int64_t section_id;
        std::string title, questions, heading, body;
    };
    /// Holds back the deletion of the document's sections from the search index.
    core::result<void> unindex_sections(std::int64_t document_id);
    /// Writes the search index and commits, when `tx` is the repository's own transaction.
    core::result<void> finish(std::optional<transaction>& tx);

    database* db_;
    std::vector<std::int64_t> unindexed_;  ///< faq_search rows to delete
    std::vector<search_row> indexed_;      ///< faq_search rows to insert, after the deletes
};

}  // namespace tugboat::storage
