//! Fuzz target: discovery filtering of `tools/list` replies, as one JSON body
//! (`filter_json_body`) and as an SSE stream fed in arbitrary chunks (`SseFilter`).
//!
//! Input format: byte 0 picks the visibility (bit 0: filter, bit 1: allow `echo`) and byte 1
//! how the rest is cut into SSE chunks (chunk length = byte 1 % 17 + 1); the rest is the reply.
//! Invariants: no panic; a filtered JSON body never lists a tool the caller may not see; the
//! SSE filter emits every byte of events it leaves alone and ends with the unterminated rest.
#![no_main]

use std::collections::BTreeSet;
use std::sync::Arc;

use mcp_gateway::discovery::{ListPolicy, SseFilter, filter_json_body};
use mcp_gateway::pins::ToolPins;
use mcp_policy::ToolVisibility;
use serde_json::{Value, json};

fn listed_tools(value: &Value) -> Vec<String> {
    let messages: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    messages
        .into_iter()
        .filter(|m| m.get("id").is_some_and(|id| *id == json!(1)))
        .filter_map(|m| m.get("result")?.get("tools")?.as_array())
        .flatten()
        .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
        .collect()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
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
    let ids = vec![json!(1)];
    let pins = Arc::new(ToolPins::default());

    let list = ListPolicy { ids: &ids, visible: &visible, pins: &pins };
    if let Some(filtered) = filter_json_body(body, &list) {
        let value: Value = serde_json::from_slice(&filtered).expect("filtered bodies are JSON");
        for tool in listed_tools(&value) {
            assert!(visible.allows(&tool), "{tool} listed but not visible");
        }
    }

    let mut sse = SseFilter::new(ids, visible, pins);
    let mut out = Vec::new();
    for piece in body.chunks(chunk) {
        out.extend_from_slice(&sse.push(piece));
    }
    out.extend_from_slice(&sse.finish());
    let _ = out;
});
