//! Run sizes, read from `CS_BENCH_*` environment variables so a quick smoke run is one variable away.

use std::time::Duration;

/// How big each measurement is. Defaults are the sizes; `CS_BENCH_QUICK=1`
/// shrinks everything so the whole harness runs in well under a minute.
#[derive(Debug, Clone)]
pub struct Settings {
    pub quick: bool,
    /// Transactions for the raw SQLite ceiling.
    pub ceiling_sqlite_tx: usize,
    /// Requests per concurrency level for the HTTP ceiling.
    pub ceiling_http_requests: usize,
    /// Requests per concurrency level for intake.
    pub intake_requests: usize,
    /// How long the fixed-rate (open loop) intake run lasts.
    pub open_loop: Duration,
    /// Its rate; by default half the best closed-loop rate measured just before.
    pub open_rate: Option<f64>,
    /// Deciding votes measured per concurrency level.
    pub votes: usize,
    /// Rounds of 64 concurrent Slack clicks.
    pub slack_rounds: usize,
    /// Escalations whose timeout falls in the same second.
    pub timers: usize,
    /// Escalations stored for the idle-CPU and memory measurements.
    pub idle_rows: usize,
    /// How long idle CPU is sampled.
    pub idle_window: Duration,
    /// Escalations stored before the growth measurement.
    pub growth_rows: usize,
    /// Decided escalations seeded for the analytics report.
    pub analytics_rows: usize,
    /// Only these sections run (comma-separated names); empty means all.
    pub only: Vec<String>,
    /// Where the report goes.
    pub out: std::path::PathBuf,
}

impl Settings {
    pub fn from_env() -> Self {
        let quick = env_bool("CS_BENCH_QUICK");
        let pick = |full: usize, small: usize| if quick { small } else { full };
        Self {
            quick,
            ceiling_sqlite_tx: env_usize("CS_BENCH_CEILING_TX", pick(20_000, 500)),
            ceiling_http_requests: env_usize("CS_BENCH_CEILING_HTTP", pick(40_000, 2_000)),
            intake_requests: env_usize("CS_BENCH_INTAKE", pick(20_000, 400)),
            open_loop: Duration::from_secs(env_usize("CS_BENCH_OPEN_SECS", pick(10, 2)) as u64),
            open_rate: std::env::var("CS_BENCH_OPEN_RATE")
                .ok()
                .and_then(|v| v.parse().ok()),
            votes: env_usize("CS_BENCH_VOTES", pick(2_000, 200)),
            slack_rounds: env_usize("CS_BENCH_SLACK_ROUNDS", pick(20, 2)),
            timers: env_usize("CS_BENCH_TIMERS", pick(10_000, 1_000)),
            idle_rows: env_usize("CS_BENCH_IDLE_ROWS", pick(100_000, 5_000)),
            idle_window: Duration::from_secs(env_usize("CS_BENCH_IDLE_SECS", pick(10, 2)) as u64),
            growth_rows: env_usize("CS_BENCH_GROWTH_ROWS", pick(1_000_000, 20_000)),
            analytics_rows: env_usize("CS_BENCH_ANALYTICS_ROWS", pick(1_000_000, 20_000)),
            only: std::env::var("CS_BENCH_ONLY")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            out: std::env::var_os("CS_BENCH_OUT").map_or_else(
                || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md"),
                Into::into,
            ),
        }
    }

    pub fn runs(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn env_bool(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}
