//! A workflow's `match` judged on one request (design.md §9): intent globs, risk range,
//! agents, and `when` conditions over the whole request body. Pure: config/select.rs hands
//! it the workflows in file order; the simulator asks it why each earlier one did not match.

use super::ids::AgentId;
use serde::Serialize;
use serde_json::{Number, Value};
use std::cmp::Ordering;

/// The request as the matcher sees it: who sent it, its intent and score (parsed), and
/// the body exactly as the agent sent it, for `when`.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub agent: &'a AgentId,
    pub intent: &'a str,
    pub risk_score: Option<u8>,
    pub body: &'a Value,
}

impl<'a> Subject<'a> {
    /// A parsed request and the body it was parsed from.
    pub fn of(agent: &'a AgentId, request: &'a super::EscalationRequest, body: &'a Value) -> Self {
        Self {
            agent,
            intent: &request.intent,
            risk_score: request.risk_score(),
            body,
        }
    }

    /// The score workflows are matched on. A request without one is treated as the
    /// riskiest possible: an agent must not reach a lighter workflow by leaving it out.
    pub fn score(&self) -> u8 {
        self.risk_score.unwrap_or(100)
    }
}

/// One workflow's `match`, borrowed from the config.
#[derive(Debug, Clone, Copy)]
pub struct Rule<'a> {
    /// Globs (see [`glob_match`]); one must match the intent.
    pub intents: &'a [String],
    /// Inclusive score range.
    pub risk: Option<(i64, i64)>,
    pub agents: Option<&'a [AgentId]>,
    /// All must hold.
    pub when: &'a [Condition],
}

/// The first part of a `match` that did not hold, with what the request had there.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "part", rename_all = "snake_case")]
pub enum Miss {
    /// No intent glob matches.
    Intents { intent: String },
    /// The score (100 when the request has none) is outside the range.
    Risk { score: u8, min: i64, max: i64 },
    /// The agent is not listed.
    Agents { agent: String },
    /// `when[index]` does not hold; `actual` is the value at its path (absent: missing).
    When {
        index: usize,
        path: String,
        /// The condition, e.g. `gt 100`.
        wants: String,
        actual: Option<Value>,
    },
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Intents { intent } => write!(f, "intents: no glob matches `{intent}`"),
            Self::Risk { score, min, max } => {
                write!(f, "risk: score {score} is outside {min}..={max}")
            }
            Self::Agents { agent } => write!(f, "agents: `{agent}` is not listed"),
            Self::When {
                index,
                path,
                wants,
                actual,
            } => match actual {
                Some(v) => write!(
                    f,
                    "when[{index}]: {path} {wants} does not hold ({path} is {v})"
                ),
                None => write!(
                    f,
                    "when[{index}]: {path} {wants} does not hold ({path} is missing)"
                ),
            },
        }
    }
}

impl Rule<'_> {
    /// `Ok` when every part holds; otherwise the first that does not, in the order
    /// intents, risk, agents, `when`.
    pub fn check(&self, s: &Subject) -> Result<(), Miss> {
        if !self.intents.iter().any(|g| glob_match(g, s.intent)) {
            return Err(Miss::Intents {
                intent: s.intent.to_owned(),
            });
        }
        if let Some((min, max)) = self.risk
            && !(min..=max).contains(&i64::from(s.score()))
        {
            return Err(Miss::Risk {
                score: s.score(),
                min,
                max,
            });
        }
        if let Some(agents) = self.agents
            && !agents.contains(s.agent)
        {
            return Err(Miss::Agents {
                agent: s.agent.to_string(),
            });
        }
        for (index, c) in self.when.iter().enumerate() {
            if !c.holds(s.body) {
                return Err(Miss::When {
                    index,
                    path: c.path.clone(),
                    wants: c.op.to_string(),
                    actual: s.body.pointer(&c.path).cloned(),
                });
            }
        }
        Ok(())
    }
}

/// One `match.when` entry: the value at `path` (an RFC 6901 JSON pointer into the request
/// body) and what it must be.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub path: String,
    pub op: Op,
}

/// The operators. Numbers compare as numbers and strings as strings, never one as the
/// other: a field of the wrong type does not hold, and neither does a missing one —
/// `ne` included; only `exists: false` holds on a missing field.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq(Value),
    Ne(Value),
    Gt(Number),
    Gte(Number),
    Lt(Number),
    Lte(Number),
    In(Vec<Value>),
    /// [`glob_match`] on a string field.
    Glob(String),
    Exists(bool),
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Eq(v) => write!(f, "eq {v}"),
            Self::Ne(v) => write!(f, "ne {v}"),
            Self::Gt(n) => write!(f, "gt {n}"),
            Self::Gte(n) => write!(f, "gte {n}"),
            Self::Lt(n) => write!(f, "lt {n}"),
            Self::Lte(n) => write!(f, "lte {n}"),
            Self::In(list) => write!(f, "in {}", Value::Array(list.clone())),
            Self::Glob(g) => write!(f, "glob {g:?}"),
            Self::Exists(b) => write!(f, "exists {b}"),
        }
    }
}

/// The operator names as written in the config.
pub const OPS: [&str; 9] = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "glob", "exists"];

impl Condition {
    pub fn holds(&self, body: &Value) -> bool {
        let actual = body.pointer(&self.path);
        if let Op::Exists(want) = self.op {
            return actual.is_some() == want;
        }
        let Some(actual) = actual else {
            return false;
        };
        let order = |n: &Number| actual.as_number().and_then(|a| compare(a, n));
        match &self.op {
            Op::Eq(v) => same(actual, v) == Some(true),
            Op::Ne(v) => same(actual, v) == Some(false),
            Op::Gt(n) => order(n) == Some(Ordering::Greater),
            Op::Gte(n) => matches!(order(n), Some(Ordering::Greater | Ordering::Equal)),
            Op::Lt(n) => order(n) == Some(Ordering::Less),
            Op::Lte(n) => matches!(order(n), Some(Ordering::Less | Ordering::Equal)),
            Op::In(list) => list.iter().any(|v| same(actual, v) == Some(true)),
            Op::Glob(g) => actual.as_str().is_some_and(|s| glob_match(g, s)),
            Op::Exists(_) => unreachable!("answered above"),
        }
    }
}

/// Equal or not when both are of one JSON type; `None` across types (no coercion).
/// Numbers are equal by value, so `100` equals `100.0`.
fn same(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Some(compare(x, y) == Some(Ordering::Equal)),
        (Value::String(x), Value::String(y)) => Some(x == y),
        (Value::Bool(x), Value::Bool(y)) => Some(x == y),
        (Value::Null, Value::Null) => Some(true),
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => Some(a == b),
        _ => None,
    }
}

/// Integers exactly (even beyond 2^53), anything else as f64.
fn compare(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Whether `path` is an RFC 6901 JSON pointer: empty (the whole body) or `/`-separated
/// tokens in which `~` only starts `~0` or `~1`.
pub fn valid_pointer(path: &str) -> bool {
    if path.is_empty() {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return false;
        }
    }
    true
}

/// `*` matches any run of characters (dots included), `?` exactly one.
/// Case-insensitive: an agent that writes `Deploy.PRODUCTION` must not slip past
/// a stricter workflow written for `deploy.production`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and how much text it has swallowed so far.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    pi = sp + 1;
                    ti = st + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
