//! Which workflow governs an escalation: the first whose `match` fits, in file order.

use super::model::{Config, MatchConfig};
use crate::domain::{AgentId, WorkflowSpec};

impl Config {
    /// The first workflow whose `match` accepts this agent, intent and risk score;
    /// `None` means no workflow applies and the escalation is refused (fail closed).
    pub fn select_workflow(
        &self,
        agent: &AgentId,
        intent: &str,
        risk_score: Option<u8>,
    ) -> Option<&WorkflowSpec> {
        // An escalation without a score is treated as the riskiest possible: an
        // agent must not reach a lighter workflow by leaving the score out.
        let score = i64::from(risk_score.unwrap_or(100));
        self.workflows
            .iter()
            .zip(&self.specs)
            .find(|(w, _)| matches(&w.matcher, agent, intent, score))
            .map(|(_, spec)| spec)
    }
}

fn matches(m: &MatchConfig, agent: &AgentId, intent: &str, score: i64) -> bool {
    let agent_ok = m.agents.as_ref().is_none_or(|a| a.contains(agent));
    let risk_ok = m.risk.is_none_or(|r| (r.min..=r.max).contains(&score));
    agent_ok && risk_ok && m.intents.iter().any(|g| glob_match(g, intent))
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
mod tests {
    use super::glob_match;

    #[test]
    fn star_spans_dots_and_question_is_one_char() {
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "a.b.c"));
        assert!(glob_match(
            "infrastructure.*",
            "infrastructure.deployment.production"
        ));
        assert!(glob_match(
            "*.production",
            "infrastructure.deployment.production"
        ));
        assert!(glob_match("db.*.drop", "db.users.orders.drop"));
        assert!(glob_match("db.?", "db.x"));
        assert!(!glob_match("db.?", "db.xy"));
        assert!(!glob_match("db.?", "db."));
        assert!(!glob_match("infrastructure.*", "infra.deploy"));
        assert!(!glob_match("deploy", "deploy.production"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn case_does_not_matter() {
        assert!(glob_match("deploy.production", "Deploy.PRODUCTION"));
    }
}
