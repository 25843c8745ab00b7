//! Who may vote now (rules 3 and 4), and the refusals a vote can meet, each with its sentence.

use super::escalation::{Escalation, EscalationStatus, VoteChoice};
use super::ids::ReviewerId;
use super::workflow::Directory;

/// Why a vote was not accepted. Nothing changes when a vote is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not in the stage's pool, missing the required role or department, or unknown.
    NotEligible(String),
    SelfApproval,
    SeparationOfDuties(String),
    AlreadyVoted,
    AlreadyDecided(EscalationStatus),
    /// The vote names a stage opening that is no longer the current one.
    StaleStage,
    /// A deny or a request for changes without a comment.
    CommentRequired(VoteChoice),
    Invalid(String),
    /// A revision for an escalation that is not waiting for one (pending: nobody asked).
    ChangesNotRequested,
    /// The workflow's `max_revisions` is used up.
    RevisionsExhausted(u32),
    /// An execution report for an escalation that is not approved.
    NotApproved(EscalationStatus),
    /// An execution was already reported, with a different body.
    AlreadyReported,
}

impl Refusal {
    /// The API's error code (`ErrorCode` in src/http/error.rs lists them all).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotEligible(_) => "not_eligible",
            Self::SelfApproval => "self_approval",
            Self::SeparationOfDuties(_) => "separation_of_duties",
            Self::AlreadyVoted => "already_voted",
            Self::AlreadyDecided(_) => "already_decided",
            Self::StaleStage => "stale_stage",
            Self::CommentRequired(_) | Self::Invalid(_) => "validation",
            Self::ChangesNotRequested => "changes_not_requested",
            Self::RevisionsExhausted(_) => "revisions_exhausted",
            Self::NotApproved(_) => "not_approved",
            Self::AlreadyReported => "already_reported",
        }
    }

    /// A sentence a reviewer can read.
    pub fn message(&self) -> String {
        match self {
            Self::NotEligible(why) => why.clone(),
            Self::SelfApproval => {
                "You requested this action, so you cannot review it (self-approval is blocked)."
                    .into()
            }
            Self::SeparationOfDuties(why) => why.clone(),
            Self::AlreadyVoted => "You have already voted on this stage.".into(),
            Self::AlreadyDecided(status) => {
                format!("This escalation is already decided ({}).", status.as_str())
            }
            Self::StaleStage => {
                "This request belongs to an earlier stage, or an earlier round of review of this stage, that is no longer open; nothing was recorded. Use the newest message."
                    .into()
            }
            Self::CommentRequired(VoteChoice::RequestChanges) => {
                "A request for changes needs a comment saying what should change.".into()
            }
            Self::CommentRequired(_) => "A deny needs a comment explaining why.".into(),
            Self::ChangesNotRequested => {
                "Nobody asked for changes to this escalation, so there is nothing to revise.".into()
            }
            Self::RevisionsExhausted(max) => format!(
                "This escalation was already revised {max} times, the most its workflow allows (max_revisions)."
            ),
            Self::Invalid(why) => why.clone(),
            Self::NotApproved(status) => format!(
                "Only an approved escalation reports an execution; this one is {}.",
                status.as_str()
            ),
            Self::AlreadyReported => {
                "An execution was already reported for this escalation, with a different body."
                    .into()
            }
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// Checks that `reviewer` may cast `choice` at the current stage now.
pub fn check(
    esc: &Escalation,
    dir: &Directory,
    reviewer: &ReviewerId,
    choice: VoteChoice,
) -> Result<(), Refusal> {
    if esc.status == EscalationStatus::ChangesRequested {
        return Err(Refusal::StaleStage);
    }
    if !esc.is_pending() {
        return Err(Refusal::AlreadyDecided(esc.status));
    }
    let Some(profile) = dir.get(reviewer) else {
        return Err(Refusal::NotEligible(format!(
            "{reviewer} is not a configured reviewer."
        )));
    };
    let stage_index = esc.current_stage;
    let stage = &esc.stages[stage_index];
    let spec = &esc.workflow.stages[stage_index];
    let sod = esc.workflow.separation_of_duties;

    if stage.votes.iter().any(|v| &v.reviewer == reviewer) {
        return Err(Refusal::AlreadyVoted);
    }
    if sod.block_self_approval && dir.is_requester(reviewer, esc.request.requested_by.as_deref()) {
        return Err(Refusal::SelfApproval);
    }
    if !stage.pool.contains(reviewer) {
        return Err(Refusal::NotEligible(format!(
            "{} is not among the reviewers of stage {} ({}).",
            profile.name,
            stage_index + 1,
            spec.name
        )));
    }
    if let Some(role) = &spec.required_role
        && !profile.roles.iter().any(|r| r == role)
    {
        return Err(Refusal::NotEligible(format!(
            "Stage {} requires the role {role}.",
            stage_index + 1
        )));
    }
    if let Some(dept) = &spec.required_department
        && profile.department.as_deref() != Some(dept.as_str())
    {
        return Err(Refusal::NotEligible(format!(
            "Stage {} requires a reviewer from {dept}.",
            stage_index + 1
        )));
    }
    if sod.require_different_approvers {
        let earlier =
            esc.stages.iter().enumerate().find(|(i, s)| {
                *i != stage_index && s.votes.iter().any(|v| &v.reviewer == reviewer)
            });
        if let Some((i, _)) = earlier {
            return Err(Refusal::SeparationOfDuties(format!(
                "You already voted at stage {}; each stage needs a different reviewer.",
                i + 1
            )));
        }
    }
    if sod.require_different_departments && choice == VoteChoice::Approve {
        let Some(dept) = profile.department.as_deref() else {
            return Err(Refusal::SeparationOfDuties(
                "Approvers must come from different departments, and you have no department on record.".into(),
            ));
        };
        let clash = esc
            .stages
            .iter()
            .flat_map(|s| s.approvals())
            .filter_map(|v| dir.get(&v.reviewer))
            .any(|other| other.department.as_deref() == Some(dept));
        if clash {
            return Err(Refusal::SeparationOfDuties(format!(
                "Someone from {dept} already approved; approvers must come from different departments."
            )));
        }
    }
    Ok(())
}

/// Whether `reviewer` could ever vote at `stage`, whatever the votes so far: configured,
/// not the requester while self-approval is blocked, and holding the stage's required
/// role and department. Used to tell who was asked once an escalation ends.
pub fn suited(esc: &Escalation, stage: usize, reviewer: &ReviewerId, dir: &Directory) -> bool {
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

/// The reviewers of the current stage's pool who may approve now.
pub fn eligible(esc: &Escalation, dir: &Directory) -> Vec<ReviewerId> {
    // A workflow that decides automatically has no stage, and nobody to wait for.
    let Some(stage) = esc.stages.get(esc.current_stage) else {
        return Vec::new();
    };
    let pool = stage.pool.clone();
    eligible_among(esc, dir, &pool)
}

/// Those of `candidates` who may approve now, in order.
pub fn eligible_among(
    esc: &Escalation,
    dir: &Directory,
    candidates: &[ReviewerId],
) -> Vec<ReviewerId> {
    if !esc.is_pending() {
        return Vec::new();
    }
    candidates
        .iter()
        .filter(|r| check(esc, dir, r, VoteChoice::Approve).is_ok())
        .cloned()
        .collect()
}
