//! The audit trail: every transition appended to a SHA-256 hash chain; `verify` walks it.

use super::{Result, Tx, ms};
use crate::domain::{AuditRecord, Time};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Appends records to the chain inside the caller's transaction. Writers are
/// serialized (`BEGIN IMMEDIATE`), so reading the head here cannot race.
pub async fn append(
    tx: &mut Tx,
    escalation_id: Option<&str>,
    at: Time,
    records: &[AuditRecord],
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
    let (mut seq, mut prev) = head.unwrap_or((0, GENESIS.to_owned()));
    for r in records {
        seq += 1;
        let event = Event {
            seq,
            escalation_id: escalation_id.map(str::to_owned),
            at: ms(at),
            kind: r.kind.to_owned(),
            actor: r.actor.clone(),
            data: r.data.clone(),
            prev_hash: prev,
        };
        let hash = event.hash();
        sqlx::query(
            "INSERT INTO audit_events (seq, escalation_id, at, kind, actor, data, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(event.seq)
        .bind(&event.escalation_id)
        .bind(event.at)
        .bind(&event.kind)
        .bind(&event.actor)
        .bind(event.data.to_string())
        .bind(&event.prev_hash)
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
        prev = hash;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct Row {
    seq: i64,
    escalation_id: Option<String>,
    at: i64,
    kind: String,
    actor: Option<String>,
    data: String,
    prev_hash: String,
    hash: String,
}

struct Event {
    seq: i64,
    escalation_id: Option<String>,
    at: i64,
    kind: String,
    actor: Option<String>,
    data: Value,
    prev_hash: String,
}

impl Event {
    /// SHA-256 over the RFC 8785 canonical JSON of every field, so the hash is
    /// reproducible by any tool and any edited column breaks it.
    fn hash(&self) -> String {
        let doc = json!({
            "seq": self.seq,
            "escalation_id": self.escalation_id,
            "at": self.at,
            "kind": self.kind,
            "actor": self.actor,
            "data": self.data,
            "prev_hash": self.prev_hash,
        });
        let bytes = serde_json_canonicalizer::to_vec(&doc).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }
}

/// A chain that verified, or the first event that did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact { events: i64 },
    Broken { seq: i64, reason: String },
}

/// Walks the whole chain in one read transaction (a consistent snapshot under
/// WAL, so it is safe while `serve` writes).
pub async fn verify(pool: &SqlitePool) -> Result<Verdict> {
    let mut conn = pool.begin().await?;
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_owned();
    loop {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, escalation_id, at, kind, actor, data, prev_hash, hash
             FROM audit_events WHERE seq >= ? ORDER BY seq LIMIT 2000",
        )
        .bind(expected_seq)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(Verdict::Intact {
                events: expected_seq - 1,
            });
        }
        for row in rows {
            if let Some(reason) = check(&row, expected_seq, &prev)? {
                return Ok(Verdict::Broken {
                    seq: row.seq,
                    reason,
                });
            }
            prev = row.hash;
            expected_seq += 1;
        }
    }
}

fn check(row: &Row, expected_seq: i64, prev: &str) -> Result<Option<String>> {
    if row.seq != expected_seq {
        return Ok(Some(format!(
            "event {expected_seq} is missing (next is {})",
            row.seq
        )));
    }
    if row.prev_hash != prev {
        return Ok(Some(
            "prev_hash does not match the previous event's hash".into(),
        ));
    }
    let Ok(data) = serde_json::from_str::<Value>(&row.data) else {
        return Ok(Some("data is not valid JSON".into()));
    };
    let event = Event {
        seq: row.seq,
        escalation_id: row.escalation_id.clone(),
        at: row.at,
        kind: row.kind.clone(),
        actor: row.actor.clone(),
        data,
        prev_hash: row.prev_hash.clone(),
    };
    if event.hash() != row.hash {
        return Ok(Some(
            "content does not match its hash (the row was edited)".into(),
        ));
    }
    Ok(None)
}

/// One escalation's events, oldest first.
pub async fn for_escalation(
    pool: &SqlitePool,
    id: &str,
) -> Result<Vec<(i64, String, Option<String>, Value)>> {
    let rows: Vec<(i64, String, Option<String>, String)> = sqlx::query_as(
        "SELECT seq, kind, actor, data FROM audit_events WHERE escalation_id = ? ORDER BY seq",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, kind, actor, data)| {
            (
                seq,
                kind,
                actor,
                serde_json::from_str(&data).unwrap_or(Value::Null),
            )
        })
        .collect())
}
