//! `POST /v1/simulate`: what the configuration would do with a request, changing nothing.

use super::AppState;
use super::error::{AppError, ErrorBody};
use super::extract::{AuthAgent, json_body, raw_body};
use crate::domain::EscalationRequest;
use crate::domain::policy::Subject;
use crate::domain::simulation::Simulation;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/simulate", post(simulate))
}

/// Simulate an escalation.
///
/// The intake body, parsed as strictly as at intake. The answer says which workflow would
/// govern it and why each earlier one does not, who may approve each stage for this
/// requester, the timeline (delegation tiers, SLA escalations, timeout) as offsets and
/// absolute times, and the channels. Nothing is written, sent or scheduled; a request no
/// workflow governs is answered 200 with `workflow: null`.
#[utoipa::path(
    post,
    path = "/v1/simulate",
    tag = "agents",
    security(("agent_key" = [])),
    request_body(content = EscalationRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "What would happen.", body = Simulation),
        (status = 400, description = "`malformed`: not JSON, or a duplicate key.", body = ErrorBody),
        (status = 401, description = "`unauthorized`: the agent key is missing or not valid.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `server.max_body_bytes`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: a body without `Content-Type: application/json`.", body = ErrorBody),
        (status = 422, description = "`validation`: the message names the field; unknown top-level fields too.", body = ErrorBody),
    ),
)]
async fn simulate(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Simulation>, AppError> {
    let body = json_body(&headers, &raw_body(body)?)?;
    let service = &state.service;
    let now = service.now();
    let request = EscalationRequest::parse(body.clone(), now)?;
    let subject = Subject::of(&agent.id, &request, &body);
    let config = &service.config;
    Ok(Json(config.simulate(&subject, &request, &service.dir, now)))
}
