//! SQLite persistence: one module per table family; every write step in one `BEGIN IMMEDIATE` transaction.

pub mod audit;
mod batch;
mod checkpoint;
pub mod escalations;
pub mod outbox;
pub mod settings;
pub mod slack;
pub mod timers;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub type Tx = Transaction<'static, Sqlite>;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored state is unreadable: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    /// Readers (WAL: they never wait for the writer) and one-off statements.
    pub pool: SqlitePool,
    /// The one connection write transactions run on; see [`Store::begin`].
    writer: SqlitePool,
    /// The connection WAL checkpoints run on, and what wakes its task.
    checkpointer: SqlitePool,
    wrote: Arc<Notify>,
}

impl Store {
    /// Opens (creating if needed) the database with the production pragmas:
    /// WAL so readers never block the writer, `synchronous=FULL` so an
    /// acknowledged write survives power loss, and a busy timeout so a second
    /// process (`audit verify`) waits instead of failing.
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // A local file cannot drop a connection, so the liveness ping sqlx sends on
        // every checkout (one more thread round trip per transaction) buys nothing.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        // The writer checkpoints never (see `checkpoint`); its commit hook wakes the
        // task that does. A larger page cache holds a whole batch's pages; batched
        // statements come in a few shapes, each kept prepared.
        let wrote = Arc::new(Notify::new());
        let hook = wrote.clone();
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                let hook = hook.clone();
                Box::pin(async move {
                    conn.lock_handle().await?.set_commit_hook(move || {
                        hook.notify_one();
                        true
                    });
                    Ok(())
                })
            })
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", "0")
                    .pragma("cache_size", "-16384")
                    .statement_cache_capacity(256),
            )
            .await?;
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .connect_with(options)
            .await?;
        if std::env::var_os("XP_NOCKPT").is_none() {
            tokio::spawn(checkpoint::run(checkpointer.clone(), wrote.clone()));
        }
        Ok(Self {
            pool,
            writer,
            checkpointer,
            wrote,
        })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// A write transaction, on the single writer connection. SQLite allows one
    /// writer at a time anyway; queueing for that connection in process (a fair,
    /// first-come first-served wait) replaces SQLite's busy handler, which makes
    /// a contending writer sleep 1, 2, 5 … 100 ms and put hundreds of ms on p99.
    /// `BEGIN IMMEDIATE` still takes the lock up front against other processes.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Closes both pools: every connection finishes and the file is released.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
        self.checkpointer.close().await;
        // Wakes the checkpoint task, which finds its pool closed and ends.
        self.wrote.notify_one();
    }

    /// Readiness: the database answers a query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The queries on a hot path (every step, every worker wake-up, every dashboard poll),
/// named, with sample parameters for the batched ones. The query-plan test runs
/// `EXPLAIN QUERY PLAN` on each and checks it searches an index rather than scanning.
pub fn hot_queries() -> Vec<(&'static str, String)> {
    vec![
        ("due timers", timers::DUE.into()),
        ("next due timer", timers::NEXT_DUE.into()),
        ("outbox claim", outbox::CLAIM.into()),
        ("outbox next ready", outbox::NEXT_READY.into()),
        (
            "pending by reviewer",
            escalations::PENDING_FOR_REVIEWER.into(),
        ),
        ("idempotency lookup", escalations::idempotency_sql(3)),
        (
            "recent decisions by intent",
            escalations::RECENT_DECISIONS.into(),
        ),
        ("escalations by id", escalations::by_ids_sql("state", 3)),
        ("escalation update", escalations::update_sql(3)),
        ("audit head", audit::HEAD.into()),
    ]
}

/// Unix milliseconds, the stored form of every instant.
pub fn ms(t: crate::domain::Time) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> crate::domain::Time {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
