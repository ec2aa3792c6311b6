//! The pipeline on Redis Sentinel: a primary, a replica and three sentinels on loopback
//! (`infra/test-sentinel.sh`), the real services with `REDIS_SENTINELS`. The primary is
//! SIGKILLed under load, once without and once with `REDIS_WAIT_REPLICAS=1`: the services follow
//! the failover without a restart and answer only 202 or 503; with the replica wait every event
//! answered 202 is stored, without it the test reports how many were lost.
//!
//! `infra/test.sh` starts the servers and runs it as `cargo test -p e2e-tests --features sentinel
//! --test sentinel` (or alone: `infra/test.sh sentinel`).
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::collections::HashSet;
use std::time::{Duration, Instant};

use e2e_tests::{Load, LoadReport, Service, Stack, StackOptions};
use serde_json::json;

fn sentinel_script(command: &str, node: Option<&str>) -> String {
    let script = std::env::var("TEST_SENTINEL_SCRIPT")
        .expect("TEST_SENTINEL_SCRIPT is not set: run the test through infra/test.sh sentinel");
    let dir = std::env::var("TEST_SENTINEL_DIR").unwrap();
    let mut arguments = vec![command.to_owned(), dir];
    arguments.extend(node.map(str::to_owned));
    let output = std::process::Command::new(script)
        .args(&arguments)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "test-sentinel.sh {arguments:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

async fn script(command: &'static str, node: Option<String>) -> String {
    tokio::task::spawn_blocking(move || sentinel_script(command, node.as_deref()))
        .await
        .unwrap()
}

/// What one failover cost.
#[derive(Debug)]
struct Outcome {
    wait_replicas: u32,
    load: LoadReport,
    /// From the SIGKILL until ingestion answered 202 again.
    back_after: Duration,
    stored: u64,
    duplicate_rows: u64,
    /// Every answer after the switch, from a second load: all 202.
    after_switch: LoadReport,
    /// Loads after the switch during which the sentinels moved the primary again: counted for
    /// loss, not held to "all 202".
    moved_during: Vec<LoadReport>,
}

impl Outcome {
    fn lost(&self) -> u64 {
        let moved: u64 = self.moved_during.iter().map(LoadReport::accepted).sum();
        self.load.accepted() + self.after_switch.accepted() + moved - self.stored
    }
}

/// Counts how many of `ids` are stored, once all are or the count stopped growing for 5 s.
async fn stored_once_settled(stack: &Stack, ids: &[String]) -> (u64, u64, u64) {
    let mut last = (0, 0, 0);
    let mut changed = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let now = stack.wait_until_stored(ids, Duration::ZERO).await;
        if now.0 == ids.len() as u64 || Instant::now() > deadline {
            return now;
        }
        if now != last {
            last = now;
            changed = Instant::now();
        } else if changed.elapsed() > Duration::from_secs(5) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn failover_under_load(wait_replicas: u32) -> Outcome {
    script("ready", None).await;
    let sentinels = std::env::var("TEST_SENTINEL_ADDRS").unwrap();
    let master = std::env::var("TEST_SENTINEL_MASTER").unwrap();
    let mut extra_env = Vec::new();
    for service in [Service::Ingestion, Service::Worker] {
        extra_env.push((service, "REDIS_SENTINELS", sentinels.clone()));
        extra_env.push((service, "REDIS_SENTINEL_MASTER", master.clone()));
    }
    extra_env.push((
        Service::Ingestion,
        "REDIS_WAIT_REPLICAS",
        wait_replicas.to_string(),
    ));
    extra_env.push((
        Service::Ingestion,
        "REDIS_WAIT_TIMEOUT_MS",
        "500".to_owned(),
    ));
    let stack = Stack::start(StackOptions {
        batch_size: 100,
        poll_interval_ms: 300,
        extra_env,
        ..StackOptions::default()
    })
    .await;
    let service = format!("sentinel-wait-{wait_replicas}");
    let load = Load::start(&stack, &service, 4, Duration::from_millis(10));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let primary = script("primary", None).await;
    script("kill-node", Some(primary.clone())).await;
    let killed_at = Instant::now();
    // Once the sentinels named the other node, the killed one comes back (as a crashed server
    // would be restarted): the sentinels make it a replica of the new primary, which a replica
    // wait needs before pushes can be answered 202 again. Without a replica wait it comes back
    // once the services have switched (a push was answered 202): restarted earlier, it is a
    // primary of its own until the sentinels demote it, and what a client that reconnects to it
    // meanwhile writes there is lost in the demotion (README, "Redis Sentinel": the operator's
    // side of that window).
    let (switched, services_switched) = tokio::sync::oneshot::channel::<()>();
    let restart = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while script("primary", None).await == primary {
            assert!(Instant::now() < deadline, "no failover within 60 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if wait_replicas == 0 {
            let _ = services_switched.await;
        }
        script("start-node", Some(primary)).await;
    });
    let mut switched = Some(switched);
    let probe = json!({"service": service, "level": "INFO", "message": "back?"});
    let mut probe_ids = Vec::new();
    let back_after = loop {
        let (status, body) = stack.ingest(&probe).await;
        assert!(
            status == 202 || status == 503,
            "only 202 or 503 during a failover, got {status}: {body}"
        );
        if status == 202 {
            probe_ids.push(body["id"].as_str().unwrap().to_owned());
            if let Some(switched) = switched.take() {
                let _ = switched.send(());
            }
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(90),
            "ingestion did not answer 202 again within 90 s of the failover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    restart.await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut load_report = load.finish().await;
    load_report.accepted_ids.extend(probe_ids);

    // After the switch: nothing but 202 (the restarted node is a replica again). The sentinels
    // may still move the primary once more while the restarted node rejoins (a CI run saw them
    // make it primary again 12 s after the failover, during this load: 88 answers 503 in the
    // 252 ms the services took to follow, none lost). A load that saw the primary move is kept
    // for the loss count, held to "only 202 or 503", and the load is measured again once settled.
    let mut moved_during = Vec::new();
    let after_switch = loop {
        script("ready", None).await;
        let primary = script("primary", None).await;
        let after = Load::start(&stack, &service, 4, Duration::from_millis(10));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let report = after.finish().await;
        let now = script("primary", None).await;
        if now == primary || moved_during.len() == 2 {
            break report;
        }
        println!(
            "the primary moved from {primary} to {now} during the load after the switch: measured again"
        );
        moved_during.push(report);
    };

    let mut wanted = load_report.accepted_ids.clone();
    wanted.extend(after_switch.accepted_ids.iter().cloned());
    for report in &moved_during {
        wanted.extend(report.accepted_ids.iter().cloned());
    }
    let distinct_wanted: HashSet<&String> = wanted.iter().collect();
    assert_eq!(distinct_wanted.len(), wanted.len(), "ids are unique");
    let (stored, distinct, rows) = stored_once_settled(&stack, &wanted).await;
    let outcome = Outcome {
        wait_replicas,
        load: load_report,
        back_after,
        stored,
        duplicate_rows: rows - distinct,
        after_switch,
        moved_during,
    };
    println!(
        "| REDIS_WAIT_REPLICAS={} | {} sent | {} answered 202 | {} answered 503 | back to 202 \
         {:.1} s after the SIGKILL | {} stored | {} lost | {} duplicate rows | after the switch: \
         {} of {} answered 202 |",
        outcome.wait_replicas,
        outcome.load.sent,
        outcome.load.accepted(),
        outcome.load.count(503),
        outcome.back_after.as_secs_f64(),
        outcome.stored,
        outcome.lost(),
        outcome.duplicate_rows,
        outcome.after_switch.accepted(),
        outcome.after_switch.sent,
    );
    if outcome.lost() > 0 {
        eprintln!("{}", stack.log_tail(Service::Worker, 30));
    }
    outcome
}

fn assert_only_202_and_503(report: &LoadReport) {
    let others: Vec<_> = report
        .statuses
        .iter()
        .filter(|(status, _)| **status != 202 && **status != 503)
        .collect();
    assert!(others.is_empty(), "{:?}", report.statuses);
    assert_eq!(report.transport_errors, 0, "{report:?}");
}

#[tokio::test]
async fn the_services_follow_a_failover_of_the_redis_primary_and_the_replica_wait_loses_nothing() {
    let started = Instant::now();
    let without_wait = failover_under_load(0).await;
    let with_wait = failover_under_load(1).await;
    println!("sentinel suite: {:.0} s", started.elapsed().as_secs_f64());

    for outcome in [&without_wait, &with_wait] {
        assert_only_202_and_503(&outcome.load);
        outcome
            .moved_during
            .iter()
            .for_each(assert_only_202_and_503);
        assert!(outcome.load.accepted() > 0, "{outcome:?}");
        // Once switched, the services stay on the new primary: every request is accepted.
        assert_eq!(
            outcome.after_switch.accepted(),
            outcome.after_switch.sent,
            "{:?}",
            outcome.after_switch.statuses
        );
    }
    // With a replica wait, every event answered 202 was on the replica that became primary.
    assert_eq!(with_wait.lost(), 0, "{with_wait:?}");
    // Without it the loss is what the replica had not received at the crash: reported above
    // (the README states the window), not asserted.
}
