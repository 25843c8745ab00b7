//! The analytics report of a window, and `estimated_completion` from the medians of each
//! workflow's stages, read at most once a minute per workflow so long-polls and status
//! reads do not query them again.

use super::Service;
use crate::domain::analytics::Analytics;
use crate::domain::{Escalation, Time, tally};
use crate::store::facts::{HOUR_MS, hour};
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Mutex;

/// How old the stage medians behind `estimated_completion` may be.
pub const ESTIMATE_MAX_AGE: Duration = Duration::from_secs(60);
/// The history `estimated_completion` looks at.
pub const ESTIMATE_HISTORY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Per (workflow, stage count): when the medians were read, and each stage's median in ms.
/// Behind one async lock, so callers with stale medians wait for one read.
#[derive(Default)]
pub struct Estimates {
    medians: Mutex<HashMap<(String, usize), Medians>>,
}

/// When they were read, and each stage's median (ms), `None` without history.
type Medians = (Time, Vec<Option<i64>>);

/// The report of the window from `now - since` (rounded down to the hour) to `now`, from
/// the store alone (`countersign report` has no service).
pub async fn report(store: &Store, since: Duration, now: Time) -> Result<Analytics, StoreError> {
    let back = chrono::Duration::from_std(since).unwrap_or(chrono::Duration::MAX);
    let start = now.checked_sub_signed(back).unwrap_or(Time::MIN_UTC);
    let since_hour = hour(start);
    let (counts, measured) = store.analytics(since_hour).await?;
    let since = Time::from_timestamp_millis(since_hour * HOUR_MS).unwrap_or(start);
    Ok(tally::assemble(since, now, &counts, &measured))
}

impl Service {
    /// The report of the window from `now - since` (rounded down to the hour) to `now`.
    pub async fn analytics(&self, since: Duration, now: Time) -> Result<Analytics, StoreError> {
        report(&self.store, since, now).await
    }

    /// When a pending escalation may be decided (see [`tally::estimated_completion`]);
    /// `None` for any other status, or without history for one of its remaining stages.
    pub async fn estimated_completion(&self, esc: &Escalation) -> Result<Option<Time>, StoreError> {
        if !esc.is_pending() || esc.stages.is_empty() {
            return Ok(None);
        }
        let now = self.now();
        let medians = self
            .stage_medians(&esc.workflow.id, esc.stages.len(), now)
            .await?;
        let opened = esc
            .stages
            .get(esc.current_stage)
            .and_then(|s| s.started_at)
            .unwrap_or(now);
        Ok(tally::estimated_completion(
            now,
            opened,
            esc.current_stage,
            &medians,
        ))
    }

    async fn stage_medians(
        &self,
        workflow: &str,
        stages: usize,
        now: Time,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let mut cache = self.estimates.medians.lock().await;
        let key = (workflow.to_owned(), stages);
        if let Some((at, medians)) = cache.get(&key) {
            let age = (now - *at).to_std().unwrap_or_default();
            if age < ESTIMATE_MAX_AGE && *at <= now {
                return Ok(medians.clone());
            }
        }
        let back = chrono::Duration::from_std(ESTIMATE_HISTORY).unwrap_or_default();
        let medians = self
            .store
            .approved_stage_medians(workflow, stages, hour(now - back))
            .await?;
        cache.insert(key, (now, medians.clone()));
        Ok(medians)
    }
}
