//! The `countersign` command: serve | check-config | simulate | migrate | audit verify | receipt verify.

mod receipt_verify;
mod simulate;

use anyhow::Context;
use clap::{Parser, Subcommand};
use countersign::app::reload::{Reloader, Source};
use countersign::config::{self, Config, ConfigError, ConfigIssue, Loaded};
use countersign::store::{Store, audit};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "countersign",
    version,
    about = "A human checkpoint in front of high-risk AI-agent actions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. Without --config, runs the embedded demo config.
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[arg(long)]
        database: Option<String>,
    },
    /// Validate a config file: exit 0 when valid (warnings printed), 1 with every error.
    CheckConfig {
        #[arg(long, conflicts_with = "print_example")]
        config: Option<PathBuf>,
        /// Print the embedded, fully commented demo config (a starting point for your own) and exit.
        #[arg(long)]
        print_example: bool,
    },
    /// Show what the config would do with a request (the intake body as JSON): which workflow
    /// matches and why earlier ones do not, who may approve each stage, the timeline, the
    /// channels. Changes nothing.
    Simulate {
        #[arg(long)]
        config: Option<PathBuf>,
        /// The agent sending it; needed when the config has more than one.
        #[arg(long)]
        agent: Option<String>,
        /// Print the JSON `POST /v1/simulate` answers.
        #[arg(long)]
        json: bool,
        request: PathBuf,
    },
    /// Create or upgrade the database schema.
    Migrate {
        #[arg(long, conflicts_with = "database")]
        config: Option<PathBuf>,
        #[arg(long)]
        database: Option<String>,
    },
    /// Print the analytics report (the same as GET /v1/analytics) as tables. Read-only:
    /// safe while `serve` runs.
    Report {
        /// The window: 30m, 24h, 7d, 2w … (at most 366d).
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long, conflicts_with = "database")]
        config: Option<PathBuf>,
        #[arg(long)]
        database: Option<String>,
    },
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Decision receipt tools.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
}

#[derive(Subcommand)]
enum ReceiptCommand {
    /// Check a receipt: exit 0 printing its claims when the signature, `exp` and (with
    /// --payload) the payload hash hold; 1 naming what failed.
    Verify {
        /// The compact JWS (`decision.receipt`), or `-` to read it from stdin.
        token: String,
        /// The JSON payload about to run: its RFC 8785 SHA-256 must be `payload_sha256`.
        #[arg(long)]
        payload: Option<PathBuf>,
        /// A JWK Set: an http(s) URL (`…/.well-known/jwks.json`) or a file. Without it, the
        /// keys of --config / --database (the embedded demo config when neither).
        #[arg(long, conflicts_with_all = ["config", "database"])]
        jwks: Option<String>,
        #[arg(long, conflicts_with = "database")]
        config: Option<PathBuf>,
        #[arg(long)]
        database: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain: exit 0 when intact, 1 naming the first bad event.
    Verify {
        #[arg(long, conflicts_with = "database")]
        config: Option<PathBuf>,
        #[arg(long)]
        database: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    countersign::telemetry::init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            config,
            listen,
            database,
        } => serve(config, listen, database).await,
        Command::CheckConfig {
            print_example: true,
            ..
        } => {
            print!("{}", config::DEMO_YAML);
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { config, .. } => Ok(check_config(config)),
        Command::Simulate {
            config,
            agent,
            json,
            request,
        } => {
            let config = load(config.as_ref())?.config;
            simulate::run(&config, agent.as_deref(), &request, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { config, database } => {
            let store = open(config, database).await?;
            store.migrate().await.context("migrating")?;
            println!("database is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { config, database },
        } => verify(config, database).await,
        Command::Report {
            since,
            config,
            database,
        } => report(&since, config, database).await,
        Command::Receipt {
            command:
                ReceiptCommand::Verify {
                    token,
                    payload,
                    jwks,
                    config,
                    database,
                },
        } => {
            let keys = match jwks {
                Some(source) => receipt_verify::Keys::Jwks(source),
                None => {
                    let mut config = load(config.as_ref())?.config;
                    if let Some(url) = database {
                        config.server.database = url;
                    }
                    receipt_verify::Keys::Deployment(Box::new(config))
                }
            };
            receipt_verify::run(&token, payload.as_deref(), keys).await
        }
    }
}

fn load(path: Option<&PathBuf>) -> Result<Loaded, ConfigError> {
    match path {
        Some(p) => config::load_file(p),
        None => config::load_embedded(),
    }
}

fn print_issues(issues: &[ConfigIssue]) {
    for issue in issues {
        let label = if issue.is_error() { "error" } else { "warning" };
        eprintln!("{label}: {issue}");
    }
}

fn check_config(path: Option<PathBuf>) -> ExitCode {
    let origin = path
        .as_ref()
        .map_or("the embedded demo config".into(), |p| {
            p.display().to_string()
        });
    match load(path.as_ref()) {
        Ok(loaded) => {
            print_issues(&loaded.warnings);
            println!("{origin} is valid ({} warning(s))", loaded.warnings.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_issues(&e.issues);
            eprintln!("{origin} has {} error(s)", e.errors().count());
            ExitCode::FAILURE
        }
    }
}

async fn serve(
    path: Option<PathBuf>,
    listen: Option<SocketAddr>,
    database: Option<String>,
) -> anyhow::Result<ExitCode> {
    let source = match &path {
        Some(p) => Source::File(p.clone()),
        None => Source::Embedded,
    };
    let version = match source.read() {
        Ok(v) => v,
        Err(e) => {
            print_issues(&e.issues);
            eprintln!(
                "refusing to start: the config has {} error(s)",
                e.errors().count()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    for w in &version.loaded.warnings {
        tracing::warn!(path = %w.path, "config: {}", w.message);
    }
    let read = version.loaded.config.clone();
    let mut config: Config = version.loaded.config;
    if let Some(addr) = listen {
        config.server.override_listen(addr);
    }
    if let Some(db) = database {
        config.server.database = db;
    }
    if path.is_none() {
        tracing::warn!(
            "running on the embedded DEMO config (loopback only, demo API keys, email written to ./mail); \
             pass --config FILE for real use (SIGHUP then reloads it)"
        );
    }
    let clock = Arc::new(countersign::clock::SystemClock);
    let app =
        countersign::app::App::build_versioned(config, Some(version.sha256.clone()), clock).await?;
    tracing::info!(listen = %app.local_addr(), pid = std::process::id(), sha256 = %version.sha256, "countersign is serving");
    let shutdown = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        shutdown.cancel();
    });
    reload_on_hangup(app.reloader(source, read));
    app.run().await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP re-reads the config (the embedded demo is re-applied as it is).
#[cfg(unix)]
fn reload_on_hangup(mut reloader: Reloader) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: config reload is off");
            return;
        }
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config");
            reloader.reload().await;
        }
    });
}

#[cfg(not(unix))]
fn reload_on_hangup(_: Reloader) {}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

/// The database named by --database, or by the config (embedded when neither).
async fn open(path: Option<PathBuf>, database: Option<String>) -> anyhow::Result<Store> {
    let url = match database {
        Some(url) => url,
        None => load(path.as_ref())?.config.server.database,
    };
    Store::open(&url)
        .await
        .with_context(|| "opening the database")
}

async fn report(
    since: &str,
    path: Option<PathBuf>,
    database: Option<String>,
) -> anyhow::Result<ExitCode> {
    let Some(window) = countersign::domain::tally::parse_since(since) else {
        eprintln!("--since {since:?} is not a window: 30m, 24h, 7d, 2w … at most 366d");
        return Ok(ExitCode::from(2));
    };
    let store = open(path, database).await?;
    let now = chrono::Utc::now();
    let analytics = countersign::service::analytics::report(&store, window, now).await?;
    print!("{}", countersign::report::render(&analytics));
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn verify(path: Option<PathBuf>, database: Option<String>) -> anyhow::Result<ExitCode> {
    let store = open(path, database).await?;
    match store.verify_audit().await? {
        audit::Verdict::Intact { events } => {
            println!("audit chain intact: {events} event(s)");
            Ok(ExitCode::SUCCESS)
        }
        audit::Verdict::Broken { seq, reason } => {
            eprintln!("audit chain BROKEN at event {seq}: {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}
