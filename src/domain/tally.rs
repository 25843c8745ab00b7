//! The arithmetic of the analytics report, pure: the window's counts (`analytics_counts`
//! rows, parsed), which rank a median or p90 reads, rates, suggestions, and the report
//! assembled from counts and the measured durations. The store does the reading.
//!
//! Percentiles are exact, over the n durations of a group sorted ascending (1-based ranks):
//! the **median** is the middle value for an odd n and the mean of the two middle values
//! (ranks n/2 and n/2+1) for an even n; the **p90** is the nearest rank, the ⌈0.9·n⌉-th
//! value. Nothing to measure (n = 0) gives `null`.

use super::Time;
use super::analytics::*;
use std::collections::BTreeMap;

/// The separator of an `analytics_counts` key's parts (see `store::facts::key`).
const SEP: char = '\u{1f}';

/// Decisions by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub approved: u64,
    pub denied: u64,
    pub expired: u64,
    pub cancelled: u64,
}

impl Outcomes {
    pub fn decided(&self) -> u64 {
        self.approved + self.denied + self.expired + self.cancelled
    }

    fn add(&mut self, outcome: &str, n: u64) {
        match outcome {
            "approved" => self.approved += n,
            "denied" => self.denied += n,
            "expired" => self.expired += n,
            "cancelled" => self.cancelled += n,
            _ => {}
        }
    }

    pub fn rates(&self) -> Rates {
        let d = self.decided();
        Rates {
            approval_rate: rate(self.approved, d),
            deny_rate: rate(self.denied, d),
            timeout_rate: rate(self.expired, d),
        }
    }
}

/// Votes by choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Votes {
    pub approve: u64,
    pub deny: u64,
    pub request_changes: u64,
}

impl Votes {
    pub fn total(&self) -> u64 {
        self.approve + self.deny + self.request_changes
    }
}

/// Closed openings of one stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closes {
    pub approved: u64,
    pub rejected: u64,
    pub changes_requested: u64,
    pub expired: u64,
    pub cancelled: u64,
    pub breached: u64,
    /// Delegation tiers applied at close → how many closed so.
    pub tiers: BTreeMap<u32, u64>,
}

impl Closes {
    pub fn closed(&self) -> u64 {
        self.approved + self.rejected + self.changes_requested + self.expired + self.cancelled
    }
}

/// Execution outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Executions {
    pub matched: u64,
    pub mismatched: u64,
    pub violated: u64,
    pub unreported: u64,
}

/// The window's counts, from the `analytics_counts` rows summed over its hours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub intents: BTreeMap<String, Outcomes>,
    pub risks: BTreeMap<String, Outcomes>,
    pub reviewers: BTreeMap<String, Votes>,
    /// (workflow, 0-based stage).
    pub stages: BTreeMap<(String, u32), Closes>,
    /// Hour of week → first votes.
    pub first_votes: BTreeMap<u32, u64>,
    /// Intent → execution outcomes.
    pub executions: BTreeMap<String, Executions>,
}

impl Tally {
    /// Adds one summed row; a metric or key this version does not know is skipped.
    pub fn add(&mut self, metric: &str, key: &str, n: u64) {
        let parts: Vec<&str> = key.split(SEP).collect();
        match (metric, parts.as_slice()) {
            ("decision", [intent, outcome]) => self
                .intents
                .entry((*intent).into())
                .or_default()
                .add(outcome, n),
            ("risk", [tier, outcome]) => self
                .risks
                .entry((*tier).into())
                .or_default()
                .add(outcome, n),
            ("vote", [reviewer, choice]) => {
                let v = self.reviewers.entry((*reviewer).into()).or_default();
                match *choice {
                    "approve" => v.approve += n,
                    "deny" => v.deny += n,
                    "request_changes" => v.request_changes += n,
                    _ => {}
                }
            }
            ("stage", [wf, stage, outcome]) => {
                if let Some(c) = self.stage(wf, stage) {
                    match *outcome {
                        "approved" => c.approved += n,
                        "rejected" => c.rejected += n,
                        "changes_requested" => c.changes_requested += n,
                        "expired" => c.expired += n,
                        "cancelled" => c.cancelled += n,
                        _ => {}
                    }
                }
            }
            ("stage.breached", [wf, stage]) => {
                if let Some(c) = self.stage(wf, stage) {
                    c.breached += n;
                }
            }
            ("stage.tiers", [wf, stage, tiers]) => {
                if let (Ok(t), Some(c)) = (tiers.parse(), self.stage(wf, stage)) {
                    *c.tiers.entry(t).or_default() += n;
                }
            }
            ("first_vote", [how]) => {
                if let Ok(h) = how.parse() {
                    *self.first_votes.entry(h).or_default() += n;
                }
            }
            ("execution", [intent, result]) => {
                let e = self.executions.entry((*intent).into()).or_default();
                match *result {
                    "matched" => e.matched += n,
                    "mismatched" => e.mismatched += n,
                    "violated" => e.violated += n,
                    "unreported" => e.unreported += n,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn stage(&mut self, wf: &str, stage: &str) -> Option<&mut Closes> {
        let stage = stage.parse().ok()?;
        Some(self.stages.entry((wf.into(), stage)).or_default())
    }
}

/// The 0-based offset of the first middle value of `n` sorted values and how many to read
/// (1 for an odd n, 2 for an even one); `None` for none.
pub fn median_rank(n: u64) -> Option<(u64, u64)> {
    match n {
        0 => None,
        n if n % 2 == 1 => Some((n / 2, 1)),
        n => Some((n / 2 - 1, 2)),
    }
}

/// The 0-based offset of the p90 (nearest rank: the ⌈0.9·n⌉-th value); `None` for none.
pub fn p90_rank(n: u64) -> Option<u64> {
    (n > 0).then(|| (9 * n).div_ceil(10) - 1)
}

/// The median in seconds of the middle value(s) read at [`median_rank`], in ms.
pub fn median_seconds(middle: &[i64]) -> Option<f64> {
    match middle {
        [one] => Some(*one as f64 / 1000.0),
        [a, b] => Some((*a as f64 + *b as f64) / 2.0 / 1000.0),
        _ => None,
    }
}

/// `part / whole`, `None` when there is no whole.
pub fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The suggestion for an intent, if its decisions make one (see [`SUGGESTION_RATE`]).
pub fn suggestion(intent: &str, o: &Outcomes, problems: u64) -> Option<Suggestion> {
    let decided = o.decided();
    if decided < SUGGESTION_MIN_DECISIONS {
        return None;
    }
    let approved = o.approved as f64 / decided as f64;
    let denied = o.denied as f64 / decided as f64;
    let (suggestion, rate, reason) = if approved >= SUGGESTION_RATE && problems == 0 {
        let why = format!(
            "{} of {decided} decisions approved and no execution problem: a workflow with `auto: approve` for this intent would save reviewers' time.",
            o.approved
        );
        (SuggestedRule::AutoApprove, approved, why)
    } else if denied >= SUGGESTION_RATE {
        let why = format!(
            "{} of {decided} decisions denied: a workflow with `auto: deny` for this intent would answer the agent at once.",
            o.denied
        );
        (SuggestedRule::AutoDeny, denied, why)
    } else {
        return None;
    };
    Some(Suggestion {
        intent: intent.into(),
        suggestion,
        decided,
        rate,
        reason,
    })
}

/// `mon` … `sun` and the hour of day of an hour of the week.
pub fn day_and_hour(hour_of_week: u32) -> (&'static str, u32) {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    (DAYS[(hour_of_week / 24 % 7) as usize], hour_of_week % 24)
}

/// The longest window a report may cover.
pub const MAX_WINDOW: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);

/// A window as `since` gives it: a whole number of minutes, hours, days or weeks (`30m`,
/// `24h`, `7d`, `2w`), more than 0 and at most [`MAX_WINDOW`].
pub fn parse_since(text: &str) -> Option<std::time::Duration> {
    let unit = match text.chars().last()? {
        'm' => 60,
        'h' => 3600,
        'd' => 24 * 3600,
        'w' => 7 * 24 * 3600,
        _ => return None,
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let window = std::time::Duration::from_secs(n.checked_mul(unit)?);
    (n > 0 && window <= MAX_WINDOW).then_some(window)
}

/// The order risk tiers are shown in.
const RISK_ORDER: [&str; 5] = ["low", "medium", "high", "critical", "unscored"];

/// What the store measured beside the counts: durations at their ranks, and the state now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    /// Intent → (median, p90) seconds from arrival to decision.
    pub intents: BTreeMap<String, (Option<f64>, Option<f64>)>,
    /// Reviewer → median response seconds.
    pub reviewers: BTreeMap<String, Option<f64>>,
    /// (workflow, 0-based stage) → (name, median seconds open).
    pub stages: BTreeMap<(String, u32), (String, Option<f64>)>,
    /// Hour of week → median seconds to the first vote.
    pub first_votes: BTreeMap<u32, Option<f64>>,
    /// Intent → latest denials, newest first.
    pub denials: BTreeMap<String, Vec<Denial>>,
    /// Reviewer → escalations waiting on them now.
    pub pending: BTreeMap<String, u64>,
    /// Escalations pending or waiting for changes now.
    pub open: u64,
    /// Decisions made by an `auto` rule in the window.
    pub automatic: u64,
    pub alerts: Vec<AlertView>,
}

/// The report of a window from its counts and measures.
pub fn assemble(since: Time, until: Time, tally: &Tally, m: &Measured) -> Analytics {
    let all = tally
        .intents
        .values()
        .fold(Outcomes::default(), |a, o| Outcomes {
            approved: a.approved + o.approved,
            denied: a.denied + o.denied,
            expired: a.expired + o.expired,
            cancelled: a.cancelled + o.cancelled,
        });
    let totals = Totals {
        decided: all.decided(),
        approved: all.approved,
        denied: all.denied,
        expired: all.expired,
        cancelled: all.cancelled,
        automatic: m.automatic,
        open: m.open,
    };
    let by_intent = tally
        .intents
        .iter()
        .map(|(intent, o)| {
            let (median, p90) = m.intents.get(intent).copied().unwrap_or_default();
            IntentStats {
                intent: intent.clone(),
                decided: o.decided(),
                approved: o.approved,
                denied: o.denied,
                expired: o.expired,
                cancelled: o.cancelled,
                rates: o.rates(),
                median_seconds: median,
                p90_seconds: p90,
                latest_denials: m.denials.get(intent).cloned().unwrap_or_default(),
            }
        })
        .collect();
    let mut reviewers: Vec<&String> = tally.reviewers.keys().chain(m.pending.keys()).collect();
    reviewers.sort();
    reviewers.dedup();
    let by_reviewer = reviewers
        .into_iter()
        .map(|r| {
            let v = tally.reviewers.get(r).copied().unwrap_or_default();
            ReviewerStats {
                reviewer: r.clone(),
                votes: v.total(),
                approvals: v.approve,
                denials: v.deny,
                changes_requested: v.request_changes,
                median_response_seconds: m.reviewers.get(r).copied().flatten(),
                pending: m.pending.get(r).copied().unwrap_or(0),
            }
        })
        .collect();
    let by_stage = tally
        .stages
        .iter()
        .map(|((wf, stage), c)| {
            let (name, median) = m
                .stages
                .get(&(wf.clone(), *stage))
                .cloned()
                .unwrap_or_else(|| (format!("stage {}", stage + 1), None));
            let closed = c.closed();
            let top = c.tiers.keys().max().copied().unwrap_or(0);
            let delegation = (1..=top)
                .map(|tier| {
                    let reached: u64 = c.tiers.range(tier..).map(|(_, n)| n).sum();
                    TierShare {
                        tier,
                        share: rate(reached, closed).unwrap_or(0.0),
                    }
                })
                .collect();
            StageStats {
                workflow: wf.clone(),
                stage: stage + 1,
                name,
                closed,
                approved: c.approved,
                rejected: c.rejected,
                changes_requested: c.changes_requested,
                expired: c.expired,
                cancelled: c.cancelled,
                median_seconds: median,
                sla_breach_rate: rate(c.breached, closed),
                rejection_rate: rate(c.rejected, closed),
                delegation,
            }
        })
        .collect();
    let by_hour = tally
        .first_votes
        .iter()
        .map(|(how, n)| {
            let (day, hour) = day_and_hour(*how);
            HourStats {
                hour_of_week: *how,
                day: day.into(),
                hour,
                first_votes: *n,
                median_first_vote_seconds: m.first_votes.get(how).copied().flatten(),
            }
        })
        .collect();
    let by_risk = RISK_ORDER
        .iter()
        .filter_map(|tier| {
            let o = tally.risks.get(*tier)?;
            Some(RiskStats {
                tier: (*tier).into(),
                decided: o.decided(),
                rates: o.rates(),
            })
        })
        .collect();
    let e = tally
        .executions
        .values()
        .fold(Executions::default(), |a, e| Executions {
            matched: a.matched + e.matched,
            mismatched: a.mismatched + e.mismatched,
            violated: a.violated + e.violated,
            unreported: a.unreported + e.unreported,
        });
    let executions = ExecutionStats {
        reported: e.matched + e.mismatched + e.violated,
        matched: e.matched,
        mismatched: e.mismatched,
        violated: e.violated,
        unreported: e.unreported,
    };
    let suggestions = tally
        .intents
        .iter()
        .filter_map(|(intent, o)| {
            let problems = tally
                .executions
                .get(intent)
                .map_or(0, |e| e.mismatched + e.violated);
            suggestion(intent, o, problems)
        })
        .collect();
    Analytics {
        since,
        until,
        totals,
        by_intent,
        by_reviewer,
        by_stage,
        by_hour,
        by_risk,
        executions,
        suggestions,
        alerts: m.alerts.clone(),
    }
}

/// When a pending escalation may be decided: `now` plus what remains of the current
/// stage's median (its median minus the time it has been open, at least 0) plus the
/// medians of the stages after it. `None` when any of them has no history.
pub fn estimated_completion(
    now: Time,
    current_opened_at: Time,
    current: usize,
    medians_ms: &[Option<i64>],
) -> Option<Time> {
    let mut left = medians_ms.get(current).copied().flatten()?;
    left = (left - (now - current_opened_at).num_milliseconds()).max(0);
    for later in medians_ms.get(current + 1..)? {
        left += (*later)?;
    }
    Some(now + chrono::Duration::milliseconds(left))
}

#[cfg(test)]
#[path = "tally_tests.rs"]
mod tests;
