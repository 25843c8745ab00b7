//! Per-agent intake rate limits (`agents[].rate_limit.per_second` / `burst`): one GCRA
//! limiter per agent, built once with the router; answered with 429 and `Retry-After`.

use super::error::AppError;
use crate::config::{AgentConfig, Config};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;

/// The limiters of the agents that have a `per_second`; the others are unlimited.
pub struct RateLimits {
    by_agent: HashMap<String, DefaultDirectRateLimiter>,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(config: &Config) -> Self {
        let by_agent = config
            .agents
            .iter()
            .filter_map(|a| Some((a.id.as_str().to_owned(), RateLimiter::direct(quota(a)?))))
            .collect();
        Self {
            by_agent,
            clock: DefaultClock::default(),
        }
    }

    /// Takes one intake from the agent's budget, or says when the next one fits.
    pub fn check(&self, agent: &AgentConfig) -> Result<(), AppError> {
        let Some(limiter) = self.by_agent.get(agent.id.as_str()) else {
            return Ok(());
        };
        limiter.check().map_err(|not_until| {
            metrics::counter!("countersign_intake_refused_total", "code" => "rate_limited")
                .increment(1);
            let wait = not_until.wait_time_from(self.clock.now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            AppError::rate_limited(
                format!(
                    "Agent {} sends faster than its rate limit allows; retry in {secs} s.",
                    agent.id
                ),
                secs,
            )
        })
    }
}

/// `per_second` with `burst` (default: one second's worth); none without `per_second`.
/// Zeroes are refused by check-config, and treated as "no limit" if validation was bypassed.
fn quota(agent: &AgentConfig) -> Option<Quota> {
    let limit = agent.rate_limit;
    let per_second = NonZeroU32::new(limit.per_second?)?;
    let burst = limit.burst.and_then(NonZeroU32::new).unwrap_or(per_second);
    Some(Quota::per_second(per_second).allow_burst(burst))
}
