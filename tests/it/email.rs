//! The email channel end to end: mail over real SMTP (aiosmtpd), parsed as MIME, links followed
//! to the confirmation pages, votes recorded by POST only, and a real browser clicking the button.

use crate::support::browser::Browser;
use crate::support::config::LINK_SECRET;
use crate::support::requests::{id_of, rich};
use crate::support::smtp::{Mail, SmtpServer, read_eml_dir};
use crate::support::{Options, TestApp, TestConfig};
use countersign::domain::{EscalationId, ReviewerId};
use countersign::signing::links::{LinkAction, LinkClaims, LinkKeys};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// A server with email on, workers off.
async fn spawn_with(config: TestConfig) -> TestApp {
    TestApp::spawn_with(Options {
        config,
        manual_workers: true,
        ..Options::default()
    })
    .await
}

async fn spawn(smtp: &SmtpServer) -> TestApp {
    spawn_with(TestConfig::default().email(&smtp.url())).await
}

/// A page answer: status, the headers that matter, and the HTML.
struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// The links in mail point at `public_url`, which defaults to port 0 in tests; keep their path.
fn local(app: &TestApp, link: &str) -> String {
    let at = link.find("/links/").expect("a /links/ URL");
    app.url(&link[at..])
}

async fn get(app: &TestApp, link: &str) -> Page {
    let r = app.client.get(local(app, link)).send().await.expect("GET");
    Page {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await.expect("body"),
    }
}

async fn post(app: &TestApp, link: &str, form: &[(&str, &str)]) -> Page {
    let mut encoder = reqwest::Url::parse("http://form.invalid/").expect("url");
    encoder.query_pairs_mut().extend_pairs(form);
    let body = encoder.query().unwrap_or_default().to_owned();
    let r = app
        .client
        .post(local(app, link))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST");
    Page {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await.expect("body"),
    }
}

/// Revision and audit length: what must not move when "nothing changes".
async fn fingerprint(app: &TestApp, id: &str) -> (u32, usize) {
    let esc = app
        .service
        .get(&EscalationId(id.to_owned()))
        .await
        .expect("db")
        .expect("exists");
    (esc.revision, app.audit_kinds(id).await.len())
}

fn only(mails: Vec<Mail>, what: &str) -> Mail {
    assert_eq!(
        mails.len(),
        1,
        "expected exactly one {what}, got {}",
        mails.len()
    );
    mails.into_iter().next().expect("one")
}

/// The tera/HTML escaping of a URL, as it appears in an href.
fn html_escaped(s: &str) -> String {
    s.replace('&', "&amp;").replace('/', "&#x2F;")
}

/// A correctly signed token the server never sent, for tests of what the token alone cannot grant.
async fn forge(
    app: &TestApp,
    id: &str,
    reviewer: &str,
    action: LinkAction,
    secret: &str,
) -> String {
    let esc = app
        .service
        .get(&EscalationId(id.to_owned()))
        .await
        .expect("db")
        .expect("exists");
    let claims = LinkClaims {
        escalation: esc.id.clone(),
        revision: esc.revision,
        stage: esc.current_stage,
        reviewer: ReviewerId(reviewer.to_owned()),
        action,
        round: esc.current().round,
        issued_at_ms: None,
        expires_at_ms: esc.expires_at.timestamp_millis(),
    };
    let token = LinkKeys::new(secret, []).sign(&claims);
    app.url(&format!("/links/{token}"))
}

#[tokio::test]
async fn request_email_carries_the_context_and_threads() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp).await;
    // An earlier decision for the same intent, which the new request must mention.
    let earlier = app
        .escalate_with(rich(
            "test.single.deploy",
            "Deploy api v2.3.0 to production",
        ))
        .await;
    app.approve(&id_of(&earlier), "carol").await;
    app.deliver_all().await;
    let before = smtp.messages().len();

    let doc = app
        .escalate_with(rich(
            "test.single.deploy",
            "Deploy api v2.3.1 to production",
        ))
        .await;
    let id = id_of(&doc);
    let outcome = app.deliver().await;
    assert_eq!(
        (outcome.delivered, outcome.retried, outcome.failed),
        (2, 0, 0)
    );
    let new: Vec<Mail> = smtp.messages().into_iter().skip(before).collect();
    assert_eq!(new.len(), 2, "one request each for bob and carol");

    let mail = only(
        new.iter()
            .filter(|m| m.to == "bob@example.com")
            .cloned()
            .collect(),
        "mail to bob",
    );
    assert_eq!(mail.envelope_to, vec!["bob@example.com"]);
    assert_eq!(mail.from, "approvals@example.com");
    assert_eq!(
        mail.subject,
        "Approval needed (risk 95): Deploy api v2.3.1 to production"
    );
    assert!(
        mail.content_type.starts_with("multipart/alternative"),
        "{}",
        mail.content_type
    );
    assert_eq!((mail.text_parts, mail.html_parts), (1, 1));
    assert!(
        mail.message_id.starts_with('<') && mail.message_id.ends_with("@example.com>"),
        "{}",
        mail.message_id
    );
    let root = format!("<{id}.bob@example.com>");
    assert_eq!(mail.in_reply_to, root);
    assert_eq!(mail.references, root);
    assert!(mail.raw.contains("Auto-Submitted: auto-generated"));

    for (part, body) in [("text", &mail.text), ("html", &mail.html)] {
        for expected in [
            "Deploy api v2.3.1 to production",
            "Test Agent",
            "dana@example.com",
            "test.single.deploy",
            "k8s://prod/api",
            "Production change outside the change window",
            "prod-deploy",
            "Production deploys need approval",
            "2.3.1",
            "Deployed api v2.3.0 to staging",
            "CI run",
            "Stage",
            "1 of 1",
            "Approval",
            "UTC",
            "Nobody yet",
            "Deploy api v2.3.0 to production",
            "approved",
            "Bob Builder",
        ] {
            let expected = if part == "html" {
                expected.replace('/', "&#x2F;")
            } else {
                expected.to_owned()
            };
            assert!(
                body.contains(&expected),
                "{part} part lacks {expected:?}:\n{body}"
            );
        }
    }
    assert!(mail.text.contains("Risk 95 (critical)"));
    assert!(
        mail.html
            .contains("https:&#x2F;&#x2F;ci.example.com&#x2F;runs&#x2F;1")
    );
    let links = mail.links();
    assert_eq!(
        links.len(),
        4,
        "approve, conditions, deny, request changes: {links:?}"
    );
    for link in &links {
        assert!(mail.html.contains(&html_escaped(link)), "html lacks {link}");
    }

    let carol = only(
        new.iter()
            .filter(|m| m.to == "carol@example.com")
            .cloned()
            .collect(),
        "mail to carol",
    );
    assert_eq!(carol.in_reply_to, format!("<{id}.carol@example.com>"));
    assert_ne!(carol.message_id, mail.message_id);
    assert_ne!(
        carol.link("Approve:"),
        mail.link("Approve:"),
        "links are personal"
    );
}

#[tokio::test]
async fn a_get_changes_nothing_and_the_post_records_the_vote() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp).await;
    let id = id_of(
        &app.escalate_with(rich("test.single", "Rotate the database password"))
            .await,
    );
    app.deliver().await;
    let bob = only(smtp.to("bob@example.com"), "request to bob");
    let approve = bob.link("Approve:");
    let before = fingerprint(&app, &id).await;

    // A scanner may open the link any number of times.
    for _ in 0..3 {
        let page = get(&app, &approve).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains(r#"<form method="post""#),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains(r#"<button type="submit" class="approve">Approve</button>"#)
        );
        assert!(page.body.contains("Rotate the database password"));
        assert!(page.body.contains("Bob Builder"));
        assert!(!page.body.contains("<script"), "no script on the page");
        let header = |name: &str| {
            page.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-type"), "text/html; charset=utf-8");
        assert_eq!(header("cache-control"), "no-store");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert_eq!(header("x-frame-options"), "DENY");
        let csp = header("content-security-policy");
        assert!(
            csp.starts_with("default-src 'none'") && csp.contains("form-action 'self'"),
            "{csp}"
        );
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"),
            "{csp}"
        );
    }
    assert_eq!(fingerprint(&app, &id).await, before, "GET changed nothing");
    assert_eq!(app.status(&id).await["status"], "pending");

    let done = post(&app, &approve, &[("comment", "Looks right")]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("You approved"), "{}", done.body);
    assert!(
        done.body.contains("The escalation is decided: Approved."),
        "{}",
        done.body
    );
    let status = app.status(&id).await;
    assert_eq!(status["status"], "approved");
    let vote = &status["stages"][0]["votes"][0];
    assert_eq!(
        (vote["reviewer"].as_str(), vote["decision"].as_str()),
        (Some("bob"), Some("approve"))
    );
    assert_eq!(
        (vote["channel"].as_str(), vote["comment"].as_str()),
        (Some("email"), Some("Looks right"))
    );

    // Used: the same link again, by GET or POST, says so and changes nothing.
    let after = fingerprint(&app, &id).await;
    let again = get(&app, &approve).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("You already voted"), "{}", again.body);
    let reposted = post(&app, &approve, &[]).await;
    assert_eq!(reposted.status, StatusCode::CONFLICT);
    assert!(
        reposted.body.contains("You already voted"),
        "{}",
        reposted.body
    );
    let deny_instead = post(&app, &bob.link("Deny"), &[("comment", "changed my mind")]).await;
    assert_eq!(deny_instead.status, StatusCode::CONFLICT);
    assert_eq!(fingerprint(&app, &id).await.0, after.0, "no new revision");

    // Decided: carol's link is dead too.
    let carol = only(smtp.to("carol@example.com"), "request to carol");
    let late = get(&app, &carol.link("Approve:")).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert!(
        late.body.contains("already decided (approved)"),
        "{}",
        late.body
    );

    // Everyone asked hears the outcome, in the thread of their request.
    app.deliver().await;
    for who in ["bob", "carol"] {
        let mails = smtp.to(&format!("{who}@example.com"));
        assert_eq!(mails.len(), 2, "{who}: request + outcome");
        let outcome = &mails[1];
        assert_eq!(
            outcome.subject,
            "Re: Approval needed (risk 95): Rotate the database password"
        );
        assert_eq!(outcome.in_reply_to, format!("<{id}.{who}@example.com>"));
        assert!(outcome.text.starts_with("APPROVED"), "{}", outcome.text);
        assert!(outcome.text.contains("Bob Builder"), "{}", outcome.text);
        assert_eq!((outcome.text_parts, outcome.html_parts), (1, 1));
    }
}

#[tokio::test]
async fn conditions_are_offered_and_a_deny_needs_a_reason() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp).await;
    let first = id_of(&app.escalate("test.single").await);
    app.deliver().await;
    let link = only(smtp.to("bob@example.com"), "request").link("Approve with conditions:");

    let page = get(&app, &link).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(r#"<input type="checkbox" name="condition" value="0">"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("Canary rollout required") && page.body.contains("Mask PII fields"));
    assert!(page.body.contains(r#"name="other_conditions""#));

    let before = fingerprint(&app, &first).await;
    let empty = post(&app, &link, &[("other_conditions", "  \n ")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty.body.contains("at least one condition"),
        "{}",
        empty.body
    );
    assert_eq!(fingerprint(&app, &first).await.0, before.0);

    let done = post(
        &app,
        &link,
        &[
            ("condition", "1"),
            ("condition", "99"),
            ("other_conditions", "Only in business hours\n"),
        ],
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("You approved with conditions"));
    let decision = &app.status(&first).await["decision"];
    assert_eq!(decision["outcome"], "approved");
    assert_eq!(
        decision["conditions"],
        json!(["Mask PII fields", "Only in business hours"])
    );

    let second = id_of(&app.escalate("test.single").await);
    app.deliver().await;
    let carols = smtp.to("carol@example.com");
    let request = carols
        .iter()
        .find(|m| m.text.contains(&second) && m.subject.starts_with("Approval"));
    let deny = request.expect("carol's second request").link("Deny");
    let form = get(&app, &deny).await;
    assert!(
        form.body.contains("Reason (required)") && form.body.contains("required>"),
        "{}",
        form.body
    );
    let before = fingerprint(&app, &second).await;
    let no_reason = post(&app, &deny, &[("comment", "   ")]).await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        no_reason
            .body
            .contains("A deny needs a comment explaining why."),
        "{}",
        no_reason.body
    );
    assert_eq!(app.status(&second).await["status"], "pending");
    assert_eq!(fingerprint(&app, &second).await.0, before.0);

    let denied = post(&app, &deny, &[("comment", "Not during the freeze")]).await;
    assert_eq!(denied.status, StatusCode::OK, "{}", denied.body);
    assert!(denied.body.contains("You denied"));
    let status = app.status(&second).await;
    assert_eq!(status["status"], "denied");
    assert_eq!(status["decision"]["reason"], "Not during the freeze");
}

#[tokio::test]
async fn tampered_foreign_and_unknown_links_change_nothing() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp).await;
    let id = id_of(
        &app.escalate_with(json!({
            "intent": "test.single", "summary": "Grant admin", "requested_by": "carol@example.com"
        }))
        .await,
    );
    app.deliver().await;
    assert!(
        smtp.to("carol@example.com").is_empty(),
        "the requester is never asked"
    );
    let approve = only(smtp.to("bob@example.com"), "request").link("Approve:");
    let before = fingerprint(&app, &id).await;

    let mut flipped = approve.clone();
    let last = flipped.pop().expect("non-empty");
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    let token = &approve[approve.find("/links/").expect("path") + 7..];
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = forge(&app, &id, "frank", LinkAction::Approve, LINK_SECRET).await;
    let frank_body = forged_claims
        .rsplit('/')
        .next()
        .expect("token")
        .split('.')
        .nth(1)
        .expect("claims");
    let spliced = app.url(&format!("/links/{}.{frank_body}.{}", parts[0], parts[2]));
    let stranger = forge(
        &app,
        &id,
        "bob",
        LinkAction::Approve,
        "a-key-this-server-never-had-0123456789",
    )
    .await;
    for bad in [
        flipped,
        spliced,
        stranger,
        app.url("/links/abc"),
        app.url("/links/..."),
        app.url("/links/%FF%FE"),
        app.url(&format!("/links/{}", "a.".repeat(5000))),
    ] {
        for page in [get(&app, &bad).await, post(&app, &bad, &[]).await] {
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(
                page.body.contains("This link is not valid"),
                "{}",
                page.body
            );
        }
    }

    // A body that is not a form is a form error, not a vote.
    let json_body = app
        .client
        .post(local(&app, &approve))
        .json(&json!({"comment": "hi"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(json_body.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        json_body
            .text()
            .await
            .unwrap_or_default()
            .contains("The form could not be read")
    );

    // Correctly signed, but for people the engine refuses: shown as its sentences.
    let frank = get(&app, &forged_claims).await;
    assert_eq!(frank.status, StatusCode::FORBIDDEN);
    assert!(
        frank
            .body
            .contains("Frank Outsider is not among the reviewers of stage 1"),
        "{}",
        frank.body
    );
    let carol = forge(&app, &id, "carol", LinkAction::Approve, LINK_SECRET).await;
    let self_approval = get(&app, &carol).await;
    assert_eq!(self_approval.status, StatusCode::FORBIDDEN);
    assert!(
        self_approval
            .body
            .contains("You requested this action, so you cannot review it"),
        "{}",
        self_approval.body
    );
    assert_eq!(
        fingerprint(&app, &id).await,
        before,
        "nothing changed, not even the audit"
    );

    let refused = post(&app, &carol, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("self-approval is blocked"));
    assert_eq!(fingerprint(&app, &id).await.0, before.0, "no new revision");
    assert_eq!(
        app.audit_kinds(&id).await.last().map(String::as_str),
        Some("vote_refused")
    );
    assert!(
        app.status(&id).await["stages"][0]["votes"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );

    let unknown = app.url(&format!(
        "/links/{}",
        LinkKeys::new(LINK_SECRET, []).sign(&LinkClaims {
            escalation: EscalationId("esc_01JD0000000000000000000000".into()),
            revision: 1,
            stage: 0,
            reviewer: ReviewerId("bob".into()),
            action: LinkAction::Approve,
            round: 1,
            issued_at_ms: None,
            expires_at_ms: i64::MAX,
        })
    ));
    assert_eq!(get(&app, &unknown).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn separation_of_duties_is_explained_on_the_page() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp).await;
    let id = id_of(&app.escalate("test.same-person").await);
    app.deliver().await;
    let bob = only(smtp.to("bob@example.com"), "stage-1 request");
    assert_eq!(
        post(&app, &bob.link("Approve:"), &[]).await.status,
        StatusCode::OK
    );
    app.deliver().await;
    assert_eq!(
        smtp.to("bob@example.com").len(),
        1,
        "bob is not asked twice"
    );
    assert!(
        smtp.to("carol@example.com")
            .iter()
            .any(|m| m.text.contains("Stage 2 of 2"))
    );

    let again = forge(&app, &id, "bob", LinkAction::Approve, LINK_SECRET).await;
    let page = get(&app, &again).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body
            .contains("You already voted at stage 1; each stage needs a different reviewer."),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn links_expire_with_the_escalation_and_the_timeout_is_mailed() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp).await;
    let id = id_of(&app.escalate("test.timeout").await);
    app.deliver().await;
    let approve = only(smtp.to("bob@example.com"), "request").link("Approve:");
    assert_eq!(get(&app, &approve).await.status, StatusCode::OK);

    // Past the deadline, before the timer has fired: the link alone is already dead.
    app.clock.advance(Duration::from_secs(3601));
    let before = fingerprint(&app, &id).await;
    for page in [get(&app, &approve).await, post(&app, &approve, &[]).await] {
        assert_eq!(page.status, StatusCode::GONE);
        assert!(page.body.contains("This link has expired"), "{}", page.body);
    }
    assert_eq!(fingerprint(&app, &id).await, before);
    assert_eq!(app.status(&id).await["status"], "pending");

    assert_eq!(app.advance(Duration::ZERO).await, 1, "the timeout fires");
    assert_eq!(app.status(&id).await["status"], "expired");
    app.deliver().await;
    let mails = smtp.to("bob@example.com");
    assert_eq!(mails.len(), 2);
    assert!(mails[1].text.starts_with("EXPIRED"), "{}", mails[1].text);
    assert_eq!(mails[1].in_reply_to, format!("<{id}.bob@example.com>"));
}

#[tokio::test]
async fn newly_eligible_reviewers_get_their_email() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp).await;

    // Delegation tier after 10 minutes, SLA escalation after 30.
    let id = id_of(&app.escalate("test.delegation").await);
    app.deliver().await;
    assert_eq!(smtp.to("bob@example.com").len(), 1);
    assert!(smtp.to("erin@example.com").is_empty());
    app.advance(Duration::from_secs(600)).await;
    app.deliver().await;
    let erin = only(smtp.to("erin@example.com"), "delegation request");
    assert!(
        erin.text.contains("widened to include you"),
        "{}",
        erin.text
    );
    assert_eq!(erin.in_reply_to, format!("<{id}.erin@example.com>"));
    app.advance(Duration::from_secs(1200)).await;
    app.deliver().await;
    let dave = only(smtp.to("dave@example.com"), "SLA request");
    assert!(
        dave.text.contains("past its response time (SLA)"),
        "{}",
        dave.text
    );
    assert_eq!(
        post(&app, &dave.link("Approve:"), &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(app.status(&id).await["status"], "approved");

    // The next stage's reviewers are mailed once the stage before it closes.
    let id = id_of(&app.escalate("test.stages").await);
    app.deliver().await;
    let alice = smtp.to("alice@example.com");
    assert_eq!(alice.len(), 1);
    assert!(
        smtp.to("bob@example.com")
            .iter()
            .all(|m| !m.text.contains(&id))
    );
    assert_eq!(
        post(&app, &alice[0].link("Approve:"), &[]).await.status,
        StatusCode::OK
    );
    app.deliver().await;
    for who in ["bob", "carol"] {
        let mail = smtp
            .to(&format!("{who}@example.com"))
            .into_iter()
            .find(|m| m.text.contains(&id));
        let mail = mail.unwrap_or_else(|| panic!("{who} got no stage-2 request"));
        assert!(
            mail.text.contains("Stage 2 of 3: Senior Approval"),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("Stage 1 is done"), "{}", mail.text);
        assert!(
            mail.text
                .contains("Alice Analyst at stage 1 (Security Review)"),
            "{}",
            mail.text
        );
    }
    let stale = get(&app, &alice[0].link("Deny")).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
}

#[tokio::test]
async fn agent_text_is_escaped_everywhere() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp).await;
    let id = id_of(&app.escalate_with(json!({
        "intent": "test.single",
        "summary": "<script>alert(\"x\")</script> & <b>bold</b>",
        "risk": {"score": 60, "reasons": ["<img src=x onerror=alert(1)>"]},
        "payload": {"html": "<iframe src=\"https://evil.example\"></iframe>"},
        "resource": "\"><svg onload=alert(2)>",
        "context": {
            "recent_activity": [{"summary": "</pre><script>alert(3)</script>"}],
            "evidence": [{"label": "<a href=\"javascript:alert(4)\">x</a>", "url": "https://ci.example.com/?a=1&b=<2>"}]
        }
    })).await);
    app.deliver().await;
    let mail = only(smtp.to("bob@example.com"), "request");
    let page = get(&app, &mail.link("Approve:")).await;
    assert_eq!(page.status, StatusCode::OK);
    for (what, html) in [("email", &mail.html), ("page", &page.body)] {
        for raw in [
            "<script",
            "<b>bold",
            "<img",
            "<iframe",
            "<svg",
            "href=\"javascript",
            "<2>",
        ] {
            assert!(!html.contains(raw), "{what} contains raw {raw:?}:\n{html}");
        }
        assert!(
            html.contains(
                "&lt;script&gt;alert(&quot;x&quot;)&lt;&#x2F;script&gt; &amp; &lt;b&gt;bold"
            ),
            "{what}:\n{html}"
        );
    }
    // The plain-text part shows the text as sent: there is nothing to interpret.
    assert!(
        mail.text
            .contains("<script>alert(\"x\")</script> & <b>bold</b>")
    );
    assert_eq!(
        mail.subject,
        "Approval needed (risk 60): <script>alert(\"x\")</script> & <b>bold</b>"
    );
    assert_eq!(app.status(&id).await["status"], "pending");
}

#[tokio::test]
async fn mail_waits_out_an_smtp_outage_and_arrives_once() {
    let mut smtp = SmtpServer::reserve();
    let app = spawn(&smtp).await;
    let id = id_of(&app.escalate("test.single").await);

    let down = app.deliver().await;
    assert_eq!(
        (down.delivered, down.retried, down.failed),
        (0, 2, 0),
        "both requests wait"
    );
    assert!(
        !app.audit_kinds(&id)
            .await
            .iter()
            .any(|k| k.starts_with("email_"))
    );

    smtp.run().await;
    let early = app.deliver().await;
    assert_eq!(
        early.delivered + early.retried,
        0,
        "not before the backoff is over"
    );
    app.clock.advance(Duration::from_secs(2));
    let up = app.deliver().await;
    assert_eq!((up.delivered, up.retried, up.failed), (2, 0, 0));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 2);
    let mut to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    to.sort();
    assert_eq!(to, ["bob@example.com", "carol@example.com"]);
    assert_eq!(
        app.audit_kinds(&id)
            .await
            .iter()
            .filter(|k| *k == "email_sent")
            .count(),
        2
    );

    app.clock.advance(Duration::from_secs(600));
    assert_eq!(app.deliver().await.delivered, 0);
    assert_eq!(smtp.messages().len(), 2, "nothing sent twice");
    assert_eq!(
        post(&app, &mails[0].link("Approve:"), &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_file_transport_writes_eml_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mail_dir = dir.path().join("mail");
    let app =
        spawn_with(TestConfig::default().email(&format!("file://{}", mail_dir.display()))).await;
    let id = id_of(&app.escalate("test.single").await);
    assert_eq!(app.deliver().await.delivered, 2);
    let files = read_eml_dir(&mail_dir);
    assert_eq!(files.len(), 2);
    let bob = only(
        files
            .into_iter()
            .filter(|m| m.to == "bob@example.com")
            .collect(),
        "bob's .eml",
    );
    assert_eq!(bob.in_reply_to, format!("<{id}.bob@example.com>"));
    assert_eq!(
        get(&app, &bob.link("Approve:")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn cancellation_is_mailed_unless_outcomes_are_off() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp).await;
    let id = id_of(&app.escalate("test.single").await);
    app.deliver().await;
    let cancelled = app.cancel(&id, Some("Change withdrawn")).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    app.deliver().await;
    let bob = smtp.to("bob@example.com");
    assert_eq!(bob.len(), 2);
    assert!(
        bob[1].text.starts_with("CANCELLED BY THE AGENT"),
        "{}",
        bob[1].text
    );
    assert!(bob[1].text.contains("Change withdrawn"));

    let quiet_smtp = SmtpServer::start().await;
    let quiet = spawn_with(
        TestConfig::default()
            .email(&quiet_smtp.url())
            .send_outcome(false),
    )
    .await;
    let id = id_of(&quiet.escalate("test.single").await);
    quiet.deliver().await;
    quiet.cancel(&id, None).await;
    quiet.deliver().await;
    assert_eq!(
        quiet_smtp.messages().len(),
        2,
        "the two requests, no outcome"
    );
}

#[tokio::test]
async fn a_real_browser_approves_with_one_click() {
    let browser = Browser::start().await;
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp).await;
    let id = id_of(
        &app.escalate_with(rich("test.single", "Scale api to 12 replicas"))
            .await,
    );
    app.deliver().await;
    let approve = only(smtp.to("bob@example.com"), "request").link("Approve:");

    browser.goto(&local(&app, &approve)).await;
    assert!(
        browser
            .title()
            .await
            .starts_with("Approve: Scale api to 12 replicas")
    );
    let button = browser.find("form button[type=submit]").await;
    assert_eq!(browser.text(&button).await, "Approve");
    assert_eq!(
        app.status(&id).await["status"],
        "pending",
        "opening the page decided nothing"
    );

    browser.click(&button).await;
    browser.wait_for_title("You approved: ").await;
    let heading = browser.find("h1").await;
    assert_eq!(browser.text(&heading).await, "You approved");
    assert!(
        browser
            .source()
            .await
            .contains("The escalation is decided: Approved.")
    );
    let status = app.status(&id).await;
    assert_eq!(status["status"], "approved");
    let vote = &status["stages"][0]["votes"][0];
    assert_eq!(
        (vote["reviewer"].as_str(), vote["channel"].as_str()),
        (Some("bob"), Some("email"))
    );

    // Deny: the browser itself refuses to submit without a reason, then submits with one.
    let id = id_of(&app.escalate("test.single").await);
    app.deliver().await;
    let carol = smtp.to("carol@example.com");
    let request = carol
        .iter()
        .find(|m| m.text.contains(&id))
        .expect("carol's request");
    browser.goto(&local(&app, &request.link("Deny"))).await;
    let button = browser.find("form button[type=submit]").await;
    browser.click(&button).await;
    assert!(
        browser.title().await.starts_with("Deny: "),
        "still on the form"
    );
    assert_eq!(app.status(&id).await["status"], "pending");
    assert!(
        !app.audit_kinds(&id)
            .await
            .iter()
            .any(|k| k == "vote_refused"),
        "the empty form never left the browser"
    );
    let reason = browser.find("textarea#comment").await;
    browser.type_into(&reason, "Not during the <freeze>").await;
    browser.click(&button).await;
    browser.wait_for_title("You denied: ").await;
    let heading = browser.find("h1").await;
    assert_eq!(browser.text(&heading).await, "You denied");
    let status = app.status(&id).await;
    assert_eq!(status["status"], "denied");
    assert_eq!(status["decision"]["reason"], "Not during the <freeze>");
    browser.quit().await;
}
