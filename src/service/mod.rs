//! The shell around the engine: loads state, runs one engine step, and commits the new state,
//! its audit events, outbox rows, timers and pending reviews in one transaction.

mod apply;
mod intake;
mod signals;

pub use apply::ApplyError;
pub use intake::{Intake, IntakeError};
pub use signals::Signals;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{Directory, Escalation, EscalationId, Step, Time, eligibility, timers};
use crate::notify::{Notifier, PlanContext};
use crate::store::{self, Store, Tx};
use std::sync::Arc;

#[derive(Clone)]
pub struct Service {
    pub store: Store,
    pub config: Arc<Config>,
    pub dir: Arc<Directory>,
    pub clock: Arc<dyn Clock>,
    pub notifier: Notifier,
    pub signals: Signals,
}

impl Service {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        notifier: Notifier,
    ) -> Self {
        Self {
            store,
            dir: Arc::new(config.directory()),
            config,
            clock,
            notifier,
            signals: Signals::new(),
        }
    }

    pub fn now(&self) -> Time {
        self.clock.now()
    }

    pub async fn get(&self, id: &EscalationId) -> store::Result<Option<Escalation>> {
        store::escalations::get(&self.store.pool, id).await
    }

    /// Writes everything an accepted step produced inside the caller's transaction.
    /// `is_new` inserts instead of updating. The one write path for every step; public
    /// so the benchmark seeds its rows through it too.
    pub async fn persist(
        &self,
        tx: &mut Tx,
        step: &Step,
        now: Time,
        is_new: bool,
    ) -> store::Result<()> {
        let esc = &step.escalation;
        if is_new {
            store::escalations::insert(tx, esc).await?;
        } else {
            store::escalations::update(tx, esc).await?;
        }
        let eligible = eligibility::eligible(esc, &self.dir);
        store::escalations::replace_pending_reviews(tx, &esc.id, &eligible).await?;
        store::timers::replace(tx, &esc.id, &timers::derive(esc)).await?;
        store::audit::append(tx, Some(esc.id.as_str()), now, &step.audit).await?;
        let ctx = PlanContext {
            config: &self.config,
            dir: &self.dir,
            now,
        };
        let items = self.notifier.plan(esc, &step.effects, &ctx);
        store::outbox::enqueue(tx, esc.id.as_str(), now, &items).await?;
        Ok(())
    }

    /// After a commit: wake whoever waits on this escalation and the workers.
    fn committed(&self, step: &Step) {
        let esc = &step.escalation;
        if !esc.is_pending() {
            self.signals.decided(&esc.id);
            metrics::counter!("countersign_decisions_total", "outcome" => esc.status.as_str())
                .increment(1);
        }
        self.signals.wake_timers();
        if !step.effects.is_empty() {
            self.signals.wake_outbox();
        }
    }
}
