//! The machine's own ceilings, measured in the same run: how many durable one-row
//! commits SQLite makes per second with the production pragmas (and PostgreSQL with its
//! defaults), and how fast the same axum stack answers a trivial route over loopback.

use crate::capi;
use crate::load::{self, Run};
use crate::stack::{self, Peers};
use sqlx::Connection;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Bytes of TEXT in each ceiling row: about one escalation row.
pub const ROW_BYTES: usize = 2048;

/// The pragmas of the service's writer connection (src/store/mod.rs): WAL, fsync at
/// every commit, foreign keys, a 16 MiB page cache. All but `wal_autocheckpoint = 0`:
/// the service checkpoints on another connection once commits pause, and a loop that
/// never pauses would then never restart its WAL, so every commit would grow the file
/// (37.6 MB after 3,000 commits, against 4.1 MB) and cost more than one that reuses it.
/// SQLite's own checkpoint every 1,000 pages keeps the WAL reused, as in the service.
const WRITER_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
     PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -16384;";

/// The fastest this machine commits one durable row: `n` transactions of
/// `BEGIN IMMEDIATE; INSERT one ROW_BYTES row; COMMIT`, back to back, on ONE connection
/// with prepared statements and the writer's pragmas, on a plain thread — no pool, no
/// async hop. Each commit's latency is the disk's fsync as SQLite sees it: its tail
/// bounds the tail of every durable answer. `dir` is where intake's database lives, so
/// both share a disk.
pub async fn sqlite(dir: &Path, n: usize) -> Run {
    let path = dir.join("ceiling.db");
    tokio::task::spawn_blocking(move || commit_loop(&path, n, Duration::from_secs(120)))
        .await
        .expect("ceiling thread panicked")
        .expect("sqlite ceiling")
}

fn commit_loop(path: &Path, n: usize, limit: Duration) -> Result<Run, String> {
    let conn = capi::Connection::open(path)?;
    conn.execute(WRITER_PRAGMAS)?;
    conn.execute("CREATE TABLE ceiling (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT")?;
    let mut begin = conn.prepare("BEGIN IMMEDIATE")?;
    let mut insert = conn.prepare("INSERT INTO ceiling (body) VALUES (?1)")?;
    let mut commit = conn.prepare("COMMIT")?;
    let body = "x".repeat(ROW_BYTES);
    let mut run = Run {
        latencies: Vec::with_capacity(n),
        ..Run::default()
    };
    let start = Instant::now();
    while run.latencies.len() < n && start.elapsed() < limit {
        let t = Instant::now();
        begin.run()?;
        insert.bind_text(1, &body)?;
        insert.run()?;
        commit.run()?;
        run.latencies.push(t.elapsed());
    }
    run.elapsed = start.elapsed();
    Ok(run)
}

/// PostgreSQL's own ceiling: `committers` connections, each committing
/// `BEGIN; INSERT one ROW_BYTES row; COMMIT` back to back until `n` commits are made in
/// all (or two minutes pass). Through sqlx with prepared statements, as the service talks
/// to it, but no pool. Concurrent commits share WAL flushes, so the rate grows with
/// committers until the disk or the CPU binds; each latency is one whole transaction.
pub async fn postgres(url: &str, committers: usize, n: usize) -> Run {
    let mut admin = sqlx::PgConnection::connect(url)
        .await
        .expect("connect for the PostgreSQL ceiling");
    // PLAIN storage: the row stays in its page uncompressed, as SQLite stores it, rather
    // than TOAST compressing 2 KB of one letter to a few bytes.
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS ceiling;
         CREATE TABLE ceiling (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body TEXT NOT NULL);
         ALTER TABLE ceiling ALTER COLUMN body SET STORAGE PLAIN;",
    )
    .execute(&mut admin)
    .await
    .expect("ceiling table");
    let _ = admin.close().await;
    let next = Arc::new(AtomicUsize::new(0));
    let limit = Duration::from_secs(120);
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..committers {
        let (url, next) = (url.to_owned(), next.clone());
        workers.spawn(async move {
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            let body = "x".repeat(ROW_BYTES);
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n && start.elapsed() < limit {
                let t = Instant::now();
                let mut tx = conn.begin().await?;
                sqlx::query("INSERT INTO ceiling (body) VALUES ($1)")
                    .bind(&body)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                lat.push(t.elapsed());
            }
            Ok::<_, sqlx::Error>(lat)
        });
    }
    let mut run = Run::default();
    while let Some(done) = workers.join_next().await {
        run.latencies.extend(
            done.expect("committer panicked")
                .expect("PostgreSQL ceiling"),
        );
    }
    run.elapsed = start.elapsed();
    run
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
