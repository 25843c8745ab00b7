//! `POST /slack/interactions`, the interactivity request URL of `manifest.yml`, and
//! `POST /slack/events`, its Events API request URL (the Home tab).
//!
//! The signature (v0, 5-minute window, constant-time) is verified over the raw
//! body before anything is parsed. The answer stays well inside Slack's 3 seconds:
//! a vote is one local SQLite transaction; the only Web API call made before
//! answering is `views.open` (a `trigger_id` expires 3 s after the click, so it
//! cannot wait), bounded by what is left of a 2.5 s budget. Private replies to
//! the clicker are sent after the answer; message updates go through the outbox.

mod actions;
mod events;
mod form;

use super::error::{AppError, ErrorBody};
use super::extract::raw_body;
use super::openapi::SlackForm;
use super::{AppState, Routed};
use crate::notify::slack::api::SlackApi;
use crate::service::Service;
use actions::{Answer, Notice, Reply};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::{
    SlackEventSignatureVerifier, SlackEventSignatureVerifierError,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Everything done before answering Slack must fit in this (Slack allows 3 s).
const BUDGET: Duration = Duration::from_millis(2500);
/// A private reply after the answer: best effort, never a reason to hold anything up.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the interaction handler needs when Slack is configured. `service` is on the
/// config version of the request being handled (see `interactions`).
#[derive(Clone)]
pub struct Slack {
    pub service: Service,
    pub api: Arc<SlackApi>,
    verifier: Arc<SlackEventSignatureVerifier>,
}

#[derive(Clone)]
struct SlackState(Option<Arc<Slack>>);

pub fn router(state: &AppState) -> Router<Routed> {
    let service = &state.service;
    let slack = service.config.slack.as_ref().and_then(|cfg| {
        let api = state.slack_api.clone()?;
        let secret = SlackSigningSecret::new(cfg.signing_secret.expose().to_owned());
        Some(Arc::new(Slack {
            service: service.clone(),
            api,
            verifier: Arc::new(SlackEventSignatureVerifier::new(&secret)),
        }))
    });
    Router::new()
        .route("/slack/interactions", post(interactions))
        .route("/slack/events", post(events))
        .with_state(SlackState(slack))
}

/// Slack's interactivity request URL (`manifest.yml`): button clicks and modal submissions.
#[utoipa::path(
    post,
    path = "/slack/interactions",
    tag = "slack",
    params(
        ("X-Slack-Signature" = String, Header, description = "`v0=` + hex HMAC-SHA256 with the app's signing secret over `v0:{timestamp}:{raw body}`."),
        ("X-Slack-Request-Timestamp" = String, Header, description = "Unix seconds; 5-minute window."),
    ),
    request_body(content = SlackForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Handled within Slack's 3 seconds: empty, or a modal's `response_action` JSON. A refused vote is answered privately to the clicker."),
        (status = 400, description = "`malformed`: no readable `payload`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`: the signature or timestamp does not verify.", body = ErrorBody),
        (status = 404, description = "`not_found`: Slack is not configured on this server.", body = ErrorBody),
    ),
)]
async fn interactions(
    State(SlackState(slack)): State<SlackState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let deadline = Instant::now() + BUDGET;
    let Some(slack) = slack else {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Slack is not configured on this server.",
        ));
    };
    // The clicker, eligibility and the Slack user cache are judged on the version serving now.
    let slack = Arc::new(Slack {
        service: slack.service.current(),
        ..Slack::clone(&slack)
    });
    let body = raw_body(body)?;
    verify(&slack.verifier, &headers, &body)?;
    let event = parse(&body)?;
    let reply = match event {
        Some(SlackInteractionEvent::BlockActions(ev)) => {
            actions::block_actions(&slack, ev, deadline).await
        }
        Some(SlackInteractionEvent::ViewSubmission(ev)) => {
            actions::view_submission(&slack, ev, deadline).await
        }
        _ => Reply {
            answer: Answer::Ack,
            notice: None,
        },
    };
    if let Some(notice) = reply.notice {
        tokio::spawn(tell(slack.clone(), notice));
    }
    Ok(match reply.answer {
        Answer::Ack => StatusCode::OK.into_response(),
        Answer::ModalErrors(errors) => axum::Json(SlackViewSubmissionResponse::Errors(
            SlackViewSubmissionErrorsResponse::new(errors),
        ))
        .into_response(),
    })
}

/// Slack's Events API request URL (`manifest.yml`): `url_verification` and `app_home_opened`.
#[utoipa::path(
    post,
    path = "/slack/events",
    tag = "slack",
    params(
        ("X-Slack-Signature" = String, Header, description = "`v0=` + hex HMAC-SHA256 with the app's signing secret over `v0:{timestamp}:{raw body}`."),
        ("X-Slack-Request-Timestamp" = String, Header, description = "Unix seconds; 5-minute window."),
        ("X-Slack-Retry-Num" = Option<String>, Header, description = "Set on Slack's retries; a delivery already taken (by `event_id`) changes nothing."),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "An Events API payload: `url_verification`, or `event_callback` (only `app_home_opened` on the `home` tab acts; other events are ignored)."),
    responses(
        (status = 200, description = "`url_verification`: the challenge, as `text/plain`. Otherwise empty: taken (the Home view is published after the answer) or ignored."),
        (status = 400, description = "`malformed`: the body is not JSON.", body = ErrorBody),
        (status = 401, description = "`unauthorized`: the signature or timestamp does not verify.", body = ErrorBody),
        (status = 404, description = "`not_found`: Slack is not configured on this server.", body = ErrorBody),
    ),
)]
async fn events(
    State(SlackState(slack)): State<SlackState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let Some(slack) = slack else {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Slack is not configured on this server.",
        ));
    };
    let slack = Slack {
        service: slack.service.current(),
        ..Slack::clone(&slack)
    };
    let body = raw_body(body)?;
    verify(&slack.verifier, &headers, &body)?;
    let retry = headers
        .get("x-slack-retry-num")
        .and_then(|v| v.to_str().ok());
    events::handle(&slack, &body, retry).await
}

/// Slack's v0 scheme: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}`,
/// compared in constant time, the timestamp within 5 minutes of our clock.
fn verify(
    verifier: &SlackEventSignatureVerifier,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), AppError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let denied = |why: &str| {
        AppError::unauthorized(format!(
            "The Slack request signature could not be verified: {why}."
        ))
    };
    let (Some(signature), Some(timestamp)) = (
        header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER),
        header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
    ) else {
        return Err(denied(
            "missing X-Slack-Signature or X-Slack-Request-Timestamp",
        ));
    };
    // Slack signs UTF-8 form bodies; anything else cannot carry a valid signature.
    let body = std::str::from_utf8(body).map_err(|_| denied("the body is not UTF-8"))?;
    verifier
        .verify(signature, body, timestamp)
        .map_err(|e| match e {
            SlackEventSignatureVerifierError::IncorrectOrExpiredTimestampError(_) => {
                denied("the timestamp is missing, malformed or more than 5 minutes away")
            }
            _ => denied("the signature does not match"),
        })
}

/// The typed interaction, or `None` for kinds we do not handle (acknowledged, ignored).
fn parse(body: &[u8]) -> Result<Option<SlackInteractionEvent>, AppError> {
    let payload = form::field(body, "payload")
        .ok_or_else(|| AppError::malformed("The body has no `payload` form field."))?;
    let value: serde_json::Value = serde_json::from_str(&payload)
        .map_err(|e| AppError::malformed(format!("The payload is not valid JSON: {e}")))?;
    if !matches!(
        value.get("type").and_then(|t| t.as_str()),
        Some("block_actions" | "view_submission")
    ) {
        return Ok(None);
    }
    serde_json::from_value(value).map(Some).map_err(|e| {
        tracing::warn!(error = %e, "a Slack interaction payload did not parse");
        AppError::malformed(format!(
            "The interaction payload is not one Slack sends: {e}"
        ))
    })
}

/// Tells the clicker privately: through the interaction's `response_url`, else as an ephemeral message.
async fn tell(slack: Arc<Slack>, notice: Notice) {
    if let Some(url) = &notice.response_url {
        match slack.api.respond(url, &notice.text, NOTICE_TIMEOUT).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "replying through response_url failed"),
        }
    }
    let Some(channel) = &notice.channel else {
        // A click in the Home tab comes from no conversation: tell the clicker in their DM.
        let dm = match slack.api.open_dm(&notice.user, NOTICE_TIMEOUT).await {
            Ok(dm) => dm,
            Err(e) => return tracing::warn!(error = %e, "opening a DM for a reply failed"),
        };
        let content = SlackMessageContent::new().with_text(notice.text.clone());
        if let Err(e) = slack.api.post(&dm, content, NOTICE_TIMEOUT).await {
            tracing::warn!(error = %e, "a direct reply to a Slack user failed");
        }
        return;
    };
    let sent = slack
        .api
        .ephemeral(channel, &notice.user, &notice.text, NOTICE_TIMEOUT)
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, "an ephemeral reply to a Slack user failed");
    }
}
