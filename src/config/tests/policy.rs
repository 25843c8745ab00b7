//! `templates:` / `extends:` and `auto:` (design.md §9): merging, refusals with the paths of
//! both the workflow and the template, and the checks on automatic decisions.

use super::*;
use crate::domain::AutoDecision;
use crate::domain::policy::Subject;

/// The id of the workflow `c` selects for the bot's `intent` at risk 10.
fn selected<'c>(c: &'c Config, intent: &str) -> Option<&'c str> {
    let agent = AgentId::from("bot");
    let body = serde_json::json!({});
    let subject = Subject {
        agent: &agent,
        intent,
        risk_score: Some(10),
        body: &body,
    };
    c.select_workflow(&subject).map(|w| w.id.as_str())
}

/// BASE's reviewers with `rest` (templates and workflows) in place of its workflows.
fn with_policies(rest: &str) -> String {
    let head = BASE.split("workflows:").next().unwrap();
    format!("{head}{rest}")
}

const TEMPLATE: &str = r#"
templates:
  - id: reviewed
    channels: [email]
    timeout: 2h
    max_revisions: 1
    match: {intents: ["deploy.*"]}
    stages:
      - name: One
        approvers: ["role:engineer"]
"#;

#[test]
fn a_workflow_inherits_what_it_does_not_write() {
    let yaml = with_policies(&format!(
        "{TEMPLATE}workflows:\n  - id: deploys\n    extends: reviewed\n    timeout: 30m\n"
    ));
    let c = load(&yaml).unwrap_or_else(|e| panic!("{e}")).config;
    let w = c.workflow("deploys").unwrap();
    assert_eq!(w.timeout, std::time::Duration::from_secs(30 * 60));
    assert_eq!(w.max_revisions, 1);
    assert_eq!(w.stages.len(), 1);
    assert_eq!(w.stages[0].name, "One");
    assert_eq!(selected(&c, "deploy.api"), Some("deploys"));
}

#[test]
fn stages_and_match_replace_whole() {
    let yaml = with_policies(&format!(
        r#"{TEMPLATE}workflows:
  - id: payments
    extends: reviewed
    match: {{intents: ["payment.*"]}}
    stages:
      - name: First
        approvers: ["user:alice"]
      - name: Second
        approvers: ["user:bob"]
"#
    ));
    let c = load(&yaml).unwrap_or_else(|e| panic!("{e}")).config;
    let w = c.workflow("payments").unwrap();
    let names: Vec<&str> = w.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["First", "Second"]);
    assert_eq!(selected(&c, "deploy.api"), None);
    assert_eq!(selected(&c, "payment.send"), Some("payments"));
}

#[test]
fn templates_extend_templates_nearest_first() {
    let yaml = with_policies(&format!(
        r#"{TEMPLATE}  - id: quick
    extends: reviewed
    timeout: 10m
workflows:
  - id: hotfix
    extends: quick
"#
    ));
    let c = load(&yaml).unwrap_or_else(|e| panic!("{e}")).config;
    let w = c.workflow("hotfix").unwrap();
    assert_eq!(w.timeout, std::time::Duration::from_secs(600));
    assert_eq!(w.max_revisions, 1);
    assert_eq!(w.stages[0].name, "One");
}

#[test]
fn an_unknown_template_is_an_error_at_extends() {
    let yaml = with_policies(&format!(
        "{TEMPLATE}workflows:\n  - id: deploys\n    extends: nope\n"
    ));
    has_error(&yaml, "workflows[0].extends", "no template has id `nope`");
    let yaml = with_policies(&format!(
        "{TEMPLATE}  - id: child\n    extends: ghost\nworkflows:\n  - id: w\n    extends: child\n"
    ));
    has_error(&yaml, "templates[1].extends", "no template has id `ghost`");
}

#[test]
fn a_cycle_is_an_error_naming_it_once() {
    let yaml = with_policies(
        r#"templates:
  - id: a
    extends: b
  - id: b
    extends: a
  - id: c
    extends: c
workflows:
  - id: w
    extends: a
"#,
    );
    let errs = errors(&yaml);
    let cycles: Vec<String> = errs
        .iter()
        .filter(|e| e.message.contains("cycle"))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        cycles,
        [
            "templates[0].extends: templates extend each other in a cycle: a → b → a",
            "templates[2].extends: templates extend each other in a cycle: c → c",
        ]
    );
}

#[test]
fn malformed_and_duplicate_templates_are_errors() {
    has_error(
        &with_policies("templates: {id: x}\nworkflows: []\n"),
        "templates",
        "must be a list",
    );
    has_error(
        &with_policies("templates:\n  - timeout: 1h\nworkflows: []\n"),
        "templates[0]",
        "missing field `id`",
    );
    let dup = with_policies(&format!(
        "{TEMPLATE}  - id: reviewed\n    timeout: 1h\nworkflows:\n  - id: w\n    extends: reviewed\n"
    ));
    has_error(
        &dup,
        "templates[1].id",
        "duplicate template id `reviewed` (first at templates[0].id)",
    );
}

#[test]
fn errors_in_inherited_fields_name_the_workflow_and_the_template() {
    let bad = TEMPLATE.replace("role:engineer", "role:wizard");
    let yaml = with_policies(&format!(
        "{bad}workflows:\n  - id: ok\n    channels: [email]\n    stages: [{{name: S, approvers: [\"user:bob\"]}}]\n  - id: derived\n    extends: reviewed\n"
    ));
    let errs = errors(&yaml);
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        shown.iter().any(|e| e
            .starts_with("workflows[1] (extends templates[0]): stages[0].approvers[0]: ")
            && e.contains("wizard")),
        "{shown:#?}"
    );
    // A type error in an inherited field is located the same way.
    let typo = TEMPLATE.replace("max_revisions: 1", "max_revisions: many");
    let yaml = with_policies(&format!(
        "{typo}workflows:\n  - id: derived\n    extends: reviewed\n"
    ));
    assert_eq!(
        errors(&yaml)[0].path,
        "workflows[0] (extends templates[0]): max_revisions"
    );
}

#[test]
fn chains_are_named_and_own_fields_keep_their_plain_path() {
    let yaml = with_policies(&format!(
        r#"{TEMPLATE}  - id: quick
    extends: reviewed
workflows:
  - id: hotfix
    extends: quick
    timeout: 0s
    separation_of_duties: {{minimum_unique_approvers: 9}}
"#
    ));
    let shown: Vec<String> = errors(&yaml).iter().map(ToString::to_string).collect();
    assert!(
        shown.contains(&"workflows[0].timeout: must be greater than zero".to_owned()),
        "{shown:#?}"
    );
    assert!(
        shown
            .iter()
            .any(|e| e
                .starts_with("workflows[0].separation_of_duties.minimum_unique_approvers: is 9")),
        "{shown:#?}"
    );
    let inherited = TEMPLATE.replace("max_revisions: 1", "execute_within: 0s");
    let yaml = with_policies(&format!(
        "{inherited}  - id: quick\n    extends: reviewed\nworkflows:\n  - id: hotfix\n    extends: quick\n"
    ));
    has_error(
        &yaml,
        "workflows[0] (extends templates[1], which extends templates[0]): execute_within",
        "greater than zero",
    );
}

#[test]
fn an_unused_template_is_a_warning() {
    let yaml = with_policies(&format!(
        "{TEMPLATE}workflows:\n  - id: only\n    channels: [email]\n    stages: [{{name: S, approvers: [\"user:bob\"]}}]\n"
    ));
    let w = warnings(&yaml);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0].path, "templates[0]");
    assert!(w[0].message.contains("extended by no workflow"));
}

const ROLLBACKS: &str = r#"workflows:
  - id: rollbacks
    match: {intents: ["*.rollback"]}
    auto: approve
"#;

#[test]
fn auto_workflows_load_without_stages_or_warnings() {
    let yaml = with_policies(ROLLBACKS);
    let loaded = load(&yaml).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    let w = loaded.config.workflow("rollbacks").unwrap();
    assert_eq!(w.auto, Some(AutoDecision::Approve));
    assert!(w.stages.is_empty());
    let deny = with_policies(&ROLLBACKS.replace("auto: approve", "auto: deny"));
    let w = load(&deny).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(
        w.workflow("rollbacks").unwrap().auto,
        Some(AutoDecision::Deny)
    );
}

#[test]
fn auto_with_stages_is_an_error_and_neither_is_one_too() {
    let both = with_policies(&format!(
        "{ROLLBACKS}    stages: [{{name: S, approvers: [\"user:bob\"]}}]\n"
    ));
    has_error(&both, "workflows[0].stages", "remove `stages` or `auto`");
    let neither = with_policies(&ROLLBACKS.replace("    auto: approve\n", ""));
    has_error(&neither, "workflows[0].stages", "has 0 stages");
    has_error(
        &with_policies(&ROLLBACKS.replace("auto: approve", "auto: maybe")),
        "workflows[0].auto",
        "unknown variant",
    );
}

#[test]
fn auto_approve_on_everything_warns_that_it_fails_open() {
    let open = "workflows:\n  - id: yes\n    auto: approve\n";
    let w = warnings(&with_policies(open));
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0].path, "workflows[0].auto");
    assert!(w[0].message.contains("fails open for everything"));
    let full_range = "workflows:\n  - id: yes\n    match: {intents: [\"x.*\", \"*\"], risk: {min: 0, max: 100}}\n    auto: approve\n";
    assert_eq!(warnings(&with_policies(full_range)).len(), 1);
    // Any narrowing, or a deny, is quiet.
    for quiet in [
        "    match: {risk: {max: 20}}\n    auto: approve\n",
        "    match: {agents: [bot]}\n    auto: approve\n",
        "    match: {intents: [\"*.rollback\"]}\n    auto: approve\n",
        "    match: {when: [{path: /payload/amount, lt: 10}]}\n    auto: approve\n",
        "    auto: deny\n",
    ] {
        let yaml = with_policies(&format!("workflows:\n  - id: w\n{quiet}"));
        assert!(warnings(&yaml).is_empty(), "{quiet}");
    }
}

#[test]
fn reviewer_ids_may_not_look_like_agents_or_policies() {
    let yaml = base_with("- {id: bob,", "- {id: \"policy:bob\",");
    has_error(&yaml, "reviewers[1].id", "may not begin with `policy:`");
    let yaml = base_with("- {id: bob,", "- {id: \"agent:bob\",");
    has_error(&yaml, "reviewers[1].id", "may not begin with `agent:`");
}
