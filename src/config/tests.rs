//! Tests of the whole loading pipeline: demo config, every validation rule, selection.

use super::*;
use crate::domain::{AgentId, ChannelKind, ReviewerId, TimeoutAction};

fn no_env(_: &str) -> Option<String> {
    None
}

/// A small valid config the rule tests start from, each changing one thing.
const BASE: &str = r#"
email:
  smtp_url: file://./mail
  from: "countersign <approvals@example.com>"
agents:
  - id: bot
    name: Bot
    api_key: bot-key
    webhook_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
reviewers:
  - {id: alice, name: Alice, email: alice@example.com, roles: [analyst], department: Security, api_key: alice-key}
  - {id: bob, name: Bob, email: bob@example.com, roles: [engineer], department: Platform}
  - {id: carol, name: Carol, email: Carol@Example.com, roles: [engineer], department: Platform, slack_user: UCAROL}
workflows:
  - id: only
    channels: [email]
    stages:
      - name: One
        approvers: ["role:engineer"]
"#;

fn load(yaml: &str) -> Result<Loaded, ConfigError> {
    load_str_with(yaml, "test", &no_env)
}

fn base_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE lacks {from:?}");
    BASE.replacen(from, to, 1)
}

/// Loads `yaml`, expects failure, and returns the error issues as `path: message`.
fn errors(yaml: &str) -> Vec<ConfigIssue> {
    let err = load(yaml).expect_err("config should be refused");
    err.errors().cloned().collect()
}

fn has_error(yaml: &str, path: &str, needle: &str) {
    let errs = errors(yaml);
    assert!(
        errs.iter()
            .any(|e| e.path == path && e.message.contains(needle)),
        "no error at {path} containing {needle:?}; got {errs:#?}"
    );
}

fn warnings(yaml: &str) -> Vec<ConfigIssue> {
    match load(yaml) {
        Ok(l) => l.warnings,
        Err(e) => panic!("config refused: {e}"),
    }
}

#[test]
fn base_is_valid_without_warnings() {
    assert_eq!(warnings(BASE), vec![]);
}

#[test]
fn demo_config_loads_without_errors_or_warnings() {
    let loaded = load_embedded_with(&no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.warnings, vec![]);
    let c = &loaded.config;
    assert!(c.slack.is_none());
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.server.database, "sqlite://countersign.db");
    assert_eq!(
        c.agent("demo-agent").unwrap().webhook_key().unwrap(),
        b"countersign-demo-webhook-secret"
    );
    let ids: Vec<_> = c.workflow_specs().iter().map(|w| w.id.as_str()).collect();
    assert_eq!(
        ids,
        ["rollbacks", "single", "two-of-three", "critical-risk"]
    );
    let rollbacks = c.workflow("rollbacks").unwrap();
    assert_eq!(rollbacks.auto, Some(crate::domain::AutoDecision::Approve));
    let two = c.workflow("two-of-three").unwrap();
    assert_eq!(two.channels, [ChannelKind::Email]);
    assert_eq!(two.timeout, std::time::Duration::from_secs(4 * 3600));
    assert_eq!(two.timeout_action, TimeoutAction::Deny);
    let critical = c.workflow("critical-risk").unwrap();
    assert_eq!(critical.stages.len(), 3);
    assert_eq!(
        critical.stages[0].approvers,
        vec![ReviewerId::from("alice")]
    );
    assert_eq!(
        critical.stages[0].delegation[0].approvers,
        vec![ReviewerId::from("erin")]
    );
    assert_eq!(
        critical.stages[0].escalation_target,
        vec![ReviewerId::from("erin")]
    );
    assert_eq!(
        critical.stages[1].approvers,
        vec![ReviewerId::from("bob"), ReviewerId::from("carol")]
    );
    assert_eq!(critical.separation_of_duties.minimum_unique_approvers, 3);
}

#[test]
fn demo_turns_slack_on_with_a_token() {
    let env = |n: &str| match n {
        "SLACK_BOT_TOKEN" => Some("xoxb-1".to_owned()),
        "SLACK_SIGNING_SECRET" => Some("sign".to_owned()),
        _ => None,
    };
    let loaded = load_embedded_with(&env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.warnings, vec![]);
    let slack = loaded.config.slack.as_ref().unwrap();
    assert_eq!(slack.bot_token.expose(), "xoxb-1");
    assert_eq!(slack.api_url, "https://slack.com/api/");
    assert!(
        loaded
            .config
            .workflow_specs()
            .iter()
            .all(|w| w.channels == [ChannelKind::Slack, ChannelKind::Email])
    );
}

#[test]
fn demo_with_token_but_no_signing_secret_names_the_variable() {
    let env = |n: &str| (n == "SLACK_BOT_TOKEN").then(|| "xoxb-1".to_owned());
    let err = load_embedded_with(&env).unwrap_err();
    let e = err.errors().next().unwrap();
    assert_eq!(e.path, "slack.signing_secret");
    assert!(e.message.contains("SLACK_SIGNING_SECRET"));
}

#[test]
fn defaults_apply() {
    let c = load(BASE).unwrap().config;
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.server.public_url, "http://127.0.0.1:8080");
    assert_eq!(c.server.max_body_bytes, 262_144);
    assert!(c.server.previous_link_secrets.is_empty());
    assert_eq!(c.delivery.max_age.as_secs(), 24 * 3600);
    assert_eq!(c.delivery.initial_backoff.as_secs(), 1);
    assert_eq!(c.delivery.max_backoff.as_secs(), 600);
    assert!(c.email.as_ref().unwrap().send_outcome);
    let w = c.workflow("only").unwrap();
    assert_eq!(w.timeout.as_secs(), 24 * 3600);
    assert_eq!(w.timeout_action, TimeoutAction::Deny);
    assert_eq!(w.stages[0].required_approvals, 1);
    assert_eq!(
        w.separation_of_duties,
        crate::domain::SeparationOfDuties::default()
    );
}

#[test]
fn public_url_follows_a_listen_override_only_when_defaulted() {
    let mut c = load(BASE).unwrap().config;
    c.server.override_listen("127.0.0.1:9999".parse().unwrap());
    assert_eq!(c.server.public_url, "http://127.0.0.1:9999");
    let yaml = format!("server: {{public_url: 'https://cs.example.com/'}}\n{BASE}");
    let mut c = load(&yaml).unwrap().config;
    assert_eq!(c.server.public_url, "https://cs.example.com");
    c.server.override_listen("127.0.0.1:9999".parse().unwrap());
    assert_eq!(c.server.public_url, "https://cs.example.com");
}

#[test]
fn slack_api_url_gets_a_trailing_slash() {
    let yaml = format!(
        "slack: {{bot_token: t, signing_secret: s, api_url: 'http://127.0.0.1:1234/api'}}\n{BASE}"
    );
    let c = load(&yaml).unwrap().config;
    assert_eq!(c.slack.unwrap().api_url, "http://127.0.0.1:1234/api/");
}

#[test]
fn env_values_are_resolved_and_unset_ones_named() {
    let yaml = base_with("api_key: bot-key", "api_key: env:BOT_KEY");
    let env = |n: &str| (n == "BOT_KEY").then(|| "from-env".to_owned());
    let c = load_str_with(&yaml, "t", &env).unwrap().config;
    assert!(c.agent_by_api_key("from-env").is_some());
    // Unset: one error naming path and variable, and no follow-on noise about the value.
    let yaml = base_with(
        "webhook_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "webhook_secret: env:BOT_WHSEC",
    );
    let errs = errors(&yaml);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].path, "agents[0].webhook_secret");
    assert!(errs[0].message.contains("BOT_WHSEC"));
}

#[test]
fn unset_env_in_a_typed_field_is_reported_once() {
    let yaml = format!("server: {{listen: env:LISTEN}}\n{BASE}");
    let errs = errors(&yaml);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].path, "server.listen");
    assert!(errs[0].message.contains("LISTEN"));
}

#[test]
fn unknown_keys_and_bad_types_name_their_path() {
    has_error(
        &base_with("channels: [email]", "channels: [email]\n    tiemout: 2h"),
        "workflows[0].tiemout",
        "unknown field",
    );
    has_error(
        &base_with("channels: [email]", "channels: [email]\n    timeout: soon"),
        "workflows[0].timeout",
        "duration",
    );
    has_error(
        &base_with(
            "channels: [email]",
            "channels: [email]\n    timeout_action: maybe",
        ),
        "workflows[0].timeout_action",
        "unknown variant",
    );
}

#[test]
fn invalid_yaml_and_empty_file_are_errors() {
    assert!(!errors("a: [").is_empty());
    has_error("", "", "empty");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let yaml = base_with(
        "approvers: [\"role:engineer\"]",
        "approvers: [\"role:nobody\", \"user:zed\"]",
    )
    .replace("alice@example.com", "not-an-email");
    let errs = errors(&yaml);
    let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"workflows[0].stages[0].approvers[0]"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"workflows[0].stages[0].approvers[1]"),
        "{paths:?}"
    );
    assert!(paths.contains(&"reviewers[0].email"), "{paths:?}");
}

#[test]
fn duplicate_ids() {
    let dup_agent = base_with(
        "reviewers:",
        "  - {id: bot, name: B2, api_key: k2, webhook_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}\nreviewers:",
    );
    has_error(&dup_agent, "agents[1].id", "duplicate agent id");
    let dup_reviewer = base_with(
        "workflows:",
        "  - {id: bob, name: Bob2, email: bob2@example.com}\nworkflows:",
    );
    has_error(&dup_reviewer, "reviewers[3].id", "duplicate reviewer id");
    let dup_workflow = format!(
        "{BASE}  - id: only\n    channels: [email]\n    stages: [{{name: S, approvers: [\"user:bob\"]}}]\n"
    );
    has_error(&dup_workflow, "workflows[1].id", "duplicate workflow id");
}

#[test]
fn duplicate_emails_and_slack_users() {
    let yaml = base_with(
        "workflows:",
        "  - {id: dan, name: Dan, email: CAROL@example.com, slack_user: UCAROL}\nworkflows:",
    );
    has_error(&yaml, "reviewers[3].email", "duplicate reviewer email");
    has_error(&yaml, "reviewers[3].slack_user", "duplicate slack_user");
}

#[test]
fn duplicate_api_keys_across_agents_and_reviewers() {
    let yaml = base_with("api_key: alice-key", "api_key: bot-key");
    has_error(&yaml, "reviewers[0].api_key", "agents[0].api_key");
}

#[test]
fn empty_api_key_is_an_error() {
    has_error(
        &base_with("api_key: bot-key", "api_key: ''"),
        "agents[0].api_key",
        "empty",
    );
}

#[test]
fn reviewer_email_must_look_valid() {
    has_error(
        &base_with("bob@example.com", "bob-at-example"),
        "reviewers[1].email",
        "not an email",
    );
}

#[test]
fn unknown_role_and_user_references() {
    let yaml = base_with(
        "\"role:engineer\"",
        "\"role:engineer\", \"role:sre\", \"user:zed\", \"user:carol@example.com\", \"bob\"",
    );
    has_error(
        &yaml,
        "workflows[0].stages[0].approvers[1]",
        "no reviewer has role `sre`",
    );
    has_error(
        &yaml,
        "workflows[0].stages[0].approvers[2]",
        "no reviewer has id or email `zed`",
    );
    has_error(
        &yaml,
        "workflows[0].stages[0].approvers[4]",
        "not a reviewer reference",
    );
    // user:EMAIL matched case-insensitively: no error at [3].
    assert!(
        errors(&yaml)
            .iter()
            .all(|e| e.path != "workflows[0].stages[0].approvers[3]")
    );
}

#[test]
fn empty_approvers() {
    has_error(
        &base_with("approvers: [\"role:engineer\"]", "approvers: []"),
        "workflows[0].stages[0].approvers",
        "no approvers",
    );
    let yaml = base_with(
        "approvers: [\"role:engineer\"]",
        "approvers: [\"role:engineer\"]\n        delegation: [{after: 5m, approvers: []}]",
    );
    has_error(
        &yaml,
        "workflows[0].stages[0].delegation[0].approvers",
        "no approvers",
    );
}

#[test]
fn stage_count_is_one_to_five() {
    let none = base_with(
        "    stages:\n      - name: One\n        approvers: [\"role:engineer\"]\n",
        "    stages: []\n",
    );
    has_error(&none, "workflows[0].stages", "1 to 5");
    let stage = "      - {name: S, approvers: [\"role:engineer\"]}\n";
    let six = base_with(
        "    stages:\n",
        &format!(
            "    separation_of_duties: {{require_different_approvers: false}}\n    stages:\n{}",
            stage.repeat(5)
        ),
    );
    has_error(&six, "workflows[0].stages", "has 6 stages");
}

#[test]
fn required_approvals_bounds() {
    let path = "workflows[0].stages[0].required_approvals";
    has_error(
        &base_with(
            "approvers: [\"role:engineer\"]",
            "approvers: [\"role:engineer\"]\n        required_approvals: 0",
        ),
        path,
        "at least 1",
    );
    has_error(
        &base_with(
            "approvers: [\"role:engineer\"]",
            "approvers: [\"role:engineer\"]\n        required_approvals: 3",
        ),
        path,
        "only 2 eligible",
    );
    // Delegation tiers and the escalation target count towards what is possible...
    let widened = "approvers: [\"role:engineer\"]\n        required_approvals: 3\n        escalation_target: user:alice";
    assert!(load(&base_with("approvers: [\"role:engineer\"]", widened)).is_ok());
    // ...but only those passing required_role do.
    let gated = format!("{widened}\n        required_role: engineer");
    has_error(
        &base_with("approvers: [\"role:engineer\"]", &gated),
        path,
        "only 2 eligible",
    );
    let dept = "approvers: [\"user:alice\", \"user:bob\"]\n        required_approvals: 2\n        required_department: Platform";
    has_error(
        &base_with("approvers: [\"role:engineer\"]", dept),
        path,
        "only 1 eligible",
    );
}

#[test]
fn escalation_target_without_required_role_is_a_warning() {
    let yaml = base_with(
        "approvers: [\"role:engineer\"]",
        "approvers: [\"role:engineer\"]\n        required_role: engineer\n        escalation_target: user:alice",
    );
    let w = warnings(&yaml);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0].path, "workflows[0].stages[0].escalation_target");
    assert!(w[0].message.contains("alice"));
}

#[test]
fn required_role_nobody_has() {
    let yaml = base_with(
        "approvers: [\"role:engineer\"]",
        "approvers: [\"role:engineer\"]\n        required_role: wizard",
    );
    has_error(&yaml, "workflows[0].stages[0].required_role", "wizard");
}

#[test]
fn minimum_unique_approvers_bound() {
    let yaml = base_with(
        "    stages:\n",
        "    separation_of_duties: {minimum_unique_approvers: 3}\n    stages:\n",
    );
    has_error(
        &yaml,
        "workflows[0].separation_of_duties.minimum_unique_approvers",
        "only 2",
    );
}

#[test]
fn different_approvers_must_be_staffable() {
    let two = "    stages:\n      - {name: A, approvers: [\"user:bob\"]}\n      - {name: B, approvers: [\"user:bob\"]}\n";
    let yaml = base_with(
        "    stages:\n      - name: One\n        approvers: [\"role:engineer\"]\n",
        two,
    );
    has_error(&yaml, "workflows[0].stages", "require_different_approvers");
    let allowed = yaml.replace(
        "    stages:\n",
        "    separation_of_duties: {require_different_approvers: false}\n    stages:\n",
    );
    assert!(load(&allowed).is_ok());
}

#[test]
fn risk_range_checks() {
    let m = |risk: &str| {
        base_with(
            "  - id: only\n",
            &format!("  - id: only\n    match: {{risk: {risk}}}\n"),
        )
    };
    has_error(
        &m("{min: 60, max: 40}"),
        "workflows[0].match.risk",
        "greater than max",
    );
    has_error(
        &m("{min: -1, max: 40}"),
        "workflows[0].match.risk.min",
        "outside 0..=100",
    );
    has_error(
        &m("{min: 0, max: 101}"),
        "workflows[0].match.risk.max",
        "outside 0..=100",
    );
}

#[test]
fn unknown_agent_in_match() {
    let yaml = base_with(
        "  - id: only\n",
        "  - id: only\n    match: {agents: [bot, ghost]}\n",
    );
    has_error(&yaml, "workflows[0].match.agents[1]", "ghost");
}

#[test]
fn webhook_secret_format() {
    let path = "agents[0].webhook_secret";
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    has_error(
        &base_with(secret, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        path,
        "whsec_",
    );
    has_error(&base_with(secret, "whsec_%%%"), path, "base64");
}

#[test]
fn channels() {
    has_error(
        &base_with("channels: [email]", "channels: [email, pager]"),
        "workflows[0].channels[1]",
        "unknown channel",
    );
    let w = warnings(&base_with("channels: [email]", "channels: [slack, email]"));
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0].path, "workflows[0].channels[0]");
    assert_eq!(w[0].severity, Severity::Warning);
    // Default channels are slack + email; with no slack section that warns too.
    let w = warnings(&base_with("    channels: [email]\n", ""));
    assert_eq!(w.len(), 1, "{w:#?}");
    let no_email = base_with(
        "email:\n  smtp_url: file://./mail\n  from: \"countersign <approvals@example.com>\"\n",
        "",
    );
    assert_eq!(warnings(&no_email)[0].path, "workflows[0].channels[0]");
}

#[test]
fn timeout_action_approve_warns_fail_open() {
    let w = warnings(&base_with(
        "channels: [email]",
        "channels: [email]\n    timeout_action: approve",
    ));
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0].path, "workflows[0].timeout_action");
    assert!(w[0].message.contains("fails open"));
}

#[test]
fn email_settings() {
    has_error(
        &base_with("file://./mail", "imap://mail"),
        "email.smtp_url",
        "smtp://",
    );
    has_error(
        &base_with("\"countersign <approvals@example.com>\"", "nobody"),
        "email.from",
        "mailbox",
    );
    assert!(load(&base_with("file://./mail", "smtps://u:p@mail.example.com")).is_ok());
}

#[test]
fn callback_url_must_be_absolute_http() {
    let yaml = base_with(
        "api_key: bot-key",
        "api_key: bot-key\n    callback_url: /hooks",
    );
    has_error(&yaml, "agents[0].callback_url", "absolute");
    let yaml = base_with(
        "api_key: bot-key",
        "api_key: bot-key\n    callback_url: ftp://x/hooks",
    );
    has_error(&yaml, "agents[0].callback_url", "http");
}

#[test]
fn config_error_display_lists_paths() {
    let err = load(&base_with("api_key: bot-key", "api_key: ''")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("agents[0].api_key: is empty"), "{text}");
}

#[test]
fn secrets_never_print() {
    let c = load(BASE).unwrap().config;
    let dump = format!("{c:?}");
    assert!(!dump.contains("bot-key"), "{dump}");
    assert!(!dump.contains("alice-key"));
    assert!(!dump.contains("MfKQ9r8"));
}

#[test]
fn lookups() {
    let c = load(BASE).unwrap().config;
    assert_eq!(c.agent_by_api_key("bot-key").unwrap().id.as_str(), "bot");
    assert!(c.agent_by_api_key("alice-key").is_none());
    assert!(c.agent_by_api_key("").is_none());
    assert_eq!(
        c.reviewer_by_api_key("alice-key").unwrap().id.as_str(),
        "alice"
    );
    assert!(c.reviewer_by_api_key("bot-key").is_none());
    assert_eq!(
        c.reviewer_by_slack_user("UCAROL").unwrap().id.as_str(),
        "carol"
    );
    assert_eq!(
        c.reviewer_by_email("carol@example.COM")
            .unwrap()
            .id
            .as_str(),
        "carol"
    );
    assert_eq!(c.agent("bot").unwrap().name, "Bot");
    assert_eq!(
        c.directory().get(&ReviewerId::from("bob")).unwrap().roles,
        ["engineer"]
    );
}

/// Three workflows written in an order where file order matters.
const SELECTION: &str = r#"
email: {smtp_url: "file://./mail", from: "cs <cs@example.com>"}
agents:
  - {id: bot, name: Bot, api_key: k1, webhook_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}
  - {id: ops, name: Ops, api_key: k2, webhook_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}
reviewers:
  - {id: bob, name: Bob, email: bob@example.com}
workflows:
  - id: ops-only
    match: {agents: [ops]}
    channels: [email]
    stages: [{name: S, approvers: ["user:bob"]}]
  - id: prod-high
    match: {intents: ["*.production", "db.drop?"], risk: {min: 70, max: 100}}
    channels: [email]
    stages: [{name: S, approvers: ["user:bob"]}]
  - id: low
    match: {risk: {min: 0, max: 69}}
    channels: [email]
    stages: [{name: S, approvers: ["user:bob"]}]
"#;

#[test]
fn workflow_selection() {
    let c = load(SELECTION).unwrap_or_else(|e| panic!("{e}")).config;
    let pick = |agent: &str, intent: &str, risk: Option<u8>| {
        let agent = AgentId::from(agent);
        let body = serde_json::json!({});
        let subject = crate::domain::policy::Subject {
            agent: &agent,
            intent,
            risk_score: risk,
            body: &body,
        };
        c.select_workflow(&subject).map(|w| w.id.as_str())
    };
    // First match in file order wins, even when a later one also fits.
    assert_eq!(pick("ops", "deploy.production", Some(10)), Some("ops-only"));
    assert_eq!(
        pick("bot", "infra.deploy.production", Some(80)),
        Some("prod-high")
    );
    assert_eq!(pick("bot", "db.drop1", Some(70)), Some("prod-high"));
    assert_eq!(pick("bot", "deploy.production", Some(69)), Some("low"));
    // Risk bounds are inclusive; outside every range nothing matches (fail closed).
    assert_eq!(pick("bot", "deploy.staging", Some(0)), Some("low"));
    assert_eq!(pick("bot", "deploy.staging", Some(80)), None);
    // A missing score counts as 100.
    assert_eq!(pick("bot", "deploy.production", None), Some("prod-high"));
    assert_eq!(pick("bot", "deploy.staging", None), None);
}

#[test]
fn callback_and_rate_limit_defaults() {
    let c = load(BASE).unwrap().config;
    assert!(!c.server.allow_private_callbacks);
    let a = &c.agents[0];
    assert_eq!(a.rate_limit, RateLimitConfig::default());
    assert_eq!(a.rate_limit.max_pending, 10_000);
    assert_eq!(a.rate_limit.per_second, None);
    assert!(a.allowed_callback_hosts().is_empty());
    let with_url = base_with(
        "    api_key: bot-key\n",
        "    api_key: bot-key\n    callback_url: https://Hooks.Example.com/cb\n",
    );
    let c = load(&with_url).unwrap().config;
    assert_eq!(
        c.agents[0].allowed_callback_hosts(),
        ["hooks.example.com:443"]
    );
}

#[test]
fn callback_hosts_and_rate_limits_are_checked_with_paths() {
    let bad = base_with(
        "    api_key: bot-key\n",
        "    api_key: bot-key\n    callback_hosts: [\"ok.example.com:443\", \"no-port.example.com\"]\n    rate_limit: {per_second: 0, burst: 0, max_pending: 0}\n",
    );
    has_error(&bad, "agents[0].callback_hosts[1]", "host:port");
    has_error(&bad, "agents[0].rate_limit.per_second", "at least 1");
    has_error(&bad, "agents[0].rate_limit.burst", "at least 1");
    has_error(&bad, "agents[0].rate_limit.max_pending", "at least 1");
    let orphan = base_with(
        "    api_key: bot-key\n",
        "    api_key: bot-key\n    rate_limit: {burst: 5}\n",
    );
    has_error(&orphan, "agents[0].rate_limit.burst", "per_second");
    let typo = base_with(
        "    api_key: bot-key\n",
        "    api_key: bot-key\n    rate_limit: {per_secnd: 5}\n",
    );
    assert!(load(&typo).is_err());
}

/// Typed conditions: each rule of `workflows[].conditions[]` with its YAML path.
mod conditions;

/// Templates and automatic decisions (design.md §9).
mod policy;

#[test]
fn when_conditions_are_checked_with_their_yaml_paths() {
    let yaml = base_with(
        "    channels: [email]\n",
        "    channels: [email]\n    match:\n      when:\n        - {path: /payload/amount, gt: '100'}\n        - {path: payload/amount, gt: 1}\n        - {path: /a, between: 1}\n        - {path: /a}\n        - {path: /a, gt: 1, lt: 2}\n        - {path: /a, in: x}\n        - {path: /a, glob: 1}\n        - {path: /a, exists: 1}\n",
    );
    let paths: Vec<String> = errors(&yaml).into_iter().map(|e| e.path).collect();
    let at = |s: &str| format!("workflows[0].match.when{s}");
    assert_eq!(
        paths,
        [
            at("[0].gt"),
            at("[1].path"),
            at("[2].between"),
            at("[3]"),
            at("[4].lt"),
            at("[5].in"),
            at("[6].glob"),
            at("[7].exists"),
        ]
    );
    let fine = base_with(
        "    channels: [email]\n",
        "    channels: [email]\n    match:\n      when: [{path: /payload/amount, gt: 100}]\n",
    );
    assert!(load(&fine).is_ok());
}
