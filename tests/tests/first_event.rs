//! The first event posted to a freshly started stack is as fresh as the rest: its drain signal
//! reaches the worker, as every later one does. The worker's poll is set to a minute, so an
//! event that becomes visible sooner was drained on the signal; several fresh stacks in a row,
//! because a lost first signal showed in about one start of two. A signal ingestion could not
//! deliver (the worker not reachable yet) is sent again until it is.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::time::{Duration, Instant};

use e2e_tests::{Stack, StackOptions};
use serde_json::json;

const FRESH_STACKS: usize = 4;

#[tokio::test]
async fn the_first_event_on_a_fresh_stack_is_drained_on_its_signal_not_at_the_next_poll() {
    for attempt in 0..FRESH_STACKS {
        let stack = Stack::start(StackOptions {
            poll_interval_ms: 60_000,
            ..StackOptions::default()
        })
        .await;
        let service = format!("first-{attempt}");
        let posted = Instant::now();
        let (status, body) = stack
            .ingest(&json!({"service": service, "level": "INFO", "message": "the very first"}))
            .await;
        assert_eq!(status, 202, "{body}");

        // Far below the poll interval: only a delivered signal drains it in time.
        let logs = stack
            .wait_for_logs(&format!("service={service}"), 1, Duration::from_secs(15))
            .await;
        let visible_after = posted.elapsed();
        println!("fresh stack {attempt}: first event visible after {visible_after:?}");
        assert_eq!(
            logs.len(),
            1,
            "fresh stack {attempt}: the first event was not drained on its signal"
        );
        assert_eq!(logs[0]["id"], body["id"]);
    }
}

#[tokio::test]
async fn the_first_event_after_a_worker_restart_is_drained_on_its_signal() {
    let mut stack = Stack::start(StackOptions {
        poll_interval_ms: 60_000,
        ..StackOptions::default()
    })
    .await;
    // A first event opens ingestion's connection to the worker, which the restart then breaks.
    let (status, _) = stack
        .ingest(
            &json!({"service": "before-restart", "level": "INFO", "message": "opens the channel"}),
        )
        .await;
    assert_eq!(status, 202);
    let logs = stack
        .wait_for_logs("service=before-restart", 1, Duration::from_secs(15))
        .await;
    assert_eq!(logs.len(), 1);
    stack.kill(e2e_tests::Service::Worker);
    stack.spawn(e2e_tests::Service::Worker);
    stack.wait_for_worker().await;
    // Let the restarted worker finish its start-up pass over the (empty) queue.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (status, body) = stack
        .ingest(&json!({"service": "after-restart", "level": "INFO", "message": "first after"}))
        .await;
    assert_eq!(status, 202, "{body}");
    let logs = stack
        .wait_for_logs("service=after-restart", 1, Duration::from_secs(15))
        .await;
    assert_eq!(
        logs.len(),
        1,
        "the first event after the restart was not drained on its signal"
    );
}

/// Forwards every connection accepted on `listener` to `target`, from a thread of its own (the
/// test runtime's I/O features do not include copying).
fn forward_connections(listener: std::net::TcpListener, target: u16) {
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                (upstream, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
}

#[tokio::test]
async fn a_signal_sent_while_the_worker_cannot_be_reached_arrives_once_it_can() {
    // Ingestion reaches the worker through a port that accepts nothing at first (bound, so the
    // connection attempt hangs and the signal times out), then forwards to the worker.
    let gate = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gate_port = gate.local_addr().unwrap().port();
    let stack = Stack::start(StackOptions {
        poll_interval_ms: 60_000,
        worker_grpc_url: Some(format!("http://127.0.0.1:{gate_port}")),
        ..StackOptions::default()
    })
    .await;
    let (status, body) = stack
        .ingest(&json!({"service": "unreachable-worker", "level": "INFO", "message": "queued"}))
        .await;
    assert_eq!(status, 202, "{body}");
    // The signal's RPC times out after 1 s (the client's default).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        stack
            .wait_for_logs("service=unreachable-worker", 1, Duration::ZERO)
            .await
            .is_empty(),
        "not drained while the worker cannot be reached"
    );

    // What reached the port meanwhile is dropped unread: only a signal sent again gets through.
    gate.set_nonblocking(true).unwrap();
    while let Ok((waiting, _)) = gate.accept() {
        drop(waiting);
    }
    gate.set_nonblocking(false).unwrap();
    forward_connections(gate, stack.worker_port);
    let logs = stack
        .wait_for_logs("service=unreachable-worker", 1, Duration::from_secs(15))
        .await;
    assert_eq!(
        logs.len(),
        1,
        "the undelivered signal was not sent again once the worker could be reached"
    );
}
