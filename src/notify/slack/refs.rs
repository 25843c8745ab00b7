//! What travels through Slack and the outbox: the reference a button or modal carries,
//! and the small intents planned into outbox rows (rendered only at delivery).

use crate::domain::{Escalation, EscalationId, NotifyReason, Opening, ReviewerId, VoteChoice};
use serde::{Deserialize, Serialize};

/// Which request a button or modal is about: the escalation and the stage opening it
/// was shown (the engine refuses a vote on any other opening as `stale_stage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRef {
    pub escalation: EscalationId,
    pub opening: Opening,
}

impl ActionRef {
    pub fn new(esc: &Escalation, opening: Opening) -> Self {
        Self {
            escalation: esc.id.clone(),
            opening,
        }
    }

    /// `esc_…:stage:round` (stage 0-based).
    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{}",
            self.escalation, self.opening.stage, self.opening.round
        )
    }

    /// Accepts only the shape we hand out; anything else is `None`. The third part is a
    /// raw round: see [`StoredRound`] for values written before rounds existed.
    pub fn parse(s: &str) -> Option<(EscalationId, usize, StoredRound)> {
        let mut parts = s.split(':');
        let escalation = EscalationId::parse(parts.next()?)?;
        let stage = parts.next()?.parse().ok()?;
        let round = StoredRound(parts.next()?.parse().ok()?);
        if parts.next().is_some() {
            return None;
        }
        Some((escalation, stage, round))
    }
}

/// A round as a button value or a `slack_messages` row holds it. Before rounds existed
/// the same place held the stage's `started_at` in ms; such a value (far above any
/// real round) is translated by the escalation itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRound(pub i64);

impl StoredRound {
    pub fn opening(self, esc: &Escalation, stage: usize) -> Opening {
        let round = match u32::try_from(self.0) {
            Ok(round) => round,
            Err(_) => esc.legacy_round_started(stage, self.0),
        };
        Opening { stage, round }
    }
}

/// The buttons of a request message, by `action_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Approve,
    /// Opens the conditions modal.
    ApproveWithConditions,
    /// Opens the deny modal (a reason is required).
    Deny,
    /// Opens the request-changes modal (a comment is required).
    RequestChanges,
}

impl Button {
    pub fn action_id(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::ApproveWithConditions => "approve_conditions",
            Self::Deny => "deny",
            Self::RequestChanges => "request_changes",
        }
    }

    /// The Home tab lists several requests, and Slack wants action ids unique within a
    /// view, so there a button's id carries a suffix: `approve:esc_…`.
    pub fn with_suffix(self, suffix: &str) -> String {
        format!("{}:{suffix}", self.action_id())
    }

    /// A message button's id, or a Home button's (suffix ignored: the value names the request).
    pub fn parse(action_id: &str) -> Option<Self> {
        let action_id = action_id.split_once(':').map_or(action_id, |(a, _)| a);
        [
            Self::Approve,
            Self::ApproveWithConditions,
            Self::Deny,
            Self::RequestChanges,
        ]
        .into_iter()
        .find(|b| b.action_id() == action_id)
    }

    pub fn choice(self) -> VoteChoice {
        match self {
            Self::Approve | Self::ApproveWithConditions => VoteChoice::Approve,
            Self::Deny => VoteChoice::Deny,
            Self::RequestChanges => VoteChoice::RequestChanges,
        }
    }
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
    /// The queues of these reviewers may have changed: republish the Home view of each
    /// who has opened the Home tab.
    Home { reviewers: Vec<ReviewerId> },
    /// Publish this Slack user's Home view (they opened the tab, or clicked in it).
    HomeFor { user: String },
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
        NotifyReason::Revised => "revised",
    }
}

pub fn parse_reason(s: &str) -> NotifyReason {
    match s {
        "delegation" => NotifyReason::Delegation,
        "sla_escalation" => NotifyReason::SlaEscalation,
        "revised" => NotifyReason::Revised,
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
            opening: Opening { stage: 2, round: 3 },
        };
        assert_eq!(
            ActionRef::parse(&r.encode()),
            Some((r.escalation.clone(), 2, StoredRound(3)))
        );
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
        let home = Op::HomeFor {
            user: "UBOB".into(),
        };
        let v = serde_json::to_value(&home).unwrap();
        assert_eq!(
            (v["op"].as_str(), v["user"].as_str()),
            (Some("home_for"), Some("UBOB"))
        );
    }

    #[test]
    fn home_buttons_parse_like_message_buttons() {
        let id = Button::Deny.with_suffix("esc_01ABC");
        assert_eq!(id, "deny:esc_01ABC");
        assert_eq!(Button::parse(&id), Some(Button::Deny));
        assert_eq!(Button::parse("approve"), Some(Button::Approve));
        assert_eq!(Button::parse("nope:approve"), None);
    }
}
