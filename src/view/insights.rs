//! The Insights page's model: the analytics report (`domain::analytics`) as bar charts with
//! their geometry worked out (the template only draws SVG) and as table rows with readable
//! numbers. Pure: no I/O.

use crate::domain::analytics::{Analytics, HourStats};
use serde::Serialize;
use serde_json::{Value, json};

/// The drawing's width in SVG units; it scales to the page.
const WIDTH: f64 = 400.0;
/// Where bars start (labels to the left) and how long the longest is.
const BAR_X: f64 = 150.0;
const BAR_MAX: f64 = 190.0;
const ROW: f64 = 24.0;
/// Labels longer than this are shortened in the drawing (the row's title has all of it).
const LABEL_CHARS: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bars {
    /// Element id stem, for `aria-labelledby`.
    pub id: &'static str,
    pub title: &'static str,
    pub description: String,
    pub width: f64,
    pub height: f64,
    pub bar_x: f64,
    pub rows: Vec<BarRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BarRow {
    pub label: String,
    pub short: String,
    pub shown: String,
    pub y: f64,
    pub width: f64,
    pub tone: &'static str,
}

/// One chart of `rows` (label, value, value as shown, tone); `None` values are skipped.
fn bars(
    id: &'static str,
    title: &'static str,
    description: String,
    rows: Vec<(String, Option<f64>, String, &'static str)>,
) -> Bars {
    let rows: Vec<_> = rows
        .into_iter()
        .filter_map(|(l, v, s, t)| v.map(|v| (l, v, s, t)))
        .collect();
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let rows: Vec<BarRow> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (label, value, shown, tone))| BarRow {
            short: shorten(&label),
            label,
            shown,
            y: i as f64 * ROW,
            width: if max > 0.0 {
                (value / max * BAR_MAX).max(1.0)
            } else {
                1.0
            },
            tone,
        })
        .collect();
    Bars {
        id,
        title,
        description,
        width: WIDTH,
        height: (rows.len().max(1) as f64) * ROW,
        bar_x: BAR_X,
        rows,
    }
}

fn shorten(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_owned();
    }
    let head: String = label.chars().take(LABEL_CHARS - 1).collect();
    format!("{head}…")
}

/// Seconds as a short duration: `45s`, `12m`, `3h 5m`, `2d 4h`.
pub fn duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds else {
        return "–".to_owned();
    };
    let s = s.round().max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

/// A fraction of 1 as a percentage.
pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |r| format!("{:.0} %", r * 100.0))
}

/// Median time to the first vote by hour of the week: a 7 × 24 grid, darker when slower.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heat {
    pub cells: Vec<HeatCell>,
    pub days: Vec<(&'static str, f64)>,
    pub hours: Vec<(u32, f64)>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeatCell {
    pub x: f64,
    pub y: f64,
    pub opacity: f64,
    pub title: String,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn heat(by_hour: &[HourStats]) -> Heat {
    let max = by_hour
        .iter()
        .filter_map(|h| h.median_first_vote_seconds)
        .fold(0.0_f64, f64::max);
    let cells = by_hour
        .iter()
        .filter_map(|h| {
            let median = h.median_first_vote_seconds?;
            let day = DAYS
                .iter()
                .position(|d| *d == h.day)
                .unwrap_or((h.hour_of_week / 24) as usize);
            Some(HeatCell {
                x: 32.0 + f64::from(h.hour) * 15.0,
                y: 4.0 + day as f64 * 15.0,
                opacity: if max > 0.0 {
                    0.15 + 0.85 * median / max
                } else {
                    0.15
                },
                title: format!(
                    "{} {:02}:00 UTC: median first vote after {} ({} escalations)",
                    h.day,
                    h.hour,
                    duration(Some(median)),
                    h.first_votes
                ),
            })
        })
        .collect::<Vec<_>>();
    Heat {
        description: format!(
            "{} hours of the week with a first vote; the darkest waited {}.",
            cells.len(),
            duration(Some(max))
        ),
        cells,
        days: DAYS
            .iter()
            .enumerate()
            .map(|(i, d)| (*d, 15.0 + i as f64 * 15.0))
            .collect(),
        hours: (0..24)
            .step_by(3)
            .map(|h| (h, 32.0 + f64::from(h) * 15.0 + 7.0))
            .collect(),
    }
}

/// The whole page's model.
pub fn model(a: &Analytics) -> Value {
    let t = &a.totals;
    let outcomes = bars(
        "outcomes",
        "Decisions by outcome",
        format!(
            "{} escalations decided, {} automatically; {} open now.",
            t.decided, t.automatic, t.open
        ),
        vec![
            (
                "approved".into(),
                Some(t.approved as f64),
                t.approved.to_string(),
                "ok",
            ),
            (
                "denied".into(),
                Some(t.denied as f64),
                t.denied.to_string(),
                "bad",
            ),
            (
                "expired".into(),
                Some(t.expired as f64),
                t.expired.to_string(),
                "warn",
            ),
            (
                "cancelled".into(),
                Some(t.cancelled as f64),
                t.cancelled.to_string(),
                "muted",
            ),
        ],
    );
    let speed = bars(
        "speed",
        "Median time to decision by intent",
        "From arrival to decision; intents with no decision are left out.".into(),
        a.by_intent
            .iter()
            .map(|i| {
                (
                    i.intent.clone(),
                    i.median_seconds,
                    duration(i.median_seconds),
                    "info",
                )
            })
            .collect(),
    );
    let reviewers = bars(
        "reviewers",
        "Pending now by reviewer",
        "How many escalations wait on each reviewer: the overloaded stand out.".into(),
        a.by_reviewer
            .iter()
            .map(|r| {
                (
                    r.reviewer.clone(),
                    Some(r.pending as f64),
                    r.pending.to_string(),
                    "warn",
                )
            })
            .collect(),
    );
    let risk = bars(
        "risk",
        "Decisions by risk tier",
        "Volume per risk tier; the table has the rates.".into(),
        a.by_risk
            .iter()
            .map(|r| {
                (
                    r.tier.clone(),
                    Some(r.decided as f64),
                    r.decided.to_string(),
                    "info",
                )
            })
            .collect(),
    );
    let breaches = bars(
        "sla",
        "SLA breach rate by stage",
        "The share of a stage's closed openings that ran past its SLA.".into(),
        a.by_stage
            .iter()
            .map(|s| {
                (
                    format!("{} #{} {}", s.workflow, s.stage, s.name),
                    s.sla_breach_rate,
                    percent(s.sla_breach_rate),
                    "bad",
                )
            })
            .collect(),
    );
    json!({
        "since": super::clock_time(a.since),
        "until": super::clock_time(a.until),
        "totals": t,
        "charts": [outcomes, speed, reviewers, risk, breaches],
        "heat": heat(&a.by_hour),
        "intents": a.by_intent.iter().map(|i| json!({
            "intent": i.intent,
            "decided": i.decided,
            "approval": percent(i.rates.approval_rate),
            "deny": percent(i.rates.deny_rate),
            "timeout": percent(i.rates.timeout_rate),
            "median": duration(i.median_seconds),
            "p90": duration(i.p90_seconds),
            "denials": i.latest_denials.iter().map(|d| json!({
                "id": d.escalation_id,
                "comment": d.comment,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "reviewers": a.by_reviewer.iter().map(|r| json!({
            "reviewer": r.reviewer,
            "votes": r.votes,
            "approvals": r.approvals,
            "denials": r.denials,
            "changes": r.changes_requested,
            "median": duration(r.median_response_seconds),
            "pending": r.pending,
        })).collect::<Vec<_>>(),
        "stages": a.by_stage.iter().map(|s| json!({
            "workflow": s.workflow,
            "stage": s.stage,
            "name": s.name,
            "closed": s.closed,
            "median": duration(s.median_seconds),
            "sla": percent(s.sla_breach_rate),
            "rejection": percent(s.rejection_rate),
            "delegation": s.delegation.iter()
                .map(|d| format!("tier {}: {}", d.tier, percent(Some(d.share))))
                .collect::<Vec<_>>().join(", "),
        })).collect::<Vec<_>>(),
        "risk": a.by_risk.iter().map(|r| json!({
            "tier": r.tier,
            "decided": r.decided,
            "approval": percent(r.rates.approval_rate),
            "deny": percent(r.rates.deny_rate),
            "timeout": percent(r.rates.timeout_rate),
        })).collect::<Vec<_>>(),
        "executions": a.executions,
        "suggestions": a.suggestions,
        "alerts": a.alerts.iter().map(|al| json!({
            "kind": al.kind,
            "subject": al.subject,
            "message": al.message,
            "fired_at": super::clock_time(al.fired_at),
            "escalation_id": al.escalation_id,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rates_read_well() {
        assert_eq!(duration(None), "–");
        assert_eq!(duration(Some(42.4)), "42s");
        assert_eq!(duration(Some(125.0)), "2m 5s");
        assert_eq!(duration(Some(3.0 * 3600.0 + 300.0)), "3h 5m");
        assert_eq!(duration(Some(2.0 * 86400.0 + 4.0 * 3600.0)), "2d 4h");
        assert_eq!(percent(Some(0.974)), "97 %");
        assert_eq!(percent(None), "–");
    }

    #[test]
    fn bars_scale_to_the_largest_and_skip_the_unmeasured() {
        let b = bars(
            "x",
            "X",
            String::new(),
            vec![
                ("a".into(), Some(10.0), "10".into(), "ok"),
                ("b".into(), None, "–".into(), "ok"),
                (
                    "a-very-long-intent-name.with.parts".into(),
                    Some(5.0),
                    "5".into(),
                    "ok",
                ),
            ],
        );
        assert_eq!(b.rows.len(), 2);
        assert_eq!(b.rows[0].width, BAR_MAX);
        assert_eq!(b.rows[1].width, BAR_MAX / 2.0);
        assert_eq!(b.rows[1].y, ROW);
        assert_eq!(b.rows[1].short.chars().count(), LABEL_CHARS);
        assert_eq!(b.height, 2.0 * ROW);
    }
}
