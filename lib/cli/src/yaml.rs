//! YAML plumbing shared by every reader: multi-document parsing, typed decoding with field
//! paths (`serde_path_to_error`), detection of fields the types do not know, and writing.
//!
//! Documents are first parsed (by `serde_saphyr`, whose syntax errors carry line and column)
//! into a plain [`Value`] and then decoded. Decoding from a value keeps serde's messages free of
//! the parser's own position suffix, so a problem reads
//! `servers[0].tools[1].sideEffect: unknown variant ...` with exactly one field path.

use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};
use serde_json::Value;

/// One non-empty document of a YAML file.
#[derive(Clone, Debug)]
pub(crate) struct Document {
    /// Zero-based position of the document in its file, empty documents included.
    pub index: usize,
    /// The parsed document (anchors resolved, `<<` merge keys applied).
    pub value: Value,
    /// The same document with its keys in file order, for commands that rewrite the file.
    pub ordered: Ordered,
}

/// A YAML value that keeps mapping keys in file order (`serde_json::Value` sorts them), so a
/// file the CLI rewrites keeps the layout its author chose.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ordered {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Ordered>),
    Map(Vec<(String, Ordered)>),
}

impl Ordered {
    /// The entry under `key` of a mapping, added (as null) when missing; `None` for a non-mapping.
    pub(crate) fn entry(&mut self, key: &str) -> Option<&mut Ordered> {
        let Ordered::Map(entries) = self else { return None };
        let at = match entries.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                entries.push((key.to_string(), Ordered::Null));
                entries.len() - 1
            }
        };
        entries.get_mut(at).map(|(_, v)| v)
    }

    /// Any serializable value, keeping its field order.
    pub(crate) fn from_serialize<T: Serialize>(
        value: &T,
    ) -> Result<Ordered, Box<dyn std::error::Error + Send + Sync>> {
        let text = serde_saphyr::to_string(value)?;
        Ok(mcp_api::yaml::from_str(&text)?)
    }
}

impl Serialize for Ordered {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Ordered::Null => serializer.serialize_unit(),
            Ordered::Bool(b) => serializer.serialize_bool(*b),
            Ordered::Number(n) => n.serialize(serializer),
            Ordered::String(s) => serializer.serialize_str(s),
            Ordered::Seq(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Ordered::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Ordered, D::Error> {
        deserializer.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> serde::de::Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
        Ok(Ordered::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
        Ok(Ordered::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
        Ok(Ordered::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Ordered::Null, Ordered::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
        Ok(Ordered::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Ordered, E> {
        Ok(Ordered::String(v))
    }
    fn visit_unit<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Null)
    }
    fn visit_none<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Ordered, D::Error> {
        Ordered::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Ordered::Seq(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut entries: Vec<(String, Ordered)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<Ordered, Ordered>()? {
            let key = match key {
                Ordered::String(s) => s,
                other => serde_json::to_value(&other).map(|v| scalar_text(&v)).unwrap_or_default(),
            };
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => entries.push((key, value)),
            }
        }
        Ok(Ordered::Map(entries))
    }
}

/// A problem with one field of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Path of the field (`spec.toolRules[0].name`); empty for the document itself.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// The offending value, when `message` does not already show it.
    pub value: Option<String>,
}

impl Problem {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>, value: Option<&str>) -> Self {
        Problem { field: field.into(), message: message.into(), value: value.map(str::to_string) }
    }

    /// The same problem, with its field path placed under `prefix`.
    pub(crate) fn under(mut self, prefix: &str) -> Self {
        self.field = join(prefix, &self.field);
        self
    }
}

/// Splits `text` into its documents, skipping empty ones (a leading or trailing `---`).
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Document>, serde_saphyr::Error> {
    let ordered: Vec<Ordered> = mcp_api::yaml::from_multiple(text)?;
    // The parser skips empty documents; their positions come from the document markers.
    let mut indexes = document_pieces(text)
        .enumerate()
        .filter(|(_, piece)| !mcp_api::yaml::from_multiple::<Value>(piece).is_ok_and(|v| v.is_empty()))
        .map(|(index, _)| index)
        .collect::<Vec<_>>();
    if indexes.len() != ordered.len() {
        indexes = (0..ordered.len()).collect();
    }
    Ok(indexes
        .into_iter()
        .zip(ordered)
        .map(|(index, ordered)| {
            let value = serde_json::to_value(&ordered).unwrap_or_default();
            Document { index, value, ordered }
        })
        .collect())
}

/// The text of each document: pieces between lines that start a new document (`---`).
fn document_pieces(text: &str) -> impl Iterator<Item = String> + '_ {
    let mut pieces = vec![String::new()];
    let mut seen_content = false;
    for line in text.lines() {
        let marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if marker {
            if seen_content {
                pieces.push(String::new());
            }
            seen_content = true;
            if let Some(piece) = pieces.last_mut() {
                piece.push_str(line.get(3..).unwrap_or_default());
                piece.push('\n');
            }
            continue;
        }
        if !line.trim().is_empty() && !line.trim_start().starts_with('#') && !line.starts_with('%') {
            seen_content = true;
        }
        if let Some(piece) = pieces.last_mut() {
            piece.push_str(line);
            piece.push('\n');
        }
    }
    pieces.into_iter()
}

/// Decodes `value` as a `T`. Fields `T` does not know come back as one problem each, so a
/// checker can report them and still look at the rest, while a loader refuses them (a
/// misspelt `requiredTrust` must never silently fall back to the default trust).
pub(crate) fn decode<T: DeserializeOwned + Serialize>(value: &Value) -> Result<(T, Vec<Problem>), Problem> {
    let typed: T = serde_path_to_error::deserialize(value.clone()).map_err(|err| {
        let field = err.path().to_string();
        let field = if field == "." { String::new() } else { field };
        Problem::new(field, err.into_inner().to_string(), None)
    })?;
    let round_trip = serde_json::to_value(&typed)
        .map_err(|err| Problem::new("", format!("cannot re-encode the document: {err}"), None))?;
    let mut unknown = Vec::new();
    unknown_fields(value, &round_trip, "", &mut unknown);
    let problems = unknown.into_iter().map(|field| Problem::new(field, "unknown field", None)).collect();
    Ok((typed, problems))
}

/// Collects the paths of non-empty mapping entries of `original` that `typed` (the decoded
/// value encoded again) no longer has.
fn unknown_fields(original: &Value, typed: &Value, at: &str, out: &mut Vec<String>) {
    match (original, typed) {
        (Value::Object(orig), Value::Object(kept)) => {
            for (name, value) in orig {
                let path = join(at, name);
                let counterpart = kept.get(name);
                match counterpart {
                    Some(kept_value) => unknown_fields(value, kept_value, &path, out),
                    None if is_empty(value) => {}
                    None => out.push(path),
                }
            }
        }
        (Value::Array(orig), Value::Array(kept)) => {
            for (i, (value, kept_value)) in orig.iter().zip(kept).enumerate() {
                unknown_fields(value, kept_value, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Null, `[]` and `{}` carry nothing, so dropping them loses nothing.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// `prefix.field`, `prefix[0]` or whichever side is not empty.
pub(crate) fn join(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if field.starts_with('[') => format!("{prefix}{field}"),
        (false, false) => format!("{prefix}.{field}"),
    }
}

/// A short text form of a scalar for messages (`kind: 7` shows as `7`).
pub(crate) fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
