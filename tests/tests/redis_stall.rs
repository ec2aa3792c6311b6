//! A stalled Redis under load: the test Redis is frozen with SIGSTOP (it keeps its connections
//! and answers nothing) while many clients post, first single events on 256 connections, then
//! 1,000-event batches on 64 connections with a small `INGEST_MAX_IN_FLIGHT`. Checked, for each:
//!
//! - every request gets an HTTP answer, 202 or 503 (none is reset, also when the in-flight limit
//!   refuses it with its body still arriving), and every 503 carries `Retry-After`;
//! - no answer takes longer than `REDIS_RESPONSE_TIMEOUT_MS` (plus [`SCHEDULING_SLACK`] for a
//!   busy 2-core machine), however many requests wait;
//! - once the circuit breaker is open, refusals come at once, without waiting for Redis;
//! - ingestion's resident memory grows by at most a bound derived from what may wait at once;
//! - every event answered 202, before, during and after the stall, is stored exactly once, and
//!   nothing stays in the worker's processing lists.
//!
//! It freezes the shared test Redis, so `infra/test.sh faults` runs it beside `faults.rs`, one
//! test at a time. The printed rows are the figures of docs/RELIABILITY.md.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::time::{Duration, Instant};

use e2e_tests::{
    Frozen, Load, LoadReport, LoadShape, Service, Stack, StackOptions, resident_kib, settle,
};

/// Ingestion's `REDIS_RESPONSE_TIMEOUT_MS` in these stacks: its default.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(2000);

/// What a request costs besides its wait for Redis on a loaded, shared 2-core machine (debug
/// build): receiving and decoding its body (up to 0.8 s for a 1,000-event batch measured with
/// 16 of them in flight), a timer firing late, the client reading the answer. The defect this
/// guards against (a request waiting for a joint push that itself waits for the timeout)
/// doubles the wait, beyond this slack.
const SCHEDULING_SLACK: Duration = Duration::from_millis(1000);

/// How long before, during and after the stall the load runs.
const BEFORE: Duration = Duration::from_secs(2);
const STALL: Duration = Duration::from_secs(6);
const AFTER: Duration = Duration::from_secs(4);

/// What a run saw besides the answers.
struct Stall {
    frozen_at: Instant,
    thawed_at: Instant,
    /// Ingestion's VmRSS in KiB just before the stall, the most seen from then on, and at the end.
    rss_before: u64,
    rss_peak: u64,
    rss_after: u64,
}

/// Runs `shape` against `stack` for [`BEFORE`], freezes Redis for [`STALL`], and runs on for
/// [`AFTER`], sampling ingestion's memory every 50 ms from just before the stall.
async fn load_through_a_stall(
    stack: &Stack,
    service: &str,
    shape: LoadShape,
) -> (LoadReport, Stall) {
    let pid = stack.pid(Service::Ingestion).unwrap();
    let load = Load::start_shaped(stack, service, shape);
    tokio::time::sleep(BEFORE).await;
    let rss_before = resident_kib(pid).unwrap();
    let (stop_sampling, sampling_stopped) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while !*sampling_stopped.borrow() {
            peak = peak.max(resident_kib(pid).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    });
    let frozen = Frozen::redis();
    let frozen_at = Instant::now();
    tokio::time::sleep(STALL).await;
    drop(frozen);
    let thawed_at = Instant::now();
    tokio::time::sleep(AFTER).await;
    let report = load.finish().await;
    let _ = stop_sampling.send(true);
    let rss_peak = sampler.await.unwrap();
    let rss_after = resident_kib(pid).unwrap();
    let stall = Stall {
        frozen_at,
        thawed_at,
        rss_before,
        rss_peak: rss_peak.max(rss_before),
        rss_after,
    };
    (report, stall)
}

fn percentile(mut values: Vec<Duration>, fraction: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort();
    let index = ((values.len() - 1) as f64 * fraction).round() as usize;
    values[index]
}

/// Checks the answers and the memory of a run and prints its row; `rss_bound_kib` is the most
/// ingestion's memory may grow over the run.
fn check_answers(scenario: &str, report: &LoadReport, stall: &Stall, rss_bound_kib: u64) {
    assert_eq!(
        report.transport_errors, 0,
        "{scenario}: every request got an HTTP answer (none reset): {:?}",
        report.statuses
    );
    let others: Vec<_> = report
        .statuses
        .keys()
        .filter(|status| **status != 202 && **status != 503)
        .collect();
    assert!(
        others.is_empty(),
        "{scenario}: only 202 and 503: {:?}",
        report.statuses
    );
    let without_retry_after = report
        .answers
        .iter()
        .filter(|answer| answer.status == Some(503) && !answer.retry_after)
        .count();
    assert_eq!(
        without_retry_after, 0,
        "{scenario}: every 503 says Retry-After"
    );

    let slowest = report
        .answers
        .iter()
        .map(|answer| answer.took)
        .max()
        .unwrap();
    let bound = RESPONSE_TIMEOUT + SCHEDULING_SLACK;
    let too_slow: Vec<String> = report
        .answers
        .iter()
        .filter(|answer| answer.took > bound)
        .map(|answer| {
            let after = answer.sent_at.saturating_duration_since(stall.frozen_at);
            let before = stall.frozen_at.saturating_duration_since(answer.sent_at);
            format!(
                "{:?} sent {:?} after (or {:?} before) the freeze, took {:?}",
                answer.status, after, before, answer.took
            )
        })
        .collect();
    assert!(
        slowest <= bound,
        "{scenario}: the slowest answer took {slowest:?}, more than REDIS_RESPONSE_TIMEOUT_MS \
         ({RESPONSE_TIMEOUT:?}) + {SCHEDULING_SLACK:?}: {too_slow:?}"
    );
    // From one timeout after the freeze (the first calls find out) until the thaw, the breaker
    // is open: refusals need no Redis round trip, so they come well before the timeout (a
    // 1,000-event batch is still received and decoded first).
    let open_from = stall.frozen_at + RESPONSE_TIMEOUT + Duration::from_millis(500);
    let while_open: Vec<Duration> = report
        .answers
        .iter()
        .filter(|answer| answer.sent_at >= open_from && answer.sent_at < stall.thawed_at)
        .filter(|answer| answer.status == Some(503))
        .map(|answer| answer.took)
        .collect();
    let refused_while_open = while_open.len();
    let open_median = percentile(while_open.clone(), 0.5);
    let open_p99 = percentile(while_open, 0.99);
    assert!(
        refused_while_open > 0,
        "{scenario}: requests were refused while Redis was frozen"
    );
    assert!(
        open_median < RESPONSE_TIMEOUT / 2,
        "{scenario}: with the circuit open refusals come at once, the median took {open_median:?}"
    );
    let accepted_after = report
        .answers
        .iter()
        .filter(|answer| answer.sent_at >= stall.thawed_at + Duration::from_secs(1))
        .filter(|answer| answer.status == Some(202))
        .count();
    assert!(
        accepted_after > 0,
        "{scenario}: ingestion accepts again after the stall"
    );

    let all: Vec<Duration> = report.answers.iter().map(|answer| answer.took).collect();
    let growth = stall.rss_peak.saturating_sub(stall.rss_before);
    println!(
        "| {scenario} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {refused_while_open} | {:.0} | {:.0} | {} | {} | {} |",
        report.sent,
        report.count(202),
        report.count(503),
        percentile(all.clone(), 0.5).as_secs_f64() * 1000.0,
        percentile(all, 0.99).as_secs_f64() * 1000.0,
        slowest.as_secs_f64() * 1000.0,
        open_median.as_secs_f64() * 1000.0,
        open_p99.as_secs_f64() * 1000.0,
        stall.rss_before / 1024,
        stall.rss_peak / 1024,
        stall.rss_after / 1024,
    );
    assert!(
        growth <= rss_bound_kib,
        "{scenario}: ingestion's memory grew by {growth} KiB (from {} to {} KiB), more than the \
         bound of {rss_bound_kib} KiB",
        stall.rss_before,
        stall.rss_peak
    );
}

/// Waits until the queue and every processing list of the stack are empty: nothing stays in a
/// worker's keeping after a stall.
async fn wait_until_drained(stack: &Stack, scenario: &str) {
    let mut redis = stack.redis().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let processing: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:processing:*", stack.queue_key))
            .query_async(&mut redis)
            .await
            .unwrap();
        let queued = stack.queue_length().await;
        if processing.is_empty() && queued == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{scenario}: {queued} events still queued and {} processing lists left: {processing:?}; \
             worker log:\n{}",
            processing.len(),
            stack.log_tail(Service::Worker, 40)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn stack_options(mut extra_env: Vec<(Service, &'static str, String)>) -> StackOptions {
    let timeout_ms = RESPONSE_TIMEOUT.as_millis().to_string();
    extra_env.push((Service::Ingestion, "REDIS_RESPONSE_TIMEOUT_MS", timeout_ms));
    StackOptions {
        batch_size: 1000,
        poll_interval_ms: 500,
        // Large enough for a 1,000-event batch.
        max_body_bytes: 1024 * 1024,
        extra_env,
        ..StackOptions::default()
    }
}

/// 256 connections posting single events, the in-flight limit at its default (512): all of
/// them may wait for Redis at once. What waits per request is its connection, its task and one
/// small event: a few KiB; 256 of them plus the allocator's and Tokio's working set stay well
/// within 48 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_with_256_connections_posting_single_events() {
    let started = Instant::now();
    let stack = Stack::start(stack_options(Vec::new())).await;
    let shape = LoadShape {
        senders: 256,
        pause: Duration::from_millis(20),
        batch: 0,
        timeout: Duration::from_secs(10),
    };
    let (report, stall) = load_through_a_stall(&stack, "stall-single", shape).await;
    check_answers("256 connections, single events", &report, &stall, 48 * 1024);
    let duplicates = settle(
        &stack,
        "Redis frozen (SIGSTOP) 6 s, 256 connections, single events",
        &report,
        started,
    )
    .await;
    assert_eq!(
        duplicates, 0,
        "every event answered 202 is stored exactly once"
    );
    wait_until_drained(&stack, "single events").await;
}

/// In-flight limit for the batch run: 64 senders, at most 16 requests handled at once.
const BATCH_IN_FLIGHT: u64 = 16;

/// 64 connections posting 1,000-event batches (about 60 KB of JSON each) with
/// `INGEST_MAX_IN_FLIGHT=16`: at most 16 requests hold a body and its decoded events while
/// Redis is frozen (a 1,000-event batch costs ingestion about 1 MiB at its peak: body, decoded
/// events, queue documents); the other requests are refused with their bodies read and dropped.
/// Bound: 16 x 2 MiB for what waits, plus 32 MiB for the allocator's and Tokio's working set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_with_64_connections_posting_batches_of_1000_events() {
    let stack = Stack::start(stack_options(vec![(
        Service::Ingestion,
        "INGEST_MAX_IN_FLIGHT",
        BATCH_IN_FLIGHT.to_string(),
    )]))
    .await;
    let shape = LoadShape {
        senders: 64,
        pause: Duration::from_millis(20),
        batch: 1000,
        timeout: Duration::from_secs(10),
    };
    let (report, stall) = load_through_a_stall(&stack, "stall-batch", shape).await;
    let bound_kib = BATCH_IN_FLIGHT * 2 * 1024 + 32 * 1024;
    check_answers(
        "64 connections, 1,000-event batches",
        &report,
        &stall,
        bound_kib,
    );
    let accepted = report.accepted_messages.len() as u64;
    assert!(accepted > 0);
    let (stored, duplicates) = stack
        .wait_until_messages_stored(
            "stall-batch",
            &report.accepted_messages,
            Duration::from_secs(120),
        )
        .await;
    println!("batches: {accepted} events accepted, {stored} stored, {duplicates} duplicate rows");
    assert_eq!(
        stored, accepted,
        "every event of a batch answered 202 is stored"
    );
    assert_eq!(duplicates, 0, "and stored once");
    wait_until_drained(&stack, "batches").await;
}
