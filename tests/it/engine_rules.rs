//! The workflow rules end to end, through HTTP: quorum, stages, rollback, departments, roles, conditions.

use crate::support::{TestApp, assert_error};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn quorum_needs_k_distinct_approvals_and_any_deny_blocks() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.quorum").await;
    let doc = app.approve(&id, "alice").await;
    assert_eq!(doc["status"], "pending");
    let doc = app.approve(&id, "bob").await;
    assert_eq!(doc["status"], "approved");
    assert_eq!(doc["decision"]["decided_by"], json!(["alice", "bob"]));

    let id = app.escalate_id("test.quorum").await;
    app.approve(&id, "alice").await;
    let r = app
        .vote(
            &id,
            "bob",
            json!({"decision": "deny", "comment": "Not in the change window"}),
        )
        .await;
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["status"], "denied");
    assert_eq!(doc["decision"]["outcome"], "denied");
    assert_eq!(doc["decision"]["reason"], "Not in the change window");
    assert_eq!(doc["decision"]["decided_by"], json!(["bob"]));
    assert_eq!(doc["stages"][0]["status"], "rejected");
}

#[tokio::test]
async fn three_stages_run_in_order_with_different_people() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.stages").await;
    // Bob is a senior engineer: not eligible before stage 2 opens.
    let r = app.vote(&id, "bob", json!({"decision": "approve"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "not_eligible").await;
    let doc = app.approve(&id, "alice").await;
    assert_eq!(doc["current_stage"], 2);
    assert_eq!(doc["stages"][0]["status"], "approved");
    assert_eq!(doc["stages"][1]["status"], "pending");
    assert_eq!(doc["stages"][2]["status"], "waiting");
    assert_eq!(doc["stages"][1]["eligible"], json!(["bob", "carol"]));
    let doc = app.approve(&id, "carol").await;
    assert_eq!(doc["current_stage"], 3);
    let doc = app.approve(&id, "dave").await;
    assert_eq!(doc["status"], "approved");
    assert_eq!(
        doc["decision"]["decided_by"],
        json!(["alice", "carol", "dave"])
    );
    let kinds = app.audit_kinds(&id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "stage_advanced").count(), 2);
    assert_eq!(kinds.iter().filter(|k| *k == "stage_started").count(), 3);
}

#[tokio::test]
async fn a_deny_at_a_rollback_stage_returns_to_the_previous_stage() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.rollback").await;
    app.approve(&id, "alice").await;
    let r = app
        .vote(
            &id,
            "bob",
            json!({"decision": "deny", "comment": "Needs a second look"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["current_stage"], 1);
    assert_eq!(doc["stages"][0]["status"], "pending");
    assert_eq!(doc["stages"][0]["votes"], json!([]));
    assert_eq!(doc["stages"][1]["status"], "waiting");
    // Alice reviews again, then Bob can approve.
    app.approve(&id, "alice").await;
    let doc = app.approve(&id, "bob").await;
    assert_eq!(doc["status"], "approved");
    assert!(
        app.audit_kinds(&id)
            .await
            .contains(&"rolled_back".to_owned())
    );
}

#[tokio::test]
async fn approvers_must_come_from_different_departments_when_required() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.departments").await;
    app.approve(&id, "alice").await; // Security
    let r = app.vote(&id, "erin", json!({"decision": "approve"})).await; // Security too
    assert_error(r, StatusCode::FORBIDDEN, "separation_of_duties").await;
    let doc = app.approve(&id, "bob").await; // Platform
    assert_eq!(doc["status"], "approved");
}

#[tokio::test]
async fn required_role_and_department_are_enforced() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.required").await;
    let doc = app.status(&id).await;
    assert_eq!(doc["stages"][0]["eligible"], json!(["alice", "erin"]));
    let r = app.vote(&id, "bob", json!({"decision": "approve"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "not_eligible").await;
    assert_eq!(app.approve(&id, "erin").await["status"], "approved");
}

#[tokio::test]
async fn conditions_from_every_approver_are_unioned_into_the_decision() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.quorum").await;
    let vote = |who: &'static str, conditions: serde_json::Value| {
        app.vote(
            &id,
            who,
            json!({"decision": "approve", "comment": "ok", "conditions": conditions}),
        )
    };
    assert_eq!(
        vote(
            "alice",
            json!(["Canary rollout required", " Mask PII fields "])
        )
        .await
        .status(),
        StatusCode::OK
    );
    let r = vote("bob", json!(["Mask PII fields", "Notify #ops first"])).await;
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["status"], "approved");
    assert_eq!(
        doc["decision"]["conditions"],
        json!([
            "Canary rollout required",
            "Mask PII fields",
            "Notify #ops first"
        ])
    );
    assert_eq!(doc["stages"][0]["votes"][1]["channel"], "api");
    assert_eq!(doc["stages"][0]["votes"][0]["comment"], "ok");
}
