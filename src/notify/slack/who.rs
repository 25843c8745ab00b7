//! The reviewer behind a Slack user id, for a click and for a Home tab publish alike: the
//! config's `slack_user`, an earlier lookup by email kept in the store, or (last) Slack's
//! own record of the user's email, kept for next time.

use super::api::{ApiError, SlackApi};
use crate::config::{Config, ReviewerConfig};
use crate::store::{Store, StoreError};
use std::time::Duration;

/// Why the reviewer could not be told: the store, or Slack's `users.info`.
pub enum WhoError {
    Store(StoreError),
    Slack(ApiError),
}

/// The reviewer Slack user `user` is, if any; `budget` bounds the call to Slack.
pub async fn reviewer(
    config: &Config,
    store: &Store,
    api: &SlackApi,
    user: &str,
    budget: Duration,
) -> Result<Option<ReviewerConfig>, WhoError> {
    if let Some(r) = config.reviewer_by_slack_user(user) {
        return Ok(Some(r.clone()));
    }
    let cached = (store.reviewers_for_slack_user(user).await).map_err(WhoError::Store)?;
    // Only while the config still has that email and no explicit slack_user.
    let found = cached.iter().find_map(|(id, email)| {
        config
            .reviewer(id)
            .filter(|r| r.slack_user.is_none() && r.email.eq_ignore_ascii_case(email))
    });
    if let Some(r) = found {
        return Ok(Some(r.clone()));
    }
    let Some(email) = api
        .user_email(user, budget)
        .await
        .map_err(WhoError::Slack)?
    else {
        return Ok(None);
    };
    let Some(r) = config
        .reviewer_by_email(&email)
        .filter(|r| r.slack_user.is_none())
    else {
        return Ok(None);
    };
    let now = chrono::Utc::now();
    // Only a shortcut for next time: the reviewer is known either way.
    if let Err(e) = store.remember_slack_user(&r.id, &r.email, user, now).await {
        tracing::warn!(error = %e, "caching a Slack user failed");
    }
    Ok(Some(r.clone()))
}
