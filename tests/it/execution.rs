//! Execution reports end to end (design.md §6): the agent reports what it ran, the engine
//! judges it against the approval, the status document, audit and metrics show it, and every
//! reviewer hears it on Slack and by email. Time moves on the manual clock; nothing sleeps.

use crate::support::fake_slack::{FakeSlack, check_blocks, dm_channel};
use crate::support::requests::id_of;
use crate::support::smtp::SmtpServer;
use crate::support::{
    AGENT_KEY, OTHER_AGENT_KEY, Options, Stage, TestApp, TestConfig, Workflow, assert_error,
};
use countersign::domain::request::payload_sha256;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);
/// The approved payload of the capped workflow.
const AMOUNT: i64 = 15000;
/// The violation a payment of 19000 under bob's cap of 18000 reads as.
const VIOLATION: &str = "Constraint violated: Cap the amount — /amount is 19000, allowed ≤ 18000";

/// `test.capped`: bob alone approves a payment; the amount may be capped (`lte`).
fn capped() -> Workflow {
    Workflow::new("capped")
        .intents(["test.capped"])
        .conditions(["Canary rollout required"])
        .number_condition("max_amount", "Cap the amount", "/amount", "lte")
        .stage(Stage::new("Finance").approvers(["user:bob"]))
}

fn config() -> TestConfig {
    TestConfig::default().workflow(capped())
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(Options {
        config: config(),
        manual_workers: true,
        ..Options::default()
    })
    .await
}

/// A payment of [`AMOUNT`] waiting for bob; its id.
async fn payment(app: &TestApp, summary: &str) -> String {
    let doc = app
        .escalate_with(json!({"intent": "test.capped", "summary": summary,
                              "payload": {"amount": AMOUNT, "to": "ACME"}}))
        .await;
    id_of(&doc)
}

/// Bob approves with `max_amount: 18000`.
async fn approve_capped(app: &TestApp, id: &str) {
    let body = json!({"decision": "approve", "constraints": {"max_amount": 18000}});
    let r = app.vote(id, "bob", body).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

/// A payment of [`AMOUNT`] that bob approved with `max_amount: 18000`; its id.
async fn approved_payment(app: &TestApp) -> String {
    let id = payment(app, "Pay invoice 42").await;
    approve_capped(app, &id).await;
    id
}

/// `POST /v1/escalations/{id}/execution` as the test agent.
async fn report(app: &TestApp, id: &str, body: Value) -> Response {
    report_as(app, AGENT_KEY, id, body).await
}

async fn report_as(app: &TestApp, key: &str, id: &str, body: Value) -> Response {
    app.client
        .post(app.url(&format!("/v1/escalations/{id}/execution")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// A raw body with a content type, for the bad-input cases.
async fn report_raw(app: &TestApp, id: &str, content_type: &str, body: Vec<u8>) -> Response {
    app.client
        .post(app.url(&format!("/v1/escalations/{id}/execution")))
        .bearer_auth(AGENT_KEY)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request")
}

async fn ok(r: Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Text as tera's autoescape writes it (it escapes `/` too).
fn as_html(text: &str) -> String {
    text.replace('/', "&#x2F;")
}

async fn metrics(app: &TestApp) -> String {
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    r.text().await.unwrap()
}

fn paid(amount: i64) -> Value {
    json!({"amount": amount, "to": "ACME"})
}

#[tokio::test]
async fn a_report_of_the_approved_payload_matches_and_is_audited_once() {
    let app = spawn().await;
    let id = approved_payment(&app).await;
    let body = json!({"status": "succeeded", "payload": paid(AMOUNT), "detail": "paid"});
    let doc = ok(report(&app, &id, body.clone()).await).await;
    let execution = &doc["execution"];
    assert_eq!(execution["status"], "succeeded");
    assert_eq!(execution["matches"], true);
    assert_eq!(execution["violations"], json!([]));
    assert_eq!(execution["payload_sha256"], doc["payload_sha256"]);
    assert_eq!(execution["detail"], "paid");
    assert!(execution["reported_at"].is_string());
    let kinds = app.audit_kinds(&id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "execution_reported").count(),
        1
    );
    let reported = "countersign_executions_total{result=\"reported\"}";
    assert!(metrics(&app).await.contains(reported));

    // The same report again: 200, nothing new.
    let again = ok(report(&app, &id, body).await).await;
    assert_eq!(again, doc);
    assert_eq!(app.audit_kinds(&id).await, kinds);
    // Another report: refused, nothing new.
    let other = json!({"status": "failed", "payload": paid(AMOUNT)});
    assert_error(
        report(&app, &id, other).await,
        StatusCode::CONFLICT,
        "already_reported",
    )
    .await;
    assert_eq!(app.status(&id).await, doc);
    assert_eq!(app.audit_kinds(&id).await, kinds);
}

#[tokio::test]
async fn a_bare_hash_of_the_approved_payload_matches() {
    let app = spawn().await;
    let id = approved_payment(&app).await;
    let sha = payload_sha256(&paid(AMOUNT));
    let doc = ok(report(
        &app,
        &id,
        json!({"status": "succeeded", "payload_sha256": sha}),
    )
    .await)
    .await;
    assert_eq!(doc["execution"]["matches"], true);
    assert_eq!(doc["execution"]["payload_sha256"], sha);
    assert_eq!(doc["execution"]["violations"], json!([]));
}

#[tokio::test]
async fn a_different_payload_mismatches_and_lists_each_violation() {
    let app = spawn().await;
    let id = approved_payment(&app).await;
    assert_eq!(
        app.status(&id).await["decision"]["constraints"],
        json!({"max_amount": 18000})
    );
    let doc = ok(report(
        &app,
        &id,
        json!({"status": "succeeded", "payload": paid(19000)}),
    )
    .await)
    .await;
    let execution = &doc["execution"];
    assert_eq!(execution["matches"], false);
    assert_eq!(execution["payload_sha256"], payload_sha256(&paid(19000)));
    assert_eq!(
        execution["violations"],
        json!([{"id": "max_amount", "pointer": "/amount", "op": "lte", "allowed": 18000, "actual": 19000}])
    );
    let events = app.service.store.audit_events(&id).await.unwrap();
    let (_, _, _, data) = events
        .iter()
        .find(|(_, kind, _, _)| kind == "execution_reported")
        .expect("audited");
    assert_eq!(data["matches"], false);
    assert_eq!(data["approved_payload_sha256"], doc["payload_sha256"]);

    // Counted once per label it has, after the commit.
    let metrics = metrics(&app).await;
    for result in ["reported", "mismatched", "violated"] {
        let line = format!("countersign_executions_total{{result=\"{result}\"}}");
        assert!(metrics.contains(&line), "no {line} in:\n{metrics}");
    }
}

#[tokio::test]
async fn only_approved_escalations_of_the_same_agent_take_a_report() {
    let app = spawn().await;
    let body = json!({"status": "succeeded", "payload_sha256": "0".repeat(64)});
    let pending = app.escalate_id("test.capped").await;
    let r = report(&app, &pending, body.clone()).await;
    assert_error(r, StatusCode::CONFLICT, "not_approved").await;

    let denied = app.escalate_id("test.capped").await;
    let r = app
        .vote(&denied, "bob", json!({"decision": "deny", "comment": "no"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = report(&app, &denied, body.clone()).await;
    assert_error(r, StatusCode::CONFLICT, "not_approved").await;

    let approved = approved_payment(&app).await;
    let r = report_as(&app, OTHER_AGENT_KEY, &approved, body.clone()).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = report(&app, "esc_01J0000000000000000000000", body.clone()).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = report_as(&app, "wrong-key", &approved, body).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(app.status(&approved).await.get("execution").is_none());
}

#[tokio::test]
async fn bad_input_gets_the_contract_error_and_changes_nothing() {
    let app = spawn().await;
    let id = approved_payment(&app).await;
    let before = (app.status(&id).await, app.audit_kinds(&id).await);
    let json = "application/json";

    let r = report_raw(&app, &id, json, b"{\"status\": \"succ".to_vec()).await;
    assert_error(r, StatusCode::BAD_REQUEST, "malformed").await;
    let dup = br#"{"status": "succeeded", "status": "failed", "payload": 1}"#.to_vec();
    assert_error(
        report_raw(&app, &id, json, dup).await,
        StatusCode::BAD_REQUEST,
        "malformed",
    )
    .await;
    let form = b"status=succeeded".to_vec();
    let r = report_raw(&app, &id, "application/x-www-form-urlencoded", form).await;
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let huge = json!({"status": "succeeded", "payload": {"blob": "x".repeat(300 * 1024)}});
    let r = report(&app, &id, huge).await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let sha = payload_sha256(&paid(AMOUNT));
    let refused = [
        (
            json!({"status": "succeeded", "payload": paid(AMOUNT), "ok": true}),
            "ok",
        ),
        (json!({"status": "done", "payload": paid(AMOUNT)}), "status"),
        (
            json!({"status": "unreported", "payload": paid(AMOUNT)}),
            "status",
        ),
        (
            json!({"status": "succeeded", "payload_sha256": "not-a-hash"}),
            "payload_sha256",
        ),
        (
            json!({"status": "succeeded", "payload_sha256": 7}),
            "payload_sha256",
        ),
        (
            json!({"status": "succeeded", "payload": paid(1), "payload_sha256": sha}),
            "payload_sha256",
        ),
        (json!({"status": "succeeded"}), "payload"),
        (
            json!({"status": "failed", "payload": 1, "detail": ["x"]}),
            "detail",
        ),
        (json!(["succeeded"]), "object"),
    ];
    for (body, field) in refused {
        let error = assert_error(
            report(&app, &id, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        )
        .await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    assert_eq!((app.status(&id).await, app.audit_kinds(&id).await), before);

    // Nothing was used up: a good report still lands.
    let doc = ok(report(
        &app,
        &id,
        json!({"status": "succeeded", "payload": paid(AMOUNT)}),
    )
    .await)
    .await;
    assert_eq!(doc["execution"]["matches"], true);
}

#[tokio::test]
async fn an_approval_without_a_report_by_exp_is_unreported_and_reviewers_hear_it() {
    let slack = FakeSlack::start().await;
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Options {
        config: config().slack(&slack.api_url).email(&smtp.url()),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = payment(&app, "Pay invoice 44").await;
    app.deliver_all().await;
    approve_capped(&app, &id).await;
    app.deliver_all().await;
    assert_eq!(app.advance(59 * MIN).await, 0);
    assert!(app.status(&id).await.get("execution").is_none());
    assert_eq!(
        app.advance(MIN).await,
        1,
        "the execution timer fires at exp"
    );
    let doc = app.status(&id).await;
    assert_eq!(doc["status"], "approved");
    assert_eq!(doc["execution"]["status"], "unreported");
    for absent in ["matches", "payload_sha256", "reported_at"] {
        assert!(doc["execution"].get(absent).is_none(), "{absent}: {doc}");
    }
    assert!(
        app.audit_kinds(&id)
            .await
            .contains(&"execution_unreported".to_owned())
    );
    assert!(
        metrics(&app)
            .await
            .contains("countersign_executions_total{result=\"unreported\"}")
    );
    assert_eq!(app.advance(60 * MIN).await, 0, "nothing left armed");

    app.deliver_all().await;
    let text = slack.message_in(&dm_channel("bob")).all_text();
    assert!(text.contains(":grey_question: *Not reported by "), "{text}");
    let mail = smtp.to("bob@example.com").pop().expect("execution mail");
    assert!(mail.text.starts_with("NOT REPORTED BY "), "{}", mail.text);

    // A report that comes after all is still recorded: the mark was only for analytics.
    let late = json!({"status": "succeeded", "payload": paid(AMOUNT)});
    let doc = ok(report(&app, &id, late).await).await;
    assert_eq!(doc["execution"]["matches"], true);
}

#[tokio::test]
async fn reviewers_see_the_window_then_a_mismatch_in_slack_and_by_email() {
    let slack = FakeSlack::start().await;
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Options {
        config: config().slack(&slack.api_url).email(&smtp.url()),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = payment(&app, "Pay invoice 42").await;
    app.deliver_all().await;
    approve_capped(&app, &id).await;
    app.deliver_all().await;
    let dm = slack.message_in(&dm_channel("bob"));
    let text = dm.all_text();
    assert!(
        text.contains("Approved") && text.contains("Execute within 1h (by "),
        "{text}"
    );
    let outcome = smtp.to("bob@example.com").pop().expect("outcome mail");
    assert!(
        outcome.text.contains("Execute within 1h"),
        "{}",
        outcome.text
    );

    ok(report(
        &app,
        &id,
        json!({"status": "succeeded", "payload": paid(19000)}),
    )
    .await)
    .await;
    app.deliver_all().await;

    // Slack: the same message, updated, names the outcome and marks it.
    let dm = slack.message_in(&dm_channel("bob"));
    let text = dm.all_text();
    assert!(dm.updates >= 2, "updated after the report: {}", dm.updates);
    assert!(
        text.contains(":red_circle: *Executed with a different payload*"),
        "{text}"
    );
    assert!(text.contains(VIOLATION), "{text}");
    assert!(
        text.contains(&format!(
            "Payload differs: approved sha256 {}…",
            &payload_sha256(&paid(AMOUNT))[..12]
        )),
        "{text}"
    );
    assert!(text.contains(&payload_sha256(&paid(19000))[..12]), "{text}");
    check_blocks(&dm.blocks, 50, false).expect("within Block Kit limits");
    assert!(slack.errors().is_empty(), "{:?}", slack.errors());

    // Email: a short execution mail in the request's thread, the problem in red.
    let mails = smtp.to("bob@example.com");
    assert_eq!(mails.len(), 3, "request, outcome, execution");
    let mail = &mails[2];
    assert_eq!(mail.subject, mails[1].subject);
    assert_eq!(mail.in_reply_to, mails[1].in_reply_to);
    assert!(
        mail.text
            .starts_with("EXECUTED WITH A DIFFERENT PAYLOAD: Pay invoice 42"),
        "{}",
        mail.text
    );
    assert!(
        mail.text.contains(&format!("!! {VIOLATION}")),
        "{}",
        mail.text
    );
    assert!(
        mail.html.contains("border:2px solid #b91c1c"),
        "{}",
        mail.html
    );
    assert!(mail.html.contains(&as_html(VIOLATION)), "{}", mail.html);
    assert_eq!((mail.text_parts, mail.html_parts), (1, 1));
}

#[tokio::test]
async fn the_confirmation_page_after_a_mismatch_shows_it_in_red() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Options {
        config: config().email(&smtp.url()),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = payment(&app, "Pay invoice 43").await;
    app.deliver_all().await;
    let request = smtp.to("bob@example.com").pop().expect("request mail");
    approve_capped(&app, &id).await;
    ok(report(
        &app,
        &id,
        json!({"status": "succeeded", "payload": paid(19000)}),
    )
    .await)
    .await;

    let link = request.link("Approve:");
    let path = &link[link.find("/links/").expect("a link")..];
    let r = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "already voted");
    let page = r.text().await.unwrap();
    assert!(page.contains("class=\"card after problem\""), "{page}");
    assert!(page.contains("Executed with a different payload"), "{page}");
    assert!(page.contains(&as_html(VIOLATION)), "{page}");
    assert!(page.contains("Execute within 1h (by "), "{page}");
}
