use serde_json::json;

use super::*;

fn now() -> jiff::Timestamp {
    "2026-11-26T12:00:00Z".parse().expect("valid time")
}

fn envelope() -> Value {
    json!({"source": "mcp-gateway", "event_type": "mcp.request", "payload": {"server": "ws"}})
}

fn decode(p: &Prepared) -> Value {
    serde_json::from_slice(&p.value).expect("JSON")
}

#[test]
fn a_single_envelope_gets_id_time_and_trace() {
    let out = prepare(envelope(), 500, Some("4bf92f3577b34da6a3ce929d0e0e4736"), now()).expect("valid");
    assert_eq!(out.len(), 1);
    let v = decode(&out[0]);
    assert_eq!(v["event_id"], out[0].key.as_str());
    let id = uuid::Uuid::parse_str(&out[0].key).expect("uuid");
    assert_eq!(id.get_version_num(), 7);
    // A fresh UUIDv7 carries the current time, which becomes the timestamp.
    assert!(crate::row::parse_timestamp_ms(v["timestamp"].as_str().expect("text")).is_some());
    assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(v["payload"]["server"], "ws");
}

#[test]
fn producer_values_are_kept_and_retries_get_the_same_time() {
    let mut e = envelope();
    e["event_id"] = json!("0193a0b2-7c1e-7000-8000-000000000001");
    e["trace_id"] = json!("00000000000000000000000000000abc");
    let first = prepare(e.clone(), 500, Some("4bf92f3577b34da6a3ce929d0e0e4736"), now()).expect("valid");
    let later = prepare(e, 500, None, now().checked_add(jiff::SignedDuration::from_secs(90)).expect("time"))
        .expect("valid");
    let (a, b) = (decode(&first[0]), decode(&later[0]));
    assert_eq!(a["event_id"], "0193a0b2-7c1e-7000-8000-000000000001");
    assert_eq!(a["trace_id"], "00000000000000000000000000000abc", "the envelope's own trace id wins");
    assert_eq!(a["timestamp"], b["timestamp"], "the time comes from the UUIDv7, not the clock");
    assert_eq!(a["timestamp"], "2024-12-07T10:37:52.030Z");

    let mut e = envelope();
    e["event_id"] = json!("not-a-uuid");
    let out = prepare(e, 500, None, now()).expect("valid");
    assert_eq!(decode(&out[0])["timestamp"], "2026-11-26T12:00:00.000Z");
}

#[test]
fn arrays_are_all_or_nothing() {
    let body = json!([envelope(), envelope(), envelope()]);
    assert_eq!(prepare(body, 500, None, now()).expect("valid").len(), 3);
    assert_eq!(prepare(json!([]), 500, None, now()).expect("valid").len(), 0);
    let body = json!([envelope(), {"source": "s", "payload": {}}, envelope()]);
    assert_eq!(prepare(body, 500, None, now()), Err(Refusal::MissingFields(Some(1))));
    let mut bad_time = envelope();
    bad_time["timestamp"] = json!("26/11/2026");
    let err = prepare(json!([envelope(), bad_time]), 500, None, now()).expect_err("invalid");
    assert_eq!(err.code(), "invalid_timestamp");
    assert_eq!(
        err.to_string(),
        "envelope 1: timestamp \"26/11/2026\" is not an RFC 3339 time between 1970 and 2106"
    );
    let many = Value::Array(vec![envelope(); 3]);
    assert_eq!(prepare(many, 2, None, now()), Err(Refusal::TooManyEvents(3, 2)));
}

#[test]
fn refusals_map_to_codes_and_statuses() {
    let cases = [
        (Refusal::InvalidJson("x".into()), "invalid_json", 400),
        (Refusal::MissingFields(None), "missing_fields", 400),
        (Refusal::InvalidTimestamp { index: None, value: "x".into() }, "invalid_timestamp", 400),
        (Refusal::TooManyEvents(2, 1), "too_many_events", 413),
        (Refusal::PayloadTooLarge(1), "payload_too_large", 413),
        (Refusal::Auth(AuthError::Unauthorized), "unauthorized", 401),
        (Refusal::Auth(AuthError::InvalidToken("expired".into())), "invalid_token", 401),
        (Refusal::EnqueueFailed("down".into()), "enqueue_failed", 500),
    ];
    for (refusal, code, status) in cases {
        assert_eq!((refusal.code(), refusal.status().as_u16()), (code, status));
    }
    assert_eq!(
        prepare(json!({"source": "s", "event_type": "t", "payload": null}), 5, None, now()),
        Err(Refusal::MissingFields(None))
    );
}

#[test]
fn traceparent_headers_are_checked() {
    assert_eq!(
        trace_id_of("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    for bad in [
        "",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ] {
        assert_eq!(trace_id_of(bad), None, "{bad}");
    }
}

#[test]
fn a_request_becomes_one_message_holding_the_array_of_its_envelopes() {
    let body = json!([envelope(), envelope(), envelope()]);
    let prepared = prepare(body, 500, Some("4bf92f3577b34da6a3ce929d0e0e4736"), now()).expect("valid");
    let ids: Vec<String> = prepared.iter().map(|p| p.key.clone()).collect();
    let records = pack(prepared.clone(), MAX_RECORD_BYTES);
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].key.as_str(), records[0].events), (ids[0].as_str(), 3));
    let array: Vec<Value> = serde_json::from_slice(&records[0].value).expect("a JSON array");
    assert_eq!(array, prepared.iter().map(decode).collect::<Vec<_>>(), "every envelope, in order");
    for (e, id) in array.iter().zip(&ids) {
        assert_eq!(e["event_id"], id.as_str(), "each envelope keeps its own id");
        assert_eq!(e["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    }
    // The processor reads it back envelope by envelope.
    let crate::row::Record::Many(parts) = crate::row::split(&records[0].value).expect("array") else {
        panic!("an array")
    };
    assert_eq!(
        parts.iter().map(|p| p.to_vec()).collect::<Vec<_>>(),
        prepared.iter().map(|p| p.value.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn a_lone_envelope_is_written_as_itself() {
    let prepared = prepare(envelope(), 500, None, now()).expect("valid");
    let records = pack(prepared.clone(), MAX_RECORD_BYTES);
    assert_eq!(
        records,
        [Record { key: prepared[0].key.clone(), value: prepared[0].value.clone(), events: 1 }]
    );
    assert!(pack(Vec::new(), MAX_RECORD_BYTES).is_empty());
}

#[test]
fn large_requests_are_split_into_messages_under_the_size_limit() {
    let prepared: Vec<Prepared> = (0..10)
        .map(|i| Prepared { key: format!("id-{i}"), value: format!("{{\"n\":{}}}", 10_000 + i).into_bytes() })
        .collect();
    // Each envelope is 11 bytes; an array of three is 1 + 3 * 12 = 37 bytes.
    let records = pack(prepared.clone(), 37);
    assert_eq!(records.iter().map(|r| r.events).collect::<Vec<_>>(), [3, 3, 3, 1]);
    assert!(records.iter().all(|r| r.value.len() <= 37));
    assert_eq!(records.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["id-0", "id-3", "id-6", "id-9"]);
    assert_eq!(records[3].value, prepared[9].value, "a lone envelope stays itself");
    let all: Vec<Value> = records
        .iter()
        .flat_map(|r| match serde_json::from_slice::<Value>(&r.value).expect("JSON") {
            Value::Array(items) => items,
            one => vec![one],
        })
        .collect();
    assert_eq!(all, prepared.iter().map(decode).collect::<Vec<_>>(), "nothing lost or reordered");
    // An envelope larger than the limit gets a message of its own.
    let records = pack(prepared[..3].to_vec(), 5);
    assert_eq!(records.iter().map(|r| r.events).collect::<Vec<_>>(), [1, 1, 1]);
}
