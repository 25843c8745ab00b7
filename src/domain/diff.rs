//! What changed between two submissions of a request (design.md §7): the summary, the
//! risk score and the payload as added / removed / changed fields named by JSON pointers,
//! so a reviewer reads a revision in seconds.

use super::request::EscalationRequest;
use serde::Serialize;
use serde_json::Value;

/// The most payload changes listed; the rest are counted in `more`. Enough to read, and
/// bounded so a payload rewritten wholesale cannot swamp a message.
pub const MAX_CHANGES: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestDiff {
    /// `(before, after)` when the summary changed.
    pub summary: Option<(String, String)>,
    /// `(before, after)` when the risk score changed (`None`: no score given).
    pub risk: Option<(Option<u8>, Option<u8>)>,
    /// Payload changes, at most [`MAX_CHANGES`].
    pub payload: Vec<FieldChange>,
    /// How many payload changes were left out.
    pub more: usize,
}

impl RequestDiff {
    pub fn is_empty(&self) -> bool {
        self.summary.is_none() && self.risk.is_none() && self.payload.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FieldChange {
    Added {
        pointer: String,
        value: Value,
    },
    Removed {
        pointer: String,
        value: Value,
    },
    Changed {
        pointer: String,
        before: Value,
        after: Value,
    },
}

impl FieldChange {
    pub fn pointer(&self) -> &str {
        match self {
            Self::Added { pointer, .. }
            | Self::Removed { pointer, .. }
            | Self::Changed { pointer, .. } => pointer,
        }
    }
}

/// The differences from `before` to `after`.
pub fn diff(before: &EscalationRequest, after: &EscalationRequest) -> RequestDiff {
    let summary =
        (before.summary != after.summary).then(|| (before.summary.clone(), after.summary.clone()));
    let score = |r: &EscalationRequest| r.risk.as_ref().map(|r| r.score);
    let risk = (score(before) != score(after)).then(|| (score(before), score(after)));
    let mut changes = Vec::new();
    let mut total = 0;
    walk(
        &before.payload,
        &after.payload,
        &mut String::new(),
        &mut |c| {
            total += 1;
            if changes.len() < MAX_CHANGES {
                changes.push(c);
            }
        },
    );
    RequestDiff {
        summary,
        risk,
        more: total - changes.len(),
        payload: changes,
    }
}

/// Compares two JSON values: objects key by key (`before`'s keys in map order, then the
/// keys only `after` has), arrays index by index, anything else as a whole.
fn walk(before: &Value, after: &Value, at: &mut String, out: &mut impl FnMut(FieldChange)) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, bv) in b {
                let len = at.len();
                push_token(at, key);
                match a.get(key) {
                    Some(av) => walk(bv, av, at, out),
                    None => out(FieldChange::Removed {
                        pointer: at.clone(),
                        value: bv.clone(),
                    }),
                }
                at.truncate(len);
            }
            for (key, av) in a.iter().filter(|(k, _)| !b.contains_key(*k)) {
                let len = at.len();
                push_token(at, key);
                out(FieldChange::Added {
                    pointer: at.clone(),
                    value: av.clone(),
                });
                at.truncate(len);
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for i in 0..b.len().max(a.len()) {
                let len = at.len();
                push_token(at, &i.to_string());
                match (b.get(i), a.get(i)) {
                    (Some(bv), Some(av)) => walk(bv, av, at, out),
                    (Some(bv), None) => out(FieldChange::Removed {
                        pointer: at.clone(),
                        value: bv.clone(),
                    }),
                    (None, Some(av)) => out(FieldChange::Added {
                        pointer: at.clone(),
                        value: av.clone(),
                    }),
                    (None, None) => {}
                }
                at.truncate(len);
            }
        }
        (b, a) if b != a => out(FieldChange::Changed {
            pointer: at.clone(),
            before: b.clone(),
            after: a.clone(),
        }),
        _ => {}
    }
}

/// Appends one RFC 6901 reference token (`~` → `~0`, `/` → `~1`).
fn push_token(at: &mut String, token: &str) {
    at.push('/');
    at.push_str(&token.replace('~', "~0").replace('/', "~1"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::request;
    use crate::domain::request::Risk;
    use serde_json::json;

    fn with_payload(payload: Value) -> EscalationRequest {
        EscalationRequest {
            payload,
            ..request()
        }
    }

    #[test]
    fn added_removed_and_changed_fields_are_named_by_pointers() {
        let before = with_payload(json!({
            "amount": 15000, "to": {"iban": "DE1", "name": "A/B~C"}, "tags": ["x", "y"], "memo": "rent"
        }));
        let after = with_payload(json!({
            "amount": 9000, "to": {"iban": "DE1", "name": "A/B~D"}, "tags": ["x"], "urgent": true
        }));
        let d = diff(&before, &after);
        assert_eq!(
            d.payload,
            vec![
                FieldChange::Changed {
                    pointer: "/amount".into(),
                    before: json!(15000),
                    after: json!(9000)
                },
                FieldChange::Removed {
                    pointer: "/memo".into(),
                    value: json!("rent")
                },
                FieldChange::Removed {
                    pointer: "/tags/1".into(),
                    value: json!("y")
                },
                FieldChange::Changed {
                    pointer: "/to/name".into(),
                    before: json!("A/B~C"),
                    after: json!("A/B~D")
                },
                FieldChange::Added {
                    pointer: "/urgent".into(),
                    value: json!(true)
                },
            ]
        );
        assert_eq!(d.more, 0);
        assert!(d.summary.is_none() && d.risk.is_none());
        // Every pointer resolves in the document it came from.
        for c in &d.payload {
            let doc = match c {
                FieldChange::Removed { .. } => &before.payload,
                _ => &after.payload,
            };
            assert!(doc.pointer(c.pointer()).is_some(), "{}", c.pointer());
        }
    }

    #[test]
    fn summary_and_risk_changes_are_reported_and_equal_requests_have_none() {
        let before = request();
        assert!(diff(&before, &before).is_empty());
        let after = EscalationRequest {
            summary: "Deploy api v2.3.2 to production".into(),
            risk: Some(Risk {
                score: 40,
                reasons: Vec::new(),
            }),
            ..request()
        };
        let d = diff(&before, &after);
        assert_eq!(d.summary.unwrap().1, "Deploy api v2.3.2 to production");
        assert_eq!(d.risk, Some((None, Some(40))));
    }

    #[test]
    fn a_wholesale_rewrite_is_cut_and_counted() {
        let before = with_payload(json!(
            (0..300)
                .map(|i| (i.to_string(), json!(i)))
                .collect::<serde_json::Map<_, _>>()
        ));
        let after = with_payload(json!({}));
        let d = diff(&before, &after);
        assert_eq!(d.payload.len(), MAX_CHANGES);
        assert_eq!(d.more, 300 - MAX_CHANGES);
        // A type change is one change, not a walk.
        let d = diff(
            &with_payload(json!({"a": {"b": 1}})),
            &with_payload(json!({"a": [1]})),
        );
        assert_eq!(d.payload.len(), 1);
    }
}
