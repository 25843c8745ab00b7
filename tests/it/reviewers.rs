//! The reviewer REST API: pending lists, votes, and every refusal code; concurrent votes decide once.

use crate::support::callbacks::Receiver;
use crate::support::{AGENT_SECRET, TestApp, TestConfig, assert_error, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn pending_ids(app: &TestApp, reviewer: &str) -> Vec<String> {
    let r = app
        .client
        .get(app.url("/v1/reviews/pending"))
        .bearer_auth(format!("{reviewer}-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list: Vec<Value> = r.json().await.unwrap();
    list.iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pending_lists_what_waits_on_each_reviewer() {
    let app = TestApp::spawn().await;
    let doc = app
        .escalate_with(
            json!({"intent": "test.single", "summary": "Deploy", "resource": "k8s://prod/api"}),
        )
        .await;
    let id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(pending_ids(&app, "bob").await, vec![id.clone()]);
    assert_eq!(pending_ids(&app, "carol").await, vec![id.clone()]);
    assert!(pending_ids(&app, "alice").await.is_empty());
    // The pending entry carries the context a reviewer decides on.
    let list: Vec<Value> = app
        .client
        .get(app.url("/v1/reviews/pending"))
        .bearer_auth("bob-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["request"]["resource"], "k8s://prod/api");
    assert_eq!(list[0]["request"]["agent_name"], "Test Agent");
    app.approve(&id, "bob").await;
    assert!(pending_ids(&app, "bob").await.is_empty());
    assert!(pending_ids(&app, "carol").await.is_empty());
    let r = app
        .client
        .get(app.url("/v1/reviews/pending"))
        .bearer_auth("agent-key")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn refusals_carry_their_codes_and_change_nothing() {
    let app = TestApp::spawn().await;
    let doc = app
        .escalate_with(
            json!({"intent": "test.quorum", "summary": "x", "requested_by": "carol@example.com"}),
        )
        .await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let approve = json!({"decision": "approve"});

    let r = app.vote(&id, "frank", approve.clone()).await;
    assert_error(r, StatusCode::FORBIDDEN, "not_eligible").await;
    let r = app.vote(&id, "carol", approve.clone()).await;
    assert_error(r, StatusCode::FORBIDDEN, "self_approval").await;
    app.approve(&id, "alice").await;
    let r = app.vote(&id, "alice", approve.clone()).await;
    assert_error(r, StatusCode::FORBIDDEN, "already_voted").await;
    let r = app.vote(&id, "bob", json!({"decision": "deny"})).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = app
        .vote(&id, "bob", json!({"decision": "deny", "comment": "   "}))
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = app.vote(&id, "bob", json!({"decision": "maybe"})).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = app
        .vote(
            &id,
            "bob",
            json!({"decision": "approve", "conditions": "one"}),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = app
        .client
        .post(app.url(&format!("/v1/escalations/{id}/votes")))
        .bearer_auth("bob-key")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "malformed").await;
    let r = app
        .client
        .post(app.url(&format!("/v1/escalations/{id}/votes")))
        .json(&approve)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .vote("esc_01ARZ3NDEKTSV4RRFFQ69G5FAV", "bob", approve.clone())
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;

    // Nothing above changed the escalation: one vote, still pending.
    let doc = app.status(&id).await;
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["stages"][0]["votes"].as_array().unwrap().len(), 1);
    let refused = app
        .audit_kinds(&id)
        .await
        .iter()
        .filter(|k| *k == "vote_refused")
        .count();
    assert!(refused >= 4, "refusals are audited");

    let done = app.approve(&id, "bob").await;
    assert_eq!(done["status"], "approved");
    let r = app.vote(&id, "carol", approve).await;
    assert_error(r, StatusCode::CONFLICT, "already_decided").await;
}

#[tokio::test]
async fn nobody_votes_in_two_stages() {
    let app = TestApp::spawn().await;
    let id = app.escalate_id("test.same-person").await;
    app.approve(&id, "bob").await;
    let r = app.vote(&id, "bob", json!({"decision": "approve"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "separation_of_duties").await;
    let doc = app.approve(&id, "carol").await;
    assert_eq!(doc["status"], "approved");
}

#[tokio::test]
async fn twenty_concurrent_approvals_decide_once_and_call_back_once() {
    let receiver = Receiver::start(AGENT_SECRET).await;
    let app =
        TestApp::spawn_with(TestConfig::default().agent(|a| a.callback_url(&receiver.url))).await;
    let id = app.escalate_id("test.race").await;
    let reviewers = ["alice", "bob", "carol", "dave", "erin", "frank"];
    let votes = (0..20).map(|i| {
        app.vote(
            &id,
            reviewers[i % reviewers.len()],
            json!({"decision": "approve"}),
        )
    });
    let responses = futures_util::future::join_all(votes).await;
    let accepted = responses
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert_eq!(accepted, 1, "exactly one vote decides");
    for r in responses
        .into_iter()
        .filter(|r| r.status() != StatusCode::OK)
    {
        let code = r.json::<Value>().await.unwrap()["error"]["code"].clone();
        assert!(
            code == "already_decided" || code == "already_voted",
            "{code}"
        );
    }
    let doc = app.status(&id).await;
    assert_eq!(doc["status"], "approved");
    assert_eq!(doc["stages"][0]["votes"].as_array().unwrap().len(), 1);
    let received = eventually(Duration::from_secs(10), || async {
        let r = receiver.received();
        (!r.is_empty()).then_some(r)
    })
    .await;
    // Give a duplicate the chance to show up, then check there is none.
    app.deliver().await;
    assert_eq!(receiver.received().len(), 1);
    assert!(received[0].verified);
    let decided = app
        .audit_kinds(&id)
        .await
        .iter()
        .filter(|k| *k == "decided")
        .count();
    assert_eq!(decided, 1);
}
