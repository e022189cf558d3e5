//! Platform audit: every state-changing API call becomes one event in the `lib/events`
//! envelope (`source: mcp-platform`, `event_type: platform.audit`) posted to the same ingest
//! service the gateways post to, so "who granted what, when" sits next to "who called what".
//!
//! Delivery: events are queued (never blocking a request), posted in batches (a JSON array of
//! envelopes, `x-api-key` when configured); when ingest is unreachable or answers with an
//! error, the batch is written to a bounded spool directory and replayed oldest first, with
//! backoff, once ingest answers. Every event has a UUIDv7 `event_id`, so a retried batch that
//! did arrive collapses downstream. Drops happen only when the queue or the spool is full and
//! are counted ([`Auditor::dropped`]). Shutdown drains the queue to ingest or to the spool.
//!
//! This is a small client of its own; the gateway's writer (`mcp_gateway::audit`) does the same
//! with metrics and a dedicated thread. Sharing one crate is a follow-up.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_events::Envelope;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::config::{ConfigError, Source};

/// `source` of platform events.
pub const SOURCE: &str = "mcp-platform";
/// `event_type` of platform events.
pub const EVENT_TYPE: &str = "platform.audit";

const BATCH: usize = 128;
const QUEUE: usize = 8192;
const LINGER: Duration = Duration::from_millis(20);
const POST_TIMEOUT: Duration = Duration::from_secs(3);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Audit settings.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// `ANALYTICS_INGEST_URL` (an `http://` URL, e.g. `http://ingest:8081/events`); unset: off.
    pub ingest_url: Option<Uri>,
    /// `ANALYTICS_API_KEY`: sent as `x-api-key`.
    pub api_key: Option<String>,
    /// `AUDIT_SPOOL_DIR` (default `<data dir>/audit-spool`).
    pub spool_dir: PathBuf,
    /// `AUDIT_SPOOL_MAX_BYTES` (default 16 MiB).
    pub spool_max_bytes: u64,
}

impl AuditConfig {
    /// Reads the audit settings.
    pub fn from_source(src: &dyn Source, data_dir: &Path) -> Result<AuditConfig, ConfigError> {
        let ingest_url = match src.get("ANALYTICS_INGEST_URL") {
            None => None,
            Some(raw) => {
                let uri: Uri = raw.trim().parse().map_err(|_| ConfigError {
                    key: "ANALYTICS_INGEST_URL",
                    value: raw.clone(),
                    reason: "not a URL".into(),
                })?;
                if uri.scheme_str() != Some("http") || uri.host().is_none() {
                    return Err(ConfigError {
                        key: "ANALYTICS_INGEST_URL",
                        value: raw,
                        reason: "must be an http:// URL with a host (the in-cluster ingest service)".into(),
                    });
                }
                Some(uri)
            }
        };
        let spool_max_bytes = match src.get("AUDIT_SPOOL_MAX_BYTES") {
            None => 16 << 20,
            Some(v) => v.trim().parse::<u64>().map_err(|_| ConfigError {
                key: "AUDIT_SPOOL_MAX_BYTES",
                value: v.clone(),
                reason: "not a number".into(),
            })?,
        };
        Ok(AuditConfig {
            ingest_url,
            api_key: src.get("ANALYTICS_API_KEY"),
            spool_dir: src
                .get("AUDIT_SPOOL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("audit-spool")),
            spool_max_bytes,
        })
    }
}

/// One platform audit event's payload.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlatformEvent {
    /// Account that acted (`anonymous` before sign-in).
    pub actor: String,
    /// Its email, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_email: Option<String>,
    /// How it authenticated: `password`, `access_token`, `api_key`, `refresh_token`, `oidc`, `none`.
    pub auth: String,
    /// What was done (`auth.login`, `team.create`, `member.put`, `api_key.revoke`, …).
    pub action: String,
    /// Kind of object (`user`, `team`, `member`, `api_key`, `session`).
    pub object_type: String,
    /// The object (id or name).
    pub object: String,
    /// Team the object belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// HTTP status answered.
    pub status: u16,
    /// Stable error code when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Client address (trusted-proxy aware).
    pub client_ip: String,
    /// Extra fields (role given, scopes, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug)]
struct Event {
    id: uuid::Uuid,
    at: jiff::Timestamp,
    payload: PlatformEvent,
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::Sender<Event>,
    dropped: AtomicU64,
    stop: std::sync::Mutex<Option<oneshot::Sender<oneshot::Sender<()>>>>,
}

/// The sending side, cloned into every request.
#[derive(Debug, Clone)]
pub struct Auditor {
    inner: Option<Arc<Inner>>,
}

impl Auditor {
    /// Records nothing.
    pub fn disabled() -> Auditor {
        Auditor { inner: None }
    }

    /// Starts the writer task (on the current runtime) when an ingest URL is configured.
    pub fn start(config: &AuditConfig) -> Auditor {
        let Some(url) = config.ingest_url.clone() else { return Auditor::disabled() };
        let (tx, rx) = mpsc::channel(QUEUE);
        let (stop_tx, stop_rx) = oneshot::channel();
        let writer = Writer {
            url,
            api_key: config.api_key.clone(),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            spool: Spool { dir: config.spool_dir.clone(), max_bytes: config.spool_max_bytes },
            backoff: BACKOFF_MIN,
        };
        let inner =
            Arc::new(Inner { tx, dropped: AtomicU64::new(0), stop: std::sync::Mutex::new(Some(stop_tx)) });
        tokio::spawn(writer.run(rx, stop_rx, inner.clone()));
        Auditor { inner: Some(inner) }
    }

    /// Whether events are recorded.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Queues one event; never blocks.
    pub fn record(&self, payload: PlatformEvent) {
        let Some(inner) = &self.inner else { return };
        let event = Event { id: uuid::Uuid::now_v7(), at: jiff::Timestamp::now(), payload };
        if inner.tx.try_send(event).is_err() {
            inner.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("platform audit queue full or stopped: event dropped");
        }
    }

    /// Events dropped so far (queue or spool full).
    pub fn dropped(&self) -> u64 {
        self.inner.as_ref().map(|i| i.dropped.load(Ordering::Relaxed)).unwrap_or(0)
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

struct Writer {
    url: Uri,
    api_key: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
    spool: Spool,
    backoff: Duration,
}

impl Writer {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Event>,
        mut stop: oneshot::Receiver<oneshot::Sender<()>>,
        inner: Arc<Inner>,
    ) {
        let mut retry_at = (!self.spool.files().is_empty()).then(tokio::time::Instant::now);
        loop {
            let wait_retry = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                first = rx.recv() => {
                    let Some(first) = first else { break };
                    tokio::time::sleep(LINGER).await;
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        let Ok(e) = rx.try_recv() else { break };
                        batch.push(e);
                    }
                    retry_at = self.deliver(&batch, &inner).await;
                }
                () = wait_retry => {
                    retry_at = self.replay().await;
                }
                done = &mut stop => {
                    rx.close();
                    let mut rest = Vec::new();
                    while let Ok(e) = rx.try_recv() {
                        rest.push(e);
                    }
                    for chunk in rest.chunks(BATCH) {
                        self.deliver(chunk, &inner).await;
                    }
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
            }
        }
    }

    fn encode(batch: &[Event]) -> Bytes {
        let envelopes: Vec<Envelope<&PlatformEvent>> = batch
            .iter()
            .map(|e| Envelope {
                event_id: e.id.to_string(),
                timestamp: e.at.to_string(),
                trace_id: None,
                source: SOURCE.to_string(),
                event_type: EVENT_TYPE.to_string(),
                payload: &e.payload,
            })
            .collect();
        Bytes::from(serde_json::to_vec(&envelopes).unwrap_or_else(|_| b"[]".to_vec()))
    }

    async fn deliver(&mut self, batch: &[Event], inner: &Inner) -> Option<tokio::time::Instant> {
        let body = Self::encode(batch);
        if self.spool.files().is_empty() && self.post(body.clone()).await {
            self.backoff = BACKOFF_MIN;
            return None;
        }
        if !self.spool.push(&body) {
            inner.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::warn!(events = batch.len(), "platform audit spool full: events dropped");
        }
        Some(tokio::time::Instant::now() + self.backoff)
    }

    async fn replay(&mut self) -> Option<tokio::time::Instant> {
        for path in self.spool.files() {
            let Ok(body) = std::fs::read(&path) else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            if !self.post(Bytes::from(body)).await {
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                return Some(tokio::time::Instant::now() + self.backoff);
            }
            let _ = std::fs::remove_file(&path);
        }
        self.backoff = BACKOFF_MIN;
        None
    }

    async fn post(&self, body: Bytes) -> bool {
        let mut req = Request::post(self.url.clone()).header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = &self.api_key {
            req = req.header("x-api-key", key);
        }
        let Ok(req) = req.body(Full::new(body)) else { return false };
        match tokio::time::timeout(POST_TIMEOUT, self.client.request(req)).await {
            Ok(Ok(resp)) if resp.status().is_success() => true,
            Ok(Ok(resp)) => {
                tracing::warn!(status = %resp.status(), "ingest refused platform audit batch; spooling");
                false
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "ingest unreachable; spooling");
                false
            }
            Err(_) => false,
        }
    }
}

/// Undelivered batches, one file each, named so that they sort oldest first.
struct Spool {
    dir: PathBuf,
    max_bytes: u64,
}

impl Spool {
    fn files(&self) -> Vec<PathBuf> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut files: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
    }

    fn bytes(&self) -> u64 {
        self.files().iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
    }

    fn push(&self, body: &[u8]) -> bool {
        if self.bytes() + body.len() as u64 > self.max_bytes {
            return false;
        }
        if std::fs::create_dir_all(&self.dir).is_err() {
            return false;
        }
        let name = format!("{}.json", uuid::Uuid::now_v7());
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, self.dir.join(name))).is_ok()
    }
}
