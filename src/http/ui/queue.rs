//! My queue: what waits for the signed-in reviewer, each with its context and the same vote
//! forms as the email confirmation page. A vote goes through the engine (`Service::apply`),
//! which judges it as it judges every channel's; then POST-redirect-GET back to the queue.

use super::session::{self, CSRF_FIELD, Viewer};
use super::{forbidden, internal, not_found, signed_in, to_login};
use crate::domain::engine::{Event, VoteInput};
use crate::domain::{Escalation, EscalationId, Opening, Refusal, Time, VoteChannel};
use crate::http::AppState;
use crate::http::error::AppError;
use crate::http::pages::Page;
use crate::http::pages::vote_form::{self, Submitted};
use crate::service::ApplyError;
use crate::signing::links::LinkAction;
use crate::view::{self, EscalationView, TemplateView, ViewInput};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// The most escalations the queue shows (oldest first).
const QUEUE_LIMIT: u32 = 50;

#[derive(Deserialize)]
pub struct Shown {
    /// Set by the redirect after a vote: which escalation it was on.
    voted: Option<String>,
}

/// A vote that came back: shown on its escalation's card with the form as it was sent.
struct Returned<'a> {
    id: &'a EscalationId,
    action: LinkAction,
    form: &'a Submitted,
    error: String,
}

/// GET /ui
#[utoipa::path(get, path = "/ui", operation_id = "ui_queue", tag = "web ui", params(("voted" = Option<String>, Query, description = "Set by the redirect after a vote.")), responses((status = 200, description = "My queue: what waits for the signed-in reviewer, with the vote forms.", content_type = "text/html"), (status = 303, description = "No live session: to /ui/login.")))]
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Shown>, QueryRejection>,
) -> Response {
    let Some(viewer) = session::viewer(&state, &headers).await else {
        return to_login();
    };
    let voted = query
        .ok()
        .and_then(|Query(q)| q.voted)
        .filter(|v| v.len() <= 64);
    queue_page(&state, &viewer, voted, None, StatusCode::OK)
        .await
        .into_response()
}

async fn queue_page(
    state: &AppState,
    viewer: &Viewer,
    voted: Option<String>,
    returned: Option<Returned<'_>>,
    status: StatusCode,
) -> Page {
    let store = &state.service.store;
    let pending = match store
        .pending_for_reviewer(&viewer.profile.id, QUEUE_LIMIT)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "loading a reviewer's queue");
            return internal();
        }
    };
    let now = state.service.now();
    let mut items = Vec::with_capacity(pending.len());
    for esc in &pending {
        let recent = store
            .recent_decisions(&esc.request.intent, view::RECENT_DECISIONS as u32 + 1)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "recent decisions unavailable for the queue");
                Vec::new()
            });
        let back = returned.as_ref().filter(|r| r.id == &esc.id);
        items.push(item(state, viewer, esc, &recent, back, now));
    }
    let context = json!({
        "items": items,
        "voted": voted,
        "error": returned.as_ref().filter(|r| !pending.iter().any(|e| &e.id == r.id)).map(|r| &r.error),
    });
    signed_in(viewer, "pages/ui/queue.html", context, status)
}

/// One escalation's card: its context and a form per action it offers.
fn item(
    state: &AppState,
    viewer: &Viewer,
    esc: &Escalation,
    recent: &[Escalation],
    back: Option<&Returned<'_>>,
    now: Time,
) -> Value {
    let view = EscalationView::new(&ViewInput {
        esc,
        config: &state.service.config,
        dir: &state.service.dir,
        recent,
    });
    let opening = esc.opening();
    let empty = Submitted::default();
    let forms: Vec<Value> = LinkAction::ALL
        .into_iter()
        .filter(|a| *a != LinkAction::RequestChanges || esc.may_request_changes())
        .map(|action| {
            let (form, error) = match back {
                Some(r) if r.action == action => (r.form, Some(r.error.as_str())),
                _ => (&empty, None),
            };
            let prefix = format!("{}-{}-", esc.id, action.as_str());
            json!({
                "open": error.is_some(),
                "f": vote_form::fields(esc, action, form, error, &prefix),
            })
        })
        .collect();
    json!({
        "esc": TemplateView::new(&view, esc.current_stage, now),
        "revision": view::revision::revision(esc, &state.service.dir),
        "forms": forms,
        "action": format!("/ui/escalations/{}/vote", esc.id),
        "stage": opening.stage,
        "round": opening.round,
        "csrf": viewer.csrf,
    })
}

/// POST /ui/escalations/{id}/vote
#[utoipa::path(post, path = "/ui/escalations/{id}/vote", operation_id = "ui_vote", tag = "web ui", params(("id" = String, Path, description = "The escalation.")), request_body(content_type = "application/x-www-form-urlencoded", description = "The form's fields, with `csrf`."), responses((status = 303, description = "Recorded: back to the queue (or no live session: to /ui/login)."), (status = 403, description = "The form's CSRF token is missing or wrong: nothing was done.", content_type = "text/html"), (status = 404, description = "No such escalation.", content_type = "text/html"), (status = 409, description = "Already decided, already voted, or the stage moved on: the queue with the engine's message.", content_type = "text/html"), (status = 422, description = "The form again, saying what is missing.", content_type = "text/html")))]
pub async fn vote(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Some(viewer) = session::viewer(&state, &headers).await else {
        return to_login();
    };
    let pairs = form.map(|Form(p)| p).unwrap_or_default();
    if !viewer.csrf_ok(&state, session::field(&pairs, CSRF_FIELD)) {
        return forbidden().into_response();
    }
    let id = EscalationId(id);
    let esc = match state.service.get(&id).await {
        Ok(Some(esc)) => esc,
        Ok(None) => return not_found().into_response(),
        Err(e) => {
            tracing::error!(error = %e, "loading an escalation for a web vote");
            return internal().into_response();
        }
    };
    let action = LinkAction::ALL
        .into_iter()
        .find(|a| session::field(&pairs, "action") == Some(a.as_str()));
    let opening = opening_of(&pairs);
    let (Some(action), Some(opening)) = (action, opening) else {
        return forbidden().into_response();
    };
    let submitted = Submitted::parse(&pairs);
    let back = |error: String, status| {
        let returned = Returned {
            id: &esc.id,
            action,
            form: &submitted,
            error,
        };
        queue_page(&state, &viewer, None, Some(returned), status)
    };
    let (conditions, constraints) = match submitted.terms(&esc, action) {
        Ok(terms) => terms,
        Err(error) => {
            return back(error, StatusCode::UNPROCESSABLE_ENTITY)
                .await
                .into_response();
        }
    };
    let input = VoteInput {
        constraints,
        reviewer: viewer.profile.id.clone(),
        choice: action.choice(),
        comment: submitted.comment.clone(),
        conditions,
        channel: VoteChannel::Web,
        opening: Some(opening),
    };
    match state.service.apply(&esc.id, Event::Vote(input)).await {
        Ok(_) => Redirect::to(&format!("/ui?voted={}", esc.id)).into_response(),
        Err(ApplyError::Refused(r)) => {
            let status = refusal_status(&r);
            back(r.message(), status).await.into_response()
        }
        Err(ApplyError::NotFound) => not_found().into_response(),
        Err(ApplyError::Store(e)) => {
            tracing::error!(error = %e, "recording a web vote");
            internal().into_response()
        }
    }
}

fn refusal_status(r: &Refusal) -> StatusCode {
    match r {
        Refusal::CommentRequired(_) | Refusal::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        r => AppError::refused(r).status,
    }
}

/// The stage opening the form was shown for: the engine refuses a vote once another is current.
fn opening_of(pairs: &[(String, String)]) -> Option<Opening> {
    let stage = session::field(pairs, "stage")?.parse().ok()?;
    let round = session::field(pairs, "round")?.parse().ok()?;
    Some(Opening { stage, round })
}
