//! The periodic alert checks (`stuck`, `overloaded`, `rejection_rate`), run by the timer
//! worker's step when `alert_checks` says they are due: each reads stored state, fires
//! what is new (once per subject and window) and closes what has cleared, in one
//! transaction that also books the next run, so a restart resumes the schedule.

use crate::config::AlertsConfig;
use crate::domain::Time;
use crate::domain::alerts::{self, AlertKind, REJECTION_SAMPLE, Rejections};
use crate::service::Service;
use crate::store::{self, alerts::Planned, alerts::STUCK_PAGE};
use std::time::Duration;

/// How often the checks run.
pub const EVERY: Duration = Duration::from_secs(60);

/// What one kind's check found: the alerts firing now, and whether the open alerts of
/// that kind not among them may be closed (the check saw everything it looks at).
struct Found {
    kind: AlertKind,
    firing: Vec<alerts::Alert>,
    complete: bool,
}

/// Runs the checks if they are due at `now`; returns how many alerts fired. Nothing
/// happens while `alerts:` is not configured.
pub async fn check_if_due(service: &Service, now: Time) -> store::Result<usize> {
    let Some(config) = &service.config.alerts else {
        return Ok(0);
    };
    if let Some(next) = service.store.next_alert_check().await?
        && next > now
    {
        return Ok(0);
    }
    let found = vec![
        stuck(service, config, now).await?,
        overloaded(service, config, now).await?,
        rejection_rate(service, config, now).await?,
    ];
    let mut tx = service.store.begin().await?;
    let mut fired = 0;
    for f in found {
        let still: Vec<String> = f.firing.iter().map(|a| a.subject.clone()).collect();
        let planned: Vec<Planned> = f
            .firing
            .into_iter()
            .map(|alert| Planned {
                outbox: crate::notify::alerts::plan(&service.config, &alert),
                alert,
            })
            .collect();
        fired += tx.raise_alerts(&planned, now).await?;
        if f.complete {
            tx.resolve_alerts(f.kind, &still, now).await?;
        }
    }
    tx.expire_event_alerts(now).await?;
    tx.schedule_alert_check(crate::domain::timers::after(now, EVERY))
        .await?;
    tx.commit().await?;
    if fired > 0 {
        service.signals.wake_outbox();
    }
    Ok(fired)
}

/// When the timer worker should wake for the checks: `None` while alerts are off.
pub async fn next_check(service: &Service) -> store::Result<Option<Time>> {
    if service.live.load().config.alerts.is_none() {
        return Ok(None);
    }
    // Never run yet: due now.
    Ok(Some(
        service
            .store
            .next_alert_check()
            .await?
            .unwrap_or_else(|| service.now()),
    ))
}

/// Stages open past their SLA deadline by `stuck_after`. A check that is off finds nothing,
/// so its open alerts close.
async fn stuck(service: &Service, config: &AlertsConfig, now: Time) -> store::Result<Found> {
    let mut found = Found {
        kind: AlertKind::Stuck,
        firing: Vec::new(),
        complete: true,
    };
    let Some(after) = config.stuck_after else {
        return Ok(found);
    };
    let cutoff = chrono::Duration::from_std(after)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(now);
    let stages = service.store.stages_past_sla(cutoff).await?;
    // A full page may have left some out: closing what is not in it could be wrong.
    found.complete = stages.len() < STUCK_PAGE as usize;
    found.firing = stages.iter().map(|s| alerts::stuck(s, now)).collect();
    Ok(found)
}

/// Reviewers with at least `max_pending` escalations waiting on them.
async fn overloaded(service: &Service, config: &AlertsConfig, now: Time) -> store::Result<Found> {
    let mut found = Found {
        kind: AlertKind::Overloaded,
        firing: Vec::new(),
        complete: true,
    };
    let Some(max) = config.max_pending else {
        return Ok(found);
    };
    let busy = service.store.reviewers_with_pending(max).await?;
    found.firing = busy
        .iter()
        .map(|(reviewer, n)| alerts::overloaded(reviewer, *n, max, now))
        .collect();
    Ok(found)
}

/// Workflow stages rejecting more than `rejection_rate` of their last 20 decisions.
async fn rejection_rate(
    service: &Service,
    config: &AlertsConfig,
    now: Time,
) -> store::Result<Found> {
    let mut found = Found {
        kind: AlertKind::RejectionRate,
        firing: Vec::new(),
        complete: true,
    };
    let Some(threshold) = config.rejection_rate else {
        return Ok(found);
    };
    for workflow in service.config.workflow_specs() {
        for stage in 0..workflow.stages.len() {
            let outcomes = (service.store)
                .recent_stage_outcomes(&workflow.id, stage, REJECTION_SAMPLE)
                .await?;
            let seen = Rejections {
                rejected: outcomes.iter().filter(|o| *o == "rejected").count(),
                of: outcomes.len(),
            };
            if seen.exceeds(threshold) {
                found.firing.push(alerts::rejection_rate(
                    &workflow.id,
                    stage,
                    seen,
                    threshold,
                    now,
                ));
            }
        }
    }
    Ok(found)
}
