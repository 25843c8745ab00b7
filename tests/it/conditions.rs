//! Typed conditions (design.md §6) through the API and Slack: values accepted, merged with
//! the strictest winning, shown by label; anything undeclared or mistyped is a 422 that
//! changes nothing.

use crate::support::fake_slack::{self, FakeSlack, dm_channel, form_body, sign};
use crate::support::{Options, TestApp, TestConfig, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An escalation on the `constraints` workflow (two of alice, bob, carol), with a payload
/// the checks point into.
async fn escalate(app: &TestApp) -> String {
    let doc = app
        .escalate_with(json!({
            "intent": "test.constraints",
            "summary": "Pay the supplier",
            "payload": {"amount": 17500, "replicas": 3, "region": "eu-west-1"},
        }))
        .await;
    doc["id"].as_str().expect("id").to_owned()
}

async fn vote_ok(app: &TestApp, id: &str, reviewer: &str, body: Value) {
    let r = app.vote(id, reviewer, body).await;
    let status = r.status();
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

#[tokio::test]
async fn constraints_are_recorded_per_vote_and_merged_strictest_first() {
    let app = TestApp::spawn().await;
    let id = escalate(&app).await;
    // Only constraints, no labels: still an approval with conditions.
    vote_ok(
        &app,
        &id,
        "alice",
        json!({"decision": "approve", "constraints":
            {"max_amount": 20000, "min_replicas": 2, "region": " eu-west-1 "}}),
    )
    .await;
    let status = app.status(&id).await;
    assert_eq!(status["status"], "pending");
    assert_eq!(
        status["stages"][0]["votes"][0]["constraints"],
        json!({"max_amount": 20000, "min_replicas": 2, "region": "eu-west-1"}),
        "text is trimmed"
    );
    vote_ok(
        &app,
        &id,
        "bob",
        json!({"decision": "approve", "conditions": ["Canary rollout required"], "constraints":
            {"max_amount": 18000.5, "min_replicas": 3, "region": "us-east-1", "ticket": "CHG-7"}}),
    )
    .await;
    let status = app.status(&id).await;
    assert_eq!(status["status"], "approved");
    let decision = &status["decision"];
    assert_eq!(
        decision["constraints"],
        json!({
            "max_amount": 18000.5,   // lte: the smallest
            "min_replicas": 3,       // gte: the largest
            "region": "eu-west-1",   // eq: the first approver's
            "ticket": "CHG-7",       // no check: the only value given
        })
    );
    assert_eq!(decision["conditions"], json!(["Canary rollout required"]));
    assert_eq!(
        status["stages"][0]["votes"][1]["constraints"]["ticket"],
        "CHG-7"
    );
}

#[tokio::test]
async fn undeclared_or_mistyped_constraints_are_422_and_change_nothing() {
    let app = TestApp::spawn().await;
    let id = escalate(&app).await;
    // One approval first, so a refused second vote would otherwise decide.
    vote_ok(
        &app,
        &id,
        "alice",
        json!({"decision": "approve", "constraints": {"max_amount": 5}}),
    )
    .await;
    let single = app.escalate_id("test.single").await;
    let cases = [
        (&id, json!({"nope": 1}), "not a constraint"),
        (&id, json!({"max_amount": "18000"}), "must be a number"),
        (&id, json!({"region": 3}), "must be a text"),
        (&id, json!({"max_amount": null}), "must be a number"),
        (&id, json!({"max_amount": {"value": 1}}), "must be a number"),
        (&id, json!({"region": ["eu"]}), "must be a text"),
        (&id, json!({"ticket": true}), "must be a text"),
        (&id, json!({"ticket": "x".repeat(501)}), "longer than 500"),
        (&single, json!({"max_amount": 1}), "not a constraint"),
    ];
    for (esc, constraints, needle) in cases {
        let before = app.status(esc).await;
        let audit = app.audit_kinds(esc).await;
        let r = app
            .vote(
                esc,
                "bob",
                json!({"decision": "approve", "constraints": constraints}),
            )
            .await;
        let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{constraints}: {message}");
        assert_eq!(
            app.status(esc).await,
            before,
            "{constraints} changed the status"
        );
        assert_eq!(
            app.audit_kinds(esc).await,
            audit,
            "{constraints} was audited"
        );
    }
    // A constraints field that is not an object at all is refused before the engine.
    let r = app
        .vote(
            &id,
            "bob",
            json!({"decision": "approve", "constraints": [1]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.status(&id).await["status"], "pending");
}

/// A signed interaction posted as Slack posts it.
async fn interact(app: &TestApp, payload: &Value) -> reqwest::Response {
    let body = form_body(payload);
    let ts = chrono::Utc::now().timestamp();
    app.client
        .post(app.url("/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(ts, &body))
        .body(body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn the_slack_modal_offers_typed_inputs_and_reads_them_back() {
    let slack = FakeSlack::start().await;
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default().slack(&slack.api_url),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = escalate(&app).await;
    app.deliver_all().await;
    let message = slack.message_in(&dm_channel("carol"));
    let click = fake_slack::click(
        "carol",
        &message,
        "approve_conditions",
        &slack.response_url(),
    );
    assert_eq!(interact(&app, &click).await.status(), StatusCode::OK);
    let view = slack.views().pop().expect("conditions modal");
    let blocks = view["blocks"].as_array().unwrap();
    let input = |block_id: &str| {
        blocks
            .iter()
            .find(|b| b["block_id"] == block_id)
            .unwrap_or_else(|| panic!("no {block_id} in {view}"))
    };
    let amount = input("constraint_max_amount");
    assert_eq!(amount["element"]["type"], "number_input");
    assert_eq!(amount["element"]["is_decimal_allowed"], true);
    assert_eq!(amount["label"]["text"], "Cap the amount");
    assert_eq!(amount["hint"]["text"], "Checked: /amount must be ≤ this");
    assert_eq!(amount["optional"], true);
    let region = input("constraint_region");
    assert_eq!(region["element"]["type"], "plain_text_input");
    assert_eq!(region["hint"]["text"], "Checked: /region must be = this");

    // An unparsable number: an error under that input, nothing recorded.
    let values = json!({
        "constraint_max_amount": {"value": {"type": "number_input", "value": "18k"}},
        "constraint_region": {"value": {"type": "plain_text_input", "value": "eu-west-1"}},
    });
    let r = interact(&app, &fake_slack::submit("carol", &view, values)).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["response_action"], "errors", "{body}");
    assert_eq!(
        body["errors"]["constraint_max_amount"],
        "\"18k\" is not a number."
    );
    let status = app.status(&id).await;
    assert_eq!(status["stages"][0]["votes"], json!([]));

    // Values only (no label ticked) approve with conditions.
    let values = json!({
        "constraint_max_amount": {"value": {"type": "number_input", "value": "18000.5"}},
        "constraint_region": {"value": {"type": "plain_text_input", "value": "eu-west-1"}},
        "constraint_ticket": {"value": {"type": "plain_text_input", "value": null}},
    });
    let r = interact(&app, &fake_slack::submit("carol", &view, values)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().is_empty(), "the modal closes");
    let vote = &app.status(&id).await["stages"][0]["votes"][0];
    assert_eq!(vote["channel"], "slack");
    assert_eq!(
        vote["constraints"],
        json!({"max_amount": 18000.5, "region": "eu-west-1"})
    );

    // Carol's own message shows her values by label.
    app.deliver_all().await;
    let text = slack.message_in(&dm_channel("carol")).all_text();
    assert!(text.contains("Cap the amount: 18000.5"), "{text}");

    // A second approval decides; every message shows the merged constraints by label.
    vote_ok(
        &app,
        &id,
        "bob",
        json!({"decision": "approve", "constraints": {"max_amount": 19000}}),
    )
    .await;
    app.deliver_all().await;
    let text = slack.message_in(&dm_channel("alice")).all_text();
    assert!(
        text.contains("Cap the amount: 18000.5") && text.contains("Region: eu-west-1"),
        "{text}"
    );
}

#[tokio::test]
async fn the_engine_refusal_of_a_slack_value_shows_in_the_modal() {
    let slack = FakeSlack::start().await;
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default().slack(&slack.api_url),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = escalate(&app).await;
    app.deliver_all().await;
    let message = slack.message_in(&dm_channel("bob"));
    let click = fake_slack::click("bob", &message, "approve_conditions", &slack.response_url());
    interact(&app, &click).await;
    let view = slack.views().pop().expect("conditions modal");
    let long = "x".repeat(600);
    let values = json!({
        "constraint_ticket": {"value": {"type": "plain_text_input", "value": long}},
    });
    let r = interact(&app, &fake_slack::submit("bob", &view, values)).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["response_action"], "errors", "{body}");
    assert!(
        body["errors"]["extra"]
            .as_str()
            .is_some_and(|e| e.contains("longer than 500")),
        "{body}"
    );
    assert_eq!(app.status(&id).await["stages"][0]["votes"], json!([]));
}
