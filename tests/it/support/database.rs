//! The database a test runs on: a fresh SQLite file, or — with
//! `COUNTERSIGN_TEST_DATABASE=postgres` — a fresh database on a throwaway PostgreSQL
//! cluster this test process starts itself (initdb on a temp dir, a loopback port; no
//! mocks). The same tests run on both; the few that test SQLite itself (its files, its
//! query plans, a full disk) say so with [`sqlite_only`].

use super::pg_cluster::Cluster;
use countersign::store::db::Pool;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Whether this run is on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("COUNTERSIGN_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

/// True (and says so) when the test is about SQLite itself and this run is on PostgreSQL.
pub fn sqlite_only(why: &str) -> bool {
    if on_postgres() {
        eprintln!("SQLite only ({why}): not run on PostgreSQL");
        return true;
    }
    false
}

/// True (and says so) when the test is about PostgreSQL (several replicas on one
/// database) and this run is on SQLite, where one process owns the database file.
pub fn postgres_only(why: &str) -> bool {
    if !on_postgres() {
        eprintln!("PostgreSQL only ({why}): run with COUNTERSIGN_TEST_DATABASE=postgres");
        return true;
    }
    false
}

/// A database for one test.
#[derive(Debug, Clone)]
pub enum TestDb {
    Sqlite(PathBuf),
    Postgres(String),
}

impl TestDb {
    /// A new empty database: `countersign.db` in `dir`, or a new database on the cluster.
    pub async fn fresh(dir: &Path) -> Self {
        if on_postgres() {
            TestDb::Postgres(cluster().create_database().await)
        } else {
            TestDb::Sqlite(dir.join("countersign.db"))
        }
    }

    /// `server.database` for it.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(path) => format!("sqlite://{}", path.display()),
            TestDb::Postgres(url) => url.clone(),
        }
    }

    /// A small pool of the test's own, as another process would open it.
    pub async fn pool(&self) -> Pool {
        match self {
            TestDb::Sqlite(path) => Pool::Sqlite(super::open_db(path).await),
            TestDb::Postgres(url) => Pool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .expect("test connection to PostgreSQL"),
            ),
        }
    }
}

/// The cluster of this test process, started on first use.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::start(TEST_SETTINGS))
}

/// A test cluster: durability off (the tests check what commits, not fsync), room for
/// many test databases and replicas at once.
const TEST_SETTINGS: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "400"),
    ("shared_buffers", "64MB"),
];
