//! Checks on `alerts`: somewhere to send them, destinations whose channel is configured,
//! thresholds in range. A missing threshold is allowed (its check is off) and said as a warning.

use super::Issues;
use crate::config::model::{AlertsConfig, Config};

pub(super) fn check(config: &Config, out: &mut Issues) {
    let Some(alerts) = &config.alerts else {
        return;
    };
    destinations(config, alerts, out);
    thresholds(alerts, out);
}

fn destinations(config: &Config, a: &AlertsConfig, out: &mut Issues) {
    if a.slack_channel.is_none() && a.email.is_empty() {
        out.error(
            "alerts",
            "has no destination: set slack_channel and/or email",
        );
    }
    if let Some(channel) = &a.slack_channel {
        if channel.trim().is_empty() {
            out.error("alerts.slack_channel", "is empty");
        } else if config.slack.is_none() {
            out.error(
                "alerts.slack_channel",
                "needs a `slack:` section to post with",
            );
        }
    }
    if !a.email.is_empty() && config.email.is_none() {
        out.error("alerts.email", "needs an `email:` section to send with");
    }
    for (i, address) in a.email.iter().enumerate() {
        if address.trim().parse::<lettre::Address>().is_err() {
            out.error(
                format!("alerts.email[{i}]"),
                format!("`{address}` is not an email address"),
            );
        }
    }
}

fn thresholds(a: &AlertsConfig, out: &mut Issues) {
    if a.max_pending == Some(0) {
        out.error("alerts.max_pending", "must be at least 1");
    }
    if let Some(rate) = a.rejection_rate
        && !(rate > 0.0 && rate <= 1.0)
    {
        out.error(
            "alerts.rejection_rate",
            format!("{rate} is not a share above 0 and at most 1 (e.g. 0.5)"),
        );
    }
    let off = |name: &str, kind: &str| {
        (
            format!("alerts.{name}"),
            format!("not set: `{kind}` alerts are off"),
        )
    };
    for (set, name, kind) in [
        (a.stuck_after.is_some(), "stuck_after", "stuck"),
        (a.max_pending.is_some(), "max_pending", "overloaded"),
        (
            a.rejection_rate.is_some(),
            "rejection_rate",
            "rejection_rate",
        ),
    ] {
        if !set {
            let (path, message) = off(name, kind);
            out.warn(path, message);
        }
    }
}
