//! Checks on `agents` and `reviewers`: unique ids, credentials, addresses.

use super::{Issues, check_http_url, check_unique, decode_whsec};
use crate::config::model::{AgentConfig, Config, RateLimitConfig, ReviewerConfig};
use crate::config::secret::Secret;
use crate::domain::callback_target;
use std::str::FromStr;

pub(super) fn check(config: &Config, out: &mut Issues) {
    for (i, a) in config.agents.iter().enumerate() {
        agent(&format!("agents[{i}]"), a, out);
    }
    for (i, r) in config.reviewers.iter().enumerate() {
        reviewer(&format!("reviewers[{i}]"), r, out);
    }
    unique_ids(config, out);
    unique_api_keys(config, out);
    if config.agents.is_empty() {
        out.warn("agents", "no agents: nothing can submit an escalation");
    }
}

fn agent(path: &str, a: &AgentConfig, out: &mut Issues) {
    non_blank(out, &format!("{path}.id"), a.id.as_str());
    if a.api_key.is_empty() {
        out.error(format!("{path}.api_key"), "is empty");
    }
    if decode_whsec(a.webhook_secret.expose()).is_none() {
        out.error(
            format!("{path}.webhook_secret"),
            "must be a Standard Webhooks secret: whsec_ followed by base64",
        );
    }
    if let Some(url) = &a.callback_url {
        check_http_url(out, &format!("{path}.callback_url"), url);
    }
    for (i, host) in a.callback_hosts.iter().flatten().enumerate() {
        if callback_target::parse_host_port(host).is_none() {
            out.error(
                format!("{path}.callback_hosts[{i}]"),
                format!("`{host}` must be host:port, e.g. hooks.example.com:443"),
            );
        }
    }
    rate_limit(&format!("{path}.rate_limit"), &a.rate_limit, out);
}

fn rate_limit(path: &str, r: &RateLimitConfig, out: &mut Issues) {
    if r.per_second == Some(0) {
        out.error(
            format!("{path}.per_second"),
            "must be at least 1 (leave it out for no limit)",
        );
    }
    match (r.per_second, r.burst) {
        (_, Some(0)) => out.error(format!("{path}.burst"), "must be at least 1"),
        (None, Some(_)) => out.error(
            format!("{path}.burst"),
            "needs per_second: a burst of what rate?",
        ),
        _ => {}
    }
    if r.max_pending == 0 {
        out.error(format!("{path}.max_pending"), "must be at least 1");
    }
}

fn reviewer(path: &str, r: &ReviewerConfig, out: &mut Issues) {
    non_blank(out, &format!("{path}.id"), r.id.as_str());
    // `decided_by` writes agents and policies with these prefixes, reviewers bare.
    if let Some(prefix) = ["agent:", "policy:"]
        .into_iter()
        .find(|p| r.id.as_str().starts_with(p))
    {
        out.error(
            format!("{path}.id"),
            format!("may not begin with `{prefix}` (decided_by uses it for a non-reviewer)"),
        );
    }
    if lettre::Address::from_str(r.email.trim()).is_err() {
        out.error(
            format!("{path}.email"),
            format!("`{}` is not an email address", r.email),
        );
    }
    if r.api_key.as_ref().is_some_and(Secret::is_empty) {
        out.error(format!("{path}.api_key"), "is empty");
    }
}

fn non_blank(out: &mut Issues, path: &str, value: &str) {
    if value.trim().is_empty() {
        out.error(path, "is empty");
    }
}

fn unique_ids(config: &Config, out: &mut Issues) {
    let agents = config.agents.iter().enumerate();
    let agents = agents.map(|(i, a)| (format!("agents[{i}].id"), a.id.as_str()));
    check_unique(out, "agent id", agents, str::to_owned);
    let reviewers = || config.reviewers.iter().enumerate();
    let ids = reviewers().map(|(i, r)| (format!("reviewers[{i}].id"), r.id.as_str()));
    check_unique(out, "reviewer id", ids, str::to_owned);
    // `user:EMAIL` and email replies must name one reviewer.
    let emails = reviewers().map(|(i, r)| (format!("reviewers[{i}].email"), r.email.trim()));
    check_unique(out, "reviewer email", emails, str::to_ascii_lowercase);
    let slack = reviewers().filter_map(|(i, r)| {
        Some((
            format!("reviewers[{i}].slack_user"),
            r.slack_user.as_deref()?,
        ))
    });
    check_unique(out, "slack_user", slack, str::to_owned);
}

/// A bearer key must identify exactly one caller, across agents and reviewers.
fn unique_api_keys(config: &Config, out: &mut Issues) {
    let agents = config.agents.iter().enumerate();
    let agents = agents.map(|(i, a)| (format!("agents[{i}].api_key"), &a.api_key));
    let reviewers = config.reviewers.iter().enumerate();
    let reviewers = reviewers
        .filter_map(|(i, r)| Some((format!("reviewers[{i}].api_key"), r.api_key.as_ref()?)));
    let mut seen: Vec<(String, &Secret)> = Vec::new();
    for (path, key) in agents.chain(reviewers) {
        if key.is_empty() {
            continue; // already reported as empty
        }
        match seen.iter().find(|(_, k)| k.expose() == key.expose()) {
            Some((first, _)) => out.error(path, format!("api key is the same as {first}'s")),
            None => seen.push((path, key)),
        }
    }
}
