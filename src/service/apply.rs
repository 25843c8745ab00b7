//! Applying events (votes, timer ticks, cancels) to stored escalations: concurrent events
//! share a transaction (group commit), and the timer worker ticks a whole batch in one.

use super::{Service, Write};
use crate::domain::engine::{self, Event};
use crate::domain::{
    AuditKind, AuditRecord, Effect, Escalation, EscalationId, Refusal, Step, Time,
};
use crate::store::{self, StepRows, StoreError, WriteTx};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("no such escalation")]
    NotFound,
    #[error("{0}")]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Each escalation's result.
pub type Applied = Vec<(EscalationId, Result<Escalation, ApplyError>)>;

/// What one event does to one escalation, worked out before anything is written.
enum Outcome {
    Missing,
    /// The engine changed nothing. A tick still re-arms the derived timers, so a stray
    /// due row can never make the timer worker spin on it.
    Unchanged {
        esc: Escalation,
        rearm: bool,
    },
    Changed {
        step: Step,
        rows: Box<StepRows>,
        channel: Option<&'static str>,
    },
    /// A refused vote changes nothing but is audited.
    Refused {
        refusal: Refusal,
        audit: Option<AuditRecord>,
    },
}

/// One event waiting for a group commit.
pub struct Job {
    id: EscalationId,
    event: Event,
    reply: oneshot::Sender<Result<Escalation, ApplyError>>,
}

/// Timer ticks worked out on a snapshot, their rows encoded, ready to commit.
pub struct PreparedTicks {
    now: Time,
    /// Each escalation, the revision its outcome was worked out from, and the outcome.
    ticks: Vec<(EscalationId, Option<u32>, Outcome)>,
}

impl PreparedTicks {
    pub fn len(&self) -> usize {
        self.ticks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ticks.is_empty()
    }
}

impl Service {
    /// Runs one engine step on the stored escalation. Writers are serialized (one
    /// writer connection, `BEGIN IMMEDIATE`), so concurrent votes see each other:
    /// exactly one decides. Concurrent events share a transaction (group commit);
    /// each is answered only after it is durable.
    pub async fn apply(&self, id: &EscalationId, event: Event) -> Result<Escalation, ApplyError> {
        let make = |reply| Job {
            id: id.clone(),
            event,
            reply,
        };
        let service = self.clone();
        let commit = move |jobs| {
            let service = service.clone();
            async move { service.commit_events(jobs).await }
        };
        self.events.submit(make, commit).await.unwrap_or_else(|_| {
            // The committing task died before answering.
            Err(ApplyError::Store(StoreError::Interrupted))
        })
    }

    /// Works out ticks at `now` on states read from the pool and encodes their rows, with
    /// no transaction held, so the timer worker can prepare one batch while the previous
    /// one commits. [`Service::commit_ticks`] checks nothing moved in between.
    pub async fn prepare_ticks(
        &self,
        ids: &[EscalationId],
        now: Time,
    ) -> Result<PreparedTicks, StoreError> {
        let mut seen = HashSet::new();
        let ids: Vec<EscalationId> = ids.iter().filter(|id| seen.insert(*id)).cloned().collect();
        let mut states = by_id(self.store.escalations(&ids).await?);
        let ticks = ids
            .into_iter()
            .map(|id| {
                let esc = states.remove(&id);
                let revision = esc.as_ref().map(|e| e.revision);
                let outcome = self.tick(esc, now)?;
                Ok((id, revision, outcome))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(PreparedTicks { now, ticks })
    }

    /// Commits prepared ticks in one transaction. An escalation whose revision moved
    /// since it was read (a vote landed in between) is worked out again on its
    /// current state, inside the transaction.
    pub async fn commit_ticks(&self, prepared: PreparedTicks) -> Result<Applied, StoreError> {
        let PreparedTicks { now, mut ticks } = prepared;
        let mut tx = self.store.begin().await?;
        let ids: Vec<EscalationId> = ticks.iter().map(|(id, _, _)| id.clone()).collect();
        let current = tx.revisions(&ids).await?;
        let stale: Vec<EscalationId> = ticks
            .iter()
            .filter(|(id, seen, _)| current.get(id) != seen.as_ref())
            .map(|(id, _, _)| id.clone())
            .collect();
        if !stale.is_empty() {
            let mut fresh = by_id(tx.escalations(&stale).await?);
            for (id, _, outcome) in &mut ticks {
                if stale.contains(id) {
                    *outcome = self.tick(fresh.remove(id), now)?;
                }
            }
        }
        let outcomes = ticks.into_iter().map(|(id, _, o)| (id, o)).collect();
        self.write(tx, outcomes, now).await
    }

    fn tick(&self, esc: Option<Escalation>, now: Time) -> Result<Outcome, StoreError> {
        match esc {
            Some(esc) => self.outcome(&esc, Event::Tick, now),
            None => Ok(Outcome::Missing),
        }
    }

    /// Commits queued events: consecutive ones for distinct escalations share a
    /// transaction (a second event for the same escalation starts the next one, so it
    /// sees the first). If a shared transaction fails, its events are retried alone.
    async fn commit_events(&self, jobs: Vec<Job>) {
        let mut run: Vec<Job> = Vec::new();
        for job in jobs {
            if run.iter().any(|j| j.id == job.id) {
                self.commit_run(std::mem::take(&mut run)).await;
            }
            run.push(job);
        }
        self.commit_run(run).await;
    }

    async fn commit_run(&self, run: Vec<Job>) {
        let (events, replies): (Vec<_>, Vec<_>) =
            run.into_iter().map(|j| ((j.id, j.event), j.reply)).unzip();
        let done = store::write_shared(&events, |events| self.apply_all(events)).await;
        let answers = done.into_iter().map(|d| d.map_err(ApplyError::from)?.1);
        for (reply, answer) in replies.into_iter().zip(answers) {
            let _ = reply.send(answer);
        }
    }

    /// Applies events to distinct escalations in one transaction.
    async fn apply_all(&self, events: &[(EscalationId, Event)]) -> Result<Applied, StoreError> {
        let mut tx = self.store.begin().await?;
        let ids: Vec<EscalationId> = events.iter().map(|(id, _)| id.clone()).collect();
        let mut current = by_id(tx.escalations(&ids).await?);
        let now = self.now();
        let outcomes = events
            .iter()
            .map(|(id, event)| {
                let outcome = match current.remove(id) {
                    Some(esc) => self.outcome(&esc, event.clone(), now)?,
                    None => Outcome::Missing,
                };
                Ok((id.clone(), outcome))
            })
            .collect::<Result<_, StoreError>>()?;
        self.write(tx, outcomes, now).await
    }

    /// Runs the engine and encodes what the step writes. No I/O.
    fn outcome(
        &self,
        current: &Escalation,
        event: Event,
        now: Time,
    ) -> Result<Outcome, StoreError> {
        let is_tick = event == Event::Tick;
        let actor = match &event {
            Event::Vote(v) => Some((v.reviewer.to_string(), v.channel.as_str())),
            _ => None,
        };
        Ok(match engine::step(current, event, &self.dir, now) {
            Ok(step) if step.escalation.revision == current.revision => Outcome::Unchanged {
                esc: step.escalation,
                rearm: is_tick,
            },
            Ok(mut step) => {
                self.seal(&mut step)?;
                let voted = step
                    .effects
                    .iter()
                    .any(|e| matches!(e, Effect::VoteRecorded { .. }));
                let rows = self.encode(&Write {
                    step: &step,
                    now,
                    base: Some(current.revision),
                })?;
                Outcome::Changed {
                    step,
                    rows: Box::new(rows),
                    channel: actor.filter(|_| voted).map(|(_, channel)| channel),
                }
            }
            Err(refusal) => {
                // Malformed input (a constraint of the wrong type, a text too long) is not
                // an attempt to decide: like a bad body it changes nothing, audit included,
                // so junk cannot grow the chain. Refusals of who may vote are audited.
                let malformed = matches!(refusal, Refusal::Invalid(_));
                let audit = actor.filter(|_| !malformed).map(|(actor, channel)| {
                    AuditRecord::new(
                        AuditKind::VoteRefused,
                        Some(actor),
                        json!({"code": refusal.code(), "reason": refusal.message(), "channel": channel, "stage": current.current_stage + 1}),
                    )
                });
                Outcome::Refused { refusal, audit }
            }
        })
    }

    /// Writes the outcomes in `tx`, commits, then wakes whoever waits on them.
    async fn write(
        &self,
        mut tx: WriteTx,
        outcomes: Vec<(EscalationId, Outcome)>,
        now: Time,
    ) -> Result<Applied, StoreError> {
        let rows: Vec<&StepRows> = outcomes
            .iter()
            .filter_map(|(_, o)| match o {
                Outcome::Changed { rows, .. } => Some(rows.as_ref()),
                _ => None,
            })
            .collect();
        tx.write_steps(&rows).await?;
        let rearm: Vec<_> = outcomes
            .iter()
            .filter_map(|(id, o)| match o {
                Outcome::Unchanged { esc, rearm: true } => {
                    Some((id, crate::domain::timers::derive(esc)))
                }
                _ => None,
            })
            .collect();
        let rearm: Vec<_> = rearm.iter().map(|(id, t)| (*id, t.as_slice())).collect();
        tx.rearm_timers(&rearm).await?;
        let refused: Vec<_> = outcomes
            .iter()
            .filter_map(|(id, o)| match o {
                Outcome::Refused {
                    audit: Some(record),
                    ..
                } => Some(store::audit::Entry {
                    escalation_id: Some(id.as_str()),
                    at: now,
                    records: std::slice::from_ref(record),
                }),
                _ => None,
            })
            .collect();
        tx.append_audit(&refused).await?;
        // With nothing written (a refusal without audit, an unchanged vote) the commit
        // writes nothing: SQLite adds no WAL frame for an empty transaction.
        tx.commit().await?;
        Ok(outcomes
            .into_iter()
            .map(|(id, outcome)| {
                let result = match outcome {
                    Outcome::Missing => Err(ApplyError::NotFound),
                    Outcome::Unchanged { esc, .. } => Ok(esc),
                    Outcome::Changed { step, channel, .. } => {
                        if let Some(channel) = channel {
                            metrics::counter!("countersign_votes_total", "channel" => channel)
                                .increment(1);
                        }
                        self.committed(&step);
                        Ok(step.escalation)
                    }
                    Outcome::Refused { refusal, .. } => {
                        metrics::counter!("countersign_refusals_total", "code" => refusal.code())
                            .increment(1);
                        Err(ApplyError::Refused(refusal))
                    }
                };
                (id, result)
            })
            .collect())
    }
}

fn by_id(escalations: Vec<Escalation>) -> HashMap<EscalationId, Escalation> {
    escalations.into_iter().map(|e| (e.id.clone(), e)).collect()
}
