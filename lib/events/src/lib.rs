//! The audit event wire format, shared by every producer (the `mcp-gateway` sidecar) and the
//! sentinel pipeline (ingest, processor, ClickHouse columns).
//!
//! An [`Envelope`] carries one event: a unique `event_id` (downstream deduplication key), an
//! RFC 3339 `timestamp`, the emitting `source` and `event_type`, an optional `trace_id`, and a
//! `payload` object. Gateways emit [`AuditPayload`]; ingest accepts any JSON object as payload
//! and the processor reads the [`AuditPayload`] fields it knows from it, keeping the raw payload.
//!
//! [`columns`] is the one list of the columns a stored event has (the ClickHouse table, the
//! processor's row, the event list's select list and filters all derive from it).
//!
//! Pure: no I/O, only serde types and checks.

pub mod columns;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Kafka topic that carries accepted envelopes.
pub const TOPIC: &str = "mcp.events";
/// Dead-letter topic for messages the processor cannot read.
pub const DLQ_TOPIC: &str = "mcp.events.dlq";
/// `source` of events emitted by the gateway sidecar (default).
pub const GATEWAY_SOURCE: &str = "mcp-gateway";
/// `event_type` of one governed request (default).
pub const REQUEST_EVENT_TYPE: &str = "mcp.request";

/// One audit event as posted to ingest and carried through Kafka.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P = Value> {
    /// Unique id (UUIDv7 from the gateway); retries of the same event carry the same id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    /// RFC 3339 UTC time the event happened; ingest fills it in when missing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub timestamp: String,
    /// W3C trace id, when the producer had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Who emitted the event (e.g. `mcp-gateway`).
    pub source: String,
    /// What kind of event (e.g. `mcp.request`).
    pub event_type: String,
    /// The event's fields.
    pub payload: P,
}

/// Why an incoming envelope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeError {
    /// `source`, `event_type` or `payload` is missing, empty or not of its type.
    MissingFields,
}

impl EnvelopeError {
    /// The stable error code ingest answers with.
    pub fn code(self) -> &'static str {
        match self {
            EnvelopeError::MissingFields => "missing_fields",
        }
    }
}

impl Envelope<Value> {
    /// Reads one envelope from a JSON value as ingest receives it: `source` and `event_type`
    /// must be non-empty strings and `payload` an object. `event_id` and `timestamp` may be
    /// absent (ingest assigns them); when present they must be strings.
    pub fn from_value(value: Value) -> Result<Envelope<Value>, EnvelopeError> {
        let Value::Object(mut map) = value else { return Err(EnvelopeError::MissingFields) };
        let mut text = |key: &str, required: bool| -> Result<String, EnvelopeError> {
            match map.remove(key) {
                Some(Value::String(s)) if !(required && s.is_empty()) => Ok(s),
                None | Some(Value::Null) if !required => Ok(String::new()),
                _ => Err(EnvelopeError::MissingFields),
            }
        };
        let source = text("source", true)?;
        let event_type = text("event_type", true)?;
        let event_id = text("event_id", false)?;
        let timestamp = text("timestamp", false)?;
        let trace_id = Some(text("trace_id", false)?).filter(|t| !t.is_empty());
        let payload = match map.remove("payload") {
            Some(p @ Value::Object(_)) => p,
            _ => return Err(EnvelopeError::MissingFields),
        };
        Ok(Envelope { event_id, timestamp, trace_id, source, event_type, payload })
    }
}

/// The payload of one governed request, as the gateway emits it (reference §4.6 plus ours).
///
/// Every field has a default so the processor can read payloads from older or other producers;
/// optional fields are left out of the JSON when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditPayload {
    /// HTTP method of the request.
    pub method: String,
    /// Request path as received (before any prefix strip).
    pub path: String,
    /// HTTP status answered.
    pub status: u16,
    /// Time from request to end of response body, in milliseconds.
    pub latency_ms: f64,
    /// Request body size.
    pub bytes_in: u64,
    /// Response body size.
    pub bytes_out: u64,
    /// Governed server (name, namespace, owning team, cluster).
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
    /// Presented agent session.
    pub session_id: String,
    /// `allow` or `deny`.
    pub decision: String,
    /// Stable reason code (`allowed`, `session_revoked`, …).
    pub reason: String,
    /// Revision of the policy the decision was made with.
    pub policy_version: String,
    /// JSON-RPC method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_method: Option<String>,
    /// Tool called (`tools/call`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Negotiated or declared MCP protocol version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// JSON-RPC id of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jsonrpc_id: Option<Value>,
    /// Whether the tool result was flagged `isError: true` (tool calls answered 200 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Whether the request was one element of a JSON-RPC batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<bool>,
    /// Inspection failure code when the request was refused before any decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspection_error: Option<String>,
    /// Grant that decided the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_grant: Option<String>,
    /// Namespace of that grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_grant_namespace: Option<String>,
    /// Session that decided the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_session: Option<String>,
    /// Namespace of that session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_session_namespace: Option<String>,
    /// Trust the tool requires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_trust: Option<String>,
    /// Side effect class of the tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_side_effect: Option<String>,
    /// Risk level of the tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_level: Option<String>,
    /// Trust the grant gives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_trust: Option<String>,
    /// Trust the session consents to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consented_trust: Option<String>,
    /// The lower of the two.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_trust: Option<String>,
    /// Argument that broke a rule (`argument_not_allowed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argument: Option<String>,
    /// The rule it broke.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argument_rule: Option<String>,
    /// Budget that refused the call (`budget_exhausted`, `rate_limited`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
}

impl AuditPayload {
    /// Reads the known fields of a payload object; a field of the wrong type is an error,
    /// unknown fields are ignored.
    pub fn from_value(payload: &Value) -> Result<AuditPayload, serde_json::Error> {
        AuditPayload::deserialize(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_requires_source_type_and_object_payload() {
        let ok = json!({"source": "s", "event_type": "t", "payload": {"a": 1}});
        let e = Envelope::from_value(ok).expect("valid envelope");
        assert_eq!((e.source.as_str(), e.event_type.as_str(), e.event_id.as_str()), ("s", "t", ""));
        for bad in [
            json!({"event_type": "t", "payload": {}}),
            json!({"source": "", "event_type": "t", "payload": {}}),
            json!({"source": "s", "payload": {}}),
            json!({"source": "s", "event_type": "t"}),
            json!({"source": "s", "event_type": "t", "payload": null}),
            json!({"source": "s", "event_type": "t", "payload": [1]}),
            json!({"source": 1, "event_type": "t", "payload": {}}),
            json!({"source": "s", "event_type": "t", "payload": {}, "event_id": 7}),
            json!([]),
        ] {
            assert_eq!(Envelope::from_value(bad.clone()), Err(EnvelopeError::MissingFields), "{bad}");
        }
    }

    #[test]
    fn gateway_payload_round_trips_and_leaves_out_absent_fields() {
        let p = AuditPayload {
            method: "POST".into(),
            status: 403,
            decision: "deny".into(),
            reason: "session_revoked".into(),
            tool_name: Some("add".into()),
            jsonrpc_id: Some(json!(7)),
            ..AuditPayload::default()
        };
        let env = Envelope {
            event_id: "id".into(),
            timestamp: "2026-11-26T00:00:00Z".into(),
            trace_id: None,
            source: GATEWAY_SOURCE.into(),
            event_type: REQUEST_EVENT_TYPE.into(),
            payload: p.clone(),
        };
        let text = serde_json::to_value(&env).expect("serializable");
        assert!(text.get("trace_id").is_none());
        assert!(text["payload"].get("matched_grant").is_none());
        assert_eq!(text["payload"]["tool_name"], "add");
        let back = Envelope::from_value(text).expect("valid envelope");
        assert_eq!(AuditPayload::from_value(&back.payload).expect("readable payload"), p);
    }

    #[test]
    fn payload_reader_tolerates_missing_and_unknown_fields_but_not_wrong_types() {
        let p = AuditPayload::from_value(&json!({"server": "x", "extra": [1, 2]})).expect("readable");
        assert_eq!(p.server, "x");
        assert_eq!(p.status, 0);
        assert!(AuditPayload::from_value(&json!({"status": "200"})).is_err());
    }
}
