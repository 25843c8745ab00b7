//! Config reload on SIGHUP, on the real binary: the file is rewritten and the process
//! signalled. A valid file applies to new escalations while open ones keep their workflow;
//! an invalid one is refused; a removed reviewer loses their key and links; a long-poll
//! spans a reload. Every applied version is a `config.applied` event with the file's SHA-256.
//! The Slack case runs in-process (the fake Slack is the test's) through the same `Reloader`.

use crate::support::config::LINK_SECRET;
use crate::support::process::{Server, write_config};
use crate::support::{AGENT_KEY, Stage, TestConfig, Workflow, client, eventually};
use countersign::domain::{EscalationId, ReviewerId};
use countersign::signing::links::{LinkAction, LinkClaims, LinkKeys};
use countersign::store::db;
use countersign::store::{Store, audit};
use reqwest::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(20);

/// The test config as a YAML tree, for the edits a reload test makes.
fn tree(config: &TestConfig, db: &crate::support::TestDb) -> serde_norway::Value {
    serde_norway::from_str(&config.render_url(&db.url())).unwrap()
}

/// Writes `tree` over the config file; returns the SHA-256 of the bytes written.
fn rewrite(path: &str, tree: &serde_norway::Value) -> String {
    let text = serde_norway::to_string(tree).unwrap();
    std::fs::write(path, &text).unwrap();
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn file_sha(path: &str) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// A workflow for `test.single` placed first, so it wins over the standard `single`.
fn prepend_two_approvals(tree: &mut serde_norway::Value) {
    let first = Workflow::new("reloaded").intents(["test.single"]).stage(
        Stage::new("Both")
            .approvers(["user:bob", "user:carol"])
            .required(2),
    );
    let first = serde_norway::to_value(first).unwrap();
    let Some(serde_norway::Value::Sequence(workflows)) = tree.get_mut("workflows") else {
        panic!("the test config has workflows");
    };
    workflows.insert(0, first);
}

/// The value of a Prometheus counter sample, 0 when absent.
async fn reloads(server: &Server, client: &Client, result: &str) -> u64 {
    let text = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sample = format!("countersign_config_reloads_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&sample))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Sends SIGHUP and waits until the reload counted as `result` reaches `count`.
async fn hang_up(server: &Server, client: &Client, result: &str, count: u64) {
    server.signal("HUP");
    eventually(WITHIN, || async {
        (reloads(server, client, result).await >= count).then_some(())
    })
    .await;
}

async fn escalate(server: &Server, client: &Client, intent: &str) -> Value {
    let r = client
        .post(format!("{}/v1/escalations", server.base))
        .bearer_auth(AGENT_KEY)
        .json(
            &json!({"intent": intent, "summary": "Deploy", "payload": {"v": 1},
                      "risk": {"score": 10}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn vote(server: &Server, client: &Client, id: &str, key: &str) -> reqwest::Response {
    client
        .post(format!("{}/v1/escalations/{id}/votes", server.base))
        .bearer_auth(key)
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .unwrap()
}

async fn status(server: &Server, client: &Client, id: &str) -> Value {
    let r = client
        .get(format!("{}/v1/escalations/{id}", server.base))
        .bearer_auth(AGENT_KEY)
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

/// The data of the `config.applied` events, in order.
async fn applied_versions(db: &crate::support::TestDb) -> Vec<Value> {
    let pool = db.pool().await;
    db::query_scalar::<String>(
        "SELECT data FROM audit_events WHERE kind = 'config.applied' ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|d| serde_json::from_str(d).unwrap())
    .collect()
}

/// The config version an escalation was created under, as its `created` event names it.
async fn created_under(store: &Store, id: &str) -> Value {
    let events = store.audit_events(id).await.unwrap();
    let (_, _, _, data) = events.iter().find(|e| e.1 == "created").unwrap();
    data["config_sha256"].clone()
}

#[tokio::test]
async fn a_valid_reload_applies_to_new_escalations_while_open_ones_keep_their_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = write_config(dir.path(), &TestConfig::default()).await;
    let first_sha = file_sha(&path);
    let server = Server::start(&path).await;
    let client = client();
    let before = escalate(&server, &client, "test.single").await;
    assert_eq!(before["workflow"], "single");
    let before = before["id"].as_str().unwrap().to_owned();

    let mut next = tree(&TestConfig::default(), &db);
    prepend_two_approvals(&mut next);
    let second_sha = rewrite(&path, &next);
    hang_up(&server, &client, "applied", 1).await;

    let after = escalate(&server, &client, "test.single").await;
    assert_eq!(after["workflow"], "reloaded");
    let after = after["id"].as_str().unwrap().to_owned();
    // The open one decides under its own workflow: one approval is enough there...
    assert_eq!(
        vote(&server, &client, &before, "bob-key").await.status(),
        200
    );
    assert_eq!(
        status(&server, &client, &before).await["status"],
        "approved"
    );
    // ...and the new one needs both.
    assert_eq!(
        vote(&server, &client, &after, "bob-key").await.status(),
        200
    );
    assert_eq!(status(&server, &client, &after).await["status"], "pending");
    assert_eq!(
        vote(&server, &client, &after, "carol-key").await.status(),
        200
    );
    assert_eq!(status(&server, &client, &after).await["status"], "approved");

    let store = Store::open(&db.url()).await.unwrap();
    let versions = applied_versions(&db).await;
    let shas: Vec<&str> = versions
        .iter()
        .map(|v| v["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(shas, [first_sha.as_str(), second_sha.as_str()]);
    assert_eq!(versions[0]["reason"], "start");
    assert_eq!(versions[1]["reason"], "reload");
    assert_eq!(created_under(&store, &before).await, first_sha);
    assert_eq!(created_under(&store, &after).await, second_sha);
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        audit::Verdict::Intact { .. }
    ));
    assert_eq!(reloads(&server, &client, "refused").await, 0);
}

#[tokio::test]
async fn an_invalid_reload_is_refused_and_the_old_config_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = write_config(dir.path(), &TestConfig::default()).await;
    let log = dir.path().join("server.log");
    let server = Server::start_logging(&path, &log).await;
    let client = client();

    let mut next = tree(&TestConfig::default(), &db);
    prepend_two_approvals(&mut next);
    next["workflows"][0]["stages"][0]["approvers"][1] = "user:nobody".into();
    rewrite(&path, &next);
    hang_up(&server, &client, "refused", 1).await;

    let text = std::fs::read_to_string(&log).unwrap();
    let refusals: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("config reload refused"))
        .collect();
    assert!(
        refusals
            .iter()
            .any(|l| l.contains("path=workflows[0].stages[0].approvers[1]")),
        "{refusals:?}"
    );
    // Still the old workflows, and no new version in the chain.
    assert_eq!(
        escalate(&server, &client, "test.single").await["workflow"],
        "single"
    );
    assert_eq!(reloads(&server, &client, "applied").await, 0);
    assert_eq!(applied_versions(&db).await.len(), 1);
}

/// Drops `reviewer` from `reviewers` and from every stage's approvers.
fn remove_reviewer(tree: &mut serde_norway::Value, reviewer: &str) {
    let Some(serde_norway::Value::Sequence(people)) = tree.get_mut("reviewers") else {
        panic!("the test config has reviewers");
    };
    people.retain(|r| r["id"] != reviewer);
    let who = serde_norway::Value::from(format!("user:{reviewer}"));
    let Some(serde_norway::Value::Sequence(workflows)) = tree.get_mut("workflows") else {
        panic!("the test config has workflows");
    };
    for workflow in workflows {
        let Some(serde_norway::Value::Sequence(stages)) = workflow.get_mut("stages") else {
            continue;
        };
        for stage in stages {
            if let Some(serde_norway::Value::Sequence(approvers)) = stage.get_mut("approvers") {
                approvers.retain(|a| *a != who);
            }
        }
    }
}

/// A correctly signed approve link for `reviewer`, as the email would carry.
async fn link(server: &Server, store: &Store, id: &str, reviewer: &str) -> String {
    let esc = store
        .escalation(&EscalationId(id.to_owned()))
        .await
        .unwrap()
        .unwrap();
    let claims = LinkClaims {
        escalation: esc.id.clone(),
        revision: esc.revision,
        stage: esc.current_stage,
        reviewer: ReviewerId(reviewer.to_owned()),
        action: LinkAction::Approve,
        round: esc.current().round,
        issued_at_ms: None,
        expires_at_ms: esc.expires_at.timestamp_millis(),
    };
    let token = LinkKeys::new(LINK_SECRET, []).sign(&claims);
    format!("{}/links/{token}", server.base)
}

#[tokio::test]
async fn a_reload_that_removes_a_reviewer_stops_their_key_and_links_and_rotates_agent_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = write_config(dir.path(), &TestConfig::default()).await;
    let server = Server::start(&path).await;
    let client = client();
    let store = Store::open(&db.url()).await.unwrap();
    // Frank may approve `test.race` before the reload: his link page offers the vote.
    let id = escalate(&server, &client, "test.race").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let frank = link(&server, &store, &id, "frank").await;
    assert_eq!(client.get(&frank).send().await.unwrap().status(), 200);

    let mut next = tree(&TestConfig::default(), &db);
    remove_reviewer(&mut next, "frank");
    // The same reload rotates the other agent's key.
    next["agents"][1]["api_key"] = "rotated-key".into();
    rewrite(&path, &next);
    hang_up(&server, &client, "applied", 1).await;

    let intake = |key: &'static str| {
        client
            .post(format!("{}/v1/escalations", server.base))
            .bearer_auth(key)
            .json(&json!({"intent": "test.single", "summary": "Deploy", "payload": {}}))
            .send()
    };
    assert_eq!(intake("other-agent-key").await.unwrap().status(), 401);
    assert_eq!(intake("rotated-key").await.unwrap().status(), 201);

    assert_eq!(vote(&server, &client, &id, "frank-key").await.status(), 401);
    let r = client
        .post(&frank)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("comment=")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    assert_eq!(status(&server, &client, &id).await["status"], "pending");
    // The others still vote.
    assert_eq!(vote(&server, &client, &id, "bob-key").await.status(), 200);
    assert_eq!(status(&server, &client, &id).await["status"], "approved");
}

#[tokio::test]
async fn a_long_poll_started_before_a_reload_returns_the_decision_made_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = write_config(dir.path(), &TestConfig::default()).await;
    let log = dir.path().join("server.log");
    let server = Server::start_logging(&path, &log).await;
    let client = client();
    let id = escalate(&server, &client, "test.single").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let poll = tokio::spawn({
        let url = format!("{}/v1/escalations/{id}?wait=60", server.base);
        let client = client.clone();
        async move {
            let r = client.get(url).bearer_auth(AGENT_KEY).send().await.unwrap();
            r.json::<Value>().await.unwrap()
        }
    });
    // The long-poll is in the server before the signal goes.
    let arrived = format!("method=GET path=/v1/escalations/{id}}}");
    eventually(WITHIN, || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines()
            .any(|l| l.contains(&arrived) && l.contains("started processing request"))
            .then_some(())
    })
    .await;

    let mut next = tree(&TestConfig::default(), &db);
    prepend_two_approvals(&mut next);
    rewrite(&path, &next);
    hang_up(&server, &client, "applied", 1).await;
    assert!(!poll.is_finished(), "the long-poll is still waiting");

    assert_eq!(vote(&server, &client, &id, "bob-key").await.status(), 200);
    let answered = tokio::time::timeout(WITHIN, poll).await.unwrap().unwrap();
    assert_eq!(answered["status"], "approved");
    assert_eq!(answered["workflow"], "single");
}

/// In-process, so the fake Slack can watch: the same reload a SIGHUP runs.
#[tokio::test]
async fn a_reload_that_removes_a_reviewer_stops_their_slack_buttons() {
    use crate::support::fake_slack::{self, FakeSlack, dm_channel, form_body, sign};
    use crate::support::requests::{id_of, rich};
    use crate::support::{Options, TestApp};
    use countersign::app::reload::{Outcome, Reloader, Source};

    let slack = FakeSlack::start().await;
    let config = TestConfig::default().slack(&slack.api_url);
    let app = TestApp::spawn_with(Options {
        config: config.clone(),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = id_of(&app.escalate_with(rich("test.race", "Race")).await);
    app.deliver_all().await;
    let frank = slack.message_in(&dm_channel("frank"));

    let dir = tempfile::tempdir().unwrap();
    let (path, db) = write_config(dir.path(), &config).await;
    let read = countersign::config::load_file(Path::new(&path))
        .unwrap()
        .config;
    let mut next = tree(&config, &db);
    remove_reviewer(&mut next, "frank");
    let sha = rewrite(&path, &next);
    let service = &app.service;
    let mut reloader = Reloader::new(
        Source::File(path.into()),
        read,
        service.live.clone(),
        service.store.clone(),
        service.clock.clone(),
    );
    assert_eq!(reloader.reload().await, Outcome::Applied { sha256: sha });

    let payload = fake_slack::click("frank", &frank, "approve", &slack.response_url());
    let body = form_body(&payload);
    let ts = chrono::Utc::now().timestamp();
    let r = app
        .client
        .post(app.url("/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(ts, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually(WITHIN, || async {
        slack
            .responses()
            .into_iter()
            .find(|r| r["text"].as_str().is_some_and(|t| t.contains("not linked")))
    })
    .await;
    let doc = app.status(&id).await;
    assert_eq!(doc["status"], "pending");
    assert!(doc["votes"].as_array().is_none_or(Vec::is_empty), "{doc}");
}
