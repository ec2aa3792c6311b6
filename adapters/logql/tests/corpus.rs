//! The corpus of real-world LogQL (`corpus.txt`): each query is accepted, or refused with an
//! error naming the part; and every accepted query is LogQL by Grafana's own grammar
//! (`@grafana/lezer-logql`, installed by `infra/test.sh` into `$LOGQL_GRAMMAR_DIR`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

enum Expected {
    Accept,
    /// Valid LogQL outside the subset; the error must name the part.
    Refuse(String),
    /// Not valid LogQL; the error must say why.
    Invalid(String),
}

fn corpus() -> Vec<(Expected, String)> {
    let text = include_str!("corpus.txt");
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut parts = line.splitn(3, '\t');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("accept"), Some(query), None) => (Expected::Accept, query.to_owned()),
                (Some("refuse"), Some(part), Some(query)) => {
                    (Expected::Refuse(part.to_owned()), query.to_owned())
                }
                (Some("invalid"), Some(part), Some(query)) => {
                    (Expected::Invalid(part.to_owned()), query.to_owned())
                }
                _ => panic!("bad corpus line: {line:?}"),
            }
        })
        .collect()
}

#[test]
fn every_query_of_the_corpus_is_accepted_or_refused_naming_the_part() {
    let corpus = corpus();
    assert!(corpus.len() >= 100, "only {} queries", corpus.len());
    let mut wrong = Vec::new();
    for (expected, query) in &corpus {
        let part = match expected {
            Expected::Accept => None,
            Expected::Refuse(part) | Expected::Invalid(part) => Some(part.as_str()),
        };
        match (part, logql::parse(query)) {
            (None, Ok(_)) => {}
            (Some(part), Err(error)) if error.message.contains(part) => {}
            (None, Err(error)) => {
                wrong.push(format!("{query}\n  refused: {}", error.message));
            }
            (Some(part), Ok(parsed)) => {
                wrong.push(format!(
                    "{query}\n  accepted ({parsed:?}), expected refusal with {part:?}"
                ));
            }
            (Some(part), Err(error)) => wrong.push(format!(
                "{query}\n  refused with {:?}, which does not name {part:?}",
                error.message
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn unsupported_constructs_are_told_apart_from_syntax_errors() {
    for (expected, query) in corpus() {
        let unsupported = match expected {
            Expected::Accept => continue,
            Expected::Refuse(_) => true,
            Expected::Invalid(_) => false,
        };
        let error = logql::parse(&query).unwrap_err();
        assert_eq!(error.unsupported, unsupported, "{query}: {}", error.message);
    }
}

/// What the grammar refuses, of `queries`: runs the check script with node.
fn refused_by_grafana_grammar(queries: &[&str]) -> Vec<String> {
    let dir = PathBuf::from(std::env::var("LOGQL_GRAMMAR_DIR").expect(
        "LOGQL_GRAMMAR_DIR is not set: run through infra/test.sh, which installs \
         @grafana/lezer-logql (tests/logql) and sets it",
    ));
    let input = std::env::temp_dir().join(format!("logql-corpus-{}.json", std::process::id()));
    std::fs::write(&input, serde_json::to_string(queries).unwrap()).unwrap();
    let output = Command::new("node")
        .arg(dir.join("check.mjs"))
        .arg(&input)
        .current_dir(&dir)
        .output()
        .expect("node runs");
    std::fs::remove_file(&input).ok();
    assert!(
        output.status.success(),
        "check.mjs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let refused: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    refused
        .iter()
        .map(|entry| format!("{} (at {})", entry["query"], entry["at"]))
        .collect()
}

#[test]
fn everything_the_parser_accepts_is_logql_by_grafanas_grammar() {
    let corpus = corpus();
    let accepted: Vec<&str> = corpus
        .iter()
        .filter(|(_, query)| logql::parse(query).is_ok())
        .map(|(_, query)| query.as_str())
        .collect();
    assert!(accepted.len() >= 50, "only {} accepted", accepted.len());
    let refused = refused_by_grafana_grammar(&accepted);
    assert!(
        refused.is_empty(),
        "accepted here, not LogQL for Grafana:\n{}",
        refused.join("\n")
    );

    // Refused as outside the subset: valid LogQL for Grafana. Refused as syntax errors: not.
    let unsupported: Vec<&str> = corpus
        .iter()
        .filter(|(_, query)| logql::parse(query).is_err_and(|error| error.unsupported))
        .map(|(_, query)| query.as_str())
        .collect();
    assert!(
        unsupported.len() >= 40,
        "only {} unsupported",
        unsupported.len()
    );
    let refused = refused_by_grafana_grammar(&unsupported);
    assert!(
        refused.is_empty(),
        "called unsupported here, yet not LogQL:\n{}",
        refused.join("\n")
    );
    let syntax_errors: Vec<&str> = corpus
        .iter()
        .filter(
            |(expected, _)| matches!(expected, Expected::Invalid(part) if part == "parse error"),
        )
        .map(|(_, query)| query.as_str())
        .collect();
    let refused = refused_by_grafana_grammar(&syntax_errors);
    let accepted_by_grammar: Vec<&&str> = syntax_errors
        .iter()
        .filter(|query| {
            !refused
                .iter()
                .any(|entry| entry.starts_with(&serde_json::to_string(query).unwrap()))
        })
        .collect();
    assert!(
        accepted_by_grammar.is_empty(),
        "syntax errors here, LogQL for Grafana: {accepted_by_grammar:?}"
    );

    // The grammar check itself can fail: it refuses what is not LogQL.
    let broken = [
        "{app=\"x\"",
        "sum by (level (count_over_time({a=\"b\"}[1m]))",
    ];
    assert_eq!(refused_by_grafana_grammar(&broken).len(), broken.len());
}
