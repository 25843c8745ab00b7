//! What a revision looks like to a reviewer (design.md §7): who asked for changes and
//! why, and what changed since the previous submission — summary, risk and payload
//! fields as JSON pointers with old → new values. Every surface renders from this.

use super::names::{Person, person};
use crate::domain::diff::{self, FieldChange, RequestDiff};
use crate::domain::{Directory, Escalation, EscalationStatus, Time};
use serde::Serialize;
use serde_json::Value;

/// The longest value shown for one payload field, in characters; the rest is cut with "…".
pub const VALUE_CHARS: usize = 120;

/// A reviewer's request for changes.
#[derive(Debug, Clone, Serialize)]
pub struct Asked {
    #[serde(serialize_with = "person_name")]
    pub by: Person,
    pub comment: String,
    #[serde(serialize_with = "clock")]
    pub at: Time,
}

/// The submission under review, when it is a revision.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionView {
    /// The submission under review (1-based).
    pub number: u32,
    /// What the previous submission was asked to change (absent only for data from
    /// before revisions were recorded).
    pub asked: Option<Asked>,
    pub summary: Option<(String, String)>,
    /// Scores as text: "not scored" when absent.
    pub risk: Option<(String, String)>,
    pub payload: Vec<ChangeLine>,
    /// Payload changes not listed (the diff's cap).
    pub more: usize,
}

impl RevisionView {
    /// Nothing but the comment: the agent resubmitted the same request.
    pub fn unchanged(&self) -> bool {
        self.summary.is_none() && self.risk.is_none() && self.payload.is_empty()
    }
}

/// One payload field that changed, its values as compact JSON cut to [`VALUE_CHARS`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeLine {
    /// `added`, `removed` or `changed`.
    pub op: &'static str,
    /// The JSON pointer; `/` names the whole payload.
    pub pointer: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

fn clock<S: serde::Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::clock_time(*t))
}

fn person_name<S: serde::Serializer>(p: &Person, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.name)
}

fn asked(esc: &Escalation, dir: &Directory, index: usize) -> Option<Asked> {
    let c = esc.submissions.get(index)?.changes_requested.as_ref()?;
    Some(Asked {
        by: person(dir, &c.by),
        comment: c.comment.clone(),
        at: c.at,
    })
}

/// While the escalation waits for a revision: who asked for changes, and why.
pub fn changes_requested(esc: &Escalation, dir: &Directory) -> Option<Asked> {
    if esc.status != EscalationStatus::ChangesRequested {
        return None;
    }
    asked(esc, dir, esc.submissions.len().checked_sub(1)?)
}

/// What changed since the previous submission; `None` for a first submission.
pub fn revision(esc: &Escalation, dir: &Directory) -> Option<RevisionView> {
    let before = esc.previous_request.as_ref()?;
    let d: RequestDiff = diff::diff(before, &esc.request);
    let score = |s: Option<u8>| s.map_or_else(|| "not scored".to_owned(), |s| s.to_string());
    Some(RevisionView {
        number: esc.submission(),
        asked: asked(esc, dir, esc.submissions.len().checked_sub(2)?),
        summary: d.summary.clone(),
        risk: d.risk.map(|(b, a)| (score(b), score(a))),
        payload: d.payload.iter().map(line).collect(),
        more: d.more,
    })
}

fn line(c: &FieldChange) -> ChangeLine {
    let pointer = match c.pointer() {
        "" => "/".to_owned(),
        p => p.to_owned(),
    };
    let (op, before, after) = match c {
        FieldChange::Added { value, .. } => ("added", None, Some(value_text(value))),
        FieldChange::Removed { value, .. } => ("removed", Some(value_text(value)), None),
        FieldChange::Changed { before, after, .. } => {
            ("changed", Some(value_text(before)), Some(value_text(after)))
        }
    };
    ChangeLine {
        op,
        pointer,
        before,
        after,
    }
}

/// Compact JSON, cut to [`VALUE_CHARS`] characters with "…".
pub fn value_text(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= VALUE_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(VALUE_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_compact_and_cut() {
        assert_eq!(value_text(&json!({"a": 1})), r#"{"a":1}"#);
        let long = value_text(&json!("x".repeat(500)));
        assert_eq!(long.chars().count(), VALUE_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn lines_name_the_operation_and_the_values() {
        let changed = line(&FieldChange::Changed {
            pointer: "/replicas".into(),
            before: json!(6),
            after: json!(4),
        });
        assert_eq!(changed.op, "changed");
        assert_eq!(changed.before.as_deref(), Some("6"));
        assert_eq!(changed.after.as_deref(), Some("4"));
        let whole = line(&FieldChange::Removed {
            pointer: String::new(),
            value: json!([1]),
        });
        assert_eq!((whole.op, whole.pointer.as_str()), ("removed", "/"));
        assert_eq!(whole.after, None);
    }
}
