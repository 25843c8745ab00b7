//! Typed conditions as reviewers read and fill them: `Cap the amount: 18000`, the hint
//! naming the check, and a number typed into a form read back as a JSON number.

use crate::domain::WorkflowSpec;
use crate::domain::conditions::{CheckOp, Constraints, InputKind, TypedCondition};
use serde_json::{Number, Value};

/// `Cap the amount: 18000` for each constraint, in the workflow's order of conditions
/// (an id the workflow no longer declares goes last, under its id). Plain text: every
/// surface escapes it as it escapes any reviewer text.
pub fn constraint_lines(workflow: &WorkflowSpec, constraints: &Constraints) -> Vec<String> {
    let declared: Vec<&TypedCondition> = workflow.typed_conditions().collect();
    let mut lines: Vec<String> = declared
        .iter()
        .filter_map(|t| Some(format!("{}: {}", t.label, shown(constraints.get(&t.id)?))))
        .collect();
    lines.extend(
        constraints
            .iter()
            .filter(|(id, _)| !declared.iter().any(|t| &t.id == *id))
            .map(|(id, v)| format!("{id}: {}", shown(v))),
    );
    lines
}

/// A value as typed: text without quotes, a number as JSON writes it.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What the input asks for, e.g. "Checked: /amount must be ≤ this".
pub fn hint(t: &TypedCondition) -> String {
    let Some(check) = &t.check else {
        return match t.input {
            InputKind::Number => "A number the executor must honour (not checked automatically)",
            InputKind::Text => "A value the executor must honour (not checked automatically)",
        }
        .to_owned();
    };
    let rel = match check.op {
        CheckOp::Lte => "≤",
        CheckOp::Gte => "≥",
        CheckOp::Eq => "=",
    };
    let at = if check.pointer.is_empty() {
        "the payload"
    } else {
        &check.pointer
    };
    format!("Checked: {at} must be {rel} this")
}

/// A number typed into a form: JSON syntax first (`18000`, `0.5`, `1e3`), then the looser
/// forms a person types (`+5`, `.5`, `5.`). `None` for anything else, or one not finite.
pub fn parse_number(text: &str) -> Option<Value> {
    let text = text.trim();
    if let Ok(n) = text.parse::<Number>() {
        return Some(Value::Number(n));
    }
    let f = text.parse::<f64>().ok().filter(|f| f.is_finite())?;
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conditions::{Check, ConditionSpec};
    use serde_json::json;

    fn workflow() -> WorkflowSpec {
        use crate::domain::fixtures;
        let mut w = fixtures::workflow(vec![fixtures::stage("One", &["bob"])]);
        w.conditions = vec![
            ConditionSpec::Label("Canary".into()),
            ConditionSpec::Typed(TypedCondition {
                id: "region".into(),
                label: "Region".into(),
                input: InputKind::Text,
                check: None,
            }),
            ConditionSpec::Typed(TypedCondition {
                id: "max_amount".into(),
                label: "Cap the amount".into(),
                input: InputKind::Number,
                check: Some(Check {
                    pointer: "/amount".into(),
                    op: CheckOp::Lte,
                }),
            }),
        ];
        w
    }

    #[test]
    fn lines_use_labels_in_condition_order() {
        let c: Constraints = serde_json::from_value(
            json!({"max_amount": 18000, "region": "eu-west-1", "gone": 2.5}),
        )
        .unwrap();
        assert_eq!(
            constraint_lines(&workflow(), &c),
            ["Region: eu-west-1", "Cap the amount: 18000", "gone: 2.5"]
        );
    }

    #[test]
    fn hints_name_the_check() {
        let w = workflow();
        let typed: Vec<_> = w.typed_conditions().collect();
        assert_eq!(hint(typed[1]), "Checked: /amount must be ≤ this");
        assert!(hint(typed[0]).contains("not checked"));
    }

    #[test]
    fn numbers_parse_as_people_type_them() {
        assert_eq!(parse_number("18000"), Some(json!(18000)));
        assert_eq!(parse_number(" 0.5 "), Some(json!(0.5)));
        assert_eq!(parse_number(".5"), Some(json!(0.5)));
        assert_eq!(parse_number("-3"), Some(json!(-3)));
        for bad in ["", "abc", "18,000", "NaN", "inf", "1e999", "12abc"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }
}
