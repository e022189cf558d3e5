use std::collections::BTreeSet;

use serde_json::json;

use super::*;

fn only(names: &[&str]) -> ToolVisibility {
    ToolVisibility::Only(names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>())
}

fn policy<'a>(ids: &'a [Value], visible: &'a ToolVisibility, pins: &'a ToolPins) -> ListPolicy<'a> {
    ListPolicy { ids, visible, pins }
}

fn list(id: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [{"name": "echo"}, {"name": "upper"}, {"name": "add"}]}})
}

#[test]
fn json_responses_keep_only_visible_tools() {
    let body = serde_json::to_vec(&list(json!(3))).expect("json");
    let pins = ToolPins::default();
    let (ids, visible) = ([json!(3)], only(&["echo", "add"]));
    let out = filter_json_body(&body, &policy(&ids, &visible, &pins)).expect("changed");
    let v: Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(v["result"]["tools"], json!([{"name": "echo"}, {"name": "add"}]));
    assert_eq!(pins.snapshot().len(), 3, "every listed tool is pinned, hidden ones too");
    let (other, none) = ([json!(4)], only(&[]));
    assert!(filter_json_body(&body, &policy(&other, &none, &pins)).is_none(), "other ids are untouched");
    assert!(filter_json_body(&body, &policy(&ids, &ToolVisibility::All, &pins)).is_none());
}

#[test]
fn sse_events_are_rewritten_across_chunk_boundaries() {
    let event = format!("event: message\nid: 7\ndata: {}\n\n", list(json!("a")));
    let other = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
    let stream = format!("{other}{event}: keep-alive\n\n");
    let mut filter = SseFilter::new(vec![json!("a")], only(&["upper"]), Default::default());
    let mut out = Vec::new();
    for chunk in stream.as_bytes().chunks(5) {
        out.extend_from_slice(&filter.push(chunk));
    }
    out.extend_from_slice(&filter.finish());
    let text = String::from_utf8(out).expect("utf8");
    assert!(text.starts_with(other), "{text}");
    assert!(text.contains("event: message\nid: 7\ndata: {"), "{text}");
    assert!(text.contains("\"tools\":[{\"name\":\"upper\"}]"), "{text}");
    assert!(!text.contains("\"echo\""), "{text}");
    assert!(text.ends_with(": keep-alive\n\n"), "{text}");
}

#[test]
fn sse_multi_line_data_and_crlf_are_understood() {
    let mut filter = SseFilter::new(vec![json!(1)], only(&[]), Default::default());
    let out = filter.push(b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\r\ndata: \"result\":{\"tools\":[{\"name\":\"echo\"}]}}\r\n\r\n");
    let text = String::from_utf8(out.to_vec()).expect("utf8");
    assert!(text.contains("\"tools\":[]"), "{text}");
}

#[test]
fn filtered_lists_are_never_cached_as_public() {
    let pins = ToolPins::default();
    let mut message = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "echo"}], "cacheScope": "public", "ttlMs": 60000}});
    let (ids, visible) = ([json!(1)], only(&["echo"]));
    assert!(filter_message(&mut message, &policy(&ids, &visible, &pins)));
    assert_eq!(message["result"]["cacheScope"], "private");
    assert_eq!(message["result"]["tools"], json!([{"name": "echo"}]));
}
