//! Wake-ups: long-polls waiting on a decision, and workers waiting on new work. Raised in
//! process after a commit, and on PostgreSQL relayed from other replicas' commits too
//! ([`Signals::relay`]). They only shorten waits; the database stays the source of truth.

use crate::domain::EscalationId;
use crate::store::Wake;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, broadcast, watch};

#[derive(Clone)]
pub struct Signals {
    /// An escalation left `pending`; `None`: anything may have (wake-ups were missed),
    /// every waiter should look again.
    decided: broadcast::Sender<Option<EscalationId>>,
    timers: Arc<Notify>,
    outbox: Arc<Notify>,
    /// True while the timer worker works through a backlog (more than one batch due).
    backlog: Arc<watch::Sender<bool>>,
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
            backlog: Arc::new(watch::Sender::new(false)),
        }
    }

    pub fn decided(&self, id: &EscalationId) {
        // No receivers is fine: nobody is long-polling.
        let _ = self.decided.send(Some(id.clone()));
    }

    pub fn subscribe_decided(&self) -> broadcast::Receiver<Option<EscalationId>> {
        self.decided.subscribe()
    }

    /// Relays what other replicas' commits announce (PostgreSQL), until the store closes.
    pub fn relay(&self, mut wakes: broadcast::Receiver<Wake>) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match wakes.recv().await {
                    Ok(Wake::Decided(id)) => me.decided(&id),
                    Ok(Wake::Timers) => me.wake_timers(),
                    Ok(Wake::Outbox) => me.wake_outbox(),
                    Ok(Wake::Missed) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = me.decided.send(None);
                        me.wake_timers();
                        me.wake_outbox();
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
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

    pub fn set_timer_backlog(&self, busy: bool) {
        self.backlog.send_replace(busy);
    }

    /// Waits (at most `limit`) while the timer worker has a backlog: deciding comes
    /// before telling, so on two cores a burst of timeouts is not slowed down by the
    /// deliveries of the decisions it has just made; they follow right after.
    pub async fn timer_backlog_cleared(&self, limit: Duration) {
        let mut rx = self.backlog.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|busy| !busy)).await;
    }
}
