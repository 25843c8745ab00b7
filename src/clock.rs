//! Where "now" comes from: the system clock in production, a manual clock in tests.

use crate::domain::Time;
use std::sync::{Arc, Mutex};

pub trait Clock: Send + Sync + 'static {
    /// Truncated to milliseconds, the precision instants are stored at.
    fn now(&self) -> Time;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        truncate(chrono::Utc::now())
    }
}

/// A clock that moves only when told to.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<Time>>);

impl ManualClock {
    pub fn new(start: Time) -> Self {
        Self(Arc::new(Mutex::new(truncate(start))))
    }

    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now = crate::domain::timers::after(*now, by);
    }

    pub fn set(&self, to: Time) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = truncate(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn truncate(t: Time) -> Time {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}
