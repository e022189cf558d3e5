//! Fuzz target: discovery filtering of tool lists, as one JSON body (`filter_json_body`) and
//! as an SSE stream fed in arbitrary chunks (`SseFilter`, with task binding).
//!
//! Input format: byte 0 picks the visibility (bit 0: filter, bit 1: allow `echo`), whether the
//! exchange is a GET stream (bit 2) and has a list id (bit 3); byte 1 how the rest is cut into
//! SSE chunks (chunk length = byte 1 % 17 + 1); the rest is the reply.
//!
//! Oracle: whatever the client receives is read as a client would — JSON with serde_json, SSE
//! with a WHATWG-conformant event parser (BOM at the start, CR, LF and CRLF line ends, `data`
//! without a colon, unterminated last event discarded) — and no tool list in it may name a
//! tool the caller may not see.
#![no_main]

use std::collections::BTreeSet;
use std::sync::Arc;

use mcp_gateway::discovery::{Discovery, SseFilter, filter_json_body};
use mcp_gateway::owners::Owners;
use mcp_gateway::pins::ToolPins;
use mcp_policy::{Identity, ToolVisibility};
use serde_json::{Value, json};

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

fn assert_only_visible(bytes: &[u8], visible: &ToolVisibility, what: &str) {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        for tool in listed_tools(&value) {
            assert!(visible.allows(&tool), "{what}: {tool} reached the client but is not visible");
        }
    }
}

/// `MCP_FUZZ_LF_ONLY_SSE=1` reads SSE like the gateway does (no BOM stripping, lines end at LF
/// or CRLF only), to fuzz for panics past the known gaps in `fuzz/regressions/discovery`.
fn lf_only() -> bool {
    static LF_ONLY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LF_ONLY.get_or_init(|| std::env::var_os("MCP_FUZZ_LF_ONLY_SSE").is_some_and(|v| v == "1"))
}

/// The data of every event a WHATWG EventSource dispatches for `stream`.
fn client_events(stream: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stream);
    let text = if lf_only() { &text } else { text.strip_prefix('\u{feff}').unwrap_or(&text) };
    let ends: &[char] = if lf_only() { &['\n'] } else { &['\r', '\n'] };
    let mut events = Vec::new();
    let mut data = String::new();
    let mut rest = text;
    // Lines end at CRLF, LF or CR; the last line only counts when terminated.
    while let Some(end) = rest.find(ends) {
        let line = &rest[..end];
        let line = if lf_only() { line.strip_suffix('\r').unwrap_or(line) } else { line };
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
    let discovery = Discovery {
        visible: visible.clone(),
        pins: Arc::new(ToolPins::default()),
        list_id: (flags & 8 != 0).then(|| json!(1)),
        stream: flags & 4 != 0,
    };

    match filter_json_body(body, &discovery) {
        Ok(Some(filtered)) => assert_only_visible(&filtered, &visible, "filtered JSON body"),
        Ok(None) => assert_only_visible(body, &visible, "unchanged JSON body"),
        Err(_) => {}
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
});
