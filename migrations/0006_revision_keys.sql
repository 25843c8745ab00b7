-- Idempotency keys of revisions (POST /v1/escalations/{id}/revisions): written in the
-- transaction that stores the revision, so a repeat after a lost answer (or a crash)
-- finds it and creates nothing. A key is scoped to its escalation.
CREATE TABLE revision_keys (
    escalation_id TEXT NOT NULL REFERENCES escalations (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    -- The submission (design.md §7 `revision`) the key created.
    revision INTEGER NOT NULL,
    PRIMARY KEY (escalation_id, idempotency_key)
) STRICT, WITHOUT ROWID;
