//! The claims of a decision's receipt (design.md §6): what the executor verifies offline.
//! Pure: the shell signs them (src/service/seal.rs, keys in src/signing/receipts/) and stores
//! the token with the decision.

use super::Time;
use super::conditions::Constraints;
use super::escalation::{Escalation, Outcome, Receipt};
use super::ids::{AgentId, EscalationId, ReviewerId};
use super::status::rfc3339;
use serde::{Deserialize, Serialize};

/// The JWT claims of a receipt, in the order design.md §6 lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptClaims {
    /// The server's `public_url`.
    pub iss: String,
    /// The escalation id.
    pub sub: EscalationId,
    /// The agent the decision is for.
    pub aud: AgentId,
    /// The receipt id.
    pub jti: String,
    pub iat: i64,
    /// For an approval, when the action must have started by.
    pub exp: i64,
    pub outcome: Outcome,
    pub intent: String,
    pub resource: Option<String>,
    pub payload_sha256: String,
    pub revision: u32,
    pub workflow: String,
    pub conditions: Vec<String>,
    pub constraints: Constraints,
    /// Reviewer ids of the approving votes.
    pub approvers: Vec<ReviewerId>,
    /// RFC 3339, as in the status document.
    pub decided_at: String,
}

/// The claims for a decided escalation; `None` while it is pending. `iat` is the decision
/// time, so signing the same decision twice gives the same claims.
pub fn claims(esc: &Escalation, issuer: &str, jti: &str) -> Option<ReceiptClaims> {
    let decision = esc.decision.as_ref()?;
    let approvers = match decision.outcome {
        Outcome::Approved => super::engine::unique_approvers(esc),
        _ => Vec::new(),
    };
    Some(ReceiptClaims {
        iss: issuer.to_owned(),
        sub: esc.id.clone(),
        aud: esc.agent_id.clone(),
        jti: jti.to_owned(),
        iat: decision.decided_at.timestamp(),
        exp: esc.execute_by()?.timestamp(),
        outcome: decision.outcome,
        intent: esc.request.intent.clone(),
        resource: esc.request.resource.clone(),
        payload_sha256: esc.payload_sha256.clone(),
        revision: esc.submission(),
        workflow: esc.workflow.id.clone(),
        conditions: decision.conditions.clone(),
        constraints: decision.constraints.clone(),
        approvers,
        decided_at: rfc3339(decision.decided_at),
    })
}

/// Whether the decision still needs its receipt signed (it was just made).
pub fn needs_receipt(esc: &Escalation) -> bool {
    esc.decision.as_ref().is_some_and(|d| d.receipt.is_none())
}

/// Stores the signed receipt with the decision.
pub fn attach(esc: &mut Escalation, receipt: Receipt) {
    if let Some(decision) = esc.decision.as_mut() {
        decision.receipt = Some(receipt);
    }
}

/// Whether `now` is past the receipt's `exp`.
pub fn expired(esc: &Escalation, now: Time) -> bool {
    esc.execute_by()
        .is_some_and(|t| super::timers::is_due(t, now))
}
