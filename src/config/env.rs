//! `env:NAME` resolution over the raw YAML tree, before any typed parsing.

use super::issue::ConfigIssue;
use serde_norway::Value;
use std::fmt::Write;

/// The prefix that marks a string value as a reference to an environment variable.
pub const ENV_PREFIX: &str = "env:";

/// Replaces every string value `env:NAME` with the variable's value, in place.
/// `lookup` is injected so tests never touch the process environment.
/// Returns one error per reference that could not be resolved; those values are
/// left as written so the caller can tell which paths failed.
pub fn resolve(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    walk(value, &mut String::new(), lookup, &mut issues);
    issues
}

fn walk(
    value: &mut Value,
    path: &mut String,
    lookup: &dyn Fn(&str) -> Option<String>,
    issues: &mut Vec<ConfigIssue>,
) {
    match value {
        Value::String(s) => resolve_one(s, path, lookup, issues),
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                walk(item, path, lookup, issues);
                path.truncate(len);
            }
        }
        Value::Mapping(map) => {
            // Keys are never resolved: only values carry secrets.
            for (key, item) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key_text(key));
                walk(item, path, lookup, issues);
                path.truncate(len);
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, lookup, issues),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn resolve_one(
    s: &mut String,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    issues: &mut Vec<ConfigIssue>,
) {
    let Some(name) = s.strip_prefix(ENV_PREFIX) else {
        return;
    };
    if !is_var_name(name) {
        issues.push(ConfigIssue::error(
            path,
            format!("`{s}` does not name an environment variable (expected env:NAME with letters, digits and _)"),
        ));
        return;
    }
    match lookup(name) {
        Some(v) => *s = v,
        None => issues.push(ConfigIssue::error(
            path,
            format!("environment variable {name} is not set"),
        )),
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Renders a mapping key the way `serde_path_to_error` does, so paths from both agree.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "?".to_owned(),
    }
}

/// Reads the real process environment; the default lookup outside tests.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "SET").then(|| "value".to_owned())
    }

    fn yaml(s: &str) -> Value {
        serde_norway::from_str(s).unwrap()
    }

    #[test]
    fn replaces_set_variables_anywhere() {
        let mut v = yaml("a: env:SET\nb: [x, env:SET]\nc: {d: env:SET}\n");
        assert!(resolve(&mut v, &lookup).is_empty());
        assert_eq!(v, yaml("a: value\nb: [x, value]\nc: {d: value}\n"));
    }

    #[test]
    fn unset_variable_names_path_and_variable() {
        let mut v = yaml("agents:\n  - id: a\n    api_key: env:MISSING\n");
        let issues = resolve(&mut v, &lookup);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "agents[0].api_key");
        assert!(issues[0].message.contains("MISSING"), "{}", issues[0]);
    }

    #[test]
    fn malformed_reference_is_an_error() {
        let mut v = yaml("a: 'env:'\nb: 'env:no spaces'\n");
        let issues = resolve(&mut v, &lookup);
        let paths: Vec<_> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["a", "b"]);
    }

    #[test]
    fn other_strings_are_untouched() {
        let mut v = yaml("a: user:bob\nb: environment\n");
        let before = v.clone();
        assert!(resolve(&mut v, &lookup).is_empty());
        assert_eq!(v, before);
    }
}
