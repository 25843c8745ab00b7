//! The agent surface: submit escalations (bearer or signed webhook), read them, long-poll, cancel.

use super::AppState;
use super::error::AppError;
use super::extract::{AuthAgent, has_body, json_body, raw_body};
use super::limits::RateLimits;
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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/escalations", post(create))
        .route("/v1/webhooks/{agent_id}", post(webhook))
        .route("/v1/escalations/{id}", get(read))
        .route("/v1/escalations/{id}/cancel", post(cancel))
}

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

fn idempotency_key(value: Option<&str>) -> Result<String, AppError> {
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
    let request = EscalationRequest::parse(value, state.service.now())?;
    let (status, esc) = match state.service.submit(agent, request, key).await? {
        Intake::Created(esc) => (StatusCode::CREATED, esc),
        Intake::Existing(esc) => (StatusCode::OK, esc),
    };
    let location = format!("/v1/escalations/{}", esc.id);
    let doc = status_document(&esc, &state.service.dir);
    Ok((status, [(header::LOCATION, location)], Json(doc)).into_response())
}

/// Loads an escalation owned by this agent; another agent's is indistinguishable from none.
async fn owned(state: &AppState, agent: &AgentConfig, id: &str) -> Result<Escalation, AppError> {
    let id = EscalationId::parse(id).ok_or_else(AppError::not_found)?;
    match state.service.get(&id).await? {
        Some(esc) if esc.agent_id == agent.id => Ok(esc),
        _ => Err(AppError::not_found()),
    }
}

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
                Ok(Ok(done)) if done != esc.id => continue,
                // Our id, or we lagged behind and may have missed it: read again.
                Ok(_) => {
                    esc = owned(&state, &agent, &id).await?;
                    if !esc.is_pending() {
                        break;
                    }
                }
            }
        }
    }
    Ok(Json(status_document(&esc, &state.service.dir)))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: Option<String>,
}

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
