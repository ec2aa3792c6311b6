//! Synthetic log events: the same shape for the pipeline (ingestion JSON) and for the raw
//! ClickHouse baseline (rows as the worker writes them), so both paths carry the same data.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// 20 services × 6 levels: what the query scenarios filter on.
pub const SERVICES: [&str; 20] = [
    "auth",
    "billing",
    "cart",
    "catalog",
    "checkout",
    "gateway",
    "inventory",
    "mailer",
    "orders",
    "payments",
    "pricing",
    "profile",
    "recommend",
    "search",
    "session",
    "shipping",
    "stock",
    "tax",
    "users",
    "web",
];
pub const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
/// The `Enum8` codes of `LEVELS` in the logs table.
const LEVEL_CODES: [i8; 6] = [1, 5, 9, 13, 17, 21];

/// The fields of event number `sequence`, deterministic so that runs are comparable.
struct Fields {
    service: &'static str,
    level: usize,
    message: String,
    host: String,
    request_id: String,
}

fn fields(sequence: u64) -> Fields {
    let mix = sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Fields {
        service: SERVICES[(mix >> 7) as usize % SERVICES.len()],
        // Mostly INFO, like real logs: INFO 50%, DEBUG 20%, WARN 15%, ERROR 10%, TRACE 3%, FATAL 2%.
        level: match (mix >> 17) % 100 {
            0..=49 => 2,
            50..=69 => 1,
            70..=84 => 3,
            85..=94 => 4,
            95..=97 => 0,
            _ => 5,
        },
        message: format!(
            "request {sequence} handled in {} ms by worker thread {}",
            (mix >> 27) % 900 + 1,
            (mix >> 40) % 16
        ),
        host: format!("web-{}", (mix >> 45) % 8),
        request_id: format!("{sequence:016x}"),
    }
}

/// Event number `sequence` as a Loki client sends it: its service and level (stream labels), its
/// line, and its structured metadata `host` and `request_id`.
pub fn loki_entry(
    sequence: u64,
) -> (
    &'static str,
    &'static str,
    String,
    [(&'static str, String); 2],
) {
    let f = fields(sequence);
    (
        f.service,
        LEVELS[f.level],
        f.message,
        [("host", f.host), ("request_id", f.request_id)],
    )
}

/// One ingestion event as JSON (no timestamp: the receive time is used).
pub fn event_json(sequence: u64, out: &mut String) {
    let f = fields(sequence);
    let _ = write!(
        out,
        r#"{{"service":"{}","level":"{}","message":"{}","metadata":{{"host":"{}","request_id":"{}"}}}}"#,
        f.service, LEVELS[f.level], f.message, f.host, f.request_id
    );
}

/// A JSON array of `count` events starting at `first`.
pub fn batch_json(first: u64, count: u64) -> Bytes {
    let mut out = String::with_capacity(count as usize * 200 + 2);
    out.push('[');
    for sequence in first..first + count {
        if sequence > first {
            out.push(',');
        }
        event_json(sequence, &mut out);
    }
    out.push(']');
    Bytes::from(out)
}

/// An Elasticsearch bulk body of `count` documents starting at `first`: the same fields as
/// [`event_json`] in an ECS shape (`service.name`, `log.level`, `host.name`, `request_id`).
pub fn bulk_ndjson(first: u64, count: u64) -> Bytes {
    let mut out = String::with_capacity(count as usize * 230);
    for sequence in first..first + count {
        let f = fields(sequence);
        let _ = write!(
            out,
            "{{\"create\":{{\"_index\":\"bench\"}}}}\n{{\"service\":{{\"name\":\"{}\"}},\"log\":{{\"level\":\"{}\"}},\"message\":\"{}\",\"host\":{{\"name\":\"{}\"}},\"request_id\":\"{}\"}}\n",
            f.service, LEVELS[f.level], f.message, f.host, f.request_id
        );
    }
    Bytes::from(out)
}

/// One RFC 5424 syslog line, octet-counted (RFC 6587), with the fields of [`event_json`].
pub fn syslog_octet_counted(sequence: u64, out: &mut Vec<u8>) {
    let f = fields(sequence);
    let severity = [7, 7, 6, 4, 3, 2][f.level];
    let line = format!(
        "<{}>1 - {} {} - - [req@1 id=\"{}\"] {}",
        16 * 8 + severity,
        f.host,
        f.service,
        f.request_id,
        f.message
    );
    out.extend(format!("{} {line}", line.len()).bytes());
}

/// NDJSON of `count` events starting at `first`.
pub fn batch_ndjson(first: u64, count: u64) -> Bytes {
    let mut out = String::with_capacity(count as usize * 200);
    for sequence in first..first + count {
        event_json(sequence, &mut out);
        out.push('\n');
    }
    Bytes::from(out)
}

pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

fn hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let _ = write!(out, "{:02x}", fastrand::u8(..));
    }
    out
}

/// `count` rows for the logs table in `JSONEachRow`, as the worker would store the events.
pub fn rows_json_each_row(first: u64, count: u64) -> Bytes {
    let mut out = String::with_capacity(count as usize * 330);
    let now = now_nanos();
    for sequence in first..first + count {
        let f = fields(sequence);
        let _ = writeln!(
            out,
            r#"{{"timestamp":{now},"observed_timestamp":{now},"id":"{}","trace_id":"{}","span_id":"","service":"{}","level":"{}","message":"{}","metadata_keys":["host","request_id"],"metadata_values":["{}","{}"]}}"#,
            uuid::Uuid::now_v7(),
            hex(16),
            f.service,
            LEVELS[f.level],
            f.message,
            f.host,
            f.request_id
        );
    }
    Bytes::from(out)
}

/// `count` rows for the logs table in `RowBinary` (the worker's own format).
pub fn rows_row_binary(first: u64, count: u64) -> Bytes {
    fn string(out: &mut Vec<u8>, text: &str) {
        let mut length = text.len() as u64;
        loop {
            let byte = (length & 0x7f) as u8;
            length >>= 7;
            if length == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(text.as_bytes());
    }
    let mut out = Vec::with_capacity(count as usize * 220);
    let now = now_nanos();
    for sequence in first..first + count {
        let f = fields(sequence);
        out.extend_from_slice(&now.to_le_bytes());
        out.extend_from_slice(&now.to_le_bytes());
        string(&mut out, &uuid::Uuid::now_v7().to_string());
        string(&mut out, &hex(16));
        string(&mut out, "");
        string(&mut out, f.service);
        out.extend_from_slice(&LEVEL_CODES[f.level].to_le_bytes());
        string(&mut out, &f.message);
        out.push(2);
        string(&mut out, "host");
        string(&mut out, "request_id");
        out.push(2);
        string(&mut out, &f.host);
        string(&mut out, &f.request_id);
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_batch_is_an_array_of_complete_events() {
        let batch: serde_json::Value = serde_json::from_slice(&batch_json(10, 3)).unwrap();
        let events = batch.as_array().unwrap();
        assert_eq!(events.len(), 3);
        assert!(
            events[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("request 10 ")
        );
        assert!(SERVICES.contains(&events[1]["service"].as_str().unwrap()));
    }

    #[test]
    fn ndjson_has_one_event_per_line() {
        let text = batch_ndjson(0, 4);
        let lines: Vec<&[u8]> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 4);
        for line in lines {
            let _: serde_json::Value = serde_json::from_slice(line).unwrap();
        }
    }

    #[test]
    fn json_each_row_has_one_row_per_line_with_the_table_columns() {
        let text = rows_json_each_row(0, 2);
        let first = text.split(|b| *b == b'\n').next().unwrap();
        let row: serde_json::Value = serde_json::from_slice(first).unwrap();
        assert_eq!(
            row["metadata_keys"],
            serde_json::json!(["host", "request_id"])
        );
        assert_eq!(row["trace_id"].as_str().unwrap().len(), 32);
    }
}
