//! Load generator for `infra/bench.sh`. Each subcommand runs one scenario against servers on
//! this machine and prints one JSON object with its figures on stdout:
//!
//! ```text
//! loadgen single     --url http://127.0.0.1:8080 --connections 64 --seconds 10 [--warmup-seconds 2]
//!                    [--clickhouse URL --database DB]
//! loadgen batch      --url http://127.0.0.1:8080 --connections 4 --events 2000000 --batch 1000
//!                    [--format json|ndjson|bulk|loki-json|loki-protobuf] [--clickhouse URL --database DB]
//! loadgen syslog-tcp --addr 127.0.0.1:6514 --lines 1000000 [--clickhouse URL --database DB]
//! loadgen raw-insert --clickhouse URL --database DB --rows 2000000 --batch 10000 [--format json|rowbinary]
//! loadgen freshness  --url INGEST_URL --query-url QUERY_URL --samples 200 --rate 20
//! loadgen query      --url QUERY_URL --path '/logs?...' [--path ...] --requests 200 [--connections 1]
//! ```
//!
//! Every loop is bounded in count or time and stops by itself.

mod baseline;
mod events;
mod http;
mod ingest;
mod loki;
mod probe;
mod stats;
mod syslog;

use std::collections::HashMap;
use std::process::ExitCode;

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("usage: {0}")]
    Usage(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("http: {0}")]
    Hyper(#[from] hyper::Error),
    #[error("request: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("unexpected answer {status}: {body}")]
    Status { status: u16, body: String },
    #[error("{0}")]
    Failed(String),
}

/// `--name value` options; a name may repeat.
#[derive(Debug, Default)]
pub struct Options(HashMap<String, Vec<String>>);

impl Options {
    fn parse(arguments: &[String]) -> Result<Self, LoadError> {
        let mut options = Options::default();
        let mut rest = arguments.iter();
        while let Some(name) = rest.next() {
            let Some(key) = name.strip_prefix("--") else {
                return Err(LoadError::Usage(format!("expected --option, got {name}")));
            };
            let value = rest
                .next()
                .ok_or_else(|| LoadError::Usage(format!("{name} needs a value")))?;
            options
                .0
                .entry(key.to_owned())
                .or_default()
                .push(value.clone());
        }
        Ok(options)
    }

    /// The last value of `--name`, or `default`.
    pub fn text(&self, name: &str, default: Option<&str>) -> Result<String, LoadError> {
        self.0
            .get(name)
            .and_then(|values| values.last().cloned())
            .or_else(|| default.map(str::to_owned))
            .ok_or_else(|| LoadError::Usage(format!("--{name} is required")))
    }

    /// Every value of `--name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.get(name).cloned().unwrap_or_default()
    }

    /// The last value of `--name` as a number, or `default`.
    pub fn number<T: std::str::FromStr>(
        &self,
        name: &str,
        default: Option<T>,
    ) -> Result<T, LoadError> {
        match self.0.get(name).and_then(|values| values.last()) {
            Some(text) => text
                .parse()
                .map_err(|_| LoadError::Usage(format!("--{name} {text}: not a number"))),
            None => default.ok_or_else(|| LoadError::Usage(format!("--{name} is required"))),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = arguments.split_first() else {
        eprintln!(
            "usage: loadgen single|batch|raw-insert|syslog-tcp|freshness|query --option value ..."
        );
        return ExitCode::from(2);
    };
    let result = match Options::parse(rest) {
        Ok(options) => match command.as_str() {
            "single" => ingest::single(&options).await,
            "batch" => ingest::batch(&options).await,
            "raw-insert" => baseline::raw_insert(&options).await,
            "syslog-tcp" => syslog::syslog_tcp(&options).await,
            "freshness" => probe::freshness(&options).await,
            "query" => probe::query(&options).await,
            other => Err(LoadError::Usage(format!("unknown command {other}"))),
        },
        Err(error) => Err(error),
    };
    match result {
        Ok(figures) => {
            println!("{figures}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("loadgen {command}: {error}");
            ExitCode::FAILURE
        }
    }
}
