//! The audit trail: every transition appended to a SHA-256 hash chain; `verify` walks it.

use super::db;
use super::db::Pool;
use super::{Result, Tx, batch, ms};
use crate::domain::{AuditRecord, Time};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain's last event: MAX of the integer primary key, a single b-tree descent.
pub(super) const HEAD: &str =
    "SELECT seq, hash FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)";

/// What one step adds to the chain: its escalation, its instant, its records.
pub struct Entry<'a> {
    pub escalation_id: Option<&'a str>,
    pub at: Time,
    pub records: &'a [AuditRecord],
}

/// Appends several steps' records, chained in order: one head read and one insert
/// statement for the whole batch. Writers are serialized (one writer connection,
/// `BEGIN IMMEDIATE`), so reading the head here cannot race.
pub(super) async fn append_all(tx: &mut Tx, entries: &[Entry<'_>]) -> Result<()> {
    if entries.iter().all(|e| e.records.is_empty()) {
        return Ok(());
    }
    let head: Option<(i64, String)> = db::query_as(HEAD).fetch_optional(&mut *tx).await?;
    let (mut seq, mut prev) = head.unwrap_or((0, GENESIS.to_owned()));
    let mut rows = Vec::new();
    for entry in entries {
        for r in entry.records {
            seq += 1;
            let event = Event {
                seq,
                escalation_id: entry.escalation_id.map(str::to_owned),
                at: ms(entry.at),
                kind: r.kind.as_str().to_owned(),
                actor: r.actor.clone(),
                data: r.data.clone(),
                prev_hash: prev,
            };
            let hash = event.hash();
            prev = hash.clone();
            rows.push((event, hash));
        }
    }
    for chunk in batch::chunks(&rows) {
        let mut q = batch::query(format!(
            "INSERT INTO audit_events (seq, escalation_id, at, kind, actor, data, prev_hash, hash)
             VALUES {}",
            batch::values(chunk.len(), 8)
        ));
        for (event, hash) in chunk {
            q = q
                .bind(event.seq)
                .bind(event.escalation_id.as_deref())
                .bind(event.at)
                .bind(event.kind.as_str())
                .bind(event.actor.as_deref())
                .bind(event.data.to_string())
                .bind(event.prev_hash.as_str())
                .bind(hash.as_str());
        }
        q.execute(&mut *tx).await?;
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
        hex::encode(Sha256::digest(self.canonical()))
    }

    /// The canonical JSON of the event. The envelope's keys are fixed, so they are
    /// written in RFC 8785 order (sorted by UTF-16 code units) directly; only `data`,
    /// whose keys vary, goes through the general canonicalizer. Byte for byte what
    /// canonicalizing the whole document gives (a test checks), at a fraction of the
    /// cost — this runs for every audit event, inside the write transaction.
    fn canonical(&self) -> Vec<u8> {
        // serde_json escapes strings exactly as RFC 8785 asks (`"`, `\`, control
        // characters; \b \t \n \f \r short, the rest as lowercase \u00xx).
        let text = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let opt = |s: &Option<String>| s.as_deref().map_or("null".to_owned(), text);
        let data = serde_json_canonicalizer::to_string(&self.data).unwrap_or_default();
        format!(
            r#"{{"actor":{},"at":{},"data":{data},"escalation_id":{},"kind":{},"prev_hash":{},"seq":{}}}"#,
            opt(&self.actor),
            self.at,
            opt(&self.escalation_id),
            text(&self.kind),
            text(&self.prev_hash),
            self.seq,
        )
        .into_bytes()
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
pub(super) async fn verify(pool: &Pool) -> Result<Verdict> {
    let mut conn = pool.begin_snapshot().await?;
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_owned();
    loop {
        let rows: Vec<Row> = db::query_as(
            "SELECT seq, escalation_id, at, kind, actor, data, prev_hash, hash
             FROM audit_events WHERE seq >= ? ORDER BY seq LIMIT 2000",
        )
        .bind(expected_seq)
        .fetch_all(&mut conn)
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
pub(super) async fn for_escalation(
    pool: &Pool,
    id: &str,
) -> Result<Vec<(i64, String, Option<String>, Value)>> {
    let rows: Vec<(i64, String, Option<String>, String)> = db::query_as(
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The reference: the whole document through the general canonicalizer.
    fn reference(e: &Event) -> Vec<u8> {
        let doc = json!({
            "seq": e.seq,
            "escalation_id": e.escalation_id,
            "at": e.at,
            "kind": e.kind,
            "actor": e.actor,
            "data": e.data,
            "prev_hash": e.prev_hash,
        });
        serde_json_canonicalizer::to_vec(&doc).unwrap()
    }

    #[test]
    fn the_fast_canonical_form_is_rfc_8785() {
        let texts = [
            "plain",
            "",
            "quote \" backslash \\ slash /",
            "control \u{0}\u{1}\u{8}\u{9}\u{a}\u{c}\u{d}\u{1f}\u{7f}",
            "unicode é ü 日本 😀 \u{2028}\u{2029}",
        ];
        for (i, t) in texts.iter().enumerate() {
            let e = Event {
                seq: 1 + i as i64 * 1_000_003,
                escalation_id: (i % 2 == 0).then(|| format!("esc_{t}")),
                at: 1_700_000_000_123 + i as i64,
                kind: format!("kind {t}"),
                actor: (i % 3 != 0).then(|| t.to_string()),
                data: json!({"z": t, "a": [1, 2.5, -3, null, true], "é": {"y": t, "b": 1e21}, "": 0}),
                prev_hash: GENESIS.to_owned(),
            };
            assert_eq!(
                String::from_utf8(e.canonical()).unwrap(),
                String::from_utf8(reference(&e)).unwrap()
            );
        }
    }
}
