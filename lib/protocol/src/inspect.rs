//! Reading one `POST` body: content type, size, JSON, JSON-RPC shape, MCP parameters, and the
//! mirrored headers.
//!
//! Order of checks (the first failure wins): content type (and its charset), body size, empty
//! body, byte order mark, protocol version header, JSON syntax (duplicate keys and trailing
//! data included), batch rules, ambiguous keys, each message's shape and parameters, then each
//! message against the mirrored headers.
//!
//! One view of the body: whatever is accepted is also re-serialized compactly
//! ([`Inspected::canonical`]), and that is what the gateway forwards. Together with the
//! refusals (non-UTF-8 charsets, byte order marks, trailing data, duplicate keys, keys that
//! fold to a protocol key or to each other) every mainstream JSON reader — first or last
//! duplicate wins, case-sensitive or not — reads the forwarded bytes as the gateway did.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::header::{MCP_METHOD_DISPLAY, MCP_NAME_DISPLAY, PROTOCOL_VERSION_DISPLAY, decode_header_value};
use crate::method::{
    LEGACY_CALL_TOOL, MethodClass, PROMPTS_GET, RESOURCES_READ, TASKS_CANCEL, TASKS_GET, TASKS_RESULT,
    TOOLS_CALL, method_class,
};
use crate::{Era, InspectError, ProtocolVersion};

/// The `_meta` key carrying the per-request protocol version (2026-07-28).
pub(crate) const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// The request headers inspection reads, as plain strings so this crate stays free of HTTP
/// libraries. `None` means the header is absent.
///
/// Pass header values as UTF-8 text; a value that is not valid UTF-8 may be passed lossily
/// converted, since mirrored values must be ASCII and any replacement character is rejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestHeaders<'a> {
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `MCP-Protocol-Version`.
    pub protocol_version: Option<&'a str>,
    /// `Mcp-Method`.
    pub mcp_method: Option<&'a str>,
    /// `Mcp-Name`.
    pub mcp_name: Option<&'a str>,
}

/// Limits and connection facts the gateway decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InspectOptions {
    /// The largest body accepted, in bytes (default [`InspectOptions::DEFAULT_MAX_BODY`]). The
    /// gateway should stop reading after `max_body + 1` bytes and pass what it read.
    pub max_body: usize,
    /// Whether a JSON-RPC batch (array) is accepted. Set it only for a session negotiated at
    /// `2025-03-26`; batches are refused in the stateless era whatever this says.
    pub allow_batch: bool,
}

impl InspectOptions {
    /// 1 MiB, the reference gateway's limit.
    pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
}

impl Default for InspectOptions {
    fn default() -> InspectOptions {
        InspectOptions { max_body: InspectOptions::DEFAULT_MAX_BODY, allow_batch: false }
    }
}

/// A body that passed inspection.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspected {
    /// The protocol version in force: the header's, or [`ProtocolVersion::ASSUMED`].
    pub version: ProtocolVersion,
    /// Whether the body was a JSON-RPC batch (array).
    pub batch: bool,
    /// The messages in body order; exactly one unless `batch`, never empty.
    pub messages: Vec<Message>,
    /// The body the gateway forwards: the compact serde_json serialization of what was parsed
    /// (object keys sorted, no whitespace, numbers in serde_json's shortest round-trip form).
    /// For a batch it is `[` + the messages' [`Message::canonical`] joined by `,` + `]`.
    /// Forward it with `Content-Type: application/json`, never the bytes as received.
    pub canonical: Vec<u8>,
}

/// What a JSON-RPC message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A request: `method` and `id`.
    Request,
    /// A notification: `method`, no `id`.
    Notification,
    /// A response to a server request: `result` or `error`, and `id`.
    Response,
}

/// One inspected JSON-RPC message.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Request, notification or response.
    pub kind: MessageKind,
    /// The `id` exactly as sent (a JSON string or number); `None` for notifications.
    pub id: Option<Value>,
    /// The method; `None` for responses.
    pub method: Option<String>,
    /// For `tools/call` (and legacy `call_tool`): the tool name, a non-empty string.
    pub tool: Option<String>,
    /// For tool calls: `params.arguments` when present (always a JSON object).
    pub arguments: Option<Value>,
    /// What the call names: the tool name (tool calls), the prompt name (`prompts/get`) or the
    /// resource URI (`resources/read`). This is the value `Mcp-Name` mirrors.
    pub target: Option<String>,
    /// `params._meta.progressToken` when present (a JSON string or number).
    pub progress_token: Option<Value>,
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]` when present (2026-07-28); it
    /// always equals the `MCP-Protocol-Version` header when inspection succeeds.
    pub meta_protocol_version: Option<String>,
    /// For `tasks/get`, `tasks/result` and `tasks/cancel`: `params.taskId`, a non-empty string.
    pub task_id: Option<String>,
    /// This message alone, compactly re-serialized (see [`Inspected::canonical`]): a subset of
    /// a batch is forwarded as `[` + the chosen messages' bytes joined by `,` + `]`.
    pub canonical: Vec<u8>,
}

impl Message {
    /// Whether this is a tool call (`tools/call` or legacy `call_tool`), i.e. `tool` is set.
    pub fn is_tool_call(&self) -> bool {
        self.tool.is_some()
    }

    /// How the gateway governs this message ([`method_class`] of its method).
    pub fn class(&self) -> MethodClass {
        method_class(self.method.as_deref())
    }

    /// The task a `tasks/get`, `tasks/result` or `tasks/cancel` names (`params.taskId`).
    pub fn task_id(&self) -> Option<&str> {
        self.task_id.as_deref()
    }
}

/// Inspects one `POST`: `body` is the request body (at most `opts.max_body + 1` bytes need be
/// read), `headers` the request headers that matter. Returns the messages, or the first
/// failure. Never panics.
pub fn inspect(
    body: &[u8],
    headers: &RequestHeaders<'_>,
    opts: &InspectOptions,
) -> Result<Inspected, InspectError> {
    if let Some(content_type) = headers.content_type {
        if !is_json_content_type(content_type) {
            return Err(InspectError::NotJson { content_type: crate::error::bounded(content_type) });
        }
        if let Some(charset) = foreign_charset(content_type) {
            return Err(InspectError::UnsupportedCharset { charset: crate::error::bounded(charset) });
        }
    }
    if body.len() > opts.max_body {
        return Err(InspectError::BodyTooLarge { limit: opts.max_body });
    }
    if body.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
        return Err(InspectError::EmptyBody);
    }
    if BYTE_ORDER_MARKS.iter().any(|bom| body.starts_with(bom)) {
        return Err(InspectError::ByteOrderMark);
    }
    let parsed = parse_json(body);
    let version = ProtocolVersion::from_header(headers.protocol_version)
        .map_err(|e| e.with_id(parsed.as_ref().ok().and_then(readable_id)))?;
    let value = parsed?;

    let (batch, elements) = match value {
        Value::Array(items) => {
            if version.era() == Era::Stateless || !opts.allow_batch {
                return Err(InspectError::BatchNotAllowed);
            }
            if items.is_empty() {
                return Err(InspectError::InvalidRequest { detail: "the batch is empty", id: None });
            }
            (true, items)
        }
        object @ Value::Object(_) => (false, vec![object]),
        _ => {
            return Err(InspectError::InvalidRequest {
                detail: "the body must be a JSON object or a batch array",
                id: None,
            });
        }
    };

    for element in &elements {
        check_keys(element)?;
    }
    let messages = elements.into_iter().map(read_message).collect::<Result<Vec<_>, _>>()?;
    for message in &messages {
        check_headers(message, version, headers)?;
    }
    let canonical = if batch {
        let mut out = Vec::with_capacity(messages.iter().map(|m| m.canonical.len() + 1).sum::<usize>() + 1);
        out.push(b'[');
        for (i, message) in messages.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&message.canonical);
        }
        out.push(b']');
        out
    } else {
        messages.first().map(|m| m.canonical.clone()).unwrap_or_default()
    };
    Ok(Inspected { version, batch, messages, canonical })
}

/// UTF-8, UTF-16 (both orders) and UTF-32 (both orders) byte order marks.
const BYTE_ORDER_MARKS: &[&[u8]] =
    &[b"\xEF\xBB\xBF", b"\x00\x00\xFE\xFF", b"\xFF\xFE\x00\x00", b"\xFE\xFF", b"\xFF\xFE"];

/// The value of the first `charset` parameter that is not `utf-8` (case-insensitive, quotes
/// allowed), or of a `charset` parameter without a value.
fn foreign_charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if !name.trim_matches([' ', '\t']).eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim_matches([' ', '\t']);
        let unquoted = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        (!unquoted.eq_ignore_ascii_case("utf-8")).then_some(value)
    })
}

/// Refuses keys case-insensitive readers would confuse, in one message: a key at the message,
/// `params` or `params._meta` level that folds to a protocol key without being it, and two
/// keys of any object (at any depth) that fold equal to each other.
fn check_keys(message: &Value) -> Result<(), InspectError> {
    let ambiguous =
        |key: &str| InspectError::AmbiguousKey { key: crate::error::bounded(key), id: readable_id(message) };
    let mut level = Some(message);
    for child in ["params", "_meta", ""] {
        let Some(Value::Object(object)) = level else { break };
        if let Some(key) = object.keys().find(|k| crate::fold::shadows_protocol_key(k)) {
            return Err(ambiguous(key));
        }
        level = object.get(child);
    }
    let mut stack = vec![message];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(object) => {
                if let Some(key) = crate::fold::fold_collision(object.keys()) {
                    return Err(ambiguous(key));
                }
                stack.extend(object.values().filter(|v| v.is_object() || v.is_array()));
            }
            Value::Array(items) => stack.extend(items.iter().filter(|v| v.is_object() || v.is_array())),
            _ => {}
        }
    }
    Ok(())
}

/// `application/json` or `application/<anything>+json`, parameters ignored, case-insensitive.
/// An empty value counts as absent.
fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type.split_once(';').map_or(content_type, |(essence, _)| essence);
    let essence = essence.trim_matches([' ', '\t']).to_ascii_lowercase();
    essence.is_empty()
        || essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses the body as JSON, rejecting duplicate object keys at any depth, in one pass.
///
/// The value is built by [`StrictValue`] rather than `serde_json::Value`'s own `Deserialize`,
/// which keeps the last of two equal keys: the app might read the other one.
fn parse_json(body: &[u8]) -> Result<Value, InspectError> {
    let invalid = |e: serde_json::Error| InspectError::InvalidJson { detail: e.to_string() };
    serde_json::from_slice::<StrictValue>(body).map(|v| v.0).map_err(invalid)
}

/// The id of a single-message body, if it is a string or a number.
fn readable_id(value: &Value) -> Option<Value> {
    value.get("id").filter(|id| id.is_string() || id.is_number()).cloned()
}

/// Reads one JSON-RPC message (a batch element or the whole body).
fn read_message(value: Value) -> Result<Message, InspectError> {
    let canonical = crate::jsonrpc::to_bytes(&value);
    let Value::Object(mut object) = value else {
        return Err(InspectError::InvalidRequest {
            detail: "a batch element is not a JSON object",
            id: None,
        });
    };
    let id = match object.remove("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(_) => return Err(InspectError::InvalidId),
    };
    let invalid =
        |detail: &'static str, id: &Option<Value>| InspectError::InvalidRequest { detail, id: id.clone() };
    let is_response = object.contains_key("result") || object.contains_key("error");

    let method = match object.remove("method") {
        None if !is_response => return Err(InspectError::MissingMethod { id }),
        None => None,
        Some(Value::String(method)) => Some(method),
        Some(_) => return Err(invalid("method must be a string", &id)),
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("jsonrpc must be \"2.0\"", &id));
    }

    let Some(method) = method else {
        if object.contains_key("result") && object.contains_key("error") {
            return Err(invalid("a response cannot have both result and error", &id));
        }
        if id.is_none() {
            return Err(invalid("a response must have an id", &id));
        }
        return Ok(Message {
            kind: MessageKind::Response,
            id,
            method: None,
            tool: None,
            arguments: None,
            target: None,
            progress_token: None,
            meta_protocol_version: None,
            task_id: None,
            canonical,
        });
    };
    if is_response {
        return Err(invalid("a message cannot have both method and result or error", &id));
    }
    if method.is_empty() {
        return Err(invalid("method must not be empty", &id));
    }

    let params_invalid = |detail: &'static str| InspectError::InvalidParams { detail, id: id.clone() };
    let mut params = match object.remove("params") {
        None => None,
        Some(Value::Object(params)) => Some(params),
        Some(_) => return Err(params_invalid("params must be an object")),
    };
    let (progress_token, meta_protocol_version) = read_meta(params.as_ref()).map_err(params_invalid)?;

    let mut tool = None;
    let mut arguments = None;
    let target = match method.as_str() {
        TOOLS_CALL | LEGACY_CALL_TOOL => {
            let params = params.as_mut().ok_or_else(|| params_invalid("a tool call needs params"))?;
            let name = non_empty_string(params, "name")
                .ok_or_else(|| params_invalid("params.name must be a non-empty string"))?;
            arguments = match params.remove("arguments") {
                None => None,
                Some(args @ Value::Object(_)) => Some(args),
                Some(_) => return Err(params_invalid("params.arguments must be an object")),
            };
            tool = Some(name.clone());
            Some(name)
        }
        RESOURCES_READ => {
            let params = params.as_ref().ok_or_else(|| params_invalid("resources/read needs params"))?;
            Some(
                non_empty_string(params, "uri")
                    .ok_or_else(|| params_invalid("params.uri must be a non-empty string"))?,
            )
        }
        PROMPTS_GET => {
            let params = params.as_ref().ok_or_else(|| params_invalid("prompts/get needs params"))?;
            Some(
                non_empty_string(params, "name")
                    .ok_or_else(|| params_invalid("params.name must be a non-empty string"))?,
            )
        }
        _ => None,
    };
    let task_id = match method.as_str() {
        TASKS_GET | TASKS_RESULT | TASKS_CANCEL => {
            let params = params.as_ref().ok_or_else(|| params_invalid("a task request needs params"))?;
            Some(
                non_empty_string(params, "taskId")
                    .ok_or_else(|| params_invalid("params.taskId must be a non-empty string"))?,
            )
        }
        _ => None,
    };

    let kind = if id.is_some() { MessageKind::Request } else { MessageKind::Notification };
    Ok(Message {
        kind,
        id,
        method: Some(method),
        tool,
        arguments,
        target,
        progress_token,
        meta_protocol_version,
        task_id,
        canonical,
    })
}

/// `params[key]` when it is a non-empty string.
fn non_empty_string(params: &Map<String, Value>, key: &str) -> Option<String> {
    params.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

/// `params._meta.progressToken` and the per-request protocol version, type-checked.
fn read_meta(params: Option<&Map<String, Value>>) -> Result<(Option<Value>, Option<String>), &'static str> {
    let meta = match params.and_then(|p| p.get("_meta")) {
        None => return Ok((None, None)),
        Some(Value::Object(meta)) => meta,
        Some(_) => return Err("params._meta must be an object"),
    };
    let progress_token = match meta.get("progressToken") {
        None => None,
        Some(token @ (Value::String(_) | Value::Number(_))) => Some(token.clone()),
        Some(_) => return Err("params._meta.progressToken must be a string or a number"),
    };
    let version = match meta.get(META_PROTOCOL_VERSION) {
        None => None,
        Some(Value::String(version)) => Some(version.clone()),
        Some(_) => return Err("the _meta protocol version must be a string"),
    };
    Ok((progress_token, version))
}

/// Checks one message against the mirrored headers.
///
/// - `Mcp-Method`, when present (any era), must decode to the message's method; a message
///   without a method (a response) cannot match one. The stateless era requires it on every
///   message that has a method.
/// - `Mcp-Name`, when present, must decode to the message's target (tool or prompt name,
///   resource URI); a message without a target cannot match one. The stateless era requires it
///   for tool calls, `resources/read` and `prompts/get`.
/// - A `_meta` protocol version requires `MCP-Protocol-Version` and must equal it.
fn check_headers(
    message: &Message,
    version: ProtocolVersion,
    headers: &RequestHeaders<'_>,
) -> Result<(), InspectError> {
    let stateless = version.era() == Era::Stateless;
    let id = || message.id.clone();
    let mirrored = [
        (
            MCP_METHOD_DISPLAY,
            headers.mcp_method,
            message.method.as_deref(),
            stateless && message.method.is_some(),
        ),
        (
            MCP_NAME_DISPLAY,
            headers.mcp_name,
            message.target.as_deref(),
            stateless && message.target.is_some(),
        ),
    ];
    for (header, raw, body, required) in mirrored {
        match raw {
            None if required => return Err(InspectError::MissingHeader { header, id: id() }),
            None => {}
            Some(raw) => {
                let value = decode_header_value(raw).map_err(|problem| InspectError::MalformedHeader {
                    header,
                    problem,
                    id: id(),
                })?;
                if Some(value.as_ref()) != body {
                    return Err(InspectError::HeaderMismatch { header, id: id() });
                }
            }
        }
    }
    if let Some(meta_version) = &message.meta_protocol_version {
        if headers.protocol_version.is_none() {
            return Err(InspectError::MissingHeader { header: PROTOCOL_VERSION_DISPLAY, id: id() });
        }
        if meta_version != version.as_str() {
            return Err(InspectError::HeaderMismatch { header: PROTOCOL_VERSION_DISPLAY, id: id() });
        }
    }
    Ok(())
}

/// A JSON value that is only accepted when no object repeats a key.
///
/// Numbers arrive as `i64`/`u64`/`f64` because serde_json's `arbitrary_precision` feature is
/// off in this workspace; a test (`numbers_stay_numbers`) fails if that ever changes.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StrictValue, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<StrictValue, E> {
        Ok(StrictValue(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)))
    }

    fn visit_str<E>(self, v: &str) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_none<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(StrictValue(item)) = seq.next_element::<StrictValue>()? {
            items.push(item);
        }
        Ok(StrictValue(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictValue, A::Error> {
        // `Map` is a B-tree here: the duplicate check stays O(log n) per key.
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match object.entry(key) {
                serde_json::map::Entry::Occupied(_) => return Err(de::Error::custom("duplicate object key")),
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(map.next_value::<StrictValue>()?.0);
                }
            }
        }
        Ok(StrictValue(Value::Object(object)))
    }
}
