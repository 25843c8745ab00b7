//! What a verified interaction does: find the reviewer behind the Slack user, record the
//! vote or open the modal, and say what to answer Slack and what to tell the clicker.
//!
//! Votes go through `Service::apply` like every other channel, so the engine's rules
//! and refusals are the same whether a reviewer clicks, mails or calls the API.

use super::Slack;
use crate::config::ReviewerConfig;
use crate::domain::engine::{Event, VoteInput};
use crate::domain::{Escalation, Refusal, ReviewerId, VoteChannel, VoteChoice, eligibility};
use crate::notify::slack::modals;
use crate::notify::slack::mrkdwn::escape;
use crate::notify::slack::refs::ActionRef;
use crate::service::ApplyError;
use slack_morphism::prelude::*;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// The most a `users.info` lookup of an unknown clicker may take.
const WHO_LOOKUP: Duration = Duration::from_millis(800);

/// The HTTP answer to Slack.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// 200 with an empty body: the click is taken, or the modal closes.
    Ack,
    /// A modal submission refused: show these messages under the named input blocks.
    ModalErrors(HashMap<String, String>),
}

/// Something to tell the clicker privately, after Slack has its answer.
#[derive(Debug, Clone)]
pub struct Notice {
    pub response_url: Option<String>,
    pub channel: Option<String>,
    pub user: String,
    pub text: String,
}

pub struct Reply {
    pub answer: Answer,
    pub notice: Option<Notice>,
}

impl Reply {
    fn ack() -> Self {
        Self {
            answer: Answer::Ack,
            notice: None,
        }
    }

    fn modal_error(block: &str, text: &str) -> Self {
        let text = crate::notify::slack::mrkdwn::plain_within(text, 300);
        Self {
            answer: Answer::ModalErrors(HashMap::from([(block.to_owned(), text)])),
            notice: None,
        }
    }
}

fn unknown_user(user: &str) -> String {
    format!(
        "Your Slack account is not linked to a countersign reviewer, so nothing was recorded. \
         Ask your countersign administrator to add your Slack user ID ({}) as `slack_user` to your reviewer entry.",
        escape(user)
    )
}

const INTERNAL: &str = "Something went wrong on our side; nothing was recorded. Please try again.";

/// Button clicks in a request message.
pub async fn block_actions(
    slack: &Slack,
    ev: SlackInteractionBlockActionsEvent,
    deadline: Instant,
) -> Reply {
    let Some(user) = ev.user.as_ref().map(|u| u.id.0.clone()) else {
        return Reply::ack();
    };
    let Some(action) = ev.actions.as_ref().and_then(|a| a.first()) else {
        return Reply::ack();
    };
    let channel = ev
        .channel
        .as_ref()
        .map(|c| c.id.0.clone())
        .or_else(|| match &ev.container {
            SlackInteractionActionContainer::Message(m) => {
                m.channel_id.as_ref().map(|c| c.0.clone())
            }
            _ => None,
        });
    let tell = |text: String| Reply {
        answer: Answer::Ack,
        notice: Some(Notice {
            response_url: ev.response_url.as_ref().map(|u| u.0.to_string()),
            channel: channel.clone(),
            user: user.clone(),
            text,
        }),
    };
    let kind = action.action_id.0.as_str();
    if !matches!(kind, "approve" | "approve_conditions" | "deny") {
        return Reply::ack();
    }
    let Some(aref) = action.value.as_deref().and_then(ActionRef::parse) else {
        return tell("This button does not belong to a countersign request.".into());
    };
    let reviewer = match who(slack, &user, deadline).await {
        Ok(Some(r)) => r,
        Ok(None) => return tell(unknown_user(&user)),
        Err(()) => return tell(INTERNAL.into()),
    };
    let id = reviewer.id.clone();
    let outcome = match kind {
        "approve" => vote(slack, &id, &aref, VoteChoice::Approve, None, Vec::new()).await,
        "deny" => open_modal(slack, &ev, &id, &aref, VoteChoice::Deny, deadline).await,
        _ => open_modal(slack, &ev, &id, &aref, VoteChoice::Approve, deadline).await,
    };
    match outcome {
        Ok(()) => Reply::ack(),
        Err(text) => tell(text),
    }
}

/// The deny and conditions modals' submit buttons.
pub async fn view_submission(
    slack: &Slack,
    ev: SlackInteractionViewSubmissionEvent,
    deadline: Instant,
) -> Reply {
    let SlackView::Modal(modal) = &ev.view.view else {
        return Reply::ack();
    };
    let Some(callback) = modal.callback_id.as_ref().map(|c| c.0.as_str()) else {
        return Reply::ack();
    };
    if callback != modals::DENY && callback != modals::CONDITIONS {
        return Reply::ack();
    }
    let block = modals::error_block(callback);
    let Some(aref) = modal.private_metadata.as_deref().and_then(ActionRef::parse) else {
        return Reply::modal_error(block, "This form does not belong to a countersign request.");
    };
    let user = ev.user.id.0.clone();
    let reviewer = match who(slack, &user, deadline).await {
        Ok(Some(r)) => r.id,
        Ok(None) => return Reply::modal_error(block, &unknown_user(&user)),
        Err(()) => return Reply::modal_error(block, INTERNAL),
    };
    let empty = SlackViewState::new(HashMap::new());
    let state = ev.view.state_params.state.as_ref().unwrap_or(&empty);
    let result = if callback == modals::DENY {
        let Some(reason) = modals::read_deny(state) else {
            return Reply::modal_error(block, "A reason is required to deny.");
        };
        vote(
            slack,
            &reviewer,
            &aref,
            VoteChoice::Deny,
            Some(reason),
            Vec::new(),
        )
        .await
    } else {
        submit_conditions(slack, &reviewer, &aref, state).await
    };
    match result {
        Ok(()) => Reply::ack(),
        Err(text) => Reply::modal_error(block, &text),
    }
}

async fn submit_conditions(
    slack: &Slack,
    reviewer: &ReviewerId,
    aref: &ActionRef,
    state: &SlackViewState,
) -> Result<(), String> {
    let esc = load(slack, aref).await?;
    let input = modals::read_conditions(state, &esc.workflow.conditions);
    if input.conditions.is_empty() {
        return Err("Tick or type at least one condition, or use the plain Approve button.".into());
    }
    vote(
        slack,
        reviewer,
        aref,
        VoteChoice::Approve,
        input.comment,
        input.conditions,
    )
    .await
}

/// Records a vote through the engine; a refusal comes back as the sentence to show.
async fn vote(
    slack: &Slack,
    reviewer: &ReviewerId,
    aref: &ActionRef,
    choice: VoteChoice,
    comment: Option<String>,
    conditions: Vec<String>,
) -> Result<(), String> {
    let esc = load(slack, aref).await?;
    same_round(&esc, aref)?;
    let event = Event::Vote(VoteInput {
        reviewer: reviewer.clone(),
        choice,
        comment,
        conditions,
        channel: VoteChannel::Slack,
        stage: Some(aref.stage),
    });
    match slack.service.apply(&aref.escalation, event).await {
        Ok(_) => Ok(()),
        Err(ApplyError::Refused(r)) => Err(escape(&r.message())),
        Err(ApplyError::NotFound) => Err(GONE.into()),
        Err(ApplyError::Store(e)) => {
            tracing::error!(error = %e, escalation = %aref.escalation, "recording a Slack vote failed");
            Err(INTERNAL.into())
        }
    }
}

const GONE: &str = "This escalation no longer exists.";

async fn load(slack: &Slack, aref: &ActionRef) -> Result<Escalation, String> {
    match slack.service.get(&aref.escalation).await {
        Ok(Some(esc)) => Ok(esc),
        Ok(None) => Err(GONE.into()),
        Err(e) => {
            tracing::error!(error = %e, "loading an escalation for Slack failed");
            Err(INTERNAL.into())
        }
    }
}

/// A stage reopened by a rollback has the same index but a new round; a button
/// from the old round must not count in the new one.
fn same_round(esc: &Escalation, aref: &ActionRef) -> Result<(), String> {
    if esc.is_pending() && esc.current_stage == aref.stage && !aref.is_live(esc) {
        return Err(
            "This message is from an earlier round of this stage; use the newer message.".into(),
        );
    }
    Ok(())
}

/// Checks what the engine would refuse before asking for a reason, then opens the
/// modal inline: its `trigger_id` is only good for 3 seconds after the click.
async fn open_modal(
    slack: &Slack,
    ev: &SlackInteractionBlockActionsEvent,
    reviewer: &ReviewerId,
    aref: &ActionRef,
    choice: VoteChoice,
    deadline: Instant,
) -> Result<(), String> {
    let esc = load(slack, aref).await?;
    precheck(slack, &esc, reviewer, aref, choice)?;
    let view = match choice {
        VoteChoice::Deny => modals::deny(&esc, aref),
        VoteChoice::Approve => modals::conditions(&esc, aref),
    };
    let left = deadline.saturating_duration_since(Instant::now());
    match slack.api.open_view(&ev.trigger_id.0, view, left).await {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "views.open failed");
            Err(
                "Slack did not open the form in time; nothing was recorded. Please click again."
                    .into(),
            )
        }
    }
}

fn precheck(
    slack: &Slack,
    esc: &Escalation,
    reviewer: &ReviewerId,
    aref: &ActionRef,
    choice: VoteChoice,
) -> Result<(), String> {
    same_round(esc, aref)?;
    let refusal = if !esc.is_pending() {
        Some(Refusal::AlreadyDecided(esc.status))
    } else if esc.current_stage != aref.stage {
        Some(Refusal::StaleStage)
    } else {
        eligibility::check(esc, &slack.service.dir, reviewer, choice).err()
    };
    refusal.map_or(Ok(()), |r| Err(escape(&r.message())))
}

/// The reviewer behind a Slack user: the config's `slack_user`, an earlier email
/// lookup, or (last) Slack's own record of the user's email, within the time left.
async fn who(slack: &Slack, user: &str, deadline: Instant) -> Result<Option<ReviewerConfig>, ()> {
    let config = &slack.service.config;
    if let Some(r) = config.reviewer_by_slack_user(user) {
        return Ok(Some(r.clone()));
    }
    let db = &slack.service.store;
    let cached = db.reviewers_for_slack_user(user).await.map_err(|e| {
        tracing::error!(error = %e, "reading the Slack user cache failed");
    })?;
    // Only while the config still has that email and no explicit slack_user.
    let found = cached.iter().find_map(|(id, email)| {
        config
            .reviewer(id)
            .filter(|r| r.slack_user.is_none() && r.email.eq_ignore_ascii_case(email))
    });
    if let Some(r) = found {
        return Ok(Some(r.clone()));
    }
    let left = deadline
        .saturating_duration_since(Instant::now())
        .min(WHO_LOOKUP);
    let email = match slack.api.user_email(user, left).await {
        Ok(Some(email)) => email,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "users.info for an unknown clicker failed");
            return Ok(None);
        }
    };
    let Some(r) = config
        .reviewer_by_email(&email)
        .filter(|r| r.slack_user.is_none())
    else {
        return Ok(None);
    };
    let now = chrono::Utc::now();
    if let Err(e) = db.remember_slack_user(&r.id, &r.email, user, now).await {
        tracing::warn!(error = %e, "caching a Slack user failed");
    }
    Ok(Some(r.clone()))
}
