//! Timers derived from an escalation's state: the next delegation tier, the SLA and the timeout.
//! The store keeps them as rows, so a restart resumes them; the engine re-derives them after every step.

use super::Time;
use super::escalation::{Escalation, StageStatus};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    Delegation,
    Sla,
    Timeout,
    /// An approval's receipt expires: marked `unreported` if no execution report came.
    Execution,
}

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delegation => "delegation",
            Self::Sla => "sla",
            Self::Timeout => "timeout",
            Self::Execution => "execution",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub kind: TimerKind,
    /// 0-based stage for stage timers.
    pub stage: Option<usize>,
    pub due: Time,
}

/// The timers an escalation needs armed: while pending, its stage timers and timeout;
/// once approved, the receipt's expiry until the execution is reported.
pub fn derive(esc: &Escalation) -> Vec<Timer> {
    if super::execution::awaits_report(esc) {
        return esc
            .execute_by()
            .map(|due| Timer {
                kind: TimerKind::Execution,
                stage: None,
                due,
            })
            .into_iter()
            .collect();
    }
    if !esc.is_pending() {
        return Vec::new();
    }
    let mut timers = vec![Timer {
        kind: TimerKind::Timeout,
        stage: None,
        due: esc.expires_at,
    }];
    let index = esc.current_stage;
    let stage = &esc.stages[index];
    let spec = &esc.workflow.stages[index];
    if let (true, Some(started)) = (stage.status.is_open(), stage.started_at) {
        if let Some(tier) = spec.delegation.get(stage.tiers_applied) {
            timers.push(Timer {
                kind: TimerKind::Delegation,
                stage: Some(index),
                due: after(started, tier.after),
            });
        }
        if let (StageStatus::Pending, Some(sla)) = (stage.status, stage.sla_deadline) {
            timers.push(Timer {
                kind: TimerKind::Sla,
                stage: Some(index),
                due: sla,
            });
        }
    }
    // Nothing fires after the timeout; leave those out so the worker never wakes for them.
    let timeout = esc.expires_at;
    timers.retain(|t| t.kind == TimerKind::Timeout || t.due < timeout);
    timers
}

/// Compared at millisecond precision, the precision timers are stored at, so a
/// row the store finds due is due for the engine too.
pub fn is_due(due: Time, now: Time) -> bool {
    due.timestamp_millis() <= now.timestamp_millis()
}

/// `start + d`, saturating: an absurd duration means "never", not a panic.
pub fn after(start: Time, d: Duration) -> Time {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| start.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}
