//! The escalation body an agent sends, parsed once at the edge into validated fields.

use super::Time;
use serde::{Deserialize, Serialize};

/// Limits that keep one escalation readable and inside Slack / email budgets.
/// The 256 KiB body limit bounds the payload itself.
pub const MAX_INTENT: usize = 200;
pub const MAX_SUMMARY: usize = 10_000;
pub const MAX_SHORT_TEXT: usize = 2_000;
pub const MAX_LIST: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Risk {
    /// 0 (harmless) to 100; a request without a risk counts as 100 when workflows are matched.
    #[schema(maximum = 100)]
    pub score: u8,
    #[serde(default)]
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    pub id: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Activity {
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<Time>,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    /// Shown to the reviewer as the link text, beside the link's real host.
    pub label: String,
    /// An absolute http(s) URL.
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Context {
    #[serde(default)]
    pub recent_activity: Vec<Activity>,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

/// A validated escalation request. Construct with [`EscalationRequest::parse`].
/// It is also the intake body's schema in `GET /openapi.json`; the limits written on its
/// fields there are the ones `validate` enforces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EscalationRequest {
    /// What the agent wants to do, e.g. `infrastructure.deployment.production`: letters,
    /// digits and `. _ - : /`; workflows match it with globs.
    #[schema(min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9._:/-]+$")]
    pub intent: String,
    /// One human sentence (or a few) shown to reviewers.
    #[schema(min_length = 1, max_length = 10000)]
    pub summary: String,
    /// The exact action, any JSON; `payload_sha256` is over its RFC 8785 canonical form.
    #[serde(default)]
    pub payload: serde_json::Value,
    #[schema(max_length = 2000)]
    pub resource: Option<String>,
    pub risk: Option<Risk>,
    pub policy: Option<Policy>,
    /// The human the agent acts for; they may not approve it themselves.
    #[schema(max_length = 2000)]
    pub requested_by: Option<String>,
    #[serde(default)]
    pub context: Context,
    /// The latest moment a decision is useful; must be in the future.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<Time>,
    /// Where the decision is called back (an absolute http(s) URL on a host the agent's
    /// `callback_hosts` allows); the agent's configured `callback_url` otherwise.
    pub callback_url: Option<String>,
}

/// The top-level fields of the intake body (the fields of [`EscalationRequest`]); any other is refused.
const FIELDS: &[&str] = &[
    "intent",
    "summary",
    "payload",
    "resource",
    "risk",
    "policy",
    "requested_by",
    "context",
    "deadline",
    "callback_url",
];

/// A field that failed validation, named by its JSON path (`risk.score`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.into(),
        message: message.into(),
    }
}

impl EscalationRequest {
    /// Parses an already well-formed JSON document; type mismatches and rule
    /// violations come back with the path of the offending field.
    pub fn parse(value: serde_json::Value, now: Time) -> Result<Self, ValidationError> {
        let Some(fields) = value.as_object() else {
            return Err(invalid("$", "the body must be a JSON object"));
        };
        // Checked here, not with `deny_unknown_fields`, so stored requests stay readable
        // if a field is ever retired: a typo (`callbak_url`) must not silently drop a field.
        if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(invalid(
                unknown.chars().take(100).collect::<String>(),
                format!(
                    "is not a field of an escalation (expected one of: {})",
                    FIELDS.join(", ")
                ),
            ));
        }
        let mut req: EscalationRequest = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            invalid(
                if path == "." { "$".into() } else { path },
                e.into_inner().to_string(),
            )
        })?;
        req.intent = req.intent.trim().to_owned();
        req.summary = req.summary.trim().to_owned();
        req.validate(now)?;
        Ok(req)
    }

    fn validate(&self, now: Time) -> Result<(), ValidationError> {
        if self.intent.is_empty() {
            return Err(invalid("intent", "is required"));
        }
        if self.intent.chars().count() > MAX_INTENT {
            return Err(invalid(
                "intent",
                format!("is longer than {MAX_INTENT} characters"),
            ));
        }
        if !self
            .intent
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/'))
        {
            return Err(invalid(
                "intent",
                "may contain only letters, digits and . _ - : /",
            ));
        }
        if self.summary.is_empty() {
            return Err(invalid("summary", "is required"));
        }
        if self.summary.chars().count() > MAX_SUMMARY {
            return Err(invalid(
                "summary",
                format!("is longer than {MAX_SUMMARY} characters"),
            ));
        }
        short("resource", self.resource.as_deref())?;
        short("requested_by", self.requested_by.as_deref())?;
        if let Some(risk) = &self.risk {
            if risk.score > 100 {
                return Err(invalid("risk.score", "must be between 0 and 100"));
            }
            list("risk.reasons", risk.reasons.len())?;
            for (i, r) in risk.reasons.iter().enumerate() {
                short(&format!("risk.reasons[{i}]"), Some(r))?;
            }
        }
        if let Some(policy) = &self.policy {
            short("policy.id", policy.id.as_deref())?;
            short("policy.reason", policy.reason.as_deref())?;
        }
        list(
            "context.recent_activity",
            self.context.recent_activity.len(),
        )?;
        for (i, a) in self.context.recent_activity.iter().enumerate() {
            short(
                &format!("context.recent_activity[{i}].summary"),
                Some(&a.summary),
            )?;
        }
        list("context.evidence", self.context.evidence.len())?;
        for (i, e) in self.context.evidence.iter().enumerate() {
            short(&format!("context.evidence[{i}].label"), Some(&e.label))?;
            http_url(&format!("context.evidence[{i}].url"), &e.url)?;
        }
        if self.deadline.is_some_and(|d| d <= now) {
            return Err(invalid("deadline", "is in the past"));
        }
        if let Some(url) = &self.callback_url {
            http_url("callback_url", url)?;
        }
        Ok(())
    }

    pub fn risk_score(&self) -> Option<u8> {
        self.risk.as_ref().map(|r| r.score)
    }
}

fn short(field: &str, value: Option<&str>) -> Result<(), ValidationError> {
    match value {
        Some(v) if v.chars().count() > MAX_SHORT_TEXT => Err(invalid(
            field,
            format!("is longer than {MAX_SHORT_TEXT} characters"),
        )),
        _ => Ok(()),
    }
}

fn list(field: &str, len: usize) -> Result<(), ValidationError> {
    if len > MAX_LIST {
        return Err(invalid(field, format!("has more than {MAX_LIST} entries")));
    }
    Ok(())
}

/// Only absolute http(s) URLs: a `javascript:` link must never reach a reviewer.
fn http_url(field: &str, url: &str) -> Result<(), ValidationError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= MAX_SHORT_TEXT
        && reqwest::Url::parse(url).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()));
    if ok {
        Ok(())
    } else {
        Err(invalid(field, "must be an absolute http(s) URL"))
    }
}

/// SHA-256 (hex) over the payload's RFC 8785 canonical JSON, so an executor in
/// any language can recompute it and check it runs what the humans approved.
pub fn payload_sha256(payload: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let canonical = serde_json_canonicalizer::to_vec(payload).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}
