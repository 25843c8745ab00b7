//! What the email channel plans inside the step's transaction: small intents, rendered at
//! delivery from the then-current escalation. Pure: no I/O, `now` comes from the step.

use crate::domain::{Directory, Escalation, NotifyReason, ReviewerId, Time};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Intent {
    /// Ask `reviewer` to decide at `stage`; the links carry `revision` and `issued_at_ms`.
    Request {
        reviewer: ReviewerId,
        stage: usize,
        revision: u32,
        issued_at_ms: i64,
        reason: NotifyReason,
    },
    /// Tell `reviewer`, who was asked, how the escalation ended.
    Outcome { reviewer: ReviewerId },
}

impl Intent {
    pub fn request(
        esc: &Escalation,
        reviewer: &ReviewerId,
        stage: usize,
        reason: NotifyReason,
        now: Time,
    ) -> Self {
        Self::Request {
            reviewer: reviewer.clone(),
            stage,
            revision: esc.revision,
            issued_at_ms: now.timestamp_millis(),
            reason,
        }
    }

    pub fn reviewer(&self) -> &ReviewerId {
        match self {
            Self::Request { reviewer, .. } | Self::Outcome { reviewer } => reviewer,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Request { .. } => "email.request",
            Self::Outcome { .. } => "email.outcome",
        }
    }
}

/// Why a planned request is no longer worth sending, judged at delivery time.
pub fn stale_request(
    esc: &Escalation,
    reviewer: &ReviewerId,
    stage: usize,
    issued_at_ms: i64,
) -> Option<&'static str> {
    if !esc.is_pending() {
        return Some("the escalation was decided before the request went out");
    }
    let Some(state) = esc.stages.get(stage).filter(|_| stage == esc.current_stage) else {
        return Some("the stage closed before the request went out");
    };
    if state
        .started_at
        .is_some_and(|t| t.timestamp_millis() > issued_at_ms)
    {
        return Some("the stage was reopened after the request was planned");
    }
    if state.votes.iter().any(|v| &v.reviewer == reviewer) {
        return Some("the reviewer voted before the request went out");
    }
    None
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
            .filter(|r| state.started_at.is_some() && could_vote(esc, i, r, dir));
        for r in voters.chain(invited) {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
    }
    out
}

fn could_vote(esc: &Escalation, stage: usize, reviewer: &ReviewerId, dir: &Directory) -> bool {
    let Some(profile) = dir.get(reviewer) else {
        return false;
    };
    let Some(spec) = esc.workflow.stages.get(stage) else {
        return false;
    };
    let blocked = esc.workflow.separation_of_duties.block_self_approval
        && dir.is_requester(reviewer, esc.request.requested_by.as_deref());
    let role_ok = spec
        .required_role
        .as_ref()
        .is_none_or(|role| profile.roles.contains(role));
    let dept_ok = spec
        .required_department
        .as_ref()
        .is_none_or(|d| profile.department.as_ref() == Some(d));
    !blocked && role_ok && dept_ok
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
    fn requests_go_stale_when_the_reason_for_them_is_gone() {
        let esc = escalation();
        let alice = ReviewerId::from("alice");
        let issued = t0().timestamp_millis();
        assert_eq!(stale_request(&esc, &alice, 0, issued), None);
        assert!(
            stale_request(&esc, &alice, 1, issued).is_some(),
            "not the current stage"
        );
        assert!(
            stale_request(&esc, &alice, 0, issued - 1).is_some(),
            "planned before the stage (re)opened"
        );
        let later = voted(&esc, approve("alice"), t0());
        assert!(
            stale_request(&later, &alice, 0, issued).is_some(),
            "stage closed"
        );
        let bob = ReviewerId::from("bob");
        assert_eq!(stale_request(&later, &bob, 1, issued), None);
        let done = voted(&later, approve("bob"), t0());
        assert!(stale_request(&done, &bob, 1, issued).is_some(), "decided");
    }
}
