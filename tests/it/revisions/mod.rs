//! Request changes and revisions (issue 14, design.md §7): the vote, the revisions route,
//! the long-poll, the callback, expiry while changes are requested.

use crate::support::callbacks::Receiver;
use crate::support::{
    AGENT_KEY, AGENT_SECRET, OTHER_AGENT_KEY, Options, Stage, TestApp, TestConfig, Workflow,
    assert_error,
};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

mod crash;
mod email;
mod slack;

/// One stage (bob or carol), two revisions allowed, a one-hour deadline.
pub fn revisable() -> Workflow {
    Workflow::new("revisable")
        .intents(["test.revisable"])
        .timeout("1h")
        .max_revisions(2)
        .stage(Stage::new("Review").approvers(["user:bob", "user:carol"]))
}

pub fn config() -> TestConfig {
    TestConfig::default().workflow(revisable())
}

pub fn request(summary: &str, replicas: u32) -> Value {
    json!({
        "intent": "test.revisable",
        "summary": summary,
        "payload": {"service": "api", "replicas": replicas, "region": "eu-west-1"},
        "risk": {"score": 80},
    })
}

/// `POST /v1/escalations/{id}/revisions` as `key`'s agent, with an optional idempotency key.
pub async fn revise_as(
    app: &TestApp,
    key: &str,
    id: &str,
    body: &Value,
    idempotency: Option<&str>,
) -> Response {
    let mut r = app
        .client
        .post(app.url(&format!("/v1/escalations/{id}/revisions")))
        .bearer_auth(key)
        .json(body);
    if let Some(k) = idempotency {
        r = r.header("idempotency-key", k);
    }
    r.send().await.expect("request")
}

pub async fn revise(app: &TestApp, id: &str, body: &Value) -> Value {
    let r = revise_as(app, AGENT_KEY, id, body, None).await;
    assert_eq!(r.status(), StatusCode::OK, "revise");
    r.json().await.expect("json")
}

pub async fn request_changes(app: &TestApp, id: &str, reviewer: &str, comment: &str) -> Value {
    let r = app
        .vote(
            id,
            reviewer,
            json!({"decision": "request_changes", "comment": comment}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "request_changes");
    r.json().await.expect("json")
}

#[tokio::test]
async fn request_changes_then_revise_restarts_voting_and_keeps_the_history() {
    let app = TestApp::spawn_with(config()).await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("Scale api", 6)).await);

    let r = app
        .vote(&id, "bob", json!({"decision": "request_changes"}))
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = app
        .vote(
            &id,
            "bob",
            json!({"decision": "request_changes", "comment": "  "}),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    // Nobody asked yet: nothing to revise.
    let r = revise_as(&app, AGENT_KEY, &id, &request("Scale api", 4), None).await;
    assert_error(r, StatusCode::CONFLICT, "changes_not_requested").await;

    let doc = request_changes(&app, &id, "bob", "Six replicas is too many; use four.").await;
    assert_eq!(doc["status"], "changes_requested");
    assert_eq!(doc["revision"], 1);
    assert_eq!(doc["decision"], Value::Null);
    let asked = &doc["revisions"][0]["changes_requested"];
    assert_eq!(asked["by"], "bob");
    assert_eq!(asked["comment"], "Six replicas is too many; use four.");
    // Votes on it now are stale: the stage was stopped.
    let r = app.vote(&id, "carol", json!({"decision": "approve"})).await;
    assert_error(r, StatusCode::CONFLICT, "stale_stage").await;

    // Another agent's escalation is indistinguishable from none.
    let r = revise_as(&app, OTHER_AGENT_KEY, &id, &request("Scale api", 4), None).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    // The intake's strict parsing: an unknown field, a missing summary.
    let mut bad = request("Scale api", 4);
    bad["surprise"] = json!(1);
    let r = revise_as(&app, AGENT_KEY, &id, &bad, None).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = revise_as(
        &app,
        AGENT_KEY,
        &id,
        &json!({"intent": "test.revisable"}),
        None,
    )
    .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;

    let doc = revise(&app, &id, &request("Scale api to four", 4)).await;
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["revision"], 2);
    assert_eq!(doc["current_stage"], 1);
    let revisions = doc["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[1]["summary"], "Scale api to four");
    assert_eq!(revisions[1]["changes_requested"], Value::Null);
    assert_ne!(
        revisions[0]["payload_sha256"],
        revisions[1]["payload_sha256"]
    );
    // Bob's request for changes no longer counts, and bob may vote on the revision.
    let doc = app.approve(&id, "bob").await;
    assert_eq!(doc["status"], "approved");
    assert_eq!(doc["decision"]["decided_by"], json!(["bob"]));
    let kinds = app.audit_kinds(&id).await;
    for kind in ["changes_requested", "revised", "decided"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    // Decided: a further revision is refused.
    let r = revise_as(&app, AGENT_KEY, &id, &request("Again", 3), None).await;
    assert_error(r, StatusCode::CONFLICT, "already_decided").await;
}

#[tokio::test]
async fn max_revisions_bounds_requests_and_revisions() {
    let app = TestApp::spawn_with(config()).await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("v1", 1)).await);
    request_changes(&app, &id, "bob", "first").await;
    revise(&app, &id, &request("v2", 2)).await;
    request_changes(&app, &id, "carol", "second").await;
    let doc = revise(&app, &id, &request("v3", 3)).await;
    assert_eq!(doc["revision"], 3);
    // revision = 1 + max_revisions: no more requests for changes.
    let r = app
        .vote(
            &id,
            "bob",
            json!({"decision": "request_changes", "comment": "third"}),
        )
        .await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revised")
    );
    assert_eq!(app.status(&id).await["status"], "pending");
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_revision_and_writes_nothing() {
    let app = TestApp::spawn_with(config()).await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("v1", 1)).await);
    request_changes(&app, &id, "bob", "more").await;
    let body = request("v2", 2);
    let first = revise_as(&app, AGENT_KEY, &id, &body, Some("rev-1")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    let audit = app.audit_kinds(&id).await.len();
    let again = revise_as(&app, AGENT_KEY, &id, &body, Some("rev-1")).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(app.audit_kinds(&id).await.len(), audit, "nothing written");
    // Without the key the same body is a new attempt, and nobody asked for changes.
    let r = revise_as(&app, AGENT_KEY, &id, &body, None).await;
    assert_error(r, StatusCode::CONFLICT, "changes_not_requested").await;
    let r = revise_as(&app, AGENT_KEY, &id, &body, Some("   ")).await;
    assert_error(r, StatusCode::BAD_REQUEST, "malformed").await;
}

#[tokio::test]
async fn a_long_poll_returns_when_changes_are_requested() {
    let app = TestApp::spawn_with(config()).await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("v1", 1)).await);
    let poll = {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/escalations/{id}?wait=30"));
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let r = client.get(url).bearer_auth(AGENT_KEY).send().await.unwrap();
            (started.elapsed(), r.json::<Value>().await.unwrap())
        })
    };
    // The poll holds while pending (a brief pause lets it subscribe before the vote).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poll.is_finished(), "still waiting while pending");
    request_changes(&app, &id, "bob", "please change").await;
    let (took, doc) = poll.await.unwrap();
    assert_eq!(doc["status"], "changes_requested");
    assert!(
        took < Duration::from_secs(20),
        "woken, not timed out: {took:?}"
    );
}

#[tokio::test]
async fn the_agent_is_called_back_signed_when_changes_are_requested() {
    let receiver = Receiver::start(AGENT_SECRET).await;
    let app = TestApp::spawn_with(Options {
        config: config().agent(|a| a.callback_url(&receiver.url)),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("v1", 1)).await);
    request_changes(&app, &id, "bob", "fewer replicas").await;
    app.deliver_all().await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one callback: {got:?}");
    assert!(got[0].verified, "the reference verifier accepts it");
    assert_eq!(got[0].body["type"], "escalation.changes_requested");
    assert!(got[0].body["timestamp"].as_str().is_some());
    assert_eq!(got[0].body["data"]["status"], "changes_requested");
    assert_eq!(
        got[0].body["data"]["revisions"][0]["changes_requested"]["comment"],
        "fewer replicas"
    );
    // The revision and its decision: the decision is its own message.
    revise(&app, &id, &request("v2", 2)).await;
    app.approve(&id, "carol").await;
    app.deliver_all().await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body["type"], "escalation.decided");
    assert_eq!(got[1].body["data"]["revision"], 2);
    assert_ne!(got[0].webhook_id, got[1].webhook_id);
    let kinds = app.audit_kinds(&id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "callback_delivered").count(),
        2
    );
}

#[tokio::test]
async fn the_deadline_runs_while_changes_are_requested() {
    let app = TestApp::spawn_with(Options {
        config: config(),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("v1", 1)).await);
    request_changes(&app, &id, "bob", "change it").await;
    app.advance(Duration::from_secs(30 * 60)).await;
    assert_eq!(app.status(&id).await["status"], "changes_requested");
    app.advance(Duration::from_secs(31 * 60)).await;
    let doc = app.status(&id).await;
    assert_eq!(doc["status"], "expired");
    let r = revise_as(&app, AGENT_KEY, &id, &request("late", 2), None).await;
    assert_error(r, StatusCode::CONFLICT, "already_decided").await;
}

/// Once `revision` is 1 + `max_revisions`, neither Slack nor email offers request changes.
#[tokio::test]
async fn the_last_allowed_revision_offers_no_request_changes() {
    let slack = crate::support::fake_slack::FakeSlack::start().await;
    let smtp = crate::support::smtp::SmtpServer::start().await;
    let once = Workflow::new("once")
        .intents(["test.once"])
        .max_revisions(1)
        .stage(Stage::new("Review").approvers(["user:bob"]));
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default()
            .workflow(once)
            .slack(&slack.api_url)
            .email(&smtp.url()),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let mut body = request("v1", 1);
    body["intent"] = json!("test.once");
    let id = crate::support::requests::id_of(&app.escalate_with(body.clone()).await);
    app.deliver_all().await;
    let dm = crate::support::fake_slack::dm_channel("bob");
    assert!(slack.message_in(&dm).button("request_changes").is_some());
    assert!(
        smtp.to("bob@example.com")[0]
            .text
            .contains("Request changes")
    );
    request_changes(&app, &id, "bob", "once more").await;
    body["summary"] = json!("v2");
    revise(&app, &id, &body).await;
    app.deliver_all().await;
    let latest = slack.messages_in(&dm).pop().unwrap();
    assert!(latest.button("approve").is_some());
    assert!(latest.button("request_changes").is_none());
    let mails = smtp.to("bob@example.com");
    assert_eq!(mails.len(), 2);
    assert!(
        !mails[1].text.contains("Request changes"),
        "{}",
        mails[1].text
    );
}

/// A revision stays the same action under the same workflow: another intent, or a risk
/// the configuration sends to another workflow, is 422; a lower risk stays pinned.
#[tokio::test]
async fn a_revision_cannot_leave_its_workflow() {
    let light = Workflow::new("light")
        .intents(["test.tiered"])
        .risk(0, 50)
        .stage(Stage::new("Light").approvers(["user:bob"]));
    let heavy = Workflow::new("heavy")
        .intents(["test.tiered"])
        .risk(51, 100)
        .stage(Stage::new("Heavy").approvers(["user:alice"]))
        .stage(Stage::new("Heavier").approvers(["user:bob"]));
    let app = TestApp::spawn_with(TestConfig::default().workflow(light).workflow(heavy)).await;
    let tiered =
        |score: u8| json!({"intent": "test.tiered", "summary": "tiered", "risk": {"score": score}});
    let doc = app.escalate_with(tiered(30)).await;
    assert_eq!(doc["workflow"], "light");
    let id = crate::support::requests::id_of(&doc);
    // Not yet asked: the state's 409 comes first, whatever the body.
    let r = revise_as(&app, AGENT_KEY, &id, &tiered(90), None).await;
    assert_error(r, StatusCode::CONFLICT, "changes_not_requested").await;
    request_changes(&app, &id, "bob", "lower it").await;

    let r = revise_as(&app, AGENT_KEY, &id, &tiered(90), None).await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("risk")
    );
    let mut other = tiered(10);
    other["intent"] = json!("test.single");
    let r = revise_as(&app, AGENT_KEY, &id, &other, None).await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("intent")
    );
    // Leaving the score out counts as 100: refused as well.
    let r = revise_as(
        &app,
        AGENT_KEY,
        &id,
        &json!({"intent": "test.tiered", "summary": "no score"}),
        None,
    )
    .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(app.status(&id).await["status"], "changes_requested");

    let doc = revise(&app, &id, &tiered(10)).await;
    assert_eq!(doc["workflow"], "light");
    assert_eq!(doc["revision"], 2);
}
