//! The agent surface: submit escalations (bearer or signed webhook), read them, long-poll, cancel.

use super::answers::{AgentUnauthorized, JsonBodyRefused, Unavailable, UnknownEscalation};
use super::error::AppError;
use super::error::ErrorBody;
use super::extract::{AuthAgent, has_body, json_body, raw_body};
use super::limits::RateLimits;
use super::{AppState, Routed};
use crate::config::AgentConfig;
use crate::domain::engine::Event;
use crate::domain::status::{StatusDocument, status_document};
use crate::domain::{Escalation, EscalationId, EscalationRequest};
use crate::service::Intake;
use crate::signing::webhooks;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The longest a `?wait=` long-poll is held.
pub const MAX_WAIT_SECS: u64 = 60;
/// Idempotency keys longer than this are refused rather than stored.
const MAX_IDEMPOTENCY_KEY: usize = 255;

pub fn router() -> Router<Routed> {
    Router::new()
        .route("/v1/escalations", post(create))
        .route("/v1/webhooks/{agent_id}", post(webhook))
        .route("/v1/escalations/{id}", get(read))
        .route("/v1/escalations/{id}/cancel", post(cancel))
}

/// Submit an escalation.
///
/// Answered once the escalation is durable. A repeat with the same `Idempotency-Key`
/// answers 200 with the first escalation and creates nothing.
#[utoipa::path(
    post,
    path = "/v1/escalations",
    tag = "agents",
    security(("agent_key" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible characters; a repeat returns the escalation it first created."),
    ),
    request_body(content = EscalationRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = StatusDocument, headers(("Location" = String, description = "`/v1/escalations/{id}`"))),
        (status = 200, description = "A repeat of an idempotency key: the escalation it created.", body = StatusDocument, headers(("Location" = String, description = "`/v1/escalations/{id}`"))),
        AgentUnauthorized,
        (status = 400, description = "`malformed`: not JSON, a duplicate key, or a bad idempotency key.", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`validation` (the message names the field; unknown top-level fields too) or `no_workflow` (nothing governs this action, so it may not proceed).", body = ErrorBody),
        (status = 429, description = "`rate_limited`: over the agent's `rate_limit` (per second or `max_pending`).", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        Unavailable,
    ),
)]
async fn create(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<RateLimits>>,
    AuthAgent(agent): AuthAgent,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = raw_body(body)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(idempotency_key(v.to_str().ok())?),
        None => None,
    };
    submit(&state, &limits, &agent, &headers, &body, key).await
}

/// Standard Webhooks intake: the signature is verified over the raw bytes
/// before anything is parsed; `webhook-id` is the idempotency key.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{agent_id}",
    tag = "agents",
    summary = "Submit an escalation as a signed webhook",
    description = "The intake body, signed per Standard Webhooks with the agent's `whsec_` secret (5-minute timestamp tolerance; several `v1,` signatures may be given). `webhook-id` is the idempotency key.",
    params(
        ("agent_id" = String, Path, description = "The agent's id from the config."),
        ("webhook-id" = String, Header, description = "Unique per message; also the idempotency key."),
        ("webhook-timestamp" = String, Header, description = "Unix seconds."),
        ("webhook-signature" = String, Header, description = "Space-separated `v1,<base64 HMAC-SHA256>` signatures."),
    ),
    request_body(content = EscalationRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = StatusDocument, headers(("Location" = String, description = "`/v1/escalations/{id}`"))),
        (status = 200, description = "A repeat of a `webhook-id`: the escalation it created.", body = StatusDocument, headers(("Location" = String, description = "`/v1/escalations/{id}`"))),
        (status = 401, description = "`unauthorized`: unknown agent, missing headers, or a signature or timestamp that does not verify.", body = ErrorBody),
        (status = 400, description = "`malformed`: not JSON, a duplicate key, or a bad idempotency key.", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`validation` (the message names the field; unknown top-level fields too) or `no_workflow` (nothing governs this action, so it may not proceed).", body = ErrorBody),
        (status = 429, description = "`rate_limited`: over the agent's `rate_limit` (per second or `max_pending`).", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        Unavailable,
    ),
)]
async fn webhook(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<RateLimits>>,
    Path(agent_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = raw_body(body)?;
    let denied = || AppError::unauthorized("The webhook signature could not be verified.");
    let agent = state
        .service
        .config
        .agent(&agent_id)
        .cloned()
        .ok_or_else(denied)?;
    let key = agent.webhook_key().ok_or_else(denied)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(sig)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return Err(AppError::unauthorized(
            webhooks::WebhookError::MissingHeaders.to_string(),
        ));
    };
    let now = state.service.now().timestamp();
    webhooks::verify(&key, id, ts, sig, &body, now).map_err(|e| {
        AppError::unauthorized(format!("The webhook signature could not be verified: {e}."))
    })?;
    let key = idempotency_key(Some(id))?;
    submit(&state, &limits, &agent, &headers, &body, Some(key)).await
}

pub(super) fn idempotency_key(value: Option<&str>) -> Result<String, AppError> {
    match value.map(str::trim) {
        Some(k) if !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY => Ok(k.to_owned()),
        _ => Err(AppError::malformed(format!(
            "The idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} visible characters."
        ))),
    }
}

/// The shared intake of both routes, once the agent is known (a webhook's signature
/// verified, so nobody else can spend its rate budget).
async fn submit(
    state: &AppState,
    limits: &RateLimits,
    agent: &AgentConfig,
    headers: &HeaderMap,
    body: &[u8],
    key: Option<String>,
) -> Result<Response, AppError> {
    limits.check(agent)?;
    let value = json_body(headers, body)?;
    let request = EscalationRequest::parse(value.clone(), state.service.now())?;
    let (status, esc) = match state.service.submit(agent, request, &value, key).await? {
        Intake::Created(esc) => (StatusCode::CREATED, esc),
        Intake::Existing(esc) => (StatusCode::OK, esc),
    };
    let location = format!("/v1/escalations/{}", esc.id);
    let mut doc = status_document(&esc, &state.service.dir);
    doc.estimated_completion = state.service.estimated_completion(&esc).await?;
    Ok((status, [(header::LOCATION, location)], Json(doc)).into_response())
}

/// Loads an escalation owned by this agent; another agent's is indistinguishable from none.
pub(super) async fn owned(
    state: &AppState,
    agent: &AgentConfig,
    id: &str,
) -> Result<Escalation, AppError> {
    let id = EscalationId::parse(id).ok_or_else(AppError::not_found)?;
    match state.service.get(&id).await? {
        Some(esc) if esc.agent_id == agent.id => Ok(esc),
        _ => Err(AppError::not_found()),
    }
}

/// Read an escalation, or long-poll for its decision.
///
/// Only the agent's own escalations. With `?wait=N` the answer waits until the status
/// leaves `pending` or N seconds pass.
#[utoipa::path(
    get,
    path = "/v1/escalations/{id}",
    tag = "agents",
    security(("agent_key" = [])),
    params(
        ("id" = String, Path, description = "`esc_` + ULID."),
        ("wait" = Option<u64>, Query, description = "Seconds to long-poll while pending; above 60 counts as 60."),
    ),
    responses(
        (status = 200, description = "The status document.", body = StatusDocument),
        (status = 400, description = "`malformed`: `wait` is not a whole number.", body = ErrorBody),
        AgentUnauthorized,
        UnknownEscalation,
        Unavailable,
    ),
)]
async fn read(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<StatusDocument>, AppError> {
    let wait = match query.get("wait") {
        None => 0,
        Some(w) => w
            .trim()
            .parse::<u64>()
            .map_err(|_| AppError::malformed("wait must be a whole number of seconds (0 to 60)."))?
            .min(MAX_WAIT_SECS),
    };
    // Subscribe before reading, so a decision landing in between is not missed.
    let mut decided = state.service.signals.subscribe_decided();
    let mut esc = owned(&state, &agent, &id).await?;
    if esc.is_pending() && wait > 0 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        loop {
            match tokio::time::timeout_at(deadline, decided.recv()).await {
                Err(_) => break,
                Ok(Ok(Some(done))) if done != esc.id => continue,
                // Our id, or wake-ups were missed (we lagged behind, or another replica's
                // announcements were lost): read again.
                Ok(_) => {
                    esc = owned(&state, &agent, &id).await?;
                    if !esc.is_pending() {
                        break;
                    }
                }
            }
        }
    }
    let mut doc = status_document(&esc, &state.service.dir);
    doc.estimated_completion = state.service.estimated_completion(&esc).await?;
    Ok(Json(doc))
}

#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    /// Shown to reviewers and kept as the decision's reason (up to 2000 characters).
    reason: Option<String>,
}

/// Cancel a pending escalation.
///
/// It ends `cancelled`, reviewers' messages are updated and the agent is called back. The
/// body is optional.
#[utoipa::path(
    post,
    path = "/v1/escalations/{id}/cancel",
    tag = "agents",
    security(("agent_key" = [])),
    params(("id" = String, Path, description = "`esc_` + ULID.")),
    request_body(content = Option<CancelBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "Cancelled: the status document.", body = StatusDocument),
        (status = 400, description = "`malformed`: a body that is not JSON.", body = ErrorBody),
        AgentUnauthorized,
        UnknownEscalation,
        (status = 409, description = "`already_decided`.", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`validation`: an unknown field in the body.", body = ErrorBody),
        Unavailable,
    ),
)]
async fn cancel(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<StatusDocument>, AppError> {
    let body = raw_body(body)?;
    // A cancel takes no body; one it does carry must be JSON.
    let input: CancelBody = if !has_body(&body) {
        CancelBody::default()
    } else {
        serde_json::from_value(json_body(&headers, &body)?)
            .map_err(|e| AppError::validation(e.to_string()))?
    };
    let esc = owned(&state, &agent, &id).await?;
    let reason = input
        .reason
        .map(|r| r.trim().chars().take(2000).collect::<String>());
    let event = Event::Cancel {
        by: agent.id.clone(),
        reason: reason.filter(|r| !r.is_empty()),
    };
    let esc = state.service.apply(&esc.id, event).await?;
    Ok(Json(status_document(&esc, &state.service.dir)))
}
