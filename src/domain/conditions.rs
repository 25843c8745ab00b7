//! Typed conditions (design.md §6): what a workflow offers approvers, the constraint values
//! they fill in, how the decision merges them, and the checks an executed payload must pass.

use super::eligibility::Refusal;
use super::escalation::{Escalation, VoteChoice};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Constraint values by condition id, as votes carry them and the decision merges them.
pub type Constraints = BTreeMap<String, Value>;

/// The longest text a reviewer may give as a constraint value.
pub const MAX_TEXT_CONSTRAINT_LEN: usize = 500;

/// One entry of a workflow's `conditions`: a label the executor must honour, or a typed
/// condition whose value the approver fills in and the execution report is checked against.
/// Stored as it was written (a string stays a string), so workflows pinned before typed
/// conditions existed read back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConditionSpec {
    Label(String),
    Typed(TypedCondition),
}

impl ConditionSpec {
    pub fn label(&self) -> &str {
        match self {
            Self::Label(label) => label,
            Self::Typed(t) => &t.label,
        }
    }

    pub fn typed(&self) -> Option<&TypedCondition> {
        match self {
            Self::Label(_) => None,
            Self::Typed(t) => Some(t),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedCondition {
    /// The key of its value in a vote's and the decision's `constraints`.
    pub id: String,
    pub label: String,
    pub input: InputKind,
    /// Optional: how the executed payload is held to the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
}

/// The type of value the reviewer fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    Number,
    Text,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::Text => "text",
        }
    }
}

/// `{pointer, op}`: the payload's value at `pointer` must stand in `op` to the constraint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// An RFC 6901 JSON pointer into the payload (`/amount`).
    pub pointer: String,
    pub op: CheckOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOp {
    /// At most the value (numbers): the strictest is the smallest.
    Lte,
    /// At least the value (numbers): the strictest is the largest.
    Gte,
    /// Exactly the value (numbers or text).
    Eq,
}

impl CheckOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lte => "lte",
            Self::Gte => "gte",
            Self::Eq => "eq",
        }
    }

    /// Whether `actual` satisfies the op against `allowed`. A missing value or one of
    /// another type never does: the check fails closed.
    pub fn holds(self, actual: Option<&Value>, allowed: &Value) -> bool {
        let Some(actual) = actual else {
            return false;
        };
        match self {
            Self::Lte | Self::Gte => match (actual.as_f64(), allowed.as_f64()) {
                (Some(a), Some(b)) if self == Self::Lte => a <= b,
                (Some(a), Some(b)) => a >= b,
                _ => false,
            },
            Self::Eq => match (actual, allowed) {
                (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
                (a, b) => a == b,
            },
        }
    }
}

/// One check an executed payload failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Violation {
    /// The condition's id.
    pub id: String,
    pub pointer: String,
    #[schema(value_type = String, pattern = "^(lte|gte|eq)$")]
    pub op: CheckOp,
    /// The approved constraint value.
    #[schema(value_type = Object)]
    pub allowed: Value,
    /// The payload's value at the pointer; `null` when absent.
    #[schema(value_type = Object)]
    pub actual: Value,
}

/// The typed conditions a workflow declares, by id.
fn declared<'a>(esc: &'a Escalation, id: &str) -> Option<&'a TypedCondition> {
    esc.workflow
        .conditions
        .iter()
        .filter_map(ConditionSpec::typed)
        .find(|t| t.id == id)
}

/// The constraints a vote may carry: ids the workflow declares, values of the declared
/// type. Anything else is refused (422 `validation`) and the vote changes nothing. A deny
/// carries none: what it gave is checked, then dropped, as its conditions are.
pub fn clean_constraints(
    esc: &Escalation,
    choice: VoteChoice,
    raw: Constraints,
) -> Result<Constraints, Refusal> {
    let mut clean = Constraints::new();
    for (id, value) in raw {
        let Some(spec) = declared(esc, &id) else {
            return Err(Refusal::Invalid(format!(
                "\"{id}\" is not a constraint this workflow declares."
            )));
        };
        let value = match (spec.input, value) {
            (InputKind::Number, Value::Number(n)) => Value::Number(n),
            (InputKind::Text, Value::String(s)) => {
                let s = s.trim().to_owned();
                if s.chars().count() > MAX_TEXT_CONSTRAINT_LEN {
                    return Err(Refusal::Invalid(format!(
                        "The constraint \"{id}\" is longer than {MAX_TEXT_CONSTRAINT_LEN} characters."
                    )));
                }
                if s.is_empty() {
                    continue;
                }
                Value::String(s)
            }
            (kind, _) => {
                return Err(Refusal::Invalid(format!(
                    "The constraint \"{id}\" must be a {}.",
                    kind.as_str()
                )));
            }
        };
        clean.insert(id, value);
    }
    Ok(match choice {
        VoteChoice::Approve => clean,
        VoteChoice::Deny => Constraints::new(),
    })
}

/// The decision's constraints: every approving vote's, the strictest value winning for
/// `lte` (smallest) and `gte` (largest) checks; for any other constraint the first
/// approver's value stands.
pub fn merge_constraints<'a>(
    votes: impl IntoIterator<Item = &'a Constraints>,
    esc: &Escalation,
) -> Constraints {
    let mut merged = Constraints::new();
    for constraints in votes {
        for (id, value) in constraints {
            let op = declared(esc, id)
                .and_then(|t| t.check.as_ref())
                .map(|c| c.op);
            match merged.get(id) {
                None => {
                    merged.insert(id.clone(), value.clone());
                }
                Some(current) => {
                    let stricter = match (op, value.as_f64(), current.as_f64()) {
                        (Some(CheckOp::Lte), Some(new), Some(old)) => new < old,
                        (Some(CheckOp::Gte), Some(new), Some(old)) => new > old,
                        _ => false,
                    };
                    if stricter {
                        merged.insert(id.clone(), value.clone());
                    }
                }
            }
        }
    }
    merged
}

/// The checks of the decision's constraints that `payload` fails, in condition order.
/// A constraint without a check binds the executor but cannot be checked here.
pub fn violations(esc: &Escalation, constraints: &Constraints, payload: &Value) -> Vec<Violation> {
    esc.workflow
        .conditions
        .iter()
        .filter_map(ConditionSpec::typed)
        .filter_map(|t| {
            let check = t.check.as_ref()?;
            let allowed = constraints.get(&t.id)?;
            let actual = payload.pointer(&check.pointer);
            (!check.op.holds(actual, allowed)).then(|| Violation {
                id: t.id.clone(),
                pointer: check.pointer.clone(),
                op: check.op,
                allowed: allowed.clone(),
                actual: actual.cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_missing_or_mistyped_value_fails_every_check() {
        for op in [CheckOp::Lte, CheckOp::Gte, CheckOp::Eq] {
            assert!(!op.holds(None, &json!(5)), "{op:?} on a missing value");
        }
        assert!(!CheckOp::Lte.holds(Some(&json!("4")), &json!(5)));
        assert!(!CheckOp::Gte.holds(Some(&json!(null)), &json!(5)));
        assert!(!CheckOp::Eq.holds(Some(&json!("5")), &json!(5)));
    }

    #[test]
    fn checks_compare_numbers_by_value() {
        assert!(CheckOp::Lte.holds(Some(&json!(5)), &json!(5.0)));
        assert!(!CheckOp::Lte.holds(Some(&json!(5.5)), &json!(5)));
        assert!(CheckOp::Gte.holds(Some(&json!(7)), &json!(5)));
        assert!(!CheckOp::Gte.holds(Some(&json!(4)), &json!(5)));
        assert!(CheckOp::Eq.holds(Some(&json!(2)), &json!(2.0)));
        assert!(CheckOp::Eq.holds(Some(&json!("eu-west-1")), &json!("eu-west-1")));
        assert!(!CheckOp::Eq.holds(Some(&json!("eu-west-2")), &json!("eu-west-1")));
    }

    #[test]
    fn a_plain_string_reads_as_a_label_and_an_object_as_a_typed_condition() {
        let specs: Vec<ConditionSpec> = serde_json::from_value(json!([
            "Canary rollout required",
            {"id": "max_amount", "label": "Cap the amount", "input": "number",
             "check": {"pointer": "/amount", "op": "lte"}}
        ]))
        .unwrap();
        assert_eq!(
            specs[0],
            ConditionSpec::Label("Canary rollout required".into())
        );
        let typed = specs[1].typed().unwrap();
        assert_eq!(typed.input, InputKind::Number);
        assert_eq!(typed.check.as_ref().unwrap().op, CheckOp::Lte);
        let back = serde_json::to_value(&specs).unwrap();
        assert_eq!(back[0], json!("Canary rollout required"));
    }
}
