//! SQLite persistence: one module per table family; every write step in one `BEGIN IMMEDIATE` transaction.

pub mod audit;
pub mod escalations;
pub mod outbox;
pub mod settings;
pub mod slack;
pub mod timers;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

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
    pub pool: SqlitePool,
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
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock up front, so
    /// concurrent writers queue on the busy timeout instead of failing midway
    /// with SQLITE_BUSY when a read transaction tries to upgrade.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Readiness: the database answers a query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Unix milliseconds, the stored form of every instant.
pub fn ms(t: crate::domain::Time) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> crate::domain::Time {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
