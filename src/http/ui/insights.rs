//! Insights (operators only): the analytics report as server-rendered SVG charts and
//! tables, with the open alerts. Others get a 403 page.

use super::session::{self, Viewer};
use super::{internal, notice, signed_in, to_login};
use crate::domain::analytics::Analytics;
use crate::http::AppState;
use crate::http::pages::Page;
use crate::view::insights;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

/// The windows the page offers; `since` may be any duration up to a year.
const WINDOWS: [&str; 4] = ["24h", "7d", "30d", "90d"];
const DEFAULT_WINDOW: &str = "7d";
const LONGEST: std::time::Duration = std::time::Duration::from_secs(366 * 86400);

#[derive(Deserialize)]
pub struct Window {
    since: Option<String>,
}

/// GET /ui/insights?since=7d
#[utoipa::path(get, path = "/ui/insights", operation_id = "ui_insights", tag = "web ui",
    params(("since" = Option<String>, Query, description = "The window, e.g. 24h, 7d (default), 30d.")),
    responses(
        (status = 200, description = "The analytics as SVG charts and tables, with the open alerts.", content_type = "text/html"),
        (status = 303, description = "No live session: to /ui/login."),
        (status = 400, description = "The window is not a duration.", content_type = "text/html"),
        (status = 403, description = "Not an operator.", content_type = "text/html"),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Window>, QueryRejection>,
) -> Response {
    let Some(viewer) = session::viewer(&state, &headers).await else {
        return to_login();
    };
    if !viewer.admin {
        return notice(
            StatusCode::FORBIDDEN,
            "Operators only",
            "Insights are for operators (reviewers with admin: true in the configuration).",
        )
        .into_response();
    }
    let text = query
        .ok()
        .and_then(|Query(w)| w.since)
        .unwrap_or_else(|| DEFAULT_WINDOW.to_owned());
    let Some(since) = humantime::parse_duration(&text)
        .ok()
        .filter(|d| *d <= LONGEST && !d.is_zero())
    else {
        return notice(
            StatusCode::BAD_REQUEST,
            "Unknown window",
            "The window is a duration such as 24h, 7d or 30d, at most a year.",
        )
        .into_response();
    };
    let now = state.service.now();
    match state.service.analytics(since, now).await {
        Ok(report) => page(&viewer, &report, &text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "computing analytics for the Insights page");
            internal().into_response()
        }
    }
}

fn page(viewer: &Viewer, report: &Analytics, since: &str) -> Page {
    let context = json!({
        "report": insights::model(report),
        "windows": WINDOWS,
        "since_param": since,
    });
    signed_in(viewer, "pages/ui/insights.html", context, StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analytics::*;
    use crate::domain::fixtures::t0;

    fn fixture() -> Analytics {
        let rates = Rates {
            approval_rate: Some(0.75),
            deny_rate: Some(0.25),
            timeout_rate: Some(0.0),
        };
        Analytics {
            since: t0() - chrono::Duration::days(7),
            until: t0(),
            totals: Totals {
                decided: 4,
                approved: 3,
                denied: 1,
                open: 2,
                ..Totals::default()
            },
            by_intent: vec![IntentStats {
                intent: "deploy.<script>alert(1)</script>".into(),
                decided: 4,
                approved: 3,
                denied: 1,
                expired: 0,
                cancelled: 0,
                rates: rates.clone(),
                median_seconds: Some(600.0),
                p90_seconds: Some(3600.0),
                latest_denials: vec![Denial {
                    escalation_id: "esc_1".into(),
                    at: t0(),
                    comment: Some("<b>not now</b>".into()),
                }],
            }],
            by_reviewer: vec![ReviewerStats {
                reviewer: "bob".into(),
                votes: 4,
                approvals: 3,
                denials: 1,
                changes_requested: 0,
                median_response_seconds: Some(120.0),
                pending: 2,
            }],
            by_stage: vec![StageStats {
                workflow: "single".into(),
                stage: 1,
                name: "review".into(),
                closed: 4,
                approved: 3,
                rejected: 1,
                changes_requested: 0,
                expired: 0,
                cancelled: 0,
                median_seconds: Some(300.0),
                sla_breach_rate: Some(0.5),
                rejection_rate: Some(0.25),
                delegation: vec![TierShare {
                    tier: 1,
                    share: 0.25,
                }],
            }],
            by_hour: vec![HourStats {
                hour_of_week: 9,
                day: "mon".into(),
                hour: 9,
                first_votes: 4,
                median_first_vote_seconds: Some(90.0),
            }],
            by_risk: vec![RiskStats {
                tier: "low".into(),
                decided: 4,
                rates,
            }],
            executions: ExecutionStats::default(),
            suggestions: vec![],
            alerts: vec![AlertView {
                id: 1,
                kind: "overloaded".into(),
                subject: "bob".into(),
                message: "Bob has 2 waiting".into(),
                fired_at: t0(),
                escalation_id: None,
            }],
        }
    }

    #[test]
    fn renders_charts_tables_and_alerts_with_agent_text_escaped() {
        let viewer = Viewer::for_test("carol", true);
        let page = page(&viewer, &fixture(), "7d");
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        let html = &page.html;
        assert_eq!(
            html.matches("<svg").count(),
            6,
            "five bar charts and the heat map"
        );
        assert!(html.contains("<title>approved: 3</title>"));
        assert!(html.contains("Bob has 2 waiting"));
        assert!(html.contains("mon 09:00 UTC: median first vote after 1m 30s"));
        assert!(
            !html.contains("<script>alert(1)"),
            "agent text is escaped, in SVG too"
        );
        assert!(html.contains("deploy.&lt;script&gt;"));
        assert!(!html.contains("<b>not now</b>"));
    }
}
