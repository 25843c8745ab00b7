//! `GET /.well-known/jwks.json`: the public keys that verify decision receipts, without auth,
//! so an executor can check a receipt offline.

use super::{AppState, Routed};
use crate::signing::receipts::JwkSet;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

pub fn router() -> Router<Routed> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

/// The receipt keys as a JWK Set. Caches may keep it five minutes: a rotation publishes the
/// new key before it signs (restart with the old key in `previous_receipt_keys`).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "receipts",
    responses((status = 200, description = "Every key that verifies a receipt.", body = JwkSet)),
)]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        Json(state.service.receipts.jwks()),
    )
}
