//! What the email channel plans inside the step's transaction: small intents, rendered at
//! delivery from the then-current escalation. Pure: no I/O, `now` comes from the step.

use crate::domain::engine;
use crate::domain::{
    Directory, Escalation, NotifyReason, Opening, Refusal, ReviewerId, Time, VoteChoice,
    eligibility,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Intent {
    /// Ask `reviewer` to decide at one opening of `stage`; the links carry it.
    Request {
        reviewer: ReviewerId,
        stage: usize,
        /// The stage's round; 0 in rows planned before rounds existed (see `issued_at_ms`).
        #[serde(default)]
        round: u32,
        revision: u32,
        /// Only in rows planned before rounds existed: when the request was planned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issued_at_ms: Option<i64>,
        reason: NotifyReason,
    },
    /// Tell `reviewer`, who was asked, how the escalation ended.
    Outcome { reviewer: ReviewerId },
    /// Tell `reviewer`, who was asked, what was executed after the approval (or that
    /// nothing was reported in time).
    Execution { reviewer: ReviewerId },
    /// A web UI sign-in link for `reviewer`, signed at delivery (design.md §8).
    SignIn {
        reviewer: ReviewerId,
        nonce: String,
        expires_at_ms: i64,
    },
}

impl Intent {
    pub fn request(
        esc: &Escalation,
        reviewer: &ReviewerId,
        opening: Opening,
        reason: NotifyReason,
    ) -> Self {
        Self::Request {
            reviewer: reviewer.clone(),
            stage: opening.stage,
            round: opening.round,
            revision: esc.revision,
            issued_at_ms: None,
            reason,
        }
    }

    pub fn reviewer(&self) -> &ReviewerId {
        match self {
            Self::Request { reviewer, .. }
            | Self::Outcome { reviewer }
            | Self::Execution { reviewer }
            | Self::SignIn { reviewer, .. } => reviewer,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Request { .. } => "email.request",
            Self::Outcome { .. } => "email.outcome",
            Self::Execution { .. } => "email.execution",
            Self::SignIn { .. } => "email.sign_in",
        }
    }
}

/// Why a planned request is no longer worth sending, judged at delivery time by the
/// engine: the vote it asks for would be refused now (decided, another opening, already
/// voted, no longer eligible).
pub fn stale_request(
    esc: &Escalation,
    reviewer: &ReviewerId,
    opening: Opening,
    dir: &Directory,
    now: Time,
) -> Option<Refusal> {
    engine::precheck(esc, reviewer, VoteChoice::Approve, Some(opening), dir, now).err()
}

/// Who was asked to review, as far as the state tells: everyone in the pool of a
/// stage that started, less those who could never vote there (the requester
/// under self-approval blocking, a missing required role or department), plus
/// everyone who voted. Derived rather than stored, so planning needs no I/O.
pub fn asked(esc: &Escalation, dir: &Directory) -> Vec<ReviewerId> {
    let mut out: Vec<ReviewerId> = Vec::new();
    for (i, state) in esc.stages.iter().enumerate() {
        let voters = state.votes.iter().map(|v| &v.reviewer);
        let invited = state
            .pool
            .iter()
            .filter(|r| state.started_at.is_some() && eligibility::suited(esc, i, r, dir));
        for r in voters.chain(invited) {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::StageSpec;
    use crate::domain::fixtures::{approve, directory, stage, start, t0, voted, workflow};

    /// Two stages; carol requested it; bob is outside stage 1's department.
    fn escalation() -> Escalation {
        let one = StageSpec {
            required_department: Some("Security".to_owned()),
            ..stage("One", &["alice", "bob", "carol"])
        };
        start(workflow(vec![one, stage("Two", &["bob"])])).escalation
    }

    #[test]
    fn asked_is_who_could_vote_at_a_started_stage() {
        let esc = escalation();
        assert_eq!(asked(&esc, &directory()), vec![ReviewerId::from("alice")]);
        let esc = voted(&esc, approve("alice"), t0());
        let esc = voted(&esc, approve("bob"), t0());
        assert!(!esc.is_pending());
        assert_eq!(
            asked(&esc, &directory()),
            vec![ReviewerId::from("alice"), ReviewerId::from("bob")]
        );
    }

    #[test]
    fn requests_go_stale_when_the_engine_would_refuse_their_vote() {
        let esc = escalation();
        let alice = ReviewerId::from("alice");
        let first = Opening { stage: 0, round: 1 };
        let stale = |esc: &Escalation, who: &ReviewerId, opening| {
            stale_request(esc, who, opening, &directory(), t0())
        };
        assert_eq!(stale(&esc, &alice, first), None);
        assert_eq!(
            stale(&esc, &alice, Opening { stage: 1, round: 1 }),
            Some(Refusal::StaleStage),
            "not the current stage"
        );
        assert_eq!(
            stale(&esc, &alice, Opening { stage: 0, round: 2 }),
            Some(Refusal::StaleStage),
            "another opening of the stage"
        );
        let later = voted(&esc, approve("alice"), t0());
        assert_eq!(stale(&later, &alice, first), Some(Refusal::StaleStage));
        let bob = ReviewerId::from("bob");
        let second = Opening { stage: 1, round: 1 };
        assert_eq!(stale(&later, &bob, second), None);
        let done = voted(&later, approve("bob"), t0());
        assert!(matches!(
            stale(&done, &bob, second),
            Some(Refusal::AlreadyDecided(_))
        ));
    }

    #[test]
    fn rows_from_before_rounds_name_their_opening_by_when_they_were_planned() {
        let mut esc = escalation();
        esc.stages[0].round = 0;
        esc.upgrade_stored();
        let issued = t0().timestamp_millis();
        assert_eq!(esc.opening_issued(0, 0, Some(issued)).round, 1);
        assert_eq!(
            esc.opening_issued(0, 0, Some(issued - 1)).round,
            0,
            "planned before the opening"
        );
        assert_eq!(esc.opening_issued(0, 4, None).round, 4);
    }
}
