//! Agent-facing throughput and latency: `POST /v1/escalations` closed loop at several
//! concurrencies and open loop at a fixed rate, and the deciding vote.

use crate::load::{self, Run};
use crate::stack::{self, AGENT_KEY, Server, intake_body};
use axum::body::Bytes;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Pre-serialized intake bodies, so the load generator spends its CPU on HTTP, not JSON.
pub fn bodies(n: usize) -> Arc<Vec<Bytes>> {
    Arc::new(
        (0..n)
            .map(|i| Bytes::from(serde_json::to_vec(&intake_body(i, None)).expect("json")))
            .collect(),
    )
}

/// Where a sender records the id of every escalation acknowledged with 201.
pub type Acked = Arc<Mutex<Vec<String>>>;

/// A sender for request `i` to the server at `base`: a new escalation with idempotency
/// key `{prefix}{i}`; 201 is success. With `acked`, each acknowledged id is recorded.
pub fn sender(
    base: &str,
    prefix: &str,
    bodies: Arc<Vec<Bytes>>,
    acked: Option<Acked>,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync + 'static
{
    let client = stack::client();
    let url = format!("{base}/v1/escalations");
    let prefix = prefix.to_owned();
    move |i| {
        let req = client
            .post(&url)
            .bearer_auth(AGENT_KEY)
            .header("content-type", "application/json")
            .header("idempotency-key", format!("{prefix}{i}"))
            .body(bodies[i % bodies.len()].clone());
        let acked = acked.clone();
        Box::pin(async move {
            let Ok(r) = req.send().await else {
                return false;
            };
            if r.status() != reqwest::StatusCode::CREATED {
                return false;
            }
            let Some(acked) = acked else {
                return r.bytes().await.is_ok();
            };
            let Ok(doc) = r.json::<serde_json::Value>().await else {
                return false;
            };
            if let Some(id) = doc["id"].as_str() {
                acked.lock().expect("lock").push(id.to_owned());
            }
            true
        })
    }
}

pub async fn closed(server: &Server, concurrency: usize, n: usize, prefix: &str) -> Run {
    closed_on(std::slice::from_ref(server), concurrency, n, prefix).await
}

/// The closed loop against several servers sharing one database: request `i` goes to
/// server `i mod len`, round robin, as a load balancer in front of replicas spreads them.
pub async fn closed_on(servers: &[Server], concurrency: usize, n: usize, prefix: &str) -> Run {
    let bodies = bodies(n.min(10_000));
    let senders: Vec<_> = servers
        .iter()
        .map(|s| sender(&s.base, prefix, bodies.clone(), None))
        .collect();
    load::closed(concurrency, n, Duration::from_secs(120), move |i| {
        senders[i % senders.len()](i)
    })
    .await
}

/// A fixed arrival rate for `duration`; latency from each request's due time.
pub async fn open(server: &Server, rate: f64, duration: Duration, prefix: &str) -> Run {
    let n = (rate * duration.as_secs_f64()) as usize + 1;
    let send = sender(&server.base, prefix, bodies(n.min(10_000)), None);
    load::open(rate, duration, 1024, send).await
}

/// The vote that decides: bob approves pending escalations (one approval completes the
/// only stage), so each vote commits the decision, its audit events and the callback's
/// outbox row in one transaction; the outbox worker then calls the agent back.
pub async fn votes(server: &Server, concurrency: usize, n: usize) -> Run {
    let db = stack::own_db(&server.service).await;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM escalations WHERE status = 'pending' ORDER BY id DESC LIMIT ?",
    )
    .bind(n as i64)
    .fetch_all(&db)
    .await
    .expect("pending ids");
    assert_eq!(ids.len(), n, "not enough pending escalations to vote on");
    let ids = Arc::new(ids);
    let client = stack::client();
    let base = server.base.clone();
    load::closed(concurrency, n, Duration::from_secs(120), move |i| {
        let req = client
            .post(format!("{base}/v1/escalations/{}/votes", ids[i]))
            .bearer_auth("bob-key")
            .header("content-type", "application/json")
            .body(r#"{"decision": "approve", "comment": "Looks good", "conditions": ["Canary rollout required"]}"#);
        async move {
            match req.send().await {
                Ok(r) => {
                    let ok = r.status().is_success();
                    let body: serde_json::Value = r.json().await.unwrap_or_default();
                    ok && body["status"] == "approved"
                }
                Err(_) => false,
            }
        }
    })
    .await
}
