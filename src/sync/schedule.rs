//! When a source polls next: its `interval` spread by ±10% jitter, so replicas (and sources)
//! started together do not hit the Git host in lockstep, and stretched exponentially after
//! consecutive failures, so a host that is down or rate-limiting is not hammered. A pure
//! function of its inputs; the sync thread supplies the randomness as `seed`.

use std::time::Duration;

/// Longest a failing source waits between attempts, unless its own `interval` is longer.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Backoff never stretches a source's interval more than this many times.
pub const MAX_BACKOFF_FACTOR: u32 = 10;
/// Jitter, in parts per thousand of the delay, either way.
const JITTER_PER_MILLE: u64 = 100;

/// The wait before the next attempt: `interval × 2^failures`, capped at the smaller of
/// [`MAX_BACKOFF`] and [`MAX_BACKOFF_FACTOR`] × `interval` (but never below `interval`), then
/// moved by up to ±10% according to `seed`.
pub fn next_delay(interval: Duration, failures: u32, seed: u64) -> Duration {
    let cap = interval
        .checked_mul(MAX_BACKOFF_FACTOR)
        .unwrap_or(Duration::MAX)
        .min(MAX_BACKOFF)
        .max(interval);
    // 2^failures overflows quickly; past the cap it makes no difference anyway.
    let base = interval
        .checked_mul(1u32 << failures.min(16))
        .map_or(cap, |d| d.min(cap));
    // seed → an offset in [-100, +100] per mille.
    let per_mille = (seed % (2 * JITTER_PER_MILLE + 1)) as i64 - JITTER_PER_MILLE as i64;
    let shift = base.mul_f64(per_mille.unsigned_abs() as f64 / 1000.0);
    if per_mille < 0 {
        base.saturating_sub(shift)
    } else {
        base.saturating_add(shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn within(d: Duration, centre: Duration) -> bool {
        d >= centre.mul_f64(0.9) && d <= centre.mul_f64(1.1)
    }

    #[test]
    fn healthy_sources_poll_every_interval_give_or_take_ten_percent() {
        let interval = 30 * S;
        let delays: Vec<Duration> = (0..1000)
            .map(|seed| next_delay(interval, 0, seed))
            .collect();
        assert!(delays.iter().all(|d| within(*d, interval)), "{delays:?}");
        // The whole range is used, not one fixed offset.
        assert_eq!(next_delay(interval, 0, 0), 27 * S);
        assert_eq!(next_delay(interval, 0, 100), interval);
        assert_eq!(next_delay(interval, 0, 200), 33 * S);
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 150, "{}", distinct.len());
    }

    #[test]
    fn failures_double_the_wait_up_to_the_cap() {
        let interval = 30 * S;
        let centre = |failures| next_delay(interval, failures, 100);
        assert_eq!(centre(1), 60 * S);
        assert_eq!(centre(2), 120 * S);
        assert_eq!(centre(3), 240 * S);
        assert_eq!(centre(4), MAX_BACKOFF);
        assert_eq!(centre(u32::MAX), MAX_BACKOFF);
        // Jitter applies to the backed-off wait too.
        assert!(within(next_delay(interval, 2, 7), 120 * S));
        assert_ne!(next_delay(interval, 2, 7), 120 * S);
    }

    #[test]
    fn the_cap_follows_the_interval() {
        // A short interval backs off to ten times itself, not to five minutes.
        assert_eq!(next_delay(S, 20, 100), 10 * S);
        // An interval longer than the cap is never shortened, and not stretched either.
        let hourly = 3600 * S;
        assert_eq!(next_delay(hourly, 0, 100), hourly);
        assert_eq!(next_delay(hourly, 5, 100), hourly);
    }

    #[test]
    fn huge_intervals_do_not_overflow() {
        let long = Duration::from_secs(u64::MAX / 4);
        assert!(next_delay(long, 3, 200) >= long);
        assert_eq!(next_delay(Duration::ZERO, 3, 200), Duration::ZERO);
    }
}
