//! The email channel: each newly eligible reviewer gets a context-rich email whose signed links
//! open a confirmation page; everyone asked gets the outcome in the same thread.
//!
//! Planning writes small intents (who, which stage, which revision) inside the
//! step's transaction. Delivery renders them from the escalation as it is then,
//! so a retried email shows who approved meanwhile and the recent decisions for
//! the intent (a query planning may not make), and a request that became
//! pointless while the SMTP server was down is not sent at all.

pub mod intent;
pub mod message;
pub mod render;
pub mod sign_in;
pub mod transport;

use super::{Channel, Delivery, PlanContext};
use crate::clock::Clock;
use crate::config::{Config, EmailConfig};
use crate::domain::{
    AuditKind, ChannelKind, Directory, Effect, Escalation, EscalationId, NotifyReason, Opening,
    ReviewerProfile, Time,
};
use crate::service::Live;
use crate::signing::links::{LinkAction, LinkClaims, LinkKeys};
use crate::store::outbox::{Item, NewItem, Priority};
use crate::store::{self, Store};
use crate::view::{EscalationView, TemplateView, ViewInput};
use intent::Intent;
use lettre::message::Mailbox;
use serde_json::{Value, json};
use std::str::FromStr;
use std::sync::Arc;
use transport::Transport;

/// The link keys: the configured `link_secret` (or the one generated once and
/// kept in the database) signs; `previous_link_secrets` still verify.
pub async fn link_keys(config: &Config, store: &Store) -> store::Result<LinkKeys> {
    let current = match &config.server.link_secret {
        Some(secret) => secret.expose().to_owned(),
        None => store.link_secret().await?,
    };
    let previous = config
        .server
        .previous_link_secrets
        .iter()
        .map(|s| s.expose());
    Ok(LinkKeys::new(&current, previous))
}

/// The confirmation page behind a token.
pub fn link_url(config: &Config, token: &str) -> String {
    format!("{}/links/{token}", config.server.public_url)
}

/// `config` and `dir` are one config version: each delivery takes the one serving then
/// ([`EmailChannel::current`]), so a removed reviewer gets no more mail.
#[derive(Clone)]
pub struct EmailChannel {
    config: Arc<Config>,
    dir: Arc<Directory>,
    live: Live,
    store: Store,
    clock: Arc<dyn Clock>,
    keys: Arc<LinkKeys>,
    transport: Arc<Transport>,
    from: Mailbox,
    domain: String,
    send_outcome: bool,
}

impl EmailChannel {
    pub fn new(
        live: Live,
        email: &EmailConfig,
        store: Store,
        clock: Arc<dyn Clock>,
        keys: Arc<LinkKeys>,
    ) -> anyhow::Result<Self> {
        let snap = live.load();
        let transport = Transport::from_config(email, snap.config.delivery.timeout)?;
        let from = Mailbox::from_str(&email.from)
            .map_err(|_| anyhow::anyhow!("email.from is not a mailbox"))?;
        tracing::info!(transport = %transport.describe(), "email channel on");
        Ok(Self {
            dir: snap.dir.clone(),
            domain: message::domain_of(&from),
            send_outcome: email.send_outcome,
            config: snap.config.clone(),
            live,
            store,
            clock,
            keys,
            transport: Arc::new(transport),
            from,
        })
    }

    /// This channel on the config version serving now.
    fn current(&self) -> Self {
        let snap = self.live.load();
        Self {
            config: snap.config.clone(),
            dir: snap.dir.clone(),
            ..self.clone()
        }
    }

    fn item(&self, esc: &Escalation, intent: Intent) -> NewItem {
        NewItem {
            channel: ChannelKind::Email,
            kind: intent.kind().to_owned(),
            // One reviewer's mails about one escalation go out in order: the outcome never overtakes the request.
            ordering_key: format!("email:{}:{}", esc.id, intent.reviewer()),
            payload: serde_json::to_value(&intent).unwrap_or(Value::Null),
            message_id: message::new_message_id(&esc.id, &self.domain),
            priority: Priority::Notification,
            // One SMTP server serves every mail: it is one destination.
            destination: "email".to_owned(),
        }
    }

    /// Renders the message for an intent, or says why it is not sent.
    async fn compose(
        &self,
        intent: &Intent,
        esc: &Escalation,
        message_id: &str,
    ) -> Result<lettre::Message, NotSent> {
        let reviewer = self.dir.get(intent.reviewer()).ok_or_else(|| {
            NotSent::Never(format!(
                "reviewer {} is no longer configured",
                intent.reviewer()
            ))
        })?;
        let to = mailbox(reviewer)?;
        let now = self.clock.now();
        let (subject, template, context) = match intent {
            Intent::Request {
                stage,
                round,
                revision,
                issued_at_ms,
                reason,
                ..
            } => {
                let invite = Invite {
                    opening: esc.opening_issued(*stage, *round, *issued_at_ms),
                    revision: *revision,
                    reason: *reason,
                };
                self.request_parts(esc, reviewer, &invite, now).await?
            }
            Intent::Outcome { .. } => self.outcome_parts(esc, reviewer, now)?,
            Intent::Execution { .. } => self.execution_parts(esc, reviewer, now)?,
            Intent::SignIn { .. } => {
                return Err(NotSent::Never("a sign-in mail names no escalation".into()));
            }
        };
        let render = |ext: &str| {
            render::render(&format!("email/{template}.{ext}"), &context)
                .map_err(|e| NotSent::Never(e.to_string()))
        };
        let draft = message::Draft {
            from: &self.from,
            to,
            subject,
            message_id,
            root: message::thread_root(&esc.id, &reviewer.id, &self.domain),
            text: render("txt")?,
            html: render("html")?,
        };
        message::build(draft).map_err(|e| NotSent::Never(format!("building the message: {e}")))
    }

    /// Subject, template and context of a request, unless it became pointless while queued.
    async fn request_parts(
        &self,
        esc: &Escalation,
        reviewer: &ReviewerProfile,
        invite: &Invite,
        now: Time,
    ) -> Result<Parts, NotSent> {
        if let Some(why) = intent::stale_request(esc, &reviewer.id, invite.opening, &self.dir, now)
        {
            return Err(NotSent::Never(format!("not sent: {}", why.code())));
        }
        let recent = (self.store)
            .recent_decisions(
                &esc.request.intent,
                crate::view::RECENT_DECISIONS as u32 + 1,
            )
            .await
            .map_err(|e| NotSent::Later(format!("loading recent decisions: {e}")))?;
        let context = self.request_context(esc, reviewer, invite, &recent, now);
        Ok((message::request_subject(&esc.request), "request", context))
    }

    fn outcome_parts(
        &self,
        esc: &Escalation,
        reviewer: &ReviewerProfile,
        now: Time,
    ) -> Result<Parts, NotSent> {
        if esc.decision.is_none() {
            return Err(NotSent::Never(
                "not sent: the escalation is not decided".into(),
            ));
        }
        let context = self.outcome_context(esc, reviewer, now);
        Ok((message::outcome_subject(&esc.request), "outcome", context))
    }

    fn execution_parts(
        &self,
        esc: &Escalation,
        reviewer: &ReviewerProfile,
        now: Time,
    ) -> Result<Parts, NotSent> {
        if esc.execution.is_none() {
            return Err(NotSent::Never("not sent: no execution recorded".into()));
        }
        let view = self.view(esc, &[]);
        let view = TemplateView::new(&view, esc.current_stage, now);
        let headline = view.after.as_ref().and_then(|a| a.execution.as_ref());
        let context = json!({
            "preheader": headline.map_or("", |e| e.headline.as_str()),
            // The mail's own heading says the headline; the shared block need not repeat it.
            "execution_mail": true,
            "esc": view,
            "reviewer": {"name": reviewer.name, "email": reviewer.email},
        });
        Ok((message::outcome_subject(&esc.request), "execution", context))
    }

    fn request_context(
        &self,
        esc: &Escalation,
        reviewer: &ReviewerProfile,
        invite: &Invite,
        recent: &[Escalation],
        now: Time,
    ) -> Value {
        let view = self.view(esc, recent);
        let view = TemplateView::new(&view, invite.opening.stage, now);
        let claims = LinkClaims {
            escalation: esc.id.clone(),
            revision: invite.revision,
            stage: invite.opening.stage,
            round: invite.opening.round,
            reviewer: reviewer.id.clone(),
            action: LinkAction::Approve,
            issued_at_ms: None,
            expires_at_ms: esc.expires_at.timestamp_millis(),
        };
        let link = |action| link_url(&self.config, &self.keys.sign(&claims.with_action(action)));
        let risk = view
            .risk
            .as_ref()
            .map(|r| format!("Risk {} · ", r.score))
            .unwrap_or_default();
        // Offered while the workflow still allows a revision (design.md §7).
        let request_changes = esc
            .may_request_changes()
            .then(|| link(LinkAction::RequestChanges));
        json!({
            "preheader": format!("{risk}decide by {}", view.deadline.utc),
            "revision": crate::view::revision::revision(esc, &self.dir),
            "esc": view,
            "reviewer": {"name": reviewer.name, "email": reviewer.email},
            "reason_text": reason_text(invite.reason, invite.opening.stage),
            "links": {
                "approve": link(LinkAction::Approve),
                "conditions": link(LinkAction::Conditions),
                "deny": link(LinkAction::Deny),
                "request_changes": request_changes,
            },
        })
    }

    fn outcome_context(&self, esc: &Escalation, reviewer: &ReviewerProfile, now: Time) -> Value {
        let view = self.view(esc, &[]);
        let view = TemplateView::new(&view, esc.current_stage, now);
        json!({
            "preheader": view.decision.as_ref().map_or("", |d| d.headline),
            "esc": view,
            "reviewer": {"name": reviewer.name, "email": reviewer.email},
        })
    }

    fn view<'a>(&'a self, esc: &'a Escalation, recent: &'a [Escalation]) -> EscalationView<'a> {
        EscalationView::new(&ViewInput {
            esc,
            config: &self.config,
            dir: &self.dir,
            recent,
        })
    }
}

/// Subject, template name (`email/NAME.{txt,html}`) and template context.
type Parts = (String, &'static str, Value);

/// The invitation a request intent carries.
struct Invite {
    opening: Opening,
    revision: u32,
    reason: NotifyReason,
}

enum NotSent {
    /// Retrying cannot help.
    Never(String),
    /// A transient problem on our side (the database).
    Later(String),
}

/// Why this reviewer is hearing about it now, when that is news.
fn reason_text(reason: NotifyReason, stage: usize) -> Option<String> {
    match reason {
        NotifyReason::StageStarted if stage == 0 => None,
        NotifyReason::StageStarted => Some(format!(
            "Stage {stage} is done; stage {} now needs a decision.",
            stage + 1
        )),
        NotifyReason::Delegation => {
            Some("Nobody has answered yet, so this request was widened to include you.".to_owned())
        }
        NotifyReason::SlaEscalation => Some(
            "This stage is past its response time (SLA) and you are its escalation contact."
                .to_owned(),
        ),
        NotifyReason::Revised => Some(
            "Changes were asked for, and the agent has revised the request: please review it again."
                .to_owned(),
        ),
    }
}

/// The reviewer's mailbox; lettre quotes and encodes the name as needed.
fn mailbox(reviewer: &ReviewerProfile) -> Result<Mailbox, NotSent> {
    let address = reviewer
        .email
        .trim()
        .parse::<lettre::Address>()
        .map_err(|_| NotSent::Never(format!("{} is not an address", reviewer.email)))?;
    Ok(Mailbox::new(
        Some(message::one_line(&reviewer.name, 100)),
        address,
    ))
}

#[async_trait::async_trait]
impl Channel for EmailChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    fn plan(&self, esc: &Escalation, effects: &[Effect], ctx: &PlanContext<'_>) -> Vec<NewItem> {
        if !esc.workflow.channels.contains(&ChannelKind::Email) {
            return Vec::new();
        }
        let mut items = Vec::new();
        for effect in effects {
            match effect {
                Effect::NotifyReviewers {
                    opening,
                    reviewers,
                    reason,
                } => items.extend(
                    reviewers
                        .iter()
                        .map(|r| self.item(esc, Intent::request(esc, r, *opening, *reason))),
                ),
                Effect::Decided if self.send_outcome => {
                    items.extend(
                        intent::asked(esc, ctx.dir)
                            .into_iter()
                            .map(|reviewer| self.item(esc, Intent::Outcome { reviewer })),
                    );
                }
                // The same people, in the same thread, hear what was then executed.
                Effect::ExecutionRecorded if self.send_outcome => {
                    items.extend(
                        intent::asked(esc, ctx.dir)
                            .into_iter()
                            .map(|reviewer| self.item(esc, Intent::Execution { reviewer })),
                    );
                }
                _ => {}
            }
        }
        items
    }

    async fn deliver(&self, item: &Item) -> Delivery {
        if super::alerts::is_alert(&item.kind) {
            return super::alerts::deliver_email(&self.transport, &self.from, item).await;
        }
        self.current().deliver_now(item).await
    }

    fn audit_kinds(&self) -> (AuditKind, AuditKind) {
        (AuditKind::EmailSent, AuditKind::EmailFailed)
    }
}

fn retry(error: String) -> Delivery {
    Delivery::Retry {
        error,
        retry_after: None,
    }
}

impl EmailChannel {
    async fn deliver_now(&self, item: &Item) -> Delivery {
        let Ok(intent) = serde_json::from_value::<Intent>(item.payload.clone()) else {
            return Delivery::Failed {
                error: "malformed email item".into(),
            };
        };
        if let Intent::SignIn { .. } = intent {
            return self.deliver_sign_in(&intent, &item.message_id).await;
        }
        let id = EscalationId(item.escalation_id.clone());
        let esc = match self.store.escalation(&id).await {
            Ok(Some(esc)) => esc,
            Ok(None) => {
                return Delivery::Failed {
                    error: format!("escalation {id} not found"),
                };
            }
            Err(e) => return retry(format!("loading the escalation: {e}")),
        };
        let message = match self.compose(&intent, &esc, &item.message_id).await {
            Ok(m) => m,
            Err(NotSent::Never(error)) => return Delivery::Failed { error },
            Err(NotSent::Later(error)) => return retry(error),
        };
        match self.transport.send(&message, &item.message_id).await {
            Ok(()) => Delivery::Delivered,
            Err(e) if e.permanent => Delivery::Failed { error: e.message },
            Err(e) => retry(e.message),
        }
    }
}
