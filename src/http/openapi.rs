//! The OpenAPI 3.1 description of the HTTP API, served at `GET /openapi.json`.
//!
//! Operations come from the `#[utoipa::path]` attribute on each handler and schemas from
//! the handlers' own types (`EscalationRequest`, `VoteBody`, `ErrorBody`, the domain
//! enums). tests/it/openapi.rs holds the document to the real router: every route is
//! documented and every documented path is routed.

use super::Routed;
use super::error::{ErrorBody, ErrorCode, ErrorDetail};
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::LazyLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr, Schema};
use utoipa::{Modify, OpenApi};

pub use super::reviewers::{ReviewDocument, ReviewRequest};
pub use crate::domain::status::{
    CallbackEvent, CallbackKind, DecisionDocument, StageDocument, StatusDocument, VoteDocument,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "countersign",
        description = "A human checkpoint in front of high-risk AI-agent actions. An agent \
            submits an escalation; reviewers decide on Slack, by email or through this API; the \
            agent reads the decision, long-polls for it or receives it by signed callback. Every \
            JSON error is `ErrorBody`; 429 and 503 carry `Retry-After`. Any route answers 405 \
            `method_not_allowed` (with `Allow`) to a method it does not take, and 500 `internal` \
            when something fails on the server, with nothing changed.",
    ),
    paths(
        super::agents::create,
        super::agents::webhook,
        super::agents::read,
        super::agents::cancel,
        super::execution::report,
        super::revisions::revise,
        super::simulate::simulate,
        super::reviewers::pending,
        super::reviewers::vote,
        super::analytics::analytics,
        super::slack::interactions,
        super::slack::events,
        super::links::show,
        super::links::submit,
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
        super::jwks::jwks,
        openapi_json,
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode, LinkForm, SlackForm, CallbackEvent)),
    modifiers(&Security, &ClosedIntake, &Callbacks),
    tags(
        (name = "agents", description = "Submit escalations, read decisions, cancel, report executions, simulate."),
        (name = "reviewers", description = "What waits for a reviewer, and voting."),
        (name = "slack", description = "Slack's interactivity and Events API request URLs (manifest.yml)."),
        (name = "email links", description = "Signed links from review emails: a GET shows, only the POST votes."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
        (name = "receipts", description = "The public keys that verify decision receipts."),
        (name = "callbacks", description = "What countersign sends to agents (the `webhooks` of this document)."),
    )
)]
struct ApiDoc;

/// The document, built once.
pub fn document() -> Document {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::ui::ApiDoc::openapi());
    doc
}

static JSON: LazyLock<String> =
    LazyLock::new(|| document().to_pretty_json().unwrap_or_else(|_| "{}".into()));

pub fn router() -> Router<Routed> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", content_type = "application/json")),
)]
async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], JSON.as_str())
}

/// The three bearer credentials: an agent's API key, a reviewer's API key and the
/// optional `server.metrics_token`.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(what.to_owned()))
                    .build(),
            )
        };
        components.add_security_scheme(
            "agent_key",
            bearer("An agent's `api_key` from the config (`agents[].api_key`)."),
        );
        components.add_security_scheme(
            "reviewer_key",
            bearer("A reviewer's `api_key` from the config (`reviewers[].api_key`)."),
        );
        components.add_security_scheme(
            "metrics_token",
            bearer("`server.metrics_token`, required only when it is set."),
        );
    }
}

/// The callbacks countersign sends to agents, as OpenAPI 3.1 `webhooks`: the body is a
/// [`CallbackEvent`], signed per Standard Webhooks with the agent's `webhook_secret`,
/// retried with backoff until a 2xx, one `webhook-id` per event.
struct Callbacks;

impl Modify for Callbacks {
    fn modify(&self, doc: &mut Document) {
        use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
        use utoipa::openapi::request_body::RequestBodyBuilder;
        use utoipa::openapi::{
            ContentBuilder, HttpMethod, PathItem, PathsBuilder, Ref, Required, ResponseBuilder,
        };
        let header = |name: &str, what: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .description(Some(what))
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String),
                ))
                .build()
        };
        let event = |summary: &str, kind: CallbackKind| {
            let body = RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("CallbackEvent")))
                        .build(),
                )
                .build();
            let operation = OperationBuilder::new()
                .summary(Some(summary))
                .description(Some(format!(
                    "`POST` to the escalation's `callback_url` (or the agent's), body `type` \
                     `{}`. Verify the Standard Webhooks signature with the agent's \
                     `webhook_secret` before trusting it; a retry repeats the same \
                     `webhook-id` and body.",
                    kind.as_str()
                )))
                .tag("callbacks")
                .parameter(header(
                    "webhook-id",
                    "One per event, the same on every retry.",
                ))
                .parameter(header("webhook-timestamp", "Unix seconds of this attempt."))
                .parameter(header(
                    "webhook-signature",
                    "`v1,<base64 HMAC-SHA256>` over `id.timestamp.body`.",
                ))
                .request_body(Some(body))
                .response(
                    "2XX",
                    ResponseBuilder::new()
                        .description("Received; any other answer is retried with backoff."),
                );
            PathItem::new(HttpMethod::Post, operation)
        };
        doc.webhooks = Some(
            PathsBuilder::new()
                .path(
                    CallbackKind::Decided.as_str(),
                    event("The escalation is decided.", CallbackKind::Decided),
                )
                .path(
                    CallbackKind::ChangesRequested.as_str(),
                    event(
                        "A reviewer asked for changes; revise with POST /v1/escalations/{id}/revisions.",
                        CallbackKind::ChangesRequested,
                    ),
                )
                .build(),
        );
    }
}

/// Unknown top-level intake fields are refused (422 naming the field). The request type
/// cannot say so with `deny_unknown_fields` (stored requests must stay readable if a field
/// is retired; see `EscalationRequest::parse`), so the schema says it here.
struct ClosedIntake;

impl Modify for ClosedIntake {
    fn modify(&self, doc: &mut Document) {
        let schemas = doc.components.as_mut().map(|c| &mut c.schemas);
        if let Some(RefOr::T(Schema::Object(intake))) =
            schemas.and_then(|s| s.get_mut("EscalationRequest"))
        {
            intake.additional_properties = Some(Box::new(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ));
        }
    }
}

/// The confirmation page's form (`application/x-www-form-urlencoded`), as
/// `Submitted::parse` in src/http/links.rs reads it; the token in the path says who votes
/// how, so the form carries only the details. Each typed condition adds a field
/// `constraint_<id>` (a number or a text, as the condition declares; empty: not given).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct LinkForm {
    /// Required for a deny.
    comment: Option<String>,
    /// Indexes of the workflow's offered conditions ticked (repeat the field for several).
    condition: Option<Vec<u32>>,
    /// More conditions, one per line.
    other_conditions: Option<String>,
}

/// `GET /healthz`'s body, as `healthz` in src/http/ops.rs writes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Health {
    #[schema(value_type = String, example = "ok")]
    status: String,
}

/// `GET /readyz`'s body, as `readyz` in src/http/ops.rs writes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    status: String,
    /// Why it is not ready; only with `unavailable`.
    reason: Option<String>,
}

/// Slack's interaction request (`application/x-www-form-urlencoded`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SlackForm {
    /// The interaction as JSON (`block_actions` or `view_submission`), read only after
    /// `X-Slack-Signature` was verified over the raw body.
    payload: String,
}
