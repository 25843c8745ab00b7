//! Alert rows (migrations 0008, 0010): firing once per (kind, subject, window) with the
//! audit record and outbox rows of each new one, clearing, the check schedule, the open
//! stages the stuck check reads, and the reads behind each check.

use super::db;
use super::db::Pool;
use super::outbox::{NewItem, Queued};
use super::{Result, Store, Tx, WriteTx, audit, batch, from_ms, ms, outbox};
use crate::domain::alerts::{Alert, AlertKind, EVENT_OPEN_MS, OpenStage};
use crate::domain::{AuditKind, AuditRecord, Escalation, EscalationId, Time};
use serde_json::json;

/// Open stages past a cutoff, most overdue first: a range of `open_stages_sla`.
const PAST_SLA: &str =
    "SELECT escalation_id, stage, round, opened_at, sla_deadline FROM open_stages
     WHERE sla_deadline <= ? ORDER BY sla_deadline LIMIT ?";
/// A stage's latest reviewer-decided openings: a walk down `stage_facts_recent`.
const RECENT_OUTCOMES: &str = "SELECT outcome FROM stage_facts
     WHERE workflow_id = ? AND stage = ?
       AND outcome IN ('approved', 'rejected', 'changes_requested')
     ORDER BY closed_at DESC LIMIT ?";

/// The alert checks' queries that must search an index, with the index each must use
/// (checked by `EXPLAIN QUERY PLAN` in the tests). Counting pending reviews per reviewer
/// reads every pending row by design: it runs once a minute, off the request path.
pub fn check_queries() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("stages past their SLA", PAST_SLA, "open_stages_sla"),
        (
            "recent stage outcomes",
            RECENT_OUTCOMES,
            "stage_facts_recent",
        ),
    ]
}

/// An alert with the deliveries it makes if it is new.
#[derive(Debug, Clone)]
pub struct Planned {
    pub alert: Alert,
    pub outbox: Vec<NewItem>,
}

/// The name of the periodic check in `alert_checks`.
pub const CHECK: &str = "alerts";

/// Most open stages the stuck check reads in one pass (the most overdue first).
pub const STUCK_PAGE: u32 = 5000;

/// The open stage a step leaves, as `open_stages` keeps it: the current stage of a
/// pending escalation, when it is open and has an SLA deadline.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OpenStageRow {
    stage: i64,
    round: i64,
    opened_at: i64,
    sla_deadline: i64,
}

impl OpenStageRow {
    pub(super) fn of(esc: &Escalation) -> Option<Self> {
        if !esc.is_pending() {
            return None;
        }
        let stage = esc.stages.get(esc.current_stage)?;
        if !stage.status.is_open() {
            return None;
        }
        Some(Self {
            stage: esc.current_stage as i64,
            round: i64::from(stage.round),
            opened_at: ms(stage.started_at?),
            sla_deadline: ms(stage.sla_deadline?),
        })
    }
}

/// Rewrites the open stages of these escalations: `existing` lose theirs, then `rows` go in.
pub(super) async fn replace_open_stages(
    tx: &mut Tx,
    existing: &[&EscalationId],
    rows: &[(&EscalationId, &OpenStageRow)],
) -> Result<()> {
    let existing: Vec<&str> = existing.iter().map(|id| id.as_str()).collect();
    batch::execute_in(
        tx,
        "DELETE FROM open_stages WHERE escalation_id IN ({})",
        None,
        &existing,
    )
    .await?;
    for chunk in batch::chunks(rows) {
        let mut q = batch::query(format!(
            "INSERT INTO open_stages (escalation_id, stage, round, opened_at, sla_deadline)
             VALUES {}",
            batch::values(chunk.len(), 5)
        ));
        for (id, r) in chunk {
            q = q
                .bind(id.as_str())
                .bind(r.stage)
                .bind(r.round)
                .bind(r.opened_at)
                .bind(r.sla_deadline);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Inserts each alert unless its (kind, subject, window) row exists; a new one is audited
/// (`alert_fired`), its outbox rows are queued, and older open rows of the same subject
/// are closed (superseded by this window's). Returns the kinds that fired.
pub(super) async fn raise(tx: &mut Tx, planned: &[Planned], now: Time) -> Result<Vec<AlertKind>> {
    let mut fired = Vec::new();
    for p in planned {
        let a = &p.alert;
        let esc = a.escalation_id.as_ref().map(EscalationId::as_str);
        let id: Option<i64> = db::query_scalar(
            "INSERT INTO alerts (kind, subject, window_start, fired_at, escalation_id, message, data)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (kind, subject, window_start) DO NOTHING
             RETURNING id",
        )
        .bind(a.kind.as_str())
        .bind(&a.subject)
        .bind(ms(a.window_start))
        .bind(ms(now))
        .bind(esc)
        .bind(&a.message)
        .bind(a.data.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { continue };
        db::query(
            "UPDATE alerts SET resolved_at = ?
             WHERE kind = ? AND subject = ? AND window_start < ? AND resolved_at IS NULL",
        )
        .bind(ms(now))
        .bind(a.kind.as_str())
        .bind(&a.subject)
        .bind(ms(a.window_start))
        .execute(&mut *tx)
        .await?;
        let record = AuditRecord::new(
            AuditKind::AlertFired,
            None,
            json!({"alert": id, "kind": a.kind.as_str(), "subject": a.subject,
                   "message": a.message, "figures": a.data}),
        );
        audit::append_all(
            tx,
            &[audit::Entry {
                escalation_id: esc,
                at: now,
                records: std::slice::from_ref(&record),
            }],
        )
        .await?;
        let queued: Vec<Queued> = p
            .outbox
            .iter()
            .map(|item| Queued::new(esc.unwrap_or(""), now, item.clone()))
            .collect();
        outbox::enqueue(tx, &queued.iter().collect::<Vec<_>>()).await?;
        fired.push(a.kind);
    }
    Ok(fired)
}

/// Closes the open alerts of `kind` whose subject is not among `still` (the condition cleared).
pub(super) async fn resolve_cleared(
    tx: &mut Tx,
    kind: AlertKind,
    still: &[String],
    now: Time,
) -> Result<u64> {
    db::query(
        "UPDATE alerts SET resolved_at = ?
         WHERE kind = ? AND resolved_at IS NULL
           AND instr(?, char(10) || subject || char(10)) = 0",
    )
    .bind(ms(now))
    .bind(kind.as_str())
    .bind(framed(still))
    .execute(&mut *tx)
    .await
}

/// `\na\nb\n`: a list as one parameter that both backends search with `instr`/`strpos`
/// (subjects are ids and names: they hold no newline).
fn framed(items: &[String]) -> String {
    let mut out = String::from("\n");
    for i in items {
        out.push_str(i);
        out.push('\n');
    }
    out
}

/// Closes the event alerts (an execution mismatch, a delivery given up) older than a day.
pub(super) async fn expire_events(tx: &mut Tx, now: Time) -> Result<u64> {
    db::query(
        "UPDATE alerts SET resolved_at = ?
         WHERE resolved_at IS NULL AND fired_at <= ?
           AND kind IN ('execution_mismatch', 'delivery_failed')",
    )
    .bind(ms(now))
    .bind(ms(now) - EVENT_OPEN_MS)
    .execute(&mut *tx)
    .await
}

/// One open alert, as the analytics report and tests read it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AlertRow {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub window_start: i64,
    pub fired_at: i64,
    pub escalation_id: Option<String>,
    pub message: String,
    pub data: String,
    pub resolved_at: Option<i64>,
}

impl WriteTx {
    /// Fires what is new among `planned` (see [`raise`]); counted in
    /// `countersign_alerts_total` once the transaction commits.
    /// Returns how many were new.
    pub async fn raise_alerts(&mut self, planned: &[Planned], now: Time) -> Result<usize> {
        let fired = raise(self.tx(), planned, now).await?;
        let n = fired.len();
        if n > 0 {
            self.announce(super::Wake::Outbox);
        }
        self.fired(fired);
        Ok(n)
    }

    /// Closes open alerts of `kind` whose subject is not in `still`.
    pub async fn resolve_alerts(
        &mut self,
        kind: AlertKind,
        still: &[String],
        now: Time,
    ) -> Result<u64> {
        resolve_cleared(self.tx(), kind, still, now).await
    }

    /// Closes the event alerts whose day is over.
    pub async fn expire_event_alerts(&mut self, now: Time) -> Result<u64> {
        expire_events(self.tx(), now).await
    }

    /// Sets when the periodic alert check runs next.
    pub async fn schedule_alert_check(&mut self, at: Time) -> Result<()> {
        db::query(
            "INSERT INTO alert_checks (name, next_at) VALUES (?, ?)
             ON CONFLICT (name) DO UPDATE SET next_at = excluded.next_at",
        )
        .bind(CHECK)
        .bind(ms(at))
        .execute(self.tx())
        .await?;
        Ok(())
    }
}

impl Store {
    /// When the periodic alert check runs next; `None` before its first run.
    pub async fn next_alert_check(&self) -> Result<Option<Time>> {
        let at: Option<i64> = db::query_scalar("SELECT next_at FROM alert_checks WHERE name = ?")
            .bind(CHECK)
            .fetch_optional(&self.readers)
            .await?;
        Ok(at.map(from_ms))
    }

    /// Open stages whose SLA deadline is at or before `cutoff`, most overdue first, at
    /// most [`STUCK_PAGE`]: a range of `open_stages_sla`.
    pub async fn stages_past_sla(&self, cutoff: Time) -> Result<Vec<OpenStage>> {
        let rows: Vec<(String, i64, i64, i64, i64)> = db::query_as(PAST_SLA)
            .bind(ms(cutoff))
            .bind(STUCK_PAGE)
            .fetch_all(&self.readers)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, stage, round, opened, sla)| OpenStage {
                escalation_id: EscalationId(id),
                stage: stage as usize,
                round: round as u32,
                opened_at: from_ms(opened),
                sla_deadline: from_ms(sla),
            })
            .collect())
    }

    /// Reviewers with at least `min` escalations waiting on them, and how many.
    pub async fn reviewers_with_pending(&self, min: u32) -> Result<Vec<(String, i64)>> {
        db::query_as(
            "SELECT reviewer_id, COUNT(*) FROM pending_reviews
             GROUP BY reviewer_id HAVING COUNT(*) >= ? ORDER BY reviewer_id",
        )
        .bind(i64::from(min))
        .fetch_all(&self.readers)
        .await
    }

    /// How the latest `limit` openings of a workflow stage (0-based) that a reviewer
    /// decided ended, newest first: a walk down `stage_facts_recent`.
    pub async fn recent_stage_outcomes(
        &self,
        workflow: &str,
        stage: usize,
        limit: usize,
    ) -> Result<Vec<String>> {
        db::query_scalar(RECENT_OUTCOMES)
            .bind(workflow)
            .bind(stage as i64)
            .bind(limit as i64)
            .fetch_all(&self.readers)
            .await
    }

    /// Every alert, newest first (for tests and tools; the report reads open ones itself).
    pub async fn alerts(&self) -> Result<Vec<AlertRow>> {
        db::query_as(
            "SELECT id, kind, subject, window_start, fired_at, escalation_id, message, data,
                    resolved_at
             FROM alerts ORDER BY id DESC",
        )
        .fetch_all(&self.readers)
        .await
    }
}

/// Open alerts by kind, every kind listed (0 when none): the `countersign_alerts_open` gauge.
pub(super) async fn open_counts(pool: &Pool) -> Result<Vec<(String, i64)>> {
    let rows: Vec<(String, i64)> =
        db::query_as("SELECT kind, COUNT(*) FROM alerts WHERE resolved_at IS NULL GROUP BY kind")
            .fetch_all(pool)
            .await?;
    Ok(AlertKind::ALL
        .iter()
        .map(|k| {
            let n = rows
                .iter()
                .find(|(kind, _)| kind == k.as_str())
                .map_or(0, |(_, n)| *n);
            (k.as_str().to_owned(), n)
        })
        .collect())
}
