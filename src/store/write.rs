//! The one way to write: a [`WriteTx`] on the single writer connection. Everything a step
//! changes goes through it (escalation rows with their revision check, pending reviews,
//! timers, audit records, outbox rows) and commits together or not at all.

use super::alerts::{self, OpenStageRow, Planned};
use super::health::Health;
use super::listen::{self, Wake};
use super::outbox::Queued;
use super::{Result, StoreError, Tx, audit, db, escalations, facts, outbox, timers};
use crate::domain::alerts::AlertKind;
use crate::domain::facts::Fact;
use crate::domain::timers::Timer;
use crate::domain::{AgentId, AuditRecord, Escalation, EscalationId, ReviewerId, Time};
use std::collections::HashMap;
use std::sync::Arc;

/// An open write transaction. Dropped without [`WriteTx::commit`], it rolls back.
pub struct WriteTx {
    tx: Tx,
    health: Arc<Health>,
    /// Alerts fired in this transaction, counted once it commits.
    fired: Vec<AlertKind>,
    /// PostgreSQL: whether this transaction holds the write lock (see [`WRITE_LOCK`]).
    serialized: bool,
    /// PostgreSQL: what the commit announces to the other replicas.
    announce: Vec<Wake>,
}

/// The PostgreSQL advisory lock that serializes the transactions of engine steps across
/// replicas, held until commit: the audit chain is one chain, so appending to it needs its
/// head to itself, and taking the lock before the step reads what it changes gives every
/// replica what SQLite's single writer gives one process — an escalation read in the
/// transaction cannot change under it, an idempotency key or an agent's last open place
/// cannot be taken twice. Racing votes on two replicas queue here, and the second is
/// worked out on the state the first committed. Deliveries, claims and caches do not take
/// it. ("counters" in ASCII.)
pub const WRITE_LOCK: i64 = 0x636f_756e_7465_7273;

/// The rows of one engine step, encoded before the write transaction (CPU work that
/// should not hold the writer).
#[derive(Debug, Clone)]
pub struct StepRows {
    escalation: escalations::Record,
    reviewers: Vec<ReviewerId>,
    timers: Vec<Timer>,
    at: Time,
    audit: Vec<AuditRecord>,
    outbox: Vec<Queued>,
    facts: Vec<Fact>,
    open_stage: Option<OpenStageRow>,
    alerts: Vec<Planned>,
}

/// What one step writes, before encoding.
pub struct Step<'a> {
    /// The escalation after the step.
    pub escalation: &'a Escalation,
    /// The revision the step was worked out from: the row is updated only if it still
    /// has it. `None` inserts a new escalation.
    pub base: Option<u32>,
    /// Who may vote now.
    pub reviewers: Vec<ReviewerId>,
    /// The timers armed from now on (none once decided).
    pub timers: Vec<Timer>,
    pub at: Time,
    pub audit: &'a [AuditRecord],
    pub outbox: Vec<outbox::NewItem>,
    /// What analytics count (design.md §8).
    pub facts: &'a [Fact],
    /// Alerts the step raises at once (an execution mismatch), fired if new.
    pub alerts: Vec<Planned>,
}

impl StepRows {
    pub fn encode(step: Step<'_>) -> Result<Self> {
        let id = step.escalation.id.as_str();
        Ok(Self {
            escalation: escalations::Record::encode(step.escalation, step.base)?,
            reviewers: step.reviewers,
            timers: step.timers,
            at: step.at,
            audit: step.audit.to_vec(),
            outbox: step
                .outbox
                .into_iter()
                .map(|item| Queued::new(id, step.at, item))
                .collect(),
            facts: step.facts.to_vec(),
            open_stage: OpenStageRow::of(step.escalation),
            alerts: step.alerts,
        })
    }

    pub fn id(&self) -> &EscalationId {
        &self.escalation.id
    }
}

impl WriteTx {
    pub(super) fn new(tx: Tx, health: Arc<Health>) -> Self {
        Self {
            tx,
            health,
            fired: Vec::new(),
            serialized: false,
            announce: Vec::new(),
        }
    }

    /// Takes the write lock on PostgreSQL, once per transaction; nothing on SQLite, whose
    /// `BEGIN IMMEDIATE` already holds the database's.
    async fn serialize(&mut self) -> Result<()> {
        if self.serialized || self.tx.backend() == db::Backend::Sqlite {
            return Ok(());
        }
        db::query("SELECT pg_advisory_xact_lock(?)")
            .bind(WRITE_LOCK)
            .execute(&mut self.tx)
            .await?;
        self.serialized = true;
        Ok(())
    }

    /// Notes what the commit tells other replicas (PostgreSQL only; nothing to tell on SQLite).
    pub(super) fn announce(&mut self, wake: Wake) {
        if self.tx.backend() == db::Backend::Postgres && !self.announce.contains(&wake) {
            self.announce.push(wake);
        }
    }

    /// Loads escalations for update: the writer is single, so nothing changes them
    /// until this transaction ends. Unknown ids are absent from the answer.
    pub async fn escalations(&mut self, ids: &[EscalationId]) -> Result<Vec<Escalation>> {
        self.serialize().await?;
        escalations::get_many(db::Ex::Tx(&mut self.tx), ids).await
    }

    /// The current revision of each of these escalations, to check that work done on an
    /// earlier snapshot still applies.
    pub async fn revisions(&mut self, ids: &[EscalationId]) -> Result<HashMap<EscalationId, u32>> {
        self.serialize().await?;
        escalations::revisions(&mut self.tx, ids).await
    }

    /// The escalations these (agent, idempotency key) pairs created, if any.
    pub async fn by_idempotency_keys(
        &mut self,
        keys: &[(&AgentId, &str)],
    ) -> Result<Vec<Escalation>> {
        self.serialize().await?;
        escalations::find_by_idempotency_keys(&mut self.tx, keys).await
    }

    /// How many of this agent's escalations are still open. Read inside the transaction,
    /// so concurrent intakes cannot both take the last place.
    pub async fn open_count(&mut self, agent: &AgentId) -> Result<u64> {
        self.serialize().await?;
        escalations::count_open_for_agent(&mut self.tx, agent).await
    }

    /// Writes encoded steps, a few statements per table for the whole batch: new or
    /// updated escalation rows, pending reviews, armed timers, audit records and outbox
    /// rows, analytics facts. Each escalation at most once per call. An updated row whose revision moved
    /// since its step was worked out fails the whole call with [`StoreError::Conflict`].
    pub async fn write_steps(&mut self, rows: &[&StepRows]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.serialize().await?;
        self.announce(Wake::Timers);
        for r in rows {
            if r.escalation.status != "pending" {
                self.announce(Wake::Decided(r.id().clone()));
            }
            if !r.outbox.is_empty() {
                self.announce(Wake::Outbox);
            }
        }
        let records = |new: bool| -> Vec<&escalations::Record> {
            rows.iter()
                .map(|r| &r.escalation)
                .filter(|r| r.is_new() == new)
                .collect()
        };
        let tx = &mut self.tx;
        escalations::insert(tx, &records(true)).await?;
        escalations::update(tx, &records(false)).await?;
        // A new escalation has no earlier rows to clear.
        let existing: Vec<&EscalationId> = records(false).iter().map(|r| &r.id).collect();
        let reviews: Vec<_> = rows
            .iter()
            .map(|r| (r.id(), r.reviewers.as_slice()))
            .collect();
        escalations::replace_pending_reviews(tx, &existing, &reviews).await?;
        let armed: Vec<_> = rows.iter().map(|r| (r.id(), r.timers.as_slice())).collect();
        timers::replace(tx, &existing, &armed).await?;
        let entries: Vec<_> = rows
            .iter()
            .map(|r| audit::Entry {
                escalation_id: Some(r.id().as_str()),
                at: r.at,
                records: &r.audit,
            })
            .collect();
        audit::append_all(tx, &entries).await?;
        let queued: Vec<&Queued> = rows.iter().flat_map(|r| &r.outbox).collect();
        outbox::enqueue(tx, &queued).await?;
        let counted: Vec<_> = rows
            .iter()
            .flat_map(|r| r.facts.iter().map(|f| (r.id(), f)))
            .collect();
        facts::insert(tx, &counted).await?;
        let open: Vec<_> = rows
            .iter()
            .filter_map(|r| r.open_stage.as_ref().map(|o| (r.id(), o)))
            .collect();
        alerts::replace_open_stages(tx, &existing, &open).await?;
        for r in rows.iter().filter(|r| !r.alerts.is_empty()) {
            let fired = alerts::raise(&mut self.tx, &r.alerts, r.at).await?;
            self.fired(fired);
        }
        Ok(())
    }

    /// Replaces the armed timers of escalations whose state did not change (a tick that
    /// found nothing to do re-arms what the state derives).
    pub async fn rearm_timers(&mut self, timers: &[(&EscalationId, &[Timer])]) -> Result<()> {
        self.serialize().await?;
        self.announce(Wake::Timers);
        let ids: Vec<&EscalationId> = timers.iter().map(|(id, _)| *id).collect();
        timers::replace(&mut self.tx, &ids, timers).await
    }

    /// Appends records to the audit chain, in order.
    pub async fn append_audit(&mut self, entries: &[audit::Entry<'_>]) -> Result<()> {
        self.serialize().await?;
        audit::append_all(&mut self.tx, entries).await
    }

    /// Marks outbox items delivered.
    pub async fn outbox_delivered(&mut self, ids: &[i64], now: Time) -> Result<()> {
        outbox::mark_delivered(&mut self.tx, ids, now).await
    }

    /// Schedules another attempt of an outbox item at `at`.
    pub async fn outbox_retry(&mut self, id: i64, at: Time, error: &str) -> Result<()> {
        outbox::mark_retry(&mut self.tx, id, at, error).await
    }

    /// Gives an outbox item up.
    pub async fn outbox_failed(&mut self, id: i64, now: Time, error: &str) -> Result<()> {
        outbox::mark_failed(&mut self.tx, id, now, error).await
    }

    /// The raw transaction, for the store's own statements.
    pub(super) fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// Commits, and records whether storage took it, for readiness. A transaction that
    /// fails (here or before) is rolled back when it is dropped, and a writer connection
    /// left inside one is discarded (see `health::reusable`), so the next write starts
    /// clean as soon as storage takes writes again.
    pub async fn commit(self) -> Result<()> {
        let Self {
            mut tx,
            health,
            fired,
            announce,
            ..
        } = self;
        // Sent inside the transaction: PostgreSQL delivers it at commit, or never.
        for payload in listen::payloads(&announce) {
            db::query("SELECT pg_notify(?, ?)")
                .bind(listen::CHANNEL)
                .bind(payload)
                .execute(&mut tx)
                .await
                .map_err(|e| health.failed(e))?;
        }
        tx.commit().await.map_err(|e| health.failed(e.into()))?;
        health.committed();
        for kind in fired {
            metrics::counter!("countersign_alerts_total", "kind" => kind.as_str()).increment(1);
        }
        Ok(())
    }

    /// Notes alerts fired in this transaction, for the counter at commit.
    pub(super) fn fired(&mut self, kinds: Vec<AlertKind>) {
        self.fired.extend(kinds);
    }

    /// Notes a failed statement for readiness (storage conditions only).
    pub(super) fn failed(&self, e: StoreError) -> StoreError {
        self.health.failed(e)
    }
}
