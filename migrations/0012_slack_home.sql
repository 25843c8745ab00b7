-- The Slack App Home tab (design.md §8). Never edit once landed: add a new numbered file.

-- Slack users who opened countersign's Home tab, and the reviewer each one is: their
-- Home view is republished when their queue changes. A user who never opened it costs
-- nothing (no publish is planned for them).
CREATE TABLE slack_home (
    slack_user_id TEXT PRIMARY KEY NOT NULL,
    reviewer_id   TEXT NOT NULL,
    opened_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX slack_home_reviewer ON slack_home (reviewer_id);

-- Events API deliveries already taken, by Slack's `event_id`: a retried delivery
-- (`X-Slack-Retry-Num`) finds its id here and does nothing twice. Rows older than
-- Slack's retry window are deleted as new events arrive.
CREATE TABLE slack_events (
    event_id    TEXT PRIMARY KEY NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX slack_events_received ON slack_events (received_at);
