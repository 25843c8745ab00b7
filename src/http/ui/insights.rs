//! Insights (operators only): the analytics report as server-rendered SVG charts and
//! tables, with the open alerts. Others get a 403 page.

use super::session::Viewer;
use super::signed_in;
use crate::domain::analytics::Analytics;
use crate::http::pages::Page;
use crate::view::insights;
use axum::http::StatusCode;
use serde_json::json;

/// The windows the page offers.
const WINDOWS: [&str; 4] = ["24h", "7d", "30d", "90d"];

#[cfg_attr(not(test), allow(dead_code))]
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
