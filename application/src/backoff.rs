//! How long to wait before retrying something that failed for a reason that may pass.

use std::time::Duration;

/// Exponential backoff with "equal jitter": the n-th delay lies between half and all of
/// initial * 2^n (capped at max), so many workers retrying at once spread out.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Delays from about `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// How long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(self.max);
        ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0)
    }

    /// Starts again from `initial` (after a success).
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_up_to_its_cap_with_jitter_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let ceilings = [100, 200, 350, 350];
        for ceiling in ceilings {
            let delay = backoff.next_delay().as_millis();
            assert!(
                (ceiling / 2..=ceiling).contains(&delay),
                "{delay} ms for a ceiling of {ceiling} ms"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
