//! Hostile input: garbage bodies, headers and paths get a 4xx contract error, never a 5xx or a panic.

use crate::support::{AGENT_KEY, TestApp};
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
    let verdict = countersign::store::audit::verify(&app.service.store.pool)
        .await
        .unwrap();
    assert!(matches!(
        verdict,
        countersign::store::audit::Verdict::Intact { .. }
    ));
}
