//! Callbacks to the agent: `escalation.decided` and `escalation.changes_requested`, signed per
//! Standard Webhooks, retried until a 2xx.

use super::{Channel, Delivery, PlanContext, message_id};
use crate::config::Config;
use crate::domain::status::{CallbackEvent, CallbackKind, rfc3339, status_document};
use crate::domain::{AuditKind, ChannelKind, Effect, Escalation};
use crate::signing::webhooks;
use crate::store::outbox::{Item, NewItem, Priority};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub struct CallbackChannel {
    config: Arc<Config>,
    http: reqwest::Client,
    /// For URLs a request named: refuses private addresses at connect time (DNS rebinding).
    guarded: reqwest::Client,
}

impl CallbackChannel {
    pub fn new(config: Arc<Config>, http: reqwest::Client, guarded: reqwest::Client) -> Self {
        Self {
            config,
            http,
            guarded,
        }
    }
}

#[async_trait::async_trait]
impl Channel for CallbackChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Callback
    }

    fn plan(&self, esc: &Escalation, effects: &[Effect], ctx: &PlanContext<'_>) -> Vec<NewItem> {
        // A step either decides or asks for changes, never both; each is its own message.
        let kind = if effects.contains(&Effect::Decided) {
            CallbackKind::Decided
        } else if effects.contains(&Effect::ChangesRequested) {
            CallbackKind::ChangesRequested
        } else {
            return Vec::new();
        };
        let url = esc.request.callback_url.clone().or_else(|| {
            ctx.config
                .agent(esc.agent_id.as_str())
                .and_then(|a| a.callback_url.clone())
        });
        let Some(url) = url else {
            return Vec::new();
        };
        // The body is fixed now, so every retry sends the same bytes under the same webhook-id.
        let body = CallbackEvent {
            kind,
            timestamp: rfc3339(ctx.now),
            data: status_document(esc, ctx.dir),
        };
        let body = serde_json::to_string(&body).unwrap_or_default();
        vec![NewItem {
            channel: self.kind(),
            kind: kind.as_str().into(),
            ordering_key: format!("callback:{}", esc.id),
            destination: destination(&url),
            payload: json!({"url": url, "agent": esc.agent_id, "body": body}),
            message_id: message_id(),
            priority: Priority::Decision,
        }]
    }

    async fn deliver(&self, item: &Item) -> Delivery {
        let (Some(url), Some(agent), Some(body)) = (
            item.payload["url"].as_str(),
            item.payload["agent"].as_str(),
            item.payload["body"].as_str(),
        ) else {
            return Delivery::Failed {
                error: "malformed callback item".into(),
            };
        };
        let Some(key) = self.config.agent(agent).and_then(|a| a.webhook_key()) else {
            return Delivery::Failed {
                error: format!("agent {agent} is no longer configured"),
            };
        };
        let http = match self.guard(agent, url) {
            Ok(http) => http,
            Err(error) => return Delivery::Failed { error },
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = webhooks::sign(&key, &item.message_id, timestamp, body.as_bytes());
        let response = http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &item.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            // The whole exchange, connect to last body byte: a receiver that accepts and
            // never answers costs one deadline, then the item waits out its backoff.
            .timeout(self.config.delivery.timeout)
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => Delivery::Delivered,
            Ok(r) => Delivery::Retry {
                error: format!("callback answered {}", r.status()),
                retry_after: retry_after(&r),
            },
            Err(e) if e.is_timeout() => {
                let error = format!(
                    "callback receiver did not answer within {}ms",
                    self.config.delivery.timeout.as_millis()
                );
                tracing::warn!(item = item.id, agent, error = %error, "callback deadline hit");
                Delivery::Retry {
                    error,
                    retry_after: None,
                }
            }
            Err(e) => Delivery::Retry {
                error: format!("callback failed: {}", without_url(e)),
                retry_after: None,
            },
        }
    }

    fn audit_kinds(&self) -> (AuditKind, AuditKind) {
        (AuditKind::CallbackDelivered, AuditKind::CallbackFailed)
    }
}

/// The receiver a callback URL names, `host:port`: a receiver that hangs holds up only
/// callbacks to itself. A URL that does not parse fails at delivery; it gets a key of its own.
fn destination(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "callback {}:{}",
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or_default()
        ),
        Err(_) => "callback (invalid URL)".to_owned(),
    }
}

impl CallbackChannel {
    /// The client for this URL: the agent's configured `callback_url` is the operator's
    /// choice; any other (a request's) goes through the private-address guard.
    fn guard(&self, agent: &str, url: &str) -> Result<&reqwest::Client, String> {
        let configured = self
            .config
            .agent(agent)
            .and_then(|a| a.callback_url.as_deref());
        if configured == Some(url) || self.config.server.allow_private_callbacks {
            return Ok(&self.http);
        }
        match super::callback_guard::refused_literal(url) {
            Some(reason) => Err(reason),
            None => Ok(&self.guarded),
        }
    }
}

/// Honour a 429/503 `Retry-After` given in seconds, within reason.
pub fn retry_after(r: &reqwest::Response) -> Option<Duration> {
    r.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(3600)))
}

/// reqwest errors print the URL, which may carry a token in its query; keep the cause only.
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else {
        "request error"
    };
    format!("{kind}: {}", e.without_url())
}
