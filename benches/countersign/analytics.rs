//! The analytics report over a week of history: `rows` decided escalations' facts (25
//! intents, 40 reviewers, 3 workflows of 1–3 stages, a mix of outcomes and durations)
//! seeded by SQL straight into the facts tables, the hourly counts summed from those very
//! rows, then `Service::analytics(7d)` timed cold (first run) and warm (median of 5).

use crate::stack::{self, Peers};
use sqlx::SqlitePool;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct AnalyticsFigures {
    pub rows: usize,
    pub seeding: Duration,
    pub cold: Duration,
    pub warm: Duration,
}

const WEEK_MS: i64 = 7 * 24 * 3_600_000;

pub async fn run(dir: &Path, rows: usize) -> AnalyticsFigures {
    let db = dir.join("analytics.db");
    let built = stack::build(
        &db,
        &Peers::default(),
        Arc::new(countersign::clock::SystemClock),
    )
    .await;
    let service = built.service.clone();
    let now = service.now();
    let start = now.timestamp_millis() - WEEK_MS + 3_600_000;
    let pool = open(&db).await;
    let began = Instant::now();
    seed(&pool, rows as i64, start).await;
    let seeding = began.elapsed();
    pool.close().await;
    let mut times = Vec::new();
    for _ in 0..6 {
        let t = Instant::now();
        let a = service
            .analytics(Duration::from_secs(7 * 24 * 3600), now)
            .await
            .expect("analytics");
        times.push(t.elapsed());
        assert_eq!(
            a.totals.decided, rows as u64,
            "every seeded decision is counted"
        );
    }
    let cold = times[0];
    let mut warm = times[1..].to_vec();
    warm.sort();
    AnalyticsFigures {
        rows,
        seeding,
        cold,
        warm: warm[2],
    }
}

async fn open(path: &Path) -> SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(30));
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("bench connection")
}

/// Decision i: workflow i % 3 with i % 3 + 1 stages, intent i % 25, reviewer i % 40,
/// outcome by i % 100 (80 approved, 12 denied, 5 expired, 3 cancelled), a duration of 1 s
/// to 2 h spread by a multiplicative hash, arrivals spread evenly over the week. Every
/// stage of an approved decision closes approved with one vote; a denial closes its last
/// stage rejected; a timeout or cancel closes its first stage so.
async fn seed(pool: &SqlitePool, n: i64, start: i64) {
    let step = (WEEK_MS - 3 * 3_600_000) / n.max(1);
    let statements = [
        "PRAGMA journal_mode = WAL".to_owned(),
        "PRAGMA synchronous = OFF".to_owned(),
        format!(
            "CREATE TEMP TABLE seed AS
             WITH RECURSIVE i(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM i WHERE i + 1 < {n})
             SELECT i,
                    'esc_' || printf('%026d', i) AS id,
                    'wf' || (i % 3) AS wf,
                    i % 3 + 1 AS stages,
                    'intent.' || (i % 25) AS intent,
                    'r' || (i % 40) AS reviewer,
                    CASE WHEN i % 100 < 80 THEN 'approved' WHEN i % 100 < 92 THEN 'denied'
                         WHEN i % 100 < 97 THEN 'expired' ELSE 'cancelled' END AS outcome,
                    {start} + i * {step} AS created_at,
                    1000 + (i * 2654435761) % 7200000 AS duration_ms,
                    CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 37) % 101 END AS risk
             FROM i"
        ),
        "INSERT INTO decision_facts (escalation_id, workflow_id, intent, agent_id, risk,
             risk_tier, outcome, created_at, decided_at, duration_ms, automatic, reason)
         SELECT id, wf, intent, 'bench-agent', risk,
                CASE WHEN risk IS NULL THEN 'unscored' WHEN risk < 40 THEN 'low'
                     WHEN risk < 70 THEN 'medium' WHEN risk < 90 THEN 'high' ELSE 'critical' END,
                outcome, created_at, created_at + duration_ms, duration_ms, 0,
                CASE WHEN outcome = 'denied' THEN 'not now ' || (i % 9) END
         FROM seed"
            .to_owned(),
        // One vote per stage of an approval, one on the last stage of a denial; each stage
        // takes an equal part of the duration. The first stage's vote is the first vote.
        "CREATE TEMP TABLE seed_stages AS
         WITH RECURSIVE s(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM s WHERE k < 2)
         SELECT seed.*, k AS stage, duration_ms / stages AS part,
                created_at + duration_ms / stages * (k + 1) AS closed_at
         FROM seed JOIN s ON k < stages"
            .to_owned(),
        "INSERT INTO vote_facts (escalation_id, workflow_id, intent, stage, round, revision,
             reviewer_id, decision, channel, at, response_ms, first_wait_ms, hour_of_week)
         SELECT id, wf, intent, stage, 1, 1, reviewer,
                CASE WHEN outcome = 'approved' THEN 'approve' ELSE 'deny' END, 'api',
                closed_at, part,
                CASE WHEN stage = 0 THEN closed_at - created_at END,
                CASE WHEN stage = 0 THEN ((created_at / 3600000) + 72) % 168 END
         FROM seed_stages
         WHERE outcome = 'approved' OR (outcome = 'denied' AND stage = 0)"
            .to_owned(),
        "INSERT INTO stage_facts (escalation_id, workflow_id, stage, name, round, revision,
             opened_at, closed_at, duration_ms, outcome, sla_breached, tiers)
         SELECT id, wf, stage, 'Stage ' || (stage + 1), 1, 1, closed_at - part, closed_at, part,
                CASE outcome WHEN 'approved' THEN 'approved' WHEN 'denied' THEN 'rejected'
                     ELSE outcome END,
                part > 3600000, CASE WHEN part > 1800000 THEN 1 ELSE 0 END
         FROM seed_stages
         WHERE outcome = 'approved' OR stage = 0"
            .to_owned(),
        // The hourly counts, from the facts just written (so they agree by construction).
        "INSERT INTO analytics_counts (hour, metric, key, n)
         SELECT decided_at / 3600000, 'decision', intent || char(31) || outcome, COUNT(*)
         FROM decision_facts GROUP BY 1, 3
         UNION ALL
         SELECT decided_at / 3600000, 'risk', risk_tier || char(31) || outcome, COUNT(*)
         FROM decision_facts GROUP BY 1, 3
         UNION ALL
         SELECT at / 3600000, 'vote', reviewer_id || char(31) || decision, COUNT(*)
         FROM vote_facts GROUP BY 1, 3
         UNION ALL
         SELECT at / 3600000, 'first_vote', CAST(hour_of_week AS TEXT), COUNT(*)
         FROM vote_facts WHERE first_wait_ms IS NOT NULL GROUP BY 1, 3
         UNION ALL
         SELECT closed_at / 3600000, 'stage', workflow_id || char(31) || stage || char(31) || outcome,
                COUNT(*) FROM stage_facts GROUP BY 1, 3
         UNION ALL
         SELECT closed_at / 3600000, 'stage.breached', workflow_id || char(31) || stage, COUNT(*)
         FROM stage_facts WHERE sla_breached GROUP BY 1, 3
         UNION ALL
         SELECT closed_at / 3600000, 'stage.tiers', workflow_id || char(31) || stage || char(31) || tiers,
                COUNT(*) FROM stage_facts GROUP BY 1, 3"
            .to_owned(),
        "DROP TABLE seed".to_owned(),
        "DROP TABLE seed_stages".to_owned(),
    ];
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("seeding: {e}\n{sql}"));
    }
}
