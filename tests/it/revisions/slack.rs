//! The Slack side: the Request changes… button and modal, the updated messages, the
//! revised request's "what changed", and revision 1's buttons refused.

use super::*;
use crate::support::fake_slack::{self, FakeSlack, dm_channel};
use crate::support::requests::id_of;

#[tokio::test]
async fn request_changes_in_slack_then_the_revision_shows_what_changed() {
    let slack = FakeSlack::start().await;
    let app = TestApp::spawn_with(Options {
        config: config().slack(&slack.api_url),
        manual_workers: true,
        ..Options::default()
    })
    .await;
    let id = id_of(&app.escalate_with(request("Scale api to six", 6)).await);
    app.deliver_all().await;
    let first = slack.message_in(&dm_channel("bob"));
    let button = first.button("request_changes").expect("offered");
    assert_eq!(button["text"]["text"], "Request changes…");

    let clicked = fake_slack::click("bob", &first, "request_changes", &slack.response_url());
    assert_eq!(app.interact(&clicked).await.status(), StatusCode::OK);
    let views = slack.views();
    assert_eq!(views.len(), 1);
    let view = &views[0];
    assert_eq!(view["callback_id"], "countersign_request_changes");
    fake_slack::check_view(view).expect("within Block Kit limits");
    // No comment: the modal says so and nothing is recorded.
    let r = app
        .interact(&fake_slack::submit("bob", view, json!({})))
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["response_action"], "errors");
    assert!(
        body["errors"]["change"]
            .as_str()
            .unwrap()
            .contains("comment")
    );
    assert_eq!(app.status(&id).await["status"], "pending");

    let values = json!({"change": {"change": {"type": "plain_text_input",
        "value": "<!channel> Six is too many; use four."}}});
    let r = app.interact(&fake_slack::submit("bob", view, values)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().is_empty(), "the modal closes");
    let doc = app.status(&id).await;
    assert_eq!(doc["status"], "changes_requested");
    assert_eq!(
        doc["revisions"][0]["changes_requested"]["comment"],
        "<!channel> Six is too many; use four."
    );

    app.deliver_all().await;
    for name in ["bob", "carol"] {
        let m = slack.message_in(&dm_channel(name));
        let text = m.all_text();
        assert!(!m.has_buttons(), "{name}: buttons gone");
        assert!(text.contains("Changes requested by Bob Builder"), "{text}");
        assert!(text.contains("&lt;!channel&gt; Six is too many"), "{text}");
        assert!(!text.contains("<!channel>"));
    }
    if let Ok(dir) = std::env::var("COUNTERSIGN_DUMP_DIR") {
        let m = slack.message_in(&dm_channel("bob"));
        std::fs::write(
            format!("{dir}/changes-requested-slack-blocks.json"),
            serde_json::to_string_pretty(&m.blocks).unwrap(),
        )
        .unwrap();
    }

    let mut revised = request("Scale api to four", 4);
    revised["payload"]["canary"] = json!(true);
    revised["payload"].as_object_mut().unwrap().remove("region");
    revised["risk"]["score"] = json!(40);
    revise(&app, &id, &revised).await;
    app.deliver_all().await;
    let messages = slack.messages_in(&dm_channel("bob"));
    assert_eq!(messages.len(), 2, "a new message for the revision");
    let old = &messages[0];
    assert!(!old.has_buttons());
    assert!(old.all_text().contains("revision 2"), "{}", old.all_text());
    let new = &messages[1];
    let text = new.all_text();
    for needle in [
        "Revision 2 — what changed since revision 1",
        "Changes requested by Bob Builder",
        "Scale api to six",
        "Scale api to four",
        "80 → *40*",
        "`/replicas` changed: `6` → `4`",
        "`/canary` added: `true`",
        "`/region` removed (was `\"eu-west-1\"`)",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    fake_slack::check_blocks(&new.blocks, 50, false).expect("within Block Kit limits");
    if let Ok(dir) = std::env::var("COUNTERSIGN_DUMP_DIR") {
        std::fs::write(
            format!("{dir}/revised-slack-blocks.json"),
            serde_json::to_string_pretty(&new.blocks).unwrap(),
        )
        .unwrap();
    }

    // Revision 1's buttons are refused as stale; revision 2's work.
    let stale = fake_slack::click("carol", &first, "approve", &slack.response_url());
    assert_eq!(app.interact(&stale).await.status(), StatusCode::OK);
    crate::support::eventually(Duration::from_secs(10), || async {
        slack.responses().into_iter().find(|r| {
            r["text"]
                .as_str()
                .is_some_and(|t| t.contains("no longer open"))
        })
    })
    .await;
    assert_eq!(app.status(&id).await["status"], "pending");
    let fresh = fake_slack::click("carol", new, "approve", &slack.response_url());
    assert_eq!(app.interact(&fresh).await.status(), StatusCode::OK);
    assert_eq!(app.status(&id).await["status"], "approved");
}
