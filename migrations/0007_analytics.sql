-- Analytics facts (design.md §8), written by the step that makes them, in its transaction.
-- Never edit once landed: add a new numbered file.
--
-- Two kinds of table. The *_facts tables hold one row per vote, closed stage opening,
-- decision and execution outcome; their indexes put the measured duration right after
-- the group, so a median is one seek (`ORDER BY duration LIMIT 2 OFFSET n/2`) on the
-- group's range instead of a sort. `analytics_counts` holds the same facts counted per
-- hour, so counts over a window add a few rows per hour instead of reading every fact.

CREATE TABLE vote_facts (
    id            INTEGER PRIMARY KEY,
    escalation_id TEXT NOT NULL,
    workflow_id   TEXT NOT NULL,
    intent        TEXT NOT NULL,
    stage         INTEGER NOT NULL,   -- 0-based
    round         INTEGER NOT NULL,
    revision      INTEGER NOT NULL,
    reviewer_id   TEXT NOT NULL,
    decision      TEXT NOT NULL,      -- approve | deny | request_changes
    channel       TEXT NOT NULL,
    at            INTEGER NOT NULL,
    response_ms   INTEGER NOT NULL,   -- from the stage's opening to the vote
    -- Set on the escalation's first vote only: the wait since it arrived, and the hour
    -- of the week it arrived in (0 = Monday 00:00 UTC … 167).
    first_wait_ms INTEGER,
    hour_of_week  INTEGER
) STRICT;
CREATE INDEX vote_facts_response ON vote_facts (reviewer_id, response_ms, at);
CREATE INDEX vote_facts_first_wait ON vote_facts (hour_of_week, first_wait_ms, at)
    WHERE first_wait_ms IS NOT NULL;

CREATE TABLE stage_facts (
    id            INTEGER PRIMARY KEY,
    escalation_id TEXT NOT NULL,
    workflow_id   TEXT NOT NULL,
    stage         INTEGER NOT NULL,   -- 0-based
    name          TEXT NOT NULL,
    round         INTEGER NOT NULL,
    revision      INTEGER NOT NULL,
    opened_at     INTEGER NOT NULL,
    closed_at     INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    outcome       TEXT NOT NULL,      -- approved | rejected | changes_requested | expired | cancelled
    sla_breached  INTEGER NOT NULL,
    tiers         INTEGER NOT NULL    -- delegation tiers applied when it closed
) STRICT;
CREATE INDEX stage_facts_duration ON stage_facts (workflow_id, stage, duration_ms, closed_at);
-- The latest openings of a stage (rejection-rate alerts look at the last 20).
CREATE INDEX stage_facts_recent ON stage_facts (workflow_id, stage, closed_at);

CREATE TABLE decision_facts (
    escalation_id TEXT PRIMARY KEY NOT NULL,
    workflow_id   TEXT NOT NULL,
    intent        TEXT NOT NULL,
    agent_id      TEXT NOT NULL,
    risk          INTEGER,            -- NULL: the request carried no risk
    risk_tier     TEXT NOT NULL,      -- low | medium | high | critical | unscored
    outcome       TEXT NOT NULL,      -- approved | denied | expired | cancelled
    created_at    INTEGER NOT NULL,
    decided_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    automatic     INTEGER NOT NULL,   -- decided by a workflow's `auto` rule
    reason        TEXT                -- for a denial, the reviewer's comment
) STRICT;
CREATE INDEX decision_facts_duration ON decision_facts (intent, duration_ms, decided_at);
CREATE INDEX decision_facts_denials ON decision_facts (intent, decided_at)
    WHERE outcome = 'denied';

CREATE TABLE execution_facts (
    id            INTEGER PRIMARY KEY,
    escalation_id TEXT NOT NULL,
    workflow_id   TEXT NOT NULL,
    intent        TEXT NOT NULL,
    result        TEXT NOT NULL,      -- matched | mismatched | violated | unreported
    at            INTEGER NOT NULL
) STRICT;
CREATE INDEX execution_facts_escalation ON execution_facts (escalation_id);

-- The facts counted per hour. `hour` is unix milliseconds / 3,600,000; `key` joins its
-- parts with U+001F. Metrics and keys:
--   decision        intent, outcome              (hour decided)
--   risk            risk tier, outcome           (hour decided)
--   vote            reviewer, decision           (hour voted)
--   stage           workflow, stage, outcome     (hour closed; stage 0-based)
--   stage.breached  workflow, stage              (hour closed)
--   stage.tiers     workflow, stage, tiers       (hour closed)
--   first_vote      hour of week                 (hour voted)
--   execution       intent, result               (hour recorded)
CREATE TABLE analytics_counts (
    hour   INTEGER NOT NULL,
    metric TEXT NOT NULL,
    key    TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (hour, metric, key)
) STRICT, WITHOUT ROWID;
