-- Alert checks (design.md §8): what the timer worker needs to evaluate alerts from stored
-- state. Never edit once landed: add a new numbered file.

-- When each periodic check runs next (unix ms). One row per check; the timer worker's
-- wake-up covers the earliest, and a restart resumes from it.
CREATE TABLE alert_checks (
    name    TEXT PRIMARY KEY NOT NULL,
    next_at INTEGER NOT NULL
) STRICT;

-- The open stage of each pending escalation that has an SLA deadline, rewritten with the
-- escalation by every step (like `timers`), so "open past its SLA by `stuck_after`" is one
-- range on `open_stages_sla` instead of a scan of every escalation's state. Stages are
-- 0-based. Escalations pending when this migration ran enter it at their next step.
CREATE TABLE open_stages (
    escalation_id TEXT PRIMARY KEY NOT NULL REFERENCES escalations (id),
    stage         INTEGER NOT NULL,
    round         INTEGER NOT NULL,
    opened_at     INTEGER NOT NULL,
    sla_deadline  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX open_stages_sla ON open_stages (sla_deadline);
