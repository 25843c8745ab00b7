//! Block Kit limits and block builders that respect them whatever text they are given.
//!
//! Callers cut agent-supplied text to a budget with [`mrkdwn`](super::mrkdwn);
//! these builders are the last guard: a text still too long is cut at a point
//! that does not split our own `<…>` markup or an `&…;` entity.

use super::mrkdwn;
use slack_morphism::prelude::*;

pub const MESSAGE_BLOCKS: usize = 50;
pub const MODAL_BLOCKS: usize = 100;
pub const SECTION_TEXT: usize = 3000;
pub const FIELDS: usize = 10;
pub const FIELD_TEXT: usize = 2000;
pub const HEADER_TEXT: usize = 150;
pub const CONTEXT_ELEMENTS: usize = 10;
pub const CONTEXT_TEXT: usize = 2000;
pub const BUTTON_TEXT: usize = 75;
pub const BUTTON_VALUE: usize = 2000;
pub const ID: usize = 255;
pub const CONFIRM_TITLE: usize = 100;
pub const CONFIRM_TEXT: usize = 300;
pub const CONFIRM_BUTTON: usize = 30;
pub const MODAL_TITLE: usize = 24;
pub const MODAL_BUTTON: usize = 24;
pub const PRIVATE_METADATA: usize = 3000;
pub const INPUT_LABEL: usize = 2000;
pub const OPTIONS: usize = 10;
pub const OPTION_TEXT: usize = 75;
pub const OPTION_VALUE: usize = 150;
pub const TEXT_INPUT_MAX: u64 = 3000;
/// The notification text beside the blocks; Slack allows far more, phones show a line.
pub const FALLBACK_TEXT: usize = 300;

/// mrkdwn text, `verbatim` so Slack does not auto-link names or `@here` written as plain words.
pub fn md(text: &str, max: usize) -> SlackBlockText {
    SlackBlockMarkDownText::new(clamp_markup(text, max))
        .with_verbatim(true)
        .into()
}

pub fn plain(text: &str, max: usize) -> SlackBlockPlainTextOnly {
    SlackBlockPlainText::new(mrkdwn::plain_within(text, max))
        .with_emoji(true)
        .into()
}

pub fn section(text: &str) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(md(text, SECTION_TEXT))
        .into()
}

pub fn fields(items: &[String]) -> SlackBlock {
    let fields = items
        .iter()
        .take(FIELDS)
        .map(|f| md(f, FIELD_TEXT))
        .collect();
    SlackSectionBlock::new().with_fields(fields).into()
}

pub fn header(text: &str) -> SlackBlock {
    SlackHeaderBlock::new(plain(text, HEADER_TEXT)).into()
}

pub fn context(items: &[String]) -> SlackBlock {
    let elements = items
        .iter()
        .take(CONTEXT_ELEMENTS)
        .map(|t| {
            SlackContextBlockElement::MarkDown(
                SlackBlockMarkDownText::new(clamp_markup(t, CONTEXT_TEXT)).with_verbatim(true),
            )
        })
        .collect();
    SlackContextBlock::new(elements).into()
}

pub fn divider() -> SlackBlock {
    SlackDividerBlock::new().into()
}

/// A block id within limits.
pub fn block_id(id: &str) -> SlackBlockId {
    SlackBlockId(mrkdwn::plain_within(id, ID))
}

/// Keeps at most `max` blocks. Renderers stay far below the limit; this holds it
/// even so, keeping the last block (the buttons) because it is what a reviewer needs.
pub fn fit(mut blocks: Vec<SlackBlock>, max: usize) -> Vec<SlackBlock> {
    if blocks.len() > max {
        let last = blocks.pop();
        blocks.truncate(max.saturating_sub(1));
        blocks.extend(last);
    }
    blocks
}

/// Cuts mrkdwn we composed to `max`, at a point outside any `<…>` token or
/// `&…;` entity, ending with `…`.
pub fn clamp_markup(text: &str, max: usize) -> String {
    if mrkdwn::len(text) <= max {
        return text.to_owned();
    }
    let budget = max.saturating_sub(1);
    let mut safe_end = 0;
    let mut used = 0;
    let mut in_token = false;
    let mut in_entity = false;
    for (i, c) in text.char_indices() {
        used += c.len_utf16();
        if used > budget {
            break;
        }
        match c {
            '<' => in_token = true,
            '>' => in_token = false,
            '&' => in_entity = true,
            ';' => in_entity = false,
            _ => {}
        }
        if !in_token && !in_entity {
            safe_end = i + c.len_utf8();
        }
    }
    format!("{}…", &text[..safe_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_never_splits_tokens() {
        let t = format!("ab {} cd &amp; ef", mrkdwn::date(chrono::Utc::now()));
        for max in 1..t.len() {
            let c = clamp_markup(&t, max);
            assert!(mrkdwn::len(&c) <= max, "{max}: {c}");
            assert_eq!(c.matches('<').count(), c.matches('>').count(), "{c}");
            let amp = c.rfind('&');
            assert!(amp.is_none_or(|i| c[i..].contains(';')), "{c}");
        }
    }

    #[test]
    fn fit_keeps_the_last_block() {
        let mut blocks: Vec<SlackBlock> = (0..60).map(|i| section(&i.to_string())).collect();
        blocks.push(divider());
        let fitted = fit(blocks, MESSAGE_BLOCKS);
        assert_eq!(fitted.len(), MESSAGE_BLOCKS);
        assert!(matches!(fitted.last(), Some(SlackBlock::Divider(_))));
    }
}
