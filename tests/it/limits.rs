//! Bounded agents: `rate_limit.per_second`/`burst` and `max_pending`, answered 429 `rate_limited`
//! with `Retry-After`, on both intake routes; one agent's limit never touches another.

use crate::support::{OTHER_AGENT_KEY, RateLimit, TestApp, TestConfig, assert_error};
use countersign::store::db;
use reqwest::StatusCode;
use serde_json::json;

fn limited(rate_limit: RateLimit) -> TestConfig {
    TestConfig::default().agent(|a| a.rate_limit(rate_limit))
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

async fn open_count(app: &TestApp, agent: &str) -> i64 {
    db::query_scalar("SELECT COUNT(*) FROM escalations WHERE agent_id = ? AND decided_at IS NULL")
        .bind(agent)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// A signed webhook, as of the server's clock.
fn webhook(app: &TestApp, msg_id: &str, body: &str) -> reqwest::RequestBuilder {
    app.signed_webhook(msg_id, app.clock_now().timestamp(), body)
}

#[tokio::test]
async fn a_burst_over_the_rate_is_429_with_retry_after_on_both_routes() {
    // One a second, three at once: a quick fourth request cannot fit.
    let app = TestApp::spawn_with(limited(RateLimit {
        per_second: Some(1),
        burst: Some(3),
        ..RateLimit::default()
    }))
    .await;
    for _ in 0..3 {
        app.escalate("test.single").await;
    }
    let mut refused = Vec::new();
    for _ in 0..3 {
        let r = app
            .create(json!({"intent": "test.single", "summary": "x"}))
            .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!((1..=2).contains(&retry_after(&r)));
            refused.push(r);
        }
    }
    assert!(!refused.is_empty(), "no request was limited");
    assert_error(
        refused.remove(0),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    let body = r#"{"intent": "test.single", "summary": "via webhook"}"#;
    let r = webhook(&app, "msg_rate", body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
    // The other agent has no limit.
    for _ in 0..5 {
        let r = app
            .create_as(
                OTHER_AGENT_KEY,
                json!({"intent": "test.single", "summary": "x"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
}

#[tokio::test]
async fn max_pending_holds_under_concurrent_intake() {
    let app = TestApp::spawn_with(limited(RateLimit {
        max_pending: Some(5),
        ..RateLimit::default()
    }))
    .await;
    let sends = (0..40).map(|i| {
        app.client
            .post(app.url("/v1/escalations"))
            .bearer_auth(crate::support::AGENT_KEY)
            .header("idempotency-key", format!("k{i}"))
            .json(&json!({"intent": "test.single", "summary": format!("n{i}")}))
            .send()
    });
    let answers = futures_util::future::join_all(sends).await;
    let mut created = 0;
    for r in answers {
        let r = r.unwrap();
        match r.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(retry_after(&r) >= 1);
                assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 5);
    assert_eq!(open_count(&app, "test-agent").await, 5);
    // A webhook is refused too; the other agent is not.
    let body = r#"{"intent": "test.single", "summary": "via webhook"}"#;
    let r = webhook(&app, "msg_full", body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = app
        .create_as(
            OTHER_AGENT_KEY,
            json!({"intent": "test.single", "summary": "x"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // A decided one frees a place.
    let id: String = db::query_scalar(
        "SELECT id FROM escalations WHERE agent_id = 'test-agent' AND decided_at IS NULL LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    app.approve(&id, "bob").await;
    app.escalate("test.single").await;
    assert_error(
        app.create(json!({"intent": "test.single", "summary": "x"}))
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // The counts the triggers keep (migration 0005) agree with the rows, after
    // intakes, refusals and a decision.
    for agent in ["test-agent", "other-agent"] {
        let kept: i64 = db::query_scalar("SELECT open FROM agent_open WHERE agent_id = ?")
            .bind(agent)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(kept, open_count(&app, agent).await, "{agent}");
    }
}
