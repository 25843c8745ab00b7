//! The real binary as a separate process over a database of N stored escalations: CPU used
//! while idle, peak RSS after a burst of work, and that every acknowledged escalation
//! survives `kill -9`.

use crate::process::Proc;
use crate::seed::{self, Plan};
use crate::stack::{self, Peer, Peers};
use crate::{intake, load};
use countersign::clock::{Clock, SystemClock};
use std::sync::Arc;
use std::time::Duration;

pub struct IdleFigures {
    pub rows: usize,
    pub timers_armed: i64,
    pub seed_time: Duration,
    /// CPU time over the window, as a share of one core.
    pub idle_cpu_percent: f64,
    pub window: Duration,
    pub rss_idle_kib: u64,
    pub hwm_after_load_kib: u64,
    pub load_description: String,
    pub acknowledged: usize,
    pub survived: usize,
}

pub async fn run(dir: &std::path::Path, peer: &Peer, rows: usize, window: Duration) -> IdleFigures {
    let db = dir.join("idle.db");
    let peers = Peers {
        callback_url: Some(peer.callback_url()),
        slack_api: None,
    };
    // Seed through the in-process write path, then close the database.
    let (seed_time, timers_armed) = {
        let built = stack::build(&db, &peers, Arc::new(SystemClock)).await;
        let t = seed::seed(
            &built.service,
            &Plan {
                count: rows,
                pending_every: 1,
                deadline: None,
                spread: Duration::ZERO,
                now: SystemClock.now(),
                per_tx: 5_000,
                key_prefix: "idle-".into(),
            },
        )
        .await;
        let armed = built.service.store.armed_timers().await.expect("count");
        built.service.store.close().await;
        (t, armed)
    };
    let config = dir.join("idle.yml");
    std::fs::write(
        &config,
        stack::config_yaml(&stack::sqlite_url(&db), "127.0.0.1:0", &peers),
    )
    .expect("config");
    let proc = Proc::serve(&config, &dir.join("idle.log")).await;
    // Let start-up settle (migration check, pool warm-up), then measure a quiet window.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = proc.cpu_time();
    tokio::time::sleep(window).await;
    let used = proc.cpu_time() - before;
    let idle_cpu_percent = used.as_secs_f64() / window.as_secs_f64() * 100.0;
    let rss_idle_kib = proc.status_kib("VmRSS");

    // A burst of real work: intake at 64 concurrent, the reviewer's pending list (500
    // full escalations per page), metrics scrapes.
    let intake = load::closed(
        64,
        2_000,
        Duration::from_secs(60),
        intake::sender(&proc.base, "burst-", intake::bodies(1), None),
    )
    .await;
    let client = stack::client();
    for _ in 0..20 {
        if let Ok(r) = client
            .get(format!("{}/v1/reviews/pending", proc.base))
            .bearer_auth("bob-key")
            .send()
            .await
        {
            let _ = r.bytes().await;
        }
        if let Ok(r) = client.get(format!("{}/metrics", proc.base)).send().await {
            let _ = r.bytes().await;
        }
    }
    let hwm_after_load_kib = proc.status_kib("VmHWM");
    let load_description = format!(
        "{} intakes at concurrency 64, 20 × `GET /v1/reviews/pending` (500 escalations each), 20 × `GET /metrics`",
        intake.ok()
    );

    // kill -9 in the middle of intake at concurrency 16; every 201 must be on disk.
    let (acknowledged, survived) = kill9(proc, &db).await;
    IdleFigures {
        rows,
        timers_armed,
        seed_time,
        idle_cpu_percent,
        window,
        rss_idle_kib,
        hwm_after_load_kib,
        load_description,
        acknowledged,
        survived,
    }
}

async fn kill9(proc: Proc, db: &std::path::Path) -> (usize, usize) {
    let acked: intake::Acked = Arc::default();
    let send = intake::sender(&proc.base, "crash-", intake::bodies(1), Some(acked.clone()));
    let load = tokio::spawn(load::closed(16, 1_000_000, Duration::from_secs(10), send));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proc.kill9();
    let _ = load.await;
    let acked = acked.lock().expect("lock").clone();
    let store = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("reopen");
    let mut survived = 0;
    for id in &acked {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM escalations WHERE id = ?")
            .bind(id)
            .fetch_optional(&store)
            .await
            .expect("lookup");
        survived += usize::from(found.is_some());
    }
    (acked.len(), survived)
}
