-- Indexes for the analytics report (design.md §8). Never edit once landed: add a new file.
--
-- estimated_completion: a stage's approved closes counted and their median sought on
-- this partial index alone, not every close read and filtered row by row.
CREATE INDEX stage_facts_approved ON stage_facts (workflow_id, stage, duration_ms, closed_at)
    WHERE outcome = 'approved';
-- totals.automatic: the window's automatic decisions, a range walk over those alone.
CREATE INDEX decision_facts_automatic ON decision_facts (decided_at) WHERE automatic = 1;
