//! Workflows for the test config: `Workflow` and `Stage` builders, serialized as `workflows[]`,
//! and the standard set with one workflow per rule under test.

use super::config::strings;
use serde::Serialize;

/// `workflows[]`: `Workflow::new(id).intents([..]).stage(Stage::new(name).approvers([..]))`.
#[derive(Clone, Debug, Serialize)]
pub struct Workflow {
    id: String,
    #[serde(rename = "match")]
    matcher: Match,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_action: Option<String>,
    /// Labels (strings) and typed conditions (objects).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    conditions: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    separation_of_duties: Option<Separation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_revisions: Option<u32>,
    /// Absent when empty, so a workflow that `extends` a template inherits its stages.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stages: Vec<Stage>,
    /// `auto: approve | deny` (design.md §9).
    #[serde(skip_serializing_if = "Option::is_none")]
    auto: Option<String>,
    /// The template this workflow (or template) builds on.
    #[serde(skip_serializing_if = "Option::is_none")]
    extends: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
struct Match {
    intents: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    risk: Option<RiskRange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    when: Vec<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, Serialize)]
struct RiskRange {
    min: i64,
    max: i64,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
struct Separation {
    #[serde(skip_serializing_if = "Option::is_none")]
    require_different_departments: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum_unique_approvers: Option<u32>,
}

impl Workflow {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            matcher: Match::default(),
            timeout: None,
            timeout_action: None,
            conditions: Vec::new(),
            separation_of_duties: None,
            max_revisions: None,
            stages: Vec::new(),
            auto: None,
            extends: None,
        }
    }

    /// `auto: approve | deny`: decided at intake, nobody asked.
    pub fn auto(mut self, decision: &str) -> Self {
        self.auto = Some(decision.to_owned());
        self
    }

    /// `extends: <template id>`; fields this workflow sets win whole.
    pub fn extends(mut self, template: &str) -> Self {
        self.extends = Some(template.to_owned());
        self
    }

    /// `max_revisions`: how many times an escalation may be revised (design.md §7).
    pub fn max_revisions(mut self, n: u32) -> Self {
        self.max_revisions = Some(n);
        self
    }

    /// `match.intents` (globs).
    pub fn intents(mut self, globs: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        self.matcher.intents = strings(globs);
        self
    }

    /// `match.risk`, inclusive.
    pub fn risk(mut self, min: i64, max: i64) -> Self {
        self.matcher.risk = Some(RiskRange { min, max });
        self
    }

    /// Appends a `match.when` condition: `{path: <pointer>, <op>: <value>}`.
    pub fn when(mut self, path: &str, op: &str, value: serde_json::Value) -> Self {
        let mut c = serde_json::json!({"path": path});
        c[op] = value;
        self.matcher.when.push(c);
        self
    }

    pub fn timeout(mut self, d: &str) -> Self {
        self.timeout = Some(d.to_owned());
        self
    }

    /// `timeout_action: approve`: the workflow fails open.
    pub fn fails_open(mut self) -> Self {
        self.timeout_action = Some("approve".to_owned());
        self
    }

    /// Appends label conditions.
    pub fn conditions(mut self, conditions: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        self.conditions
            .extend(strings(conditions).into_iter().map(Into::into));
        self
    }

    /// A typed condition; `check` is `(pointer, op)`.
    pub fn typed_condition(
        mut self,
        id: &str,
        label: &str,
        input: &str,
        check: Option<(&str, &str)>,
    ) -> Self {
        let mut c = serde_json::json!({"id": id, "label": label, "input": input});
        if let Some((pointer, op)) = check {
            c["check"] = serde_json::json!({"pointer": pointer, "op": op});
        }
        self.conditions.push(c);
        self
    }

    /// Appends a typed number condition checked against the payload:
    /// `{id, label, input: number, check: {pointer, op}}`.
    pub fn number_condition(self, id: &str, label: &str, pointer: &str, op: &str) -> Self {
        self.typed_condition(id, label, "number", Some((pointer, op)))
    }

    /// `separation_of_duties.minimum_unique_approvers`.
    pub fn minimum_unique_approvers(mut self, n: u32) -> Self {
        self.separation_of_duties
            .get_or_insert_with(Separation::default)
            .minimum_unique_approvers = Some(n);
        self
    }

    /// `separation_of_duties.require_different_departments: true`.
    pub fn different_departments(mut self) -> Self {
        self.separation_of_duties
            .get_or_insert_with(Separation::default)
            .require_different_departments = Some(true);
        self
    }

    /// Appends a stage; stages run in the order they are added.
    pub fn stage(mut self, stage: Stage) -> Self {
        self.stages.push(stage);
        self
    }
}

/// `stages[]`. Approvers are `user:ID`, `user:EMAIL` or `role:NAME`.
#[derive(Clone, Debug, Serialize)]
pub struct Stage {
    name: String,
    approvers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    required_approvals: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sla: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    escalation_target: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    delegation: Vec<Delegation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    required_department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    required_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slack_channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_deny: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
struct Delegation {
    after: String,
    approvers: Vec<String>,
}

impl Stage {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            approvers: Vec::new(),
            required_approvals: None,
            sla: None,
            escalation_target: None,
            delegation: Vec::new(),
            required_department: None,
            required_role: None,
            slack_channel: None,
            on_deny: None,
        }
    }

    pub fn approvers(mut self, approvers: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        self.approvers = strings(approvers);
        self
    }

    /// `required_approvals` (the quorum).
    pub fn required(mut self, n: u32) -> Self {
        self.required_approvals = Some(n);
        self
    }

    pub fn sla(mut self, sla: &str) -> Self {
        self.sla = Some(sla.to_owned());
        self
    }

    /// Who joins the pool (and is notified) when the SLA passes.
    pub fn escalation_target(mut self, target: &str) -> Self {
        self.escalation_target = Some(target.to_owned());
        self
    }

    /// After `after`, `approvers` join the pool (one delegation tier).
    pub fn delegate_after(
        mut self,
        after: &str,
        approvers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Self {
        self.delegation.push(Delegation {
            after: after.to_owned(),
            approvers: strings(approvers),
        });
        self
    }

    pub fn required_department(mut self, department: &str) -> Self {
        self.required_department = Some(department.to_owned());
        self
    }

    pub fn required_role(mut self, role: &str) -> Self {
        self.required_role = Some(role.to_owned());
        self
    }

    pub fn slack_channel(mut self, channel: &str) -> Self {
        self.slack_channel = Some(channel.to_owned());
        self
    }

    /// `on_deny: rollback`: a deny returns to the previous stage.
    pub fn rollback_on_deny(mut self) -> Self {
        self.on_deny = Some("rollback".to_owned());
        self
    }
}

/// The standard workflows, one per rule under test; tests pick one by intent (`test.<id>`).
/// Append rather than reorder: the first match wins, and `check-config` names the fail-open
/// one by its index, `workflows[9]`.
pub fn standard() -> Vec<Workflow> {
    vec![
        Workflow::new("single")
            .intents(["test.single", "test.single.*"])
            .timeout("2h")
            .conditions(["Canary rollout required", "Mask PII fields"])
            .stage(Stage::new("Approval").approvers(["user:bob", "user:carol"])),
        Workflow::new("quorum").intents(["test.quorum"]).stage(
            Stage::new("Quorum")
                .approvers(["user:alice", "user:bob", "user:carol"])
                .required(2),
        ),
        Workflow::new("stages")
            .intents(["test.stages"])
            .minimum_unique_approvers(3)
            .stage(Stage::new("Security Review").approvers(["role:security_analyst"]))
            .stage(Stage::new("Senior Approval").approvers(["role:senior_engineer"]))
            .stage(Stage::new("Executive Sign-off").approvers(["role:executive"])),
        Workflow::new("rollback")
            .intents(["test.rollback"])
            .stage(Stage::new("First").approvers(["user:alice"]))
            .stage(
                Stage::new("Second")
                    .approvers(["user:bob"])
                    .rollback_on_deny(),
            ),
        Workflow::new("same-person")
            .intents(["test.same-person"])
            .stage(Stage::new("One").approvers(["user:bob", "user:carol"]))
            .stage(Stage::new("Two").approvers(["user:bob", "user:carol"])),
        Workflow::new("delegation")
            .intents(["test.delegation"])
            .timeout("2h")
            .stage(
                Stage::new("Triage")
                    .approvers(["user:bob"])
                    .sla("30m")
                    .escalation_target("user:dave")
                    .delegate_after("10m", ["user:erin"]),
            ),
        Workflow::new("departments")
            .intents(["test.departments"])
            .different_departments()
            .stage(
                Stage::new("Two departments")
                    .approvers(["user:alice", "user:erin", "user:bob"])
                    .required(2),
            ),
        Workflow::new("required").intents(["test.required"]).stage(
            Stage::new("Security only")
                .approvers(["user:alice", "user:bob", "user:erin"])
                .required_department("Security")
                .required_role("security_analyst"),
        ),
        Workflow::new("timeout")
            .intents(["test.timeout"])
            .timeout("1h")
            .stage(Stage::new("Approval").approvers(["user:bob"])),
        Workflow::new("fail-open")
            .intents(["test.fail-open"])
            .timeout("1h")
            .fails_open()
            .stage(Stage::new("Approval").approvers(["user:bob"])),
        Workflow::new("race")
            .intents(["test.race"])
            .stage(Stage::new("Anyone").approvers([
                "user:alice",
                "user:bob",
                "user:carol",
                "user:dave",
                "user:erin",
                "user:frank",
            ])),
        Workflow::new("risky")
            .intents(["test.risk"])
            .risk(50, 100)
            .stage(Stage::new("Approval").approvers(["user:bob"])),
        Workflow::new("constraints")
            .intents(["test.constraints"])
            .conditions(["Canary rollout required"])
            .typed_condition(
                "max_amount",
                "Cap the amount",
                "number",
                Some(("/amount", "lte")),
            )
            .typed_condition(
                "min_replicas",
                "Keep replicas",
                "number",
                Some(("/replicas", "gte")),
            )
            .typed_condition("region", "Region", "text", Some(("/region", "eq")))
            .typed_condition("ticket", "Change ticket", "text", None)
            .stage(
                Stage::new("Two of three")
                    .approvers(["user:alice", "user:bob", "user:carol"])
                    .required(2),
            ),
    ]
}
