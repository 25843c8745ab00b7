//! Connection limits over real sockets: slow headers, slow bodies and idle keep-alive
//! connections are cut off, the connection cap keeps a reserve for health checks, and
//! shutdown drops what is still half-sent once its grace period is over.

use crate::support::{TestApp, TestConfig};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Short deadlines, so each case takes well under a second of waiting.
fn limits(max_connections: usize) -> TestConfig {
    TestConfig::default().server(|s| {
        s.header_read_timeout("300ms")
            .idle_timeout("300ms")
            .body_read_timeout("300ms")
            .shutdown_grace("300ms")
            .max_connections(max_connections)
    })
}

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Reads until the server closes the connection, returning what it sent. Panics when the
/// connection is still open after `within` (the server never cut it off).
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open for {within:?}; it sent: {}",
        String::from_utf8_lossy(&received)
    );
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn a_request_whose_headers_never_complete_is_cut_off() {
    let app = TestApp::spawn_with(limits(64)).await;
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: countersign\r\n")
        .await
        .unwrap();
    let sent = read_until_closed(&mut slow, Duration::from_secs(3)).await;
    assert!(
        !sent.contains("200 OK"),
        "no response to a half request: {sent}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = TestApp::spawn_with(limits(64)).await;
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: countersign\r\n\r\n")
        .await
        .unwrap();
    // The answer comes, then the connection stays idle until the server closes it.
    let sent = read_until_closed(&mut idle, Duration::from_secs(3)).await;
    assert!(sent.starts_with("HTTP/1.1 200"), "answered first: {sent}");
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_never_completes_is_cut_off() {
    let app = TestApp::spawn_with(limits(64)).await;
    let mut slow = connect(&app).await;
    slow.write_all(
        b"POST /v1/escalations HTTP/1.1\r\nHost: countersign\r\nAuthorization: Bearer agent-key\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"intent\":",
    )
    .await
    .unwrap();
    let sent = read_until_closed(&mut slow, Duration::from_secs(3)).await;
    assert!(
        !sent.contains("201 Created"),
        "a half body created nothing: {sent}"
    );
    app.stop().await;
}

#[tokio::test]
async fn at_the_connection_cap_health_checks_still_answer_and_other_requests_are_503() {
    // Long header deadline: the idle sockets below hold their slots for the whole test.
    let app = TestApp::spawn_with(TestConfig::default().server(|s| s.max_connections(4))).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect(&app).await);
    }
    // Let the server accept them all (they take the four general slots).
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut health = connect(&app).await;
    health
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: countersign\r\n\r\n")
        .await
        .unwrap();
    let sent = read_until_closed(&mut health, Duration::from_secs(3)).await;
    assert!(sent.starts_with("HTTP/1.1 200"), "healthz answers: {sent}");

    let mut intake = connect(&app).await;
    intake
        .write_all(
            b"POST /v1/escalations HTTP/1.1\r\nHost: countersign\r\nAuthorization: Bearer agent-key\r\n\
              Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        )
        .await
        .unwrap();
    let sent = read_until_closed(&mut intake, Duration::from_secs(3)).await;
    assert!(sent.starts_with("HTTP/1.1 503"), "over the cap: {sent}");
    assert!(sent.to_ascii_lowercase().contains("retry-after"), "{sent}");
    assert!(sent.contains("\"unavailable\""), "contract body: {sent}");

    // A freed slot serves intake again.
    drop(held);
    crate::support::eventually(Duration::from_secs(3), || async {
        let r = app
            .client
            .get(app.url("/v1/reviews/pending"))
            .send()
            .await
            .ok()?;
        (r.status() == reqwest::StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn shutdown_drops_a_half_sent_request_after_the_grace_period() {
    // Only the grace is short: the half-sent request would otherwise be held 30 s.
    let app =
        TestApp::spawn_with(TestConfig::default().server(|s| s.shutdown_grace("300ms"))).await;
    let mut half = connect(&app).await;
    half.write_all(
        b"POST /v1/escalations HTTP/1.1\r\nHost: countersign\r\nAuthorization: Bearer agent-key\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped = tokio::time::timeout(Duration::from_secs(3), app.stop()).await;
    assert!(
        stopped.is_ok(),
        "the server waited for a half-sent request past its shutdown grace"
    );
    read_until_closed(&mut half, Duration::from_secs(1)).await;
}
