//! Inspection failures: stable codes, HTTP statuses, JSON-RPC codes.

use serde_json::{Map, Value, json};

use crate::jsonrpc::{ErrorCode, error_response};
use crate::{MalformedHeaderValue, ProtocolVersion};

/// The longest client-supplied text an error keeps (content type, requested version).
const MAX_ECHO: usize = 64;

/// Why a `POST` could not be inspected. The gateway answers every variant before authorization:
/// 403 `rpc_inspection_failed` or 400 with a JSON-RPC error (see [`InspectError::http_status`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// The content type is not JSON: not a JSON-RPC attempt at all.
    #[error("content type {content_type:?} is not JSON")]
    NotJson {
        /// The content type as sent (at most 64 characters).
        content_type: String,
    },
    /// The `Content-Type` names a charset other than UTF-8: a reader that honours it would
    /// decode other text than the gateway judged.
    #[error("charset {charset:?} is not supported: JSON-RPC bodies must be UTF-8")]
    UnsupportedCharset {
        /// The charset as sent (at most 64 characters).
        charset: String,
    },
    /// The body starts with a byte order mark (UTF-8, UTF-16 or UTF-32): some readers skip it,
    /// others refuse it.
    #[error("the request body starts with a byte order mark")]
    ByteOrderMark,
    /// The body is empty or only whitespace.
    #[error("the request body is empty")]
    EmptyBody,
    /// The body is larger than the configured limit.
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes ([`InspectOptions::max_body`](crate::InspectOptions::max_body)).
        limit: usize,
    },
    /// The body is not UTF-8 JSON, has trailing data, nests too deep or repeats an object key.
    #[error("the request body is not valid JSON: {detail}")]
    InvalidJson {
        /// The parser's message, with line and column.
        detail: String,
    },
    /// The JSON is not a JSON-RPC 2.0 message (wrong shape, `jsonrpc` not `"2.0"`, bad or empty
    /// `method`, both `result` and `error`, an empty batch, a response without an id).
    #[error("the request is not a valid JSON-RPC message: {detail}")]
    InvalidRequest {
        /// What is wrong, lower case.
        detail: &'static str,
        /// The message id, when it could be read.
        id: Option<Value>,
    },
    /// An object key that readers matching keys case-insensitively would confuse: a key that
    /// is not a protocol key the gateway reads (`method`, `params`, `name`, …) but equals one
    /// after ASCII or Unicode simple case folding (`Method`, `PARAMS`, `naMe`, `ſ` for `s`,
    /// the Kelvin sign for `k`), or two keys of one object that fold equal to each other.
    #[error("ambiguous object key {key:?}: it equals another key after case folding")]
    AmbiguousKey {
        /// The key as sent (at most 64 characters).
        key: String,
        /// The message id, when it could be read.
        id: Option<Value>,
    },
    /// The `id` is neither a string nor a number (`null`, boolean, array, object).
    #[error("the message id must be a string or a number")]
    InvalidId,
    /// An object with neither `method` nor `result`/`error`.
    #[error("the message has no method and is not a response")]
    MissingMethod {
        /// The message id, when it could be read.
        id: Option<Value>,
    },
    /// A JSON-RPC batch where batches are not allowed (every version but a `2025-03-26` session;
    /// never in the stateless era).
    #[error("JSON-RPC batches are not allowed here")]
    BatchNotAllowed,
    /// `params`, `params._meta` or a method-specific parameter (tool name, `arguments`, resource
    /// URI, prompt name, progress token) has the wrong type or is missing.
    #[error("invalid params: {detail}")]
    InvalidParams {
        /// What is wrong, lower case.
        detail: &'static str,
        /// The message id, when it could be read.
        id: Option<Value>,
    },
    /// A mirrored header the stateless era requires is absent.
    #[error("the {header} header is required for this request")]
    MissingHeader {
        /// Canonical header name, e.g. `Mcp-Name`.
        header: &'static str,
        /// The message id, when it could be read.
        id: Option<Value>,
    },
    /// A mirrored header disagrees with the body.
    #[error("the {header} header does not match the request body")]
    HeaderMismatch {
        /// Canonical header name, e.g. `Mcp-Method`.
        header: &'static str,
        /// The message id, when it could be read.
        id: Option<Value>,
    },
    /// A mirrored header value cannot be read (bad characters, malformed base64 sentinel).
    #[error("the {header} header is malformed: {problem}")]
    MalformedHeader {
        /// Canonical header name, e.g. `Mcp-Name`.
        header: &'static str,
        /// What is wrong with the value.
        problem: MalformedHeaderValue,
        /// The message id, when it could be read.
        id: Option<Value>,
    },
    /// `MCP-Protocol-Version` names a version this gateway does not know.
    #[error("unsupported MCP protocol version {requested:?}")]
    UnsupportedProtocolVersion {
        /// The header value as sent (at most 64 characters).
        requested: String,
        /// The message id, when the body could be read.
        id: Option<Value>,
    },
}

impl InspectError {
    /// Every stable code, in declaration order (for pre-registering metric label values).
    pub const CODES: &'static [&'static str] = &[
        "not_json",
        "unsupported_charset",
        "byte_order_mark",
        "empty_body",
        "body_too_large",
        "invalid_json",
        "invalid_request",
        "ambiguous_key",
        "invalid_id",
        "missing_method",
        "batch_not_allowed",
        "invalid_params",
        "missing_header",
        "header_mismatch",
        "malformed_header",
        "unsupported_protocol_version",
    ];

    /// The stable short code, e.g. `header_mismatch`. Codes never change meaning.
    pub const fn code(&self) -> &'static str {
        match self {
            InspectError::NotJson { .. } => "not_json",
            InspectError::UnsupportedCharset { .. } => "unsupported_charset",
            InspectError::ByteOrderMark => "byte_order_mark",
            InspectError::EmptyBody => "empty_body",
            InspectError::BodyTooLarge { .. } => "body_too_large",
            InspectError::InvalidJson { .. } => "invalid_json",
            InspectError::InvalidRequest { .. } => "invalid_request",
            InspectError::AmbiguousKey { .. } => "ambiguous_key",
            InspectError::InvalidId => "invalid_id",
            InspectError::MissingMethod { .. } => "missing_method",
            InspectError::BatchNotAllowed => "batch_not_allowed",
            InspectError::InvalidParams { .. } => "invalid_params",
            InspectError::MissingHeader { .. } => "missing_header",
            InspectError::HeaderMismatch { .. } => "header_mismatch",
            InspectError::MalformedHeader { .. } => "malformed_header",
            InspectError::UnsupportedProtocolVersion { .. } => "unsupported_protocol_version",
        }
    }

    /// Whether the request counts as a JSON-RPC attempt (and is therefore audited). Only a
    /// non-JSON content type is not an attempt.
    pub const fn is_rpc_attempt(&self) -> bool {
        !matches!(self, InspectError::NotJson { .. })
    }

    /// The HTTP status the gateway answers with: 400 for header and protocol-version failures
    /// (the spec mandates it), 403 (`rpc_inspection_failed`) for everything else.
    pub const fn http_status(&self) -> u16 {
        match self {
            InspectError::MissingHeader { .. }
            | InspectError::HeaderMismatch { .. }
            | InspectError::MalformedHeader { .. }
            | InspectError::UnsupportedProtocolVersion { .. } => 400,
            _ => 403,
        }
    }

    /// The JSON-RPC error code for this failure; `None` when the request is not JSON-RPC at all.
    pub const fn jsonrpc_code(&self) -> Option<ErrorCode> {
        Some(match self {
            InspectError::NotJson { .. } => return None,
            InspectError::InvalidJson { .. }
            | InspectError::UnsupportedCharset { .. }
            | InspectError::ByteOrderMark => ErrorCode::ParseError,
            InspectError::EmptyBody
            | InspectError::BodyTooLarge { .. }
            | InspectError::InvalidRequest { .. }
            | InspectError::AmbiguousKey { .. }
            | InspectError::InvalidId
            | InspectError::MissingMethod { .. }
            | InspectError::BatchNotAllowed => ErrorCode::InvalidRequest,
            InspectError::InvalidParams { .. } => ErrorCode::InvalidParams,
            InspectError::MissingHeader { .. }
            | InspectError::HeaderMismatch { .. }
            | InspectError::MalformedHeader { .. } => ErrorCode::HeaderMismatch,
            InspectError::UnsupportedProtocolVersion { .. } => ErrorCode::UnsupportedProtocolVersion,
        })
    }

    /// The id of the offending message, when it was read before the failure.
    pub fn request_id(&self) -> Option<&Value> {
        match self {
            InspectError::InvalidRequest { id, .. }
            | InspectError::AmbiguousKey { id, .. }
            | InspectError::MissingMethod { id }
            | InspectError::InvalidParams { id, .. }
            | InspectError::MissingHeader { id, .. }
            | InspectError::HeaderMismatch { id, .. }
            | InspectError::MalformedHeader { id, .. }
            | InspectError::UnsupportedProtocolVersion { id, .. } => id.as_ref(),
            _ => None,
        }
    }

    /// Machine-readable details for `error.data` (without the code): `header` for header
    /// failures (plus `problem` when malformed), `supported` + `requested` for an unsupported
    /// version, `limit` for an oversized body, `charset` for an unsupported charset, `key` for
    /// an ambiguous key. Empty for the rest.
    pub fn data(&self) -> Map<String, Value> {
        let mut data = Map::new();
        match self {
            InspectError::MissingHeader { header, .. } | InspectError::HeaderMismatch { header, .. } => {
                data.insert("header".into(), json!(header));
            }
            InspectError::MalformedHeader { header, problem, .. } => {
                data.insert("header".into(), json!(header));
                data.insert("problem".into(), json!(problem.as_str()));
            }
            InspectError::UnsupportedProtocolVersion { requested, .. } => {
                let supported: Vec<&str> = ProtocolVersion::ALL.iter().map(|v| v.as_str()).collect();
                data.insert("supported".into(), json!(supported));
                data.insert("requested".into(), json!(requested));
            }
            InspectError::BodyTooLarge { limit } => {
                data.insert("limit".into(), json!(limit));
            }
            InspectError::UnsupportedCharset { charset } => {
                data.insert("charset".into(), json!(charset));
            }
            InspectError::AmbiguousKey { key, .. } => {
                data.insert("key".into(), json!(key));
            }
            _ => {}
        }
        data
    }

    /// The JSON-RPC error response for this failure: its [`jsonrpc_code`](Self::jsonrpc_code),
    /// the message's id (or `null`), this error's message, and `error.data` =
    /// `{"reason": <code>, ..data()}`. `None` for [`InspectError::NotJson`]. Meant for the 400
    /// failures; the 403 ones are normally answered with [`denial_body`](crate::denial_body)
    /// and reason `rpc_inspection_failed`.
    pub fn to_jsonrpc_error(&self) -> Option<Value> {
        let code = self.jsonrpc_code()?;
        let mut data = Map::new();
        data.insert("reason".into(), json!(self.code()));
        data.extend(self.data());
        Some(error_response(self.request_id(), code, &self.to_string(), Some(Value::Object(data))))
    }

    /// Attaches `id` to a failure that can carry one and has none yet.
    pub(crate) fn with_id(mut self, new: Option<Value>) -> InspectError {
        if let InspectError::UnsupportedProtocolVersion { id, .. } = &mut self
            && id.is_none()
        {
            *id = new;
        }
        self
    }
}

/// `s` cut to at most [`MAX_ECHO`] characters.
pub(crate) fn bounded(s: &str) -> String {
    s.chars().take(MAX_ECHO).collect()
}
