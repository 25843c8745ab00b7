//! Email link pages. A GET shows the confirmation page and never changes state (mail scanners
//! open every link, some run its scripts); the form's POST, which carries the token, records the vote.
//!
//! The token in the path is the credential, so a cross-site POST needs the token
//! and there is nothing for CSRF to borrow. Pages load nothing from outside,
//! forbid framing, and are never cached or sent as a referrer.

use super::error::AppError;
use super::openapi::LinkForm;
use super::pages::vote_form::{self, Submitted, verb};
use super::pages::{self, Page};
use super::{AppState, Routed};
use crate::domain::engine::{self, Event, VoteInput};
use crate::domain::{Escalation, Opening, Refusal, Time, Vote, VoteChannel, VoteChoice};
use crate::service::ApplyError;
use crate::signing::links::{LinkAction, LinkClaims, LinkError};
use crate::view::constraints;
use crate::view::{self, EscalationView, TemplateView, ViewInput};
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Router, middleware};
use serde_json::{Value, json};

pub fn router() -> Router<Routed> {
    Router::new()
        .route("/links/{token}", get(show).post(submit))
        .layer(middleware::map_response(pages::secure_headers))
}

/// A verified token and the escalation it names.
struct Link {
    claims: LinkClaims,
    /// The stage opening the link was issued for; the engine refuses it once another is current.
    opening: Opening,
    esc: Escalation,
    /// The same invitation with the other actions, as paths relative to this
    /// page (so they work behind any prefix): "deny instead" without a new email.
    siblings: Vec<(LinkAction, String)>,
}

/// Why a link cannot be used now. Each becomes a page with a 4xx (or 500) status.
enum Problem {
    Invalid,
    Expired(Time),
    NotFound,
    /// The reviewer already voted on this opening: their vote is shown, with the status
    /// of the refusal the engine gave.
    Used(Box<Vote>, Refusal, Box<Escalation>),
    Refused(Refusal, Option<Box<Escalation>>),
    Internal,
}

impl Problem {
    fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        Self::Internal
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid => StatusCode::BAD_REQUEST,
            Self::Expired(_) => StatusCode::GONE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Used(_, r, _) | Self::Refused(r, _) => AppError::refused(r).status,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn text(&self) -> (&'static str, String) {
        match self {
            Self::Invalid => (
                "This link is not valid",
                "The link is incomplete or has been changed. Open it again from the email; if it still fails, the email may be too old.".into(),
            ),
            Self::Expired(at) => (
                "This link has expired",
                format!("It was valid until {}, the escalation's deadline.", view::clock_time(*at)),
            ),
            Self::NotFound => (
                "Unknown escalation",
                "This link points to an escalation this server does not know.".into(),
            ),
            Self::Used(vote, _, _) => (
                "You already voted",
                format!(
                    "You already chose to {} this on {} (via {}). Each link records one vote.",
                    vote.choice.as_str(),
                    view::clock_time(vote.at),
                    vote.channel.as_str()
                ),
            ),
            Self::Refused(r, _) => (refusal_title(r), r.message()),
            Self::Internal => (
                "Something went wrong",
                "Something went wrong on our side; nothing was changed. Please try again in a minute.".into(),
            ),
        }
    }

    fn escalation(&self) -> Option<&Escalation> {
        match self {
            Self::Used(_, _, esc) => Some(esc),
            Self::Refused(_, esc) => esc.as_deref(),
            _ => None,
        }
    }
}

fn refusal_title(r: &Refusal) -> &'static str {
    match r {
        Refusal::AlreadyDecided(_) => "Already decided",
        Refusal::StaleStage => "This request has moved on",
        Refusal::AlreadyVoted => "You already voted",
        Refusal::CommentRequired(_) | Refusal::Invalid(_) => "Please check the form",
        // Execution reports come from agents, never through a link.
        Refusal::NotApproved(_)
        | Refusal::AlreadyReported
        | Refusal::ChangesNotRequested
        | Refusal::RevisionsExhausted(_) => "Not possible",
        Refusal::NotEligible(_) | Refusal::SelfApproval | Refusal::SeparationOfDuties(_) => {
            "You cannot vote on this"
        }
    }
}

/// GET: the confirmation page, or why the link cannot be used. Reads only.
#[utoipa::path(
    get,
    path = "/links/{token}",
    tag = "email links",
    params(("token" = String, Path, description = "The signed link token: escalation, revision, stage opening, reviewer and action, with an expiry.")),
    responses(
        (status = 200, description = "The confirmation page: context and one button.", content_type = "text/html"),
        (status = 400, description = "A tampered or foreign link.", content_type = "text/html"),
        (status = 403, description = "The reviewer may not vote (now): the engine's refusal.", content_type = "text/html"),
        (status = 404, description = "The escalation is gone.", content_type = "text/html"),
        (status = 409, description = "Already voted, decided, or the stage opening has closed.", content_type = "text/html"),
        (status = 410, description = "The link's deadline has passed.", content_type = "text/html"),
    ),
)]
async fn show(State(state): State<AppState>, token: Result<Path<String>, PathRejection>) -> Page {
    let now = state.service.now();
    let link = match open(&state, token, now).await {
        Ok(link) => link,
        Err(problem) => return problem_page(&state, problem, now),
    };
    if let Err(problem) = standing(&state, &link, now) {
        return problem_page(&state, problem, now);
    }
    confirm_page(&state, &link, &Submitted::default(), None, now).await
}

/// POST: records the vote through the engine, which has the last word.
#[utoipa::path(
    post,
    path = "/links/{token}",
    tag = "email links",
    params(("token" = String, Path, description = "The signed link token.")),
    request_body(content = LinkForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Recorded: the result page.", content_type = "text/html"),
        (status = 400, description = "A tampered or foreign link.", content_type = "text/html"),
        (status = 403, description = "The engine refused the vote.", content_type = "text/html"),
        (status = 404, description = "The escalation is gone.", content_type = "text/html"),
        (status = 409, description = "Already voted, decided, or the stage opening has closed.", content_type = "text/html"),
        (status = 410, description = "The link's deadline has passed.", content_type = "text/html"),
        (status = 422, description = "The form again, saying what is missing (a deny's reason, a condition).", content_type = "text/html"),
    ),
)]
async fn submit(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Page {
    let now = state.service.now();
    let link = match open(&state, token, now).await {
        Ok(link) => link,
        Err(problem) => return problem_page(&state, problem, now),
    };
    let Ok(Form(pairs)) = form else {
        // A used or decided link says so (409 …) before any complaint about the form.
        if let Err(problem) = standing(&state, &link, now) {
            return problem_page(&state, problem, now);
        }
        let error = "The form could not be read; please try again.";
        return confirm_page(&state, &link, &Submitted::default(), Some(error), now).await;
    };
    let submitted = Submitted::parse(&pairs);
    let (conditions, constraints) = match submitted.terms(&link.esc, link.claims.action) {
        Ok(terms) => terms,
        Err(error) => return confirm_page(&state, &link, &submitted, Some(&error), now).await,
    };
    let vote = VoteInput {
        constraints,
        reviewer: link.claims.reviewer.clone(),
        choice: link.claims.action.choice(),
        comment: submitted.comment.clone(),
        conditions,
        channel: VoteChannel::Email,
        opening: Some(link.opening),
    };
    match state.service.apply(&link.esc.id, Event::Vote(vote)).await {
        Ok(esc) => result_page(&state, &link, &esc, now),
        Err(ApplyError::Refused(r @ (Refusal::CommentRequired(_) | Refusal::Invalid(_)))) => {
            confirm_page(&state, &link, &submitted, Some(&r.message()), now).await
        }
        Err(ApplyError::Refused(r)) => {
            let problem = after_refusal(&state, &link, r).await;
            problem_page(&state, problem, now)
        }
        Err(ApplyError::NotFound) => problem_page(&state, Problem::NotFound, now),
        Err(ApplyError::Store(e)) => {
            problem_page(&state, Problem::internal("recording an email vote", e), now)
        }
    }
}

/// Verifies the token and loads its escalation.
async fn open(
    state: &AppState,
    token: Result<Path<String>, PathRejection>,
    now: Time,
) -> Result<Link, Problem> {
    // A path that is not even UTF-8 is a broken link like any other.
    let Ok(Path(token)) = token else {
        return Err(Problem::Invalid);
    };
    let keys = &state.link_keys;
    let claims = keys.verify(&token, now).map_err(|e| {
        tracing::info!(error = %e, "email link refused");
        match e {
            LinkError::Expired(at) => Problem::Expired(at),
            _ => Problem::Invalid,
        }
    })?;
    let esc = state
        .service
        .get(&claims.escalation)
        .await
        .map_err(|e| Problem::internal("loading an escalation for a link", e))?
        .ok_or(Problem::NotFound)?;
    // A revision from the future cannot be ours: a restored database, or a forgery.
    if claims.revision > esc.revision {
        return Err(Problem::Invalid);
    }
    let siblings = LinkAction::ALL
        .into_iter()
        .filter(|a| *a != claims.action)
        .filter(|a| *a != LinkAction::RequestChanges || esc.may_request_changes())
        .map(|a| (a, keys.sign(&claims.with_action(a))))
        .collect();
    Ok(Link {
        opening: claims.opening(&esc),
        claims,
        esc,
        siblings,
    })
}

/// What a vote would meet, asked of the engine on the loaded copy without changing
/// anything: the GET's view of the future, and the POST's answer to a broken form.
fn standing(state: &AppState, link: &Link, now: Time) -> Result<(), Problem> {
    let claims = &link.claims;
    engine::precheck(
        &link.esc,
        &claims.reviewer,
        claims.action.choice(),
        Some(link.opening),
        &state.service.dir,
        now,
    )
    .map_err(|r| explain(link, r, link.esc.clone()))
}

/// A refusal from the engine after a POST, explained on the state it met.
async fn after_refusal(state: &AppState, link: &Link, refusal: Refusal) -> Problem {
    let fresh = state.service.get(&link.esc.id).await.ok().flatten();
    explain(link, refusal, fresh.unwrap_or_else(|| link.esc.clone()))
}

/// The reviewer's own vote on the link's opening explains any refusal best (it is why
/// the link is spent); otherwise the refusal's own sentence.
fn explain(link: &Link, refusal: Refusal, esc: Escalation) -> Problem {
    let vote = esc
        .stages
        .get(link.opening.stage)
        .filter(|s| s.round == link.opening.round)
        .and_then(|s| s.votes.iter().find(|v| v.reviewer == link.claims.reviewer))
        .cloned();
    match vote {
        Some(vote) => Problem::Used(Box::new(vote), refusal, Box::new(esc)),
        None => Problem::Refused(refusal, Some(Box::new(esc))),
    }
}

fn escalation_view(
    state: &AppState,
    esc: &Escalation,
    stage: usize,
    recent: &[Escalation],
    now: Time,
) -> Value {
    let view = EscalationView::new(&ViewInput {
        esc,
        config: &state.service.config,
        dir: &state.service.dir,
        recent,
    });
    json!(TemplateView::new(&view, stage, now))
}

fn reviewer_json(state: &AppState, link: &Link) -> Value {
    let profile = state.service.dir.get(&link.claims.reviewer);
    json!({
        "name": view::person(&state.service.dir, &link.claims.reviewer).name,
        "email": profile.map(|p| p.email.clone()),
    })
}

async fn confirm_page(
    state: &AppState,
    link: &Link,
    form: &Submitted,
    error: Option<&str>,
    now: Time,
) -> Page {
    let recent = state
        .service
        .store
        .recent_decisions(&link.esc.request.intent, view::RECENT_DECISIONS as u32 + 1)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "recent decisions unavailable for a confirmation page");
            Vec::new()
        });
    let action = link.claims.action;
    let alternatives: Vec<Value> = link
        .siblings
        .iter()
        .map(|(a, href)| json!({"href": href, "label": verb(*a)}))
        .collect();
    let context = json!({
        "esc": escalation_view(state, &link.esc, link.claims.stage, &recent, now),
        "reviewer": reviewer_json(state, link),
        "verb": verb(action),
        "f": vote_form::fields(&link.esc, action, form, error, ""),
        "alternatives": alternatives,
        "revision": view::revision::revision(&link.esc, &state.service.dir),
    });
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    pages::render("pages/confirm.html", &context, status)
}

fn result_page(state: &AppState, link: &Link, esc: &Escalation, now: Time) -> Page {
    let claims = &link.claims;
    let vote = esc
        .stages
        .get(claims.stage)
        .and_then(|s| s.votes.iter().rev().find(|v| v.reviewer == claims.reviewer));
    let terms: Vec<String> = vote.map_or_else(Vec::new, |v| {
        let lines = constraints::constraint_lines(&esc.workflow, &v.constraints);
        v.conditions.iter().cloned().chain(lines).collect()
    });
    let headline = match (claims.action.choice(), !terms.is_empty()) {
        (VoteChoice::Deny, _) => "You denied",
        (VoteChoice::RequestChanges, _) => "You asked for changes",
        (VoteChoice::Approve, true) => "You approved with conditions",
        (VoteChoice::Approve, false) => "You approved",
    };
    let view = EscalationView::new(&ViewInput {
        esc,
        config: &state.service.config,
        dir: &state.service.dir,
        recent: &[],
    });
    let context = json!({
        "esc": TemplateView::new(&view, claims.stage, now),
        "headline": headline,
        "vote": vote.map(|v| json!({
            "decision": v.choice.as_str(),
            "conditions": terms,
            "comment": v.comment,
            "at": view::clock_time(v.at),
        })),
        "progress": progress(&view, claims.stage),
    });
    pages::render("pages/result.html", &context, StatusCode::OK)
}

/// Where the escalation stands after the vote, in one sentence.
fn progress(view: &EscalationView<'_>, voted_at: usize) -> String {
    if let Some(d) = &view.decision {
        return format!("The escalation is decided: {}.", d.headline);
    }
    if !view.esc.is_pending() {
        return "Voting is stopped until the agent revises the request; if your review is needed again you will get a new email.".to_owned();
    }
    let Some(current) = view.current() else {
        return String::new();
    };
    let (number, name) = (current.number(), current.name);
    if current.index > voted_at {
        return format!(
            "Stage {} is complete; stage {number} ({name}) is now with its reviewers.",
            voted_at + 1
        );
    }
    if current.index < voted_at {
        return format!("The escalation went back to stage {number} ({name}).");
    }
    let remaining = current.remaining();
    let waiting = current.awaiting.as_ref().map_or(0, Vec::len);
    format!(
        "Waiting for {remaining} more {} at stage {number} ({name}); {waiting} {} can still vote.",
        view::plural("approval", remaining),
        view::plural("reviewer", waiting),
    )
}

fn problem_page(state: &AppState, problem: Problem, now: Time) -> Page {
    let (title, message) = problem.text();
    let esc = problem
        .escalation()
        .map(|e| escalation_view(state, e, e.current_stage, &[], now));
    let context = json!({
        "title": title,
        "message": message,
        "esc": esc,
    });
    pages::render("pages/error.html", &context, problem.status())
}
