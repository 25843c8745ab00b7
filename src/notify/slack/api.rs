//! The Slack Web API client: slack-morphism's typed requests over a connector that
//! also speaks plain http (so `slack.api_url` can point at a local fake Slack), every
//! call under a timeout, every failure sorted into what the outbox should do with it.

use crate::config::SlackConfig;
use crate::notify::Delivery;
use hyper_rustls::HttpsConnectorBuilder;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::future::Future;
use std::time::Duration;

pub struct SlackApi {
    client: SlackHyperClient,
    token: SlackApiToken,
    /// For `response_url` posts: slack-morphism's webhook request has no
    /// `response_type`, and an ephemeral reply must say so explicitly.
    http: reqwest::Client,
}

/// Why a call failed, in the terms the outbox retries by.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// HTTP 429: wait as long as Slack's `Retry-After` says.
    RateLimited(Option<Duration>),
    /// 5xx, network errors, timeouts, and `ok:false` errors that may pass.
    Transient(String),
    /// Retrying cannot help: no such user or channel, blocks Slack refuses, …
    Permanent(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RateLimited(Some(d)) => write!(f, "rate limited by Slack for {}s", d.as_secs()),
            Self::RateLimited(None) => f.write_str("rate limited by Slack"),
            Self::Transient(e) | Self::Permanent(e) => f.write_str(e),
        }
    }
}

impl From<ApiError> for Delivery {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::RateLimited(retry_after) => Delivery::Retry {
                error: e.to_string(),
                retry_after,
            },
            ApiError::Transient(error) => Delivery::Retry {
                error,
                retry_after: None,
            },
            ApiError::Permanent(error) => Delivery::Failed { error },
        }
    }
}

/// `ok:false` codes that no retry can fix. Auth and scope errors are not among
/// them on purpose: an operator fixes the token and the outbox catches up.
const PERMANENT: &[&str] = &[
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "users_not_found",
    "user_not_found",
    "user_not_visible",
    "user_disabled",
    "cannot_dm_bot",
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_too_long",
    "no_text",
    "message_not_found",
    "cant_update_message",
    "edit_window_closed",
    "invalid_arguments",
    "invalid_arg_name",
    "invalid_form_data",
    "invalid_json",
    "json_not_object",
    "restricted_action",
    "restricted_action_read_only_channel",
    "expired_trigger_id",
    "invalid_trigger_id",
    "exchanged_trigger_id",
    "view_too_large",
    // views.publish of a Home view while the app's Home tab is off: the operator turns it
    // on, and the next change of the reviewer's queue publishes again.
    "not_enabled",
];

fn classify(e: SlackClientError) -> ApiError {
    match e {
        SlackClientError::RateLimitError(r) => ApiError::RateLimited(r.retry_after),
        SlackClientError::ApiError(a) if a.code == "ratelimited" => ApiError::RateLimited(None),
        SlackClientError::ApiError(a) if PERMANENT.contains(&a.code.as_str()) => {
            ApiError::Permanent(format!("Slack refused: {}", a.code))
        }
        SlackClientError::ApiError(a) => ApiError::Transient(format!("Slack error: {}", a.code)),
        SlackClientError::HttpError(h) => http_status(h.status_code.as_u16()),
        other => ApiError::Transient(format!("Slack unreachable: {}", first_line(&other))),
    }
}

fn http_status(status: u16) -> ApiError {
    let error = format!("Slack answered HTTP {status}");
    if status >= 500 || matches!(status, 408 | 425 | 429) {
        ApiError::Transient(error)
    } else {
        ApiError::Permanent(error)
    }
}

/// Errors can carry a response body; a log line needs the first line only.
fn first_line(e: &impl std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// Runs one call under `limit`; a call that takes longer is a transient failure.
async fn timed<T>(
    limit: Duration,
    call: impl Future<Output = ClientResult<T>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(classify),
        Err(_) => {
            let error = format!("Slack did not answer within {}ms", limit.as_millis());
            tracing::warn!(error = %error, "Slack deadline hit");
            Err(ApiError::Transient(error))
        }
    }
}

impl SlackApi {
    pub fn new(config: &SlackConfig) -> anyhow::Result<Self> {
        let connector = SlackClientHyperConnector::with_connector(https_or_http()?)
            .with_slack_api_url(config.api_url.trim_end_matches('/'));
        let http = reqwest::Client::builder()
            .user_agent(concat!("countersign/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client: SlackClient::new(connector),
            token: SlackApiToken::new(SlackApiTokenValue(config.bot_token.expose().to_owned())),
            http,
        })
    }

    /// Opens (or finds) the DM with a user; returns its channel id.
    pub async fn open_dm(&self, user: &str, limit: Duration) -> Result<String, ApiError> {
        let session = self.client.open_session(&self.token);
        let req =
            SlackApiConversationsOpenRequest::new().with_users(vec![SlackUserId(user.to_owned())]);
        let res = timed(limit, session.conversations_open(&req)).await?;
        Ok(res.channel.id.0)
    }

    /// Posts a message; returns the channel id and `ts` Slack gave it.
    pub async fn post(
        &self,
        channel: &str,
        content: SlackMessageContent,
        limit: Duration,
    ) -> Result<(String, String), ApiError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatPostMessageRequest::new(SlackChannelId(channel.to_owned()), content)
            .with_unfurl_links(false)
            .with_unfurl_media(false);
        let res = timed(limit, session.chat_post_message(&req)).await?;
        Ok((res.channel.0, res.ts.0))
    }

    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
        limit: Duration,
    ) -> Result<(), ApiError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatUpdateRequest::new(
            SlackChannelId(channel.to_owned()),
            content,
            SlackTs(ts.to_owned()),
        );
        timed(limit, session.chat_update(&req)).await.map(drop)
    }

    /// A message only `user` sees in `channel`.
    pub async fn ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        limit: Duration,
    ) -> Result<(), ApiError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(channel.to_owned()),
            SlackUserId(user.to_owned()),
            SlackMessageContent::new().with_text(text.to_owned()),
        );
        timed(limit, session.chat_post_ephemeral(&req))
            .await
            .map(drop)
    }

    pub async fn open_view(
        &self,
        trigger_id: &str,
        view: SlackView,
        limit: Duration,
    ) -> Result<(), ApiError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiViewsOpenRequest::new(SlackTriggerId(trigger_id.to_owned()), view);
        timed(limit, session.views_open(&req)).await.map(drop)
    }

    /// Publishes (replaces) a user's Home tab view.
    pub async fn publish_home(
        &self,
        user: &str,
        view: SlackView,
        limit: Duration,
    ) -> Result<(), ApiError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiViewsPublishRequest::new(SlackUserId(user.to_owned()), view);
        timed(limit, session.views_publish(&req)).await.map(drop)
    }

    /// The Slack user with this email; `None` when the workspace has none.
    pub async fn lookup_by_email(
        &self,
        email: &str,
        limit: Duration,
    ) -> Result<Option<String>, ApiError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.to_owned()));
        match timed(limit, session.users_lookup_by_email(&req)).await {
            Ok(res) => Ok(Some(res.user.id.0)),
            Err(ApiError::Permanent(e)) if e.ends_with("users_not_found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A user's email (needs the `users:read.email` scope); `None` when hidden or absent.
    pub async fn user_email(
        &self,
        user: &str,
        limit: Duration,
    ) -> Result<Option<String>, ApiError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiUsersInfoRequest::new(SlackUserId(user.to_owned()));
        let res = timed(limit, session.users_info(&req)).await?;
        Ok(res.user.profile.and_then(|p| p.email).map(|e| e.0))
    }

    /// An ephemeral reply through an interaction's `response_url`.
    pub async fn respond(
        &self,
        response_url: &str,
        text: &str,
        limit: Duration,
    ) -> Result<(), ApiError> {
        let body = serde_json::json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": text,
        });
        let sent = self
            .http
            .post(response_url)
            .json(&body)
            .timeout(limit)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(http_status(r.status().as_u16())),
            Err(e) => Err(ApiError::Transient(format!(
                "response_url unreachable: {}",
                e.without_url()
            ))),
        }
    }
}

/// HTTPS with the platform's roots (Mozilla's when it has none), and plain http
/// too: slack-morphism's own connector is HTTPS-only, which rules out a local fake.
fn https_or_http() -> anyhow::Result<SlackHyperHttpsConnector> {
    let ring = || rustls::crypto::ring::default_provider();
    let builder = match HttpsConnectorBuilder::new().with_provider_and_native_roots(ring()) {
        Ok(b) => b,
        Err(_) => HttpsConnectorBuilder::new().with_provider_and_webpki_roots(ring())?,
    };
    Ok(builder.https_or_http().enable_http1().build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use slack_morphism::errors::SlackClientApiError;

    #[test]
    fn errors_sort_into_retry_or_give_up() {
        assert!(matches!(http_status(503), ApiError::Transient(_)));
        assert!(matches!(http_status(404), ApiError::Permanent(_)));
        let api = |code: &str| {
            classify(SlackClientError::ApiError(SlackClientApiError::new(
                code.into(),
            )))
        };
        assert!(matches!(api("invalid_blocks"), ApiError::Permanent(_)));
        assert!(matches!(api("internal_error"), ApiError::Transient(_)));
        assert!(matches!(api("invalid_auth"), ApiError::Transient(_)));
        assert_eq!(api("ratelimited"), ApiError::RateLimited(None));
        let d: Delivery = ApiError::RateLimited(Some(Duration::from_secs(7))).into();
        assert!(matches!(d, Delivery::Retry { retry_after: Some(s), .. } if s.as_secs() == 7));
    }
}
