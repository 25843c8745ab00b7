//! Alert messages: planned when an alert fires (inside its transaction, no I/O) as
//! ready-to-send content — a Block Kit message to `alerts.slack_channel`, one email to each
//! `alerts.email` address — and delivered by the Slack and email channels like every
//! outbox row. An alert is a snapshot, so its words are fixed when it fires.

use super::email::{message, render, transport::Transport};
use super::slack::api::SlackApi;
use super::slack::{kit, mrkdwn};
use super::{Delivery, message_id};
use crate::config::Config;
use crate::domain::ChannelKind;
use crate::domain::alerts::Alert;
use crate::store::outbox::{Item, NewItem, Priority};
use lettre::message::{Mailbox, MultiPart};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use slack_morphism::prelude::*;
use std::str::FromStr;
use std::time::Duration;

/// The outbox `kind` of every alert message. An alert message given up raises no alert.
pub const KIND: &str = "alert";

/// Whether an outbox item is an alert's own message.
pub fn is_alert(item_kind: &str) -> bool {
    item_kind == KIND
}

/// The escalation's page in the web UI.
pub fn escalation_url(config: &Config, id: &str) -> String {
    format!("{}/ui/escalations/{id}", config.server.public_url)
}

/// The outbox rows of one alert under `config` (none when alerts are off).
pub fn plan(config: &Config, alert: &Alert) -> Vec<NewItem> {
    let Some(alerts) = &config.alerts else {
        return Vec::new();
    };
    let mut items = Vec::new();
    if let (Some(channel), Some(_)) = (&alerts.slack_channel, &config.slack) {
        let payload = SlackAlert {
            channel: channel.clone(),
            content: slack_content(config, alert),
        };
        items.push(item(ChannelKind::Slack, message_id(), &payload));
    }
    if let Some(email) = &config.email {
        let domain = Mailbox::from_str(&email.from)
            .map(|m| message::domain_of(&m))
            .unwrap_or_else(|_| "localhost".to_owned());
        for to in &alerts.email {
            let id = format!(
                "<{}.alert@{domain}>",
                ulid::Ulid::new().to_string().to_ascii_lowercase()
            );
            let payload = match email_content(config, alert, to) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "could not render an alert email");
                    continue;
                }
            };
            items.push(item(ChannelKind::Email, id, &payload));
        }
    }
    items
}

#[derive(Serialize, Deserialize)]
struct SlackAlert {
    channel: String,
    content: SlackMessageContent,
}

#[derive(Serialize, Deserialize)]
struct EmailAlert {
    to: String,
    subject: String,
    text: String,
    html: String,
}

fn slack_content(config: &Config, alert: &Alert) -> SlackMessageContent {
    let title = format!(":rotating_light: {}", alert.kind.title());
    let mut text = mrkdwn::escape_within(&alert.message, kit::SECTION_TEXT - 200).text;
    if let Some(id) = &alert.escalation_id {
        let url = escalation_url(config, id.as_str());
        text.push_str("\n\n");
        text.push_str(&mrkdwn::link(&url, "Open the escalation", 60));
    }
    let blocks = vec![
        kit::header(&title),
        kit::section(&text),
        kit::context(&[format!(
            "`{}` · {} · {}",
            alert.kind.as_str(),
            mrkdwn::escape(&alert.subject),
            mrkdwn::date(alert.window_start.max(chrono::DateTime::UNIX_EPOCH))
        )]),
    ];
    // Slack reads the fallback as mrkdwn too (notifications): escaped like the blocks.
    let fallback = mrkdwn::escape_within(
        &format!("{}: {}", alert.kind.title(), alert.message),
        kit::FALLBACK_TEXT,
    )
    .text;
    SlackMessageContent::new()
        .with_text(fallback)
        .with_blocks(blocks)
}

fn email_content(config: &Config, alert: &Alert, to: &str) -> anyhow::Result<EmailAlert> {
    let context = json!({
        "title": alert.kind.title(),
        "kind": alert.kind.as_str(),
        "subject": alert.subject,
        "message": alert.message,
        "figures": serde_json::to_string_pretty(&alert.data)?,
        "link": alert.escalation_id.as_ref().map(|id| escalation_url(config, id.as_str())),
    });
    Ok(EmailAlert {
        to: to.to_owned(),
        subject: format!(
            "[countersign alert] {}: {}",
            alert.kind.title(),
            message::one_line(&alert.subject, 90)
        ),
        text: render::render("email/alert.txt", &context)?,
        html: render::render("email/alert.html", &context)?,
    })
}

/// Posts an alert's Slack message.
pub async fn deliver_slack(api: &SlackApi, item: &Item, limit: Duration) -> Delivery {
    let alert: SlackAlert = match serde_json::from_value(item.payload.clone()) {
        Ok(a) => a,
        Err(e) => {
            return Delivery::Failed {
                error: format!("malformed alert item: {e}"),
            };
        }
    };
    match api.post(&alert.channel, alert.content, limit).await {
        Ok(_) => Delivery::Delivered,
        Err(e) => e.into(),
    }
}

/// Sends an alert's email from `from`.
pub async fn deliver_email(transport: &Transport, from: &Mailbox, item: &Item) -> Delivery {
    let alert: EmailAlert = match serde_json::from_value(item.payload.clone()) {
        Ok(a) => a,
        Err(e) => {
            return Delivery::Failed {
                error: format!("malformed alert item: {e}"),
            };
        }
    };
    let Ok(to) = alert.to.trim().parse::<lettre::Address>() else {
        return Delivery::Failed {
            error: format!("{} is not an address", alert.to),
        };
    };
    let built = lettre::Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(alert.subject)
        .message_id(Some(item.message_id.clone()))
        .date_now()
        .multipart(MultiPart::alternative_plain_html(alert.text, alert.html));
    let message = match built {
        Ok(m) => m,
        Err(e) => {
            return Delivery::Failed {
                error: format!("building the alert email: {e}"),
            };
        }
    };
    match transport.send(&message, &item.message_id).await {
        Ok(()) => Delivery::Delivered,
        Err(e) if e.permanent => Delivery::Failed { error: e.message },
        Err(e) => Delivery::Retry {
            error: e.message,
            retry_after: None,
        },
    }
}

/// One alert message for `channel`: its own ordering key, so alerts never wait on each other.
fn item(channel: ChannelKind, id: String, payload: &impl serde::Serialize) -> NewItem {
    NewItem {
        channel,
        kind: KIND.to_owned(),
        ordering_key: format!("alert:{id}"),
        payload: serde_json::to_value(payload).unwrap_or(Value::Null),
        message_id: id,
        priority: Priority::Notification,
        destination: channel.as_str().to_owned(),
    }
}
