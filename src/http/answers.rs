//! Error answers several routes document alike, written once for `GET /openapi.json`:
//! a `#[utoipa::path]` lists these types in `responses(...)` beside its own tuples.
//! Nothing builds them; utoipa only reads their attributes.
#![allow(dead_code)]

use super::error::ErrorBody;

/// 401 on the routes that take an agent's bearer key.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 401,
    description = "`unauthorized`: the agent key is missing or not valid."
)]
pub struct AgentUnauthorized(ErrorBody);

/// 404 on the routes that name one of the agent's escalations.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "`not_found`: no such escalation, or another agent's."
)]
pub struct UnknownEscalation(ErrorBody);

/// 413 and 415 on the routes that read a JSON body.
#[derive(utoipa::IntoResponses)]
pub enum JsonBodyRefused {
    #[response(
        status = 413,
        description = "`payload_too_large`: over `server.max_body_bytes`."
    )]
    TooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "`unsupported_media_type`: a body without `Content-Type: application/json`."
    )]
    NotJson(ErrorBody),
}

/// 503 on every route that writes.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 503,
    description = "`unavailable`: storage cannot commit now; nothing was changed.",
    headers(("Retry-After" = u64, description = "Seconds to wait."))
)]
pub struct Unavailable(ErrorBody);
