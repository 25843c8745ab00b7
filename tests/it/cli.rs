//! The binary as an operator runs it: check-config, audit verify, SIGTERM, and kill -9 recovery.

use crate::support::process::{Server, run, text, write_config};
use crate::support::{AGENT_KEY, TestConfig};
use countersign::store::db;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn check_config_accepts_the_demo_and_a_valid_file() {
    let out = run(&["check-config"]);
    assert!(out.status.success(), "{}", text(&out));
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_config(dir.path(), &TestConfig::default()).await;
    let out = run(&["check-config", "--config", &path]);
    assert!(out.status.success(), "{}", text(&out));
    // The fail-open workflow of the test config is flagged, but is not an error.
    assert!(
        text(&out).contains("workflows[9].timeout_action"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).to_lowercase().contains("fails open"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_printed_example_is_the_demo_and_checks_clean() {
    let out = run(&["check-config", "--print-example"]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed, countersign::config::DEMO_YAML);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("countersign.yml");
    std::fs::write(&path, &printed).unwrap();
    let out = run(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn check_config_names_every_error_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        r#"
agents:
  - {id: a, name: A, api_key: k1, webhook_secret: not-whsec}
  - {id: a, name: A2, api_key: k2, webhook_secret: env:COUNTERSIGN_TEST_SURELY_UNSET}
reviewers:
  - {id: r1, name: R1, email: r1@example.com, roles: [ops]}
workflows:
  - id: w
    stages:
      - {name: s1, approvers: ["role:nobody-has-this"]}
      - {name: s2, approvers: ["user:r1"], required_approvals: 3}
      - {name: s3, approvers: ["user:r1"]}
      - {name: s4, approvers: ["user:r1"]}
      - {name: s5, approvers: ["user:r1"]}
      - {name: s6, approvers: ["user:r1"]}
"#,
    )
    .unwrap();
    let out = run(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let report = text(&out);
    for needle in [
        "agents[0].webhook_secret",
        "agents[1].id",
        "COUNTERSIGN_TEST_SURELY_UNSET",
        "workflows[0].stages[0].approvers[0]",
        "workflows[0].stages[1].required_approvals",
        "workflows[0].stages",
    ] {
        assert!(report.contains(needle), "{needle} not in:\n{report}");
    }
    // serve refuses the same file.
    let out = run(&["serve", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
}

/// `countersign audit verify` on the database passes.
fn assert_audit_intact(db: &crate::support::TestDb) {
    let out = run(&["audit", "verify", "--database", &db.url()]);
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test]
async fn timers_due_while_killed_fire_right_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = write_config(dir.path(), &TestConfig::default()).await;
    let server = Server::start(&config).await;
    let client = crate::support::client();
    let id = server
        .escalate_id(
            &client,
            json!({"intent": "test.timeout", "summary": "Survives kill -9"}),
        )
        .await;
    server.signal("KILL");
    server.wait();

    // While the process is down its deadline passes: backdate the escalation and its
    // timer row (no waiting an hour).
    let store = db.pool().await;
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let moved = db::query(if crate::support::on_postgres() {
        "UPDATE escalations SET state = jsonb_set(state::jsonb, '{expires_at}', to_jsonb(?::text))::text WHERE id = ?"
    } else {
        "UPDATE escalations SET state = json_set(state, '$.expires_at', ?) WHERE id = ?"
    })
    .bind(past.to_rfc3339())
    .bind(&id)
    .execute(&store)
    .await
    .unwrap();
    assert_eq!(moved, 1, "the acknowledged escalation survived kill -9");
    let moved =
        db::query("UPDATE timers SET due_at = ? WHERE escalation_id = ? AND kind = 'timeout'")
            .bind(past.timestamp_millis())
            .bind(&id)
            .execute(&store)
            .await
            .unwrap();
    assert_eq!(moved, 1, "its timer survived too");
    store.close().await;

    let server = Server::start(&config).await;
    let doc: Value = client
        .get(format!("{}/v1/escalations/{id}?wait=10", server.base))
        .bearer_auth(AGENT_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["status"], "expired", "{doc}");
    drop(server);

    assert_audit_intact(&db);
}

/// Group commit answers a request only after the transaction holding it is durable:
/// kill -9 in the middle of concurrent intake loses nothing that was acknowledged.
#[tokio::test]
async fn every_acknowledged_intake_survives_kill_9_mid_load() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = write_config(dir.path(), &TestConfig::default()).await;
    let server = Server::start(&config).await;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut senders = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (url, acked) = (format!("{}/v1/escalations", server.base), acked.clone());
        senders.spawn(async move {
            let client = crate::support::client();
            for i in 0.. {
                let sent = client
                    .post(&url)
                    .bearer_auth(AGENT_KEY)
                    .header("Idempotency-Key", format!("kill-{worker}-{i}"))
                    .json(&json!({"intent": "test.single", "summary": "Acknowledged"}))
                    .send()
                    .await;
                let Ok(r) = sent else { return };
                if r.status() != 201 {
                    return;
                }
                let Ok(doc) = r.json::<Value>().await else {
                    return;
                };
                acked
                    .lock()
                    .unwrap()
                    .push(doc["id"].as_str().unwrap().to_owned());
            }
        });
    }
    // Kill while requests are in flight, once a few hundred have been acknowledged.
    crate::support::eventually(Duration::from_secs(60), || async {
        (acked.lock().unwrap().len() >= 300).then_some(())
    })
    .await;
    server.signal("KILL");
    server.wait();
    while senders.join_next().await.is_some() {}

    let acked = acked.lock().unwrap().clone();
    let store = db.pool().await;
    let stored: std::collections::HashSet<String> = db::query_scalar("SELECT id FROM escalations")
        .fetch_all(&store)
        .await
        .unwrap()
        .into_iter()
        .collect();
    store.close().await;
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged escalations lost: {lost:?}",
        lost.len(),
        acked.len()
    );
    assert_audit_intact(&db);
}

#[tokio::test]
async fn sigterm_stops_gracefully_with_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), &TestConfig::default()).await;
    let server = Server::start(&config).await;
    let client = crate::support::client();
    // A long-poll in flight when the signal arrives is answered, not cut off.
    let id = client
        .post(format!("{}/v1/escalations", server.base))
        .bearer_auth(AGENT_KEY)
        .json(&json!({"intent": "test.single", "summary": "x"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let poll = client
        .get(format!("{}/v1/escalations/{id}?wait=2", server.base))
        .bearer_auth(AGENT_KEY)
        .send();
    let term = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.signal("TERM");
    };
    let (answered, _) = tokio::join!(poll, term);
    assert_eq!(answered.unwrap().status(), 200);
    assert!(server.wait().success());
}

#[tokio::test]
async fn audit_verify_names_the_first_bad_event() {
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = write_config(dir.path(), &TestConfig::default()).await;
    let url = db.url();
    let out = run(&["migrate", "--config", &config]);
    assert!(out.status.success(), "{}", text(&out));
    {
        let store = countersign::store::Store::open(&url).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let records: Vec<_> = (0..3)
            .map(|i| {
                countersign::domain::AuditRecord::new(
                    countersign::domain::AuditKind::Created,
                    None,
                    json!({"n": i}),
                )
            })
            .collect();
        let entry = countersign::store::audit::Entry {
            escalation_id: Some("esc_x"),
            at: chrono::Utc::now(),
            records: &records,
        };
        tx.append_audit(&[entry]).await.unwrap();
        tx.commit().await.unwrap();
        store.close().await;
    }
    let out = run(&["audit", "verify", "--database", &url]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("3 event"));
    let store = db.pool().await;
    db::query("UPDATE audit_events SET kind = 'decided' WHERE seq = 2")
        .execute(&store)
        .await
        .unwrap();
    store.close().await;
    let out = run(&["audit", "verify", "--config", &config]);
    assert!(!out.status.success());
    assert!(text(&out).contains("event 2"), "{}", text(&out));
}
