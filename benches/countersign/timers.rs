//! Timers: N escalations whose timeouts fall due within one second (and, as a stress
//! case, all on the same millisecond); how long any of them waits past its due time
//! before its tick is committed.

use crate::load::Stats;
use crate::seed::{self, Plan};
use crate::stack::{self, OffsetClock, Peer, Peers};
use countersign::clock::Clock;
use countersign::store::db::{self, Pool};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct TimerFigures {
    pub count: usize,
    /// Servers sharing the database (and the work), each with its own workers.
    pub replicas: usize,
    /// Over how long the due times are spread (zero: all on one instant).
    pub spread: Duration,
    /// The longest any timer was overdue and not yet committed, observed by polling.
    pub max_lag: Duration,
    /// From the first due time to the last tick committed.
    pub span: Duration,
    /// Per escalation, `decided_at − due` as the engine recorded it (batch start time).
    pub recorded: Stats,
    pub expired: i64,
    pub seed_time: Duration,
}

/// The burst on the database `url` (fresh), served by `replicas` servers sharing it.
pub async fn burst(
    url: &str,
    peer: &Peer,
    n: usize,
    spread: Duration,
    replicas: usize,
) -> TimerFigures {
    let clock = Arc::new(OffsetClock::default());
    let peers = Peers {
        callback_url: Some(peer.callback_url()),
        slack_api: None,
    };
    let built = stack::build_on(url, &peers, clock.clone()).await;
    let now = clock.now();
    let first_due = now + chrono::Duration::seconds(60);
    let seed_time = seed::seed(
        &built.service,
        &Plan {
            count: n,
            pending_every: 1,
            deadline: Some(first_due),
            spread,
            now,
            per_tx: 5_000,
            key_prefix: "timer-".into(),
        },
    )
    .await;
    // Start the server 2 s before the first timeout falls due.
    let offset = (first_due - chrono::Duration::seconds(2)) - chrono::Utc::now();
    clock.set(offset);
    // The other replicas are built (so their migrations have run and their listeners
    // are up) before any of them starts serving.
    let mut others = Vec::new();
    for _ in 1..replicas {
        others.push(stack::build_on(url, &peers, clock.clone()).await);
    }
    let servers: Vec<_> = std::iter::once(built)
        .chain(others)
        .map(|b| b.start())
        .collect();
    let pool = stack::own_pool(&servers[0].service).await;
    let first_due_at = Instant::now() + (first_due - clock.now()).to_std().unwrap_or_default();
    let last_due_ms =
        (first_due + chrono::Duration::from_std(spread).unwrap_or_default()).timestamp_millis();

    // Every 5 ms: the oldest timer that is due (by the server's clock) but not yet
    // fired. Its age is how long the worker is behind; the largest age seen is the
    // figure. One MIN over the `timers_due` index: the observer must not steal the CPU
    // it is measuring.
    let mut max_lag = Duration::ZERO;
    let limit = first_due_at + spread + Duration::from_secs(300);
    let last = loop {
        let now_ms = clock.now().timestamp_millis();
        let oldest: Option<i64> =
            db::query_scalar("SELECT MIN(due_at) FROM timers WHERE due_at <= ? AND due_at <= ?")
                .bind(now_ms)
                .bind(last_due_ms)
                .fetch_one(&pool)
                .await
                .expect("poll");
        let t = Instant::now();
        if let Some(due) = oldest {
            max_lag = max_lag.max(Duration::from_millis((now_ms - due).max(0) as u64));
        } else if now_ms > last_due_ms {
            break t;
        }
        if t > limit {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let recorded = recorded_lags(&pool).await;
    let expired: i64 =
        db::query_scalar("SELECT COUNT(*) FROM escalations WHERE status = 'expired'")
            .fetch_one(&pool)
            .await
            .expect("expired");
    pool.close().await;
    for server in servers {
        server.stop().await;
    }
    TimerFigures {
        count: n,
        replicas,
        spread,
        max_lag,
        span: last.saturating_duration_since(first_due_at),
        recorded,
        expired,
        seed_time,
    }
}

/// `decided_at − expires_at` for every expired escalation, in ms. The state is read whole
/// and its `expires_at` picked here, so one statement serves both backends.
async fn recorded_lags(pool: &Pool) -> Stats {
    let rows: Vec<(i64, String)> =
        db::query_as("SELECT decided_at, state FROM escalations WHERE status = 'expired'")
            .fetch_all(pool)
            .await
            .expect("lags");
    let lags: Vec<Duration> = rows
        .into_iter()
        .filter_map(|(decided, state)| {
            let state: serde_json::Value = serde_json::from_str(&state).ok()?;
            let expires =
                chrono::DateTime::parse_from_rfc3339(state["expires_at"].as_str()?).ok()?;
            Some(Duration::from_millis(
                (decided - expires.timestamp_millis()).max(0) as u64,
            ))
        })
        .collect();
    Stats::of(&lags)
}
