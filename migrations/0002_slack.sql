-- Slack: the messages we posted (so they can be kept true with chat.update) and
-- the Slack user ids we looked up by email (so each reviewer is looked up once).
-- Never edit once landed: add a new numbered file.

-- One row per message posted for an escalation: a DM to one reviewer, or a
-- post in a stage's `slack_channel` (reviewer_id NULL).
CREATE TABLE slack_messages (
    id              INTEGER PRIMARY KEY,
    escalation_id   TEXT NOT NULL REFERENCES escalations (id),
    -- The outbox item that posted it: a retried post finds its message instead of posting twice.
    item_id         TEXT NOT NULL UNIQUE,
    -- 0-based stage, and which opening of it (its started_at in ms): a rollback
    -- reopens a stage as a new round, and the old round's messages close.
    stage           INTEGER NOT NULL,
    round           INTEGER NOT NULL,
    reviewer_id     TEXT,
    -- Why the reviewer was asked: stage_started, delegation or sla_escalation.
    reason          TEXT NOT NULL,
    -- The conversation id Slack answered with (chat.update needs the id, not a name).
    channel         TEXT NOT NULL,
    ts              TEXT NOT NULL,
    -- SHA-256 of the content last sent: an update that would change nothing is skipped.
    content_hash    TEXT NOT NULL,
    posted_at       INTEGER NOT NULL,
    updated_at      INTEGER
) STRICT;
CREATE INDEX slack_messages_escalation ON slack_messages (escalation_id, id);

-- Reviewers without `slack_user` in the config, resolved by users.lookupByEmail
-- (or users.info when they click first). Keyed by reviewer and email, so an
-- email change in the config triggers a fresh lookup.
CREATE TABLE slack_users (
    reviewer_id TEXT PRIMARY KEY NOT NULL,
    email       TEXT NOT NULL,
    slack_user  TEXT NOT NULL,
    resolved_at INTEGER NOT NULL
) STRICT;
CREATE INDEX slack_users_by_user ON slack_users (slack_user);
