//! Sign-in by emailed magic link, and sign-out. `POST /ui/login` answers the same page
//! whether or not the address is a reviewer's; the mailed link's GET only shows a "Sign in"
//! button (mail scanners open links), and its POST uses the link once and opens the session.

use super::session::{self, CSRF_FIELD, MAX_AGE, PRE, SESSION};
use super::{forbidden, page};
use crate::http::AppState;
use crate::http::pages::Page;
use crate::notify::email::sign_in as mail;
use crate::service::sha256_hex;
use crate::signing::links::LinkError;
use crate::signing::sign_in::{LIFETIME, SignInClaims};
use crate::store::web::SignInRequest;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

/// At most this many sign-in mails per reviewer in [`MAIL_WINDOW`].
const MAIL_LIMIT: i64 = 5;
const MAIL_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// The pre-session cookie's value: the request's, or a new one to set.
fn pre_value(headers: &HeaderMap) -> (String, bool) {
    match session::cookie(headers, PRE) {
        Some(v) => (v.to_owned(), false),
        None => (session::random_secret(), true),
    }
}

/// A page for someone not signed in, setting the pre-session cookie when it is new.
fn with_pre(state: &AppState, page: Page, pre: &str, fresh: bool) -> Response {
    let mut response = page.into_response();
    if fresh {
        let cookie = session::set_cookie(state, PRE, pre, MAX_AGE);
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// GET /ui/login: the address form.
#[utoipa::path(get, path = "/ui/login", operation_id = "ui_login_form", tag = "web ui", responses((status = 200, description = "The sign-in form; sets the pre-session cookie its CSRF token is bound to.", content_type = "text/html")))]
pub async fn form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (pre, fresh) = pre_value(&headers);
    let page = page(
        "pages/ui/login.html",
        &json!({"csrf": session::pre_token(&state, &pre), "error": null}),
        StatusCode::OK,
    );
    with_pre(&state, page, &pre, fresh)
}

/// POST /ui/login: queues a sign-in mail for a reviewer's address; the same answer for any address.
#[utoipa::path(post, path = "/ui/login", operation_id = "ui_login_request", tag = "web ui", request_body(content_type = "application/x-www-form-urlencoded", description = "The form's fields, with `csrf`."), responses((status = 200, description = "Check your mail: the same page whether or not the address is a reviewer's.", content_type = "text/html"), (status = 403, description = "The form's CSRF token is missing or wrong: nothing was done.", content_type = "text/html"), (status = 422, description = "No address given.", content_type = "text/html")))]
pub async fn request(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let pairs = form.map(|Form(p)| p).unwrap_or_default();
    if !session::pre_ok(&state, &headers, session::field(&pairs, CSRF_FIELD)) {
        return forbidden().into_response();
    }
    let address = session::field(&pairs, "email").unwrap_or_default().trim();
    if address.is_empty() || address.len() > 320 {
        let (pre, fresh) = pre_value(&headers);
        let context =
            json!({"csrf": session::pre_token(&state, &pre), "error": "Enter your email address."});
        let page = page(
            "pages/ui/login.html",
            &context,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
        return with_pre(&state, page, &pre, fresh);
    }
    queue_mail(&state, address).await;
    page("pages/ui/sent.html", &json!({}), StatusCode::OK).into_response()
}

/// Queues the mail when `address` is a reviewer's and the rate allows; logs, never tells.
async fn queue_mail(state: &AppState, address: &str) {
    let dir = &state.service.dir;
    let Some(reviewer) = dir
        .reviewers
        .values()
        .find(|r| r.email.trim().eq_ignore_ascii_case(address))
    else {
        tracing::info!("sign-in asked for an address that is no reviewer's");
        return;
    };
    let Some(domain) = mail::domain(&state.service.config) else {
        tracing::warn!(reviewer = %reviewer.id, "sign-in asked but email is off: no link can be sent");
        return;
    };
    let now = state.service.now();
    let nonce = session::random_secret();
    let expires_at = now + LIFETIME;
    let request = SignInRequest {
        reviewer: &reviewer.id,
        nonce: &nonce,
        expires_at,
        window_start: now - MAIL_WINDOW,
        limit: MAIL_LIMIT,
        mail: mail::item(&reviewer.id, &nonce, expires_at, &domain),
    };
    match state.service.store.request_sign_in(request, now).await {
        Ok(true) => state.service.signals.wake_outbox(),
        Ok(false) => tracing::warn!(reviewer = %reviewer.id, "sign-in mails rate-limited"),
        Err(e) => tracing::error!(error = %e, "queueing a sign-in mail"),
    }
}

/// Why a sign-in link cannot be used.
fn refused(error: LinkError) -> Page {
    let (status, title, message) = match error {
        LinkError::Expired(_) => (
            StatusCode::GONE,
            "This sign-in link has expired",
            "Sign-in links work for 15 minutes. Ask for a new one.",
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            "The link is incomplete or has been changed. Open it again from the email, or ask for a new one.",
        ),
    };
    page(
        "pages/ui/notice.html",
        &json!({"title": title, "message": message, "login": true}),
        status,
    )
}

fn spent() -> Page {
    page(
        "pages/ui/notice.html",
        &json!({
            "title": "This sign-in link was already used",
            "message": "Each sign-in link works once. Ask for a new one.",
            "login": true,
        }),
        StatusCode::CONFLICT,
    )
}

/// GET /ui/login/{token}: the "Sign in" button. Reads only.
#[utoipa::path(get, path = "/ui/login/{token}", operation_id = "ui_login_link", tag = "web ui", params(("token" = String, Path, description = "The mailed sign-in token.")), responses((status = 200, description = "The Sign in button. Changes nothing.", content_type = "text/html"), (status = 400, description = "A tampered or foreign link.", content_type = "text/html"), (status = 409, description = "Already used.", content_type = "text/html"), (status = 410, description = "Expired.", content_type = "text/html")))]
pub async fn link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let now = state.service.now();
    let claims = match SignInClaims::verify(&state.link_keys, &token, now) {
        Ok(c) => c,
        Err(e) => return refused(e).into_response(),
    };
    match state.service.store.sign_in_used(&claims.nonce).await {
        Ok(false) => {}
        Ok(true) => return spent().into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading a sign-in link");
            return super::internal().into_response();
        }
    }
    let Some(profile) = state.service.dir.get(&claims.reviewer) else {
        return refused(LinkError::Malformed).into_response();
    };
    let (pre, fresh) = pre_value(&headers);
    let context = json!({
        "csrf": session::pre_token(&state, &pre),
        "reviewer": {"name": profile.name, "email": profile.email},
    });
    let page = page("pages/ui/confirm_sign_in.html", &context, StatusCode::OK);
    with_pre(&state, page, &pre, fresh)
}

/// POST /ui/login/{token}: uses the link once and opens a session.
#[utoipa::path(post, path = "/ui/login/{token}", operation_id = "ui_login_sign_in", tag = "web ui", params(("token" = String, Path, description = "The mailed sign-in token.")), request_body(content_type = "application/x-www-form-urlencoded", description = "The form's fields, with `csrf`."), responses((status = 303, description = "Signed in: the session cookie is set; to /ui."), (status = 400, description = "A tampered or foreign link.", content_type = "text/html"), (status = 403, description = "The form's CSRF token is missing or wrong: nothing was done.", content_type = "text/html"), (status = 409, description = "Already used.", content_type = "text/html"), (status = 410, description = "Expired.", content_type = "text/html")))]
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let pairs = form.map(|Form(p)| p).unwrap_or_default();
    if !session::pre_ok(&state, &headers, session::field(&pairs, CSRF_FIELD)) {
        return forbidden().into_response();
    }
    let now = state.service.now();
    let claims = match SignInClaims::verify(&state.link_keys, &token, now) {
        Ok(c) => c,
        Err(e) => return refused(e).into_response(),
    };
    if state.service.dir.get(&claims.reviewer).is_none() {
        return refused(LinkError::Malformed).into_response();
    }
    let id = session::random_secret();
    let store = &state.service.store;
    let opened = store
        .sign_in(
            &claims.nonce,
            &claims.reviewer,
            &sha256_hex(id.as_bytes()),
            now + MAX_AGE,
            now,
        )
        .await;
    match opened {
        Ok(Some(())) => {
            tracing::info!(reviewer = %claims.reviewer, "signed in to the web UI");
            let mut response = Redirect::to("/ui").into_response();
            let cookie = session::set_cookie(&state, SESSION, &id, MAX_AGE);
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Ok(None) => spent().into_response(),
        Err(e) => {
            tracing::error!(error = %e, "opening a web session");
            super::internal().into_response()
        }
    }
}

/// POST /ui/logout: ends the session server-side and clears the cookie.
#[utoipa::path(post, path = "/ui/logout", operation_id = "ui_logout", tag = "web ui", request_body(content_type = "application/x-www-form-urlencoded", description = "The form's fields, with `csrf`."), responses((status = 303, description = "Signed out (the session is revoked), or not signed in: to /ui/login."), (status = 403, description = "The form's CSRF token is missing or wrong: nothing was done.", content_type = "text/html")))]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Some(viewer) = session::viewer(&state, &headers).await else {
        return Redirect::to("/ui/login").into_response();
    };
    let pairs = form.map(|Form(p)| p).unwrap_or_default();
    if !viewer.csrf_ok(&state, session::field(&pairs, CSRF_FIELD)) {
        return forbidden().into_response();
    }
    let now = state.service.now();
    if let Err(e) = state
        .service
        .store
        .revoke_session(viewer.session_sha256(), now)
        .await
    {
        tracing::error!(error = %e, "revoking a web session");
        return super::internal().into_response();
    }
    let mut response = Redirect::to("/ui/login").into_response();
    let cookie = session::set_cookie(&state, SESSION, "", chrono::Duration::zero());
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}
