//! Entry point of the `discovery` fuzz target (`fuzz/`) and of its corpus replay test: one
//! function, so the committed corpus is replayed exactly as it was fuzzed.
//!
//! Input format: byte 0 picks the visibility (bit 0: filter, bit 1: allow `echo`) and whether
//! the SSE filter runs as a GET stream (bit 2); byte 1 how the rest is cut into SSE chunks
//! (chunk length = byte 1 % 17 + 1); the rest is the app's reply.

use std::collections::BTreeSet;
use std::sync::Arc;

use mcp_policy::ToolVisibility;
use serde_json::{Value, json};

use super::{Discovery, SseFilter, filter_json_body};

/// Every tool name listed in `result.tools` of a message or batch.
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

/// Runs the JSON and SSE filters on one input and checks the invariants: no panic; a body that
/// is JSON is readable by the filter, and what it returns never lists a tool the caller may not
/// see, whatever the ids; every SSE event that leaves the filter and carries a tool list
/// carries only visible tools. Panics when an invariant breaks.
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
        list_id: Some(json!(1)),
        stream: flags & 4 != 0,
    };

    match filter_json_body(body, &discovery) {
        Ok(filtered) => {
            let bytes = filtered.map_or_else(|| body.to_vec(), |b| b.to_vec());
            let value: Value = serde_json::from_slice(&bytes).expect("a readable body stays JSON");
            for tool in listed_tools(&value) {
                assert!(visible.allows(&tool), "{tool} listed but not visible");
            }
        }
        Err(_) => {
            assert!(serde_json::from_slice::<Value>(body).is_err(), "a JSON body was called unreadable")
        }
    }

    let mut sse = SseFilter::new(Some(discovery), None);
    let mut out = Vec::new();
    for piece in body.chunks(chunk) {
        out.extend_from_slice(&sse.push(piece));
    }
    out.extend_from_slice(&sse.finish());
    let text = String::from_utf8_lossy(&out);
    for event in text.split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if let Ok(value) = serde_json::from_str::<Value>(&data.join("\n")) {
            for tool in listed_tools(&value) {
                assert!(visible.allows(&tool), "{tool} streamed but not visible: {event:?}");
            }
        }
    }
}
