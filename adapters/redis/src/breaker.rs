//! A circuit breaker in front of Redis for the producer side (push and health): once a call
//! found Redis unreachable or answering "not now", further calls fail at once as `Unavailable`
//! instead of each waiting out `REDIS_RESPONSE_TIMEOUT_MS`, while one background task probes
//! Redis (`PING`) every `probe_interval`; the first answer closes the circuit again.
//!
//! [`Circuit`] is the state machine alone, driven with explicit instants so that its tests need
//! no clock; [`Breaker`] shares it between calls and runs the probe.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// Whether calls go to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls fail at once; a probe decides when to close.
    Open {
        /// When the circuit opened.
        since: Instant,
    },
}

/// What a recorded outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    None,
    /// The circuit just opened: start probing.
    Opened,
    /// The circuit just closed, after being open for this long.
    Closed(Duration),
}

/// The breaker's state machine.
#[derive(Debug, Clone)]
pub(crate) struct Circuit {
    state: CircuitState,
    /// Whether a probe task runs (at most one).
    probing: bool,
}

impl Circuit {
    pub(crate) fn new() -> Self {
        Self {
            state: CircuitState::Closed,
            probing: false,
        }
    }

    #[cfg(test)]
    fn state(&self) -> CircuitState {
        self.state
    }

    /// Whether a call may go to Redis now.
    pub(crate) fn admits(&self) -> bool {
        self.state == CircuitState::Closed
    }

    /// A call (or probe) found Redis unavailable at `now`. Opens the circuit; `Opened` only
    /// when no probe runs yet, so that exactly one is started.
    pub(crate) fn failed(&mut self, now: Instant) -> Transition {
        if self.state == CircuitState::Closed {
            self.state = CircuitState::Open { since: now };
        }
        if self.probing {
            Transition::None
        } else {
            self.probing = true;
            Transition::Opened
        }
    }

    /// The probe got an answer at `now`: the circuit closes and the probe stops. Only the probe
    /// closes it: a call admitted before it opened may still succeed late, which says little.
    pub(crate) fn probe_answered(&mut self, now: Instant) -> Transition {
        self.probing = false;
        match self.state {
            CircuitState::Open { since } => {
                self.state = CircuitState::Closed;
                Transition::Closed(now.saturating_duration_since(since))
            }
            CircuitState::Closed => Transition::None,
        }
    }
}

/// The circuit shared by every clone of a queue, and its probe.
#[derive(Debug, Clone)]
pub(crate) struct Breaker {
    circuit: Arc<Mutex<Circuit>>,
    probe_interval: Duration,
}

impl Breaker {
    pub(crate) fn new(probe_interval: Duration) -> Self {
        Self {
            circuit: Arc::new(Mutex::new(Circuit::new())),
            probe_interval,
        }
    }

    fn with_circuit<T>(&self, change: impl FnOnce(&mut Circuit) -> T) -> T {
        change(&mut self.circuit.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether a call may go to Redis now.
    pub(crate) fn admits(&self) -> bool {
        self.with_circuit(|circuit| circuit.admits())
    }

    /// Records that a call found Redis unavailable; on opening, starts the probe, which calls
    /// `probe` every `probe_interval` until it answers `true`. Needs a Tokio runtime.
    pub(crate) fn failed<P, F>(&self, probe: P)
    where
        P: Fn() -> F + Send + 'static,
        F: Future<Output = bool> + Send,
    {
        if self.with_circuit(|circuit| circuit.failed(Instant::now())) != Transition::Opened {
            return;
        }
        warn!(
            probe_interval_ms = self.probe_interval.as_millis() as u64,
            "redis unavailable: circuit open, answering 503 at once until a probe succeeds"
        );
        let breaker = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(breaker.probe_interval).await;
                if probe().await {
                    break;
                }
            }
            if let Transition::Closed(open_for) =
                breaker.with_circuit(|circuit| circuit.probe_answered(Instant::now()))
            {
                info!(
                    open_ms = open_for.as_millis() as u64,
                    "redis answers again: circuit closed"
                );
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_circuit_admits_calls() {
        let circuit = Circuit::new();
        assert!(circuit.admits());
        assert_eq!(circuit.state(), CircuitState::Closed);
    }

    #[test]
    fn the_first_failure_opens_the_circuit_and_asks_for_one_probe() {
        let mut circuit = Circuit::new();
        let start = Instant::now();

        assert_eq!(circuit.failed(start), Transition::Opened);
        assert!(!circuit.admits());
        assert_eq!(circuit.state(), CircuitState::Open { since: start });
        // Concurrent calls that were already under way fail too: still one probe, and the
        // circuit stays open since the first failure.
        let later = start + Duration::from_millis(10);
        assert_eq!(circuit.failed(later), Transition::None);
        assert_eq!(circuit.state(), CircuitState::Open { since: start });
    }

    #[test]
    fn only_the_probe_closes_the_circuit_and_says_how_long_it_was_open() {
        let mut circuit = Circuit::new();
        let start = Instant::now();
        circuit.failed(start);

        let answered = start + Duration::from_millis(1500);
        assert_eq!(
            circuit.probe_answered(answered),
            Transition::Closed(Duration::from_millis(1500))
        );
        assert!(circuit.admits());
        // Opening again starts a new probe.
        assert_eq!(circuit.failed(answered), Transition::Opened);
    }

    #[tokio::test]
    async fn the_breaker_fails_fast_while_the_probe_fails_and_closes_when_it_answers() {
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

        let breaker = Breaker::new(Duration::from_millis(20));
        let redis_back = Arc::new(AtomicBool::new(false));
        let probes = Arc::new(AtomicU32::new(0));
        let probe = {
            let (redis_back, probes) = (Arc::clone(&redis_back), Arc::clone(&probes));
            move || {
                let (redis_back, probes) = (Arc::clone(&redis_back), Arc::clone(&probes));
                async move {
                    probes.fetch_add(1, Ordering::SeqCst);
                    redis_back.load(Ordering::SeqCst)
                }
            }
        };

        breaker.failed(probe.clone());
        breaker.failed(probe);
        assert!(!breaker.admits());
        // Waits for two failed probes rather than a fixed time: on a busy machine 100 ms may
        // hold only one.
        let deadline = Instant::now() + Duration::from_secs(5);
        while probes.load(Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "the probe is not repeated");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!breaker.admits(), "open while every probe fails");

        redis_back.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !breaker.admits() {
            assert!(Instant::now() < deadline, "the circuit never closed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let probed = probes.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            probes.load(Ordering::SeqCst),
            probed,
            "the probe stops once the circuit is closed"
        );
    }
}
