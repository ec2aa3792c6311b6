//! `POST /ingest` JSON read straight into each event's fields, without building a
//! `serde_json::Value` tree of the whole body first: the five text fields are taken as they are
//! parsed, known keys are matched without allocating, and only the values that need a tree
//! (`timestamp`, metadata values that are not strings, unknown top-level fields) get one. What
//! the fields become (and which error comes first) is decided afterwards by `body::into_draft`,
//! exactly as if the whole body had been read into a `Value`: the same parser meets the same
//! syntax errors at the same places, duplicate keys keep their last value, and nested values
//! are parsed (not skipped) so the parser's depth limit applies alike.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A field that must be text or null, as the client sent it.
#[derive(Debug, Default)]
pub(crate) enum TextField {
    #[default]
    Absent,
    Null,
    Text(String),
    /// A number, boolean, array or object.
    NotText,
}

/// The `metadata` field as the client sent it; entries already as stored text.
#[derive(Debug, Default)]
pub(crate) enum MetadataField {
    #[default]
    Absent,
    Null,
    Entries(BTreeMap<String, String>),
    NotObject,
}

/// One event object's fields. `rest` holds `timestamp` and every key that is not a field of an
/// event, in key order (as `serde_json::Map` keeps them).
#[derive(Debug, Default)]
pub(crate) struct EventFields {
    pub(crate) service: TextField,
    pub(crate) level: TextField,
    pub(crate) message: TextField,
    pub(crate) trace_id: TextField,
    pub(crate) span_id: TextField,
    pub(crate) metadata: MetadataField,
    pub(crate) rest: Map<String, Value>,
}

/// One element of a JSON array body, or one NDJSON line.
#[derive(Debug)]
pub(crate) enum Element {
    Event(EventFields),
    NotObject,
}

/// A whole JSON body.
#[derive(Debug)]
pub(crate) enum Document {
    Array(Vec<Element>),
    Object(EventFields),
    /// Neither an object nor an array.
    Other,
}

/// A metadata value as stored: a string as it is, anything else (numbers, booleans, null,
/// objects, arrays) as its compact JSON text.
pub(crate) fn metadata_text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// Drains the rest of an array whose elements are not kept, parsing each as a `Value`.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<Value>()?.is_some() {}
    Ok(())
}

/// Drains the rest of an object whose entries are not kept, parsing each as a `Value`.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<String, Value>()?.is_some() {}
    Ok(())
}

/// Implements the visitor methods of values that are none of the wanted kinds, answering `$other`.
macro_rules! other_kinds {
    ($other:expr, $($method:ident: $type:ty),*) => {
        $(fn $method<E: de::Error>(self, _: $type) -> Result<Self::Value, E> {
            Ok($other)
        })*
    };
}

impl<'de> Deserialize<'de> for TextField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = TextField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<TextField, E> {
                Ok(TextField::Text(text.to_owned()))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<TextField, E> {
                Ok(TextField::Text(text))
            }
            fn visit_unit<E: de::Error>(self) -> Result<TextField, E> {
                Ok(TextField::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<TextField, E> {
                Ok(TextField::Null)
            }
            other_kinds!(TextField::NotText, visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64);
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<TextField, A::Error> {
                drain_seq(seq).map(|()| TextField::NotText)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TextField, A::Error> {
                drain_map(map).map(|()| TextField::NotText)
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

impl<'de> Deserialize<'de> for MetadataField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetadataVisitor;
        impl<'de> Visitor<'de> for MetadataVisitor {
            type Value = MetadataField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<MetadataField, E> {
                Ok(MetadataField::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<MetadataField, E> {
                Ok(MetadataField::Null)
            }
            other_kinds!(MetadataField::NotObject, visit_bool: bool, visit_i64: i64, visit_u64: u64,
                visit_f64: f64, visit_str: &str);
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MetadataField, A::Error> {
                drain_seq(seq).map(|()| MetadataField::NotObject)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MetadataField, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    entries.insert(key, metadata_text(value));
                }
                Ok(MetadataField::Entries(entries))
            }
        }
        deserializer.deserialize_any(MetadataVisitor)
    }
}

/// An object key: one of the fields read as they are parsed, or any other.
enum Key {
    Service,
    Level,
    Message,
    TraceId,
    SpanId,
    Metadata,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl KeyVisitor {
            fn known(text: &str) -> Option<Key> {
                Some(match text {
                    "service" => Key::Service,
                    "level" => Key::Level,
                    "message" => Key::Message,
                    "trace_id" => Key::TraceId,
                    "span_id" => Key::SpanId,
                    "metadata" => Key::Metadata,
                    _ => return None,
                })
            }
        }
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Key, E> {
                Ok(Self::known(text).unwrap_or_else(|| Key::Other(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Key, E> {
                Ok(Self::known(&text).unwrap_or(Key::Other(text)))
            }
        }
        // As for `String`: serde_json reads object keys as strings whatever this asks for.
        deserializer.deserialize_str(KeyVisitor)
    }
}

fn read_event<'de, A: MapAccess<'de>>(mut map: A) -> Result<EventFields, A::Error> {
    let mut fields = EventFields::default();
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Service => fields.service = map.next_value()?,
            Key::Level => fields.level = map.next_value()?,
            Key::Message => fields.message = map.next_value()?,
            Key::TraceId => fields.trace_id = map.next_value()?,
            Key::SpanId => fields.span_id = map.next_value()?,
            Key::Metadata => fields.metadata = map.next_value()?,
            Key::Other(name) => {
                let value = map.next_value::<Value>()?;
                fields.rest.insert(name, value);
            }
        }
    }
    Ok(fields)
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ElementVisitor;
        impl<'de> Visitor<'de> for ElementVisitor {
            type Value = Element;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Element, E> {
                Ok(Element::NotObject)
            }
            fn visit_none<E: de::Error>(self) -> Result<Element, E> {
                Ok(Element::NotObject)
            }
            other_kinds!(Element::NotObject, visit_bool: bool, visit_i64: i64, visit_u64: u64,
                visit_f64: f64, visit_str: &str);
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Element, A::Error> {
                drain_seq(seq).map(|()| Element::NotObject)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Element, A::Error> {
                read_event(map).map(Element::Event)
            }
        }
        deserializer.deserialize_any(ElementVisitor)
    }
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocumentVisitor;
        impl<'de> Visitor<'de> for DocumentVisitor {
            type Value = Document;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Document, E> {
                Ok(Document::Other)
            }
            fn visit_none<E: de::Error>(self) -> Result<Document, E> {
                Ok(Document::Other)
            }
            other_kinds!(Document::Other, visit_bool: bool, visit_i64: i64, visit_u64: u64,
                visit_f64: f64, visit_str: &str);
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Document, A::Error> {
                let mut elements = Vec::new();
                while let Some(element) = seq.next_element::<Element>()? {
                    elements.push(element);
                }
                Ok(Document::Array(elements))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Document, A::Error> {
                read_event(map).map(Document::Object)
            }
        }
        deserializer.deserialize_any(DocumentVisitor)
    }
}
