//! The timer worker: fires delegation tiers, SLA escalations and timeouts whose rows came due.

use crate::domain::Time;
use crate::service::{ApplyError, PreparedTicks, Service};
use crate::store::{self, StoreError, timers::Cursor};
use tokio_util::sync::CancellationToken;

/// Escalations ticked in one transaction: one commit (one fsync) per batch instead of one
/// per escalation. Large enough that ten thousand timeouts falling due together take ten
/// commits; small enough that the writer is not held much over a hundred milliseconds.
const BATCH: u32 = 1000;
/// Batches one step works through before yielding to the loop (and its shutdown check).
const MAX_BATCHES: usize = 40;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub fired: usize,
    /// Alerts the periodic checks fired (when they were due).
    pub alerts: usize,
    /// True when the step stopped at its limit and more may be due now.
    pub more: bool,
}

/// Applies a tick to every escalation with a timer due at `now`, a batch per transaction.
pub async fn run_once(service: &Service, now: Time) -> store::Result<Outcome> {
    // Each round works on the config version serving when it starts.
    let service = service.current();
    let result = fire(&service, now).await;
    service.signals.set_timer_backlog(false);
    let mut outcome = result?;
    outcome.alerts = super::alerts::check_if_due(&service, now).await?;
    Ok(outcome)
}

/// One page of due escalations, worked out and ready to commit.
struct Batch {
    ticks: PreparedTicks,
    full: bool,
    next: Option<Cursor>,
}

/// Works through the due pages in a pipeline: while one batch commits (SQLite's thread,
/// the fsync), the next is read and worked out (engine, encoding) in another task, so
/// the two halves of the work overlap on two cores.
async fn fire(service: &Service, now: Time) -> store::Result<Outcome> {
    let mut outcome = Outcome::default();
    let mut next = prepare(service.clone(), now, None).await?;
    for _ in 0..MAX_BATCHES {
        let Some(batch) = next else {
            return Ok(outcome);
        };
        if batch.full {
            service.signals.set_timer_backlog(true);
        }
        let ahead = batch
            .full
            .then(|| tokio::spawn(prepare(service.clone(), now, batch.next)));
        for (id, result) in service.commit_ticks(batch.ticks).await? {
            match result {
                Ok(_) => outcome.fired += 1,
                Err(ApplyError::Store(e)) => return Err(e),
                Err(e) => tracing::warn!(escalation = %id, error = %e, "timer tick refused"),
            }
        }
        next = match ahead {
            Some(task) => task.await.map_err(|_| StoreError::Interrupted)??,
            None => None,
        };
    }
    outcome.more = next.is_some();
    Ok(outcome)
}

/// Reads the page after `after` and works out its ticks; `None` when nothing more is due.
async fn prepare(
    service: Service,
    now: Time,
    after: Option<Cursor>,
) -> store::Result<Option<Batch>> {
    let page = (service.store)
        .due_timers(now, after.as_ref(), BATCH)
        .await?;
    if page.escalations.is_empty() {
        return Ok(None);
    }
    for (_, due_at) in &page.escalations {
        let lag = (now - *due_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("countersign_timer_lag_seconds").record(lag);
    }
    let ids: Vec<_> = page.escalations.into_iter().map(|(id, _)| id).collect();
    Ok(Some(Batch {
        ticks: service.prepare_ticks(&ids, now).await?,
        full: page.full,
        next: page.next,
    }))
}

pub async fn run(service: Service, shutdown: CancellationToken) {
    let s = &service;
    super::run_loop(
        "timers",
        s.clock.as_ref(),
        s.signals.timers(),
        &shutdown,
        move || async move { Ok(run_once(s, s.now()).await?.more) },
        move || next_wake(s),
    )
    .await
}

/// The earliest of the next armed timer and the next alert check.
async fn next_wake(s: &Service) -> store::Result<Option<Time>> {
    let timer = s.store.next_due_timer().await?;
    let check = super::alerts::next_check(s).await?;
    Ok(match (timer, check) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}
