//! `workflows[].conditions[]` and `execute_within`: what loads, and each refusal with its path.

use super::*;
use crate::domain::ConditionSpec;
use crate::domain::conditions::{CheckOp, InputKind};

/// BASE with `conditions` (a YAML flow or block value) added to its workflow.
fn with_conditions(conditions: &str) -> String {
    base_with(
        "channels: [email]",
        &format!("channels: [email]\n    conditions: {conditions}"),
    )
}

const TYPED: &str =
    "{id: max_amount, label: Cap the amount, input: number, check: {pointer: /amount, op: lte}}";

#[test]
fn labels_and_typed_conditions_load_in_order() {
    let yaml = with_conditions(&format!(
        "[\"Canary rollout required\", {TYPED}, {{id: region, label: Region, input: text}}]"
    ));
    let c = load(&yaml).unwrap_or_else(|e| panic!("{e}")).config;
    let w = c.workflow("only").unwrap();
    assert_eq!(
        w.conditions[0],
        ConditionSpec::Label("Canary rollout required".into())
    );
    let cap = w.conditions[1].typed().unwrap();
    assert_eq!(
        (cap.id.as_str(), cap.label.as_str()),
        ("max_amount", "Cap the amount")
    );
    assert_eq!(cap.input, InputKind::Number);
    let check = cap.check.as_ref().unwrap();
    assert_eq!(
        (check.pointer.as_str(), check.op),
        ("/amount", CheckOp::Lte)
    );
    let region = w.conditions[2].typed().unwrap();
    assert_eq!(
        (region.input, region.check.is_none()),
        (InputKind::Text, true)
    );
    assert_eq!(w.execute_within.as_secs(), 3600);
    assert_eq!(w.labels(), ["Canary rollout required"]);
}

#[test]
fn execute_within_is_read_and_zero_refused() {
    let yaml = base_with(
        "channels: [email]",
        "channels: [email]\n    execute_within: 15m",
    );
    let c = load(&yaml).unwrap().config;
    assert_eq!(c.workflow("only").unwrap().execute_within.as_secs(), 900);
    let zero = base_with(
        "channels: [email]",
        "channels: [email]\n    execute_within: 0s",
    );
    has_error(&zero, "workflows[0].execute_within", "greater than zero");
}

#[test]
fn an_object_needs_id_label_and_input() {
    for (missing, yaml) in [
        ("id", "[{label: Cap, input: number}]"),
        ("label", "[{id: cap, input: number}]"),
        ("input", "[{id: cap, label: Cap}]"),
    ] {
        has_error(
            &with_conditions(yaml),
            "workflows[0].conditions[0]",
            &format!("needs `{missing}`"),
        );
    }
}

#[test]
fn neither_string_nor_object_names_both_shapes() {
    let errs = errors(&with_conditions("[42]"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].path, "workflows[0].conditions[0]");
    assert!(errs[0].message.contains("a string (a label) or an object"));
    assert!(!errs[0].message.contains("variant"), "{errs:#?}");
    has_error(
        &with_conditions("[\"  \"]"),
        "workflows[0].conditions[0]",
        "empty label",
    );
}

#[test]
fn unknown_keys_are_named_at_their_path() {
    has_error(
        &with_conditions("[{id: cap, label: Cap, input: number, max: 3}]"),
        "workflows[0].conditions[0].max",
        "unknown key",
    );
    has_error(
        &with_conditions(
            "[{id: cap, label: Cap, input: number, check: {pointer: /a, op: lte, strict: true}}]",
        ),
        "workflows[0].conditions[0].check.strict",
        "unknown key",
    );
}

#[test]
fn ids_are_lowercase_words_and_unique_within_a_workflow() {
    for bad in ["Max", "max-amount", "\"\"", "é", &"a".repeat(65)] {
        let yaml = with_conditions(&format!("[{{id: {bad}, label: Cap, input: number}}]"));
        let errs = errors(&yaml);
        assert!(
            errs.iter()
                .any(|e| e.path.starts_with("workflows[0].conditions[0]")),
            "{bad}: {errs:#?}"
        );
    }
    has_error(
        &with_conditions("[{id: Max, label: Cap, input: number}]"),
        "workflows[0].conditions[0].id",
        "a-z, 0-9 and _",
    );
    has_error(
        &with_conditions("[{id: \"\", label: Cap, input: number}]"),
        "workflows[0].conditions[0].id",
        "is empty",
    );
    has_error(
        &with_conditions(&format!(
            "[{TYPED}, Canary, {{id: max_amount, label: Again, input: text}}]"
        )),
        "workflows[0].conditions[2].id",
        "duplicate condition id `max_amount` (first at workflows[0].conditions[0].id)",
    );
    // The same id in two workflows is fine: constraints belong to one escalation.
    let two = format!(
        "{}  - id: other\n    channels: [email]\n    conditions: [{TYPED}]\n    stages: [{{name: S, approvers: [\"user:bob\"]}}]\n",
        with_conditions(&format!("[{TYPED}]"))
    );
    load(&two).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn pointers_follow_rfc_6901() {
    for ok in ["\"\"", "/amount", "/a~1b/0", "/m~0n"] {
        let yaml = with_conditions(&format!(
            "[{{id: x, label: X, input: number, check: {{pointer: {ok}, op: lte}}}}]"
        ));
        load(&yaml).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in ["amount", "/a~2", "/a~"] {
        has_error(
            &with_conditions(&format!(
                "[{{id: x, label: X, input: number, check: {{pointer: \"{bad}\", op: lte}}}}]"
            )),
            "workflows[0].conditions[0].check.pointer",
            "JSON pointer",
        );
    }
}

#[test]
fn ops_and_inputs_are_checked_together() {
    has_error(
        &with_conditions("[{id: x, label: X, input: text, check: {pointer: /r, op: lte}}]"),
        "workflows[0].conditions[0].check.op",
        "compares numbers, but the input is text",
    );
    has_error(
        &with_conditions("[{id: x, label: X, input: text, check: {pointer: /r, op: gte}}]"),
        "workflows[0].conditions[0].check.op",
        "`gte` compares numbers",
    );
    load(&with_conditions(
        "[{id: x, label: X, input: text, check: {pointer: /r, op: eq}}]",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    has_error(
        &with_conditions("[{id: x, label: X, input: number, check: {pointer: /r, op: lt}}]"),
        "workflows[0].conditions[0].check.op",
        "unknown op `lt` (expected lte, gte or eq)",
    );
    has_error(
        &with_conditions("[{id: x, label: X, input: date}]"),
        "workflows[0].conditions[0].input",
        "unknown input `date` (expected number or text)",
    );
    has_error(
        &with_conditions("[{id: x, label: X, input: number, check: {pointer: /r}}]"),
        "workflows[0].conditions[0].check",
        "needs `op`",
    );
    has_error(
        &with_conditions("[{id: x, label: X, input: number, check: /r}]"),
        "workflows[0].conditions[0].check",
        "{pointer, op}",
    );
}

#[test]
fn every_condition_problem_is_reported() {
    let yaml = with_conditions(
        "[{id: Bad, label: X, input: date, colour: red}, {id: ok, label: Y, input: text, check: {pointer: nope, op: gte}}]",
    );
    let paths: Vec<String> = errors(&yaml).into_iter().map(|e| e.path).collect();
    for p in [
        "workflows[0].conditions[0].id",
        "workflows[0].conditions[0].input",
        "workflows[0].conditions[0].colour",
        "workflows[0].conditions[1].check.pointer",
        "workflows[0].conditions[1].check.op",
    ] {
        assert!(paths.iter().any(|q| q == p), "{p} missing from {paths:?}");
    }
}

#[test]
fn too_many_conditions() {
    let many: Vec<String> = (0..51).map(|i| format!("\"Condition {i}\"")).collect();
    has_error(
        &with_conditions(&format!("[{}]", many.join(", "))),
        "workflows[0].conditions",
        "has 51 conditions; at most 50",
    );
}
