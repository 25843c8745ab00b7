//! The same service on PostgreSQL: a throwaway cluster of this run's own (durable: fsync
//! and synchronous commit as PostgreSQL ships them), PostgreSQL's own one-row-commit
//! ceiling, intake on one and on two replicas sharing the database, the Slack click, and
//! the timer burst.

use crate::load::Run;
use crate::pg_cluster::Cluster;
use crate::settings::Settings;
use crate::stack::{self, Peer, Peers, Server};
use crate::timers::{self, TimerFigures};
use crate::{ceilings, intake, progress, slack};
use countersign::clock::SystemClock;
use sqlx::Connection;
use std::sync::Arc;
use std::time::Duration;

/// What this run's cluster changes from PostgreSQL's defaults: room for the ceiling's 64
/// committers beside two replicas' pools. Nothing about durability.
const CLUSTER_SETTINGS: &[(&str, &str)] = &[("max_connections", "200")];

/// The settings the report names, as the running server reports them.
const SHOWN: &[&str] = &[
    "server_version",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_sync_method",
    "commit_delay",
    "shared_buffers",
    "max_connections",
];

/// Concurrent committers of the ceiling; intake runs at the last two.
pub const CEILING_COMMITTERS: [usize; 3] = [1, 16, 64];
pub const INTAKE_CONCURRENCY: [usize; 2] = [16, 64];

#[derive(Default)]
pub struct PgFigures {
    /// `SHOW name` for each of [`SHOWN`].
    pub settings: Vec<(String, String)>,
    /// (committers, run) of the one-row-commit ceiling.
    pub ceiling: Vec<(usize, Run)>,
    /// (replicas, concurrency, run) of intake.
    pub intake: Vec<(usize, usize, Run)>,
    pub slack: Option<Result<Run, String>>,
    pub timers: Vec<TimerFigures>,
}

impl PgFigures {
    /// The ceiling's rate at this many committers.
    pub fn ceiling_at(&self, committers: usize) -> Option<f64> {
        self.ceiling
            .iter()
            .find(|(c, _)| *c == committers)
            .map(|(_, r)| r.rate())
    }
}

pub async fn run(s: &Settings) -> PgFigures {
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(CLUSTER_SETTINGS))
        .await
        .expect("cluster start");
    // Creating a database waits until the server accepts connections.
    let url = cluster.create_database().await;
    let mut f = PgFigures {
        settings: shown(&cluster).await,
        ..PgFigures::default()
    };
    progress(&format!(
        "postgres: {}",
        f.settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    ));

    for c in CEILING_COMMITTERS {
        let run = ceilings::postgres(&url, c, s.ceiling_sqlite_tx).await;
        progress(&format!(
            "postgres ceiling c{c}: {:.0} rows/s, commit p50 {:.2} ms p99 {:.2} ms",
            run.rate(),
            run.stats().p50,
            run.stats().p99
        ));
        f.ceiling.push((c, run));
    }

    // One peer for the section: its Slack fake must hold only this section's messages.
    let peer = Peer::start().await;
    let callbacks = Peers {
        callback_url: Some(peer.callback_url()),
        slack_api: None,
    };
    for replicas in [1, 2] {
        let servers = replicas_on(&cluster.create_database().await, &callbacks, replicas).await;
        for c in INTAKE_CONCURRENCY {
            let prefix = format!("pg{replicas}-c{c}-");
            let run = intake::closed_on(&servers, c, s.intake_requests, &prefix).await;
            progress(&format!(
                "postgres intake {replicas} replica(s) c{c}: {:.0}/s p99 {:.1} ms errors {}",
                run.rate(),
                run.stats().p99,
                run.errors
            ));
            f.intake.push((replicas, c, run));
        }
        for server in servers {
            server.stop().await;
        }
    }

    let with_slack = Peers {
        slack_api: Some(peer.slack_api()),
        ..callbacks
    };
    let server = replicas_on(&cluster.create_database().await, &with_slack, 1)
        .await
        .remove(0);
    let result = slack::clicks(&server, &peer, s.slack_rounds).await;
    progress(&format!(
        "postgres slack: {:?}",
        result.as_ref().map(|r| r.stats().p99)
    ));
    f.slack = Some(result);
    server.stop().await;

    for replicas in [1, 2] {
        let url = cluster.create_database().await;
        let t = timers::burst(&url, &peer, s.timers, Duration::from_secs(1), replicas).await;
        progress(&format!(
            "postgres timers, {replicas} replica(s): max lag {:.3} s, last fired {:.3} s after the first due",
            t.max_lag.as_secs_f64(),
            t.span.as_secs_f64()
        ));
        f.timers.push(t);
    }
    // Dropping the cluster shuts it down and removes its directory.
    drop(cluster);
    f
}

/// `replicas` servers on the database `url`, in this process, each with its own pool,
/// workers and LISTEN connection: what separate processes would share is only the
/// database (each store has its own lease owner name, as separate processes would).
async fn replicas_on(url: &str, peers: &Peers, replicas: usize) -> Vec<Server> {
    let mut servers = Vec::new();
    for _ in 0..replicas {
        let built = stack::build_on(url, peers, Arc::new(SystemClock)).await;
        servers.push(built.start());
    }
    servers
}

async fn shown(cluster: &Cluster) -> Vec<(String, String)> {
    let mut conn = sqlx::PgConnection::connect(&cluster.url("postgres"))
        .await
        .expect("connect to the bench cluster");
    let mut out = Vec::new();
    for name in SHOWN {
        let value: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {name}")))
            .fetch_one(&mut conn)
            .await
            .expect("SHOW");
        out.push(((*name).to_owned(), value));
    }
    let _ = conn.close().await;
    out
}
