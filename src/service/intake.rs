//! Intake: pick the workflow, open the escalation, idempotently.

use super::Service;
use crate::config::AgentConfig;
use crate::domain::engine::{self, NewEscalation};
use crate::domain::{Escalation, EscalationId, EscalationRequest};
use crate::store::{self, StoreError};

pub enum Intake {
    Created(Escalation),
    /// The idempotency key was seen before: the escalation it created.
    Existing(Escalation),
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("no workflow matches intent {intent} at risk {risk}")]
    NoWorkflow { intent: String, risk: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Service {
    pub async fn submit(
        &self,
        agent: &AgentConfig,
        request: EscalationRequest,
        idempotency_key: Option<String>,
    ) -> Result<Intake, IntakeError> {
        let workflow = self
            .config
            .select_workflow(&agent.id, &request.intent, request.risk_score())
            .cloned();
        let mut tx = self.store.begin().await?;
        // Checked inside the write transaction, so two concurrent repeats cannot both create.
        let existing = match &idempotency_key {
            Some(key) => {
                store::escalations::find_by_idempotency_key(&mut tx, &agent.id, key).await?
            }
            None => None,
        };
        if let Some(existing) = existing {
            tx.rollback().await?;
            return Ok(Intake::Existing(existing));
        }
        let Some(workflow) = workflow else {
            tx.rollback().await?;
            metrics::counter!("countersign_intake_refused_total", "code" => "no_workflow")
                .increment(1);
            return Err(IntakeError::NoWorkflow {
                risk: request
                    .risk_score()
                    .map_or("unknown".into(), |s| s.to_string()),
                intent: request.intent,
            });
        };
        let now = self.now();
        let new = NewEscalation {
            id: EscalationId::generate(),
            agent_id: agent.id.clone(),
            request,
            idempotency_key,
        };
        let step = engine::start(new, workflow, &self.dir, now);
        self.persist(&mut tx, &step, now, true).await?;
        tx.commit().await?;
        metrics::counter!("countersign_escalations_created_total", "workflow" => step.escalation.workflow.id.clone())
            .increment(1);
        self.committed(&step);
        Ok(Intake::Created(step.escalation))
    }
}

impl From<sqlx::Error> for IntakeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}
