-- The web UI's sign-in links and sessions (design.md §8).

-- One row per mailed sign-in link: its nonce is marked used when the link signs in, so a
-- link works once; the rows of the last 15 minutes per reviewer are the mail rate limit.
CREATE TABLE web_sign_ins (
    nonce       TEXT PRIMARY KEY NOT NULL,
    reviewer_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;
CREATE INDEX web_sign_ins_by_reviewer ON web_sign_ins (reviewer_id, created_at);

-- Sessions by the SHA-256 of their random id: the cookie's value is never stored.
CREATE TABLE web_sessions (
    id_sha256   TEXT PRIMARY KEY NOT NULL,
    reviewer_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    -- Last request seen (written at most every few minutes): the idle timeout runs from it.
    seen_at     INTEGER NOT NULL,
    -- The absolute end, however active the session.
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
