//! Audit events into the embedded store: the in-process gateways' [`AuditSink`] (acknowledged
//! once committed), and the ingest-compatible endpoint the platform's own audit writer posts
//! its `platform.audit` events to.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use mcp_events::{AuditPayload, Envelope};
use mcp_eventstore::EventStore;
use mcp_gateway::audit::{AuditSink, SinkFuture};
use serde_json::{Value, json};

/// The gateways' sink: each event becomes the row the processor would write, stored before
/// the write resolves.
#[derive(Debug, Clone)]
pub struct StoreSink {
    store: EventStore,
}

impl StoreSink {
    /// A sink writing into `store`.
    pub fn new(store: EventStore) -> StoreSink {
        StoreSink { store }
    }
}

fn to_row(envelope: Envelope<Value>) -> Result<mcp_sentinel::EventRow, String> {
    mcp_sentinel::row::from_envelope(envelope).map_err(|e| e.to_string())
}

impl AuditSink for StoreSink {
    fn write(&self, events: Vec<Envelope<AuditPayload>>) -> SinkFuture {
        let store = self.store.clone();
        Box::pin(async move {
            let mut rows = Vec::with_capacity(events.len());
            for e in events {
                let payload = serde_json::to_value(&e.payload).map_err(|e| e.to_string())?;
                rows.push(to_row(Envelope {
                    event_id: e.event_id,
                    timestamp: e.timestamp,
                    trace_id: e.trace_id,
                    source: e.source,
                    event_type: e.event_type,
                    payload,
                })?);
            }
            store.insert(rows).await.map_err(|e| e.to_string())
        })
    }
}

/// State of the ingest endpoint: the store and the key callers must present.
#[derive(Debug, Clone)]
pub struct Ingest {
    /// Where events go.
    pub store: EventStore,
    /// `x-api-key` callers must send (random per process; only the platform in this process
    /// knows it).
    pub api_key: Arc<str>,
}

/// `POST /internal/ingest`: one envelope or an array of them, as the ingest service takes
/// them; 202 once stored; 401 without the key; 400 naming the first bad envelope.
pub async fn ingest(State(ingest): State<Ingest>, headers: HeaderMap, body: Bytes) -> Response {
    let key = headers.get("x-api-key").map(http::HeaderValue::as_bytes);
    if key != Some(ingest.api_key.as_bytes()) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "unauthorized"}))).into_response();
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e.to_string()}))).into_response();
        }
    };
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let row = Envelope::from_value(item)
            .map_err(|_| "not an event envelope".to_string())
            .map(|mut e| {
                // Ingest assigns what the producer left out.
                if e.event_id.is_empty() {
                    e.event_id = uuid::Uuid::now_v7().to_string();
                }
                if e.timestamp.is_empty() {
                    e.timestamp = jiff::Timestamp::now().to_string();
                }
                e
            })
            .and_then(to_row);
        match row {
            Ok(row) => rows.push(row),
            Err(e) => {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e, "index": i})))
                    .into_response();
            }
        }
    }
    let n = rows.len();
    match ingest.store.insert(rows).await {
        Ok(()) => (StatusCode::ACCEPTED, axum::Json(json!({"accepted": n}))).into_response(),
        Err(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"error": e.to_string()}))).into_response()
        }
    }
}
