use serde_json::json;

use super::*;
use crate::schema::EVENT_COLUMNS;

fn gateway_event() -> Value {
    json!({
        "event_id": "0193a0b2-7c1e-7000-8000-000000000001",
        "timestamp": "2026-11-26T10:20:30.456Z",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "source": "mcp-gateway",
        "event_type": "mcp.request",
        "payload": {
            "method": "POST", "path": "/ws/mcp", "status": 200, "latency_ms": 12.5,
            "bytes_in": 120, "bytes_out": 480, "server": "ws", "namespace": "team-a",
            "team_id": "team-a", "cluster": "kind", "human_id": "user-1", "agent_id": "ops-agent",
            "subject_team_id": "team-b", "session_id": "sess-1", "decision": "allow",
            "reason": "allowed", "policy_version": "sha256:abc", "rpc_method": "tools/call",
            "tool_name": "add", "is_error": true, "required_trust": "low", "effective_trust": "high",
            "admin_trust": "high", "consented_trust": "high", "matched_grant": "g1",
            "matched_grant_namespace": "team-a", "matched_session": "sess-1",
            "matched_session_namespace": "team-a", "extra": {"kept": [1, 2]}
        }
    })
}

#[test]
fn every_column_is_extracted_from_a_gateway_event() {
    let row = extract(gateway_event().to_string().as_bytes()).expect("valid event");
    assert_eq!(row.ts_ms, 1_795_688_430_456);
    assert_eq!(u64::from(row.timestamp), 1_795_688_430);
    assert_eq!(row.event_id, "0193a0b2-7c1e-7000-8000-000000000001");
    assert_eq!(row.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!((row.source.as_str(), row.event_type.as_str()), ("mcp-gateway", "mcp.request"));
    assert_eq!(
        (row.server.as_str(), row.namespace.as_str(), row.team_id.as_str()),
        ("ws", "team-a", "team-a")
    );
    assert_eq!((row.human_id.as_str(), row.agent_id.as_str()), ("user-1", "ops-agent"));
    assert_eq!((row.subject_team_id.as_str(), row.session_id.as_str()), ("team-b", "sess-1"));
    assert_eq!((row.decision.as_str(), row.reason.as_str()), ("allow", "allowed"));
    assert_eq!((row.rpc_method.as_str(), row.tool_name.as_str()), ("tools/call", "add"));
    assert_eq!((row.status, row.latency_ms, row.bytes_in, row.bytes_out), (200, 12.5, 120, 480));
    assert_eq!(row.is_error, 1);
    assert_eq!((row.required_trust.as_str(), row.effective_trust.as_str()), ("low", "high"));
    assert_eq!((row.matched_grant.as_str(), row.matched_session.as_str()), ("g1", "sess-1"));
    let payload: Value = serde_json::from_str(&row.payload).expect("payload is JSON");
    assert_eq!(payload["extra"]["kept"], json!([1, 2]), "the raw payload keeps unknown fields");
}

#[test]
fn absent_optional_fields_become_empty_columns() {
    let event = json!({"event_id": "e", "timestamp": "2026-11-26T00:00:00Z", "source": "s",
        "event_type": "t", "payload": {"decision": "deny"}});
    let row = extract(event.to_string().as_bytes()).expect("valid event");
    assert_eq!((row.tool_name.as_str(), row.trace_id.as_str(), row.is_error), ("", "", 0));
    assert_eq!(row.decision, "deny");
}

#[test]
fn unusable_messages_have_stable_reasons() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "not_json"),
        (b"".to_vec(), "not_json"),
        (json!([1]).to_string().into_bytes(), "not_envelope"),
        (json!({"source": "s", "event_type": "t", "payload": {}, "event_id": "e"}).to_string().into_bytes(), "invalid_timestamp"),
        (json!({"source": "s", "event_type": "t", "payload": {}, "timestamp": "2026-11-26T00:00:00Z"}).to_string().into_bytes(), "missing_event_id"),
        (json!({"source": "s", "event_type": "t", "payload": {}, "event_id": "e", "timestamp": "yesterday"}).to_string().into_bytes(), "invalid_timestamp"),
        (json!({"source": "s", "event_type": "t", "payload": {}, "event_id": "e", "timestamp": "1969-12-31T23:59:59Z"}).to_string().into_bytes(), "invalid_timestamp"),
        (json!({"source": "s", "event_type": "t", "payload": {"status": "200"}, "event_id": "e", "timestamp": "2026-11-26T00:00:00Z"}).to_string().into_bytes(), "invalid_payload"),
    ];
    for (message, code) in cases {
        let got = extract(&message).expect_err("invalid message");
        assert_eq!(got.code(), code, "{}", String::from_utf8_lossy(&message));
    }
}

#[test]
fn timestamps_are_rfc3339_with_any_offset() {
    assert_eq!(parse_timestamp_ms("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_timestamp_ms("2026-11-26T01:00:00.5+01:00"), Some(1_795_651_200_500));
    assert_eq!(parse_timestamp_ms("2106-02-07T06:28:15Z"), Some(4_294_967_295_000));
    assert_eq!(parse_timestamp_ms("2106-02-07T06:28:16Z"), None);
    assert_eq!(parse_timestamp_ms("2026-11-26"), None);
}

#[test]
fn row_fields_match_the_table_columns_in_order() {
    let names: Vec<&str> = EVENT_COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(<EventRow as clickhouse::Row>::COLUMN_NAMES, names.as_slice());
}

#[test]
fn a_message_is_one_envelope_or_an_array_of_them() {
    let one = br#"{"source": "s"}"#;
    assert_eq!(split(one), Ok(Record::One(one)));
    assert_eq!(split(b"not json"), Ok(Record::One(b"not json")), "extract names the reason");
    let many = b" [ {\"a\": [1, 2]} ,\n\"x\",3,{} ] ";
    assert_eq!(split(many), Ok(Record::Many(vec![b"{\"a\": [1, 2]}", b"\"x\"", b"3", b"{}"])));
    assert_eq!(split(b"[]"), Ok(Record::Many(vec![])));
    assert_eq!(split(b" [ ] "), Ok(Record::Many(vec![])));
    for broken in [&b"["[..], b"[{}", b"[{},", b"[{} {}]", b"[{}]x", b"[{\"a\":}]", b"[,]", b"[{},]"] {
        let got = split(broken).expect_err("not JSON");
        assert_eq!(got.code(), "not_json", "{}", String::from_utf8_lossy(broken));
    }
}

#[test]
fn each_element_of_an_array_message_is_read_like_a_message_of_its_own() {
    let good = gateway_event().to_string();
    let message = format!(r#"[{good}, {{"hello": "world"}}, {good}]"#);
    let Ok(Record::Many(parts)) = split(message.as_bytes()) else { panic!("an array") };
    let results: Vec<Result<EventRow, Invalid>> = parts.iter().map(|p| extract(p)).collect();
    assert_eq!(results[0], extract(good.as_bytes()));
    assert_eq!(results[1].as_ref().map_err(Invalid::code), Err("not_envelope"));
    assert!(results[2].is_ok());
}
