//! Config reload (SIGHUP): re-read and validate the file; refuse an invalid one, or swap in
//! a valid one as one new [`Snapshot`] and record its SHA-256 in the audit chain.
//!
//! Settings built into long-lived parts at start (the listener, the database, connection
//! limits, the body limit, link and receipt keys, the Slack client and verifier, the email
//! transport) keep their serving values: a change to them is logged as needing a restart.

use crate::clock::Clock;
use crate::config::{self, Config, ConfigError, ConfigIssue, Loaded};
use crate::domain::{AuditKind, AuditRecord, Time};
use crate::service::{Live, Snapshot, sha256_hex};
use crate::store::{self, Store, audit};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the config comes from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    /// The embedded demo: a reload re-applies it (it cannot change while running).
    Embedded,
}

/// One read of the source: the validated config and the SHA-256 of the bytes it came from.
pub struct Version {
    pub loaded: Loaded,
    pub sha256: String,
}

impl Source {
    /// Reads the bytes once, so the hash names exactly what was validated.
    pub fn read(&self) -> Result<Version, ConfigError> {
        match self {
            Source::File(path) => {
                let origin = path.display().to_string();
                let bytes = std::fs::read(path).map_err(|e| ConfigError {
                    origin: origin.clone(),
                    issues: vec![ConfigIssue::error("", format!("cannot read {origin}: {e}"))],
                })?;
                let yaml = String::from_utf8_lossy(&bytes);
                Ok(Version {
                    loaded: config::load_str(&yaml, &origin)?,
                    sha256: sha256_hex(&bytes),
                })
            }
            Source::Embedded => Ok(Version {
                loaded: config::load_embedded()?,
                sha256: sha256_hex(config::DEMO_YAML.as_bytes()),
            }),
        }
    }
}

/// What became of one reload.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Applied { sha256: String },
    Refused { errors: usize },
}

/// Re-reads the source and swaps the live snapshot.
pub struct Reloader {
    source: Source,
    live: Live,
    store: Store,
    clock: Arc<dyn Clock>,
    /// The config as last read from the source (before command-line overrides), to tell
    /// which restart-only settings the operator changed in the file.
    read: Config,
}

impl Reloader {
    pub fn new(
        source: Source,
        read: Config,
        live: Live,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            source,
            live,
            store,
            clock,
            read,
        }
    }

    /// One reload: every error is logged with its YAML path and the old version keeps
    /// serving; otherwise the new version is recorded, then swapped in.
    pub async fn reload(&mut self) -> Outcome {
        let outcome = match self.source.read() {
            Err(e) => {
                for issue in &e.issues {
                    if issue.is_error() {
                        tracing::error!(path = %issue.path, origin = %e.origin, "config reload refused: {}", issue.message);
                    } else {
                        tracing::warn!(path = %issue.path, origin = %e.origin, "config: {}", issue.message);
                    }
                }
                Outcome::Refused {
                    errors: e.errors().count(),
                }
            }
            Ok(version) => self.apply(version).await,
        };
        let result = match outcome {
            Outcome::Applied { .. } => "applied",
            Outcome::Refused { .. } => "refused",
        };
        metrics::counter!("countersign_config_reloads_total", "result" => result).increment(1);
        outcome
    }

    async fn apply(&mut self, version: Version) -> Outcome {
        for w in &version.loaded.warnings {
            tracing::warn!(path = %w.path, "config: {}", w.message);
        }
        let read = version.loaded.config.clone();
        let serving = self.live.load();
        let mut next = version.loaded.config;
        for setting in keep_restart_only(&self.read, &serving.config, &mut next) {
            tracing::warn!(
                setting,
                "config reload: {setting} changed in the file but needs a restart; the old value keeps serving"
            );
        }
        // The chain names every version before it serves, so an audit never meets a
        // decision made under a version it has no record of.
        if let Err(e) =
            record_applied(&self.store, &version.sha256, "reload", self.clock.now()).await
        {
            tracing::error!(error = %e, "config reload refused: recording the version failed");
            return Outcome::Refused { errors: 1 };
        }
        self.live
            .swap(Snapshot::new(next, Some(version.sha256.clone())));
        self.read = read;
        tracing::info!(sha256 = %version.sha256, "config reloaded");
        Outcome::Applied {
            sha256: version.sha256,
        }
    }
}

/// Appends a `config.applied` event (no escalation) naming the version's SHA-256.
pub async fn record_applied(
    store: &Store,
    sha256: &str,
    reason: &str,
    at: Time,
) -> store::Result<()> {
    let records = [AuditRecord::new(
        AuditKind::ConfigApplied,
        None,
        json!({ "sha256": sha256, "reason": reason }),
    )];
    let mut tx = store.begin().await?;
    tx.append_audit(&[audit::Entry {
        escalation_id: None,
        at,
        records: &records,
    }])
    .await?;
    tx.commit().await
}

/// Gives `next` the serving values of every restart-only setting, and names those the file
/// changed since it was last read (`earlier`). Compared as read from the file, so
/// command-line overrides (`--listen`, `--database`) never count as changes.
pub fn keep_restart_only(
    earlier: &Config,
    serving: &Config,
    next: &mut Config,
) -> Vec<&'static str> {
    let changed = restart_only(earlier)
        .into_iter()
        .zip(restart_only(next))
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0)
        .collect();
    // These two `server` settings are read per request; the rest of `server` is not.
    let metrics_token = next.server.metrics_token.take();
    let allow_private = next.server.allow_private_callbacks;
    next.server = serving.server.clone();
    next.server.metrics_token = metrics_token;
    next.server.allow_private_callbacks = allow_private;
    next.slack = serving.slack.clone();
    next.email = serving.email.clone();
    changed
}

/// Each restart-only setting and a comparable form of it (secrets included: compared,
/// never logged).
fn restart_only(c: &Config) -> Vec<(&'static str, String)> {
    let s = &c.server;
    let secrets =
        |v: &[config::Secret]| -> Vec<String> { v.iter().map(|x| x.expose().to_owned()).collect() };
    let one = |v: &Option<config::Secret>| v.as_ref().map(|x| x.expose().to_owned());
    vec![
        ("server.listen", s.listen.to_string()),
        ("server.public_url", s.public_url.clone()),
        ("server.database", s.database.clone()),
        ("server.connections", format!("{:?}", s.connections)),
        ("server.max_body_bytes", s.max_body_bytes.to_string()),
        (
            "server.link_secret",
            format!(
                "{:?}",
                (one(&s.link_secret), secrets(&s.previous_link_secrets))
            ),
        ),
        (
            "server.receipt_key",
            format!(
                "{:?}",
                (one(&s.receipt_key), secrets(&s.previous_receipt_keys))
            ),
        ),
        (
            "slack",
            format!(
                "{:?}",
                c.slack.as_ref().map(|k| (
                    k.bot_token.expose(),
                    k.signing_secret.expose(),
                    &k.api_url
                ))
            ),
        ),
        (
            "email",
            format!(
                "{:?}",
                c.email
                    .as_ref()
                    .map(|e| (e.smtp_url.expose(), &e.from, e.send_outcome))
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo config with some `server:` lines replaced.
    fn demo_with(edits: &[(&str, &str)]) -> Config {
        let mut yaml = config::DEMO_YAML.to_owned();
        for (from, to) in edits {
            assert!(yaml.contains(from), "{from}");
            yaml = yaml.replacen(from, to, 1);
        }
        config::load_str_with(&yaml, "test", &|_| None)
            .unwrap()
            .config
    }

    #[test]
    fn restart_only_settings_keep_their_serving_values_and_are_named() {
        let earlier = demo_with(&[]);
        let mut serving = earlier.clone();
        // A command-line override is no change made in the file.
        serving.server.database = "sqlite://override.db".into();
        let mut next = demo_with(&[
            (
                "database: sqlite://countersign.db",
                "database: sqlite://elsewhere.db",
            ),
            ("max_body_bytes: 262144", "max_body_bytes: 1234"),
            (
                "#   metrics_token: env:COUNTERSIGN_METRICS_TOKEN",
                "metrics_token: new-token",
            ),
        ]);
        let changed = keep_restart_only(&earlier, &serving, &mut next);
        assert_eq!(changed, ["server.database", "server.max_body_bytes"]);
        assert_eq!(next.server.database, "sqlite://override.db");
        assert_eq!(next.server.max_body_bytes, earlier.server.max_body_bytes);
        let token = next.server.metrics_token.as_ref().map(|t| t.expose());
        assert_eq!(token, Some("new-token"), "read per request: applies live");
    }

    #[test]
    fn an_unchanged_file_names_nothing() {
        let earlier = demo_with(&[]);
        let mut next = earlier.clone();
        assert!(keep_restart_only(&earlier, &earlier, &mut next).is_empty());
    }
}
