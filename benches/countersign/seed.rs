//! Seeding many escalations fast: each row is built by the real domain code (the HTTP
//! edge's request parser, `engine::start`, `engine::step` for decided ones) and written by
//! the service's own write path (`Service::persist`: escalation row, pending reviews,
//! timers, audit chain, outbox) — only thousands of them share one transaction instead
//! of one each, which is what makes a million rows take a minute instead of an hour.

use crate::stack::intake_body;
use countersign::domain::engine::{self, Event, NewEscalation, VoteInput};
use countersign::domain::{EscalationId, EscalationRequest, Step, Time, VoteChannel, VoteChoice};
use countersign::service::{Service, Write};
use countersign::store::db::{self, Pool};
use std::time::{Duration, Instant};

/// What to seed.
pub struct Plan {
    pub count: usize,
    /// Every `pending_every`-th row stays pending with its timers armed (1: all of
    /// them); the others are approved (vote, decision, delivered callback).
    pub pending_every: usize,
    /// The agent's deadline for pending rows (their timeout timer), when set, spread
    /// evenly over `spread` from there.
    pub deadline: Option<Time>,
    pub spread: Duration,
    /// The engine's "now" while the rows are made.
    pub now: Time,
    /// Escalations per transaction.
    pub per_tx: usize,
    /// Idempotency keys are `{key_prefix}{i}`, unique per run.
    pub key_prefix: String,
}

/// Seeds `plan.count` escalations and returns how long it took.
pub async fn seed(service: &Service, plan: &Plan) -> Duration {
    let start = Instant::now();
    let agent = service.config.agents[0].clone();
    let mut done = 0;
    while done < plan.count {
        let n = plan.per_tx.min(plan.count - done);
        let steps: Vec<Step> = (done..done + n)
            .map(|i| {
                let decided = plan.pending_every == 0 || i % plan.pending_every != 0;
                make(service, &agent, plan, i, decided)
            })
            .collect();
        let writes: Vec<Write<'_>> = steps
            .iter()
            .map(|step| Write {
                step,
                now: plan.now,
                base: None,
            })
            .collect();
        let mut tx = service.store.begin().await.expect("begin");
        service.persist(&mut tx, &writes).await.expect("persist");
        tx.commit().await.expect("commit");
        done += n;
    }
    // Seeded history was delivered long ago; the outbox worker (not running yet) must not
    // replay it. Then fold the WAL into the database file now, so the measurement that
    // follows does not share the machine with a checkpoint of everything just seeded.
    let db = crate::stack::own_pool(service).await;
    db::query("UPDATE outbox SET delivered_at = created_at WHERE delivered_at IS NULL")
        .execute(&db)
        .await
        .expect("mark delivered");
    settle(&db).await;
    db.close().await;
    start.elapsed()
}

/// After a bulk load, the database's own housekeeping done now rather than during the
/// measurement: SQLite's WAL checkpoint; on PostgreSQL the statistics (autovacuum would
/// analyze the new rows mid-run) and a checkpoint.
async fn settle(db: &Pool) {
    let statements: &[&'static str] = match db {
        Pool::Sqlite(_) => &["PRAGMA wal_checkpoint(TRUNCATE)"],
        Pool::Postgres(_) => &["VACUUM ANALYZE", "CHECKPOINT"],
    };
    for sql in statements {
        db::query(*sql).execute(db).await.expect(sql);
    }
}

/// One escalation as the service would have produced it: opened, and for decided rows
/// approved by bob a minute later (both steps' audit records, the final state).
fn make(
    service: &Service,
    agent: &countersign::config::AgentConfig,
    plan: &Plan,
    i: usize,
    decided: bool,
) -> Step {
    let spread = |d: Time| {
        let step = plan.spread.as_nanos() as f64 / plan.count.max(1) as f64;
        d + chrono::Duration::nanoseconds((step * i as f64) as i64)
    };
    let body = intake_body(
        i,
        if decided {
            None
        } else {
            plan.deadline.map(spread)
        },
    );
    let request = EscalationRequest::parse(body.clone(), plan.now).expect("valid request");
    let subject = countersign::domain::policy::Subject::of(&agent.id, &request, &body);
    let workflow = service
        .config
        .select_workflow(&subject)
        .cloned()
        .expect("a workflow matches");
    let new = NewEscalation {
        id: EscalationId::generate(),
        agent_id: agent.id.clone(),
        request,
        idempotency_key: Some(format!("{}{i}", plan.key_prefix)),
    };
    let opened = engine::start(new, workflow, &service.dir, plan.now);
    if !decided {
        return opened;
    }
    let vote = Event::Vote(VoteInput {
        constraints: Default::default(),
        reviewer: "bob".into(),
        choice: VoteChoice::Approve,
        comment: Some("Looks good".into()),
        conditions: vec!["Canary rollout required".into()],
        channel: VoteChannel::Api,
        opening: None,
    });
    let at = plan.now + chrono::Duration::minutes(1);
    let approved =
        engine::step(&opened.escalation, vote, &service.dir, at).expect("bob may approve");
    Step {
        escalation: approved.escalation,
        effects: [opened.effects, approved.effects].concat(),
        audit: [opened.audit, approved.audit].concat(),
        facts: [opened.facts, approved.facts].concat(),
    }
}
