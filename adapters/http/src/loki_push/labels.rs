//! The stream labels of a protobuf push, written in Prometheus' text form:
//! `{job="api", env="prod"}`. Values are double-quoted with Go's escapes (`\"`, `\\`, `\n`, `\t`,
//! `\r`, `\uXXXX`, ...), as Loki's clients write them.

use std::collections::BTreeMap;

/// Reads a label set; the error says what is wrong and where.
pub(crate) fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut reader = Reader {
        text,
        rest: text.trim(),
    };
    reader.expect('{')?;
    let mut labels = BTreeMap::new();
    loop {
        reader.skip_spaces();
        if reader.eat('}') {
            break;
        }
        let name = reader.name()?;
        reader.skip_spaces();
        reader.expect('=')?;
        reader.skip_spaces();
        let value = reader.quoted()?;
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(reader.problem(&format!("label `{name}` appears twice")));
        }
        reader.skip_spaces();
        if reader.eat(',') {
            continue;
        }
        reader.expect('}')?;
        break;
    }
    if !reader.rest.is_empty() {
        return Err(reader.problem("unexpected text after `}`"));
    }
    Ok(labels)
}

struct Reader<'a> {
    text: &'a str,
    rest: &'a str,
}

impl<'a> Reader<'a> {
    fn problem(&self, what: &str) -> String {
        let offset = self.text.trim_start().len() - self.rest.len();
        format!("stream labels {:?}: {what} at offset {offset}", self.text)
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, expected: char) -> bool {
        match self.rest.strip_prefix(expected) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, expected: char) -> Result<(), String> {
        if self.eat(expected) {
            Ok(())
        } else {
            Err(self.problem(&format!("expected `{expected}`")))
        }
    }

    /// A label name: a letter or `_`, then letters, digits or `_`.
    fn name(&mut self) -> Result<&'a str, String> {
        let end = self
            .rest
            .char_indices()
            .find(|(index, character)| {
                !(character.is_ascii_alphabetic()
                    || *character == '_'
                    || (*index > 0 && character.is_ascii_digit()))
            })
            .map_or(self.rest.len(), |(index, _)| index);
        if end == 0 {
            return Err(self.problem("expected a label name"));
        }
        let (name, rest) = self.rest.split_at(end);
        self.rest = rest;
        Ok(name)
    }

    /// A double-quoted value with Go's escapes.
    fn quoted(&mut self) -> Result<String, String> {
        self.expect('"')?;
        let mut value = String::new();
        let mut characters = self.rest.char_indices();
        while let Some((index, character)) = characters.next() {
            match character {
                '"' => {
                    self.rest = &self.rest[index + 1..];
                    return Ok(value);
                }
                '\\' => {
                    let escaped = match characters.next().map(|(_, escaped)| escaped) {
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('\'') => '\'',
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('a') => '\u{07}',
                        Some('b') => '\u{08}',
                        Some('f') => '\u{0c}',
                        Some('v') => '\u{0b}',
                        Some(kind @ ('x' | 'u' | 'U')) => {
                            let digits = match kind {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = (0..digits)
                                .filter_map(|_| characters.next())
                                .map(|(_, c)| c)
                                .collect();
                            u32::from_str_radix(&hex, 16)
                                .ok()
                                .filter(|_| hex.len() == digits)
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.problem("a bad \\x, \\u or \\U escape"))?
                        }
                        _ => return Err(self.problem("an unknown escape in a label value")),
                    };
                    value.push(escaped);
                }
                other => value.push(other),
            }
        }
        Err(self.problem("a label value without its closing quote"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn label_sets_as_clients_write_them_are_read() {
        assert_eq!(parse_labels("{}"), Ok(labels(&[])));
        assert_eq!(
            parse_labels(r#"{job="api",env="prod"}"#),
            Ok(labels(&[("job", "api"), ("env", "prod")]))
        );
        assert_eq!(
            parse_labels(r#" { job = "a b" , _x1="" , } "#),
            Ok(labels(&[("job", "a b"), ("_x1", "")]))
        );
        assert_eq!(
            parse_labels(r#"{msg="say \"hi\"\n\\ \u00e9 é"}"#),
            Ok(labels(&[("msg", "say \"hi\"\n\\ é é")]))
        );
    }

    #[test]
    fn broken_label_sets_are_refused_with_the_place() {
        for (text, expected) in [
            ("", "expected `{`"),
            ("job=\"api\"", "expected `{`"),
            ("{job=\"api\"", "expected `}`"),
            ("{job=api}", "expected `\"`"),
            ("{1job=\"a\"}", "expected a label name"),
            ("{job=\"a}", "closing quote"),
            ("{job=\"a\\q\"}", "unknown escape"),
            ("{job=\"a\\u12\"}", "escape"),
            ("{job=\"a\",job=\"b\"}", "appears twice"),
            ("{job=\"a\"} x", "after `}`"),
        ] {
            let error = parse_labels(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
