//! The bulk body: NDJSON action lines, each `index` and `create` (and `update`) followed by its
//! source line, `delete` alone. Read the way Elasticsearch reads it: an unreadable action line
//! refuses the whole request, an unreadable source line only its own item.

use serde_json::{Map, Value};

/// The actions this service performs; the others are answered per item with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Index,
    Create,
    /// `update` or `delete`: logs are appended, never changed.
    Unsupported(&'static str),
}

impl Action {
    /// The action's name, the key of its item in the answer.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Index => "index",
            Self::Create => "create",
            Self::Unsupported(name) => name,
        }
    }
}

/// One action of the body, with its source when it has one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BulkItem {
    pub(crate) action: Action,
    /// The action's `_index`, else the one in the path (`/{index}/_bulk`).
    pub(crate) index: Option<String>,
    pub(crate) id: Option<String>,
    /// The document, or why its line is not a JSON object (`index`/`create` only).
    pub(crate) source: Result<Map<String, Value>, String>,
}

/// Why the whole body was refused (Elasticsearch answers these with 400 and no item).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BulkError {
    #[error(
        "Malformed action/metadata line [{line}], expected one of [create, delete, index, update] but found [{found}]"
    )]
    UnknownAction { line: usize, found: String },
    #[error("Malformed action/metadata line [{line}]: {reason}")]
    MalformedAction { line: usize, reason: String },
    #[error("line [{line}]: the `{action}` action has no source line after it")]
    MissingSource { line: usize, action: &'static str },
    #[error("the bulk request holds no action")]
    Empty,
}

impl BulkError {
    /// The Elasticsearch error type of the answer.
    pub(crate) fn error_type(&self) -> &'static str {
        match self {
            Self::UnknownAction { .. } | Self::MissingSource { .. } => "illegal_argument_exception",
            Self::MalformedAction { .. } => "x_content_parse_exception",
            Self::Empty => "action_request_validation_exception",
        }
    }
}

/// Splits a bulk body into items. `path_index` is the `{index}` of `/{index}/_bulk`.
pub(crate) fn parse_bulk(
    body: &[u8],
    path_index: Option<&str>,
) -> Result<Vec<BulkItem>, BulkError> {
    let mut lines = body
        .split(|byte| *byte == b'\n')
        .enumerate()
        .map(|(number, line)| (number + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace));
    let mut items = Vec::new();
    while let Some((number, line)) = lines.next() {
        let (action, metadata) = action_line(number, line)?;
        let index = metadata_text(&metadata, "_index").or_else(|| path_index.map(str::to_owned));
        let id = metadata_text(&metadata, "_id");
        let source = match action {
            Action::Unsupported("delete") => Err(String::new()),
            _ => {
                let (_, source) = lines.next().ok_or(BulkError::MissingSource {
                    line: number,
                    action: action.name(),
                })?;
                source_document(source)
            }
        };
        items.push(BulkItem {
            action,
            index,
            id,
            source,
        });
    }
    if items.is_empty() {
        return Err(BulkError::Empty);
    }
    Ok(items)
}

/// `{"<action>": {<metadata>}}`.
fn action_line(number: usize, line: &[u8]) -> Result<(Action, Map<String, Value>), BulkError> {
    let malformed = |reason: String| BulkError::MalformedAction {
        line: number,
        reason,
    };
    let object: Map<String, Value> = serde_json::from_slice(line)
        .map_err(|error| malformed(format!("not a JSON object: {error}")))?;
    let mut entries = object.into_iter();
    let (Some((name, metadata)), None) = (entries.next(), entries.next()) else {
        return Err(malformed(
            "expected an object with exactly one action".into(),
        ));
    };
    let action = match name.as_str() {
        "index" => Action::Index,
        "create" => Action::Create,
        "update" => Action::Unsupported("update"),
        "delete" => Action::Unsupported("delete"),
        _ => {
            return Err(BulkError::UnknownAction {
                line: number,
                found: name,
            });
        }
    };
    match metadata {
        Value::Object(metadata) => Ok((action, metadata)),
        _ => Err(malformed(format!(
            "the `{name}` action's value must be an object"
        ))),
    }
}

fn metadata_text(metadata: &Map<String, Value>, key: &str) -> Option<String> {
    match metadata.get(key)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn source_document(line: &[u8]) -> Result<Map<String, Value>, String> {
    serde_json::from_slice::<Map<String, Value>>(line)
        .map_err(|error| format!("the source is not a JSON object: {error}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn items(body: &str, path_index: Option<&str>) -> Vec<BulkItem> {
        parse_bulk(body.as_bytes(), path_index).unwrap()
    }

    #[test]
    fn index_and_create_actions_take_the_next_line_as_their_source() {
        let parsed = items(
            "{\"index\":{\"_index\":\"logs-a\",\"_id\":\"1\"}}\n{\"message\":\"a\"}\n\
             {\"create\":{}}\r\n{\"message\":\"b\"}\r\n\n",
            Some("from-path"),
        );
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].action, Action::Index);
        assert_eq!(parsed[0].index.as_deref(), Some("logs-a"));
        assert_eq!(parsed[0].id.as_deref(), Some("1"));
        assert_eq!(parsed[0].source.as_ref().unwrap()["message"], json!("a"));
        assert_eq!(parsed[1].action, Action::Create);
        assert_eq!(parsed[1].index.as_deref(), Some("from-path"));
        assert_eq!(parsed[1].id, None);
    }

    #[test]
    fn delete_has_no_source_line_and_update_skips_its_own() {
        let parsed = items(
            "{\"delete\":{\"_id\":\"1\"}}\n{\"update\":{\"_id\":\"2\"}}\n{\"doc\":{}}\n\
             {\"index\":{}}\n{\"message\":\"kept\"}\n",
            Some("i"),
        );
        let actions: Vec<Action> = parsed.iter().map(|item| item.action).collect();
        assert_eq!(
            actions,
            [
                Action::Unsupported("delete"),
                Action::Unsupported("update"),
                Action::Index
            ]
        );
        assert_eq!(parsed[2].source.as_ref().unwrap()["message"], json!("kept"));
    }

    #[test]
    fn a_source_that_is_not_a_json_object_fails_only_its_item() {
        let parsed = items(
            "{\"index\":{}}\n{\"message\": oops}\n{\"index\":{}}\n[1,2]\n{\"index\":{}}\n\
             {\"message\":\"fine\"}\n",
            Some("i"),
        );
        assert!(
            parsed[0]
                .source
                .as_ref()
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(parsed[1].source.is_err());
        assert!(parsed[2].source.is_ok());
    }

    #[test]
    fn invalid_utf8_in_a_source_fails_only_its_item() {
        let mut body = b"{\"index\":{}}\n{\"message\":\"caf".to_vec();
        body.extend(b"\xE9\"}\n{\"index\":{}}\n{\"message\":\"ok\"}\n");
        let parsed = parse_bulk(&body, Some("i")).unwrap();
        assert!(parsed[0].source.is_err());
        assert!(parsed[1].source.is_ok());
    }

    #[test]
    fn unreadable_action_lines_and_missing_sources_refuse_the_whole_body() {
        for (body, expected) in [
            (
                "{\"upsert\":{}}\n{}\n",
                "expected one of [create, delete, index, update] but found [upsert]",
            ),
            (
                "not json\n",
                "Malformed action/metadata line [1]: not a JSON object",
            ),
            ("{\"index\":{},\"create\":{}}\n{}\n", "exactly one action"),
            ("{\"index\":\"x\"}\n{}\n", "must be an object"),
            (
                "{\"index\":{}}\n{\"message\":\"a\"}\n{\"create\":{}}\n",
                "line [3]: the `create` action has no source line",
            ),
            ("\n\n", "holds no action"),
        ] {
            let error = parse_bulk(body.as_bytes(), None).unwrap_err().to_string();
            assert!(error.contains(expected), "{body:?}: {error}");
        }
    }

    #[test]
    fn an_action_line_taken_as_a_source_shifts_the_rest_like_elasticsearch_does() {
        // The second action becomes the first one's source; the first document then reads
        // as an action line and refuses the body.
        let error = parse_bulk(
            b"{\"index\":{}}\n{\"index\":{}}\n{\"message\":\"a\"}\n",
            Some("i"),
        )
        .unwrap_err();
        assert_eq!(
            error,
            BulkError::UnknownAction {
                line: 3,
                found: "message".into()
            }
        );
    }
}
