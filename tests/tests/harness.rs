//! The harness itself: a port taken between the moment it was picked and the moment the service
//! binds it (another test, another program) costs a restart on fresh ports, not a failed test.
#![allow(clippy::unwrap_used)] // test code fails loudly

use e2e_tests::{Service, Stack, StackOptions};
use serde_json::json;

#[tokio::test]
async fn services_whose_ports_were_taken_start_again_on_fresh_ports() {
    let taken: Vec<std::net::TcpListener> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let port = |index: usize| taken[index].local_addr().unwrap().port();
    let stack = Stack::start(StackOptions {
        extra_env: vec![
            (
                Service::Worker,
                "WORKER_GRPC_LISTEN",
                format!("127.0.0.1:{}", port(0)),
            ),
            (
                Service::Ingestion,
                "INGESTION_ADDR",
                format!("127.0.0.1:{}", port(1)),
            ),
        ],
        ..StackOptions::default()
    })
    .await;

    assert_ne!(stack.worker_port, port(0));
    assert!(!stack.ingestion_url.ends_with(&format!(":{}", port(1))));
    let (status, body) = stack
        .ingest(&json!({"service": "harness", "level": "INFO", "message": "through fresh ports"}))
        .await;
    assert_eq!(status, 202, "{body}");
    let logs = stack
        .wait_for_logs("service=harness", 1, std::time::Duration::from_secs(30))
        .await;
    assert_eq!(logs.len(), 1, "the worker on its fresh port got the event");
}
