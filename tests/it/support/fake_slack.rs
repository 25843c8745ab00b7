//! A fake Slack Web API on a loopback port that checks what Slack checks: the bot
//! token, JSON or form bodies, Block Kit limits on every message and modal. It
//! records every call, keeps the messages it was asked to post and update, can fail
//! on purpose (HTTP 500, 429 with Retry-After, `ok:false`), and accepts `response_url`
//! posts. Home tab views (`views.publish`) are checked and kept per user. Interaction
//! and event requests are signed here exactly as Slack signs them.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

pub const BOT_TOKEN: &str = "xoxb-countersign-test";
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TEAM: &str = "T0TEST";

/// Every workspace member: the six test reviewers plus one stranger.
const PEOPLE: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "mallory"];

/// A reviewer's Slack user id in the fake workspace: `U` + the name in capitals.
pub fn user_id(name: &str) -> String {
    format!("U{}", name.to_uppercase())
}

/// The DM channel id the fake hands out for a user.
pub fn dm_channel(name: &str) -> String {
    format!("D{}", name.to_uppercase())
}

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
    /// The `error` of an `ok:false` answer, `http <status>` for an injected failure.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub text: String,
    pub blocks: Value,
    pub updates: usize,
}

impl Message {
    /// The fallback text and every string inside the blocks, one per line, to search.
    pub fn all_text(&self) -> String {
        let mut out = format!("{}\n", self.text);
        strings(&self.blocks, &mut out);
        out
    }

    pub fn has_buttons(&self) -> bool {
        self.blocks
            .as_array()
            .is_some_and(|b| b.iter().any(|b| b["type"] == "actions"))
    }

    pub fn button(&self, action_id: &str) -> Option<Value> {
        self.blocks
            .as_array()?
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
            .find(|e| e["action_id"] == action_id)
    }
}

fn strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[derive(Debug, Clone)]
pub enum Fail {
    Status(u16),
    /// HTTP 429 with `Retry-After: <seconds>`.
    RateLimited(u64),
    /// HTTP 200 with `{"ok": false, "error": <code>}`.
    Error(&'static str),
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    messages: Vec<Message>,
    views: Vec<Value>,
    /// Every Home view published, with its user, in order.
    homes: Vec<(String, Value)>,
    responses: Vec<Value>,
    failures: VecDeque<(String, Fail)>,
    next_ts: u64,
}

#[derive(Clone)]
pub struct FakeSlack {
    /// The `slack.api_url` to configure.
    pub api_url: String,
    base: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/response/{id}", post(response_url))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            api_url: format!("{base}/api/"),
            base,
            inner,
        }
    }

    /// The next `n` calls to `method` (`*`: any method) fail with `fail`.
    pub fn fail_next(&self, method: &str, n: usize, fail: Fail) {
        let mut inner = self.inner.lock().unwrap();
        inner
            .failures
            .extend(std::iter::repeat_n((method.to_owned(), fail), n));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Calls Slack answered with an error (injected failures included).
    pub fn errors(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.error.is_some())
            .collect()
    }

    /// Messages as they stand now (after updates), in posting order.
    pub fn messages(&self) -> Vec<Message> {
        self.inner.lock().unwrap().messages.clone()
    }

    pub fn messages_in(&self, channel: &str) -> Vec<Message> {
        self.messages()
            .into_iter()
            .filter(|m| m.channel == channel)
            .collect()
    }

    /// The one message in `channel`; panics unless there is exactly one.
    pub fn message_in(&self, channel: &str) -> Message {
        let found = self.messages_in(channel);
        assert_eq!(found.len(), 1, "messages in {channel}: {found:#?}");
        found.into_iter().next().unwrap()
    }

    /// Views opened with `views.open`, as sent.
    pub fn views(&self) -> Vec<Value> {
        self.inner.lock().unwrap().views.clone()
    }

    /// Every Home view published to this person, oldest first.
    pub fn homes_of(&self, name: &str) -> Vec<Value> {
        let user = user_id(name);
        let inner = self.inner.lock().unwrap();
        inner
            .homes
            .iter()
            .filter(|(u, _)| *u == user)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every Home view published (to anyone), with its user id, oldest first.
    pub fn homes(&self) -> Vec<(String, Value)> {
        self.inner.lock().unwrap().homes.clone()
    }

    /// A fresh `response_url` for an interaction.
    pub fn response_url(&self) -> String {
        format!("{}/response/{}", self.base, ulid::Ulid::new())
    }

    /// Bodies posted to `response_url`s.
    pub fn responses(&self) -> Vec<Value> {
        self.inner.lock().unwrap().responses.clone()
    }
}

type Shared = Arc<Mutex<Inner>>;

async fn response_url(State(inner): State<Shared>, body: Bytes) -> Json<Value> {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    inner.lock().unwrap().responses.push(value);
    Json(json!({"ok": true}))
}

async fn api(
    State(inner): State<Shared>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match params(&headers, query.as_deref(), &body) {
        Ok(p) => p,
        Err(e) => return slack_error(&inner, &method, Value::Null, e),
    };
    let expected = format!("Bearer {BOT_TOKEN}");
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        None => return slack_error(&inner, &method, params, "not_authed"),
        Some(v) if v != expected => return slack_error(&inner, &method, params, "invalid_auth"),
        Some(_) => {}
    }
    if let Some(fail) = injected(&inner, &method) {
        return failure(&inner, &method, params, fail);
    }
    let result = {
        let mut guard = inner.lock().unwrap();
        dispatch(&mut guard, &method, &params)
    };
    match result {
        Ok(answer) => {
            record(&inner, &method, params, None);
            Json(answer).into_response()
        }
        Err(e) => slack_error(&inner, &method, params, &e),
    }
}

/// JSON bodies, form bodies (with `blocks`/`view` as JSON strings) or a GET query.
fn params(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Result<Value, &'static str> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(body).map_err(|_| "invalid_json")?;
        return if v.is_object() {
            Ok(v)
        } else {
            Err("json_not_object")
        };
    }
    let form = if body.is_empty() {
        query.unwrap_or_default().as_bytes()
    } else {
        body
    };
    let text = std::str::from_utf8(form).map_err(|_| "invalid_form_data")?;
    let mut map = serde_json::Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (
            decode(k).ok_or("invalid_form_data")?,
            decode(v).ok_or("invalid_form_data")?,
        );
        let value = match k.as_str() {
            "blocks" | "view" | "users" if v.starts_with(['[', '{']) => {
                serde_json::from_str(&v).map_err(|_| "invalid_json")?
            }
            _ => Value::String(v),
        };
        map.insert(k, value);
    }
    Ok(Value::Object(map))
}

fn decode(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'+' => b' ',
            b'%' => {
                let hi = (bytes.next()? as char).to_digit(16)?;
                let lo = (bytes.next()? as char).to_digit(16)?;
                (hi * 16 + lo) as u8
            }
            b => b,
        });
    }
    String::from_utf8(out).ok()
}

fn injected(inner: &Shared, method: &str) -> Option<Fail> {
    let mut guard = inner.lock().unwrap();
    let i = guard
        .failures
        .iter()
        .position(|(m, _)| m == method || m == "*")?;
    guard.failures.remove(i).map(|(_, f)| f)
}

fn record(inner: &Shared, method: &str, params: Value, error: Option<String>) {
    inner.lock().unwrap().calls.push(Call {
        method: method.to_owned(),
        params,
        error,
    });
}

/// `code` or `code: detail`; the detail goes where Slack puts it, `response_metadata.messages`.
fn slack_error(inner: &Shared, method: &str, params: Value, error: &str) -> Response {
    let (code, detail) = error.split_once(": ").unwrap_or((error, ""));
    record(inner, method, params, Some(code.to_owned()));
    Json(json!({"ok": false, "error": code, "response_metadata": {"messages": [detail]}}))
        .into_response()
}

fn failure(inner: &Shared, method: &str, params: Value, fail: Fail) -> Response {
    match fail {
        Fail::Status(status) => {
            record(inner, method, params, Some(format!("http {status}")));
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, "upstream trouble").into_response()
        }
        Fail::RateLimited(secs) => {
            record(inner, method, params, Some("http 429".into()));
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            r
        }
        Fail::Error(code) => slack_error(inner, method, params, code),
    }
}

fn dispatch(inner: &mut Inner, method: &str, p: &Value) -> Result<Value, String> {
    match method {
        "conversations.open" => conversations_open(p),
        "chat.postMessage" => post_message(inner, p),
        "chat.update" => update(inner, p),
        "chat.postEphemeral" => ephemeral(p),
        "views.open" => views_open(inner, p),
        "views.publish" => views_publish(inner, p),
        "users.lookupByEmail" => lookup(p),
        "users.info" => info(p),
        _ => Err("unknown_method".into()),
    }
}

fn str_param<'a>(p: &'a Value, name: &str) -> Result<&'a str, String> {
    p[name]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "invalid_arguments".to_owned())
}

fn person_by_id(id: &str) -> Option<&'static str> {
    PEOPLE.iter().copied().find(|n| user_id(n) == id)
}

fn user_json(name: &str) -> Value {
    json!({
        "id": user_id(name), "team_id": TEAM, "name": name, "real_name": name,
        "deleted": false, "is_bot": false, "tz": "Europe/Paris",
        "profile": {"email": format!("{name}@example.com"), "real_name": name, "display_name": name},
    })
}

fn conversations_open(p: &Value) -> Result<Value, String> {
    let users = match &p["users"] {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(","),
        _ => return Err("users_list_not_supplied".into()),
    };
    let name = person_by_id(&users).ok_or("user_not_found")?;
    Ok(json!({"ok": true, "channel": {"id": dm_channel(name)}}))
}

fn post_message(inner: &mut Inner, p: &Value) -> Result<Value, String> {
    // Slack takes a channel name too, and answers with the channel's id.
    let channel = match str_param(p, "channel")? {
        name if name.starts_with('#') => format!("C{}", name[1..].to_uppercase()),
        id => id.to_owned(),
    };
    let channel = channel.as_str();
    let (text, blocks) = message_content(p)?;
    inner.next_ts += 1;
    let ts = format!("1700000000.{:06}", inner.next_ts);
    inner.messages.push(Message {
        channel: channel.to_owned(),
        ts: ts.clone(),
        text: text.clone(),
        blocks: blocks.clone(),
        updates: 0,
    });
    Ok(json!({"ok": true, "channel": channel, "ts": ts,
              "message": {"type": "message", "ts": ts, "text": text, "blocks": blocks, "bot_id": "B0TEST"}}))
}

fn update(inner: &mut Inner, p: &Value) -> Result<Value, String> {
    let channel = str_param(p, "channel")?.to_owned();
    let ts = str_param(p, "ts")?.to_owned();
    let (text, blocks) = message_content(p)?;
    let message = inner
        .messages
        .iter_mut()
        .find(|m| m.channel == channel && m.ts == ts)
        .ok_or("message_not_found")?;
    message.text = text.clone();
    message.blocks = blocks.clone();
    message.updates += 1;
    Ok(
        json!({"ok": true, "channel": channel, "ts": ts, "text": text,
              "message": {"text": text, "blocks": blocks}}),
    )
}

fn ephemeral(p: &Value) -> Result<Value, String> {
    str_param(p, "channel")?;
    str_param(p, "user")?;
    if p["text"].as_str().is_none_or(str::is_empty) && p["blocks"].is_null() {
        return Err("no_text".into());
    }
    Ok(json!({"ok": true, "message_ts": "1700000000.999999"}))
}

fn views_open(inner: &mut Inner, p: &Value) -> Result<Value, String> {
    str_param(p, "trigger_id")?;
    let view = &p["view"];
    check_view(view).map_err(|e| format!("invalid_arguments: {e}"))?;
    inner.views.push(view.clone());
    let mut stateful = view.clone();
    stateful["id"] = json!(format!("V{}", inner.views.len()));
    stateful["team_id"] = json!(TEAM);
    stateful["hash"] = json!("1700000000.abcdef");
    stateful["state"] = json!({"values": {}});
    Ok(json!({"ok": true, "view": stateful}))
}

/// Slack checks the user, that the view is a Home view, and the blocks (100 at most).
fn views_publish(inner: &mut Inner, p: &Value) -> Result<Value, String> {
    let user = str_param(p, "user_id")?;
    person_by_id(user).ok_or("user_not_found")?;
    let view = &p["view"];
    check_home(view).map_err(|e| format!("invalid_arguments: {e}"))?;
    inner.homes.push((user.to_owned(), view.clone()));
    let mut stateful = view.clone();
    stateful["id"] = json!(format!("VH{}", inner.homes.len()));
    stateful["team_id"] = json!(TEAM);
    stateful["hash"] = json!("1700000000.homehash");
    Ok(json!({"ok": true, "view": stateful}))
}

fn lookup(p: &Value) -> Result<Value, String> {
    let email = str_param(p, "email")?;
    let name = PEOPLE
        .iter()
        .find(|n| format!("{n}@example.com").eq_ignore_ascii_case(email))
        .ok_or("users_not_found")?;
    Ok(json!({"ok": true, "user": user_json(name)}))
}

fn info(p: &Value) -> Result<Value, String> {
    let name = person_by_id(str_param(p, "user")?).ok_or("user_not_found")?;
    Ok(json!({"ok": true, "user": user_json(name)}))
}

/// `text` and `blocks` of a message, after Slack's checks.
fn message_content(p: &Value) -> Result<(String, Value), String> {
    let text = p["text"].as_str().unwrap_or_default().to_owned();
    let blocks = p["blocks"].clone();
    if text.is_empty() && blocks.is_null() {
        return Err("no_text".into());
    }
    if len(&text) > 40_000 {
        return Err("msg_too_long".into());
    }
    if !blocks.is_null() {
        check_blocks(&blocks, 50, false).map_err(|e| format!("invalid_blocks: {e}"))?;
    }
    Ok((text, blocks))
}

// ---- Block Kit checks (https://docs.slack.dev/reference/block-kit) ----

fn len(s: &str) -> usize {
    s.chars().count()
}

fn text_obj(v: &Value, max: usize, plain_only: bool, what: &str) -> Result<(), String> {
    let kind = v["type"]
        .as_str()
        .ok_or(format!("{what}: text object without type"))?;
    if kind != "plain_text" && (plain_only || kind != "mrkdwn") {
        return Err(format!("{what}: bad text type {kind}"));
    }
    let text = v["text"].as_str().ok_or(format!("{what}: no text"))?;
    if text.is_empty() {
        return Err(format!("{what}: empty text"));
    }
    if len(text) > max {
        return Err(format!("{what}: {} characters, more than {max}", len(text)));
    }
    Ok(())
}

fn max_str(v: &Value, max: usize, what: &str) -> Result<(), String> {
    match v.as_str() {
        Some(s) if len(s) > max => Err(format!("{what}: longer than {max}")),
        _ => Ok(()),
    }
}

pub fn check_blocks(blocks: &Value, max: usize, modal: bool) -> Result<(), String> {
    let blocks = blocks.as_array().ok_or("blocks is not an array")?;
    if blocks.len() > max {
        return Err(format!("{} blocks, more than {max}", blocks.len()));
    }
    let mut block_ids = Vec::new();
    let mut action_ids = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        if let Some(id) = b["block_id"].as_str() {
            max_str(&b["block_id"], 255, "block_id")?;
            if block_ids.contains(&id) {
                return Err(format!("duplicate block_id {id}"));
            }
            block_ids.push(id);
        }
        check_block(b, modal, &mut action_ids).map_err(|e| format!("block {i}: {e}"))?;
    }
    Ok(())
}

fn check_block<'a>(b: &'a Value, modal: bool, action_ids: &mut Vec<&'a str>) -> Result<(), String> {
    match b["type"].as_str().unwrap_or_default() {
        "divider" => Ok(()),
        "header" => text_obj(&b["text"], 150, true, "header"),
        "section" => {
            if b["text"].is_null() && b["fields"].is_null() {
                return Err("section without text or fields".into());
            }
            if !b["text"].is_null() {
                text_obj(&b["text"], 3000, false, "section text")?;
            }
            if let Some(fields) = b["fields"].as_array() {
                if fields.len() > 10 {
                    return Err("more than 10 fields".into());
                }
                for f in fields {
                    text_obj(f, 2000, false, "field")?;
                }
            }
            Ok(())
        }
        "context" => {
            let elements = b["elements"].as_array().ok_or("context without elements")?;
            if elements.is_empty() || elements.len() > 10 {
                return Err(format!("context with {} elements", elements.len()));
            }
            elements
                .iter()
                .try_for_each(|e| text_obj(e, 3000, false, "context"))
        }
        "actions" => {
            let elements = b["elements"].as_array().ok_or("actions without elements")?;
            if elements.is_empty() || elements.len() > 25 {
                return Err(format!("actions with {} elements", elements.len()));
            }
            for e in elements {
                check_button(e)?;
                if let Some(id) = e["action_id"].as_str() {
                    if action_ids.contains(&id) {
                        return Err(format!("duplicate action_id {id}"));
                    }
                    action_ids.push(id);
                }
            }
            Ok(())
        }
        "input" if modal => check_input(b),
        other => Err(format!("block type {other:?} not allowed here")),
    }
}

fn check_button(e: &Value) -> Result<(), String> {
    if e["type"] != "button" {
        return Err(format!("unexpected element {}", e["type"]));
    }
    text_obj(&e["text"], 75, true, "button text")?;
    max_str(&e["action_id"], 255, "action_id")?;
    max_str(&e["value"], 2000, "button value")?;
    max_str(&e["url"], 3000, "button url")?;
    if let Some(style) = e["style"]
        .as_str()
        .filter(|s| !["primary", "danger"].contains(s))
    {
        return Err(format!("bad style {style}"));
    }
    let confirm = &e["confirm"];
    if !confirm.is_null() {
        text_obj(&confirm["title"], 100, true, "confirm title")?;
        text_obj(&confirm["text"], 300, false, "confirm text")?;
        text_obj(&confirm["confirm"], 30, true, "confirm button")?;
        text_obj(&confirm["deny"], 30, true, "deny button")?;
    }
    Ok(())
}

fn check_input(b: &Value) -> Result<(), String> {
    text_obj(&b["label"], 2000, true, "input label")?;
    if !b["hint"].is_null() {
        text_obj(&b["hint"], 2000, true, "input hint")?;
    }
    let e = &b["element"];
    max_str(&e["action_id"], 255, "action_id")?;
    match e["type"].as_str().unwrap_or_default() {
        "plain_text_input" => match e["max_length"].as_u64() {
            Some(n) if n > 3000 => Err("max_length over 3000".into()),
            _ => Ok(()),
        },
        "number_input" => match e["is_decimal_allowed"] {
            Value::Bool(_) => Ok(()),
            _ => Err("number_input without is_decimal_allowed".into()),
        },
        "checkboxes" => {
            let options = e["options"]
                .as_array()
                .ok_or("checkboxes without options")?;
            if options.is_empty() || options.len() > 10 {
                return Err(format!("checkboxes with {} options", options.len()));
            }
            for o in options {
                text_obj(&o["text"], 75, false, "option text")?;
                let value = o["value"].as_str().ok_or("option without value")?;
                if len(value) > 150 {
                    return Err("option value over 150".into());
                }
            }
            Ok(())
        }
        other => Err(format!("input element {other:?} not expected")),
    }
}

pub fn check_view(view: &Value) -> Result<(), String> {
    if view["type"] != "modal" {
        return Err("only modals are opened".into());
    }
    text_obj(&view["title"], 24, true, "modal title")?;
    for button in ["submit", "close"] {
        if !view[button].is_null() {
            text_obj(&view[button], 24, true, button)?;
        }
    }
    max_str(&view["callback_id"], 255, "callback_id")?;
    max_str(&view["private_metadata"], 3000, "private_metadata")?;
    check_blocks(&view["blocks"], 100, true)
}

/// A Home tab view (https://docs.slack.dev/reference/views/home-tab-views): type `home`,
/// at most 100 blocks, no input blocks, metadata within limits.
pub fn check_home(view: &Value) -> Result<(), String> {
    if view["type"] != "home" {
        return Err(format!(
            "views.publish takes a home view, not {}",
            view["type"]
        ));
    }
    max_str(&view["callback_id"], 255, "callback_id")?;
    max_str(&view["private_metadata"], 3000, "private_metadata")?;
    check_blocks(&view["blocks"], 100, false)
}

/// The buttons of a Home view, in order.
pub fn home_buttons(view: &Value) -> Vec<Value> {
    view["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// A `block_actions` payload for a click in a Home view: the container is the view, and
/// there is no message, channel or `response_url`.
pub fn click_home(user: &str, view: &Value, action_id: &str) -> Value {
    let button = home_buttons(view)
        .into_iter()
        .find(|b| b["action_id"] == action_id)
        .unwrap_or_else(|| panic!("no {action_id} button in {view}"));
    let mut stateful = view.clone();
    stateful["id"] = json!("VHOME1");
    stateful["team_id"] = json!(TEAM);
    stateful["hash"] = json!("1700000000.homehash");
    stateful["state"] = json!({"values": {}});
    stateful["app_id"] = json!("A0TEST");
    stateful["bot_id"] = json!("B0TEST");
    stateful["root_view_id"] = json!("VHOME1");
    json!({
        "type": "block_actions",
        "user": {"id": user_id(user), "username": user, "name": user, "team_id": TEAM},
        "api_app_id": "A0TEST",
        "token": "legacy-verification-token",
        "container": {"type": "view", "view_id": "VHOME1"},
        "trigger_id": format!("{}.{}", ulid::Ulid::new(), user),
        "team": {"id": TEAM, "domain": "countersign-test"},
        "enterprise": null,
        "is_enterprise_install": false,
        "view": stateful,
        "state": {"values": {}},
        "actions": [{
            "action_id": action_id,
            "block_id": format!("countersign_actions:{}", action_id.split_once(':').map_or("", |(_, s)| s)),
            "text": button["text"],
            "value": button["value"],
            "style": button.get("style").cloned().unwrap_or(Value::Null),
            "type": "button",
            "action_ts": "1700000000.123456",
        }],
    })
}

/// An `event_callback` delivery of `app_home_opened` for this person's Home tab.
pub fn home_opened(name: &str, event_id: &str) -> Value {
    json!({
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0TEST",
        "event": {
            "type": "app_home_opened",
            "user": user_id(name),
            "channel": dm_channel(name),
            "tab": "home",
            "event_ts": "1700000000.000100",
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "authorizations": [{"enterprise_id": null, "team_id": TEAM, "user_id": "UBOT", "is_bot": true, "is_enterprise_install": false}],
        "is_ext_shared_channel": false,
        "event_context": "4-eyJldCI6ImFwcF9ob21lX29wZW5lZCJ9",
    })
}

// ---- Interactions, signed as Slack signs them ----

/// `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret.
pub fn sign(timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).expect("key");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// `payload=<urlencoded JSON>`, the form body Slack posts.
pub fn form_body(payload: &Value) -> String {
    let json = payload.to_string();
    let mut out = String::from("payload=");
    for b in json.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A `block_actions` payload for a click on `action_id` in `message`.
pub fn click(user: &str, message: &Message, action_id: &str, response_url: &str) -> Value {
    let button = message
        .button(action_id)
        .unwrap_or_else(|| panic!("no {action_id} button in {}", message.blocks));
    json!({
        "type": "block_actions",
        "user": {"id": user_id(user), "username": user, "name": user, "team_id": TEAM},
        "api_app_id": "A0TEST",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel, "is_ephemeral": false},
        "trigger_id": format!("{}.{}", ulid::Ulid::new(), user),
        "team": {"id": TEAM, "domain": "countersign-test"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": message.channel, "name": "directmessage"},
        "message": {"type": "message", "ts": message.ts, "text": message.text,
                    "blocks": message.blocks, "bot_id": "B0TEST", "user": "UBOT"},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{
            "action_id": action_id,
            "block_id": "countersign_actions",
            "text": button["text"],
            "value": button["value"],
            "style": button.get("style").cloned().unwrap_or(Value::Null),
            "type": "button",
            "action_ts": "1700000000.123456",
        }],
    })
}

/// A `view_submission` payload for `view` (as opened) with these input `values`.
pub fn submit(user: &str, view: &Value, values: Value) -> Value {
    let mut stateful = view.clone();
    stateful["id"] = json!("V0SUBMIT");
    stateful["team_id"] = json!(TEAM);
    stateful["hash"] = json!("1700000000.abcdef");
    stateful["state"] = json!({"values": values});
    stateful["app_id"] = json!("A0TEST");
    stateful["bot_id"] = json!("B0TEST");
    stateful["root_view_id"] = json!("V0SUBMIT");
    stateful["previous_view_id"] = Value::Null;
    json!({
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "countersign-test"},
        "user": {"id": user_id(user), "username": user, "name": user, "team_id": TEAM},
        "api_app_id": "A0TEST",
        "token": "legacy-verification-token",
        "trigger_id": format!("{}.submit", ulid::Ulid::new()),
        "view": stateful,
        "response_urls": [],
        "is_enterprise_install": false,
    })
}
