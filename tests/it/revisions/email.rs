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
