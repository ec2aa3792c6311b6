//! Tests against a real ClickHouse server: `TEST_CLICKHOUSE_URL`, by default
//! `http://127.0.0.1:8123`. Every test works in a database of its own, so they run in parallel.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;
mod contract;
mod duplicates;
mod hostile;
mod levels;
mod metric;
mod migrations;
mod retention;
mod store;
