//! Reviewer references (`user:ID`, `user:EMAIL`, `role:NAME`) and the pools they name.

use super::model::{ReviewerConfig, StageConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference<'a> {
    /// A reviewer id or email address.
    User(&'a str),
    Role(&'a str),
}

impl<'a> Reference<'a> {
    pub fn parse(s: &'a str) -> Result<Self, String> {
        let bad =
            || format!("`{s}` is not a reviewer reference (user:ID, user:EMAIL or role:NAME)");
        let (kind, name) = s.split_once(':').ok_or_else(bad)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad());
        }
        match kind.trim() {
            "user" => Ok(Self::User(name)),
            "role" => Ok(Self::Role(name)),
            _ => Err(bad()),
        }
    }

    /// Indexes into `reviewers` of everyone this reference names, in file order.
    pub fn members(self, reviewers: &[ReviewerConfig]) -> Vec<usize> {
        let hit = |r: &ReviewerConfig| match self {
            Self::User(u) => r.id.as_str() == u || r.email.eq_ignore_ascii_case(u),
            Self::Role(role) => r.roles.iter().any(|x| x == role),
        };
        (0..reviewers.len())
            .filter(|&i| hit(&reviewers[i]))
            .collect()
    }
}

/// Reviewers named by a list of references, deduplicated, in order of first mention.
/// References that do not parse are skipped: validation reports them.
pub fn resolve_all<'a>(
    refs: impl IntoIterator<Item = &'a String>,
    reviewers: &[ReviewerConfig],
) -> Vec<usize> {
    let mut out = Vec::new();
    for r in refs {
        let Ok(r) = Reference::parse(r) else { continue };
        for i in r.members(reviewers) {
            if !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out
}

/// Everyone who could ever vote in the stage: the base pool, every delegation
/// tier and the escalation target, kept only if they meet the role/department gate.
pub fn eligible_pool(stage: &StageConfig, reviewers: &[ReviewerConfig]) -> Vec<usize> {
    let refs = stage
        .approvers
        .iter()
        .chain(stage.delegation.iter().flat_map(|t| &t.approvers))
        .chain(&stage.escalation_target);
    resolve_all(refs, reviewers)
        .into_iter()
        .filter(|&i| meets_gate(stage, &reviewers[i]))
        .collect()
}

/// Has the stage's `required_role` and `required_department`, when those are set.
pub fn meets_gate(stage: &StageConfig, reviewer: &ReviewerConfig) -> bool {
    let role_ok = stage
        .required_role
        .as_ref()
        .is_none_or(|role| reviewer.roles.contains(role));
    let dept_ok = stage
        .required_department
        .as_ref()
        .is_none_or(|d| reviewer.department.as_ref() == Some(d));
    role_ok && dept_ok
}
