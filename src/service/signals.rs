//! In-process wake-ups: long-polls waiting on a decision, and workers waiting on new work.
//! They only shorten waits; the database stays the source of truth.

use crate::domain::EscalationId;
use std::sync::Arc;
use tokio::sync::{Notify, broadcast};

#[derive(Clone)]
pub struct Signals {
    decided: broadcast::Sender<EscalationId>,
    timers: Arc<Notify>,
    outbox: Arc<Notify>,
}

impl Default for Signals {
    fn default() -> Self {
        Self::new()
    }
}

impl Signals {
    pub fn new() -> Self {
        Self {
            decided: broadcast::channel(1024).0,
            timers: Arc::new(Notify::new()),
            outbox: Arc::new(Notify::new()),
        }
    }

    pub fn decided(&self, id: &EscalationId) {
        // No receivers is fine: nobody is long-polling.
        let _ = self.decided.send(id.clone());
    }

    pub fn subscribe_decided(&self) -> broadcast::Receiver<EscalationId> {
        self.decided.subscribe()
    }

    pub fn wake_timers(&self) {
        self.timers.notify_one();
    }

    pub fn wake_outbox(&self) {
        self.outbox.notify_one();
    }

    pub fn timers(&self) -> &Notify {
        &self.timers
    }

    pub fn outbox(&self) -> &Notify {
        &self.outbox
    }
}
