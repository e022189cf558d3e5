//! Audit events: one per governed request, delivered to the ingest service without silent loss.
//!
//! Delivery, in order of preference: POST the batch to ingest; if ingest is unreachable or
//! answers with an error, write the batch to a bounded spool directory and retry with backoff;
//! once ingest answers again, replay the spool oldest first, then resume live sending. Every
//! event carries a unique `event_id` (UUIDv7) so retries that did reach ingest collapse
//! downstream. An event is dropped only when the in-memory queue or the spool is full, and every
//! drop is counted. Shutdown drains the queue (to ingest, else to the spool).
//!
//! Embedded (`mcp-runtime dev`): an [`AuditSink`] takes the place of ingest. Its writes are
//! acknowledged once durable, and the response body holds back its end (and, for a body of known
//! length, its last bytes) until the acknowledgement: a caller who received a whole answer knows
//! its event is stored, even if the process is killed right after.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_events::{AuditPayload, Envelope};
use mcp_policy::{BudgetRefusal, Decision};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// Most events sent in one POST.
const BATCH: usize = 256;
/// Events waiting in memory before the writer takes them.
const QUEUE: usize = 16_384;
/// How long a batch may wait to fill up.
const LINGER: Duration = Duration::from_millis(20);
/// Time allowed for one POST to ingest.
const POST_TIMEOUT: Duration = Duration::from_secs(3);
/// Backoff bounds while ingest is unreachable.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Audit settings.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// `ANALYTICS_INGEST_URL`: where batches are POSTed (`<url>` as given, e.g.
    /// `http://ingest:8081/events`). None: audit is off.
    pub ingest_url: Option<Uri>,
    /// `ANALYTICS_API_KEY`: sent as `x-api-key`.
    pub api_key: Option<String>,
    /// `ANALYTICS_SOURCE` (default `mcp-gateway`).
    pub source: String,
    /// `ANALYTICS_EVENT_TYPE` (default `mcp.request`).
    pub event_type: String,
    /// `AUDIT_SPOOL_DIR`: where undelivered batches wait (default `<tmp>/mcp-gateway-spool`).
    pub spool_dir: PathBuf,
    /// `AUDIT_SPOOL_MAX_BYTES` (default 64 MiB).
    pub spool_max_bytes: u64,
}

/// Labels of audit counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `sent`, `spooled`, `replayed`, `rejected`, `dropped_queue_full`, `dropped_writer_stopped`
    /// (after shutdown) or `dropped_spool_full`.
    pub outcome: &'static str,
}

/// Audit metrics (registered by [`crate::metrics::Metrics`]).
#[derive(Debug, Clone, Default)]
pub struct AuditMetrics {
    /// Events by delivery outcome.
    pub events: Family<OutcomeLabels, Counter>,
    /// Bytes waiting in the spool.
    pub spool_bytes: Gauge<i64, std::sync::atomic::AtomicI64>,
}

impl AuditMetrics {
    fn count(&self, outcome: &'static str, n: usize) {
        self.events.get_or_create(&OutcomeLabels { outcome }).inc_by(n as u64);
    }
}

/// The future of one [`AuditSink`] write.
pub type SinkFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'static>>;

/// An in-process destination of audit events (instead of ingest): resolves once the events
/// are durable.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Stores `events`; resolves when they are durable, or with why not.
    fn write(&self, events: Vec<Envelope<AuditPayload>>) -> SinkFuture;
}

/// The sending side, cloned into every request.
#[derive(Debug, Clone)]
pub struct Auditor {
    inner: Option<Arc<Inner>>,
    sink: Option<Arc<SinkInner>>,
}

#[derive(Debug)]
struct SinkInner {
    sink: Arc<dyn AuditSink>,
    source: String,
    event_type: String,
    metrics: AuditMetrics,
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::Sender<Event>,
    /// Denials have a queue of their own, read first: a flood of allowed traffic cannot push a
    /// denial out.
    deny_tx: mpsc::Sender<Event>,
    metrics: AuditMetrics,
    stop: std::sync::Mutex<Option<oneshot::Sender<oneshot::Sender<()>>>>,
}

impl Auditor {
    /// An auditor that records nothing (no ingest configured).
    pub fn disabled() -> Auditor {
        Auditor { inner: None, sink: None }
    }

    /// An auditor that writes every event to `sink` (source and event type from `config`),
    /// durably before the response completes (see the module documentation).
    pub fn with_sink(sink: Arc<dyn AuditSink>, config: &AuditConfig, metrics: AuditMetrics) -> Auditor {
        Auditor {
            inner: None,
            sink: Some(Arc::new(SinkInner {
                sink,
                source: config.source.clone(),
                event_type: config.event_type.clone(),
                metrics,
            })),
        }
    }

    /// Records one event and returns what to wait for before the response may complete: the
    /// sink's acknowledgement (embedded), or nothing (ingest: the event is queued).
    pub fn record_acked(
        &self,
        payload: AuditPayload,
    ) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> {
        let Some(sink) = &self.sink else {
            self.record(payload);
            return None;
        };
        let envelope = Envelope {
            event_id: uuid::Uuid::now_v7().to_string(),
            timestamp: jiff::Timestamp::now().to_string(),
            trace_id: None,
            source: sink.source.clone(),
            event_type: sink.event_type.clone(),
            payload,
        };
        let write = sink.sink.write(vec![envelope]);
        let sink = sink.clone();
        Some(Box::pin(async move {
            match write.await {
                Ok(()) => sink.metrics.count("sent", 1),
                Err(e) => {
                    sink.metrics.count("rejected", 1);
                    warn!(error = %e, "audit sink refused an event");
                }
            }
        }))
    }

    /// Starts the writer on a thread of its own (`mcp-audit`, with a one-thread runtime): encoding
    /// a batch and posting it never holds up the thread that serves requests, which only queues
    /// each event (the writer wakes once per batch, see `LINGER`).
    pub fn start(config: AuditConfig, metrics: AuditMetrics) -> Auditor {
        let Some(url) = config.ingest_url.clone() else {
            return Auditor::disabled();
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let (deny_tx, deny_rx) = mpsc::channel(QUEUE);
        let (stop_tx, stop_rx) = oneshot::channel();
        let writer = Writer::new(url, &config, metrics.clone());
        let thread = std::thread::Builder::new().name("mcp-audit".into()).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(writer.run(deny_rx, rx, stop_rx)),
                // The receiver is dropped: every event is counted as dropped, none is lost silently.
                Err(err) => tracing::error!(error = %err, "audit writer runtime failed to start; audit events are dropped"),
            }
        });
        if let Err(err) = thread {
            tracing::error!(error = %err, "audit writer thread failed to start; audit events are dropped");
        }
        Auditor {
            inner: Some(Arc::new(Inner { tx, deny_tx, metrics, stop: std::sync::Mutex::new(Some(stop_tx)) })),
            sink: None,
        }
    }

    /// Whether events are recorded.
    pub fn enabled(&self) -> bool {
        self.inner.is_some() || self.sink.is_some()
    }

    /// Queues one event with this payload; never blocks the request. The id and time are
    /// taken now; the envelope is serialized by the writer, off the request path.
    pub fn record(&self, payload: AuditPayload) {
        if self.sink.is_some() {
            // Not awaited (a body dropped unfinished): the write still happens.
            if let Some(write) = self.record_acked(payload) {
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => drop(rt.spawn(write)),
                    Err(_) => warn!("audit sink: no runtime to write an event on; event dropped"),
                }
            }
            return;
        }
        let Some(inner) = &self.inner else { return };
        let event = Event { id: uuid::Uuid::now_v7(), at: jiff::Timestamp::now(), payload };
        let event = if event.payload.decision == "deny" {
            match inner.deny_tx.try_send(event) {
                Ok(()) => return,
                // The denial queue is full: the shared queue is the last chance.
                Err(mpsc::error::TrySendError::Full(event) | mpsc::error::TrySendError::Closed(event)) => {
                    event
                }
            }
        } else {
            event
        };
        match inner.tx.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                inner.metrics.count("dropped_queue_full", 1);
                warn!("audit queue full: event dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                inner.metrics.count("dropped_writer_stopped", 1);
                warn!("audit writer is not running: event dropped");
            }
        }
    }

    /// Stops accepting events and waits until everything queued is delivered or spooled.
    pub async fn shutdown(&self) {
        let Some(inner) = &self.inner else { return };
        let stop = inner.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(stop) = stop {
            let (done_tx, done_rx) = oneshot::channel();
            if stop.send(done_tx).is_ok() {
                let _ = done_rx.await;
            }
        }
    }
}

/// One recorded event waiting for the writer.
#[derive(Debug)]
struct Event {
    id: uuid::Uuid,
    at: jiff::Timestamp,
    payload: AuditPayload,
}

/// The audit fields of a policy decision (the names of [`Decision::attribution`]).
pub fn decision_payload(d: &Decision) -> AuditPayload {
    AuditPayload {
        decision: if d.allowed { "allow" } else { "deny" }.into(),
        reason: d.reason.as_str().into(),
        policy_version: d.policy_version.clone(),
        matched_grant: d.matched_grant.as_ref().map(|g| g.name.clone()),
        matched_grant_namespace: d.matched_grant.as_ref().map(|g| g.namespace.clone()),
        matched_session: d.matched_session.as_ref().map(|s| s.name.clone()),
        matched_session_namespace: d.matched_session.as_ref().map(|s| s.namespace.clone()),
        required_trust: d.required_trust.map(|t| t.to_string()),
        required_side_effect: d.required_side_effect.map(|t| t.to_string()),
        risk_level: d.risk_level.map(|t| t.to_string()),
        admin_trust: d.admin_trust.map(|t| t.to_string()),
        consented_trust: d.consented_trust.map(|t| t.to_string()),
        effective_trust: d.effective_trust.map(|t| t.to_string()),
        argument: d.argument.as_ref().map(|a| a.argument.clone()),
        argument_rule: d.argument.as_ref().map(|a| a.rule.clone()),
        budget: d.budget.as_ref().map(|b| match b {
            BudgetRefusal::Exhausted { key, max_calls } => format!("{key}: maxCalls {max_calls}"),
            BudgetRefusal::RateLimited { key, rate_per_minute } => {
                format!("{key}: ratePerMinute {rate_per_minute}")
            }
        }),
        ..AuditPayload::default()
    }
}

struct Writer {
    url: Uri,
    api_key: Option<String>,
    source: String,
    event_type: String,
    client: Client<HttpConnector, Full<Bytes>>,
    spool: Spool,
    metrics: AuditMetrics,
    backoff: Duration,
}

impl Writer {
    fn new(url: Uri, config: &AuditConfig, metrics: AuditMetrics) -> Writer {
        let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let spool = Spool::open(config.spool_dir.clone(), config.spool_max_bytes);
        metrics.spool_bytes.set(spool.bytes() as i64);
        Writer {
            url,
            api_key: config.api_key.clone(),
            source: config.source.clone(),
            event_type: config.event_type.clone(),
            client,
            spool,
            metrics,
            backoff: BACKOFF_MIN,
        }
    }

    async fn run(
        mut self,
        mut deny_rx: mpsc::Receiver<Event>,
        mut rx: mpsc::Receiver<Event>,
        mut stop: oneshot::Receiver<oneshot::Sender<()>>,
    ) {
        // Batches left by a previous run are replayed first.
        let mut retry_at = (!self.spool.is_empty()).then(tokio::time::Instant::now);
        loop {
            let wait_retry = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                done = &mut stop => {
                    rx.close();
                    deny_rx.close();
                    let mut rest = Vec::new();
                    while let Ok(event) = deny_rx.try_recv() {
                        rest.push(event);
                    }
                    while let Ok(event) = rx.try_recv() {
                        rest.push(event);
                    }
                    while !rest.is_empty() {
                        let chunk: Vec<Event> = rest.drain(..rest.len().min(BATCH)).collect();
                        self.deliver(chunk).await;
                    }
                    info!(spooled_bytes = self.spool.bytes(), "audit drained");
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
                first = deny_rx.recv() => {
                    // Both senders live in the same `Inner`: one gone means both are.
                    let Some(first) = first else { break };
                    retry_at = self.collect_and_deliver(first, &mut deny_rx, &mut rx).await;
                }
                first = rx.recv() => {
                    let Some(first) = first else { break };
                    retry_at = self.collect_and_deliver(first, &mut deny_rx, &mut rx).await;
                }
                () = wait_retry => {
                    retry_at = self.replay().await;
                }
            }
        }
    }

    /// One batch: `first`, then what is waiting, denials first.
    async fn collect_and_deliver(
        &mut self,
        first: Event,
        deny_rx: &mut mpsc::Receiver<Event>,
        rx: &mut mpsc::Receiver<Event>,
    ) -> Option<tokio::time::Instant> {
        // Let the batch fill for a moment instead of waking for every event (one wake-up per
        // batch, not per request), unless a full batch is waiting.
        if deny_rx.len() + rx.len() + 1 < BATCH {
            tokio::time::sleep(LINGER).await;
        }
        let mut batch = Vec::with_capacity(BATCH);
        batch.push(first);
        while batch.len() < BATCH {
            let Ok(event) = deny_rx.try_recv() else { break };
            batch.push(event);
        }
        while batch.len() < BATCH {
            let Ok(event) = rx.try_recv() else { break };
            batch.push(event);
        }
        self.deliver(batch).await
    }

    /// Sends live events, keeping order behind anything already spooled. Returns when to
    /// retry the spool, if it holds anything.
    async fn deliver(&mut self, batch: Vec<Event>) -> Option<tokio::time::Instant> {
        let n = batch.len();
        let body = self.encode(&batch);
        if self.spool.is_empty() && self.post(body.clone(), n).await {
            self.metrics.count("sent", n);
            self.backoff = BACKOFF_MIN;
            return None;
        }
        if self.spool.push(&body) {
            self.metrics.count("spooled", n);
        } else {
            self.metrics.count("dropped_spool_full", n);
            warn!(events = n, "audit spool full: events dropped");
        }
        self.metrics.spool_bytes.set(self.spool.bytes() as i64);
        // Try the spool now if the failure was not a post (spool had data); else back off.
        Some(tokio::time::Instant::now() + self.backoff)
    }

    /// The batch as ingest takes it: a JSON array of envelopes, written straight into one
    /// buffer.
    fn encode(&self, batch: &[Event]) -> Bytes {
        let mut body = Vec::with_capacity(batch.len() * 768 + 2);
        body.push(b'[');
        for (i, event) in batch.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            let envelope = Envelope {
                event_id: event.id.to_string(),
                timestamp: event.at.to_string(),
                trace_id: None,
                source: self.source.clone(),
                event_type: self.event_type.clone(),
                payload: &event.payload,
            };
            // Serializing plain structs into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut body, &envelope);
        }
        body.push(b']');
        Bytes::from(body)
    }

    /// Replays the spool oldest first; returns when to try again if something is left.
    async fn replay(&mut self) -> Option<tokio::time::Instant> {
        while let Some((path, body)) = self.spool.oldest() {
            let n = count_events(&body);
            if !self.post(body, n).await {
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                debug!(backoff_ms = self.backoff.as_millis() as u64, "ingest unreachable; retrying later");
                return Some(tokio::time::Instant::now() + self.backoff);
            }
            self.spool.remove(&path);
            self.metrics.count("replayed", n);
            self.metrics.spool_bytes.set(self.spool.bytes() as i64);
        }
        self.backoff = BACKOFF_MIN;
        None
    }

    /// POSTs one batch of `n` events; true when ingest took it (or rejected it for good).
    /// A batch refused as too large (413) is split in halves until each part fits; a single
    /// event that never fits is counted as rejected. If a later half fails, the whole batch is
    /// retried: the halves already taken arrive twice, which the sentinel folds by `event_id`.
    async fn post(&self, body: Bytes, n: usize) -> bool {
        let mut pending = vec![(body, n)];
        while let Some((body, n)) = pending.pop() {
            match self.post_once(body.clone(), n).await {
                Posted::Taken => {}
                Posted::Failed => return false,
                Posted::TooLarge => match split(&body) {
                    Some((first, second)) => {
                        debug!(events = n, "ingest refused an audit batch as too large; splitting it");
                        pending.push(second);
                        pending.push(first);
                    }
                    None => {
                        warn!(events = n, "ingest refused an audit event as too large; discarding it");
                        self.metrics.count("rejected", n);
                    }
                },
            }
        }
        true
    }

    async fn post_once(&self, body: Bytes, n: usize) -> Posted {
        let mut req = Request::post(self.url.clone()).header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = &self.api_key {
            req = req.header("x-api-key", key);
        }
        let Ok(req) = req.body(Full::new(body)) else { return Posted::Failed };
        match tokio::time::timeout(POST_TIMEOUT, self.client.request(req)).await {
            Ok(Ok(res)) => {
                let status = res.status();
                let _ = res.into_body().collect().await;
                if status.is_success() {
                    Posted::Taken
                } else if status == StatusCode::PAYLOAD_TOO_LARGE {
                    Posted::TooLarge
                } else if status == StatusCode::BAD_REQUEST {
                    // A batch ingest can never accept must not block the spool forever;
                    // it is counted, not retried.
                    warn!(events = n, "ingest rejected an audit batch as malformed; discarding it");
                    self.metrics.count("rejected", n);
                    Posted::Taken
                } else {
                    debug!(%status, "ingest refused an audit batch");
                    Posted::Failed
                }
            }
            Ok(Err(err)) => {
                debug!(error = %err, "ingest unreachable");
                Posted::Failed
            }
            Err(_) => Posted::Failed,
        }
    }
}

/// What ingest did with one POST.
enum Posted {
    /// Accepted (or rejected for good and counted).
    Taken,
    /// 413: too large as one batch.
    TooLarge,
    /// Unreachable or failing: retry later.
    Failed,
}

/// A batch (JSON array) in two halves with their event counts; `None` for a single event.
fn split(body: &[u8]) -> Option<((Bytes, usize), (Bytes, usize))> {
    let mut events: Vec<Value> = serde_json::from_slice(body).ok()?;
    if events.len() < 2 {
        return None;
    }
    let second = events.split_off(events.len() / 2);
    let encode = |part: &[Value]| serde_json::to_vec(part).ok().map(Bytes::from);
    Some(((encode(&events)?, events.len()), (encode(&second)?, second.len())))
}

fn count_events(body: &[u8]) -> usize {
    serde_json::from_slice::<Vec<Value>>(body).map_or(0, |v| v.len())
}

/// Undelivered batches on disk: one file per batch, written atomically, named so that names
/// sort in arrival order.
struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    bytes: u64,
    files: std::collections::VecDeque<(PathBuf, u64)>,
    seq: AtomicU64,
}

impl Spool {
    fn open(dir: PathBuf, max_bytes: u64) -> Spool {
        if let Err(err) = std::fs::create_dir_all(&dir) {
            warn!(dir = %dir.display(), error = %err, "cannot create the audit spool directory");
        }
        let mut files: Vec<(PathBuf, u64)> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| (e.path(), e.metadata().map_or(0, |m| m.len())))
            .collect();
        files.sort();
        let bytes = files.iter().map(|(_, len)| len).sum();
        if !files.is_empty() {
            info!(files = files.len(), bytes, "audit spool holds undelivered batches from a previous run");
        }
        Spool { dir, max_bytes, bytes, files: files.into(), seq: AtomicU64::new(0) }
    }

    fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Writes a batch; false when the spool is full or the write failed.
    fn push(&mut self, body: &[u8]) -> bool {
        let len = body.len() as u64;
        if self.bytes + len > self.max_bytes {
            return false;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let name = format!("{:020}-{seq:010}.json", jiff::Timestamp::now().as_nanosecond());
        let path = self.dir.join(name);
        let tmp = path.with_extension("tmp");
        let written = std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, &path));
        match written {
            Ok(()) => {
                self.bytes += len;
                self.files.push_back((path, len));
                true
            }
            Err(err) => {
                let _ = std::fs::remove_file(&tmp);
                warn!(error = %err, "cannot write to the audit spool");
                false
            }
        }
    }

    fn oldest(&self) -> Option<(PathBuf, Bytes)> {
        let (path, _) = self.files.front()?;
        match std::fs::read(path) {
            Ok(body) => Some((path.clone(), Bytes::from(body))),
            // Unreadable: hand back an empty batch so the caller removes it and moves on.
            Err(_) => Some((path.clone(), Bytes::from_static(b"[]"))),
        }
    }

    fn remove(&mut self, path: &Path) {
        if let Some(pos) = self.files.iter().position(|(p, _)| p == path)
            && let Some((_, len)) = self.files.remove(pos)
        {
            self.bytes = self.bytes.saturating_sub(len);
        }
        let _ = std::fs::remove_file(path);
    }
}
