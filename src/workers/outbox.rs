//! The outbox worker: delivers due items through their channel, records the result, retries with backoff.
//!
//! Deliveries run concurrently, at most [`PER_DESTINATION`] at a time to one destination
//! (a callback receiver's `host:port`, the SMTP server, the Slack Web API), so a peer
//! that hangs holds up only its own items: items of a saturated destination are not
//! claimed and hold no lease. Every attempt has a deadline. Decisions to agents are
//! claimed before notifications.

use crate::domain::{AuditKind, AuditRecord, ChannelKind, EscalationId, Time, alerts};
use crate::notify::{self, Delivery, backoff};
use crate::service::Service;
use crate::store;
use crate::store::alerts::Planned;
use crate::store::outbox::{Claim, Item};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

/// Items one step of [`run_once`] claims at most.
const BATCH: usize = 64;
/// Attempts in flight at once, over all destinations, in the long-running loop.
const MAX_IN_FLIGHT: usize = 256;
/// Attempts in flight to one destination: enough to keep a healthy peer busy, few
/// enough that a dead one ties up little.
pub const PER_DESTINATION: usize = 8;
/// How long a claimed item stays invisible (at least; see [`lease`]); a crash
/// mid-delivery retries it after this, or at once when the next process starts (see [`crate::store::Store::owner`]).
const LEASE: Duration = Duration::from_secs(120);
/// How often the loop looks again when ready items wait on something other than a
/// timer (an earlier item of their ordering key, a busy destination).
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
    pub more: bool,
}

impl Outcome {
    fn add(&mut self, other: &Outcome) {
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.failed += other.failed;
    }
}

/// One step: claims what is ready at `now` (within the per-destination bound), delivers
/// it concurrently and records the results. Whatever has finished by the time one result
/// is in is recorded in one transaction, so a burst of deliveries costs a few commits.
/// `more` says ready items were left for the next step.
pub async fn run_once(service: &Service, now: Time) -> store::Result<Outcome> {
    let mut deliveries = Deliveries::new(service);
    let more = deliveries.fill(now, BATCH).await?;
    let mut outcome = Outcome {
        more,
        ..Outcome::default()
    };
    while let Some(finished) = deliveries.attempts.join_next_with_id().await {
        outcome.add(&deliveries.settle(finished).await?);
    }
    Ok(outcome)
}

type Attempt = (Item, Delivery);

/// Attempts in flight, counted per destination.
struct Deliveries<'a> {
    service: &'a Service,
    attempts: JoinSet<Attempt>,
    /// The destination of each running attempt (a panicked task returns no item).
    running: HashMap<tokio::task::Id, String>,
    busy: HashMap<String, usize>,
}

impl<'a> Deliveries<'a> {
    fn new(service: &'a Service) -> Self {
        Self {
            service,
            attempts: JoinSet::new(),
            running: HashMap::new(),
            busy: HashMap::new(),
        }
    }

    /// Claims ready items until `limit` attempts run, nothing is ready, or every ready
    /// item's destination is saturated; starts an attempt for each. Returns whether ready
    /// items may have been left behind (the limit was reached or a destination is full).
    async fn fill(&mut self, now: Time, limit: usize) -> store::Result<bool> {
        loop {
            let room = limit.saturating_sub(self.attempts.len());
            if room == 0 {
                return Ok(true);
            }
            let saturated: Vec<String> = self
                .busy
                .iter()
                .filter(|(_, n)| **n >= PER_DESTINATION)
                .map(|(d, _)| d.clone())
                .collect();
            let mut counts = self.busy.clone();
            let claim = Claim {
                now,
                limit: room,
                lease: lease(self.service),
                owner: self.service.store.owner(),
                saturated: &saturated,
            };
            let items = self
                .service
                .store
                .claim_outbox(claim, |destination| {
                    let n = counts.entry(destination.to_owned()).or_default();
                    *n += 1;
                    *n <= PER_DESTINATION
                })
                .await?;
            // Nothing taken: nothing ready outside the saturated destinations (a claim
            // that fills a destination up takes at least one of its items).
            if items.is_empty() {
                return Ok(!saturated.is_empty());
            }
            for item in items {
                self.start(item);
            }
        }
    }

    fn start(&mut self, item: Item) {
        *self.busy.entry(item.destination.clone()).or_default() += 1;
        let destination = item.destination.clone();
        let channel = self
            .service
            .notifier
            .channel(ChannelKind::parse(&item.channel))
            .cloned();
        let deadline = attempt_deadline(self.service);
        let handle = self.attempts.spawn(async move {
            let result = match &channel {
                Some(c) => match tokio::time::timeout(deadline, c.deliver(&item)).await {
                    Ok(result) => result,
                    Err(_) => {
                        let error = format!(
                            "the delivery attempt did not finish within {}ms",
                            deadline.as_millis()
                        );
                        tracing::warn!(channel = %item.channel, item = item.id, destination = %item.destination, "delivery deadline hit");
                        Delivery::Retry {
                            error,
                            retry_after: None,
                        }
                    }
                },
                None => Delivery::Failed {
                    error: format!("channel {} is not enabled", item.channel),
                },
            };
            (item, result)
        });
        self.running.insert(handle.id(), destination);
    }

    /// Records `first` and every other attempt finished by now, in one transaction.
    async fn settle(
        &mut self,
        first: Result<(tokio::task::Id, Attempt), JoinError>,
    ) -> store::Result<Outcome> {
        let mut finished = Vec::new();
        let mut next = Some(first);
        while let Some(joined) = next {
            let id = match &joined {
                Ok((id, _)) => *id,
                Err(e) => e.id(),
            };
            if let Some(destination) = self.running.remove(&id) {
                self.release(&destination);
            }
            // A panicking delivery stays leased and is retried after the lease.
            if let Ok((_, attempt)) = joined {
                finished.push(attempt);
            }
            next = self.attempts.try_join_next_with_id();
        }
        let now = self.service.now();
        let judged: Vec<(Item, Recorded)> = finished
            .into_iter()
            .map(|(item, result)| {
                let recorded = judge(self.service, &item, result, now);
                (item, recorded)
            })
            .collect();
        record(self.service, &judged, now).await?;
        let mut outcome = Outcome::default();
        for (_, recorded) in &judged {
            match recorded {
                Recorded::Delivered => outcome.delivered += 1,
                Recorded::Retried { .. } => outcome.retried += 1,
                Recorded::Failed { .. } => outcome.failed += 1,
            }
        }
        Ok(outcome)
    }

    fn release(&mut self, destination: &str) {
        if let Some(n) = self.busy.get_mut(destination) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.busy.remove(destination);
            }
        }
    }
}

/// The backstop on one whole attempt: a channel bounds each of its calls by
/// `delivery.timeout`, and one attempt makes a few (a Slack DM looks the user up, opens
/// the conversation, then posts).
fn attempt_deadline(service: &Service) -> Duration {
    // The worker's handle lives as long as the process: `delivery` is read as reloaded.
    let config = service.live.load().config.clone();
    config.delivery.timeout.saturating_mul(4)
}

/// The lease outlasts the attempt's deadline, so a live attempt is never claimed twice.
fn lease(service: &Service) -> Duration {
    LEASE.max(attempt_deadline(service) + Duration::from_secs(30))
}

enum Recorded {
    Delivered,
    Retried { at: Time, error: String },
    Failed { error: String },
}

/// What a delivery result means for its item: done, again later (backoff), or given up.
fn judge(service: &Service, item: &Item, result: Delivery, now: Time) -> Recorded {
    let config = service.live.load().config.clone();
    let delivery = &config.delivery;
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
    tx.outbox_delivered(&delivered, now).await?;
    let mut audits = Vec::new();
    for (item, recorded) in judged {
        let channel = service.notifier.channel(ChannelKind::parse(&item.channel));
        let (ok_kind, failed_kind) = channel
            .map_or((AuditKind::Notified, AuditKind::NotificationFailed), |c| {
                c.audit_kinds()
            });
        let audited = channel.is_none_or(|c| c.audited(item));
        match recorded {
            Recorded::Delivered if audited => audits.push((item, audit(item, ok_kind, None))),
            Recorded::Delivered => {}
            Recorded::Retried { at, error } => {
                tx.outbox_retry(item.id, *at, error).await?;
            }
            Recorded::Failed { error } => {
                tx.outbox_failed(item.id, now, error).await?;
                if audited {
                    audits.push((item, audit(item, failed_kind, Some(error))));
                }
            }
        }
    }
    let entries: Vec<_> = audits
        .iter()
        .map(|(item, record)| store::audit::Entry {
            // A sign-in mail or an alert about no escalation has none (its row's escalation is empty).
            escalation_id: Some(item.escalation_id.as_str()).filter(|id| !id.is_empty()),
            at: now,
            records: std::slice::from_ref(record),
        })
        .collect();
    tx.append_audit(&entries).await?;
    let alerts = given_up_alerts(service, judged);
    tx.raise_alerts(&alerts, now).await?;
    tx.commit().await?;
    if !alerts.is_empty() {
        service.signals.wake_outbox();
    }
    Ok(())
}

/// A `delivery_failed` alert for each item given up, in the transaction that marks it
/// failed. An alert's own message given up raises none, so a dead alert channel cannot loop.
fn given_up_alerts(service: &Service, judged: &[(Item, Recorded)]) -> Vec<Planned> {
    let config = service.live.load().config.clone();
    if config.alerts.is_none() {
        return Vec::new();
    }
    judged
        .iter()
        .filter(|(item, _)| !notify::alerts::is_alert(&item.kind))
        .filter_map(|(item, recorded)| match recorded {
            Recorded::Failed { error } => Some(alerts::delivery_failed(&alerts::GivenUp {
                item: item.id,
                escalation_id: EscalationId::parse(&item.escalation_id),
                channel: &item.channel,
                kind: &item.kind,
                destination: &item.destination,
                attempts: item.attempts,
                error,
            })),
            _ => None,
        })
        .map(|alert| Planned {
            outbox: notify::alerts::plan(&config, &alert),
            alert,
        })
        .collect()
}

fn audit(item: &Item, kind: AuditKind, error: Option<&str>) -> AuditRecord {
    AuditRecord::new(
        kind,
        None,
        json!({"channel": item.channel, "kind": item.kind, "message_id": item.message_id,
               "attempts": item.attempts, "error": error}),
    )
}

/// The long-running dispatcher: keeps claiming ready items while earlier attempts run,
/// so a slow destination never holds up the claiming of others' items.
pub async fn run(service: Service, shutdown: CancellationToken) {
    let s = &service;
    match s.store.release_leases(s.store.owner(), s.now()).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(items = n, "released the outbox leases of a stopped process");
        }
        Err(e) => tracing::error!(error = %e, "could not release stale outbox leases"),
    }
    let mut deliveries = Deliveries::new(s);
    while !shutdown.is_cancelled() {
        // Deciding comes before telling: while the timer worker works through a
        // backlog, new claims wait (at most 2 s) so both do not contend for two cores.
        s.signals
            .timer_backlog_cleared(Duration::from_secs(2))
            .await;
        let wait = match deliveries.fill(s.now(), MAX_IN_FLIGHT).await {
            Ok(_) => idle_wait(s).await,
            Err(e) => {
                tracing::error!(worker = "outbox", error = %e, "claiming failed; retrying in 1s");
                POLL
            }
        };
        let finished = tokio::select! {
            Some(finished) = deliveries.attempts.join_next_with_id() => Some(finished),
            _ = tokio::time::sleep(wait) => None,
            _ = s.signals.outbox().notified() => None,
            _ = shutdown.cancelled() => break,
        };
        if let Some(finished) = finished
            && let Err(e) = deliveries.settle(finished).await
        {
            tracing::error!(worker = "outbox", error = %e, "recording deliveries failed");
        }
    }
    // Attempts still running are dropped; their leases are ours, and the next start
    // releases them at once.
    let abandoned = deliveries.attempts.len();
    deliveries.attempts.abort_all();
    if abandoned > 0 {
        tracing::info!(
            attempts = abandoned,
            "outbox stopped with deliveries in flight; they go out after the restart"
        );
    }
}

/// How long to wait for a completion or a wake-up before claiming again: until the next
/// item falls due, or [`POLL`] when ready items are held back by their ordering key or a
/// busy destination (a completion ends the wait early anyway).
async fn idle_wait(s: &Service) -> Duration {
    let next = s.store.next_outbox_ready().await.unwrap_or(None);
    let Some(next) = next else {
        return super::MAX_IDLE;
    };
    match (next - s.now()).to_std() {
        Ok(d) if !d.is_zero() => d.min(super::MAX_IDLE),
        _ => POLL,
    }
}
