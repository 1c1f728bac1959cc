//! When a failed delivery is tried again, and when an endpoint has failed long enough to be
//! switched off. Pure functions of the attempt number, the response and a random draw, so tests
//! run the whole schedule in milliseconds with their own clock.

use std::time::{Duration, SystemTime};

/// Waits before the 2nd, 3rd, … 8th attempt (the first is immediate): 5 s, 5 min, 30 min, 2 h,
/// 5 h, 10 h, 10 h, as Svix and the Standard Webhooks guidance schedule them.
pub const RETRY_DELAYS_MS: [i64; 7] = [
    5_000,
    5 * 60_000,
    30 * 60_000,
    2 * 3_600_000,
    5 * 3_600_000,
    10 * 3_600_000,
    10 * 3_600_000,
];

/// Attempts a message gets before it goes to the dead-letter list.
pub const MAX_ATTEMPTS: u32 = RETRY_DELAYS_MS.len() as u32 + 1;

/// Each wait is moved by up to this fraction either way, so endpoints that failed together do not
/// all come back at the same instant.
pub const JITTER: f64 = 0.2;

/// The shortest wait after a 429 or 503 that carried `Retry-After`.
pub const MIN_RETRY_AFTER_MS: i64 = 60_000;

/// The longest `Retry-After` we honour; a receiver cannot park a message for ever.
pub const MAX_RETRY_AFTER_MS: i64 = 24 * 3_600_000;

/// An endpoint that has failed for this long without one success is disabled.
pub const DISABLE_AFTER_MS: i64 = 5 * 24 * 3_600_000;

/// What a finished attempt means for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Delivered (2xx).
    Done,
    /// Try again `after_ms` from now.
    RetryIn { after_ms: i64 },
    /// Out of attempts: the message goes to the dead-letter list.
    DeadLetter,
    /// The receiver answered 410 Gone: the endpoint is disabled at once.
    DisableEndpoint,
}

/// The outcome of an attempt as the schedule needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptResult {
    /// The HTTP status, or `None` when no response came (refused, timed out, blocked).
    pub status: Option<u16>,
    /// `Retry-After` of the response, already read into milliseconds from now.
    pub retry_after_ms: Option<i64>,
}

/// Decides what follows attempt number `attempt` (1-based). `draw` is a uniform number in
/// [0, 1) that places the jitter.
pub fn next_step(attempt: u32, result: AttemptResult, draw: f64) -> Next {
    match result.status {
        Some(s) if (200..300).contains(&s) => return Next::Done,
        Some(410) => return Next::DisableEndpoint,
        _ => {}
    }
    let Some(base) = usize::try_from(attempt)
        .ok()
        .and_then(|a| a.checked_sub(1))
        .and_then(|i| RETRY_DELAYS_MS.get(i))
    else {
        return Next::DeadLetter;
    };
    let mut after_ms = jittered(*base, draw);
    if let (Some(429 | 503), Some(asked)) = (result.status, result.retry_after_ms) {
        after_ms = after_ms.max(asked.clamp(MIN_RETRY_AFTER_MS, MAX_RETRY_AFTER_MS));
    }
    Next::RetryIn { after_ms }
}

/// `base` moved by up to ±[`JITTER`], `draw` in [0, 1) choosing where.
pub fn jittered(base: i64, draw: f64) -> i64 {
    let factor = 1.0 - JITTER + 2.0 * JITTER * draw.clamp(0.0, 1.0);
    // Waits are far below 2^53 ms, so the round trip through f64 is exact enough.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let ms = (base as f64 * factor).round() as i64;
    ms
}

/// Reads a `Retry-After` value (delta seconds or an HTTP date) into milliseconds after `now_ms`
/// (Unix milliseconds).
pub fn parse_retry_after(value: &str, now_ms: i64) -> Option<i64> {
    let now = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(now_ms).unwrap_or(0));
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(i64::try_from(secs.min(i64::MAX as u64 / 1000)).unwrap_or(0) * 1000);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at.duration_since(now).unwrap_or(Duration::ZERO);
    i64::try_from(wait.as_millis()).ok()
}

/// Whether an endpoint failing since `failing_since` (ms) has now failed too long.
pub fn should_disable(failing_since: Option<i64>, now: i64) -> bool {
    failing_since.is_some_and(|since| now - since >= DISABLE_AFTER_MS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn failed(status: Option<u16>) -> AttemptResult {
        AttemptResult {
            status,
            retry_after_ms: None,
        }
    }

    #[test]
    fn the_whole_schedule_then_the_dead_letter_list() {
        let waits: Vec<_> = (1..=MAX_ATTEMPTS)
            .map(|a| next_step(a, failed(Some(500)), 0.5))
            .collect();
        let expected: Vec<_> = RETRY_DELAYS_MS
            .iter()
            .map(|&after_ms| Next::RetryIn { after_ms })
            .chain([Next::DeadLetter])
            .collect();
        assert_eq!(waits, expected);
        assert_eq!(MAX_ATTEMPTS, 8);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        assert_eq!(jittered(5_000, 0.0), 4_000);
        assert_eq!(jittered(5_000, 0.999_999), 6_000);
        for i in 0..100 {
            let w = jittered(300_000, f64::from(i) / 100.0);
            assert!((240_000..=360_000).contains(&w), "{w}");
        }
    }

    #[test]
    fn success_and_gone_end_the_schedule() {
        assert_eq!(next_step(1, failed(Some(204)), 0.5), Next::Done);
        assert_eq!(next_step(8, failed(Some(200)), 0.5), Next::Done);
        assert_eq!(next_step(1, failed(Some(410)), 0.5), Next::DisableEndpoint);
        assert_eq!(
            next_step(1, failed(None), 0.5),
            Next::RetryIn { after_ms: 5_000 }
        );
        // A redirect is not a success: we follow none.
        assert_eq!(
            next_step(1, failed(Some(301)), 0.5),
            Next::RetryIn { after_ms: 5_000 }
        );
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_with_a_floor_of_a_minute() {
        let r = |status, secs: i64| AttemptResult {
            status: Some(status),
            retry_after_ms: Some(secs * 1000),
        };
        assert_eq!(
            next_step(1, r(429, 2), 0.5),
            Next::RetryIn { after_ms: 60_000 }
        );
        assert_eq!(
            next_step(1, r(503, 900), 0.5),
            Next::RetryIn { after_ms: 900_000 }
        );
        // Never sooner than the schedule, never later than a day.
        assert_eq!(
            next_step(4, r(429, 61), 0.5),
            Next::RetryIn {
                after_ms: 2 * 3_600_000
            }
        );
        assert_eq!(
            next_step(1, r(429, 10_000_000), 0.5),
            Next::RetryIn {
                after_ms: MAX_RETRY_AFTER_MS
            }
        );
        // Other statuses do not get to choose.
        assert_eq!(
            next_step(1, r(500, 900), 0.5),
            Next::RetryIn { after_ms: 5_000 }
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = 1_445_412_480_000;
        assert_eq!(parse_retry_after("120", now), Some(120_000));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(120_000)
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn five_days_of_failure_disable() {
        assert!(!should_disable(None, 10 * DISABLE_AFTER_MS));
        assert!(!should_disable(Some(0), DISABLE_AFTER_MS - 1));
        assert!(should_disable(Some(0), DISABLE_AFTER_MS));
    }
}
