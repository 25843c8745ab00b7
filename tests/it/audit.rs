//! The audit hash chain: every transition recorded; any edited or deleted row is caught.

use crate::support::TestApp;
use countersign::store::audit::Verdict;
use countersign::store::db;
use serde_json::json;

async fn some_history(app: &TestApp) -> String {
    let id = app.escalate_id("test.quorum").await;
    app.approve(&id, "alice").await;
    app.vote(&id, "alice", json!({"decision": "approve"})).await; // refused, audited
    app.vote(&id, "bob", json!({"decision": "deny", "comment": "no"}))
        .await;
    id
}

#[tokio::test]
async fn every_transition_is_in_an_intact_chain() {
    let app = TestApp::spawn().await;
    let id = some_history(&app).await;
    let kinds = app.audit_kinds(&id).await;
    for kind in [
        "created",
        "stage_started",
        "vote",
        "vote_refused",
        "decided",
    ] {
        assert!(
            kinds.contains(&kind.to_owned()),
            "{kind} missing from {kinds:?}"
        );
    }
    match app.service.store.verify_audit().await.unwrap() {
        Verdict::Intact { events } => assert_eq!(events as usize, kinds.len()),
        broken => panic!("{broken:?}"),
    }
}

#[tokio::test]
async fn an_edited_row_breaks_the_chain_at_that_event() {
    let app = TestApp::spawn().await;
    some_history(&app).await;
    db::query(if crate::support::on_postgres() {
        "UPDATE audit_events SET data = jsonb_set(data::jsonb, '{decision}', '\"approve\"')::text WHERE seq = 5"
    } else {
        "UPDATE audit_events SET data = json_set(data, '$.decision', 'approve') WHERE seq = 5"
    })
    .execute(&app.db)
    .await
    .unwrap();
    assert!(matches!(
        app.service.store.verify_audit().await.unwrap(),
        Verdict::Broken { seq: 5, .. }
    ));
}

#[tokio::test]
async fn a_deleted_row_breaks_the_chain() {
    let app = TestApp::spawn().await;
    some_history(&app).await;
    db::query("DELETE FROM audit_events WHERE seq = 3")
        .execute(&app.db)
        .await
        .unwrap();
    assert!(matches!(
        app.service.store.verify_audit().await.unwrap(),
        Verdict::Broken { seq: 4, .. }
    ));
}

#[tokio::test]
async fn a_rehashed_row_still_breaks_the_link_to_the_next() {
    let app = TestApp::spawn().await;
    some_history(&app).await;
    // A forger who recomputes one row's hash must also rewrite every later row.
    db::query("UPDATE audit_events SET actor = 'mallory', hash = 'f00d' WHERE seq = 2")
        .execute(&app.db)
        .await
        .unwrap();
    assert!(matches!(
        app.service.store.verify_audit().await.unwrap(),
        Verdict::Broken { seq: 2, .. }
    ));
}
