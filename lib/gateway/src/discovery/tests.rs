use std::collections::BTreeSet;

use serde_json::json;

use super::*;

fn only(names: &[&str]) -> ToolVisibility {
    ToolVisibility::Only(names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>())
}

fn discovery(visible: ToolVisibility, list_id: Option<Value>) -> Discovery {
    Discovery { visible, pins: Arc::default(), list_id, stream: false }
}

fn list(id: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [{"name": "echo"}, {"name": "upper"}, {"name": "add"}]}})
}

#[test]
fn json_responses_keep_only_visible_tools() {
    let body = serde_json::to_vec(&list(json!(3))).expect("json");
    let d = discovery(only(&["echo", "add"]), Some(json!(3)));
    let out = filter_json_body(&body, &d).expect("readable");
    let v: Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(v["result"]["tools"], json!([{"name": "echo"}, {"name": "add"}]));
    assert_eq!(d.pins.snapshot().len(), 3, "every listed tool is pinned, hidden ones too");
    let all = discovery(ToolVisibility::All, Some(json!(3)));
    let out = filter_json_body(&body, &all).expect("readable");
    assert_eq!(serde_json::from_slice::<Value>(&out).expect("json"), list(json!(3)));
}

#[test]
fn a_list_is_filtered_whatever_its_id_is_written_as() {
    // Regression: the id `1.0` (or `1e0`, or an id the app made up) used to dodge the filter.
    for id in [json!(1), json!(1.0), json!(1e0), json!("1"), json!(99), Value::Null] {
        let body = serde_json::to_vec(&list(id.clone())).expect("json");
        let out = filter_json_body(&body, &discovery(only(&["upper"]), Some(json!(1)))).expect("readable");
        let v: Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["result"]["tools"], json!([{"name": "upper"}]), "id {id}");
    }
    let batch = serde_json::to_vec(&json!([list(json!(1.0)), {"jsonrpc": "2.0", "id": 2, "result": {}}]))
        .expect("json");
    let out = filter_json_body(&batch, &discovery(only(&[]), None)).expect("readable");
    let v: Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(v[0]["result"]["tools"], json!([]));
}

#[test]
fn unreadable_lists_fail_closed() {
    let d = discovery(only(&["echo"]), Some(json!(1)));
    assert_eq!(
        filter_json_body(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[", &d),
        Err(Unreadable)
    );
    // SSE on a POST: the unreadable event becomes an error for the list request.
    let mut filter = SseFilter::new(Some(d), None);
    let mut out =
        filter.push(b"event: message\ndata: {\"result\":{\"tools\":[{\"name\":\"secret\"}\n\n").to_vec();
    out.extend_from_slice(&filter.finish());
    let text = String::from_utf8(out).expect("utf8");
    assert!(!text.contains("secret"), "{text}");
    assert!(text.contains("discovery_unreadable"), "{text}");
    // On a GET stream it is dropped.
    let stream = Discovery { stream: true, ..discovery(only(&[]), None) };
    let mut filter = SseFilter::new(Some(stream), None);
    let out =
        filter.push(b"data: {not json\n\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}\n\n");
    let text = String::from_utf8(out.to_vec()).expect("utf8");
    assert!(!text.contains("not json"), "{text}");
    assert!(text.contains("notifications/x"), "{text}");
    // An unterminated event at the end of the stream is governed too.
    let mut filter = SseFilter::new(Some(discovery(only(&[]), Some(json!(5)))), None);
    assert!(
        filter
            .push(b"data: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[{\"name\":\"x\"}]}}")
            .is_empty()
    );
    let rest = String::from_utf8(filter.finish().to_vec()).expect("utf8");
    assert!(rest.contains("\"tools\":[]"), "{rest}");
}

#[test]
fn sse_events_are_rewritten_across_chunk_boundaries() {
    let event = format!("event: message\nid: 7\ndata: {}\n\n", list(json!("a")));
    let other = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
    let stream = format!("{other}{event}: keep-alive\n\n");
    let mut filter = SseFilter::new(Some(discovery(only(&["upper"]), Some(json!("a")))), None);
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
    let mut filter = SseFilter::new(Some(discovery(only(&[]), Some(json!(1)))), None);
    let out = filter.push(b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\r\ndata: \"result\":{\"tools\":[{\"name\":\"echo\"}]}}\r\n\r\n");
    let text = String::from_utf8(out.to_vec()).expect("utf8");
    assert!(text.contains("\"tools\":[]"), "{text}");
}

#[test]
fn filtered_lists_are_never_cached_as_public() {
    let mut message = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "echo"}], "cacheScope": "public", "ttlMs": 60000}});
    assert!(discovery(only(&["echo"]), Some(json!(1))).filter(&mut message));
    assert_eq!(message["result"]["cacheScope"], "private");
    assert_eq!(message["result"]["tools"], json!([{"name": "echo"}]));
}

#[test]
fn tasks_created_in_a_reply_belong_to_the_caller() {
    let owners = Arc::new(Owners::default());
    let alice = Identity { agent: "alice".into(), ..Identity::default() };
    let mallory = Identity { agent: "mallory".into(), ..Identity::default() };
    let mut filter = SseFilter::new(None, Some((owners.clone(), alice.clone())));
    let _ = filter.push(b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"task\":{\"taskId\":\"t-1\",\"status\":\"working\"}}}\n\n");
    assert!(!owners.claim_task("t-1", &mallory));
    assert!(owners.claim_task("t-1", &alice));
}

#[test]
fn sse_is_read_as_an_event_source_reads_it() {
    // A byte order mark at the start, CR-only and mixed line ends, `data` without a colon.
    let d = || Some(discovery(only(&["echo"]), Some(json!(1))));
    for stream in [
        "\u{feff}data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"rm\"}]}}\n\n",
        "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"rm\"}]}}\r\r",
        "id: 1\r\ndata\rdata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"rm\"}]}}\r\n\r\n",
    ] {
        let mut filter = SseFilter::new(d(), None);
        let mut out = Vec::new();
        for b in stream.as_bytes().chunks(3) {
            out.extend_from_slice(&filter.push(b));
        }
        out.extend_from_slice(&filter.finish());
        let text = String::from_utf8(out).expect("utf8");
        assert!(!text.contains("\"rm\""), "{stream:?} -> {text:?}");
    }
}

#[test]
fn a_reply_with_duplicate_keys_is_passed_on_as_filtered() {
    let body = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"rm"}]},"result":{"tools":[]}}"#;
    let out = filter_json_body(body, &discovery(only(&["echo"]), Some(json!(1)))).expect("readable");
    assert!(!String::from_utf8_lossy(&out).contains("rm"), "{out:?}");
}
