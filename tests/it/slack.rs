//! The Slack channel end to end: the real server talks to a fake Slack Web API over
//! loopback; interactions are signed exactly as Slack signs them.

use crate::support::fake_slack::{
    self, Fail, FakeSlack, Message, SIGNING_SECRET, dm_channel, form_body, sign, user_id,
};
use crate::support::requests::{id_of, rich};
use crate::support::{Options, Stage, TestApp, TestConfig, Workflow, eventually};
use countersign::store::db;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The summary of the rich request these tests send.
const DEPLOY: &str = "Deploy api v2.3.1 to production";

struct Env {
    app: TestApp,
    slack: FakeSlack,
}

async fn env() -> Env {
    env_with(TestConfig::default()).await
}

async fn env_with(config: TestConfig) -> Env {
    let slack = FakeSlack::start().await;
    let app = TestApp::spawn_with(Options {
        config: config.slack(&slack.api_url),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    Env { app, slack }
}

impl Env {
    async fn deliver_all(&self) {
        self.app.deliver_all().await;
    }

    /// Posts a signed interaction; every answer must come well inside Slack's 3 s.
    async fn interact(&self, payload: &Value) -> reqwest::Response {
        let body = form_body(payload);
        let ts = chrono::Utc::now().timestamp();
        let started = Instant::now();
        let r = self.send(&body, Some(ts), Some(sign(ts, &body))).await;
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500), "answered in {took:?}");
        r
    }

    async fn send(&self, body: &str, ts: Option<i64>, sig: Option<String>) -> reqwest::Response {
        let mut req = self
            .app
            .client
            .post(self.app.url("/slack/interactions"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(ts) = ts {
            req = req.header("x-slack-request-timestamp", ts.to_string());
        }
        if let Some(sig) = sig {
            req = req.header("x-slack-signature", sig);
        }
        req.send().await.expect("request")
    }

    async fn click(&self, user: &str, message: &Message, action: &str) -> reqwest::Response {
        let payload = fake_slack::click(user, message, action, &self.slack.response_url());
        let r = self.interact(&payload).await;
        assert_eq!(r.status(), StatusCode::OK);
        r
    }

    /// The private reply sent to the clicker through a `response_url`, waited for.
    async fn reply_containing(&self, needle: &str) -> Value {
        eventually(Duration::from_secs(10), || async {
            self.slack
                .responses()
                .into_iter()
                .find(|r| r["text"].as_str().is_some_and(|t| t.contains(needle)))
        })
        .await
    }

    fn dm(&self, name: &str) -> Message {
        self.slack.message_in(&dm_channel(name))
    }

    async fn stored_messages(&self) -> Vec<(String, String, Option<String>)> {
        db::query_as("SELECT channel, ts, reviewer_id FROM slack_messages ORDER BY id")
            .fetch_all(&self.app.db)
            .await
            .expect("slack_messages")
    }
}

#[tokio::test]
async fn manifest_names_only_paths_the_router_serves() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifest.yml"))
        .expect("manifest.yml");
    let manifest: Value = serde_norway::from_str(&manifest).expect("manifest parses");
    let scopes: Vec<&str> = manifest["oauth_config"]["scopes"]["bot"]
        .as_array()
        .expect("bot scopes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for scope in ["chat:write", "im:write", "users:read", "users:read.email"] {
        assert!(scopes.contains(&scope), "missing scope {scope}");
    }
    assert_eq!(manifest["settings"]["interactivity"]["is_enabled"], true);
    assert!(manifest["features"]["bot_user"]["display_name"].is_string());

    let mut urls = Vec::new();
    collect_urls(&manifest, &mut urls);
    assert!(
        urls.iter().any(|u| u.ends_with("/slack/interactions")),
        "{urls:?}"
    );
    let env = env().await;
    for url in urls {
        let path = url
            .strip_prefix("https://YOUR-HOST")
            .expect("URLs point at YOUR-HOST");
        let r = env
            .app
            .client
            .post(env.app.url(path))
            .send()
            .await
            .expect("request");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_ne!(
            status,
            StatusCode::NOT_FOUND,
            "{path} is not served: {body}"
        );
        // Unsigned, so refused, but by the handler rather than the fallback.
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
    }
}

fn collect_urls(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with("https://") => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| collect_urls(v, out)),
        Value::Object(o) => o.values().for_each(|v| collect_urls(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn stage_start_dms_each_reviewer_with_the_full_context() {
    let env = env().await;
    let doc = env.app.escalate_with(rich("test.single", DEPLOY)).await;
    env.deliver_all().await;

    // Looked up by email (no slack_user in the config), DMed through conversations.open.
    assert_eq!(env.slack.calls_to("users.lookupByEmail").len(), 2);
    assert_eq!(env.slack.calls_to("conversations.open").len(), 2);
    let m = env.dm("bob");
    env.dm("carol");
    let text = m.all_text();
    for expected in [
        "Approval needed: Deploy api v2.3.1 to production",
        "Deploy api v2.3.1 to production",
        "Test Agent",
        "dana@example.com",
        "test.single",
        "k8s://prod/api",
        "*95* / 100",
        "Production change outside the change window",
        "prod-deploy",
        "Production deploys need approval",
        "\"service\": \"api\"",
        "Deployed api v2.3.0 to staging",
        "<https://ci.example.com/runs/1|CI run>",
        "1 of 1 · Approval",
        "No approvals yet",
        "Waiting on Bob Builder, Carol Coder",
        "<!date^",
        "No earlier decisions for this intent",
        &id_of(&doc),
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let approve = m.button("approve").expect("approve button");
    assert_eq!(approve["style"], "primary");
    assert!(
        m.button("approve_conditions").is_some(),
        "the workflow lists conditions"
    );
    let deny = m.button("deny").expect("deny button");
    assert_eq!(deny["style"], "danger");
    assert!(
        deny["confirm"]["title"].is_object(),
        "deny asks for confirmation"
    );

    // The channel and ts of every posted message are stored.
    let stored = env.stored_messages().await;
    assert_eq!(stored.len(), 2);
    for (channel, ts, reviewer) in &stored {
        let posted = env.slack.message_in(channel);
        assert_eq!(&posted.ts, ts);
        assert!(reviewer.is_some());
    }

    // Decided escalations show up as recent decisions on the next request; users are
    // not looked up again.
    env.app.approve(&id_of(&doc), "bob").await;
    env.app.escalate_with(rich("test.single", DEPLOY)).await;
    env.deliver_all().await;
    assert_eq!(
        env.slack.calls_to("users.lookupByEmail").len(),
        2,
        "remembered"
    );
    let newest = env
        .slack
        .messages_in(&dm_channel("carol"))
        .pop()
        .expect("second DM");
    let text = newest.all_text();
    assert!(text.contains("Recent decisions for this intent"), "{text}");
    assert!(
        text.contains("approved <!date^") && text.contains("by Bob Builder"),
        "{text}"
    );
}

#[tokio::test]
async fn delegation_and_sla_escalation_dm_the_new_reviewers() {
    let env = env().await;
    let doc = env.app.escalate("test.delegation").await;
    env.deliver_all().await;
    assert_eq!(env.slack.messages().len(), 1);
    env.dm("bob");

    assert_eq!(env.app.advance(Duration::from_secs(10 * 60)).await, 1);
    env.deliver_all().await;
    let erin = env.dm("erin");
    assert!(
        erin.all_text().contains("delegated to you as well"),
        "{}",
        erin.all_text()
    );
    let bob = env.dm("bob");
    assert!(
        bob.all_text().contains("Erin Lead"),
        "bob's message shows the wider pool"
    );

    assert_eq!(env.app.advance(Duration::from_secs(20 * 60)).await, 1);
    env.deliver_all().await;
    let dave = env.dm("dave");
    assert!(
        dave.all_text().contains("passed its SLA"),
        "{}",
        dave.all_text()
    );
    assert!(env.dm("bob").all_text().contains("past its SLA, escalated"));

    env.click("dave", &dave, "approve").await;
    assert_eq!(env.app.status(&id_of(&doc)).await["status"], "approved");
    env.deliver_all().await;
    for name in ["bob", "erin", "dave"] {
        let m = env.dm(name);
        assert!(!m.has_buttons(), "{name} still has buttons");
        assert!(
            m.all_text().contains("Approved"),
            "{name}: {}",
            m.all_text()
        );
    }
}

#[tokio::test]
async fn approve_click_votes_and_keeps_every_message_true() {
    let env = env().await;
    let doc = env.app.escalate("test.quorum").await;
    let id = id_of(&doc);
    env.deliver_all().await;
    let bob = env.dm("bob");
    assert!(
        bob.button("approve_conditions").is_none(),
        "no conditions in this workflow"
    );

    let r = env.click("bob", &bob, "approve").await;
    assert!(
        r.text().await.unwrap().is_empty(),
        "a click is acknowledged with an empty body"
    );
    let status = env.app.status(&id).await;
    let votes = &status["stages"][0]["votes"];
    assert_eq!(votes[0]["reviewer"], "bob");
    assert_eq!(votes[0]["channel"], "slack");
    assert_eq!(status["status"], "pending");

    env.deliver_all().await;
    let bob = env.dm("bob");
    assert!(
        bob.all_text().contains("You approved"),
        "{}",
        bob.all_text()
    );
    assert!(!bob.has_buttons());
    let alice = env.dm("alice");
    assert!(alice.all_text().contains("Approved by Bob Builder"));
    assert!(alice.has_buttons(), "alice can still vote");

    let carol = env.dm("carol");
    env.click("carol", &carol, "approve").await;
    assert_eq!(env.app.status(&id).await["status"], "approved");
    env.deliver_all().await;
    for name in ["alice", "bob", "carol"] {
        let m = env.dm(name);
        let text = m.all_text();
        assert!(!m.has_buttons(), "{name} still has buttons");
        assert!(
            text.contains("Approved") && text.contains("by Bob Builder, Carol Coder"),
            "{name}: {text}"
        );
    }
    assert!(env.slack.errors().is_empty(), "{:?}", env.slack.errors());
}

#[tokio::test]
async fn deny_opens_a_modal_that_requires_a_reason() {
    let env = env().await;
    let id = id_of(&env.app.escalate_with(rich("test.single", DEPLOY)).await);
    env.deliver_all().await;
    let bob = env.dm("bob");

    env.click("bob", &bob, "deny").await;
    let views = env.slack.views();
    assert_eq!(
        views.len(),
        1,
        "views.open is called while the trigger_id is valid"
    );
    let view = &views[0];
    assert_eq!(view["callback_id"], "countersign_deny");
    assert!(view.to_string().contains("Deploy api v2.3.1 to production"));
    assert_eq!(
        env.app.status(&id).await["stages"][0]["votes"],
        json!([]),
        "nothing yet"
    );

    // No reason: the modal shows an error and nothing is recorded.
    let r = env
        .interact(&fake_slack::submit("bob", view, json!({})))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["response_action"], "errors");
    assert!(
        body["errors"]["reason"]
            .as_str()
            .unwrap()
            .contains("reason")
    );
    assert_eq!(env.app.status(&id).await["status"], "pending");

    let values = json!({"reason": {"reason": {"type": "plain_text_input", "value": "<!channel> outside the change window"}}});
    let r = env.interact(&fake_slack::submit("bob", view, values)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text().await.unwrap().is_empty(),
        "an empty answer closes the modal"
    );
    let status = env.app.status(&id).await;
    assert_eq!(status["status"], "denied");
    assert_eq!(
        status["decision"]["reason"],
        "<!channel> outside the change window"
    );
    assert_eq!(status["stages"][0]["votes"][0]["channel"], "slack");

    env.deliver_all().await;
    for name in ["bob", "carol"] {
        let m = env.dm(name);
        let text = m.all_text();
        assert!(!m.has_buttons());
        assert!(
            text.contains("Denied") && text.contains("by Bob Builder"),
            "{text}"
        );
        assert!(
            text.contains("&lt;!channel&gt; outside the change window"),
            "{text}"
        );
        assert!(!text.contains("<!channel>"));
    }
}

#[tokio::test]
async fn approve_with_conditions_offers_the_workflow_conditions() {
    let env = env().await;
    let id = id_of(&env.app.escalate("test.single").await);
    env.deliver_all().await;
    env.click("carol", &env.dm("carol"), "approve_conditions")
        .await;
    let view = env.slack.views().pop().expect("conditions modal");
    assert_eq!(view["callback_id"], "countersign_conditions");
    let options: Vec<String> = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["element"]["type"] == "checkboxes")
        .flat_map(|b| b["element"]["options"].as_array().cloned().unwrap())
        .map(|o| o["text"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(options, ["Canary rollout required", "Mask PII fields"]);

    let r = env
        .interact(&fake_slack::submit("carol", &view, json!({})))
        .await;
    let body: Value = r.json().await.unwrap();
    assert!(
        body["errors"]["extra"].is_string(),
        "at least one condition: {body}"
    );

    let values = json!({
        "conditions_0": {"pick": {"type": "checkboxes", "selected_options": [
            {"text": {"type": "plain_text", "text": "Mask PII fields"}, "value": "1"}]}},
        "extra": {"extra": {"type": "plain_text_input", "value": "Notify #ops first\n\nKeep a rollback ready"}},
        "comment": {"comment": {"type": "plain_text_input", "value": null}}
    });
    let r = env
        .interact(&fake_slack::submit("carol", &view, values))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let status = env.app.status(&id).await;
    assert_eq!(status["status"], "approved");
    assert_eq!(
        status["decision"]["conditions"],
        json!([
            "Mask PII fields",
            "Notify #ops first",
            "Keep a rollback ready"
        ])
    );
    env.deliver_all().await;
    let text = env.dm("bob").all_text();
    assert!(
        text.contains("Conditions") && text.contains("Keep a rollback ready"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_and_refused_clickers_are_told_privately_and_nothing_changes() {
    let env = env().await;
    let mut body = rich("test.single", DEPLOY);
    body["requested_by"] = json!("carol@example.com");
    let id = id_of(&env.app.escalate_with(body).await);
    env.deliver_all().await;
    // Carol requested it, so only Bob is asked.
    assert_eq!(env.slack.messages().len(), 1);
    let bob = env.dm("bob");

    env.click("mallory", &bob, "approve").await;
    let reply = env.reply_containing("not linked").await;
    assert_eq!(reply["response_type"], "ephemeral");
    assert_eq!(reply["replace_original"], false);
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains(&user_id("mallory"))
    );

    env.click("frank", &bob, "approve").await;
    env.reply_containing("Frank Outsider is not among the reviewers")
        .await;
    env.click("frank", &bob, "deny").await;
    assert!(
        env.slack.views().is_empty(),
        "no modal for someone who may not vote"
    );
    env.click("carol", &bob, "approve").await;
    env.reply_containing("self-approval").await;

    // Without a response_url the reply is an ephemeral message in the same conversation.
    let mut payload = fake_slack::click("frank", &bob, "approve", "");
    payload["response_url"] = Value::Null;
    assert_eq!(env.interact(&payload).await.status(), StatusCode::OK);
    let call = eventually(Duration::from_secs(10), || async {
        env.slack.calls_to("chat.postEphemeral").pop()
    })
    .await;
    assert_eq!(call.params["channel"], dm_channel("bob"));
    assert_eq!(call.params["user"], user_id("frank"));

    let status = env.app.status(&id).await;
    assert_eq!(status["status"], "pending");
    assert_eq!(status["stages"][0]["votes"], json!([]));
    assert!(
        env.app
            .audit_kinds(&id)
            .await
            .iter()
            .any(|k| k == "vote_refused")
    );

    // Bob decides; later clicks meet "already decided".
    env.click("bob", &bob, "approve").await;
    assert_eq!(env.app.status(&id).await["status"], "approved");
    env.click("bob", &bob, "approve").await;
    env.reply_containing("already decided (approved)").await;

    // Twice at a quorum stage: "already voted".
    let quorum = id_of(&env.app.escalate("test.quorum").await);
    env.deliver_all().await;
    let alice = env.dm("alice");
    env.click("alice", &alice, "approve").await;
    env.click("alice", &alice, "approve").await;
    env.reply_containing("already voted").await;

    // Separation of duties: whoever approved stage one may not approve stage two.
    let sod = id_of(&env.app.escalate("test.same-person").await);
    env.deliver_all().await;
    let stage_one = env.slack.messages_in(&dm_channel("bob")).pop().unwrap();
    env.click("bob", &stage_one, "approve").await;
    env.deliver_all().await;
    let stage_two = env.slack.messages_in(&dm_channel("carol")).pop().unwrap();
    assert!(
        stage_two.all_text().contains("2 of 2"),
        "only carol is asked at stage two"
    );
    env.click("bob", &stage_two, "approve").await;
    env.reply_containing("each stage needs a different reviewer")
        .await;
    assert_eq!(env.app.status(&sod).await["stages"][1]["votes"], json!([]));
    assert_eq!(
        env.app.status(&quorum).await["stages"][0]["votes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_signatures_and_stale_timestamps_are_refused_before_anything_happens() {
    let env = env().await;
    let id = id_of(&env.app.escalate("test.single").await);
    env.deliver_all().await;
    let bob = env.dm("bob");
    let calls_before = env.slack.calls().len();
    let payload = fake_slack::click("bob", &bob, "approve", &env.slack.response_url());
    let body = form_body(&payload);
    let now = chrono::Utc::now().timestamp();

    let wrong_secret = {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"not-the-secret").unwrap();
        mac.update(format!("v0:{now}:{body}").as_bytes());
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    };
    assert_ne!(SIGNING_SECRET.as_bytes(), b"not-the-secret");
    let cases = [
        ("wrong secret", body.clone(), Some(now), Some(wrong_secret)),
        (
            "stale",
            body.clone(),
            Some(now - 301),
            Some(sign(now - 301, &body)),
        ),
        (
            "from the future",
            body.clone(),
            Some(now + 400),
            Some(sign(now + 400, &body)),
        ),
        (
            "tampered",
            body.replace("approve", "deny"),
            Some(now),
            Some(sign(now, &body)),
        ),
        ("no signature", body.clone(), Some(now), None),
        ("no timestamp", body.clone(), None, Some(sign(now, &body))),
        ("garbage", body.clone(), Some(now), Some("v0=zz".into())),
    ];
    for (case, body, ts, sig) in cases {
        let r = env.send(&body, ts, sig).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{case}");
        let err: Value = r.json().await.expect("contract body");
        assert_eq!(err["error"]["code"], "unauthorized", "{case}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let status = env.app.status(&id).await;
    assert_eq!(status["status"], "pending");
    assert_eq!(status["stages"][0]["votes"], json!([]));
    assert_eq!(
        env.slack.calls().len(),
        calls_before,
        "no Slack call was made"
    );
    assert!(env.slack.responses().is_empty());

    // Signed but not a Slack payload: parsed only after verification, refused as malformed.
    for junk in [
        "payload=%7Bnot+json",
        "nothing=here",
        "payload=%7B%22type%22%3A%22block_actions%22%7D",
    ] {
        let r = env.send(junk, Some(now), Some(sign(now, junk))).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{junk}");
    }
    // Kinds we do not handle are acknowledged and ignored.
    let other = form_body(&json!({"type": "shortcut"}));
    let r = env.send(&other, Some(now), Some(sign(now, &other))).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Signed, well-formed, but pointing at nothing real: refused politely, nothing changes.
    let mut forged = fake_slack::click("bob", &bob, "approve", &env.slack.response_url());
    for value in [
        "esc_nope:0:0",
        "",
        "x:y:z",
        &format!("{id}:7:1"),
        &format!("{id}:0:99999999999999999999"),
    ] {
        forged["actions"][0]["value"] = json!(value);
        assert_eq!(
            env.interact(&forged).await.status(),
            StatusCode::OK,
            "{value}"
        );
    }
    forged["actions"][0]["action_id"] = json!("something_else");
    assert_eq!(env.interact(&forged).await.status(), StatusCode::OK);
    let view = json!({"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": [],
                      "callback_id": "countersign_deny", "private_metadata": "not-a-ref"});
    let r = env
        .interact(&fake_slack::submit("bob", &view, json!({})))
        .await;
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["response_action"], "errors", "{answer}");
    env.reply_containing("does not belong to a countersign request")
        .await;
    let status = env.app.status(&id).await;
    assert_eq!(status["status"], "pending");
    assert_eq!(status["stages"][0]["votes"], json!([]));
}

#[tokio::test]
async fn cancel_and_expiry_update_every_message() {
    let env = env().await;
    let id = id_of(&env.app.escalate("test.quorum").await);
    let expiring = id_of(&env.app.escalate("test.timeout").await);
    env.deliver_all().await;
    assert_eq!(env.slack.messages().len(), 4);

    let r = env.app.cancel(&id, Some("<b>no longer needed</b>")).await;
    assert_eq!(r.status(), StatusCode::OK);
    env.app.advance(Duration::from_secs(3600)).await;
    assert_eq!(env.app.status(&expiring).await["status"], "expired");
    env.deliver_all().await;

    for name in ["alice", "carol"] {
        let m = env.dm(name);
        let text = m.all_text();
        assert!(!m.has_buttons());
        assert!(
            text.contains("Cancelled") && text.contains("by Test Agent"),
            "{text}"
        );
        assert!(
            text.contains("&lt;b&gt;no longer needed&lt;/b&gt;"),
            "{text}"
        );
    }
    for m in env.slack.messages_in(&dm_channel("bob")) {
        assert!(!m.has_buttons(), "every message of bob's is closed");
        assert!(m.all_text().contains("Cancelled") || m.all_text().contains("Expired"));
    }
}

#[tokio::test]
async fn stage_advance_closes_the_previous_stage_and_asks_the_next() {
    let env = env().await;
    let id = id_of(&env.app.escalate("test.stages").await);
    env.deliver_all().await;
    let alice = env.dm("alice");
    env.dm("erin"); // also a security analyst
    env.click("alice", &alice, "approve").await;
    env.deliver_all().await;

    for name in ["alice", "erin"] {
        let m = env.dm(name);
        let text = m.all_text();
        assert!(!m.has_buttons(), "{name}");
        assert!(
            text.contains("Stage closed") && text.contains("*Stage 1 approved* by Alice Analyst"),
            "{text}"
        );
        assert!(text.contains("Now at stage 2 of 3"), "{text}");
    }
    let bob = env.dm("bob");
    let text = bob.all_text();
    assert!(text.contains("2 of 3 · Senior Approval"), "{text}");
    assert!(
        text.contains("Stage 1 · Security Review approved by Alice Analyst"),
        "{text}"
    );
    assert!(bob.has_buttons());

    // A button from the closed stage is refused as stale, privately.
    env.click("erin", &alice, "approve").await;
    env.reply_containing("earlier round").await;
    assert_eq!(env.app.status(&id).await["current_stage"], 2);
}

#[tokio::test]
async fn slack_failures_are_retried_500_with_backoff_429_after_retry_after() {
    let env = env().await;
    env.slack
        .fail_next("chat.postMessage", 1, Fail::Status(500));
    let id = id_of(&env.app.escalate("test.timeout").await);
    let outcome = env.app.deliver().await;
    assert_eq!(outcome.retried, 1);
    assert!(env.slack.messages().is_empty());
    assert_eq!(
        env.app.deliver().await.delivered,
        0,
        "waits for its backoff"
    );
    env.app.advance(Duration::from_secs(2)).await;
    assert_eq!(env.app.deliver().await.delivered, 1);
    let bob = env.dm("bob");

    // An outage: the vote and the decision are recorded while Slack fails.
    env.slack.fail_next("chat.update", 1, Fail::RateLimited(30));
    env.slack
        .fail_next("chat.update", 1, Fail::Error("internal_error"));
    env.click("bob", &bob, "approve").await;
    assert_eq!(env.app.status(&id).await["status"], "approved");
    assert_eq!(env.app.deliver().await.retried, 1, "429");
    env.app.advance(Duration::from_secs(10)).await;
    let updates = env.slack.calls_to("chat.update").len();
    assert_eq!(
        env.app.deliver().await.retried + env.app.deliver().await.delivered,
        0
    );
    assert_eq!(
        env.slack.calls_to("chat.update").len(),
        updates,
        "Retry-After is honoured"
    );
    env.app.advance(Duration::from_secs(25)).await;
    assert_eq!(
        env.app.deliver().await.retried,
        1,
        "ok:false internal_error is transient"
    );
    env.app.advance(Duration::from_secs(5)).await;
    assert_eq!(env.app.deliver().await.delivered, 1);

    let bob = env.dm("bob");
    assert!(bob.all_text().contains("Approved"));
    assert!(!bob.has_buttons());
    assert_eq!(bob.updates, 1);
    let errors: Vec<String> = env
        .slack
        .errors()
        .into_iter()
        .filter_map(|c| c.error)
        .collect();
    assert_eq!(errors, ["http 500", "http 429", "internal_error"]);
    let kinds = env.app.audit_kinds(&id).await;
    assert!(
        kinds.iter().filter(|k| *k == "slack_delivered").count() >= 2,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn block_kit_limits_hold_whatever_the_input() {
    let env = env().await;
    // The fake checks what Slack checks: it refuses what breaks a limit.
    let direct = |blocks: Value| {
        let client = env.app.client.clone();
        let url = format!("{}chat.postMessage", env.slack.api_url);
        async move {
            let r: Value = client
                .post(url)
                .bearer_auth(fake_slack::BOT_TOKEN)
                .json(&json!({"channel": "DSANDBOX", "text": "x", "blocks": blocks}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r
        }
    };
    let section =
        |text: String| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}});
    let too_many: Vec<Value> = (0..51).map(|i| section(i.to_string())).collect();
    assert_eq!(direct(json!(too_many)).await["error"], "invalid_blocks");
    assert_eq!(
        direct(json!([section("x".repeat(3001))])).await["error"],
        "invalid_blocks"
    );
    assert_eq!(direct(json!([section("x".repeat(3000))])).await["ok"], true);
    let refused = env.slack.errors().len();
    assert_eq!(refused, 2);
    let new_errors = || -> Vec<(String, Option<String>)> {
        env.slack.errors()[refused..]
            .iter()
            .map(|c| (c.method.clone(), c.error.clone()))
            .collect()
    };

    let rows: Vec<Value> = (0..1900)
        .map(|i| json!({"id": i, "name": format!("row <{i}> & more"), "pad": "x".repeat(62)}))
        .collect();
    let payload = json!({"rows": rows});
    assert!(payload.to_string().len() >= 200 * 1024, "a 200 KiB payload");
    let activity: Vec<Value> = (0..200)
        .map(|i| json!({"at": "2026-01-10T10:00:00Z", "summary": format!("step {i}: {}", "did a thing & ".repeat(4))}))
        .collect();
    let evidence: Vec<Value> = (0..30)
        .map(|i| json!({"label": format!("evidence <{i}> {}", "e".repeat(200)), "url": format!("https://ci.example.com/runs/{i}?a=1&b=2")}))
        .collect();
    let body = json!({
        "intent": "test.single",
        "summary": "<&>".repeat(1000),
        "payload": payload,
        "resource": "r".repeat(2000),
        "requested_by": "<@U123> ".repeat(250),
        "risk": {"score": 99, "reasons": (0..10).map(|i| format!("reason {i} {}", "z".repeat(500))).collect::<Vec<_>>()},
        "policy": {"id": "p".repeat(2000), "reason": "&".repeat(2000)},
        "context": {"recent_activity": activity, "evidence": evidence},
    });
    let id = id_of(&env.app.escalate_with(body).await);
    env.deliver_all().await;
    assert!(new_errors().is_empty(), "{:?}", new_errors());
    let text = env.dm("bob").all_text();
    for note in ["Summary cut to fit", "Payload cut to fit", "more not shown"] {
        assert!(text.contains(note), "missing {note:?}");
    }

    // The outcome with a long, hostile reason fits too.
    let r = env
        .app
        .vote(
            &id,
            "carol",
            json!({"decision": "deny", "comment": "<!here> ".repeat(500)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    env.deliver_all().await;
    assert!(new_errors().is_empty(), "{:?}", new_errors());
    assert!(env.dm("bob").all_text().contains("Denied"));
}

#[tokio::test]
async fn agent_text_is_escaped_for_mrkdwn() {
    let env = env().await;
    let body = json!({
        "intent": "test.single",
        "summary": "<!channel> urgent: approve <https://evil.example|the CI run> & go",
        "requested_by": "<@UADMIN>",
        "resource": "<!here>",
        "risk": {"score": 10, "reasons": ["<!subteam^S123|oncall>"]},
        "policy": {"id": "*bold* <!everyone>", "reason": "see <http://x.example>"},
        "payload": {"cmd": "```<!channel>```"},
        "context": {
            "recent_activity": [{"summary": "<@UROOT> did it"}],
            "evidence": [{"label": "<!everyone> | click", "url": "https://ci.example.com/runs/1?a=1&b=2"}]
        }
    });
    env.app.escalate_with(body).await;
    env.deliver_all().await;
    let m = env.dm("bob");
    let text = m.all_text();
    for injected in [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@UADMIN>",
        "<@UROOT>",
        "<https://evil",
        "<!subteam",
        "<http://x",
    ] {
        assert!(
            !text.contains(injected),
            "{injected} reached the reviewer:\n{text}"
        );
    }
    assert!(text.contains("&lt;!channel&gt; urgent"), "{text}");
    assert!(
        m.text.contains("&lt;!channel&gt;"),
        "the notification text too: {}",
        m.text
    );
    assert!(
        text.contains("<https://ci.example.com/runs/1?a=1&amp;b=2|&lt;!everyone&gt; ¦ click>"),
        "{text}"
    );
    assert!(
        !text.contains("```<"),
        "the payload cannot close its code block: {text}"
    );
}

#[tokio::test]
async fn a_stage_with_a_slack_channel_posts_there_and_mentions_the_reviewers() {
    let env = env_with(
        TestConfig::default().workflow(
            Workflow::new("channel").intents(["test.channel"]).stage(
                Stage::new("Ops review")
                    .approvers(["user:bob", "user:carol"])
                    .slack_channel("#approvals"),
            ),
        ),
    )
    .await;
    let id = id_of(&env.app.escalate("test.channel").await);
    env.deliver_all().await;
    assert!(
        env.slack.calls_to("conversations.open").is_empty(),
        "no DMs"
    );
    let post = env.slack.message_in("CAPPROVALS");
    let text = post.all_text();
    assert!(text.contains(&format!("<@{}>", user_id("bob"))), "{text}");
    assert!(text.contains(&format!("<@{}>", user_id("carol"))), "{text}");
    let stored = env.stored_messages().await;
    assert_eq!(stored, [("CAPPROVALS".to_owned(), post.ts.clone(), None)]);

    env.click("carol", &post, "approve").await;
    assert_eq!(env.app.status(&id).await["status"], "approved");
    env.deliver_all().await;
    let post = env.slack.message_in("CAPPROVALS");
    assert!(!post.has_buttons());
    assert!(post.all_text().contains("by Carol Coder"));
}

#[tokio::test]
async fn a_rollback_closes_the_old_round_and_asks_again() {
    let env = env().await;
    let id = id_of(&env.app.escalate("test.rollback").await);
    env.deliver_all().await;
    let first = env.dm("alice");
    // Reviewers take their time; a reopened stage is a new round from a later instant.
    env.app.advance(Duration::from_secs(60)).await;
    env.click("alice", &first, "approve").await;
    env.deliver_all().await;
    let bob = env.dm("bob");
    env.app.advance(Duration::from_secs(60)).await;
    env.click("bob", &bob, "deny").await;
    let view = env.slack.views().pop().expect("deny modal");
    let values = json!({"reason": {"reason": {"type": "plain_text_input", "value": "Needs a smaller change"}}});
    assert_eq!(
        env.interact(&fake_slack::submit("bob", &view, values))
            .await
            .status(),
        StatusCode::OK
    );
    let status = env.app.status(&id).await;
    assert_eq!(status["status"], "pending");
    assert_eq!(status["current_stage"], 1, "sent back to the first stage");
    env.deliver_all().await;

    let alice = env.slack.messages_in(&dm_channel("alice"));
    assert_eq!(alice.len(), 2, "asked again in a new message");
    assert_eq!(alice[0].ts, first.ts);
    assert!(!alice[0].has_buttons());
    assert!(
        alice[0].all_text().contains("This round is closed"),
        "{}",
        alice[0].all_text()
    );
    assert!(alice[1].has_buttons());
    let bob = env.dm("bob");
    assert!(!bob.has_buttons());
    assert!(bob.all_text().contains("This round is closed"));

    // The old message's button belongs to the closed round.
    env.click("alice", &first, "approve").await;
    env.reply_containing("earlier round").await;
    assert_eq!(env.app.status(&id).await["stages"][0]["votes"], json!([]));
    env.click("alice", &alice[1], "approve").await;
    assert_eq!(env.app.status(&id).await["current_stage"], 2);
    env.deliver_all().await;
    assert_eq!(env.slack.messages_in(&dm_channel("bob")).len(), 2);
}
