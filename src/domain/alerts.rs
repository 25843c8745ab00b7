//! Alerts (design.md §8): what fires, about what, in which deduplication window, with
//! which words and figures. Pure: the timer worker and the store hand it stored state and
//! `now`; the store's UNIQUE (kind, subject, window_start) makes each fire once.

use super::Time;
use super::facts::{ExecutionFact, ExecutionResult};
use super::ids::EscalationId;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Closed openings a stage's rejection rate is taken over; no alert before it has this many.
pub const REJECTION_SAMPLE: usize = 20;

/// How long an event alert (`execution_mismatch`, `delivery_failed`) stays open: nothing
/// later clears the event itself, so it leaves the open list when its day is over.
pub const EVENT_OPEN_MS: i64 = 24 * 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    Stuck,
    Overloaded,
    RejectionRate,
    ExecutionMismatch,
    DeliveryFailed,
}

impl AlertKind {
    pub const ALL: [AlertKind; 5] = [
        Self::Stuck,
        Self::Overloaded,
        Self::RejectionRate,
        Self::ExecutionMismatch,
        Self::DeliveryFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stuck => "stuck",
            Self::Overloaded => "overloaded",
            Self::RejectionRate => "rejection_rate",
            Self::ExecutionMismatch => "execution_mismatch",
            Self::DeliveryFailed => "delivery_failed",
        }
    }

    /// A headline for people.
    pub fn title(self) -> &'static str {
        match self {
            Self::Stuck => "Stage stuck past its SLA",
            Self::Overloaded => "Reviewer overloaded",
            Self::RejectionRate => "High rejection rate",
            Self::ExecutionMismatch => "Execution did not match the approval",
            Self::DeliveryFailed => "Delivery given up",
        }
    }
}

/// One alert as it would fire now: the row (once per kind, subject and window) and what
/// its messages say.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub kind: AlertKind,
    /// What it is about; with `kind` and `window_start`, its identity.
    pub subject: String,
    pub window_start: Time,
    pub escalation_id: Option<EscalationId>,
    /// One sentence for people. May quote agent text: channels escape it.
    pub message: String,
    /// The figures that made it fire.
    pub data: Value,
}

/// The UTC day `t` falls in: the window of alerts that fire at most once a day.
pub fn day_start(t: Time) -> Time {
    let ms = t.timestamp_millis();
    let day = ms - ms.rem_euclid(24 * 3_600_000);
    DateTime::<Utc>::from_timestamp_millis(day).unwrap_or(t)
}

/// The subject of a stage opening: escalation, 1-based stage, round.
pub fn stuck_subject(id: &EscalationId, stage: usize, round: u32) -> String {
    format!("{id}/stage/{}/round/{round}", stage + 1)
}

/// A workflow stage (1-based), the subject of a rejection-rate alert.
pub fn stage_subject(workflow: &str, stage: usize) -> String {
    format!("{workflow}/stage/{}", stage + 1)
}

/// An open stage as the stuck check reads it (0-based stage).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenStage {
    pub escalation_id: EscalationId,
    pub stage: usize,
    pub round: u32,
    pub opened_at: Time,
    pub sla_deadline: Time,
}

/// A stage open past its SLA deadline: once per opening (the window is its opening).
pub fn stuck(open: &OpenStage, now: Time) -> Alert {
    let late = (now - open.sla_deadline).to_std().unwrap_or_default();
    let late = humantime::format_duration(std::time::Duration::from_secs(late.as_secs()));
    Alert {
        kind: AlertKind::Stuck,
        subject: stuck_subject(&open.escalation_id, open.stage, open.round),
        window_start: open.opened_at,
        escalation_id: Some(open.escalation_id.clone()),
        message: format!(
            "Stage {} of {} has been open {late} past its SLA deadline.",
            open.stage + 1,
            open.escalation_id
        ),
        data: json!({
            "stage": open.stage + 1,
            "round": open.round,
            "opened_at": open.opened_at.to_rfc3339(),
            "sla_deadline": open.sla_deadline.to_rfc3339(),
            "late_seconds": (now - open.sla_deadline).num_seconds().max(0),
        }),
    }
}

/// A reviewer with at least `max` escalations waiting on them: once per reviewer per day.
pub fn overloaded(reviewer: &str, pending: i64, max: u32, now: Time) -> Alert {
    Alert {
        kind: AlertKind::Overloaded,
        subject: reviewer.to_owned(),
        window_start: day_start(now),
        escalation_id: None,
        message: format!("{reviewer} has {pending} escalations waiting on them (threshold {max})."),
        data: json!({"reviewer": reviewer, "pending": pending, "max_pending": max}),
    }
}

/// How a stage's latest closed openings ended: `rejected` of `of`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rejections {
    pub rejected: usize,
    pub of: usize,
}

impl Rejections {
    pub fn rate(self) -> f64 {
        if self.of == 0 {
            0.0
        } else {
            self.rejected as f64 / self.of as f64
        }
    }

    /// Over `threshold`, once a full sample exists.
    pub fn exceeds(self, threshold: f64) -> bool {
        self.of >= REJECTION_SAMPLE && self.rate() > threshold
    }
}

/// A workflow stage rejecting more than `threshold` of its last openings: once per stage per day.
pub fn rejection_rate(
    workflow: &str,
    stage: usize,
    seen: Rejections,
    threshold: f64,
    now: Time,
) -> Alert {
    Alert {
        kind: AlertKind::RejectionRate,
        subject: stage_subject(workflow, stage),
        window_start: day_start(now),
        escalation_id: None,
        message: format!(
            "Stage {} of workflow {workflow} rejected {} of its last {} decisions ({:.0}%, threshold {:.0}%).",
            stage + 1,
            seen.rejected,
            seen.of,
            seen.rate() * 100.0,
            threshold * 100.0
        ),
        data: json!({
            "workflow": workflow,
            "stage": stage + 1,
            "rejected": seen.rejected,
            "of": seen.of,
            "rate": seen.rate(),
            "threshold": threshold,
        }),
    }
}

/// An execution reported with another payload or a broken constraint: once per escalation.
/// `None` for an execution that matched or went unreported.
pub fn execution_mismatch(id: &EscalationId, summary: &str, fact: &ExecutionFact) -> Option<Alert> {
    let what = match fact.result {
        ExecutionResult::Mismatched => "with another payload than the one approved",
        ExecutionResult::Violated => "breaking a constraint of the approval",
        ExecutionResult::Matched | ExecutionResult::Unreported => return None,
    };
    Some(Alert {
        kind: AlertKind::ExecutionMismatch,
        subject: id.to_string(),
        window_start: DateTime::<Utc>::UNIX_EPOCH,
        escalation_id: Some(id.clone()),
        message: format!("{id} was executed {what}: {summary}"),
        data: json!({
            "result": fact.result.as_str(),
            "workflow": fact.workflow,
            "intent": fact.intent,
            "summary": summary,
        }),
    })
}

/// An outbox item given up for good: once per item.
pub struct GivenUp<'a> {
    pub item: i64,
    pub escalation_id: Option<EscalationId>,
    pub channel: &'a str,
    pub kind: &'a str,
    pub destination: &'a str,
    pub attempts: i64,
    pub error: &'a str,
}

pub fn delivery_failed(g: &GivenUp<'_>) -> Alert {
    let about = g
        .escalation_id
        .as_ref()
        .map(|id| format!(" for {id}"))
        .unwrap_or_default();
    Alert {
        kind: AlertKind::DeliveryFailed,
        subject: format!("outbox/{}", g.item),
        window_start: DateTime::<Utc>::UNIX_EPOCH,
        escalation_id: g.escalation_id.clone(),
        message: format!(
            "A {} {}{about} to {} was given up after {} attempts: {}",
            g.channel, g.kind, g.destination, g.attempts, g.error
        ),
        data: json!({
            "item": g.item,
            "channel": g.channel,
            "kind": g.kind,
            "destination": g.destination,
            "attempts": g.attempts,
            "error": g.error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_day_window_starts_at_utc_midnight() {
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 17, 5, 9).unwrap();
        let day = Utc.with_ymd_and_hms(2026, 3, 4, 0, 0, 0).unwrap();
        assert_eq!(day_start(t), day);
        assert_eq!(day_start(day), day);
    }

    #[test]
    fn rejection_rate_needs_a_full_sample_and_more_than_the_threshold() {
        let r = |rejected, of| Rejections { rejected, of };
        assert!(!r(19, 19).exceeds(0.5), "fewer than 20 never fires");
        assert!(
            !r(10, 20).exceeds(0.5),
            "exactly the threshold is not over it"
        );
        assert!(r(11, 20).exceeds(0.5));
        assert!(r(20, 20).exceeds(0.99));
    }

    #[test]
    fn only_a_broken_execution_is_a_mismatch() {
        let id = EscalationId("esc_1".into());
        let fact = |result| ExecutionFact {
            workflow: "w".into(),
            intent: "i".into(),
            result,
            at: Utc.timestamp_millis_opt(0).unwrap(),
        };
        for (result, fires) in [
            (ExecutionResult::Matched, false),
            (ExecutionResult::Unreported, false),
            (ExecutionResult::Mismatched, true),
            (ExecutionResult::Violated, true),
        ] {
            assert_eq!(execution_mismatch(&id, "s", &fact(result)).is_some(), fires);
        }
    }

    #[test]
    fn stuck_is_once_per_opening() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 4, 9, 0, 0).unwrap();
        let open = OpenStage {
            escalation_id: EscalationId("esc_1".into()),
            stage: 1,
            round: 2,
            opened_at: t0,
            sla_deadline: t0 + chrono::Duration::minutes(30),
        };
        let a = stuck(&open, t0 + chrono::Duration::hours(1));
        assert_eq!(a.subject, "esc_1/stage/2/round/2");
        assert_eq!(a.window_start, t0);
        assert_eq!(a.data["late_seconds"], 1800);
    }
}
