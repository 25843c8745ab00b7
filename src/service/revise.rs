//! Revisions (design.md §7): the agent resubmits a request a reviewer asked changes to.
//! The engine judges; this writes its step, with the idempotency key, in one transaction.

use super::{Service, Write};
use crate::domain::engine::{self, Event};
use crate::domain::policy::Subject;
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
        body: &serde_json::Value,
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
            self.fits_pinned(&esc, &request, body)
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
    /// so it may not turn into another action (its intent), nor into one that the
    /// configuration sends to another workflow — by its risk score or by anything a
    /// `match.when` reads in its body: it would be reviewed more lightly than the rules say.
    /// A lower score alone stays on the pinned workflow, never a lighter one.
    fn fits_pinned(
        &self,
        esc: &Escalation,
        request: &EscalationRequest,
        body: &serde_json::Value,
    ) -> Result<(), Refusal> {
        if !request.intent.eq_ignore_ascii_case(&esc.request.intent) {
            return Err(Refusal::Invalid(format!(
                "intent: a revision keeps the escalation's intent ({}); submit another action as a new escalation.",
                esc.request.intent
            )));
        }
        let pinned = |score: Option<u8>, body: &serde_json::Value| {
            let subject = Subject {
                agent: &esc.agent_id,
                intent: &request.intent,
                risk_score: score,
                body,
            };
            self.config
                .select_workflow(&subject)
                .is_some_and(|w| w.id == esc.workflow.id)
        };
        if pinned(request.risk_score(), body) {
            return Ok(());
        }
        // No score counts as the highest, as at intake.
        let score = |r: &EscalationRequest| r.risk_score().unwrap_or(100);
        if score(request) < score(&esc.request) {
            // Judged at the earlier score (in the body too, for a `when` on /risk/score):
            // if only the lower score moved it, it stays pinned.
            let mut earlier = body.clone();
            if let Some(risk) = earlier.get_mut("risk").and_then(|r| r.as_object_mut()) {
                risk.insert("score".into(), score(&esc.request).into());
            }
            if pinned(esc.request.risk_score(), &earlier) {
                return Ok(());
            }
        }
        if score(request) > score(&esc.request) {
            return Err(Refusal::Invalid(format!(
                "risk: at score {} this action is governed by another workflow than this escalation's ({}); submit it as a new escalation.",
                score(request),
                esc.workflow.id
            )));
        }
        Err(Refusal::Invalid(format!(
            "match: what the workflows' `match.when` read in this revision sends it to another workflow than this escalation's ({}); submit it as a new escalation.",
            esc.workflow.id
        )))
    }
}
