-- Outbox dispatch: priorities, destinations and lease owners. Never edit once
-- landed: add a new numbered file.

-- 0: decisions to agents (callbacks); 1: notifications to reviewers. A backlog
-- of notifications must never hold back the answer an agent is waiting for.
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
UPDATE outbox SET priority = 0 WHERE channel = 'callback';

-- Who receives it: a callback's `host:port`, or the channel for Slack and email.
-- Concurrency is bounded per destination, so one dead peer stalls only its own
-- items. Rows queued before this migration count as one destination per channel.
ALTER TABLE outbox ADD COLUMN destination TEXT NOT NULL DEFAULT '';
UPDATE outbox SET destination = channel;

-- The process holding the item's lease (NULL when not leased). A restarted
-- process releases leases of processes that died at once instead of waiting
-- them out: on SQLite one process serves a database file.
ALTER TABLE outbox ADD COLUMN leased_by TEXT;

-- Ready items of one priority, oldest first.
CREATE INDEX outbox_ready_by_priority ON outbox (priority, next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
