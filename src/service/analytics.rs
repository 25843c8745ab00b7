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

/// How old the stage medians behind `estimated_completion` may be.
pub const ESTIMATE_MAX_AGE: Duration = Duration::from_secs(60);
/// The history `estimated_completion` looks at.
pub const ESTIMATE_HISTORY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Per (workflow, stage count): the stage medians behind `estimated_completion`.
#[derive(Default)]
pub struct Estimates {
    medians: std::sync::Mutex<HashMap<(String, usize), Medians>>,
    /// Held while a workflow's medians are read for the first time.
    first_read: tokio::sync::Mutex<()>,
}

/// When they were read, each stage's median (ms, `None` without history), and whether a
/// refresh is under way.
#[derive(Clone)]
struct Medians {
    at: Time,
    ms: Vec<Option<i64>>,
    refreshing: bool,
}

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

    /// The medians of a workflow's stages. Stale ones are answered at once while one
    /// background read refreshes them, so an intake never waits on that read; only the
    /// first request for a workflow in a process reads them itself.
    async fn stage_medians(
        &self,
        workflow: &str,
        stages: usize,
        now: Time,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let key = (workflow.to_owned(), stages);
        let back = chrono::Duration::from_std(ESTIMATE_HISTORY).unwrap_or_default();
        let since_hour = hour(now - back);
        {
            let mut cache = self.estimates.lock();
            if let Some(known) = cache.get_mut(&key) {
                let age = (now - known.at).to_std().unwrap_or_default();
                let fresh = age < ESTIMATE_MAX_AGE && known.at <= now;
                if !fresh && !known.refreshing {
                    known.refreshing = true;
                    let (store, estimates, key) =
                        (self.store.clone(), self.estimates.clone(), key.clone());
                    tokio::spawn(async move {
                        let read = store
                            .approved_stage_medians(&key.0, key.1, since_hour)
                            .await;
                        estimates.settle(key, now, read.ok());
                    });
                }
                return Ok(known.ms.clone());
            }
        }
        // The first read for a workflow: one at a time, so a burst of first intakes waits
        // for one walk of the history instead of each walking it.
        let _first = self.estimates.first_read.lock().await;
        if let Some(known) = self.estimates.lock().get(&key) {
            return Ok(known.ms.clone());
        }
        let ms = self
            .store
            .approved_stage_medians(workflow, stages, since_hour)
            .await?;
        self.estimates.settle(key, now, Some(ms.clone()));
        Ok(ms)
    }
}

impl Estimates {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, usize), Medians>> {
        self.medians
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps medians read at `at`; a failed read (`None`) keeps the old ones, to be
    /// tried again by the next request.
    fn settle(&self, key: (String, usize), at: Time, read: Option<Vec<Option<i64>>>) {
        let mut cache = self.lock();
        match (read, cache.get_mut(&key)) {
            (Some(ms), _) => {
                cache.insert(
                    key,
                    Medians {
                        at,
                        ms,
                        refreshing: false,
                    },
                );
            }
            (None, Some(known)) => known.refreshing = false,
            (None, None) => {}
        }
    }
}
