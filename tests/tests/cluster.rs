//! The pipeline on a ClickHouse cluster: ZooKeeper and four ClickHouse 18.16 nodes on loopback as
//! 2 shards x 2 replicas (`infra/test-cluster.sh`), the real services with `CLICKHOUSE_CLUSTER`.
//! Migrations applied from two nodes at once create every table once; events ingested under
//! load, while a replica is stopped and started again, are all stored once and the replica
//! catches up; query services on different nodes answer alike; retention drops a day on every
//! shard.
//!
//! `infra/test.sh` starts the cluster and runs it as `cargo test -p e2e-tests --features cluster
//! --test cluster`, with `TEST_CLICKHOUSE_URL` set to node 1.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use application::ports::LogRetention;
use clickhouse_adapter::{ClickHouseConfig, ClickHouseRetention, apply_migrations};
use domain::Timestamp;
use e2e_tests::{Load, Service, Stack, StackOptions, free_port};
use serde_json::{Value, json};

const CLUSTER: &str = "logs_cluster";

fn nodes() -> Vec<String> {
    std::env::var("TEST_CLUSTER_URLS")
        .expect("TEST_CLUSTER_URLS is not set: run the test through infra/test.sh")
        .split(',')
        .map(str::to_owned)
        .collect()
}

fn cluster_script(command: &str, node: u8) {
    let script = std::env::var("TEST_CLUSTER_SCRIPT").unwrap();
    let dir = std::env::var("TEST_CLUSTER_DIR").unwrap();
    let status = std::process::Command::new(script)
        .args([command, &dir, &node.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{command} {node}");
}

async fn sql(node: &str, database: &str, text: &str) -> String {
    let response = reqwest::Client::new()
        .post(node)
        .query(&[("database", database)])
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "{text} on {node}: {body}");
    body
}

/// What `text` answers on `node` once it answers `expected`, or after 30 s of replication lag.
async fn replicated(node: &str, database: &str, text: &str, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = sql(node, database, text).await;
        if answer == expected || Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn config(node: &str, database: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: node.to_owned(),
        database: database.to_owned(),
        cluster: CLUSTER.to_owned(),
        ..ClickHouseConfig::default()
    }
}

/// Every page of `query` through the query service at `base`, by cursor: the ids in order.
async fn all_ids(http: &reqwest::Client, base: &str, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/logs?{query}&limit=100");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let body: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        for log in body["logs"].as_array().unwrap() {
            ids.push(log["id"].as_str().unwrap().to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_cluster_stores_every_event_once_through_a_replica_outage_and_answers_alike_on_every_node()
 {
    let started = Instant::now();
    let nodes = nodes();
    let database = format!("e2e_cluster_{}", std::process::id());

    // Two workers starting at once on different shards apply the migrations.
    let (on_node_one, on_node_four) = (config(&nodes[0], &database), config(&nodes[3], &database));
    let (first, second) = tokio::join!(
        apply_migrations(&on_node_one),
        apply_migrations(&on_node_four)
    );
    first.unwrap();
    second.unwrap();
    for node in &nodes {
        let tables = sql(
            node,
            &database,
            "SELECT name, engine FROM system.tables WHERE database = currentDatabase() \
             ORDER BY name FORMAT TSV",
        )
        .await;
        assert_eq!(
            tables,
            "logs\tDistributed\nlogs_local\tReplicatedMergeTree\n\
             schema_migrations\tReplicatedMergeTree\n",
            "{node}"
        );
        // The record reaches the other replicas by asynchronous replication.
        let versions = replicated(
            node,
            &database,
            "SELECT DISTINCT version FROM schema_migrations FORMAT TSV",
            "1\n",
        )
        .await;
        assert_eq!(versions, "1\n", "{node}: the record is seen on every node");
    }

    let mut stack = Stack::start(StackOptions {
        batch_size: 100,
        poll_interval_ms: 300,
        database: Some(database.clone()),
        extra_env: vec![
            (Service::Worker, "CLICKHOUSE_CLUSTER", CLUSTER.to_owned()),
            (Service::Query, "CLICKHOUSE_CLUSTER", CLUSTER.to_owned()),
            // The worker writes through node 1 (shard 1), this query service reads through
            // node 3 (shard 2).
            (Service::Query, "CLICKHOUSE_URL", nodes[2].clone()),
        ],
        ..StackOptions::default()
    })
    .await;
    let old_day = json!({"service": "retention", "level": "INFO", "message": "old",
                         "timestamp": "2026-05-05T10:00:00Z"});
    let mut old_ids = BTreeSet::new();
    for _ in 0..20 {
        let (status, body) = stack.ingest(&old_day).await;
        assert_eq!(status, 202);
        old_ids.insert(body["id"].as_str().unwrap().to_owned());
    }

    let load = Load::start(&stack, "cluster", 4, Duration::from_millis(10));
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Node 2, the other replica of the worker's shard, goes away under load and comes back.
    cluster_script("stop-node", 2);
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster_script("start-node", 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = load.finish().await;
    assert!(report.accepted() > 0);
    assert_eq!(report.accepted(), report.sent, "{:?}", report.statuses);

    let mut wanted = report.accepted_ids.clone();
    wanted.extend(old_ids.iter().cloned());
    let (found, distinct, rows) = stack
        .wait_until_stored(&wanted, Duration::from_secs(120))
        .await;
    println!(
        "| cluster: replica of shard 1 stopped 4 s under load | {} sent | {} accepted | {found} \
         stored | {} duplicate rows | {:.0} s |",
        report.sent,
        report.accepted(),
        rows - distinct,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(found, wanted.len() as u64, "every accepted event is stored");
    assert_eq!(rows, distinct, "each once");

    // The restarted replica catches up with its shard; both shards hold part of the events.
    let count = |node: usize| {
        let node = nodes[node].clone();
        let database = database.clone();
        async move {
            sql(&node, &database, "SELECT count() FROM logs_local")
                .await
                .trim()
                .parse::<u64>()
                .unwrap()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (one, two, three, four) = (
            count(0).await,
            count(1).await,
            count(2).await,
            count(3).await,
        );
        if one == two && three == four {
            assert_eq!(one + three, rows, "the shards together hold every row");
            assert!(one > 0 && three > 0, "events spread over both shards");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replicas did not catch up: {one} {two} / {three} {four}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A second query service on node 2 answers like the one on node 3, cursor paging included.
    let query_port = free_port();
    let mut second_query = stack.spawn_extra(
        Service::Query,
        &[
            ("QUERY_ADDR", format!("127.0.0.1:{query_port}")),
            ("CLICKHOUSE_URL", nodes[1].clone()),
        ],
    );
    let second = format!("http://127.0.0.1:{query_port}");
    let http = stack.http.clone();
    let wait = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{second}/health")).send().await.is_err() {
        assert!(Instant::now() < wait, "second query service did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for query in ["service=cluster", "service=cluster&order=asc"] {
        let through_three = all_ids(&http, &stack.query_url, query).await;
        let through_two = all_ids(&http, &second, query).await;
        assert_eq!(through_three.len(), report.accepted_ids.len(), "{query}");
        assert_eq!(through_three, through_two, "{query}");
    }
    for path in [
        "/logs/stats?group_by=level&service=cluster",
        "/logs/histogram?interval=1m&service=cluster",
        "/logs?service=cluster&limit=7&offset=3",
    ] {
        assert_eq!(
            get_json(&http, format!("{}{path}", stack.query_url)).await,
            get_json(&http, format!("{second}{path}")).await,
            "{path}"
        );
    }
    let ready = http
        .get(format!("{}/ready", stack.query_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    // Retention, run through node 2, drops the old day on both shards.
    let cutoff = Timestamp::parse_rfc3339("2026-05-06T00:00:00Z", "cutoff").unwrap();
    let dropped = ClickHouseRetention::new(&config(&nodes[1], &database))
        .drop_days_before(cutoff)
        .await
        .unwrap();
    assert_eq!(dropped, ["2026-05-05"]);
    for node in &nodes {
        let left = sql(
            node,
            &database,
            "SELECT count() FROM logs_local WHERE service = 'retention'",
        )
        .await;
        assert_eq!(left.trim(), "0", "{node}");
    }

    // With both replicas of shard 2 down, the query service on node 1's shard is not ready.
    cluster_script("stop-node", 3);
    cluster_script("stop-node", 4);
    let asked = Instant::now();
    let not_ready = http.get(format!("{second}/ready")).send().await.unwrap();
    assert_eq!(not_ready.status(), 503);
    println!("/ready with shard 2 down: 503 in {:?}", asked.elapsed());
    cluster_script("start-node", 3);
    cluster_script("start-node", 4);

    second_query.kill().unwrap();
    second_query.wait().unwrap();
    for node in &nodes {
        sql(
            node,
            "default",
            &format!("DROP DATABASE IF EXISTS {database}"),
        )
        .await;
    }
    stack.kill(Service::Worker);
}
