//! The reviewer's message, rendered from the escalation as it is now: full context and
//! buttons while its stage is open, a closing note once the stage moved on, the outcome
//! once decided. Pure: the same state renders the same blocks, so unchanged messages
//! are not updated.

use super::kit::{self, SECTION_TEXT};
use super::mrkdwn::{self, date, escape, escape_within, one_line};
use super::refs::{ActionRef, Button};
use crate::config::Config;
use crate::domain::{
    Decider, Decision, Directory, Escalation, NotifyReason, Opening, Outcome, ReviewerId,
    StageStatus, VoteChoice, eligibility,
};
use sha2::{Digest, Sha256};
use slack_morphism::prelude::*;
use std::collections::HashMap;

/// Everything a message is rendered from.
pub struct View<'a> {
    pub esc: &'a Escalation,
    pub config: &'a Config,
    pub dir: &'a Directory,
    /// Decided escalations with the same intent, newest first (this one is skipped).
    pub recent: &'a [Escalation],
    /// Reviewer id → Slack user id, to mention who is still awaited.
    pub slack_ids: &'a HashMap<String, String>,
}

/// Which message: the stage opening it asked about, and who it was sent to (`None`: a channel).
#[derive(Debug, Clone)]
pub struct Scope {
    pub opening: Opening,
    pub viewer: Option<ReviewerId>,
    pub reason: NotifyReason,
}

#[derive(Debug, Clone)]
pub struct Rendered {
    /// The notification text shown where blocks cannot be (phones, search).
    pub text: String,
    pub blocks: Vec<SlackBlock>,
}

impl Rendered {
    pub fn content(&self) -> SlackMessageContent {
        SlackMessageContent::new()
            .with_text(self.text.clone())
            .with_blocks(self.blocks.clone())
    }

    /// Identifies what a message shows, so an update that changes nothing is skipped.
    pub fn hash(&self) -> String {
        let json = serde_json::to_string(&(&self.text, &self.blocks)).unwrap_or_default();
        hex::encode(Sha256::digest(json.as_bytes()))
    }
}

/// Most recent decisions shown for the same intent.
pub const RECENT: usize = 5;
/// Longest single value in a field or list line, before the block limits apply.
const SHORT: usize = 300;
/// Longest list of names ("waiting on …") before "+N more".
const NAMES: usize = 12;

pub fn render(v: &View<'_>, s: &Scope) -> Rendered {
    let live = v.esc.is_open(s.opening);
    let summary = escape_within(&one_line(&v.esc.request.summary), kit::FALLBACK_TEXT).text;
    let (text, blocks) = if let Some(decision) = &v.esc.decision {
        (
            format!("{}: {summary}", outcome_word(decision.outcome)),
            decided(v, s, decision),
        )
    } else if live {
        (format!("Approval needed: {summary}"), open(v, s))
    } else {
        (format!("Stage closed: {summary}"), closed(v, s))
    };
    Rendered {
        text: kit::clamp_markup(&text, kit::FALLBACK_TEXT),
        blocks: kit::fit(blocks, kit::MESSAGE_BLOCKS),
    }
}

/// The full request: everything needed to decide, then the buttons (or the viewer's vote).
fn open(v: &View<'_>, s: &Scope) -> Vec<SlackBlock> {
    let esc = v.esc;
    let mut blocks = vec![kit::header(&format!(
        "🔐 Approval needed: {}",
        esc.request.intent
    ))];
    if let Some(note) = reason_note(s.reason, s.viewer.is_none()) {
        blocks.push(kit::context(&[note.to_owned()]));
    }
    blocks.push(summary(esc));
    blocks.push(kit::fields(&facts(v, s.opening.stage)));
    blocks.extend(risk_reasons(esc).map(|t| kit::section(&t)));
    blocks.extend(policy_reason(esc).map(|t| kit::section(&t)));
    blocks.extend(payload(esc).map(|t| kit::section(&t)));
    blocks.extend(activity(esc).map(|t| kit::section(&t)));
    blocks.extend(evidence(esc).map(|t| kit::section(&t)));
    blocks.push(kit::divider());
    blocks.push(kit::section(&progress(
        v,
        s.opening.stage,
        s.viewer.is_none(),
    )));
    blocks.push(kit::context(&recent_decisions(v)));
    match s
        .viewer
        .as_ref()
        .and_then(|r| own_vote(v, s.opening.stage, r))
    {
        Some(note) => blocks.push(kit::section(&note)),
        None => blocks.push(actions(esc, s.opening)),
    }
    blocks.push(footer(esc));
    blocks
}

/// The stage this message asked about moved on (approved, rolled back, reopened).
fn closed(v: &View<'_>, s: &Scope) -> Vec<SlackBlock> {
    let esc = v.esc;
    vec![
        kit::header(&format!("Stage closed: {}", esc.request.intent)),
        summary(esc),
        kit::fields(&facts(v, s.opening.stage)),
        kit::section(&closed_note(v, s)),
        footer(esc),
    ]
}

fn decided(v: &View<'_>, s: &Scope, decision: &Decision) -> Vec<SlackBlock> {
    let esc = v.esc;
    let mut blocks = vec![
        kit::header(&format!(
            "{} {}: {}",
            outcome_emoji(decision.outcome),
            outcome_word(decision.outcome),
            esc.request.intent
        )),
        summary(esc),
        kit::fields(&facts(v, s.opening.stage)),
        kit::section(&outcome(v, decision)),
    ];
    if let Some(note) = s
        .viewer
        .as_ref()
        .and_then(|r| own_vote(v, s.opening.stage, r))
    {
        blocks.push(kit::context(&[note]));
    }
    blocks.push(footer(esc));
    blocks
}

/// Why this message was sent, when it is not simply "the stage started".
fn reason_note(reason: NotifyReason, channel: bool) -> Option<&'static str> {
    match (reason, channel) {
        (NotifyReason::StageStarted, _) => None,
        (NotifyReason::Delegation, false) => Some(
            ":busts_in_silhouette: Nobody answered in time, so this request was delegated to you as well.",
        ),
        (NotifyReason::Delegation, true) => {
            Some(":busts_in_silhouette: Nobody answered in time, so more reviewers were added.")
        }
        (NotifyReason::SlaEscalation, false) => Some(
            ":rotating_light: This stage passed its SLA; you were added as its escalation contact.",
        ),
        (NotifyReason::SlaEscalation, true) => {
            Some(":rotating_light: This stage passed its SLA; its escalation contacts were added.")
        }
    }
}

fn summary(esc: &Escalation) -> SlackBlock {
    let cut = escape_within(&esc.request.summary, SECTION_TEXT - 100);
    let mut text = cut.text;
    if cut.omitted > 0 {
        text.push_str(&format!(
            "\n_Summary cut to fit: {} more characters not shown._",
            cut.omitted
        ));
    }
    kit::section(&text)
}

/// Agent-supplied one-liners, escaped and cut; "not given" when absent.
fn short(value: Option<&str>) -> String {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => escape_within(&one_line(s), SHORT).text,
        None => "_not given_".to_owned(),
    }
}

fn facts(v: &View<'_>, stage: usize) -> Vec<String> {
    let esc = v.esc;
    let agent = v
        .config
        .agent(esc.agent_id.as_str())
        .map_or(esc.agent_id.as_str(), |a| a.name.as_str());
    let spec = esc.workflow.stages.get(stage);
    vec![
        format!("*Agent*\n{}", short(Some(agent))),
        format!(
            "*Requested by*\n{}",
            short(esc.request.requested_by.as_deref())
        ),
        format!("*Intent*\n`{}`", short(Some(&esc.request.intent))),
        format!("*Resource*\n{}", short(esc.request.resource.as_deref())),
        format!("*Risk*\n{}", risk_score(esc)),
        format!(
            "*Policy*\n{}",
            short(esc.request.policy.as_ref().and_then(|p| p.id.as_deref()))
        ),
        format!(
            "*Stage*\n{} of {} · {}",
            stage + 1,
            esc.stages.len(),
            short(spec.map(|s| s.name.as_str()))
        ),
        format!("*Deadline*\n{}", date(esc.expires_at)),
    ]
}

fn risk_score(esc: &Escalation) -> String {
    match esc.request.risk_score() {
        Some(score) => {
            let dot = match score {
                80.. => ":red_circle:",
                50.. => ":large_orange_circle:",
                _ => ":large_green_circle:",
            };
            format!("{dot} *{score}* / 100")
        }
        None => "_not scored (treated as the highest)_".to_owned(),
    }
}

fn risk_reasons(esc: &Escalation) -> Option<String> {
    let reasons = &esc.request.risk.as_ref()?.reasons;
    let lines = reasons
        .iter()
        .map(|r| format!("• {}", escape_within(&one_line(r), SHORT * 2).text));
    bullets("*Why it is risky*", lines, reasons.len())
}

fn policy_reason(esc: &Escalation) -> Option<String> {
    let reason = esc.request.policy.as_ref()?.reason.as_deref()?;
    Some(format!(
        "*Policy reason*\n{}",
        escape_within(reason, SECTION_TEXT - 100).text
    ))
}

/// Pretty JSON in a code block, cut to fit with a note; the hash covers the whole payload.
fn payload(esc: &Escalation) -> Option<String> {
    let value = &esc.request.payload;
    if value.is_null() {
        return None;
    }
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    let cut = mrkdwn::code_block(&pretty, SECTION_TEXT - 300);
    let mut text = format!(
        "*Payload* · sha256 `{}…`\n{}",
        esc.payload_sha256.get(..16).unwrap_or(&esc.payload_sha256),
        cut.text
    );
    if cut.omitted > 0 {
        let total = pretty.chars().count();
        text.push_str(&format!(
            "\n_Payload cut to fit: {} of {total} characters shown. The sha256 covers all of it._",
            total - cut.omitted
        ));
    }
    Some(text)
}

fn activity(esc: &Escalation) -> Option<String> {
    let items = &esc.request.context.recent_activity;
    let lines = items.iter().map(|a| {
        let at = a.at.map(|t| format!("{} ", date(t))).unwrap_or_default();
        format!("• {at}{}", escape_within(&one_line(&a.summary), SHORT).text)
    });
    bullets("*Recent activity*", lines, items.len())
}

fn evidence(esc: &Escalation) -> Option<String> {
    let items = &esc.request.context.evidence;
    let lines = items
        .iter()
        .map(|e| format!("• {}", mrkdwn::link(&e.url, &e.label, SHORT)));
    bullets("*Evidence*", lines, items.len())
}

/// A titled list within one section's limit; lines that do not fit are counted in a note.
fn bullets(title: &str, lines: impl Iterator<Item = String>, total: usize) -> Option<String> {
    if total == 0 {
        return None;
    }
    const NOTE_RESERVE: usize = 60;
    let mut text = title.to_owned();
    let mut shown = 0;
    for line in lines {
        if mrkdwn::len(&text) + 1 + mrkdwn::len(&line) > SECTION_TEXT - NOTE_RESERVE {
            break;
        }
        text.push('\n');
        text.push_str(&line);
        shown += 1;
    }
    if shown < total {
        text.push_str(&format!("\n_…and {} more not shown._", total - shown));
    }
    Some(text)
}

/// Where the stage stands: quorum, who approved, who is still awaited, the SLA, earlier stages.
/// A channel post mentions the awaited reviewers, so Slack notifies them; a DM names them.
fn progress(v: &View<'_>, stage: usize, mentions: bool) -> String {
    let esc = v.esc;
    let (Some(state), Some(spec)) = (esc.stages.get(stage), esc.workflow.stages.get(stage)) else {
        return String::new();
    };
    let needed = spec.required_approvals;
    let mut lines = vec![format!(
        "*Stage {} of {} · {}* — needs {needed} approval{}",
        stage + 1,
        esc.stages.len(),
        escape(&spec.name),
        if needed == 1 { "" } else { "s" }
    )];
    let approvals: Vec<String> = state.approvals().map(|vote| approver(v, vote)).collect();
    lines.push(if approvals.is_empty() {
        ":white_circle: No approvals yet.".to_owned()
    } else {
        format!(":white_check_mark: Approved by {}", approvals.join(", "))
    });
    let waiting: Vec<String> = eligibility::eligible(esc, v.dir)
        .iter()
        .map(|r| {
            if mentions {
                mention(v, r)
            } else {
                escape(&reviewer_name(v.config, r.as_str()))
            }
        })
        .collect();
    if !waiting.is_empty() {
        lines.push(format!(
            ":hourglass_flowing_sand: Waiting on {}",
            name_list(&waiting)
        ));
    }
    if let Some(sla) = state.sla_deadline {
        let past = if state.status == StageStatus::Escalated {
            " — *past its SLA, escalated*"
        } else {
            ""
        };
        lines.push(format!(":alarm_clock: SLA {}{past}", date(sla)));
    }
    lines.extend(earlier_stages(v, stage));
    lines.join("\n")
}

fn earlier_stages(v: &View<'_>, stage: usize) -> Vec<String> {
    let esc = v.esc;
    (0..stage)
        .filter(|i| esc.stages[*i].status == StageStatus::Approved)
        .map(|i| {
            let names: Vec<String> = esc.stages[i].approvals().map(|x| approver(v, x)).collect();
            format!(
                ":ballot_box_with_check: Stage {} · {} approved by {}",
                i + 1,
                escape(&esc.workflow.stages[i].name),
                names.join(", ")
            )
        })
        .collect()
}

fn approver(v: &View<'_>, vote: &crate::domain::Vote) -> String {
    let name = escape(&reviewer_name(v.config, vote.reviewer.as_str()));
    if vote.conditions.is_empty() {
        return name;
    }
    let conditions: Vec<String> = vote
        .conditions
        .iter()
        .map(|c| escape_within(&one_line(c), 120).text)
        .collect();
    format!("{name} (conditions: {})", conditions.join("; "))
}

fn name_list(names: &[String]) -> String {
    let mut shown: Vec<&str> = names.iter().take(NAMES).map(String::as_str).collect();
    let more = names.len().saturating_sub(NAMES);
    let more = format!("+{more} more");
    if names.len() > NAMES {
        shown.push(&more);
    }
    shown.join(", ")
}

/// `<@U…>` when the reviewer's Slack id is known, else their configured name.
fn mention(v: &View<'_>, reviewer: &ReviewerId) -> String {
    let configured = v
        .config
        .reviewer(reviewer.as_str())
        .and_then(|r| r.slack_user.clone());
    match configured.or_else(|| v.slack_ids.get(reviewer.as_str()).cloned()) {
        Some(id) if id.chars().all(|c| c.is_ascii_alphanumeric()) => format!("<@{id}>"),
        _ => escape(&reviewer_name(v.config, reviewer.as_str())),
    }
}

fn reviewer_name(config: &Config, id: &str) -> String {
    config
        .reviewer(id)
        .map_or_else(|| id.to_owned(), |r| r.name.clone())
}

/// Who decided: a reviewer's name, or the agent's.
fn decider_name(config: &Config, who: &Decider) -> String {
    match who {
        Decider::Agent(agent) => config
            .agent(agent.as_str())
            .map_or_else(|| agent.to_string(), |a| a.name.clone()),
        Decider::Reviewer(id) => reviewer_name(config, id.as_str()),
    }
}

fn recent_decisions(v: &View<'_>) -> Vec<String> {
    let others: Vec<&Escalation> = v
        .recent
        .iter()
        .filter(|e| e.id != v.esc.id)
        .take(RECENT)
        .collect();
    if others.is_empty() {
        return vec!["_No earlier decisions for this intent._".to_owned()];
    }
    let mut items = vec!["*Recent decisions for this intent:*".to_owned()];
    items.extend(others.iter().filter_map(|e| {
        let d = e.decision.as_ref()?;
        let by = decided_by(v, d);
        Some(format!(
            "{} {} {}{by}",
            outcome_emoji(d.outcome),
            outcome_word(d.outcome).to_lowercase(),
            date(d.decided_at)
        ))
    }));
    items
}

/// The viewer's own vote at this stage, if they cast one.
fn own_vote(v: &View<'_>, stage: usize, reviewer: &ReviewerId) -> Option<String> {
    let vote = v
        .esc
        .stages
        .get(stage)?
        .votes
        .iter()
        .find(|x| &x.reviewer == reviewer)?;
    let mut text = match vote.choice {
        VoteChoice::Approve => format!(":white_check_mark: *You approved* {}", date(vote.at)),
        VoteChoice::Deny => format!(":no_entry: *You denied* {}", date(vote.at)),
    };
    if !vote.conditions.is_empty() {
        let list: Vec<String> = vote
            .conditions
            .iter()
            .map(|c| escape_within(&one_line(c), SHORT).text)
            .collect();
        text.push_str(&format!(" with conditions: {}", list.join("; ")));
    }
    if let Some(comment) = &vote.comment {
        text.push_str(&format!(
            "\n>{}",
            escape_within(&one_line(comment), 1000).text
        ));
    }
    if v.esc.is_pending() {
        text.push_str("\n_Waiting for the other reviewers._");
    }
    Some(text)
}

fn actions(esc: &Escalation, opening: Opening) -> SlackBlock {
    let value = ActionRef::new(esc, opening).encode();
    let mut elements = vec![button(
        Button::Approve,
        "Approve",
        Some(SlackBlockButtonStyle::Primary),
        &value,
    )];
    if !esc.workflow.conditions.is_empty() {
        elements.push(button(
            Button::ApproveWithConditions,
            "Approve with conditions…",
            None,
            &value,
        ));
    }
    let confirm = SlackBlockConfirmItem::new(
        kit::plain("Deny this request?", kit::CONFIRM_TITLE),
        kit::md(
            "You will be asked for a reason. The agent is told it may not proceed.",
            kit::CONFIRM_TEXT,
        ),
        kit::plain("Deny…", kit::CONFIRM_BUTTON),
        kit::plain("Cancel", kit::CONFIRM_BUTTON),
    )
    .with_style("danger".to_owned());
    let deny = match button(
        Button::Deny,
        "Deny",
        Some(SlackBlockButtonStyle::Danger),
        &value,
    ) {
        SlackActionBlockElement::Button(b) => b.with_confirm(confirm).into(),
        other => other,
    };
    elements.push(deny);
    SlackActionsBlock::new(elements)
        .with_block_id(kit::block_id("countersign_actions"))
        .into()
}

fn button(
    action: Button,
    label: &str,
    style: Option<SlackBlockButtonStyle>,
    value: &str,
) -> SlackActionBlockElement {
    SlackBlockButtonElement::new(kit::plain(label, kit::BUTTON_TEXT))
        .with_action_id(SlackActionId(action.action_id().to_owned()))
        .with_value(mrkdwn::plain_within(value, kit::BUTTON_VALUE))
        .opt_style(style)
        .into()
}

fn closed_note(v: &View<'_>, s: &Scope) -> String {
    let esc = v.esc;
    let same_round = esc
        .stages
        .get(s.opening.stage)
        .is_some_and(|st| st.round == s.opening.round);
    let stage = esc.stages.get(s.opening.stage);
    let mut text = match stage {
        Some(st) if same_round && st.status == StageStatus::Approved => {
            let names: Vec<String> = st.approvals().map(|x| approver(v, x)).collect();
            format!(
                ":white_check_mark: *Stage {} approved* by {}. Nothing more is needed from you here.",
                s.opening.stage + 1,
                names.join(", ")
            )
        }
        _ => ":leftwards_arrow_with_hook: *This round is closed*: the request was sent back to an earlier stage or reopened. If your review is needed again, you will get a new message.".to_owned(),
    };
    if let Some(spec) = esc.workflow.stages.get(esc.current_stage) {
        text.push_str(&format!(
            "\nNow at stage {} of {} · {}.",
            esc.current_stage + 1,
            esc.stages.len(),
            escape(&spec.name)
        ));
    }
    text
}

/// " by Alice, Bob" (escaped), or nothing for a decision no person made (a timeout).
fn decided_by(v: &View<'_>, d: &Decision) -> String {
    let names: Vec<String> = d
        .decided_by
        .iter()
        .map(|w| escape(&decider_name(v.config, w)))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" by {}", names.join(", "))
    }
}

fn outcome(v: &View<'_>, d: &Decision) -> String {
    let by = decided_by(v, d);
    let mut text = format!(
        "{} *{}* {}{by}",
        outcome_emoji(d.outcome),
        outcome_word(d.outcome),
        date(d.decided_at)
    );
    if !d.conditions.is_empty() {
        let lines = d
            .conditions
            .iter()
            .map(|c| format!("• {}", escape_within(&one_line(c), SHORT * 2).text));
        if let Some(list) = bullets("*Conditions*", lines, d.conditions.len()) {
            text.push('\n');
            text.push_str(&list);
        }
    }
    if let Some(reason) = &d.reason {
        text.push_str(&format!(
            "\n*Reason:* {}",
            escape_within(reason, SECTION_TEXT / 2).text
        ));
    }
    text
}

fn footer(esc: &Escalation) -> SlackBlock {
    kit::context(&[format!(
        "`{}` · workflow `{}` · payload sha256 `{}…`",
        esc.id,
        escape(&esc.workflow.id),
        esc.payload_sha256.get(..16).unwrap_or(&esc.payload_sha256)
    )])
}

pub fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Approved => "Approved",
        Outcome::Denied => "Denied",
        Outcome::Expired => "Expired",
        Outcome::Cancelled => "Cancelled",
    }
}

fn outcome_emoji(o: Outcome) -> &'static str {
    match o {
        Outcome::Approved => "✅",
        Outcome::Denied => "⛔",
        Outcome::Expired => "⌛",
        Outcome::Cancelled => "🚫",
    }
}
