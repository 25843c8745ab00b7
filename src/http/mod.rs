//! HTTP surfaces, one router each (agents, reviewers, ops), sharing one error type.

pub mod agents;
pub mod error;
pub mod extract;
pub mod links;
pub mod ops;
pub mod reviewers;
pub mod slack;

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
        .merge(links::router())
        .merge(slack::router(&state))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(TraceLayer::new_for_http().make_span_with(span_for))
        .with_state(state)
}

async fn not_found() -> AppError {
    AppError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "No such route.",
    )
}

/// The request span, with credentials kept out of logs: an email link's token is
/// a bearer credential, so its path is logged without it.
fn span_for(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let path = request.uri().path();
    let path = match path.strip_prefix("/links/") {
        Some(_) => "/links/<token>",
        None => path,
    };
    tracing::debug_span!("request", method = %request.method(), path = %path)
}
