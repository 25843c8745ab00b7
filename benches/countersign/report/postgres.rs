//! The PostgreSQL part of the report: the cluster's settings, its own one-row-commit
//! ceiling, and the service's figures on it beside the SQLite figures of the same run.

use super::{Figures, counted, head, ms, pct, secs, summary, timing};
use crate::load::Run;
use crate::postgres::PgFigures;
use std::fmt::Write;

/// Rows for the ratios-and-targets table: the same targets as on SQLite.
pub fn ratios(mut row: impl FnMut(&str, String, &str, Option<bool>), pg: &PgFigures) {
    for (replicas, c, run) in &pg.intake {
        if let Some(ceil) = pg.ceiling_at(*c) {
            row(
                &format!(
                    "PostgreSQL, {}: intake at concurrency {c} ÷ PostgreSQL one-row commit ceiling at {c} committers",
                    replicas_text(*replicas)
                ),
                pct(run.rate() / ceil),
                "",
                None,
            );
        }
    }
    if let Some(Ok(run)) = &pg.slack {
        let st = run.stats();
        row(
            "PostgreSQL: Slack click → HTTP answer p99, 64 concurrent",
            ms(st.p99),
            "< 100 ms",
            Some(st.p99 < 100.0 && run.errors == 0),
        );
    }
    for t in &pg.timers {
        row(
            &format!(
                "PostgreSQL, {}: {} timeouts due within the same second, longest any waited past due",
                replicas_text(t.replicas),
                t.count
            ),
            secs(t.max_lag),
            "≤ 1 s",
            Some(t.max_lag.as_secs_f64() <= 1.0 && t.expired as usize == t.count),
        );
    }
}

pub fn details(o: &mut String, f: &Figures, pg: &PgFigures) {
    let _ = writeln!(o, "### PostgreSQL\n");
    let settings: Vec<String> = pg
        .settings
        .iter()
        .map(|(k, v)| format!("`{k}={v}`"))
        .collect();
    let _ = writeln!(
        o,
        "A throwaway cluster started for this run (initdb in a temp dir on the same disk as the SQLite files, TCP on loopback), PostgreSQL's defaults but for `max_connections`: {}. Replicas are servers in this process on the same database, each with its own pool (16 connections), workers and LISTEN connection (but one lease owner name, the process's); the load generator sends request *i* to replica *i* mod *N*.\n",
        settings.join(", ")
    );
    head(o, &["ceiling", "committers", "rate", "p50", "p99", "max"]);
    for (c, run) in &pg.ceiling {
        let _ = writeln!(
            o,
            "| PostgreSQL through sqlx, one connection per committer, prepared `BEGIN; INSERT; COMMIT`, one {}-byte row each (uncompressed) | {c} | {} |",
            crate::ceilings::ROW_BYTES,
            timing(run, " rows/s")
        );
    }
    let _ = writeln!(o);
    service(o, f, pg);
    timers(o, f, pg);
}

/// Intake and the Slack click on PostgreSQL, each beside its SQLite figure of this run.
fn service(o: &mut String, f: &Figures, pg: &PgFigures) {
    head(
        o,
        &[
            "PostgreSQL",
            "replicas",
            "concurrency",
            "requests",
            "rate",
            "p50",
            "p99",
            "max",
            "errors",
            "÷ PostgreSQL ceiling at as many committers",
            "SQLite, this run: rate, p99",
        ],
    );
    for (replicas, c, run) in &pg.intake {
        let ratio = pg
            .ceiling_at(*c)
            .map_or("—".into(), |ceil| pct(run.rate() / ceil));
        let _ = writeln!(
            o,
            "| intake `POST /v1/escalations` | {replicas} | {c} | {} | {ratio} | {} |",
            counted(run),
            beside(f.intake_at(*c))
        );
    }
    match &pg.slack {
        Some(Ok(run)) => {
            let sqlite = match &f.slack {
                Some(Ok(r)) => Some(r),
                _ => None,
            };
            let _ = writeln!(
                o,
                "| Slack click → HTTP answer | 1 | {} | {} | — | {} |",
                crate::slack::CONCURRENCY,
                counted(run),
                beside(sqlite)
            );
        }
        Some(Err(why)) => {
            let _ = writeln!(
                o,
                "| Slack click → HTTP answer | 1 | {} | not measured: {why} | | | | | | — | — |",
                crate::slack::CONCURRENCY
            );
        }
        None => {}
    }
    let _ = writeln!(o);
    if let Some(Ok(run)) = &pg.slack {
        let _ = writeln!(
            o,
            "Slack clicks on PostgreSQL: {}; every click approved its escalation (checked afterwards).\n",
            summary(run)
        );
    }
}

fn timers(o: &mut String, f: &Figures, pg: &PgFigures) {
    if pg.timers.is_empty() {
        return;
    }
    head(
        o,
        &[
            "PostgreSQL timeouts",
            "due within",
            "replicas",
            "longest overdue",
            "first due → last committed",
            "expired",
            "engine-recorded `decided_at − due` p50 / p99 / max",
            "seeded in",
            "SQLite, this run: longest overdue",
        ],
    );
    let sqlite = f
        .timers
        .iter()
        .find(|t| !t.spread.is_zero())
        .map_or("—".into(), |t| secs(t.max_lag));
    for t in &pg.timers {
        let r = t.recorded;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} / {} / {} | {:.1} s | {sqlite} |",
            t.count,
            secs(t.spread),
            t.replicas,
            secs(t.max_lag),
            secs(t.span),
            t.expired,
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            t.seed_time.as_secs_f64()
        );
    }
    let _ = writeln!(o);
}

/// `rate, p99` of the SQLite run to read a PostgreSQL figure against.
fn beside(run: Option<&Run>) -> String {
    run.map_or("—".into(), |r| {
        format!("{:.0}/s, {}", r.rate(), ms(r.stats().p99))
    })
}

fn replicas_text(n: usize) -> String {
    if n == 1 {
        "one replica".into()
    } else {
        format!("{n} replicas")
    }
}
