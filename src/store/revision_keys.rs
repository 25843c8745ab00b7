//! Idempotency keys of revisions, kept in the transaction that writes the revision.

use super::db;
use super::{Result, WriteTx};
use crate::domain::EscalationId;

impl WriteTx {
    /// The submission an earlier revision with this key created, if one did.
    pub async fn revision_key(&mut self, id: &EscalationId, key: &str) -> Result<Option<u32>> {
        let found: Option<i64> = db::query_scalar(
            "SELECT revision FROM revision_keys WHERE escalation_id = ? AND idempotency_key = ?",
        )
        .bind(id.as_str())
        .bind(key)
        .fetch_optional(self.tx())
        .await?;
        Ok(found.map(|r| u32::try_from(r).unwrap_or(u32::MAX)))
    }

    /// Keeps the key of a revision written in this transaction.
    pub async fn keep_revision_key(
        &mut self,
        id: &EscalationId,
        key: &str,
        revision: u32,
    ) -> Result<()> {
        db::query(
            "INSERT INTO revision_keys (escalation_id, idempotency_key, revision) VALUES (?, ?, ?)",
        )
        .bind(id.as_str())
        .bind(key)
        .bind(i64::from(revision))
        .execute(self.tx())
        .await?;
        Ok(())
    }
}
