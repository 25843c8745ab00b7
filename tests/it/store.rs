//! The store boundary: a step is written only over the revision it was worked out from,
//! and what a failed write transaction held is never visible.

use crate::support::TestApp;
use countersign::domain::{AuditKind, AuditRecord, EscalationId};
use countersign::store::{Step, StepRows, StoreError};
use serde_json::json;

/// A step on `id` that only bumps its revision, worked out from revision `base`.
async fn bump(app: &TestApp, id: &EscalationId, base: u32) -> StepRows {
    let mut next = app.service.store.escalation(id).await.unwrap().unwrap();
    next.revision += 1;
    let audit = [AuditRecord::new(
        AuditKind::Vote,
        None,
        json!({"note": "bumped"}),
    )];
    StepRows::encode(Step {
        escalation: &next,
        base: Some(base),
        reviewers: Vec::new(),
        timers: Vec::new(),
        at: app.clock_now(),
        audit: &audit,
        outbox: Vec::new(),
        facts: &[],
        alerts: Vec::new(),
    })
    .unwrap()
}

#[tokio::test]
async fn a_step_over_a_moved_revision_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let id = EscalationId(app.escalate_id("test.single").await);
    let read = app.service.store.escalation(&id).await.unwrap().unwrap();
    let kinds = app.audit_kinds(id.as_str()).await;

    // Worked out from a revision the row no longer has (a vote landed in between).
    let stale = bump(&app, &id, read.revision - 1).await;
    let mut tx = app.service.store.begin().await.unwrap();
    let written = tx.write_steps(&[&stale]).await;
    assert!(matches!(written, Err(StoreError::Conflict)), "{written:?}");
    drop(tx);
    let after = app.service.store.escalation(&id).await.unwrap().unwrap();
    assert_eq!(after.revision, read.revision);
    assert_eq!(
        app.audit_kinds(id.as_str()).await,
        kinds,
        "nothing was appended"
    );

    // The same step over the current revision goes through.
    let fresh = bump(&app, &id, read.revision).await;
    let mut tx = app.service.store.begin().await.unwrap();
    tx.write_steps(&[&fresh]).await.unwrap();
    tx.commit().await.unwrap();
    let after = app.service.store.escalation(&id).await.unwrap().unwrap();
    assert_eq!(after.revision, read.revision + 1);
    let kinds_after = app.audit_kinds(id.as_str()).await;
    assert_eq!(
        kinds_after.len(),
        kinds.len() + 1,
        "its audit record was appended"
    );
    assert_eq!(kinds_after.last().unwrap(), "vote");
}

/// One stale row in a batch fails the whole batch: no row of it is written.
#[tokio::test]
async fn one_stale_row_fails_its_whole_batch() {
    let app = TestApp::spawn().await;
    let a = EscalationId(app.escalate_id("test.single").await);
    let b = EscalationId(app.escalate_id("test.single").await);
    let rev_a = app
        .service
        .store
        .escalation(&a)
        .await
        .unwrap()
        .unwrap()
        .revision;
    let rev_b = app
        .service
        .store
        .escalation(&b)
        .await
        .unwrap()
        .unwrap()
        .revision;
    let good = bump(&app, &a, rev_a).await;
    let stale = bump(&app, &b, rev_b + 1).await;
    let mut tx = app.service.store.begin().await.unwrap();
    let written = tx.write_steps(&[&good, &stale]).await;
    assert!(matches!(written, Err(StoreError::Conflict)), "{written:?}");
    drop(tx);
    let after = app.service.store.escalation(&a).await.unwrap().unwrap();
    assert_eq!(
        after.revision, rev_a,
        "the good row rolled back with the batch"
    );
}
