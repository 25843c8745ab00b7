//! Finding agents and reviewers by id, credential, Slack user or email.

use super::model::{AgentConfig, Config, ReviewerConfig};
use super::secret::{Secret, digest};
use subtle::{ConditionallySelectable, ConstantTimeEq};

impl Config {
    pub fn agent(&self, id: &str) -> Option<&AgentConfig> {
        self.agents.iter().find(|a| a.id.as_str() == id)
    }

    pub fn reviewer(&self, id: &str) -> Option<&ReviewerConfig> {
        self.reviewers.iter().find(|r| r.id.as_str() == id)
    }

    /// The agent holding this bearer key; compares against every agent in constant time.
    pub fn agent_by_api_key(&self, key: &str) -> Option<&AgentConfig> {
        let i = find_key(self.agents.iter().map(|a| Some(&a.api_key)), key)?;
        self.agents.get(i)
    }

    /// The reviewer holding this bearer key; compares against every reviewer in constant time.
    pub fn reviewer_by_api_key(&self, key: &str) -> Option<&ReviewerConfig> {
        let i = find_key(self.reviewers.iter().map(|r| r.api_key.as_ref()), key)?;
        self.reviewers.get(i)
    }

    pub fn reviewer_by_slack_user(&self, user: &str) -> Option<&ReviewerConfig> {
        self.reviewers
            .iter()
            .find(|r| r.slack_user.as_deref() == Some(user))
    }

    /// Email addresses are compared case-insensitively, as mail systems treat them.
    pub fn reviewer_by_email(&self, email: &str) -> Option<&ReviewerConfig> {
        let email = email.trim();
        self.reviewers
            .iter()
            .find(|r| r.email.eq_ignore_ascii_case(email))
    }
}

/// Index of the candidate whose secret equals `key`. Every candidate is compared
/// and the result is selected without branching, so the timing says nothing
/// about which key matched, or whether one did before the last.
fn find_key<'a>(candidates: impl Iterator<Item = Option<&'a Secret>>, key: &str) -> Option<usize> {
    // An empty key would match an empty secret; validation forbids both, refuse anyway.
    if key.is_empty() {
        return None;
    }
    let presented = digest(key);
    let mut found: u64 = 0; // index + 1, 0 for none
    for (i, secret) in candidates.enumerate() {
        let Some(secret) = secret else { continue };
        let hit = secret.ct_eq_digest(&presented);
        found = u64::conditional_select(&found, &(i as u64 + 1), hit);
    }
    let none = found.ct_eq(&0);
    (!bool::from(none)).then(|| found as usize - 1)
}
