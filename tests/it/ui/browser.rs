//! The web UI in real headless Chromium: sign in through the mailed link, approve from the
//! queue, read the escalation's timeline; screenshots at 1280 and 390 px wide are saved
//! under `UI_SHOTS` (default: the test's temp dir) for people to look at.

use super::{sign_in_path, spawn};
use crate::support::TestApp;
use crate::support::browser::Browser;
use crate::support::config::TestConfig;
use crate::support::smtp::SmtpServer;
use std::path::PathBuf;

fn shots() -> PathBuf {
    let dir = std::env::var_os("UI_SHOTS").map_or_else(
        || std::env::temp_dir().join("countersign-ui-shots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Screenshots of the page now at a laptop's and a phone's width; the phone's page must not
/// scroll sideways.
async fn shoot(browser: &Browser, name: &str) {
    let dir = shots();
    browser.resize(1280, 900).await;
    browser
        .screenshot(&dir.join(format!("{name}-1280.png")))
        .await;
    browser.resize(390, 844).await;
    browser
        .screenshot(&dir.join(format!("{name}-390.png")))
        .await;
    let width = browser.scroll_width().await;
    assert!(width <= 390, "{name} scrolls sideways at 390 px: {width}");
    browser.resize(1280, 900).await;
}

async fn signed_in_browser(app: &TestApp, smtp: &SmtpServer, reviewer: &str) -> Browser {
    let browser = Browser::start().await;
    browser.goto(&app.url("/ui")).await;
    browser.wait_for_title("Sign in").await;
    let email = browser.find("input[name=email]").await;
    browser
        .type_into(&email, &format!("{reviewer}@example.com"))
        .await;
    let button = browser.find("form button[type=submit]").await;
    browser.click(&button).await;
    browser.wait_for_title("Check your email").await;
    app.deliver().await;
    let mail = smtp
        .to(&format!("{reviewer}@example.com"))
        .into_iter()
        .rfind(|m| m.subject.contains("sign-in"))
        .expect("the sign-in mail");
    browser.goto(&app.url(&sign_in_path(&mail))).await;
    browser.wait_for_title("Sign in as").await;
    let button = browser.find("form button[type=submit]").await;
    browser.click(&button).await;
    browser.wait_for_title("My queue").await;
    browser
}

#[tokio::test]
async fn a_reviewer_signs_in_by_mail_approves_from_the_queue_and_reads_the_timeline() {
    let smtp = SmtpServer::start().await;
    let app = spawn(&smtp, TestConfig::default().admin("dave")).await;
    let id = app
        .escalate_with(serde_json::json!({
            "intent": "test.single",
            "summary": "Scale api to 12 replicas <b>now</b>",
            "payload": {"service": "api", "replicas": 12},
            "risk": {"score": 55, "reasons": ["Peak traffic window"]},
        }))
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let browser = Browser::start().await;
    browser.goto(&app.url("/ui/login")).await;
    browser.wait_for_title("Sign in").await;
    shoot(&browser, "login").await;
    browser.quit().await;

    let browser = signed_in_browser(&app, &smtp, "bob").await;
    let source = browser.source().await;
    assert!(
        source.contains("Scale api to 12 replicas &lt;b&gt;now&lt;/b&gt;"),
        "escaped"
    );
    shoot(&browser, "queue").await;
    assert_eq!(
        app.status(&id).await["status"],
        "pending",
        "nothing voted by looking"
    );

    let approve = browser
        .find("details.approve form button[type=submit]")
        .await;
    assert_eq!(browser.text(&approve).await, "Approve");
    browser.click(&approve).await;
    browser.wait_for_title("My queue (0)").await;
    let notice = browser.find("p.notice").await;
    assert!(
        browser
            .text(&notice)
            .await
            .contains("Your vote was recorded")
    );
    let status = app.status(&id).await;
    assert_eq!(status["status"], "approved");
    assert_eq!(status["stages"][0]["votes"][0]["channel"], "ui");

    browser
        .goto(&app.url(&format!("/ui/escalations/{id}")))
        .await;
    browser.wait_for_title("Scale api").await;
    let timeline = browser.find("ol.timeline").await;
    let text = browser.text(&timeline).await;
    assert!(text.contains("Approved at stage 1 via ui"), "{text}");
    assert!(text.contains("Decided: approved"), "{text}");
    shoot(&browser, "escalation").await;

    browser.goto(&app.url("/ui/insights")).await;
    browser.wait_for_title("Operators only").await;
    browser.quit().await;

    let browser = signed_in_browser(&app, &smtp, "dave").await;
    browser.goto(&app.url("/ui/insights?since=7d")).await;
    browser.wait_for_title("Insights").await;
    let chart = browser.find("svg.bars title").await;
    assert!(!chart.is_empty());
    let source = browser.source().await;
    assert!(source.contains("Decisions by outcome"), "charts present");
    assert!(source.contains("<title>approved: 1</title>"));
    shoot(&browser, "insights").await;

    browser.quit().await;
}
