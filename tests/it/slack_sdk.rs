//! Every Slack message and modal shape countersign sends, checked by Slack's own Python SDK
//! (`slack_sdk`'s Block Kit models refuse what Slack would refuse: lengths, counts, element
//! types), not only by our fake Slack's own checks.
//!
//! One life cycle per shape: a request, the conditions modal with typed inputs, the vote
//! lines, the decided message with the receipt window, the execution outcome in red, a
//! request for changes, a revision with a long diff, the deny and request-changes modals, and
//! the Home tab views (a queue with requests, an empty one, a Slack user who is no reviewer).
//! `slack_sdk` is installed by `.ci/run`; without it the check is skipped with a note,
//! except under CI, where that is a failure.

use crate::support::fake_slack::{self, FakeSlack, dm_channel};
use crate::support::requests::id_of;
use crate::support::{Options, TestApp, TestConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

const VALIDATE: &str = r#"
import json, sys
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
failures = []
for what, kind, body in json.load(open(sys.argv[1])):
    try:
        if kind == "view":
            View(**body).to_dict()
        else:
            for block in body:
                Block.parse(block).to_dict()
    except Exception as e:
        failures.append(f"{what}: {type(e).__name__}: {e}")
if failures:
    sys.exit("\n".join(failures))
print(f"slack_sdk accepted {len(json.load(open(sys.argv[1])))} shapes")
"#;

fn sdk_present() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import slack_sdk"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn every_message_and_modal_passes_slacks_own_block_kit_models() {
    if !sdk_present() {
        assert!(
            std::env::var_os("CI").is_none(),
            "slack_sdk is missing under CI"
        );
        eprintln!("skipped: pip install slack_sdk to check Block Kit with Slack's own models");
        return;
    }
    let slack = FakeSlack::start().await;
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default().slack(&slack.api_url),
        manual_workers: true,
        ..Options::default()
    })
    .await;

    // Typed conditions: the modal, the vote lines, the decision, the execution outcome.
    let payment = id_of(
        &app.escalate_with(json!({
            "intent": "test.constraints",
            "summary": "Pay <!channel> invoice INV-7 & co",
            "payload": {"amount": 15000, "replicas": 3, "region": "eu-west-1"},
            "risk": {"score": 70, "reasons": ["Above the daily limit"]},
        }))
        .await,
    );
    app.deliver_all().await;
    let request = slack.message_in(&dm_channel("alice"));
    let click = fake_slack::click(
        "alice",
        &request,
        "approve_conditions",
        &slack.response_url(),
    );
    assert_eq!(app.interact(&click).await.status(), StatusCode::OK);
    let modal = slack.views().last().cloned().expect("conditions modal");
    let values =
        json!({"constraint_max_amount": {"value": {"type": "number_input", "value": "18000"}}});
    let r = app
        .interact(&fake_slack::submit("alice", &modal, values))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .vote(
            &payment,
            "bob",
            json!({"decision": "approve", "constraints": {"max_amount": 20000}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.deliver_all().await;
    let r = app
        .client
        .post(app.url(&format!("/v1/escalations/{payment}/execution")))
        .bearer_auth(crate::support::AGENT_KEY)
        .json(&json!({"status": "succeeded", "payload": {"amount": 19000}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.deliver_all().await;

    // Request changes, then a revision whose payload changed everywhere.
    let fields = |n: u32| {
        (0..150)
            .map(|i| {
                (
                    format!("field_{i:03}"),
                    json!(format!("{} {n}", "x".repeat(200))),
                )
            })
            .collect::<serde_json::Map<_, _>>()
    };
    let body = |n: u32| {
        json!({"intent": "test.single", "summary": format!("Rewrite {n}"),
               "payload": fields(n), "risk": {"score": 30}})
    };
    let revised = id_of(&app.escalate_with(body(1)).await);
    app.deliver_all().await;
    let r = app
        .vote(
            &revised,
            "bob",
            json!({"decision": "request_changes", "comment": "Less, please. <!here>"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.deliver_all().await;
    let r = app
        .client
        .post(app.url(&format!("/v1/escalations/{revised}/revisions")))
        .bearer_auth(crate::support::AGENT_KEY)
        .json(&body(2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.deliver_all().await;
    let again = slack
        .messages_in(&dm_channel("carol"))
        .into_iter()
        .last()
        .expect("the revised request");
    for button in ["deny", "request_changes"] {
        let click = fake_slack::click("carol", &again, button, &slack.response_url());
        assert_eq!(app.interact(&click).await.status(), StatusCode::OK);
    }

    // Home tab views: Carol's queue (the revised request waits on her), Dave's, a stranger's.
    for (name, event) in [
        ("carol", "Ev0SDK1"),
        ("dave", "Ev0SDK2"),
        ("mallory", "Ev0SDK3"),
    ] {
        let r = app
            .slack_event(&fake_slack::home_opened(name, event), None)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    app.deliver_all().await;

    // Every body Slack was sent, as sent (updates included), and every modal and Home view.
    let mut shapes: Vec<(String, &str, Value)> = Vec::new();
    for call in slack.calls() {
        if matches!(call.method.as_str(), "chat.postMessage" | "chat.update")
            && let Some(blocks) = call.params.get("blocks")
        {
            let blocks = match blocks {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                other => other.clone(),
            };
            shapes.push((call.method.clone(), "blocks", blocks));
        }
    }
    for view in slack.views() {
        let what = format!("views.open {}", view["callback_id"]);
        shapes.push((what, "view", view));
    }
    let homes = slack.homes();
    assert_eq!(homes.len(), 3, "{homes:?}");
    assert!(
        homes
            .iter()
            .any(|(_, v)| fake_slack::home_buttons(v).len() >= 3),
        "a Home view with buttons"
    );
    for (user, view) in homes {
        shapes.push((format!("views.publish {user}"), "view", view));
    }
    let methods: Vec<&str> = shapes.iter().map(|(m, _, _)| m.as_str()).collect();
    assert!(methods.contains(&"chat.update"), "{methods:?}");
    assert!(shapes.iter().filter(|(_, k, _)| *k == "view").count() >= 6);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shapes.json");
    let script = dir.path().join("validate.py");
    std::fs::write(&file, serde_json::to_string(&shapes).unwrap()).unwrap();
    std::fs::write(&script, VALIDATE).unwrap();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "slack_sdk refused:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
