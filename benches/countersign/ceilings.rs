//! The machine's own ceilings, measured in the same run: how many one-row transactions
//! SQLite commits per second with the production pragmas, and how fast the same axum
//! stack answers a trivial route over loopback.

use crate::load::{self, Run};
use crate::stack::{self, Peers};
use std::sync::Arc;
use std::time::Duration;

/// Commits `n` transactions of one ~2 KiB row each (the size of an escalation row),
/// `BEGIN IMMEDIATE … COMMIT`, with the production pragmas (WAL, synchronous=FULL) and sqlx.
/// Each commit's latency is the disk's fsync as the service sees it: its tail bounds
/// the tail of every durable answer.
pub async fn sqlite(dir: &std::path::Path, n: usize, concurrency: usize) -> Run {
    let path = dir.join(format!("ceiling-{concurrency}.db"));
    // The store keeps its connections private: the same pragmas on a pool of one.
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
    let store = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS ceiling (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT",
    )
    .execute(&store)
    .await
    .expect("create");
    let body: Arc<str> = "x".repeat(2048).into();
    load::closed(concurrency, n, Duration::from_secs(120), move |_| {
        let (store, body) = (store.clone(), body.clone());
        async move {
            let mut tx = store.begin_with("BEGIN IMMEDIATE").await.expect("begin");
            sqlx::query("INSERT INTO ceiling (body) VALUES (?)")
                .bind(&*body)
                .execute(&mut *tx)
                .await
                .expect("insert");
            tx.commit().await.is_ok()
        }
    })
    .await
}

/// `GET /healthz` on the real app: routing, layers and JSON of the production stack, no
/// database. Measured with the same load generator and connection reuse as intake.
pub async fn http(dir: &std::path::Path, concurrency: usize, n: usize) -> Run {
    let built = stack::build(
        &dir.join(format!("http-{concurrency}.db")),
        &Peers::default(),
        Arc::new(countersign::clock::SystemClock),
    )
    .await;
    let server = built.start();
    let client = stack::client();
    let url = server.url("/healthz");
    let run = load::closed(concurrency, n, Duration::from_secs(60), move |_| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            match client.get(&url).send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await;
    server.stop().await;
    run
}
