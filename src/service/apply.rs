//! Applying events (votes, timer ticks, cancels) to stored escalations, one transaction each.

use super::Service;
use crate::domain::engine::{self, Event};
use crate::domain::{AuditRecord, Effect, Escalation, EscalationId, Refusal};
use crate::store::{self, StoreError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("no such escalation")]
    NotFound,
    #[error("{0}")]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Service {
    /// Runs one engine step on the stored escalation. Writers are serialized by
    /// `BEGIN IMMEDIATE`, so concurrent votes see each other: exactly one decides.
    /// A refused vote changes nothing but is audited.
    pub async fn apply(&self, id: &EscalationId, event: Event) -> Result<Escalation, ApplyError> {
        let mut tx = self.store.begin().await?;
        let Some(current) = store::escalations::get(&mut *tx, id).await? else {
            tx.rollback().await?;
            return Err(ApplyError::NotFound);
        };
        let now = self.now();
        let is_tick = event == Event::Tick;
        let refusal_actor = match &event {
            Event::Vote(v) => Some((v.reviewer.to_string(), v.channel.as_str())),
            _ => None,
        };
        match engine::step(&current, event, &self.dir, now) {
            Ok(step) if step.escalation.revision == current.revision => {
                if is_tick {
                    // A tick that changed nothing re-arms the derived timers, so a
                    // stray due row can never make the timer worker spin on it.
                    let timers = crate::domain::timers::derive(&step.escalation);
                    store::timers::replace(&mut tx, id, &timers).await?;
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                Ok(step.escalation)
            }
            Ok(step) => {
                self.persist(&mut tx, &step, now, false).await?;
                tx.commit().await?;
                let voted = step
                    .effects
                    .iter()
                    .any(|e| matches!(e, Effect::VoteRecorded { .. }));
                if let (true, Some((_, channel))) = (voted, &refusal_actor) {
                    metrics::counter!("countersign_votes_total", "channel" => *channel)
                        .increment(1);
                }
                self.committed(&step);
                Ok(step.escalation)
            }
            Err(refusal) => {
                if let Some((actor, channel)) = refusal_actor {
                    let record = AuditRecord::new(
                        "vote_refused",
                        Some(actor),
                        json!({"code": refusal.code(), "reason": refusal.message(), "channel": channel, "stage": current.current_stage + 1}),
                    );
                    store::audit::append(&mut tx, Some(id.as_str()), now, &[record]).await?;
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                metrics::counter!("countersign_refusals_total", "code" => refusal.code())
                    .increment(1);
                Err(ApplyError::Refused(refusal))
            }
        }
    }
}

impl From<sqlx::Error> for ApplyError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}
