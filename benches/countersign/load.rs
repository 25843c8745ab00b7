//! The in-process load generator: closed loop (N workers, each waits for its answer) and
//! open loop (a fixed arrival rate, latency counted from the intended send time, so a
//! stalled server cannot hide its queue — no coordinated omission).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Latencies and wall time of one run.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
    pub errors: usize,
}

impl Run {
    pub fn ok(&self) -> usize {
        self.latencies.len() - self.errors
    }

    /// Successful requests per second of wall time.
    pub fn rate(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn stats(&self) -> Stats {
        Stats::of(&self.latencies)
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub n: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        v.sort_by(f64::total_cmp);
        // Nearest rank: the smallest sample with at least p of the samples at or below it.
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Self {
            n: v.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: v[v.len() - 1],
        }
    }
}

/// `concurrency` workers send requests back to back until `total` were sent or
/// `limit` passed. `send(i)` performs request `i` and says whether it succeeded.
pub async fn closed<F, Fut>(concurrency: usize, total: usize, limit: Duration, send: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let send = Arc::new(send);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (send, next) = (send.clone(), next.clone());
        workers.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || start.elapsed() > limit {
                    break;
                }
                let t = Instant::now();
                if !send(i).await {
                    errors += 1;
                }
                lat.push(t.elapsed());
            }
            (lat, errors)
        });
    }
    let mut run = Run::default();
    while let Some(done) = workers.join_next().await {
        let (lat, errors) = done.expect("load worker panicked");
        run.latencies.extend(lat);
        run.errors += errors;
    }
    run.elapsed = start.elapsed();
    run
}

/// Sends at `rate` per second for `duration`, at most `max_in_flight` at once.
/// Each latency runs from the moment the request was due to be sent.
pub async fn open<F, Fut>(rate: f64, duration: Duration, max_in_flight: usize, send: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let send = Arc::new(send);
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let total = (rate * duration.as_secs_f64()).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let permit = slots.clone().acquire_owned().await.expect("semaphore open");
        let send = send.clone();
        tasks.spawn(async move {
            let ok = send(i).await;
            drop(permit);
            (i, due.elapsed(), ok)
        });
    }
    // Latencies in send order, so a time series can be read off them.
    let mut run = Run {
        latencies: vec![Duration::ZERO; total],
        ..Run::default()
    };
    while let Some(done) = tasks.join_next().await {
        let (i, lat, ok) = done.expect("load task panicked");
        run.latencies[i] = lat;
        run.errors += usize::from(!ok);
    }
    run.elapsed = start.elapsed();
    run
}
