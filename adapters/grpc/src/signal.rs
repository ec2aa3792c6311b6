//! The ingestion side: [`GrpcDrainSignal`] implements the `DrainSignal` port by calling the
//! worker's Drain RPC from one background task.
//!
//! `request_drain` only bumps a counter and notifies the task, so it never waits on the network.
//! The task sends at most one RPC at a time, and under load at most one per 10 ms; all requests
//! that arrive while one is in flight, or within 10 ms of the last, are coalesced into exactly one
//! follow-up RPC. A failed RPC is sent again after a pause (100 ms, doubling up to 2 s) until the
//! worker answers, together with any request made meanwhile: events queued while the worker could
//! not be reached (not yet listening, restarting, its address not yet resolvable) are drained as
//! soon as it can be, instead of waiting for its next poll.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use application::ports::{DrainSignal, SignalError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tracing::{debug, info, warn};

use crate::proto::DrainRequest;
use crate::proto::worker_client::WorkerClient;
use crate::token::AttachToken;
use crate::{GrpcClientConfig, GrpcError};

/// After a logged failure, further failures are only counted until this much time has passed, so
/// a dead worker under heavy ingestion costs one log line per interval.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Under load, requests that come sooner than this after the last RPC are joined into one RPC
/// sent once this much time has passed: the worker drains whatever is queued when woken, so a
/// busy one needs no more wakes (its batch timeout, 50 ms by default, is longer), while the first
/// request after a quiet spell is still sent at once. Without it, signals went back to back, one
/// per round trip: thousands of RPCs a second, each costing both services CPU.
const MIN_SIGNAL_INTERVAL: Duration = Duration::from_millis(10);

/// The pause before the first retry of a failed signal; each further failure doubles it.
const RETRY_FIRST_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between retries while the worker cannot be reached.
const RETRY_MAX_PAUSE: Duration = Duration::from_secs(2);

/// `DrainSignal` over gRPC. Stops its background task when the shutdown token given to
/// [`GrpcDrainSignal::new`] is cancelled or when it is dropped.
pub struct GrpcDrainSignal {
    url: String,
    pending: Arc<PendingSignals>,
    task: JoinHandle<()>,
    _stop_on_drop: DropGuard,
}

/// What `request_drain` and the background task share.
#[derive(Debug, Default)]
pub(crate) struct PendingSignals {
    wake: Notify,
    /// Requests not yet covered by a sent RPC.
    requests: AtomicU64,
    /// RPCs that failed, for tests (the log is rate-limited).
    pub(crate) failed_rpcs: AtomicU64,
}

impl fmt::Debug for GrpcDrainSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcDrainSignal")
            .field("url", &self.url)
            .field("running", &!self.task.is_finished())
            .finish_non_exhaustive()
    }
}

impl GrpcDrainSignal {
    /// A signal to the worker at `url` (`http://host:port`) with the default timeouts. Does not
    /// connect: the worker may start later. Must be called inside a tokio runtime.
    ///
    /// Errors: [`GrpcError::InvalidUrl`] naming the URL, [`GrpcError::NoRuntime`].
    pub fn new(url: &str, shutdown: CancellationToken) -> Result<Self, GrpcError> {
        Self::from_config(&GrpcClientConfig::with_url(url), shutdown)
    }

    /// As [`GrpcDrainSignal::new`], with all settings given.
    pub fn from_config(
        config: &GrpcClientConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, GrpcError> {
        let endpoint = endpoint(config)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| GrpcError::NoRuntime)?;
        // `connect_lazy` spawns the channel's worker on the current runtime, found above.
        let client = WorkerClient::with_interceptor(
            endpoint.connect_lazy(),
            AttachToken(config.token.clone()),
        );
        let pending = Arc::new(PendingSignals::default());
        let stop = shutdown.child_token();
        let task = runtime.spawn(send_signals(
            client,
            Arc::clone(&pending),
            stop.clone(),
            config.url.clone(),
        ));
        Ok(Self {
            url: config.url.clone(),
            pending,
            task,
            _stop_on_drop: stop.drop_guard(),
        })
    }

    #[cfg(test)]
    pub(crate) fn pending(&self) -> Arc<PendingSignals> {
        Arc::clone(&self.pending)
    }
}

impl DrainSignal for GrpcDrainSignal {
    /// Hands the signal to the background task and returns. Errors only when that task has
    /// stopped ([`GrpcError::SignalTaskStopped`]).
    fn request_drain(&self) -> Result<(), SignalError> {
        if self.task.is_finished() {
            return Err(SignalError(Box::new(GrpcError::SignalTaskStopped)));
        }
        self.pending.requests.fetch_add(1, Ordering::AcqRel);
        // A notification while the task is busy is stored as one permit: coalesced.
        self.pending.wake.notify_one();
        Ok(())
    }
}

/// Checks the URL now, so a bad `WORKER_GRPC_URL` stops the service at start, not at each call.
fn endpoint(config: &GrpcClientConfig) -> Result<Endpoint, GrpcError> {
    let invalid = |reason, source| GrpcError::InvalidUrl {
        url: config.url.clone(),
        reason,
        source,
    };
    let endpoint = Endpoint::from_shared(config.url.clone())
        .map_err(|error| invalid("not a valid URI", Some(error)))?;
    if endpoint.uri().scheme_str() != Some("http") {
        return Err(invalid(
            "expected http://host:port (TLS is not supported)",
            None,
        ));
    }
    if endpoint.uri().host().is_none_or(str::is_empty) {
        return Err(invalid("no host", None));
    }
    Ok(endpoint
        .connect_timeout(config.connect_timeout())
        .timeout(config.timeout()))
}

/// The background task: one RPC at a time, each covering every request made before it started;
/// a failed one is retried after a growing pause, covering the requests made meanwhile too.
async fn send_signals(
    mut client: WorkerClient<InterceptedService<Channel, AttachToken>>,
    pending: Arc<PendingSignals>,
    stop: CancellationToken,
    url: String,
) {
    let mut failures = FailureLog::new(FAILURE_LOG_INTERVAL);
    // Requests of a failed RPC, to be sent again.
    let mut undelivered = 0_u64;
    let mut retry_pause = RETRY_FIRST_PAUSE;
    let mut last_sent: Option<Instant> = None;
    loop {
        if undelivered == 0 {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = pending.wake.notified() => {}
            }
            let next_allowed = last_sent.map(|sent| sent + MIN_SIGNAL_INTERVAL);
            if let Some(next_allowed) = next_allowed.filter(|at| *at > Instant::now()) {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep_until(next_allowed.into()) => {}
                }
            }
        } else {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = tokio::time::sleep(retry_pause) => {}
            }
            retry_pause = (retry_pause * 2).min(RETRY_MAX_PAUSE);
        }
        let coalesced_requests = pending.requests.swap(0, Ordering::AcqRel) + undelivered;
        if coalesced_requests == 0 {
            // Already covered by the RPC that took the count just before this wake was stored.
            continue;
        }
        last_sent = Some(Instant::now());
        let outcome = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            outcome = client.drain(DrainRequest { coalesced_requests }) => outcome,
        };
        match outcome {
            Ok(_) => {
                debug!(worker = %url, coalesced_requests, "drain signal sent");
                undelivered = 0;
                retry_pause = RETRY_FIRST_PAUSE;
                if let Some(failed_rpcs) = failures.succeeded() {
                    info!(worker = %url, failed_rpcs, "drain signals reach the worker again");
                }
            }
            Err(status) => {
                undelivered = coalesced_requests;
                pending.failed_rpcs.fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = failures.failed(Instant::now()) {
                    warn!(
                        worker = %url,
                        code = ?status.code(),
                        error = %status,
                        suppressed,
                        "drain signal failed; sending it again until the worker answers"
                    );
                }
            }
        }
    }
    debug!(worker = %url, "drain signal task stopped");
}

/// Decides which failures deserve a log line: the first of a run, then one per interval with
/// how many were not logged in between; and the recovery that ends the run.
#[derive(Debug)]
struct FailureLog {
    interval: Duration,
    last_logged: Option<Instant>,
    suppressed: u64,
    failed_in_run: u64,
}

impl FailureLog {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_logged: None,
            suppressed: 0,
            failed_in_run: 0,
        }
    }

    /// Records a failure at `now`; `Some(suppressed)` when it should be logged, with the number
    /// of failures since the previous log line that were not.
    fn failed(&mut self, now: Instant) -> Option<u64> {
        self.failed_in_run += 1;
        match self.last_logged {
            Some(logged) if now.saturating_duration_since(logged) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_logged = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// Records a success; `Some(failed)` when it ends a run of `failed` failures.
    fn succeeded(&mut self) -> Option<u64> {
        if self.failed_in_run == 0 {
            return None;
        }
        self.last_logged = None;
        self.suppressed = 0;
        Some(std::mem::take(&mut self.failed_in_run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_logged_then_one_per_interval_with_the_suppressed_count() {
        let mut log = FailureLog::new(Duration::from_secs(30));
        let start = Instant::now();

        assert_eq!(log.failed(start), Some(0));
        for second in 1..30 {
            assert_eq!(log.failed(start + Duration::from_secs(second)), None);
        }
        assert_eq!(log.failed(start + Duration::from_secs(30)), Some(29));
        assert_eq!(log.failed(start + Duration::from_secs(31)), None);
    }

    #[test]
    fn a_success_ends_a_run_of_failures_once_and_the_next_failure_is_logged_at_once() {
        let mut log = FailureLog::new(Duration::from_secs(30));
        let start = Instant::now();
        assert_eq!(log.succeeded(), None);

        log.failed(start);
        log.failed(start + Duration::from_secs(1));
        assert_eq!(log.succeeded(), Some(2));
        assert_eq!(log.succeeded(), None);
        assert_eq!(log.failed(start + Duration::from_secs(2)), Some(0));
    }
}
