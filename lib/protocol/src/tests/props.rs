//! Properties: `inspect` never panics, whatever the bytes and headers; accepted messages keep
//! their id; sentinel-encoded names always match their body.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{
    InspectOptions, MessageKind, ProtocolVersion, RequestHeaders, decode_header_value, inspect, method_label,
};

const METHODS: &[&str] = &[
    "tools/call",
    "call_tool",
    "tools/list",
    "resources/read",
    "prompts/get",
    "ping",
    "server/discover",
    "",
];
const VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28", "bogus"];

/// Header strings: arbitrary text, or values close to what inspection looks for.
fn header() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        ".{0,40}",
        prop::sample::select(METHODS).prop_map(str::to_string),
        prop::sample::select(VERSIONS).prop_map(str::to_string),
        "=\\?base64\\?[A-Za-z0-9+/=]{0,12}\\?=",
        prop::sample::select(&["application/json", "text/plain", ""][..]).prop_map(str::to_string),
    ])
}

/// Bodies: arbitrary bytes, or JSON-ish text built from the fields inspection reads.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop::sample::select(
        &[
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"jsonrpc\"",
            "\"2.0\"",
            "\"id\"",
            "1",
            "null",
            "\"method\"",
            "\"tools/call\"",
            "\"params\"",
            "\"name\"",
            "\"arguments\"",
            "\"_meta\"",
            "\"progressToken\"",
            "\"result\"",
            "\"error\"",
            "\"uri\"",
            "true",
            "-1.5e3",
            "\"\\u00e9\"",
        ][..],
    );
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        prop::collection::vec(fragment, 0..40).prop_map(|parts| parts.concat().into_bytes()),
    ]
}

fn id() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1.0e12f64..1.0e12).prop_map(|f| json!(f)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn inspect_never_panics(
        body in body(),
        content_type in header(),
        version in header(),
        method in header(),
        name in header(),
        max_body in prop::sample::select(&[0usize, 8, 64, InspectOptions::DEFAULT_MAX_BODY][..]),
        allow_batch in any::<bool>(),
    ) {
        let headers = RequestHeaders {
            content_type: content_type.as_deref(),
            protocol_version: version.as_deref(),
            mcp_method: method.as_deref(),
            mcp_name: name.as_deref(),
        };
        match inspect(&body, &headers, &InspectOptions { max_body, allow_batch }) {
            Ok(inspected) => {
                prop_assert!(!inspected.messages.is_empty());
                prop_assert!(inspected.batch || inspected.messages.len() == 1);
                for m in &inspected.messages {
                    prop_assert!(m.id.as_ref().is_none_or(|id| id.is_string() || id.is_number()));
                    prop_assert_eq!(m.kind == MessageKind::Notification, m.id.is_none());
                    prop_assert!(method_label(m.method.as_deref().unwrap_or_default()).len() <= 25);
                }
            }
            Err(err) => {
                prop_assert!(crate::InspectError::CODES.contains(&err.code()));
                prop_assert!(matches!(err.http_status(), 400 | 403));
                if let Some(body) = err.to_jsonrpc_error() {
                    prop_assert_eq!(&body["jsonrpc"], &json!("2.0"));
                }
            }
        }
    }

    #[test]
    fn accepted_messages_round_trip_their_id(
        id in id(),
        method in prop::sample::select(METHODS),
        name in "[^\\u{0}]{1,16}",
        version in prop::sample::select(ProtocolVersion::ALL),
    ) {
        prop_assume!(!method.is_empty());
        let params = match method {
            "resources/read" => json!({ "uri": name }),
            _ => json!({ "name": name, "arguments": { "k": name } }),
        };
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string();
        let encoded = format!("=?base64?{}?=", STANDARD.encode(name.as_bytes()));
        let has_target = matches!(method, "tools/call" | "call_tool" | "resources/read" | "prompts/get");
        let headers = RequestHeaders {
            content_type: Some("application/json"),
            protocol_version: Some(version.as_str()),
            mcp_method: Some(method),
            mcp_name: has_target.then_some(encoded.as_str()),
        };
        let inspected = inspect(body.as_bytes(), &headers, &InspectOptions::default());
        let inspected = inspected.map_err(|e| TestCaseError::fail(format!("{body}: {e}")))?;
        let message = &inspected.messages[0];
        prop_assert_eq!(message.id.as_ref(), Some(&id));
        prop_assert_eq!(message.method.as_deref(), Some(method));
        prop_assert_eq!(message.target.as_deref(), has_target.then_some(name.as_str()));
        // The id also survives the error path.
        let wrong = RequestHeaders { mcp_method: Some("nope"), ..headers };
        let err = inspect(body.as_bytes(), &wrong, &InspectOptions::default()).expect_err("mismatch");
        prop_assert_eq!(err.request_id(), Some(&id));
    }

    #[test]
    fn sentinel_round_trips_any_text(text in any::<String>()) {
        let encoded = format!("=?base64?{}?=", STANDARD.encode(text.as_bytes()));
        let decoded = decode_header_value(&encoded);
        prop_assert_eq!(decoded.as_deref(), Ok(text.as_str()));
    }
}
