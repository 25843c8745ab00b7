//! Decision callbacks: signed per Standard Webhooks (checked by the reference crate), retried with one webhook-id.

use crate::support::callbacks::Receiver;
use crate::support::config::host_port;
use crate::support::{AGENT_SECRET, Options, TestApp, TestConfig, eventually};
use countersign::store::db;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

async fn app_with_receiver(manual_workers: bool) -> (TestApp, Receiver) {
    let receiver = Receiver::start(AGENT_SECRET).await;
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default().agent(|a| a.callback_url(&receiver.url)),
        manual_workers,
        ..Options::default()
    })
    .await;
    (app, receiver)
}

#[tokio::test]
async fn the_decision_is_called_back_signed() {
    let (app, receiver) = app_with_receiver(false).await;
    let id = app.escalate_id("test.single").await;
    app.vote(
        &id,
        "bob",
        json!({"decision": "approve", "conditions": ["Canary rollout required"]}),
    )
    .await;
    let got = eventually(Duration::from_secs(10), || async {
        receiver.received().first().cloned()
    })
    .await;
    assert!(got.verified, "the reference verifier accepts our signature");
    assert!(got.webhook_id.starts_with("msg_"));
    assert_eq!(got.body["type"], "escalation.decided");
    assert!(got.body["timestamp"].as_str().is_some());
    let data = &got.body["data"];
    assert_eq!(data["id"], id.as_str());
    assert_eq!(data["status"], "approved");
    assert_eq!(
        data["decision"]["conditions"],
        json!(["Canary rollout required"])
    );
    assert_eq!(data["decision"]["decided_by"], json!(["bob"]));
    let kinds = eventually(Duration::from_secs(5), || async {
        let k = app.audit_kinds(&id).await;
        k.contains(&"callback_delivered".to_owned()).then_some(k)
    })
    .await;
    assert!(kinds.contains(&"decided".to_owned()));
}

#[tokio::test]
async fn a_callback_url_in_the_request_wins_and_cancel_is_called_back() {
    let receiver = Receiver::start(AGENT_SECRET).await;
    // The agent has no default callback URL; the request's must name an allowed host.
    let app = TestApp::spawn_with(
        TestConfig::default().agent(|a| a.callback_hosts(host_port(&receiver.url))),
    )
    .await;
    let doc = app
        .escalate_with(
            json!({"intent": "test.single", "summary": "x", "callback_url": receiver.url}),
        )
        .await;
    let id = doc["id"].as_str().unwrap();
    let r = app.cancel(id, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let got = eventually(Duration::from_secs(10), || async {
        receiver.received().first().cloned()
    })
    .await;
    assert_eq!(got.body["data"]["status"], "cancelled");
}

#[tokio::test]
async fn failed_callbacks_are_retried_with_backoff_under_the_same_webhook_id() {
    let (app, receiver) = app_with_receiver(true).await;
    receiver.fail_next(2, StatusCode::INTERNAL_SERVER_ERROR);
    let id = app.escalate_id("test.single").await;
    app.approve(&id, "bob").await;

    let first = app.deliver().await;
    assert_eq!((first.delivered, first.retried), (0, 1));
    // Not due again until its backoff has passed.
    assert_eq!(app.deliver().await.retried, 0);
    app.clock.advance(Duration::from_secs(2));
    assert_eq!(app.deliver().await.retried, 1);
    app.clock.advance(Duration::from_secs(4));
    assert_eq!(app.deliver().await.delivered, 1);

    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|r| r.verified && r.webhook_id == received[0].webhook_id)
    );
    assert_eq!(
        received[0].body, received[2].body,
        "every retry sends the same event"
    );
    assert!(
        app.audit_kinds(&id)
            .await
            .contains(&"callback_delivered".to_owned())
    );
}

#[tokio::test]
async fn callbacks_are_given_up_after_max_age_and_recorded_as_failed() {
    let (app, receiver) = app_with_receiver(true).await;
    receiver.fail_next(1000, StatusCode::SERVICE_UNAVAILABLE);
    let id = app.escalate_id("test.single").await;
    app.approve(&id, "bob").await;
    assert_eq!(app.deliver().await.retried, 1);
    app.clock.advance(Duration::from_secs(2 * 3600));
    let last = app.deliver().await;
    assert_eq!(last.failed, 1);
    assert!(
        app.audit_kinds(&id)
            .await
            .contains(&"callback_failed".to_owned())
    );
    let (failed, error): (Option<i64>, Option<String>) =
        db::query_as("SELECT failed_at, last_error FROM outbox WHERE escalation_id = ?")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(failed.is_some());
    assert!(error.unwrap().contains("503"));
    // Nothing is left to deliver.
    app.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        app.deliver().await,
        countersign::workers::outbox::Outcome::default()
    );
}
