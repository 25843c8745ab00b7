//! Decision receipts end to end: the served JWK Set, the keys (configured, generated and kept,
//! rotated), check-config on bad keys, and that no key reaches a log line.

use crate::support::process::{BIN, Server, write_config};
use crate::support::{Options, TestApp, TestConfig};
use countersign::signing::receipts::ReceiptKey;
use serde_json::Value;
use std::process::{Command, Output};

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

fn countersign(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run countersign")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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
    let options = || Options {
        database_dir: Some(dir.path().to_owned()),
        ..Options::default()
    };
    let first = TestApp::spawn_with(options()).await;
    let generated = kids(&jwks(&first.base).await);
    assert_eq!(generated.len(), 1);
    let kept: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'receipt_key'")
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
    let (path, _) = write_config(dir.path(), &config);
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
    let (path, _) = write_config(dir.path(), &valid);
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
    let (path, _) = write_config(dir.path(), &config);
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
