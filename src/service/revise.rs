//! Revisions (design.md §7): the agent resubmits a request a reviewer asked changes to.
//! The engine judges; this writes its step, with the idempotency key, in one transaction.

use super::{Service, Write};
use crate::domain::engine::{self, Event};
use crate::domain::{AgentId, Escalation, EscalationId, EscalationRequest};
use crate::service::ApplyError;

pub enum Revision {
    /// Written: the escalation under its new revision.
    New(Escalation),
    /// The idempotency key was seen on this escalation: nothing written, its state now.
    Repeat(Escalation),
}

impl Service {
    /// Submits `request` as the next revision of the agent's escalation `id`. Another
    /// agent's escalation is [`ApplyError::NotFound`]. Revisions are rare, so each has a
    /// transaction of its own (the writer is single: the key check and the write cannot
    /// race another revision).
    pub async fn revise(
        &self,
        agent: &AgentId,
        id: &EscalationId,
        request: EscalationRequest,
        key: Option<&str>,
    ) -> Result<Revision, ApplyError> {
        let mut tx = self.store.begin().await?;
        let esc = tx
            .escalations(std::slice::from_ref(id))
            .await?
            .pop()
            .filter(|e| &e.agent_id == agent)
            .ok_or(ApplyError::NotFound)?;
        if let Some(key) = key
            && tx.revision_key(id, key).await?.is_some()
        {
            return Ok(Revision::Repeat(esc));
        }
        let now = self.now();
        let step = engine::step(&esc, Event::Revise(Box::new(request)), &self.dir, now)
            .map_err(ApplyError::Refused)?;
        let rows = self.encode(&Write {
            step: &step,
            now,
            base: Some(esc.revision),
        })?;
        tx.write_steps(&[&rows]).await?;
        if let Some(key) = key {
            tx.keep_revision_key(id, key, step.escalation.submission())
                .await?;
        }
        tx.commit().await?;
        metrics::counter!("countersign_revisions_total").increment(1);
        self.committed(&step);
        Ok(Revision::New(step.escalation))
    }
}
