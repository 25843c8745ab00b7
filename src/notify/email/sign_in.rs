//! The web UI's sign-in mail: queued by `POST /ui/login`, signed and sent by the email channel
//! like any other mail (durable, retried), with a link that opens a "Sign in" page.

use super::intent::Intent;
use super::{EmailChannel, NotSent, mailbox, message, render, retry};
use crate::domain::{ChannelKind, ReviewerId, Time};
use crate::notify::Delivery;
use crate::signing::sign_in::SignInClaims;
use crate::store::outbox::{NewItem, Priority};
use serde_json::{Value, json};
use std::str::FromStr;

/// The outbox item for a sign-in mail; `domain` is the right-hand side of Message-IDs.
pub fn item(reviewer: &ReviewerId, nonce: &str, expires_at: Time, domain: &str) -> NewItem {
    let intent = Intent::SignIn {
        reviewer: reviewer.clone(),
        nonce: nonce.to_owned(),
        expires_at_ms: expires_at.timestamp_millis(),
    };
    NewItem {
        channel: ChannelKind::Email,
        kind: intent.kind().to_owned(),
        ordering_key: format!("email:sign-in:{reviewer}"),
        payload: serde_json::to_value(&intent).unwrap_or(Value::Null),
        message_id: format!(
            "<{}.sign-in@{domain}>",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        ),
        priority: Priority::Notification,
        destination: "email".to_owned(),
    }
}

/// The sign-in page behind a token.
pub fn url(public_url: &str, token: &str) -> String {
    format!("{public_url}/ui/login/{token}")
}

/// The Message-ID domain for [`item`]: `email.from`'s, as every other mail; `None` when
/// email is off (then no sign-in mail can be sent).
pub fn domain(config: &crate::config::Config) -> Option<String> {
    let email = config.email.as_ref()?;
    let from = lettre::message::Mailbox::from_str(&email.from).ok()?;
    Some(message::domain_of(&from))
}

impl EmailChannel {
    pub(super) async fn deliver_sign_in(&self, intent: &Intent, message_id: &str) -> Delivery {
        let Intent::SignIn {
            reviewer,
            nonce,
            expires_at_ms,
        } = intent
        else {
            return Delivery::Failed {
                error: "not a sign-in mail".into(),
            };
        };
        if self.clock.now().timestamp_millis() >= *expires_at_ms {
            return Delivery::Failed {
                error: "not sent: the sign-in link expired while queued".into(),
            };
        }
        let message = match self.sign_in_message(reviewer, nonce, *expires_at_ms, message_id) {
            Ok(m) => m,
            Err(NotSent::Never(error)) => return Delivery::Failed { error },
            Err(NotSent::Later(error)) => return retry(error),
        };
        match self.transport.send(&message, message_id).await {
            Ok(()) => Delivery::Delivered,
            Err(e) if e.permanent => Delivery::Failed { error: e.message },
            Err(e) => retry(e.message),
        }
    }

    fn sign_in_message(
        &self,
        reviewer: &ReviewerId,
        nonce: &str,
        expires_at_ms: i64,
        message_id: &str,
    ) -> Result<lettre::Message, NotSent> {
        let profile = self.dir.get(reviewer).ok_or_else(|| {
            NotSent::Never(format!("reviewer {reviewer} is no longer configured"))
        })?;
        let claims = SignInClaims {
            reviewer: reviewer.clone(),
            nonce: nonce.to_owned(),
            expires_at_ms,
        };
        let expires = chrono::DateTime::from_timestamp_millis(expires_at_ms).unwrap_or_default();
        let context = json!({
            "reviewer": {"name": profile.name, "email": profile.email},
            "url": url(&self.config.server.public_url, &claims.sign(&self.keys)),
            "expires": crate::view::clock_time(expires),
        });
        let render = |ext: &str| {
            render::render(&format!("email/sign_in.{ext}"), &context)
                .map_err(|e| NotSent::Never(e.to_string()))
        };
        let draft = message::Draft {
            from: &self.from,
            to: mailbox(profile)?,
            subject: "Your countersign sign-in link".to_owned(),
            message_id,
            root: message_id.to_owned(),
            text: render("txt")?,
            html: render("html")?,
        };
        message::build(draft).map_err(|e| NotSent::Never(format!("building the message: {e}")))
    }
}
