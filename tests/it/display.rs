//! What a reviewer sees of hostile agent text: invisible and bidi characters written out as
//! `<U+XXXX>` in Slack, the email subject and bodies and the confirmation page, and the real
//! host beside every agent-labelled link in Slack.

use crate::support::fake_slack::{FakeSlack, dm_channel};
use crate::support::smtp::SmtpServer;
use crate::support::{Options, TestApp, TestConfig};
use serde_json::{Value, json};

/// `Rotate key {U+202E}gnp.exe{U+202C}` reads as "Rotate key exe.png" in any bidi-aware renderer.
const SPOOFED: &str = "Rotate key \u{202E}gnp.exe\u{202C} now\u{200B}\u{FEFF}";
const HIDDEN: [char; 4] = ['\u{202E}', '\u{202C}', '\u{200B}', '\u{FEFF}'];

fn hostile() -> Value {
    json!({
        "intent": "test.single",
        "summary": SPOOFED,
        "resource": "k8s://prod/\u{2067}api",
        "risk": {"score": 40, "reasons": ["reason \u{200D}hidden"]},
        "context": {
            "recent_activity": [{"summary": "did \u{2066}things"}],
            "evidence": [
                {"label": "https://ci.example.com/runs/1", "url": "https://evil.example/steal"},
                {"label": "CI run", "url": "https://ci.example.com/runs/2"}
            ]
        }
    })
}

fn assert_no_hidden(what: &str, text: &str) {
    for c in HIDDEN
        .iter()
        .chain(['\u{2067}', '\u{200D}', '\u{2066}'].iter())
    {
        assert!(
            !text.contains(*c),
            "{what} carries raw U+{:04X}:\n{text}",
            *c as u32
        );
    }
}

#[tokio::test]
async fn slack_shows_hidden_characters_escaped_and_the_real_host_of_links() {
    let slack = FakeSlack::start().await;
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default().slack(&slack.api_url),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    app.escalate_with(hostile()).await;
    app.deliver().await;
    let message = slack.message_in(&dm_channel("bob"));
    let all = message.all_text();
    assert_no_hidden("the Slack message", &all);
    // mrkdwn escapes the brackets of the marker, so it reads `<U+202E>` in Slack.
    assert!(
        all.contains(
            "Rotate key &lt;U+202E&gt;gnp.exe&lt;U+202C&gt; now&lt;U+200B&gt;&lt;U+FEFF&gt;"
        ),
        "{all}"
    );
    assert!(all.contains("k8s://prod/&lt;U+2067&gt;api"), "{all}");
    // The label looks like a CI link; the host it really opens is printed beside it.
    assert!(
        all.contains("<https://evil.example/steal|https://ci.example.com/runs/1> (evil.example)"),
        "{all}"
    );
    assert!(
        all.contains("<https://ci.example.com/runs/2|CI run> (ci.example.com)"),
        "{all}"
    );
}

#[tokio::test]
async fn email_and_the_confirmation_page_show_hidden_characters_escaped() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Options {
        config: TestConfig::default().email(&smtp.url()),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    app.escalate_with(hostile()).await;
    app.deliver().await;
    let mails = smtp.to("bob@example.com");
    assert_eq!(mails.len(), 1, "one request to bob");
    let mail = &mails[0];
    assert_no_hidden("the subject", &mail.subject);
    assert!(
        mail.subject
            .contains("Rotate key <U+202E>gnp.exe<U+202C> now<U+200B><U+FEFF>"),
        "{}",
        mail.subject
    );
    assert_no_hidden("the text part", &mail.text);
    assert!(
        mail.text.contains("Rotate key <U+202E>gnp.exe"),
        "{}",
        mail.text
    );
    assert_no_hidden("the HTML part", &mail.html);
    assert!(
        mail.html.contains("Rotate key &lt;U+202E&gt;gnp.exe"),
        "{}",
        mail.html
    );

    let link = mail.link("Approve:");
    let at = link.find("/links/").expect("a /links/ URL");
    let page = app
        .client
        .get(app.url(&link[at..]))
        .send()
        .await
        .expect("GET");
    assert_eq!(page.status(), 200);
    let body = page.text().await.expect("body");
    assert_no_hidden("the confirmation page", &body);
    assert!(body.contains("Rotate key &lt;U+202E&gt;gnp.exe"), "{body}");
}
