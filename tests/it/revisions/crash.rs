//! kill -9 in the middle of the cycle: the changes_requested callback is in flight
//! when the process dies; after a restart it goes out again under the same webhook-id
//! and is answered once, and the cycle carries on on the restarted process.

use super::*;
use crate::support::eventually;
use crate::support::process::{Server, write_config};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// (webhook-id, type, signature verified, answered)
type Log = Arc<Mutex<Vec<(String, String, bool, bool)>>>;

#[derive(Clone)]
struct Hook {
    hang: Arc<AtomicBool>,
    log: Log,
    webhook: Arc<standardwebhooks::Webhook>,
}

async fn receive(State(h): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let verified = h.webhook.verify(&body, &headers).is_ok();
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let kind = serde_json::from_slice::<Value>(&body).unwrap_or_default()["type"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let hang = h.hang.load(Ordering::SeqCst);
    h.log.lock().unwrap().push((id, kind, verified, !hang));
    if hang {
        std::future::pending::<()>().await;
    }
    StatusCode::NO_CONTENT
}

fn answered(log: &Log, kind: &str) -> Vec<String> {
    let log = log.lock().unwrap();
    log.iter()
        .filter(|(_, k, _, done)| k == kind && *done)
        .map(|(id, ..)| id.clone())
        .collect()
}

#[tokio::test]
async fn a_kill_during_the_cycle_still_delivers_changes_requested_once() {
    let hook = Hook {
        hang: Arc::new(AtomicBool::new(true)),
        log: Log::default(),
        webhook: Arc::new(standardwebhooks::Webhook::new(AGENT_SECRET).unwrap()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/hooks", post(receive))
        .with_state(hook.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = tempfile::tempdir().unwrap();
    let (config, _db) = write_config(dir.path(), &config().agent(|a| a.callback_url(&url))).await;
    let server = Server::start(&config).await;
    let client = crate::support::client();
    let id = server.escalate_id(&client, request("v1", 6)).await;
    let r = client
        .post(format!("{}/v1/escalations/{id}/votes", server.base))
        .bearer_auth("bob-key")
        .json(&json!({"decision": "request_changes", "comment": "fewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually(Duration::from_secs(10), || async {
        (!hook.log.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    server.signal("KILL");
    server.wait();

    hook.hang.store(false, Ordering::SeqCst);
    let server = Server::start(&config).await;
    eventually(Duration::from_secs(10), || async {
        (!answered(&hook.log, "escalation.changes_requested").is_empty()).then_some(())
    })
    .await;
    // The cycle goes on: revise and approve on the restarted process.
    let r = client
        .post(format!("{}/v1/escalations/{id}/revisions", server.base))
        .bearer_auth(AGENT_KEY)
        .json(&request("v2", 4))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(format!("{}/v1/escalations/{id}/votes", server.base))
        .bearer_auth("carol-key")
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Callbacks of one escalation go in order: once the decision is answered, every
    // attempt at changes_requested is over.
    eventually(Duration::from_secs(10), || async {
        (!answered(&hook.log, "escalation.decided").is_empty()).then_some(())
    })
    .await;
    let log = hook.log.lock().unwrap().clone();
    assert!(log.iter().all(|(_, _, verified, _)| *verified), "{log:?}");
    let changes: Vec<_> = log
        .iter()
        .filter(|(_, k, ..)| k == "escalation.changes_requested")
        .collect();
    assert_eq!(changes.len(), 2, "the lost attempt and its retry: {log:?}");
    assert_eq!(
        changes[0].0, changes[1].0,
        "one webhook-id across the crash"
    );
    assert_eq!(answered(&hook.log, "escalation.changes_requested").len(), 1);
    assert_eq!(answered(&hook.log, "escalation.decided").len(), 1);
}
