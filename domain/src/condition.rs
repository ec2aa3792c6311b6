//! Conditions beyond the plain filter parameters, as query languages such as LogQL state them:
//! a field compared with a value or a regular expression (`{service!="api"}`,
//! `| user_id=~"4.*"`, `| duration > 10`), and a test on the message (`|= "timeout"`,
//! `!~ "debug.*"`). Regular expressions follow RE2 syntax (what ClickHouse's `match` runs);
//! a field's expression must match the whole value, a message's any part of it, as Loki does.

use std::fmt;

use regex::Regex;

use crate::limits::SEARCH_MAX_CHARS;
use crate::{FieldName, LogEvent, ValidationError, ValidationReason};

/// How a field is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Equal,
    NotEqual,
    Matches,
    NotMatches,
    /// Numeric comparisons: values that do not read as a number never match.
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

/// A field compared with a value. A metadata key an event lacks counts as an empty value, so
/// `metadata.k = ""` matches events without `k`, as a missing label does in Loki.
#[derive(Debug, Clone)]
pub struct FieldCondition {
    field: FieldName,
    op: FieldOp,
    value: String,
    compiled: Operand,
}

#[derive(Debug, Clone)]
enum Operand {
    Text,
    Pattern(Pattern),
    Number(f64),
}

impl FieldCondition {
    /// Validates the condition; errors name `field` after `name`: an invalid expression, or a
    /// numeric comparison with a value that is not a number.
    pub fn new(field: FieldName, op: FieldOp, value: &str) -> Result<Self, ValidationError> {
        let name = field.to_string();
        let compiled = match op {
            FieldOp::Equal | FieldOp::NotEqual => Operand::Text,
            FieldOp::Matches | FieldOp::NotMatches => {
                Operand::Pattern(Pattern::new(value, Anchoring::WholeValue, &name)?)
            }
            _ => Operand::Number(parse_number(value).ok_or_else(|| {
                ValidationError::new(name.clone(), ValidationReason::InvalidFormat("a number"))
            })?),
        };
        Ok(Self {
            field,
            op,
            value: value.to_owned(),
            compiled,
        })
    }

    pub fn field(&self) -> &FieldName {
        &self.field
    }

    pub fn op(&self) -> FieldOp {
        self.op
    }

    /// The value or the expression as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The expression, for [`FieldOp::Matches`] and [`FieldOp::NotMatches`].
    pub fn pattern(&self) -> Option<&Pattern> {
        match &self.compiled {
            Operand::Pattern(pattern) => Some(pattern),
            _ => None,
        }
    }

    /// The number compared with, for the numeric comparisons.
    pub fn number(&self) -> Option<f64> {
        match self.compiled {
            Operand::Number(number) => Some(number),
            _ => None,
        }
    }

    /// Whether `event` meets the condition.
    pub fn matches(&self, event: &LogEvent) -> bool {
        let actual = self.field.value_of(event).unwrap_or_default();
        match (&self.compiled, self.op) {
            (Operand::Text, FieldOp::NotEqual) => actual != self.value,
            (Operand::Text, _) => actual == self.value,
            (Operand::Pattern(pattern), FieldOp::NotMatches) => !pattern.is_match(&actual),
            (Operand::Pattern(pattern), _) => pattern.is_match(&actual),
            (Operand::Number(number), op) => parse_number(&actual).is_some_and(|actual| match op {
                FieldOp::Greater => actual > *number,
                FieldOp::GreaterOrEqual => actual >= *number,
                FieldOp::Less => actual < *number,
                _ => actual <= *number,
            }),
        }
    }
}

impl PartialEq for FieldCondition {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field && self.op == other.op && self.value == other.value
    }
}

impl Eq for FieldCondition {}

/// What a number in a field looks like: optional sign, digits, optional fraction; what the
/// store's SQL also recognises, so both agree on which values are numbers.
pub fn parse_number(text: &str) -> Option<f64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if all_digits(whole) && all_digits(fraction) {
        text.parse().ok()
    } else {
        None
    }
}

/// A test on the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineCondition {
    /// The message contains the text, case-sensitively.
    Contains(String),
    /// The message does not contain the text.
    NotContains(String),
    /// The expression matches some part of the message.
    Matches(Pattern),
    /// The expression matches no part of the message.
    NotMatches(Pattern),
}

impl LineCondition {
    /// Whether `event`'s message meets the condition.
    pub fn matches(&self, event: &LogEvent) -> bool {
        let message = event.message().as_str();
        match self {
            Self::Contains(text) => message.contains(text.as_str()),
            Self::NotContains(text) => !message.contains(text.as_str()),
            Self::Matches(pattern) => pattern.is_match(message),
            Self::NotMatches(pattern) => !pattern.is_match(message),
        }
    }
}

/// Whether an expression must match a whole value or any part of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchoring {
    WholeValue,
    AnyPart,
}

/// A regular expression in RE2 syntax, checked and compiled.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    anchoring: Anchoring,
    regex: Regex,
}

impl Pattern {
    /// Compiles `source`; errors name `field` (at most [`SEARCH_MAX_CHARS`] characters, valid
    /// syntax).
    pub fn new(source: &str, anchoring: Anchoring, field: &str) -> Result<Self, ValidationError> {
        if source.chars().count() > SEARCH_MAX_CHARS {
            return Err(ValidationError::new(
                field,
                ValidationReason::TooLong {
                    max: SEARCH_MAX_CHARS,
                    unit: "characters",
                },
            ));
        }
        let anchored = match anchoring {
            Anchoring::WholeValue => format!("^(?:{source})$"),
            Anchoring::AnyPart => source.to_owned(),
        };
        let regex = regex::RegexBuilder::new(&anchored)
            .size_limit(1 << 20)
            .build()
            .map_err(|_| {
                ValidationError::new(
                    field,
                    ValidationReason::InvalidFormat("a valid RE2 regular expression"),
                )
            })?;
        Ok(Self {
            source: source.to_owned(),
            anchoring,
            regex,
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn anchoring(&self) -> Anchoring {
        self.anchoring
    }

    /// The expression for an RE2 engine that searches anywhere in the text (ClickHouse's
    /// `match`): anchored when it must match the whole value. A leading `(?flags)` becomes a
    /// `(?flags:...)` group, which ClickHouse 18.16 needs (it fails on `(?i)abc`).
    pub fn for_search(&self) -> String {
        let (flags, rest) = leading_flags(&self.source);
        let body = match flags {
            Some(flags) => format!("(?{flags}:{rest})"),
            None => format!("(?:{rest})"),
        };
        match self.anchoring {
            Anchoring::WholeValue => format!("^{body}$"),
            Anchoring::AnyPart if flags.is_some() => body,
            Anchoring::AnyPart => self.source.clone(),
        }
    }

    /// Whether the expression matches `text` (the whole of it when anchored).
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

/// `(?i)rest` -> (`i`, `rest`); none when the expression does not start with a flag group.
fn leading_flags(source: &str) -> (Option<&str>, &str) {
    if let Some(after) = source.strip_prefix("(?")
        && let Some(end) = after.find(')')
    {
        let flags = &after[..end];
        if !flags.is_empty() && flags.bytes().all(|b| b"imsU-".contains(&b)) {
            return (Some(flags), &after[end + 1..]);
        }
    }
    (None, source)
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.anchoring == other.anchoring
    }
}

impl Eq for Pattern {}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Level, LogEventDraft, Timestamp, TraceId};

    fn event(service: &str, message: &str, metadata: &[(&str, &str)]) -> LogEvent {
        let draft = LogEventDraft {
            service: service.into(),
            level: "error".into(),
            message: message.into(),
            metadata: metadata
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            ..LogEventDraft::default()
        };
        LogEvent::from_draft(draft, Timestamp::now(), TraceId::generate()).unwrap()
    }

    fn field(name: &str, op: FieldOp, value: &str) -> FieldCondition {
        FieldCondition::new(FieldName::parse(name).unwrap(), op, value).unwrap()
    }

    #[test]
    fn field_expressions_match_the_whole_value_and_line_expressions_any_part() {
        let event = event("auth-service", "DB connection failed", &[("user", "42")]);
        assert!(field("service", FieldOp::Matches, "auth.*").matches(&event));
        assert!(!field("service", FieldOp::Matches, "auth").matches(&event));
        assert!(field("service", FieldOp::NotMatches, "auth").matches(&event));
        let line = |source: &str| {
            LineCondition::Matches(Pattern::new(source, Anchoring::AnyPart, "line").unwrap())
        };
        assert!(line("connection").matches(&event));
        assert!(line("(?i)db CONNECTION").matches(&event));
        assert!(!line("^connection").matches(&event));
        assert!(LineCondition::Contains("DB".into()).matches(&event));
        assert!(!LineCondition::Contains("db".into()).matches(&event));
        assert!(LineCondition::NotContains("db".into()).matches(&event));
        assert_eq!(event.level(), Level::Error);
        assert!(field("level", FieldOp::Equal, "ERROR").matches(&event));
    }

    #[test]
    fn a_missing_metadata_key_is_an_empty_value() {
        let event = event("auth", "m", &[("user", "42")]);
        assert!(field("metadata.absent", FieldOp::Equal, "").matches(&event));
        assert!(!field("metadata.absent", FieldOp::NotEqual, "").matches(&event));
        assert!(field("metadata.user", FieldOp::NotEqual, "").matches(&event));
        assert!(field("metadata.absent", FieldOp::Matches, ".*").matches(&event));
    }

    #[test]
    fn numeric_comparisons_match_only_values_that_are_numbers() {
        let event = event("auth", "m", &[("took", "12.5"), ("code", "5xx")]);
        assert!(field("metadata.took", FieldOp::Greater, "10").matches(&event));
        assert!(field("metadata.took", FieldOp::LessOrEqual, "12.5").matches(&event));
        assert!(!field("metadata.took", FieldOp::Less, "12.5").matches(&event));
        assert!(!field("metadata.code", FieldOp::Greater, "0").matches(&event));
        assert!(!field("metadata.absent", FieldOp::Less, "1").matches(&event));
        let error = FieldCondition::new(FieldName::Service, FieldOp::Greater, "ten").unwrap_err();
        assert_eq!(error.field(), "service");
        assert_eq!(parse_number("1e3"), None);
        assert_eq!(parse_number("-3.25"), Some(-3.25));
    }

    #[test]
    fn invalid_or_overlong_expressions_are_refused_naming_the_field() {
        for source in ["(", "a{2,1}", "(?<name"] {
            let error = Pattern::new(source, Anchoring::AnyPart, "line").unwrap_err();
            assert_eq!(error.field(), "line", "{source}");
        }
        let long = "a".repeat(SEARCH_MAX_CHARS + 1);
        assert!(Pattern::new(&long, Anchoring::AnyPart, "line").is_err());
    }

    #[test]
    fn expressions_for_a_searching_engine_are_anchored_and_keep_flags_in_a_group() {
        let pattern = |source: &str, anchoring| Pattern::new(source, anchoring, "f").unwrap();
        assert_eq!(
            pattern("a|b", Anchoring::WholeValue).for_search(),
            "^(?:a|b)$"
        );
        assert_eq!(
            pattern("(?i)err", Anchoring::WholeValue).for_search(),
            "^(?i:err)$"
        );
        assert_eq!(
            pattern("(?i)err", Anchoring::AnyPart).for_search(),
            "(?i:err)"
        );
        assert_eq!(pattern("a|b", Anchoring::AnyPart).for_search(), "a|b");
    }
}
