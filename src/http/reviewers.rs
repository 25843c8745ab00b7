//! The reviewer REST API: what waits for me, and casting a vote.

use super::AppState;
use super::error::AppError;
use super::error::ErrorBody;
use super::extract::{AuthReviewer, json_body, raw_body};
use super::openapi::{PendingReview, StatusDocument};
use crate::domain::engine::{Event, VoteInput};
use crate::domain::status::status_document;
use crate::domain::{Escalation, EscalationId, VoteChannel, VoteChoice};
use crate::store;
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
#[utoipa::path(
    get,
    path = "/v1/reviews/pending",
    tag = "reviewers",
    security(("reviewer_key" = [])),
    responses(
        (status = 200, description = "Oldest first, at most 500.", body = Vec<PendingReview>),
        (status = 401, description = "`unauthorized`: the reviewer key is missing or not valid.", body = ErrorBody),
    ),
)]
async fn pending(
    State(state): State<AppState>,
    AuthReviewer(reviewer): AuthReviewer,
) -> Result<Json<Value>, AppError> {
    let list = store::escalations::pending_for_reviewer(
        &state.service.store.pool,
        &reviewer.id,
        PENDING_LIMIT,
    )
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

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VoteBody {
    #[schema(value_type = VoteChoice)]
    decision: String,
    /// Required for a deny.
    #[serde(default)]
    comment: Option<String>,
    /// Conditions the approval carries; the decision carries the union of all approvers'.
    #[serde(default)]
    conditions: Vec<String>,
}

/// Vote on the current stage of an escalation.
///
/// Every rule (eligibility, separation of duties, one vote per stage opening) is judged by
/// the engine, as for Slack and email votes.
#[utoipa::path(
    post,
    path = "/v1/escalations/{id}/votes",
    tag = "reviewers",
    security(("reviewer_key" = [])),
    params(("id" = String, Path, description = "`esc_` + ULID.")),
    request_body(content = VoteBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded: the status document after the vote.", body = StatusDocument),
        (status = 400, description = "`malformed`: not JSON, or a duplicate key.", body = ErrorBody),
        (status = 401, description = "`unauthorized`: the reviewer key is missing or not valid.", body = ErrorBody),
        (status = 403, description = "`not_eligible`, `self_approval`, `separation_of_duties` or `already_voted`; nothing changed.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such escalation.", body = ErrorBody),
        (status = 409, description = "`already_decided`, or `stale_stage`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`.", body = ErrorBody),
        (status = 422, description = "`validation`: an unknown decision or field, or a deny without a comment.", body = ErrorBody),
        (status = 503, description = "`unavailable`: storage cannot commit now; nothing was changed.", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
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
        opening: None,
    });
    let esc = state.service.apply(&id, event).await?;
    Ok(Json(status_document(&esc, &state.service.dir)))
}
