//! OTLP/JSON, the JSON encoding of OTLP/HTTP, read and written by hand over `serde_json::Value`.
//!
//! It is the Protobuf JSON mapping with OTLP's exceptions, which generic serde derives (including
//! the `with-serde` feature of `opentelemetry-proto`, which writes `rejectedLogRecords` as a
//! number) do not follow exactly: keys are lowerCamelCase (the original snake_case names are
//! accepted too, as Protobuf's own JSON parsers do), trace and span ids are hex rather than
//! base64, 64-bit integers may be strings or numbers, enums are integers (their names are
//! accepted too), `bytesValue` is base64, doubles may be `"NaN"`, `"Infinity"` or `"-Infinity"`,
//! `null` is the default, and unknown fields are ignored. Fields the mapping does not read
//! (dropped-attribute counts, flags, schema URLs) are not decoded.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyKind;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Map, Value, json};

/// Why an OTLP/JSON body could not be read: where (`resourceLogs[0].scopeLogs[1]...`) and what
/// was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub(crate) struct JsonError {
    path: String,
    reason: String,
}

/// Reads an `ExportLogsServiceRequest` from OTLP/JSON.
pub(crate) fn decode_request(bytes: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| JsonError {
        path: "body".into(),
        reason: format!("not valid JSON: {error}"),
    })?;
    let root = Path::Root;
    let object = required_object(&value, &root)?;
    Ok(ExportLogsServiceRequest {
        resource_logs: repeated(
            object,
            Key::new("resourceLogs", "resource_logs"),
            &root,
            resource_logs,
        )?,
    })
}

/// Writes an `ExportLogsServiceResponse` as OTLP/JSON: `{}` when everything was accepted.
pub(crate) fn encode_response(response: &ExportLogsServiceResponse) -> Vec<u8> {
    let body = match &response.partial_success {
        Some(partial) => json!({
            "partialSuccess": {
                "rejectedLogRecords": partial.rejected_log_records.to_string(),
                "errorMessage": partial.error_message,
            }
        }),
        None => json!({}),
    };
    body.to_string().into_bytes()
}

/// Writes a `google.rpc.Status` as OTLP/JSON (without `details`, which we never set).
pub(crate) fn encode_status(code: i32, message: &str) -> Vec<u8> {
    json!({ "code": code, "message": message })
        .to_string()
        .into_bytes()
}

/// A JSON key: its lowerCamelCase spelling and the original field name.
#[derive(Debug, Clone, Copy)]
struct Key {
    camel: &'static str,
    snake: &'static str,
}

impl Key {
    const fn new(camel: &'static str, snake: &'static str) -> Self {
        Self { camel, snake }
    }

    /// The value under either spelling; `null` counts as absent.
    fn get(self, object: &Map<String, Value>) -> Option<&Value> {
        object
            .get(self.camel)
            .or_else(|| object.get(self.snake))
            .filter(|value| !value.is_null())
    }
}

/// Where a value sits in the body, built only to name it in an error.
#[derive(Debug, Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'static str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("body"),
            Path::Field(Path::Root, name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

fn error(path: &Path<'_>, reason: impl Into<String>) -> JsonError {
    JsonError {
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn required_object<'v>(
    value: &'v Value,
    path: &Path<'_>,
) -> Result<&'v Map<String, Value>, JsonError> {
    value
        .as_object()
        .ok_or_else(|| error(path, "expected a JSON object"))
}

/// A message field: absent or `null` is `None`.
fn optional<T>(
    object: &Map<String, Value>,
    key: Key,
    path: &Path<'_>,
    decode: fn(&Value, &Path<'_>) -> Result<T, JsonError>,
) -> Result<Option<T>, JsonError> {
    key.get(object)
        .map(|value| decode(value, &Path::Field(path, key.camel)))
        .transpose()
}

/// A repeated field: absent or `null` is empty.
fn repeated<T>(
    object: &Map<String, Value>,
    key: Key,
    path: &Path<'_>,
    decode: fn(&Value, &Path<'_>) -> Result<T, JsonError>,
) -> Result<Vec<T>, JsonError> {
    let field = Path::Field(path, key.camel);
    match key.get(object) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| decode(item, &Path::Index(&field, index)))
            .collect(),
        Some(_) => Err(error(&field, "expected a JSON array")),
    }
}

fn string(object: &Map<String, Value>, key: Key, path: &Path<'_>) -> Result<String, JsonError> {
    match key.get(object) {
        None => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(error(&Path::Field(path, key.camel), "expected a string")),
    }
}

/// A `fixed64`/`uint64`: a JSON number or a string of digits.
fn unsigned_64(object: &Map<String, Value>, key: Key, path: &Path<'_>) -> Result<u64, JsonError> {
    let parsed = match key.get(object) {
        None => return Ok(0),
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse().ok(),
        Some(_) => None,
    };
    parsed.ok_or_else(|| {
        error(
            &Path::Field(path, key.camel),
            "expected an unsigned 64-bit integer (a number or a string of digits)",
        )
    })
}

/// The `SeverityNumber` enum: an integer (or, leniently, its name).
fn severity_number(
    object: &Map<String, Value>,
    key: Key,
    path: &Path<'_>,
) -> Result<i32, JsonError> {
    let parsed = match key.get(object) {
        None => return Ok(0),
        Some(Value::Number(number)) => number.as_i64().and_then(|n| i32::try_from(n).ok()),
        Some(Value::String(text)) => text
            .trim()
            .parse()
            .ok()
            .or_else(|| SeverityNumber::from_str_name(text.trim()).map(|number| number as i32)),
        Some(_) => None,
    };
    parsed.ok_or_else(|| {
        error(
            &Path::Field(path, key.camel),
            "expected a severity number (an integer from 0 to 24)",
        )
    })
}

/// A trace or span id: hex text (OTLP/JSON's exception to base64 bytes), empty when absent.
fn hex_bytes(object: &Map<String, Value>, key: Key, path: &Path<'_>) -> Result<Vec<u8>, JsonError> {
    let text = match key.get(object) {
        None => return Ok(Vec::new()),
        Some(Value::String(text)) => text,
        Some(_) => {
            return Err(error(&Path::Field(path, key.camel), "expected hex text"));
        }
    };
    decode_hex(text).ok_or_else(|| {
        error(
            &Path::Field(path, key.camel),
            "expected hex text (an even number of hex digits)",
        )
    })
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

fn resource_logs(value: &Value, path: &Path<'_>) -> Result<ResourceLogs, JsonError> {
    let object = required_object(value, path)?;
    Ok(ResourceLogs {
        resource: optional(object, Key::new("resource", "resource"), path, resource)?,
        scope_logs: repeated(
            object,
            Key::new("scopeLogs", "scope_logs"),
            path,
            scope_logs,
        )?,
        ..ResourceLogs::default()
    })
}

fn resource(value: &Value, path: &Path<'_>) -> Result<Resource, JsonError> {
    let object = required_object(value, path)?;
    Ok(Resource {
        attributes: repeated(
            object,
            Key::new("attributes", "attributes"),
            path,
            key_value,
        )?,
        ..Resource::default()
    })
}

fn scope_logs(value: &Value, path: &Path<'_>) -> Result<ScopeLogs, JsonError> {
    let object = required_object(value, path)?;
    Ok(ScopeLogs {
        scope: optional(object, Key::new("scope", "scope"), path, scope)?,
        log_records: repeated(
            object,
            Key::new("logRecords", "log_records"),
            path,
            log_record,
        )?,
        ..ScopeLogs::default()
    })
}

fn scope(value: &Value, path: &Path<'_>) -> Result<InstrumentationScope, JsonError> {
    let object = required_object(value, path)?;
    Ok(InstrumentationScope {
        name: string(object, Key::new("name", "name"), path)?,
        version: string(object, Key::new("version", "version"), path)?,
        attributes: repeated(
            object,
            Key::new("attributes", "attributes"),
            path,
            key_value,
        )?,
        ..InstrumentationScope::default()
    })
}

fn log_record(value: &Value, path: &Path<'_>) -> Result<LogRecord, JsonError> {
    let object = required_object(value, path)?;
    Ok(LogRecord {
        time_unix_nano: unsigned_64(object, Key::new("timeUnixNano", "time_unix_nano"), path)?,
        observed_time_unix_nano: unsigned_64(
            object,
            Key::new("observedTimeUnixNano", "observed_time_unix_nano"),
            path,
        )?,
        severity_number: severity_number(
            object,
            Key::new("severityNumber", "severity_number"),
            path,
        )?,
        severity_text: string(object, Key::new("severityText", "severity_text"), path)?,
        body: optional(object, Key::new("body", "body"), path, any_value)?,
        attributes: repeated(
            object,
            Key::new("attributes", "attributes"),
            path,
            key_value,
        )?,
        trace_id: hex_bytes(object, Key::new("traceId", "trace_id"), path)?,
        span_id: hex_bytes(object, Key::new("spanId", "span_id"), path)?,
        event_name: string(object, Key::new("eventName", "event_name"), path)?,
        ..LogRecord::default()
    })
}

fn key_value(value: &Value, path: &Path<'_>) -> Result<KeyValue, JsonError> {
    let object = required_object(value, path)?;
    Ok(KeyValue {
        key: string(object, Key::new("key", "key"), path)?,
        value: optional(object, Key::new("value", "value"), path, any_value)?,
        ..KeyValue::default()
    })
}

/// `AnyValue`: an object with one of `stringValue`, `boolValue`, `intValue`, `doubleValue`,
/// `arrayValue`, `kvlistValue`, `bytesValue`; none of them is the empty value.
fn any_value(value: &Value, path: &Path<'_>) -> Result<AnyValue, JsonError> {
    let object = required_object(value, path)?;
    let field = |name| Path::Field(path, name);
    let kind = if let Some(text) = Key::new("stringValue", "string_value").get(object) {
        let Value::String(text) = text else {
            return Err(error(&field("stringValue"), "expected a string"));
        };
        Some(AnyKind::StringValue(text.clone()))
    } else if let Some(flag) = Key::new("boolValue", "bool_value").get(object) {
        let flag = flag
            .as_bool()
            .ok_or_else(|| error(&field("boolValue"), "expected true or false"))?;
        Some(AnyKind::BoolValue(flag))
    } else if let Some(number) = Key::new("intValue", "int_value").get(object) {
        let parsed = match number {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        let number = parsed.ok_or_else(|| {
            error(
                &field("intValue"),
                "expected a signed 64-bit integer (a number or a string of digits)",
            )
        })?;
        Some(AnyKind::IntValue(number))
    } else if let Some(number) = Key::new("doubleValue", "double_value").get(object) {
        let parsed = match number {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => match text.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                other => other.trim().parse().ok(),
            },
            _ => None,
        };
        let number = parsed.ok_or_else(|| {
            error(
                &field("doubleValue"),
                "expected a number, \"NaN\", \"Infinity\" or \"-Infinity\"",
            )
        })?;
        Some(AnyKind::DoubleValue(number))
    } else if let Some(array) = Key::new("arrayValue", "array_value").get(object) {
        let array_path = field("arrayValue");
        let array = required_object(array, &array_path)?;
        Some(AnyKind::ArrayValue(ArrayValue {
            values: repeated(array, Key::new("values", "values"), &array_path, any_value)?,
        }))
    } else if let Some(list) = Key::new("kvlistValue", "kvlist_value").get(object) {
        let list_path = field("kvlistValue");
        let list = required_object(list, &list_path)?;
        Some(AnyKind::KvlistValue(KeyValueList {
            values: repeated(list, Key::new("values", "values"), &list_path, key_value)?,
        }))
    } else if let Some(bytes) = Key::new("bytesValue", "bytes_value").get(object) {
        let decoded = bytes
            .as_str()
            .and_then(|text| decode_base64(text.trim()))
            .ok_or_else(|| error(&field("bytesValue"), "expected base64 text"))?;
        Some(AnyKind::BytesValue(decoded))
    } else {
        None
    };
    Ok(AnyValue { value: kind })
}

/// Base64 in the standard or the URL-safe alphabet, padded or not, as Protobuf's JSON mapping
/// accepts.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&alphabet::STANDARD, config)
        .decode(text)
        .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, config).decode(text))
        .ok()
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;

    use super::*;

    /// `examples/logs.json` of the OTLP specification repository (opentelemetry-proto).
    const SPEC_EXAMPLE: &str = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
      "scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0","attributes":[{"key":"my.scope.attribute","value":{"stringValue":"some scope attribute"}}]},
      "logRecords":[{"timeUnixNano":"1544712660300000000","observedTimeUnixNano":"1544712660300000000","severityNumber":10,"severityText":"Information",
        "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","body":{"stringValue":"Example log record"},
        "attributes":[{"key":"string.attribute","value":{"stringValue":"some string"}},{"key":"boolean.attribute","value":{"boolValue":true}},
          {"key":"int.attribute","value":{"intValue":"10"}},{"key":"double.attribute","value":{"doubleValue":637.704}},
          {"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"},{"stringValue":"values"}]}}},
          {"key":"map.attribute","value":{"kvlistValue":{"values":[{"key":"some.map.key","value":{"stringValue":"some value"}}]}}}]}]}]}]}"#;

    fn first_record(request: &ExportLogsServiceRequest) -> &LogRecord {
        &request.resource_logs[0].scope_logs[0].log_records[0]
    }

    #[test]
    fn the_specification_example_decodes_field_by_field() {
        let request = decode_request(SPEC_EXAMPLE.as_bytes()).unwrap();

        let resource_logs = &request.resource_logs[0];
        let resource = resource_logs.resource.as_ref().unwrap();
        assert_eq!(resource.attributes[0].key, "service.name");
        let scope = resource_logs.scope_logs[0].scope.as_ref().unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("my.library", "1.0.0")
        );
        let record = first_record(&request);
        assert_eq!(record.time_unix_nano, 1_544_712_660_300_000_000);
        assert_eq!(record.observed_time_unix_nano, 1_544_712_660_300_000_000);
        assert_eq!(record.severity_number, 10);
        assert_eq!(record.severity_text, "Information");
        assert_eq!(
            record.trace_id,
            [
                0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
                0xc6, 0x0c
            ]
        );
        assert_eq!(
            record.span_id,
            [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
        );
        assert_eq!(
            record.body.as_ref().and_then(|body| body.value.clone()),
            Some(AnyKind::StringValue("Example log record".into()))
        );
        let kinds: Vec<Option<AnyKind>> = record
            .attributes
            .iter()
            .map(|attribute| {
                attribute
                    .value
                    .as_ref()
                    .and_then(|value| value.value.clone())
            })
            .collect();
        assert_eq!(kinds[1], Some(AnyKind::BoolValue(true)));
        assert_eq!(kinds[2], Some(AnyKind::IntValue(10)));
        assert_eq!(kinds[3], Some(AnyKind::DoubleValue(637.704)));
        assert!(matches!(&kinds[4], Some(AnyKind::ArrayValue(array)) if array.values.len() == 2));
        assert!(
            matches!(&kinds[5], Some(AnyKind::KvlistValue(list)) if list.values[0].key == "some.map.key")
        );
    }

    #[test]
    fn integers_may_be_numbers_or_strings_and_enums_numbers_or_names() {
        let body = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
            {"timeUnixNano":1544712660300000000,"severityNumber":"SEVERITY_NUMBER_WARN",
             "attributes":[{"key":"n","value":{"intValue":-7}},{"key":"d","value":{"doubleValue":"NaN"}},
                           {"key":"b","value":{"bytesValue":"AAFoaQ=="}}]}]}]}]}"#;
        let request = decode_request(body).unwrap();
        let record = first_record(&request);

        assert_eq!(record.time_unix_nano, 1_544_712_660_300_000_000);
        assert_eq!(record.severity_number, 13);
        let kinds: Vec<AnyKind> = record
            .attributes
            .iter()
            .filter_map(|attribute| attribute.value.as_ref()?.value.clone())
            .collect();
        assert_eq!(kinds[0], AnyKind::IntValue(-7));
        assert!(matches!(kinds[1], AnyKind::DoubleValue(number) if number.is_nan()));
        assert_eq!(kinds[2], AnyKind::BytesValue(b"\x00\x01hi".to_vec()));
    }

    #[test]
    fn snake_case_keys_nulls_and_unknown_fields_are_tolerated() {
        let body = br#"{"resource_logs":[{"schemaUrl":"x","unknown":{"deep":[1]},"scope_logs":[{"log_records":[
            {"time_unix_nano":"5","trace_id":"","span_id":null,"body":null,"flags":1,"futureField":true}]}]}]}"#;
        let request = decode_request(body).unwrap();
        let record = first_record(&request);

        assert_eq!(record.time_unix_nano, 5);
        assert!(record.trace_id.is_empty() && record.span_id.is_empty());
        assert_eq!(record.body, None);
    }

    #[test]
    fn an_empty_object_is_an_empty_request() {
        assert_eq!(
            decode_request(b"{}").unwrap(),
            ExportLogsServiceRequest::default()
        );
    }

    #[test]
    fn undecodable_bodies_name_the_place_of_the_problem() {
        let cases: [(&[u8], &str); 6] = [
            (b"not json", "body: not valid JSON"),
            (b"[]", "body: expected a JSON object"),
            (
                br#"{"resourceLogs":{}}"#,
                "resourceLogs: expected a JSON array",
            ),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"timeUnixNano":"soon"}]}]}]}"#,
                "resourceLogs[0].scopeLogs[0].logRecords[1].timeUnixNano: expected an unsigned",
            ),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"xyz"}]}]}]}"#,
                "resourceLogs[0].scopeLogs[0].logRecords[0].traceId: expected hex text",
            ),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"k","value":{"intValue":"1.5"}}]}]}]}]}"#,
                "resourceLogs[0].scopeLogs[0].logRecords[0].attributes[0].value.intValue: expected a signed",
            ),
        ];
        for (body, expected) in cases {
            let error = decode_request(body).unwrap_err().to_string();
            assert!(
                error.starts_with(expected),
                "{error:?} should start with {expected:?}"
            );
        }
    }

    #[test]
    fn a_response_writes_64_bit_integers_as_strings_and_omits_an_unset_partial_success() {
        assert_eq!(
            encode_response(&ExportLogsServiceResponse::default()),
            b"{}"
        );
        let partial = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 2,
                error_message: "bad".into(),
            }),
        };
        let written: Value = serde_json::from_slice(&encode_response(&partial)).unwrap();
        assert_eq!(
            written,
            json!({"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "bad"}})
        );
    }

    #[test]
    fn a_status_is_its_code_and_message() {
        let written: Value = serde_json::from_slice(&encode_status(3, "no")).unwrap();
        assert_eq!(written, json!({"code": 3, "message": "no"}));
    }
}
