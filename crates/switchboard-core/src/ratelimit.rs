//! Token-bucket rate limits behind a trait, so a shared store (Redis) can back them when several
//! server processes must agree.

use crate::clock::Clock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A limit: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

/// Whether a request may proceed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Allowed {
        remaining: u64,
    },
    /// Denied; retry after this many milliseconds.
    Limited {
        retry_after_ms: i64,
    },
}

/// Counts requests per key.
pub trait RateLimiter: Send + Sync + std::fmt::Debug {
    /// Takes `cost` tokens from the key's bucket if it has them.
    fn acquire(&self, key: &str, rate: Rate, cost: f64) -> Decision;
    /// Whether `cost` tokens are available, without taking them.
    fn would_allow(&self, key: &str, rate: Rate, cost: f64) -> bool;
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: i64,
}

/// In-process buckets (the embedded default). Idle full buckets are dropped to bound memory.
#[derive(Debug)]
pub struct InMemoryRateLimiter {
    clock: Arc<dyn Clock>,
    buckets: Mutex<HashMap<String, Bucket>>,
    max_keys: usize,
}

impl InMemoryRateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            buckets: Mutex::new(HashMap::new()),
            max_keys: 100_000,
        }
    }

    fn with_bucket<T>(&self, key: &str, rate: Rate, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let now = self.clock.now_ms();
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= self.max_keys && !map.contains_key(key) {
            // Drop buckets that have refilled completely: forgetting them changes nothing.
            map.retain(|_, b| b.tokens + elapsed_tokens(b, now, rate) < rate.burst);
        }
        let bucket = map.entry(key.to_owned()).or_insert(Bucket {
            tokens: rate.burst,
            updated_ms: now,
        });
        bucket.tokens = (bucket.tokens + elapsed_tokens(bucket, now, rate)).min(rate.burst);
        bucket.updated_ms = now;
        f(bucket)
    }
}

fn elapsed_tokens(b: &Bucket, now: i64, rate: Rate) -> f64 {
    let elapsed_ms = (now - b.updated_ms).max(0) as f64;
    elapsed_ms / 1000.0 * rate.per_second
}

impl RateLimiter for InMemoryRateLimiter {
    fn acquire(&self, key: &str, rate: Rate, cost: f64) -> Decision {
        self.with_bucket(key, rate, |b| {
            if b.tokens >= cost {
                b.tokens -= cost;
                Decision::Allowed {
                    remaining: b.tokens.floor() as u64,
                }
            } else {
                let missing = cost - b.tokens;
                let retry_after_ms = if rate.per_second > 0.0 {
                    (missing / rate.per_second * 1000.0).ceil() as i64
                } else {
                    i64::MAX
                };
                Decision::Limited {
                    retry_after_ms: retry_after_ms.max(1),
                }
            }
        })
    }

    fn would_allow(&self, key: &str, rate: Rate, cost: f64) -> bool {
        self.with_bucket(key, rate, |b| b.tokens >= cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn allows_a_burst_then_limits_then_refills() {
        let clock = ManualClock::new(0);
        let rl = InMemoryRateLimiter::new(Arc::new(clock.clone()));
        let rate = Rate {
            per_second: 2.0,
            burst: 3.0,
        };
        for _ in 0..3 {
            assert!(matches!(
                rl.acquire("k", rate, 1.0),
                Decision::Allowed { .. }
            ));
        }
        match rl.acquire("k", rate, 1.0) {
            Decision::Limited { retry_after_ms } => assert_eq!(retry_after_ms, 500),
            other => panic!("expected limit, got {other:?}"),
        }
        assert!(
            matches!(rl.acquire("other", rate, 1.0), Decision::Allowed { .. }),
            "keys are independent"
        );
        clock.advance_ms(500);
        assert!(matches!(
            rl.acquire("k", rate, 1.0),
            Decision::Allowed { .. }
        ));
        assert!(!rl.would_allow("k", rate, 1.0));
    }
}
