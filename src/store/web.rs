//! The web UI's rows: sign-in links (single use, mail rate limit) and sessions (kept by the
//! SHA-256 of their id), plus the timed audit trail its escalation page shows.

use super::db;
use super::outbox::{self, NewItem, Queued};
use super::{Result, Store, from_ms, ms};
use crate::domain::{ReviewerId, Time};
use serde_json::Value;

/// A sign-in link to record and mail, if the reviewer's rate allows.
pub struct SignInRequest<'a> {
    pub reviewer: &'a ReviewerId,
    pub nonce: &'a str,
    pub expires_at: Time,
    /// At most `limit` links per reviewer since `window_start`.
    pub window_start: Time,
    pub limit: i64,
    /// The email, written with the row so both or neither exist.
    pub mail: NewItem,
}

/// A live session: whose, and when it was last seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub reviewer: ReviewerId,
    pub seen_at: Time,
}

/// One audit event with its instant, for the escalation page.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedEvent {
    pub seq: i64,
    pub at: Time,
    pub kind: String,
    pub actor: Option<String>,
    pub data: Value,
}

impl Store {
    /// Records a sign-in link and queues its mail in one transaction, unless the reviewer
    /// already has `limit` links in the window: then nothing is written and it says `false`.
    pub async fn request_sign_in(&self, r: SignInRequest<'_>, now: Time) -> Result<bool> {
        let mut tx = self.begin().await?;
        let recent: i64 = db::query_scalar(
            "SELECT COUNT(*) FROM web_sign_ins WHERE reviewer_id = ? AND created_at >= ?",
        )
        .bind(r.reviewer.as_str())
        .bind(ms(r.window_start))
        .fetch_one(tx.tx())
        .await?;
        if recent >= r.limit {
            return Ok(false);
        }
        db::query(
            "INSERT INTO web_sign_ins (nonce, reviewer_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(r.nonce)
        .bind(r.reviewer.as_str())
        .bind(ms(now))
        .bind(ms(r.expires_at))
        .execute(tx.tx())
        .await?;
        // Not about an escalation: the outbox row's escalation is empty.
        let queued = Queued::new("", now, r.mail);
        tx.announce(super::Wake::Outbox);
        outbox::enqueue(tx.tx(), &[&queued]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Uses a sign-in nonce and opens a session with it, in one transaction: `None` when the
    /// nonce is unknown, already used, expired, or not this reviewer's.
    pub async fn sign_in(
        &self,
        nonce: &str,
        reviewer: &ReviewerId,
        session_sha256: &str,
        expires_at: Time,
        now: Time,
    ) -> Result<Option<()>> {
        let mut tx = self.begin().await?;
        let used = db::query(
            "UPDATE web_sign_ins SET used_at = ?
             WHERE nonce = ? AND reviewer_id = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(ms(now))
        .bind(nonce)
        .bind(reviewer.as_str())
        .bind(ms(now))
        .execute(tx.tx())
        .await?;
        if used != 1 {
            return Ok(None);
        }
        db::query(
            "INSERT INTO web_sessions (id_sha256, reviewer_id, created_at, seen_at, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(session_sha256)
        .bind(reviewer.as_str())
        .bind(ms(now))
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(tx.tx())
        .await?;
        tx.commit().await?;
        Ok(Some(()))
    }

    /// Whether a sign-in nonce has been used (for telling a spent link from a broken one).
    pub async fn sign_in_used(&self, nonce: &str) -> Result<bool> {
        let used: Option<Option<i64>> =
            db::query_scalar("SELECT used_at FROM web_sign_ins WHERE nonce = ?")
                .bind(nonce)
                .fetch_optional(&self.readers)
                .await?;
        Ok(matches!(used, Some(Some(_))))
    }

    /// The session with this id hash if it is neither revoked, past its end, nor idle since
    /// before `idle_since`.
    pub async fn session(
        &self,
        id_sha256: &str,
        idle_since: Time,
        now: Time,
    ) -> Result<Option<Session>> {
        let row: Option<(String, i64)> = db::query_as(
            "SELECT reviewer_id, seen_at FROM web_sessions
             WHERE id_sha256 = ? AND revoked_at IS NULL AND expires_at > ? AND seen_at > ?",
        )
        .bind(id_sha256)
        .bind(ms(now))
        .bind(ms(idle_since))
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(|(reviewer, seen)| Session {
            reviewer: ReviewerId(reviewer),
            seen_at: from_ms(seen),
        }))
    }

    /// Moves a session's idle clock on.
    pub async fn touch_session(&self, id_sha256: &str, now: Time) -> Result<()> {
        let mut tx = self.begin().await?;
        db::query("UPDATE web_sessions SET seen_at = ? WHERE id_sha256 = ? AND revoked_at IS NULL")
            .bind(ms(now))
            .bind(id_sha256)
            .execute(tx.tx())
            .await?;
        tx.commit().await
    }

    /// Ends a session server-side: its cookie no longer signs anyone in.
    pub async fn revoke_session(&self, id_sha256: &str, now: Time) -> Result<()> {
        let mut tx = self.begin().await?;
        db::query(
            "UPDATE web_sessions SET revoked_at = ? WHERE id_sha256 = ? AND revoked_at IS NULL",
        )
        .bind(ms(now))
        .bind(id_sha256)
        .execute(tx.tx())
        .await?;
        tx.commit().await
    }

    /// One escalation's audit events with their instants, oldest first.
    pub async fn audit_timeline(&self, escalation_id: &str) -> Result<Vec<TimedEvent>> {
        let rows: Vec<(i64, i64, String, Option<String>, String)> = db::query_as(
            "SELECT seq, at, kind, actor, data FROM audit_events WHERE escalation_id = ? ORDER BY seq",
        )
        .bind(escalation_id)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, at, kind, actor, data)| TimedEvent {
                seq,
                at: from_ms(at),
                kind,
                actor,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
            })
            .collect())
    }
}
