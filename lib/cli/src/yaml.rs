//! YAML plumbing shared by every reader: multi-document parsing, typed decoding with field
//! paths (`serde_path_to_error`), detection of fields the types do not know, and writing.
//!
//! Documents are first parsed into [`serde_yaml::Value`] and then decoded. Decoding from a
//! value keeps serde's messages free of serde_yaml's own position suffix, so a problem reads
//! `servers[0].tools[1].sideEffect: unknown variant ...` with exactly one field path.

use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};
use serde_yaml::Value;

/// One non-empty document of a YAML file.
#[derive(Clone, Debug)]
pub(crate) struct Document {
    /// Zero-based position of the document in its file, empty documents included.
    pub index: usize,
    /// The parsed document (anchors resolved, `<<` merge keys applied).
    pub value: Value,
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
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Document>, serde_yaml::Error> {
    let mut docs = Vec::new();
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let mut value = Value::deserialize(de)?;
        value.apply_merge()?;
        if !value.is_null() {
            docs.push(Document { index, value });
        }
    }
    Ok(docs)
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
    let round_trip = serde_yaml::to_value(&typed)
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
        (Value::Mapping(orig), Value::Mapping(kept)) => {
            for (key, value) in orig {
                let name = key_text(key);
                let path = join(at, &name);
                let counterpart = kept.get(key).or_else(|| kept.get(Value::String(name.clone())));
                match counterpart {
                    Some(kept_value) => unknown_fields(value, kept_value, &path, out),
                    None if is_empty(value) => {}
                    None => out.push(path),
                }
            }
        }
        (Value::Sequence(orig), Value::Sequence(kept)) => {
            for (i, (value, kept_value)) in orig.iter().zip(kept).enumerate() {
                unknown_fields(value, kept_value, &format!("{at}[{i}]"), out);
            }
        }
        (Value::Tagged(orig), _) => unknown_fields(&orig.value, typed, at, out),
        _ => {}
    }
}

/// Null, `[]` and `{}` carry nothing, so dropping them loses nothing.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Sequence(s) => s.is_empty(),
        Value::Mapping(m) => m.is_empty(),
        _ => false,
    }
}

/// A mapping key as text (`labels: {1: x}` has the key `1`).
pub(crate) fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
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
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

#[cfg(test)]
mod tests;
