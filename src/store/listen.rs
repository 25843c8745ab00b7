//! Wake-ups between replicas on PostgreSQL: a write transaction announces what it changed
//! with `NOTIFY` (delivered when, and only if, it commits), and every replica LISTENs, so a
//! long-poll on one replica hears a decision made on another, and an idle worker hears of
//! new timers and outbox rows. Like the in-process signals, they only shorten waits: the
//! database stays the source of truth, and workers still look at it on their own.

use super::Result;
use crate::domain::EscalationId;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

/// The channel every replica listens on.
pub(super) const CHANNEL: &str = "countersign";
/// PostgreSQL refuses a payload of 8000 bytes or more; announcements are cut below that.
pub(super) const MAX_PAYLOAD: usize = 7000;

/// What another replica's commit (or this one's) changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// The escalation left `pending`: long-polls on it should answer.
    Decided(EscalationId),
    /// Timers were armed or cleared.
    Timers,
    /// Outbox rows were queued.
    Outbox,
    /// The listening connection dropped and came back: announcements may have been missed,
    /// so everyone waiting should look again.
    Missed,
}

impl Wake {
    /// The token announced for it (payloads are tokens separated by spaces).
    pub(super) fn token(&self) -> String {
        match self {
            Wake::Decided(id) => format!("d:{}", id.as_str()),
            Wake::Timers => "t".into(),
            Wake::Outbox => "o".into(),
            Wake::Missed => "m".into(),
        }
    }

    fn parse(token: &str) -> Option<Self> {
        match token {
            "t" => Some(Wake::Timers),
            "o" => Some(Wake::Outbox),
            "m" => Some(Wake::Missed),
            _ => token
                .strip_prefix("d:")
                .map(|id| Wake::Decided(EscalationId(id.to_owned()))),
        }
    }
}

/// The tokens of `wakes` as payloads, each under [`MAX_PAYLOAD`] bytes.
pub(super) fn payloads(wakes: &[Wake]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for token in wakes.iter().map(Wake::token) {
        match out.last_mut() {
            Some(last) if last.len() + 1 + token.len() <= MAX_PAYLOAD => {
                last.push(' ');
                last.push_str(&token);
            }
            _ => out.push(token),
        }
    }
    out
}

/// The listening side: one connection per replica, fanned out in process.
#[derive(Clone)]
pub(super) struct Wakes {
    sender: broadcast::Sender<Wake>,
}

impl Wakes {
    /// Starts listening before the replica serves anything, so no commit after start-up
    /// goes unheard.
    pub(super) async fn start(pool: &PgPool) -> Result<Self> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        let sender = broadcast::channel(4096).0;
        let out = sender.clone();
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        for wake in n.payload().split(' ').filter_map(Wake::parse) {
                            let _ = out.send(wake);
                        }
                    }
                    // The connection dropped; the next call reconnects.
                    Ok(None) => {
                        let _ = out.send(Wake::Missed);
                    }
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other replicas failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        let _ = out.send(Wake::Missed);
                    }
                }
            }
        });
        Ok(Self { sender })
    }

    pub(super) fn subscribe(&self) -> broadcast::Receiver<Wake> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_payloads_stay_under_the_limit() {
        let id = EscalationId("esc_1".into());
        for w in [Wake::Decided(id), Wake::Timers, Wake::Outbox, Wake::Missed] {
            assert_eq!(Wake::parse(&w.token()), Some(w));
        }
        let many: Vec<Wake> = (0..2000)
            .map(|i| Wake::Decided(EscalationId(format!("esc_{i:026}"))))
            .collect();
        let p = payloads(&many);
        assert!(p.len() > 1);
        assert!(p.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let back: usize = p.iter().map(|p| p.split(' ').count()).sum();
        assert_eq!(back, 2000);
    }
}
