//! Storage under stress: a full disk answers 503 and recovers without a restart, the WAL
//! shrinks back after a burst, and `/metrics` neither queries per scrape nor leaks without
//! its token.

use crate::support::{Options, TestApp, TestConfig, assert_error};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::json;
use sqlx::Connection;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A small tmpfs mounted for one test (needs root); unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Writes a file until the filesystem refuses more; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.dir.path().join("ballast");
        let mut file = std::fs::File::create(&path).expect("ballast");
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        // The last partial block may have left a few bytes: take them too.
        while file.write_all(&block[..512]).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

async fn status_of(app: &TestApp, path: &str) -> StatusCode {
    app.client
        .get(app.url(path))
        .send()
        .await
        .expect("request")
        .status()
}

fn intake(n: usize) -> serde_json::Value {
    json!({"intent": "test.single", "summary": format!("Fill the disk {n}"), "payload": {"filler": "x".repeat(2000)}})
}

#[tokio::test]
async fn a_full_disk_answers_503_and_writes_resume_once_space_is_freed() {
    if crate::support::sqlite_only("a full disk under the SQLite file") {
        return;
    }
    let Some(disk) = SmallDisk::mount("8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (the test needs root)");
        return;
    };
    let app = TestApp::spawn_with(Options {
        database_dir: Some(disk.path()),
        ..Default::default()
    })
    .await;
    app.escalate("test.single").await;
    let ballast = disk.fill();

    let mut refused = None;
    for n in 0..2000 {
        let r = app.create(intake(n)).await;
        if r.status() != StatusCode::CREATED {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("the disk never filled up");
    assert!(r.headers().contains_key(RETRY_AFTER), "no Retry-After");
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    // Still full: the next write is refused the same way, not with a 500.
    let r = app.create(intake(0)).await;
    assert!(r.headers().contains_key(RETRY_AFTER), "no Retry-After");
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(
        status_of(&app, "/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(status_of(&app, "/healthz").await, StatusCode::OK);

    std::fs::remove_file(&ballast).expect("free the space");
    let r = app.create(intake(1)).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap_or_default()
    );
    assert_eq!(status_of(&app, "/readyz").await, StatusCode::OK);
    // Votes (the other group commit) write again too.
    let id = app.escalate_id("test.single").await;
    app.approve(&id, "bob").await;
    app.stop().await;
}

#[tokio::test]
async fn readiness_recovers_by_itself_when_no_write_comes() {
    if crate::support::sqlite_only("a full disk under the SQLite file") {
        return;
    }
    let Some(disk) = SmallDisk::mount("8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (the test needs root)");
        return;
    };
    let app = TestApp::spawn_with(Options {
        database_dir: Some(disk.path()),
        ..Default::default()
    })
    .await;
    let ballast = disk.fill();
    let mut n = 0;
    while app.create(intake(n)).await.status() == StatusCode::CREATED {
        n += 1;
        assert!(n < 2000, "the disk never filled up");
    }
    assert_eq!(
        status_of(&app, "/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    std::fs::remove_file(&ballast).expect("free the space");
    // No client writes: readiness itself finds out that commits work again.
    assert_eq!(status_of(&app, "/readyz").await, StatusCode::OK);
    app.stop().await;
}

fn wal_len(db: &Path) -> u64 {
    let wal = db.with_file_name("countersign.db-wal");
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

#[tokio::test]
async fn the_wal_shrinks_once_a_burst_is_over() {
    if crate::support::sqlite_only("the WAL file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("countersign.db");
    let app = TestApp::spawn_with(Options {
        database_dir: Some(dir.path().to_owned()),
        ..Default::default()
    })
    .await;
    app.escalate("test.single").await;
    // A reader holding its snapshot keeps every checkpoint from resetting the WAL, as a
    // long dashboard query would: the burst grows the WAL.
    let mut reader = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
    sqlx::query("SELECT count(*) FROM escalations")
        .execute(&mut reader)
        .await
        .unwrap();
    let burst = (0..200).map(|n| app.create(intake(n)));
    for r in futures_util::future::join_all(burst).await {
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let grown = wal_len(&db);
    assert!(
        grown > 512 * 1024,
        "the burst left only {grown} bytes of WAL"
    );
    sqlx::query("COMMIT").execute(&mut reader).await.unwrap();
    reader.close().await.unwrap();

    const BOUND: u64 = 64 * 1024;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while wal_len(&db) > BOUND {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the WAL stayed at {} bytes (after the burst: {grown})",
            wal_len(&db)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

/// The value of the sample `series` (name and labels) in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test]
async fn metrics_require_the_configured_token() {
    let app = TestApp::spawn_with(
        TestConfig::default().server(|s| s.metrics_token("test-metrics-token-0123456789")),
    )
    .await;
    assert_error(
        scrape(&app, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        scrape(&app, Some("test-metrics-token-012345678")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let r = scrape(&app, Some("test-metrics-token-0123456789")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("countersign_outbox_depth"));
    app.stop().await;
}

#[tokio::test]
async fn scrapes_within_the_cache_window_do_not_query_the_database() {
    let app = TestApp::spawn_with(Options::manual()).await;
    app.escalate("test.single").await;
    let pending = "countersign_escalations{status=\"pending\"}";
    let text = scrape(&app, None).await.text().await.unwrap();
    assert_eq!(sample(&text, pending), Some(1.0), "{text}");
    let depth = sample(&text, "countersign_outbox_depth");
    // Rows written between two scrapes a moment apart are not counted again…
    app.escalate("test.single").await;
    app.escalate("test.single").await;
    let text = scrape(&app, None).await.text().await.unwrap();
    assert_eq!(sample(&text, pending), Some(1.0), "{text}");
    assert_eq!(sample(&text, "countersign_outbox_depth"), depth, "{text}");
    // …until the cached values are a few seconds old.
    app.clock.advance(Duration::from_secs(10));
    let text = scrape(&app, None).await.text().await.unwrap();
    assert_eq!(sample(&text, pending), Some(3.0), "{text}");
    app.stop().await;
}

#[test]
fn the_metrics_token_is_a_secret_from_the_environment() {
    let yaml = |token: &str| {
        TestConfig::default()
            .server(|s| s.metrics_token(token))
            .render(std::path::Path::new("countersign.db"))
    };
    let env = |name: &str| (name == "METRICS_TOKEN").then(|| "from-env-token".to_owned());
    let loaded = countersign::config::load_str_with(&yaml("env:METRICS_TOKEN"), "test", &env)
        .expect("valid");
    let token = loaded.config.server.metrics_token.expect("token set");
    assert!(token.ct_eq("from-env-token"));
    assert_eq!(format!("{token:?}"), "***");
    let err = countersign::config::load_str_with(&yaml(""), "test", &env).unwrap_err();
    assert!(
        err.to_string().contains("server.metrics_token: is empty"),
        "{err}"
    );
}
