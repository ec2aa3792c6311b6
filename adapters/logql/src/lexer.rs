//! Splits a LogQL query into tokens: names, strings (`"..."` with Go escapes, `` `...` `` raw),
//! numbers, durations (`5m`, `1h30m`) and operators. Every token keeps the column where it
//! starts, for error messages.

use crate::LogqlError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Name(String),
    Text(String),
    Number(f64),
    /// A duration in nanoseconds, as written (`5m`).
    Duration(u64, String),
    Symbol(&'static str),
}

impl Token {
    /// How the token reads in an error message.
    pub(super) fn describe(&self) -> String {
        match self {
            Token::Name(name) => format!("`{name}`"),
            Token::Text(text) => format!("the string {text:?}"),
            Token::Number(number) => format!("the number {number}"),
            Token::Duration(_, text) => format!("the duration {text}"),
            Token::Symbol(symbol) => format!("`{symbol}`"),
        }
    }
}

/// Longest first, so that `|=` is not read as `|` then `=`.
const SYMBOLS: [&str; 28] = [
    "|=", "|~", "!=", "!~", "=~", "==", ">=", "<=", "|>", "!>", "{", "}", "(", ")", "[", "]", ",",
    "|", "=", ">", "<", "+", "-", "*", "/", "%", "^", ":",
];

const UNITS: [(&str, u64); 9] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

/// The tokens of `query`, each with its 1-based column.
pub(super) fn tokens(query: &str) -> Result<Vec<(Token, usize)>, LogqlError> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let column = at + 1;
        if c.is_whitespace() {
            at += 1;
        } else if c == '#' {
            // A comment runs to the end of the line.
            while at < chars.len() && chars[at] != '\n' {
                at += 1;
            }
        } else if c == '"' {
            let (text, next) = quoted(&chars, at)?;
            tokens.push((Token::Text(text), column));
            at = next;
        } else if c == '`' {
            let end = chars[at + 1..]
                .iter()
                .position(|&c| c == '`')
                .ok_or_else(|| LogqlError::syntax(column, "a raw string is not closed"))?;
            let text: String = chars[at + 1..at + 1 + end].iter().collect();
            tokens.push((Token::Text(text), column));
            at += end + 2;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(at + 1).is_some_and(char::is_ascii_digit))
        {
            let (token, next) = number_or_duration(&chars, at)?;
            tokens.push((token, column));
            at = next;
        } else if c.is_alphabetic() || c == '_' {
            let start = at;
            while at < chars.len() && (chars[at].is_alphanumeric() || chars[at] == '_') {
                at += 1;
            }
            tokens.push((Token::Name(chars[start..at].iter().collect()), column));
        } else if let Some(symbol) = SYMBOLS.iter().find(|symbol| {
            symbol
                .chars()
                .enumerate()
                .all(|(offset, expected)| chars.get(at + offset) == Some(&expected))
        }) {
            tokens.push((Token::Symbol(symbol), column));
            at += symbol.chars().count();
        } else {
            return Err(LogqlError::syntax(
                column,
                format!("unexpected character {c:?}"),
            ));
        }
    }
    Ok(tokens)
}

/// A double-quoted string starting at `start`, with Go's escapes; answers the text and the
/// index after the closing quote.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize), LogqlError> {
    let mut text = String::new();
    let mut at = start + 1;
    while let Some(&c) = chars.get(at) {
        match c {
            '"' => return Ok((text, at + 1)),
            '\\' => {
                let escaped = chars
                    .get(at + 1)
                    .copied()
                    .ok_or_else(|| LogqlError::syntax(start + 1, "a string ends in a backslash"))?;
                at += 2;
                match escaped {
                    'n' => text.push('\n'),
                    't' => text.push('\t'),
                    'r' => text.push('\r'),
                    'a' => text.push('\u{7}'),
                    'b' => text.push('\u{8}'),
                    'f' => text.push('\u{c}'),
                    'v' => text.push('\u{b}'),
                    '\\' | '"' | '\'' => text.push(escaped),
                    'x' | 'u' | 'U' => {
                        let width = match escaped {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let digits: String =
                            chars.get(at..at + width).unwrap_or(&[]).iter().collect();
                        let decoded = u32::from_str_radix(&digits, 16)
                            .ok()
                            .filter(|_| digits.len() == width)
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                LogqlError::syntax(
                                    at,
                                    format!("invalid escape \\{escaped}{digits}"),
                                )
                            })?;
                        text.push(decoded);
                        at += width;
                    }
                    other => {
                        return Err(LogqlError::syntax(
                            at - 1,
                            format!(
                                "invalid escape \\{other} in a string (write \\\\ for a backslash)"
                            ),
                        ));
                    }
                }
            }
            _ => {
                text.push(c);
                at += 1;
            }
        }
    }
    Err(LogqlError::syntax(start + 1, "a string is not closed"))
}

/// A number (`42`, `0.5`) or a duration (`5m`, `1h30m`, `250ms`) starting at `start`.
fn number_or_duration(chars: &[char], start: usize) -> Result<(Token, usize), LogqlError> {
    let mut at = start;
    while at < chars.len() && (chars[at].is_ascii_digit() || chars[at] == '.') {
        at += 1;
    }
    if !chars.get(at).is_some_and(|c| c.is_alphabetic()) {
        let text: String = chars[start..at].iter().collect();
        let number = text
            .parse()
            .map_err(|_| LogqlError::syntax(start + 1, format!("{text} is not a number")))?;
        return Ok((Token::Number(number), at));
    }
    while at < chars.len() && (chars[at].is_alphanumeric() || chars[at] == '.') {
        at += 1;
    }
    let text: String = chars[start..at].iter().collect();
    if text.to_ascii_lowercase().ends_with('b') {
        return Err(LogqlError::unsupported(format!("byte sizes ({text})")));
    }
    let nanos = duration_nanos(&text)
        .ok_or_else(|| LogqlError::syntax(start + 1, format!("{text} is not a duration")))?;
    Ok((Token::Duration(nanos, text.clone()), at))
}

/// `1h30m` -> nanoseconds: whole numbers each followed by a unit.
pub fn duration_nanos(text: &str) -> Option<u64> {
    let mut rest = text;
    let mut total: u64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let value: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, nanos) = UNITS
            .iter()
            .filter(|(unit, _)| rest.starts_with(unit))
            .max_by_key(|(unit, _)| unit.len())?;
        rest = &rest[unit.len()..];
        total = total.checked_add(value.checked_mul(*nanos)?)?;
    }
    Some(total)
}
