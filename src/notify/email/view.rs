//! The view of an escalation shared by the emails and the confirmation pages: everything a reviewer
//! needs to decide, as plain values for the templates, bounded so a huge request stays readable.

use crate::config::Config;
use crate::domain::escalation::{Decider, Decision, Outcome};
use crate::domain::{Directory, Escalation, ReviewerId, Time};
use serde_json::{Value, json};

/// List entries shown before "and N more": a phone screen, not an archive.
const MAX_ITEMS: usize = 10;
/// Recent decisions for the same intent shown beside a request.
pub const RECENT_DECISIONS: usize = 5;
/// The payload preview stops after this many characters or lines.
const PREVIEW_CHARS: usize = 2_000;
const PREVIEW_LINES: usize = 40;

/// What the view is built from. `stage` is the stage the reader was invited to.
pub struct ViewInput<'a> {
    pub esc: &'a Escalation,
    pub config: &'a Config,
    pub dir: &'a Directory,
    pub recent: &'a [Escalation],
    pub stage: usize,
    pub now: Time,
}

/// The template context for one escalation.
pub fn escalation(input: &ViewInput<'_>) -> Value {
    let esc = input.esc;
    let req = &esc.request;
    json!({
        "id": esc.id,
        "summary": req.summary,
        "intent": req.intent,
        "status": esc.status.as_str(),
        "agent": agent_name(input.config, esc.agent_id.as_str()),
        "agent_id": esc.agent_id,
        "requested_by": req.requested_by.as_deref().map(|r| requester(input.dir, r)),
        "resource": req.resource,
        "risk": req.risk.as_ref().map(|r| json!({
            "score": r.score,
            "level": risk_level(r.score),
            "reasons": bounded(r.reasons.iter().cloned()),
        })),
        "policy": req.policy.as_ref().filter(|p| p.id.is_some() || p.reason.is_some()),
        "payload_preview": payload_preview(&req.payload),
        "payload_sha256": esc.payload_sha256,
        "recent_activity": bounded(req.context.recent_activity.iter().map(|a| json!({
            "at": a.at.map(clock_time),
            "summary": a.summary,
        }))),
        "evidence": bounded(req.context.evidence.iter().map(|e| json!({"label": e.label, "url": e.url}))),
        "stage": stage(input),
        "approvals": approvals(esc, input.dir),
        "deadline": when(esc.expires_at, input.now),
        "created": when(esc.created_at, input.now),
        "decision": esc.decision.as_ref().map(|d| decision(d, input)),
        "recent_decisions": recent_decisions(input),
        "conditions_offered": esc.workflow.conditions,
    })
}

/// `{items, more}`: the first entries and how many were left out.
fn bounded(items: impl Iterator<Item = impl serde::Serialize>) -> Value {
    let all: Vec<Value> = items.map(|i| json!(i)).collect();
    let more = all.len().saturating_sub(MAX_ITEMS);
    json!({"items": all.into_iter().take(MAX_ITEMS).collect::<Vec<_>>(), "more": more})
}

fn agent_name(config: &Config, id: &str) -> String {
    config
        .agent(id)
        .map_or_else(|| id.to_owned(), |a| a.name.clone())
}

/// A reviewer's name, or the id when they left the config.
pub fn person(dir: &Directory, id: &ReviewerId) -> String {
    dir.get(id)
        .map_or_else(|| id.to_string(), |p| p.name.clone())
}

/// `requested_by` as given, with the reviewer's name when it names one.
fn requester(dir: &Directory, who: &str) -> String {
    let known = dir
        .reviewers
        .values()
        .find(|p| p.id.as_str().eq_ignore_ascii_case(who) || p.email.eq_ignore_ascii_case(who));
    match known {
        Some(p) if p.email.eq_ignore_ascii_case(who) => format!("{} ({who})", p.name),
        Some(p) => format!("{} ({})", p.name, p.email),
        None => who.to_owned(),
    }
}

pub fn risk_level(score: u8) -> &'static str {
    match score {
        90.. => "critical",
        70..=89 => "high",
        40..=69 => "medium",
        _ => "low",
    }
}

/// Pretty JSON, cut at a readable size; the full payload is pinned by its SHA-256.
fn payload_preview(payload: &Value) -> Value {
    if payload.is_null() {
        return Value::Null;
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
    json!({"text": out.trim_end(), "truncated": truncated, "bytes": pretty.len()})
}

fn stage(input: &ViewInput<'_>) -> Value {
    let esc = input.esc;
    let index = input.stage.min(esc.stages.len().saturating_sub(1));
    let spec = esc.workflow.stages.get(index);
    let state = esc.stages.get(index);
    let approved = state.map_or(0, |s| s.approvals().count());
    let required = spec.map_or(1, |s| s.required_approvals) as usize;
    json!({
        "number": index + 1,
        "total": esc.stages.len(),
        "name": spec.map(|s| s.name.clone()),
        "required": required,
        "approved": approved,
        "remaining": required.saturating_sub(approved),
        "sla": state.and_then(|s| s.sla_deadline).map(|t| when(t, input.now)),
        "is_current": index == esc.current_stage && esc.is_pending(),
    })
}

/// Every approval so far, at every stage, oldest first.
fn approvals(esc: &Escalation, dir: &Directory) -> Vec<Value> {
    esc.stages
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.approvals().map(move |v| (i, v)))
        .map(|(i, v)| {
            json!({
                "name": person(dir, &v.reviewer),
                "stage": i + 1,
                "stage_name": esc.workflow.stages.get(i).map(|s| s.name.clone()),
                "at": clock_time(v.at),
                "channel": v.channel.as_str(),
                "comment": v.comment,
                "conditions": v.conditions,
            })
        })
        .collect()
}

/// A decider's display name: the reviewer's, or the agent's.
fn decider(input: &ViewInput<'_>, who: &Decider) -> String {
    match who {
        Decider::Agent(agent) => agent_name(input.config, agent.as_str()),
        Decider::Reviewer(id) => person(input.dir, id),
    }
}

fn decision(d: &Decision, input: &ViewInput<'_>) -> Value {
    let by: Vec<String> = d.decided_by.iter().map(|who| decider(input, who)).collect();
    json!({
        "outcome": d.outcome.as_str(),
        "headline": headline(d.outcome),
        "reason": d.reason,
        "conditions": d.conditions,
        "by": by,
        "at": clock_time(d.decided_at),
    })
}

pub fn headline(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Approved => "Approved",
        Outcome::Denied => "Denied",
        Outcome::Expired => "Expired: no decision before the deadline, so it was denied",
        Outcome::Cancelled => "Cancelled by the agent",
    }
}

fn recent_decisions(input: &ViewInput<'_>) -> Vec<Value> {
    input
        .recent
        .iter()
        .filter(|e| e.id != input.esc.id)
        .filter_map(|e| e.decision.as_ref().map(|d| (e, d)))
        .take(RECENT_DECISIONS)
        .map(|(e, d)| {
            json!({
                "summary": e.request.summary,
                "outcome": d.outcome.as_str(),
                "at": clock_time(d.decided_at),
                "by": d.decided_by.iter().map(|who| decider(input, who)).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// An instant as a reader wants it: absolute with its time zone, and relative to now.
pub fn when(t: Time, now: Time) -> Value {
    json!({
        "utc": clock_time(t),
        "relative": relative(t, now),
        "iso": crate::domain::status::rfc3339(t),
    })
}

/// `Sat 21 Nov 2026, 12:00 UTC`: unambiguous on any phone, whatever its locale.
pub fn clock_time(t: Time) -> String {
    t.format("%a %-d %b %Y, %H:%M UTC").to_string()
}

/// `in 1 h 59 min`, `3 min ago`, `now`.
pub fn relative(t: Time, now: Time) -> String {
    let secs = (t - now).num_seconds();
    let span = human_span(secs.unsigned_abs());
    match secs {
        -59..=59 => "now".to_owned(),
        s if s > 0 => format!("in {span}"),
        _ => format!("{span} ago"),
    }
}

fn human_span(secs: u64) -> String {
    let (days, hours, mins) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (days, hours, mins) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_read_well() {
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 21, 10, 1, 0)
            .unwrap();
        let later = chrono::Utc
            .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .unwrap();
        assert_eq!(clock_time(later), "Sat 21 Nov 2026, 12:00 UTC");
        assert_eq!(relative(later, now), "in 1 h 59 min");
        assert_eq!(relative(now, later), "1 h 59 min ago");
        assert_eq!(relative(now, now), "now");
        assert_eq!(human_span(3 * 86_400 + 7200), "3 d 2 h");
        assert_eq!(human_span(7200), "2 h");
    }

    #[test]
    fn previews_are_bounded() {
        let big: Vec<u32> = (0..10_000).collect();
        let p = payload_preview(&json!({"items": big}));
        assert_eq!(p["truncated"], true);
        assert!(p["text"].as_str().unwrap().lines().count() <= PREVIEW_LINES);
        let long = payload_preview(&json!("x".repeat(50_000)));
        assert!(long["text"].as_str().unwrap().chars().count() <= PREVIEW_CHARS);
        assert_eq!(payload_preview(&Value::Null), Value::Null);
    }

    #[test]
    fn risk_levels() {
        assert_eq!(risk_level(95), "critical");
        assert_eq!(risk_level(70), "high");
        assert_eq!(risk_level(40), "medium");
        assert_eq!(risk_level(0), "low");
    }
}
