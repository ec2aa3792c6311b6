//! The SQL of the store's reads. Every statement is fixed text with one `?` per value, plus the
//! values in placeholder order; the `clickhouse` crate escapes each value into a quoted literal
//! when it binds it, so no client text ever becomes SQL.
//!
//! Everything here runs on ClickHouse 18.16 and on current releases: `positionCaseInsensitiveUTF8`
//! rather than `ILIKE` (missing on 18.16) or `LIKE` (whose `%` and `_` are wildcards),
//! `indexOf` on the metadata arrays rather than `Map`, `intDiv` buckets rather than
//! `toStartOfInterval`, and `IN (?, ?)` tuples rather than arrays.

use std::collections::BTreeSet;

use application::ports::{ArrivalWindow, HistogramRequest};
use clickhouse::Client;
use clickhouse::query::Query;
use domain::{
    FieldCondition, FieldName, FieldOp, Filter, GroupBy, LineCondition, LogEvent, SampleRows,
    SortOrder,
};
use serde::Deserialize;

use crate::row::LOGS_TABLE;

/// A value bound to one `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    Number(u64),
}

/// SQL text with `?` placeholders and their values, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) text: String,
    pub(crate) values: Vec<Value>,
}

impl Statement {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            values: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    pub(crate) fn text_value(&mut self, value: &str) -> &mut Self {
        self.values.push(Value::Text(value.to_owned()));
        self
    }

    pub(crate) fn value(&mut self, value: Value) -> &mut Self {
        self.values.push(value);
        self
    }

    pub(crate) fn number_value(&mut self, value: u64) -> &mut Self {
        self.values.push(Value::Number(value));
        self
    }

    /// Appends ` PREWHERE a AND b ...` and ` WHERE c AND d ...` for `conditions`, each when it
    /// has any.
    pub(crate) fn where_all(&mut self, conditions: Conditions) -> &mut Self {
        for (keyword, clause) in [
            (" PREWHERE ", conditions.prewhere),
            (" WHERE ", conditions.rest),
        ] {
            if !clause.parts.is_empty() {
                self.text.push_str(keyword);
                self.text.push_str(&clause.parts.join(" AND "));
                self.values.extend(clause.values);
            }
        }
        self
    }

    /// The crate's query for this statement on `client`, every value bound.
    pub(crate) fn query(&self, client: &Client) -> Query {
        self.values
            .iter()
            .fold(client.query(&self.text), |query, value| match value {
                Value::Text(text) => query.bind(text.as_str()),
                Value::Number(number) => query.bind(*number),
            })
    }
}

/// SQL conditions, each with its values in placeholder order.
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    /// Cheap tests that discard most granules before the other columns are read.
    prewhere: Clause,
    rest: Clause,
}

/// Conditions that combine with AND, with their values.
#[derive(Debug, Default)]
struct Clause {
    parts: Vec<String>,
    values: Vec<Value>,
}

impl Conditions {
    fn add(&mut self, sql: impl Into<String>, values: impl IntoIterator<Item = Value>) {
        self.rest.parts.push(sql.into());
        self.rest.values.extend(values);
    }

    /// A condition tested in `PREWHERE`. With an explicit `PREWHERE`, ClickHouse moves no
    /// other condition there itself.
    fn add_prewhere(&mut self, sql: impl Into<String>, values: impl IntoIterator<Item = Value>) {
        self.prewhere.parts.push(sql.into());
        self.prewhere.values.extend(values);
    }
}

/// The conditions of `filter`, without its page. Service and level lists become `IN (?, ?)`:
/// 18.16 refuses `IN [..]` (what binding a `Vec` gives) and needs `IN` rather than `has(..)`
/// to use the primary key (service, level, timestamp).
pub(crate) fn filter_conditions(filter: &Filter) -> Conditions {
    let mut conditions = Conditions::default();
    if !filter.services().is_empty() {
        conditions.add(
            format!("service IN ({})", placeholders(filter.services().len())),
            filter
                .services()
                .iter()
                .map(|service| Value::Text(service.as_str().to_owned())),
        );
    }
    match filter.level_set() {
        None => {}
        Some(levels) if levels.is_empty() => conditions.add("0", []),
        // Enum8 compares with its names; numbers would be a type mismatch on 18.16.
        Some(levels) => conditions.add(
            format!("level IN ({})", placeholders(levels.len())),
            levels
                .iter()
                .map(|level| Value::Text(level.as_str().to_owned())),
        ),
    }
    if let Some(from) = filter.from() {
        conditions.add("timestamp >= ?", [Value::Number(from.unix_nanos())]);
    }
    if let Some(to) = filter.to() {
        conditions.add("timestamp < ?", [Value::Number(to.unix_nanos())]);
    }
    if let Some(trace_id) = filter.trace_id() {
        conditions.add("trace_id = ?", [Value::Text(trace_id.to_string())]);
    }
    for (key, value) in filter.metadata() {
        // Reading the values alone first halves what a rare value costs: the keys are read
        // only in the granules that hold the value at all.
        conditions.add_prewhere("has(metadata_values, ?)", [Value::Text(value.clone())]);
        // Keys are unique per event; `has` tells an absent key from an empty value, which
        // `arr[indexOf(..)]` (index 0 gives '') alone would not.
        conditions.add(
            "has(metadata_keys, ?) AND metadata_values[indexOf(metadata_keys, ?)] = ?",
            [
                Value::Text(key.clone()),
                Value::Text(key.clone()),
                Value::Text(value.clone()),
            ],
        );
    }
    if let Some(text) = filter.text() {
        for term in text.terms() {
            conditions.add(
                "positionCaseInsensitiveUTF8(message, ?) > 0",
                [Value::Text(term.clone())],
            );
        }
    }
    for condition in filter.field_conditions() {
        let (sql, values) = field_condition(condition);
        conditions.add(sql, values);
    }
    for condition in filter.line_conditions() {
        let (sql, value) = match condition {
            LineCondition::Contains(text) => ("position(message, ?) > 0", text.clone()),
            LineCondition::NotContains(text) => ("position(message, ?) = 0", text.clone()),
            LineCondition::Matches(pattern) => ("match(message, ?)", pattern.for_search()),
            LineCondition::NotMatches(pattern) => ("NOT match(message, ?)", pattern.for_search()),
        };
        conditions.add(sql, [Value::Text(value)]);
    }
    conditions
}

/// What a number looks like to a numeric field comparison, as `domain::parse_number` reads it.
const NUMBER_PATTERN: &str = r"^-?[0-9]+(\.[0-9]+)?$";

/// The SQL of a field comparison and its values. A metadata key an event lacks reads as `''`
/// (`indexOf` gives 0, and element 0 of an array is the type's default), as the domain wants.
fn field_condition(condition: &FieldCondition) -> (String, Vec<Value>) {
    if *condition.field() == FieldName::Level
        && let Some(sql) = level_comparison(condition)
    {
        return sql;
    }
    let (expression, mut key_values) = field_value(condition.field());
    let operand = Value::Text(match condition.pattern() {
        Some(pattern) => pattern.for_search(),
        None => condition.value().to_owned(),
    });
    let comparison = |op: &str| format!("{expression} {op} ?");
    let numeric = |op: &str| {
        format!("match({expression}, ?) AND toFloat64OrZero({expression}) {op} toFloat64(?)")
    };
    let sql = match condition.op() {
        FieldOp::Equal => comparison("="),
        FieldOp::NotEqual => comparison("!="),
        FieldOp::Matches => format!("match({expression}, ?)"),
        FieldOp::NotMatches => format!("NOT match({expression}, ?)"),
        FieldOp::Greater => numeric(">"),
        FieldOp::GreaterOrEqual => numeric(">="),
        FieldOp::Less => numeric("<"),
        FieldOp::LessOrEqual => numeric("<="),
    };
    let values = if condition.number().is_some() {
        let mut values = key_values.clone();
        values.push(Value::Text(NUMBER_PATTERN.to_owned()));
        values.extend(key_values);
        values.push(operand);
        values
    } else {
        key_values.push(operand);
        key_values
    };
    (sql, values)
}

/// The SQL of a field's value and the values of its placeholders. A metadata key an event
/// lacks reads as `''`; a parsed label reads the metadata entry of its name when the event has
/// one, else what the parser's pattern captures in the message, unquoted (`domain::ParsedLabel`
/// reads it the same way).
pub(crate) fn field_value(field: &FieldName) -> (&'static str, Vec<Value>) {
    match field {
        FieldName::Service => ("service", vec![]),
        FieldName::Level => ("toString(level)", vec![]),
        FieldName::Metadata(key) => (
            "metadata_values[indexOf(metadata_keys, ?)]",
            vec![Value::Text(key.clone())],
        ),
        FieldName::Parsed(label) => (
            "if(has(metadata_keys, ?), metadata_values[indexOf(metadata_keys, ?)], \
             replaceRegexpOne(extract(message, ?), ?, ?))",
            vec![
                Value::Text(label.key().to_owned()),
                Value::Text(label.key().to_owned()),
                Value::Text(label.parser().pattern(label.key())),
                Value::Text(domain::UNQUOTE_PATTERN.to_owned()),
                Value::Text("\\1".to_owned()),
            ],
        ),
    }
}

/// `level` compared with a value, on the column itself: ClickHouse 18.16 reads the primary key
/// through `toString(level) = ?` as if the enum's names sorted like its numbers, which skips
/// granules holding the level (a fifth of the ERROR logs of a million rows went missing) or
/// fails on a number between two enum values. A level name compares as the enum; any other text
/// equals no level; a level is never a number. Expressions keep `toString(level)` (`match` is
/// not read through the key).
fn level_comparison(condition: &FieldCondition) -> Option<(String, Vec<Value>)> {
    let is_level_name = || {
        domain::Level::parse(condition.value())
            .is_ok_and(|level| level.as_str() == condition.value())
    };
    let constant = |holds: bool| Some((if holds { "1" } else { "0" }.to_owned(), Vec::new()));
    match condition.op() {
        FieldOp::Equal | FieldOp::NotEqual if is_level_name() => {
            let op = if condition.op() == FieldOp::Equal {
                "="
            } else {
                "!="
            };
            Some((
                format!("level {op} ?"),
                vec![Value::Text(condition.value().to_owned())],
            ))
        }
        FieldOp::Equal => constant(false),
        FieldOp::NotEqual => constant(true),
        FieldOp::Matches | FieldOp::NotMatches => None,
        FieldOp::Greater | FieldOp::GreaterOrEqual | FieldOp::Less | FieldOp::LessOrEqual => {
            constant(false)
        }
    }
}

/// The filter's conditions plus its cursor position: `(timestamp, id)` strictly after the
/// cursor in its order. The redundant `timestamp <=` (or `>=`) lets the primary key and the
/// partitions' time bounds skip data.
fn page_conditions(filter: &Filter) -> Conditions {
    let mut conditions = filter_conditions(filter);
    if let Some(cursor) = filter.cursor() {
        let (bound, strict) = match cursor.order() {
            SortOrder::Descending => ("<=", "<"),
            SortOrder::Ascending => (">=", ">"),
        };
        let timestamp = cursor.timestamp().unix_nanos();
        conditions.add(
            format!("timestamp {bound} ? AND (timestamp {strict} ? OR id {strict} ?)"),
            [
                Value::Number(timestamp),
                Value::Number(timestamp),
                Value::Text(cursor.id().to_string()),
            ],
        );
    }
    conditions
}

fn order_by(order: SortOrder) -> &'static str {
    match order {
        SortOrder::Descending => " ORDER BY timestamp DESC, id DESC",
        SortOrder::Ascending => " ORDER BY timestamp ASC, id ASC",
    }
}

fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// The sort key of one log: what the first step of a page read returns.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Deserialize)]
pub(crate) struct PageKey {
    pub(crate) timestamp: u64,
    pub(crate) id: String,
}

/// Step one of reading a page: the keys of the page's logs. Only the key columns (and those the
/// conditions need) are read and sorted, however many logs match.
pub(crate) fn page_keys(filter: &Filter) -> Statement {
    let mut statement = Statement::new(format!("SELECT timestamp, id FROM {LOGS_TABLE}"));
    statement
        .where_all(page_conditions(filter))
        .push(order_by(filter.order()))
        .push(" LIMIT ? OFFSET ?")
        .number_value(u64::from(filter.limit().get()))
        .number_value(filter.offset());
    statement
}

/// Step two: the whole rows of the page, by id, within the page's time span so that only
/// the few granules holding them are read (`id` in `PREWHERE`: the other columns are read
/// only for the rows found).
pub(crate) fn rows_by_keys(keys: &[PageKey], order: SortOrder) -> Statement {
    let earliest = keys.iter().map(|key| key.timestamp).min().unwrap_or(0);
    let latest = keys.iter().map(|key| key.timestamp).max().unwrap_or(0);
    let mut statement = Statement::new(format!(
        "SELECT ?fields FROM {LOGS_TABLE} PREWHERE id IN ({}) WHERE timestamp >= ? AND timestamp <= ?",
        placeholders(keys.len())
    ));
    for key in keys {
        statement.text_value(&key.id);
    }
    statement
        .number_value(earliest)
        .number_value(latest)
        .push(order_by(order));
    statement
}

/// A stored id, as the look-up before a retried insert returns it.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Deserialize)]
pub(crate) struct StoredId {
    pub(crate) id: String,
}

/// Which of `events` are stored already: by id, within the batch's services, levels and time
/// span, so that the primary key `(service, level, timestamp)` and the day partitions narrow
/// the read to the few granules that could hold them (`id` in `PREWHERE`). `events` must not
/// be empty.
pub(crate) fn stored_ids(events: &[LogEvent]) -> Statement {
    let services: BTreeSet<&str> = events
        .iter()
        .map(|event| event.service().as_str())
        .collect();
    let levels: BTreeSet<&str> = events.iter().map(|event| event.level().as_str()).collect();
    let earliest = events
        .iter()
        .map(|event| event.timestamp().unix_nanos())
        .min();
    let latest = events
        .iter()
        .map(|event| event.timestamp().unix_nanos())
        .max();
    let mut statement = Statement::new(format!(
        "SELECT id FROM {LOGS_TABLE} PREWHERE id IN ({}) WHERE service IN ({}) AND level IN ({}) \
         AND timestamp >= ? AND timestamp <= ?",
        placeholders(events.len()),
        placeholders(services.len()),
        placeholders(levels.len()),
    ));
    for event in events {
        statement.text_value(&event.id().to_string());
    }
    for service in services {
        statement.text_value(service);
    }
    for level in levels {
        statement.text_value(level);
    }
    statement
        .number_value(earliest.unwrap_or(0))
        .number_value(latest.unwrap_or(0));
    statement
}

/// One group of a count.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Deserialize)]
pub(crate) struct GroupRow {
    pub(crate) group_key: String,
    pub(crate) hits: u64,
}

/// A group of [`count_by`]: its events and the byte length of their messages.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Deserialize)]
pub(crate) struct GroupBytesRow {
    pub(crate) group_key: String,
    pub(crate) hits: u64,
    pub(crate) bytes: u64,
}

/// Counts per level name or service, with the summed byte length of their messages: largest
/// first, ties by key, at most the filter's limit.
pub(crate) fn count_by(filter: &Filter, group_by: GroupBy) -> Statement {
    let key = match group_by {
        GroupBy::Level => "toString(level)",
        GroupBy::Service => "service",
    };
    let mut statement = Statement::new(format!(
        "SELECT {key} AS group_key, count() AS hits, sum(length(message)) AS bytes \
         FROM {LOGS_TABLE}"
    ));
    statement
        .where_all(filter_conditions(filter))
        .push(" GROUP BY group_key ORDER BY hits DESC, group_key ASC LIMIT ?")
        .number_value(u64::from(filter.limit().get()));
    statement
}

/// The group key of a sampled count that holds how many events were read: every other key
/// carries [`SAMPLED_KEY_PREFIX`], so no key or value (not even an empty one) can be it.
pub(crate) const EVENTS_READ_KEY: &str = "";
/// What the statements of sampled counts put before every key they count.
pub(crate) const SAMPLED_KEY_PREFIX: &str = "v";

/// Events per metadata key among the first `sample` matching events: the subquery's `LIMIT`
/// bounds what is read (the arrays are outside the sort key, so nothing else would), and one
/// extra group under [`EVENTS_READ_KEY`] counts the events read, in the same pass. Largest
/// first, ties by key; that extra group always sorts first (no group is larger, and it is the
/// smallest key), hence one group more than the filter's limit.
pub(crate) fn metadata_keys(filter: &Filter, sample: SampleRows) -> Statement {
    let mut statement = Statement::new(format!(
        "SELECT arrayJoin(arrayPushFront(arrayMap(key -> concat('{SAMPLED_KEY_PREFIX}', key), \
         metadata_keys), '{EVENTS_READ_KEY}')) AS group_key, count() AS hits \
         FROM (SELECT metadata_keys FROM {LOGS_TABLE}"
    ));
    statement
        .where_all(filter_conditions(filter))
        .push(" LIMIT ?)")
        .number_value(sample.get())
        .push(" GROUP BY group_key ORDER BY hits DESC, group_key ASC LIMIT ?")
        .number_value(u64::from(filter.limit().get()) + 1);
    statement
}

/// Events per value of the metadata `key` among the first `sample` matching events that have
/// it, with the events read under [`EVENTS_READ_KEY`], as [`metadata_keys`] does.
pub(crate) fn metadata_values(filter: &Filter, key: &str, sample: SampleRows) -> Statement {
    let mut conditions = filter_conditions(filter);
    conditions.add_prewhere("has(metadata_keys, ?)", [Value::Text(key.to_owned())]);
    let mut statement = Statement::new(format!(
        "SELECT arrayJoin(['{EVENTS_READ_KEY}', concat('{SAMPLED_KEY_PREFIX}', \
         metadata_values[indexOf(metadata_keys, ?)])]) AS group_key, count() AS hits \
         FROM (SELECT metadata_keys, metadata_values FROM {LOGS_TABLE}"
    ));
    statement
        .text_value(key)
        .where_all(conditions)
        .push(" LIMIT ?)")
        .number_value(sample.get())
        .push(" GROUP BY group_key ORDER BY hits DESC, group_key ASC LIMIT ?")
        .number_value(u64::from(filter.limit().get()) + 1);
    statement
}

/// One bucket (of one level, when split) of a histogram.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Deserialize)]
pub(crate) struct BucketRow {
    pub(crate) bucket_start: u64,
    /// The level's `Enum8` number, or 0 when not split by level.
    pub(crate) level_code: i8,
    pub(crate) hits: u64,
}

/// Counts per bucket of event time (and level): `intDiv` on the nanosecond timestamp, aligned
/// to the epoch, independent of the server's time zone.
pub(crate) fn histogram(request: &HistogramRequest) -> Statement {
    let HistogramRequest {
        filter,
        interval,
        by_level,
        max_rows,
    } = request;
    let level = if *by_level {
        "toInt8(level)"
    } else {
        "toInt8(0)"
    };
    let mut statement = Statement::new(format!(
        "SELECT intDiv(timestamp, ?) * ? AS bucket_start, {level} AS level_code, count() AS hits \
         FROM {LOGS_TABLE}"
    ));
    statement
        .number_value(interval.nanos())
        .number_value(interval.nanos())
        .where_all(filter_conditions(filter))
        .push(" GROUP BY bucket_start, level_code ORDER BY bucket_start, level_code LIMIT ?")
        .number_value(u64::from(*max_rows));
    statement
}

/// Every matching row in the filter's order (no page).
pub(crate) fn export(filter: &Filter) -> Statement {
    let mut statement = Statement::new(format!("SELECT ?fields FROM {LOGS_TABLE}"));
    statement
        .where_all(filter_conditions(filter))
        .push(order_by(filter.order()));
    statement
}

/// Rows received in `window`, by `(observed_timestamp, id)`.
pub(crate) fn arrivals(window: &ArrivalWindow) -> Statement {
    let mut conditions = Conditions::default();
    conditions.add(
        "observed_timestamp >= ?",
        [Value::Number(window.received_from.unix_nanos())],
    );
    conditions.add(
        "timestamp >= ?",
        [Value::Number(window.event_time_from.unix_nanos())],
    );
    if let Some((received, id)) = window.after {
        conditions.add(
            "observed_timestamp >= ? AND (observed_timestamp > ? OR id > ?)",
            [
                Value::Number(received.unix_nanos()),
                Value::Number(received.unix_nanos()),
                Value::Text(id.to_string()),
            ],
        );
    }
    let mut statement = Statement::new(format!("SELECT ?fields FROM {LOGS_TABLE}"));
    statement
        .where_all(conditions)
        .push(" ORDER BY observed_timestamp ASC, id ASC LIMIT ?")
        .number_value(u64::from(window.max));
    statement
}

#[cfg(test)]
mod tests {
    use domain::HistogramInterval;
    use domain::{Cursor, EventId, FilterDraft, LogEvent, Timestamp};

    use super::*;

    fn filter(draft: FilterDraft) -> Filter {
        Filter::from_draft(draft).unwrap()
    }

    fn bound(statement: &Statement) -> String {
        let client = Client::default().with_validation(false);
        statement.query(&client).sql_display().to_string()
    }

    fn event_at(nanos: u64) -> LogEvent {
        application::testing::sample_event(
            "svc",
            domain::Level::Info,
            "m",
            Timestamp::from_unix_nanos(nanos),
        )
    }

    #[test]
    fn the_default_filter_reads_the_keys_of_the_newest_page() {
        assert_eq!(
            bound(&page_keys(&Filter::default())),
            "SELECT timestamp, id FROM logs ORDER BY timestamp DESC, id DESC LIMIT 100 OFFSET 0"
        );
    }

    #[test]
    fn every_condition_is_a_placeholder_filled_with_an_escaped_literal() {
        let filter = filter(FilterDraft {
            services: vec!["auth".into(), r"x' OR 1=1 --\".into()],
            levels: vec!["error".into(), "warn".into()],
            min_level: Some("error".into()),
            q: Some(r#"100% "it's a_b" back\slash ?"#.into()),
            metadata: vec![("user'id".into(), r"4\2".into())],
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            from: Some("2026-05-05T10:00:00Z".into()),
            to: Some("2026-05-05T11:00:00Z".into()),
            limit: Some("10".into()),
            offset: Some("20".into()),
            order: Some("asc".into()),
            ..FilterDraft::default()
        });
        let statement = page_keys(&filter);
        assert_eq!(
            statement.text,
            "SELECT timestamp, id FROM logs PREWHERE has(metadata_values, ?) \
             WHERE service IN (?, ?) AND level IN (?) \
             AND timestamp >= ? AND timestamp < ? AND trace_id = ? \
             AND has(metadata_keys, ?) AND metadata_values[indexOf(metadata_keys, ?)] = ? \
             AND positionCaseInsensitiveUTF8(message, ?) > 0 \
             AND positionCaseInsensitiveUTF8(message, ?) > 0 \
             AND positionCaseInsensitiveUTF8(message, ?) > 0 \
             AND positionCaseInsensitiveUTF8(message, ?) > 0 \
             ORDER BY timestamp ASC, id ASC LIMIT ? OFFSET ?"
        );
        assert_eq!(
            bound(&statement),
            r"SELECT timestamp, id FROM logs PREWHERE has(metadata_values, '4\\2') WHERE service IN ('auth', 'x\' OR 1=1 --\\') AND level IN ('ERROR') AND timestamp >= 1777975200000000000 AND timestamp < 1777978800000000000 AND trace_id = '4bf92f3577b34da6a3ce929d0e0e4736' AND has(metadata_keys, 'user\'id') AND metadata_values[indexOf(metadata_keys, 'user\'id')] = '4\\2' AND positionCaseInsensitiveUTF8(message, '100%') > 0 AND positionCaseInsensitiveUTF8(message, 'it\'s a_b') > 0 AND positionCaseInsensitiveUTF8(message, 'back\\slash') > 0 AND positionCaseInsensitiveUTF8(message, '?') > 0 ORDER BY timestamp ASC, id ASC LIMIT 10 OFFSET 20"
        );
        // Counts, histograms and exports share the conditions.
        let page_sql = bound(&statement);
        let conditions = page_sql
            .trim_start_matches("SELECT timestamp, id FROM logs")
            .trim_end_matches(" ORDER BY timestamp ASC, id ASC LIMIT 10 OFFSET 20");
        assert_eq!(
            bound(&export(&filter)),
            format!("SELECT ?fields FROM logs{conditions} ORDER BY timestamp ASC, id ASC")
        );
    }

    #[test]
    fn levels_outside_min_level_select_nothing() {
        let filter = filter(FilterDraft {
            levels: vec!["info".into()],
            min_level: Some("error".into()),
            ..FilterDraft::default()
        });
        assert_eq!(
            bound(&count_by(&filter, GroupBy::Level)),
            "SELECT toString(level) AS group_key, count() AS hits, sum(length(message)) AS bytes \
             FROM logs WHERE 0 GROUP BY group_key ORDER BY hits DESC, group_key ASC LIMIT 100"
        );
    }

    #[test]
    fn a_cursor_continues_strictly_after_its_key_in_its_order() {
        let last = event_at(1_777_975_200_000_000_000);
        let id = last.id().to_string();
        for (order, expected) in [
            (
                SortOrder::Descending,
                format!(
                    "WHERE timestamp <= 1777975200000000000 AND (timestamp < 1777975200000000000 \
                     OR id < '{id}') ORDER BY timestamp DESC, id DESC LIMIT 100 OFFSET 0"
                ),
            ),
            (
                SortOrder::Ascending,
                format!(
                    "WHERE timestamp >= 1777975200000000000 AND (timestamp > 1777975200000000000 \
                     OR id > '{id}') ORDER BY timestamp ASC, id ASC LIMIT 100 OFFSET 0"
                ),
            ),
        ] {
            let filter = filter(FilterDraft {
                cursor: Some(Cursor::after(&last, order).encode()),
                ..FilterDraft::default()
            });
            let sql = bound(&page_keys(&filter));
            assert!(sql.ends_with(&expected), "{sql}");
        }
    }

    #[test]
    fn rows_are_fetched_by_id_within_the_time_span_of_the_page() {
        let keys = [
            PageKey {
                timestamp: 20,
                id: "b".into(),
            },
            PageKey {
                timestamp: 10,
                id: "a'".into(),
            },
        ];
        assert_eq!(
            bound(&rows_by_keys(&keys, SortOrder::Descending)),
            "SELECT ?fields FROM logs PREWHERE id IN ('b', 'a\\'') WHERE timestamp >= 10 \
             AND timestamp <= 20 ORDER BY timestamp DESC, id DESC"
        );
    }

    #[test]
    fn histograms_bucket_the_nanosecond_timestamp_and_split_by_level_number() {
        let filter = filter(FilterDraft {
            services: vec!["auth".into()],
            ..FilterDraft::default()
        });
        assert_eq!(
            bound(&histogram(&HistogramRequest {
                filter,
                interval: HistogramInterval::FiveMinutes,
                by_level: true,
                max_rows: 7,
            })),
            "SELECT intDiv(timestamp, 300000000000) * 300000000000 AS bucket_start, \
             toInt8(level) AS level_code, count() AS hits FROM logs WHERE service IN ('auth') \
             GROUP BY bucket_start, level_code ORDER BY bucket_start, level_code LIMIT 7"
        );
    }

    #[test]
    fn metadata_counts_read_a_bounded_sample_and_count_it_under_the_empty_key() {
        let filter = filter(FilterDraft {
            services: vec!["auth".into()],
            limit: Some("10".into()),
            ..FilterDraft::default()
        });
        assert_eq!(
            bound(&metadata_keys(&filter, SampleRows::new(1000))),
            "SELECT arrayJoin(arrayPushFront(arrayMap(key -> concat('v', key), metadata_keys), \
             '')) AS group_key, count() AS hits FROM (SELECT metadata_keys FROM logs \
             WHERE service IN ('auth') LIMIT 1000) GROUP BY group_key \
             ORDER BY hits DESC, group_key ASC LIMIT 11"
        );
        assert_eq!(
            bound(&metadata_values(&filter, "user'id", SampleRows::new(1000))),
            "SELECT arrayJoin(['', concat('v', metadata_values[indexOf(metadata_keys, \
             'user\\'id')])]) AS group_key, count() AS hits FROM (SELECT metadata_keys, \
             metadata_values FROM logs PREWHERE has(metadata_keys, 'user\\'id') \
             WHERE service IN ('auth') LIMIT 1000) GROUP BY group_key \
             ORDER BY hits DESC, group_key ASC LIMIT 11"
        );
    }

    #[test]
    fn arrivals_follow_receive_time_then_id_after_the_position() {
        let id = EventId::generate();
        let window = ArrivalWindow {
            received_from: Timestamp::from_unix_nanos(100),
            after: Some((Timestamp::from_unix_nanos(150), id)),
            event_time_from: Timestamp::from_unix_nanos(50),
            max: 500,
        };
        assert_eq!(
            bound(&arrivals(&window)),
            format!(
                "SELECT ?fields FROM logs WHERE observed_timestamp >= 100 AND timestamp >= 50 \
                 AND observed_timestamp >= 150 AND (observed_timestamp > 150 OR id > '{id}') \
                 ORDER BY observed_timestamp ASC, id ASC LIMIT 500"
            )
        );
    }
}

#[cfg(test)]
mod stored_ids_tests {
    use domain::{Level, Timestamp};

    use super::*;

    #[test]
    fn the_look_up_before_a_retry_is_bounded_by_the_batch_services_levels_and_time_span() {
        let at = |nanos: u64| Timestamp::from_unix_nanos(1_777_975_200_000_000_000 + nanos);
        let events = [
            application::testing::sample_event("b", Level::Warn, "m", at(300)),
            application::testing::sample_event("a", Level::Info, "m", at(100)),
            application::testing::sample_event("a", Level::Warn, "m", at(200)),
        ];
        let statement = stored_ids(&events);
        let client = Client::default().with_validation(false);
        let ids: Vec<String> = events.iter().map(|e| format!("'{}'", e.id())).collect();

        assert_eq!(
            statement.query(&client).sql_display().to_string(),
            format!(
                "SELECT id FROM logs PREWHERE id IN ({}) WHERE service IN ('a', 'b') \
                 AND level IN ('INFO', 'WARN') AND timestamp >= 1777975200000000100 \
                 AND timestamp <= 1777975200000000300",
                ids.join(", ")
            )
        );
    }
}

/// Not a test of its own: `infra/check-current-clickhouse.sh` runs it to write every statement
/// shape (bound, `?fields` expanded) to `$STATEMENTS_OUT`, then runs them on ClickHouse 18.16
/// and on current ClickHouse and compares the answers.
#[cfg(test)]
mod statements_for_other_versions {
    use application::ports::{MetricRequest, SeriesSplit};
    use domain::{
        Cursor, EventId, FilterDraft, HistogramInterval, Level, MetricKind, MetricSpec,
        RangeFunction, SeriesGrouping, StepGrid, Timestamp,
    };

    use super::*;
    use crate::metric::metric_windows;

    /// Steps every 7 minutes over the first 6 hours of the check's day, windows of 10 minutes
    /// (no multiple of the step), of the logs `filter` selects.
    fn metric_request(
        filter: &Filter,
        function: RangeFunction,
        grouping: SeriesGrouping,
        split: SeriesSplit,
    ) -> MetricRequest {
        let day = 1_777_939_200_000_000_000;
        let minute = 60_000_000_000;
        let grid = StepGrid::range(
            Timestamp::from_unix_nanos(day + 10 * minute),
            Timestamp::from_unix_nanos(day + 360 * minute),
            7 * minute,
        )
        .unwrap();
        let spec = MetricSpec::new(
            filter.clone(),
            function,
            10 * minute,
            grid,
            grouping,
            MetricKind::Range,
        )
        .unwrap();
        MetricRequest {
            spec,
            split,
            max_rows: 100_000,
        }
    }

    const FIELDS: &str = "`timestamp`,`observed_timestamp`,`id`,`trace_id`,`span_id`,`service`,\
                          `level`,`message`,`metadata_keys`,`metadata_values`";

    #[test]
    #[ignore = "run by infra/check-current-clickhouse.sh"]
    fn write_every_statement_shape() {
        let Ok(path) = std::env::var("STATEMENTS_OUT") else {
            return;
        };
        let last = application::testing::sample_event(
            "auth",
            Level::Error,
            "m",
            Timestamp::from_unix_nanos(1_777_975_260_000_000_000),
        );
        let every_condition = Filter::from_draft(FilterDraft {
            services: vec!["auth".into(), "billing".into()],
            levels: vec!["error".into(), "warn".into()],
            min_level: Some("warn".into()),
            q: Some(r#"db "connection FAILED""#.into()),
            metadata: vec![("user_id".into(), "42".into())],
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            from: Some("2026-05-05T00:00:00Z".into()),
            to: Some("2026-05-06T00:00:00Z".into()),
            cursor: Some(Cursor::after(&last, SortOrder::Descending).encode()),
            ..FilterDraft::default()
        })
        .unwrap();
        let oldest_first = Filter::from_draft(FilterDraft {
            order: Some("asc".into()),
            offset: Some("1".into()),
            ..FilterDraft::default()
        })
        .unwrap();
        let no_level = Filter::from_draft(FilterDraft {
            levels: vec!["info".into()],
            min_level: Some("error".into()),
            ..FilterDraft::default()
        })
        .unwrap();
        let field = |name: &str, op: domain::FieldOp, value: &str| {
            domain::FieldCondition::new(FieldName::parse(name).unwrap(), op, value).unwrap()
        };
        let pattern = |source: &str| {
            domain::Pattern::new(source, domain::Anchoring::AnyPart, "line").unwrap()
        };
        let logql_conditions = Filter::from_draft(FilterDraft {
            field_conditions: vec![
                field("service", FieldOp::Matches, "(?i)AUTH|bill.*"),
                field("level", FieldOp::NotEqual, "TRACE"),
                field("metadata.region", FieldOp::NotMatches, "eu"),
                field("metadata.absent", FieldOp::Equal, ""),
                field("metadata.user_id", FieldOp::Greater, "40"),
                field("metadata.user_id", FieldOp::LessOrEqual, "60.5"),
            ],
            line_conditions: vec![
                LineCondition::Contains("connection".into()),
                LineCondition::NotContains("#1".into()),
                LineCondition::Matches(pattern("(?i)^db .* #\\d+5$")),
                LineCondition::NotMatches(pattern("hard|ОШИБКА")),
            ],
            ..FilterDraft::default()
        })
        .unwrap();
        let parsed = |parser: domain::LineParser, key: &str| {
            FieldName::Parsed(domain::ParsedLabel::new(parser, key).unwrap())
        };
        let parsed_condition = |parser, key: &str, op, value: &str| {
            domain::FieldCondition::new(parsed(parser, key), op, value).unwrap()
        };
        let json_labels = Filter::from_draft(FilterDraft {
            field_conditions: vec![
                parsed_condition(
                    domain::LineParser::Json,
                    "status",
                    FieldOp::GreaterOrEqual,
                    "502",
                ),
                parsed_condition(
                    domain::LineParser::Json,
                    "path",
                    FieldOp::Matches,
                    "/api/[12]",
                ),
                parsed_condition(domain::LineParser::Json, "ok", FieldOp::Equal, "false"),
            ],
            ..FilterDraft::default()
        })
        .unwrap();
        let logfmt_labels = Filter::from_draft(FilterDraft {
            field_conditions: vec![
                parsed_condition(domain::LineParser::Logfmt, "status", FieldOp::Less, "202"),
                parsed_condition(domain::LineParser::Logfmt, "msg", FieldOp::Equal, "db down"),
                // A metadata entry of the label's name wins over the message.
                parsed_condition(domain::LineParser::Logfmt, "region", FieldOp::Equal, "eu"),
            ],
            ..FilterDraft::default()
        })
        .unwrap();
        let billing_trace = Filter::from_draft(FilterDraft {
            services: vec!["billing".into()],
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            ..FilterDraft::default()
        })
        .unwrap();
        let keys = [PageKey {
            timestamp: 1_777_941_000_000_000_000,
            id: "019df0a1-0000-7000-8000-000000000001".into(),
        }];
        let window = ArrivalWindow {
            received_from: Timestamp::from_unix_nanos(1_777_941_000_000_000_000),
            after: Some((
                Timestamp::from_unix_nanos(1_777_941_000_500_000_000),
                EventId::parse("019df0a1-0000-7000-8000-000000000001").unwrap(),
            )),
            event_time_from: Timestamp::from_unix_nanos(0),
            max: 10,
        };
        let statements = [
            ("page_keys", page_keys(&every_condition)),
            ("page_keys_oldest_first", page_keys(&oldest_first)),
            ("page_keys_logql_conditions", page_keys(&logql_conditions)),
            (
                "count_by_logql_conditions",
                count_by(&logql_conditions, GroupBy::Service),
            ),
            ("rows_by_keys", rows_by_keys(&keys, SortOrder::Descending)),
            ("count_by_level", count_by(&every_condition, GroupBy::Level)),
            (
                "count_by_service_none",
                count_by(&no_level, GroupBy::Service),
            ),
            (
                "histogram_by_level",
                histogram(&HistogramRequest {
                    filter: Filter::default(),
                    interval: HistogramInterval::FiveMinutes,
                    by_level: true,
                    max_rows: 100,
                }),
            ),
            (
                "histogram",
                histogram(&HistogramRequest {
                    filter: every_condition.clone(),
                    interval: HistogramInterval::OneDay,
                    by_level: false,
                    max_rows: 100,
                }),
            ),
            ("export", export(&every_condition)),
            (
                "metadata_keys",
                metadata_keys(&every_condition, SampleRows::new(1000)),
            ),
            // Two crafted events match, both with only `user_id=42`: reading one of them answers
            // the same on every version, whichever it is.
            (
                "metadata_keys_sampled",
                metadata_keys(&billing_trace, SampleRows::new(1)),
            ),
            (
                "metadata_values",
                metadata_values(&every_condition, "user_id", SampleRows::new(1000)),
            ),
            (
                "metadata_values_sampled",
                metadata_values(&billing_trace, "user_id", SampleRows::new(1)),
            ),
            ("arrivals", arrivals(&window)),
            (
                "metric_windows_streams",
                metric_windows(&metric_request(
                    &logql_conditions,
                    RangeFunction::CountOverTime,
                    SeriesGrouping::Streams,
                    SeriesSplit::Streams,
                )),
            ),
            (
                "metric_windows_by_labels",
                metric_windows(&metric_request(
                    &Filter::default(),
                    RangeFunction::BytesOverTime,
                    SeriesGrouping::Sum(Vec::new()),
                    SeriesSplit::Labels(vec![
                        FieldName::Level,
                        FieldName::Service,
                        FieldName::Metadata("user_id".into()),
                    ]),
                )),
            ),
            ("page_keys_json_labels", page_keys(&json_labels)),
            ("page_keys_logfmt_labels", page_keys(&logfmt_labels)),
            (
                "metric_windows_by_parsed_labels",
                metric_windows(&metric_request(
                    &Filter::default(),
                    RangeFunction::CountOverTime,
                    SeriesGrouping::Sum(Vec::new()),
                    SeriesSplit::Labels(vec![
                        parsed(domain::LineParser::Json, "status"),
                        parsed(domain::LineParser::Logfmt, "took"),
                    ]),
                )),
            ),
            (
                "metric_windows_one_series",
                metric_windows(&metric_request(
                    &every_condition,
                    RangeFunction::Rate,
                    SeriesGrouping::Sum(Vec::new()),
                    SeriesSplit::Labels(Vec::new()),
                )),
            ),
            (
                "stored_ids",
                stored_ids(&[
                    last.clone(),
                    application::testing::sample_event(
                        "billing",
                        Level::Warn,
                        "n",
                        Timestamp::from_unix_nanos(1_777_941_000_000_000_000),
                    ),
                ]),
            ),
        ];
        let client = Client::default().with_validation(false);
        let lines: String = statements
            .iter()
            .map(|(name, statement)| {
                let sql = statement.query(&client).sql_display().to_string();
                format!("{name}\t{}\n", sql.replace("?fields", FIELDS))
            })
            .collect();
        std::fs::write(path, lines).unwrap();
    }
}
