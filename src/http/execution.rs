//! The execution report (design.md §6): the agent says what it ran after an approval. This
//! surface only reads the body strictly and hands it over; the engine judges it (hash,
//! constraint checks, idempotency, `not_approved` / `already_reported`).

use super::AppState;
use super::agents::owned;
use super::answers::{AgentUnauthorized, JsonBodyRefused, Unavailable, UnknownEscalation};
use super::error::{AppError, ErrorBody};
use super::extract::{AuthAgent, json_body, raw_body};
use crate::domain::engine::Event;
use crate::domain::execution::ExecutionReport;
use crate::domain::status::{StatusDocument, status_document};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/escalations/{id}/execution", post(report))
}

/// Report what was executed after an approval.
///
/// Give the executed `payload` (or its `payload_sha256`); countersign compares its hash with
/// the approved one and runs the decision's constraint checks on it. Accepted once: the
/// same report again answers 200 and changes nothing, a different one is 409.
#[utoipa::path(
    post,
    path = "/v1/escalations/{id}/execution",
    tag = "agents",
    security(("agent_key" = [])),
    params(("id" = String, Path, description = "`esc_` + ULID.")),
    request_body(content = ExecutionReport, content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded (or the same report again): the status document with `execution`.", body = StatusDocument),
        (status = 400, description = "`malformed`: not JSON, or a duplicate key.", body = ErrorBody),
        AgentUnauthorized,
        UnknownEscalation,
        (status = 409, description = "`not_approved` (pending, denied, expired or cancelled) or `already_reported` (a different report came first).", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`validation`: an unknown field, a wrong type, `status` other than `succeeded` / `failed`, a malformed `payload_sha256` or one that is not the given payload's, neither `payload` nor `payload_sha256`.", body = ErrorBody),
        Unavailable,
    ),
)]
async fn report(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<StatusDocument>, AppError> {
    let body = raw_body(body)?;
    let report = parse(json_body(&headers, &body)?)?;
    let esc = owned(&state, &agent, &id).await?;
    let esc = state
        .service
        .apply(&esc.id, Event::ReportExecution(report))
        .await?;
    Ok(Json(status_document(&esc, &state.service.dir)))
}

/// The report's shape; a shape error is 422 naming the field (`payload_sha256: invalid type…`).
fn parse(value: serde_json::Value) -> Result<ExecutionReport, AppError> {
    if !value.is_object() {
        return Err(AppError::validation("The body must be a JSON object."));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match path.as_str() {
            "." => AppError::validation(inner.to_string()),
            _ => AppError::validation(format!("{path}: {inner}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn shape_errors_name_the_field() {
        let message = |v| parse(v).unwrap_err().message;
        assert!(message(json!({"status": "succeeded", "extra": 1})).contains("extra"));
        assert!(message(json!({"status": "done"})).starts_with("status:"));
        assert!(message(json!({"status": "failed", "detail": 5})).starts_with("detail:"));
        assert!(
            message(json!({"status": "failed", "payload_sha256": []})).contains("payload_sha256")
        );
        assert_eq!(parse(json!([1])).unwrap_err().code, "validation");
        let ok = parse(json!({"status": "succeeded", "payload": {"a": 1}})).unwrap();
        assert_eq!(ok.payload, Some(json!({"a": 1})));
    }
}
