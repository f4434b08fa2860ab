#include "storage/migrations.hpp"

#include <array>

namespace tugboat::storage {
namespace {

// Column conventions (see database.hpp): `*_at` unix seconds, `*_ms` milliseconds, `*_json`
// opaque JSON text owned by a caller. CHECKs hold the enumerations the repositories map to C++
// enums, so a bad value fails loudly at the write that made it.
constexpr std::string_view initial_schema = R"sql(
-- Slack re-delivers envelopes it thinks were not acknowledged; a key seen before is dropped.
CREATE TABLE processed_events (
    key     TEXT PRIMARY KEY,
    seen_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX processed_events_seen_at ON processed_events (seen_at);

-- AUTOINCREMENT: deploy ids are shown to people ("d-000123") and passed to Jenkins, so an id
-- must never be reused, even after the newest row is gone.
CREATE TABLE deploys (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    revision          INTEGER NOT NULL DEFAULT 1,
    service           TEXT NOT NULL,
    environment       TEXT NOT NULL,
    version           TEXT NOT NULL,
    requester         TEXT NOT NULL,
    phase             TEXT NOT NULL,
    outcome           TEXT NOT NULL DEFAULT 'running'
                      CHECK (outcome IN ('running', 'succeeded', 'failed', 'cancelled')),
    state_json        TEXT NOT NULL DEFAULT '{}',
    slack_channel     TEXT NOT NULL DEFAULT '',
    slack_root_ts     TEXT NOT NULL DEFAULT '',
    jenkins_queue_url TEXT NOT NULL DEFAULT '',
    build_number      INTEGER,
    rollout_json      TEXT NOT NULL DEFAULT '{}',
    failure_reason    TEXT NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    finished_at       INTEGER,
    CHECK ((outcome = 'running') = (finished_at IS NULL))
);
CREATE INDEX deploys_unfinished ON deploys (id) WHERE finished_at IS NULL;
CREATE INDEX deploys_history ON deploys (service, environment, id);

-- At most one holder per service+environment: a deploy, or a person (deploy_id NULL).
CREATE TABLE deploy_locks (
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,
    deploy_id   INTEGER REFERENCES deploys (id),
    holder      TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    since_at    INTEGER NOT NULL,
    PRIMARY KEY (service, environment)
);

-- Deploys waiting for a lock; `id` orders the queue.
CREATE TABLE deploy_queue (
    id          INTEGER PRIMARY KEY,
    deploy_id   INTEGER NOT NULL UNIQUE REFERENCES deploys (id),
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL
);
CREATE INDEX deploy_queue_target ON deploy_queue (service, environment, id);

-- Past Jenkins stage durations, for ETAs.
CREATE TABLE stage_durations (
    id          INTEGER PRIMARY KEY,
    job         TEXT NOT NULL,
    stage       TEXT NOT NULL,
    duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
    finished_at INTEGER NOT NULL
);
CREATE INDEX stage_durations_job ON stage_durations (job, stage, finished_at);

CREATE TABLE grants (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    revision       INTEGER NOT NULL DEFAULT 1,
    requester      TEXT NOT NULL,
    role           TEXT NOT NULL,
    environment    TEXT NOT NULL,
    namespace      TEXT NOT NULL,
    duration_ms    INTEGER NOT NULL CHECK (duration_ms > 0),
    reason         TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'active', 'rejected',
                                                  'cancelled', 'expired', 'revoked', 'failed')),
    failure_reason TEXT NOT NULL DEFAULT '',
    slack_channel  TEXT NOT NULL DEFAULT '',
    slack_card_ts  TEXT NOT NULL DEFAULT '',
    bindings_json  TEXT NOT NULL DEFAULT '{}',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    granted_at     INTEGER,
    expires_at     INTEGER,
    revoked_at     INTEGER
);
CREATE INDEX grants_state_expiry ON grants (state, expires_at);
CREATE INDEX grants_requester ON grants (requester, id);

-- One row per approver: a double-clicked Approve button cannot count twice.
CREATE TABLE grant_approvals (
    grant_id    INTEGER NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    approver    TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (grant_id, approver)
) WITHOUT ROWID;

-- Durable timers: rows with a due time survive restarts, sleeping coroutines do not.
CREATE TABLE timers (
    id      INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    due_at  INTEGER NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    UNIQUE (kind, subject)
);
CREATE INDEX timers_due ON timers (due_at);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
CREATE INDEX audit_log_at ON audit_log (at);
-- The log is evidence: enforce append-only in the database, not just in our code.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be changed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be deleted');
END;

CREATE TABLE faq_documents (
    id                INTEGER PRIMARY KEY,
    path              TEXT NOT NULL UNIQUE,
    mtime_at          INTEGER NOT NULL,
    hash              TEXT NOT NULL,
    front_matter_json TEXT NOT NULL DEFAULT '{}'
);
-- Sections are replaced wholesale when their document changes.
CREATE TABLE faq_sections (
    id           INTEGER PRIMARY KEY,
    document_id  INTEGER NOT NULL REFERENCES faq_documents (id) ON DELETE CASCADE,
    ordinal      INTEGER NOT NULL,
    heading_path TEXT NOT NULL,
    anchor       TEXT NOT NULL,
    body         TEXT NOT NULL,
    UNIQUE (document_id, ordinal)
);
-- Feedback names its section as "path#anchor", not by row id, so it survives re-indexing.
CREATE TABLE faq_feedback (
    id       INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    section  TEXT NOT NULL,
    vote     INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    user     TEXT NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX faq_feedback_section ON faq_feedback (section);
CREATE TABLE faq_unanswered (
    id       INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    user     TEXT NOT NULL,
    channel  TEXT NOT NULL DEFAULT '',
    at       INTEGER NOT NULL
);
)sql";

// Full-text search over FAQ sections with the project tokenizer (storage/faq_tokenizer.hpp).
// A table with its own copy of the text rather than external content: each row also carries its
// document's title and alternative questions, which live in front_matter_json, and a delete must
// not depend on the document row still holding the values it was indexed with.
constexpr std::string_view faq_search = R"sql(
CREATE VIRTUAL TABLE faq_search USING fts5 (title, questions, heading, body, tokenize = 'tugboat');
CREATE TRIGGER faq_sections_indexed AFTER INSERT ON faq_sections BEGIN
    INSERT INTO faq_search (rowid, title, questions, heading, body)
    SELECT new.id, coalesce(json_extract(d.front_matter_json, '$.title'), ''),
           coalesce((SELECT group_concat(value, char(10))
                     FROM json_each(d.front_matter_json, '$.questions')), '') || char(10) ||
           coalesce((SELECT group_concat(value, ' ')
                     FROM json_each(d.front_matter_json, '$.tags')), ''),
           new.heading_path, new.body
    FROM faq_documents d WHERE d.id = new.document_id;
END;
CREATE TRIGGER faq_sections_unindexed AFTER DELETE ON faq_sections BEGIN
    DELETE FROM faq_search WHERE rowid = old.id;
END;
CREATE TRIGGER faq_sections_reindexed AFTER UPDATE ON faq_sections BEGIN
    UPDATE faq_search SET heading = new.heading_path, body = new.body WHERE rowid = old.id;
END;
INSERT INTO faq_search (rowid, title, questions, heading, body)
SELECT s.id, coalesce(json_extract(d.front_matter_json, '$.title'), ''),
       coalesce((SELECT group_concat(value, char(10))
                 FROM json_each(d.front_matter_json, '$.questions')), '') || char(10) ||
       coalesce((SELECT group_concat(value, ' ') FROM json_each(d.front_matter_json, '$.tags')), ''),
       s.heading_path, s.body
FROM faq_sections s JOIN faq_documents d ON d.id = s.document_id;
-- Every question answered or declined, so a button pressed later (even after a restart) knows
-- what was asked and what was shown.
CREATE TABLE faq_asks (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    question  TEXT NOT NULL,
    user      TEXT NOT NULL,
    channel   TEXT NOT NULL DEFAULT '',
    thread_ts TEXT NOT NULL DEFAULT '',
    section   TEXT NOT NULL DEFAULT '',
    answered  INTEGER NOT NULL CHECK (answered IN (0, 1)),
    at        INTEGER NOT NULL
);
)sql";

// Event keys are looked up in memory (inbox_repository loads them at start), so the table is
// only appended to: with the key as primary key every insert dirtied a random page, and at
// Socket Mode rates that page write per event was most of the bot's system time.
constexpr std::string_view append_only_inbox = R"sql(
CREATE TABLE inbox_keys (
    key     TEXT NOT NULL,
    seen_at INTEGER NOT NULL
);
INSERT INTO inbox_keys (key, seen_at) SELECT key, seen_at FROM processed_events;
DROP TABLE processed_events;
)sql";

// faq_repository keeps faq_search in step with faq_sections itself. A trigger that writes to an
// FTS5 table makes every statement that fires it open a savepoint, and FTS5 writes its pending
// terms out as a new segment at each savepoint: one segment per section, merged again and again,
// was most of a full index's time.
constexpr std::string_view faq_index_without_triggers = R"sql(
DROP TRIGGER IF EXISTS faq_sections_indexed;
DROP TRIGGER IF EXISTS faq_sections_unindexed;
DROP TRIGGER IF EXISTS faq_sections_reindexed;
)sql";

// What the FAQ learned from its askers: each question whose asker said a section answered it,
// keyed by the ask (faq_asks.id) so that the asker's last word on it counts once. The searcher
// reads them all into memory (faq/search.hpp). Asks answered before this table existed teach
// what their asker's last vote said. `others` holds the other matches an answer showed
// ("path#anchor<TAB>label" lines), so a 👎 can offer them.
constexpr std::string_view faq_learned = R"sql(
CREATE TABLE faq_learned (
    id       INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    section  TEXT NOT NULL
);
INSERT INTO faq_learned (id, question, section)
SELECT a.id, a.question, a.section FROM faq_asks a
WHERE a.section <> '' AND (SELECT f.vote FROM faq_feedback f
                           WHERE f.question = a.question AND f.section = a.section
                             AND f.user = a.user ORDER BY f.id DESC LIMIT 1) = 1;
ALTER TABLE faq_asks ADD COLUMN others TEXT NOT NULL DEFAULT '';
)sql";

// Where an escalated question was posted in the help channel, so a second "Ask the platform
// team" points at that thread instead of posting the question again, and a mention of the bot
// in that thread is known as an answer to it. faq_unanswered repeated what faq_asks holds (its
// declined questions), without the number `/faq teach` needs.
constexpr std::string_view faq_escalations = R"sql(
DROP TABLE faq_unanswered;
ALTER TABLE faq_asks ADD COLUMN help_channel TEXT NOT NULL DEFAULT '';
ALTER TABLE faq_asks ADD COLUMN help_ts TEXT NOT NULL DEFAULT '';
CREATE INDEX faq_asks_help ON faq_asks (help_channel, help_ts) WHERE help_ts <> '';
)sql";

constexpr std::array<migration, 6> list{{
    {1, "initial schema", initial_schema},
    {2, "faq search", faq_search},
    {3, "append-only inbox", append_only_inbox},
    {4, "faq index without triggers", faq_index_without_triggers},
    {5, "faq learned questions", faq_learned},
    {6, "faq escalations", faq_escalations},
}};

}  // namespace

std::span<const migration> all_migrations() {
    return list;
}

}  // namespace tugboat::storage
