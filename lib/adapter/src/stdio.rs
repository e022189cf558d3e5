//! `adapter stdio`: newline-delimited JSON-RPC on stdin/stdout ↔ the governed Streamable HTTP
//! route.
//!
//! # Expected flow
//!
//! 1. The client's `initialize` is forwarded first and synchronously: no other line is read
//!    until it is answered, and its `Mcp-Session-Id` and negotiated `protocolVersion` are kept
//!    and sent (`Mcp-Session-Id`, `MCP-Protocol-Version`) with every later request. A request
//!    before that gets `-32000 session not established` (a stateless-era request, one carrying
//!    `params._meta["io.modelcontextprotocol/protocolVersion"]`, and `server/discover` need no
//!    session and are forwarded with that version and the mirrored `Mcp-Method`/`Mcp-Name`).
//! 2. Later requests run concurrently. A JSON answer is written as one line; an SSE answer is
//!    written frame by frame as frames arrive (server→client requests and progress included).
//!    Client responses to server requests are POSTed back like notifications.
//! 3. After `notifications/initialized`, the server's GET stream is opened (when it offers one)
//!    and its messages written too; it is resumed with `Last-Event-ID` when it drops.
//! 4. `tools/list` (first page) is answered from a cache for `tools_cache_ttl`; any
//!    `notifications/tools/list_changed` empties it.
//! 5. On end of input, answers still under way are awaited (at most 5 s), the session is ended
//!    with `DELETE`, and the adapter returns.
//!
//! # Guarantees
//!
//! - Idempotent reads (`tools/list`, `resources/list`, `prompts/list`, `ping`) are retried on
//!   502, 504, a refused connection or a reset, after 100, 200, 400, 800 ms and 1 s;
//!   `tools/call` and everything else is sent exactly once.
//! - Every request gets exactly one answer line: the server's, or a JSON-RPC error (HTTP
//!   refusals as described in [`crate::errors`]); an unparsable line gets `-32700`.
//! - Every request takes the identity once; a token refresh never changes a call under way.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::errors;
use crate::identity::IdentitySource;
use crate::sse;
use crate::upstream::{Upstream, UpstreamError, empty, full};

/// Methods answered the same however often they are asked: retried on transient failures.
pub const IDEMPOTENT: [&str; 4] = ["tools/list", "resources/list", "prompts/list", "ping"];
/// Waits before each retry of an idempotent read.
pub const BACKOFF: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1000),
];
/// The `_meta` key of the stateless era's per-request protocol version.
const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The most of an error body read.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// The longest input line accepted (a JSON-RPC message).
const MAX_LINE: usize = 16 << 20;

/// How `adapter stdio` behaves.
#[derive(Debug, Clone)]
pub struct StdioOptions {
    /// How long a `tools/list` answer is reused (zero: never).
    pub tools_cache_ttl: Duration,
    /// Open the server's GET stream after `notifications/initialized`.
    pub open_get_stream: bool,
    /// How long answers under way may finish after end of input.
    pub drain: Duration,
}

impl Default for StdioOptions {
    fn default() -> StdioOptions {
        StdioOptions {
            tools_cache_ttl: Duration::from_secs(60),
            open_get_stream: true,
            drain: Duration::from_secs(5),
        }
    }
}

/// Whether a failed attempt of `method` may be sent again: only idempotent reads, and only
/// when the route answered 502/504 or the connection failed before an answer.
pub fn may_retry(method: &str, failure: Failure) -> bool {
    IDEMPOTENT.contains(&method)
        && match failure {
            Failure::Status(s) => s == 502 || s == 504,
            Failure::Transport { retryable } => retryable,
        }
}

/// What went wrong with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The route answered with this status.
    Status(u16),
    /// No answer; `retryable` when the connection was refused or reset.
    Transport {
        /// Whether the error was a refused or reset connection.
        retryable: bool,
    },
}

#[derive(Debug, Default)]
struct Session {
    established: bool,
    id: Option<String>,
    protocol: Option<String>,
}

#[derive(Debug)]
struct ToolsCache {
    epoch: AtomicU64,
    entry: Mutex<Option<(Instant, Value)>>,
}

struct Shared {
    upstream: Upstream,
    identity: Arc<dyn IdentitySource>,
    options: StdioOptions,
    out: mpsc::UnboundedSender<Vec<u8>>,
    session: Mutex<Session>,
    cache: ToolsCache,
    closing: AtomicBool,
    log: Arc<dyn Fn(&str) + Send + Sync>,
}

impl Shared {
    fn write(&self, v: &Value) {
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.push(b'\n');
        let _ = self.out.send(line);
    }

    fn session(&self) -> (Option<String>, Option<String>, bool) {
        let s = self.session.lock().unwrap_or_else(|e| e.into_inner());
        (s.id.clone(), s.protocol.clone(), s.established)
    }

    /// A server message on its way to the client: watched for `list_changed`.
    fn seen(&self, v: &Value) {
        let changed =
            |m: &Value| m.get("method").and_then(Value::as_str) == Some("notifications/tools/list_changed");
        let any = match v {
            Value::Array(items) => items.iter().any(changed),
            other => changed(other),
        };
        if any {
            self.cache.epoch.fetch_add(1, Ordering::SeqCst);
            *self.cache.entry.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }

    fn cached_tools(&self) -> Option<Value> {
        let ttl = self.options.tools_cache_ttl;
        if ttl.is_zero() {
            return None;
        }
        let entry = self.cache.entry.lock().unwrap_or_else(|e| e.into_inner());
        entry.as_ref().filter(|(at, _)| at.elapsed() < ttl).map(|(_, v)| v.clone())
    }

    fn fill_tools(&self, epoch: u64, result: &Value) {
        if self.options.tools_cache_ttl.is_zero() || self.cache.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        *self.cache.entry.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), result.clone()));
    }
}

/// The stateless era's per-request version, when the message carries one.
fn meta_version(msg: &Value) -> Option<&str> {
    msg.get("params")?.get("_meta")?.get(META_PROTOCOL_VERSION)?.as_str()
}

/// A mirrored header value: visible ASCII as is, anything else in the base64 sentinel.
fn mirrored(value: &str) -> Option<HeaderValue> {
    let plain = !value.is_empty()
        && value.bytes().all(|b| (0x21..=0x7e).contains(&b) || b == b' ')
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !value.starts_with("=?");
    if plain {
        return HeaderValue::from_str(value).ok();
    }
    use base64::Engine as _;
    HeaderValue::from_str(&format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(value)))
        .ok()
}

/// Runs the adapter until `input` ends; writes every line for the client to `output`.
pub async fn run<R, W>(
    upstream: Upstream,
    identity: Arc<dyn IdentitySource>,
    options: StdioOptions,
    input: R,
    output: W,
    log: Arc<dyn Fn(&str) + Send + Sync>,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(line) = rx.recv().await {
            if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
                return;
            }
        }
    });
    let shared = Arc::new(Shared {
        upstream,
        identity,
        options,
        out: tx,
        session: Mutex::new(Session::default()),
        cache: ToolsCache { epoch: AtomicU64::new(0), entry: Mutex::new(None) },
        closing: AtomicBool::new(false),
        log,
    });
    let mut tasks = tokio::task::JoinSet::new();
    let mut reader = BufReader::new(input);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf).await?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_LINE && !buf.ends_with(b"\n") {
            shared.write(&errors::parse_error("the line is longer than 16 MiB"));
            // Skip the rest of the line.
            let mut sink = Vec::new();
            reader.read_until(b'\n', &mut sink).await?;
            continue;
        }
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let msg: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                shared.write(&errors::parse_error(&e.to_string()));
                continue;
            }
        };
        while tasks.try_join_next().is_some() {}
        dispatch(&shared, msg, &mut tasks).await;
    }
    shared.closing.store(true, Ordering::SeqCst);
    let drained =
        tokio::time::timeout(shared.options.drain, async { while tasks.join_next().await.is_some() {} })
            .await;
    if drained.is_err() {
        (shared.log)("adapter: end of input; answers still under way were abandoned");
        tasks.abort_all();
    }
    end_session(&shared).await;
    let Ok(shared) = Arc::try_unwrap(shared) else {
        // A GET stream task still holds it: stop writing anyway.
        writer.abort();
        return Ok(());
    };
    drop(shared);
    let _ = writer.await;
    Ok(())
}

async fn dispatch(shared: &Arc<Shared>, msg: Value, tasks: &mut tokio::task::JoinSet<()>) {
    let method = msg.get("method").and_then(Value::as_str).map(str::to_owned);
    let id = msg.get("id").cloned().filter(|_| method.is_some());
    match method.as_deref() {
        Some("initialize") => {
            initialize(shared, msg).await;
            return;
        }
        Some("server/discover") => {
            exchange(shared, &msg).await;
            return;
        }
        _ => {}
    }
    let (_, _, established) = shared.session();
    if !established && meta_version(&msg).is_none() {
        match (&method, &id) {
            (Some(_), Some(id)) => shared.write(&errors::not_established(Some(id))),
            _ => (shared.log)("adapter: a message before initialize was dropped"),
        }
        return;
    }
    if method.as_deref() == Some("tools/list")
        && msg.get("params").and_then(|p| p.get("cursor")).is_none_or(Value::is_null)
        && let Some(id) = &id
        && let Some(result) = shared.cached_tools()
    {
        shared.write(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
        return;
    }
    if method.as_deref() == Some("notifications/initialized") {
        // In order: the server sees `initialized` before anything that follows it.
        exchange(shared, &msg).await;
        if shared.options.open_get_stream {
            tasks.spawn(get_stream(shared.clone()));
        }
        return;
    }
    let shared = shared.clone();
    tasks.spawn(async move {
        exchange(&shared, &msg).await;
    });
}

async fn initialize(shared: &Arc<Shared>, msg: Value) {
    let captured = exchange(shared, &msg).await;
    let Some((headers, answers)) = captured else { return };
    let id = msg.get("id");
    let result = answers.iter().find(|a| a.get("id") == id).and_then(|a| a.get("result"));
    let Some(result) = result else { return };
    let mut s = shared.session.lock().unwrap_or_else(|e| e.into_inner());
    s.established = true;
    s.id = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    s.protocol = result.get("protocolVersion").and_then(Value::as_str).map(str::to_owned);
}

/// Builds the POST of `msg` with the session's headers and the current identity.
fn post(shared: &Shared, body: &Bytes, msg: &Value) -> (Request<crate::upstream::Body>, bool) {
    let (session_id, protocol, _) = shared.session();
    let mut req = Request::new(full(body.clone()));
    *req.method_mut() = Method::POST;
    let h = req.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
    if let Ok(v) = HeaderValue::from_str(&shared.identity.current().bearer()) {
        h.insert(header::AUTHORIZATION, v);
    }
    let initializing = msg.get("method").and_then(Value::as_str) == Some("initialize");
    let mut had_session = false;
    if !initializing {
        if let Some(sid) = session_id.as_deref().and_then(|s| HeaderValue::from_str(s).ok()) {
            h.insert("mcp-session-id", sid);
            had_session = true;
        }
        let version = meta_version(msg).map(str::to_owned).or(protocol);
        if let Some(v) = version.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            h.insert("mcp-protocol-version", v);
        }
        if meta_version(msg).is_some()
            && let Some(method) = msg.get("method").and_then(Value::as_str)
        {
            if let Some(v) = mirrored(method) {
                h.insert("mcp-method", v);
            }
            let params = msg.get("params");
            let name = match method {
                "tools/call" | "prompts/get" => params.and_then(|p| p.get("name")),
                "resources/read" => params.and_then(|p| p.get("uri")),
                _ => None,
            };
            if let Some(v) = name.and_then(Value::as_str).and_then(mirrored) {
                h.insert("mcp-name", v);
            }
        }
    }
    (req, had_session)
}

/// Sends `msg` (with retries when allowed) and writes what comes back. Returns the response
/// headers and the messages written, for `initialize`.
async fn exchange(shared: &Arc<Shared>, msg: &Value) -> Option<(HeaderMap, Vec<Value>)> {
    let method = msg.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
    let id = msg.get("id").cloned().filter(|_| !method.is_empty());
    let body = Bytes::from(serde_json::to_vec(msg).unwrap_or_default());
    let tools_epoch = shared.cache.epoch.load(Ordering::SeqCst);
    let caches_tools =
        method == "tools/list" && msg.get("params").and_then(|p| p.get("cursor")).is_none_or(Value::is_null);
    let mut attempt = 0usize;
    loop {
        let (req, had_session) = post(shared, &body, msg);
        let failure = match shared.upstream.send(req, None).await {
            Err(e) => {
                let retryable = e.is_retryable();
                if attempt < BACKOFF.len() && may_retry(&method, Failure::Transport { retryable }) {
                    tokio::time::sleep(BACKOFF[attempt]).await;
                    attempt += 1;
                    continue;
                }
                report_transport(shared, id.as_ref(), &method, &e);
                return None;
            }
            Ok(res) if res.status().is_success() => {
                let (parts, body) = res.into_parts();
                let mut seen = Vec::new();
                read_answer(shared, &parts.headers, body, &mut |v| {
                    if caches_tools
                        && v.get("id") == id.as_ref()
                        && let Some(result) = v.get("result")
                    {
                        shared.fill_tools(tools_epoch, result);
                    }
                    seen.push(v.clone());
                })
                .await;
                return Some((parts.headers, seen));
            }
            Ok(res) => (res, had_session),
        };
        let (res, had_session) = failure;
        let status = res.status().as_u16();
        if attempt < BACKOFF.len() && may_retry(&method, Failure::Status(status)) {
            drop(res);
            tokio::time::sleep(BACKOFF[attempt]).await;
            attempt += 1;
            continue;
        }
        let body = read_capped(res.into_body(), MAX_ERROR_BODY).await;
        match &id {
            Some(id) => shared.write(&errors::http_failure(Some(id), status, &body, had_session)),
            None => (shared.log)(&format!(
                "adapter: the route refused {} with HTTP {status}: {}",
                if method.is_empty() { "a response" } else { &method },
                String::from_utf8_lossy(&body[..body.len().min(512)])
            )),
        }
        return None;
    }
}

fn report_transport(shared: &Shared, id: Option<&Value>, method: &str, e: &UpstreamError) {
    match id {
        Some(id) => shared.write(&errors::upstream_failure(Some(id), &e.to_string())),
        None => (shared.log)(&format!("adapter: cannot send {method}: {e}")),
    }
}

async fn read_capped(mut body: Incoming, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            let room = max.saturating_sub(out.len());
            out.extend_from_slice(&data[..data.len().min(room)]);
            if out.len() >= max {
                break;
            }
        }
    }
    out
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"))
}

/// Writes a 2xx answer: an SSE stream frame by frame, a JSON body as one line, nothing for an
/// empty body (202). Returns the last SSE event id seen.
async fn read_answer(
    shared: &Shared,
    headers: &HeaderMap,
    mut body: Incoming,
    on_message: &mut (dyn FnMut(&Value) + Send),
) -> Option<String> {
    if is_event_stream(headers) {
        let mut reader = sse::Reader::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                (shared.log)("adapter: the event stream broke");
                break;
            };
            let Ok(data) = frame.into_data() else { continue };
            let events = match reader.feed(&data) {
                Ok(events) => events,
                Err(e) => {
                    (shared.log)(&format!("adapter: {e}"));
                    break;
                }
            };
            for event in events {
                if event.data.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(&event.data) {
                    Ok(v) => {
                        shared.seen(&v);
                        on_message(&v);
                        shared.write(&v);
                    }
                    Err(e) => (shared.log)(&format!("adapter: an event is not JSON: {e}")),
                }
            }
        }
        return reader.last_id().map(str::to_owned);
    }
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            (shared.log)(&format!("adapter: the answer broke: {e}"));
            return None;
        }
    };
    if bytes.trim_ascii().is_empty() {
        return None;
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) => {
            shared.seen(&v);
            on_message(&v);
            shared.write(&v);
        }
        Err(e) => (shared.log)(&format!("adapter: the answer is not JSON: {e}")),
    }
    None
}

/// The server's GET stream: opened after `initialized`, resumed when it drops, closed when
/// the server offers none (405) or refuses it, or the input has ended.
async fn get_stream(shared: Arc<Shared>) {
    let mut last_id: Option<String> = None;
    let mut failures = 0u32;
    while !shared.closing.load(Ordering::SeqCst) && failures < 5 {
        let (session_id, protocol, _) = shared.session();
        let mut req = Request::new(empty());
        *req.method_mut() = Method::GET;
        let h = req.headers_mut();
        h.insert(header::ACCEPT, HeaderValue::from_static("text/event-stream"));
        if let Ok(v) = HeaderValue::from_str(&shared.identity.current().bearer()) {
            h.insert(header::AUTHORIZATION, v);
        }
        for (name, value) in [
            ("mcp-session-id", session_id),
            ("mcp-protocol-version", protocol),
            ("last-event-id", last_id.clone()),
        ] {
            if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                h.insert(name, v);
            }
        }
        let res = tokio::select! {
            r = shared.upstream.send(req, None) => r,
            () = closed(&shared) => return,
        };
        match res {
            Ok(res) if res.status().is_success() && is_event_stream(res.headers()) => {
                failures = 0;
                let (parts, body) = res.into_parts();
                let mut ignore = |_: &Value| {};
                let done = tokio::select! {
                    id = read_answer(&shared, &parts.headers, body, &mut ignore) => id,
                    () = closed(&shared) => return,
                };
                if done.is_some() {
                    last_id = done;
                }
            }
            Ok(res) if res.status() == StatusCode::METHOD_NOT_ALLOWED => return,
            Ok(res) if res.status().is_client_error() => {
                (shared.log)(&format!(
                    "adapter: the route refused the GET stream with HTTP {}",
                    res.status()
                ));
                return;
            }
            Ok(_) | Err(_) => failures += 1,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn closed(shared: &Shared) {
    while !shared.closing.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `DELETE` of the MCP session (best effort, 2 s).
async fn end_session(shared: &Shared) {
    let (Some(session_id), protocol, _) = shared.session() else { return };
    let mut req = Request::new(empty());
    *req.method_mut() = Method::DELETE;
    let h = req.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&shared.identity.current().bearer()) {
        h.insert(header::AUTHORIZATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&session_id) {
        h.insert("mcp-session-id", v);
    }
    if let Some(v) = protocol.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert("mcp-protocol-version", v);
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), shared.upstream.send(req, None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_reads_are_retried_and_only_on_transient_failures() {
        for m in IDEMPOTENT {
            assert!(may_retry(m, Failure::Status(502)), "{m}");
            assert!(may_retry(m, Failure::Status(504)), "{m}");
            assert!(may_retry(m, Failure::Transport { retryable: true }), "{m}");
            assert!(!may_retry(m, Failure::Status(503)), "{m}");
            assert!(!may_retry(m, Failure::Status(403)), "{m}");
            assert!(!may_retry(m, Failure::Transport { retryable: false }), "{m}");
        }
        for m in
            ["tools/call", "resources/read", "prompts/get", "initialize", "notifications/initialized", ""]
        {
            assert!(!may_retry(m, Failure::Status(502)), "{m}");
            assert!(!may_retry(m, Failure::Transport { retryable: true }), "{m}");
        }
        assert_eq!(BACKOFF.iter().sum::<Duration>(), Duration::from_millis(2500));
    }

    #[test]
    fn mirrored_values_use_the_sentinel_when_not_plain_ascii() {
        assert_eq!(mirrored("tools/call").expect("v"), "tools/call");
        assert_eq!(mirrored("héllo").expect("v"), "=?base64?aMOpbGxv?=");
        assert_eq!(mirrored(" x").expect("v"), "=?base64?IHg=?=");
    }
}
