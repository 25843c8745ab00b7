//! Growth: intake rate with N escalations already stored versus an empty database,
//! measured back to back the same way (closed loop, concurrency 16).

use crate::load::Run;
use crate::seed::{self, Plan};
use crate::stack::{self, Peer, Peers};
use countersign::clock::{Clock, SystemClock};
use std::sync::Arc;
use std::time::Duration;

pub const CONCURRENCY: usize = 16;

pub struct GrowthFigures {
    pub rows: usize,
    pub seed_time: Duration,
    pub db_bytes: u64,
    pub empty: Run,
    pub full: Run,
}

pub async fn run(
    dir: &std::path::Path,
    peer: &Peer,
    rows: usize,
    requests: usize,
) -> GrowthFigures {
    let peers = Peers {
        callback_url: Some(peer.callback_url()),
        slack_api: None,
    };
    let empty = {
        let server = stack::build(&dir.join("growth-empty.db"), &peers, Arc::new(SystemClock))
            .await
            .start();
        let run = crate::intake::closed(&server, CONCURRENCY, requests, "empty-").await;
        server.stop().await;
        run
    };
    let db = dir.join("growth-full.db");
    let built = stack::build(&db, &peers, Arc::new(SystemClock)).await;
    // A realistic history: nine in ten decided long ago (vote, decision, delivered
    // callback), one in ten still pending with its three timers armed.
    let seed_time = seed::seed(
        &built.service,
        &Plan {
            count: rows,
            pending_every: 10,
            deadline: None,
            spread: Duration::ZERO,
            now: SystemClock.now() - chrono::Duration::minutes(1),
            per_tx: 10_000,
            key_prefix: "hist-".into(),
        },
    )
    .await;
    let db_bytes = std::fs::metadata(&db).map_or(0, |m| m.len());
    let server = built.start();
    let full = crate::intake::closed(&server, CONCURRENCY, requests, "full-").await;
    server.stop().await;
    GrowthFigures {
        rows,
        seed_time,
        db_bytes,
        empty,
        full,
    }
}
