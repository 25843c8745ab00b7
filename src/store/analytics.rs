//! The reads behind the analytics report (design.md §8), in one read transaction so every
//! figure is of the same commit: counts summed from `analytics_counts` over the window's
//! hours, then each median or p90 as one seek at its rank on a facts index, walking only
//! the group's rows inside the window (the same rows the counts counted, since both are
//! cut at the window's first hour).

use super::db;
use super::facts::HOUR_MS;
use super::{Result, Store, Tx, from_ms};
use crate::domain::analytics::{AlertView, Denial};
use crate::domain::tally::{self, Measured, Tally};
use std::collections::BTreeMap;

/// Counts per (metric, key) from the window's first hour on: a range of the primary key.
pub const COUNTS: &str =
    "SELECT metric, key, CAST(SUM(n) AS BIGINT) FROM analytics_counts WHERE hour >= ?1
     GROUP BY metric, key";
// The seeks name their index: a plan that sorts instead (as the planner may pick with
// other statistics) would read the whole group where a seek skips to the rank.

/// An intent's decision durations at a rank.
pub const INTENT_SEEK: &str =
    "SELECT duration_ms FROM decision_facts INDEXED BY decision_facts_duration
     WHERE intent = ?1 AND decided_at >= ?2 ORDER BY duration_ms LIMIT ?3 OFFSET ?4";
/// A reviewer's response times at a rank.
pub const REVIEWER_SEEK: &str = "SELECT response_ms FROM vote_facts INDEXED BY vote_facts_response
     WHERE reviewer_id = ?1 AND at >= ?2 ORDER BY response_ms LIMIT ?3 OFFSET ?4";
/// A stage's open durations (however it closed) at a rank.
pub const STAGE_SEEK: &str = "SELECT duration_ms FROM stage_facts INDEXED BY stage_facts_duration
     WHERE workflow_id = ?1 AND stage = ?2 AND closed_at >= ?3
     ORDER BY duration_ms LIMIT ?4 OFFSET ?5";
/// A stage's approved-close durations at a rank (estimated_completion).
pub const APPROVED_STAGE_SEEK: &str =
    "SELECT duration_ms FROM stage_facts INDEXED BY stage_facts_approved
     WHERE workflow_id = ?1 AND stage = ?2 AND outcome = 'approved' AND closed_at >= ?3
     ORDER BY duration_ms LIMIT ?4 OFFSET ?5";
/// How many approved closes a stage had in a window (estimated_completion). Named index:
/// `stage_facts_recent` would narrow by time but read every row to check its outcome.
pub const APPROVED_STAGE_COUNT: &str =
    "SELECT COUNT(*) FROM stage_facts INDEXED BY stage_facts_approved
     WHERE workflow_id = ?1 AND stage = ?2 AND outcome = 'approved' AND closed_at >= ?3";
/// The name a stage last closed under.
pub const STAGE_NAME: &str = "SELECT name FROM stage_facts
     WHERE workflow_id = ?1 AND stage = ?2 ORDER BY closed_at DESC LIMIT 1";
/// Waits from arrival to the first vote, for arrivals in one hour of the week, at a rank.
pub const FIRST_VOTE_SEEK: &str =
    "SELECT first_wait_ms FROM vote_facts INDEXED BY vote_facts_first_wait
     WHERE hour_of_week = ?1 AND first_wait_ms IS NOT NULL AND at >= ?2
     ORDER BY first_wait_ms LIMIT ?3 OFFSET ?4";
/// An intent's latest denials.
pub const DENIALS: &str = "SELECT escalation_id, decided_at, reason FROM decision_facts
     WHERE intent = ?1 AND outcome = 'denied' AND decided_at >= ?2
     ORDER BY decided_at DESC LIMIT 5";
/// Automatic decisions in the window.
pub const AUTOMATIC: &str =
    "SELECT COUNT(*) FROM decision_facts WHERE automatic = 1 AND decided_at >= ?1";
/// What waits on each reviewer now.
pub const PENDING: &str = "SELECT reviewer_id, COUNT(*) FROM pending_reviews GROUP BY reviewer_id";
/// Escalations not decided now (pending or waiting for changes), kept per agent by triggers.
pub const OPEN: &str = "SELECT CAST(COALESCE(SUM(open), 0) AS BIGINT) FROM agent_open";
/// Open alerts, newest first.
pub const ALERTS: &str = "SELECT id, kind, subject, message, fired_at, escalation_id FROM alerts
     WHERE resolved_at IS NULL ORDER BY fired_at DESC LIMIT 100";

/// Every analytics query with the index it must search (the query-plan test checks each).
pub fn queries() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("counts", COUNTS, "PRIMARY KEY (hour>?)"),
        ("intent seek", INTENT_SEEK, "decision_facts_duration"),
        ("reviewer seek", REVIEWER_SEEK, "vote_facts_response"),
        ("stage seek", STAGE_SEEK, "stage_facts_duration"),
        (
            "approved stage seek",
            APPROVED_STAGE_SEEK,
            "stage_facts_approved",
        ),
        (
            "approved stage count",
            APPROVED_STAGE_COUNT,
            "stage_facts_approved",
        ),
        ("stage name", STAGE_NAME, "stage_facts_recent"),
        ("first vote seek", FIRST_VOTE_SEEK, "vote_facts_first_wait"),
        ("denials", DENIALS, "decision_facts_denials"),
        ("automatic", AUTOMATIC, "decision_facts_automatic"),
        ("pending", PENDING, "pending_reviews"),
        ("open", OPEN, "agent_open"),
        ("alerts", ALERTS, "alerts_open"),
    ]
}

impl Store {
    /// The window's counts and measures, from `since_hour` (an `analytics_counts` hour) on.
    pub async fn analytics(&self, since_hour: i64) -> Result<(Tally, Measured)> {
        let mut tx = self.readers.begin_snapshot().await?;
        let out = read(&mut tx, since_hour).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The median of each stage's approved closes of `workflow` (ms; `None` without any),
    /// from `since_hour` on, for stages `0..stages`.
    pub async fn approved_stage_medians(
        &self,
        workflow: &str,
        stages: usize,
        since_hour: i64,
    ) -> Result<Vec<Option<i64>>> {
        let mut tx = self.readers.begin_snapshot().await?;
        let from = since_hour * HOUR_MS;
        let mut out = Vec::with_capacity(stages);
        for stage in 0..stages {
            let n: i64 = db::query_scalar(APPROVED_STAGE_COUNT)
                .bind(workflow)
                .bind(stage as i64)
                .bind(from)
                .fetch_one(&mut tx)
                .await?;
            let median = match tally::median_rank(n.max(0) as u64) {
                None => None,
                Some((offset, take)) => {
                    let q = db::query_scalar(APPROVED_STAGE_SEEK)
                        .bind(workflow)
                        .bind(stage as i64)
                        .bind(from);
                    let mid: Vec<i64> = q
                        .bind(take as i64)
                        .bind(offset as i64)
                        .fetch_all(&mut tx)
                        .await?;
                    match mid.as_slice() {
                        [one] => Some(*one),
                        [a, b] => Some((a + b) / 2),
                        _ => None,
                    }
                }
            };
            out.push(median);
        }
        tx.commit().await?;
        Ok(out)
    }
}

async fn read(c: &mut Tx, since_hour: i64) -> Result<(Tally, Measured)> {
    let from = since_hour * HOUR_MS;
    let mut tally = Tally::default();
    let rows: Vec<(String, String, i64)> = db::query_as(COUNTS)
        .bind(since_hour)
        .fetch_all(&mut *c)
        .await?;
    for (metric, key, n) in rows {
        tally.add(&metric, &key, n.max(0) as u64);
    }
    let mut m = Measured::default();
    for (intent, o) in &tally.intents {
        let n = o.decided();
        let median = median(c, INTENT_SEEK, Group::Text(intent), from, n).await?;
        let p90 = match tally::p90_rank(n) {
            None => None,
            Some(rank) => at(c, INTENT_SEEK, Group::Text(intent), from, rank, 1)
                .await?
                .first()
                .map(|ms| *ms as f64 / 1000.0),
        };
        m.intents.insert(intent.clone(), (median, p90));
        if o.denied > 0 {
            m.denials
                .insert(intent.clone(), denials(c, intent, from).await?);
        }
    }
    for (reviewer, v) in &tally.reviewers {
        let median = median(c, REVIEWER_SEEK, Group::Text(reviewer), from, v.total()).await?;
        m.reviewers.insert(reviewer.clone(), median);
    }
    for ((wf, stage), closes) in &tally.stages {
        let group = Group::Stage(wf, *stage);
        let median = median(c, STAGE_SEEK, group, from, closes.closed()).await?;
        let name: Option<String> = db::query_scalar(STAGE_NAME)
            .bind(wf)
            .bind(i64::from(*stage))
            .fetch_optional(&mut *c)
            .await?;
        let name = name.unwrap_or_else(|| format!("stage {}", stage + 1));
        m.stages.insert((wf.clone(), *stage), (name, median));
    }
    for (how, n) in &tally.first_votes {
        let median = median(c, FIRST_VOTE_SEEK, Group::Hour(*how), from, *n).await?;
        m.first_votes.insert(*how, median);
    }
    let pending: Vec<(String, i64)> = db::query_as(PENDING).fetch_all(&mut *c).await?;
    m.pending = pending
        .into_iter()
        .map(|(r, n)| (r, n.max(0) as u64))
        .collect::<BTreeMap<_, _>>();
    let open: i64 = db::query_scalar(OPEN).fetch_one(&mut *c).await?;
    m.open = open.max(0) as u64;
    let automatic: i64 = db::query_scalar(AUTOMATIC)
        .bind(from)
        .fetch_one(&mut *c)
        .await?;
    m.automatic = automatic.max(0) as u64;
    let alerts: Vec<(i64, String, String, String, i64, Option<String>)> =
        db::query_as(ALERTS).fetch_all(&mut *c).await?;
    m.alerts = alerts
        .into_iter()
        .map(
            |(id, kind, subject, message, fired_at, escalation_id)| AlertView {
                id,
                kind,
                subject,
                message,
                fired_at: from_ms(fired_at),
                escalation_id,
            },
        )
        .collect();
    Ok((tally, m))
}

/// The median in seconds of the `n` values a seek query walks.
async fn median(
    c: &mut Tx,
    sql: &'static str,
    group: Group<'_>,
    from: i64,
    n: u64,
) -> Result<Option<f64>> {
    let Some((offset, take)) = tally::median_rank(n) else {
        return Ok(None);
    };
    Ok(tally::median_seconds(
        &at(c, sql, group, from, offset, take).await?,
    ))
}

/// The group a seek walks: its leading index columns.
#[derive(Clone, Copy)]
enum Group<'a> {
    /// An intent or a reviewer.
    Text(&'a str),
    /// A workflow's stage (0-based).
    Stage(&'a str, u32),
    /// An hour of the week.
    Hour(u32),
}

/// `take` values from 0-based rank `offset` of a seek query (group parameters, then the
/// window's start, then LIMIT and OFFSET).
async fn at(
    c: &mut Tx,
    sql: &'static str,
    group: Group<'_>,
    from: i64,
    offset: u64,
    take: u64,
) -> Result<Vec<i64>> {
    let q = db::query_scalar(sql);
    let q = match group {
        Group::Text(s) => q.bind(s),
        Group::Stage(wf, stage) => q.bind(wf).bind(i64::from(stage)),
        Group::Hour(h) => q.bind(i64::from(h)),
    };
    q.bind(from)
        .bind(take as i64)
        .bind(offset as i64)
        .fetch_all(&mut *c)
        .await
}

async fn denials(c: &mut Tx, intent: &str, from: i64) -> Result<Vec<Denial>> {
    let rows: Vec<(String, i64, Option<String>)> = db::query_as(DENIALS)
        .bind(intent)
        .bind(from)
        .fetch_all(&mut *c)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(escalation_id, at, comment)| Denial {
            escalation_id,
            at: from_ms(at),
            comment,
        })
        .collect())
}
