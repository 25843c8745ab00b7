//! Execution reports (design.md §6): what the agent says it ran, judged against what was
//! approved — the payload hash and the constraint checks — and the `unreported` mark when
//! nothing arrives by the receipt's `exp`.

use super::Time;
use super::conditions;
use super::eligibility::Refusal;
use super::escalation::{Escalation, EscalationStatus, Execution, ExecutionStatus};
use super::request::payload_sha256;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The longest `detail` a report may carry.
pub const MAX_DETAIL_LEN: usize = 4_000;

/// The body of `POST /v1/escalations/{id}/execution`, as the agent sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionReport {
    /// `succeeded` or `failed` (`unreported` is countersign's own mark).
    #[schema(value_type = String, pattern = "^(succeeded|failed)$")]
    pub status: ExecutionStatus,
    /// The payload that was executed; or give `payload_sha256` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// SHA-256 (hex) of the executed payload's RFC 8785 canonical JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub payload_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 4000)]
    pub detail: Option<String>,
}

impl ExecutionReport {
    /// The report's own fingerprint: a repeat of the same report is recognised by it.
    fn fingerprint(&self) -> String {
        let canonical = serde_json_canonicalizer::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&canonical))
    }

    /// The executed payload's hash: computed from the payload, or the one given (which
    /// must agree with the payload when both are given).
    fn executed_sha256(&self) -> Result<String, Refusal> {
        let given = self.payload_sha256.as_deref().map(str::to_ascii_lowercase);
        if given
            .as_ref()
            .is_some_and(|h| h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(Refusal::Invalid(
                "payload_sha256 must be 64 hexadecimal characters.".into(),
            ));
        }
        match (&self.payload, given) {
            (Some(payload), Some(given)) => {
                let computed = payload_sha256(payload);
                if computed != given {
                    return Err(Refusal::Invalid(
                        "payload_sha256 is not the hash of the payload given with it.".into(),
                    ));
                }
                Ok(computed)
            }
            (Some(payload), None) => Ok(payload_sha256(payload)),
            (None, Some(given)) => Ok(given),
            (None, None) => Err(Refusal::Invalid(
                "Give the executed payload, or its payload_sha256.".into(),
            )),
        }
    }
}

/// What a report does to the escalation: `Ok(Some(..))` records it, `Ok(None)` is the
/// same report again (nothing changes), `Err` refuses it.
pub fn judge(
    esc: &Escalation,
    report: &ExecutionReport,
    now: Time,
) -> Result<Option<Execution>, Refusal> {
    if report.status == ExecutionStatus::Unreported {
        return Err(Refusal::Invalid(
            "status must be \"succeeded\" or \"failed\".".into(),
        ));
    }
    let detail = report
        .detail
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    if detail.is_some_and(|d| d.chars().count() > MAX_DETAIL_LEN) {
        return Err(Refusal::Invalid(format!(
            "detail is longer than {MAX_DETAIL_LEN} characters."
        )));
    }
    let executed = report.executed_sha256()?;
    if esc.status != EscalationStatus::Approved {
        return Err(Refusal::NotApproved(esc.status));
    }
    let fingerprint = report.fingerprint();
    match &esc.execution {
        Some(done) if done.status != ExecutionStatus::Unreported => {
            return if done.report_sha256.as_deref() == Some(fingerprint.as_str()) {
                Ok(None)
            } else {
                Err(Refusal::AlreadyReported)
            };
        }
        _ => {}
    }
    let matches = executed == esc.payload_sha256;
    // With only a hash, the checks can run only when it is the approved payload's.
    let payload = report
        .payload
        .as_ref()
        .or(matches.then_some(&esc.request.payload));
    let violations = match (payload, &esc.decision) {
        (Some(payload), Some(decision)) => {
            conditions::violations(esc, &decision.constraints, payload)
        }
        _ => Vec::new(),
    };
    Ok(Some(Execution {
        status: report.status,
        reported_at: Some(now),
        payload_sha256: Some(executed),
        matches: Some(matches),
        violations,
        detail: detail.map(str::to_owned),
        report_sha256: Some(fingerprint),
    }))
}

/// The mark an approval gets when no report arrived by the receipt's `exp`.
pub fn unreported() -> Execution {
    Execution {
        status: ExecutionStatus::Unreported,
        reported_at: None,
        payload_sha256: None,
        matches: None,
        violations: Vec::new(),
        detail: None,
        report_sha256: None,
    }
}

/// Whether an approval is still waiting for its report (a timer is armed for its `exp`).
pub fn awaits_report(esc: &Escalation) -> bool {
    esc.status == EscalationStatus::Approved && esc.execution.is_none()
}
