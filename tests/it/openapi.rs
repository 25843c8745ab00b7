//! `GET /openapi.json`: a valid OpenAPI 3.1 document that matches the real router route for
//! route, and whose schemas the real responses satisfy.
//!
//! The independent checks (the document against the OpenAPI 3.1 meta-schema, responses
//! against their schemas) use Python's `openapi-spec-validator`, which `.ci/run` installs;
//! where it is missing they are skipped with a note, except under CI (`CI` set), where
//! that is a failure.

use crate::support::callbacks::Receiver;
use crate::support::{AGENT_KEY, AGENT_SECRET, TestApp, TestConfig, eventually};
use countersign::http::{AppState, router};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let r = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    r.json().await.expect("the document is JSON")
}

/// `(METHOD, path)` of every operation the document describes.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// The paths the real router holds. axum lists them nowhere but in its `Debug` output
/// (`Node { paths: {RouteId(0): "/v1/escalations", …} }`), so they are read from there;
/// if that format ever changes, this finds nothing and the test says so.
fn routed_paths(app: &TestApp) -> BTreeSet<String> {
    // Only the route table is read: the Slack client and link keys need not be real.
    let router = router(AppState {
        service: app.service.clone(),
        slack_api: None,
        link_keys: std::sync::Arc::new(countersign::signing::links::LinkKeys::new(
            "route-listing-only",
            [],
        )),
    });
    let debug = format!("{router:?}");
    // The routes proper; the fallback router that follows holds only `.fallback(…)`.
    let routes = debug.split(", fallback_router:").next().unwrap_or_default();
    let table = routes.split("Node { paths: {").nth(1).unwrap_or_default();
    let mut paths = BTreeSet::new();
    for entry in table.split("RouteId(").skip(1) {
        if let Some((_, rest)) = entry.split_once("): \"") {
            paths.insert(rest.split('"').next().unwrap_or_default().to_owned());
        }
    }
    assert!(
        paths.len() > 5,
        "could not read the router's paths from its Debug output: {debug}"
    );
    paths
}

/// `{name}` segments filled in with a value no route gives meaning to.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "probe" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The methods the server routes at `path`: a method no route uses answers 405 with the
/// router's `Allow` header. HEAD comes with every GET and is not an operation of its own.
async fn routed_methods(app: &TestApp, path: &str) -> BTreeSet<String> {
    let probe = Method::from_bytes(b"PROBE").unwrap();
    let r = app
        .client
        .request(probe, app.url(&concrete(path)))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "PROBE {path}");
    let allow = r.headers()["allow"].to_str().unwrap().to_owned();
    allow
        .split(',')
        .map(|m| m.trim().to_uppercase())
        .filter(|m| !m.is_empty() && m != "HEAD")
        .collect()
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let documented = documented(&doc);
    let mut routed = BTreeSet::new();
    for path in routed_paths(&app) {
        for method in routed_methods(&app, &path).await {
            routed.insert((method, path.clone()));
        }
    }
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed but not in /openapi.json: {undocumented:?}\nin /openapi.json but not routed: {unrouted:?}"
    );

    // And each documented operation, sent for real, reaches a handler: the router's own
    // fallback (404 "No such route.") or a 405 would mean it does not.
    for (method, path) in &documented {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let r = app
            .client
            .request(method.clone(), app.url(&concrete(path)))
            .send()
            .await
            .expect("request");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !(status == StatusCode::NOT_FOUND && text.contains("No such route.")),
            "{method} {path} is documented but falls through to the router's fallback"
        );
    }
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    // Every reference resolves inside the document.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }

    let schemes = &doc["components"]["securitySchemes"];
    for name in ["agent_key", "reviewer_key", "metrics_token"] {
        assert_eq!(schemes[name]["scheme"], "bearer", "{name}");
    }
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode enum");
    for code in ["malformed", "no_workflow", "stale_stage", "unavailable"] {
        assert!(codes.contains(&json!(code)), "{code}");
    }

    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let declared: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let id = op["operationId"].as_str().expect("operationId");
            assert!(operation_ids.insert(id.to_owned()), "duplicate {id}");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
            // Every `{name}` of the path is a required path parameter, and no other.
            let params: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .inspect(|p| assert_eq!(p["required"], true, "{method} {path}"))
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert_eq!(params, declared, "{method} {path}");
            for requirement in op["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(schemes.get(scheme).is_some(), "{method} {path}: {scheme}");
                }
            }
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    python(&[
        "-m",
        "openapi_spec_validator",
        "--schema",
        "3.1.0",
        file.to_str().unwrap(),
    ]);
}

/// Runs `python3 ARGS` when `openapi-spec-validator` is installed and requires success.
fn python(args: &[&str]) {
    let present = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install openapi-spec-validator (see .ci/run)"
        );
        eprintln!("openapi-spec-validator is not installed: independent check skipped");
        return;
    }
    let out = std::process::Command::new("python3")
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks each `(METHOD, path template, status, body)` against the schema the document
/// gives that response (OpenAPI 3.1 schemas are JSON Schema 2020-12).
const VALIDATE_RESPONSES: &str = r#"
import json, sys
from openapi_schema_validator import OAS31Validator
doc = json.load(open(sys.argv[1]))
failures = []
for method, path, status, body in json.load(open(sys.argv[2])):
    if method == "WEBHOOK":
        # A callback countersign sent: its body against the documented webhook's.
        webhook = doc.get("webhooks", {}).get(path)
        if webhook is None:
            failures.append(f"webhook {path} is not documented")
            continue
        schema = dict(webhook["post"]["requestBody"]["content"]["application/json"]["schema"])
        schema["components"] = doc["components"]
        validator = OAS31Validator(schema, format_checker=OAS31Validator.FORMAT_CHECKER)
        for error in validator.iter_errors(body):
            failures.append(f"webhook {path}: {error.message} at {list(error.absolute_path)}")
        continue
    response = doc["paths"][path][method.lower()]["responses"].get(str(status))
    if response is None:
        failures.append(f"{method} {path}: status {status} is not documented")
        continue
    schema = dict(response["content"]["application/json"]["schema"])
    schema["components"] = doc["components"]
    validator = OAS31Validator(schema, format_checker=OAS31Validator.FORMAT_CHECKER)
    for error in validator.iter_errors(body):
        failures.append(f"{method} {path} {status}: {error.message} at {list(error.absolute_path)}")
if failures:
    sys.exit("\n".join(failures))
"#;

#[tokio::test]
async fn real_responses_satisfy_their_schemas() {
    // erin is an operator, for GET /v1/analytics.
    let app = TestApp::spawn_with(crate::support::TestConfig::default().admin("erin")).await;
    let doc = document(&app).await;
    let mut seen: Vec<(&str, &str, u16, Value)> = Vec::new();
    async fn body(r: reqwest::Response) -> (u16, Value) {
        (r.status().as_u16(), r.json().await.expect("JSON"))
    }
    let c = &app.client;

    let full = json!({
        "intent": "test.single",
        "summary": "Deploy api v2.3.1",
        "payload": {"service": "api"},
        "resource": "k8s://prod/api",
        "risk": {"score": 30, "reasons": ["Outside the change window"]},
        "policy": {"id": "prod-deploy", "reason": "Production deploys need approval"},
        "requested_by": "carol@example.com",
        "context": {
            "recent_activity": [{"at": "2026-11-21T10:00:00Z", "summary": "Staged"}],
            "evidence": [{"label": "CI run", "url": "https://ci.example.com/runs/1"}]
        }
    });
    let create = |b: &Value| {
        c.post(app.url("/v1/escalations"))
            .bearer_auth(AGENT_KEY)
            .header("idempotency-key", "openapi-1")
            .json(b)
    };
    let (status, created) = body(create(&full).send().await.unwrap()).await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    seen.push(("POST", "/v1/escalations", status, created));
    let (status, again) = body(create(&full).send().await.unwrap()).await;
    assert_eq!(status, 200);
    seen.push(("POST", "/v1/escalations", status, again));
    let (status, refused) = body(app.create(json!({"intent": "x"})).await).await;
    seen.push(("POST", "/v1/escalations", status, refused));

    let escalation = |s: &str| app.url(&format!("/v1/escalations/{id}{s}"));
    let r = c.get(escalation("?wait=0")).bearer_auth(AGENT_KEY);
    let (status, read) = body(r.send().await.unwrap()).await;
    seen.push(("GET", "/v1/escalations/{id}", status, read));

    let r = c.get(app.url("/v1/reviews/pending")).bearer_auth("bob-key");
    let (status, pending) = body(r.send().await.unwrap()).await;
    assert!(
        pending.as_array().is_some_and(|p| !p.is_empty()),
        "{pending}"
    );
    seen.push(("GET", "/v1/reviews/pending", status, pending));

    let vote = app
        .vote(
            &id,
            "bob",
            json!({"decision": "approve", "conditions": ["Canary rollout required"]}),
        )
        .await;
    let (status, voted) = body(vote).await;
    assert_eq!(status, 200, "{voted}");
    seen.push(("POST", "/v1/escalations/{id}/votes", status, voted));
    let (status, late) = body(app.vote(&id, "carol", json!({"decision": "approve"})).await).await;
    seen.push(("POST", "/v1/escalations/{id}/votes", status, late));

    let other = app.escalate_id("test.quorum").await;
    let r = c
        .post(app.url(&format!("/v1/escalations/{other}/cancel")))
        .bearer_auth(AGENT_KEY);
    let (status, cancelled) = body(r.send().await.unwrap()).await;
    assert_eq!(status, 200);
    seen.push(("POST", "/v1/escalations/{id}/cancel", status, cancelled));
    let r = c
        .get(app.url("/v1/escalations/esc_unknown"))
        .bearer_auth(AGENT_KEY);
    let (status, missing) = body(r.send().await.unwrap()).await;
    seen.push(("GET", "/v1/escalations/{id}", status, missing));

    for (key, query) in [
        ("erin-key", "?since=24h"),
        ("bob-key", ""),
        ("erin-key", "?since=x"),
    ] {
        let r = c
            .get(app.url(&format!("/v1/analytics{query}")))
            .bearer_auth(key);
        let (status, analytics) = body(r.send().await.unwrap()).await;
        seen.push(("GET", "/v1/analytics", status, analytics));
    }

    for path in ["/healthz", "/readyz", "/.well-known/jwks.json"] {
        let (status, health) = body(c.get(app.url(path)).send().await.unwrap()).await;
        seen.push(("GET", path, status, health));
    }

    let dir = tempfile::tempdir().unwrap();
    let doc_file = dir.path().join("openapi.json");
    let seen_file = dir.path().join("responses.json");
    let script = dir.path().join("validate.py");
    std::fs::write(&doc_file, doc.to_string()).unwrap();
    std::fs::write(&seen_file, serde_json::to_string(&seen).unwrap()).unwrap();
    std::fs::write(&script, VALIDATE_RESPONSES).unwrap();
    python(&[
        script.to_str().unwrap(),
        doc_file.to_str().unwrap(),
        seen_file.to_str().unwrap(),
    ]);
}

/// The callbacks countersign sends are the `webhooks` the document describes: an
/// `escalation.changes_requested` and an `escalation.decided` body, as a receiver got them,
/// satisfy the documented schema.
#[tokio::test]
async fn real_callbacks_satisfy_the_documented_webhooks() {
    let receiver = Receiver::start(AGENT_SECRET).await;
    let app =
        TestApp::spawn_with(TestConfig::default().agent(|a| a.callback_url(&receiver.url))).await;
    let doc = document(&app).await;
    let asked = app.escalate_id("test.single").await;
    let r = app
        .vote(
            &asked,
            "bob",
            json!({"decision": "request_changes", "comment": "Smaller, please"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let decided = app.escalate_id("test.single").await;
    let r = app
        .vote(&decided, "bob", json!({"decision": "approve"}))
        .await;
    assert_eq!(r.status(), 200);
    let got = eventually(Duration::from_secs(10), || async {
        let got = receiver.received();
        (got.len() >= 2).then_some(got)
    })
    .await;
    let seen: Vec<(&str, String, u16, Value)> = got
        .iter()
        .map(|g| {
            let kind = g.body["type"].as_str().unwrap_or_default().to_owned();
            ("WEBHOOK", kind, 0, g.body.clone())
        })
        .collect();
    let kinds: BTreeSet<&str> = seen.iter().map(|(_, k, _, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["escalation.changes_requested", "escalation.decided"])
    );
    let dir = tempfile::tempdir().unwrap();
    let doc_file = dir.path().join("openapi.json");
    let seen_file = dir.path().join("callbacks.json");
    let script = dir.path().join("validate.py");
    std::fs::write(&doc_file, doc.to_string()).unwrap();
    std::fs::write(&seen_file, serde_json::to_string(&seen).unwrap()).unwrap();
    std::fs::write(&script, VALIDATE_RESPONSES).unwrap();
    python(&[
        script.to_str().unwrap(),
        doc_file.to_str().unwrap(),
        seen_file.to_str().unwrap(),
    ]);
}
