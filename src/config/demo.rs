//! The embedded demo config: `serve` with no `--config` runs on it, out of the box.

use super::load::{EnvLookup, Loaded, load_value_with, parse_yaml};
use super::{ConfigError, env};
use serde_norway::{Mapping, Value};

/// The demo file itself, as `countersign check-config --print-example` prints it.
pub const DEMO_YAML: &str = include_str!("../../config/demo.yml");

/// The origin named in messages and logs for the embedded config.
pub const EMBEDDED_ORIGIN: &str = "embedded demo config";

pub fn load_embedded() -> Result<Loaded, ConfigError> {
    load_embedded_with(&env::process_env)
}

/// Slack stays off unless `SLACK_BOT_TOKEN` is set; then a `slack:` section
/// reading `SLACK_BOT_TOKEN` / `SLACK_SIGNING_SECRET` is added and every workflow
/// also notifies on Slack. The file itself has no Slack section, so it loads
/// cleanly on a machine with no Slack at all.
pub fn load_embedded_with(env: EnvLookup<'_>) -> Result<Loaded, ConfigError> {
    let mut value = parse_yaml(DEMO_YAML, EMBEDDED_ORIGIN)?;
    if env("SLACK_BOT_TOKEN").is_some_and(|t| !t.is_empty()) {
        enable_slack(&mut value);
    }
    load_value_with(value, EMBEDDED_ORIGIN, env)
}

fn enable_slack(value: &mut Value) {
    let mut slack = Mapping::new();
    slack.insert("bot_token".into(), "env:SLACK_BOT_TOKEN".into());
    slack.insert("signing_secret".into(), "env:SLACK_SIGNING_SECRET".into());
    if let Value::Mapping(root) = value {
        root.insert("slack".into(), Value::Mapping(slack));
    }
    // Templates too: a workflow that inherits its channels gets Slack from there.
    for section in ["templates", "workflows"] {
        let Some(Value::Sequence(items)) = value.get_mut(section) else {
            continue;
        };
        for w in items {
            if let Some(Value::Sequence(channels)) = w.get_mut("channels")
                && !channels.contains(&"slack".into())
            {
                channels.insert(0, "slack".into());
            }
        }
    }
}
