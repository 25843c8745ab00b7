//! The web UI under /ui: sign-in by mailed link (real SMTP), sessions and CSRF, the queue's
//! votes through the engine, the escalation page's visibility — over HTTP here, and in real
//! headless Chromium in `browser`.

mod browser;

use crate::support::config::TestConfig;
use crate::support::smtp::{Mail, SmtpServer};
use crate::support::{Options, TestApp};
use countersign::store::db;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use std::time::Duration;

pub(crate) async fn spawn(smtp: &SmtpServer, config: TestConfig) -> TestApp {
    TestApp::spawn_with(Options {
        config: config.email(&smtp.url()),
        manual_workers: true,
        ..Options::default()
    })
    .await
}

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The `Set-Cookie` for `name`, whole.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// `name=value` of a `Set-Cookie`, as a later request sends it.
    fn cookie(&self, name: &str) -> String {
        let set = self
            .set_cookie(name)
            .unwrap_or_else(|| panic!("no {name} cookie set"));
        set.split(';').next().unwrap_or_default().to_owned()
    }

    /// The first form's CSRF token.
    pub fn csrf(&self) -> String {
        hidden(&self.body, "csrf")
    }

    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// The value of the first hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in:\n{html}"))
        + marker.len();
    html[at..].split('"').next().unwrap_or_default().to_owned()
}

pub(crate) async fn get(app: &TestApp, path: &str, cookie: &str) -> Answer {
    let r = client()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET");
    Answer {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await.expect("body"),
    }
}

pub(crate) async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = client()
        .post(app.url(path))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST");
    Answer {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await.expect("body"),
    }
}

/// The sign-in link's path in a mail.
pub(crate) fn sign_in_path(mail: &Mail) -> String {
    let word = mail
        .text
        .split_whitespace()
        .find(|w| w.contains("/ui/login/"))
        .unwrap_or_else(|| panic!("no sign-in link in:\n{}", mail.text));
    word[word.find("/ui/login/").expect("path")..].to_owned()
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    db::query_scalar(sql)
        .fetch_one(&app.db)
        .await
        .expect("count")
}

/// Asks for a link for `address` with a fresh pre-session; the answer and the pre cookie.
async fn ask(app: &TestApp, address: &str) -> (Answer, String) {
    let form = get(app, "/ui/login", "").await;
    let pre = form.cookie("countersign_pre");
    let sent = post(
        app,
        "/ui/login",
        &pre,
        &[("csrf", &form.csrf()), ("email", address)],
    )
    .await;
    (sent, pre)
}

/// The mailed link for `reviewer` (the newest), after delivering the outbox.
async fn mailed_link(app: &TestApp, smtp: &SmtpServer, reviewer: &str) -> String {
    app.deliver().await;
    let mails: Vec<Mail> = smtp
        .to(&format!("{reviewer}@example.com"))
        .into_iter()
        .filter(|m| m.subject.contains("sign-in"))
        .collect();
    sign_in_path(mails.last().expect("a sign-in mail"))
}

/// A signed-in session for `reviewer`: its cookie and CSRF token.
pub(crate) async fn sign_in(app: &TestApp, smtp: &SmtpServer, reviewer: &str) -> (String, String) {
    let (_, pre) = ask(app, &format!("{reviewer}@example.com")).await;
    let link = mailed_link(app, smtp, reviewer).await;
    let page = get(app, &link, &pre).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let done = post(app, &link, &pre, &[("csrf", &page.csrf())]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/ui");
    let session = done.cookie("countersign_session");
    let queue = get(app, "/ui", &session).await;
    assert_eq!(queue.status, StatusCode::OK);
    (session, queue.csrf())
}

#[tokio::test]
async fn the_login_form_answers_the_same_for_anyone_and_mails_reviewers_only() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp, TestConfig::default()).await;
    let (bob, _) = ask(&app, "Bob@Example.com").await;
    let (nobody, _) = ask(&app, "nobody@example.com").await;
    assert_eq!(bob.status, StatusCode::OK);
    assert_eq!(nobody.status, StatusCode::OK);
    assert_eq!(bob.body, nobody.body, "no account enumeration");
    app.deliver().await;
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "one mail, to Bob");
    let mail = &mails[0];
    assert!(mail.envelope_to.iter().any(|t| t == "bob@example.com"));
    assert_eq!((mail.text_parts, mail.html_parts), (1, 1), "text and HTML");
    assert!(
        mail.html.contains("&#x2F;ui&#x2F;login&#x2F;"),
        "the link, HTML-escaped"
    );
    assert!(sign_in_path(mail).len() > 40);
    let sent = count(
        &app,
        "SELECT COUNT(*) FROM audit_events WHERE kind = 'email_sent' AND escalation_id IS NULL",
    )
    .await;
    assert_eq!(sent, 1, "the mail is audited, about no escalation");
}

#[tokio::test]
async fn csrf_missing_or_wrong_is_403_and_writes_nothing() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp, TestConfig::default()).await;
    let form = get(&app, "/ui/login", "").await;
    let pre = form.cookie("countersign_pre");
    let address = ("email", "bob@example.com");
    for fields in [vec![address], vec![("csrf", "forged"), address]] {
        let r = post(&app, "/ui/login", &pre, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    // Another browser's token with this one's cookie.
    let other = get(&app, "/ui/login", "").await;
    let r = post(&app, "/ui/login", &pre, &[("csrf", &other.csrf()), address]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM web_sign_ins").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox").await, 0);

    // Signed in, a vote without the session's token records nothing.
    let (session, csrf) = sign_in(&app, &smtp, "bob").await;
    let id = app.escalate_id("test.single").await;
    let path = format!("/ui/escalations/{id}/vote");
    let vote = [("action", "approve"), ("stage", "0"), ("round", "1")];
    let r = post(&app, &path, &session, &vote).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut forged = vote.to_vec();
    forged.push(("csrf", "AAAA"));
    let r = post(&app, &path, &session, &forged).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.status(&id).await["status"], "pending");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM vote_facts").await, 0);
    let _ = csrf;
}

#[tokio::test]
async fn the_session_cookie_is_httponly_strict_and_scoped_and_secure_behind_https() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp, TestConfig::default()).await;
    let (_, pre) = ask(&app, "bob@example.com").await;
    let link = mailed_link(&app, &smtp, "bob").await;
    let page = get(&app, &link, &pre).await;
    let done = post(&app, &link, &pre, &[("csrf", &page.csrf())]).await;
    let set = done
        .set_cookie("countersign_session")
        .expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http: {set}");
    let value = done.cookie("countersign_session");
    let id = value.split_once('=').unwrap().1;
    assert!(id.len() >= 22, "at least 128 bits");
    let stored: i64 = db::query_scalar("SELECT COUNT(*) FROM web_sessions WHERE id_sha256 = ?")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(stored, 0, "only the id's hash is stored");
    for path in ["/ui", "/ui/login"] {
        let r = get(&app, path, "").await;
        assert_eq!(r.headers["cache-control"], "no-store", "{path}");
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("form-action 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("script-src"), "no script allowed: {csp}");
    }

    let smtp2 = SmtpServer::start().await;
    let config = TestConfig::default().server(|s| s.public_url("https://approvals.example.com"));
    let https = spawn(&smtp2, config).await;
    let form = get(&https, "/ui/login", "").await;
    let pre = form.set_cookie("countersign_pre").expect("pre cookie");
    assert!(pre.contains("; Secure"), "{pre}");
    let (_, pre) = ask(&https, "bob@example.com").await;
    let link = mailed_link(&https, &smtp2, "bob").await;
    let page = get(&https, &link, &pre).await;
    let done = post(&https, &link, &pre, &[("csrf", &page.csrf())]).await;
    let set = done
        .set_cookie("countersign_session")
        .expect("session cookie");
    assert!(set.contains("; Secure"), "{set}");
}

#[tokio::test]
async fn a_link_signs_in_once_its_get_changes_nothing_and_tampered_or_expired_links_are_refused() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp, TestConfig::default()).await;
    let (_, pre) = ask(&app, "bob@example.com").await;
    let link = mailed_link(&app, &smtp, "bob").await;
    for _ in 0..2 {
        let page = get(&app, &link, &pre).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Sign in as Bob Builder"));
    }
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM web_sign_ins WHERE used_at IS NOT NULL"
        )
        .await,
        0
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM web_sessions").await,
        0,
        "a GET signs nobody in"
    );

    let csrf = get(&app, &link, &pre).await.csrf();
    let mut tampered = link.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let r = post(&app, &tampered, &pre, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        get(&app, &tampered, &pre).await.status,
        StatusCode::BAD_REQUEST
    );

    let first = post(&app, &link, &pre, &[("csrf", &csrf)]).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let again = post(&app, &link, &pre, &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "single use");
    assert!(again.set_cookie("countersign_session").is_none());
    assert_eq!(get(&app, &link, &pre).await.status, StatusCode::CONFLICT);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM web_sessions").await, 1);

    let (_, pre) = ask(&app, "carol@example.com").await;
    let link = mailed_link(&app, &smtp, "carol").await;
    let csrf = get(&app, &link, &pre).await.csrf();
    app.clock.advance(Duration::from_secs(15 * 60));
    assert_eq!(get(&app, &link, &pre).await.status, StatusCode::GONE);
    let r = post(&app, &link, &pre, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM web_sessions").await, 1);
}

#[tokio::test]
async fn sign_in_mails_are_rate_limited_per_address() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp, TestConfig::default()).await;
    for _ in 0..7 {
        let (r, _) = ask(&app, "bob@example.com").await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox").await, 5);
    app.clock.advance(Duration::from_secs(15 * 60 + 1));
    ask(&app, "bob@example.com").await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox").await,
        6,
        "a new window"
    );
}

#[tokio::test]
async fn no_session_redirects_to_login_and_sign_out_revokes_it() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp, TestConfig::default()).await;
    for cookie in ["", "countersign_session=made-up"] {
        for path in [
            "/ui",
            "/ui/insights",
            "/ui/escalations/esc_01JD0000000000000000000000",
        ] {
            let r = get(&app, path, cookie).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(r.location(), "/ui/login");
        }
    }
    let (session, csrf) = sign_in(&app, &smtp, "bob").await;
    assert_eq!(
        post(&app, "/ui/logout", &session, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&app, "/ui", &session).await.status,
        StatusCode::OK,
        "still signed in"
    );
    let out = post(&app, "/ui/logout", &session, &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.set_cookie("countersign_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = get(&app, "/ui", &session).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "revoked server-side: the old cookie is dead"
    );

    // Idle for 12 hours ends a session too.
    let (session, _) = sign_in(&app, &smtp, "carol").await;
    app.clock.advance(Duration::from_secs(12 * 3600));
    assert_eq!(
        get(&app, "/ui", &session).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_queue_vote_goes_through_the_engine_and_the_page_shows_to_whom_it_may() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp, TestConfig::default()).await;
    let id = app.escalate_id("test.single").await;
    let (session, csrf) = sign_in(&app, &smtp, "bob").await;
    let queue = get(&app, "/ui", &session).await;
    assert!(queue.body.contains(&format!("id=\"esc-{id}\"")));

    // A deny without its reason: the engine's refusal, shown on the form.
    let path = format!("/ui/escalations/{id}/vote");
    let deny = [
        ("csrf", csrf.as_str()),
        ("action", "deny"),
        ("stage", "0"),
        ("round", "1"),
    ];
    let r = post(&app, &path, &session, &deny).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("role=\"alert\""), "{}", r.body);
    assert_eq!(app.status(&id).await["status"], "pending");

    let approve = [
        ("csrf", csrf.as_str()),
        ("action", "approve"),
        ("stage", "0"),
        ("round", "1"),
        ("comment", "fine"),
    ];
    let r = post(&app, &path, &session, &approve).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), format!("/ui?voted={id}"));
    let status = app.status(&id).await;
    assert_eq!(status["status"], "approved");
    let vote = &status["stages"][0]["votes"][0];
    assert_eq!(vote["channel"], "ui");
    assert_eq!(vote["reviewer"], "bob");

    // Again: already decided, said on the page.
    let r = post(&app, &path, &session, &approve).await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let page = get(&app, &format!("/ui/escalations/{id}"), &session).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Approved at stage 1 via ui"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Decided: approved"));

    let (frank, _) = sign_in(&app, &smtp, "frank").await;
    let hidden = get(&app, &format!("/ui/escalations/{id}"), &frank).await;
    let unknown = get(
        &app,
        "/ui/escalations/esc_01JD0000000000000000000000",
        &frank,
    )
    .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.body, unknown.body, "existence is not leaked");
}

#[tokio::test]
async fn insights_are_for_operators_only() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp, TestConfig::default().admin("dave")).await;
    let id = app.escalate_id("test.single").await;
    app.approve(&id, "bob").await;
    let (bob, _) = sign_in(&app, &smtp, "bob").await;
    let refused = get(&app, "/ui/insights", &bob).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!refused.body.contains("<svg"));
    assert!(
        !get(&app, "/ui", &bob).await.body.contains("/ui/insights\""),
        "no link for non-operators"
    );

    let (dave, _) = sign_in(&app, &smtp, "dave").await;
    let page = get(&app, "/ui/insights?since=7d", &dave).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body.matches("<svg").count(), 6);
    assert!(
        page.body.contains("<title>approved: 1</title>"),
        "{}",
        page.body
    );
    assert_eq!(
        get(&app, "/ui/insights?since=soon", &dave).await.status,
        StatusCode::BAD_REQUEST
    );
    // An operator sees any escalation.
    assert_eq!(
        get(&app, &format!("/ui/escalations/{id}"), &dave)
            .await
            .status,
        StatusCode::OK
    );
}
