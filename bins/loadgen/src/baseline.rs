//! Scenario 5's ClickHouse baseline: the same rows inserted straight over ClickHouse's HTTP
//! interface in large batches, one insert at a time, the next batch generated while the current
//! one is inserted. Also the row counting that scenario 2 waits on.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::events::{rows_json_each_row, rows_row_binary};
use crate::http::{Payload, Target};
use crate::stats::Latencies;
use crate::{LoadError, Options};

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Runs one SQL statement (with an optional body) and returns the text answer.
pub async fn clickhouse(
    target: &Target,
    database: &str,
    sql: &str,
    body: Option<&Payload>,
) -> Result<Bytes, LoadError> {
    let mut connection = target.connect().await?;
    let path = format!("/?database={}&query={}", encode(database), encode(sql));
    let (status, answer) = match body {
        Some(payload) => connection.post(&path, payload).await?,
        None => connection.get(&path).await?,
    };
    if status != 200 {
        return Err(LoadError::Status {
            status,
            body: String::from_utf8_lossy(&answer).into_owned(),
        });
    }
    Ok(answer)
}

/// Rows in the database's logs table.
pub async fn count_rows(target: &Target, database: &str) -> Result<u64, LoadError> {
    let answer = clickhouse(target, database, "SELECT count() FROM logs", None).await?;
    String::from_utf8_lossy(&answer)
        .trim()
        .parse()
        .map_err(|_| LoadError::Failed("count() did not answer a number".into()))
}

/// Polls every 20 ms until the logs table holds at least `rows` rows.
pub async fn wait_for_rows(
    target: &Target,
    database: &str,
    rows: u64,
    within: Duration,
) -> Result<(), LoadError> {
    let deadline = Instant::now() + within;
    loop {
        let stored = count_rows(target, database).await?;
        if stored >= rows {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(LoadError::Failed(format!(
                "only {stored} of {rows} rows stored after {within:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Scenario 5: `--rows` rows into `--database`'s logs table in inserts of `--batch` rows.
pub async fn raw_insert(options: &Options) -> Result<Value, LoadError> {
    let target = Target::parse(&options.text("clickhouse", None)?)?;
    let database = options.text("database", None)?;
    let rows: u64 = options.number("rows", Some(2_000_000))?;
    let batch: u64 = options.number("batch", Some(10_000))?;
    let format = options.text("format", Some("json"))?;
    let (clickhouse_format, generate): (&str, fn(u64, u64) -> Bytes) = match format.as_str() {
        "json" => ("JSONEachRow", rows_json_each_row),
        "rowbinary" => ("RowBinary", rows_row_binary),
        other => {
            return Err(LoadError::Usage(format!(
                "--format {other}: json or rowbinary"
            )));
        }
    };
    let rows_before = count_rows(&target, &database).await?;
    // Generation runs one batch ahead of the inserts, on another thread.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(1);
    let producer = tokio::task::spawn_blocking(move || {
        let mut first = 0;
        while first < rows {
            let count = batch.min(rows - first);
            if sender.blocking_send(generate(first, count)).is_err() {
                return;
            }
            first += count;
        }
    });
    let mut connection = target.connect().await?;
    let path = format!(
        "/?database={}&query={}",
        encode(&database),
        encode(&format!("INSERT INTO logs FORMAT {clickhouse_format}"))
    );
    let mut latencies = Latencies::default();
    let mut bytes_sent = 0usize;
    let started = Instant::now();
    while let Some(body) = receiver.recv().await {
        bytes_sent += body.len();
        let payload = Payload {
            content_type: "application/octet-stream",
            header: None,
            body,
        };
        let sent = Instant::now();
        let (status, answer) = connection.post(&path, &payload).await?;
        latencies.record(sent.elapsed());
        if status != 200 {
            return Err(LoadError::Status {
                status,
                body: String::from_utf8_lossy(&answer).into_owned(),
            });
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    producer
        .await
        .map_err(|error| LoadError::Failed(error.to_string()))?;
    let stored = count_rows(&target, &database).await? - rows_before;
    if stored != rows {
        return Err(LoadError::Failed(format!("{stored} of {rows} rows stored")));
    }
    Ok(json!({
        "scenario": "raw-insert",
        "format": clickhouse_format,
        "rows": rows,
        "batch": batch,
        "seconds": seconds,
        "rows_per_second": (rows as f64 / seconds).round(),
        "megabytes_sent": bytes_sent as f64 / 1e6,
        "insert_latency": latencies.summary(),
    }))
}

/// The logs table a run watches for its events (`--clickhouse` and `--database`, both
/// optional), with the rows it held before the run.
pub struct StoredRows {
    clickhouse: Target,
    database: String,
    before: u64,
}

impl StoredRows {
    /// `None` unless both options are given; else counts the rows already there.
    pub async fn from_options(options: &Options) -> Result<Option<Self>, LoadError> {
        let (Ok(url), Ok(database)) = (
            options.text("clickhouse", Some("")),
            options.text("database", Some("")),
        ) else {
            return Ok(None);
        };
        if url.is_empty() || database.is_empty() {
            return Ok(None);
        }
        let clickhouse = Target::parse(&url)?;
        let before = count_rows(&clickhouse, &database).await?;
        Ok(Some(Self {
            clickhouse,
            database,
            before,
        }))
    }

    /// Waits (at most 10 minutes) until `added` more rows than before are stored; answers the
    /// seconds since `started`.
    pub async fn seconds_until_stored(
        &self,
        added: u64,
        started: Instant,
    ) -> Result<f64, LoadError> {
        let rows = self.before + added;
        wait_for_rows(
            &self.clickhouse,
            &self.database,
            rows,
            Duration::from_secs(600),
        )
        .await?;
        Ok(started.elapsed().as_secs_f64())
    }
}
