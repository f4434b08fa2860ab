#pragma once

// Keeps the FAQ index in step with Markdown folders, touching only files that changed.

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/database.hpp"

#include <string>
#include <vector>

namespace tugboat::faq {

/// What one pass did.
struct sync_report {
    int files = 0;                      ///< Markdown files found
    int indexed = 0;                    ///< new or changed, parsed and re-indexed
    int touched = 0;                    ///< modification time changed but content did not
    int removed = 0;                    ///< gone from the folders, removed from the index
    int sections = 0;                   ///< sections written
    std::vector<std::string> problems;  ///< unreadable files and folders; the rest still ran

    /// Whether the index is different after the pass (what a searcher keeps is then stale).
    bool changed() const { return indexed > 0 || removed > 0; }
};

/// Indexes every `*.md` under the folders (recursively) into the database's FAQ tables.
class indexer {
public:
    /// `folders` as configured; a document's key is `folder/relative/path.md`.
    indexer(storage::database& db, std::vector<std::string> folders, const core::clock& clock)
        : db_(&db), folders_(std::move(folders)), clock_(&clock) {}

    /// One pass in one transaction: a file whose modification time is unchanged (and not in the
    /// last two seconds, which a second-resolution time cannot tell apart) is skipped unread;
    /// others are read and re-indexed when their content hash changed. Files no longer present
    /// are removed. Errors: storage_error; a missing folder or unreadable file is a problem in
    /// the report, not an error, so one bad file does not empty the index.
    core::result<sync_report> sync();

    const std::vector<std::string>& folders() const { return folders_; }

private:
    storage::database* db_;
    std::vector<std::string> folders_;
    const core::clock* clock_;
};

/// The `*.md` files under `folder` (recursively), relative to it with '/'. An unreadable
/// folder or entry adds a line to `problems`; what could be listed is still returned.
std::vector<std::string> markdown_files(const std::string& folder,
                                        std::vector<std::string>& problems);

/// FNV-1a 64 of `bytes`, as 16 hex digits.
std::string content_hash(std::string_view bytes);

}  // namespace tugboat::faq
