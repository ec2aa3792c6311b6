//! Labels read from the message, as LogQL's `| json` and `| logfmt` stages read them, in a form
//! a store can evaluate without parsing every line: one label is the text a regular
//! expression captures (RE2 syntax, which Rust's `regex` and ClickHouse's `extract` both run),
//! so the query service's in-memory checks and the store agree on every line.
//!
//! What is read, and its limits (the README's LogQL section says the same):
//! - `json`: the first `"key": value` pair anywhere in the line whose value is a string, a number
//!   or a boolean; a string's escapes are kept as written (`\"` stays two characters); nested
//!   keys are found by their own name (no `parent_child` flattening); objects, arrays and `null`
//!   read as absent.
//! - `logfmt`: the first `key=value` or `key="quoted value"` pair that starts the line or
//!   follows a space or tab.
//!
//! An absent label reads as `""`, as a missing metadata key does.

use std::fmt;
use std::sync::Arc;

use regex::Regex;

/// Which LogQL parser stage reads labels from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineParser {
    Json,
    Logfmt,
}

impl LineParser {
    /// The stage's name in LogQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Logfmt => "logfmt",
        }
    }

    /// The pattern (RE2 syntax) whose first capture group is the first value of `key` in a
    /// line: a string with its quotes, or a bare value. [`unquote`] turns it into the value.
    pub fn pattern(self, key: &str) -> String {
        let key = regex::escape(key);
        // Spelled out rather than `\s`: Rust's `\s` is Unicode-aware, RE2's is ASCII.
        const SPACE: &str = "[ \\t\\r\\n]";
        const QUOTED: &str = r#""(?:[^"\\]|\\.)*""#;
        match self {
            Self::Json => {
                format!("\"{key}\"{SPACE}*:{SPACE}*({QUOTED}|-?[0-9][0-9.eE+-]*|true|false)")
            }
            Self::Logfmt => format!("(?:^|[ \\t]){key}=({QUOTED}|[^\" \\t\\r\\n][^ \\t\\r\\n]*)"),
        }
    }
}

/// The pattern that [`unquote`] applies, for a store to apply the same: a captured value in
/// quotes loses them (RE2 syntax; `\1` is the inside).
pub const UNQUOTE_PATTERN: &str = r#"(?s)^"(.*)"$"#;

/// A captured value without its surrounding quotes, if it has them.
pub fn unquote(captured: &str) -> &str {
    captured
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(captured)
}

impl fmt::Display for LineParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A label that a parser stage reads from the message. An event's metadata entry of the same
/// name wins over it (in LogQL a stream label wins over an extracted one of its name).
#[derive(Debug, Clone)]
pub struct ParsedLabel {
    parser: LineParser,
    key: String,
    compiled: Arc<Regex>,
}

impl ParsedLabel {
    /// The label `key` as `parser` reads it; any text is escaped. Errors only when the
    /// key is too long for a pattern (the regex size limit).
    pub fn new(parser: LineParser, key: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            parser,
            key: key.to_owned(),
            compiled: Arc::new(Regex::new(&parser.pattern(key))?),
        })
    }

    pub fn parser(&self) -> LineParser {
        self.parser
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value the parser reads from `message`; `""` when absent.
    pub fn read(&self, message: &str) -> String {
        self.compiled
            .captures(message)
            .and_then(|captures| captures.get(1))
            .map_or_else(String::new, |value| unquote(value.as_str()).to_owned())
    }
}

impl PartialEq for ParsedLabel {
    fn eq(&self, other: &Self) -> bool {
        self.parser == other.parser && self.key == other.key
    }
}

impl Eq for ParsedLabel {}

impl std::hash::Hash for ParsedLabel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parser.hash(state);
        self.key.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(key: &str, line: &str) -> String {
        ParsedLabel::new(LineParser::Json, key)
            .expect("label")
            .read(line)
    }

    fn logfmt(key: &str, line: &str) -> String {
        ParsedLabel::new(LineParser::Logfmt, key)
            .expect("label")
            .read(line)
    }

    #[test]
    fn json_reads_strings_numbers_and_booleans_with_or_without_spaces() {
        let line =
            r#"{"status": 500, "path":"/a b", "ok":false, "ratio":-1.5e3, "msg": "say \"hi\""}"#;
        assert_eq!(json("status", line), "500");
        assert_eq!(json("path", line), "/a b");
        assert_eq!(json("ok", line), "false");
        assert_eq!(json("ratio", line), "-1.5e3");
        assert_eq!(json("msg", line), r#"say \"hi\""#);
    }

    #[test]
    fn json_reads_absent_objects_and_null_as_empty() {
        let line = r#"{"user": {"id": "7"}, "gone": null, "list": [1]}"#;
        assert_eq!(json("user", line), "");
        assert_eq!(json("gone", line), "");
        assert_eq!(json("list", line), "");
        assert_eq!(json("missing", line), "");
        // A nested key is found by its own name.
        assert_eq!(json("id", line), "7");
        // Not JSON at all.
        assert_eq!(json("status", "status=500"), "");
    }

    #[test]
    fn json_takes_the_first_pair_and_does_not_match_a_longer_key() {
        assert_eq!(json("a", r#"{"ba": "x", "a": "y", "a": "z"}"#), "y");
        // The first pair whatever its kind; an object value is skipped for a later pair.
        assert_eq!(json("a", r#"{"a": 1, "b": {"a": "x"}}"#), "1");
        assert_eq!(json("a", r#"{"a": {"b": 1}, "c": {"a": 12}}"#), "12");
    }

    #[test]
    fn logfmt_reads_bare_and_quoted_values_at_word_starts_only() {
        let line = r#"ts=2024-01-01 level=info msg="took \"long\" here" duration=12ms xstatus=1 status=200"#;
        assert_eq!(logfmt("msg", line), r#"took \"long\" here"#);
        assert_eq!(logfmt("duration", line), "12ms");
        assert_eq!(logfmt("status", line), "200");
        assert_eq!(logfmt("ts", line), "2024-01-01");
        assert_eq!(logfmt("absent", line), "");
        assert_eq!(logfmt("empty", "empty= next=1"), "");
    }

    #[test]
    fn keys_are_escaped() {
        assert_eq!(json("a.b", r#"{"a.b": "1", "axb": "2"}"#), "1");
        assert_eq!(json("a.b", r#"{"axb": "2"}"#), "");
    }
}
