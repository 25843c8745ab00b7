//! `workflows[].conditions[]`: a label or a typed condition (design.md §6), read from the
//! YAML tree by hand so every problem names its field. Serde's untagged enum would only say
//! "data did not match any variant", and would stop at the first problem.

use crate::domain::ConditionSpec;
use crate::domain::conditions::{Check, CheckOp, InputKind, TypedCondition};
use serde::{Deserialize, Deserializer};
use serde_norway::{Mapping, Value};

/// The longest condition id; ids are `[a-z0-9_]{1,64}` so they read the same as a JSON key,
/// a Slack block id and an HTML form field name, with nothing to escape.
pub const MAX_ID_LEN: usize = 64;

const KEYS: [&str; 4] = ["id", "label", "input", "check"];
const CHECK_KEYS: [&str; 2] = ["pointer", "op"];

/// One entry as written: what it means, or the problems that keep it from meaning anything.
#[derive(Debug, Clone)]
pub struct ConditionConfig {
    /// `None` when `problems` is not empty.
    pub spec: Option<ConditionSpec>,
    /// `(path below the entry, e.g. ".check.op" or "", message)`.
    pub problems: Vec<(String, String)>,
    /// The `id` as written, even when another field has a problem, so duplicates are
    /// still reported.
    pub id: Option<String>,
}

impl<'de> Deserialize<'de> for ConditionConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&Value::deserialize(d)?))
    }
}

impl ConditionConfig {
    pub fn parse(value: &Value) -> Self {
        let mut problems = Vec::new();
        let spec = match value {
            Value::String(label) if label.trim().is_empty() => {
                problems.push((String::new(), "is an empty label".to_owned()));
                None
            }
            Value::String(label) => Some(ConditionSpec::Label(label.trim().to_owned())),
            Value::Mapping(m) => typed(m, &mut problems).map(ConditionSpec::Typed),
            _ => {
                problems.push((
                    String::new(),
                    "must be a string (a label) or an object with id, label and input".to_owned(),
                ));
                None
            }
        };
        let id = match value {
            Value::Mapping(m) => m.get("id").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        Self {
            spec: spec.filter(|_| problems.is_empty()),
            problems,
            id,
        }
    }
}

fn typed(m: &Mapping, problems: &mut Vec<(String, String)>) -> Option<TypedCondition> {
    unknown_keys(m, "", &KEYS, problems);
    let id = required_string(m, "id", problems);
    if let Some(id) = &id
        && !valid_id(id)
    {
        problems.push((
            ".id".into(),
            format!("`{id}` must be 1 to {MAX_ID_LEN} characters of a-z, 0-9 and _"),
        ));
    }
    let label = required_string(m, "label", problems);
    let input = required_string(m, "input", problems).and_then(|s| match s.as_str() {
        "number" => Some(InputKind::Number),
        "text" => Some(InputKind::Text),
        other => {
            problems.push((
                ".input".into(),
                format!("unknown input `{other}` (expected number or text)"),
            ));
            None
        }
    });
    let check = match m.get("check") {
        None | Some(Value::Null) => None,
        Some(Value::Mapping(c)) => check(c, input, problems),
        Some(_) => {
            problems.push((
                ".check".into(),
                "must be an object {pointer, op}".to_owned(),
            ));
            None
        }
    };
    Some(TypedCondition {
        id: id?,
        label: label?,
        input: input?,
        check,
    })
}

fn check(
    m: &Mapping,
    input: Option<InputKind>,
    problems: &mut Vec<(String, String)>,
) -> Option<Check> {
    unknown_keys(m, ".check", &CHECK_KEYS, problems);
    let pointer = match m.get("pointer") {
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => {
            problems.push((".check.pointer".into(), "must be a string".into()));
            None
        }
        None => {
            problems.push((".check".into(), "needs `pointer`".into()));
            None
        }
    };
    if let Some(p) = &pointer
        && let Err(why) = json_pointer(p)
    {
        problems.push((".check.pointer".into(), why));
    }
    let op = match m.get("op") {
        Some(Value::String(op)) => match op.as_str() {
            "lte" => Some(CheckOp::Lte),
            "gte" => Some(CheckOp::Gte),
            "eq" => Some(CheckOp::Eq),
            other => {
                problems.push((
                    ".check.op".into(),
                    format!("unknown op `{other}` (expected lte, gte or eq)"),
                ));
                None
            }
        },
        Some(_) => {
            problems.push((".check.op".into(), "must be lte, gte or eq".into()));
            None
        }
        None => {
            problems.push((".check".into(), "needs `op`".into()));
            None
        }
    };
    if let Some(op @ (CheckOp::Lte | CheckOp::Gte)) = op
        && input == Some(InputKind::Text)
    {
        problems.push((
            ".check.op".into(),
            format!(
                "`{}` compares numbers, but the input is text (use eq, or input: number)",
                op.as_str()
            ),
        ));
    }
    Some(Check {
        pointer: pointer?,
        op: op?,
    })
}

fn unknown_keys(m: &Mapping, at: &str, known: &[&str], problems: &mut Vec<(String, String)>) {
    for key in m.keys() {
        match key.as_str() {
            Some(k) if known.contains(&k) => {}
            Some(k) => problems.push((
                format!("{at}.{k}"),
                format!("unknown key (expected {})", known.join(", ")),
            )),
            None => problems.push((at.to_owned(), "has a key that is not a string".into())),
        }
    }
}

fn required_string(m: &Mapping, key: &str, problems: &mut Vec<(String, String)>) -> Option<String> {
    match m.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::String(_)) => {
            problems.push((format!(".{key}"), "is empty".into()));
            None
        }
        Some(_) => {
            problems.push((format!(".{key}"), "must be a string".into()));
            None
        }
        None => {
            problems.push((
                String::new(),
                format!("a typed condition needs `{key}` (id, label and input are required)"),
            ));
            None
        }
    }
}

fn valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// RFC 6901: empty (the whole document) or `/`-separated tokens, `~` only as `~0` or `~1`.
fn json_pointer(p: &str) -> Result<(), String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!(
            "`{p}` is not a JSON pointer (RFC 6901): it must be empty or start with /"
        ));
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "`{p}` is not a JSON pointer (RFC 6901): `~` must be written ~0, and `/` inside a key ~1"
            ));
        }
    }
    Ok(())
}
