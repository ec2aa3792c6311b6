//! End-to-end tests: the real `GrpcDrainSignal` against a real tonic server on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use application::DrainTrigger;
use application::ports::DrainSignal;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;
use tonic::{Request, Response, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::proto::worker_client::WorkerClient;
use crate::proto::worker_server::Worker;
use crate::proto::{DrainReply, DrainRequest};
use crate::server::{DrainService, serve};
use crate::{
    GrpcClientConfig, GrpcDrainSignal, GrpcError, SharedToken, WORKER_SERVICE_NAME, WorkerHealth,
    serve_worker,
};

/// A running server; dropping it stops the server.
struct RunningServer {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl RunningServer {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The production server: `serve_worker`, as the worker binary runs it.
async fn start_worker(
    listener: TcpListener,
    trigger: DrainTrigger,
    health: WorkerHealth,
) -> RunningServer {
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(serve_worker(
        listener,
        trigger,
        health,
        None,
        stop.clone().cancelled_owned(),
    ));
    RunningServer { addr, stop }
}

/// The production server requiring `token` on Drain calls.
async fn start_worker_with_token(trigger: DrainTrigger, token: &str) -> RunningServer {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(serve_worker(
        listener,
        trigger,
        WorkerHealth::new(),
        Some(SharedToken::new(token).unwrap()),
        stop.clone().cancelled_owned(),
    ));
    RunningServer { addr, stop }
}

async fn bind_loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Every Drain call the counting worker saw, in order of arrival.
#[derive(Debug, Default)]
struct CallLog {
    /// `coalesced_requests` of each call, recorded as it arrives.
    arrived: Mutex<Vec<u64>>,
    answered: AtomicUsize,
}

impl CallLog {
    fn arrived(&self) -> Vec<u64> {
        self.arrived.lock().unwrap().clone()
    }

    fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

/// The production `DrainService` behind a counter and a gate: each call takes one permit of
/// `gate` before it is answered, so a test can hold a call in flight.
struct CountingWorker {
    inner: DrainService,
    calls: Arc<CallLog>,
    gate: Arc<Semaphore>,
}

#[tonic::async_trait]
impl Worker for CountingWorker {
    async fn drain(&self, request: Request<DrainRequest>) -> Result<Response<DrainReply>, Status> {
        self.calls
            .arrived
            .lock()
            .unwrap()
            .push(request.get_ref().coalesced_requests);
        self.gate.acquire().await.unwrap().forget();
        let reply = self.inner.drain(request).await;
        self.calls.answered.fetch_add(1, Ordering::SeqCst);
        reply
    }
}

async fn start_counting_worker(
    trigger: DrainTrigger,
    gate: Arc<Semaphore>,
) -> (RunningServer, Arc<CallLog>) {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(CallLog::default());
    let worker = CountingWorker {
        inner: DrainService::new(trigger),
        calls: Arc::clone(&calls),
        gate,
    };
    let stop = CancellationToken::new();
    tokio::spawn(serve(
        listener,
        worker,
        WorkerHealth::new(),
        None,
        stop.clone().cancelled_owned(),
    ));
    (RunningServer { addr, stop }, calls)
}

/// Polls `condition` every 10 ms; panics naming `what` if it is still false after `within`.
async fn eventually(what: &str, within: Duration, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        sleep(Duration::from_millis(10)).await;
    }
}

async fn health_of(url: String, service: &str) -> ServingStatus {
    let channel = Endpoint::from_shared(url).unwrap().connect().await.unwrap();
    let mut client = HealthClient::new(channel);
    client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

#[tokio::test]
async fn a_drain_signal_wakes_the_trigger_of_a_running_worker() {
    let trigger = DrainTrigger::new();
    let server = start_worker(bind_loopback().await, trigger.clone(), WorkerHealth::new()).await;
    let signal = GrpcDrainSignal::new(&server.url(), CancellationToken::new()).unwrap();

    signal.request_drain().unwrap();

    timeout(Duration::from_secs(5), trigger.woken())
        .await
        .expect("the worker's trigger was not woken");
}

#[tokio::test]
async fn without_a_signal_the_trigger_of_a_running_worker_stays_asleep() {
    // The counterpart of the test above: the wake it sees comes from the RPC, not the setup.
    let trigger = DrainTrigger::new();
    let server = start_worker(bind_loopback().await, trigger.clone(), WorkerHealth::new()).await;
    let _signal = GrpcDrainSignal::new(&server.url(), CancellationToken::new()).unwrap();

    assert!(
        timeout(Duration::from_millis(300), trigger.woken())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_ten_thousand_requests_returns_at_once_and_costs_a_handful_of_rpcs() {
    let trigger = DrainTrigger::new();
    let gate = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
    let (server, calls) = start_counting_worker(trigger.clone(), gate).await;
    let signal = GrpcDrainSignal::new(&server.url(), CancellationToken::new()).unwrap();

    let started = Instant::now();
    for _ in 0..10_000 {
        signal.request_drain().unwrap();
    }
    let burst = started.elapsed();

    eventually(
        "all 10,000 requests covered by answered RPCs",
        Duration::from_secs(10),
        || {
            let arrived = calls.arrived();
            arrived.iter().sum::<u64>() == 10_000 && calls.answered() == arrived.len()
        },
    )
    .await;
    let rpcs = calls.arrived().len();
    assert!(burst < Duration::from_secs(2), "the burst took {burst:?}");
    assert!(rpcs <= 50, "{rpcs} RPCs for 10,000 requests");
    timeout(Duration::from_secs(5), trigger.woken())
        .await
        .expect("the worker's trigger was not woken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_made_while_an_rpc_is_in_flight_cause_exactly_one_follow_up_rpc() {
    let gate = Arc::new(Semaphore::new(0));
    let (server, calls) = start_counting_worker(DrainTrigger::new(), Arc::clone(&gate)).await;
    let config = GrpcClientConfig {
        // The held call must not time out, or the client would move on early.
        timeout_ms: 60_000,
        ..GrpcClientConfig::with_url(server.url())
    };
    let signal = GrpcDrainSignal::from_config(&config, CancellationToken::new()).unwrap();

    signal.request_drain().unwrap();
    eventually(
        "the first RPC reached the server",
        Duration::from_secs(10),
        || calls.arrived().len() == 1,
    )
    .await;
    for _ in 0..1_000 {
        signal.request_drain().unwrap();
    }
    gate.add_permits(100);
    eventually(
        "the follow-up RPC was answered",
        Duration::from_secs(10),
        || calls.answered() == 2,
    )
    .await;
    // Room for a wrong third RPC to show up.
    sleep(Duration::from_millis(300)).await;

    assert_eq!(calls.arrived(), [1, 1_000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_stream_of_requests_costs_at_most_one_rpc_per_ten_milliseconds() {
    let gate = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
    let (server, calls) = start_counting_worker(DrainTrigger::new(), gate).await;
    let signal = GrpcDrainSignal::new(&server.url(), CancellationToken::new()).unwrap();

    // A request every 100 µs for 300 ms: an answering worker on loopback would otherwise see
    // one RPC per round trip, hundreds of them.
    let started = Instant::now();
    let mut requests = 0_u64;
    while started.elapsed() < Duration::from_millis(300) {
        signal.request_drain().unwrap();
        requests += 1;
        sleep(Duration::from_micros(100)).await;
    }
    eventually(
        "every request covered by an answered RPC",
        Duration::from_secs(10),
        || calls.arrived().iter().sum::<u64>() == requests,
    )
    .await;
    let spanned = started.elapsed();

    let rpcs = calls.arrived().len() as u128;
    // The first at once, then at most one per 10 ms of the time the requests spanned.
    let most = spanned.as_millis() / 10 + 1;
    assert!(
        rpcs <= most,
        "{rpcs} RPCs for {requests} requests over {spanned:?} (at most {most})"
    );
    assert!(
        rpcs >= 2,
        "a stream of requests is signalled more than once: {rpcs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_worker_requests_return_at_once_and_signals_get_through_once_it_starts() {
    let addr = bind_loopback().await.local_addr().unwrap(); // closed again at once
    let signal = GrpcDrainSignal::new(&format!("http://{addr}"), CancellationToken::new()).unwrap();
    let pending = signal.pending();

    let started = Instant::now();
    for _ in 0..100 {
        signal.request_drain().unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    eventually(
        "an RPC to the closed port failed",
        Duration::from_secs(10),
        || pending.failed_rpcs.load(Ordering::Relaxed) >= 1,
    )
    .await;
    signal
        .request_drain()
        .expect("the signal task survives failures");

    let trigger = DrainTrigger::new();
    let listener = TcpListener::bind(addr).await.unwrap();
    let _server = start_worker(listener, trigger.clone(), WorkerHealth::new()).await;
    let reconnected = timeout(Duration::from_secs(10), async {
        loop {
            signal.request_drain().unwrap();
            tokio::select! {
                () = trigger.woken() => break,
                () = sleep(Duration::from_millis(100)) => {}
            }
        }
    })
    .await;

    assert!(
        reconnected.is_ok(),
        "no signal reached the worker started later"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_that_failed_is_sent_again_and_reaches_a_worker_that_starts_later() {
    let addr = bind_loopback().await.local_addr().unwrap(); // closed again at once
    let signal = GrpcDrainSignal::new(&format!("http://{addr}"), CancellationToken::new()).unwrap();
    let pending = signal.pending();

    signal.request_drain().unwrap();
    eventually(
        "the RPC to the closed port failed",
        Duration::from_secs(10),
        || pending.failed_rpcs.load(Ordering::Relaxed) >= 1,
    )
    .await;
    let trigger = DrainTrigger::new();
    let listener = TcpListener::bind(addr).await.unwrap();
    let _server = start_worker(listener, trigger.clone(), WorkerHealth::new()).await;

    // No further request: the one that failed must arrive by itself.
    let delivered = timeout(Duration::from_secs(10), trigger.woken()).await;
    assert!(
        delivered.is_ok(),
        "the failed signal never reached the worker started later"
    );
}

#[tokio::test]
async fn the_health_service_reports_serving_for_the_server_and_the_worker_service() {
    let server = start_worker(
        bind_loopback().await,
        DrainTrigger::new(),
        WorkerHealth::new(),
    )
    .await;

    assert_eq!(health_of(server.url(), "").await, ServingStatus::Serving);
    assert_eq!(
        health_of(server.url(), WORKER_SERVICE_NAME).await,
        ServingStatus::Serving
    );
    assert_eq!(WORKER_SERVICE_NAME, "logpipeline.worker.v1.Worker");
}

#[tokio::test]
async fn the_worker_can_flip_its_health_to_not_serving_and_back() {
    let health = WorkerHealth::new();
    let server = start_worker(bind_loopback().await, DrainTrigger::new(), health.clone()).await;
    assert_eq!(health_of(server.url(), "").await, ServingStatus::Serving);

    health.set_not_serving().await;
    assert_eq!(health_of(server.url(), "").await, ServingStatus::NotServing);
    assert_eq!(
        health_of(server.url(), WORKER_SERVICE_NAME).await,
        ServingStatus::NotServing
    );

    health.set_serving().await;
    assert_eq!(
        health_of(server.url(), WORKER_SERVICE_NAME).await,
        ServingStatus::Serving
    );
}

#[tokio::test]
async fn a_health_check_names_the_dependency_that_is_down() {
    let health = WorkerHealth::new();
    let server = start_worker(bind_loopback().await, DrainTrigger::new(), health.clone()).await;
    health.set_component("redis", true).await;
    health.set_component("clickhouse", false).await;

    let clickhouse = format!("{WORKER_SERVICE_NAME}/clickhouse");
    let redis = format!("{WORKER_SERVICE_NAME}/redis");
    assert_eq!(
        health_of(server.url(), &clickhouse).await,
        ServingStatus::NotServing
    );
    assert_eq!(
        health_of(server.url(), &redis).await,
        ServingStatus::Serving
    );

    health.set_component("clickhouse", true).await;
    assert_eq!(
        health_of(server.url(), &clickhouse).await,
        ServingStatus::Serving
    );
}

#[tokio::test]
async fn the_server_returns_ok_once_its_shutdown_future_completes() {
    let listener = bind_loopback().await;
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve_worker(
        listener,
        DrainTrigger::new(),
        WorkerHealth::new(),
        None,
        stop.clone().cancelled_owned(),
    ));
    sleep(Duration::from_millis(50)).await;
    assert!(!server.is_finished());

    stop.cancel();

    let result = timeout(Duration::from_secs(5), server)
        .await
        .expect("the server did not stop")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn an_invalid_url_is_refused_at_construction_naming_the_url() {
    for url in [
        "not a url",
        "",
        "localhost:50051",
        "127.0.0.1:50051",
        "https://worker:50051",
        "redis://worker:50051",
        "http://",
    ] {
        match GrpcDrainSignal::new(url, CancellationToken::new()) {
            Err(error @ GrpcError::InvalidUrl { .. }) => {
                let GrpcError::InvalidUrl { url: named, .. } = &error else {
                    unreachable!()
                };
                assert_eq!(named, url);
                assert!(error.to_string().contains(&format!("{url:?}")), "{error}");
            }
            other => panic!("{url:?} was accepted or refused for another reason: {other:?}"),
        }
    }
    assert!(GrpcDrainSignal::new("http://worker:50051", CancellationToken::new()).is_ok());
}

#[test]
fn outside_a_tokio_runtime_the_signal_is_refused_instead_of_panicking() {
    assert!(matches!(
        GrpcDrainSignal::new("http://127.0.0.1:50051", CancellationToken::new()),
        Err(GrpcError::NoRuntime)
    ));
}

#[tokio::test]
async fn after_shutdown_request_drain_reports_that_the_signal_task_has_stopped() {
    let shutdown = CancellationToken::new();
    let signal = GrpcDrainSignal::new("http://127.0.0.1:1", shutdown.clone()).unwrap();
    signal.request_drain().unwrap();

    shutdown.cancel();

    eventually("request_drain fails", Duration::from_secs(5), || {
        signal.request_drain().is_err()
    })
    .await;
    let error = signal.request_drain().unwrap_err();
    assert!(matches!(
        error.0.downcast_ref::<GrpcError>(),
        Some(GrpcError::SignalTaskStopped)
    ));
}

#[tokio::test]
async fn dropping_the_signal_stops_its_background_task() {
    let signal = GrpcDrainSignal::new("http://127.0.0.1:1", CancellationToken::new()).unwrap();
    let pending = signal.pending();
    assert_eq!(Arc::strong_count(&pending), 3); // the signal, its task, this test

    drop(signal);

    eventually(
        "the task released its state",
        Duration::from_secs(5),
        || Arc::strong_count(&pending) == 1,
    )
    .await;
}

const WORKER_TOKEN: &str = "worker-token-0123456789";

/// One Drain call straight from a generated client, with `authorization` set to `header`.
async fn drain_call(url: String, header: Option<&str>) -> Result<DrainReply, Status> {
    let channel = Endpoint::from_shared(url).unwrap().connect().await.unwrap();
    let mut request = Request::new(DrainRequest {
        coalesced_requests: 1,
    });
    if let Some(header) = header {
        request
            .metadata_mut()
            .insert("authorization", header.parse().unwrap());
    }
    WorkerClient::new(channel)
        .drain(request)
        .await
        .map(Response::into_inner)
}

#[tokio::test]
async fn a_worker_with_a_token_refuses_drain_calls_without_it_as_unauthenticated() {
    let server = start_worker_with_token(DrainTrigger::new(), WORKER_TOKEN).await;
    for header in [
        None,
        Some("Bearer wrong-token-0123456789"),
        Some(WORKER_TOKEN),
    ] {
        let status = drain_call(server.url(), header).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{header:?}");
        assert!(!status.message().contains(WORKER_TOKEN));
    }
    let reply = drain_call(server.url(), Some(&format!("Bearer {WORKER_TOKEN}")))
        .await
        .unwrap();
    assert!(reply.scheduled);
}

#[tokio::test]
async fn the_health_service_of_a_worker_with_a_token_stays_open() {
    let server = start_worker_with_token(DrainTrigger::new(), WORKER_TOKEN).await;
    assert_eq!(health_of(server.url(), "").await, ServingStatus::Serving);
}

#[tokio::test]
async fn a_drain_signal_configured_with_the_token_wakes_a_worker_that_requires_it() {
    let trigger = DrainTrigger::new();
    let server = start_worker_with_token(trigger.clone(), WORKER_TOKEN).await;
    let config = GrpcClientConfig {
        token: Some(SharedToken::new(WORKER_TOKEN).unwrap()),
        ..GrpcClientConfig::with_url(server.url())
    };
    let signal = GrpcDrainSignal::from_config(&config, CancellationToken::new()).unwrap();

    signal.request_drain().unwrap();

    timeout(Duration::from_secs(5), trigger.woken())
        .await
        .expect("the worker's trigger was not woken");
    assert_eq!(signal.pending().failed_rpcs.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_drain_signal_without_the_token_fails_against_a_worker_that_requires_it() {
    let server = start_worker_with_token(DrainTrigger::new(), WORKER_TOKEN).await;
    let wrong = GrpcClientConfig {
        token: Some(SharedToken::new("another-token-0123456789").unwrap()),
        ..GrpcClientConfig::with_url(server.url())
    };
    for config in [GrpcClientConfig::with_url(server.url()), wrong] {
        let signal = GrpcDrainSignal::from_config(&config, CancellationToken::new()).unwrap();
        let pending = signal.pending();
        signal.request_drain().unwrap();
        eventually(
            "the refused RPC was counted as failed",
            Duration::from_secs(10),
            || pending.failed_rpcs.load(Ordering::Relaxed) == 1,
        )
        .await;
    }
}
