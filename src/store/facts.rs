//! Analytics facts (migration 0007): one row per vote, closed stage opening, decision and
//! execution outcome, plus the same facts counted per hour in `analytics_counts`. Written
//! by [`super::WriteTx::write_steps`] with the step that made them.

use super::{Result, Tx, batch, ms};
use crate::domain::facts::{self, Fact};
use crate::domain::{EscalationId, Time};
use std::collections::BTreeMap;

/// Milliseconds in an hour: `analytics_counts.hour` is an instant divided by it.
pub const HOUR_MS: i64 = 3_600_000;

/// Joins the parts of an `analytics_counts` key.
pub const KEY_SEP: char = '\u{1f}';

/// The `analytics_counts` hour an instant falls in.
pub fn hour(t: Time) -> i64 {
    ms(t).div_euclid(HOUR_MS)
}

/// An `analytics_counts` key made of these parts.
pub fn key(parts: &[&str]) -> String {
    parts.join(&KEY_SEP.to_string())
}

/// Writes the facts of a batch of steps, each with its escalation.
pub(super) async fn insert(tx: &mut Tx, all: &[(&EscalationId, &Fact)]) -> Result<()> {
    if all.is_empty() {
        return Ok(());
    }
    let mut votes = Vec::new();
    let mut stages = Vec::new();
    let mut decisions = Vec::new();
    let mut executions = Vec::new();
    for (id, fact) in all {
        match fact {
            Fact::Vote(v) => votes.push((*id, v)),
            Fact::StageClosed(s) => stages.push((*id, s)),
            Fact::Decided(d) => decisions.push((*id, d)),
            Fact::Execution(e) => executions.push((*id, e)),
        }
    }
    insert_votes(tx, &votes).await?;
    insert_stages(tx, &stages).await?;
    insert_decisions(tx, &decisions).await?;
    insert_executions(tx, &executions).await?;
    add_counts(tx, &counts(all.iter().map(|(_, f)| *f))).await
}

async fn insert_votes(tx: &mut Tx, rows: &[(&EscalationId, &facts::VoteFact)]) -> Result<()> {
    for chunk in batch::chunks(rows) {
        let mut q = batch::query(format!(
            "INSERT INTO vote_facts (escalation_id, workflow_id, intent, stage, round, revision,
                 reviewer_id, decision, channel, at, response_ms, first_wait_ms, hour_of_week)
             VALUES {}",
            batch::values(chunk.len(), 13)
        ));
        for (id, v) in chunk {
            q = q
                .bind(id.as_str())
                .bind(v.workflow.as_str())
                .bind(v.intent.as_str())
                .bind(v.stage as i64)
                .bind(i64::from(v.round))
                .bind(i64::from(v.revision))
                .bind(v.reviewer.as_str())
                .bind(v.choice.as_str())
                .bind(v.channel.as_str())
                .bind(ms(v.at))
                .bind(v.response_ms)
                .bind(v.first.map(|f| f.wait_ms))
                .bind(
                    v.first
                        .map(|f| i64::from(facts::hour_of_week(f.created_at))),
                );
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

async fn insert_stages(tx: &mut Tx, rows: &[(&EscalationId, &facts::StageFact)]) -> Result<()> {
    for chunk in batch::chunks(rows) {
        let mut q = batch::query(format!(
            "INSERT INTO stage_facts (escalation_id, workflow_id, stage, name, round, revision,
                 opened_at, closed_at, duration_ms, outcome, sla_breached, tiers)
             VALUES {}",
            batch::values(chunk.len(), 12)
        ));
        for (id, s) in chunk {
            q = q
                .bind(id.as_str())
                .bind(s.workflow.as_str())
                .bind(s.stage as i64)
                .bind(s.name.as_str())
                .bind(i64::from(s.round))
                .bind(i64::from(s.revision))
                .bind(ms(s.opened_at))
                .bind(ms(s.closed_at))
                .bind(s.duration_ms())
                .bind(s.outcome.as_str())
                .bind(s.sla_breached)
                .bind(s.tiers as i64);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

async fn insert_decisions(
    tx: &mut Tx,
    rows: &[(&EscalationId, &facts::DecisionFact)],
) -> Result<()> {
    for chunk in batch::chunks(rows) {
        let mut q = batch::query(format!(
            "INSERT INTO decision_facts (escalation_id, workflow_id, intent, agent_id, risk,
                 risk_tier, outcome, created_at, decided_at, duration_ms, automatic, reason)
             VALUES {}",
            batch::values(chunk.len(), 12)
        ));
        for (id, d) in chunk {
            q = q
                .bind(id.as_str())
                .bind(d.workflow.as_str())
                .bind(d.intent.as_str())
                .bind(d.agent.as_str())
                .bind(d.risk.map(i64::from))
                .bind(facts::risk_tier(d.risk))
                .bind(d.outcome.as_str())
                .bind(ms(d.created_at))
                .bind(ms(d.decided_at))
                .bind(d.duration_ms())
                .bind(d.automatic)
                .bind(d.reason.as_deref());
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

async fn insert_executions(
    tx: &mut Tx,
    rows: &[(&EscalationId, &facts::ExecutionFact)],
) -> Result<()> {
    for chunk in batch::chunks(rows) {
        let mut q = batch::query(format!(
            "INSERT INTO execution_facts (escalation_id, workflow_id, intent, result, at)
             VALUES {}",
            batch::values(chunk.len(), 5)
        ));
        for (id, e) in chunk {
            q = q
                .bind(id.as_str())
                .bind(e.workflow.as_str())
                .bind(e.intent.as_str())
                .bind(e.result.as_str())
                .bind(ms(e.at));
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// (hour, metric, key) → how many: the counts a batch of facts adds, summed first so a
/// burst (ten thousand timeouts of one intent) adds a handful of rows, not one per fact.
type Counts = BTreeMap<(i64, &'static str, String), i64>;

fn counts<'a>(all: impl Iterator<Item = &'a Fact>) -> Counts {
    let mut out = Counts::new();
    let mut add = |at: Time, metric: &'static str, parts: &[&str]| {
        *out.entry((hour(at), metric, key(parts))).or_default() += 1;
    };
    for fact in all {
        match fact {
            Fact::Vote(v) => {
                add(v.at, "vote", &[v.reviewer.as_str(), v.choice.as_str()]);
                if let Some(first) = v.first {
                    let how = facts::hour_of_week(first.created_at).to_string();
                    add(v.at, "first_vote", &[&how]);
                }
            }
            Fact::StageClosed(s) => {
                let stage = s.stage.to_string();
                let (wf, at) = (s.workflow.as_str(), s.closed_at);
                add(at, "stage", &[wf, &stage, s.outcome.as_str()]);
                if s.sla_breached {
                    add(at, "stage.breached", &[wf, &stage]);
                }
                add(at, "stage.tiers", &[wf, &stage, &s.tiers.to_string()]);
            }
            Fact::Decided(d) => {
                let outcome = d.outcome.as_str();
                add(d.decided_at, "decision", &[&d.intent, outcome]);
                add(d.decided_at, "risk", &[facts::risk_tier(d.risk), outcome]);
            }
            Fact::Execution(e) => {
                add(e.at, "execution", &[&e.intent, e.result.as_str()]);
            }
        }
    }
    out
}

async fn add_counts(tx: &mut Tx, counts: &Counts) -> Result<()> {
    let rows: Vec<_> = counts.iter().collect();
    for chunk in batch::chunks(&rows) {
        let mut q = batch::query(format!(
            "INSERT INTO analytics_counts (hour, metric, key, n) VALUES {}
             ON CONFLICT (hour, metric, key) DO UPDATE SET n = analytics_counts.n + excluded.n",
            batch::values(chunk.len(), 4)
        ));
        for ((hour, metric, key), n) in chunk {
            q = q.bind(*hour).bind(*metric).bind(key.as_str()).bind(**n);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}
