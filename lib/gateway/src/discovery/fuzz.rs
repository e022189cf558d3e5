//! Entry point of the `discovery` fuzz target (`fuzz/`) and of its corpus replay test: one
//! function, so the committed corpus is replayed exactly as it was fuzzed.
//!
//! Input format: byte 0 picks the visibility (bit 0: filter, bit 1: allow `echo`), whether the
//! exchange is a GET stream (bit 2) and has a list id (bit 3); byte 1 how the rest is cut into
//! SSE chunks (chunk length = byte 1 % 17 + 1); the rest is the app's reply.
//!
//! Oracle: whatever the client receives is read as a client would — JSON by serde_json and by a
//! reader that keeps the first of duplicate keys, SSE by a WHATWG EventSource parser (a byte
//! order mark at the start, CR, LF and CRLF line ends, `data` without a colon) — and no tool
//! list in it may name a tool the caller may not see.

use std::collections::BTreeSet;
use std::sync::Arc;

use mcp_policy::{Identity, ToolVisibility};
use serde_json::{Value, json};

use super::{Discovery, SseFilter, filter_json_body};
use crate::owners::Owners;

/// Tool names listed by any message in `value` (a message or a batch).
fn listed_tools(value: &Value) -> Vec<String> {
    let messages: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    messages
        .into_iter()
        .filter_map(|m| m.get("result")?.get("tools")?.as_array())
        .flatten()
        .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
        .collect()
}

/// A JSON value read keeping the first of duplicate keys (as some readers do).
fn first_wins(bytes: &[u8]) -> Option<Value> {
    struct First(Value);
    impl<'de> serde::Deserialize<'de> for First {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<First, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = First;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("JSON")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<First, A::Error> {
                    let mut out = serde_json::Map::new();
                    while let Some((k, v)) = map.next_entry::<String, First>()? {
                        out.entry(k).or_insert(v.0);
                    }
                    Ok(First(Value::Object(out)))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<First, A::Error> {
                    let mut out = Vec::new();
                    while let Some(v) = seq.next_element::<First>()? {
                        out.push(v.0);
                    }
                    Ok(First(Value::Array(out)))
                }
                fn visit_bool<E>(self, v: bool) -> Result<First, E> {
                    Ok(First(Value::Bool(v)))
                }
                fn visit_i64<E>(self, v: i64) -> Result<First, E> {
                    Ok(First(json!(v)))
                }
                fn visit_u64<E>(self, v: u64) -> Result<First, E> {
                    Ok(First(json!(v)))
                }
                fn visit_f64<E>(self, v: f64) -> Result<First, E> {
                    Ok(First(json!(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<First, E> {
                    Ok(First(Value::String(v.to_string())))
                }
                fn visit_unit<E>(self) -> Result<First, E> {
                    Ok(First(Value::Null))
                }
            }
            d.deserialize_any(V)
        }
    }
    serde_json::from_slice::<First>(bytes).ok().map(|f| f.0)
}

fn assert_only_visible(bytes: &[u8], visible: &ToolVisibility, what: &str) {
    for value in [serde_json::from_slice::<Value>(bytes).ok(), first_wins(bytes)].into_iter().flatten() {
        for tool in listed_tools(&value) {
            assert!(visible.allows(&tool), "{what}: {tool} reached the client but is not visible");
        }
    }
}

/// The data of every event a WHATWG EventSource dispatches for `stream`.
fn client_events(stream: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stream);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut events = Vec::new();
    let mut data = String::new();
    let mut rest = text;
    // Lines end at CRLF, LF or CR; the last line only counts when terminated.
    while let Some(end) = rest.find(['\r', '\n']) {
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[end + skip..];
        if line.is_empty() {
            if !data.is_empty() {
                events.push(data.strip_suffix('\n').unwrap_or(&data).to_string());
            }
            data.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            data.push_str(value);
            data.push('\n');
        }
    }
    events
}

/// Runs the JSON and SSE filters on one input and checks the oracle above; panics when it
/// breaks.
pub fn discovery_input(data: &[u8]) {
    let (head, body) = data.split_at(data.len().min(2));
    let flags = head.first().copied().unwrap_or(0);
    let chunk = usize::from(head.get(1).copied().unwrap_or(0) % 17) + 1;
    let visible = if flags & 1 == 0 {
        ToolVisibility::All
    } else {
        let mut only = BTreeSet::new();
        if flags & 2 != 0 {
            only.insert("echo".to_string());
        }
        ToolVisibility::Only(only)
    };
    let discovery = Discovery {
        visible: visible.clone(),
        pins: Arc::default(),
        list_id: (flags & 8 != 0).then(|| json!(1)),
        stream: flags & 4 != 0,
    };

    if let Ok(filtered) = filter_json_body(body, &discovery) {
        assert_only_visible(&filtered, &visible, "filtered JSON body");
    }

    let tasks = (Arc::new(Owners::default()), Identity { human: "h".into(), ..Identity::default() });
    let mut sse = SseFilter::new(Some(discovery), Some(tasks));
    let mut out = Vec::new();
    for piece in body.chunks(chunk) {
        out.extend_from_slice(&sse.push(piece));
    }
    out.extend_from_slice(&sse.finish());
    for event in client_events(&out) {
        assert_only_visible(event.as_bytes(), &visible, "SSE event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_inputs_stay_fixed() {
        // Found by the fuzzer against the first version of the restructured filter: a leading
        // byte order mark hid an SSE tool list; CR-only line ends hid event boundaries; a JSON
        // reply with two `result` keys was passed through as the app wrote it.
        let bom = b"\x01\x10\xEF\xBB\xBFdata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"rm\"}]}}\n\n";
        let cr = b"\x03\x10id: 7\n\r\r\rdata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"rm\"}]}}\r\r";
        let duplicate = b"\x01\x10{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"rm\"}]},\"result\":{\"tools\":[]}}";
        for input in [&bom[..], &cr[..], &duplicate[..]] {
            discovery_input(input);
        }
    }
}
