//! Prometheus metrics: one recorder per process, installed by the binary at start. The adapters
//! and bins record through the `metrics` facade; `GET /metrics` renders what was recorded in the
//! Prometheus text format through the [`MetricsHandle`].

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Bucket bounds of every latency histogram (names ending in `_seconds`): 0.5 ms to 60 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Bucket bounds of the event-count histograms (names ending in `_batch_events`).
const BATCH_BUCKETS: [f64; 12] = [
    1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes, so that they
/// do not pile up in memory.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Why the metrics recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("invalid histogram buckets")]
    Buckets(#[source] BuildError),
    #[error("a metrics recorder is already installed in this process")]
    AlreadyInstalled,
}

/// Renders the process's metrics in the Prometheus text exposition format. Cheap to clone.
#[derive(Clone)]
pub struct MetricsHandle(PrometheusHandle);

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle").finish_non_exhaustive()
    }
}

impl MetricsHandle {
    /// Everything recorded so far, as Prometheus text.
    pub fn render(&self) -> String {
        self.0.render()
    }

    /// The render function, for an HTTP endpoint that serves it.
    pub fn renderer(&self) -> Arc<dyn Fn() -> String + Send + Sync> {
        let handle = self.0.clone();
        Arc::new(move || handle.render())
    }
}

/// A recorder with this project's histogram buckets, not installed: tests install it for a
/// scope with `metrics::set_default_local_recorder`.
pub fn prometheus_recorder() -> Result<(PrometheusRecorder, MetricsHandle), MetricsError> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
        .and_then(|builder| {
            builder.set_buckets_for_metric(Matcher::Suffix("_batch_events".into()), &BATCH_BUCKETS)
        })
        .map_err(MetricsError::Buckets)?
        .build_recorder();
    let handle = MetricsHandle(recorder.handle());
    Ok((recorder, handle))
}

/// Installs the process-wide recorder (once per process) and starts its upkeep task; needs a
/// Tokio runtime.
pub fn install_metrics() -> Result<MetricsHandle, MetricsError> {
    let (recorder, handle) = prometheus_recorder()?;
    metrics::set_global_recorder(recorder).map_err(|_| MetricsError::AlreadyInstalled)?;
    let upkeep = handle.0.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_histograms_get_buckets_and_counters_render_with_their_labels() {
        let (recorder, handle) = prometheus_recorder().unwrap();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("test_request_duration_seconds").record(0.003);
            metrics::histogram!("test_batch_events").record(120.0);
            metrics::counter!("test_events_total", "reason" => "invalid_field").increment(2);
        });

        let text = handle.render();

        assert!(
            text.contains("test_request_duration_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("test_request_duration_seconds_bucket{le=\"0.0025\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("test_batch_events_bucket{le=\"250\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("test_events_total{reason=\"invalid_field\"} 2"),
            "{text}"
        );
    }
}
