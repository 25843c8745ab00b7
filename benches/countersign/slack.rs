//! Slack click → HTTP answer: signed `block_actions` requests to `/slack/interactions`,
//! 64 at once, built from the very buttons the bot posted to the fake Slack.

use crate::load::{self, Run};
use crate::stack::{self, Peer, SLACK_SIGNING_SECRET, Server};
use countersign::store::db;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const CONCURRENCY: usize = 64;

/// Opens `rounds × 64` escalations, waits for the bot to DM bob about each, then clicks
/// Approve on every message, 64 requests in flight at a time.
pub async fn clicks(server: &Server, peer: &Peer, rounds: usize) -> Result<Run, String> {
    let n = rounds * CONCURRENCY;
    let opened = crate::intake::closed(server, 16, n, "slack-").await;
    if opened.ok() != n {
        return Err(format!("only {} of {n} escalations opened", opened.ok()));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let clicks = loop {
        let clicks = approve_clicks(
            &peer.posted.lock().expect("lock"),
            &peer.slack_response_url(),
        );
        if clicks.len() >= n {
            break clicks;
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "the bot posted {} approvable messages of {n} within 120 s",
                clicks.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let clicks = Arc::new(clicks);
    let client = stack::client();
    let url = server.url("/slack/interactions");
    let run = load::closed(CONCURRENCY, n, Duration::from_secs(120), move |i| {
        let body = clicks[i].clone();
        let ts = chrono::Utc::now().timestamp().to_string();
        let req = client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &ts)
            .header("x-slack-signature", sign(&ts, &body))
            .body(body);
        async move {
            match req.send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await;
    // A 200 also answers a click that changed nothing; count the decisions it made.
    let approved: i64 =
        db::query_scalar("SELECT COUNT(*) FROM escalations WHERE status = 'approved'")
            .fetch_one(&stack::own_pool(&server.service).await)
            .await
            .expect("count");
    if approved as usize != n {
        return Err(format!(
            "{approved} of {n} clicks approved their escalation"
        ));
    }
    Ok(run)
}

/// `v0=` + hex HMAC-SHA256 of `v0:{ts}:{body}`, as Slack signs.
pub fn sign(ts: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SLACK_SIGNING_SECRET.as_bytes())
        .expect("any key length");
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// One form body per DM that carries an approve button: the `block_actions` payload
/// Slack would send when its reviewer clicks it.
fn approve_clicks(posted: &[Value], response_url: &str) -> Vec<String> {
    posted
        .iter()
        .filter_map(|msg| {
            let button = find_approve(msg.get("blocks")?)?;
            let channel = msg["channel"].as_str().unwrap_or("D0BOB");
            let user = if channel.starts_with('U') { channel.to_owned() } else { "U0BOB".into() };
            let ts = msg["ts"].as_str().unwrap_or("1700000000.000001");
            let payload = json!({
                "type": "block_actions",
                "user": {"id": user, "username": "bob", "name": "bob", "team_id": "T0BENCH"},
                "api_app_id": "A0BENCH",
                "token": "deprecated-verification-token",
                "team": {"id": "T0BENCH", "domain": "bench"},
                "trigger_id": format!("{ts}.trigger"),
                "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
                "channel": {"id": channel, "name": "directmessage"},
                "message": {"type": "message", "ts": ts, "text": msg["text"], "blocks": msg["blocks"]},
                "response_url": response_url,
                "actions": [{
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": button["block_id"],
                    "value": button["value"],
                    "text": button["text"],
                    "action_ts": ts,
                }],
            });
            Some(format!("payload={}", form_encode(&payload.to_string())))
        })
        .collect()
}

/// The Approve button (action id `approve`; failing that, the first button whose action
/// id or value says "approve"), with its block id.
fn find_approve(blocks: &Value) -> Option<Value> {
    let buttons: Vec<Value> = blocks
        .as_array()?
        .iter()
        .flat_map(|block| {
            block["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|el| el["type"] == "button")
                .map(|el| {
                    let mut button = el.clone();
                    button["block_id"] = block["block_id"].clone();
                    button
                })
        })
        .collect();
    let says = |b: &&Value| {
        ["action_id", "value"]
            .iter()
            .any(|k| b[*k].as_str().is_some_and(|s| s.contains("approve")))
    };
    buttons
        .iter()
        .find(|b| b["action_id"] == "approve")
        .or_else(|| buttons.iter().find(says))
        .cloned()
}

/// application/x-www-form-urlencoded, as a browser or Slack writes it.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
