//! What travels through Slack and the outbox: the reference a button or modal carries,
//! and the small intents planned into outbox rows (rendered only at delivery).

use crate::domain::{Escalation, EscalationId, NotifyReason, ReviewerId};
use serde::{Deserialize, Serialize};

/// Which request a button or modal is about: escalation, stage (0-based) and round
/// (the stage's `started_at` in ms, so a stage reopened by a rollback is a new round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRef {
    pub escalation: EscalationId,
    pub stage: usize,
    pub round: i64,
}

impl ActionRef {
    pub fn new(esc: &Escalation, stage: usize) -> Self {
        Self {
            escalation: esc.id.clone(),
            stage,
            round: round(esc, stage),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}:{}:{}", self.escalation, self.stage, self.round)
    }

    /// Accepts only the shape we hand out; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split(':');
        let escalation = EscalationId::parse(parts.next()?)?;
        let stage = parts.next()?.parse().ok()?;
        let round = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            escalation,
            stage,
            round,
        })
    }

    /// Is this still the open round of the escalation's current stage?
    pub fn is_live(&self, esc: &Escalation) -> bool {
        esc.is_pending()
            && esc.current_stage == self.stage
            && esc.current().status.is_open()
            && round(esc, self.stage) == self.round
    }
}

/// The round of a stage: when it (last) started, in ms; 0 if it never did.
pub fn round(esc: &Escalation, stage: usize) -> i64 {
    esc.stages
        .get(stage)
        .and_then(|s| s.started_at)
        .map_or(0, |t| t.timestamp_millis())
}

/// An outbox row's payload. Small on purpose: the message is rendered from the
/// escalation as it is when the row is delivered, so it is never stale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Ask for a review: a DM to one reviewer, or one post in the stage's channel.
    Post {
        stage: usize,
        round: i64,
        reason: NotifyReason,
        to: Target,
    },
    /// Re-render every message sent for the escalation and update those that changed.
    Sync,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Reviewer(ReviewerId),
    Channel(String),
}

pub fn reason_str(reason: NotifyReason) -> &'static str {
    match reason {
        NotifyReason::StageStarted => "stage_started",
        NotifyReason::Delegation => "delegation",
        NotifyReason::SlaEscalation => "sla_escalation",
    }
}

pub fn parse_reason(s: &str) -> NotifyReason {
    match s {
        "delegation" => NotifyReason::Delegation,
        "sla_escalation" => NotifyReason::SlaEscalation,
        _ => NotifyReason::StageStarted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_refs_round_trip_and_reject_junk() {
        let r = ActionRef {
            escalation: EscalationId::generate(),
            stage: 2,
            round: 1_700_000_000_123,
        };
        assert_eq!(ActionRef::parse(&r.encode()), Some(r.clone()));
        for junk in [
            "",
            "esc_x:0:1",
            &format!("{}:0", r.escalation),
            &format!("{}:0:1:2", r.escalation),
            &format!("{}:-1:1", r.escalation),
            &format!("{}:99999999999999999999:1", r.escalation),
        ] {
            assert_eq!(ActionRef::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn ops_are_small_json() {
        let op = Op::Post {
            stage: 0,
            round: 5,
            reason: NotifyReason::Delegation,
            to: Target::Reviewer("bob".into()),
        };
        let v = serde_json::to_value(&op).unwrap();
        assert_eq!(v["op"], "post");
        assert_eq!(v["to"]["reviewer"], "bob");
        assert_eq!(serde_json::from_value::<Op>(v).unwrap(), op);
        assert_eq!(serde_json::to_value(Op::Sync).unwrap()["op"], "sync");
    }
}
