-- countersign schema, version 1. Never edit once landed: add a new numbered file.
-- Instants are unix milliseconds (INTEGER), so timers compare and index cheaply.

-- One row per escalation. `state` holds the whole aggregate as JSON (the
-- engine's input and output); the columns beside it are what queries filter on.
CREATE TABLE escalations (
    id              TEXT PRIMARY KEY NOT NULL,
    agent_id        TEXT NOT NULL,
    idempotency_key TEXT,
    workflow_id     TEXT NOT NULL,
    intent          TEXT NOT NULL,
    status          TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    state           TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX escalations_idempotency
    ON escalations (agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- "Recent decisions for the same intent", shown to reviewers.
CREATE INDEX escalations_intent_decided
    ON escalations (intent, decided_at) WHERE decided_at IS NOT NULL;

-- Who may vote on what right now: rewritten after every step of an escalation.
CREATE TABLE pending_reviews (
    reviewer_id   TEXT NOT NULL,
    escalation_id TEXT NOT NULL REFERENCES escalations (id),
    PRIMARY KEY (reviewer_id, escalation_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX pending_reviews_escalation ON pending_reviews (escalation_id);

-- Armed timers (delegation tier, SLA, timeout), derived from the state after every step.
CREATE TABLE timers (
    escalation_id TEXT NOT NULL REFERENCES escalations (id),
    kind          TEXT NOT NULL,
    stage         INTEGER,
    due_at        INTEGER NOT NULL,
    PRIMARY KEY (escalation_id, kind)
) STRICT, WITHOUT ROWID;
CREATE INDEX timers_due ON timers (due_at);

-- Durable deliveries: callbacks, Slack calls, emails. Written in the same
-- transaction as the state change that caused them.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    escalation_id   TEXT NOT NULL,
    channel         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    -- Items with the same key are delivered in id order (a Slack update waits for its post).
    ordering_key    TEXT NOT NULL,
    payload         TEXT NOT NULL,
    -- Stable across retries: the webhook-id of a callback, the Message-ID of an email.
    message_id      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    failed_at       INTEGER,
    last_error      TEXT
) STRICT;
CREATE INDEX outbox_ready ON outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_open_by_key ON outbox (ordering_key, id)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_escalation ON outbox (escalation_id);

-- The audit trail: a SHA-256 hash chain over every transition.
CREATE TABLE audit_events (
    seq           INTEGER PRIMARY KEY,
    escalation_id TEXT,
    at            INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    actor         TEXT,
    data          TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_escalation ON audit_events (escalation_id);

-- Small process-wide values, such as the generated link secret.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
