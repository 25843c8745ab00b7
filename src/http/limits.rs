//! Per-agent intake rate limits (`agents[].rate_limit.per_second` / `burst`): one GCRA
//! limiter per agent, rebuilt when a reload changes the config; answered with 429 and
//! `Retry-After`.

use super::error::AppError;
use crate::config::{AgentConfig, Config};
use crate::service::Live;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

/// The limiters of the agents that have a `per_second`; the others are unlimited.
pub struct RateLimits {
    by_agent: HashMap<String, (Quota, Arc<DefaultDirectRateLimiter>)>,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(config: &Config) -> Self {
        Self::next(None, config)
    }

    /// The limits of `config`; an agent whose quota a reload left as it was keeps its
    /// limiter (and what it has used of it), so a reload is no way around a limit.
    fn next(earlier: Option<&RateLimits>, config: &Config) -> Self {
        let by_agent = config
            .agents
            .iter()
            .filter_map(|a| {
                let quota = quota(a)?;
                let kept = earlier
                    .and_then(|e| e.by_agent.get(a.id.as_str()))
                    .filter(|(q, _)| *q == quota)
                    .map(|(_, limiter)| limiter.clone());
                let limiter = kept.unwrap_or_else(|| Arc::new(RateLimiter::direct(quota)));
                Some((a.id.as_str().to_owned(), (quota, limiter)))
            })
            .collect();
        Self {
            by_agent,
            clock: DefaultClock::default(),
        }
    }

    /// Takes one intake from the agent's budget, or says when the next one fits.
    pub fn check(&self, agent: &AgentConfig) -> Result<(), AppError> {
        let Some((_, limiter)) = self.by_agent.get(agent.id.as_str()) else {
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

/// The limits of the config version serving now, handed to each request as an
/// `Extension<Arc<RateLimits>>`; rebuilt on the first request after a reload.
#[derive(Clone)]
pub struct Current {
    live: Live,
    /// The config the limits were built from (compared by pointer) and the limits.
    built: Arc<Mutex<(Arc<Config>, Arc<RateLimits>)>>,
}

impl Current {
    pub fn new(live: Live) -> Self {
        let config = live.load().config.clone();
        let limits = Arc::new(RateLimits::new(&config));
        Self {
            live,
            built: Arc::new(Mutex::new((config, limits))),
        }
    }

    fn limits(&self) -> Arc<RateLimits> {
        let config = self.live.load().config.clone();
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if !Arc::ptr_eq(&built.0, &config) {
            let next = Arc::new(RateLimits::next(Some(&built.1), &config));
            *built = (config, next);
        }
        built.1.clone()
    }

    /// Middleware: puts the current limits in the request's extensions.
    pub async fn attach(State(current): State<Current>, mut req: Request, next: Next) -> Response {
        req.extensions_mut().insert(current.limits());
        next.run(req).await
    }
}
