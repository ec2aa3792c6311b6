//! An Elasticsearch document as an event draft. The document is flattened first (nested objects
//! become dotted keys: `{"log":{"level":"warn"}}` is `log.level`), then:
//!
//! | document | event |
//! |---|---|
//! | `@timestamp`, else `timestamp` | `timestamp` (RFC 3339 text or epoch number); absent: the receive time |
//! | `message`, else `log`, else `msg` | `message` (non-text values as compact JSON) |
//! | `log.level`, else `level` | `level`, any case, syslog names too (`notice` INFO, `err` ERROR, `crit`/`alert`/`emerg` FATAL, `warning` WARN); absent: INFO; other text: INFO, the text kept in metadata under its key |
//! | `service.name`, else `service` | `service`; absent: the index name |
//! | every other key | `metadata`, dotted; strings as they are, other values as JSON text (arrays as `[..]`) |
//! | the action's `_index` and `_id` | metadata `_index`, `_id` |

use std::collections::BTreeMap;

use domain::{LogEventDraft, TimestampInput};
use serde_json::{Map, Value};

/// The level of a document that names none.
pub(crate) const DEFAULT_LEVEL: &str = "INFO";

const TIMESTAMP_KEYS: [&str; 2] = ["@timestamp", "timestamp"];
const MESSAGE_KEYS: [&str; 3] = ["message", "log", "msg"];
const LEVEL_KEYS: [&str; 2] = ["log.level", "level"];
const SERVICE_KEYS: [&str; 2] = ["service.name", "service"];

/// The draft of one document of `index` (the action's or the path's).
pub(crate) fn to_draft(
    document: Map<String, Value>,
    index: Option<&str>,
    id: Option<&str>,
) -> LogEventDraft {
    let mut fields = BTreeMap::new();
    flatten(String::new(), Value::Object(document), &mut fields);
    let timestamp = take_first(&mut fields, &TIMESTAMP_KEYS).and_then(|value| match value {
        Value::String(text) => Some(TimestampInput::Text(text)),
        Value::Number(number) => Some(match number.as_i64() {
            Some(integer) => TimestampInput::Integer(i128::from(integer)),
            None => TimestampInput::Float(number.as_f64().unwrap_or(f64::NAN)),
        }),
        // Anything else is refused by validation like a bad text.
        Value::Null => None,
        other => Some(TimestampInput::Text(other.to_string())),
    });
    let message = take_first(&mut fields, &MESSAGE_KEYS)
        .map(text)
        .unwrap_or_default();
    let service = take_first(&mut fields, &SERVICE_KEYS)
        .map(text)
        .or_else(|| index.map(str::to_owned))
        .unwrap_or_default();
    let level = match LEVEL_KEYS
        .iter()
        .find_map(|key| Some((*key, fields.get(*key)?)))
    {
        None => DEFAULT_LEVEL.to_owned(),
        Some((key, value)) => match level_name(&text(value.clone())) {
            Some(level) => {
                fields.remove(key);
                level.to_owned()
            }
            // Kept in metadata under its key, so nothing the client sent is lost.
            None => DEFAULT_LEVEL.to_owned(),
        },
    };
    let mut metadata: BTreeMap<String, String> = fields
        .into_iter()
        .map(|(key, value)| (key, text(value)))
        .collect();
    if let Some(index) = index {
        metadata.insert("_index".into(), index.to_owned());
    }
    if let Some(id) = id {
        metadata.insert("_id".into(), id.to_owned());
    }
    LogEventDraft {
        service,
        level,
        message,
        metadata,
        timestamp,
        trace_id: None,
        span_id: None,
    }
}

/// Our level for a level text: ours in any case (with their aliases), or a syslog keyword.
fn level_name(text: &str) -> Option<&'static str> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "trace" => "TRACE",
        "debug" => "DEBUG",
        "info" | "information" | "informational" | "notice" => "INFO",
        "warn" | "warning" => "WARN",
        "error" | "err" => "ERROR",
        "fatal" | "critical" | "crit" | "panic" | "alert" | "emerg" | "emergency" => "FATAL",
        _ => return None,
    })
}

/// Strings as they are, everything else as compact JSON.
fn text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

fn take_first(fields: &mut BTreeMap<String, Value>, keys: &[&str]) -> Option<Value> {
    keys.iter().find_map(|key| fields.remove(*key))
}

/// Nested objects into dotted keys; arrays and scalars stay values. An empty object is kept as
/// `{}` rather than vanishing.
fn flatten(prefix: String, value: Value, into: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(object) if !object.is_empty() => {
            for (key, value) in object {
                let key = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(key, value, into);
            }
        }
        other => {
            into.insert(prefix, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn draft(document: Value, index: Option<&str>) -> LogEventDraft {
        let Value::Object(document) = document else {
            panic!("not an object")
        };
        to_draft(document, index, None)
    }

    fn metadata(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn an_ecs_document_maps_its_fields_and_flattens_the_rest() {
        let draft = draft(
            json!({
                "@timestamp": "2026-12-04T10:00:00.123Z",
                "message": "card declined",
                "log": {"level": "warn", "logger": "payments"},
                "service": {"name": "checkout", "version": "1.2"},
                "user": {"id": 42, "roles": ["admin", "ops"]},
                "ok": true,
                "nothing": null,
                "empty": {}
            }),
            Some("logs-checkout"),
        );
        assert_eq!(draft.service, "checkout");
        assert_eq!(draft.level, "WARN");
        assert_eq!(draft.message, "card declined");
        assert_eq!(
            draft.timestamp,
            Some(TimestampInput::Text("2026-12-04T10:00:00.123Z".into()))
        );
        assert_eq!(
            draft.metadata,
            metadata(&[
                ("_index", "logs-checkout"),
                ("empty", "{}"),
                ("log.logger", "payments"),
                ("nothing", "null"),
                ("ok", "true"),
                ("service.version", "1.2"),
                ("user.id", "42"),
                ("user.roles", r#"["admin","ops"]"#),
            ])
        );
    }

    #[test]
    fn plain_fields_are_the_fallbacks_and_the_index_names_the_service() {
        let draft = draft(
            json!({"timestamp": 1_777_975_200_000_i64, "log": "from docker", "level": "ERR"}),
            Some("app-logs"),
        );
        assert_eq!(draft.service, "app-logs");
        assert_eq!(draft.level, "ERROR");
        assert_eq!(draft.message, "from docker");
        assert_eq!(
            draft.timestamp,
            Some(TimestampInput::Integer(1_777_975_200_000))
        );
        assert_eq!(draft.metadata, metadata(&[("_index", "app-logs")]));
    }

    #[test]
    fn msg_is_the_last_message_fallback_and_message_wins_over_it() {
        let only_msg = draft(json!({"msg": "pino style", "service": "api"}), None);
        assert_eq!(only_msg.message, "pino style");
        let both = draft(
            json!({"message": "m", "msg": "kept", "service": "api"}),
            None,
        );
        assert_eq!(both.message, "m");
        assert_eq!(both.metadata, metadata(&[("msg", "kept")]));
    }

    #[test]
    fn an_unknown_level_is_info_and_the_text_stays_in_metadata() {
        let draft = draft(json!({"message": "m", "level": "verbose"}), Some("i"));
        assert_eq!(draft.level, DEFAULT_LEVEL);
        assert_eq!(draft.metadata["level"], "verbose");
        let draft_without = super::to_draft(Map::new(), Some("i"), Some("7"));
        assert_eq!(draft_without.level, DEFAULT_LEVEL);
        assert_eq!(draft_without.metadata["_id"], "7");
        assert_eq!(
            draft_without.message, "",
            "refused by validation, naming message"
        );
    }

    #[test]
    fn syslog_and_our_level_names_are_understood() {
        for (text, level) in [
            ("notice", "INFO"),
            ("Warning", "WARN"),
            ("crit", "FATAL"),
            ("emerg", "FATAL"),
            ("DEBUG", "DEBUG"),
            ("trace", "TRACE"),
        ] {
            assert_eq!(level_name(text), Some(level), "{text}");
        }
    }
}
