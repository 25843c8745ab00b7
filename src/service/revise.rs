//! Revisions (design.md §7): the agent resubmits a request a reviewer asked changes to.
//! The engine judges; this writes its step, with the idempotency key, in one transaction.

use super::{Service, Write};
use crate::domain::engine::{self, Event};
use crate::domain::{
    AgentId, Escalation, EscalationId, EscalationRequest, EscalationStatus, Refusal,
};
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
        // Only a revision the engine would take is judged on its body; otherwise the
        // engine's own refusal (409) says why not.
        if esc.status == EscalationStatus::ChangesRequested {
            self.fits_pinned(&esc, &request)
                .map_err(ApplyError::Refused)?;
        }
        let now = self.now();
        let mut step = engine::step(&esc, Event::Revise(Box::new(request)), &self.dir, now)
            .map_err(ApplyError::Refused)?;
        // A revision never decides today; sealing here keeps "every decision has a
        // receipt" true whatever the engine comes to do on this path.
        self.seal(&mut step)?;
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

    /// A revision is judged under the workflow the escalation started with (design.md §7),
    /// so it may not turn into another action (its intent), nor into a riskier one that
    /// the configuration sends to another workflow: it would be reviewed more lightly than
    /// the rules say. A lower score stays on the pinned workflow, never a lighter one.
    fn fits_pinned(&self, esc: &Escalation, request: &EscalationRequest) -> Result<(), Refusal> {
        if !request.intent.eq_ignore_ascii_case(&esc.request.intent) {
            return Err(Refusal::Invalid(format!(
                "intent: a revision keeps the escalation's intent ({}); submit another action as a new escalation.",
                esc.request.intent
            )));
        }
        // No score counts as the highest, as at intake.
        let score = |r: &EscalationRequest| r.risk_score().unwrap_or(100);
        if score(request) <= score(&esc.request) {
            return Ok(());
        }
        let selected =
            self.config
                .select_workflow(&esc.agent_id, &request.intent, request.risk_score());
        match selected {
            Some(w) if w.id == esc.workflow.id => Ok(()),
            _ => Err(Refusal::Invalid(format!(
                "risk: at score {} this action is governed by another workflow than this escalation's ({}); submit it as a new escalation.",
                score(request),
                esc.workflow.id
            ))),
        }
    }
}
