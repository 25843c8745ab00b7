//! The shell around the engine: loads state, runs one engine step, and hands the store the
//! new state, its audit events, outbox rows, timers and pending reviews to write in one
//! transaction — shared by concurrent steps (the store's group commit) and by batches of
//! timer ticks.

pub mod analytics;
mod apply;
mod intake;
mod live;
mod revise;
mod seal;
mod signals;
mod write;

pub use analytics::Estimates;
pub use apply::{ApplyError, PreparedTicks};
pub use intake::{Intake, IntakeError};
pub use live::{Live, Snapshot, sha256_hex};
pub use revise::Revision;
pub use signals::Signals;
pub use write::Write;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{Directory, Escalation, EscalationId, Step, Time};
use crate::notify::Notifier;
use crate::signing::receipts::ReceiptKeys;
use crate::store::{self, Group, Store};
use std::sync::Arc;

/// A handle on the shell, holding one config version: `config`, `dir` and `config_sha256`
/// come from the same [`Snapshot`] and stay as they are for this value's life, so a step
/// never sees half of a reload. Long-lived holders call [`Service::current`] per request
/// or per worker round to pick up the version serving now.
#[derive(Clone)]
pub struct Service {
    pub store: Store,
    pub config: Arc<Config>,
    pub dir: Arc<Directory>,
    /// SHA-256 of the config file this handle's version was loaded from (see [`Snapshot`]).
    pub config_sha256: Option<Arc<str>>,
    /// Where the version serving now is kept (swapped by a reload).
    pub live: Live,
    pub clock: Arc<dyn Clock>,
    pub notifier: Notifier,
    pub signals: Signals,
    /// Sign every decision's receipt; their public halves are the served JWK Set.
    pub receipts: Arc<ReceiptKeys>,
    /// Intakes and events waiting for the next group commit.
    intake: Arc<Group<intake::Job>>,
    events: Arc<Group<apply::Job>>,
    /// Stage medians behind `estimated_completion`, read at most once a minute.
    estimates: Arc<Estimates>,
}

impl Service {
    pub fn new(
        store: Store,
        live: Live,
        clock: Arc<dyn Clock>,
        notifier: Notifier,
        receipts: Arc<ReceiptKeys>,
    ) -> Self {
        let snap = live.load();
        let signals = Signals::new();
        if let Some(wakes) = store.wakes() {
            signals.relay(wakes);
        }
        Self {
            store,
            dir: snap.dir.clone(),
            config: snap.config.clone(),
            config_sha256: snap.sha256.as_deref().map(Arc::from),
            live,
            clock,
            notifier,
            receipts,
            signals,
            intake: Arc::new(Group::new()),
            events: Arc::new(Group::new()),
            estimates: Arc::default(),
        }
    }

    /// This handle on the config version serving now (cheap: a few `Arc` clones).
    pub fn current(&self) -> Service {
        let snap = self.live.load();
        Service {
            config: snap.config.clone(),
            dir: snap.dir.clone(),
            config_sha256: snap.sha256.as_deref().map(Arc::from),
            ..self.clone()
        }
    }

    pub fn now(&self) -> Time {
        self.clock.now()
    }

    pub async fn get(&self, id: &EscalationId) -> store::Result<Option<Escalation>> {
        self.store.escalation(id).await
    }

    /// After a commit: wake whoever waits on this escalation and the workers.
    fn committed(&self, step: &Step) {
        let esc = &step.escalation;
        // A long-poll returns once the status leaves `pending`: decided, or changes requested.
        if step
            .effects
            .contains(&crate::domain::Effect::ChangesRequested)
        {
            self.signals.decided(&esc.id);
        }
        if step.effects.contains(&crate::domain::Effect::Decided) {
            self.signals.decided(&esc.id);
            metrics::counter!("countersign_decisions_total", "outcome" => esc.status.as_str())
                .increment(1);
            if let Some(decision) = &esc.decision {
                let took = (decision.decided_at - esc.created_at)
                    .num_milliseconds()
                    .max(0);
                metrics::histogram!(crate::telemetry::DECISION_SECONDS, "workflow" => esc.workflow.id.clone())
                    .record(took as f64 / 1000.0);
            }
        }
        if step
            .effects
            .contains(&crate::domain::Effect::ExecutionRecorded)
        {
            count_execution(esc);
        }
        self.signals.wake_timers();
        if !step.effects.is_empty() {
            self.signals.wake_outbox();
        }
    }
}

/// `countersign_executions_total{result}`: every report counts as `reported`, and also as
/// `mismatched` and/or `violated` when it is one; an approval with no report by the
/// receipt's `exp` counts as `unreported`.
fn count_execution(esc: &Escalation) {
    let Some(done) = &esc.execution else {
        return;
    };
    let mut results = Vec::new();
    if done.status == crate::domain::ExecutionStatus::Unreported {
        results.push("unreported");
    } else {
        results.push("reported");
    }
    if done.matches == Some(false) {
        results.push("mismatched");
    }
    if !done.violations.is_empty() {
        results.push("violated");
    }
    for result in results {
        metrics::counter!("countersign_executions_total", "result" => result).increment(1);
    }
}
