//! Encoding accepted steps for the store. Everything a step writes is worked out here, with
//! no transaction held (the escalation row, pending reviews, timers, planned outbox rows);
//! the store's [`WriteTx::write_steps`] then writes a whole batch in a few statements.

use super::Service;
use crate::domain::facts::Fact;
use crate::domain::{Step, Time, alerts, eligibility, timers};
use crate::notify::{self, PlanContext};
use crate::store::{self, StepRows, WriteTx};

/// One accepted engine step to write, made at `now`. `base` is the revision the step was
/// worked out from (the row is updated only if it still has it); `None` inserts.
pub struct Write<'a> {
    pub step: &'a Step,
    pub now: Time,
    pub base: Option<u32>,
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
        StepRows::encode(store::Step {
            escalation: esc,
            base: w.base,
            reviewers: eligibility::eligible(esc, &self.dir),
            timers: timers::derive(esc),
            at: w.now,
            audit: &w.step.audit,
            outbox: self.notifier.plan(esc, &w.step.effects, &ctx),
            facts: &w.step.facts,
            alerts: self.alerts_at_once(w.step),
        })
    }

    /// The alerts a step raises in its own transaction: an execution reported with another
    /// payload or a broken constraint (design.md §8). None while alerts are off.
    fn alerts_at_once(&self, step: &Step) -> Vec<store::alerts::Planned> {
        if self.config.alerts.is_none() {
            return Vec::new();
        }
        let esc = &step.escalation;
        step.facts
            .iter()
            .filter_map(|f| match f {
                Fact::Execution(e) => alerts::execution_mismatch(&esc.id, &esc.request.summary, e),
                _ => None,
            })
            .map(|alert| store::alerts::Planned {
                outbox: notify::alerts::plan(&self.config, &alert),
                alert,
            })
            .collect()
    }

    /// Writes accepted steps inside the caller's transaction, through the same path as
    /// every step (intake, votes, ticks); public so the benchmark seeds its rows with it.
    /// Each escalation at most once per call.
    pub async fn persist(&self, tx: &mut WriteTx, writes: &[Write<'_>]) -> store::Result<()> {
        let rows = writes
            .iter()
            .map(|w| self.encode(w))
            .collect::<store::Result<Vec<_>>>()?;
        tx.write_steps(&rows.iter().collect::<Vec<_>>()).await
    }
}
