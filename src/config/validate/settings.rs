//! Checks on `server`, `slack`, `email` and `delivery`.

use super::{Issues, check_http_url};
use crate::config::model::{Config, DeliveryConfig, EmailConfig, ServerConfig, SlackConfig};
use std::str::FromStr;

/// HMAC-SHA256 keys shorter than the hash output weaken the link signatures.
const MIN_LINK_SECRET: usize = 32;

pub(super) fn check(config: &Config, out: &mut Issues) {
    server(&config.server, out);
    if let Some(slack) = &config.slack {
        self::slack(slack, out);
    }
    if let Some(email) = &config.email {
        self::email(email, out);
    }
    delivery(&config.delivery, out);
}

fn server(s: &ServerConfig, out: &mut Issues) {
    check_http_url(out, "server.public_url", &s.public_url);
    if s.public_url_is_default() && s.listen.ip().is_unspecified() {
        out.warn(
            "server.public_url",
            format!(
                "not set: links in emails will point at {}, which no reviewer can open",
                s.public_url
            ),
        );
    }
    if !s.database.starts_with("sqlite:") && !crate::store::is_postgres(&s.database) {
        out.error(
            "server.database",
            "must be a sqlite: URL (sqlite://countersign.db) or a PostgreSQL one \
             (postgres://user@host/countersign)",
        );
    }
    if let Some(secret) = &s.link_secret {
        link_secret(out, "server.link_secret", secret.expose());
    }
    for (i, secret) in s.previous_link_secrets.iter().enumerate() {
        link_secret(
            out,
            &format!("server.previous_link_secrets[{i}]"),
            secret.expose(),
        );
    }
    if let Some(key) = &s.receipt_key {
        receipt_key(out, "server.receipt_key", key.expose());
    }
    for (i, key) in s.previous_receipt_keys.iter().enumerate() {
        receipt_key(
            out,
            &format!("server.previous_receipt_keys[{i}]"),
            key.expose(),
        );
    }
    if s.metrics_token.as_ref().is_some_and(|t| t.is_empty()) {
        out.error("server.metrics_token", "is empty");
    }
    if s.max_body_bytes == 0 {
        out.error("server.max_body_bytes", "must be greater than zero");
    }
    let c = &s.connections;
    for (name, value) in [
        ("header_read_timeout", c.header_read_timeout),
        ("idle_timeout", c.idle_timeout),
        ("body_read_timeout", c.body_read_timeout),
    ] {
        if value.is_zero() {
            out.error(format!("server.{name}"), "must be greater than zero");
        }
    }
    if c.max_connections == 0 {
        out.error("server.max_connections", "must be greater than zero");
    }
}

fn link_secret(out: &mut Issues, path: &str, secret: &str) {
    if secret.is_empty() {
        out.error(path, "is empty");
    } else if secret.len() < MIN_LINK_SECRET {
        out.warn(
            path,
            format!("is shorter than {MIN_LINK_SECRET} bytes; use a long random value"),
        );
    }
}

/// The parser `serve` uses, so a key check-config accepts also signs.
fn receipt_key(out: &mut Issues, path: &str, pem: &str) {
    if let Err(problem) = crate::signing::receipts::ReceiptKey::from_pem(pem) {
        out.error(path, problem.to_string());
    }
}

fn slack(s: &SlackConfig, out: &mut Issues) {
    if s.bot_token.is_empty() {
        out.error("slack.bot_token", "is empty");
    }
    if s.signing_secret.is_empty() {
        out.error("slack.signing_secret", "is empty");
    }
    check_http_url(out, "slack.api_url", &s.api_url);
}

fn email(e: &EmailConfig, out: &mut Issues) {
    // The same parser `serve` uses, so a URL check-config accepts also starts.
    // Its messages are fixed sentences: the value may hold a password and is never repeated.
    if let Err(problem) = crate::notify::email::transport::check_url(e.smtp_url.expose()) {
        let message = problem.to_string();
        let message = message
            .trim_start_matches("email.smtp_url")
            .trim_start_matches(':');
        out.error("email.smtp_url", message.trim());
    }
    if lettre::message::Mailbox::from_str(&e.from).is_err() {
        out.error(
            "email.from",
            format!(
                "`{}` is not a mailbox like `countersign <approvals@example.com>`",
                e.from
            ),
        );
    }
}

fn delivery(d: &DeliveryConfig, out: &mut Issues) {
    if d.initial_backoff.is_zero() {
        out.error("delivery.initial_backoff", "must be greater than zero");
    }
    if d.initial_backoff > d.max_backoff {
        out.error(
            "delivery.max_backoff",
            "is shorter than delivery.initial_backoff",
        );
    }
    if d.max_age.is_zero() {
        out.error("delivery.max_age", "must be greater than zero");
    }
    if d.timeout.is_zero() {
        out.error("delivery.timeout", "must be greater than zero");
    }
}
