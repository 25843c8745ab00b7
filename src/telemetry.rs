//! Logs (tracing) and metrics (Prometheus), installed once per process.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Time from arrival to decision, by workflow: a histogram, so Prometheus can take quantiles.
pub const DECISION_SECONDS: &str = "countersign_decision_seconds";

/// Buckets for human review: 30 s to 7 days.
pub const DECISION_BUCKETS: &[f64] = &[
    30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0, 28_800.0, 86_400.0, 172_800.0,
    604_800.0,
];

/// The process-wide Prometheus recorder; installed on first use, so several
/// in-process servers (tests) share it instead of fighting over the global.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DECISION_SECONDS.to_owned()), DECISION_BUCKETS)
            .expect("the decision buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        handle
    })
}

/// Structured logs to stderr; `RUST_LOG` filters, `COUNTERSIGN_LOG_FORMAT=json` for JSON lines.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,sqlx=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let json = std::env::var("COUNTERSIGN_LOG_FORMAT").is_ok_and(|v| v == "json");
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Appends the database gauges to a Prometheus text exposition. They are kept per store,
/// not in the global recorder, so each server shows its own database's counts.
pub fn render_gauges(out: &mut String, g: &crate::store::Gauges) {
    use std::fmt::Write;
    let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let one = |v: f64| [(String::new(), v)];
    gauge(
        "countersign_outbox_depth",
        "Outbox items not yet delivered or given up.",
        &one(g.outbox_depth as f64),
    );
    gauge(
        "countersign_timers_armed",
        "Timers waiting to fire.",
        &one(g.timers_armed as f64),
    );
    gauge(
        "countersign_timer_overdue_seconds",
        "How late the most overdue timer is.",
        &one(g.timer_overdue_seconds),
    );
    let by_status: Vec<(String, f64)> = g
        .escalations
        .iter()
        .map(|(status, n)| (format!("{{status=\"{status}\"}}"), *n as f64))
        .collect();
    gauge(
        "countersign_escalations",
        "Escalations by status.",
        &by_status,
    );
    let open: Vec<(String, f64)> = g
        .alerts_open
        .iter()
        .map(|(kind, n)| (format!("{{kind=\"{kind}\"}}"), *n as f64))
        .collect();
    gauge("countersign_alerts_open", "Open alerts by kind.", &open);
}
