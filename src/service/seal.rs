//! Sealing a decision: its receipt is signed as soon as the step that decides is worked out
//! and stored with the decision, so it commits in that step's transaction and every later
//! read and callback hands out the same token. Nothing is ever signed twice.

use super::Service;
use crate::domain::{Effect, Receipt, Step, receipt};
use crate::store::StoreError;

impl Service {
    /// Signs the receipt of the decision `step` makes; any other step is left as it is.
    /// Called on every path that decides (intake, vote, timer tick, cancel) before the
    /// step's rows are encoded.
    pub fn seal(&self, step: &mut Step) -> Result<(), StoreError> {
        if !step.effects.contains(&Effect::Decided) || !receipt::needs_receipt(&step.escalation) {
            return Ok(());
        }
        let id = format!("rcpt_{}", ulid::Ulid::new());
        let issuer = &self.config.server.public_url;
        let Some(claims) = receipt::claims(&step.escalation, issuer, &id) else {
            return Ok(());
        };
        // The key was checked at start and the claims are plain data, so this fails only as
        // encoding a row does; it is reported the same way and nothing is written.
        let token = self
            .receipts
            .sign(&claims)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        receipt::attach(&mut step.escalation, Receipt { id, token });
        Ok(())
    }
}
