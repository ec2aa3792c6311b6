//! From OTLP log records to [`LogEventDraft`]s: the mapping the README documents under
//! "OpenTelemetry (OTLP/HTTP)", for OTLP/HTTP and OTLP/gRPC alike. It decides nothing about
//! validity: the use case validates each draft with the domain's rules, and a record that fails
//! them is rejected on its own.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use domain::{Level, LogEventDraft, Timestamp, TimestampInput};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::Value as Json;

/// The service of records whose resource has no `service.name`, as the OpenTelemetry SDKs
/// name such a service.
pub const UNKNOWN_SERVICE: &str = "unknown_service";
/// The message of a record whose body is absent or blank and that has no event name.
pub const EMPTY_BODY_MESSAGE: &str = "(empty body)";
/// Put before each resource attribute's key in the metadata.
pub const RESOURCE_PREFIX: &str = "resource.";
/// Metadata key of the instrumentation scope's name (for Python's `logging`, the logger name).
pub const SCOPE_NAME_KEY: &str = "otel.scope.name";
/// Metadata key of the instrumentation scope's version.
pub const SCOPE_VERSION_KEY: &str = "otel.scope.version";
/// Metadata key of the record's `event_name`.
pub const EVENT_NAME_KEY: &str = "otel.event_name";
/// Metadata key keeping a `severity_text` that names no level (the level then came from the
/// severity number).
pub const SEVERITY_TEXT_KEY: &str = "otel.severity_text";

/// Epoch nanoseconds from which the domain's magnitude rule reads an integer as nanoseconds
/// (10^17 ns is early 1973). Smaller times are handed over as exact RFC 3339 text instead.
const NANOS_READ_AS_NANOS: u64 = 100_000_000_000_000_000;

/// Where a log record sits in a request, in OTLP/JSON's field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPosition {
    pub resource: usize,
    pub scope: usize,
    pub record: usize,
}

impl fmt::Display for RecordPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "resourceLogs[{}].scopeLogs[{}].logRecords[{}]",
            self.resource, self.scope, self.record
        )
    }
}

/// Every log record of a request as a draft, in request order, with its position.
#[derive(Debug, Default)]
pub struct MappedRecords {
    pub drafts: Vec<LogEventDraft>,
    pub positions: Vec<RecordPosition>,
}

/// Number of log records in a request, counted before any is mapped.
pub fn record_count(request: &ExportLogsServiceRequest) -> usize {
    request
        .resource_logs
        .iter()
        .flat_map(|resource_logs| &resource_logs.scope_logs)
        .map(|scope_logs| scope_logs.log_records.len())
        .sum()
}

/// Maps every log record of `request` to a draft.
pub fn map_request(request: ExportLogsServiceRequest) -> MappedRecords {
    let mut mapped = MappedRecords {
        drafts: Vec::with_capacity(record_count(&request)),
        positions: Vec::new(),
    };
    for (resource_index, resource_logs) in request.resource_logs.into_iter().enumerate() {
        let resource_attributes = resource_logs
            .resource
            .map(|resource| resource.attributes)
            .unwrap_or_default();
        let service = service_name(&resource_attributes);
        let resource_metadata: BTreeMap<String, String> = resource_attributes
            .into_iter()
            .map(|attribute| {
                (
                    format!("{RESOURCE_PREFIX}{}", attribute.key),
                    render_attribute(attribute.value),
                )
            })
            .collect();
        for (scope_index, scope_logs) in resource_logs.scope_logs.into_iter().enumerate() {
            let scope_metadata = with_scope(resource_metadata.clone(), scope_logs.scope);
            for (record_index, record) in scope_logs.log_records.into_iter().enumerate() {
                mapped
                    .drafts
                    .push(map_record(record, &service, scope_metadata.clone()));
                mapped.positions.push(RecordPosition {
                    resource: resource_index,
                    scope: scope_index,
                    record: record_index,
                });
            }
        }
    }
    mapped
}

/// The resource's `service.name` when it has a non-blank one, else [`UNKNOWN_SERVICE`].
fn service_name(resource_attributes: &[KeyValue]) -> String {
    resource_attributes
        .iter()
        .rev()
        .find(|attribute| attribute.key == "service.name")
        .and_then(|attribute| attribute.value.as_ref()?.value.as_ref())
        .map(render_kind)
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_owned())
}

/// Adds the scope's name, version and attributes to the resource's metadata.
fn with_scope(
    mut metadata: BTreeMap<String, String>,
    scope: Option<InstrumentationScope>,
) -> BTreeMap<String, String> {
    let Some(scope) = scope else {
        return metadata;
    };
    if !scope.name.is_empty() {
        metadata.insert(SCOPE_NAME_KEY.to_owned(), scope.name);
    }
    if !scope.version.is_empty() {
        metadata.insert(SCOPE_VERSION_KEY.to_owned(), scope.version);
    }
    for attribute in scope.attributes {
        metadata.insert(attribute.key, render_attribute(attribute.value));
    }
    metadata
}

/// One record; `metadata` holds its resource's and scope's entries, which the record's own
/// attributes override.
fn map_record(
    record: LogRecord,
    service: &str,
    mut metadata: BTreeMap<String, String>,
) -> LogEventDraft {
    let level = level_of(&record.severity_text, record.severity_number);
    if !record.severity_text.trim().is_empty() && !level.from_text {
        metadata.insert(SEVERITY_TEXT_KEY.to_owned(), record.severity_text);
    }
    let message = message_of(record.body, &record.event_name);
    if !record.event_name.is_empty() {
        metadata.insert(EVENT_NAME_KEY.to_owned(), record.event_name);
    }
    for attribute in record.attributes {
        metadata.insert(attribute.key, render_attribute(attribute.value));
    }
    LogEventDraft {
        service: service.to_owned(),
        level: level.level.as_str().to_owned(),
        message,
        metadata,
        timestamp: timestamp_of(record.time_unix_nano, record.observed_time_unix_nano),
        trace_id: hex_id(&record.trace_id),
        span_id: hex_id(&record.span_id),
    }
}

/// A record's level, and whether its severity text named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MappedLevel {
    pub(crate) level: Level,
    pub(crate) from_text: bool,
}

/// The severity text when it names a level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, WARNING,
/// CRITICAL, PANIC in any case), else the severity number's range (1-4 TRACE, 5-8 DEBUG, 9-12
/// INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL), else INFO.
pub(crate) fn level_of(severity_text: &str, severity_number: i32) -> MappedLevel {
    if !severity_text.trim().is_empty()
        && let Ok(level) = Level::parse(severity_text)
    {
        return MappedLevel {
            level,
            from_text: true,
        };
    }
    let level = match severity_number {
        1..=4 => Level::Trace,
        5..=8 => Level::Debug,
        13..=16 => Level::Warn,
        17..=20 => Level::Error,
        21..=24 => Level::Fatal,
        _ => Level::Info,
    };
    MappedLevel {
        level,
        from_text: false,
    }
}

/// A string body as it is; any other body as compact JSON text; an absent or blank body as the
/// record's event name, else [`EMPTY_BODY_MESSAGE`] (a log line must not be blank).
pub(crate) fn message_of(body: Option<AnyValue>, event_name: &str) -> String {
    match body.and_then(|body| body.value) {
        Some(AnyKind::StringValue(text)) if !text.trim().is_empty() => text,
        Some(AnyKind::StringValue(_)) | None if !event_name.trim().is_empty() => {
            event_name.to_owned()
        }
        Some(AnyKind::StringValue(_)) | None => EMPTY_BODY_MESSAGE.to_owned(),
        Some(other) => render_kind(&other),
    }
}

/// An attribute value as metadata text, by the rules of `POST /ingest` metadata: strings as they
/// are, numbers and booleans as their JSON text, arrays and maps as compact JSON, bytes as base64,
/// an empty value as `null`.
pub(crate) fn render_attribute(value: Option<AnyValue>) -> String {
    match value.and_then(|value| value.value) {
        Some(AnyKind::StringValue(text)) => text,
        Some(other) => render_kind(&other),
        None => "null".to_owned(),
    }
}

fn render_kind(kind: &AnyKind) -> String {
    match kind {
        AnyKind::StringValue(text) => text.clone(),
        AnyKind::BytesValue(bytes) => BASE64.encode(bytes),
        other => kind_to_json(other).to_string(),
    }
}

/// An `AnyValue` as plain JSON: kvlists become objects, bytes base64 text, non-finite doubles
/// the text OTLP/JSON uses for them (`NaN`, `Infinity`, `-Infinity`).
fn to_json(value: &AnyValue) -> Json {
    value.value.as_ref().map_or(Json::Null, kind_to_json)
}

fn kind_to_json(kind: &AnyKind) -> Json {
    match kind {
        AnyKind::StringValue(text) => Json::String(text.clone()),
        AnyKind::BoolValue(flag) => Json::Bool(*flag),
        AnyKind::IntValue(number) => Json::from(*number),
        AnyKind::DoubleValue(number) => serde_json::Number::from_f64(*number).map_or_else(
            || Json::String(non_finite_text(*number).to_owned()),
            Json::Number,
        ),
        AnyKind::ArrayValue(array) => Json::Array(array.values.iter().map(to_json).collect()),
        AnyKind::KvlistValue(list) => Json::Object(
            list.values
                .iter()
                .map(|entry| {
                    (
                        entry.key.clone(),
                        entry.value.as_ref().map_or(Json::Null, to_json),
                    )
                })
                .collect(),
        ),
        AnyKind::BytesValue(bytes) => Json::String(BASE64.encode(bytes)),
        // A string-table index only means something in profiles; it is kept as the number.
        AnyKind::StringValueStrindex(index) => Json::from(*index),
    }
}

fn non_finite_text(number: f64) -> &'static str {
    if number.is_nan() {
        "NaN"
    } else if number.is_sign_positive() {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// `time_unix_nano`, else `observed_time_unix_nano` (0 means unset); `None` (the receive time)
/// when neither is set.
pub(crate) fn timestamp_of(
    time_unix_nano: u64,
    observed_time_unix_nano: u64,
) -> Option<TimestampInput> {
    let nanos = [time_unix_nano, observed_time_unix_nano]
        .into_iter()
        .find(|nanos| *nanos != 0)?;
    Some(if nanos >= NANOS_READ_AS_NANOS {
        TimestampInput::Integer(i128::from(nanos))
    } else {
        TimestampInput::Text(Timestamp::from_unix_nanos(nanos).to_rfc3339())
    })
}

/// A trace or span id as lowercase hex; `None` when empty or all zero (OTLP's "no id"). An id of
/// the wrong length stays as it is, for validation to reject it.
pub(crate) fn hex_id(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(|byte| *byte == 0) {
        return None;
    }
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    Some(text)
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    use super::*;

    fn string(text: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(AnyKind::StringValue(text.into())),
        })
    }

    fn value(kind: AnyKind) -> Option<AnyValue> {
        Some(AnyValue { value: Some(kind) })
    }

    fn attribute(key: &str, value: Option<AnyValue>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value,
            ..KeyValue::default()
        }
    }

    fn request(
        resource: Vec<KeyValue>,
        scope: Option<InstrumentationScope>,
        records: Vec<LogRecord>,
    ) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: resource,
                    ..Resource::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope,
                    log_records: records,
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        }
    }

    fn record(body: &str) -> LogRecord {
        LogRecord {
            body: string(body),
            ..LogRecord::default()
        }
    }

    #[test]
    fn severity_numbers_map_by_their_ranges_and_anything_else_is_info() {
        let cases = [
            (0, Level::Info),
            (1, Level::Trace),
            (4, Level::Trace),
            (5, Level::Debug),
            (8, Level::Debug),
            (9, Level::Info),
            (12, Level::Info),
            (13, Level::Warn),
            (16, Level::Warn),
            (17, Level::Error),
            (20, Level::Error),
            (21, Level::Fatal),
            (24, Level::Fatal),
            (25, Level::Info),
            (-3, Level::Info),
        ];
        for (number, expected) in cases {
            let mapped = level_of("", number);
            assert_eq!(mapped.level, expected, "severity number {number}");
            assert!(!mapped.from_text);
        }
    }

    #[test]
    fn a_severity_text_naming_a_level_wins_over_the_number() {
        for (text, expected) in [
            ("ERROR", Level::Error),
            ("warn", Level::Warn),
            ("WARNING", Level::Warn),
            ("Critical", Level::Fatal),
            (" debug ", Level::Debug),
        ] {
            let mapped = level_of(text, 9);
            assert_eq!(mapped.level, expected, "severity text {text:?}");
            assert!(mapped.from_text);
        }
    }

    #[test]
    fn an_unknown_severity_text_falls_back_to_the_number_and_is_kept_in_metadata() {
        let mapped = map_request(request(
            vec![],
            None,
            vec![LogRecord {
                severity_text: "Information".into(),
                severity_number: 10,
                ..record("hello")
            }],
        ));

        let draft = &mapped.drafts[0];
        assert_eq!(draft.level, "INFO");
        assert_eq!(draft.metadata[SEVERITY_TEXT_KEY], "Information");
    }

    #[test]
    fn a_known_severity_text_is_not_repeated_in_metadata() {
        let mapped = map_request(request(
            vec![],
            None,
            vec![LogRecord {
                severity_text: "WARN".into(),
                severity_number: 13,
                ..record("hello")
            }],
        ));

        assert_eq!(mapped.drafts[0].level, "WARN");
        assert!(!mapped.drafts[0].metadata.contains_key(SEVERITY_TEXT_KEY));
    }

    #[test]
    fn attribute_values_render_like_ingest_metadata() {
        let cases = [
            (string("plain text"), "plain text"),
            (value(AnyKind::BoolValue(true)), "true"),
            (value(AnyKind::IntValue(-42)), "-42"),
            (value(AnyKind::IntValue(i64::MAX)), "9223372036854775807"),
            (value(AnyKind::DoubleValue(1.5)), "1.5"),
            (value(AnyKind::DoubleValue(3.0)), "3.0"),
            (value(AnyKind::DoubleValue(f64::NAN)), "\"NaN\""),
            (
                value(AnyKind::BytesValue(b"\x00\x01hi".to_vec())),
                "AAFoaQ==",
            ),
            (
                value(AnyKind::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(AnyKind::StringValue("a".into())),
                        },
                        AnyValue {
                            value: Some(AnyKind::IntValue(2)),
                        },
                        AnyValue { value: None },
                    ],
                })),
                r#"["a",2,null]"#,
            ),
            (
                value(AnyKind::KvlistValue(KeyValueList {
                    values: vec![
                        attribute("b", value(AnyKind::BoolValue(false))),
                        attribute("a", value(AnyKind::DoubleValue(f64::INFINITY))),
                    ],
                })),
                r#"{"a":"Infinity","b":false}"#,
            ),
            (Some(AnyValue { value: None }), "null"),
            (None, "null"),
        ];
        for (input, expected) in cases {
            assert_eq!(render_attribute(input.clone()), expected, "{input:?}");
        }
    }

    #[test]
    fn a_string_body_is_the_message_and_other_bodies_are_compact_json() {
        assert_eq!(message_of(string("disk full"), ""), "disk full");
        assert_eq!(
            message_of(
                value(AnyKind::KvlistValue(KeyValueList {
                    values: vec![attribute("user", value(AnyKind::IntValue(7)))],
                })),
                ""
            ),
            r#"{"user":7}"#
        );
        assert_eq!(message_of(value(AnyKind::IntValue(3)), ""), "3");
    }

    #[test]
    fn an_absent_or_blank_body_becomes_the_event_name_or_the_placeholder() {
        assert_eq!(message_of(None, ""), EMPTY_BODY_MESSAGE);
        assert_eq!(message_of(string("   "), ""), EMPTY_BODY_MESSAGE);
        assert_eq!(
            message_of(Some(AnyValue { value: None }), ""),
            EMPTY_BODY_MESSAGE
        );
        assert_eq!(message_of(None, "user.login"), "user.login");
    }

    #[test]
    fn the_service_comes_from_the_resource_and_resource_attributes_are_prefixed() {
        let mapped = map_request(request(
            vec![
                attribute("service.name", string("checkout")),
                attribute("host.name", string("web-1")),
                attribute("process.pid", value(AnyKind::IntValue(4242))),
            ],
            None,
            vec![record("hello")],
        ));

        let draft = &mapped.drafts[0];
        assert_eq!(draft.service, "checkout");
        assert_eq!(draft.metadata["resource.service.name"], "checkout");
        assert_eq!(draft.metadata["resource.host.name"], "web-1");
        assert_eq!(draft.metadata["resource.process.pid"], "4242");
        assert!(!draft.metadata.contains_key("host.name"));
    }

    #[test]
    fn without_a_service_name_the_service_is_unknown_service() {
        for resource in [
            vec![],
            vec![attribute("service.name", string("  "))],
            vec![attribute("service.name", None)],
        ] {
            let mapped = map_request(request(resource, None, vec![record("hello")]));
            assert_eq!(mapped.drafts[0].service, UNKNOWN_SERVICE);
        }
        let without_resource = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![record("hello")],
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        };
        assert_eq!(
            map_request(without_resource).drafts[0].service,
            UNKNOWN_SERVICE
        );
    }

    #[test]
    fn scope_and_record_attributes_become_metadata_and_the_record_wins_a_clash() {
        let scope = InstrumentationScope {
            name: "app.payments".into(),
            version: "1.2.0".into(),
            attributes: vec![
                attribute("team", string("billing")),
                attribute("shared", string("from scope")),
            ],
            ..InstrumentationScope::default()
        };
        let mapped = map_request(request(
            vec![],
            Some(scope),
            vec![LogRecord {
                attributes: vec![
                    attribute("user_id", value(AnyKind::IntValue(42))),
                    attribute("shared", string("from record")),
                ],
                event_name: "payment.failed".into(),
                ..record("card declined")
            }],
        ));

        let metadata = &mapped.drafts[0].metadata;
        assert_eq!(metadata["team"], "billing");
        assert_eq!(metadata["user_id"], "42");
        assert_eq!(metadata["shared"], "from record");
        assert_eq!(metadata[SCOPE_NAME_KEY], "app.payments");
        assert_eq!(metadata[SCOPE_VERSION_KEY], "1.2.0");
        assert_eq!(metadata[EVENT_NAME_KEY], "payment.failed");
        assert_eq!(mapped.drafts[0].message, "card declined");
    }

    #[test]
    fn ids_are_lowercase_hex_and_empty_or_all_zero_ids_are_absent() {
        assert_eq!(
            hex_id(&[
                0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
                0xc6, 0x0c
            ])
            .as_deref(),
            Some("5b8efff798038103d269b633813fc60c")
        );
        assert_eq!(
            hex_id(&[0xee, 0xe1, 0, 0, 0, 0, 0, 0x74]).as_deref(),
            Some("eee1000000000074")
        );
        assert_eq!(hex_id(&[]), None);
        assert_eq!(hex_id(&[0; 16]), None);
        assert_eq!(hex_id(&[0; 8]), None);
        // Wrong length: kept, so that validation rejects the record rather than losing the id.
        assert_eq!(hex_id(&[1, 2, 3]).as_deref(), Some("010203"));
    }

    #[test]
    fn the_record_ids_reach_the_draft() {
        let mapped = map_request(request(
            vec![],
            None,
            vec![
                LogRecord {
                    trace_id: vec![0xab; 16],
                    span_id: vec![0xcd; 8],
                    ..record("with ids")
                },
                LogRecord {
                    trace_id: vec![0; 16],
                    span_id: vec![],
                    ..record("without")
                },
            ],
        ));

        assert_eq!(
            mapped.drafts[0].trace_id.as_deref(),
            Some("ab".repeat(16).as_str())
        );
        assert_eq!(
            mapped.drafts[0].span_id.as_deref(),
            Some("cd".repeat(8).as_str())
        );
        assert_eq!(mapped.drafts[1].trace_id, None);
        assert_eq!(mapped.drafts[1].span_id, None);
    }

    #[test]
    fn the_time_is_time_unix_nano_else_the_observed_time_else_the_receive_time() {
        let time = 1_777_975_200_123_456_789_u64;
        let observed = 1_777_975_201_000_000_000_u64;
        let read = |input: Option<TimestampInput>| {
            input.map(|input| {
                Timestamp::from_input(&input, "timestamp")
                    .unwrap()
                    .unix_nanos()
            })
        };

        assert_eq!(read(timestamp_of(time, observed)), Some(time));
        assert_eq!(read(timestamp_of(0, observed)), Some(observed));
        assert_eq!(timestamp_of(0, 0), None);
    }

    #[test]
    fn small_nanosecond_times_are_not_mistaken_for_seconds() {
        // One second after the epoch, in nanoseconds: the magnitude rule alone would read
        // 1_000_000_000 as seconds (2001).
        let input = timestamp_of(1_000_000_000, 0).unwrap();
        assert_eq!(
            Timestamp::from_input(&input, "timestamp")
                .unwrap()
                .unix_nanos(),
            1_000_000_000
        );
        let input = timestamp_of(1, 0).unwrap();
        assert_eq!(
            Timestamp::from_input(&input, "timestamp")
                .unwrap()
                .unix_nanos(),
            1
        );
    }

    #[test]
    fn records_keep_request_order_and_their_positions() {
        let mut request = request(vec![], None, vec![record("a"), record("b")]);
        request.resource_logs.push(ResourceLogs {
            scope_logs: vec![
                ScopeLogs::default(),
                ScopeLogs {
                    log_records: vec![record("c")],
                    ..ScopeLogs::default()
                },
            ],
            ..ResourceLogs::default()
        });
        assert_eq!(record_count(&request), 3);

        let mapped = map_request(request);

        let messages: Vec<&str> = mapped.drafts.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, ["a", "b", "c"]);
        assert_eq!(
            mapped.positions[2].to_string(),
            "resourceLogs[1].scopeLogs[1].logRecords[0]"
        );
    }
}
