//! Latency histograms (microseconds, 3 significant digits) and their summary.

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// A latency recorder that merges across tasks.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        // 1 µs to 10 min: every latency a run can see.
        #[allow(clippy::expect_used)] // constant, valid bounds
        let histogram =
            Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
        Self(histogram)
    }
}

impl Latencies {
    /// Records one latency.
    pub fn record(&mut self, elapsed: std::time::Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    /// Adds another recorder's samples.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// `{count, p50_ms, p90_ms, p99_ms, max_ms}`.
    pub fn summary(&self) -> Value {
        let ms = |micros: u64| micros as f64 / 1000.0;
        json!({
            "count": self.0.len(),
            "p50_ms": ms(self.0.value_at_quantile(0.50)),
            "p90_ms": ms(self.0.value_at_quantile(0.90)),
            "p99_ms": ms(self.0.value_at_quantile(0.99)),
            "max_ms": ms(self.0.max()),
        })
    }
}
