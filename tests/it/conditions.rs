//! Typed conditions (design.md §6) through the API and Slack: values accepted, merged with
//! the strictest winning, shown by label; anything undeclared or mistyped is a 422 that
//! changes nothing.

use crate::support::browser::Browser;
use crate::support::fake_slack::{self, FakeSlack, dm_channel};
use crate::support::smtp::SmtpServer;
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
    // The pending list offers them, so an API client knows ids and types.
    let pending: Value = app
        .client
        .get(app.url("/v1/reviews/pending"))
        .bearer_auth("alice-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let offered = &pending.as_array().unwrap()[0];
    assert_eq!(
        offered["conditions_offered"],
        json!(["Canary rollout required"])
    );
    assert_eq!(
        offered["constraints_offered"][0],
        json!({"id": "max_amount", "label": "Cap the amount", "input": "number",
               "check": {"pointer": "/amount", "op": "lte"}})
    );
    assert_eq!(
        offered["constraints_offered"][3],
        json!({"id": "ticket", "label": "Change ticket", "input": "text"})
    );
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
    assert_eq!(app.interact(&click).await.status(), StatusCode::OK);
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
    let r = app
        .interact(&fake_slack::submit("carol", &view, values))
        .await;
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
        "constraint_region": {"value": {"type": "plain_text_input", "value": "<!here> eu-west-1"}},
        "constraint_ticket": {"value": {"type": "plain_text_input", "value": null}},
    });
    let r = app
        .interact(&fake_slack::submit("carol", &view, values))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().is_empty(), "the modal closes");
    let vote = &app.status(&id).await["stages"][0]["votes"][0];
    assert_eq!(vote["channel"], "slack");
    assert_eq!(
        vote["constraints"],
        json!({"max_amount": 18000.5, "region": "<!here> eu-west-1"})
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
        text.contains("Cap the amount: 18000.5")
            && text.contains("Region: &lt;!here&gt; eu-west-1"),
        "{text}"
    );
    assert!(
        !text.contains("<!here>"),
        "reviewer text is escaped: {text}"
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
    app.interact(&click).await;
    let view = slack.views().pop().expect("conditions modal");
    let long = "x".repeat(600);
    let values = json!({
        "constraint_ticket": {"value": {"type": "plain_text_input", "value": long}},
    });
    let r = app
        .interact(&fake_slack::submit("bob", &view, values))
        .await;
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

/// The links in mail point at `public_url`, which defaults to port 0 in tests; keep their path.
fn local(app: &TestApp, link: &str) -> String {
    let at = link.find("/links/").expect("a /links/ URL");
    app.url(&link[at..])
}

/// The "Approve with conditions" link mailed to `to` for `id`.
fn conditions_link(smtp: &SmtpServer, to: &str, id: &str) -> String {
    smtp.to(to)
        .into_iter()
        .find(|m| m.text.contains(id))
        .expect("request mail")
        .link("Approve with conditions:")
}

async fn post_form(app: &TestApp, link: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let mut encoder = reqwest::Url::parse("http://form.invalid/").expect("url");
    encoder.query_pairs_mut().extend_pairs(form);
    let r = app
        .client
        .post(local(app, link))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encoder.query().unwrap_or_default().to_owned())
        .send()
        .await
        .expect("POST");
    (r.status(), r.text().await.expect("body"))
}

async fn spawn_with_email(smtp: &SmtpServer) -> TestApp {
    TestApp::spawn_with(Options {
        config: TestConfig::default().email(&smtp.url()),
        manual_workers: true,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn the_confirmation_page_offers_typed_inputs_and_refuses_a_bad_number() {
    let smtp = SmtpServer::start().await;
    let app = spawn_with_email(&smtp).await;
    let id = escalate(&app).await;
    app.deliver_all().await;
    let link = conditions_link(&smtp, "bob@example.com", &id);

    let page = app.client.get(local(&app, &link)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'none'") || csp.contains("default-src 'none'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<input id="constraint_max_amount" name="constraint_max_amount" type="number" step="any""#),
        "{html}"
    );
    assert!(html.contains(r#"name="constraint_region" type="text" maxlength="500""#));
    assert!(html.contains("Cap the amount") && html.contains("Change ticket"));
    assert!(
        html.contains("Checked: &#x2F;amount must be ≤ this"),
        "{html}"
    );
    assert!(html.contains(r#"<input type="checkbox" name="condition" value="0">"#));
    assert!(!html.contains("<script"));

    let audit = app.audit_kinds(&id).await;
    let (status, body) = post_form(
        &app,
        &link,
        &[
            ("constraint_max_amount", "18k"),
            ("constraint_region", "eu-west-1"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("Cap the amount: “18k” is not a number."),
        "{body}"
    );
    assert!(
        body.contains(r#"value="eu-west-1""#),
        "what was typed is kept: {body}"
    );
    assert_eq!(app.status(&id).await["stages"][0]["votes"], json!([]));
    assert_eq!(app.audit_kinds(&id).await, audit);

    let (status, body) = post_form(
        &app,
        &link,
        &[
            ("constraint_max_amount", "18000"),
            ("constraint_region", "<eu>"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("You approved with conditions"), "{body}");
    assert!(
        body.contains("Cap the amount: 18000; Region: &lt;eu&gt;"),
        "{body}"
    );
    assert_eq!(
        app.status(&id).await["stages"][0]["votes"][0]["constraints"],
        json!({"max_amount": 18000, "region": "<eu>"})
    );
}

#[tokio::test]
async fn a_real_browser_fills_in_a_number_and_approves() {
    let browser = Browser::start().await;
    let smtp = SmtpServer::start().await;
    let app = spawn_with_email(&smtp).await;
    let id = escalate(&app).await;
    app.deliver_all().await;
    vote_ok(
        &app,
        &id,
        "alice",
        json!({"decision": "approve", "constraints": {"max_amount": 19000}}),
    )
    .await;
    browser
        .goto(&local(
            &app,
            &conditions_link(&smtp, "carol@example.com", &id),
        ))
        .await;
    let amount = browser.find("input#constraint_max_amount").await;
    browser.type_into(&amount, "18000.5").await;
    let button = browser.find("form button[type=submit]").await;
    browser.click(&button).await;
    browser
        .wait_for_title("You approved with conditions: ")
        .await;
    let source = browser.source().await;
    assert!(source.contains("Cap the amount: 18000.5"), "{source}");
    let status = app.status(&id).await;
    assert_eq!(status["status"], "approved");
    assert_eq!(status["stages"][0]["votes"][1]["channel"], "email");
    assert_eq!(
        status["decision"]["constraints"],
        json!({"max_amount": 18000.5})
    );
    // The outcome mail names the merged value by its label.
    app.deliver_all().await;
    let outcome = smtp
        .to("bob@example.com")
        .into_iter()
        .find(|m| m.text.contains("Cap the amount: 18000.5"));
    assert!(outcome.is_some(), "no outcome mail with the constraint");
    browser.quit().await;
}
