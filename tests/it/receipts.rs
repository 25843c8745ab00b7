//! Decision receipts end to end, checked by an independent verifier (PyJWT running README.md's
//! snippet): every outcome on every path is sealed, tampering, a wrong audience and expiry
//! are refused, rotation keeps old receipts verifying; the served JWK Set, the keys
//! (configured, generated and kept), check-config on bad keys, and no key in the log.

use crate::support::callbacks::Receiver;
use crate::support::process::{BIN, Server, config_file, run as countersign, text, write_config};
use crate::support::pyjwt::Executor;
use crate::support::{AGENT_SECRET, Options, TestApp, TestConfig, eventually};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use countersign::signing::receipts::ReceiptKey;
use countersign::store::db;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A fresh Ed25519 key in PKCS#8 PEM, and its `kid`.
fn new_key() -> (String, String) {
    let pem = ReceiptKey::generate_pem();
    let kid = ReceiptKey::from_pem(&pem).unwrap().kid().to_owned();
    (pem, kid)
}

/// The base64 body of a PEM: what would show if a key leaked into a log.
fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

async fn jwks(base: &str) -> Value {
    let r = crate::support::client()
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    r.json().await.expect("a JSON JWK Set")
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test]
async fn the_jwk_set_is_public_cacheable_and_lists_current_then_previous_keys() {
    let (current, current_kid) = new_key();
    let (old, old_kid) = new_key();
    let app = TestApp::spawn_with(
        TestConfig::default().server(|s| s.receipt_key(&current).previous_receipt_keys([&old])),
    )
    .await;
    // No Authorization header: executors fetch it as anyone.
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let set: Value = r.json().await.unwrap();
    assert_eq!(kids(&set), [current_kid, old_kid]);
    for key in set["keys"].as_array().unwrap() {
        let mut names: Vec<_> = key.as_object().unwrap().keys().cloned().collect();
        names.sort();
        // Public members only: no `d`.
        assert_eq!(names, ["alg", "crv", "kid", "kty", "use", "x"], "{key}");
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert_eq!(key["use"], "sig");
    }
    let text = set.to_string();
    assert!(!text.contains(&pem_body(&current)) && !text.contains(&pem_body(&old)));
}

#[tokio::test]
async fn without_a_configured_key_one_is_generated_once_and_kept_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::TestDb::fresh(dir.path()).await;
    let options = || Options {
        database: Some(db.clone()),
        ..Options::default()
    };
    let first = TestApp::spawn_with(options()).await;
    let generated = kids(&jwks(&first.base).await);
    assert_eq!(generated.len(), 1);
    let kept: String = db::query_scalar("SELECT value FROM settings WHERE key = 'receipt_key'")
        .fetch_one(&first.db)
        .await
        .unwrap();
    assert_eq!(ReceiptKey::from_pem(&kept).unwrap().kid(), generated[0]);
    first.stop().await;
    // A restart (or a second process on the same database) signs with the same key.
    let second = TestApp::spawn_with(options()).await;
    assert_eq!(kids(&jwks(&second.base).await), generated);
}

#[test]
fn check_config_names_each_bad_receipt_key_by_its_path_without_repeating_it() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = new_key();
    let public = "-----BEGIN PUBLIC KEY-----\n\
                  MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
                  -----END PUBLIC KEY-----\n";
    let config = TestConfig::default().server(|s| {
        s.receipt_key("not-a-pem-secret-value")
            .previous_receipt_keys([good.as_str(), public])
    });
    let path = config_file(dir.path(), &config);
    let out = countersign(&["check-config", "--config", &path]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("server.receipt_key"), "{said}");
    assert!(said.contains("is not a PEM block"), "{said}");
    assert!(said.contains("server.previous_receipt_keys[1]"), "{said}");
    assert!(said.contains("PKCS#8"), "{said}");
    assert!(!said.contains("server.previous_receipt_keys[0]"), "{said}");
    assert!(!said.contains("not-a-pem-secret-value"), "{said}");
    assert!(!said.contains(&pem_body(&good)), "{said}");

    let valid = TestConfig::default().server(|s| s.receipt_key(&good));
    let path = config_file(dir.path(), &valid);
    let out = countersign(&["check-config", "--config", &path]);
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test]
async fn no_receipt_key_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (configured, kid) = new_key();
    let (retired, _) = new_key();
    let config = TestConfig::default()
        .server(|s| s.receipt_key(&configured).previous_receipt_keys([&retired]));
    let (path, _) = write_config(dir.path(), &config).await;
    let log = dir.path().join("server.log");
    let server = Server::start_logging(&path, &log).await;
    let client = crate::support::client();
    assert_eq!(kids(&jwks(&server.base).await)[0], kid);
    let id = server
        .escalate_id(
            &client,
            serde_json::json!({"intent": "test.single", "summary": "Logged"}),
        )
        .await;
    let r = client
        .post(format!("{}/v1/escalations/{id}/votes", server.base))
        .bearer_auth("bob-key")
        .json(&serde_json::json!({"decision": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.signal("TERM");
    server.wait();
    let logged = std::fs::read_to_string(&log).unwrap();
    // The log is there (at debug) and names the key by its kid only.
    assert!(logged.contains(&kid), "{logged}");
    for pem in [&configured, &retired] {
        assert!(!logged.contains(&pem_body(pem)));
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!logged.contains(line), "a key line is in the log");
        }
    }
}

/// The escalation's stored receipt, from its status document.
async fn receipt_of(app: &TestApp, id: &str) -> String {
    let status = app.status(id).await;
    status["decision"]["receipt"]
        .as_str()
        .unwrap_or_else(|| panic!("no receipt: {status}"))
        .to_owned()
}

/// The executor of the test agent, trusting `app`.
fn executor(app: &TestApp) -> Executor {
    Executor {
        jwks_url: app.url("/.well-known/jwks.json"),
        agent_id: "test-agent".to_owned(),
        issuer: app.base.clone(),
    }
}

/// The JOSE header of a token, read without verifying anything.
fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The token with one claim changed and the signature kept.
fn tampered(token: &str, claim: &str, value: Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap())
        .expect("claims are JSON");
    claims[claim] = value;
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{body}.{}", parts[0], parts[2])
}

/// Creates an escalation for `intent` carrying `payload`; returns its id.
async fn escalate(app: &TestApp, intent: &str, payload: &Value) -> String {
    let doc = app
        .escalate_with(
            json!({"intent": intent, "summary": format!("Receipt {intent}"),
                              "payload": payload, "resource": "k8s://prod/api"}),
        )
        .await;
    doc["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_outcome_on_every_path_carries_a_receipt_pyjwt_verifies() {
    let receiver = Receiver::start(AGENT_SECRET).await;
    let app =
        TestApp::spawn_with(TestConfig::default().agent(|a| a.callback_url(&receiver.url))).await;
    let payload = json!({"service": "api", "version": "2.3.1"});
    // The timeout path first, started an hour and a minute ago, so that every decision
    // below falls a minute before the real now (PyJWT reads the real clock).
    let started = chrono::Utc::now() - chrono::Duration::minutes(61);
    app.clock.set(started);
    let expired = escalate(&app, "test.timeout", &payload).await;
    assert_eq!(app.advance(Duration::from_secs(3600)).await, 1);
    let approved = escalate(&app, "test.single", &payload).await;
    app.approve(&approved, "bob").await;
    let denied = escalate(&app, "test.single", &payload).await;
    let r = app
        .vote(
            &denied,
            "bob",
            json!({"decision": "deny", "comment": "Not now"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let cancelled = escalate(&app, "test.single", &payload).await;
    assert_eq!(app.cancel(&cancelled, None).await.status(), 200);

    let jwks = jwks(&app.base).await;
    let kid = kids(&jwks)[0].clone();
    let executor = executor(&app);
    for (id, outcome) in [
        (&expired, "expired"),
        (&approved, "approved"),
        (&denied, "denied"),
        (&cancelled, "cancelled"),
    ] {
        let status = app.status(id).await;
        let token = receipt_of(&app, id).await;
        assert_eq!(
            header(&token),
            json!({"alg": "EdDSA", "kid": kid, "typ": "JWT"})
        );
        let claims = executor.read(&token).await.claims();
        assert_eq!(claims["sub"], *id);
        assert_eq!(claims["aud"], "test-agent");
        assert_eq!(claims["iss"], app.base);
        assert_eq!(claims["outcome"], outcome);
        assert_eq!(claims["intent"], status["intent"]);
        assert_eq!(claims["resource"], "k8s://prod/api");
        assert_eq!(claims["payload_sha256"], status["payload_sha256"]);
        assert_eq!(claims["decided_at"], status["decision"]["decided_at"]);
        assert!(
            claims["jti"].as_str().unwrap().starts_with("rcpt_"),
            "{claims}"
        );
        let iat = claims["iat"].as_i64().unwrap();
        assert_eq!(claims["exp"].as_i64().unwrap(), iat + 3600, "{claims}");
        assert_eq!(
            claims["approvers"],
            if outcome == "approved" {
                json!(["bob"])
            } else {
                json!([])
            }
        );
        // Only the approval lets the executor run, and only the approved payload.
        let verdict = executor.check(&token, &payload).await;
        if outcome == "approved" {
            verdict.claims();
            let other = json!({"service": "api", "version": "6.6.6"});
            let refusal = executor.check(&token, &other).await.refusal();
            assert!(refusal.contains("payload_sha256 mismatch"), "{refusal}");
        } else {
            assert!(verdict.refusal().contains(outcome));
        }
        // Every read hands out the stored token; the callback carries the same one.
        assert_eq!(receipt_of(&app, id).await, token);
        let callback = eventually(Duration::from_secs(10), || async {
            receiver
                .received()
                .into_iter()
                .find(|r| r.verified && r.body["data"]["id"] == *id)
        })
        .await;
        assert_eq!(callback.body["data"]["decision"]["receipt"], token);
    }
}

#[tokio::test]
async fn a_tampered_a_misaddressed_and_an_expired_receipt_are_refused() {
    let app = TestApp::spawn().await;
    let payload = json!({"amount": 100});
    // Decided five hours ago: its `exp` passed four hours ago.
    app.clock
        .set(chrono::Utc::now() - chrono::Duration::hours(5));
    let old = escalate(&app, "test.single", &payload).await;
    app.approve(&old, "bob").await;
    app.clock.set(chrono::Utc::now());
    let fresh = escalate(&app, "test.single", &payload).await;
    app.approve(&fresh, "bob").await;
    let executor = executor(&app);
    let token = receipt_of(&app, &fresh).await;
    executor.read(&token).await.claims();

    let forged = tampered(&token, "payload_sha256", json!("00".repeat(32)));
    assert!(
        executor
            .read(&forged)
            .await
            .refusal()
            .starts_with("InvalidSignatureError")
    );
    let forged = tampered(&token, "exp", json!(i64::MAX / 2));
    assert!(
        executor
            .read(&forged)
            .await
            .refusal()
            .starts_with("InvalidSignatureError")
    );
    let other_agent = Executor {
        agent_id: "other-agent".to_owned(),
        ..crate::receipts::executor(&app)
    };
    assert!(
        other_agent
            .read(&token)
            .await
            .refusal()
            .starts_with("InvalidAudienceError")
    );
    let other_issuer = Executor {
        issuer: "https://elsewhere.example.com".to_owned(),
        ..crate::receipts::executor(&app)
    };
    assert!(
        other_issuer
            .read(&token)
            .await
            .refusal()
            .starts_with("InvalidIssuerError")
    );
    let expired = receipt_of(&app, &old).await;
    assert!(
        executor
            .read(&expired)
            .await
            .refusal()
            .starts_with("ExpiredSignatureError")
    );
    // A receipt signed by another deployment's key: its kid is not in this JWK Set.
    let stranger = TestApp::spawn().await;
    let id = escalate(&stranger, "test.single", &payload).await;
    stranger.approve(&id, "bob").await;
    let foreign = receipt_of(&stranger, &id).await;
    assert!(
        executor
            .read(&foreign)
            .await
            .refusal()
            .starts_with("KeyError")
    );
}

#[tokio::test]
async fn after_a_rotation_old_receipts_still_verify_and_new_ones_carry_the_new_kid() {
    let dir = tempfile::tempdir().unwrap();
    let (old_key, old_kid) = new_key();
    let (new_key, new_kid) = new_key();
    let db = crate::support::TestDb::fresh(dir.path()).await;
    let options = |config: TestConfig| Options {
        config,
        database: Some(db.clone()),
        ..Options::default()
    };
    let payload = json!({"n": 1});
    let before = TestApp::spawn_with(options(
        TestConfig::default().server(|s| s.receipt_key(&old_key)),
    ))
    .await;
    let first = escalate(&before, "test.single", &payload).await;
    before.approve(&first, "bob").await;
    let old_receipt = receipt_of(&before, &first).await;
    assert_eq!(header(&old_receipt)["kid"], old_kid);
    // Each start binds a new port, and `public_url` (the `iss`) follows it.
    let old_issuer = before.base.clone();
    before.stop().await;

    // Restart with the new key, the old one kept for verification.
    let after = TestApp::spawn_with(options(
        TestConfig::default().server(|s| s.receipt_key(&new_key).previous_receipt_keys([&old_key])),
    ))
    .await;
    assert_eq!(kids(&jwks(&after.base).await), [new_kid.clone(), old_kid]);
    // The stored receipt is handed out as it was signed, and still verifies.
    assert_eq!(receipt_of(&after, &first).await, old_receipt);
    let old_executor = |app: &TestApp| Executor {
        issuer: old_issuer.clone(),
        ..executor(app)
    };
    old_executor(&after).read(&old_receipt).await.claims();
    let second = escalate(&after, "test.single", &payload).await;
    after.approve(&second, "bob").await;
    let new_receipt = receipt_of(&after, &second).await;
    assert_eq!(header(&new_receipt)["kid"], new_kid);
    executor(&after).read(&new_receipt).await.claims();
    let new_issuer = after.base.clone();
    after.stop().await;

    // Once the old key leaves the set, its receipts no longer verify.
    let retired = TestApp::spawn_with(options(
        TestConfig::default().server(|s| s.receipt_key(&new_key)),
    ))
    .await;
    let refusal = old_executor(&retired).read(&old_receipt).await.refusal();
    assert!(refusal.starts_with("KeyError"), "{refusal}");
    let new_executor = Executor {
        issuer: new_issuer,
        ..executor(&retired)
    };
    new_executor.read(&new_receipt).await.claims();
}

/// `countersign receipt verify ARGS…`: exit code, stdout, stderr. Asynchronous: with
/// `--jwks URL` the process asks a server on this test's runtime.
async fn verify(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(BIN)
        .args(["receipt", "verify"])
        .args(args)
        .output()
        .await
        .expect("run countersign");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn receipt_verify_exits_zero_only_when_signature_exp_and_payload_hold() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestConfig::default();
    // The server and the CLI share one config file and database (its key is generated).
    let (config_path, db) = write_config(dir.path(), &config).await;
    let app = TestApp::spawn_with(Options {
        config,
        database: Some(db.clone()),
        ..Options::default()
    })
    .await;
    let payload = json!({"service": "api", "replicas": 3, "note": "é"});
    let id = escalate(&app, "test.single", &payload).await;
    app.approve(&id, "bob").await;
    let token = receipt_of(&app, &id).await;
    app.clock
        .set(chrono::Utc::now() - chrono::Duration::hours(5));
    let stale = escalate(&app, "test.single", &payload).await;
    app.approve(&stale, "bob").await;
    let expired = receipt_of(&app, &stale).await;

    let file = |name: &str, value: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path.display().to_string()
    };
    // The same JSON written otherwise (key order, spacing): RFC 8785 hashes it the same.
    let same = dir.path().join("same.json");
    std::fs::write(
        &same,
        "{ \"note\": \"é\", \"replicas\": 3.0, \"service\": \"api\" }\n",
    )
    .unwrap();
    let same = same.display().to_string();
    let other = file(
        "other.json",
        &json!({"service": "api", "replicas": 30, "note": "é"}),
    );
    let jwks_url = app.url("/.well-known/jwks.json");
    let jwks_file = file("jwks.json", &jwks(&app.base).await);
    let database = db.url();

    for keys in [
        vec!["--jwks", jwks_url.as_str()],
        vec!["--jwks", jwks_file.as_str()],
        vec!["--config", config_path.as_str()],
        vec!["--database", database.as_str()],
    ] {
        let mut args = vec![token.as_str(), "--payload", same.as_str()];
        args.extend(&keys);
        let (code, stdout, stderr) = verify(&args).await;
        assert_eq!(code, Some(0), "{keys:?}: {stderr}");
        let claims: Value = serde_json::from_str(&stdout).expect("the claims, as JSON");
        assert_eq!(claims["sub"], id.as_str());
        assert_eq!(claims["outcome"], "approved");
    }

    let url = jwks_url.as_str();
    refused(
        &[&token, "--payload", &other, "--jwks", url],
        "payload_sha256 mismatch",
    )
    .await;
    refused(&[&expired, "--jwks", url], "expired").await;
    let forged = tampered(&token, "outcome", json!("approved "));
    refused(&[&forged, "--jwks", url], "signature").await;
    let (_, stranger) = {
        let (pem, _) = new_key();
        let keys = countersign::signing::receipts::ReceiptKeys::new(
            ReceiptKey::from_pem(&pem).unwrap(),
            [],
        );
        (pem, serde_json::to_value(keys.jwks()).unwrap())
    };
    let stranger = file("stranger.json", &stranger);
    refused(&[&token, "--jwks", &stranger], "unknown kid").await;
    for garbage in [
        "garbage",
        "a.b.c",
        "..",
        "eyJhbGciOiJFZERTQSJ9.e30",
        &token[..40],
    ] {
        refused(&[garbage, "--jwks", url], "malformed token").await;
    }
}

/// `receipt verify ARGS` exits 1 with one line on stderr that contains `why`, and prints no claims.
async fn refused(args: &[&str], why: &str) {
    let (code, stdout, stderr) = verify(args).await;
    assert_eq!(code, Some(1), "{args:?}: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(why),
        "{args:?}: expected `{why}` in {stderr}"
    );
}

/// A callback receiver that records every request and, while `hang` is set, never answers.
#[derive(Clone, Default)]
struct Recorder {
    hang: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    /// `(webhook-id, body)` of every request, answered or not.
    seen: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Recorder {
    async fn start(self) -> String {
        async fn hook(State(r): State<Recorder>, headers: HeaderMap, body: Bytes) -> StatusCode {
            let id = headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            r.seen.lock().unwrap().push((id, body));
            if r.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            r.answered.fetch_add(1, Ordering::SeqCst);
            StatusCode::NO_CONTENT
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(hook))
            .with_state(self);
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }
}

#[tokio::test]
async fn kill_9_between_decision_and_callback_still_delivers_one_callback_with_the_same_receipt() {
    let recorder = Recorder::default();
    recorder.hang.store(true, Ordering::SeqCst);
    let url = recorder.clone().start().await;
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(
        dir.path(),
        &TestConfig::default().agent(|a| a.callback_url(&url)),
    )
    .await;
    let server = Server::start(&config).await;
    let client = crate::support::client();
    let id = server
        .escalate_id(
            &client,
            json!({"intent": "test.single", "summary": "Sealed, then killed"}),
        )
        .await;
    let r = client
        .post(format!("{}/v1/escalations/{id}/votes", server.base))
        .bearer_auth("bob-key")
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let decided: Value = r.json().await.unwrap();
    let receipt = decided["decision"]["receipt"]
        .as_str()
        .expect("receipt")
        .to_owned();
    // The callback is in flight when the process dies.
    eventually(Duration::from_secs(10), || async {
        (!recorder.seen.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    server.signal("KILL");
    server.wait();

    recorder.hang.store(false, Ordering::SeqCst);
    let server = Server::start(&config).await;
    eventually(Duration::from_secs(10), || async {
        (recorder.answered.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    let status: Value = client
        .get(format!("{}/v1/escalations/{id}", server.base))
        .bearer_auth(crate::support::AGENT_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["decision"]["receipt"], receipt.as_str());
    // Every attempt, before and after the kill, is the one event with the one receipt.
    let seen = recorder.seen.lock().unwrap().clone();
    assert!(seen.len() >= 2, "{seen:?}");
    for (webhook_id, body) in &seen {
        assert_eq!(webhook_id, &seen[0].0);
        assert_eq!(body["data"]["decision"]["receipt"], receipt.as_str());
    }
    assert_eq!(recorder.answered.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_receipt_binds_the_conditions_and_merged_constraints_of_the_decision() {
    let app = TestApp::spawn().await;
    let payload = json!({"amount": 17500, "replicas": 3, "region": "eu-west-1"});
    let id = escalate(&app, "test.constraints", &payload).await;
    for (reviewer, body) in [
        (
            "alice",
            json!({"decision": "approve", "constraints": {"max_amount": 20000, "min_replicas": 2}}),
        ),
        (
            "bob",
            json!({"decision": "approve", "conditions": ["Canary rollout required"],
                   "constraints": {"max_amount": 18000, "region": "eu-west-1"}}),
        ),
    ] {
        let r = app.vote(&id, reviewer, body).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    let status = app.status(&id).await;
    assert_eq!(status["status"], "approved");
    let claims = executor(&app)
        .check(&receipt_of(&app, &id).await, &payload)
        .await
        .claims();
    assert_eq!(claims["conditions"], json!(["Canary rollout required"]));
    assert_eq!(
        claims["constraints"],
        json!({"max_amount": 18000, "min_replicas": 2, "region": "eu-west-1"})
    );
    assert_eq!(claims["constraints"], status["decision"]["constraints"]);
    assert_eq!(claims["approvers"], json!(["alice", "bob"]));
}
