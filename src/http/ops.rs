//! Operations: liveness, readiness and Prometheus metrics.

use super::AppState;
use crate::store;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.service.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "reason": "the database does not answer"})),
            )
        }
    }
}

/// Gauges read from the database at scrape time, so they are true after a restart too.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pool = &state.service.store.pool;
    if let Ok(depth) = store::outbox::depth(pool).await {
        metrics::gauge!("countersign_outbox_depth").set(depth as f64);
    }
    if let Ok(armed) = store::timers::count(pool).await {
        metrics::gauge!("countersign_timers_armed").set(armed as f64);
    }
    if let Ok(Some(next)) = store::timers::next_due(pool).await {
        let overdue = (state.service.now() - next).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::gauge!("countersign_timer_overdue_seconds").set(overdue);
    } else {
        metrics::gauge!("countersign_timer_overdue_seconds").set(0.0);
    }
    if let Ok(counts) = store::escalations::count_by_status(pool).await {
        for (status, n) in counts {
            metrics::gauge!("countersign_escalations", "status" => status).set(n as f64);
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::prometheus().render(),
    )
}
