//! What a verified interaction does: find the reviewer behind the Slack user, record the
//! vote or open the modal, and say what to answer Slack and what to tell the clicker.
//!
//! Votes go through `Service::apply` like every other channel, so the engine's rules
//! and refusals are the same whether a reviewer clicks, mails or calls the API.

use super::Slack;
use crate::config::ReviewerConfig;
use crate::domain::engine::{self, Event, VoteInput};
use crate::domain::{Constraints, Escalation, EscalationId, ReviewerId, VoteChannel, VoteChoice};
use crate::http::error::AppError;
use crate::notify::slack::modals;
use crate::notify::slack::mrkdwn::escape;
use crate::notify::slack::publish;
use crate::notify::slack::refs::{ActionRef, Button, Op, StoredRound};
use crate::notify::slack::who::{self, WhoError};
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
        Self::modal_errors(HashMap::from([(block.to_owned(), text.to_owned())]))
    }

    fn modal_errors(errors: HashMap<String, String>) -> Self {
        let errors = errors
            .into_iter()
            .map(|(block, text)| {
                (
                    block,
                    crate::notify::slack::mrkdwn::plain_within(&text, 300),
                )
            })
            .collect();
        Self {
            answer: Answer::ModalErrors(errors),
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

/// Button clicks in a request message, or in a reviewer's Home view (no message, no
/// `response_url`: a refusal is told in a direct message).
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
    let Some(button) = Button::parse(&action.action_id.0) else {
        return Reply::ack();
    };
    let Some(raw) = action.value.as_deref().and_then(ActionRef::parse) else {
        return tell("This button does not belong to a countersign request.".into());
    };
    let reviewer = match who(slack, &user, deadline).await {
        Ok(Some(r)) => r,
        Ok(None) => return tell(unknown_user(&user)),
        Err(()) => return tell(INTERNAL.into()),
    };
    let id = reviewer.id.clone();
    let outcome = match load(slack, raw).await {
        Err(text) => Err(text),
        Ok((esc, aref)) => match button {
            Button::Approve => vote(slack, &id, &aref, Ballot::new(VoteChoice::Approve)).await,
            _ => open_modal(slack, &ev, &id, &esc, &aref, button.choice(), deadline).await,
        },
    };
    match outcome {
        Ok(()) => Reply::ack(),
        Err(text) => {
            // A click in a Home view Slack still shows but we would not: show the queue as it is.
            if matches!(ev.container, SlackInteractionActionContainer::View(_)) {
                republish_home(slack, &user).await;
            }
            tell(text)
        }
    }
}

/// Queues a publish of this user's Home view (a vote that went through republishes it
/// from its own step; a refused one does not change anything, so it is asked for here).
async fn republish_home(slack: &Slack, user: &str) {
    let item = publish::item(&Op::HomeFor {
        user: user.to_owned(),
    });
    let service = &slack.service;
    match service.store.queue_item(item, service.now()).await {
        Ok(()) => service.signals.wake_outbox(),
        Err(e) => tracing::warn!(error = %e, "queueing a Home view publish failed"),
    }
}

/// The deny, conditions and request-changes modals' submit buttons.
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
    if ![modals::DENY, modals::CONDITIONS, modals::CHANGES].contains(&callback) {
        return Reply::ack();
    }
    let block = modals::error_block(callback);
    let Some(raw) = modal.private_metadata.as_deref().and_then(ActionRef::parse) else {
        return Reply::modal_error(block, "This form does not belong to a countersign request.");
    };
    let (esc, aref) = match load(slack, raw).await {
        Ok(loaded) => loaded,
        Err(text) => return Reply::modal_error(block, &text),
    };
    let user = ev.user.id.0.clone();
    let reviewer = match who(slack, &user, deadline).await {
        Ok(Some(r)) => r.id,
        Ok(None) => return Reply::modal_error(block, &unknown_user(&user)),
        Err(()) => return Reply::modal_error(block, INTERNAL),
    };
    let empty = SlackViewState::new(HashMap::new());
    let state = ev.view.state_params.state.as_ref().unwrap_or(&empty);
    let result = if callback == modals::CHANGES {
        let Some(comment) = modals::read_changes(state) else {
            return Reply::modal_error(block, "A comment saying what should change is required.");
        };
        let ballot = Ballot {
            comment: Some(comment),
            ..Ballot::new(VoteChoice::RequestChanges)
        };
        vote(slack, &reviewer, &aref, ballot)
            .await
            .map_err(Rejected::Text)
    } else if callback == modals::DENY {
        let Some(reason) = modals::read_deny(state) else {
            return Reply::modal_error(block, "A reason is required to deny.");
        };
        let ballot = Ballot {
            comment: Some(reason),
            ..Ballot::new(VoteChoice::Deny)
        };
        vote(slack, &reviewer, &aref, ballot)
            .await
            .map_err(Rejected::Text)
    } else {
        submit_conditions(slack, &reviewer, &esc, &aref, state).await
    };
    match result {
        Ok(()) => Reply::ack(),
        Err(Rejected::Text(text)) => Reply::modal_error(block, &text),
        Err(Rejected::Fields(errors)) => Reply::modal_errors(errors),
    }
}

async fn submit_conditions(
    slack: &Slack,
    reviewer: &ReviewerId,
    esc: &Escalation,
    aref: &ActionRef,
    state: &SlackViewState,
) -> Result<(), Rejected> {
    let input = match modals::read_conditions(state, &esc.workflow) {
        Ok(input) => input,
        Err(errors) => return Err(Rejected::Fields(errors)),
    };
    if input.conditions.is_empty() && input.constraints.is_empty() {
        let text = if esc.workflow.typed_conditions().next().is_some() {
            "Tick, type or fill in at least one condition, or use the plain Approve button."
        } else {
            "Tick or type at least one condition, or use the plain Approve button."
        };
        return Err(Rejected::Text(text.into()));
    }
    let ballot = Ballot {
        comment: input.comment,
        conditions: input.conditions,
        constraints: input.constraints,
        ..Ballot::new(VoteChoice::Approve)
    };
    vote(slack, reviewer, aref, ballot)
        .await
        .map_err(Rejected::Text)
}

/// Why a modal submission was refused: one sentence, or messages under named inputs.
enum Rejected {
    Text(String),
    Fields(HashMap<String, String>),
}

/// What a reviewer's click or form says, before it names who and where.
struct Ballot {
    choice: VoteChoice,
    comment: Option<String>,
    conditions: Vec<String>,
    constraints: Constraints,
}

impl Ballot {
    fn new(choice: VoteChoice) -> Self {
        Self {
            choice,
            comment: None,
            conditions: Vec::new(),
            constraints: Constraints::new(),
        }
    }
}

/// Records a vote through the engine; a refusal comes back as the sentence to show.
async fn vote(
    slack: &Slack,
    reviewer: &ReviewerId,
    aref: &ActionRef,
    ballot: Ballot,
) -> Result<(), String> {
    let event = Event::Vote(VoteInput {
        constraints: ballot.constraints,
        reviewer: reviewer.clone(),
        choice: ballot.choice,
        comment: ballot.comment,
        conditions: ballot.conditions,
        channel: VoteChannel::Slack,
        opening: Some(aref.opening),
    });
    match slack.service.apply(&aref.escalation, event).await {
        Ok(_) => Ok(()),
        Err(ApplyError::Refused(r)) => Err(escape(&AppError::refused(&r).message)),
        Err(ApplyError::NotFound) => Err(GONE.into()),
        Err(ApplyError::Store(e)) => {
            tracing::error!(error = %e, escalation = %aref.escalation, "recording a Slack vote failed");
            Err(INTERNAL.into())
        }
    }
}

const GONE: &str = "This escalation no longer exists.";

/// The escalation a button or modal names, and the opening it was shown (a value from
/// before rounds existed is translated by the escalation).
async fn load(
    slack: &Slack,
    (id, stage, round): (EscalationId, usize, StoredRound),
) -> Result<(Escalation, ActionRef), String> {
    match slack.service.get(&id).await {
        Ok(Some(esc)) => {
            let aref = ActionRef::new(&esc, round.opening(&esc, stage));
            Ok((esc, aref))
        }
        Ok(None) => Err(GONE.into()),
        Err(e) => {
            tracing::error!(error = %e, "loading an escalation for Slack failed");
            Err(INTERNAL.into())
        }
    }
}

/// Asks the engine, on the loaded copy, whether it would take this vote before asking
/// for a reason, then opens the modal inline: its `trigger_id` is only good for 3
/// seconds after the click.
async fn open_modal(
    slack: &Slack,
    ev: &SlackInteractionBlockActionsEvent,
    reviewer: &ReviewerId,
    esc: &Escalation,
    aref: &ActionRef,
    choice: VoteChoice,
    deadline: Instant,
) -> Result<(), String> {
    let now = slack.service.now();
    engine::precheck(
        esc,
        reviewer,
        choice,
        Some(aref.opening),
        &slack.service.dir,
        now,
    )
    .map_err(|r| escape(&AppError::refused(&r).message))?;
    let view = match choice {
        VoteChoice::Deny => modals::deny(esc, aref),
        VoteChoice::RequestChanges => modals::request_changes(esc, aref),
        VoteChoice::Approve => modals::conditions(esc, aref),
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

/// The reviewer behind a Slack user: the config's `slack_user`, an earlier email
/// lookup, or (last) Slack's own record of the user's email, within the time left.
async fn who(slack: &Slack, user: &str, deadline: Instant) -> Result<Option<ReviewerConfig>, ()> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .min(WHO_LOOKUP);
    let config = &slack.service.config;
    match who::reviewer(config, &slack.service.store, &slack.api, user, left).await {
        Ok(found) => Ok(found),
        Err(WhoError::Store(e)) => {
            tracing::error!(error = %e, "reading the Slack user cache failed");
            Err(())
        }
        Err(WhoError::Slack(e)) => {
            tracing::warn!(error = %e, "users.info for an unknown clicker failed");
            Ok(None)
        }
    }
}
