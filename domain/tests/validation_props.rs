//! Property tests of event validation (`LogEventDraft` -> `LogEvent`): arbitrary drafts never
//! panic, whatever validates obeys every field limit of `domain::limits`, each limit holds at its
//! exact boundary (at the limit accepted, one over refused, naming the field), and timestamps
//! keep their instant in every accepted shape.
//!
//! Proptest's default 256 cases per property (fewer for the large bodies); a failure's seed is
//! saved under `domain/proptest-regressions/` and committed, so it is replayed on every run.

use std::collections::BTreeMap;

use domain::limits::{
    MAX_FUTURE_SKEW_NANOS, MESSAGE_MAX_BYTES, METADATA_KEY_MAX_CHARS, METADATA_MAX_ENTRIES,
    METADATA_VALUE_MAX_BYTES, SERVICE_MAX_CHARS,
};
use domain::{
    LogEvent, LogEventDraft, Timestamp, TimestampInput, TraceId, ValidationError, ValidationReason,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

/// 2026-05-05T10:00:00Z
const RECEIVED: Timestamp = Timestamp::from_unix_nanos(1_777_975_200_000_000_000);

fn validate(draft: LogEventDraft) -> Result<LogEvent, ValidationError> {
    LogEvent::from_draft(draft, RECEIVED, TraceId::generate())
}

/// A valid draft to break one field of.
fn base() -> LogEventDraft {
    LogEventDraft {
        service: "api".into(),
        level: "INFO".into(),
        message: "m".into(),
        ..LogEventDraft::default()
    }
}

/// Short text of any characters, with a bias towards what validation looks at: white space,
/// control characters, hex digits, level names, digits.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?s).{0,24}",
        "[ \t\r\n\u{0}\u{7f}\u{85}\u{a0}\u{2028}]{0,4}",
        "[0-9a-fA-F]{14,34}",
        "-?[0-9]{1,22}(\\.[0-9]{1,4})?",
        prop::sample::select(
            &[
                "INFO",
                "warning",
                "Panic",
                "LOUD",
                "",
                "2026-05-05T10:00:00Z"
            ][..]
        )
        .prop_map(String::from),
    ]
}

fn timestamp_input() -> impl Strategy<Value = TimestampInput> {
    prop_oneof![
        text().prop_map(TimestampInput::Text),
        any::<i128>().prop_map(TimestampInput::Integer),
        any::<i64>().prop_map(|value| TimestampInput::Integer(value.into())),
        any::<f64>().prop_map(TimestampInput::Float),
    ]
}

fn any_draft() -> impl Strategy<Value = LogEventDraft> {
    (
        text(),
        text(),
        text(),
        btree_map(text(), text(), 0..4),
        option::of(timestamp_input()),
        option::of(text()),
        option::of(text()),
    )
        .prop_map(
            |(service, level, message, metadata, timestamp, trace_id, span_id)| LogEventDraft {
                service,
                level,
                message,
                metadata,
                timestamp,
                trace_id,
                span_id,
            },
        )
}

/// The fields validation may name.
fn is_known_field(field: &str) -> bool {
    matches!(
        field,
        "service" | "level" | "message" | "metadata" | "timestamp" | "trace_id" | "span_id"
    ) || field.starts_with("metadata.")
}

/// `count` characters none of which is white space or a control character.
fn visible_chars(count: usize) -> impl Strategy<Value = String> {
    vec("[^\\p{Cc}\\s]", count).prop_map(|chars| chars.concat())
}

/// Text of exactly `bytes` bytes of UTF-8, not blank (multi-byte characters, then ASCII padding).
fn text_of_bytes(bytes: usize) -> impl Strategy<Value = String> {
    "[^\\s]{1,8}".prop_map(move |start| {
        let mut text = start;
        while text.len() > bytes {
            text.pop();
        }
        let padding = bytes - text.len();
        text.push_str(&"x".repeat(padding));
        text
    })
}

fn assert_refused(result: Result<LogEvent, ValidationError>, field: &str) {
    match result {
        Ok(event) => panic!("expected {field} to be refused, got {event:?}"),
        Err(error) => assert_eq!(error.field(), field, "{error}"),
    }
}

proptest! {
    #[test]
    fn arbitrary_drafts_never_panic_and_what_validates_is_within_the_limits(draft in any_draft()) {
        match validate(draft.clone()) {
            Ok(event) => {
                let service = event.service().as_str();
                prop_assert!((1..=SERVICE_MAX_CHARS).contains(&service.chars().count()));
                prop_assert_eq!(service, draft.service.trim());
                prop_assert!(!service.chars().any(char::is_control));
                prop_assert_eq!(event.message().as_str(), draft.message.as_str());
                prop_assert!(event.message().as_str().len() <= MESSAGE_MAX_BYTES);
                prop_assert!(!event.message().as_str().trim().is_empty());
                prop_assert!(event.metadata().len() <= METADATA_MAX_ENTRIES);
                for (key, value) in event.metadata().iter() {
                    prop_assert!((1..=METADATA_KEY_MAX_CHARS).contains(&key.chars().count()));
                    prop_assert!(!key.chars().any(char::is_control));
                    prop_assert!(value.len() <= METADATA_VALUE_MAX_BYTES);
                    prop_assert_eq!(Some(value), draft.metadata.get(key).map(String::as_str));
                }
                prop_assert!(event.timestamp() <= RECEIVED.saturating_add_nanos(MAX_FUTURE_SKEW_NANOS));
                prop_assert_eq!(event.observed_timestamp(), RECEIVED);
                if let Some(span) = event.span_id() {
                    prop_assert_eq!(
                        Some(span.to_string()),
                        draft.span_id.map(|text| text.trim().to_ascii_lowercase())
                    );
                }
            }
            Err(error) => {
                prop_assert!(is_known_field(error.field()), "unknown field in {}", error);
                // The message names the field, then says why.
                let message = error.to_string();
                prop_assert!(message.starts_with(error.field()), "{}", message);
                prop_assert!(message.len() > error.field().len() + 1, "{}", message);
            }
        }
    }

    #[test]
    fn a_service_name_of_the_maximum_length_passes_and_one_more_character_is_refused(
        name in visible_chars(SERVICE_MAX_CHARS + 1),
        padding in "[ \t]{0,3}",
    ) {
        let at_limit: String = name.chars().take(SERVICE_MAX_CHARS).collect();
        let event = validate(LogEventDraft {
            service: format!("{padding}{at_limit}{padding}"),
            ..base()
        })
        .unwrap_or_else(|error| panic!("{error}"));
        prop_assert_eq!(event.service().as_str(), at_limit.as_str());
        let refused = validate(LogEventDraft { service: name, ..base() });
        prop_assert_eq!(
            refused.map(|_| ()).map_err(|error| (error.field().to_owned(), error.reason().clone())),
            Err(("service".to_owned(), ValidationReason::TooLong { max: SERVICE_MAX_CHARS, unit: "characters" }))
        );
    }

    #[test]
    fn metadata_keys_of_the_maximum_length_pass_and_longer_ones_are_refused(
        key in visible_chars(METADATA_KEY_MAX_CHARS + 1),
    ) {
        let at_limit: String = key.chars().take(METADATA_KEY_MAX_CHARS).collect();
        let draft = |key: String| LogEventDraft {
            metadata: BTreeMap::from([(key, "v".to_owned())]),
            ..base()
        };
        let event = validate(draft(at_limit.clone())).unwrap_or_else(|error| panic!("{error}"));
        prop_assert_eq!(event.metadata().get(&at_limit), Some("v"));
        assert_refused(validate(draft(key)), "metadata");
    }

    #[test]
    fn metadata_entries_up_to_the_maximum_pass_and_more_are_refused(extra in 0usize..3, fewer in 0usize..3) {
        let count = METADATA_MAX_ENTRIES + extra - fewer;
        let metadata: BTreeMap<String, String> =
            (0..count).map(|n| (format!("k{n}"), n.to_string())).collect();
        let result = validate(LogEventDraft { metadata, ..base() });
        if count > METADATA_MAX_ENTRIES {
            assert_refused(result, "metadata");
        } else {
            prop_assert_eq!(result.map(|event| event.metadata().len()).ok(), Some(count));
        }
    }

    #[test]
    fn control_characters_in_service_names_and_metadata_keys_are_refused(
        before in visible_chars(3),
        control in "\\p{Cc}",
        after in visible_chars(3),
    ) {
        let with_control = format!("{before}{control}{after}");
        assert_refused(validate(LogEventDraft { service: with_control.clone(), ..base() }), "service");
        assert_refused(
            validate(LogEventDraft {
                metadata: BTreeMap::from([(with_control, "v".to_owned())]),
                ..base()
            }),
            "metadata",
        );
    }

    #[test]
    fn epoch_numbers_in_every_unit_keep_their_instant(
        nanos in 0u64..=1_777_975_200_000_000_000,
        unit in 0u32..4,
        as_text in any::<bool>(),
    ) {
        // Seconds, milliseconds, microseconds, nanoseconds; values in a unit's own range only
        // (the unit is told by the magnitude).
        let per_unit = 10u64.pow(9 - 3 * unit);
        let smallest = [0u64, 100_000_000_000, 100_000_000_000_000, 100_000_000_000_000_000][unit as usize];
        let value = (nanos / per_unit).max(smallest);
        let input = if as_text {
            TimestampInput::Text(value.to_string())
        } else {
            TimestampInput::Integer(value.into())
        };
        let event = validate(LogEventDraft { timestamp: Some(input), ..base() })
            .unwrap_or_else(|error| panic!("{error}"));
        prop_assert_eq!(event.timestamp().unix_nanos(), value * per_unit);
    }

    #[test]
    fn rfc3339_text_keeps_its_instant(nanos in 0u64..=1_777_975_200_000_000_000) {
        let text = Timestamp::from_unix_nanos(nanos).to_rfc3339();
        let parsed = Timestamp::parse_rfc3339(&text, "timestamp").unwrap_or_else(|error| panic!("{error}"));
        prop_assert_eq!(parsed.unix_nanos(), nanos);
    }

    #[test]
    fn timestamps_up_to_24_hours_ahead_pass_and_later_ones_are_refused(ahead in 0u64..=2 * MAX_FUTURE_SKEW_NANOS) {
        let at = RECEIVED.saturating_add_nanos(ahead).unix_nanos();
        let result = validate(LogEventDraft {
            timestamp: Some(TimestampInput::Integer(at.into())),
            ..base()
        });
        if ahead > MAX_FUTURE_SKEW_NANOS {
            assert_refused(result, "timestamp");
        } else {
            prop_assert_eq!(result.map(|event| event.timestamp().unix_nanos()).ok(), Some(at));
        }
    }
}

/// `cases` cases, unless `PROPTEST_CASES` asks for a number of its own (a longer search).
fn fewer_cases(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        default
    } else {
        ProptestConfig { cases, ..default }
    }
}

// Large values: fewer cases.
proptest! {
    #![proptest_config(fewer_cases(32))]

    #[test]
    fn a_message_of_the_maximum_size_passes_and_one_byte_more_is_refused(
        at_limit in text_of_bytes(MESSAGE_MAX_BYTES),
    ) {
        let event = validate(LogEventDraft { message: at_limit.clone(), ..base() })
            .unwrap_or_else(|error| panic!("{error}"));
        prop_assert_eq!(event.message().as_str().len(), MESSAGE_MAX_BYTES);
        assert_refused(
            validate(LogEventDraft { message: format!("{at_limit}x"), ..base() }),
            "message",
        );
    }

    #[test]
    fn a_metadata_value_of_the_maximum_size_passes_and_one_byte_more_is_refused(
        at_limit in text_of_bytes(METADATA_VALUE_MAX_BYTES),
        key in visible_chars(5),
    ) {
        let draft = |value: String| LogEventDraft {
            metadata: BTreeMap::from([(key.clone(), value)]),
            ..base()
        };
        let event = validate(draft(at_limit.clone())).unwrap_or_else(|error| panic!("{error}"));
        prop_assert_eq!(event.metadata().get(&key).map(str::len), Some(METADATA_VALUE_MAX_BYTES));
        assert_refused(validate(draft(format!("{at_limit}x"))), &format!("metadata.{key}"));
    }
}
