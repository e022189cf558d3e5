//! JSON-RPC errors the adapters answer with, and the mapping of a gateway's HTTP refusal to one.
//!
//! The gateway refuses with an HTTP status (401, 403, 404, 413, 429, 5xx) and, for a request, a
//! JSON-RPC error whose `error.data.reason` is the stable reason code (`session_revoked`,
//! `tool_not_granted`, …; see `lib/gateway/src/error.rs`); for a body it could not read, the
//! plain `{"error": reason}` object. `adapter stdio` turns every non-2xx answer into one
//! JSON-RPC error for the client ([`http_failure`]):
//!
//! - `code` [`ADAPTER_ERROR`] (-32000);
//! - `message` = the reason code (`tool_not_granted`), or `session expired` when the gateway
//!   no longer knows the MCP session (404 with a session id), or `HTTP <status>` when the body
//!   names no reason;
//! - `data` = the gateway's own `error.data` fields (`required_trust`, …) plus `http_status`,
//!   `reason`, `upstream_message` (the gateway's human-readable message), `upstream_code`
//!   (the gateway's JSON-RPC code) and `upstream_body` (the body as text, at most 4 KiB).

use serde_json::{Map, Value, json};

/// The adapters' JSON-RPC error code for a refused or failed call.
pub const ADAPTER_ERROR: i64 = -32000;
/// JSON-RPC parse error.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC invalid request.
pub const INVALID_REQUEST: i64 = -32600;
/// The most of a gateway body copied into `data.upstream_body`.
pub const MAX_UPSTREAM_BODY: usize = 4096;

/// `{"jsonrpc":"2.0","id":…,"error":{"code","message","data"?}}`.
pub fn error_response(id: Option<&Value>, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = Map::new();
    error.insert("code".into(), json!(code));
    error.insert("message".into(), json!(message));
    if let Some(data) = data {
        error.insert("data".into(), data);
    }
    json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": error})
}

/// The error for a request that could not be sent or answered at all (connection refused,
/// timeout): `-32000`, `data.reason = "upstream_unavailable"`.
pub fn upstream_failure(id: Option<&Value>, detail: &str) -> Value {
    error_response(
        id,
        ADAPTER_ERROR,
        "upstream unavailable",
        Some(json!({"reason": "upstream_unavailable", "detail": detail})),
    )
}

/// The error for a request sent before `initialize` established a session.
pub fn not_established(id: Option<&Value>) -> Value {
    error_response(
        id,
        ADAPTER_ERROR,
        "session not established",
        Some(json!({"reason": "session_not_established"})),
    )
}

/// The error for a line that is not JSON.
pub fn parse_error(detail: &str) -> Value {
    error_response(None, PARSE_ERROR, "Parse error", Some(json!({"detail": detail})))
}

/// `text` cut to at most `max` bytes on a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The JSON-RPC error for request `id` answered with HTTP `status` and `body` by the gateway.
/// `had_session` says whether the request carried an `Mcp-Session-Id` (then a 404 means the
/// gateway or the app forgot the session).
pub fn http_failure(id: Option<&Value>, status: u16, body: &[u8], had_session: bool) -> Value {
    let text = String::from_utf8_lossy(body);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let mut data = Map::new();
    let mut reason: Option<String> = None;
    let mut upstream_message: Option<String> = None;
    let mut upstream_code: Option<Value> = None;
    match &parsed {
        // A JSON-RPC error from the gateway: `error.data.reason`, `error.message`.
        Some(Value::Object(o)) if o.get("error").is_some_and(Value::is_object) => {
            let e = &o["error"];
            if let Some(Value::Object(d)) = e.get("data") {
                data.extend(d.clone());
                reason = d.get("reason").and_then(Value::as_str).map(str::to_owned);
            }
            upstream_message = e.get("message").and_then(Value::as_str).map(str::to_owned);
            upstream_code = e.get("code").cloned();
        }
        // The reference shape: `{"error": "<reason>"}`.
        Some(Value::Object(o)) => {
            reason = o.get("error").and_then(Value::as_str).map(str::to_owned);
            upstream_message = o.get("message").and_then(Value::as_str).map(str::to_owned);
        }
        _ => {}
    }
    let expired = status == 404 && had_session;
    let message = if expired {
        "session expired".to_owned()
    } else {
        reason.clone().unwrap_or_else(|| format!("HTTP {status}"))
    };
    if expired {
        data.insert("runtime_status".into(), json!("session_expired"));
        reason.get_or_insert_with(|| "session_expired".to_owned());
    }
    data.insert("http_status".into(), json!(status));
    data.insert("reason".into(), reason.map_or(Value::Null, Value::String));
    if let Some(m) = upstream_message {
        data.insert("upstream_message".into(), json!(m));
    }
    if let Some(c) = upstream_code {
        data.insert("upstream_code".into(), c);
    }
    data.insert("upstream_body".into(), json!(truncated(&text, MAX_UPSTREAM_BODY)));
    error_response(id, ADAPTER_ERROR, &message, Some(Value::Object(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_denial_keeps_its_reason_and_details() {
        let body = json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32001,
            "message": "the tool needs a higher trust level",
            "data": {"reason": "trust_too_low", "required_trust": "medium", "effective_trust": "low"}}});
        let body = serde_json::to_vec(&body).expect("json");
        let e = http_failure(Some(&json!(7)), 403, &body, true);
        assert_eq!(e["id"], 7);
        assert_eq!(e["error"]["code"], -32000);
        assert_eq!(e["error"]["message"], "trust_too_low");
        let d = &e["error"]["data"];
        assert_eq!(d["http_status"], 403);
        assert_eq!(d["reason"], "trust_too_low");
        assert_eq!(d["required_trust"], "medium");
        assert_eq!(d["upstream_code"], -32001);
        assert_eq!(d["upstream_message"], "the tool needs a higher trust level");
        assert_eq!(d["upstream_body"], String::from_utf8(body).expect("utf8"));
    }

    #[test]
    fn the_reference_shape_and_bodies_without_a_reason_map_too() {
        let e = http_failure(Some(&json!("a")), 401, br#"{"error":"session_revoked"}"#, true);
        assert_eq!(e["error"]["message"], "session_revoked");
        assert_eq!(e["error"]["data"]["reason"], "session_revoked");
        let e = http_failure(Some(&json!(1)), 502, b"<html>bad gateway</html>", false);
        assert_eq!(e["error"]["message"], "HTTP 502");
        assert_eq!(e["error"]["data"]["reason"], Value::Null);
        assert_eq!(e["error"]["data"]["upstream_body"], "<html>bad gateway</html>");
    }

    #[test]
    fn a_forgotten_session_is_session_expired() {
        let e = http_failure(Some(&json!(3)), 404, b"", true);
        assert_eq!(e["error"]["message"], "session expired");
        assert_eq!(e["error"]["data"]["runtime_status"], "session_expired");
        assert_eq!(e["error"]["data"]["reason"], "session_expired");
        let e = http_failure(Some(&json!(3)), 404, b"", false);
        assert_eq!(e["error"]["message"], "HTTP 404");
    }

    #[test]
    fn upstream_bodies_are_cut_at_four_kib_on_a_character_boundary() {
        let big = "é".repeat(5000);
        let e = http_failure(None, 500, big.as_bytes(), false);
        let kept = e["error"]["data"]["upstream_body"].as_str().expect("text");
        assert!(kept.len() <= MAX_UPSTREAM_BODY && kept.len() >= MAX_UPSTREAM_BODY - 1);
        assert_eq!(e["id"], Value::Null);
    }

    #[test]
    fn local_errors_have_their_codes() {
        assert_eq!(parse_error("x")["error"]["code"], -32700);
        assert_eq!(parse_error("x")["id"], Value::Null);
        assert_eq!(not_established(Some(&json!(2)))["error"]["message"], "session not established");
        assert_eq!(upstream_failure(Some(&json!(2)), "refused")["error"]["code"], -32000);
    }
}
