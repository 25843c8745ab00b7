//! The view as the tera templates read it (emails and confirmation pages): times in
//! words, lists bounded so a huge request stays readable, a payload preview.

use super::{Approval, DecisionView, EscalationView, clock_time, relative};
use crate::domain::request::Policy;
use crate::domain::status::rfc3339;
use crate::domain::{AgentId, EscalationId, Time};
use serde::Serialize;
use serde_json::Value;

/// List entries shown before "and N more": a phone screen, not an archive.
const MAX_ITEMS: usize = 10;
/// The payload preview stops after this many characters or lines.
const PREVIEW_CHARS: usize = 2_000;
const PREVIEW_LINES: usize = 40;

/// The `esc` of a template context.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateView<'a> {
    pub id: &'a EscalationId,
    pub summary: &'a str,
    pub intent: &'a str,
    pub status: &'static str,
    pub agent: &'a str,
    pub agent_id: &'a AgentId,
    pub requested_by: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub risk: Option<Risk<'a>>,
    /// Only when it says something.
    pub policy: Option<&'a Policy>,
    pub payload_preview: Option<Preview>,
    pub payload_sha256: &'a str,
    pub recent_activity: Bounded<Activity<'a>>,
    pub evidence: Bounded<Link<'a>>,
    /// The stage the reader was invited to.
    pub stage: Stage<'a>,
    pub approvals: Vec<ApprovalLine<'a>>,
    pub deadline: When,
    pub created: When,
    pub decision: Option<Decision<'a>>,
    /// Once approved: receipt id, execution window, what was executed.
    pub after: Option<super::AfterApproval<'a>>,
    pub recent_decisions: Vec<RecentLine<'a>>,
    pub conditions_offered: Vec<&'a str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Risk<'a> {
    pub score: u8,
    pub level: &'static str,
    pub reasons: Bounded<&'a String>,
}

/// `{items, more}`: the first entries and how many were left out.
#[derive(Debug, Clone, Serialize)]
pub struct Bounded<T> {
    pub items: Vec<T>,
    pub more: usize,
}

impl<T> Bounded<T> {
    fn of(items: impl Iterator<Item = T>) -> Self {
        let all: Vec<T> = items.collect();
        let more = all.len().saturating_sub(MAX_ITEMS);
        Self {
            items: all.into_iter().take(MAX_ITEMS).collect(),
            more,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Activity<'a> {
    pub at: Option<String>,
    pub summary: &'a str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Link<'a> {
    pub label: &'a str,
    pub url: &'a str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub text: String,
    pub truncated: bool,
    pub bytes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage<'a> {
    pub number: usize,
    pub total: usize,
    pub name: Option<&'a str>,
    pub required: usize,
    pub approved: usize,
    pub remaining: usize,
    pub sla: Option<When>,
    pub is_current: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApprovalLine<'a> {
    pub name: &'a str,
    /// 1-based.
    pub stage: usize,
    pub stage_name: Option<&'a str>,
    pub at: String,
    pub channel: &'static str,
    pub comment: Option<&'a str>,
    /// Conditions, then constraints (`Cap the amount: 18000`).
    pub conditions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision<'a> {
    pub outcome: &'static str,
    pub headline: &'static str,
    pub reason: Option<&'a str>,
    /// Conditions, then the merged constraints (`Cap the amount: 18000`).
    pub conditions: Vec<String>,
    /// Who decided, joined; `None` for a timeout.
    pub by: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecentLine<'a> {
    pub summary: &'a str,
    pub outcome: &'static str,
    pub at: String,
    pub by: Option<String>,
}

/// An instant as a reader wants it: absolute with its time zone, and relative to now.
#[derive(Debug, Clone, Serialize)]
pub struct When {
    pub utc: String,
    pub relative: String,
    pub iso: String,
}

impl When {
    pub fn new(t: Time, now: Time) -> Self {
        Self {
            utc: clock_time(t),
            relative: relative(t, now),
            iso: rfc3339(t),
        }
    }
}

impl<'a> TemplateView<'a> {
    /// `stage` is the stage the reader was invited to (0-based).
    pub fn new(view: &'a EscalationView<'a>, stage: usize, now: Time) -> Self {
        let (esc, req) = (view.esc, &view.request);
        TemplateView {
            id: &esc.id,
            summary: req.summary,
            intent: req.intent,
            status: esc.status.as_str(),
            agent: req.agent.display(),
            agent_id: &esc.agent_id,
            requested_by: req.requested_by.as_ref().map(|r| r.display.as_str()),
            resource: req.resource,
            risk: req.risk.as_ref().map(|r| Risk {
                score: r.score,
                level: r.level,
                reasons: Bounded::of(r.reasons.iter()),
            }),
            policy: req.policy.filter(|p| p.id.is_some() || p.reason.is_some()),
            payload_preview: preview(req.payload),
            payload_sha256: &esc.payload_sha256,
            recent_activity: Bounded::of(req.recent_activity.iter().map(|a| Activity {
                at: a.at.map(clock_time),
                summary: &a.summary,
            })),
            evidence: Bounded::of(req.evidence.iter().map(|e| Link {
                label: &e.label,
                url: &e.url,
            })),
            stage: self::stage(view, stage, now),
            approvals: view.approvals().map(approval).collect(),
            deadline: When::new(esc.expires_at, now),
            created: When::new(esc.created_at, now),
            decision: view.decision.as_ref().map(decision),
            after: view.after.clone(),
            recent_decisions: view
                .recent
                .iter()
                .map(|r| RecentLine {
                    summary: r.summary,
                    outcome: r.decision.outcome.as_str(),
                    at: clock_time(r.decision.at),
                    by: r.decision.deciders(),
                })
                .collect(),
            conditions_offered: req.conditions_offered.clone(),
        }
    }
}

fn stage<'a>(view: &'a EscalationView<'a>, index: usize, now: Time) -> Stage<'a> {
    let esc = view.esc;
    let index = index.min(view.stages.len().saturating_sub(1));
    let stage = view.stage(index);
    let required = stage.map_or(1, |s| s.required);
    let approved = stage.map_or(0, |s| s.approvals.len());
    Stage {
        number: index + 1,
        total: esc.stages.len(),
        name: stage.map(|s| s.name),
        required,
        approved,
        remaining: required.saturating_sub(approved),
        sla: stage
            .and_then(|s| s.sla_deadline)
            .map(|t| When::new(t, now)),
        is_current: index == esc.current_stage && esc.is_pending(),
    }
}

fn approval<'a>(a: &'a Approval<'a>) -> ApprovalLine<'a> {
    ApprovalLine {
        name: &a.reviewer.name,
        stage: a.stage + 1,
        stage_name: Some(a.stage_name),
        at: clock_time(a.at),
        channel: a.channel.as_str(),
        comment: a.comment,
        conditions: a.terms(),
    }
}

fn decision<'a>(d: &'a DecisionView<'a>) -> Decision<'a> {
    Decision {
        outcome: d.outcome.as_str(),
        headline: d.headline,
        reason: d.reason,
        conditions: d.terms(),
        by: d.deciders(),
        at: clock_time(d.at),
    }
}

/// Pretty JSON, cut at a readable size; the full payload is pinned by its SHA-256.
fn preview(payload: &Value) -> Option<Preview> {
    if payload.is_null() {
        return None;
    }
    let pretty = serde_json::to_string_pretty(payload).unwrap_or_default();
    let mut out = String::new();
    let mut truncated = false;
    for (i, line) in pretty.lines().enumerate() {
        if i >= PREVIEW_LINES || out.chars().count() + line.chars().count() > PREVIEW_CHARS {
            truncated = true;
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    if out.is_empty() && !pretty.is_empty() {
        out = pretty.chars().take(PREVIEW_CHARS).collect();
    }
    Some(Preview {
        text: out.trim_end().to_owned(),
        truncated,
        bytes: pretty.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn previews_are_bounded() {
        let big: Vec<u32> = (0..10_000).collect();
        let p = preview(&json!({"items": big})).unwrap();
        assert!(p.truncated);
        assert!(p.text.lines().count() <= PREVIEW_LINES);
        let long = preview(&json!("x".repeat(50_000))).unwrap();
        assert!(long.text.chars().count() <= PREVIEW_CHARS);
        assert!(preview(&Value::Null).is_none());
    }

    #[test]
    fn long_lists_say_how_many_were_left_out() {
        let b = Bounded::of(0..25);
        assert_eq!(b.items.len(), MAX_ITEMS);
        assert_eq!(b.more, 15);
        assert_eq!(Bounded::of(0..3).more, 0);
    }
}
