//! The after-approval part of a decided Slack message: the receipt and the window to execute
//! in, then what the agent reported it executed. Block Kit has no colours inside blocks, so a
//! problem is marked with `:red_circle:` / `:warning:` and bold instead of red.

use super::kit::SECTION_TEXT;
use super::mrkdwn::{escape, escape_within, one_line};
use crate::view::{AfterApproval, Tone};

/// Longest finding line, so a few of them and the detail fit one section.
const FINDING: usize = 600;

/// One mrkdwn section text.
pub fn section(after: &AfterApproval<'_>) -> String {
    let receipt = after
        .receipt_id
        .map(|id| format!("Receipt `{}` · ", escape(id)))
        .unwrap_or_default();
    let Some(done) = &after.execution else {
        return format!(":receipt: {receipt}{}", escape(&after.execute_within));
    };
    let marker = match done.tone {
        Tone::Ok => ":white_check_mark:",
        Tone::Problem => ":red_circle:",
        Tone::Missing => ":grey_question:",
    };
    let mut lines = vec![format!("{marker} *{}*", escape(&done.headline))];
    for finding in &done.findings {
        let text = escape_within(&one_line(finding), FINDING).text;
        lines.push(match done.tone {
            Tone::Problem => format!(":warning: *{text}*"),
            _ => format!("• {text}"),
        });
    }
    if let Some(at) = &done.reported_at {
        lines.push(format!("_Reported {}_", escape(at)));
    }
    if let Some(detail) = done.detail {
        lines.push(format!(
            ">{}",
            escape_within(&one_line(detail), FINDING).text
        ));
    }
    if !receipt.is_empty() {
        lines.push(format!(":receipt: {}", receipt.trim_end_matches(" · ")));
    }
    // Many findings could pile up: cut to one section, never inside an escape.
    super::kit::clamp_markup(&lines.join("\n"), SECTION_TEXT)
}
