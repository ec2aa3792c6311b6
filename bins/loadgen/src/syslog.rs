//! Syslog over one TCP connection: `--lines` RFC 5424 lines, octet-counted, written as fast as
//! the connection takes them (the listener's backpressure paces the writer), then (with
//! `--clickhouse` and `--database`) the time until the logs table holds them all.

use std::time::Instant;

use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::baseline::StoredRows;
use crate::events::syslog_octet_counted;
use crate::{LoadError, Options};

/// Lines written with one write call.
const LINES_PER_WRITE: u64 = 1000;

pub async fn syslog_tcp(options: &Options) -> Result<Value, LoadError> {
    let addr = options.text("addr", None)?;
    let lines: u64 = options.number("lines", Some(1_000_000))?;
    let store = StoredRows::from_options(options).await?;
    let connection = TcpStream::connect(&addr).await?;
    let started = Instant::now();
    let mut buffer = Vec::new();
    let mut first = 0;
    while first < lines {
        buffer.clear();
        for sequence in first..(first + LINES_PER_WRITE).min(lines) {
            syslog_octet_counted(sequence, &mut buffer);
        }
        write_all(&connection, &buffer).await?;
        first += LINES_PER_WRITE;
    }
    drop(connection);
    let written_seconds = started.elapsed().as_secs_f64();
    let stored_seconds = match &store {
        Some(store) => Some(store.seconds_until_stored(lines, started).await?),
        None => None,
    };
    Ok(json!({
        "scenario": "syslog-tcp",
        "connections": 1,
        "lines": lines,
        "written_seconds": written_seconds,
        "written_lines_per_second": (lines as f64 / written_seconds).round(),
        "stored_seconds": stored_seconds,
        "end_to_end_lines_per_second": stored_seconds.map(|seconds| (lines as f64 / seconds).round()),
    }))
}

/// Writes all of `bytes`, waiting whenever the connection is full (the receiver's backpressure).
async fn write_all(connection: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        connection.writable().await?;
        match connection.try_write(bytes) {
            Ok(written) => bytes = &bytes[written..],
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
