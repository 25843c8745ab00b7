//! The timer worker: fires delegation tiers, SLA escalations and timeouts whose rows came due.

use crate::domain::Time;
use crate::domain::engine::Event;
use crate::service::{ApplyError, Service};
use crate::store;
use tokio_util::sync::CancellationToken;

/// How many escalations one step handles before yielding to the loop.
const BATCH: u32 = 500;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub fired: usize,
    /// True when the batch was full and more may be due now.
    pub more: bool,
}

/// Applies a tick to every escalation with a timer due at `now`.
pub async fn run_once(service: &Service, now: Time) -> store::Result<Outcome> {
    let due = store::timers::due(&service.store.pool, now, BATCH).await?;
    let more = due.len() as u32 == BATCH;
    let mut fired = 0;
    for (id, due_at) in due {
        let lag = (now - due_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("countersign_timer_lag_seconds").record(lag);
        match service.apply(&id, Event::Tick).await {
            Ok(_) => fired += 1,
            Err(ApplyError::Store(e)) => return Err(e),
            Err(e) => tracing::warn!(escalation = %id, error = %e, "timer tick refused"),
        }
    }
    Ok(Outcome { fired, more })
}

pub async fn run(service: Service, shutdown: CancellationToken) {
    loop {
        let now = service.now();
        match run_once(&service, now).await {
            Ok(Outcome { more: true, .. }) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "timer worker step failed; retrying in 1s");
                if !pause(&shutdown).await {
                    return;
                }
                continue;
            }
        }
        let next = store::timers::next_due(&service.store.pool)
            .await
            .unwrap_or(None);
        if !super::idle(service.now(), next, service.signals.timers(), &shutdown).await {
            return;
        }
    }
}

/// A short pause after an error, so a broken database does not spin a core.
pub(super) async fn pause(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => true,
        _ = shutdown.cancelled() => false,
    }
}
