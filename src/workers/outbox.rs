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

/// Claims every ready item, delivers them concurrently and records the results:
/// whatever has finished by the time one result is in is recorded in one transaction,
/// so a burst of deliveries costs a few commits rather than one each.
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
    while let Some(first) = attempts.join_next().await {
        let mut finished = vec![first];
        while let Some(more) = attempts.try_join_next() {
            finished.push(more);
        }
        let now = service.now();
        // A panicking delivery stays leased and is retried after the lease.
        let judged: Vec<(Item, Recorded)> = finished
            .into_iter()
            .flatten()
            .map(|(item, result)| {
                let recorded = judge(service, &item, result, now);
                (item, recorded)
            })
            .collect();
        record(service, &judged, now).await?;
        for (_, recorded) in &judged {
            match recorded {
                Recorded::Delivered => outcome.delivered += 1,
                Recorded::Retried { .. } => outcome.retried += 1,
                Recorded::Failed { .. } => outcome.failed += 1,
            }
        }
    }
    Ok(outcome)
}

enum Recorded {
    Delivered,
    Retried { at: Time, error: String },
    Failed { error: String },
}

/// What a delivery result means for its item: done, again later (backoff), or given up.
fn judge(service: &Service, item: &Item, result: Delivery, now: Time) -> Recorded {
    let delivery = &service.config.delivery;
    let error = match result {
        Delivery::Delivered => return Recorded::Delivered,
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
                return Recorded::Retried { at, error };
            }
            format!("gave up after {} attempts: {error}", item.attempts)
        }
    };
    tracing::error!(channel = %item.channel, item = item.id, error = %error, "delivery failed for good");
    Recorded::Failed { error }
}

/// Records the results in one transaction, with an audit event for every item delivered
/// or given up.
async fn record(service: &Service, judged: &[(Item, Recorded)], now: Time) -> store::Result<()> {
    let mut tx = service.store.begin().await?;
    let delivered: Vec<i64> = judged
        .iter()
        .filter(|(_, r)| matches!(r, Recorded::Delivered))
        .map(|(item, _)| item.id)
        .collect();
    outbox::mark_delivered(&mut tx, &delivered, now).await?;
    let mut audits = Vec::new();
    for (item, recorded) in judged {
        let (ok_kind, failed_kind) = service
            .notifier
            .channel(&item.channel)
            .map_or(("notified", "notification_failed"), |c| c.audit_kinds());
        match recorded {
            Recorded::Delivered => audits.push((item, audit(item, ok_kind, None))),
            Recorded::Retried { at, error } => {
                outbox::mark_retry(&mut tx, item.id, *at, error).await?;
            }
            Recorded::Failed { error } => {
                outbox::mark_failed(&mut tx, item.id, now, error).await?;
                audits.push((item, audit(item, failed_kind, Some(error))));
            }
        }
    }
    let entries: Vec<_> = audits
        .iter()
        .map(|(item, record)| store::audit::Entry {
            escalation_id: Some(&item.escalation_id),
            at: now,
            records: std::slice::from_ref(record),
        })
        .collect();
    store::audit::append_all(&mut tx, &entries).await?;
    service.store.commit(tx).await?;
    Ok(())
}

fn audit(item: &Item, kind: &'static str, error: Option<&str>) -> AuditRecord {
    AuditRecord::new(
        kind,
        None,
        json!({"channel": item.channel, "kind": item.kind, "message_id": item.message_id,
               "attempts": item.attempts, "error": error}),
    )
}

pub async fn run(service: Service, shutdown: CancellationToken) {
    let s = &service;
    super::run_loop(
        "outbox",
        s.clock.as_ref(),
        s.signals.outbox(),
        &shutdown,
        move || async move {
            // Deciding comes before telling: while the timer worker works through a
            // backlog, deliveries wait (at most 2 s) so both do not contend for two cores.
            s.signals
                .timer_backlog_cleared(Duration::from_secs(2))
                .await;
            Ok(run_once(s, s.now()).await?.more)
        },
        move || outbox::next_ready(&s.store.pool),
    )
    .await
}
