//! The deny and approve-with-conditions modals, and reading what a reviewer typed into them.

use super::kit;
use super::mrkdwn::{escape, escape_within, one_line};
use super::refs::ActionRef;
use crate::domain::conditions::{Constraints, InputKind, MAX_TEXT_CONSTRAINT_LEN, TypedCondition};
use crate::domain::{Escalation, WorkflowSpec};
use crate::view::constraints;
use serde_json::Value;
use slack_morphism::prelude::*;
use std::collections::HashMap;

/// `callback_id`s, so a submission says which modal it came from.
pub const DENY: &str = "countersign_deny";
pub const CONDITIONS: &str = "countersign_conditions";

const REASON: &str = "reason";
const PICK: &str = "pick";
const GROUP: &str = "conditions_";
const EXTRA: &str = "extra";
const COMMENT: &str = "comment";
/// Block id prefix of a typed condition's input; the condition id follows.
const CONSTRAINT: &str = "constraint_";
const VALUE: &str = "value";
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
    blocks.extend(esc.workflow.typed_conditions().map(constraint_input));
    blocks.push(text_input(EXTRA, "Other conditions (one per line)", true));
    blocks.push(text_input(COMMENT, "Comment (optional)", true));
    modal(CONDITIONS, "Approve with conditions", "Approve", r, blocks)
}

/// One optional input per typed condition, labelled with its label, the check as hint.
/// Its block id carries the condition id (`[a-z0-9_]{1,64}`, so within Slack's limit).
fn constraint_input(t: &TypedCondition) -> SlackBlock {
    let action = SlackActionId(VALUE.into());
    let element: SlackInputBlockElement = match t.input {
        InputKind::Number => SlackBlockNumberInputElement::new(true)
            .with_action_id(action)
            .into(),
        InputKind::Text => SlackBlockPlainTextInputElement::new()
            .with_action_id(action)
            .with_max_length(MAX_TEXT_CONSTRAINT_LEN as u64)
            .into(),
    };
    SlackInputBlock::new(kit::plain(&t.label, kit::INPUT_LABEL), element)
        .with_block_id(kit::block_id(&format!("{CONSTRAINT}{}", t.id)))
        .with_hint(kit::plain(&constraints::hint(t), kit::INPUT_LABEL))
        .with_optional(true)
        .into()
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
    /// What was filled in for typed conditions, as typed: the engine judges ids and types.
    pub constraints: Constraints,
    pub comment: Option<String>,
}

/// Ticked labels (mapped back to the workflow's full text by index), then typed lines,
/// and the typed conditions' values. A number that does not parse is an error under its
/// input (block id → message), so nothing is silently dropped.
pub fn read_conditions(
    state: &SlackViewState,
    workflow: &WorkflowSpec,
) -> Result<ConditionsInput, HashMap<String, String>> {
    let constraints = read_constraints(state, workflow)?;
    let labels = workflow.labels();
    let mut input = read_labels(state, &labels);
    input.constraints = constraints;
    Ok(input)
}

fn read_constraints(
    state: &SlackViewState,
    workflow: &WorkflowSpec,
) -> Result<Constraints, HashMap<String, String>> {
    let mut constraints = Constraints::new();
    let mut errors = HashMap::new();
    for t in workflow.typed_conditions() {
        let block = format!("{CONSTRAINT}{}", t.id);
        let Some(text) = text_value(state, &block, VALUE) else {
            continue;
        };
        let value = match t.input {
            InputKind::Text => Value::String(text),
            InputKind::Number => match constraints::parse_number(&text) {
                Some(n) => n,
                None => {
                    errors.insert(block, format!("\"{}\" is not a number.", one_line(&text)));
                    continue;
                }
            },
        };
        constraints.insert(t.id.clone(), value);
    }
    if errors.is_empty() {
        Ok(constraints)
    } else {
        Err(errors)
    }
}

fn read_labels(state: &SlackViewState, offered: &[&str]) -> ConditionsInput {
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
        constraints: Constraints::new(),
        comment: text_value(state, COMMENT, COMMENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conditions::{ConditionSpec, TypedCondition};
    use crate::domain::fixtures;

    fn typed(i: usize, input: InputKind) -> ConditionSpec {
        ConditionSpec::Typed(TypedCondition {
            id: format!("c{i}"),
            label: format!("Condition {i} {}", "x".repeat(3000)),
            input,
            check: None,
        })
    }

    #[test]
    fn the_most_conditions_a_workflow_may_have_fit_one_modal() {
        // 50 typed conditions (the config's limit), the worst case for blocks.
        let mut w = fixtures::workflow(vec![fixtures::stage("One", &["bob"])]);
        w.conditions = (0..50).map(|i| typed(i, InputKind::Number)).collect();
        let esc = fixtures::start(w).escalation;
        let SlackView::Modal(view) = conditions(&esc, &ActionRef::new(&esc, esc.opening())) else {
            panic!("a modal");
        };
        assert!(view.blocks.len() <= kit::MODAL_BLOCKS);
        let json = serde_json::to_value(&view.blocks).unwrap();
        let inputs = json
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["element"]["type"] == "number_input")
            .count();
        assert_eq!(inputs, 50, "none cut");
        let label = json[2]["label"]["text"].as_str().unwrap();
        assert!(label.chars().count() <= kit::INPUT_LABEL, "labels are cut");
    }

    #[test]
    fn a_number_that_does_not_parse_is_an_error_under_its_input() {
        let mut w = fixtures::workflow(vec![fixtures::stage("One", &["bob"])]);
        w.conditions = vec![typed(0, InputKind::Number), typed(1, InputKind::Text)];
        let state: SlackViewState = serde_json::from_value(serde_json::json!({"values": {
            "constraint_c0": {"value": {"type": "number_input", "value": "1,5"}},
            "constraint_c1": {"value": {"type": "plain_text_input", "value": "  eu  "}},
        }}))
        .unwrap();
        let errors = read_conditions(&state, &w).unwrap_err();
        assert_eq!(errors["constraint_c0"], "\"1,5\" is not a number.");
        let state: SlackViewState = serde_json::from_value(serde_json::json!({"values": {
            "constraint_c0": {"value": {"type": "number_input", "value": "1.5"}},
            "constraint_c1": {"value": {"type": "plain_text_input", "value": "  eu  "}},
        }}))
        .unwrap();
        let input = read_conditions(&state, &w).unwrap();
        assert_eq!(
            serde_json::to_value(&input.constraints).unwrap(),
            serde_json::json!({"c0": 1.5, "c1": "eu"})
        );
    }
}
