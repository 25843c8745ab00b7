-- Per-agent `max_pending`: the intake counts an agent's open escalations in its transaction.
CREATE INDEX escalations_open_by_agent ON escalations (agent_id) WHERE decided_at IS NULL;
