//! Writing accepted steps. Everything a step writes is encoded first, with no transaction
//! held (the escalation row, pending reviews, timers, outbox rows); inside the transaction
//! the audit records are chained and every table gets a few multi-row statements for the
//! whole batch.

use super::Service;
use crate::domain::timers::{self, Timer};
use crate::domain::{AuditRecord, EscalationId, ReviewerId, Step, Time, eligibility};
use crate::notify::PlanContext;
use crate::store::escalations::Record;
use crate::store::outbox::Queued;
use crate::store::{self, Tx};

/// One accepted engine step to write, made at `now`; `is_new` inserts instead of updating.
pub struct Write<'a> {
    pub step: &'a Step,
    pub now: Time,
    pub is_new: bool,
}

/// The rows of one step, encoded and ready for the write transaction.
#[derive(Debug, Clone)]
pub struct StepRows {
    escalation: Record,
    is_new: bool,
    reviewers: Vec<ReviewerId>,
    timers: Vec<Timer>,
    at: Time,
    audit: Vec<AuditRecord>,
    outbox: Vec<Queued>,
}

impl StepRows {
    pub fn id(&self) -> &EscalationId {
        &self.escalation.id
    }
}

impl Service {
    /// Encodes a step's rows: CPU work only, no I/O, so it can run before the write
    /// transaction. Planning outbox items is the channels' job and does no I/O either.
    pub fn encode(&self, w: &Write<'_>) -> store::Result<StepRows> {
        let esc = &w.step.escalation;
        let ctx = PlanContext {
            config: &self.config,
            dir: &self.dir,
            now: w.now,
        };
        let outbox = self
            .notifier
            .plan(esc, &w.step.effects, &ctx)
            .into_iter()
            .map(|item| Queued::new(esc.id.as_str(), w.now, item))
            .collect();
        Ok(StepRows {
            escalation: Record::encode(esc)?,
            is_new: w.is_new,
            reviewers: eligibility::eligible(esc, &self.dir),
            timers: timers::derive(esc),
            at: w.now,
            audit: w.step.audit.clone(),
            outbox,
        })
    }

    /// Writes everything accepted steps produced inside the caller's transaction: new or
    /// updated escalation rows, pending reviews, armed timers, audit events and planned
    /// outbox rows. The one write path for every step (intake, votes, ticks); public so
    /// the benchmark seeds its rows through it. Each escalation at most once per call.
    pub async fn persist(&self, tx: &mut Tx, writes: &[Write<'_>]) -> store::Result<()> {
        let rows = writes
            .iter()
            .map(|w| self.encode(w))
            .collect::<store::Result<Vec<_>>>()?;
        write_rows(tx, &rows.iter().collect::<Vec<_>>()).await
    }
}

/// Writes encoded steps: a few statements per table for the whole batch.
pub async fn write_rows(tx: &mut Tx, rows: &[&StepRows]) -> store::Result<()> {
    let records = |new: bool| -> Vec<&Record> {
        rows.iter()
            .filter(|r| r.is_new == new)
            .map(|r| &r.escalation)
            .collect()
    };
    store::escalations::insert(tx, &records(true)).await?;
    store::escalations::update(tx, &records(false)).await?;
    // A new escalation has no earlier rows to clear.
    let existing: Vec<&EscalationId> = records(false).iter().map(|r| &r.id).collect();
    let reviews: Vec<_> = rows
        .iter()
        .map(|r| (r.id(), r.reviewers.as_slice()))
        .collect();
    store::escalations::replace_pending_reviews(tx, &existing, &reviews).await?;
    let armed: Vec<_> = rows.iter().map(|r| (r.id(), r.timers.as_slice())).collect();
    store::timers::replace(tx, &existing, &armed).await?;
    let entries: Vec<_> = rows
        .iter()
        .map(|r| store::audit::Entry {
            escalation_id: Some(r.id().as_str()),
            at: r.at,
            records: &r.audit,
        })
        .collect();
    store::audit::append_all(tx, &entries).await?;
    let queued: Vec<&Queued> = rows.iter().flat_map(|r| &r.outbox).collect();
    store::outbox::enqueue(tx, &queued).await?;
    Ok(())
}
