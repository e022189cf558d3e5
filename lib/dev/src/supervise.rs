//! Local commands `dev` runs and keeps running: an MCP server over stdio (bridged to Streamable
//! HTTP here, so its gateway governs it like any other) or over HTTP on a port it is given.
//! Each is restarted with backoff when it exits, its output is appended to
//! `<data>/logs/<name>.log`, and its state is reported by [`Supervisor::status`].
//!
//! The stdio bridge serves one stateless Streamable HTTP endpoint in front of one process:
//! request ids are rewritten to ids of its own (so concurrent callers never collide) and
//! mapped back; the first `initialize` is forwarded and its answer kept — later ones are
//! answered from it, and a restarted process is initialized again with the same parameters
//! before anything else reaches it. Requests the process sends to the client (sampling,
//! elicitation) are answered "method not found": a bridge without a client stream cannot
//! carry them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::upstreams::Source;

/// Backoff between restarts: doubles from the first to the last; reset after a run this long.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_LAST: Duration = Duration::from_secs(30);
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// Time a bridged request may wait for the process's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest body the bridge takes.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// One supervised process as the API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessStatus {
    /// Server name.
    pub name: String,
    /// `stdio`, `http` or `remote`.
    pub kind: &'static str,
    /// The command (or the URL of a remote server).
    pub command: String,
    /// `starting`, `running`, `backoff` or `stopped`.
    pub state: &'static str,
    /// Process id while running.
    pub pid: Option<u32>,
    /// Times it was restarted.
    pub restarts: u64,
    /// How the last run ended (`exit status: 1`), when one did.
    pub last_exit: Option<String>,
    /// Where its output goes.
    pub log: Option<String>,
}

/// The supervised processes.
#[derive(Debug, Clone)]
pub struct Supervisor {
    logs: PathBuf,
    stop: CancellationToken,
    processes: Arc<Mutex<Vec<Arc<Mutex<ProcessStatus>>>>>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Supervisor {
    /// A supervisor writing logs under `logs`, stopping everything when `stop` is cancelled.
    pub fn new(logs: PathBuf, stop: CancellationToken) -> Supervisor {
        Supervisor { logs, stop, processes: Arc::default(), tasks: Arc::default() }
    }

    /// What every process is doing.
    pub fn status(&self) -> Vec<ProcessStatus> {
        lock(&self.processes).iter().map(|p| lock(p).clone()).collect()
    }

    /// Starts `source` for server `name`; returns the URL its gateway forwards to.
    pub async fn start(&self, name: &str, source: &Source) -> Result<String, String> {
        let command = match source {
            Source::Remote(url) => url.clone(),
            Source::Stdio(c) | Source::Http(c) => c.clone(),
        };
        let log = self.logs.join(format!("{name}.log"));
        let status = Arc::new(Mutex::new(ProcessStatus {
            name: name.to_string(),
            kind: source.kind(),
            command: command.clone(),
            state: "starting",
            pid: None,
            restarts: 0,
            last_exit: None,
            log: (!matches!(source, Source::Remote(_))).then(|| log.display().to_string()),
        }));
        lock(&self.processes).push(status.clone());
        match source {
            Source::Remote(url) => {
                let uri: http::Uri = url.parse().map_err(|e| format!("--remote {name}={url}: {e}"))?;
                if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
                    return Err(format!(
                        "--remote {name}={url}: give an http:// or https:// URL with a host"
                    ));
                }
                lock(&status).state = "running";
                Ok(url.clone())
            }
            Source::Http(_) => {
                let port = free_port().await?;
                let command = command.replace("{port}", &port.to_string());
                let spawn = {
                    let (command, log) = (command.clone(), log.clone());
                    move || spawn_http(&command, port, &log)
                };
                let task = tokio::spawn(keep_running(status, self.stop.clone(), spawn, |_child| async {}));
                lock(&self.tasks).push(task);
                Ok(format!("http://127.0.0.1:{port}/mcp"))
            }
            Source::Stdio(_) => {
                let bridge = Bridge::new();
                let listener =
                    TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("bridge for {name}: {e}"))?;
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                let app = Router::new()
                    .route("/mcp", post(bridge_post).get(no_stream).delete(no_stream))
                    .with_state(bridge.clone());
                let stop = self.stop.clone();
                let serve = tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .await;
                });
                let spawn = {
                    let (command, log) = (command.clone(), log.clone());
                    move || spawn_stdio(&command, &log)
                };
                let attach = move |child: &mut Child| {
                    let bridge = bridge.clone();
                    let io = (child.stdin.take(), child.stdout.take());
                    async move {
                        if let (Some(stdin), Some(stdout)) = io {
                            bridge.attach(stdin, stdout);
                        }
                    }
                };
                let task = tokio::spawn(keep_running(status, self.stop.clone(), spawn, attach));
                lock(&self.tasks).extend([task, serve]);
                Ok(format!("http://{addr}/mcp"))
            }
        }
    }

    /// Stops every process (after `stop` was cancelled) and waits for them.
    pub async fn stop_all(&self) {
        self.stop.cancel();
        let tasks: Vec<_> = std::mem::take(&mut *lock(&self.tasks));
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

async fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("a free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn log_file(path: &PathBuf) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

fn shell(command: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(command).kill_on_drop(true);
    c
}

fn spawn_http(command: &str, port: u16, log: &PathBuf) -> std::io::Result<Child> {
    let out = log_file(log)?;
    let err = out.try_clone()?;
    shell(command).env("PORT", port.to_string()).stdin(Stdio::null()).stdout(out).stderr(err).spawn()
}

fn spawn_stdio(command: &str, log: &PathBuf) -> std::io::Result<Child> {
    let err = log_file(log)?;
    shell(command).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(err).spawn()
}

/// Runs a process until `stop`, restarting it with backoff whenever it ends.
async fn keep_running<S, A, F>(
    status: Arc<Mutex<ProcessStatus>>,
    stop: CancellationToken,
    spawn: S,
    attach: A,
) where
    S: Fn() -> std::io::Result<Child> + Send,
    A: Fn(&mut Child) -> F + Send,
    F: std::future::Future<Output = ()> + Send,
{
    let mut backoff = BACKOFF_FIRST;
    loop {
        let started = Instant::now();
        let ended = match spawn() {
            Ok(mut child) => {
                {
                    let mut s = lock(&status);
                    s.state = "running";
                    s.pid = child.id();
                }
                attach(&mut child).await;
                tokio::select! {
                    () = stop.cancelled() => {
                        let _ = child.kill().await;
                        lock(&status).state = "stopped";
                        return;
                    }
                    exit = child.wait() => match exit {
                        Ok(code) => code.to_string(),
                        Err(e) => e.to_string(),
                    },
                }
            }
            Err(e) => format!("could not start: {e}"),
        };
        if started.elapsed() >= STABLE_AFTER {
            backoff = BACKOFF_FIRST;
        }
        {
            let mut s = lock(&status);
            tracing::warn!(server = %s.name, ended = %ended, retry_in_ms = backoff.as_millis() as u64, "dev: server process ended; restarting");
            s.state = "backoff";
            s.pid = None;
            s.last_exit = Some(ended);
            s.restarts += 1;
        }
        tokio::select! {
            () = stop.cancelled() => {
                lock(&status).state = "stopped";
                return;
            }
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_LAST);
    }
}

type Pending = HashMap<u64, oneshot::Sender<Value>>;

/// The stdio bridge's shared state.
#[derive(Clone, Default)]
struct Bridge {
    inner: Arc<BridgeInner>,
}

#[derive(Default)]
struct BridgeInner {
    /// Lines to the current process (none while it is down).
    to_process: Mutex<Option<mpsc::UnboundedSender<String>>>,
    pending: Mutex<Pending>,
    next_id: AtomicU64,
    /// The first `initialize` request's params, and its answer (result).
    init: Mutex<Option<(Value, Option<Value>)>>,
    /// Bumped each time a process is attached; the current one is initialized when equal.
    generation: AtomicU64,
    initialized: AtomicU64,
    /// Serialises re-initialisation of a fresh process.
    init_lock: tokio::sync::Mutex<()>,
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

impl Bridge {
    fn new() -> Bridge {
        Bridge::default()
    }

    /// Connects a freshly started process.
    fn attach(&self, mut stdin: tokio::process::ChildStdin, stdout: tokio::process::ChildStdout) {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        *lock(&self.inner.to_process) = Some(tx.clone());
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.write_all(b"\n").await.is_err() {
                    break;
                }
                let _ = stdin.flush().await;
            }
        });
        let bridge = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                    tracing::debug!(line = %line, "dev bridge: not JSON on stdout; ignored");
                    continue;
                };
                bridge.on_message(msg, &tx);
            }
            // The process is gone: everything waiting on it fails now.
            *lock(&bridge.inner.to_process) = None;
            let pending: Pending = std::mem::take(&mut *lock(&bridge.inner.pending));
            for (_, waiter) in pending {
                let _ =
                    waiter.send(json!({"error": {"code": -32603, "message": "the server process exited"}}));
            }
        });
    }

    fn on_message(&self, msg: Value, tx: &mpsc::UnboundedSender<String>) {
        let is_answer = msg.get("result").is_some() || msg.get("error").is_some();
        match (msg.get("id").and_then(Value::as_u64), is_answer, msg.get("method")) {
            (Some(id), true, _) => {
                if let Some(waiter) = lock(&self.inner.pending).remove(&id) {
                    let _ = waiter.send(msg);
                }
            }
            (_, false, Some(method)) if msg.get("id").is_some() => {
                tracing::debug!(%method, "dev bridge: the server asked the client something; refused");
                let refusal = rpc_error(&msg["id"], -32601, "not supported through the dev stdio bridge");
                let _ = tx.send(refusal.to_string());
            }
            _ => tracing::debug!(message = %msg, "dev bridge: message from the server dropped"),
        }
    }

    /// Sends one request to the process and waits for its answer (with the caller's id).
    async fn ask(&self, mut msg: Value) -> Value {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let internal = self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (done, wait) = oneshot::channel();
        lock(&self.inner.pending).insert(internal, done);
        msg["id"] = json!(internal);
        let sent = lock(&self.inner.to_process).as_ref().is_some_and(|tx| tx.send(msg.to_string()).is_ok());
        if !sent {
            lock(&self.inner.pending).remove(&internal);
            return rpc_error(&id, -32603, "the server process is not running (restarting)");
        }
        match tokio::time::timeout(ANSWER_TIMEOUT, wait).await {
            Ok(Ok(mut answer)) => {
                answer["id"] = id;
                answer["jsonrpc"] = json!("2.0");
                answer
            }
            _ => {
                lock(&self.inner.pending).remove(&internal);
                rpc_error(&id, -32603, "the server process did not answer in time")
            }
        }
    }

    fn notify(&self, msg: &Value) {
        if let Some(tx) = lock(&self.inner.to_process).as_ref() {
            let _ = tx.send(msg.to_string());
        }
    }

    /// Makes sure the current process was initialized (with the first caller's parameters).
    async fn ensure_initialized(&self) {
        let generation = self.inner.generation.load(Ordering::SeqCst);
        if self.inner.initialized.load(Ordering::SeqCst) == generation {
            return;
        }
        let _guard = self.inner.init_lock.lock().await;
        if self.inner.initialized.load(Ordering::SeqCst) == generation {
            return;
        }
        // The first caller's parameters, or the bridge's own for a caller that skipped
        // `initialize` (a stateless call, such as a copy-pasted curl).
        let known = lock(&self.inner.init).as_ref().map(|(p, _)| p.clone());
        let params = known.clone().unwrap_or_else(|| {
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "mcp-runtime-dev-bridge", "version": env!("CARGO_PKG_VERSION")}})
        });
        let answer =
            self.ask(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})).await;
        if let Some(result) = answer.get("result") {
            if known.is_none() {
                *lock(&self.inner.init) = Some((params, Some(result.clone())));
            }
            self.notify(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
            self.inner.initialized.store(generation, Ordering::SeqCst);
        }
    }

    async fn handle(&self, msg: Value) -> Option<Value> {
        let method = msg.get("method").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(id) = msg.get("id").cloned() else {
            // A notification; `initialized` was sent already when the bridge initialized it.
            if method != "notifications/initialized" {
                self.ensure_initialized().await;
                self.notify(&msg);
            }
            return None;
        };
        if method.is_empty() {
            return Some(rpc_error(&id, -32600, "not a request"));
        }
        if method == "initialize" {
            let known = lock(&self.inner.init).as_ref().and_then(|(_, r)| r.clone());
            if let Some(result) = known {
                return Some(json!({"jsonrpc": "2.0", "id": id, "result": result}));
            }
            let params = msg.get("params").cloned().unwrap_or(Value::Null);
            let _guard = self.inner.init_lock.lock().await;
            let generation = self.inner.generation.load(Ordering::SeqCst);
            let answer = self.ask(msg).await;
            if let Some(result) = answer.get("result") {
                *lock(&self.inner.init) = Some((params, Some(result.clone())));
                self.notify(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
                self.inner.initialized.store(generation, Ordering::SeqCst);
            }
            return Some(answer);
        }
        self.ensure_initialized().await;
        Some(self.ask(msg).await)
    }
}

async fn no_stream() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, "the dev stdio bridge is stateless: POST only").into_response()
}

async fn bridge_post(State(bridge): State<Bridge>, body: Bytes) -> Response {
    if body.len() > MAX_BODY {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, axum::Json(rpc_error(&Value::Null, -32700, "parse error")))
            .into_response();
    };
    let answer = match value {
        Value::Array(items) => {
            let answers: Vec<Value> = futures::future::join_all(items.into_iter().map(|m| bridge.handle(m)))
                .await
                .into_iter()
                .flatten()
                .collect();
            if answers.is_empty() { None } else { Some(Value::Array(answers)) }
        }
        single => bridge.handle(single).await,
    };
    match answer {
        Some(a) => axum::Json(a).into_response(),
        None => StatusCode::ACCEPTED.into_response(),
    }
}
