//! Operations: liveness, readiness and Prometheus metrics.

use super::error::{AppError, ErrorBody};
use super::extract::bearer;
use super::openapi::{Health, Readiness};
use super::{AppState, Routed};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<Routed> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Health)),
)]
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers and the writer can commit: after a write failed for
/// want of storage, a probe as large as the largest request must commit first.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = Readiness),
        (status = 503, description = "`{\"status\": \"unavailable\", \"reason\": …}`", body = Readiness),
    ),
)]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = &state.service.store;
    let unready = |reason: &str, e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "readiness check failed: {reason}");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": reason})),
        )
    };
    if let Err(e) = store.ping().await {
        return unready("the database does not answer", &e);
    }
    let probe = state.service.config.server.max_body_bytes;
    if let Err(e) = store.writable(probe).await {
        return unready("the database cannot commit writes", &e);
    }
    (StatusCode::OK, Json(json!({"status": "ready"})))
}

/// The process's counters and histograms, and gauges counted from the database (so true
/// after a restart too) at most every few seconds.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition.", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "`unauthorized`: `server.metrics_token` is set and was not presented.", body = ErrorBody),
        (status = 503, description = "`unavailable`: the gauges could not be counted.", body = ErrorBody),
    ),
)]
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    if let Some(token) = &state.service.config.server.metrics_token {
        let presented = bearer(&headers).unwrap_or_default();
        if !token.ct_eq(presented) {
            return Err(AppError::unauthorized(
                "The metrics token is required (Authorization: Bearer …).",
            ));
        }
    }
    let now = state.service.now();
    let gauges = state.service.store.gauges(now).await?;
    let mut text = crate::telemetry::prometheus().render();
    crate::telemetry::render_gauges(&mut text, &gauges);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
