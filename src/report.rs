//! `countersign report`: the analytics report (the body of `GET /v1/analytics`) as text
//! tables, one per group: rates as percentages, durations as `4m 10s`.

use crate::domain::analytics::{Analytics, Rates, SuggestedRule};

/// The whole report.
pub fn render(a: &Analytics) -> String {
    let mut out = format!(
        "Analytics from {} to {} (UTC)\n\n",
        a.since.format("%Y-%m-%d %H:%M"),
        a.until.format("%Y-%m-%d %H:%M")
    );
    let t = &a.totals;
    section(
        &mut out,
        "Totals",
        &[
            "decided",
            "approved",
            "denied",
            "expired",
            "cancelled",
            "automatic",
            "open now",
        ],
        vec![
            [
                t.decided,
                t.approved,
                t.denied,
                t.expired,
                t.cancelled,
                t.automatic,
                t.open,
            ]
            .iter()
            .map(u64::to_string)
            .collect(),
        ],
    );
    section(
        &mut out,
        "By intent",
        &[
            "intent",
            "decided",
            "approved",
            "denied",
            "timed out",
            "median",
            "p90",
        ],
        a.by_intent
            .iter()
            .map(|i| {
                let mut row = vec![i.intent.clone(), i.decided.to_string()];
                row.extend(rates(&i.rates));
                row.push(duration(i.median_seconds));
                row.push(duration(i.p90_seconds));
                row
            })
            .collect(),
    );
    let denials: Vec<Vec<String>> = a
        .by_intent
        .iter()
        .flat_map(|i| {
            i.latest_denials.iter().map(|d| {
                vec![
                    i.intent.clone(),
                    d.at.format("%Y-%m-%d %H:%M").to_string(),
                    d.escalation_id.clone(),
                    d.comment.clone().unwrap_or_else(|| "-".into()),
                ]
            })
        })
        .collect();
    section(
        &mut out,
        "Latest denials",
        &["intent", "at", "escalation", "comment"],
        denials,
    );
    section(
        &mut out,
        "By reviewer",
        &[
            "reviewer",
            "votes",
            "approvals",
            "denials",
            "changes",
            "median response",
            "pending now",
        ],
        a.by_reviewer
            .iter()
            .map(|r| {
                vec![
                    r.reviewer.clone(),
                    r.votes.to_string(),
                    r.approvals.to_string(),
                    r.denials.to_string(),
                    r.changes_requested.to_string(),
                    duration(r.median_response_seconds),
                    r.pending.to_string(),
                ]
            })
            .collect(),
    );
    section(
        &mut out,
        "By stage",
        &[
            "workflow",
            "stage",
            "name",
            "closed",
            "median",
            "SLA breached",
            "rejected",
            "delegated",
        ],
        a.by_stage
            .iter()
            .map(|s| {
                let tiers: Vec<String> = s
                    .delegation
                    .iter()
                    .map(|t| format!("tier {}: {}", t.tier, percent(Some(t.share))))
                    .collect();
                vec![
                    s.workflow.clone(),
                    s.stage.to_string(),
                    s.name.clone(),
                    s.closed.to_string(),
                    duration(s.median_seconds),
                    percent(s.sla_breach_rate),
                    percent(s.rejection_rate),
                    if tiers.is_empty() {
                        "-".into()
                    } else {
                        tiers.join(", ")
                    },
                ]
            })
            .collect(),
    );
    section(
        &mut out,
        "By hour of arrival (UTC)",
        &["day", "hour", "first votes", "median to first vote"],
        a.by_hour
            .iter()
            .map(|h| {
                vec![
                    h.day.clone(),
                    format!("{:02}:00", h.hour),
                    h.first_votes.to_string(),
                    duration(h.median_first_vote_seconds),
                ]
            })
            .collect(),
    );
    section(
        &mut out,
        "By risk",
        &["tier", "decided", "approved", "denied", "timed out"],
        a.by_risk
            .iter()
            .map(|r| {
                let mut row = vec![r.tier.clone(), r.decided.to_string()];
                row.extend(rates(&r.rates));
                row
            })
            .collect(),
    );
    let e = &a.executions;
    section(
        &mut out,
        "Executions",
        &[
            "reported",
            "matched",
            "mismatched",
            "violated",
            "unreported",
        ],
        vec![
            [
                e.reported,
                e.matched,
                e.mismatched,
                e.violated,
                e.unreported,
            ]
            .iter()
            .map(u64::to_string)
            .collect(),
        ],
    );
    section(
        &mut out,
        "Suggestions",
        &["intent", "suggestion", "decided", "rate", "why"],
        a.suggestions
            .iter()
            .map(|s| {
                let rule = match s.suggestion {
                    SuggestedRule::AutoApprove => "auto: approve",
                    SuggestedRule::AutoDeny => "auto: deny",
                };
                vec![
                    s.intent.clone(),
                    rule.into(),
                    s.decided.to_string(),
                    percent(Some(s.rate)),
                    s.reason.clone(),
                ]
            })
            .collect(),
    );
    section(
        &mut out,
        "Open alerts",
        &["fired", "kind", "subject", "message"],
        a.alerts
            .iter()
            .map(|al| {
                vec![
                    al.fired_at.format("%Y-%m-%d %H:%M").to_string(),
                    al.kind.clone(),
                    al.subject.clone(),
                    al.message.clone(),
                ]
            })
            .collect(),
    );
    out
}

fn rates(r: &Rates) -> [String; 3] {
    [
        percent(r.approval_rate),
        percent(r.deny_rate),
        percent(r.timeout_rate),
    ]
}

/// `97.5%`, `-` for nothing measured.
pub fn percent(rate: Option<f64>) -> String {
    match rate {
        None => "-".into(),
        Some(r) => {
            let p = format!("{:.1}", r * 100.0);
            format!("{}%", p.strip_suffix(".0").unwrap_or(&p))
        }
    }
}

/// `45s`, `4m 10s`, `2h 5m`, `3d 4h` (whole seconds, the two largest units); `-` for none.
pub fn duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds else {
        return "-".into();
    };
    let s = s.round().max(0.0) as u64;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) if sec == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d {h}h"),
    }
}

/// A titled table with columns as wide as their widest cell; `(none)` when empty.
fn section(out: &mut String, title: &str, headers: &[&str], rows: Vec<Vec<String>>) {
    out.push_str(title);
    out.push('\n');
    if rows.is_empty() {
        out.push_str("  (none)\n\n");
        return;
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    out.push_str(&line(headers.to_vec()));
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_show_their_two_largest_units() {
        assert_eq!(duration(None), "-");
        assert_eq!(duration(Some(45.4)), "45s");
        assert_eq!(duration(Some(250.0)), "4m 10s");
        assert_eq!(duration(Some(240.0)), "4m");
        assert_eq!(duration(Some(7500.0)), "2h 5m");
        assert_eq!(duration(Some(7200.0)), "2h");
        assert_eq!(duration(Some(273_600.0)), "3d 4h");
    }

    #[test]
    fn rates_show_as_percentages() {
        assert_eq!(percent(None), "-");
        assert_eq!(percent(Some(0.5)), "50%");
        assert_eq!(percent(Some(0.975)), "97.5%");
        assert_eq!(percent(Some(2.0 / 3.0)), "66.7%");
    }

    #[test]
    fn columns_align_on_their_widest_cell() {
        let mut out = String::new();
        section(
            &mut out,
            "T",
            &["a", "bb"],
            vec![
                vec!["long".into(), "1".into()],
                vec!["x".into(), "22".into()],
            ],
        );
        assert_eq!(out, "T\n  a     bb\n  long  1\n  x     22\n\n");
    }
}
