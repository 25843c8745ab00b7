//! Hostile input: garbage bodies, headers and paths get a 4xx contract error, never a 5xx or a panic.

use crate::support::{AGENT_KEY, TestApp, assert_error};
use serde_json::Value;

/// Deterministic junk, so a failure reproduces.
fn junk(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

fn bodies() -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = (0..24).map(|i| junk(i, (i as usize * 37) % 700)).collect();
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    for s in [
        deep.as_str(),
        r#"{"intent": "test.single", "summary": "x", "risk": {"score": 1e400}}"#,
        r#"{"intent": "test.single", "summary": "x", "risk": {"score": 18446744073709551616}}"#,
        r#"{"intent": "test.single", "summary": "x", "deadline": "9999-12-31T23:59:59Z"}"#,
        r#"{"intent": "test.single", "summary": "x", "deadline": "+275760-09-13T00:00:00Z"}"#,
        r#"{"intent": "test.single", "summary": "\u0000\ud800", "payload": "\u0000"}"#,
        r#"{"intent": "test.single", "summary": "x", "context": {"recent_activity": [{"at": null}]}}"#,
        r#"{"decision": "approve", "conditions": [null]}"#,
        r#"{"decision": null}"#,
        r#"{"reason": 42}"#,
        "null",
        "\u{feff}{}",
    ] {
        all.push(s.as_bytes().to_vec());
    }
    all
}

#[tokio::test]
async fn garbage_never_gets_a_server_error() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.single").await;
    let routes = [
        ("/v1/escalations".to_owned(), AGENT_KEY),
        ("/v1/webhooks/test-agent".to_owned(), AGENT_KEY),
        (format!("/v1/escalations/{id}/votes"), "bob-key"),
        (format!("/v1/escalations/{id}/cancel"), AGENT_KEY),
    ];
    for (path, key) in &routes {
        for body in bodies() {
            let r = app
                .client
                .post(app.url(path))
                .bearer_auth(key)
                .header("content-type", "application/json")
                .header("webhook-id", "msg_junk")
                .header("webhook-timestamp", "1")
                .header("webhook-signature", "v1,AAAA")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = r.status();
            assert!(
                status.is_client_error() || status.is_success(),
                "{path} answered {status} to {:?}",
                String::from_utf8_lossy(&body)
            );
            if status.is_client_error() {
                let body: Value = r.json().await.expect("errors are JSON");
                assert!(body["error"]["code"].is_string());
            }
        }
    }
    // Odd headers and paths.
    let long_key = "k".repeat(10_000);
    for (path, auth, idem) in [
        ("/v1/escalations", "Bearer \u{00e9}\u{00e9}", "ok"),
        ("/v1/escalations", "Basic Zm9vOmJhcg==", "ok"),
        ("/v1/escalations", "Bearer agent-key", long_key.as_str()),
        ("/v1/escalations", "Bearer agent-key", " "),
    ] {
        let r = app
            .client
            .post(app.url(path))
            .header("authorization", auth.as_bytes())
            .header("idempotency-key", idem)
            .body(r#"{"intent": "test.single", "summary": "x"}"#)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_client_error(),
            "{auth} / {idem}: {}",
            r.status()
        );
    }
    for path in [
        "/v1/escalations/%00",
        "/v1/escalations/esc_%F0%9F%92%A9",
        "/v1/escalations/esc_zzzzzzzzzzzzzzzzzzzzzzzzzz?wait=-1",
    ] {
        let r = app
            .client
            .get(app.url(path))
            .bearer_auth(AGENT_KEY)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
    }
    // Still alive and consistent. (An empty body is a valid cancel, so it may be cancelled.)
    let status = app.status(&id).await["status"].clone();
    assert!(status == "pending" || status == "cancelled", "{status}");
    let verdict = app.service.store.verify_audit().await.unwrap();
    assert!(matches!(
        verdict,
        countersign::store::audit::Verdict::Intact { .. }
    ));
}

/// [`assert_error`], and the error is served as JSON.
async fn contract_error(r: reqwest::Response, status: u16, code: &str) -> Value {
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "{} from {}: content-type {ct:?}",
        r.status(),
        r.url()
    );
    let status = reqwest::StatusCode::from_u16(status).expect("a status code");
    assert_error(r, status, code).await
}

#[tokio::test]
async fn intake_is_strict_about_keys_fields_and_media_type() {
    let app = TestApp::spawn().await;
    let post = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.url("/v1/escalations"))
            .bearer_auth(AGENT_KEY)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let json = Some("application/json");
    // Duplicate keys, top-level and nested: 400, never "the last one wins".
    for body in [
        r#"{"intent": "test.risk", "summary": "x", "risk": {"score": 95}, "risk": {"score": 1}}"#,
        r#"{"intent": "test.single", "intent": "test.risk", "summary": "x"}"#,
        r#"{"intent": "test.single", "summary": "x", "payload": {"a": {"b": 1, "b": 2}}}"#,
    ] {
        let r = post(body, json).await.unwrap();
        let e = contract_error(r, 400, "malformed").await;
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("duplicate key")
        );
    }
    // An unknown top-level field (a typo) is 422 naming it.
    let r = post(
        r#"{"intent": "test.single", "summary": "x", "callbak_url": "https://agent.example.com/h"}"#,
        json,
    )
    .await
    .unwrap();
    let e = contract_error(r, 422, "validation").await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("callbak_url"),
        "{e}"
    );
    // A body without Content-Type: application/json is 415.
    let ok = r#"{"intent": "test.single", "summary": "x"}"#;
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        contract_error(post(ok, ct).await.unwrap(), 415, "unsupported_media_type").await;
    }
    // Parameters and case do not matter.
    let r = post(ok, Some("Application/JSON; charset=utf-8"))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Votes are a JSON endpoint too; a cancel takes no body, so needs no Content-Type.
    let r = app
        .client
        .post(app.url(&format!("/v1/escalations/{id}/votes")))
        .bearer_auth("bob-key")
        .body(r#"{"decision": "approve"}"#)
        .send()
        .await
        .unwrap();
    contract_error(r, 415, "unsupported_media_type").await;
    let r = app
        .client
        .post(app.url(&format!("/v1/escalations/{id}/votes")))
        .bearer_auth("bob-key")
        .header("content-type", "application/json")
        .body(r#"{"decision": "approve", "decision": "deny", "comment": "x"}"#)
        .send()
        .await
        .unwrap();
    contract_error(r, 400, "malformed").await;
    let r = app.cancel(&id, None).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn every_error_has_the_contract_body() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.single").await;
    let get = |path: String| app.client.get(app.url(&path)).bearer_auth(AGENT_KEY).send();
    // Path and query rejections.
    contract_error(
        get("/v1/escalations/%FF".into()).await.unwrap(),
        400,
        "malformed",
    )
    .await;
    contract_error(
        get(format!("/v1/escalations/{id}?wait=%FF")).await.unwrap(),
        400,
        "malformed",
    )
    .await;
    // Fallbacks: unknown route, wrong method (with Allow kept).
    contract_error(get("/nope".into()).await.unwrap(), 404, "not_found").await;
    let r = app
        .client
        .delete(app.url("/v1/escalations"))
        .bearer_auth(AGENT_KEY)
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("allow"));
    contract_error(r, 405, "method_not_allowed").await;
    let r = get("/v1/webhooks/test-agent".into()).await.unwrap();
    contract_error(r, 405, "method_not_allowed").await;
    let r = app
        .client
        .put(app.url(&format!("/v1/escalations/{id}")))
        .send()
        .await
        .unwrap();
    contract_error(r, 405, "method_not_allowed").await;
    // The Slack surface answers in the same shape.
    let r = app
        .client
        .post(app.url("/slack/interactions"))
        .body("x".repeat(300 * 1024))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let body: Value = r.json().await.expect("JSON error");
    assert!(body["error"]["code"].is_string());
}

#[tokio::test]
async fn a_used_link_says_so_before_complaining_about_the_form() {
    use countersign::domain::{EscalationId, ReviewerId};
    use countersign::signing::links::{LinkAction, LinkClaims, LinkKeys};
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.single").await;
    let claims = LinkClaims {
        escalation: EscalationId(id.clone()),
        revision: 1,
        stage: 0,
        reviewer: ReviewerId("bob".into()),
        action: LinkAction::Approve,
        round: 1,
        issued_at_ms: None,
        expires_at_ms: i64::MAX,
    };
    let token = LinkKeys::new("test-link-secret-test-link-secret-0123456789", []).sign(&claims);
    app.approve(&id, "bob").await;
    // No form Content-Type: the link's standing (already used) decides the answer.
    let r = app
        .client
        .post(app.url(&format!("/links/{token}")))
        .body("comment=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("already"));
}
