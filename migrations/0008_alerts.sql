-- Alerts (design.md §8): each fires once per subject and window, is audited and goes out
-- through the outbox. Never edit once landed: add a new numbered file.
CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,
    -- stuck | overloaded | rejection_rate | execution_mismatch | delivery_failed
    kind          TEXT NOT NULL,
    -- What it is about: `esc_…/stage/2`, a reviewer id, `workflow/stage/1`, an outbox item.
    subject       TEXT NOT NULL,
    -- The start of the deduplication window it fired in (unix ms): one alert per
    -- (kind, subject, window).
    window_start  INTEGER NOT NULL,
    fired_at      INTEGER NOT NULL,
    escalation_id TEXT,
    message       TEXT NOT NULL,
    data          TEXT NOT NULL,      -- JSON: the figures that made it fire
    -- When the condition was last seen cleared; NULL while open.
    resolved_at   INTEGER,
    UNIQUE (kind, subject, window_start)
) STRICT;
CREATE INDEX alerts_open ON alerts (fired_at) WHERE resolved_at IS NULL;
