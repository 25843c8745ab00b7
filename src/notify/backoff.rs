//! Exponential backoff with jitter for outbox retries.

use rand::Rng;
use std::time::Duration;

/// The delay before attempt `attempts + 1`: `initial * 2^(attempts-1)`, capped
/// at `max`, then jittered down to between half and all of it, so a peer that
/// comes back is not hit by every retry at the same instant.
pub fn delay(attempts: i64, initial: Duration, max: Duration) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let full = initial.saturating_mul(1u32 << exp).min(max);
    let half = full / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_the_cap() {
        let (i, m) = (Duration::from_secs(1), Duration::from_secs(60));
        for attempt in 1..40 {
            let d = delay(attempt, i, m);
            let full = i
                .saturating_mul(1u32 << (attempt - 1).min(30) as u32)
                .min(m);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} vs {full:?}"
            );
        }
    }
}
