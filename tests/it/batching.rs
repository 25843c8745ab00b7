//! Batching: timer ticks committed a batch per transaction, intakes and votes sharing a
//! transaction (group commit). Behaviour only — every request still gets its own answer
//! and every escalation its own audit trail; the benchmark measures the speed.

use crate::support::{AGENT_KEY, Options, TestApp};
use countersign::domain::EscalationId;
use countersign::store::audit::Verdict;
use countersign::store::db;
use futures_util::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

/// Opens `n` escalations of `intent`, 32 requests in flight.
async fn open_many(app: &TestApp, intent: &str, n: usize) -> Vec<String> {
    stream::iter(0..n)
        .map(|_| app.escalate_id(intent))
        .buffer_unordered(32)
        .collect()
        .await
}

async fn statuses(app: &TestApp) -> HashMap<String, i64> {
    db::query_as("SELECT status, COUNT(*) FROM escalations GROUP BY status")
        .fetch_all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn chain_length(app: &TestApp) -> i64 {
    match app.service.store.verify_audit().await.unwrap() {
        Verdict::Intact { events } => events,
        broken => panic!("audit chain broken: {broken:?}"),
    }
}

#[tokio::test]
async fn one_step_fires_1200_due_escalations_each_with_its_own_result_and_audit() {
    let app = TestApp::spawn_with(Options::manual()).await;
    let timeouts = open_many(&app, "test.timeout", 800).await;
    let delegations = open_many(&app, "test.delegation", 400).await;
    // 61 minutes on: the first 800 time out (1 h); the other 400 pass their delegation
    // tier (10 min) and their SLA (30 min) and stay pending. More than one batch is due.
    app.clock.advance(61 * MIN);
    let step = countersign::workers::timers::run_once(&app.service, app.clock_now())
        .await
        .unwrap();
    assert_eq!(step.fired, 1200);
    assert!(!step.more);

    let counts = statuses(&app).await;
    assert_eq!(counts.get("expired"), Some(&800));
    assert_eq!(counts.get("pending"), Some(&400));
    for id in &timeouts {
        assert_eq!(
            app.audit_kinds(id).await,
            ["created", "stage_started", "decided"],
            "{id}"
        );
    }
    for id in &delegations {
        assert_eq!(
            app.audit_kinds(id).await,
            [
                "created",
                "stage_started",
                "delegation_tier",
                "sla_escalated"
            ],
            "{id}"
        );
    }
    let doc = app.status(&delegations[0]).await;
    assert_eq!(doc["stages"][0]["status"], "escalated");
    assert_eq!(doc["stages"][0]["eligible"], json!(["bob", "erin", "dave"]));
    let doc = app.status(&timeouts[0]).await;
    assert_eq!(doc["decision"]["outcome"], "expired");
    // One chain for all of them: 3 events per timeout, 4 per delegation.
    assert_eq!(chain_length(&app).await, 800 * 3 + 400 * 4);
    // Nothing is left due; the pending ones are re-armed for their timeout.
    let next = app.service.store.next_due_timer().await.unwrap().unwrap();
    assert!(next > app.clock_now());
    assert_eq!(app.advance(Duration::ZERO).await, 0);
}

#[tokio::test]
async fn a_vote_landing_between_prepare_and_commit_wins_over_the_stale_tick() {
    let app = TestApp::spawn_with(Options::manual()).await;
    let id = app.escalate_id("test.delegation").await;
    app.clock.advance(11 * MIN);
    let ids = [EscalationId(id.clone())];
    // The timer worker works the tick out on a snapshot (the delegation tier is due)…
    let prepared = app
        .service
        .prepare_ticks(&ids, app.clock_now())
        .await
        .unwrap();
    // …bob's approval commits in between and decides…
    assert_eq!(app.approve(&id, "bob").await["status"], "approved");
    // …so the commit works the tick out again on the decided state: nothing to do.
    let applied = app.service.commit_ticks(prepared).await.unwrap();
    let esc = applied[0].1.as_ref().expect("the tick applies");
    assert_eq!(esc.status.as_str(), "approved");
    let doc = app.status(&id).await;
    assert_eq!(doc["status"], "approved");
    assert_eq!(doc["stages"][0]["votes"][0]["reviewer"], "bob");
    let kinds = app.audit_kinds(&id).await;
    assert!(!kinds.contains(&"delegation_tier".to_owned()), "{kinds:?}");
}

#[tokio::test]
async fn concurrent_intakes_share_commits_but_each_gets_its_own_answer() {
    let app = TestApp::spawn().await;
    let post = |intent: &str, key: String| {
        app.client
            .post(app.url("/v1/escalations"))
            .bearer_auth(AGENT_KEY)
            .header("Idempotency-Key", key)
            .json(&json!({"intent": intent, "summary": "Deploy"}))
            .send()
    };
    // All at once: 30 new, 10 repeats of one key, 5 that no workflow matches.
    let requests = (0..30)
        .map(|i| post("test.single", format!("new-{i}")))
        .chain((0..10).map(|_| post("test.single", "same".into())))
        .chain((0..5).map(|i| post("nothing.matches", format!("none-{i}"))));
    let responses = futures_util::future::join_all(requests).await;
    let mut answers = Vec::new();
    for r in responses {
        let r = r.unwrap();
        let status = r.status();
        answers.push((status, r.json::<Value>().await.unwrap()));
    }
    let (new, rest) = answers.split_at(30);
    let (same, none) = rest.split_at(10);
    assert!(new.iter().all(|(s, _)| *s == StatusCode::CREATED));
    let mut ids: Vec<&str> = new.iter().map(|(_, d)| d["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30, "each new request opened its own escalation");
    let created: Vec<_> = same
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .collect();
    assert_eq!(created.len(), 1, "one repeat creates, the others find it");
    let first = &created[0].1["id"];
    for (status, doc) in same.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(&doc["id"], first);
    }
    for (status, doc) in none {
        assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(doc["error"]["code"], "no_workflow");
    }
    assert_eq!(statuses(&app).await.get("pending"), Some(&31));
    // Two events (created, stage_started) per escalation, one chain.
    assert_eq!(chain_length(&app).await, 31 * 2);
}

#[tokio::test]
async fn concurrent_votes_on_many_escalations_each_decide_their_own() {
    let app = TestApp::spawn().await;
    let ids = open_many(&app, "test.single", 20).await;
    // For each escalation, bob approves and frank (not in the pool) tries to, all at once.
    let votes = ids.iter().flat_map(|id| {
        ["bob", "frank"].map(|who| app.vote(id, who, json!({"decision": "approve"})))
    });
    let responses = futures_util::future::join_all(votes).await;
    for (i, r) in responses.into_iter().enumerate() {
        let status = r.status();
        if i % 2 == 0 {
            assert_eq!(status, StatusCode::OK, "bob's vote");
        } else {
            let code = r.json::<Value>().await.unwrap()["error"]["code"].clone();
            assert!(
                code == "not_eligible" || code == "already_decided",
                "{code}"
            );
        }
    }
    for id in &ids {
        assert_eq!(app.status(id).await["status"], "approved");
        let kinds = app.audit_kinds(id).await;
        let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
        assert_eq!(
            (count("decided"), count("vote_refused")),
            (1, 1),
            "{kinds:?}"
        );
    }
    assert_eq!(chain_length(&app).await, 20 * 5);
}

/// A request whose write fails inside a shared transaction: a real SQLite error, raised by
/// a trigger on the poisoned row. The group rolls back whole and every other job is
/// retried alone, so only the poisoned request fails — with the contract's opaque 500,
/// having changed nothing — and the chain holds exactly what was acknowledged.
#[tokio::test]
async fn a_failing_request_fails_alone_and_its_group_neighbours_still_commit() {
    let app = TestApp::spawn().await;
    let pool = &app.db;
    let sqlite = [
        "CREATE TRIGGER poison_intake BEFORE INSERT ON escalations
         WHEN NEW.state LIKE '%poison-pill%'
         BEGIN SELECT RAISE(ABORT, 'poisoned intake'); END",
        "CREATE TRIGGER poison_vote BEFORE INSERT ON audit_events
         WHEN NEW.data LIKE '%poison-pill%'
         BEGIN SELECT RAISE(ABORT, 'poisoned vote'); END",
    ];
    let postgres = [
        "CREATE FUNCTION poison_intake() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.state LIKE '%poison-pill%' THEN RAISE EXCEPTION 'poisoned intake'; END IF;
         RETURN NEW; END $$",
        "CREATE TRIGGER poison_intake BEFORE INSERT ON escalations
         FOR EACH ROW EXECUTE FUNCTION poison_intake()",
        "CREATE FUNCTION poison_vote() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.data LIKE '%poison-pill%' THEN RAISE EXCEPTION 'poisoned vote'; END IF;
         RETURN NEW; END $$",
        "CREATE TRIGGER poison_vote BEFORE INSERT ON audit_events
         FOR EACH ROW EXECUTE FUNCTION poison_vote()",
    ];
    let triggers: &[&'static str] = if crate::support::on_postgres() {
        &postgres
    } else {
        &sqlite
    };
    for trigger in triggers.iter().copied() {
        db::query(trigger).execute(pool).await.unwrap();
    }

    // Intake: 24 good requests and one poisoned, all at once.
    let post = |summary: &str, key: String| {
        app.client
            .post(app.url("/v1/escalations"))
            .bearer_auth(AGENT_KEY)
            .header("Idempotency-Key", key)
            .json(&json!({"intent": "test.single", "summary": summary}))
            .send()
    };
    let requests = (0..12)
        .map(|i| post("Deploy", format!("good-{i}")))
        .chain([post("poison-pill", "bad".into())])
        .chain((12..24).map(|i| post("Deploy", format!("good-{i}"))));
    let mut good = Vec::new();
    for (i, r) in futures_util::future::join_all(requests)
        .await
        .into_iter()
        .enumerate()
    {
        let r = r.unwrap();
        let status = r.status();
        let doc: Value = r.json().await.unwrap();
        if i == 12 {
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{doc}");
            assert_eq!(doc["error"]["code"], "internal");
        } else {
            assert_eq!(status, StatusCode::CREATED, "{doc}");
            good.push(doc["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(statuses(&app).await.get("pending"), Some(&24));

    // Votes: bob approves the 24, one of them with a poisoned comment.
    let votes = good.iter().enumerate().map(|(i, id)| {
        let comment = if i == 5 { "poison-pill" } else { "Looks good" };
        app.vote(
            id,
            "bob",
            json!({"decision": "approve", "comment": comment}),
        )
    });
    let responses = futures_util::future::join_all(votes).await;
    for (i, r) in responses.into_iter().enumerate() {
        let expected = if i == 5 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        };
        assert_eq!(r.status(), expected, "vote {i}");
    }
    let counts = statuses(&app).await;
    assert_eq!(
        (counts.get("approved"), counts.get("pending")),
        (Some(&23), Some(&1))
    );
    assert_eq!(app.status(&good[5]).await["stages"][0]["votes"], json!([]));
    // created + stage_started per escalation; vote_cast + stage_closed + decided per approval.
    let per_approval = app.audit_kinds(&good[0]).await.len() as i64 - 2;
    assert_eq!(chain_length(&app).await, 24 * 2 + 23 * per_approval);
}
