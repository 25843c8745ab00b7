//! One error type for every HTTP surface: the API's JSON error body (`ErrorBody` in
//! `GET /openapi.json`), status codes, and opaque 500s.

use crate::domain::{Refusal, ValidationError};
use crate::service::{ApplyError, IntakeError};
use crate::store::StoreError;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

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

/// `{"error": {"code", "message"}}`: the body of every JSON error, the framework's own
/// rejections included (see `json_errors` in src/http/mod.rs).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code a program can branch on.
    #[schema(value_type = ErrorCode)]
    pub code: &'static str,
    /// A sentence for a human; its wording may change.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

/// Every `error.code` the server answers with. Codes are written as `&'static str` where
/// they arise (the engine's [`Refusal::code`], the status fallbacks of src/http/mod.rs);
/// this enum is their published list, and a test keeps the two in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: unreadable body, syntax error or duplicate JSON key, bad query or header.
    Malformed,
    /// 401: credentials missing or not valid.
    Unauthorized,
    /// 403: the reviewer is not in the stage's pool or lacks its role or department.
    NotEligible,
    /// 403: the requester may not review their own action.
    SelfApproval,
    /// 403: a separation-of-duties rule blocks this vote.
    SeparationOfDuties,
    /// 403: this reviewer already voted on this stage.
    AlreadyVoted,
    /// 403: another refusal (framework fallback).
    Forbidden,
    /// 404: unknown id or route (another agent's escalation is unknown too).
    NotFound,
    /// 405: the route does not accept this method (`Allow` lists those it does).
    MethodNotAllowed,
    /// 408: the request took too long to arrive.
    RequestTimeout,
    /// 409: the escalation is already decided.
    AlreadyDecided,
    /// 409: the button or link belongs to a stage opening that has closed.
    StaleStage,
    /// 409: an execution report for an escalation that is not approved.
    NotApproved,
    /// 409: an execution was already reported with a different body.
    AlreadyReported,
    /// 409: another conflict (framework fallback).
    Conflict,
    /// 413: the body is over `server.max_body_bytes`.
    PayloadTooLarge,
    /// 415: a JSON endpoint got a body without `Content-Type: application/json`.
    UnsupportedMediaType,
    /// 422: the content is not valid (the message names the field).
    Validation,
    /// 422: no workflow matches, so the action may not proceed (fail closed).
    NoWorkflow,
    /// 429: over the agent's rate or pending limit; see `Retry-After`.
    RateLimited,
    /// 4xx: any other client error (framework fallback).
    BadRequest,
    /// 500: something failed on the server; nothing was changed.
    Internal,
    /// 503: storage cannot commit now; see `Retry-After`.
    Unavailable,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody::new(self.code, self.message));
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
            Refusal::AlreadyDecided(_)
            | Refusal::StaleStage
            | Refusal::NotApproved(_)
            | Refusal::AlreadyReported => StatusCode::CONFLICT,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EscalationStatus;
    use crate::service::IntakeError;

    /// The codes `ErrorCode` publishes, read from its own schema.
    fn published() -> Vec<String> {
        let schema = serde_json::to_value(<ErrorCode as utoipa::PartialSchema>::schema())
            .expect("schema serializes");
        let codes = schema["enum"].as_array().expect("an enum schema").clone();
        codes
            .into_iter()
            .map(|c| c.as_str().expect("a string code").to_owned())
            .collect()
    }

    #[test]
    fn every_code_the_server_answers_is_published() {
        let published = published();
        let mut answered: Vec<&'static str> = (400..=599)
            .filter_map(|s| StatusCode::from_u16(s).ok())
            .map(|s| super::super::error_code(s).0)
            .collect();
        let refusals = [
            Refusal::NotEligible(String::new()),
            Refusal::SelfApproval,
            Refusal::SeparationOfDuties(String::new()),
            Refusal::AlreadyVoted,
            Refusal::AlreadyDecided(EscalationStatus::Approved),
            Refusal::StaleStage,
            Refusal::DenyNeedsComment,
            Refusal::Invalid(String::new()),
            Refusal::NotApproved(EscalationStatus::Denied),
            Refusal::AlreadyReported,
        ];
        answered.extend(refusals.iter().map(|r| AppError::refused(r).code));
        let intake = IntakeError::NoWorkflow {
            intent: "i".into(),
            risk: "1".into(),
        };
        answered.extend([
            AppError::from(intake).code,
            AppError::malformed("").code,
            AppError::unauthorized("").code,
            AppError::not_found().code,
            AppError::validation("").code,
            AppError::unsupported_media_type().code,
            AppError::rate_limited("", 1).code,
            AppError::unavailable("").code,
            AppError::internal("test", "").code,
        ]);
        for code in answered {
            assert!(
                published.iter().any(|p| p == code),
                "{code} is answered but not in ErrorCode"
            );
        }
    }

    #[test]
    fn the_body_is_the_documented_shape() {
        let body =
            serde_json::to_value(ErrorBody::new("not_found", "No such escalation.")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "not_found", "message": "No such escalation."}})
        );
    }
}
