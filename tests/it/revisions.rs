//! Request changes and revisions (issue 14, design.md §7): the vote, the revisions route,
//! the long-poll, the callback, expiry while changes are requested.

use crate::support::callbacks::Receiver;
use crate::support::{
    AGENT_KEY, AGENT_SECRET, OTHER_AGENT_KEY, Options, Stage, TestApp, TestConfig, Workflow,
    assert_error,
};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// One stage (bob or carol), two revisions allowed, a one-hour deadline.
pub fn revisable() -> Workflow {
    Workflow::new("revisable")
        .intents(["test.revisable"])
        .timeout("1h")
        .max_revisions(2)
        .stage(Stage::new("Review").approvers(["user:bob", "user:carol"]))
}

pub fn config() -> TestConfig {
    TestConfig::default().workflow(revisable())
}

pub fn request(summary: &str, replicas: u32) -> Value {
    json!({
        "intent": "test.revisable",
        "summary": summary,
        "payload": {"service": "api", "replicas": replicas, "region": "eu-west-1"},
        "risk": {"score": 80},
    })
}

/// `POST /v1/escalations/{id}/revisions` as `key`'s agent, with an optional idempotency key.
pub async fn revise_as(
    app: &TestApp,
    key: &str,
    id: &str,
    body: &Value,
    idempotency: Option<&str>,
) -> Response {
    let mut r = app
        .client
        .post(app.url(&format!("/v1/escalations/{id}/revisions")))
        .bearer_auth(key)
        .json(body);
    if let Some(k) = idempotency {
        r = r.header("idempotency-key", k);
    }
    r.send().await.expect("request")
}

pub async fn revise(app: &TestApp, id: &str, body: &Value) -> Value {
    let r = revise_as(app, AGENT_KEY, id, body, None).await;
    assert_eq!(r.status(), StatusCode::OK, "revise");
    r.json().await.expect("json")
}

pub async fn request_changes(app: &TestApp, id: &str, reviewer: &str, comment: &str) -> Value {
    let r = app
        .vote(
            id,
            reviewer,
            json!({"decision": "request_changes", "comment": comment}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "request_changes");
    r.json().await.expect("json")
}

#[tokio::test]
async fn request_changes_then_revise_restarts_voting_and_keeps_the_history() {
    let app = TestApp::spawn_with(config()).await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("Scale api", 6)).await);

    let r = app
        .vote(&id, "bob", json!({"decision": "request_changes"}))
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = app
        .vote(
            &id,
            "bob",
            json!({"decision": "request_changes", "comment": "  "}),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    // Nobody asked yet: nothing to revise.
    let r = revise_as(&app, AGENT_KEY, &id, &request("Scale api", 4), None).await;
    assert_error(r, StatusCode::CONFLICT, "changes_not_requested").await;

    let doc = request_changes(&app, &id, "bob", "Six replicas is too many; use four.").await;
    assert_eq!(doc["status"], "changes_requested");
    assert_eq!(doc["revision"], 1);
    assert_eq!(doc["decision"], Value::Null);
    let asked = &doc["revisions"][0]["changes_requested"];
    assert_eq!(asked["by"], "bob");
    assert_eq!(asked["comment"], "Six replicas is too many; use four.");
    // Votes on it now are stale: the stage was stopped.
    let r = app.vote(&id, "carol", json!({"decision": "approve"})).await;
    assert_error(r, StatusCode::CONFLICT, "stale_stage").await;

    // Another agent's escalation is indistinguishable from none.
    let r = revise_as(&app, OTHER_AGENT_KEY, &id, &request("Scale api", 4), None).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    // The intake's strict parsing: an unknown field, a missing summary.
    let mut bad = request("Scale api", 4);
    bad["surprise"] = json!(1);
    let r = revise_as(&app, AGENT_KEY, &id, &bad, None).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = revise_as(
        &app,
        AGENT_KEY,
        &id,
        &json!({"intent": "test.revisable"}),
        None,
    )
    .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;

    let doc = revise(&app, &id, &request("Scale api to four", 4)).await;
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["revision"], 2);
    assert_eq!(doc["current_stage"], 1);
    let revisions = doc["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[1]["summary"], "Scale api to four");
    assert_eq!(revisions[1]["changes_requested"], Value::Null);
    assert_ne!(
        revisions[0]["payload_sha256"],
        revisions[1]["payload_sha256"]
    );
    // Bob's request for changes no longer counts, and bob may vote on the revision.
    let doc = app.approve(&id, "bob").await;
    assert_eq!(doc["status"], "approved");
    assert_eq!(doc["decision"]["decided_by"], json!(["bob"]));
    let kinds = app.audit_kinds(&id).await;
    for kind in ["changes_requested", "revised", "decided"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    // Decided: a further revision is refused.
    let r = revise_as(&app, AGENT_KEY, &id, &request("Again", 3), None).await;
    assert_error(r, StatusCode::CONFLICT, "already_decided").await;
}

#[tokio::test]
async fn max_revisions_bounds_requests_and_revisions() {
    let app = TestApp::spawn_with(config()).await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("v1", 1)).await);
    request_changes(&app, &id, "bob", "first").await;
    revise(&app, &id, &request("v2", 2)).await;
    request_changes(&app, &id, "carol", "second").await;
    let doc = revise(&app, &id, &request("v3", 3)).await;
    assert_eq!(doc["revision"], 3);
    // revision = 1 + max_revisions: no more requests for changes.
    let r = app
        .vote(
            &id,
            "bob",
            json!({"decision": "request_changes", "comment": "third"}),
        )
        .await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revised")
    );
    assert_eq!(app.status(&id).await["status"], "pending");
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_revision_and_writes_nothing() {
    let app = TestApp::spawn_with(config()).await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("v1", 1)).await);
    request_changes(&app, &id, "bob", "more").await;
    let body = request("v2", 2);
    let first = revise_as(&app, AGENT_KEY, &id, &body, Some("rev-1")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    let audit = app.audit_kinds(&id).await.len();
    let again = revise_as(&app, AGENT_KEY, &id, &body, Some("rev-1")).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(app.audit_kinds(&id).await.len(), audit, "nothing written");
    // Without the key the same body is a new attempt, and nobody asked for changes.
    let r = revise_as(&app, AGENT_KEY, &id, &body, None).await;
    assert_error(r, StatusCode::CONFLICT, "changes_not_requested").await;
    let r = revise_as(&app, AGENT_KEY, &id, &body, Some("   ")).await;
    assert_error(r, StatusCode::BAD_REQUEST, "malformed").await;
}

#[tokio::test]
async fn a_long_poll_returns_when_changes_are_requested() {
    let app = TestApp::spawn_with(config()).await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("v1", 1)).await);
    let poll = {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/escalations/{id}?wait=30"));
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let r = client.get(url).bearer_auth(AGENT_KEY).send().await.unwrap();
            (started.elapsed(), r.json::<Value>().await.unwrap())
        })
    };
    // The poll holds while pending (a brief pause lets it subscribe before the vote).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poll.is_finished(), "still waiting while pending");
    request_changes(&app, &id, "bob", "please change").await;
    let (took, doc) = poll.await.unwrap();
    assert_eq!(doc["status"], "changes_requested");
    assert!(
        took < Duration::from_secs(20),
        "woken, not timed out: {took:?}"
    );
}

#[tokio::test]
async fn the_agent_is_called_back_signed_when_changes_are_requested() {
    let receiver = Receiver::start(AGENT_SECRET).await;
    let app = TestApp::spawn_with(Options {
        config: config().agent(|a| a.callback_url(&receiver.url)),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("v1", 1)).await);
    request_changes(&app, &id, "bob", "fewer replicas").await;
    app.deliver_all().await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one callback: {got:?}");
    assert!(got[0].verified, "the reference verifier accepts it");
    assert_eq!(got[0].body["type"], "escalation.changes_requested");
    assert!(got[0].body["timestamp"].as_str().is_some());
    assert_eq!(got[0].body["data"]["status"], "changes_requested");
    assert_eq!(
        got[0].body["data"]["revisions"][0]["changes_requested"]["comment"],
        "fewer replicas"
    );
    // The revision and its decision: the decision is its own message.
    revise(&app, &id, &request("v2", 2)).await;
    app.approve(&id, "carol").await;
    app.deliver_all().await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body["type"], "escalation.decided");
    assert_eq!(got[1].body["data"]["revision"], 2);
    assert_ne!(got[0].webhook_id, got[1].webhook_id);
    let kinds = app.audit_kinds(&id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "callback_delivered").count(),
        2
    );
}

#[tokio::test]
async fn the_deadline_runs_while_changes_are_requested() {
    let app = TestApp::spawn_with(Options {
        config: config(),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = crate::support::requests::id_of(&app.escalate_with(request("v1", 1)).await);
    request_changes(&app, &id, "bob", "change it").await;
    app.advance(Duration::from_secs(30 * 60)).await;
    assert_eq!(app.status(&id).await["status"], "changes_requested");
    app.advance(Duration::from_secs(31 * 60)).await;
    let doc = app.status(&id).await;
    assert_eq!(doc["status"], "expired");
    let r = revise_as(&app, AGENT_KEY, &id, &request("late", 2), None).await;
    assert_error(r, StatusCode::CONFLICT, "already_decided").await;
}

mod slack {
    //! The Slack side: the Request changes… button and modal, the updated messages, the
    //! revised request's "what changed", and revision 1's buttons refused.

    use super::*;
    use crate::support::fake_slack::{self, FakeSlack, dm_channel, form_body, sign};
    use crate::support::requests::id_of;

    async fn interact(app: &TestApp, payload: &Value) -> Response {
        let body = form_body(payload);
        let ts = chrono::Utc::now().timestamp();
        app.client
            .post(app.url("/slack/interactions"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(ts, &body))
            .body(body)
            .send()
            .await
            .expect("request")
    }

    #[tokio::test]
    async fn request_changes_in_slack_then_the_revision_shows_what_changed() {
        let slack = FakeSlack::start().await;
        let app = TestApp::spawn_with(Options {
            config: config().slack(&slack.api_url),
            manual_workers: true,
            ..Options::default()
        })
        .await;
        let id = id_of(&app.escalate_with(request("Scale api to six", 6)).await);
        app.deliver_all().await;
        let first = slack.message_in(&dm_channel("bob"));
        let button = first.button("request_changes").expect("offered");
        assert_eq!(button["text"]["text"], "Request changes…");

        let clicked = fake_slack::click("bob", &first, "request_changes", &slack.response_url());
        assert_eq!(interact(&app, &clicked).await.status(), StatusCode::OK);
        let views = slack.views();
        assert_eq!(views.len(), 1);
        let view = &views[0];
        assert_eq!(view["callback_id"], "countersign_request_changes");
        fake_slack::check_view(view).expect("within Block Kit limits");
        // No comment: the modal says so and nothing is recorded.
        let r = interact(&app, &fake_slack::submit("bob", view, json!({}))).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["response_action"], "errors");
        assert!(
            body["errors"]["change"]
                .as_str()
                .unwrap()
                .contains("comment")
        );
        assert_eq!(app.status(&id).await["status"], "pending");

        let values = json!({"change": {"change": {"type": "plain_text_input",
            "value": "<!channel> Six is too many; use four."}}});
        let r = interact(&app, &fake_slack::submit("bob", view, values)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().is_empty(), "the modal closes");
        let doc = app.status(&id).await;
        assert_eq!(doc["status"], "changes_requested");
        assert_eq!(
            doc["revisions"][0]["changes_requested"]["comment"],
            "<!channel> Six is too many; use four."
        );

        app.deliver_all().await;
        for name in ["bob", "carol"] {
            let m = slack.message_in(&dm_channel(name));
            let text = m.all_text();
            assert!(!m.has_buttons(), "{name}: buttons gone");
            assert!(text.contains("Changes requested by Bob Builder"), "{text}");
            assert!(text.contains("&lt;!channel&gt; Six is too many"), "{text}");
            assert!(!text.contains("<!channel>"));
        }
        if let Ok(dir) = std::env::var("COUNTERSIGN_DUMP_DIR") {
            let m = slack.message_in(&dm_channel("bob"));
            std::fs::write(
                format!("{dir}/changes-requested-slack-blocks.json"),
                serde_json::to_string_pretty(&m.blocks).unwrap(),
            )
            .unwrap();
        }

        let mut revised = request("Scale api to four", 4);
        revised["payload"]["canary"] = json!(true);
        revised["payload"].as_object_mut().unwrap().remove("region");
        revised["risk"]["score"] = json!(40);
        revise(&app, &id, &revised).await;
        app.deliver_all().await;
        let messages = slack.messages_in(&dm_channel("bob"));
        assert_eq!(messages.len(), 2, "a new message for the revision");
        let old = &messages[0];
        assert!(!old.has_buttons());
        assert!(old.all_text().contains("revision 2"), "{}", old.all_text());
        let new = &messages[1];
        let text = new.all_text();
        for needle in [
            "Revision 2 — what changed since revision 1",
            "Changes requested by Bob Builder",
            "Scale api to six",
            "Scale api to four",
            "80 → *40*",
            "`/replicas` changed: `6` → `4`",
            "`/canary` added: `true`",
            "`/region` removed (was `\"eu-west-1\"`)",
        ] {
            assert!(text.contains(needle), "{needle:?} in {text}");
        }
        fake_slack::check_blocks(&new.blocks, 50, false).expect("within Block Kit limits");
        if let Ok(dir) = std::env::var("COUNTERSIGN_DUMP_DIR") {
            std::fs::write(
                format!("{dir}/revised-slack-blocks.json"),
                serde_json::to_string_pretty(&new.blocks).unwrap(),
            )
            .unwrap();
        }

        // Revision 1's buttons are refused as stale; revision 2's work.
        let stale = fake_slack::click("carol", &first, "approve", &slack.response_url());
        assert_eq!(interact(&app, &stale).await.status(), StatusCode::OK);
        crate::support::eventually(Duration::from_secs(10), || async {
            slack.responses().into_iter().find(|r| {
                r["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("no longer open"))
            })
        })
        .await;
        assert_eq!(app.status(&id).await["status"], "pending");
        let fresh = fake_slack::click("carol", new, "approve", &slack.response_url());
        assert_eq!(interact(&app, &fresh).await.status(), StatusCode::OK);
        assert_eq!(app.status(&id).await["status"], "approved");
    }
}

mod email {
    //! The email side: the Request changes link to a page with a required comment over
    //! real SMTP, the revised email's "what changed", and revision 1's links refused.

    use super::*;
    use crate::support::requests::id_of;
    use crate::support::smtp::{Mail, SmtpServer};

    fn local(app: &TestApp, link: &str) -> String {
        let at = link.find("/links/").expect("a /links/ URL");
        app.url(&link[at..])
    }

    async fn get(app: &TestApp, link: &str) -> (StatusCode, String) {
        let r = app.client.get(local(app, link)).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn post(app: &TestApp, link: &str, comment: &str) -> (StatusCode, String) {
        let mut encoder = reqwest::Url::parse("http://form.invalid/").unwrap();
        encoder.query_pairs_mut().append_pair("comment", comment);
        let r = app
            .client
            .post(local(app, link))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encoder.query().unwrap_or_default().to_owned())
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    fn latest(smtp: &SmtpServer, to: &str, count: usize) -> Mail {
        let mails = smtp.to(to);
        assert_eq!(mails.len(), count, "mails to {to}");
        mails.into_iter().last().unwrap()
    }

    fn dump(name: &str, body: &str) {
        if let Ok(dir) = std::env::var("COUNTERSIGN_DUMP_DIR") {
            std::fs::write(format!("{dir}/{name}"), body).unwrap();
        }
    }

    #[tokio::test]
    async fn request_changes_by_email_then_the_revised_email_shows_what_changed() {
        let smtp = SmtpServer::start().await;
        let app = TestApp::spawn_with(Options {
            config: config().email(&smtp.url()),
            manual_workers: true,
            ..Options::default()
        })
        .await;
        let id = id_of(&app.escalate_with(request("Scale api to six", 6)).await);
        app.deliver_all().await;
        let first = latest(&smtp, "bob@example.com", 1);
        assert!(first.html.contains("Request changes"));
        let ask = first.link("Request changes");

        let (status, page) = get(&app, &ask).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("What should change? (required)"), "{page}");
        assert_eq!(
            app.status(&id).await["status"],
            "pending",
            "a GET records nothing"
        );
        // No comment: the form again, saying so.
        let (status, page) = post(&app, &ask, "  ").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("needs a comment"), "{page}");
        assert_eq!(app.status(&id).await["status"], "pending");

        let (status, page) = post(&app, &ask, "Use four replicas & keep the region.").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("You asked for changes"), "{page}");
        assert!(page.contains("Voting is stopped"), "{page}");
        let doc = app.status(&id).await;
        assert_eq!(doc["status"], "changes_requested");
        assert_eq!(doc["stages"][0]["votes"][0]["channel"], "email");

        let mut revised = request("Scale api to four", 4);
        revised["payload"]["canary"] = json!(true);
        revise(&app, &id, &revised).await;
        app.deliver_all().await;
        let second = latest(&smtp, "bob@example.com", 2);
        for needle in [
            "REVISION 2: WHAT CHANGED SINCE REVISION 1",
            "Changes requested by Bob Builder",
            "> Use four replicas & keep the region.",
            "Summary was: Scale api to six",
            "Summary now: Scale api to four",
            "~ /replicas: 6 -> 4",
            "+ /canary: true",
        ] {
            assert!(
                second.text.contains(needle),
                "{needle:?} in {}",
                second.text
            );
        }
        assert!(
            second
                .html
                .contains("Revision 2: what changed since revision 1")
        );
        assert!(
            second
                .html
                .contains("Use four replicas &amp; keep the region.")
        );
        dump("revised-email.html", &second.html);

        // Revision 1's links are stale; revision 2's work, and its page shows the diff.
        let (status, page) = post(&app, &first.link("Approve:"), "").await;
        assert_eq!(status, StatusCode::CONFLICT, "{page}");
        assert!(page.contains("This request has moved on"), "{page}");
        let (status, page) = get(&app, &second.link("Request changes")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains("Revision 2: what changed since revision 1"),
            "{page}"
        );
        dump("request-changes-page.html", &page);
        let (status, _) = post(&app, &second.link("Approve:"), "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(app.status(&id).await["status"], "approved");
    }
}

mod crash {
    //! kill -9 in the middle of the cycle: the changes_requested callback is in flight
    //! when the process dies; after a restart it goes out again under the same webhook-id
    //! and is answered once, and the cycle carries on on the restarted process.

    use super::*;
    use crate::support::eventually;
    use crate::support::process::{Server, write_config};
    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::HeaderMap;
    use axum::routing::post;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    /// (webhook-id, type, signature verified, answered)
    type Log = Arc<Mutex<Vec<(String, String, bool, bool)>>>;

    #[derive(Clone)]
    struct Hook {
        hang: Arc<AtomicBool>,
        log: Log,
        webhook: Arc<standardwebhooks::Webhook>,
    }

    async fn receive(State(h): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
        let verified = h.webhook.verify(&body, &headers).is_ok();
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let kind = serde_json::from_slice::<Value>(&body).unwrap_or_default()["type"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let hang = h.hang.load(Ordering::SeqCst);
        h.log.lock().unwrap().push((id, kind, verified, !hang));
        if hang {
            std::future::pending::<()>().await;
        }
        StatusCode::NO_CONTENT
    }

    fn answered(log: &Log, kind: &str) -> Vec<String> {
        let log = log.lock().unwrap();
        log.iter()
            .filter(|(_, k, _, done)| k == kind && *done)
            .map(|(id, ..)| id.clone())
            .collect()
    }

    #[tokio::test]
    async fn a_kill_during_the_cycle_still_delivers_changes_requested_once() {
        let hook = Hook {
            hang: Arc::new(AtomicBool::new(true)),
            log: Log::default(),
            webhook: Arc::new(standardwebhooks::Webhook::new(AGENT_SECRET).unwrap()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/hooks", post(receive))
            .with_state(hook.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });

        let dir = tempfile::tempdir().unwrap();
        let (config, _db) = write_config(dir.path(), &config().agent(|a| a.callback_url(&url)));
        let server = Server::start(&config).await;
        let client = crate::support::client();
        let id = server.escalate_id(&client, request("v1", 6)).await;
        let r = client
            .post(format!("{}/v1/escalations/{id}/votes", server.base))
            .bearer_auth("bob-key")
            .json(&json!({"decision": "request_changes", "comment": "fewer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        eventually(Duration::from_secs(10), || async {
            (!hook.log.lock().unwrap().is_empty()).then_some(())
        })
        .await;
        server.signal("KILL");
        server.wait();

        hook.hang.store(false, Ordering::SeqCst);
        let server = Server::start(&config).await;
        eventually(Duration::from_secs(10), || async {
            (!answered(&hook.log, "escalation.changes_requested").is_empty()).then_some(())
        })
        .await;
        // The cycle goes on: revise and approve on the restarted process.
        let r = client
            .post(format!("{}/v1/escalations/{id}/revisions", server.base))
            .bearer_auth(AGENT_KEY)
            .json(&request("v2", 4))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = client
            .post(format!("{}/v1/escalations/{id}/votes", server.base))
            .bearer_auth("carol-key")
            .json(&json!({"decision": "approve"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Callbacks of one escalation go in order: once the decision is answered, every
        // attempt at changes_requested is over.
        eventually(Duration::from_secs(10), || async {
            (!answered(&hook.log, "escalation.decided").is_empty()).then_some(())
        })
        .await;
        let log = hook.log.lock().unwrap().clone();
        assert!(log.iter().all(|(_, _, verified, _)| *verified), "{log:?}");
        let changes: Vec<_> = log
            .iter()
            .filter(|(_, k, ..)| k == "escalation.changes_requested")
            .collect();
        assert_eq!(changes.len(), 2, "the lost attempt and its retry: {log:?}");
        assert_eq!(
            changes[0].0, changes[1].0,
            "one webhook-id across the crash"
        );
        assert_eq!(answered(&hook.log, "escalation.changes_requested").len(), 1);
        assert_eq!(answered(&hook.log, "escalation.decided").len(), 1);
    }
}

/// Once `revision` is 1 + `max_revisions`, neither Slack nor email offers request changes.
#[tokio::test]
async fn the_last_allowed_revision_offers_no_request_changes() {
    let slack = crate::support::fake_slack::FakeSlack::start().await;
    let smtp = crate::support::smtp::SmtpServer::start().await;
    let once = Workflow::new("once")
        .intents(["test.once"])
        .max_revisions(1)
        .stage(Stage::new("Review").approvers(["user:bob"]));
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default()
            .workflow(once)
            .slack(&slack.api_url)
            .email(&smtp.url()),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let mut body = request("v1", 1);
    body["intent"] = json!("test.once");
    let id = crate::support::requests::id_of(&app.escalate_with(body.clone()).await);
    app.deliver_all().await;
    let dm = crate::support::fake_slack::dm_channel("bob");
    assert!(slack.message_in(&dm).button("request_changes").is_some());
    assert!(
        smtp.to("bob@example.com")[0]
            .text
            .contains("Request changes")
    );
    request_changes(&app, &id, "bob", "once more").await;
    body["summary"] = json!("v2");
    revise(&app, &id, &body).await;
    app.deliver_all().await;
    let latest = slack.messages_in(&dm).pop().unwrap();
    assert!(latest.button("approve").is_some());
    assert!(latest.button("request_changes").is_none());
    let mails = smtp.to("bob@example.com");
    assert_eq!(mails.len(), 2);
    assert!(
        !mails[1].text.contains("Request changes"),
        "{}",
        mails[1].text
    );
}

/// A revision stays the same action under the same workflow: another intent, or a risk
/// the configuration sends to another workflow, is 422; a lower risk stays pinned.
#[tokio::test]
async fn a_revision_cannot_leave_its_workflow() {
    let light = Workflow::new("light")
        .intents(["test.tiered"])
        .risk(0, 50)
        .stage(Stage::new("Light").approvers(["user:bob"]));
    let heavy = Workflow::new("heavy")
        .intents(["test.tiered"])
        .risk(51, 100)
        .stage(Stage::new("Heavy").approvers(["user:alice"]))
        .stage(Stage::new("Heavier").approvers(["user:bob"]));
    let app = TestApp::spawn_with(TestConfig::default().workflow(light).workflow(heavy)).await;
    let tiered =
        |score: u8| json!({"intent": "test.tiered", "summary": "tiered", "risk": {"score": score}});
    let doc = app.escalate_with(tiered(30)).await;
    assert_eq!(doc["workflow"], "light");
    let id = crate::support::requests::id_of(&doc);
    // Not yet asked: the state's 409 comes first, whatever the body.
    let r = revise_as(&app, AGENT_KEY, &id, &tiered(90), None).await;
    assert_error(r, StatusCode::CONFLICT, "changes_not_requested").await;
    request_changes(&app, &id, "bob", "lower it").await;

    let r = revise_as(&app, AGENT_KEY, &id, &tiered(90), None).await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("risk")
    );
    let mut other = tiered(10);
    other["intent"] = json!("test.single");
    let r = revise_as(&app, AGENT_KEY, &id, &other, None).await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("intent")
    );
    // Leaving the score out counts as 100: refused as well.
    let r = revise_as(
        &app,
        AGENT_KEY,
        &id,
        &json!({"intent": "test.tiered", "summary": "no score"}),
        None,
    )
    .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(app.status(&id).await["status"], "changes_requested");

    let doc = revise(&app, &id, &tiered(10)).await;
    assert_eq!(doc["workflow"], "light");
    assert_eq!(doc["revision"], 2);
}
