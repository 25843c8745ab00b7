//! Intake: pick the workflow, open the escalation, idempotently — with group commit, so
//! concurrent intakes share one transaction (one fsync) and each is acknowledged only
//! once that transaction is durable.

use super::{Service, Write};
use crate::config::{AgentConfig, RateLimitConfig};
use crate::domain::callback_target::{self, Verdict};
use crate::domain::engine::{self, NewEscalation};
use crate::domain::policy::Subject;
use crate::domain::{
    AgentId, Escalation, EscalationId, EscalationRequest, Step, Time, ValidationError,
};
use crate::notify::callback_guard;
use crate::store::{self, StepRows, StoreError};
use std::collections::HashMap;
use tokio::sync::oneshot;

pub enum Intake {
    Created(Escalation),
    /// The idempotency key was seen before: the escalation it created.
    Existing(Escalation),
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(
        "no workflow matches intent {intent} at risk {risk} with this body (see POST /v1/simulate)"
    )]
    NoWorkflow { intent: String, risk: String },
    /// A field the edge could not judge alone (a callback_url that resolves privately).
    #[error("{0}")]
    Invalid(ValidationError),
    /// The agent already has `max` escalations open.
    #[error("the agent already has {max} open escalations")]
    TooManyPending { max: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One intake waiting for a group commit, already worked out.
pub struct Job {
    agent: AgentId,
    key: Option<String>,
    plan: Planned,
    reply: oneshot::Sender<Result<Intake, IntakeError>>,
}

/// What became of one job in its transaction.
enum Slot {
    /// Written (or, for a refusal planned earlier, nothing to write).
    New,
    /// The idempotency key was seen: this escalation.
    Repeat(Box<Escalation>),
    /// The agent is at its `max_pending`: nothing written.
    Full(u64),
}

/// What one request comes to, before anything is written.
enum Planned {
    Created(Box<(Step, StepRows)>),
    NoWorkflow { intent: String, risk: String },
}

impl Service {
    /// `body` is the request as the agent sent it: workflows' `match.when` read it.
    pub async fn submit(
        &self,
        agent: &AgentConfig,
        request: EscalationRequest,
        body: &serde_json::Value,
        idempotency_key: Option<String>,
    ) -> Result<Intake, IntakeError> {
        if let Some(url) = &request.callback_url {
            self.check_callback(agent, url).await?;
        }
        // The engine's opening step and its encoded rows are worked out here, on the
        // request's own task, so the group's leader only checks keys and writes.
        let plan = self.plan(agent, request, body, idempotency_key.clone(), self.now())?;
        let make = |reply| Job {
            agent: agent.id.clone(),
            key: idempotency_key,
            plan,
            reply,
        };
        let service = self.clone();
        let commit = move |jobs| {
            let service = service.clone();
            async move { service.commit_intakes(jobs).await }
        };
        self.intake.submit(make, commit).await.unwrap_or_else(|_| {
            // The committing task died before answering.
            Err(IntakeError::Store(StoreError::Interrupted))
        })
    }

    /// Commits a group in one transaction; the store retries each job alone if it fails,
    /// so one bad job cannot fail the others.
    async fn commit_intakes(&self, jobs: Vec<Job>) {
        let (jobs, replies): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .map(|j| ((j.agent, j.key, j.plan), j.reply))
            .unzip();
        let slots = store::write_shared(&jobs, |jobs| self.open_all(jobs)).await;
        let answers: Vec<_> = jobs
            .into_iter()
            .zip(slots)
            .map(|((_, _, plan), slot)| self.answer(plan, slot?))
            .collect();
        for (reply, answer) in replies.into_iter().zip(answers) {
            let _ = reply.send(answer);
        }
    }

    /// Writes every job that opens a new escalation, in one transaction, and returns what
    /// became of each. The idempotency keys are checked inside the transaction (so two
    /// concurrent repeats cannot both create); a repeat — of an earlier request, or of one
    /// earlier in this very group — writes nothing. So is each agent's open count, so
    /// `max_pending` holds however many intakes race (the writer is single).
    async fn open_all(
        &self,
        jobs: &[(AgentId, Option<String>, Planned)],
    ) -> Result<Vec<Slot>, StoreError> {
        let mut tx = self.store.begin().await?;
        let keys: Vec<(&AgentId, &str)> = jobs
            .iter()
            .filter_map(|(agent, key, _)| Some((agent, key.as_deref()?)))
            .collect();
        let mut known: HashMap<(AgentId, String), Escalation> = tx
            .by_idempotency_keys(&keys)
            .await?
            .into_iter()
            .filter_map(|e| Some(((e.agent_id.clone(), e.idempotency_key.clone()?), e)))
            .collect();
        let mut open: HashMap<AgentId, u64> = HashMap::new();
        let mut slots = Vec::with_capacity(jobs.len());
        let mut rows: Vec<&StepRows> = Vec::new();
        for (agent, key, plan) in jobs {
            let key = key.as_ref().map(|k| (agent.clone(), k.clone()));
            if let Some(esc) = key.as_ref().and_then(|k| known.get(k)) {
                slots.push(Slot::Repeat(Box::new(esc.clone())));
                continue;
            }
            let Planned::Created(created) = plan else {
                slots.push(Slot::New);
                continue;
            };
            let count = match open.get_mut(agent) {
                Some(n) => n,
                None => {
                    let n = tx.open_count(agent).await?;
                    open.entry(agent.clone()).or_insert(n)
                }
            };
            let max = self.max_pending(agent);
            if *count >= max {
                slots.push(Slot::Full(max));
                continue;
            }
            *count += 1;
            rows.push(&created.1);
            if let Some(key) = key {
                known.insert(key, created.0.escalation.clone());
            }
            slots.push(Slot::New);
        }
        tx.write_steps(&rows).await?;
        tx.commit().await?;
        Ok(slots)
    }

    fn max_pending(&self, agent: &AgentId) -> u64 {
        self.config
            .agent(agent.as_str())
            .map_or(RateLimitConfig::default().max_pending, |a| {
                a.rate_limit.max_pending
            })
    }

    /// A request's own callback_url: the address rules (pure), then, for a name, its
    /// addresses now. Delivery checks again (the name may change; see `callback_guard`).
    pub async fn check_callback(&self, agent: &AgentConfig, url: &str) -> Result<(), IntakeError> {
        let allow_private = self.config.server.allow_private_callbacks;
        let refuse = |message: String| ValidationError {
            field: "callback_url".into(),
            message,
        };
        let verdict = callback_target::check(url, &agent.allowed_callback_hosts(), allow_private)
            .map_err(|m| IntakeError::Invalid(refuse(m)))?;
        if let Verdict::Resolve { host, port } = verdict {
            callback_guard::resolve_public(&host, port)
                .await
                .map_err(|m| IntakeError::Invalid(refuse(m)))?;
        }
        Ok(())
    }

    /// The answer to a committed job; wakes whoever waits on a new escalation.
    fn answer(&self, plan: Planned, slot: Slot) -> Result<Intake, IntakeError> {
        match slot {
            Slot::Repeat(esc) => return Ok(Intake::Existing(*esc)),
            Slot::Full(max) => {
                metrics::counter!("countersign_intake_refused_total", "code" => "rate_limited")
                    .increment(1);
                return Err(IntakeError::TooManyPending { max });
            }
            Slot::New => {}
        }
        match plan {
            Planned::Created(created) => {
                let (step, _) = *created;
                metrics::counter!("countersign_escalations_created_total", "workflow" => step.escalation.workflow.id.clone())
                    .increment(1);
                // Only a workflow's `auto` decides at intake (design.md §9).
                if step.escalation.is_final() {
                    metrics::counter!("countersign_auto_decisions_total",
                        "workflow" => step.escalation.workflow.id.clone(),
                        "outcome" => step.escalation.status.as_str())
                    .increment(1);
                }
                self.committed(&step);
                Ok(Intake::Created(step.escalation))
            }
            Planned::NoWorkflow { intent, risk } => {
                metrics::counter!("countersign_intake_refused_total", "code" => "no_workflow")
                    .increment(1);
                Err(IntakeError::NoWorkflow { intent, risk })
            }
        }
    }

    /// The workflow that governs the request (none: fail closed), the opening step and
    /// its encoded rows.
    fn plan(
        &self,
        agent: &AgentConfig,
        request: EscalationRequest,
        body: &serde_json::Value,
        idempotency_key: Option<String>,
        now: Time,
    ) -> Result<Planned, StoreError> {
        let subject = Subject::of(&agent.id, &request, body);
        let workflow = self.config.select_workflow(&subject).cloned();
        let Some(workflow) = workflow else {
            return Ok(Planned::NoWorkflow {
                risk: request
                    .risk_score()
                    .map_or("unknown".into(), |s| s.to_string()),
                intent: request.intent,
            });
        };
        let new = NewEscalation {
            id: EscalationId::generate(),
            agent_id: agent.id.clone(),
            request,
            idempotency_key,
        };
        let mut step = engine::start(new, workflow, &self.dir, now);
        self.stamp_config_version(&mut step);
        self.seal(&mut step)?;
        let rows = self.encode(&Write {
            step: &step,
            now,
            base: None,
        })?;
        Ok(Planned::Created(Box::new((step, rows))))
    }
}

impl Service {
    /// Records in the `created` event which config version (the SHA-256 of its
    /// `config.applied` event) the escalation started under: its workflow is pinned in its
    /// state, and this names the file that workflow came from.
    fn stamp_config_version(&self, step: &mut Step) {
        let Some(sha256) = &self.config_sha256 else {
            return;
        };
        let created = step
            .audit
            .iter_mut()
            .find(|r| r.kind == crate::domain::AuditKind::Created);
        if let Some(serde_json::Value::Object(data)) = created.map(|r| &mut r.data) {
            data.insert(
                "config_sha256".into(),
                serde_json::Value::String(sha256.to_string()),
            );
        }
    }
}
