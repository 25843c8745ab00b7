use super::*;
use chrono::{TimeZone, Utc};

fn t(h: u32, m: u32, s: u32) -> Time {
    Utc.with_ymd_and_hms(2026, 3, 2, h, m, s).unwrap()
}

#[test]
fn the_median_reads_the_middle_value_or_the_two_middle_values() {
    assert_eq!(median_rank(0), None);
    assert_eq!(median_rank(1), Some((0, 1)));
    assert_eq!(median_rank(2), Some((0, 2)));
    assert_eq!(median_rank(5), Some((2, 1)));
    assert_eq!(median_rank(6), Some((2, 2)));
    assert_eq!(median_seconds(&[4000]), Some(4.0));
    assert_eq!(median_seconds(&[4000, 7000]), Some(5.5));
    assert_eq!(median_seconds(&[]), None);
}

#[test]
fn the_p90_is_the_nearest_rank() {
    assert_eq!(p90_rank(0), None);
    // ⌈0.9⌉ = 1st, ⌈9⌉ = 9th, ⌈9.9⌉ = 10th, ⌈18⌉ = 18th, ⌈18.9⌉ = 19th.
    assert_eq!(p90_rank(1), Some(0));
    assert_eq!(p90_rank(10), Some(8));
    assert_eq!(p90_rank(11), Some(9));
    assert_eq!(p90_rank(20), Some(17));
    assert_eq!(p90_rank(21), Some(18));
}

#[test]
fn counts_rows_parse_into_the_groups_and_unknown_ones_are_skipped() {
    let mut tally = Tally::default();
    let k = |p: &[&str]| p.join("\u{1f}");
    tally.add("decision", &k(&["deploy", "approved"]), 3);
    tally.add("decision", &k(&["deploy", "denied"]), 1);
    tally.add("decision", &k(&["deploy", "approved"]), 2);
    tally.add("vote", &k(&["alice", "request_changes"]), 1);
    tally.add("stage", &k(&["wf", "1", "rejected"]), 2);
    tally.add("stage.breached", &k(&["wf", "1"]), 1);
    tally.add("stage.tiers", &k(&["wf", "1", "2"]), 1);
    tally.add("first_vote", "25", 4);
    tally.add("execution", &k(&["deploy", "mismatched"]), 1);
    tally.add("someday", "x", 9);
    tally.add("decision", "no-separator", 9);
    let deploy = tally.intents["deploy"];
    assert_eq!(
        (deploy.approved, deploy.denied, deploy.decided()),
        (5, 1, 6)
    );
    assert_eq!(tally.reviewers["alice"].request_changes, 1);
    let stage = &tally.stages[&("wf".to_string(), 1)];
    assert_eq!((stage.rejected, stage.breached, stage.tiers[&2]), (2, 1, 1));
    assert_eq!(tally.first_votes[&25], 4);
    assert_eq!(tally.executions["deploy"].mismatched, 1);
    assert_eq!(tally.intents.len(), 1);
}

fn outcomes(approved: u64, denied: u64, expired: u64) -> Outcomes {
    Outcomes {
        approved,
        denied,
        expired,
        cancelled: 0,
    }
}

#[test]
fn rates_are_shares_of_all_decisions_and_null_without_any() {
    let r = outcomes(2, 1, 1).rates();
    assert_eq!(
        (r.approval_rate, r.deny_rate, r.timeout_rate),
        (Some(0.5), Some(0.25), Some(0.25))
    );
    assert_eq!(Outcomes::default().rates().approval_rate, None);
}

#[test]
fn suggestions_need_twenty_decisions_ninety_nine_percent_and_no_execution_problem() {
    assert_eq!(suggestion("a", &outcomes(19, 0, 0), 0), None);
    let s = suggestion("a", &outcomes(20, 0, 0), 0).unwrap();
    assert_eq!(
        (s.suggestion, s.decided, s.rate),
        (SuggestedRule::AutoApprove, 20, 1.0)
    );
    assert_eq!(suggestion("a", &outcomes(20, 0, 0), 1), None);
    // 99 of 100 is enough, 98 of 100 is not.
    assert!(suggestion("a", &outcomes(99, 1, 0), 0).is_some());
    assert_eq!(suggestion("a", &outcomes(98, 2, 0), 0), None);
    let s = suggestion("b", &outcomes(0, 25, 0), 0).unwrap();
    assert_eq!(s.suggestion, SuggestedRule::AutoDeny);
    assert_eq!(suggestion("c", &outcomes(10, 10, 10), 0), None);
}

#[test]
fn hours_of_the_week_name_their_day() {
    assert_eq!(day_and_hour(0), ("mon", 0));
    assert_eq!(day_and_hour(25), ("tue", 1));
    assert_eq!(day_and_hour(167), ("sun", 23));
}

#[test]
fn the_report_groups_counts_and_measures() {
    let mut tally = Tally::default();
    let k = |p: &[&str]| p.join("\u{1f}");
    tally.add("decision", &k(&["deploy", "approved"]), 3);
    tally.add("decision", &k(&["refund", "expired"]), 1);
    tally.add("risk", &k(&["unscored", "expired"]), 1);
    tally.add("risk", &k(&["high", "approved"]), 3);
    tally.add("stage", &k(&["wf", "0", "approved"]), 3);
    tally.add("stage", &k(&["wf", "0", "expired"]), 1);
    tally.add("stage.tiers", &k(&["wf", "0", "0"]), 2);
    tally.add("stage.tiers", &k(&["wf", "0", "1"]), 1);
    tally.add("stage.tiers", &k(&["wf", "0", "2"]), 1);
    tally.add("first_vote", "30", 3);
    let mut m = Measured {
        open: 2,
        automatic: 1,
        ..Measured::default()
    };
    m.pending.insert("bob".into(), 2);
    m.stages
        .insert(("wf".into(), 0), ("Finance".into(), Some(60.0)));
    let a = assemble(t(0, 0, 0), t(9, 0, 0), &tally, &m);
    assert_eq!(
        (a.totals.decided, a.totals.approved, a.totals.expired),
        (4, 3, 1)
    );
    assert_eq!((a.totals.open, a.totals.automatic), (2, 1));
    assert_eq!(a.by_intent.len(), 2);
    assert_eq!(a.by_reviewer[0].reviewer, "bob");
    assert_eq!(a.by_reviewer[0].pending, 2);
    let stage = &a.by_stage[0];
    assert_eq!(
        (stage.stage, stage.name.as_str(), stage.closed),
        (1, "Finance", 4)
    );
    let tiers: Vec<_> = stage.delegation.iter().map(|t| (t.tier, t.share)).collect();
    assert_eq!(tiers, vec![(1, 0.5), (2, 0.25)]);
    let risks: Vec<_> = a.by_risk.iter().map(|r| r.tier.as_str()).collect();
    assert_eq!(risks, vec!["high", "unscored"]);
    assert_eq!(
        (
            a.by_hour[0].day.as_str(),
            a.by_hour[0].hour,
            a.by_hour[0].first_votes
        ),
        ("tue", 6, 3)
    );
}

#[test]
fn estimated_completion_adds_what_is_left_of_the_current_stage_and_the_later_medians() {
    let now = t(10, 0, 0);
    let medians = [Some(600_000), Some(300_000), Some(60_000)];
    // Stage 2 open for 2 minutes of its 5-minute median: 3 + 1 minutes left.
    assert_eq!(
        estimated_completion(now, t(9, 58, 0), 1, &medians),
        Some(t(10, 4, 0))
    );
    // Open longer than its median: only the later stages remain.
    assert_eq!(
        estimated_completion(now, t(9, 0, 0), 1, &medians),
        Some(t(10, 1, 0))
    );
    assert_eq!(estimated_completion(now, now, 0, &[Some(1000), None]), None);
    assert_eq!(estimated_completion(now, now, 0, &[None]), None);
}

#[test]
fn since_takes_whole_minutes_hours_days_or_weeks_up_to_366_days() {
    let secs = |s: &str| parse_since(s).map(|d| d.as_secs());
    assert_eq!(secs("30m"), Some(1800));
    assert_eq!(secs("24h"), Some(86_400));
    assert_eq!(secs("7d"), Some(604_800));
    assert_eq!(secs("2w"), Some(1_209_600));
    assert_eq!(secs("366d"), Some(366 * 86_400));
    for bad in [
        "367d",
        "53w",
        "0d",
        "d",
        "7",
        "7x",
        "-1d",
        "1.5h",
        " 7d",
        "7D",
        "",
        "99999999999w",
    ] {
        assert_eq!(parse_since(bad), None, "{bad}");
    }
}
