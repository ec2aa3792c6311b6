//! The query API: `GET /logs` (pages), `/logs/stats`, `/logs/histogram`, `/logs/tail` (SSE)
//! and `/logs/export` (NDJSON), all with the same filters. Handlers only decode parameters,
//! call the use case and convert its answer.

pub(crate) mod fields;
pub(crate) mod model;
pub(crate) mod stream;
#[cfg(test)]
mod tests;

use application::{QueryError, QueryUseCase};
use domain::{
    FieldCondition, FieldName, FieldOp, FilterDraft, GroupBy, HistogramInterval, HistogramSplit,
    Level, Timestamp,
};
use poem::web::Query as RawQuery;
use poem::{FromRequest, Request};
use poem_openapi::OpenApi;
use poem_openapi::param::Query;
use poem_openapi::payload::{Binary, Json};

use crate::common::access::Authorized;
use crate::common::error::{ErrorBody, ErrorCode};
use crate::query::model::{
    ExportResponse, GroupBody, HistogramBody, HistogramResponse, LogRecord, LogsPage, LogsResponse,
    QueryFailure, StatsBody, StatsResponse, TailResponse,
};
use crate::query::stream::{ndjson_export, tail_events};

/// The prefix of metadata conditions in the query string: `metadata.<key>=<value>`.
const METADATA_PREFIX: &str = "metadata.";

/// Splits `a,b` lists and drops empty items; a missing parameter means no condition.
fn list(parameter: Option<String>) -> Vec<String> {
    parameter
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The prefix of negative conditions: `exclude.<field>=<value>`.
const EXCLUDE_PREFIX: &str = "exclude.";

/// The conditions of the query string that poem-openapi cannot declare (it names parameters
/// in advance): `metadata.<key>=<value>` pairs and `exclude.<field>=<value>` exclusions.
struct OpenConditions {
    metadata: Vec<(String, String)>,
    exclusions: Vec<FieldCondition>,
}

/// Reads the [`OpenConditions`] from the raw query. An exclusion names `service`, `level` or
/// `metadata.<key>`; each occurrence excludes one value (repeat it for several).
async fn open_conditions(request: &Request) -> Result<OpenConditions, ErrorBody> {
    let RawQuery(pairs) = RawQuery::<Vec<(String, String)>>::from_request_without_body(request)
        .await
        .map_err(|error| {
            ErrorBody::new(
                ErrorCode::InvalidParameter,
                Some("metadata"),
                format!("the query string cannot be decoded: {error}"),
            )
        })?;
    let mut conditions = OpenConditions {
        metadata: Vec::new(),
        exclusions: Vec::new(),
    };
    for (name, value) in pairs {
        if let Some(key) = name.strip_prefix(METADATA_PREFIX) {
            conditions.metadata.push((key.to_owned(), value));
        } else if let Some(field) = name.strip_prefix(EXCLUDE_PREFIX) {
            conditions.exclusions.push(exclusion(&name, field, &value)?);
        }
    }
    Ok(conditions)
}

/// `exclude.<field>=<value>` as the condition `field != value`; errors name the parameter.
fn exclusion(parameter: &str, field: &str, value: &str) -> Result<FieldCondition, ErrorBody> {
    let invalid = |reason: String| {
        ErrorBody::new(
            ErrorCode::InvalidParameter,
            Some(parameter),
            format!("{parameter}: {reason}"),
        )
    };
    let field = FieldName::parse(field)
        .map_err(|_| invalid("exclusions name service, level or metadata.<key>".to_owned()))?;
    let value = match field {
        FieldName::Level => Level::parse(value)
            .map_err(|error| invalid(error.to_string()))?
            .as_str()
            .to_owned(),
        _ => value.to_owned(),
    };
    FieldCondition::new(field, FieldOp::NotEqual, &value)
        .map_err(|error| invalid(error.to_string()))
}

/// The conditions every endpoint shares, as sent.
struct Conditions {
    service: Option<String>,
    level: Option<String>,
    min_level: Option<String>,
    q: Option<String>,
    trace_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl Conditions {
    async fn into_draft(self, request: &Request) -> Result<FilterDraft, ErrorBody> {
        let open = open_conditions(request).await?;
        Ok(FilterDraft {
            services: list(self.service),
            levels: list(self.level),
            min_level: self.min_level,
            q: self.q,
            metadata: open.metadata,
            field_conditions: open.exclusions,
            trace_id: self.trace_id,
            from: self.from,
            to: self.to,
            ..FilterDraft::default()
        })
    }
}

/// The query API.
pub(crate) struct QueryApi {
    pub(crate) query: QueryUseCase,
}

#[OpenApi]
impl QueryApi {
    /// Read logs
    ///
    /// All conditions combine with AND; list parameters match any of their items. Newest first
    /// unless `order=asc`; logs with the same timestamp are ordered by `id`.
    ///
    /// **Metadata conditions** are parameters named `metadata.<key>` (any number, up to 16):
    /// the log must have that key with exactly that value, e.g.
    /// `GET /logs?metadata.user_id=42&metadata.host=db-primary`. Keys and values are
    /// URL-encoded like any parameter (`metadata.region%20name=eu%2Bwest` for the key
    /// `region name` and the value `eu+west`); an empty value (`metadata.user_id=`) matches
    /// logs whose value is empty.
    ///
    /// **Exclusions** are parameters named `exclude.<field>` for `service`, `level` or
    /// `metadata.<key>`: the log must not have that value, e.g.
    /// `GET /logs?exclude.service=health-check&exclude.metadata.user_id=42`. Each occurrence
    /// excludes one value (repeat the parameter for several); a log without the key is kept.
    /// Every endpoint of this API takes them, like `metadata.<key>`.
    ///
    /// **Paging**: every answer with more matching logs carries `next_cursor`; send it back as
    /// `cursor` with the same filters for the next page. Cursors never skip or repeat a log,
    /// even when many share a timestamp, and page 1000 costs about as much as page 1.
    /// `offset` still works (counted after the cursor, if any) but gets slower with depth.
    ///
    /// **Time range**: a query covers at most the service's maximum range
    /// (`QUERY_MAX_RANGE_HOURS`, 720 h by default). Without `from` it covers the maximum range
    /// before `to` (or before now, including logs stamped in the future); a wider explicit
    /// range is refused naming `from` or `to`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/logs", method = "get")]
    async fn logs(
        &self,
        _authorized: Authorized,
        request: &Request,
        /// Service name; several as a comma-separated list (any of them).
        #[oai(example = "example_service")]
        service: Query<Option<String>>,
        /// Level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, any case); several comma-separated.
        #[oai(example = "example_level")]
        level: Query<Option<String>>,
        /// The least severe level to match: `WARN` means WARN, ERROR and FATAL. Combines with
        /// `level`.
        #[oai(example = "example_min_level")]
        min_level: Query<Option<String>>,
        /// Text search in the message, ignoring case: every word must occur, `"quoted
        /// phrases"` as written; `\"` is a literal double quote, `\\` a literal backslash;
        /// `%`, `_`, `'` and other characters are plain. At most 1024 characters, 16 terms.
        #[oai(example = "example_q")]
        q: Query<Option<String>>,
        /// The trace the logs belong to: 32 hex characters.
        #[oai(example = "example_trace_id")]
        trace_id: Query<Option<String>>,
        /// Earliest event time, inclusive, RFC 3339. From `from` to `to` (or to now) is at most
        /// the maximum range (`QUERY_MAX_RANGE_HOURS`, 720 h by default): a wider range is 400
        /// naming `to` when both are given, else `from`.
        #[oai(example = "example_from")]
        from: Query<Option<String>>,
        /// Latest event time, exclusive, RFC 3339; must be after `from`.
        #[oai(example = "example_to")]
        to: Query<Option<String>>,
        /// Page size, 1 to the largest page (`QUERY_MAX_PAGE_LIMIT`, 1000 by default); default
        /// 100, or the largest page when smaller.
        #[oai(example = "example_limit")]
        limit: Query<Option<String>>,
        /// Number of matching logs to skip (after `cursor`, if given); default 0.
        #[oai(example = "example_offset")]
        offset: Query<Option<String>>,
        /// `desc` (newest first, default) or `asc`. With `cursor`, omit it or send the order
        /// the cursor came from.
        #[oai(example = "example_order")]
        order: Query<Option<String>>,
        /// The `next_cursor` of the previous page.
        #[oai(example = "example_cursor")]
        cursor: Query<Option<String>>,
    ) -> LogsResponse {
        let conditions = Conditions {
            service: service.0,
            level: level.0,
            min_level: min_level.0,
            q: q.0,
            trace_id: trace_id.0,
            from: from.0,
            to: to.0,
        };
        let draft = match conditions.into_draft(request).await {
            Ok(draft) => FilterDraft {
                limit: limit.0,
                offset: offset.0,
                order: order.0,
                cursor: cursor.0,
                ..draft
            },
            Err(body) => return body.into(),
        };
        match self.query.query(draft).await {
            Ok(page) => {
                let logs: Vec<LogRecord> = page.logs.into_iter().map(LogRecord::from).collect();
                LogsResponse::Ok(Json(LogsPage {
                    count: logs.len() as u64,
                    logs,
                    next_cursor: page.next_cursor.map(|cursor| cursor.encode()),
                }))
            }
            Err(error) => QueryFailure::from(error).into(),
        }
    }

    /// Count logs per level or service
    ///
    /// Counts the logs matching the filters (the same as `GET /logs`, `metadata.<key>`
    /// included, e.g. `GET /logs/stats?group_by=service&metadata.region=eu`) per `group_by`
    /// value, largest first.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/logs/stats", method = "get")]
    async fn stats(
        &self,
        _authorized: Authorized,
        request: &Request,
        /// `level` or `service`: what to count by.
        #[oai(example = "example_group_by")]
        group_by: Query<String>,
        /// Service name; several as a comma-separated list (any of them).
        #[oai(example = "example_service")]
        service: Query<Option<String>>,
        /// Level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, any case); several comma-separated.
        #[oai(example = "example_level")]
        level: Query<Option<String>>,
        /// The least severe level to match.
        #[oai(example = "example_min_level")]
        min_level: Query<Option<String>>,
        /// Text search in the message, as for `GET /logs`.
        #[oai(example = "example_q")]
        q: Query<Option<String>>,
        /// The trace the logs belong to: 32 hex characters.
        #[oai(example = "example_trace_id")]
        trace_id: Query<Option<String>>,
        /// Earliest event time, inclusive, RFC 3339. From `from` to `to` (or to now) is at most
        /// the maximum range (`QUERY_MAX_RANGE_HOURS`, 720 h by default): a wider range is 400
        /// naming `to` when both are given, else `from`.
        #[oai(example = "example_from")]
        from: Query<Option<String>>,
        /// Latest event time, exclusive, RFC 3339.
        #[oai(example = "example_to")]
        to: Query<Option<String>>,
        /// Most groups in the answer, 1 to the largest page (`QUERY_MAX_PAGE_LIMIT`, 1000 by
        /// default); default 100, or the largest page when smaller.
        #[oai(example = "example_limit")]
        limit: Query<Option<String>>,
    ) -> StatsResponse {
        let conditions = Conditions {
            service: service.0,
            level: level.0,
            min_level: min_level.0,
            q: q.0,
            trace_id: trace_id.0,
            from: from.0,
            to: to.0,
        };
        let draft = match conditions.into_draft(request).await {
            Ok(draft) => FilterDraft {
                limit: limit.0,
                ..draft
            },
            Err(body) => return body.into(),
        };
        let group_by = match GroupBy::parse(&group_by.0) {
            Ok(group_by) => group_by,
            Err(invalid) => return QueryFailure::from(QueryError::from(invalid)).into(),
        };
        match self.query.stats(draft, group_by).await {
            Ok(groups) => StatsResponse::Ok(Json(StatsBody {
                group_by: group_by.to_string(),
                groups: groups.into_iter().map(GroupBody::from).collect(),
            })),
            Err(error) => QueryFailure::from(error).into(),
        }
    }

    /// Count logs per time bucket
    ///
    /// Counts the logs matching the filters (the same as `GET /logs`, `metadata.<key>`
    /// included) per `interval` of event time, optionally per level too (`by=level`). Every
    /// bucket of the range is listed, empty ones with count 0, from the bucket holding `from`
    /// to the one holding `to` (or now). At most 10000 buckets: e.g.
    /// `GET /logs/histogram?interval=5m&by=level&from=2026-05-05T00:00:00Z&to=2026-05-06T00:00:00Z`
    /// gives 288.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/logs/histogram", method = "get")]
    async fn histogram(
        &self,
        _authorized: Authorized,
        request: &Request,
        /// Bucket width: `1m`, `5m`, `15m`, `1h` or `1d`. Buckets start on whole intervals
        /// since the epoch (in UTC: on the minute, hour, midnight).
        #[oai(example = "example_interval")]
        interval: Query<String>,
        /// `level` to count each level of each bucket too.
        #[oai(example = "example_by")]
        by: Query<Option<String>>,
        /// Service name; several as a comma-separated list (any of them).
        #[oai(example = "example_service")]
        service: Query<Option<String>>,
        /// Level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, any case); several comma-separated.
        #[oai(example = "example_level")]
        level: Query<Option<String>>,
        /// The least severe level to match.
        #[oai(example = "example_min_level")]
        min_level: Query<Option<String>>,
        /// Text search in the message, as for `GET /logs`.
        #[oai(example = "example_q")]
        q: Query<Option<String>>,
        /// The trace the logs belong to: 32 hex characters.
        #[oai(example = "example_trace_id")]
        trace_id: Query<Option<String>>,
        /// Earliest event time, inclusive, RFC 3339. From `from` to `to` (or to now) is at most
        /// the maximum range (`QUERY_MAX_RANGE_HOURS`, 720 h by default): a wider range is 400
        /// naming `to` when both are given, else `from`.
        #[oai(example = "example_from")]
        from: Query<Option<String>>,
        /// Latest event time, exclusive, RFC 3339.
        #[oai(example = "example_to")]
        to: Query<Option<String>>,
    ) -> HistogramResponse {
        let conditions = Conditions {
            service: service.0,
            level: level.0,
            min_level: min_level.0,
            q: q.0,
            trace_id: trace_id.0,
            from: from.0,
            to: to.0,
        };
        let draft = match conditions.into_draft(request).await {
            Ok(draft) => draft,
            Err(body) => return body.into(),
        };
        let parsed = HistogramInterval::parse(&interval.0)
            .and_then(|interval| Ok((interval, HistogramSplit::parse(by.0.as_deref())?)));
        let (interval, split) = match parsed {
            Ok(parsed) => parsed,
            Err(invalid) => return QueryFailure::from(QueryError::from(invalid)).into(),
        };
        match self.query.histogram(draft, interval, split).await {
            Ok(histogram) => {
                HistogramResponse::Ok(Json(HistogramBody::new(histogram, split.by_level())))
            }
            Err(error) => QueryFailure::from(error).into(),
        }
    }

    /// Follow new logs live (server-sent events)
    ///
    /// Streams the logs matching the filters (the same conditions as `GET /logs`,
    /// `metadata.<key>` included) as they are stored, as `text/event-stream`: `event: log` with
    /// the log's JSON, `event: heartbeat` every heartbeat interval (`QUERY_TAIL_HEARTBEAT_MS`,
    /// 15 s by default). Without `from` it starts now; with `from` it first sends the stored
    /// logs from then on, oldest first. One poller per query service reads new logs for every
    /// client, so clients add no load on ClickHouse. Example:
    /// `curl -N "http://localhost:8081/logs/tail?service=auth-service&min_level=ERROR"`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/logs/tail", method = "get")]
    async fn tail(
        &self,
        _authorized: Authorized,
        request: &Request,
        /// Service name; several as a comma-separated list (any of them).
        #[oai(example = "example_service")]
        service: Query<Option<String>>,
        /// Level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, any case); several comma-separated.
        #[oai(example = "example_level")]
        level: Query<Option<String>>,
        /// The least severe level to match.
        #[oai(example = "example_min_level")]
        min_level: Query<Option<String>>,
        /// Text search in the message, as for `GET /logs`.
        #[oai(example = "example_q")]
        q: Query<Option<String>>,
        /// The trace the logs belong to: 32 hex characters.
        #[oai(example = "example_trace_id")]
        trace_id: Query<Option<String>>,
        /// Send the stored logs from this event time on first, RFC 3339. At most the maximum
        /// range (`QUERY_MAX_RANGE_HOURS`, 720 h by default) before now: an earlier time is
        /// refused with 400 naming `from`. Default: start now.
        #[oai(example = "example_recent_from")]
        from: Query<Option<String>>,
    ) -> TailResponse {
        let conditions = Conditions {
            service: service.0,
            level: level.0,
            min_level: min_level.0,
            q: q.0,
            trace_id: trace_id.0,
            from: from.0,
            to: None,
        };
        let draft = match conditions.into_draft(request).await {
            Ok(draft) => draft,
            Err(body) => return body.into(),
        };
        match self.query.tail(draft).await {
            Ok(subscription) => TailResponse::Events(tail_events(subscription)),
            Err(error) => QueryFailure::from(error).into(),
        }
    }

    /// Export every matching log (NDJSON)
    ///
    /// Streams all logs matching the filters (the same as `GET /logs`, `metadata.<key>`
    /// included), one JSON document per line, without a row limit and with bounded memory.
    /// The time range rules of `GET /logs` apply. Example:
    /// `curl -N "http://localhost:8081/logs/export?service=billing&from=2026-05-05T00:00:00Z&to=2026-05-06T00:00:00Z" > billing.ndjson`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/logs/export", method = "get")]
    async fn export(
        &self,
        _authorized: Authorized,
        request: &Request,
        /// Service name; several as a comma-separated list (any of them).
        #[oai(example = "example_service")]
        service: Query<Option<String>>,
        /// Level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, any case); several comma-separated.
        #[oai(example = "example_level")]
        level: Query<Option<String>>,
        /// The least severe level to match.
        #[oai(example = "example_min_level")]
        min_level: Query<Option<String>>,
        /// Text search in the message, as for `GET /logs`.
        #[oai(example = "example_q")]
        q: Query<Option<String>>,
        /// The trace the logs belong to: 32 hex characters.
        #[oai(example = "example_trace_id")]
        trace_id: Query<Option<String>>,
        /// Earliest event time, inclusive, RFC 3339. From `from` to `to` (or to now) is at most
        /// the maximum range (`QUERY_MAX_RANGE_HOURS`, 720 h by default): a wider range is 400
        /// naming `to` when both are given, else `from`.
        #[oai(example = "example_from")]
        from: Query<Option<String>>,
        /// Latest event time, exclusive, RFC 3339.
        #[oai(example = "example_to")]
        to: Query<Option<String>>,
        /// `desc` (newest first, default) or `asc`.
        #[oai(example = "example_order")]
        order: Query<Option<String>>,
    ) -> ExportResponse {
        let conditions = Conditions {
            service: service.0,
            level: level.0,
            min_level: min_level.0,
            q: q.0,
            trace_id: trace_id.0,
            from: from.0,
            to: to.0,
        };
        let draft = match conditions.into_draft(request).await {
            Ok(draft) => FilterDraft {
                order: order.0,
                ..draft
            },
            Err(body) => return body.into(),
        };
        let cursor = match self.query.export(draft).await {
            Ok(cursor) => cursor,
            Err(error) => return QueryFailure::from(error).into(),
        };
        match ndjson_export(cursor).await {
            Ok(body) => ExportResponse::Ok(Binary(body)),
            Err(failure) => failure.into(),
        }
    }
}

fn example_service() -> Option<String> {
    Some("auth-service,billing".into())
}

fn example_level() -> Option<String> {
    Some("ERROR".into())
}

fn example_min_level() -> Option<String> {
    Some("WARN".into())
}

fn example_q() -> Option<String> {
    Some("timeout \"connection refused\"".into())
}

fn example_trace_id() -> Option<String> {
    Some("4bf92f3577b34da6a3ce929d0e0e4736".into())
}

fn example_from() -> Option<String> {
    Some("2026-05-05T00:00:00Z".into())
}

/// An hour before the document was made, on the minute: a fixed time would fall out of the
/// tail's range (`QUERY_MAX_RANGE_HOURS` before now) and make the example an invalid request.
fn example_recent_from() -> Option<String> {
    const MINUTE_NANOS: u64 = 60_000_000_000;
    let hour_ago = Timestamp::now()
        .unix_nanos()
        .saturating_sub(60 * MINUTE_NANOS);
    Some(Timestamp::from_unix_nanos(hour_ago - hour_ago % MINUTE_NANOS).to_rfc3339())
}

fn example_to() -> Option<String> {
    Some("2026-05-05T23:59:59Z".into())
}

fn example_limit() -> Option<String> {
    Some("100".into())
}

fn example_offset() -> Option<String> {
    Some("0".into())
}

fn example_order() -> Option<String> {
    Some("desc".into())
}

fn example_cursor() -> Option<String> {
    Some("010018aca30637744000019df0a12b3c7d4e8f60718293a4b5c6a2".into())
}

fn example_group_by() -> String {
    "level".into()
}

fn example_interval() -> String {
    "5m".into()
}

fn example_by() -> Option<String> {
    Some("level".into())
}
