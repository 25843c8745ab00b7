//! One escalation's page: its context, the decision, receipt and execution, and the whole
//! timeline from the audit trail. Shown to operators and to reviewers who are or were asked
//! on it or voted on it; to anyone else it does not exist (404, like an unknown id).

use super::session::{self, Viewer};
use super::{internal, not_found, signed_in, to_login};
use crate::domain::{Escalation, EscalationId};
use crate::http::AppState;
use crate::store::web::TimedEvent;
use crate::view::timeline::{self, Event};
use crate::view::{self, EscalationView, TemplateView, ViewInput};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// GET /ui/escalations/{id}
#[utoipa::path(get, path = "/ui/escalations/{id}", operation_id = "ui_escalation", tag = "web ui", params(("id" = String, Path, description = "The escalation.")), responses((status = 200, description = "The escalation and its timeline from the audit trail.", content_type = "text/html"), (status = 303, description = "No live session: to /ui/login."), (status = 404, description = "Unknown, or not one this reviewer may see.", content_type = "text/html")))]
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(viewer) = session::viewer(&state, &headers).await else {
        return to_login();
    };
    let id = EscalationId(id);
    let service = &state.service;
    let loaded = match service.get(&id).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "loading an escalation page");
            return internal().into_response();
        }
    };
    let Some(esc) = loaded else {
        return not_found().into_response();
    };
    let events = match service.store.audit_timeline(id.as_str()).await {
        Ok(events) => events,
        Err(e) => {
            tracing::error!(error = %e, "loading an escalation's timeline");
            return internal().into_response();
        }
    };
    if !may_see(&viewer, &esc, &events) {
        return not_found().into_response();
    }
    let now = service.now();
    let view = EscalationView::new(&ViewInput {
        esc: &esc,
        config: &service.config,
        dir: &service.dir,
        recent: &[],
    });
    let lines: Vec<_> = events
        .iter()
        .map(|e| {
            let event = Event {
                at: e.at,
                kind: &e.kind,
                actor: e.actor.as_deref(),
                data: &e.data,
            };
            timeline::line(&service.config, &service.dir, &event)
        })
        .collect();
    let context = json!({
        "esc": TemplateView::new(&view, esc.current_stage, now),
        "revision": view::revision::revision(&esc, &service.dir),
        "revision_number": esc.submission(),
        "timeline": lines,
    });
    signed_in(&viewer, "pages/ui/escalation.html", context, StatusCode::OK).into_response()
}

/// Operators see everything; a reviewer sees what they were asked on (in a stage's pool
/// now, or named when a stage opened or widened) or voted on.
fn may_see(viewer: &Viewer, esc: &Escalation, events: &[TimedEvent]) -> bool {
    if viewer.admin {
        return true;
    }
    let me = viewer.profile.id.as_str();
    let in_stages = esc.stages.iter().any(|s| {
        s.pool.iter().any(|r| r.as_str() == me) || s.votes.iter().any(|v| v.reviewer.as_str() == me)
    });
    in_stages
        || events.iter().any(|e| {
            e.actor.as_deref() == Some(me)
                || ["eligible", "added"]
                    .iter()
                    .any(|key| named(&e.data, key, me))
        })
}

fn named(data: &Value, key: &str, me: &str) -> bool {
    data.get(key)
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|v| v.as_str() == Some(me)))
}
