//! An escalation's audit trail in words, for the web UI's escalation page: who did what and
//! when, one line per event. Kinds this version does not know are shown by their name.

use super::{agent_name, clock_time, person};
use crate::config::Config;
use crate::domain::{Directory, ReviewerId, Time};
use serde::Serialize;
use serde_json::Value;

/// One audit event as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub at: String,
    pub actor: Option<String>,
    /// `created`, `vote`, `decided` …: the page colours a few of them.
    pub kind: String,
    pub text: String,
}

/// What the page needs of one stored event.
pub struct Event<'a> {
    pub at: Time,
    pub kind: &'a str,
    pub actor: Option<&'a str>,
    pub data: &'a Value,
}

pub fn line(config: &Config, dir: &Directory, e: &Event<'_>) -> Line {
    Line {
        at: clock_time(e.at),
        actor: e.actor.map(|a| actor_name(config, dir, a)),
        kind: e.kind.to_owned(),
        text: words(dir, e.kind, e.data),
    }
}

/// A stored actor (`bob`, `agent:deployer`, `policy:low-risk`) as a name.
fn actor_name(config: &Config, dir: &Directory, actor: &str) -> String {
    if let Some(agent) = actor.strip_prefix("agent:") {
        return agent_name(config, agent).unwrap_or(agent).to_owned();
    }
    if let Some(workflow) = actor.strip_prefix("policy:") {
        return format!("policy {workflow}");
    }
    person(dir, &ReviewerId(actor.to_owned())).name
}

fn text<'a>(data: &'a Value, key: &str) -> Option<&'a str> {
    data.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn number(data: &Value, key: &str) -> String {
    data.get(key).map_or_else(String::new, Value::to_string)
}

/// Reviewer ids listed under `key`, as names.
fn names(dir: &Directory, data: &Value, key: &str) -> String {
    let list: Vec<String> = data
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|id| person(dir, &ReviewerId(id.to_owned())).name)
        .collect();
    if list.is_empty() {
        "nobody new".to_owned()
    } else {
        list.join(", ")
    }
}

fn with_comment(sentence: String, data: &Value) -> String {
    match text(data, "comment") {
        Some(c) => format!("{sentence}: “{c}”"),
        None => sentence,
    }
}

fn words(dir: &Directory, kind: &str, data: &Value) -> String {
    let stage = number(data, "stage");
    match kind {
        "created" => format!(
            "Escalation received ({}), workflow {}",
            text(data, "intent").unwrap_or("?"),
            text(data, "workflow").unwrap_or("?")
        ),
        "stage_started" => format!(
            "Stage {stage}{} opened; asked: {}",
            text(data, "name").map_or(String::new(), |n| format!(" ({n})")),
            names(dir, data, "eligible")
        ),
        "vote" => {
            let choice = match text(data, "decision") {
                Some("approve") => "Approved",
                Some("deny") => "Denied",
                Some("request_changes") => "Asked for changes",
                _ => "Voted",
            };
            let conditions: Vec<&str> = data
                .get("conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut s = format!(
                "{choice} at stage {stage} via {}",
                text(data, "channel").unwrap_or("?")
            );
            if !conditions.is_empty() {
                s.push_str(&format!(" with conditions: {}", conditions.join("; ")));
            }
            with_comment(s, data)
        }
        "vote_refused" => "A vote was refused".to_owned(),
        "stage_advanced" => format!(
            "Stage {} complete; stage {} next",
            number(data, "from_stage"),
            number(data, "to_stage")
        ),
        "rolled_back" => with_comment(
            format!(
                "Sent back from stage {} to stage {}",
                number(data, "from_stage"),
                number(data, "to_stage")
            ),
            data,
        ),
        "delegation_tier" => format!(
            "Nobody answered: delegation tier {} at stage {stage} added {}",
            number(data, "tier"),
            names(dir, data, "added")
        ),
        "sla_escalated" => format!(
            "Stage {stage} passed its SLA; escalated to {}",
            names(dir, data, "added")
        ),
        "decided" => {
            let outcome = text(data, "outcome").unwrap_or("decided");
            let mut s = format!("Decided: {outcome}");
            if let Some(reason) = text(data, "reason") {
                s.push_str(&format!(" (“{reason}”)"));
            }
            s
        }
        "changes_requested" => with_comment(format!("Changes requested at stage {stage}"), data),
        "revised" => format!(
            "Revision {} submitted: {}",
            number(data, "revision"),
            text(data, "summary").unwrap_or("")
        ),
        "execution_reported" => {
            let matches = match data.get("matches").and_then(Value::as_bool) {
                Some(true) => "matches the approval",
                Some(false) => "does NOT match the approved payload",
                None => "compared by hash",
            };
            format!(
                "Execution reported ({}): {matches}",
                text(data, "status").unwrap_or("?")
            )
        }
        "execution_unreported" => "No execution report arrived in time".to_owned(),
        "email_sent" | "slack_delivered" | "notified" => {
            format!("Message delivered ({})", delivery(data))
        }
        "email_failed" | "slack_failed" | "notification_failed" => {
            format!("Message given up ({})", delivery(data))
        }
        "callback_delivered" => "Decision delivered to the agent".to_owned(),
        "callback_failed" => "Delivering the decision to the agent was given up".to_owned(),
        other => other.replace(['_', '.'], " "),
    }
}

fn delivery(data: &Value) -> String {
    [text(data, "channel"), text(data, "kind")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn votes_and_decisions_read_as_sentences() {
        let dir = Directory::default();
        let vote = json!({"stage": 1, "decision": "deny", "comment": "Not in the freeze", "channel": "ui", "conditions": []});
        assert_eq!(
            words(&dir, "vote", &vote),
            "Denied at stage 1 via ui: “Not in the freeze”"
        );
        let decided = json!({"outcome": "approved"});
        assert_eq!(words(&dir, "decided", &decided), "Decided: approved");
        assert_eq!(words(&dir, "alert.fired", &json!({})), "alert fired");
    }
}
