//! The outbox worker: delivers due items through their channel, records the result, retries with backoff.

use crate::domain::{AuditRecord, Time};
use crate::notify::{Delivery, backoff};
use crate::service::Service;
use crate::store::outbox::Item;
use crate::store::{self, outbox};
use serde_json::json;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Items delivered concurrently in one step.
const BATCH: u32 = 64;
/// How long a claimed item stays invisible; a crash mid-delivery retries it after this.
const LEASE: Duration = Duration::from_secs(120);

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
    pub more: bool,
}

/// Claims every ready item, delivers them concurrently and records each result.
pub async fn run_once(service: &Service, now: Time) -> store::Result<Outcome> {
    let items = service.store.claim_outbox(now, BATCH, LEASE).await?;
    let mut outcome = Outcome {
        more: items.len() as u32 == BATCH,
        ..Outcome::default()
    };
    let mut attempts = JoinSet::new();
    for item in items {
        let channel = service.notifier.channel(&item.channel).cloned();
        attempts.spawn(async move {
            let result = match &channel {
                Some(c) => c.deliver(&item).await,
                None => Delivery::Failed {
                    error: format!("channel {} is not enabled", item.channel),
                },
            };
            (item, result)
        });
    }
    while let Some(joined) = attempts.join_next().await {
        let Ok((item, result)) = joined else {
            continue; // A panicking delivery stays leased and is retried after the lease.
        };
        match record(service, &item, result, service.now()).await? {
            Recorded::Delivered => outcome.delivered += 1,
            Recorded::Retried => outcome.retried += 1,
            Recorded::Failed => outcome.failed += 1,
        }
    }
    metrics::gauge!("countersign_outbox_depth")
        .set(outbox::depth(&service.store.pool).await? as f64);
    Ok(outcome)
}

enum Recorded {
    Delivered,
    Retried,
    Failed,
}

async fn record(
    service: &Service,
    item: &Item,
    result: Delivery,
    now: Time,
) -> store::Result<Recorded> {
    let (ok_kind, failed_kind) = service
        .notifier
        .channel(&item.channel)
        .map_or(("notified", "notification_failed"), |c| c.audit_kinds());
    let delivery = &service.config.delivery;
    let error = match result {
        Delivery::Delivered => {
            let mut tx = service.store.begin().await?;
            outbox::mark_delivered(&mut tx, item.id, now).await?;
            audit(&mut tx, item, ok_kind, None, now).await?;
            tx.commit().await?;
            return Ok(Recorded::Delivered);
        }
        Delivery::Failed { error } => error,
        Delivery::Retry { error, retry_after } => {
            let age = (now - item.created_at).to_std().unwrap_or_default();
            if age < delivery.max_age {
                let wait = retry_after.unwrap_or_else(|| {
                    backoff::delay(
                        item.attempts,
                        delivery.initial_backoff,
                        delivery.max_backoff,
                    )
                });
                let at = crate::domain::timers::after(now, wait);
                tracing::warn!(channel = %item.channel, item = item.id, attempts = item.attempts, error = %error, "delivery failed; will retry");
                outbox::mark_retry(&service.store.pool, item.id, at, &error).await?;
                return Ok(Recorded::Retried);
            }
            format!("gave up after {} attempts: {error}", item.attempts)
        }
    };
    tracing::error!(channel = %item.channel, item = item.id, error = %error, "delivery failed for good");
    let mut tx = service.store.begin().await?;
    outbox::mark_failed(&mut tx, item.id, now, &error).await?;
    audit(&mut tx, item, failed_kind, Some(&error), now).await?;
    tx.commit().await?;
    Ok(Recorded::Failed)
}

async fn audit(
    tx: &mut store::Tx,
    item: &Item,
    kind: &'static str,
    error: Option<&str>,
    now: Time,
) -> store::Result<()> {
    let record = AuditRecord::new(
        kind,
        None,
        json!({"channel": item.channel, "kind": item.kind, "message_id": item.message_id,
               "attempts": item.attempts, "error": error}),
    );
    store::audit::append(tx, Some(&item.escalation_id), now, &[record]).await
}

pub async fn run(service: Service, shutdown: CancellationToken) {
    loop {
        let now = service.now();
        match run_once(&service, now).await {
            Ok(Outcome { more: true, .. }) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "outbox worker step failed; retrying in 1s");
                if !super::timers::pause(&shutdown).await {
                    return;
                }
                continue;
            }
        }
        let next = outbox::next_ready(&service.store.pool)
            .await
            .unwrap_or(None);
        if !super::idle(service.now(), next, service.signals.outbox(), &shutdown).await {
            return;
        }
    }
}
