//! Kafka messages → `events` rows: the columns the processor extracts from an envelope.
//!
//! A message holds one envelope (a JSON object) or a JSON array of envelopes (what ingest
//! writes for one accepted request, see [`split`]). Pure: no I/O. An envelope that cannot
//! become a row is an [`Invalid`] with a stable reason code; the processor sends it to the
//! dead-letter topic with that code.

use clickhouse::Row;
use mcp_events::{AuditPayload, Envelope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One row of `<db>.events`, in column order (see [`crate::schema::EVENT_COLUMNS`]).
///
/// Strings are empty, numbers zero, when the payload has no such field.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct EventRow {
    /// Event time, seconds (ClickHouse `DateTime`, UTC).
    pub timestamp: u32,
    /// Event time, milliseconds since the epoch.
    pub ts_ms: u64,
    /// Unique event id (deduplication key).
    pub event_id: String,
    /// W3C trace id, or empty.
    pub trace_id: String,
    /// Emitter (`mcp-gateway`).
    pub source: String,
    /// Kind of event (`mcp.request`).
    pub event_type: String,
    /// Governed server.
    pub server: String,
    /// Namespace of the server.
    pub namespace: String,
    /// Team that owns the server.
    pub team_id: String,
    /// Cluster name.
    pub cluster: String,
    /// Human the agent acts for.
    pub human_id: String,
    /// Calling agent.
    pub agent_id: String,
    /// Caller's team.
    pub subject_team_id: String,
    /// Agent session presented.
    pub session_id: String,
    /// `allow` or `deny`.
    pub decision: String,
    /// Stable reason code.
    pub reason: String,
    /// JSON-RPC method.
    pub rpc_method: String,
    /// Tool called.
    pub tool_name: String,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// HTTP status answered.
    pub status: u16,
    /// Request latency in milliseconds.
    pub latency_ms: f64,
    /// Request body size.
    pub bytes_in: u64,
    /// Response body size.
    pub bytes_out: u64,
    /// 1 when the tool result was flagged `isError`.
    pub is_error: u8,
    /// Policy revision that decided.
    pub policy_version: String,
    /// MCP protocol version.
    pub protocol_version: String,
    /// Trust the tool requires.
    pub required_trust: String,
    /// Trust the grant gives.
    pub admin_trust: String,
    /// Trust the session consents to.
    pub consented_trust: String,
    /// The lower of the two.
    pub effective_trust: String,
    /// Side-effect class of the tool.
    pub required_side_effect: String,
    /// Risk level of the tool.
    pub risk_level: String,
    /// Grant that decided.
    pub matched_grant: String,
    /// Namespace of that grant.
    pub matched_grant_namespace: String,
    /// Session that decided.
    pub matched_session: String,
    /// Namespace of that session.
    pub matched_session_namespace: String,
    /// Inspection failure code, when refused before any decision.
    pub inspection_error: String,
    /// The payload object as JSON text.
    pub payload: String,
}

/// Why a message cannot become a row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The message is not JSON.
    #[error("message is not JSON: {0}")]
    NotJson(String),
    /// Not an envelope: `source`, `event_type` or `payload` missing or of the wrong type.
    #[error("message is not an event envelope (source, event_type and an object payload are required)")]
    NotEnvelope,
    /// No `event_id` (ingest always assigns one).
    #[error("envelope has no event_id")]
    MissingEventId,
    /// `timestamp` missing or not an RFC 3339 time between 1970 and 2106.
    #[error("envelope timestamp {0:?} is not an RFC 3339 time between 1970 and 2106")]
    BadTimestamp(String),
    /// A known payload field has the wrong type.
    #[error("payload field of the wrong type: {0}")]
    BadPayload(String),
}

impl Invalid {
    /// Stable code, sent as the `x-dlq-reason` header and used as metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::NotJson(_) => "not_json",
            Invalid::NotEnvelope => "not_envelope",
            Invalid::MissingEventId => "missing_event_id",
            Invalid::BadTimestamp(_) => "invalid_timestamp",
            Invalid::BadPayload(_) => "invalid_payload",
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 time, if it fits a ClickHouse `DateTime`.
pub fn parse_timestamp_ms(text: &str) -> Option<u64> {
    let ts: jiff::Timestamp = text.parse().ok()?;
    let ms = u64::try_from(ts.as_millisecond()).ok()?;
    (ms / 1000 <= u64::from(u32::MAX)).then_some(ms)
}

/// What one Kafka message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// Anything but a JSON array: one envelope (or something invalid, which [`extract`] names).
    One(&'a [u8]),
    /// A JSON array: the exact bytes of each element, in order (possibly none).
    Many(Vec<&'a [u8]>),
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// Splits a message into its envelopes without building them: a JSON array becomes the byte
/// ranges of its elements (each then goes through [`extract`] exactly like a one-envelope
/// message, and can be dead-lettered unchanged on its own); anything else is one envelope.
/// An array that is not well-formed JSON is [`Invalid::NotJson`] as a whole.
pub fn split(message: &[u8]) -> Result<Record<'_>, Invalid> {
    let start = skip_whitespace(message, 0);
    if message.get(start) != Some(&b'[') {
        return Ok(Record::One(message));
    }
    let not_json = |what: String| Invalid::NotJson(what);
    let mut elements = Vec::new();
    let mut at = skip_whitespace(message, start + 1);
    if message.get(at) == Some(&b']') {
        at += 1;
    } else {
        loop {
            let mut stream =
                serde_json::Deserializer::from_slice(&message[at..]).into_iter::<serde::de::IgnoredAny>();
            match stream.next() {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(not_json(e.to_string())),
                None => return Err(not_json("EOF while parsing a list".into())),
            }
            let end = at + stream.byte_offset();
            elements.push(&message[at..end]);
            at = skip_whitespace(message, end);
            match message.get(at) {
                Some(b',') => at = skip_whitespace(message, at + 1),
                Some(b']') => {
                    at += 1;
                    break;
                }
                Some(_) => return Err(not_json(format!("expected `,` or `]` at byte {at}"))),
                None => return Err(not_json("EOF while parsing a list".into())),
            }
        }
    }
    if skip_whitespace(message, at) != message.len() {
        return Err(not_json(format!("trailing characters at byte {at}")));
    }
    Ok(Record::Many(elements))
}

/// Builds the row for one envelope (its JSON, as ingest wrote it).
pub fn extract(message: &[u8]) -> Result<EventRow, Invalid> {
    let value: Value = serde_json::from_slice(message).map_err(|e| Invalid::NotJson(e.to_string()))?;
    let envelope = Envelope::from_value(value).map_err(|_| Invalid::NotEnvelope)?;
    from_envelope(envelope)
}

/// Builds the row for one validated envelope.
pub fn from_envelope(envelope: Envelope<Value>) -> Result<EventRow, Invalid> {
    if envelope.event_id.is_empty() {
        return Err(Invalid::MissingEventId);
    }
    let ts_ms = parse_timestamp_ms(&envelope.timestamp)
        .ok_or_else(|| Invalid::BadTimestamp(envelope.timestamp.clone()))?;
    let p = AuditPayload::from_value(&envelope.payload).map_err(|e| Invalid::BadPayload(e.to_string()))?;
    let payload = envelope.payload.to_string();
    let opt = |v: Option<String>| v.unwrap_or_default();
    Ok(EventRow {
        timestamp: (ts_ms / 1000) as u32,
        ts_ms,
        event_id: envelope.event_id,
        trace_id: envelope.trace_id.unwrap_or_default(),
        source: envelope.source,
        event_type: envelope.event_type,
        server: p.server,
        namespace: p.namespace,
        team_id: p.team_id,
        cluster: p.cluster,
        human_id: p.human_id,
        agent_id: p.agent_id,
        subject_team_id: p.subject_team_id,
        session_id: p.session_id,
        decision: p.decision,
        reason: p.reason,
        rpc_method: opt(p.rpc_method),
        tool_name: opt(p.tool_name),
        method: p.method,
        path: p.path,
        status: p.status,
        latency_ms: if p.latency_ms.is_finite() { p.latency_ms.max(0.0) } else { 0.0 },
        bytes_in: p.bytes_in,
        bytes_out: p.bytes_out,
        is_error: u8::from(p.is_error.unwrap_or(false)),
        policy_version: p.policy_version,
        protocol_version: opt(p.protocol_version),
        required_trust: opt(p.required_trust),
        admin_trust: opt(p.admin_trust),
        consented_trust: opt(p.consented_trust),
        effective_trust: opt(p.effective_trust),
        required_side_effect: opt(p.required_side_effect),
        risk_level: opt(p.risk_level),
        matched_grant: opt(p.matched_grant),
        matched_grant_namespace: opt(p.matched_grant_namespace),
        matched_session: opt(p.matched_session),
        matched_session_namespace: opt(p.matched_session_namespace),
        inspection_error: opt(p.inspection_error),
        payload,
    })
}

#[cfg(test)]
mod tests;
