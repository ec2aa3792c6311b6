//! Text search in messages: how the `q` parameter is read and what a match is.
//!
//! `q` is a list of terms separated by white space; every term must occur in the message,
//! ignoring case. Double quotes group words into one phrase term (`"connection refused"`);
//! `\"` stands for a literal double quote and `\\` for a literal backslash. Every other
//! character, a backslash before any other character, `%`, `_` and single quotes included, is
//! matched literally.

use crate::limits::{SEARCH_MAX_CHARS, SEARCH_MAX_TERMS};
use crate::{ValidationError, ValidationReason};

/// A validated text search: at least one term, every term non-empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSearch {
    /// The terms as the client wrote them (quotes removed).
    terms: Vec<String>,
    /// The same terms with their case folded by [`fold_case`], for matching.
    folded: Vec<String>,
}

impl TextSearch {
    /// Reads a `q` parameter. Blank text means no search (`None`). Errors name `q`: an unclosed
    /// double quote, more than [`SEARCH_MAX_CHARS`] characters or more than [`SEARCH_MAX_TERMS`]
    /// terms.
    pub fn parse(text: &str) -> Result<Option<Self>, ValidationError> {
        if text.chars().count() > SEARCH_MAX_CHARS {
            return Err(ValidationError::new(
                "q",
                ValidationReason::TooLong {
                    max: SEARCH_MAX_CHARS,
                    unit: "characters",
                },
            ));
        }
        let terms = split_terms(text)?;
        if terms.len() > SEARCH_MAX_TERMS {
            return Err(ValidationError::new(
                "q",
                ValidationReason::OutOfRange(format!("must have at most {SEARCH_MAX_TERMS} terms")),
            ));
        }
        if terms.is_empty() {
            return Ok(None);
        }
        let folded = terms.iter().map(|term| fold_case(term)).collect();
        Ok(Some(Self { terms, folded }))
    }

    /// The terms, each of which must occur in a matching message.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Whether every term occurs in `message`, ignoring case.
    pub fn matches(&self, message: &str) -> bool {
        let message = fold_case(message);
        self.folded
            .iter()
            .all(|term| message.contains(term.as_str()))
    }
}

/// Folds case one character at a time: a character becomes its lower case form when that is
/// one character of the same UTF-8 length, and stays as it is otherwise. So every letter of
/// Latin, Greek, Cyrillic, Armenian, ... with a simple case pair folds, while the few special
/// ones compare exactly: `İ` (whose lower case is two characters), `ẞ` (whose lower case `ß` is
/// shorter). This is the comparison ClickHouse's `positionCaseInsensitiveUTF8` makes on stored
/// messages, apart from rare signs such as the Kelvin sign `K`, which it folds to `k`.
pub fn fold_case(text: &str) -> String {
    text.chars()
        .map(|character| {
            let mut lower = character.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(single), None) if single.len_utf8() == character.len_utf8() => single,
                _ => character,
            }
        })
        .collect()
}

fn split_terms(text: &str) -> Result<Vec<String>, ValidationError> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut in_phrase = false;
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '\\' if matches!(characters.peek(), Some('"' | '\\')) => {
                current.extend(characters.next());
            }
            '"' => in_phrase = !in_phrase,
            blank if blank.is_whitespace() && !in_phrase => {
                if !current.is_empty() {
                    terms.push(std::mem::take(&mut current));
                }
            }
            other => current.push(other),
        }
    }
    if in_phrase {
        return Err(ValidationError::new(
            "q",
            ValidationReason::InvalidFormat(
                "words and \"quoted phrases\" with every double quote closed (\\\" for a literal one)",
            ),
        ));
    }
    if !current.is_empty() {
        terms.push(current);
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        TextSearch::parse(text)
            .unwrap()
            .map(|search| search.terms().to_vec())
            .unwrap_or_default()
    }

    #[test]
    fn words_are_separate_terms_and_quoted_phrases_keep_their_spaces() {
        assert_eq!(terms("db  failed"), ["db", "failed"]);
        assert_eq!(
            terms(r#"timeout "connection refused" x"#),
            ["timeout", "connection refused", "x"]
        );
        assert_eq!(terms(r#"say"hi there""#), ["sayhi there"]);
        assert_eq!(terms(r#"a "" b"#), ["a", "b"]);
    }

    #[test]
    fn backslash_escapes_a_quote_or_a_backslash_and_other_characters_are_literal() {
        assert_eq!(terms(r#"\"quoted\""#), [r#""quoted""#]);
        assert_eq!(
            terms(r"C:\temp 100% a_b it's trailing\"),
            [r"C:\temp", "100%", "a_b", "it's", r"trailing\"]
        );
        assert_eq!(terms(r#""ends in \\" x\\y"#), [r"ends in \", r"x\y"]);
    }

    #[test]
    fn blank_text_means_no_search() {
        assert_eq!(TextSearch::parse("").unwrap(), None);
        assert_eq!(TextSearch::parse("   \t").unwrap(), None);
        assert_eq!(TextSearch::parse(r#""""#).unwrap(), None);
    }

    #[test]
    fn an_unclosed_quote_too_many_terms_or_too_long_text_is_rejected_naming_q() {
        let too_many = vec!["w"; SEARCH_MAX_TERMS + 1].join(" ");
        let too_long = "a".repeat(SEARCH_MAX_CHARS + 1);
        for text in [r#"open "phrase"#, too_many.as_str(), too_long.as_str()] {
            let error = TextSearch::parse(text).unwrap_err();
            assert_eq!(error.field(), "q", "{text}: {error}");
        }
        assert!(TextSearch::parse(&"é".repeat(SEARCH_MAX_CHARS)).is_ok());
    }

    #[test]
    fn every_term_must_occur_in_the_message_ignoring_case() {
        let search = TextSearch::parse(r#"DB "connection FAILED""#)
            .unwrap()
            .unwrap();
        assert!(search.matches("db Connection failed after 3 retries"));
        assert!(!search.matches("db connection refused"));
        assert!(!search.matches("connection failed"));
    }

    #[test]
    fn case_is_folded_in_every_script_with_simple_case_pairs() {
        let search = TextSearch::parse("ünïcödé ошибка σφάλμα straße")
            .unwrap()
            .unwrap();
        assert!(search.matches("ÜNÏCÖDÉ ОШИБКА ΣΦΆΛΜΑ STRAßE"));
    }

    #[test]
    fn letters_whose_lower_case_is_longer_or_shorter_compare_exactly() {
        assert_eq!(fold_case("İx"), "İx");
        assert_eq!(fold_case("STRAẞE"), "straẞe");
        assert_eq!(fold_case("ıI"), "ıi");
    }

    #[test]
    fn wildcard_characters_match_only_themselves() {
        let search = TextSearch::parse("100% a_b").unwrap().unwrap();
        assert!(search.matches("at 100% for a_b"));
        assert!(!search.matches("at 1000 for aXb"));
    }
}
