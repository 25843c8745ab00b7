-- Per-agent `max_pending` in O(1): one row per agent with its open (undecided)
-- escalations, kept by triggers inside the very transaction that inserts or decides an
-- escalation. Counting the agent's open rows on every intake (0004's partial index) cost
-- time in proportion to how many were open: with tens of thousands pending, intake
-- slowed to a third.
CREATE TABLE agent_open (
    agent_id TEXT PRIMARY KEY NOT NULL,
    open INTEGER NOT NULL
) STRICT;

INSERT INTO agent_open (agent_id, open)
    SELECT agent_id, COUNT(*) FROM escalations WHERE decided_at IS NULL GROUP BY agent_id;

CREATE TRIGGER escalation_opened AFTER INSERT ON escalations
    WHEN NEW.decided_at IS NULL
BEGIN
    INSERT INTO agent_open (agent_id, open) VALUES (NEW.agent_id, 1)
        ON CONFLICT (agent_id) DO UPDATE SET open = open + 1;
END;

CREATE TRIGGER escalation_decided AFTER UPDATE OF decided_at ON escalations
    WHEN OLD.decided_at IS NULL AND NEW.decided_at IS NOT NULL
BEGIN
    UPDATE agent_open SET open = open - 1 WHERE agent_id = NEW.agent_id;
END;

CREATE TRIGGER escalation_removed AFTER DELETE ON escalations
    WHEN OLD.decided_at IS NULL
BEGIN
    UPDATE agent_open SET open = open - 1 WHERE agent_id = OLD.agent_id;
END;
