//! Request pieces every surface needs: bearer credentials, raw bodies under the limit, JSON parsing.

use super::AppState;
use super::error::AppError;
use crate::config::{AgentConfig, ReviewerConfig};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The agent whose API key is in `Authorization: Bearer`.
pub struct AuthAgent(pub AgentConfig);

impl<S: Send + Sync> FromRequestParts<S> for AuthAgent
where
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        // The key is judged against the config version serving now.
        let state = AppState::from_ref(state);
        let token = credential(parts, "An agent")?;
        let agent = state.service.config.agent_by_api_key(token);
        agent.cloned().map(AuthAgent).ok_or_else(invalid_key)
    }
}

/// The reviewer whose API key is in `Authorization: Bearer`.
pub struct AuthReviewer(pub ReviewerConfig);

impl<S: Send + Sync> FromRequestParts<S> for AuthReviewer
where
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        // The key is judged against the config version serving now.
        let state = AppState::from_ref(state);
        let token = credential(parts, "A reviewer")?;
        let reviewer = state.service.config.reviewer_by_api_key(token);
        reviewer.cloned().map(AuthReviewer).ok_or_else(invalid_key)
    }
}

fn credential<'a>(parts: &'a Parts, who: &str) -> Result<&'a str, AppError> {
    bearer(&parts.headers).ok_or_else(|| {
        AppError::unauthorized(format!(
            "{who} API key is required (Authorization: Bearer …)."
        ))
    })
}

fn invalid_key() -> AppError {
    AppError::unauthorized("The API key is not valid.")
}

/// The raw body, or the API's 413 / 400.
pub fn raw_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, AppError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The body is larger than the server accepts.",
            )
        } else {
            AppError::malformed(format!("The body could not be read: {e}"))
        }
    })
}

/// Parses JSON syntax only; a syntax error or a duplicate key is 400, shape errors are the
/// caller's 422.
pub fn json_value(body: &[u8]) -> Result<serde_json::Value, AppError> {
    super::strict_json::from_slice(body)
        .map_err(|e| AppError::malformed(format!("The body is not valid JSON: {e}")))
}

/// A JSON endpoint's body: 415 unless it says `Content-Type: application/json`, then
/// [`json_value`]. Call [`has_body`] first where a body is optional.
pub fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, AppError> {
    if has_body(body) && !is_json(headers) {
        return Err(AppError::unsupported_media_type());
    }
    json_value(body)
}

/// Whether the request carries a body at all (whitespace is none); 415 applies only then.
pub fn has_body(body: &[u8]) -> bool {
    !body.iter().all(u8::is_ascii_whitespace)
}

/// `application/json`, any case, parameters (`; charset=utf-8`) allowed.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}
