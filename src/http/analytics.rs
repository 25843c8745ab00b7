//! `GET /v1/analytics`: the analytics report for operators (design.md §8).

use super::error::{AppError, ErrorBody};
use super::extract::AuthReviewer;
use super::{AppState, Routed};
use crate::domain::analytics::Analytics;
use crate::domain::tally::parse_since;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

/// The window when `since` is not given.
pub const DEFAULT_SINCE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

pub fn router() -> Router<Routed> {
    Router::new().route("/v1/analytics", get(analytics))
}

/// How approvals performed over a window.
///
/// Operators only: a reviewer with `admin: true`. Counts, rates, exact medians and p90s
/// of everything decided, voted and closed from `since` ago (rounded down to the hour)
/// until now; `alerts` are those open now.
#[utoipa::path(
    get,
    path = "/v1/analytics",
    tag = "reviewers",
    security(("reviewer_key" = [])),
    params(
        ("since" = Option<String>, Query, description = "The window: whole minutes, hours, days or weeks (`30m`, `24h`, `7d`, `2w`), at most 366 days. Default `7d`."),
    ),
    responses(
        (status = 200, description = "The report.", body = Analytics),
        (status = 401, description = "`unauthorized`: the reviewer key is missing or not valid (an agent's key is not one).", body = ErrorBody),
        (status = 403, description = "`forbidden`: the reviewer is not an operator (`admin: true`).", body = ErrorBody),
        (status = 422, description = "`validation`: `since` is not a window, or an unknown query parameter.", body = ErrorBody),
    ),
)]
async fn analytics(
    State(state): State<AppState>,
    AuthReviewer(reviewer): AuthReviewer,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Analytics>, AppError> {
    if !reviewer.admin {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Analytics are for operators: a reviewer with `admin: true`.",
        ));
    }
    let mut since = DEFAULT_SINCE;
    for (name, value) in &params {
        match name.as_str() {
            "since" => {
                since = parse_since(value).ok_or_else(|| {
                    AppError::validation(format!(
                        "since: {value:?} is not a window: whole minutes, hours, days or weeks such as 30m, 24h, 7d, 2w, at most 366d."
                    ))
                })?
            }
            other => {
                return Err(AppError::validation(format!(
                    "{other}: unknown query parameter; only since is accepted."
                )));
            }
        }
    }
    let service = &state.service;
    Ok(Json(service.analytics(since, service.now()).await?))
}
