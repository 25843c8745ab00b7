//! The agent resubmits a request after a reviewer asked for changes (design.md §7).

use super::AppState;
use super::agents::idempotency_key;
use super::answers::{AgentUnauthorized, JsonBodyRefused, Unavailable, UnknownEscalation};
use super::error::{AppError, ErrorBody};
use super::extract::{AuthAgent, json_body, raw_body};
use super::limits::RateLimits;
use crate::domain::status::{StatusDocument, status_document};
use crate::domain::{EscalationId, EscalationRequest};
use crate::service::Revision;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Extension, Json, Router};
use std::sync::Arc;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/escalations/{id}/revisions", post(revise))
}

/// Submit a revision of an escalation a reviewer asked changes to.
///
/// The body is the intake schema, parsed and validated as strictly as at intake. The
/// workflow stays the one the escalation started with; `revision` goes up by one and voting
/// restarts at stage 1. Answered 200, not 201: a revision creates no new resource, it
/// replaces the request under review of the escalation at the same URL. A repeat with the
/// same `Idempotency-Key` answers 200 with the escalation as it is now and writes nothing.
#[utoipa::path(
    post,
    path = "/v1/escalations/{id}/revisions",
    tag = "agents",
    security(("agent_key" = [])),
    params(
        ("id" = String, Path, description = "`esc_` + ULID."),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible characters, scoped to this escalation; a repeat returns the escalation and writes nothing."),
    ),
    request_body(content = EscalationRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Revised (or a repeat of an idempotency key): the status document.", body = StatusDocument),
        (status = 400, description = "`malformed`: not JSON, a duplicate key, or a bad idempotency key.", body = ErrorBody),
        AgentUnauthorized,
        UnknownEscalation,
        (status = 409, description = "`changes_not_requested` (nobody asked for changes), `revisions_exhausted` (past the workflow's `max_revisions`) or `already_decided`.", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`validation`: the message names the field; unknown top-level fields too.", body = ErrorBody),
        (status = 429, description = "`rate_limited`: over the agent's per-second `rate_limit`.", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        Unavailable,
    ),
)]
async fn revise(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<RateLimits>>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<StatusDocument>, AppError> {
    let id = EscalationId::parse(&id).ok_or_else(AppError::not_found)?;
    let body = raw_body(body)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(idempotency_key(v.to_str().ok())?),
        None => None,
    };
    limits.check(&agent)?;
    // Another agent's escalation is indistinguishable from none, whatever the body says.
    match state.service.get(&id).await? {
        Some(esc) if esc.agent_id == agent.id => {}
        _ => return Err(AppError::not_found()),
    }
    // The same parsing and rules as intake (src/http/agents.rs `submit`).
    let body = json_body(&headers, &body)?;
    let request = EscalationRequest::parse(body.clone(), state.service.now())?;
    if let Some(url) = &request.callback_url {
        state.service.check_callback(&agent, url).await?;
    }
    let esc = match state
        .service
        .revise(&agent.id, &id, request, &body, key.as_deref())
        .await?
    {
        Revision::New(esc) | Revision::Repeat(esc) => esc,
    };
    Ok(Json(status_document(&esc, &state.service.dir)))
}
