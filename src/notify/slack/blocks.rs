//! The reviewer's message, rendered from the escalation's view as it is now: full context
//! and buttons while its stage is open, a closing note once the stage moved on, the
//! outcome once decided. Pure: the same state renders the same blocks, so unchanged
//! messages are not updated.

use super::kit::{self, SECTION_TEXT};
use super::mrkdwn::{self, date, escape, escape_within, one_line};
use super::refs::{ActionRef, Button};
use super::revision as changes;
use crate::config::Config;
use crate::domain::{
    Directory, Escalation, NotifyReason, Opening, Outcome, ReviewerId, StageStatus, VoteChoice,
};
use crate::view::constraints::constraint_lines;
use crate::view::revision::{self, RevisionView};
use crate::view::{Approval, DecisionView, EscalationView, Person, ViewInput, plural};
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
pub const RECENT: usize = crate::view::RECENT_DECISIONS;
/// Longest single value in a field or list line, before the block limits apply.
const SHORT: usize = 300;
/// Longest list of names ("waiting on …") before "+N more".
const NAMES: usize = 12;

/// What the block builders read: the one view, plus what only Slack needs (mentions).
struct Msg<'a> {
    view: EscalationView<'a>,
    config: &'a Config,
    slack_ids: &'a HashMap<String, String>,
    /// What changed since the previous submission, when this one is a revision.
    revision: Option<RevisionView>,
}

pub fn render(v: &View<'_>, s: &Scope) -> Rendered {
    let live = v.esc.is_open(s.opening);
    let m = Msg {
        view: EscalationView::new(&ViewInput {
            esc: v.esc,
            config: v.config,
            dir: v.dir,
            recent: v.recent,
        }),
        config: v.config,
        slack_ids: v.slack_ids,
        revision: revision::revision(v.esc, v.dir),
    };
    let summary = escape_within(&one_line(&v.esc.request.summary), kit::FALLBACK_TEXT).text;
    let (text, blocks) = if let Some(decision) = &m.view.decision {
        (
            format!("{}: {summary}", decision.word),
            decided(&m, s, decision),
        )
    } else if let Some(asked) = revision::changes_requested(v.esc, v.dir) {
        (
            format!("Changes requested: {summary}"),
            waiting(&m, s, &changes::waiting_note(&asked)),
        )
    } else if live {
        (format!("Approval needed: {summary}"), open(&m, s))
    } else {
        (format!("Stage closed: {summary}"), closed(&m, s))
    };
    Rendered {
        text: kit::clamp_markup(&text, kit::FALLBACK_TEXT),
        blocks: kit::fit(blocks, kit::MESSAGE_BLOCKS),
    }
}

/// The full request: everything needed to decide, then the buttons (or the viewer's vote).
fn open(m: &Msg<'_>, s: &Scope) -> Vec<SlackBlock> {
    let esc = m.view.esc;
    let mut blocks = vec![kit::header(&format!(
        "🔐 Approval needed: {}",
        esc.request.intent
    ))];
    if let Some(note) = reason_note(s.reason, s.viewer.is_none()) {
        blocks.push(kit::context(&[note.to_owned()]));
    }
    if let Some(r) = &m.revision {
        blocks.extend(changes::what_changed(r));
        blocks.push(kit::divider());
    }
    blocks.push(summary(m));
    blocks.push(kit::fields(&facts(m, s.opening.stage)));
    blocks.extend(risk_reasons(m).map(|t| kit::section(&t)));
    blocks.extend(policy_reason(m).map(|t| kit::section(&t)));
    blocks.extend(payload(m).map(|t| kit::section(&t)));
    blocks.extend(activity(m).map(|t| kit::section(&t)));
    blocks.extend(evidence(m).map(|t| kit::section(&t)));
    blocks.push(kit::divider());
    blocks.push(kit::section(&progress(
        m,
        s.opening.stage,
        s.viewer.is_none(),
    )));
    blocks.push(kit::context(&recent_decisions(m)));
    match s
        .viewer
        .as_ref()
        .and_then(|r| own_vote(m, s.opening.stage, r))
    {
        Some(note) => blocks.push(kit::section(&note)),
        None => blocks.push(actions(esc, s.opening, None)),
    }
    blocks.push(footer(esc));
    blocks
}

/// A reviewer asked for changes: the request, who asked and why, and no buttons.
fn waiting(m: &Msg<'_>, s: &Scope, note: &str) -> Vec<SlackBlock> {
    let esc = m.view.esc;
    vec![
        kit::header(&format!("📝 Changes requested: {}", esc.request.intent)),
        summary(m),
        kit::fields(&facts(m, s.opening.stage)),
        kit::section(note),
        footer(esc),
    ]
}

/// The stage this message asked about moved on (approved, rolled back, reopened).
fn closed(m: &Msg<'_>, s: &Scope) -> Vec<SlackBlock> {
    let esc = m.view.esc;
    vec![
        kit::header(&format!("Stage closed: {}", esc.request.intent)),
        summary(m),
        kit::fields(&facts(m, s.opening.stage)),
        kit::section(&closed_note(m, s)),
        footer(esc),
    ]
}

fn decided(m: &Msg<'_>, s: &Scope, decision: &DecisionView<'_>) -> Vec<SlackBlock> {
    let esc = m.view.esc;
    let mut blocks = vec![
        kit::header(&format!(
            "{} {}: {}",
            outcome_emoji(decision.outcome),
            decision.word,
            esc.request.intent
        )),
        summary(m),
        kit::fields(&facts(m, s.opening.stage)),
        kit::section(&outcome(decision)),
    ];
    blocks.extend(
        m.view
            .after
            .as_ref()
            .map(|a| kit::section(&super::after::section(a))),
    );
    if let Some(note) = s
        .viewer
        .as_ref()
        .and_then(|r| own_vote(m, s.opening.stage, r))
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
        (NotifyReason::Revised, _) => Some(
            ":memo: Changes were asked for and the agent revised the request: review it again.",
        ),
    }
}

fn summary(m: &Msg<'_>) -> SlackBlock {
    let cut = escape_within(m.view.request.summary, SECTION_TEXT - 100);
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

fn facts(m: &Msg<'_>, stage: usize) -> Vec<String> {
    let (esc, req) = (m.view.esc, &m.view.request);
    vec![
        format!("*Agent*\n{}", short(Some(req.agent.display()))),
        format!(
            "*Requested by*\n{}",
            short(req.requested_by.as_ref().map(|r| r.display.as_str()))
        ),
        format!("*Intent*\n`{}`", short(Some(req.intent))),
        format!("*Resource*\n{}", short(req.resource)),
        format!("*Risk*\n{}", risk_score(m)),
        format!(
            "*Policy*\n{}",
            short(req.policy.and_then(|p| p.id.as_deref()))
        ),
        format!(
            "*Stage*\n{} of {} · {}",
            stage + 1,
            esc.stages.len(),
            short(m.view.stage(stage).map(|s| s.name))
        ),
        format!("*Deadline*\n{}", date(esc.expires_at)),
    ]
}

/// The score with a dot coloured by its level, the same level emails and pages name.
fn risk_score(m: &Msg<'_>) -> String {
    match &m.view.request.risk {
        Some(risk) => {
            let dot = match risk.level {
                "critical" | "high" => ":red_circle:",
                "medium" => ":large_orange_circle:",
                _ => ":large_green_circle:",
            };
            format!("{dot} *{}* / 100", risk.score)
        }
        None => "_not scored (treated as the highest)_".to_owned(),
    }
}

fn risk_reasons(m: &Msg<'_>) -> Option<String> {
    let reasons = m.view.request.risk.as_ref()?.reasons;
    let lines = reasons
        .iter()
        .map(|r| format!("• {}", escape_within(&one_line(r), SHORT * 2).text));
    bullets("*Why it is risky*", lines, reasons.len())
}

fn policy_reason(m: &Msg<'_>) -> Option<String> {
    let reason = m.view.request.policy?.reason.as_deref()?;
    Some(format!(
        "*Policy reason*\n{}",
        escape_within(reason, SECTION_TEXT - 100).text
    ))
}

/// Pretty JSON in a code block, cut to fit with a note; the hash covers the whole payload.
fn payload(m: &Msg<'_>) -> Option<String> {
    let (value, sha) = (m.view.request.payload, &m.view.esc.payload_sha256);
    if value.is_null() {
        return None;
    }
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    let cut = mrkdwn::code_block(&pretty, SECTION_TEXT - 300);
    let mut text = format!(
        "*Payload* · sha256 `{}…`\n{}",
        sha.get(..16).unwrap_or(sha),
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

fn activity(m: &Msg<'_>) -> Option<String> {
    let items = m.view.request.recent_activity;
    let lines = items.iter().map(|a| {
        let at = a.at.map(|t| format!("{} ", date(t))).unwrap_or_default();
        format!("• {at}{}", escape_within(&one_line(&a.summary), SHORT).text)
    });
    bullets("*Recent activity*", lines, items.len())
}

fn evidence(m: &Msg<'_>) -> Option<String> {
    let items = m.view.request.evidence;
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
fn progress(m: &Msg<'_>, stage: usize, mentions: bool) -> String {
    let esc = m.view.esc;
    let Some(st) = m.view.stage(stage) else {
        return String::new();
    };
    let mut lines = vec![format!(
        "*Stage {} of {} · {}* — needs {} {}",
        st.number(),
        esc.stages.len(),
        escape(st.name),
        st.required,
        plural("approval", st.required)
    )];
    lines.push(if st.approvals.is_empty() {
        ":white_circle: No approvals yet.".to_owned()
    } else {
        format!(
            ":white_check_mark: Approved by {}",
            approvers(&st.approvals)
        )
    });
    let waiting: Vec<String> = m
        .view
        .current()
        .and_then(|c| c.awaiting.as_ref())
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|p| {
            if mentions {
                mention(m, p)
            } else {
                escape(&p.name)
            }
        })
        .collect();
    if !waiting.is_empty() {
        lines.push(format!(
            ":hourglass_flowing_sand: Waiting on {}",
            name_list(&waiting)
        ));
    }
    if let Some(sla) = st.sla_deadline {
        let past = if st.is_escalated() {
            " — *past its SLA, escalated*"
        } else {
            ""
        };
        lines.push(format!(":alarm_clock: SLA {}{past}", date(sla)));
    }
    lines.extend(earlier_stages(m, stage));
    lines.join("\n")
}

fn earlier_stages(m: &Msg<'_>, stage: usize) -> Vec<String> {
    m.view.stages[..stage.min(m.view.stages.len())]
        .iter()
        .filter(|s| s.status == StageStatus::Approved)
        .map(|s| {
            format!(
                ":ballot_box_with_check: Stage {} · {} approved by {}",
                s.number(),
                escape(s.name),
                approvers(&s.approvals)
            )
        })
        .collect()
}

/// `Alice, Bob (conditions: Canary)`: approvers' names, escaped, with their conditions.
fn approvers(approvals: &[Approval<'_>]) -> String {
    let names: Vec<String> = approvals.iter().map(approver).collect();
    names.join(", ")
}

fn approver(a: &Approval<'_>) -> String {
    let name = escape(&a.reviewer.name);
    let terms = a.terms();
    if terms.is_empty() {
        return name;
    }
    let conditions: Vec<String> = terms
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
fn mention(m: &Msg<'_>, reviewer: &Person) -> String {
    let configured = m
        .config
        .reviewer(reviewer.id.as_str())
        .and_then(|r| r.slack_user.clone());
    match configured.or_else(|| m.slack_ids.get(reviewer.id.as_str()).cloned()) {
        Some(id) if id.chars().all(|c| c.is_ascii_alphanumeric()) => format!("<@{id}>"),
        _ => escape(&reviewer.name),
    }
}

fn recent_decisions(m: &Msg<'_>) -> Vec<String> {
    if m.view.recent.is_empty() {
        return vec!["_No earlier decisions for this intent._".to_owned()];
    }
    let mut items = vec!["*Recent decisions for this intent:*".to_owned()];
    items.extend(m.view.recent.iter().map(|r| {
        let d = &r.decision;
        format!(
            "{} {} {}{}",
            outcome_emoji(d.outcome),
            d.word.to_lowercase(),
            date(d.at),
            decided_by(d)
        )
    }));
    items
}

/// The viewer's own vote at this stage, if they cast one.
fn own_vote(m: &Msg<'_>, stage: usize, reviewer: &ReviewerId) -> Option<String> {
    let esc = m.view.esc;
    let vote = esc
        .stages
        .get(stage)?
        .votes
        .iter()
        .find(|x| &x.reviewer == reviewer)?;
    let mut text = match vote.choice {
        VoteChoice::Approve => format!(":white_check_mark: *You approved* {}", date(vote.at)),
        VoteChoice::Deny => format!(":no_entry: *You denied* {}", date(vote.at)),
        VoteChoice::RequestChanges => {
            format!(":memo: *You asked for changes* {}", date(vote.at))
        }
    };
    let constraints = constraint_lines(&esc.workflow, &vote.constraints);
    if !vote.conditions.is_empty() || !constraints.is_empty() {
        let list: Vec<String> = vote
            .conditions
            .iter()
            .chain(&constraints)
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
    if esc.is_pending() {
        text.push_str("\n_Waiting for the other reviewers._");
    }
    Some(text)
}

/// The request's buttons. `suffix` makes block and action ids unique where several
/// requests share one view (the Home tab); the value is the same either way.
fn actions(esc: &Escalation, opening: Opening, suffix: Option<&str>) -> SlackBlock {
    let value = ActionRef::new(esc, opening).encode();
    let button = |action: Button, label: &str, style| {
        let id = match suffix {
            Some(s) => action.with_suffix(s),
            None => action.action_id().to_owned(),
        };
        button(&id, label, style, &value)
    };
    let mut elements = vec![button(
        Button::Approve,
        "Approve",
        Some(SlackBlockButtonStyle::Primary),
    )];
    if !esc.workflow.conditions.is_empty() {
        elements.push(button(
            Button::ApproveWithConditions,
            "Approve with conditions…",
            None,
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
    let deny = match button(Button::Deny, "Deny", Some(SlackBlockButtonStyle::Danger)) {
        SlackActionBlockElement::Button(b) => b.with_confirm(confirm).into(),
        other => other,
    };
    elements.push(deny);
    // Offered while the workflow still allows a revision (design.md §7).
    if esc.may_request_changes() {
        elements.push(button(Button::RequestChanges, "Request changes…", None));
    }
    let block_id = match suffix {
        Some(s) => format!("countersign_actions:{s}"),
        None => "countersign_actions".to_owned(),
    };
    SlackActionsBlock::new(elements)
        .with_block_id(kit::block_id(&block_id))
        .into()
}

fn button(
    action_id: &str,
    label: &str,
    style: Option<SlackBlockButtonStyle>,
    value: &str,
) -> SlackActionBlockElement {
    SlackBlockButtonElement::new(kit::plain(label, kit::BUTTON_TEXT))
        .with_action_id(SlackActionId(mrkdwn::plain_within(action_id, kit::ID)))
        .with_value(mrkdwn::plain_within(value, kit::BUTTON_VALUE))
        .opt_style(style)
        .into()
}

/// One request in a reviewer's Home tab: the message's title, summary, facts and risk
/// reasons, and its buttons with ids made unique by the escalation id. Five blocks at most.
pub fn home_item(v: &View<'_>) -> Vec<SlackBlock> {
    let m = Msg {
        view: EscalationView::new(&ViewInput {
            esc: v.esc,
            config: v.config,
            dir: v.dir,
            recent: v.recent,
        }),
        config: v.config,
        slack_ids: v.slack_ids,
        revision: None,
    };
    let esc = v.esc;
    let opening = esc.opening();
    let mut title = format!("*🔐 {}*", escape(&esc.request.intent));
    if esc.submission() > 1 {
        title.push_str(&format!(" · revision {}", esc.submission()));
    }
    let mut blocks = vec![
        kit::section(&title),
        summary(&m),
        kit::fields(&facts(&m, opening.stage)),
    ];
    blocks.extend(risk_reasons(&m).map(|t| kit::section(&t)));
    blocks.push(actions(esc, opening, Some(esc.id.as_str())));
    blocks
}

fn closed_note(m: &Msg<'_>, s: &Scope) -> String {
    let esc = m.view.esc;
    let same_round = esc
        .stages
        .get(s.opening.stage)
        .is_some_and(|st| st.round == s.opening.round);
    let mut text = match m.view.stage(s.opening.stage) {
        Some(st) if same_round && st.status == StageStatus::Approved => format!(
            ":white_check_mark: *Stage {} approved* by {}. Nothing more is needed from you here.",
            st.number(),
            approvers(&st.approvals)
        ),
        _ => ":leftwards_arrow_with_hook: *This round is closed*: the request was sent back to an earlier stage or reopened. If your review is needed again, you will get a new message.".to_owned(),
    };
    if let Some(r) = &m.revision {
        text.push_str(&format!(
            "\n:memo: The request was revised after changes were asked for; it is now at revision {}.",
            r.number
        ));
    }
    if let Some(current) = m.view.current() {
        text.push_str(&format!(
            "\nNow at stage {} of {} · {}.",
            current.number(),
            esc.stages.len(),
            escape(current.name)
        ));
    }
    text
}

/// " by Alice, Bob" (escaped), or nothing for a decision no person made (a timeout).
fn decided_by(d: &DecisionView<'_>) -> String {
    d.deciders()
        .map(|names| format!(" by {}", escape(&names)))
        .unwrap_or_default()
}

fn outcome(d: &DecisionView<'_>) -> String {
    let mut text = format!(
        "{} *{}* {}{}",
        outcome_emoji(d.outcome),
        d.word,
        date(d.at),
        decided_by(d)
    );
    let terms = d.terms();
    if !terms.is_empty() {
        let lines = terms
            .iter()
            .map(|c| format!("• {}", escape_within(&one_line(c), SHORT * 2).text));
        if let Some(list) = bullets("*Conditions*", lines, terms.len()) {
            text.push('\n');
            text.push_str(&list);
        }
    }
    if let Some(reason) = d.reason {
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

fn outcome_emoji(o: Outcome) -> &'static str {
    match o {
        Outcome::Approved => "✅",
        Outcome::Denied => "⛔",
        Outcome::Expired => "⌛",
        Outcome::Cancelled => "🚫",
    }
}
