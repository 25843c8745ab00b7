//! Property test for the engine: random workflows and event sequences, with the rules checked after every step.

use super::engine::{self, Event, NewEscalation};
use super::fixtures::{new_escalation, request, rid, t0};
use super::{
    Decider, DelegationTier, Directory, Escalation, EscalationStatus, OnDeny, Opening, Outcome,
    ReviewerId, ReviewerProfile, SeparationOfDuties, StageSpec, StageStatus, TimeoutAction,
    VoteChannel, VoteChoice, VoteInput, WorkflowSpec, eligibility, timers,
};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use std::time::Duration;

/// Six reviewers to draw pools from; index 6 in a vote means an unknown reviewer.
const IDS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
const ROLES: [&str; 3] = ["analyst", "senior", "exec"];
const DEPTS: [&str; 3] = ["Security", "Engineering", "Finance"];
const CONDITIONS: [&str; 5] = ["A", " A ", "B", "", "C"];

/// Who casts a vote: anyone (mostly refused), or one of those eligible now, so that
/// workflows actually run to their end instead of stalling on refusals.
#[derive(Debug, Clone, Copy)]
enum Voter {
    Anyone(usize),
    Eligible(usize),
}

#[derive(Debug, Clone)]
enum Action {
    Vote {
        voter: Voter,
        choice: VoteChoice,
        comment: Option<&'static str>,
        conditions: Vec<&'static str>,
        /// The opening the vote names: `None` the current one (API), `Some` as a Slack
        /// button or email link carries it — `(stage, round)` may be any, stale or not.
        opening: Option<(usize, u32)>,
    },
    Tick,
    Cancel,
    /// The agent resubmits, with this amount in the payload.
    Revise(u8),
}

#[derive(Debug, Clone)]
struct Scenario {
    people: Vec<ReviewerProfile>,
    workflow: WorkflowSpec,
    requested_by: Option<&'static str>,
    deadline_mins: Option<u64>,
    /// Each event comes this many milliseconds after the previous one.
    events: Vec<(u64, Action)>,
}

fn ids(names: Vec<&str>) -> Vec<ReviewerId> {
    names.into_iter().map(rid).collect()
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

fn people() -> impl Strategy<Value = Vec<ReviewerProfile>> {
    let person = (
        subsequence(ROLES.to_vec(), 0..=2),
        prop::option::weighted(0.85, select(DEPTS.to_vec())),
    );
    prop::collection::vec(person, IDS.len()).prop_map(|traits| {
        IDS.iter()
            .zip(traits)
            .map(|(id, (roles, department))| ReviewerProfile {
                id: rid(id),
                name: id.to_string(),
                email: format!("{id}@example.com"),
                roles: roles.into_iter().map(str::to_owned).collect(),
                department: department.map(str::to_owned),
                admin: false,
            })
            .collect()
    })
}

fn stage_spec() -> impl Strategy<Value = StageSpec> {
    let tier = (1u64..=60, subsequence(IDS.to_vec(), 1..=3));
    (
        subsequence(IDS.to_vec(), 1..=4),
        prop_oneof![3 => Just(1u32), 1 => 1u32..=3],
        prop::option::of(1u64..=60),
        prop::option::weighted(0.2, select(ROLES.to_vec())),
        prop::option::weighted(0.15, select(DEPTS.to_vec())),
        subsequence(IDS.to_vec(), 0..=2),
        prop::collection::vec(tier, 0..=2),
        any::<bool>(),
    )
        .prop_map(
            |(approvers, k, sla, role, dept, target, mut tiers, rollback)| {
                // Config keeps tiers in order of `after`.
                tiers.sort_by_key(|(after, _)| *after);
                StageSpec {
                    name: "stage".to_owned(),
                    approvers: ids(approvers),
                    required_approvals: k,
                    sla: sla.map(minutes),
                    required_role: role.map(str::to_owned),
                    required_department: dept.map(str::to_owned),
                    escalation_target: ids(target),
                    delegation: tiers
                        .into_iter()
                        .map(|(after, approvers)| DelegationTier {
                            after: minutes(after),
                            approvers: ids(approvers),
                        })
                        .collect(),
                    slack_channel: None,
                    on_deny: if rollback {
                        OnDeny::Rollback
                    } else {
                        OnDeny::Terminate
                    },
                }
            },
        )
}

fn workflow_spec() -> impl Strategy<Value = WorkflowSpec> {
    let sod = (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(0u32), 0u32..=4],
    )
        .prop_map(
            |(block, different, departments, minimum)| SeparationOfDuties {
                block_self_approval: block,
                require_different_approvers: different,
                require_different_departments: departments,
                minimum_unique_approvers: minimum,
            },
        );
    (
        prop::collection::vec(stage_spec(), 1..=5),
        sod,
        10u64..=240,
        any::<bool>(),
        0u32..=2,
    )
        .prop_map(
            |(stages, sod, timeout, approve, max_revisions)| WorkflowSpec {
                execute_within: crate::domain::workflow::DEFAULT_EXECUTE_WITHIN,
                max_revisions,
                id: "prop".to_owned(),
                timeout: minutes(timeout),
                timeout_action: if approve {
                    TimeoutAction::Approve
                } else {
                    TimeoutAction::Deny
                },
                channels: Vec::new(),
                conditions: Vec::new(),
                separation_of_duties: sod,
                stages,
                // Every workflow here asks reviewers; `auto` is unit-tested in engine_tests.
                auto: None,
            },
        )
}

fn action() -> impl Strategy<Value = Action> {
    let voter = prop_oneof![
        1 => (0usize..=IDS.len()).prop_map(Voter::Anyone),
        3 => (0usize..8).prop_map(Voter::Eligible),
    ];
    let vote = (
        voter,
        prop_oneof![
            12 => Just(VoteChoice::Approve),
            2 => Just(VoteChoice::Deny),
            4 => Just(VoteChoice::RequestChanges),
        ],
        prop_oneof![1 => Just(None), 1 => Just(Some("")), 3 => Just(Some("not like this"))],
        subsequence(CONDITIONS.to_vec(), 0..=3),
        prop::option::weighted(0.4, (0usize..5, 0u32..4)),
    )
        .prop_map(
            |(voter, choice, comment, conditions, opening)| Action::Vote {
                voter,
                choice,
                comment,
                conditions,
                opening,
            },
        );
    prop_oneof![
        60 => vote,
        15 => Just(Action::Tick),
        1 => Just(Action::Cancel),
        12 => any::<u8>().prop_map(Action::Revise),
    ]
}

/// Milliseconds between events: mostly up to two minutes, sometimes up to half an hour.
fn gap() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..=120_000, 1 => 0u64..=1_800_000]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        people(),
        workflow_spec(),
        select(vec![
            None,
            Some("carol"),
            Some("BOB@example.com"),
            Some(" Dave "),
            Some("nobody@example.com"),
        ]),
        prop::option::weighted(0.3, 5u64..=300),
        prop::collection::vec((gap(), action()), 0..=40),
    )
        .prop_map(
            |(people, workflow, requested_by, deadline_mins, events)| Scenario {
                people,
                workflow,
                requested_by,
                deadline_mins,
                events,
            },
        )
}

fn event_for(action: &Action, esc: &Escalation, dir: &Directory) -> Event {
    match action {
        Action::Vote {
            voter,
            choice,
            comment,
            conditions,
            opening,
        } => Event::Vote(VoteInput {
            constraints: Default::default(),
            reviewer: match *voter {
                Voter::Anyone(n) => rid(IDS.get(n).copied().unwrap_or("mallory")),
                Voter::Eligible(n) => {
                    let eligible = eligibility::eligible(esc, dir);
                    match eligible.len() {
                        0 => rid("mallory"),
                        len => eligible[n % len].clone(),
                    }
                }
            },
            choice: *choice,
            comment: comment.map(str::to_owned),
            conditions: conditions.iter().map(|c| (*c).to_owned()).collect(),
            channel: VoteChannel::Slack,
            opening: opening.map(|(stage, round)| Opening { stage, round }),
        }),
        Action::Tick => Event::Tick,
        Action::Cancel => Event::Cancel {
            by: "deploy-bot".into(),
            reason: None,
        },
        Action::Revise(amount) => {
            let mut req = esc.request.clone();
            req.payload = serde_json::json!({"amount": amount});
            req.summary = format!("Pay {amount}");
            Event::Revise(Box::new(req))
        }
    }
}

fn new_for(s: &Scenario) -> NewEscalation {
    let mut req = request();
    req.requested_by = s.requested_by.map(str::to_owned);
    req.deadline = s
        .deadline_mins
        .map(|m| t0() + chrono::Duration::minutes(m as i64));
    new_escalation(req)
}

/// Written apart from `Directory::is_requester`, so the property does not just restate the engine.
fn is_requester(profile: &ReviewerProfile, requested_by: Option<&str>) -> bool {
    requested_by.map(str::trim).is_some_and(|who| {
        !who.is_empty()
            && (profile.id.as_str().eq_ignore_ascii_case(who)
                || profile.email.eq_ignore_ascii_case(who))
    })
}

fn unique_approvers(esc: &Escalation) -> Vec<&ReviewerId> {
    let mut seen = Vec::new();
    for vote in esc.stages.iter().flat_map(|s| s.approvals()) {
        if !seen.contains(&&vote.reviewer) {
            seen.push(&vote.reviewer);
        }
    }
    seen
}

/// The rules that must hold of any state the engine hands back.
fn check_state(esc: &Escalation, dir: &Directory) -> Result<(), TestCaseError> {
    let wf = &esc.workflow;
    let sod = wf.separation_of_duties;
    prop_assert_eq!(esc.decision.is_some(), esc.is_final());
    if let Some(d) = &esc.decision {
        prop_assert_eq!(d.outcome.status(), esc.status);
    }
    prop_assert_eq!(
        timers::derive(esc).is_empty(),
        esc.is_final() && !super::execution::awaits_report(esc)
    );

    // Revisions: within the workflow's allowance, and only the last one is voted on.
    prop_assert_eq!(esc.submission() as usize, esc.submissions.len());
    prop_assert!(esc.submissions.len() <= 1 + wf.max_revisions as usize);
    let under_review = esc.submissions.last().map(|s| s.submitted_at);
    for vote in esc.stages.iter().flat_map(|s| &s.votes) {
        prop_assert!(
            under_review.is_some_and(|t| vote.at >= t),
            "a vote of an earlier revision still stands"
        );
    }
    let asked: Vec<usize> = (0..esc.stages.len())
        .filter(|&i| {
            esc.stages[i]
                .votes
                .iter()
                .any(|v| v.choice == VoteChoice::RequestChanges)
        })
        .collect();
    if esc.status == EscalationStatus::ChangesRequested {
        prop_assert_eq!(&asked, &vec![esc.current_stage]);
        prop_assert!(
            esc.submissions
                .last()
                .is_some_and(|s| s.changes_requested.is_some())
        );
        prop_assert!(
            esc.submission() <= wf.max_revisions,
            "changes asked past max_revisions"
        );
    } else if !asked.is_empty() {
        // Only the deadline or a cancel ends an escalation waiting for a revision.
        prop_assert!(matches!(
            esc.status,
            EscalationStatus::Expired | EscalationStatus::Cancelled | EscalationStatus::Approved
        ));
        prop_assert!(
            esc.decision
                .as_ref()
                .is_some_and(|d| d.decided_by.iter().all(|d| matches!(d, Decider::Agent(_))))
        );
    }
    for earlier in esc.submissions.iter().rev().skip(1) {
        prop_assert!(
            earlier.changes_requested.is_some(),
            "a revision nobody asked for"
        );
    }

    // Stages before the current one are approved, later ones wait.
    for (i, stage) in esc.stages.iter().enumerate() {
        if i < esc.current_stage {
            prop_assert_eq!(stage.status, StageStatus::Approved);
        } else if i > esc.current_stage {
            prop_assert_eq!(stage.status, StageStatus::Waiting);
            prop_assert!(stage.votes.is_empty());
        }
    }
    if esc.is_pending() {
        prop_assert!(esc.current().status.is_open());
    }

    // Every vote that stands was allowed when cast.
    for (i, stage) in esc.stages.iter().enumerate() {
        let spec = &wf.stages[i];
        for (n, vote) in stage.votes.iter().enumerate() {
            let Some(who) = dir.get(&vote.reviewer) else {
                return Err(TestCaseError::fail(format!(
                    "unknown voter {}",
                    vote.reviewer
                )));
            };
            prop_assert!(
                stage.pool.contains(&vote.reviewer),
                "voter outside the pool"
            );
            if let Some(role) = &spec.required_role {
                prop_assert!(who.roles.contains(role), "voter without the required role");
            }
            if let Some(dept) = &spec.required_department {
                prop_assert_eq!(who.department.as_ref(), Some(dept));
            }
            if sod.block_self_approval {
                prop_assert!(!is_requester(who, esc.request.requested_by.as_deref()));
            }
            prop_assert!(
                stage.votes[..n].iter().all(|v| v.reviewer != vote.reviewer),
                "two votes by one reviewer at one stage"
            );
            if sod.require_different_approvers {
                let elsewhere =
                    esc.stages.iter().enumerate().any(|(j, s)| {
                        j != i && s.votes.iter().any(|v| v.reviewer == vote.reviewer)
                    });
                prop_assert!(!elsewhere, "{} voted at two stages", vote.reviewer);
            }
            if vote.choice == VoteChoice::Deny {
                prop_assert!(vote.comment.is_some(), "a deny without a comment");
            }
            for (m, c) in vote.conditions.iter().enumerate() {
                prop_assert!(
                    !c.is_empty() && c.trim() == c,
                    "untrimmed condition {:?}",
                    c
                );
                prop_assert!(
                    !vote.conditions[..m].contains(c),
                    "duplicate condition {:?}",
                    c
                );
            }
            prop_assert!(
                vote.at.timestamp_millis() < esc.expires_at.timestamp_millis(),
                "a vote accepted after the deadline"
            );
        }
    }
    let approvers = unique_approvers(esc);
    if sod.require_different_departments {
        let depts: Vec<_> = approvers
            .iter()
            .map(|r| dir.get(r).and_then(|p| p.department.clone()))
            .collect();
        prop_assert!(
            depts.iter().all(Option::is_some),
            "approver without a department"
        );
        for (n, d) in depts.iter().enumerate() {
            prop_assert!(!depts[..n].contains(d), "two approvers from {:?}", d);
        }
    }

    // A deny that stands is a terminating deny, and it decided the escalation.
    let denies: Vec<usize> = (0..esc.stages.len())
        .filter(|&i| {
            esc.stages[i]
                .votes
                .iter()
                .any(|v| v.choice == VoteChoice::Deny)
        })
        .collect();
    if !denies.is_empty() {
        prop_assert_eq!(esc.status, EscalationStatus::Denied);
        prop_assert_eq!(&denies, &vec![esc.current_stage]);
        let spec = &wf.stages[esc.current_stage];
        prop_assert!(spec.on_deny == OnDeny::Terminate || esc.current_stage == 0);
        prop_assert_eq!(esc.current().status, StageStatus::Rejected);
    }
    if esc.status == EscalationStatus::Denied {
        prop_assert!(!denies.is_empty(), "denied without a deny vote");
    }

    if let Some(d) = &esc.decision {
        match d.outcome {
            Outcome::Approved if d.decided_by.is_empty() => {
                prop_assert_eq!(wf.timeout_action, TimeoutAction::Approve);
                prop_assert!(timers::is_due(esc.expires_at, d.decided_at));
            }
            Outcome::Approved => {
                for (i, stage) in esc.stages.iter().enumerate() {
                    prop_assert_eq!(stage.status, StageStatus::Approved);
                    let k = wf.stages[i].required_approvals as usize;
                    prop_assert!(
                        stage.approvals().count() >= k,
                        "stage {} short of quorum",
                        i
                    );
                }
                prop_assert!(approvers.len() >= sod.minimum_unique_approvers as usize);
                let by: Vec<Decider> = approvers
                    .iter()
                    .map(|r| Decider::Reviewer((*r).clone()))
                    .collect();
                prop_assert_eq!(&d.decided_by, &by);
                let mut union: Vec<&String> = Vec::new();
                for c in esc
                    .stages
                    .iter()
                    .flat_map(|s| s.approvals())
                    .flat_map(|v| &v.conditions)
                {
                    if !union.contains(&c) {
                        union.push(c);
                    }
                }
                prop_assert_eq!(d.conditions.iter().collect::<Vec<_>>(), union);
            }
            Outcome::Expired => {
                prop_assert_eq!(wf.timeout_action, TimeoutAction::Deny);
                prop_assert!(d.decided_by.is_empty());
                prop_assert!(timers::is_due(esc.expires_at, d.decided_at));
            }
            Outcome::Denied => prop_assert!(d.conditions.is_empty()),
            Outcome::Cancelled => {
                prop_assert_eq!(&d.decided_by, &vec![Decider::Agent("deploy-bot".into())]);
            }
        }
    }
    Ok(())
}

fn run(s: Scenario) -> Result<(), TestCaseError> {
    let dir = Directory::new(s.people.clone());
    let mut now = t0();
    let mut esc = engine::start(new_for(&s), s.workflow.clone(), &dir, now).escalation;
    check_state(&esc, &dir)?;
    for (gap, action) in &s.events {
        now += chrono::Duration::milliseconds(*gap as i64);
        let event = event_for(action, &esc, &dir);
        let before = esc.clone();
        match engine::step(&esc, event.clone(), &dir, now) {
            Err(_) => prop_assert_eq!(&esc, &before),
            Ok(step) => {
                let next = step.escalation;
                if before.is_final() {
                    // Once decided, only the execution mark (past the receipt's exp) may come.
                    let mut decided = next.clone();
                    if before.execution.is_none() {
                        decided.execution = None;
                        decided.revision = before.revision;
                    }
                    prop_assert_eq!(&decided, &before, "a decided escalation changed");
                    prop_assert!(
                        step.effects
                            .iter()
                            .all(|e| *e == super::Effect::ExecutionRecorded)
                    );
                }
                if next == before {
                    prop_assert!(step.effects.is_empty() && step.audit.is_empty());
                } else {
                    prop_assert_eq!(next.revision, before.revision + 1);
                    prop_assert!(!step.audit.is_empty(), "a change without an audit record");
                }
                if let Event::Vote(vote) = &event {
                    prop_assert!(
                        step.effects.iter().any(|e| matches!(
                            e,
                            super::Effect::VoteRecorded { reviewer, stage }
                                if *reviewer == vote.reviewer
                                    && vote.opening.is_none_or(|named| named.stage == *stage)
                        )),
                        "an accepted vote was not recorded"
                    );
                    // Never counted in an opening other than the one it was cast on.
                    if let Some(named) = vote.opening {
                        prop_assert!(before.is_open(named), "a vote on a closed opening counted");
                        prop_assert_eq!(next.stages[named.stage].round, named.round);
                    }
                }
                for (i, stage) in next.stages.iter().enumerate() {
                    prop_assert!(
                        stage.round >= before.stages[i].round,
                        "a stage's round went back"
                    );
                }
                if let Event::Revise(_) = &event {
                    prop_assert_eq!(before.status, EscalationStatus::ChangesRequested);
                    prop_assert_eq!(next.submission(), before.submission() + 1);
                    prop_assert!(next.is_pending() || next.is_final());
                    for (i, stage) in next.stages.iter().enumerate() {
                        if stage.status != StageStatus::Waiting {
                            prop_assert!(
                                stage.round > before.stages[i].round,
                                "a revision reused a round"
                            );
                        }
                    }
                }
                let decided_now = !before.is_final() && next.is_final();
                let announced = step
                    .effects
                    .iter()
                    .filter(|e| matches!(e, super::Effect::Decided))
                    .count();
                prop_assert_eq!(announced, usize::from(decided_now), "exactly one Decided");
                esc = next;
            }
        }
        check_state(&esc, &dir)?;
    }
    Ok(())
}

proptest! {
    // No regression files: the tree outside src/domain is not ours to write, and what this
    // property found is pinned by a unit test in engine_tests.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_upholds_the_workflow_rules(s in scenario()) {
        run(s)?;
    }
}
