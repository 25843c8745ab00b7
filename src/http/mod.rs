//! HTTP surfaces, one router each (agents, reviewers, ops), sharing one error type.

pub mod agents;
pub mod error;
pub mod extract;
pub mod ops;
pub mod reviewers;

use crate::service::Service;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use error::AppError;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
}

pub fn router(state: AppState) -> Router {
    let limit = state.service.config.server.max_body_bytes;
    Router::new()
        .merge(agents::router())
        .merge(reviewers::router())
        .merge(ops::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> AppError {
    AppError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "No such route.",
    )
}
