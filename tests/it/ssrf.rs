//! No SSRF through `callback_url` (README.md "Security"): a request's callback must name an
//! allowed host:port, carry no userinfo, never reach a private address unless the operator
//! allows it, and redirects are never followed.

use crate::support::callbacks::Receiver;
use crate::support::config::host_port;
use crate::support::{AGENT_SECRET, Options, TestApp, TestConfig, assert_error};
use axum::Router;
use axum::http::{StatusCode as AxumStatus, header};
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

async fn create_with_callback(app: &TestApp, url: &str) -> reqwest::Response {
    app.create(json!({"intent": "test.single", "summary": "x", "callback_url": url}))
        .await
}

#[tokio::test]
async fn every_loopback_and_private_form_is_refused_even_when_listed() {
    // A live receiver on loopback, so an accepted form would really be reachable.
    let receiver = Receiver::start(AGENT_SECRET).await;
    let port = reqwest::Url::parse(&receiver.url).unwrap().port().unwrap();
    let hosts = [
        "127.0.0.1",
        "[::1]",
        "localhost",
        "2130706433",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "127.1",
        "0.0.0.0",
        "[::]",
        "[::ffff:127.0.0.1]",
        "169.254.169.254",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "100.64.0.1",
        "[fc00::1]",
        "[fd00::1]",
        "[fe80::1]",
    ];
    let urls: Vec<String> = hosts
        .iter()
        .map(|h| format!("http://{h}:{port}/hooks"))
        .collect();
    // Every one of them is in callback_hosts: the address rule holds even so.
    let app = TestApp::spawn_with(
        TestConfig::default()
            .server(|s| s.allow_private_callbacks(false))
            .agent(|a| a.callback_hosts(hosts.iter().map(|h| format!("{h}:{port}")))),
    )
    .await;
    for url in &urls {
        let r = create_with_callback(&app, url).await;
        let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("callback_url"), "{url}: {message}");
    }
    assert_eq!(app.escalation_count().await, 0);
    // The same app takes an escalation without a callback: only the callbacks were refused.
    app.escalate("test.single").await;
}

#[tokio::test]
async fn userinfo_is_refused_even_when_private_callbacks_are_allowed() {
    let receiver = Receiver::start(AGENT_SECRET).await;
    let app = TestApp::spawn_with(
        TestConfig::default().agent(|a| a.callback_hosts(host_port(&receiver.url))),
    )
    .await;
    for url in [
        receiver.url.replace("http://", "http://user:pass@"),
        receiver.url.replace("http://", "http://user@"),
    ] {
        let r = create_with_callback(&app, &url).await;
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    }
    assert_eq!(app.escalation_count().await, 0);
    let r = create_with_callback(&app, &receiver.url).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_host_not_in_callback_hosts_is_refused() {
    let allowed = Receiver::start(AGENT_SECRET).await;
    let other = Receiver::start(AGENT_SECRET).await;
    // The configured callback_url's host:port is the default allowance.
    let app =
        TestApp::spawn_with(TestConfig::default().agent(|a| a.callback_url(&allowed.url))).await;
    let r = create_with_callback(&app, &other.url).await;
    let body = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("callback_hosts"),
        "{body}"
    );
    // Another path on the allowed host:port is fine; another name for the host is not
    // (the allowance is the host:port as written; README.md "Security").
    let r = create_with_callback(&app, &allowed.url.replace("/hooks", "/elsewhere")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = create_with_callback(&app, &allowed.url.replace("127.0.0.1", "localhost")).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
}

/// A receiver that answers every POST with a 307 to `to`, counting the hits.
async fn redirector(to: &str) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let (to, counter) = (to.to_owned(), hits.clone());
    let app = Router::new().route(
        "/hooks",
        post(move || {
            let to = to.clone();
            counter.fetch_add(1, Ordering::SeqCst);
            async move { (AxumStatus::TEMPORARY_REDIRECT, [(header::LOCATION, to)]) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

#[tokio::test]
async fn a_307_from_the_receiver_is_not_followed() {
    let elsewhere = Receiver::start(AGENT_SECRET).await;
    let (url, hits) = redirector(&elsewhere.url).await;
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default().agent(|a| a.callback_url(&url)),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = app.escalate_id("test.single").await;
    app.approve(&id, "bob").await;
    let outcome = app.deliver().await;
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the callback was attempted");
    assert_eq!(outcome.delivered, 0, "a 3xx is not a delivery");
    assert_eq!(outcome.retried, 1, "a 3xx is a failed attempt, retried");
    assert!(
        elsewhere.received().is_empty(),
        "the signed POST was repeated elsewhere"
    );
    assert!(
        !app.audit_kinds(&id)
            .await
            .contains(&"callback_delivered".to_owned())
    );
}
