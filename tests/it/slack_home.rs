//! The Slack App Home tab end to end: Events API deliveries signed as Slack signs them,
//! Home views published to the fake Slack (which checks them as Slack does), votes from
//! the Home tab, and republishing when a reviewer's queue changes.

use crate::support::fake_slack::{
    self, Fail, FakeSlack, dm_channel, home_buttons, home_opened, sign, user_id,
};
use crate::support::requests::{id_of, rich};
use crate::support::{Options, TestApp, TestConfig};
use countersign::store::db;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

struct Env {
    app: TestApp,
    slack: FakeSlack,
}

async fn env() -> Env {
    let slack = FakeSlack::start().await;
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default().slack(&slack.api_url),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    Env { app, slack }
}

impl Env {
    /// `name` opens the Home tab; the answer must come well inside Slack's 3 s.
    async fn open_home(&self, name: &str) {
        let started = Instant::now();
        let event = home_opened(name, &format!("Ev{}", ulid::Ulid::new()));
        let r = self.app.slack_event(&event, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(started.elapsed() < Duration::from_millis(1500));
        self.app.deliver_all().await;
    }

    fn home(&self, name: &str) -> Value {
        self.slack
            .homes_of(name)
            .last()
            .cloned()
            .unwrap_or_else(|| panic!("no Home view published to {name}"))
    }

    async fn raw_event(
        &self,
        body: &str,
        ts: Option<i64>,
        sig: Option<String>,
    ) -> reqwest::Response {
        let mut req = self
            .app
            .client
            .post(self.app.url("/slack/events"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(ts) = ts {
            req = req.header("x-slack-request-timestamp", ts.to_string());
        }
        if let Some(sig) = sig {
            req = req.header("x-slack-signature", sig);
        }
        req.send().await.expect("request")
    }
}

/// Every string of a view, one per line.
fn text_of(v: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            Value::Object(o) => o.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    walk(v, &mut out);
    out
}

#[tokio::test]
async fn url_verification_is_answered_only_when_signed() {
    let env = env().await;
    let body = json!({"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                      "type": "url_verification"})
    .to_string();
    let now = chrono::Utc::now().timestamp();

    let r = env
        .raw_event(&body, Some(now), Some(sign(now, &body)))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(
        r.text().await.unwrap(),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    let stale = now - 301;
    let tampered = body.replace("3eZb", "XXXX");
    for (what, r) in [
        ("unsigned", env.raw_event(&body, None, None).await),
        (
            "no timestamp",
            env.raw_event(&body, None, Some(sign(now, &body))).await,
        ),
        (
            "stale",
            env.raw_event(&body, Some(stale), Some(sign(stale, &body)))
                .await,
        ),
        (
            "tampered",
            env.raw_event(&tampered, Some(now), Some(sign(now, &body)))
                .await,
        ),
        (
            "other secret",
            env.raw_event(&body, Some(now), Some("v0=00ff".into()))
                .await,
        ),
    ] {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"]["code"], "unauthorized", "{what}: {err}");
        assert!(err["error"]["message"].is_string(), "{what}");
    }
    // Verified, then parsed: a signed body that is not JSON is malformed, not unauthorized.
    let junk = "not json";
    let r = env.raw_event(junk, Some(now), Some(sign(now, junk))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(env.slack.calls().is_empty(), "{:?}", env.slack.calls());
}

#[tokio::test]
async fn home_opened_publishes_the_queue_newest_first_with_the_usual_buttons() {
    let env = env().await;
    let older = id_of(
        &env.app
            .escalate_with(rich("test.single", "Deploy api v2.3.1"))
            .await,
    );
    let newer = id_of(
        &env.app
            .escalate_with(rich(
                "test.single",
                "Pay <!channel> & <https://evil.example|x>",
            ))
            .await,
    );
    env.app.deliver_all().await;
    let before = env.slack.calls().len();

    env.open_home("bob").await;
    let published = env.slack.calls_to("views.publish");
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].params["user_id"], user_id("bob"));
    assert!(env.slack.calls().len() > before);

    let view = env.home("bob");
    assert_eq!(view["type"], "home");
    let text = text_of(&view);
    assert!(text.contains("2 waiting"), "{text}");
    // Agent text is escaped for mrkdwn: no mention, no disguised link.
    assert!(
        text.contains("Pay &lt;!channel&gt; &amp; &lt;https://evil.example|x&gt;"),
        "{text}"
    );
    assert!(!text.contains("<!channel>"), "{text}");
    // Newest first.
    let (at_newer, at_older) = (text.find(&newer).unwrap(), text.find(&older).unwrap());
    assert!(at_newer < at_older, "{text}");

    // The same buttons as the DM, with the same values, ids made unique per request.
    let dm = env
        .slack
        .messages_in(&dm_channel("bob"))
        .into_iter()
        .find(|m| m.all_text().contains(&older))
        .expect("bob's DM about the older request");
    let buttons = home_buttons(&view);
    for action in ["approve", "approve_conditions", "deny", "request_changes"] {
        let ours = buttons
            .iter()
            .find(|b| b["action_id"] == format!("{action}:{older}"))
            .unwrap_or_else(|| panic!("no {action} for {older} in {buttons:?}"));
        let theirs = dm.button(action).expect("DM button");
        assert_eq!(ours["value"], theirs["value"], "{action}");
        assert_eq!(ours["style"], theirs["style"], "{action}");
        assert_eq!(ours["confirm"], theirs["confirm"], "{action}");
    }
    let stored: Vec<(String, String)> =
        db::query_as("SELECT slack_user_id, reviewer_id FROM slack_home")
            .fetch_all(&env.app.db)
            .await
            .unwrap();
    assert_eq!(stored, vec![(user_id("bob"), "bob".to_owned())]);
}

#[tokio::test]
async fn an_empty_queue_says_so_and_a_new_escalation_republishes_it() {
    let env = env().await;
    env.open_home("bob").await;
    let empty = text_of(&env.home("bob"));
    assert!(empty.contains("Nothing waits for you"), "{empty}");
    assert!(home_buttons(&env.home("bob")).is_empty());

    let id = id_of(
        &env.app
            .escalate_with(rich("test.single", "Deploy api v2.3.1"))
            .await,
    );
    env.app.deliver_all().await;
    assert_eq!(env.slack.homes_of("bob").len(), 2);
    let text = text_of(&env.home("bob"));
    assert!(text.contains(&id) && text.contains("1 waiting"), "{text}");
    // Carol is eligible too, but never opened the Home tab: nothing is published to her.
    assert!(env.slack.homes_of("carol").is_empty());
}

#[tokio::test]
async fn a_burst_of_changes_publishes_once() {
    let env = env().await;
    env.open_home("bob").await;
    for n in 0..5 {
        env.app
            .escalate_with(rich("test.single", &format!("Deploy {n}")))
            .await;
    }
    env.app.deliver_all().await;
    let homes = env.slack.homes_of("bob");
    assert_eq!(homes.len(), 2, "one for the opening, one for the burst");
    assert!(text_of(&homes[1]).contains("5 waiting"));
}

#[tokio::test]
async fn a_vote_from_the_home_tab_is_recorded_and_the_views_follow() {
    let env = env().await;
    let id = id_of(
        &env.app
            .escalate_with(rich("test.single", "Deploy api v2.3.1"))
            .await,
    );
    env.app.deliver_all().await;
    env.open_home("bob").await;

    let click = fake_slack::click_home("bob", &env.home("bob"), &format!("approve:{id}"));
    assert!(click["response_url"].is_null() && click["channel"].is_null());
    let started = Instant::now();
    let r = env.app.interact(&click).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_millis(1500));
    let doc = env.app.status(&id).await;
    assert_eq!(doc["status"], "approved", "{doc}");
    assert_eq!(doc["stages"][0]["votes"][0]["channel"], "slack");

    env.app.deliver_all().await;
    // The DM shows the outcome, as after a click in the message.
    let dm = env.slack.message_in(&dm_channel("bob"));
    assert!(!dm.has_buttons() && dm.updates >= 1, "{}", dm.all_text());
    // And the Home view was republished without the request.
    let home = text_of(&env.home("bob"));
    assert!(home.contains("Nothing waits for you"), "{home}");
    assert_eq!(env.slack.homes_of("bob").len(), 2);
}

#[tokio::test]
async fn modals_open_from_the_home_tab_and_a_refusal_is_told_in_a_dm() {
    let env = env().await;
    let id = id_of(
        &env.app
            .escalate_with(rich("test.single", "Deploy api v2.3.1"))
            .await,
    );
    env.app.deliver_all().await;
    env.open_home("bob").await;
    env.open_home("carol").await;
    let carol_home = env.home("carol");

    // Deny… opens its modal from the Home tab; submitting it records the deny.
    let click = fake_slack::click_home("bob", &env.home("bob"), &format!("deny:{id}"));
    assert_eq!(env.app.interact(&click).await.status(), StatusCode::OK);
    let modal = env.slack.views().last().cloned().expect("deny modal");
    let block = modal["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "input")
        .expect("reason input")
        .clone();
    let (block_id, action_id) = (
        block["block_id"].as_str().unwrap(),
        block["element"]["action_id"].as_str().unwrap(),
    );
    let values = json!({block_id: {action_id: {"type": "plain_text_input", "value": "Not during the freeze"}}});
    let r = env
        .app
        .interact(&fake_slack::submit("bob", &modal, values))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(env.app.status(&id).await["status"], "denied");
    env.app.deliver_all().await;
    assert!(text_of(&env.home("carol")).contains("Nothing waits for you"));

    // Carol clicks in the view she still had: refused, told in her DM, view republished.
    let before = env.slack.homes_of("carol").len();
    let click = fake_slack::click_home("carol", &carol_home, &format!("approve:{id}"));
    assert_eq!(env.app.interact(&click).await.status(), StatusCode::OK);
    crate::support::eventually(Duration::from_secs(10), || async {
        env.slack
            .messages_in(&dm_channel("carol"))
            .into_iter()
            .find(|m| m.text.contains("already decided"))
    })
    .await;
    env.app.deliver_all().await;
    assert_eq!(env.slack.homes_of("carol").len(), before + 1);
}

#[tokio::test]
async fn a_retried_event_publishes_once() {
    let env = env().await;
    env.app
        .escalate_with(rich("test.single", "Deploy api v2.3.1"))
        .await;
    env.app.deliver_all().await;
    let event = home_opened("bob", "Ev0RETRY1");
    assert_eq!(
        env.app.slack_event(&event, None).await.status(),
        StatusCode::OK
    );
    for n in 1..=3 {
        let r = env.app.slack_event(&event, Some(n)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    env.app.deliver_all().await;
    // And again after the first was delivered.
    assert_eq!(
        env.app.slack_event(&event, Some(1)).await.status(),
        StatusCode::OK
    );
    env.app.deliver_all().await;
    assert_eq!(env.slack.calls_to("views.publish").len(), 1);
}

#[tokio::test]
async fn an_unknown_user_is_told_so_and_shown_nothing() {
    let env = env().await;
    env.app
        .escalate_with(rich("test.single", "Deploy api v2.3.1"))
        .await;
    env.app.deliver_all().await;
    env.open_home("mallory").await;
    let view = env.home("mallory");
    let text = text_of(&view);
    assert!(
        text.contains("not linked to a countersign reviewer"),
        "{text}"
    );
    assert!(text.contains(&user_id("mallory")));
    assert!(home_buttons(&view).is_empty());
    assert!(!text.contains("Deploy"));
}

#[tokio::test]
async fn other_events_and_the_messages_tab_are_ignored() {
    let env = env().await;
    let mut messages_tab = home_opened("bob", "Ev0MSGTAB");
    messages_tab["event"]["tab"] = json!("messages");
    let mut mention = home_opened("bob", "Ev0MENTION");
    mention["event"] = json!({"type": "app_mention", "user": user_id("bob"), "text": "<@UBOT> hi",
                              "ts": "1700000000.000200", "channel": "C1", "event_ts": "1700000000.000200"});
    for event in [messages_tab, mention] {
        assert_eq!(
            env.app.slack_event(&event, None).await.status(),
            StatusCode::OK
        );
    }
    env.app.deliver_all().await;
    assert!(env.slack.calls_to("views.publish").is_empty());
}

#[tokio::test]
async fn a_rate_limited_publish_waits_for_retry_after() {
    let env = env().await;
    env.slack
        .fail_next("views.publish", 1, Fail::RateLimited(7));
    let event = home_opened("bob", "Ev0LIMITED");
    assert_eq!(
        env.app.slack_event(&event, None).await.status(),
        StatusCode::OK
    );
    let o = env.app.deliver().await;
    assert_eq!(o.retried, 1, "{o:?}");
    assert!(env.slack.homes_of("bob").is_empty());
    env.app.clock.advance(Duration::from_secs(6));
    env.app.deliver_all().await;
    assert!(
        env.slack.homes_of("bob").is_empty(),
        "not before Retry-After"
    );
    env.app.clock.advance(Duration::from_secs(1));
    env.app.deliver_all().await;
    assert_eq!(env.slack.homes_of("bob").len(), 1);
}

#[test]
fn manifest_subscribes_to_app_home_opened_and_enables_the_home_tab() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifest.yml"))
        .expect("manifest.yml");
    let manifest: Value = serde_norway::from_str(&manifest).expect("manifest parses");
    let events = &manifest["settings"]["event_subscriptions"];
    assert_eq!(events["request_url"], "https://YOUR-HOST/slack/events");
    assert_eq!(events["bot_events"], json!(["app_home_opened"]));
    let home = &manifest["features"]["app_home"];
    assert_eq!(home["home_tab_enabled"], true);
    assert_eq!(home["messages_tab_enabled"], true);
}

#[tokio::test]
async fn a_long_queue_is_cut_to_fit_and_points_to_the_web_ui() {
    let env = env().await;
    for n in 0..18 {
        env.app
            .escalate_with(rich("test.single", &format!("Deploy number {n:02}")))
            .await;
    }
    env.app.deliver_all().await;
    env.open_home("bob").await;
    let view = env.home("bob");
    let blocks = view["blocks"].as_array().unwrap().len();
    assert!(blocks <= 100, "{blocks} blocks");
    let text = text_of(&view);
    assert!(text.contains("18 waiting"), "{text}");
    assert!(text.contains("and 2 more"), "{text}");
    assert!(text.contains("/ui|/ui>"), "{text}");
    // The newest 16 are shown; the two oldest are the ones left out.
    assert!(text.contains("Deploy number 17") && text.contains("Deploy number 02"));
    assert!(!text.contains("Deploy number 01") && !text.contains("Deploy number 00"));
    assert_eq!(home_buttons(&view).len(), 16 * 4);
}
