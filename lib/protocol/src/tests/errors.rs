//! Failure properties (code, status, attempt flag, JSON-RPC code), error bodies, denial
//! bodies, versions and the metric label.

use serde_json::{Map, Value, json};

use crate::{
    Era, ErrorCode, InspectError, METHOD_LABELS, MalformedHeaderValue, ProtocolVersion, denial_body,
    error_response, error_response_bytes, method_label, to_bytes,
};

#[test]
fn every_failure_has_a_code_status_attempt_flag_and_jsonrpc_code() {
    let id = Some(json!(1));
    let table: Vec<(InspectError, &str, u16, bool, Option<i64>)> = vec![
        (InspectError::NotJson { content_type: "text/plain".into() }, "not_json", 403, false, None),
        (
            InspectError::UnsupportedCharset { charset: "utf-7".into() },
            "unsupported_charset",
            403,
            true,
            Some(-32700),
        ),
        (InspectError::ByteOrderMark, "byte_order_mark", 403, true, Some(-32700)),
        (InspectError::EmptyBody, "empty_body", 403, true, Some(-32600)),
        (InspectError::BodyTooLarge { limit: 1 }, "body_too_large", 403, true, Some(-32600)),
        (InspectError::InvalidJson { detail: "x".into() }, "invalid_json", 403, true, Some(-32700)),
        (
            InspectError::InvalidRequest { detail: "x", id: id.clone() },
            "invalid_request",
            403,
            true,
            Some(-32600),
        ),
        (
            InspectError::AmbiguousKey { key: "Method".into(), id: id.clone() },
            "ambiguous_key",
            403,
            true,
            Some(-32600),
        ),
        (InspectError::InvalidId, "invalid_id", 403, true, Some(-32600)),
        (InspectError::MissingMethod { id: id.clone() }, "missing_method", 403, true, Some(-32600)),
        (InspectError::BatchNotAllowed, "batch_not_allowed", 403, true, Some(-32600)),
        (
            InspectError::InvalidParams { detail: "x", id: id.clone() },
            "invalid_params",
            403,
            true,
            Some(-32602),
        ),
        (
            InspectError::MissingHeader { header: "Mcp-Name", id: id.clone() },
            "missing_header",
            400,
            true,
            Some(-32020),
        ),
        (
            InspectError::HeaderMismatch { header: "Mcp-Method", id: id.clone() },
            "header_mismatch",
            400,
            true,
            Some(-32020),
        ),
        (
            InspectError::MalformedHeader {
                header: "Mcp-Name",
                problem: MalformedHeaderValue::InvalidBase64,
                id: id.clone(),
            },
            "malformed_header",
            400,
            true,
            Some(-32020),
        ),
        (
            InspectError::UnsupportedProtocolVersion { requested: "x".into(), id: id.clone() },
            "unsupported_protocol_version",
            400,
            true,
            Some(-32022),
        ),
    ];
    assert_eq!(table.len(), InspectError::CODES.len(), "the table covers every variant");
    for (err, code, status, attempt, rpc) in &table {
        assert_eq!(err.code(), *code);
        assert_eq!(err.http_status(), *status, "{code}");
        assert_eq!(err.is_rpc_attempt(), *attempt, "{code}");
        assert_eq!(err.jsonrpc_code().map(ErrorCode::code), *rpc, "{code}");
        assert!(InspectError::CODES.contains(code));
        assert!(!err.to_string().is_empty());
        if let Some(body) = err.to_jsonrpc_error() {
            assert_eq!(body["error"]["data"]["reason"], json!(code));
            assert_eq!(body["id"], err.request_id().cloned().unwrap_or(Value::Null));
        }
    }
}

#[test]
fn error_codes_are_the_standard_numbers() {
    let table = [
        (ErrorCode::ParseError, -32700),
        (ErrorCode::InvalidRequest, -32600),
        (ErrorCode::MethodNotFound, -32601),
        (ErrorCode::InvalidParams, -32602),
        (ErrorCode::InternalError, -32603),
        (ErrorCode::PolicyDenied, -32001),
        (ErrorCode::HeaderMismatch, -32020),
        (ErrorCode::UnsupportedProtocolVersion, -32022),
    ];
    assert_eq!(table.len(), ErrorCode::ALL.len());
    for (code, number) in table {
        assert_eq!(code.code(), number);
        assert!(!code.message().is_empty());
    }
}

#[test]
fn error_response_shapes() {
    let body = error_response(Some(&json!("a")), ErrorCode::MethodNotFound, "no such method", None);
    assert_eq!(body, json!({"jsonrpc":"2.0","id":"a","error":{"code":-32601,"message":"no such method"}}));
    let body = error_response(None, ErrorCode::ParseError, "", Some(json!({"k": 1})));
    assert_eq!(
        body,
        json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error","data":{"k":1}}})
    );
    let bytes = error_response_bytes(Some(&json!(5)), ErrorCode::InternalError, "boom", None);
    assert_eq!(
        std::str::from_utf8(&bytes).expect("utf-8"),
        r#"{"error":{"code":-32603,"message":"boom"},"id":5,"jsonrpc":"2.0"}"#
    );
    assert_eq!(serde_json::from_slice::<Value>(&to_bytes(&body)).expect("valid json"), body);
}

#[test]
fn denial_with_an_id_is_a_jsonrpc_error() {
    let mut extra = Map::new();
    extra.insert("adapter_required".into(), json!(true));
    extra.insert("reason".into(), json!("overridden"));
    let body = denial_body(Some(&json!(12)), "the agent session was revoked", "session_revoked", extra);
    assert_eq!(
        body,
        json!({
            "jsonrpc": "2.0",
            "id": 12,
            "error": {
                "code": -32001,
                "message": "the agent session was revoked",
                "data": { "reason": "session_revoked", "adapter_required": true },
            },
        })
    );
}

#[test]
fn denial_without_an_id_is_the_plain_object() {
    let mut extra = Map::new();
    extra.insert("adapter_required".into(), json!(true));
    assert_eq!(denial_body(None, "whatever", "tool_denied", extra), json!({"error": "tool_denied"}));
}

#[test]
fn versions_and_eras() {
    assert_eq!(ProtocolVersion::ALL.len(), 5);
    for v in ProtocolVersion::ALL {
        assert_eq!(ProtocolVersion::parse(v.as_str()), Some(*v));
        assert_eq!(ProtocolVersion::from_header(Some(v.as_str())), Ok(*v));
        assert_eq!(v.to_string(), v.as_str());
        let expected = if *v == ProtocolVersion::V2026_07_28 { Era::Stateless } else { Era::Sessionful };
        assert_eq!(v.era(), expected, "{v}");
        assert_eq!(v.defines_batches(), *v == ProtocolVersion::V2025_03_26, "{v}");
    }
    assert_eq!(ProtocolVersion::from_header(None), Ok(ProtocolVersion::V2025_03_26));
    assert_eq!(ProtocolVersion::from_header(Some(" 2025-06-18\t")), Ok(ProtocolVersion::V2025_06_18));
    assert_eq!(ProtocolVersion::LATEST.era(), Era::Stateless);
    assert!(ProtocolVersion::parse("2025-06-18 ").is_none());
    assert!(ProtocolVersion::V2024_11_05 < ProtocolVersion::V2026_07_28);
    let err = ProtocolVersion::from_header(Some("2024-10-07")).expect_err("unknown");
    assert_eq!(
        (err.code(), err.http_status(), err.request_id()),
        ("unsupported_protocol_version", 400, None)
    );
    assert_eq!((Era::Sessionful.as_str(), Era::Stateless.to_string().as_str()), ("sessionful", "stateless"));
}

#[test]
fn method_labels_are_bounded() {
    for label in METHOD_LABELS {
        // Every label is its own label, except `none`, which only the empty method gets.
        let expected = if *label == "none" { "other" } else { label };
        assert_eq!(method_label(label), expected);
    }
    assert_eq!(method_label(""), "none");
    assert_eq!(method_label("call_tool"), "other");
    assert_eq!(method_label("Tools/Call"), "other");
    assert_eq!(method_label("tools/call "), "other");
    assert_eq!(method_label("subscriptions/listen"), "subscriptions/listen");
    assert_eq!(method_label("server/discover"), "server/discover");
    assert_eq!(METHOD_LABELS.len(), 17);
}
