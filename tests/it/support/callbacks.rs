//! A real HTTP callback receiver that verifies Standard Webhooks signatures with the
//! reference `standardwebhooks` crate (not our own code), and can fail on purpose.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Received {
    pub webhook_id: String,
    pub verified: bool,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// Statuses to answer before answering 204, one per request.
    failures: VecDeque<StatusCode>,
    /// Requests to leave unanswered (until the sender gives up or dies), before the failures.
    holds: usize,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub async fn start(secret: &str) -> Self {
        let webhook = Arc::new(standardwebhooks::Webhook::new(secret).expect("secret"));
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state((webhook, inner.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// The next `n` requests are answered with `status`.
    pub fn fail_next(&self, n: usize, status: StatusCode) {
        let mut inner = self.inner.lock().unwrap();
        inner.failures.extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` requests are recorded and never answered: the sender's attempt hangs
    /// until its deadline, or until the sender dies and its connection closes.
    pub fn hold_next(&self, n: usize) {
        self.inner.lock().unwrap().holds += n;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }
}

type Shared = (Arc<standardwebhooks::Webhook>, Arc<Mutex<Inner>>);

async fn receive(
    State((webhook, inner)): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let verified = webhook.verify(&body, &headers).is_ok();
    // The lock is let go before a held request waits (a guard may not cross an await).
    let answer = {
        let mut inner = inner.lock().unwrap();
        inner.received.push(Received {
            webhook_id: headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            verified,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        if !verified {
            return StatusCode::UNAUTHORIZED;
        }
        if inner.holds > 0 {
            inner.holds -= 1;
            None
        } else {
            inner.failures.pop_front().or(Some(StatusCode::NO_CONTENT))
        }
    };
    match answer {
        Some(status) => status,
        None => std::future::pending().await,
    }
}
