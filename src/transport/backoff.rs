//! Exponential backoff with jitter for reconnecting: 1 s doubling up to 60 s.

use std::time::Duration;

/// Reconnect delays: 1 s, 2 s, 4 s ... capped at 60 s, each with +-20 % jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    min: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(60))
    }
}

impl Backoff {
    /// A backoff between `min` and `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self { attempt: 0, min, max }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.min.saturating_mul(1u32 << self.attempt.min(16)).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let mut r = [0u8; 2];
        let _ = getrandom::fill(&mut r);
        let unit = f64::from(u16::from_le_bytes(r)) / f64::from(u16::MAX); // 0..=1
        base.mul_f64(0.8 + 0.4 * unit).min(self.max)
    }

    /// Back to the shortest delay (after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter() {
        let mut b = Backoff::default();
        let d: Vec<_> = (0..10).map(|_| b.next_delay().as_secs_f64()).collect();
        assert!((0.8..=1.2).contains(&d[0]), "{d:?}");
        assert!((1.6..=2.4).contains(&d[1]), "{d:?}");
        assert!(d[9] <= 60.0 && d[9] >= 48.0, "{d:?}");
        b.reset();
        assert!(b.next_delay().as_secs_f64() <= 1.2);
    }
}
