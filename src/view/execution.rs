//! What reviewers see once an escalation is approved: the receipt, the window the action
//! must start in, and what the agent reported it executed, in words. Built once here;
//! Slack blocks, emails and pages only lay it out.

use super::clock_time;
use crate::domain::conditions::{CheckOp, Violation};
use crate::domain::{Escalation, Execution, ExecutionStatus, Outcome, Time};
use serde::Serialize;
use serde_json::Value;

/// Hex characters kept when a hash is shortened for reading.
const SHORT_HASH: usize = 12;
/// Longest payload value quoted in a violation sentence.
const SHORT_VALUE: usize = 80;

/// The after-approval part of a view; `None` for any other outcome.
#[derive(Debug, Clone, Serialize)]
pub struct AfterApproval<'a> {
    /// `rcpt_…`, once the decision's receipt is signed.
    pub receipt_id: Option<&'a str>,
    #[serde(skip)]
    pub execute_by: Time,
    /// `Execute within 1h (by 12:16 UTC)`.
    pub execute_within: String,
    /// What the agent reported; `None` while a report is still awaited.
    pub execution: Option<ExecutionView<'a>>,
}

/// How a recorded execution reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// Executed as approved.
    Ok,
    /// Another payload, or a constraint broken: shown in red to every reviewer.
    Problem,
    /// Nothing was reported in time.
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecutionView<'a> {
    pub tone: Tone,
    /// `Executed as approved`, `Executed with a different payload`, `Constraint violated`,
    /// `Not reported by 12:16 UTC`.
    pub headline: String,
    /// One sentence per finding: a failure the agent reported, the two hashes of a
    /// different payload (`Payload differs: approved sha256 3f2a9c01b7d4…, executed …`),
    /// each violated constraint.
    pub findings: Vec<String>,
    /// `succeeded`, `failed` or `unreported`.
    pub status: &'static str,
    /// When the report came, in words.
    pub reported_at: Option<String>,
    /// The agent's own words about the execution.
    pub detail: Option<&'a str>,
}

impl ExecutionView<'_> {
    pub fn is_problem(&self) -> bool {
        self.tone == Tone::Problem
    }
}

/// The after-approval part of `esc`, or `None` when it is not approved.
pub fn after_approval(esc: &Escalation) -> Option<AfterApproval<'_>> {
    let decision = esc.decision.as_ref()?;
    if decision.outcome != Outcome::Approved {
        return None;
    }
    let execute_by = esc.execute_by()?;
    let by = short_time(execute_by, decision.decided_at);
    let within = humantime::format_duration(esc.workflow.execute_within);
    Some(AfterApproval {
        receipt_id: decision.receipt.as_ref().map(|r| r.id.as_str()),
        execute_by,
        execute_within: format!("Execute within {within} (by {by})"),
        execution: esc.execution.as_ref().map(|done| execution(esc, done, &by)),
    })
}

fn execution<'a>(esc: &'a Escalation, done: &'a Execution, by: &str) -> ExecutionView<'a> {
    let failed = done.status == ExecutionStatus::Failed;
    let mut findings = Vec::new();
    if failed && done.is_problem() {
        findings.push("The agent reported that the execution failed.".to_owned());
    }
    if done.matches == Some(false) {
        findings.push(format!(
            "Payload differs: approved sha256 {}, executed {}",
            short_hash(&esc.payload_sha256),
            short_hash(done.payload_sha256.as_deref().unwrap_or_default())
        ));
    }
    findings.extend(done.violations.iter().map(|v| violation(esc, v)));
    let (tone, headline) = if done.status == ExecutionStatus::Unreported {
        (Tone::Missing, format!("Not reported by {by}"))
    } else if done.matches == Some(false) {
        (
            Tone::Problem,
            "Executed with a different payload".to_owned(),
        )
    } else if !done.violations.is_empty() {
        (Tone::Problem, "Constraint violated".to_owned())
    } else if failed {
        (
            Tone::Ok,
            "Execution failed (the approved payload)".to_owned(),
        )
    } else {
        (Tone::Ok, "Executed as approved".to_owned())
    };
    ExecutionView {
        tone,
        headline,
        findings,
        status: done.status.as_str(),
        reported_at: done.reported_at.map(clock_time),
        detail: done.detail.as_deref(),
    }
}

/// `Constraint violated: Cap the amount — /amount is 19000, allowed ≤ 18000`.
pub fn violation(esc: &Escalation, v: &Violation) -> String {
    let label = esc
        .workflow
        .typed_conditions()
        .find(|t| t.id == v.id)
        .map_or(v.id.as_str(), |t| t.label.as_str());
    let actual = match &v.actual {
        Value::Null => "missing".to_owned(),
        other => short_value(other),
    };
    let op = match v.op {
        CheckOp::Lte => "≤",
        CheckOp::Gte => "≥",
        CheckOp::Eq => "=",
    };
    format!(
        "Constraint violated: {label} — {} is {actual}, allowed {op} {}",
        v.pointer,
        short_value(&v.allowed)
    )
}

/// `3f2a9c01b7d4…`: enough to tell two hashes apart at a glance.
pub fn short_hash(hash: &str) -> String {
    match hash.get(..SHORT_HASH) {
        Some(head) if hash.len() > SHORT_HASH => format!("{head}…"),
        _ => hash.to_owned(),
    }
}

fn short_value(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= SHORT_VALUE {
        return text;
    }
    let head: String = text.chars().take(SHORT_VALUE).collect();
    format!("{head}…")
}

/// `12:16 UTC` on the day of the decision, the full date on any later day.
fn short_time(t: Time, decided: Time) -> String {
    if t.date_naive() == decided.date_naive() {
        t.format("%H:%M UTC").to_string()
    } else {
        clock_time(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conditions::{Check, ConditionSpec, InputKind, TypedCondition};
    use crate::domain::engine::{Event, VoteInput};
    use crate::domain::execution::ExecutionReport;
    use crate::domain::fixtures::*;
    use crate::domain::{Receipt, request::payload_sha256};
    use serde_json::json;

    /// One approver (bob) who capped the amount at 18000, approved at 10:01 (t0 + 1 min).
    fn approved() -> Escalation {
        let mut flow = workflow(vec![stage("Finance", &["bob"])]);
        flow.conditions = vec![
            ConditionSpec::Label("Canary rollout required".into()),
            ConditionSpec::Typed(TypedCondition {
                id: "max_amount".into(),
                label: "Cap the amount".into(),
                input: InputKind::Number,
                check: Some(Check {
                    pointer: "/amount".into(),
                    op: CheckOp::Lte,
                }),
            }),
        ];
        let mut req = request();
        req.payload = json!({"amount": 15000});
        let esc = start_with(flow, req).escalation;
        let vote = VoteInput {
            constraints: serde_json::from_value(json!({"max_amount": 18000})).unwrap(),
            ..approve("bob")
        };
        voted(&esc, vote, at(mins(1)))
    }

    fn reported(esc: &Escalation, payload: Value, status: &str) -> Escalation {
        let report: ExecutionReport =
            serde_json::from_value(json!({"status": status, "payload": payload})).unwrap();
        accept(esc, Event::ReportExecution(report), at(mins(5))).escalation
    }

    #[test]
    fn an_approval_names_its_receipt_and_window() {
        let mut esc = approved();
        let after = after_approval(&esc).unwrap();
        let by = at(mins(61)).format("%H:%M UTC").to_string();
        assert_eq!(after.execute_within, format!("Execute within 1h (by {by})"));
        assert_eq!(
            after.receipt_id, None,
            "the pure engine leaves signing to the shell"
        );
        assert!(after.execution.is_none(), "no report yet");
        esc.decision.as_mut().unwrap().receipt = Some(Receipt {
            id: "rcpt_01TEST".into(),
            token: "x.y.z".into(),
        });
        assert_eq!(
            after_approval(&esc).unwrap().receipt_id,
            Some("rcpt_01TEST")
        );
        let denied = voted(
            &start(workflow(vec![stage("One", &["bob"])])).escalation,
            deny("bob", "no"),
            at(mins(1)),
        );
        assert!(
            after_approval(&denied).is_none(),
            "only approvals get a window"
        );
    }

    #[test]
    fn executions_read_in_words() {
        let esc = approved();
        let same = reported(&esc, json!({"amount": 15000}), "succeeded");
        let view = after_approval(&same).unwrap().execution.unwrap();
        assert_eq!(
            (view.tone, view.headline.as_str()),
            (Tone::Ok, "Executed as approved")
        );
        assert!(view.findings.is_empty());

        let over = json!({"amount": 19000});
        let other = reported(&esc, over.clone(), "succeeded");
        let view = after_approval(&other).unwrap().execution.unwrap();
        assert!(view.is_problem());
        assert_eq!(view.headline, "Executed with a different payload");
        assert_eq!(
            view.findings,
            [
                format!(
                    "Payload differs: approved sha256 {}…, executed {}…",
                    &esc.payload_sha256[..12],
                    &payload_sha256(&over)[..12]
                ),
                "Constraint violated: Cap the amount — /amount is 19000, allowed ≤ 18000"
                    .to_owned(),
            ]
        );

        let failed = reported(&esc, json!({"amount": 15000}), "failed");
        let view = after_approval(&failed).unwrap().execution.unwrap();
        assert_eq!(view.status, "failed");
        assert_eq!(view.headline, "Execution failed (the approved payload)");
        assert!(view.findings.is_empty());
        let failed = reported(&esc, json!({"amount": 19000}), "failed");
        let view = after_approval(&failed).unwrap().execution.unwrap();
        assert_eq!(
            view.findings[0],
            "The agent reported that the execution failed."
        );
        assert_eq!(view.findings.len(), 3);
    }

    #[test]
    fn a_missing_value_and_a_missing_report_are_said_so() {
        let esc = approved();
        let gone = reported(&esc, json!({"amount_usd": 1}), "succeeded");
        let view = after_approval(&gone).unwrap().execution.unwrap();
        assert!(
            view.findings[1].ends_with("/amount is missing, allowed ≤ 18000"),
            "{:?}",
            view.findings
        );

        let late = accept(&esc, Event::Tick, at(mins(62))).escalation;
        let view = after_approval(&late).unwrap().execution.unwrap();
        let by = at(mins(61)).format("%H:%M UTC").to_string();
        assert_eq!(
            (view.tone, view.headline),
            (Tone::Missing, format!("Not reported by {by}"))
        );
        assert_eq!(view.status, "unreported");
    }

    #[test]
    fn long_values_and_hashes_are_shortened() {
        assert_eq!(short_hash("0123456789abcdef"), "0123456789ab…");
        assert_eq!(short_hash("abc"), "abc");
        assert!(short_value(&json!("x".repeat(500))).chars().count() <= SHORT_VALUE + 1);
    }
}
