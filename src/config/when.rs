//! `workflows[].match.when`: conditions on the request body (design.md §9), read from the
//! YAML tree by hand so each problem names its field (`when[0].gt`) and none hides another.

use crate::domain::policy::{self, Condition, Op};
use serde::{Deserialize, Deserializer};
use serde_norway::Value;

/// The list as written: the conditions that parsed, and the problems of those that did not
/// (a config with problems is refused, so the conditions are only used when there are none).
#[derive(Debug, Clone, Default)]
pub struct WhenList {
    pub conditions: Vec<Condition>,
    /// `(path below `when`, e.g. "[1].gt", message)`.
    pub problems: Vec<(String, String)>,
}

impl<'de> Deserialize<'de> for WhenList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&Value::deserialize(d)?))
    }
}

impl WhenList {
    pub fn parse(value: &Value) -> Self {
        let mut out = Self::default();
        let Value::Sequence(items) = value else {
            out.problems.push((
                String::new(),
                "must be a list of conditions like {path: /payload/amount, gt: 100}".into(),
            ));
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            match condition(item) {
                Ok(c) => out.conditions.push(c),
                Err((below, message)) => out.problems.push((format!("[{i}]{below}"), message)),
            }
        }
        out
    }
}

/// One `{path: <pointer>, <op>: <value>}`.
fn condition(item: &Value) -> Result<Condition, (String, String)> {
    let Value::Mapping(m) = item else {
        return Err((
            String::new(),
            "must be an object with a path and one operator".into(),
        ));
    };
    let mut path = None;
    let mut ops = Vec::new();
    for (k, v) in m {
        match k.as_str() {
            Some("path") => path = Some(v),
            Some(op) if policy::OPS.contains(&op) => ops.push((op, v)),
            Some(other) => {
                return Err((
                    format!(".{other}"),
                    format!(
                        "unknown operator `{other}` (expected one of: {})",
                        policy::OPS.join(", ")
                    ),
                ));
            }
            None => return Err((String::new(), "keys must be strings".into())),
        }
    }
    let path = match path {
        None => return Err((".path".into(), "is required".into())),
        Some(Value::String(p)) if policy::valid_pointer(p) => p.clone(),
        Some(Value::String(p)) => {
            return Err((
                ".path".into(),
                format!(
                    "`{p}` is not a JSON pointer (RFC 6901): write /payload/amount; `~` only as ~0 or ~1"
                ),
            ));
        }
        Some(_) => return Err((".path".into(), "must be a string".into())),
    };
    let (name, value) = match ops.as_slice() {
        [one] => *one,
        [] => {
            return Err((
                String::new(),
                format!("needs one operator ({})", policy::OPS.join(", ")),
            ));
        }
        [_, second, ..] => {
            return Err((
                format!(".{}", second.0),
                "one operator per condition: write a second condition (all must hold)".into(),
            ));
        }
    };
    let op = op(name, value).map_err(|m| (format!(".{name}"), m))?;
    Ok(Condition { path, op })
}

fn op(name: &str, value: &Value) -> Result<Op, String> {
    let json = || to_json(value).ok_or_else(|| "must be a JSON value".to_owned());
    let number = || match json()? {
        serde_json::Value::Number(n) => Ok(n),
        _ => Err(format!(
            "`{name}` compares numbers: the value must be a number"
        )),
    };
    Ok(match name {
        "eq" => Op::Eq(json()?),
        "ne" => Op::Ne(json()?),
        "gt" => Op::Gt(number()?),
        "gte" => Op::Gte(number()?),
        "lt" => Op::Lt(number()?),
        "lte" => Op::Lte(number()?),
        "in" => match json()? {
            serde_json::Value::Array(list) => Op::In(list),
            _ => return Err("`in` needs a list of values".into()),
        },
        "glob" => match value {
            Value::String(g) => Op::Glob(g.clone()),
            _ => return Err("`glob` needs a string pattern".into()),
        },
        "exists" => match value {
            Value::Bool(b) => Op::Exists(*b),
            _ => return Err("`exists` needs true or false".into()),
        },
        other => return Err(format!("unknown operator `{other}`")),
    })
}

/// YAML to the JSON the body is compared with; `None` for what JSON cannot hold (a NaN,
/// a tagged value, a non-string key).
fn to_json(value: &Value) -> Option<serde_json::Value> {
    serde_json::to_value(value)
        .ok()
        .filter(|_| !matches!(value, Value::Tagged(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<(String, String)> {
        WhenList::parse(&serde_norway::from_str(yaml).unwrap()).problems
    }

    #[test]
    fn well_formed_conditions_parse() {
        let list = WhenList::parse(
            &serde_norway::from_str(
                "[{path: /payload/amount, gt: 100}, {path: /resource, glob: 'db/*'},
                  {path: /x, in: [1, a]}, {path: /y, exists: false}, {path: /z, eq: null}]",
            )
            .unwrap(),
        );
        assert!(list.problems.is_empty(), "{:?}", list.problems);
        assert_eq!(list.conditions.len(), 5);
        assert!(matches!(list.conditions[0].op, Op::Gt(_)));
        assert_eq!(list.conditions[4].op, Op::Eq(serde_json::Value::Null));
    }

    #[test]
    fn each_problem_names_its_field() {
        let p = |yaml: &str| {
            problems(yaml)
                .into_iter()
                .map(|(path, _)| path)
                .collect::<Vec<_>>()
        };
        assert_eq!(p("[{path: payload/amount, gt: 1}]"), ["[0].path"]);
        assert_eq!(p("[{path: /a~2, gt: 1}]"), ["[0].path"]);
        assert_eq!(p("[{gt: 1}]"), ["[0].path"]);
        assert_eq!(p("[{path: /a, greater: 1}]"), ["[0].greater"]);
        assert_eq!(p("[{path: /a}]"), ["[0]"]);
        assert_eq!(p("[{path: /a, gt: 1, lt: 2}]"), ["[0].lt"]);
        assert_eq!(p("[{path: /a, gt: '100'}]"), ["[0].gt"]);
        assert_eq!(p("[{path: /a, in: 3}]"), ["[0].in"]);
        assert_eq!(p("[{path: /a, glob: 3}]"), ["[0].glob"]);
        assert_eq!(p("[{path: /a, exists: yes please}]"), ["[0].exists"]);
        assert_eq!(
            p("[ok, {path: /a, lte: 1}, {path: /b, lte: x}]"),
            ["[0]", "[2].lte"]
        );
        assert_eq!(p("{path: /a, gt: 1}"), [""]);
    }
}
