//! The vote form both the email confirmation page and the web UI's queue show: what its
//! fields are (offered and typed conditions, the comment) and how a submitted form becomes
//! the vote's conditions and constraints. The engine judges the result, whatever the page.

use crate::domain::conditions::{InputKind, MAX_TEXT_CONSTRAINT_LEN};
use crate::domain::{Constraints, Escalation};
use crate::signing::links::LinkAction;
use crate::view::constraints;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Form field prefix of a typed condition's value; the condition id follows.
const CONSTRAINT: &str = "constraint_";

/// What the form sent.
#[derive(Default)]
pub struct Submitted {
    pub comment: Option<String>,
    checked: Vec<usize>,
    other_conditions: String,
    /// `constraint_<id>` fields as typed, by condition id.
    values: HashMap<String, String>,
}

impl Submitted {
    /// The vote fields among `pairs`; others (a CSRF token, the opening) are the caller's.
    pub fn parse(pairs: &[(String, String)]) -> Self {
        let mut out = Self::default();
        for (key, value) in pairs {
            match key.as_str() {
                "comment" => out.comment = Some(value.clone()),
                "condition" => out.checked.extend(value.trim().parse::<usize>().ok()),
                "other_conditions" => out.other_conditions = value.clone(),
                key => {
                    if let Some(id) = key.strip_prefix(CONSTRAINT) {
                        out.values.insert(id.to_owned(), value.clone());
                    }
                }
            }
        }
        out
    }

    /// Offered conditions by index (unknown indexes ignored), then one per written line.
    pub fn conditions(&self, esc: &Escalation, action: LinkAction) -> Vec<String> {
        if action != LinkAction::Conditions {
            return Vec::new();
        }
        let offered = esc.workflow.labels();
        let mut out: Vec<String> = offered
            .iter()
            .enumerate()
            .filter(|(i, _)| self.checked.contains(i))
            .map(|(_, c)| (*c).to_owned())
            .collect();
        out.extend(
            self.other_conditions
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
        out
    }

    /// The typed conditions' values (conditions form only): text as written, numbers
    /// parsed; one that does not parse is the form's error, naming the field. Ids and
    /// types are then the engine's to judge.
    pub fn constraints(&self, esc: &Escalation, action: LinkAction) -> Result<Constraints, String> {
        let mut out = Constraints::new();
        if action != LinkAction::Conditions {
            return Ok(out);
        }
        for t in esc.workflow.typed_conditions() {
            let Some(text) = self.value(&t.id) else {
                continue;
            };
            let value = match t.input {
                InputKind::Text => Value::String(text.to_owned()),
                InputKind::Number => constraints::parse_number(text)
                    .ok_or_else(|| format!("{}: “{text}” is not a number.", t.label))?,
            };
            out.insert(t.id.clone(), value);
        }
        Ok(out)
    }

    /// The conditions and constraints of a conditions form, or the form's error when it
    /// has neither (the plain approval is the other button).
    pub fn terms(
        &self,
        esc: &Escalation,
        action: LinkAction,
    ) -> Result<(Vec<String>, Constraints), String> {
        let conditions = self.conditions(esc, action);
        let constraints = self.constraints(esc, action)?;
        if action == LinkAction::Conditions && conditions.is_empty() && constraints.is_empty() {
            return Err(
                "Choose, write or fill in at least one condition, or use the plain Approve link."
                    .into(),
            );
        }
        Ok((conditions, constraints))
    }

    fn value(&self, id: &str) -> Option<&str> {
        let v = self.values.get(id)?.trim();
        (!v.is_empty()).then_some(v)
    }
}

pub fn verb(action: LinkAction) -> &'static str {
    match action {
        LinkAction::Approve => "Approve",
        LinkAction::Conditions => "Approve with conditions",
        LinkAction::Deny => "Deny",
        LinkAction::RequestChanges => "Request changes",
    }
}

/// The context of `pages/vote_fields.html` (as `f`) for one action on `esc`, refilled from
/// `form` (what was sent when the page comes back with `error`). `prefix` keeps element ids
/// apart when one page holds several forms.
pub fn fields(
    esc: &Escalation,
    action: LinkAction,
    form: &Submitted,
    error: Option<&str>,
    prefix: &str,
) -> Value {
    let workflow = &esc.workflow;
    // Indexes into the labels, as `Submitted::conditions` reads them back.
    let offered: Vec<Value> = workflow
        .labels()
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"index": i, "text": c, "checked": form.checked.contains(&i)}))
        .collect();
    let typed: Vec<Value> = workflow
        .typed_conditions()
        .map(|t| {
            json!({
                "field": format!("{CONSTRAINT}{}", t.id),
                "label": t.label,
                "number": t.input == InputKind::Number,
                "hint": constraints::hint(t),
                "value": form.values.get(&t.id).cloned().unwrap_or_default(),
                "max": MAX_TEXT_CONSTRAINT_LEN,
            })
        })
        .collect();
    json!({
        "prefix": prefix,
        "action": action.as_str(),
        "verb": verb(action),
        "offered": offered,
        "typed": typed,
        "comment": form.comment,
        "other_conditions": form.other_conditions,
        "error": error,
    })
}
