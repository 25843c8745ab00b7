//! The agent surface: intake (bearer and signed webhook), idempotency, errors, long-poll, cancel.

use crate::support::{AGENT_KEY, AGENT_SECRET, OTHER_AGENT_KEY, TestApp, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn escalation_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM escalations")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn create_returns_the_status_document() {
    let app = TestApp::spawn().await;
    let body = json!({
        "intent": "test.single",
        "summary": "Deploy api v2.3.1 to production",
        "payload": {"version": "2.3.1", "service": "api"},
        "resource": "k8s://prod/api",
        "risk": {"score": 95, "reasons": ["Outside the change window"]},
        "policy": {"id": "prod-deploy", "reason": "Production deploys need approval"},
        "requested_by": "frank@example.com",
        "context": {"recent_activity": [{"at": "2026-11-21T10:00:00Z", "summary": "Deployed to staging"}],
                    "evidence": [{"label": "CI run", "url": "https://ci.example.com/runs/1"}]},
        "callback_url": "https://agent.example.com/hooks"
    });
    let r = app.create(body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let doc: Value = r.json().await.unwrap();
    let id = doc["id"].as_str().unwrap();
    assert!(id.starts_with("esc_") && id.len() == 30, "{id}");
    assert_eq!(location, format!("/v1/escalations/{id}"));
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["workflow"], "single");
    assert_eq!(doc["current_stage"], 1);
    assert_eq!(doc["total_stages"], 1);
    assert_eq!(doc["decision"], Value::Null);
    assert_eq!(doc["stages"][0]["status"], "pending");
    assert_eq!(doc["stages"][0]["eligible"], json!(["bob", "carol"]));
    // RFC 8785: keys sorted, no whitespace. Recomputable by any executor.
    let canonical = r#"{"service":"api","version":"2.3.1"}"#;
    use sha2::Digest;
    assert_eq!(
        doc["payload_sha256"],
        hex::encode(sha2::Sha256::digest(canonical))
    );
    assert_eq!(app.status(id).await["id"], id);
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_same_escalation() {
    let app = TestApp::spawn().await;
    let send = || {
        app.client
            .post(app.url("/v1/escalations"))
            .bearer_auth(AGENT_KEY)
            .header("Idempotency-Key", "deploy-42")
            .json(&json!({"intent": "test.single", "summary": "Deploy"}))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(escalation_count(&app).await, 1);
    // The same key from another agent is another escalation.
    let other = app
        .client
        .post(app.url("/v1/escalations"))
        .bearer_auth(OTHER_AGENT_KEY)
        .header("Idempotency-Key", "deploy-42")
        .json(&json!({"intent": "test.single", "summary": "Deploy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::CREATED);
    assert_eq!(escalation_count(&app).await, 2);
}

#[tokio::test]
async fn concurrent_repeats_of_one_key_create_one_escalation() {
    let app = TestApp::spawn().await;
    let requests = (0..10).map(|_| {
        app.client
            .post(app.url("/v1/escalations"))
            .bearer_auth(AGENT_KEY)
            .header("Idempotency-Key", "same")
            .json(&json!({"intent": "test.single", "summary": "Deploy"}))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let created = responses
        .iter()
        .filter(|r| r.as_ref().unwrap().status() == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    assert_eq!(escalation_count(&app).await, 1);
}

fn signed(app: &TestApp, msg_id: &str, ts: i64, body: &str) -> reqwest::RequestBuilder {
    let wh = standardwebhooks::Webhook::new(AGENT_SECRET).unwrap();
    let sig = wh.sign(msg_id, ts, body.as_bytes()).unwrap();
    app.client
        .post(app.url("/v1/webhooks/test-agent"))
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .header("content-type", "application/json")
        .body(body.to_owned())
}

#[tokio::test]
async fn signed_webhooks_are_accepted_once_per_webhook_id() {
    let app = TestApp::spawn().await;
    // The server judges the tolerance by its own (manual) clock.
    let now = app.clock_now().timestamp();
    let body = r#"{"intent": "test.single", "summary": "Via webhook"}"#;
    let r = signed(&app, "msg_1", now, body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let first: Value = r.json().await.unwrap();
    let r = signed(&app, "msg_1", now, body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(escalation_count(&app).await, 1);
}

#[tokio::test]
async fn webhooks_accept_any_matching_signature_among_several() {
    let app = TestApp::spawn().await;
    // The server judges the tolerance by its own (manual) clock.
    let now = app.clock_now().timestamp();
    let body = r#"{"intent": "test.single", "summary": "Rotating keys"}"#;
    let wh = standardwebhooks::Webhook::new(AGENT_SECRET).unwrap();
    let good = wh.sign("msg_rot", now, body.as_bytes()).unwrap();
    let r = app
        .client
        .post(app.url("/v1/webhooks/test-agent"))
        .header("webhook-id", "msg_rot")
        .header("webhook-timestamp", now.to_string())
        .header(
            "webhook-signature",
            format!("v1,bm90IGl0 {good} v2,whatever"),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn unverifiable_webhooks_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    // The server judges the tolerance by its own (manual) clock.
    let now = app.clock_now().timestamp();
    let body = r#"{"intent": "test.single", "summary": "x"}"#;
    // Tampered body.
    let r = signed(&app, "msg_a", now, body)
        .body(r#"{"intent": "test.single", "summary": "y"}"#)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Stale and future timestamps (beyond 5 minutes).
    for ts in [now - 301, now + 301] {
        let r = signed(&app, "msg_b", ts, body).send().await.unwrap();
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // Missing headers.
    let r = app
        .client
        .post(app.url("/v1/webhooks/test-agent"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Unknown agent.
    let r = signed(&app, "msg_c", now, body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let wh = standardwebhooks::Webhook::new(AGENT_SECRET).unwrap();
    let r = app
        .client
        .post(app.url("/v1/webhooks/nobody"))
        .header("webhook-id", "msg_d")
        .header("webhook-timestamp", now.to_string())
        .header(
            "webhook-signature",
            wh.sign("msg_d", now, body.as_bytes()).unwrap(),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(escalation_count(&app).await, 1);
}

#[tokio::test]
async fn credentials_are_required() {
    let app = TestApp::spawn().await;
    let body = json!({"intent": "test.single", "summary": "x"});
    let r = app
        .client
        .post(app.url("/v1/escalations"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .client
        .post(app.url("/v1/escalations"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A reviewer key is not an agent key.
    let r = app
        .client
        .post(app.url("/v1/escalations"))
        .bearer_auth("bob-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(escalation_count(&app).await, 0);
}

#[tokio::test]
async fn bad_bodies_get_the_contract_errors_and_create_nothing() {
    let app = TestApp::spawn().await;
    let post = |body: String| {
        app.client
            .post(app.url("/v1/escalations"))
            .bearer_auth(AGENT_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for malformed in ["{\"intent\":", "", "nul", "\u{0}"] {
        assert_error(
            post(malformed.into()).await.unwrap(),
            StatusCode::BAD_REQUEST,
            "malformed",
        )
        .await;
    }
    let invalid = [
        json!({"summary": "no intent"}),
        json!({"intent": "test.single"}),
        json!({"intent": "", "summary": "x"}),
        json!({"intent": "test.single", "summary": "   "}),
        json!({"intent": "test.single", "summary": "x", "risk": {"score": 101}}),
        json!({"intent": "test.single", "summary": "x", "risk": {"score": -1}}),
        json!({"intent": "test.single", "summary": "x", "risk": "high"}),
        json!({"intent": "test.single", "summary": "x", "deadline": "2001-01-01T00:00:00Z"}),
        json!({"intent": "test.single", "summary": "x", "deadline": "tomorrow"}),
        json!({"intent": "test.single", "summary": "x", "callback_url": "javascript:alert(1)"}),
        json!({"intent": "test.single", "summary": "x",
               "context": {"evidence": [{"label": "x", "url": "ftp://x"}]}}),
        json!(["not", "an", "object"]),
        json!({"intent": "has spaces", "summary": "x"}),
    ];
    for body in invalid {
        let r = post(body.to_string()).await.unwrap();
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    }
    let r = post(json!({"intent": "unmatched.intent", "summary": "x"}).to_string())
        .await
        .unwrap();
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "no_workflow").await;
    // A missing risk score is treated as maximal risk, so the risky workflow (50–100) governs.
    let doc = app.escalate("test.risk").await;
    assert_eq!(doc["workflow"], "risky");
    let r = post(json!({"intent": "test.risk", "summary": "x", "risk": {"score": 10}}).to_string())
        .await
        .unwrap();
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "no_workflow").await;
    assert_eq!(escalation_count(&app).await, 1);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let app = TestApp::spawn().await;
    let big = "x".repeat(300 * 1024);
    let body = json!({"intent": "test.single", "summary": "x", "payload": {"blob": big}});
    let r = app.create(body).await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Just under the limit is fine.
    let ok = "x".repeat(200 * 1024);
    let r = app
        .create(json!({"intent": "test.single", "summary": "x", "payload": {"blob": ok}}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(escalation_count(&app).await, 1);
}

#[tokio::test]
async fn escalations_are_private_to_their_agent() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.single").await;
    let get = |key: &'static str, id: String| {
        app.client
            .get(app.url(&format!("/v1/escalations/{id}")))
            .bearer_auth(key)
            .send()
    };
    assert_error(
        get(OTHER_AGENT_KEY, id.clone()).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let unknown = "esc_01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned();
    assert_error(
        get(AGENT_KEY, unknown).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        get(AGENT_KEY, "../etc".into()).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let r = app
        .client
        .get(app.url("/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn long_poll_returns_as_soon_as_the_decision_lands() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.single").await;
    let poll = app
        .client
        .get(app.url(&format!("/v1/escalations/{id}?wait=30")))
        .bearer_auth(AGENT_KEY)
        .send();
    let started = Instant::now();
    let vote = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.approve(&id, "bob").await
    };
    let (polled, _) = tokio::join!(poll, vote);
    let doc: Value = polled.unwrap().json().await.unwrap();
    assert_eq!(doc["status"], "approved");
    // Woken by the decision, not by the 30 s wait running out.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn long_poll_gives_up_after_wait_with_the_pending_document() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.single").await;
    let started = Instant::now();
    let r = app
        .client
        .get(app.url(&format!("/v1/escalations/{id}?wait=1")))
        .bearer_auth(AGENT_KEY)
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["status"], "pending");
    let r = app
        .client
        .get(app.url(&format!("/v1/escalations/{id}?wait=soon")))
        .bearer_auth(AGENT_KEY)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "malformed").await;
}

#[tokio::test]
async fn cancel_ends_a_pending_escalation() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.single").await;
    let cancel = || {
        app.client
            .post(app.url(&format!("/v1/escalations/{id}/cancel")))
            .bearer_auth(AGENT_KEY)
            .json(&json!({"reason": "The deploy was rolled back upstream"}))
            .send()
    };
    let r = cancel().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["status"], "cancelled");
    assert_eq!(doc["decision"]["outcome"], "cancelled");
    assert_eq!(
        doc["decision"]["reason"],
        "The deploy was rolled back upstream"
    );
    assert_error(
        cancel().await.unwrap(),
        StatusCode::CONFLICT,
        "already_decided",
    )
    .await;
    let r = app.vote(&id, "bob", json!({"decision": "approve"})).await;
    assert_error(r, StatusCode::CONFLICT, "already_decided").await;
    // Another agent cannot cancel it, nor learn it exists.
    let r = app
        .client
        .post(app.url(&format!("/v1/escalations/{id}/cancel")))
        .bearer_auth(OTHER_AGENT_KEY)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.single").await;
    app.approve(&id, "bob").await;
    let r = app.vote(&id, "carol", json!({"decision": "approve"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            app.client.get(app.url(path)).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for metric in [
        "countersign_escalations_created_total{workflow=\"single\"}",
        "countersign_decisions_total{outcome=\"approved\"}",
        "countersign_votes_total{channel=\"api\"}",
        "countersign_refusals_total{code=\"already_decided\"}",
        "countersign_outbox_depth",
        "countersign_timer_overdue_seconds",
    ] {
        assert!(text.contains(metric), "{metric} missing from:\n{text}");
    }
    app.stop().await;
}
