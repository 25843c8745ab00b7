//! What a verified Events API delivery does: answer Slack's `url_verification` with its
//! challenge, and turn `app_home_opened` on the Home tab into a Home view publish queued
//! in the outbox (answered at once; the publish happens after). A delivery is taken once
//! by its `event_id`, so Slack's retries change nothing.

use super::Slack;
use crate::http::error::AppError;
use crate::notify::slack::publish;
use crate::notify::slack::refs::Op;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use slack_morphism::prelude::*;

pub async fn handle(slack: &Slack, body: &[u8], retry: Option<&str>) -> Result<Response, AppError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| AppError::malformed(format!("The event is not valid JSON: {e}")))?;
    let event: SlackPushEvent = match serde_json::from_value(value) {
        Ok(event) => event,
        Err(e) => {
            // A kind or shape this version does not know: taken, and ignored.
            tracing::debug!(error = %e, "a Slack event did not parse; ignored");
            return Ok(StatusCode::OK.into_response());
        }
    };
    match event {
        // Slack's docs: answer with the challenge value, in plain text.
        SlackPushEvent::UrlVerification(v) => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            v.challenge,
        )
            .into_response()),
        SlackPushEvent::EventCallback(cb) => {
            if let SlackEventCallbackBody::AppHomeOpened(opened) = &cb.event
                && opened.tab.as_deref() == Some("home")
            {
                let user = opened.user.0.clone();
                let item = publish::item(&Op::HomeFor { user: user.clone() });
                let service = &slack.service;
                let taken = service
                    .store
                    .take_slack_event(&cb.event_id.0, Some(item), service.now())
                    .await?;
                if taken {
                    service.signals.wake_outbox();
                } else {
                    tracing::info!(event_id = %cb.event_id.0, user = %user, retry = ?retry, "a Slack event delivered again; already taken");
                }
            }
            Ok(StatusCode::OK.into_response())
        }
        _ => Ok(StatusCode::OK.into_response()),
    }
}
