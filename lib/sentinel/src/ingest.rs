//! `mcp-sentinel ingest`: the HTTP front door of the pipeline.
//!
//! `POST /events` takes one envelope or a JSON array of up to `max_batch` envelopes, checks the
//! caller ([`crate::auth`]), validates every envelope (all or nothing), fills in what producers
//! may leave out (`event_id`, `timestamp`, `trace_id` from `traceparent`), writes the request's
//! envelopes to Kafka as one message (a JSON array; a lone envelope as itself; split only past
//! [`MAX_RECORD_BYTES`], see [`pack`]) keyed by its first `event_id`, and answers `202` only once
//! the broker acknowledged every write (`acks=all`, idempotent producer). Any write that fails
//! or times out makes the whole request `500 enqueue_failed`: the sender retries, and the copies
//! that did land collapse downstream on `event_id`.
//!
//! Errors are `{"error": code, "message": text}` with stable codes: `invalid_json`,
//! `missing_fields`, `invalid_timestamp`, `too_many_events`, `payload_too_large` (413),
//! `unauthorized` / `invalid_token` (401), `enqueue_failed` (500).
//!
//! Also served: `GET /live`, `GET /health` (process up), `GET /ready` (the broker answers a
//! metadata request within 2 s, else `503 kafka_unavailable`), `GET /metrics`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use mcp_events::{Envelope, EnvelopeError};
use prometheus_client::registry::Registry;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureRecord, Producer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::auth::{AuthError, Authenticator};
use crate::config::IngestConfig;
use crate::kafka;
use crate::metrics::{IngestMetrics, count, render};

/// Why a `POST /events` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The body is not JSON.
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    /// An envelope lacks `source`, `event_type` or an object `payload` (or is not an object).
    #[error("{}: source, event_type (non-empty strings) and payload (an object) are required", at(*.0))]
    MissingFields(Option<usize>),
    /// An envelope's `timestamp` is not an RFC 3339 time.
    #[error("{}: timestamp {value:?} is not an RFC 3339 time between 1970 and 2106", at(*index))]
    InvalidTimestamp {
        /// Position in the array, when the body was one.
        index: Option<usize>,
        /// The timestamp given.
        value: String,
    },
    /// More envelopes than allowed in one array.
    #[error("{0} envelopes in one request; at most {1} are accepted")]
    TooManyEvents(usize, usize),
    /// The body is larger than allowed.
    #[error("body larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Authentication failed.
    #[error("{0}")]
    Auth(AuthError),
    /// The broker did not acknowledge every write.
    #[error("the event broker did not acknowledge the events: {0}")]
    EnqueueFailed(String),
}

fn at(index: Option<usize>) -> String {
    match index {
        Some(i) => format!("envelope {i}"),
        None => "envelope".to_string(),
    }
}

impl Refusal {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::InvalidJson(_) => "invalid_json",
            Refusal::MissingFields(_) => "missing_fields",
            Refusal::InvalidTimestamp { .. } => "invalid_timestamp",
            Refusal::TooManyEvents(..) => "too_many_events",
            Refusal::PayloadTooLarge(_) => "payload_too_large",
            Refusal::Auth(e) => e.code(),
            Refusal::EnqueueFailed(_) => "enqueue_failed",
        }
    }

    /// HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::InvalidJson(_) | Refusal::MissingFields(_) | Refusal::InvalidTimestamp { .. } => {
                StatusCode::BAD_REQUEST
            }
            Refusal::TooManyEvents(..) | Refusal::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Auth(_) => StatusCode::UNAUTHORIZED,
            Refusal::EnqueueFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code(), "message": self.to_string()});
        let mut res = (self.status(), axum::Json(body)).into_response();
        if let Refusal::Auth(_) = self {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// One envelope ready for Kafka.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Its `event_id`.
    pub key: String,
    /// The envelope as JSON.
    pub value: Vec<u8>,
}

/// Largest Kafka message [`pack`] builds from several envelopes: under librdkafka's
/// `message.max.bytes` and Kafka's default `max.message.bytes` (both about 1 MB), with room for
/// the record's framing and headers.
pub const MAX_RECORD_BYTES: usize = 900_000;

/// One Kafka message: the envelopes of (part of) one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Message key: the `event_id` of its first envelope.
    pub key: String,
    /// Message value: a JSON array of envelopes, or a lone envelope as itself.
    pub value: Vec<u8>,
    /// How many envelopes it holds.
    pub events: usize,
}

/// Packs a request's envelopes into as few Kafka messages as fit in `max_bytes` each (in
/// order): one JSON array per message, except that a message of one envelope is that envelope
/// itself (the format of a one-event request, and of an envelope too large to share a message).
///
/// Why: the broker's cost is per message (tansu with SQLite storage writes one database row per
/// record), so one message per request instead of one per event is what lets the pipeline keep
/// up; each envelope still carries its own `event_id` and `trace_id`, and the processor reads
/// both forms ([`crate::row::split`]).
pub fn pack(batch: Vec<Prepared>, max_bytes: usize) -> Vec<Record> {
    fn close(group: Vec<Prepared>, out: &mut Vec<Record>) {
        let events = group.len();
        let mut group = group.into_iter();
        let Some(first) = group.next() else { return };
        if events == 1 {
            out.push(Record { key: first.key, value: first.value, events });
            return;
        }
        let mut value = Vec::with_capacity(
            first.value.len() + group.as_slice().iter().map(|p| p.value.len() + 1).sum::<usize>() + 2,
        );
        value.push(b'[');
        value.extend_from_slice(&first.value);
        for p in group {
            value.push(b',');
            value.extend_from_slice(&p.value);
        }
        value.push(b']');
        out.push(Record { key: first.key, value, events });
    }
    let mut out = Vec::new();
    let mut group = Vec::new();
    // Bytes of the array so far: brackets plus one separator per envelope.
    let mut size = 1usize;
    for p in batch {
        if !group.is_empty() && size + p.value.len() + 1 > max_bytes {
            close(std::mem::take(&mut group), &mut out);
            size = 1;
        }
        size += p.value.len() + 1;
        group.push(p);
    }
    close(group, &mut out);
    out
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), unless all zero.
pub fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let ok = hex(version, 2) && hex(trace, 32) && hex(span, 16) && hex(flags, 2);
    (ok && trace.bytes().any(|b| b != b'0')).then(|| trace.to_ascii_lowercase())
}

/// The time to record for an envelope without `timestamp`: the time inside a UUIDv7
/// `event_id` (so every retry of one event gets the same time and day partition), else now.
fn default_timestamp(event_id: &str, now: jiff::Timestamp) -> jiff::Timestamp {
    uuid::Uuid::parse_str(event_id)
        .ok()
        .filter(|id| id.get_version_num() == 7)
        .and_then(|id| id.get_timestamp())
        .and_then(|ts| {
            let (secs, nanos) = ts.to_unix();
            jiff::Timestamp::new(i64::try_from(secs).ok()?, i32::try_from(nanos).ok()?).ok()
        })
        .unwrap_or(now)
}

/// Validates a request body (already parsed) and turns it into Kafka messages: all or nothing.
pub fn prepare(
    body: Value,
    max_batch: usize,
    trace_id: Option<&str>,
    now: jiff::Timestamp,
) -> Result<Vec<Prepared>, Refusal> {
    let (items, batch) = match body {
        Value::Array(items) => {
            if items.len() > max_batch {
                return Err(Refusal::TooManyEvents(items.len(), max_batch));
            }
            (items, true)
        }
        single => (vec![single], false),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let index = batch.then_some(i);
        let mut envelope = Envelope::from_value(item)
            .map_err(|EnvelopeError::MissingFields| Refusal::MissingFields(index))?;
        if envelope.event_id.is_empty() {
            envelope.event_id = uuid::Uuid::now_v7().to_string();
        }
        if envelope.timestamp.is_empty() {
            envelope.timestamp = format!("{:.3}", default_timestamp(&envelope.event_id, now));
        } else if crate::row::parse_timestamp_ms(&envelope.timestamp).is_none() {
            return Err(Refusal::InvalidTimestamp { index, value: envelope.timestamp });
        }
        if envelope.trace_id.is_none() {
            envelope.trace_id = trace_id.map(str::to_string);
        }
        let value = serde_json::to_vec(&envelope).map_err(|e| Refusal::InvalidJson(e.to_string()))?;
        out.push(Prepared { key: envelope.event_id, value });
    }
    Ok(out)
}

/// The ingest service: its producer, authenticator and metrics.
pub struct Ingest {
    config: IngestConfig,
    producer: kafka::Reconnecting,
    auth: Authenticator,
    metrics: IngestMetrics,
    registry: Registry,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Ingest could not start.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The Kafka client could not be created (bad settings).
    #[error("cannot create the Kafka producer: {0}")]
    Producer(#[source] KafkaError),
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

impl Ingest {
    /// Builds the service (no network yet: the producer connects lazily).
    pub fn new(config: IngestConfig) -> Result<Arc<Ingest>, IngestError> {
        let producer =
            kafka::Reconnecting::new(&config.kafka, "mcp-sentinel-ingest").map_err(IngestError::Producer)?;
        let auth = Authenticator::new(&config.api_keys, config.oidc.clone());
        let mut registry = Registry::default();
        let metrics = IngestMetrics::register(&mut registry);
        Ok(Arc::new(Ingest { config, producer, auth, metrics, registry }))
    }

    /// The routes.
    pub fn router(self: &Arc<Ingest>) -> Router {
        Router::new()
            .route("/events", post(post_events))
            .route("/live", get(ok))
            .route("/health", get(ok))
            .route("/ready", get(ready))
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }

    /// Writes the envelopes (as few messages as [`pack`] makes) and waits for the broker's
    /// acknowledgements.
    async fn enqueue(&self, batch: Vec<Prepared>, traceparent: Option<&str>) -> Result<(), Refusal> {
        let started = Instant::now();
        let total = batch.len();
        let records = pack(batch, MAX_RECORD_BYTES);
        let producer = self.producer.get();
        let mut pending = Vec::with_capacity(records.len());
        let mut first_error = None;
        for record in &records {
            let mut message =
                FutureRecord::to(&self.config.kafka.topic).key(&record.key).payload(&record.value);
            if let Some(tp) = traceparent {
                message = message
                    .headers(OwnedHeaders::new().insert(Header { key: "traceparent", value: Some(tp) }));
            }
            match producer.send_result(message) {
                Ok(delivery) => pending.push((delivery, record.events)),
                Err((err, _)) => {
                    first_error = Some(err.to_string());
                    break;
                }
            }
        }
        // Every queued write is awaited until the request's deadline, even after a failure;
        // writes still unacknowledged then go on in the background (see `KafkaConfig`).
        let deadline = tokio::time::Instant::now() + self.config.delivery_timeout;
        let mut acked = 0usize;
        for (delivery, events) in pending {
            match tokio::time::timeout_at(deadline, delivery).await {
                Ok(Ok(Ok(_))) => acked += events,
                Ok(Ok(Err((err, _)))) => {
                    first_error.get_or_insert_with(|| err.to_string());
                }
                Ok(Err(_)) => {
                    first_error.get_or_insert_with(|| "producer shut down".to_string());
                }
                Err(_) => {
                    first_error.get_or_insert_with(|| {
                        format!("not acknowledged within {:?}", self.config.delivery_timeout)
                    });
                }
            }
        }
        self.metrics.delivery_duration.observe(started.elapsed().as_secs_f64());
        match first_error {
            None => Ok(()),
            Some(err) => {
                count(&self.metrics.events, "enqueue_failed", (total - acked) as u64);
                self.producer.recover();
                Err(Refusal::EnqueueFailed(err))
            }
        }
    }

    async fn handle(&self, headers: &HeaderMap, body: Body) -> Result<usize, Refusal> {
        self.auth.check(headers).await.map_err(Refusal::Auth)?;
        let max = self.config.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(Refusal::PayloadTooLarge(max));
        }
        let bytes = match Limited::new(body, max).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(Refusal::PayloadTooLarge(max));
            }
            Err(err) => return Err(Refusal::InvalidJson(format!("cannot read the body: {err}"))),
        };
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| Refusal::InvalidJson(e.to_string()))?;
        let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
        let trace_id = traceparent.and_then(trace_id_of);
        let batch = prepare(value, self.config.max_batch, trace_id.as_deref(), jiff::Timestamp::now())?;
        let n = batch.len();
        if n > 0 {
            self.enqueue(batch, traceparent).await?;
        }
        Ok(n)
    }
}

async fn post_events(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let result = ingest.handle(&headers, body).await;
    ingest.metrics.request_duration.observe(started.elapsed().as_secs_f64());
    match result {
        Ok(n) => {
            count(&ingest.metrics.requests, "accepted", 1);
            count(&ingest.metrics.events, "accepted", n as u64);
            debug!(events = n, "events accepted");
            (StatusCode::ACCEPTED, axum::Json(json!({"ok": true, "accepted": n}))).into_response()
        }
        Err(refusal) => {
            count(&ingest.metrics.requests, refusal.code(), 1);
            match &refusal {
                Refusal::EnqueueFailed(err) => warn!(error = %err, "events not acknowledged by the broker"),
                Refusal::Auth(_) => debug!(code = refusal.code(), "request refused"),
                other => debug!(code = other.code(), message = %other, "request refused"),
            }
            refusal.into_response()
        }
    }
}

async fn ok() -> Response {
    axum::Json(json!({"ok": true})).into_response()
}

async fn ready(State(ingest): State<Arc<Ingest>>) -> Response {
    match kafka::probe(&ingest.producer.get(), &ingest.config.kafka.topic, Duration::from_secs(2)).await {
        Ok(()) => axum::Json(json!({"ok": true})).into_response(),
        Err(err) => {
            debug!(error = %err, "broker probe failed");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"ok": false, "error": "kafka_unavailable"})))
                .into_response()
        }
    }
}

async fn metrics(State(ingest): State<Arc<Ingest>>) -> Response {
    metrics_response(&ingest.registry)
}

/// `GET /metrics` answer for a registry.
pub fn metrics_response(registry: &Registry) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], render(registry))
        .into_response()
}

/// Serves ingest on `listener` until `shutdown` completes, then waits for in-flight requests
/// and flushes the producer.
pub async fn serve(
    ingest: Arc<Ingest>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), IngestError> {
    if ingest.auth.is_open() {
        warn!("no INGEST_API_KEYS and no OIDC issuer: POST /events accepts anyone");
    }
    ingest.auth.warm_up().await;
    if ingest.config.kafka.create_topics {
        let kafka = ingest.config.kafka.clone();
        tokio::spawn(async move { create_topics_until_done(&kafka).await });
    }
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, topic = %ingest.config.kafka.topic, "ingest listening");
    }
    axum::serve(listener, ingest.router())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(IngestError::Serve)?;
    let producer = ingest.producer.get();
    let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(5))).await;
    info!("ingest stopped");
    Ok(())
}

/// Creates the topics, retrying with backoff while the broker is unreachable.
pub async fn create_topics_until_done(kafka: &crate::config::KafkaConfig) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match kafka::ensure_topics(kafka).await {
            Ok(()) => return,
            Err(err) => {
                warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "cannot create the topics yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests;
