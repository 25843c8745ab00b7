//! HTTP surfaces, one router each (agents, reviewers, ops, links, slack, the OpenAPI
//! document), sharing one error type.

pub mod agents;
pub mod analytics;
mod answers;
pub mod error;
pub mod execution;
pub mod extract;
pub mod jwks;
pub mod limits;
pub mod links;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod reviewers;
pub mod revisions;
pub mod serve;
pub mod simulate;
pub mod slack;
pub mod strict_json;
pub mod ui;

use crate::notify::slack::api::SlackApi;
use crate::service::Service;
use crate::signing::links::LinkKeys;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use error::AppError;
use std::sync::Arc;
use tower_http::trace::TraceLayer;

/// What every handler can reach: the service, and the pieces `App::build` made once.
/// A handler's `State<AppState>` holds the config version current when it was extracted
/// (see [`Routed`]).
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    /// The Slack Web API client, when Slack is configured.
    pub slack_api: Option<Arc<SlackApi>>,
    /// The keys that sign and verify email links.
    pub link_keys: Arc<LinkKeys>,
}

/// The router's state: the `AppState` built at start. Handlers do not see it; they
/// extract `State<AppState>`, which [`FromRef`] makes on the config version serving at
/// that moment — so a request keeps one version to its end, and a reload reaches the
/// next request without the router being rebuilt.
#[derive(Clone)]
pub struct Routed(AppState);

impl FromRef<Routed> for AppState {
    fn from_ref(routed: &Routed) -> AppState {
        AppState {
            service: routed.0.service.current(),
            ..routed.0.clone()
        }
    }
}

pub fn router(state: AppState) -> Router {
    // A body limit is a layer built once: `max_body_bytes` needs a restart.
    let limit = state.service.config.server.max_body_bytes;
    let rate_limits = limits::Current::new(state.service.live.clone());
    Router::new()
        .merge(agents::router())
        .merge(execution::router())
        .merge(revisions::router())
        .merge(simulate::router())
        .merge(reviewers::router())
        .merge(analytics::router())
        .merge(ops::router())
        .merge(openapi::router())
        .merge(jwks::router())
        .merge(links::router())
        .merge(ui::router())
        .merge(slack::router(&state))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            rate_limits,
            limits::Current::attach,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::map_response(json_errors))
        .layer(TraceLayer::new_for_http().make_span_with(span_for))
        .with_state(Routed(state))
}

async fn not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "not_found", "No such route.")
}

/// Every error leaves as an `ErrorBody` (src/http/error.rs): axum's own rejections (Path, Query, Json,
/// body limit), its empty 405 and anything else that answers an error as plain text or
/// nothing are rewritten to `{"error":{"code","message"}}`, keeping their status and headers
/// (`Allow`, `Retry-After`). JSON errors and the email pages (HTML) pass untouched.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let plain = match response.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.to_str().is_ok_and(|v| v.starts_with("text/plain")),
    };
    if !plain {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let (code, fallback) = error_code(status);
    let text = axum::body::to_bytes(body, 2048).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    // A 5xx's text may say more than a client should read; it goes to the log instead.
    let message = if text.is_empty() || status.is_server_error() {
        if !text.is_empty() {
            tracing::error!(%status, error = %text, "plain-text server error");
        }
        fallback.to_owned()
    } else {
        text
    };
    let body = serde_json::to_string(&error::ErrorBody::new(code, message)).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// The `ErrorCode` and a default sentence for a status.
fn error_code(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("malformed", "The request could not be read."),
        401 => ("unauthorized", "Credentials are missing or not valid."),
        403 => ("forbidden", "This is not allowed."),
        404 => ("not_found", "No such route."),
        405 => (
            "method_not_allowed",
            "This route does not accept that method.",
        ),
        408 => ("request_timeout", "The request took too long to arrive."),
        409 => ("conflict", "The request conflicts with the current state."),
        413 => (
            "payload_too_large",
            "The body is larger than the server accepts.",
        ),
        415 => (
            "unsupported_media_type",
            "The body's media type is not accepted here.",
        ),
        422 => ("validation", "The request is not valid."),
        429 => ("rate_limited", "Too many requests; retry later."),
        503 => (
            "unavailable",
            "The service cannot take this request now; retry later.",
        ),
        402..=499 => ("bad_request", "The request was refused."),
        _ => (
            "internal",
            "Something went wrong on our side; nothing was changed.",
        ),
    }
}

/// The request span, with credentials kept out of logs: an email link's token and a
/// sign-in link's are bearer credentials, so their paths are logged without them.
fn span_for(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let path = request.uri().path();
    let path = if path.starts_with("/links/") {
        "/links/<token>"
    } else if path.starts_with("/ui/login/") {
        "/ui/login/<token>"
    } else {
        path
    };
    tracing::debug_span!("request", method = %request.method(), path = %path)
}
