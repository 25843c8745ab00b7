//! The reviewer REST API: what waits for me, and casting a vote.

use super::AppState;
use super::error::AppError;
use super::extract::{AuthReviewer, json_body, raw_body};
use crate::domain::engine::{Event, VoteInput};
use crate::domain::status::status_document;
use crate::domain::{Escalation, EscalationId, VoteChannel, VoteChoice};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// Enough for any dashboard page; a reviewer with more waiting has a bigger problem.
const PENDING_LIMIT: u32 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/reviews/pending", get(pending))
        .route("/v1/escalations/{id}/votes", post(vote))
}

/// The escalations waiting on this reviewer, each with its full context.
async fn pending(
    State(state): State<AppState>,
    AuthReviewer(reviewer): AuthReviewer,
) -> Result<Json<Value>, AppError> {
    let list = state
        .service
        .store
        .pending_for_reviewer(&reviewer.id, PENDING_LIMIT)
        .await?;
    let docs: Vec<Value> = list.iter().map(|e| review_document(&state, e)).collect();
    Ok(Json(Value::Array(docs)))
}

/// The status document plus what a reviewer needs to decide.
fn review_document(state: &AppState, esc: &Escalation) -> Value {
    let mut doc = status_document(esc, &state.service.dir);
    let agent_name = state
        .service
        .config
        .agent(esc.agent_id.as_str())
        .map(|a| a.name.clone());
    doc["request"] = json!({
        "agent_name": agent_name,
        "resource": esc.request.resource,
        "risk": esc.request.risk,
        "policy": esc.request.policy,
        "requested_by": esc.request.requested_by,
        "context": esc.request.context,
        "payload": esc.request.payload,
    });
    doc["conditions_offered"] = json!(esc.workflow.conditions);
    doc
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteBody {
    decision: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    conditions: Vec<String>,
}

async fn vote(
    State(state): State<AppState>,
    AuthReviewer(reviewer): AuthReviewer,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let body = raw_body(body)?;
    let value = json_body(&headers, &body)?;
    let input: VoteBody = serde_path_to_error::deserialize(value)
        .map_err(|e| AppError::validation(format!("{}: {}", e.path(), e.inner())))?;
    let choice = match input.decision.as_str() {
        "approve" => VoteChoice::Approve,
        "deny" => VoteChoice::Deny,
        _ => {
            return Err(AppError::validation(
                "decision must be \"approve\" or \"deny\".",
            ));
        }
    };
    let id = EscalationId::parse(&id).ok_or_else(AppError::not_found)?;
    let event = Event::Vote(VoteInput {
        reviewer: reviewer.id.clone(),
        choice,
        comment: input.comment,
        conditions: input.conditions,
        channel: VoteChannel::Api,
        stage: None,
    });
    let esc = state.service.apply(&id, event).await?;
    Ok(Json(status_document(&esc, &state.service.dir)))
}
