//! countersign's benchmark harness: one command measures the machine's ceilings and the
//! service against them in one run, and writes BENCHMARKS.md.
//!
//! `cargo bench --bench countersign` (release profile). Sizes: see `settings.rs`;
//! `CS_BENCH_QUICK=1` for a smoke run, `CS_BENCH_ONLY=intake,timers` for some sections
//! (`analytics` and `postgres` among them).

mod analytics;
mod capi;
mod ceilings;
mod growth;
mod idle;
mod intake;
mod load;
/// The throwaway PostgreSQL cluster, shared with the integration tests' support.
#[path = "../../tests/it/support/pg_cluster.rs"]
mod pg_cluster;
mod postgres;
mod process;
mod report;
mod seed;
mod settings;
mod slack;
mod stack;
mod timers;

use report::Figures;
use settings::Settings;
use stack::{Peer, Peers};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter, so arguments are ignored.
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let figures = runtime.block_on(run(&settings));
    report::write(&settings, &figures).expect("write BENCHMARKS.md");
    eprintln!("bench: wrote {}", settings.out.display());
}

async fn run(s: &Settings) -> Figures {
    let started = Instant::now();
    let mut f = Figures {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        ..Figures::default()
    };
    let mut busy = Busy::default();
    busy.check();
    let mut dir = tempfile::tempdir().expect("temp dir");
    if std::env::var_os("CS_BENCH_KEEP").is_some() {
        // Keep the databases for a look afterwards.
        progress(&format!("keeping {}", dir.path().display()));
        dir.disable_cleanup(true);
    }
    let peer = Peer::start().await;

    if s.runs("ceilings") {
        let run = ceilings::sqlite(dir.path(), s.ceiling_sqlite_tx).await;
        progress(&format!(
            "sqlite ceiling: {:.0} rows/s ({} B rows), commit p50 {:.2} ms p99 {:.2} ms max {:.1} ms",
            run.rate(),
            ceilings::ROW_BYTES,
            run.stats().p50,
            run.stats().p99,
            run.stats().max
        ));
        f.sqlite = Some(run);
        for c in [16, 64] {
            let run = ceilings::http(dir.path(), c, s.ceiling_http_requests).await;
            progress(&format!("http ceiling c{c}: {:.0} req/s", run.rate()));
            f.http.push((c, run));
        }
        busy.check();
    }

    if s.runs("intake") {
        let peers = Peers {
            callback_url: Some(peer.callback_url()),
            slack_api: None,
        };
        let server = stack::build(
            &dir.path().join("intake.db"),
            &peers,
            Arc::new(countersign::clock::SystemClock),
        )
        .await
        .start();
        for c in [1, 16, 64] {
            if s.open_rate.is_some() && c != 64 {
                continue;
            }
            let run = intake::closed(&server, c, s.intake_requests, &format!("c{c}-")).await;
            progress(&format!(
                "intake c{c}: {:.0}/s p99 {:.1} ms errors {}",
                run.rate(),
                run.stats().p99,
                run.errors
            ));
            f.intake.push((c, run));
        }
        let best = f.intake.iter().map(|(_, r)| r.rate()).fold(0.0, f64::max);
        let rate = s.open_rate.unwrap_or((best / 2.0).max(1.0));
        let run = intake::open(&server, rate, s.open_loop, "open-").await;
        progress(&format!(
            "intake open loop {rate:.0}/s: p99 {:.1} ms",
            run.stats().p99
        ));
        if let Ok(path) = std::env::var("CS_BENCH_DUMP") {
            let text: String = run
                .latencies
                .iter()
                .map(|d| format!("{}\n", d.as_micros()))
                .collect();
            let _ = std::fs::write(path, text);
        }
        f.open_loop = Some((rate, run));
        for c in [1, 16] {
            let run = intake::votes(&server, c, s.votes).await;
            progress(&format!(
                "votes c{c}: p99 {:.1} ms errors {}",
                run.stats().p99,
                run.errors
            ));
            f.votes.push((c, run));
        }
        server.stop().await;
        busy.check();
    }

    if s.runs("slack") {
        let peers = Peers {
            callback_url: Some(peer.callback_url()),
            slack_api: Some(peer.slack_api()),
        };
        let server = stack::build(
            &dir.path().join("slack.db"),
            &peers,
            Arc::new(countersign::clock::SystemClock),
        )
        .await
        .start();
        let result = slack::clicks(&server, &peer, s.slack_rounds).await;
        progress(&format!(
            "slack: {:?}",
            result.as_ref().map(|r| r.stats().p99)
        ));
        f.slack = Some(result);
        server.stop().await;
        busy.check();
    }

    if s.runs("timers") {
        // The case (due times spread over one second), then the stress case (all
        // on one millisecond).
        for spread in [Duration::from_secs(1), Duration::ZERO] {
            let db = dir
                .path()
                .join(format!("timers-{}ms.db", spread.as_millis()));
            let t = timers::burst(&stack::sqlite_url(&db), &peer, s.timers, spread, 1).await;
            progress(&format!(
                "timers spread {:?}: max lag {:.3} s, last fired {:.3} s after the first due",
                spread,
                t.max_lag.as_secs_f64(),
                t.span.as_secs_f64()
            ));
            f.timers.push(t);
        }
        busy.check();
    }

    if s.runs("idle") {
        let i = idle::run(dir.path(), &peer, s.idle_rows, s.idle_window).await;
        progress(&format!(
            "idle: {:.3} % cpu, hwm {} KiB, kill -9 {}/{}",
            i.idle_cpu_percent, i.hwm_after_load_kib, i.survived, i.acknowledged
        ));
        f.idle = Some(i);
        busy.check();
    }

    if s.runs("growth") {
        let g = growth::run(dir.path(), &peer, s.growth_rows, s.intake_requests).await;
        progress(&format!(
            "growth: empty {:.0}/s, {} stored {:.0}/s",
            g.empty.rate(),
            g.rows,
            g.full.rate()
        ));
        f.growth = Some(g);
        busy.check();
    }

    if s.runs("analytics") {
        let a = analytics::run(dir.path(), s.analytics_rows).await;
        progress(&format!(
            "analytics: {} decisions seeded in {:.1} s; report cold {:.0} ms, warm {:.0} ms",
            a.rows,
            a.seeding.as_secs_f64(),
            a.cold.as_secs_f64() * 1000.0,
            a.warm.as_secs_f64() * 1000.0
        ));
        f.analytics = Some(a);
        busy.check();
    }

    if s.runs("postgres") {
        f.postgres = Some(postgres::run(s).await);
        busy.check();
    }

    f.busy = busy.seen;
    f.duration = started.elapsed();
    f
}

fn progress(line: &str) {
    eprintln!("bench: {line}");
}

/// Other compilers or benchmarks on the machine, noticed between sections.
#[derive(Default)]
struct Busy {
    seen: Vec<String>,
}

impl Busy {
    fn check(&mut self) {
        let me = std::process::id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if pid == me {
                continue;
            }
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            let comm = comm.trim();
            if matches!(comm, "rustc" | "cc1" | "cc1plus" | "ld" | "clang")
                && !self.seen.iter().any(|s| s.starts_with(comm))
            {
                self.seen.push(format!("{comm} was running"));
            }
        }
    }
}
