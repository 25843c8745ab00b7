//! Slack's side of revisions (design.md §7): the note a message shows while changes are
//! requested, and the "what changed" blocks of a revised request, cut to Block Kit limits.

use super::kit::{self, SECTION_TEXT};
use super::mrkdwn::{self, date, escape, escape_within, one_line};
use crate::view::revision::{Asked, ChangeLine, RevisionView};
use slack_morphism::prelude::*;

/// Room kept in a section for the "…and N more" note.
const NOTE_RESERVE: usize = 80;

/// "Changes requested by Bob <date>" and the comment, quoted.
pub fn asked_note(asked: &Asked) -> String {
    format!(
        ":memo: *Changes requested by {}* {}\n>{}",
        escape(&asked.by.name),
        date(asked.at),
        escape_within(&one_line(&asked.comment), SECTION_TEXT / 2).text
    )
}

/// The blocks of a message whose escalation waits for a revision: no buttons.
pub fn waiting_note(asked: &Asked) -> String {
    format!(
        "{}\n_Voting is stopped until the agent revises the request; if your review is needed again you will get a new message._",
        asked_note(asked)
    )
}

/// What changed since the previous submission, and the comment that asked for it.
pub fn what_changed(r: &RevisionView) -> Vec<SlackBlock> {
    let mut head = format!(
        "*Revision {} — what changed since revision {}*",
        r.number,
        r.number.saturating_sub(1)
    );
    if let Some(asked) = &r.asked {
        head.push('\n');
        head.push_str(&asked_note(asked));
    }
    let mut blocks = vec![kit::section(&head)];
    let mut facts = Vec::new();
    if let Some((before, after)) = &r.summary {
        facts.push(format!(
            "*Summary*\n~{}~\n→ {}",
            escape_within(&one_line(before), 600).text,
            escape_within(&one_line(after), 600).text
        ));
    }
    if let Some((before, after)) = &r.risk {
        facts.push(format!("*Risk*\n{} → *{}*", escape(before), escape(after)));
    }
    if !facts.is_empty() {
        blocks.push(kit::section(&facts.join("\n")));
    }
    if let Some(payload) = payload(r) {
        blocks.push(kit::section(&payload));
    }
    if r.unchanged() {
        blocks.push(kit::context(&[
            "_The agent resubmitted the request unchanged._".to_owned(),
        ]));
    }
    blocks
}

/// The payload changes, one line each, within one section.
fn payload(r: &RevisionView) -> Option<String> {
    if r.payload.is_empty() {
        return None;
    }
    let mut text = "*Payload changes*".to_owned();
    let mut shown = 0;
    for line in r.payload.iter().map(change) {
        if mrkdwn::len(&text) + 1 + mrkdwn::len(&line) > SECTION_TEXT - NOTE_RESERVE {
            break;
        }
        text.push('\n');
        text.push_str(&line);
        shown += 1;
    }
    let left = r.payload.len() - shown + r.more;
    if left > 0 {
        text.push_str(&format!("\n_…and {left} more changes not shown._"));
    }
    Some(text)
}

fn change(c: &ChangeLine) -> String {
    let at = code(&c.pointer);
    match (c.before.as_deref(), c.after.as_deref()) {
        (Some(b), Some(a)) => format!("• :pencil2: {at} changed: {} → {}", code(b), code(a)),
        (None, Some(a)) => format!("• :heavy_plus_sign: {at} added: {}", code(a)),
        (Some(b), None) => format!("• :heavy_minus_sign: {at} removed (was {})", code(b)),
        (None, None) => format!("• {at}"),
    }
}

/// Inline code: escaped, and a backtick in the value cannot end the span early.
fn code(s: &str) -> String {
    format!("`{}`", escape(&one_line(s)).replace('`', "ˋ"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ReviewerId;
    use crate::view::Person;

    fn view(lines: usize) -> RevisionView {
        RevisionView {
            number: 2,
            asked: Some(Asked {
                by: Person {
                    id: ReviewerId::from("bob"),
                    name: "Bob <!channel>".into(),
                },
                comment: "Use <https://evil|four> replicas".into(),
                at: chrono::Utc::now(),
            }),
            summary: Some(("Scale to 6".into(), "Scale to 4".into())),
            risk: Some(("80".into(), "40".into())),
            payload: (0..lines)
                .map(|i| ChangeLine {
                    op: "changed",
                    pointer: format!("/items/{i}/name"),
                    before: Some(format!("\"{}\"", "a`".repeat(50))),
                    after: Some("\"b\"".into()),
                })
                .collect(),
            more: 7,
        }
    }

    #[test]
    fn what_changed_escapes_agent_and_reviewer_text() {
        let blocks = serde_json::to_string(&what_changed(&view(2))).unwrap();
        assert!(!blocks.contains("<!channel>"), "{blocks}");
        assert!(!blocks.contains("<https://evil"), "{blocks}");
        assert!(blocks.contains("/items/1/name"));
        assert!(blocks.contains("Scale to 4"));
    }

    #[test]
    fn a_long_diff_is_cut_to_one_section_with_a_count() {
        let blocks = what_changed(&view(100));
        let json = serde_json::to_value(&blocks).unwrap();
        let payload = json
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .find(|t| t.starts_with("*Payload changes*"))
            .unwrap()
            .to_owned();
        assert!(payload.chars().count() <= SECTION_TEXT);
        assert!(payload.contains("more changes not shown"), "{payload}");
    }
}
