//! Persistence behind one boundary, on SQLite (the embedded default) or PostgreSQL
//! (several replicas sharing one database): typed reads on a readers' pool, every write
//! through a [`WriteTx`], group commit, and on SQLite WAL checkpoints.
//!
//! The seam: the rest of the program knows only [`Store`]'s methods, [`WriteTx`], [`Group`]
//! and the row types; no pool, connection or SQL leaves this module. Both backends run the
//! same statements through [`db`], which binds plain values and translates the text for
//! PostgreSQL; where the two differ in what they guarantee (one writer on SQLite, many on
//! PostgreSQL) the difference is made here, never above.

pub mod alerts;
pub mod analytics;
pub mod audit;
mod batch;
mod checkpoint;
pub mod db;
mod escalations;
pub mod facts;
mod gauges;
mod group;
mod health;
mod leases;
mod listen;
pub mod outbox;
mod read;
mod revision_keys;
mod settings;
pub mod slack;
mod slack_home;
pub mod timers;
pub mod web;
mod write;

use db::{Backend, Pool};
use sqlx::SqlitePool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The raw transaction; private to the store, which hands out [`WriteTx`].
type Tx = db::Tx;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
/// PostgreSQL's own migrations, beside SQLite's: the same schema in its types.
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub use listen::Wake;

pub use gauges::Gauges;
pub use group::{Group, write_shared};
pub use write::{Step, StepRows, WriteTx};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(sqlx::Error),
    /// Storage cannot take writes for now (disk full, I/O error, locked by another
    /// process, no connection in time): nothing was written, and the same request
    /// can succeed once the condition clears.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store was closed: the process is stopping. Counts as unavailable.
    #[error("storage unavailable: the store is closed")]
    Closed,
    /// The task committing a write ended before it answered (it panicked).
    #[error("the write task ended before it answered")]
    Interrupted,
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored state is unreadable: {0}")]
    Corrupt(String),
    /// An escalation changed since the step being written was worked out from it: nothing
    /// of the transaction is written; the step must be worked out again on the new state.
    #[error("an escalation changed since it was read")]
    Conflict,
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Closed)
    }

    /// The store was closed (the process is stopping): background loops end on it.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }

    /// The same error for another waiter of a failed group, when it can be repeated.
    pub fn repeat(&self) -> Option<Self> {
        match self {
            Self::Unavailable(m) => Some(Self::Unavailable(m.clone())),
            Self::Closed => Some(Self::Closed),
            Self::Interrupted => Some(Self::Interrupted),
            _ => None,
        }
    }
}

/// SQLite's primary result codes of conditions that pass: SQLITE_BUSY, SQLITE_LOCKED,
/// SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN (the extended codes carry these in the low byte).
const TRANSIENT_CODES: [i32; 5] = [5, 6, 10, 13, 14];

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if matches!(e, sqlx::Error::PoolClosed) {
            return Self::Closed;
        }
        let transient = match &e {
            // PostgreSQL: a deadlock or serialization failure between replicas, or the
            // server going away (class 08 connection, 53 resources, 57P operator).
            sqlx::Error::Database(d)
                if d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .is_some() =>
            {
                db::is_collision(&e)
                    || d.code().is_some_and(|c| {
                        c.starts_with("08") || c.starts_with("53") || c.starts_with("57P")
                    })
            }
            sqlx::Error::Database(d) => d
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|c| TRANSIENT_CODES.contains(&(c & 0xff))),
            // No connection in time, the pool shut, or a connection's thread gone (the
            // pool opens another): the same request can succeed later.
            sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed | sqlx::Error::Io(_) => true,
            _ => false,
        };
        if transient {
            Self::Unavailable(e.to_string())
        } else {
            Self::Db(e)
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    /// Readers only (SQLite WAL: they never wait for the writer); see `read`. On
    /// PostgreSQL one pool serves reads and writes.
    readers: Pool,
    /// Where write transactions run: SQLite's one writer connection; see [`Store::begin`].
    writer: Pool,
    /// SQLite: the connection WAL checkpoints run on, and what wakes its task.
    checkpointer: Option<SqlitePool>,
    wrote: Arc<Notify>,
    /// PostgreSQL: what other replicas' commits announce (see `listen`).
    wakes: Option<listen::Wakes>,
    /// This replica's name on the leases it takes (outbox items; timers on PostgreSQL), a
    /// ULID per opened store — one per process in production, one per replica when a
    /// benchmark runs several in one process. On SQLite a restarted process releases at
    /// once the leases of any other (one that died mid-delivery). On PostgreSQL it is also
    /// the `application_name` of the replica's connections, so a lease whose owner has no
    /// connection left belongs to a dead replica (see `leases`).
    owner: Arc<str>,
    /// Whether the last write transaction failed for want of storage; see `health`.
    health: Arc<health::Health>,
    gauges: Arc<gauges::Cache>,
}

impl Store {
    /// Opens the database `url` names: `postgres://…` (or `postgresql://…`) or SQLite.
    pub async fn open(url: &str) -> Result<Self> {
        if is_postgres(url) {
            Self::open_postgres(url).await
        } else {
            Self::open_sqlite(url).await
        }
    }

    pub fn backend(&self) -> Backend {
        self.writer.backend()
    }

    /// This replica's name on the leases it takes.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// PostgreSQL: one pool for reads and writes (the server runs writers concurrently),
    /// and a listener for the wake-ups other replicas' commits send.
    async fn open_postgres(url: &str) -> Result<Self> {
        let owner: Arc<str> = ulid::Ulid::new().to_string().into();
        let options =
            PgConnectOptions::from_str(url)?.application_name(&leases::application_name(&owner));
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self {
            readers: Pool::Postgres(pool.clone()),
            writer: Pool::Postgres(pool),
            checkpointer: None,
            wrote: Arc::new(Notify::new()),
            wakes: None,
            owner,
            health: Arc::default(),
            gauges: Arc::default(),
        })
    }

    /// Opens (creating if needed) the SQLite file with the production pragmas:
    /// WAL so readers never block the writer, `synchronous=FULL` so an
    /// acknowledged write survives power loss, and a busy timeout so a second
    /// process (`audit verify`) waits instead of failing.
    async fn open_sqlite(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // The writer checkpoints never (see `checkpoint`); its commit hook wakes the
        // task that does. A larger page cache holds a whole batch's pages; batched
        // statements come in a few shapes, each kept prepared.
        let wrote = Arc::new(Notify::new());
        let hook = wrote.clone();
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .after_release(|conn, _| Box::pin(health::reusable(conn)))
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
                    .pragma("journal_size_limit", checkpoint::JOURNAL_SIZE_LIMIT)
                    .pragma("cache_size", "-16384")
                    .statement_cache_capacity(256),
            )
            .await?;
        // Opened after the writer created the file. Read-only, so no write can take the
        // readers' path past the single writer. A local file cannot drop a connection, so
        // the liveness ping sqlx sends on every checkout (one more thread round trip per
        // transaction) buys nothing.
        let readers = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone().read_only(true))
            .await?;
        // A checkpoint that must wait for readers gives up soon and is retried later,
        // rather than holding the write lock while it waits.
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .connect_with(options.busy_timeout(Duration::from_millis(100)))
            .await?;
        tokio::spawn(checkpoint::run(checkpointer.clone(), wrote.clone()));
        Ok(Self {
            readers: Pool::Sqlite(readers),
            writer: Pool::Sqlite(writer),
            checkpointer: Some(checkpointer),
            wrote,
            wakes: None,
            owner: ulid::Ulid::new().to_string().into(),
            health: Arc::default(),
            gauges: Arc::default(),
        })
    }

    /// Runs the embedded migrations of the backend, on the writer (schema changes are
    /// writes). Replicas starting together are safe: sqlx takes an advisory lock on
    /// PostgreSQL while it migrates.
    pub async fn migrate(&self) -> Result<()> {
        match &self.writer {
            Pool::Sqlite(p) => MIGRATOR.run(p).await?,
            Pool::Postgres(p) => PG_MIGRATOR.run(p).await?,
        }
        Ok(())
    }

    /// A write transaction, on the single writer connection. SQLite allows one
    /// writer at a time anyway; queueing for that connection in process (a fair,
    /// first-come first-served wait) replaces SQLite's busy handler, which makes
    /// a contending writer sleep 1, 2, 5 … 100 ms and put hundreds of ms on p99.
    /// `BEGIN IMMEDIATE` still takes the lock up front against other processes.
    /// Concurrent requests share these transactions through a [`Group`].
    ///
    /// On PostgreSQL it is a plain READ COMMITTED transaction; what SQLite's single writer
    /// guarantees for free, [`WriteTx`] takes there with locks where it matters.
    pub async fn begin(&self) -> Result<WriteTx> {
        let tx = match &self.writer {
            Pool::Sqlite(p) => p.begin_with("BEGIN IMMEDIATE").await.map(Tx::Sqlite),
            Pool::Postgres(p) => p.begin().await.map(Tx::Postgres),
        };
        let tx = tx.map_err(|e| self.health.failed(e.into()))?;
        Ok(WriteTx::new(tx, self.health.clone()))
    }

    /// Makes this process a serving replica (PostgreSQL; nothing to do on SQLite): it
    /// LISTENs for what other replicas' commits announce, and releases the leases of dead
    /// ones (see `leases`). Only `serve` does this: a command such as `report` or `audit
    /// verify` must not write, and does not wait on anyone.
    pub async fn join_replicas(&mut self) -> Result<()> {
        if let Pool::Postgres(pool) = &self.writer
            && self.wakes.is_none()
        {
            self.wakes = Some(listen::Wakes::start(pool).await?);
            tokio::spawn(leases::release_dead(pool.clone()));
        }
        Ok(())
    }

    /// What wakes this process when another replica commits: `None` on SQLite, where
    /// this process is the only writer and wakes itself.
    pub fn wakes(&self) -> Option<tokio::sync::broadcast::Receiver<Wake>> {
        self.wakes.as_ref().map(listen::Wakes::subscribe)
    }

    /// Closes every pool: every connection finishes and the file is released.
    pub async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
        if let Some(c) = &self.checkpointer {
            c.close().await;
        }
        // Wakes the checkpoint task, which finds its pool closed and ends.
        self.wrote.notify_one();
    }

    /// Readiness: the database answers a query.
    pub async fn ping(&self) -> Result<()> {
        db::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    /// Readiness of writes: fine unless the last write failed for want of storage; then
    /// a probe transaction (as large as a request may be) must commit first.
    pub async fn writable(&self, probe_bytes: usize) -> Result<()> {
        if !self.health.failing() {
            return Ok(());
        }
        health::probe(self, probe_bytes).await
    }

    /// The gauges `/metrics` shows, read at most once per [`gauges::MAX_AGE`] of `now`.
    pub async fn gauges(&self, now: crate::domain::Time) -> Result<Gauges> {
        self.gauges.get(&self.readers, now).await
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
            "open escalations of an agent",
            escalations::OPEN_FOR_AGENT.into(),
        ),
        (
            "recent decisions by intent",
            escalations::RECENT_DECISIONS.into(),
        ),
        ("newer Home items", slack_home::NEWER_OPEN.into()),
        (
            "Home queue, newest first",
            slack_home::NEWEST_PENDING.into(),
        ),
        ("escalations by id", escalations::by_ids_sql("state", 3)),
        ("escalation update", escalations::update_sql(3)),
        ("audit head", audit::HEAD.into()),
    ]
}

/// Whether a `server.database` URL names PostgreSQL.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Unix milliseconds, the stored form of every instant.
fn ms(t: crate::domain::Time) -> i64 {
    t.timestamp_millis()
}

fn from_ms(ms: i64) -> crate::domain::Time {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
