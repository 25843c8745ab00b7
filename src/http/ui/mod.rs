//! The web UI under `/ui` (design.md §8): sign-in by emailed link, the reviewer's queue,
//! an escalation's timeline and, for operators, Insights. Server-rendered pages with the
//! email confirmation page's layout, headers and CSP; no script.

mod escalation;
mod insights;
mod login;
mod queue;
pub mod session;

use super::Routed;
use super::pages::{self, Page};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use serde::Serialize;
use serde_json::{Value, json};
use session::Viewer;

pub fn router() -> Router<Routed> {
    Router::new()
        .route("/ui", get(queue::show))
        .route("/ui/login", get(login::form).post(login::request))
        .route("/ui/login/{token}", get(login::link).post(login::sign_in))
        .route("/ui/logout", post(login::sign_out))
        .route("/ui/escalations/{id}", get(escalation::show))
        .route("/ui/escalations/{id}/vote", post(queue::vote))
        .route("/ui/insights", get(insights::show))
        .layer(middleware::map_response(pages::secure_headers))
}

/// A page; `context` is a JSON object.
fn page(template: &str, context: &impl Serialize, status: StatusCode) -> Page {
    pages::render(template, context, status)
}

/// A signed-in page: `context` gains the navigation (who, Insights for operators, the
/// sign-out form's token).
fn signed_in(viewer: &Viewer, template: &str, mut context: Value, status: StatusCode) -> Page {
    if let Value::Object(map) = &mut context {
        map.insert(
            "nav".into(),
            json!({
                "name": viewer.profile.name,
                "admin": viewer.admin,
                "csrf": viewer.csrf,
            }),
        );
    }
    page(template, &context, status)
}

/// Where a request without a live session goes.
fn to_login() -> Response {
    Redirect::to("/ui/login").into_response()
}

fn notice(status: StatusCode, title: &str, message: &str) -> Page {
    page(
        "pages/ui/notice.html",
        &json!({"title": title, "message": message, "login": false}),
        status,
    )
}

/// A form without its CSRF token (or with another's): nothing was done.
fn forbidden() -> Page {
    notice(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The form was not sent from this page or your session changed; nothing was done. Go back, reload the page and try again.",
    )
}

fn not_found() -> Page {
    notice(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such escalation, or it is not one you can see.",
    )
}

fn internal() -> Page {
    notice(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Something went wrong on our side; nothing was changed. Please try again in a minute.",
    )
}

/// The UI's routes in `/openapi.json` (merged into the API's document).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        queue::show,
        queue::vote,
        login::form,
        login::request,
        login::link,
        login::sign_in,
        login::sign_out,
        escalation::show,
        insights::show,
    ),
    tags((name = "web ui", description = "Server-rendered pages for reviewers and operators; a session cookie after a mailed sign-in link."))
)]
pub struct ApiDoc;
