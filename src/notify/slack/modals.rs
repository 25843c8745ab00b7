//! The deny and approve-with-conditions modals, and reading what a reviewer typed into them.

use super::kit;
use super::mrkdwn::{escape, escape_within, one_line};
use super::refs::ActionRef;
use crate::domain::Escalation;
use slack_morphism::prelude::*;

/// `callback_id`s, so a submission says which modal it came from.
pub const DENY: &str = "countersign_deny";
pub const CONDITIONS: &str = "countersign_conditions";

const REASON: &str = "reason";
const PICK: &str = "pick";
const GROUP: &str = "conditions_";
const EXTRA: &str = "extra";
const COMMENT: &str = "comment";
/// Conditions offered as checkboxes; a workflow listing more is cut (the text box remains).
const MAX_OFFERED: usize = 80;

pub fn deny(esc: &Escalation, r: &ActionRef) -> SlackView {
    let reason = SlackBlockPlainTextInputElement::new()
        .with_action_id(SlackActionId(REASON.into()))
        .with_multiline(true)
        .with_max_length(kit::TEXT_INPUT_MAX);
    let input = SlackInputBlock::new(
        kit::plain("Why are you denying this?", kit::INPUT_LABEL),
        reason.into(),
    )
    .with_block_id(kit::block_id(REASON))
    .with_hint(kit::plain(
        "The agent and the other reviewers see this reason.",
        kit::INPUT_LABEL,
    ));
    modal(DENY, "Deny request", "Deny", r, {
        let mut blocks = about(esc, r.opening.stage);
        blocks.push(input.into());
        blocks
    })
}

pub fn conditions(esc: &Escalation, r: &ActionRef) -> SlackView {
    let mut blocks = about(esc, r.opening.stage);
    let labels = esc.workflow.labels();
    let offered: Vec<&str> = labels.into_iter().take(MAX_OFFERED).collect();
    for (g, group) in offered.chunks(kit::OPTIONS).enumerate() {
        let options = group
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let text: SlackBlockText = kit::plain(c, kit::OPTION_TEXT).into();
                SlackBlockChoiceItem::new(text, (g * kit::OPTIONS + i).to_string())
            })
            .collect();
        let boxes =
            SlackBlockCheckboxesElement::new(options).with_action_id(SlackActionId(PICK.into()));
        let label = if g == 0 {
            "Conditions"
        } else {
            "More conditions"
        };
        let block = SlackInputBlock::new(kit::plain(label, kit::INPUT_LABEL), boxes.into())
            .with_block_id(kit::block_id(&format!("{GROUP}{g}")))
            .with_optional(true);
        blocks.push(block.into());
    }
    blocks.push(text_input(EXTRA, "Other conditions (one per line)", true));
    blocks.push(text_input(COMMENT, "Comment (optional)", true));
    modal(CONDITIONS, "Approve with conditions", "Approve", r, blocks)
}

fn text_input(id: &str, label: &str, multiline: bool) -> SlackBlock {
    let element = SlackBlockPlainTextInputElement::new()
        .with_action_id(SlackActionId(id.into()))
        .with_multiline(multiline)
        .with_max_length(kit::TEXT_INPUT_MAX);
    SlackInputBlock::new(kit::plain(label, kit::INPUT_LABEL), element.into())
        .with_block_id(kit::block_id(id))
        .with_optional(true)
        .into()
}

/// What the request is, so the reviewer sees what they are deciding on in the modal too.
fn about(esc: &Escalation, stage: usize) -> Vec<SlackBlock> {
    let stage_name = esc
        .workflow
        .stages
        .get(stage)
        .map_or(String::new(), |s| escape(&s.name));
    vec![
        kit::section(&format!(
            "*{}*\n{}",
            escape(&esc.request.intent),
            escape_within(&esc.request.summary, 1500).text
        )),
        kit::context(&[format!(
            "Stage {} of {} · {stage_name} · `{}`",
            stage + 1,
            esc.stages.len(),
            esc.id
        )]),
    ]
}

fn modal(
    callback: &str,
    title: &str,
    submit: &str,
    r: &ActionRef,
    blocks: Vec<SlackBlock>,
) -> SlackView {
    SlackView::Modal(
        SlackModalView::new(
            kit::plain(title, kit::MODAL_TITLE),
            kit::fit(blocks, kit::MODAL_BLOCKS),
        )
        .with_submit(kit::plain(submit, kit::MODAL_BUTTON))
        .with_close(kit::plain("Cancel", kit::MODAL_BUTTON))
        .with_callback_id(SlackCallbackId(callback.into()))
        .with_private_metadata(r.encode()),
    )
}

/// The input block a refusal is shown under.
pub fn error_block(callback: &str) -> &'static str {
    if callback == DENY { REASON } else { EXTRA }
}

fn text_value(state: &SlackViewState, block: &str, action: &str) -> Option<String> {
    let value = state
        .values
        .get(&SlackBlockId(block.into()))?
        .get(&SlackActionId(action.into()))?
        .value
        .as_deref()?
        .trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The deny reason; `None` when left empty.
pub fn read_deny(state: &SlackViewState) -> Option<String> {
    text_value(state, REASON, REASON)
}

#[derive(Debug, Default, PartialEq)]
pub struct ConditionsInput {
    pub conditions: Vec<String>,
    pub comment: Option<String>,
}

/// Ticked conditions (mapped back to the workflow's full text by index), then typed ones.
pub fn read_conditions(state: &SlackViewState, offered: &[&str]) -> ConditionsInput {
    let mut conditions: Vec<String> = Vec::new();
    // Slack sends the values as a map, so restore the workflow's order.
    let mut picked: Vec<usize> = state
        .values
        .iter()
        .filter(|(block, _)| block.0.starts_with(GROUP))
        .filter_map(|(_, actions)| actions.get(&SlackActionId(PICK.into())))
        .flat_map(|v| v.selected_options.iter().flatten())
        .filter_map(|o| o.value.parse::<usize>().ok())
        .collect();
    picked.sort_unstable();
    for i in picked {
        if let Some(c) = offered
            .get(i)
            .filter(|c| !conditions.iter().any(|k| k == *c))
        {
            conditions.push((*c).to_owned());
        }
    }
    if let Some(extra) = text_value(state, EXTRA, EXTRA) {
        for line in extra.lines().map(one_line) {
            let line = line.trim().to_owned();
            if !line.is_empty() && !conditions.contains(&line) {
                conditions.push(line);
            }
        }
    }
    ConditionsInput {
        conditions,
        comment: text_value(state, COMMENT, COMMENT),
    }
}
