//! Loading: YAML → raw tree → templates merged → `env:` resolution → typed `Config` →
//! validation → resolution.

use super::env;
use super::issue::{ConfigError, ConfigIssue};
use super::model::Config;
use super::templates;
use super::validate::validate;
use serde_norway::Value;
use std::path::Path;

/// A usable config and the warnings it raised (print them; they do not stop a start).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigIssue>,
}

/// How `env:NAME` values are looked up: the process environment, or a stub in tests.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn load_file(path: &Path) -> Result<Loaded, ConfigError> {
    let origin = path.display().to_string();
    let yaml = std::fs::read_to_string(path).map_err(|e| {
        fail(
            &origin,
            vec![ConfigIssue::error("", format!("cannot read {origin}: {e}"))],
        )
    })?;
    load_str(&yaml, &origin)
}

/// `origin` names the source in messages (a file name, "embedded demo config").
pub fn load_str(yaml: &str, origin: &str) -> Result<Loaded, ConfigError> {
    load_str_with(yaml, origin, &env::process_env)
}

pub fn load_str_with(yaml: &str, origin: &str, env: EnvLookup<'_>) -> Result<Loaded, ConfigError> {
    load_value_with(parse_yaml(yaml, origin)?, origin, env)
}

pub(super) fn parse_yaml(yaml: &str, origin: &str) -> Result<Value, ConfigError> {
    let mut value: Value = serde_norway::from_str(yaml).map_err(|e| {
        fail(
            origin,
            vec![ConfigIssue::error("", format!("not valid YAML: {e}"))],
        )
    })?;
    // `<<: *anchor` merge keys let operators share stage definitions.
    value.apply_merge().map_err(|e| {
        fail(
            origin,
            vec![ConfigIssue::error("", format!("bad YAML merge key: {e}"))],
        )
    })?;
    if value.is_null() {
        return Err(fail(
            origin,
            vec![ConfigIssue::error("", "the config is empty")],
        ));
    }
    Ok(value)
}

pub(super) fn load_value_with(
    mut value: Value,
    origin: &str,
    env: EnvLookup<'_>,
) -> Result<Loaded, ConfigError> {
    // Templates first, so every check below sees each workflow whole.
    let expansion = templates::expand(&mut value).map_err(|issues| fail(origin, issues))?;
    let locate = |mut issues: Vec<ConfigIssue>| {
        issues.iter_mut().for_each(|i| expansion.locate(i));
        issues.extend(expansion.warnings.iter().cloned());
        issues
    };
    match load_expanded(value, origin, env) {
        Ok(mut loaded) => {
            loaded.warnings = locate(loaded.warnings);
            Ok(loaded)
        }
        Err(mut e) => {
            e.issues = locate(e.issues);
            Err(e)
        }
    }
}

fn load_expanded(
    mut value: Value,
    origin: &str,
    env: EnvLookup<'_>,
) -> Result<Loaded, ConfigError> {
    let mut issues = env::resolve(&mut value, env);
    // A value left as `env:NAME` is already reported; checks on it would only add noise.
    let unresolved: Vec<String> = issues.iter().map(|i| i.path.clone()).collect();
    let derived = |i: &ConfigIssue| !unresolved.contains(&i.path);
    let mut config: Config = match serde_path_to_error::deserialize(value) {
        Ok(c) => c,
        Err(e) => {
            issues.extend(Some(type_error(e)).filter(derived));
            return Err(fail(origin, issues));
        }
    };
    issues.extend(validate(&config).into_iter().filter(derived));
    if issues.iter().any(ConfigIssue::is_error) {
        return Err(fail(origin, issues));
    }
    config.resolve();
    Ok(Loaded {
        config,
        warnings: issues,
    })
}

fn type_error(e: serde_path_to_error::Error<serde_norway::Error>) -> ConfigIssue {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    ConfigIssue::error(path, e.into_inner().to_string())
}

fn fail(origin: &str, issues: Vec<ConfigIssue>) -> ConfigError {
    ConfigError {
        origin: origin.to_owned(),
        issues,
    }
}
