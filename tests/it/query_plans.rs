//! Every query on a hot path searches an index: `EXPLAIN QUERY PLAN` on the real schema,
//! through the same driver and SQLite build as production. A full scan of a table that
//! grows with every escalation would make the service slower the longer it runs.

use countersign::store::{self, Store};
use sqlx::{Row, SqlitePool};

/// The detail lines of SQLite's plan for `sql`, every parameter bound to NULL.
async fn plan(db: &SqlitePool, sql: &str) -> Vec<String> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
    for _ in 0..sql.matches('?').count() {
        q = q.bind(None::<String>);
    }
    q.fetch_all(db)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN failed for {sql}: {e}"))
        .iter()
        .map(|r| r.get::<String, _>("detail"))
        .collect()
}

/// A database migrated by the store, and a connection of the test's own to it.
async fn migrated() -> (tempfile::TempDir, SqlitePool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    (dir, crate::support::open_db(&path).await)
}

/// The index (or key) each hot query must search.
fn expected(name: &str) -> &'static str {
    match name {
        "due timers" | "next due timer" => "timers_due",
        "outbox claim" | "outbox next ready" => "outbox_ready",
        "pending by reviewer" => "PRIMARY KEY (reviewer_id=?)",
        "idempotency lookup" => "escalations_idempotency",
        "recent decisions by intent" => "escalations_intent_decided",
        "escalations by id" | "escalation update" => "sqlite_autoindex_escalations_1",
        "audit head" => "INTEGER PRIMARY KEY",
        "open escalations of an agent" => "sqlite_autoindex_agent_open_1",
        "newer Home items" => "outbox_open_by_key",
        "Home queue, newest first" => "PRIMARY KEY (reviewer_id=?)",
        other => panic!("no expectation for hot query {other:?}"),
    }
}

#[tokio::test]
async fn hot_path_queries_search_indexes_and_never_scan_a_table() {
    if crate::support::sqlite_only("SQLite's query plans") {
        return;
    }
    let (_dir, db) = migrated().await;
    let tables = [
        "escalations",
        "timers",
        "outbox",
        "pending_reviews",
        "audit_events",
    ];
    for (name, sql) in store::hot_queries() {
        let lines = plan(&db, &sql).await;
        let text = lines.join(" | ");
        // A scan is fine only over the batch's own VALUES (the CTEs `k` and `v`).
        for line in &lines {
            if let Some(what) = line.strip_prefix("SCAN ") {
                let ok = what.contains("CONSTANT ROW") || what == "k" || what == "v";
                assert!(ok, "{name} scans {what:?}: {text}");
            }
        }
        for table in tables {
            assert!(!text.contains(&format!("SCAN {table}")), "{name}: {text}");
        }
        assert!(
            text.contains(expected(name)),
            "{name} should use {}: {text}",
            expected(name)
        );
    }
}

#[tokio::test]
async fn the_claim_checks_ordering_through_the_open_by_key_index() {
    if crate::support::sqlite_only("SQLite's query plans") {
        return;
    }
    let (_dir, db) = migrated().await;
    let claim = store::hot_queries()
        .into_iter()
        .find(|(name, _)| *name == "outbox claim")
        .unwrap()
        .1;
    let text = plan(&db, &claim).await.join(" | ");
    assert!(text.contains("outbox_open_by_key"), "{text}");
}

#[tokio::test]
async fn analytics_queries_seek_their_indexes_and_never_scan_a_facts_table() {
    if crate::support::sqlite_only("SQLite's query plans") {
        return;
    }
    let (_dir, db) = migrated().await;
    let facts = [
        "vote_facts",
        "stage_facts",
        "decision_facts",
        "execution_facts",
        "analytics_counts",
        "alerts",
    ];
    for (name, sql, index) in store::analytics::queries() {
        let text = plan(&db, sql).await.join(" | ");
        for table in facts {
            // `SCAN t USING [COVERING] INDEX i` walks an index; a bare `SCAN t` reads all.
            let bare = format!("SCAN {table}");
            let full = text.split(" | ").any(|line| {
                line == bare || line.starts_with(&format!("{bare} ")) && !line.contains("INDEX")
            });
            assert!(!full, "{name} scans {table}: {text}");
        }
        assert!(text.contains(index), "{name} should use {index}: {text}");
        if name.contains("seek") {
            assert!(!text.contains("TEMP B-TREE"), "{name} sorts: {text}");
        }
    }
}
