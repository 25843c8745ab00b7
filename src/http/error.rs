//! One error type for every HTTP surface: the contract's JSON body, status codes, and opaque 500s.

use crate::domain::{Refusal, ValidationError};
use crate::service::{ApplyError, IntakeError};
use crate::store::StoreError;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Seconds a client waits before retrying a write storage refused (a full disk is freed,
/// a lock released, in that order of time).
pub const RETRY_AFTER_UNAVAILABLE: u64 = 5;
/// When an agent over its `max_pending` should look again: decisions take minutes, not seconds.
const PENDING_RETRY_SECS: u64 = 30;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `rate_limited`, with when to come back.
    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 415: a JSON endpoint got a body of another (or no) media type.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "The body must be sent with Content-Type: application/json.",
        )
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such escalation.")
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message)
    }

    /// Storage cannot take writes for now; the client may retry after [`RETRY_AFTER_UNAVAILABLE`].
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        // Health logs the change once; one line per refused request would flood the log.
        tracing::debug!(error = %error, "refused a request: storage cannot commit");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Storage cannot take writes right now; nothing was changed. Retry later.",
        );
        e.retry_after = Some(RETRY_AFTER_UNAVAILABLE);
        e
    }

    /// Logs the cause with context and shows nothing of it.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side; nothing was changed.",
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        if self.status == StatusCode::UNAUTHORIZED {
            return (self.status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
        }
        if let Some(secs) = self.retry_after {
            return (self.status, [(header::RETRY_AFTER, secs.to_string())], body).into_response();
        }
        (self.status, body).into_response()
    }
}

impl From<ValidationError> for AppError {
    fn from(e: ValidationError) -> Self {
        Self::validation(e.to_string())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            return Self::unavailable(e);
        }
        Self::internal("database error", e)
    }
}

impl AppError {
    /// The one answer to an engine refusal, on every surface: the API's JSON error, the
    /// link pages' status and the sentence Slack shows the clicker all come from here.
    pub fn refused(r: &Refusal) -> Self {
        let status = match r {
            Refusal::NotEligible(_)
            | Refusal::SelfApproval
            | Refusal::SeparationOfDuties(_)
            | Refusal::AlreadyVoted => StatusCode::FORBIDDEN,
            Refusal::AlreadyDecided(_) | Refusal::StaleStage => StatusCode::CONFLICT,
            Refusal::DenyNeedsComment | Refusal::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self::new(status, r.code(), r.message())
    }
}

impl From<Refusal> for AppError {
    fn from(r: Refusal) -> Self {
        Self::refused(&r)
    }
}

impl From<ApplyError> for AppError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::NotFound => Self::not_found(),
            ApplyError::Refused(r) => r.into(),
            ApplyError::Store(e) => e.into(),
        }
    }
}

impl From<IntakeError> for AppError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::NoWorkflow { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_workflow",
                format!("{e}; nothing governs this action, so it may not proceed."),
            ),
            IntakeError::Invalid(e) => e.into(),
            IntakeError::TooManyPending { max } => Self::rate_limited(
                format!(
                    "This agent already has {max} escalations waiting for a decision; retry once some are decided."
                ),
                PENDING_RETRY_SECS,
            ),
            IntakeError::Store(e) => e.into(),
        }
    }
}
