//! The reviewer REST API: what waits for me, and casting a vote.

use super::AppState;
use super::answers::Unavailable;
use super::error::AppError;
use super::error::ErrorBody;
use super::extract::{AuthReviewer, json_body, raw_body};
use crate::domain::engine::{Event, VoteInput};
use crate::domain::request::{Context, Policy, Risk};
use crate::domain::status::{StatusDocument, status_document};
use crate::domain::{Escalation, EscalationId, VoteChannel, VoteChoice};
use crate::view::{EscalationView, ViewInput};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;

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
        (status = 200, description = "Oldest first, at most 500.", body = Vec<ReviewDocument>),
        (status = 401, description = "`unauthorized`: the reviewer key is missing or not valid.", body = ErrorBody),
    ),
)]
async fn pending(
    State(state): State<AppState>,
    AuthReviewer(reviewer): AuthReviewer,
) -> Result<Json<Vec<ReviewDocument>>, AppError> {
    let list = state
        .service
        .store
        .pending_for_reviewer(&reviewer.id, PENDING_LIMIT)
        .await?;
    Ok(Json(
        list.iter().map(|e| review_document(&state, e)).collect(),
    ))
}

/// One entry of `GET /v1/reviews/pending`: the status document plus what a reviewer
/// needs to decide.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewDocument {
    #[serde(flatten)]
    pub status: StatusDocument,
    pub request: ReviewRequest,
    /// The workflow's conditions a reviewer may attach to an approval.
    pub conditions_offered: Vec<String>,
    /// The workflow's typed conditions: an approval may give a value for each, by id,
    /// under `constraints`.
    pub constraints_offered: Vec<ConstraintOffered>,
}

/// A typed condition as a reviewer fills it in (design.md §6).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConstraintOffered {
    /// The key of its value under the vote's `constraints`.
    pub id: String,
    pub label: String,
    /// The JSON type of the value: `number` or `text` (a string).
    #[schema(pattern = "^(number|text)$")]
    pub input: &'static str,
    /// How an execution report is held to the value: the payload's value at `pointer`
    /// must be `lte`, `gte` or `eq` to it; absent when it is not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckOffered>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckOffered {
    /// An RFC 6901 JSON pointer into the payload.
    pub pointer: String,
    #[schema(pattern = "^(lte|gte|eq)$")]
    pub op: &'static str,
}

fn constraints_offered(esc: &Escalation) -> Vec<ConstraintOffered> {
    esc.workflow
        .typed_conditions()
        .map(|t| ConstraintOffered {
            id: t.id.clone(),
            label: t.label.clone(),
            input: t.input.as_str(),
            check: t.check.as_ref().map(|c| CheckOffered {
                pointer: c.pointer.clone(),
                op: c.op.as_str(),
            }),
        })
        .collect()
}

/// The request as the agent sent it, with the agent's configured name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewRequest {
    /// `null` when the agent is no longer configured.
    #[schema(required = true)]
    pub agent_name: Option<String>,
    #[schema(required = true)]
    pub resource: Option<String>,
    #[schema(required = true)]
    pub risk: Option<Risk>,
    #[schema(required = true)]
    pub policy: Option<Policy>,
    #[schema(required = true)]
    pub requested_by: Option<String>,
    pub context: Context,
    pub payload: Value,
}

fn review_document(state: &AppState, esc: &Escalation) -> ReviewDocument {
    let view = EscalationView::new(&ViewInput {
        esc,
        config: &state.service.config,
        dir: &state.service.dir,
        recent: &[],
    });
    let req = &view.request;
    ReviewDocument {
        status: status_document(esc, &state.service.dir),
        request: ReviewRequest {
            agent_name: req.agent.name.map(str::to_owned),
            resource: req.resource.map(str::to_owned),
            risk: req.risk.as_ref().map(|r| Risk {
                score: r.score,
                reasons: r.reasons.to_vec(),
            }),
            policy: req.policy.cloned(),
            requested_by: req.requested_by.as_ref().map(|r| r.given.to_owned()),
            context: Context {
                recent_activity: req.recent_activity.to_vec(),
                evidence: req.evidence.to_vec(),
            },
            payload: req.payload.clone(),
        },
        conditions_offered: req
            .conditions_offered
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
        constraints_offered: constraints_offered(esc),
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VoteBody {
    /// Parsed by serde: anything but a known choice is a 422 naming the field.
    decision: VoteChoice,
    /// Required for a deny.
    #[serde(default)]
    comment: Option<String>,
    /// Conditions the approval carries; the decision carries the union of all approvers'.
    #[serde(default)]
    conditions: Vec<String>,
    /// Values for the workflow's typed conditions (`constraints_offered` of the pending
    /// list), by id: a JSON number for an `input: number` condition, a string for
    /// `input: text`. An undeclared id or another type is a 422 `validation` and nothing
    /// is recorded. The decision keeps the strictest value for `lte` (smallest) and
    /// `gte` (largest) checks, else the first approver's.
    #[serde(default)]
    #[schema(
        value_type = HashMap<String, Object>,
        example = json!({"max_amount": 18000, "region": "eu-west-1"})
    )]
    constraints: crate::domain::Constraints,
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
        (status = 422, description = "`validation`: an unknown decision or field, a deny without a comment, or a constraint the workflow does not declare or of another type.", body = ErrorBody),
        Unavailable,
    ),
)]
async fn vote(
    State(state): State<AppState>,
    AuthReviewer(reviewer): AuthReviewer,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<StatusDocument>, AppError> {
    let body = raw_body(body)?;
    let value = json_body(&headers, &body)?;
    let input: VoteBody = serde_path_to_error::deserialize(value)
        .map_err(|e| AppError::validation(format!("{}: {}", e.path(), e.inner())))?;
    let id = EscalationId::parse(&id).ok_or_else(AppError::not_found)?;
    let event = Event::Vote(VoteInput {
        reviewer: reviewer.id.clone(),
        choice: input.decision,
        comment: input.comment,
        conditions: input.conditions,
        constraints: input.constraints,
        channel: VoteChannel::Api,
        opening: None,
    });
    let esc = state.service.apply(&id, event).await?;
    Ok(Json(status_document(&esc, &state.service.dir)))
}
