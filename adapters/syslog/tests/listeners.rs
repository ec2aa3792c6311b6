//! The listeners on real loopback sockets, with the use case over a mocked queue: what a sender
//! writes is pushed with the mapped fields, refused lines leave the others intact, a refused push
//! is retried rather than dropped, and shutdown pushes what was already received.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use application::IngestUseCase;
use application::ports::{MockDrainSignal, MockQueueProducer, QueueError};
use domain::LogEvent;
use syslog_adapter::{SyslogConfig, SyslogListeners};
use tokio_util::sync::CancellationToken;

type Pushed = Arc<Mutex<Vec<LogEvent>>>;

/// A queue that refuses the first `refusals` pushes as full, then keeps what it is given.
fn queue(refusals: usize, pushes: impl Into<mockall::TimesRange>) -> (MockQueueProducer, Pushed) {
    let pushed: Pushed = Arc::default();
    let kept = Arc::clone(&pushed);
    let mut attempts = 0;
    let mut queue = MockQueueProducer::new();
    queue.expect_push().times(pushes).returning(move |events| {
        attempts += 1;
        if attempts <= refusals {
            return Err(QueueError::Full {
                depth: 10,
                capacity: 10,
            });
        }
        kept.lock().unwrap().extend_from_slice(events);
        Ok(())
    });
    (queue, pushed)
}

struct Running {
    tcp: SocketAddr,
    udp: SocketAddr,
    shutdown: CancellationToken,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn start(queue: MockQueueProducer, signals: impl Into<mockall::TimesRange>) -> Running {
    let mut signal = MockDrainSignal::new();
    signal
        .expect_request_drain()
        .times(signals)
        .returning(|| Ok(()));
    let listeners = SyslogListeners::bind(SyslogConfig {
        tcp_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        udp_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        max_frame_bytes: 1024,
        max_batch_events: 100,
        shutdown_grace: Duration::from_secs(5),
    })
    .unwrap();
    let (tcp, udp) = (listeners.tcp_addr().unwrap(), listeners.udp_addr().unwrap());
    let shutdown = CancellationToken::new();
    let ingest = IngestUseCase::new(Arc::new(queue), Arc::new(signal));
    let served = tokio::spawn(listeners.serve(ingest, shutdown.clone()));
    Running {
        tcp,
        udp,
        shutdown,
        served,
    }
}

async fn wait_for(pushed: &Pushed, count: usize) -> Vec<LogEvent> {
    for _ in 0..500 {
        if pushed.lock().unwrap().len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pushed.lock().unwrap().clone()
}

fn messages(events: &[LogEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event.message().as_str())
        .collect()
}

#[tokio::test]
async fn tcp_lines_in_both_framings_are_pushed_and_a_refused_line_leaves_the_others_intact() {
    let (queue, pushed) = queue(0, 1);
    let running = start(queue, 1);
    let good_5424 = "<165>1 2026-12-04T10:00:00Z web-1 checkout 42 ID7 [order@1 id=\"9\"] paid";
    let stream = format!(
        "{} {good_5424}not a syslog line\n<12>Dec  4 10:00:01 web-2 billing[5]: late\n<999>bad priority\n",
        good_5424.len()
    );
    let mut connection = TcpStream::connect(running.tcp).unwrap();
    connection.write_all(stream.as_bytes()).unwrap();
    drop(connection);

    let events = wait_for(&pushed, 2).await;

    assert_eq!(messages(&events), ["paid", "late"]);
    let paid = &events[0];
    assert_eq!(paid.service().as_str(), "checkout");
    assert_eq!(paid.level().to_string(), "INFO");
    assert_eq!(paid.metadata().get("order@1.id"), Some("9"));
    assert_eq!(paid.metadata().get("syslog.hostname"), Some("web-1"));
    assert_eq!(paid.metadata().get("syslog.procid"), Some("42"));
    assert_eq!(paid.metadata().get("syslog.msgid"), Some("ID7"));
    assert_eq!(paid.metadata().get("syslog.facility"), Some("local4"));
    assert_eq!(events[1].service().as_str(), "billing");
    assert_eq!(events[1].level().to_string(), "WARN");
    running.shutdown.cancel();
    running.served.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_push_the_queue_refuses_is_retried_until_it_is_taken_and_nothing_is_dropped() {
    let (queue, pushed) = queue(3, 4..=10);
    let running = start(queue, 1);
    let mut connection = TcpStream::connect(running.tcp).unwrap();
    let lines: String = (0..20)
        .map(|index| format!("<14>1 - - app - - - line {index}\n"))
        .collect();
    connection.write_all(lines.as_bytes()).unwrap();
    drop(connection);

    let events = wait_for(&pushed, 20).await;

    let expected: Vec<String> = (0..20).map(|index| format!("line {index}")).collect();
    assert_eq!(messages(&events), expected);
    running.shutdown.cancel();
    running.served.await.unwrap().unwrap();
}

#[tokio::test]
async fn udp_datagrams_are_one_message_each_and_refused_ones_are_only_counted() {
    let (queue, pushed) = queue(0, 1..=2);
    let running = start(queue, 1..=2);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(
            b"<11>1 2026-12-04T10:00:00Z h api - - - boom\n",
            running.udp,
        )
        .unwrap();
    socket.send_to(b"garbage", running.udp).unwrap();
    socket
        .send_to(b"<15>Dec  4 10:00:00 h worker: detail", running.udp)
        .unwrap();

    let events = wait_for(&pushed, 2).await;

    assert_eq!(messages(&events), ["boom", "detail"]);
    assert_eq!(events[0].level().to_string(), "ERROR");
    assert_eq!(events[1].level().to_string(), "DEBUG");
    assert_eq!(events[1].service().as_str(), "worker");
    running.shutdown.cancel();
    running.served.await.unwrap().unwrap();
}

#[tokio::test]
async fn on_shutdown_lines_already_received_are_pushed_before_serve_returns() {
    let (queue, pushed) = queue(0, 1);
    let running = start(queue, 1);
    let mut connection = TcpStream::connect(running.tcp).unwrap();
    connection
        .write_all(b"<14>1 - - app - - - written before the close\n")
        .unwrap();
    // Shutdown while the connection stays open (and may not even be accepted yet): the bytes
    // were acknowledged by TCP, so they must be read and pushed.
    running.shutdown.cancel();

    running.served.await.unwrap().unwrap();

    assert_eq!(
        messages(&pushed.lock().unwrap()),
        ["written before the close"]
    );
    drop(connection);
}
