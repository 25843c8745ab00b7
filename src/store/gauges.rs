//! The gauges `/metrics` shows (outbox depth, armed and overdue timers, escalations by
//! status), counted at most every few seconds: a COUNT per scrape would put the scraper's
//! load on every request's latency.

use super::db::Pool;
use super::{Result, alerts, escalations, outbox, timers};
use crate::domain::Time;
use std::time::Duration;
use tokio::sync::Mutex;

/// How old the counts shown may be.
pub const MAX_AGE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub outbox_depth: i64,
    pub timers_armed: i64,
    /// How late the most overdue armed timer was when counted; 0 when none is due.
    pub timer_overdue_seconds: f64,
    pub escalations: Vec<(String, i64)>,
    /// Open alerts by kind, every kind listed.
    pub alerts_open: Vec<(String, i64)>,
}

/// The last counts and when they were taken. Behind one async lock, so concurrent scrapes
/// of stale counts wait for one refresh instead of each running the queries.
#[derive(Default)]
pub struct Cache {
    last: Mutex<Option<(Time, Gauges)>>,
}

impl Cache {
    pub async fn get(&self, pool: &Pool, now: Time) -> Result<Gauges> {
        let mut last = self.last.lock().await;
        if let Some((at, gauges)) = last.as_ref() {
            let age = (now - *at).to_std().unwrap_or_default();
            if age < MAX_AGE {
                return Ok(gauges.clone());
            }
        }
        let gauges = count(pool, now).await?;
        *last = Some((now, gauges.clone()));
        Ok(gauges)
    }
}

async fn count(pool: &Pool, now: Time) -> Result<Gauges> {
    let overdue = match timers::earliest(pool).await? {
        Some(next) => (now - next).num_milliseconds().max(0) as f64 / 1000.0,
        None => 0.0,
    };
    Ok(Gauges {
        outbox_depth: outbox::depth(pool).await?,
        timers_armed: timers::count(pool).await?,
        timer_overdue_seconds: overdue,
        escalations: escalations::count_by_status(pool).await?,
        alerts_open: alerts::open_counts(pool).await?,
    })
}
