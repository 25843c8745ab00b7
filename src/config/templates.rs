//! Workflow templates (design.md §9): top-level `templates:` and `extends:` are merged on the
//! YAML tree before typed deserialization, so every check of a workflow applies unchanged to
//! one built from templates; issues in such a workflow then name the template that wrote the
//! field.

use super::issue::ConfigIssue;
use serde_norway::{Mapping, Value};
use std::collections::HashMap;

const TEMPLATES: &str = "templates";
const WORKFLOWS: &str = "workflows";
const EXTENDS: &str = "extends";
const ID: &str = "id";

/// Where each workflow's fields came from, to relabel the issues found in it.
#[derive(Debug, Default)]
pub(super) struct Expansion {
    /// By workflow index; absent for a workflow that extends nothing.
    workflows: HashMap<usize, Lineage>,
    /// Templates nothing extends, whose fields therefore go unchecked.
    pub warnings: Vec<ConfigIssue>,
}

/// A workflow's templates, nearest first, and which of them wrote each inherited field.
#[derive(Debug)]
struct Lineage {
    chain: Vec<usize>,
    /// Top-level field → position in `chain` of the template it came from.
    inherited: HashMap<String, usize>,
}

/// One entry of `templates:`, as written.
struct Template {
    id: String,
    extends: Option<String>,
    fields: Mapping,
}

/// Takes `templates:` out of `root` and merges them into every workflow with `extends:`:
/// a top-level field the workflow writes wins whole (`stages`, `match` and every other
/// field are replaced, never merged), the rest come from the template, nearest first.
/// Errors (unknown ids, cycles, malformed entries) stop the load before anything else.
pub(super) fn expand(root: &mut Value) -> Result<Expansion, Vec<ConfigIssue>> {
    let Value::Mapping(root) = root else {
        return Ok(Expansion::default());
    };
    let raw = root.remove(TEMPLATES);
    let mut errors = Vec::new();
    let templates = match raw {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(items)) => parse_templates(items, &mut errors),
        Some(_) => {
            errors.push(ConfigIssue::error(TEMPLATES, "must be a list of templates"));
            Vec::new()
        }
    };
    let by_id: HashMap<&str, usize> = templates
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    // Each template's chain of ancestors, itself first; `None` when it is broken.
    let chains: Vec<Option<Vec<usize>>> = (0..templates.len())
        .map(|i| chain(&templates, &by_id, i, &mut errors))
        .collect();
    let mut expansion = Expansion::default();
    let mut used = vec![false; templates.len()];
    if let Some(Value::Sequence(workflows)) = root.get_mut(WORKFLOWS) {
        for (k, w) in workflows.iter_mut().enumerate() {
            let Value::Mapping(w) = w else { continue };
            let Some(extends) = w.remove(EXTENDS) else {
                continue;
            };
            let path = format!("{WORKFLOWS}[{k}].{EXTENDS}");
            let Some(start) = target(&extends, &by_id, &path, &mut errors) else {
                continue;
            };
            let Some(chain) = chains[start].clone() else {
                // The template's own error is reported already.
                continue;
            };
            for &t in &chain {
                used[t] = true;
            }
            let inherited = inherit(w, &templates, &chain);
            expansion.workflows.insert(k, Lineage { chain, inherited });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for (i, t) in templates.iter().enumerate().filter(|(i, _)| !used[*i]) {
        expansion.warnings.push(ConfigIssue::warning(
            format!("{TEMPLATES}[{i}]"),
            format!(
                "template `{}` is extended by no workflow, so its fields are not checked",
                t.id
            ),
        ));
    }
    Ok(expansion)
}

impl Expansion {
    /// Names the template behind an issue on an inherited field:
    /// `workflows[2].stages[0].approvers[1]` becomes
    /// `workflows[2] (extends templates[0]): stages[0].approvers[1]`.
    pub(super) fn locate(&self, issue: &mut ConfigIssue) {
        let Some((k, rest)) = split_workflow_path(&issue.path) else {
            return;
        };
        let Some(lineage) = self.workflows.get(&k) else {
            return;
        };
        let field = rest.split(['.', '[']).next().unwrap_or(rest);
        let Some(&depth) = lineage.inherited.get(field) else {
            return;
        };
        let via = lineage.chain[..=depth]
            .iter()
            .map(|t| format!("{TEMPLATES}[{t}]"))
            .collect::<Vec<_>>()
            .join(", which extends ");
        issue.path = format!("{WORKFLOWS}[{k}] (extends {via}): {rest}");
    }
}

/// `workflows[K].rest` → `(K, rest)`.
fn split_workflow_path(path: &str) -> Option<(usize, &str)> {
    let rest = path.strip_prefix(WORKFLOWS)?.strip_prefix('[')?;
    let (index, rest) = rest.split_once(']')?;
    Some((index.parse().ok()?, rest.strip_prefix('.')?))
}

fn parse_templates(items: Vec<Value>, errors: &mut Vec<ConfigIssue>) -> Vec<Template> {
    let mut templates: Vec<Template> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("{TEMPLATES}[{i}]");
        let Value::Mapping(mut fields) = item else {
            errors.push(ConfigIssue::error(
                path,
                "must be a mapping (a workflow's fields and an `id`)",
            ));
            continue;
        };
        let id = match fields.remove(ID) {
            Some(Value::String(id)) if !id.trim().is_empty() => id,
            Some(Value::String(_)) => {
                errors.push(ConfigIssue::error(format!("{path}.id"), "is empty"));
                continue;
            }
            Some(_) => {
                errors.push(ConfigIssue::error(format!("{path}.id"), "must be a string"));
                continue;
            }
            None => {
                errors.push(ConfigIssue::error(path, "missing field `id`"));
                continue;
            }
        };
        if let Some(j) = templates.iter().position(|t| t.id == id) {
            errors.push(ConfigIssue::error(
                format!("{path}.id"),
                format!("duplicate template id `{id}` (first at {TEMPLATES}[{j}].id)"),
            ));
        }
        let extends = match fields.remove(EXTENDS) {
            None => None,
            Some(Value::String(parent)) => Some(parent),
            Some(_) => {
                errors.push(ConfigIssue::error(
                    format!("{path}.{EXTENDS}"),
                    "must be a template id",
                ));
                None
            }
        };
        templates.push(Template {
            id,
            extends,
            fields,
        });
    }
    templates
}

/// The template `extends` names, or an error at `path`.
fn target(
    extends: &Value,
    by_id: &HashMap<&str, usize>,
    path: &str,
    errors: &mut Vec<ConfigIssue>,
) -> Option<usize> {
    let Value::String(id) = extends else {
        errors.push(ConfigIssue::error(path, "must be a template id"));
        return None;
    };
    let found = by_id.get(id.as_str()).copied();
    if found.is_none() {
        errors.push(ConfigIssue::error(
            path,
            format!("no template has id `{id}`"),
        ));
    }
    found
}

/// Template `start` and its ancestors, nearest first. A cycle or an unknown parent is
/// reported once, at the template that closes the cycle or names the unknown id.
fn chain(
    templates: &[Template],
    by_id: &HashMap<&str, usize>,
    start: usize,
    errors: &mut Vec<ConfigIssue>,
) -> Option<Vec<usize>> {
    let mut chain = vec![start];
    let mut current = start;
    while let Some(parent) = &templates[current].extends {
        let Some(&next) = by_id.get(parent.as_str()) else {
            if current == start {
                errors.push(ConfigIssue::error(
                    format!("{TEMPLATES}[{current}].{EXTENDS}"),
                    format!("no template has id `{parent}`"),
                ));
            }
            return None;
        };
        if let Some(pos) = chain.iter().position(|&t| t == next) {
            // Reported by the template the cycle starts at, so each cycle once.
            if pos == 0 && chain.iter().all(|&t| t >= start) {
                let names: Vec<&str> = chain
                    .iter()
                    .chain([&next])
                    .map(|&t| templates[t].id.as_str())
                    .collect();
                errors.push(ConfigIssue::error(
                    format!("{TEMPLATES}[{start}].{EXTENDS}"),
                    format!(
                        "templates extend each other in a cycle: {}",
                        names.join(" → ")
                    ),
                ));
            }
            return None;
        }
        chain.push(next);
        current = next;
    }
    Some(chain)
}

/// Fills `workflow` with the fields it does not write, from the nearest template that does;
/// returns which template each inherited field came from.
fn inherit(
    workflow: &mut Mapping,
    templates: &[Template],
    chain: &[usize],
) -> HashMap<String, usize> {
    let mut inherited = HashMap::new();
    for (depth, &t) in chain.iter().enumerate() {
        for (key, value) in &templates[t].fields {
            if workflow.contains_key(key) {
                continue;
            }
            workflow.insert(key.clone(), value.clone());
            if let Value::String(name) = key {
                inherited.insert(name.clone(), depth);
            }
        }
    }
    inherited
}
