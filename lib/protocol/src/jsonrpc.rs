//! JSON-RPC error codes and the error bodies the gateway sends.

use serde_json::{Map, Value, json};

/// A JSON-RPC error code the gateway emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// -32700: the body is not valid JSON.
    ParseError,
    /// -32600: the JSON is not a valid JSON-RPC request.
    InvalidRequest,
    /// -32601: the method does not exist.
    MethodNotFound,
    /// -32602: invalid method parameters.
    InvalidParams,
    /// -32603: internal error.
    InternalError,
    /// -32001: the gateway's policy denied the request.
    ///
    /// Chosen because it sits in the implementation-defined server-error range (-32000 …
    /// -32099) and is not assigned by any MCP revision, so it cannot be confused with a
    /// protocol error such as -32020. Clients should read `error.data.reason`, which is
    /// authoritative: the TypeScript and Python SDKs use -32001 locally for their own request
    /// timeouts, so the code alone does not identify a denial.
    PolicyDenied,
    /// -32020: a mirrored header (`Mcp-Method`, `Mcp-Name`, `MCP-Protocol-Version`) is missing,
    /// malformed or disagrees with the body (MCP 2026-07-28 `HeaderMismatch`).
    HeaderMismatch,
    /// -32022: the protocol version is not supported (MCP 2026-07-28
    /// `UnsupportedProtocolVersion`).
    UnsupportedProtocolVersion,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::ParseError,
        ErrorCode::InvalidRequest,
        ErrorCode::MethodNotFound,
        ErrorCode::InvalidParams,
        ErrorCode::InternalError,
        ErrorCode::PolicyDenied,
        ErrorCode::HeaderMismatch,
        ErrorCode::UnsupportedProtocolVersion,
    ];

    /// The numeric code, e.g. -32602.
    pub const fn code(self) -> i64 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::InvalidParams => -32602,
            ErrorCode::InternalError => -32603,
            ErrorCode::PolicyDenied => -32001,
            ErrorCode::HeaderMismatch => -32020,
            ErrorCode::UnsupportedProtocolVersion => -32022,
        }
    }

    /// The conventional short message, e.g. `Invalid params`.
    pub const fn message(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "Parse error",
            ErrorCode::InvalidRequest => "Invalid Request",
            ErrorCode::MethodNotFound => "Method not found",
            ErrorCode::InvalidParams => "Invalid params",
            ErrorCode::InternalError => "Internal error",
            ErrorCode::PolicyDenied => "request denied by policy",
            ErrorCode::HeaderMismatch => "Header mismatch",
            ErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }
}

/// A JSON-RPC error response:
/// `{"jsonrpc":"2.0","id":<id or null>,"error":{"code":…,"message":…,"data":…}}`.
/// `data` is left out when `None`; an empty `message` is replaced by the code's conventional one.
pub fn error_response(id: Option<&Value>, code: ErrorCode, message: &str, data: Option<Value>) -> Value {
    let message = if message.is_empty() { code.message() } else { message };
    let mut error = Map::new();
    error.insert("code".into(), json!(code.code()));
    error.insert("message".into(), json!(message));
    if let Some(data) = data {
        error.insert("data".into(), data);
    }
    json!({ "jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": error })
}

/// [`error_response`] serialized to bytes.
pub fn error_response_bytes(
    id: Option<&Value>,
    code: ErrorCode,
    message: &str,
    data: Option<Value>,
) -> Vec<u8> {
    to_bytes(&error_response(id, code, message, data))
}

/// The gateway's policy denial body.
///
/// - With an `id` (a request): a JSON-RPC error with [`ErrorCode::PolicyDenied`] (-32001), the
///   given `message` and `error.data` = `extra` plus `"reason": reason` (the reason wins over
///   an `extra` field of the same name).
/// - Without one (a notification, a response, or a body that could not be read): the plain
///   `{"error": reason}` object, as the reference gateway answers.
pub fn denial_body(id: Option<&Value>, message: &str, reason: &str, extra: Map<String, Value>) -> Value {
    let Some(id) = id else {
        return json!({ "error": reason });
    };
    let mut data = extra;
    data.insert("reason".into(), json!(reason));
    error_response(Some(id), ErrorCode::PolicyDenied, message, Some(Value::Object(data)))
}

/// Compact JSON bytes of `value`. Serializing a `Value` cannot fail; should it ever, this
/// returns a fixed internal-error body rather than panicking.
pub fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error"}}"#.to_vec()
    })
}
