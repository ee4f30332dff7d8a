//! How much webhook traffic is taken: token buckets per source address and
//! overall, and a cap on requests being read at once (each may hold up to
//! the body limit in memory). Beyond any of them: 429.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// A token bucket: `burst` requests at once, refilled at `rate` a second.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    /// Requests a second, in the long run.
    pub per_second: f64,
    /// Requests at once.
    pub burst: f64,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket { tokens: rate.burst, at: now }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.at = now;
    }

    /// Takes one token if there is one.
    fn take(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The webhook's limits and their state.
pub struct Limits {
    per_source: Rate,
    overall: Rate,
    sources: Mutex<HashMap<IpAddr, Bucket>>,
    global: Mutex<Bucket>,
    slots: Arc<Semaphore>,
}

/// Source addresses remembered at most; when more send at once, full
/// buckets are forgotten first, and beyond that only the overall limit
/// applies to new ones.
const MAX_SOURCES: usize = 10_000;

impl Default for Limits {
    /// 30 at once and 10 a second per source, 200 at once and 100 a second
    /// overall, 8 requests read at once: far above what Git hosts send
    /// (one request per push), far below what hurts the server.
    fn default() -> Limits {
        Limits::new(Rate { per_second: 10.0, burst: 30.0 }, Rate { per_second: 100.0, burst: 200.0 }, 8)
    }
}

fn too_many(what: &str) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, format!("too many webhook requests {what}; try again later"))
}

impl Limits {
    /// Limits with these rates and at most `slots` requests at once.
    pub fn new(per_source: Rate, overall: Rate, slots: usize) -> Limits {
        let now = Instant::now();
        Limits {
            per_source,
            overall,
            sources: Mutex::new(HashMap::new()),
            global: Mutex::new(Bucket::full(overall, now)),
            slots: Arc::new(Semaphore::new(slots)),
        }
    }

    /// Admits one request from `source` (unknown: the overall limit only)
    /// at `now`, or answers 429. The returned slot is held while the
    /// request is handled.
    pub fn admit(&self, source: Option<IpAddr>, now: Instant) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Some(ip) = source {
            let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
            if sources.len() >= MAX_SOURCES && !sources.contains_key(&ip) {
                let rate = self.per_source;
                sources.retain(|_, b| {
                    b.refill(rate, now);
                    b.tokens < rate.burst
                });
            }
            if sources.len() < MAX_SOURCES || sources.contains_key(&ip) {
                let bucket = sources.entry(ip).or_insert_with(|| Bucket::full(self.per_source, now));
                if !bucket.take(self.per_source, now) {
                    return Err(too_many(&format!("from {ip}")));
                }
            }
        }
        if !self.global.lock().unwrap_or_else(|e| e.into_inner()).take(self.overall, now) {
            return Err(too_many("overall"));
        }
        Arc::clone(&self.slots).try_acquire_owned().map_err(|_| too_many("at once"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn buckets_refuse_beyond_the_burst_and_refill_with_time() {
        let limits = Limits::new(Rate { per_second: 1.0, burst: 3.0 }, Rate { per_second: 0.001, burst: 5.0 }, 100);
        let (a, b) = (Some("10.0.0.1".parse().expect("ip")), Some("10.0.0.2".parse().expect("ip")));
        let t0 = Instant::now();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(limits.admit(a, t0).expect("within the burst"));
        }
        let err = limits.admit(a, t0).unwrap_err();
        assert_eq!(err.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(limits.admit(b, t0).is_ok(), "another source has its own bucket");
        assert!(limits.admit(a, t0 + Duration::from_secs(1)).is_ok(), "a second refills one");
        // The overall bucket (5) is spent now: any source waits.
        assert_eq!(limits.admit(b, t0 + Duration::from_secs(1)).unwrap_err().status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limits.admit(None, t0 + Duration::from_secs(1)).unwrap_err().status(), StatusCode::TOO_MANY_REQUESTS);
    }

    #[test]
    fn slots_cap_requests_at_once() {
        let limits = Limits::new(Rate { per_second: 100.0, burst: 100.0 }, Rate { per_second: 100.0, burst: 100.0 }, 2);
        let now = Instant::now();
        let first = limits.admit(None, now).expect("slot");
        let _second = limits.admit(None, now).expect("slot");
        assert!(limits.admit(None, now).is_err(), "both slots taken");
        drop(first);
        assert!(limits.admit(None, now).is_ok(), "a finished request frees its slot");
    }
}
