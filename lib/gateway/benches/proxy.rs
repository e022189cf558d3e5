//! Gateway overhead on `tools/call`: `cargo xtask bench gateway` builds the release binaries,
//! runs this with their paths in `MCP_GATEWAY_BIN` and `MCP_EXAMPLE_SERVER_BIN`, and writes
//! docs/benchmarks.md from the JSON this leaves in `$MCP_BENCH_OUT`.
//!
//! The binaries run as child processes on loopback: the example MCP server (rmcp, SSE replies)
//! and two gateways in front of it, both with an allow-list policy, platform session tokens and
//! authorization on; the second also delivers audit events to a sink in this process. A third
//! process in front of the server is this binary re-run as a plain TCP relay (no HTTP), the
//! baseline for what the extra hop alone costs. The same load generator (this process, one
//! thread) calls `echo` with a 1 KiB `text` directly, through the relay, through the gateway, and
//! through the audited gateway. Every phase runs in short segments in palindromic order (direct,
//! relay, gateway, audited, then back, four times), and each target's segments are merged, so
//! drift of the shared machine cancels out and bursts of other load are spread over all targets.
//! The CPU the rest of the machine used is recorded too.

//! Phases:
//! 0. Idle: each process's CPU use for a second before any load (an idle gateway should not spin).
//! 1. Fixed rate (open loop, wrk2-style): each connection owns a slice of a global schedule at
//!    1,000 calls/s. A call sent late because the previous one on its connection was still in
//!    flight is timed from its intended start (coordinated-omission correction); a call sent late
//!    only because of tokio's 1 ms timer is timed from when it was sent.
//! 2. Saturation (closed loop): N clients, each sending its next call when the last one answered.
//! 3. Memory: VmRSS sampled while a gateway (or the relay) is loaded, and VmRSS/VmHWM afterwards.
//! 4. Revocation-to-deny: the policy file is re-rendered with the session revoked and swapped in
//!    atomically; a call every ~5 ms until one is refused with 401 `session_revoked`.
//!
//! Without the two environment variables (`cargo test --benches`, clippy) it does nothing.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use mcp_api::{MCPAccessGrant, MCPAgentSession, MCPServer};
use mcp_policy::{Jwk, Jwks, PlatformTrust, RenderContext, render};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

const GATEWAY_BIN: &str = "MCP_GATEWAY_BIN";
const SERVER_BIN: &str = "MCP_EXAMPLE_SERVER_BIN";

/// Size of the `text` argument of every `echo` call.
const PAYLOAD_BYTES: usize = 1024;
/// Offered rate of the fixed-rate phase.
const FIXED_RATE: f64 = 1_000.0;
/// Connections (one MCP session each) carrying the fixed-rate schedule.
const FIXED_CONNECTIONS: usize = 32;
/// Closed-loop clients (one connection and MCP session each) of the saturation phase.
const SATURATION_CLIENTS: usize = 16;
/// Length of one segment.
const SEGMENT: Duration = Duration::from_millis(2_500);
/// Palindromes per phase; each gives every target two segments (8 × 2.5 s = 20 s per target).
const ROUNDS: usize = 4;
/// Warm-up per target before anything is measured (at the fixed rate).
const WARMUP: Duration = Duration::from_secs(2);
/// Upper bound on calls per worker in one segment (the time bound normally ends it first).
const MAX_CALLS_PER_WORKER: usize = 1_000_000;
/// A call that takes longer than this counts as an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Revocation measurements.
const REVOCATIONS: usize = 5;
/// Pause between two revocation probes.
const PROBE_EVERY: Duration = Duration::from_millis(5);
/// A revocation (or restore) not seen within this is recorded as a timeout.
const REVOCATION_BOUND: Duration = Duration::from_secs(5);
/// How long the processes' CPU use is sampled while idle, before any load.
const IDLE_SAMPLE: Duration = Duration::from_secs(1);
/// The log level both binaries ship with (their default when `RUST_LOG` is unset).
const LOG_LEVEL: &str = "info";

const PROTOCOL_VERSION: &str = "2025-06-18";
const ISSUER: &str = "https://platform.bench";
const PUBLIC_PREFIX: &str = "/policy-mcp-server";

/// The policy fixture (server, grant, session), shared with `cargo xtask bench gateway`'s oha phase.
const FIXTURE: &str = include_str!("fixture.yaml");

/// Set (to `LISTEN UPSTREAM`) when this binary runs as the TCP relay target.
const RELAY: &str = "MCP_BENCH_RELAY";

/// The TCP relay baseline: every connection accepted on `listen` is joined to a new connection
/// to `upstream` and bytes are copied both ways (one thread, tokio, TCP_NODELAY, no HTTP). It
/// measures what the extra loopback hop alone costs, so the gateway's own share can be told
/// apart from it.
fn relay(spec: &str) -> Result<()> {
    let (listen, upstream) = spec.split_once(' ').ok_or("MCP_BENCH_RELAY is `LISTEN UPSTREAM`")?;
    let (listen, upstream): (SocketAddr, SocketAddr) = (listen.parse()?, upstream.parse()?);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(listen).await?;
        loop {
            let (mut inbound, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut outbound = match TcpStream::connect(upstream).await {
                    Ok(stream) => stream,
                    Err(err) => return eprintln!("relay: connect {upstream}: {err}"),
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    })
}

fn main() {
    if let Ok(spec) = std::env::var(RELAY) {
        if let Err(err) = relay(&spec) {
            eprintln!("relay failed: {err}");
            std::process::exit(1);
        }
        return;
    }
    let (Some(gateway_bin), Some(server_bin)) = (std::env::var_os(GATEWAY_BIN), std::env::var_os(SERVER_BIN))
    else {
        println!(
            "proxy bench: {GATEWAY_BIN} and {SERVER_BIN} are not set; nothing to measure (run `cargo xtask bench gateway`)"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let report = match runtime.block_on(run(PathBuf::from(gateway_bin), PathBuf::from(server_bin))) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("proxy bench failed: {err}");
            std::process::exit(1);
        }
    };
    let text = serde_json::to_string_pretty(&report).expect("json");
    if let Ok(path) = std::env::var("MCP_BENCH_OUT") {
        std::fs::write(&path, &text).expect("write results");
    }
    println!("{text}");
}

// ---------------------------------------------------------------------------------------------
// Fixture: policy, signing key, token.

/// Decodes base64url without padding (invalid characters are skipped).
fn b64url_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

struct Fixture {
    server: MCPServer,
    grants: Vec<MCPAccessGrant>,
    session: MCPAgentSession,
    jwk: Jwk,
    token: String,
    /// The platform's Ed25519 public key.
    public: [u8; 32],
}

impl Fixture {
    fn new() -> Result<Fixture> {
        let mut docs = FIXTURE.split("\n---\n");
        let mut next = || docs.next().ok_or("fixture: missing document");
        let server: MCPServer = mcp_api::yaml::from_str(next()?)?;
        let grants = vec![mcp_api::yaml::from_str(next()?)?];
        let session: MCPAgentSession = mcp_api::yaml::from_str(next()?)?;

        let key = mcp_testkit::platform::SigningKey::from_seed("platform-bench", [7u8; 32]);
        let (jwk, public) = (key.jwk(), key.public);
        let now = jiff::Timestamp::now().as_second();
        let claims = json!({
            "iss": ISSUER, "aud": format!("http://mcp.bench{PUBLIC_PREFIX}/mcp"),
            "exp": now + 3600, "iat": now,
            "sub": "user-123", "agent": "ops-agent", "team": "team-a", "sid": "sess-ops-agent",
        });
        let token = key.token(&claims)?;
        Ok(Fixture { server, grants, session, jwk, token, public })
    }

    /// The rendered policy document, with the session revoked or not.
    fn policy(&self, revoked: bool) -> Result<String> {
        let mut session = self.session.clone();
        session.spec.revoked = revoked.then_some(true);
        let ctx = RenderContext {
            cluster: "bench".into(),
            platform: Some(PlatformTrust {
                issuer: ISSUER.into(),
                jwks: Jwks { keys: vec![self.jwk.clone()] },
            }),
            ..RenderContext::default()
        };
        Ok(render(&self.server, &self.grants, &[session], &ctx)?.to_json_pretty())
    }
}

/// Replaces a file the way kubelet swaps a projected ConfigMap: write aside, then rename.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Child processes.

/// A child process, killed when dropped.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Result<Proc> {
        let file = std::fs::File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .map_err(|e| format!("spawn {name}: {e}"))?;
        Ok(Proc { name, child, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails (with the tail of its log) if the process has exited.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!("{} exited ({status}):\n{}", self.name, tail.join("\n")).into());
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound once, then released for the child to take).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Status code of a plain `GET path` (blocking; for readiness probes only).
fn probe(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = StdTcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Waits (at most 15 s) until `GET path` answers 200.
async fn wait_ready(proc: &mut Proc, addr: SocketAddr, path: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        proc.check_alive()?;
        if probe(addr, path) == Some(200) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{} not ready on {addr}{path} after 15 s", proc.name).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `kB` field of /proc/<pid>/status, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) of a process so far, in seconds.
fn cpu_seconds(pid: Option<u32>, ticks_per_second: f64) -> f64 {
    let path = pid.map_or_else(|| "/proc/self/stat".to_string(), |p| format!("/proc/{p}/stat"));
    let Ok(stat) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / ticks_per_second
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

// ---------------------------------------------------------------------------------------------
// The MCP client: one HTTP/1.1 connection, one MCP session.

/// Where calls go: the example server itself, or a gateway's public route.
#[derive(Clone, Debug)]
struct Target {
    name: &'static str,
    addr: SocketAddr,
    path: String,
    token: String,
    /// The gateway process answering, if any.
    gateway_pid: Option<u32>,
}

/// One answered HTTP exchange.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

struct Conn {
    sender: SendRequest<Full<Bytes>>,
    target: Target,
    host: HeaderValue,
    auth: HeaderValue,
    session: Option<HeaderValue>,
}

impl Conn {
    /// Connects and runs the MCP handshake (`initialize`, then `notifications/initialized`).
    async fn open(target: &Target) -> Result<Conn> {
        let stream = TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut conn = Conn {
            sender,
            target: target.clone(),
            host: HeaderValue::from_str(&target.addr.to_string())?,
            auth: HeaderValue::from_str(&format!("Bearer {}", target.token))?,
            session: None,
        };
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "mcp-gateway-bench", "version": "0"},
            },
        });
        let reply = conn.send(Method::POST, Bytes::from(init.to_string())).await?;
        if reply.status != StatusCode::OK || !contains(&reply.body, b"\"result\"") {
            return Err(format!(
                "{}: initialize answered {}: {}",
                target.name,
                reply.status,
                String::from_utf8_lossy(&reply.body)
            )
            .into());
        }
        conn.session = Some(
            reply
                .headers
                .get("mcp-session-id")
                .cloned()
                .ok_or_else(|| format!("{}: initialize returned no Mcp-Session-Id", target.name))?,
        );
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let reply = conn.send(Method::POST, Bytes::from(initialized.to_string())).await?;
        if !reply.status.is_success() {
            return Err(
                format!("{}: notifications/initialized answered {}", target.name, reply.status).into()
            );
        }
        Ok(conn)
    }

    async fn send(&mut self, method: Method, body: Bytes) -> Result<Reply> {
        let mut req = Request::builder().method(method).uri(self.target.path.as_str());
        let headers = req.headers_mut().ok_or("request builder")?;
        headers.insert(header::HOST, self.host.clone());
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
        // Sent to every target, so the request streams differ only in the path.
        headers.insert(header::AUTHORIZATION, self.auth.clone());
        if let Some(session) = &self.session {
            headers.insert("mcp-session-id", session.clone());
            headers.insert("mcp-protocol-version", HeaderValue::from_static(PROTOCOL_VERSION));
        }
        let req = req.body(Full::new(body))?;
        let exchange = async {
            self.sender.ready().await?;
            let res = self.sender.send_request(req).await?;
            let (parts, body) = res.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, Error>(Reply { status: parts.status, headers: parts.headers, body })
        };
        match tokio::time::timeout(CALL_TIMEOUT, exchange).await {
            Ok(reply) => reply,
            Err(_) => Err(format!("{}: no complete answer within {CALL_TIMEOUT:?}", self.target.name).into()),
        }
    }

    /// One `tools/call` of `echo`.
    async fn call(&mut self, id: u64, text: &str) -> Result<Reply> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
        );
        self.send(Method::POST, Bytes::from(body)).await
    }

    /// Ends the MCP session (best effort).
    async fn close(mut self) {
        if self.session.is_some() {
            let _ = self.send(Method::DELETE, Bytes::new()).await;
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A successful `tools/call` answer: 200 with an SSE (or JSON) JSON-RPC result that is not a
/// tool error.
fn call_succeeded(reply: &Reply) -> bool {
    reply.status == StatusCode::OK
        && contains(&reply.body, b"\"result\"")
        && !contains(&reply.body, b"\"isError\":true")
}

fn payload() -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..PAYLOAD_BYTES).map(|i| alphabet[i % alphabet.len()] as char).collect()
}

async fn open_all(target: &Target, n: usize) -> Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(Conn::open(target).await?);
    }
    Ok(conns)
}

async fn close_all(conns: Vec<Conn>) {
    for conn in conns {
        conn.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Load.

/// What one worker saw in one segment.
#[derive(Default)]
struct WorkerResult {
    /// Latencies of successful calls, in nanoseconds.
    latencies: Vec<u64>,
    errors: usize,
    /// Calls sent after their intended start because the connection was still busy.
    late: usize,
    last_done: Option<Instant>,
}

/// The merged outcome of one segment (or of several).
#[derive(Default)]
struct Samples {
    latencies: Vec<u64>,
    errors: usize,
    late: usize,
    /// Wall time from the segment start to the last answer, summed over segments.
    seconds: f64,
}

impl Samples {
    fn absorb(&mut self, results: Vec<WorkerResult>, start: Instant) {
        let mut end = start;
        for r in results {
            self.latencies.extend_from_slice(&r.latencies);
            self.errors += r.errors;
            self.late += r.late;
            if let Some(done) = r.last_done {
                end = end.max(done);
            }
        }
        self.seconds += end.duration_since(start).as_secs_f64();
    }

    fn merge(&mut self, other: &Samples) {
        self.latencies.extend_from_slice(&other.latencies);
        self.errors += other.errors;
        self.late += other.late;
        self.seconds += other.seconds;
    }

    fn calls(&self) -> usize {
        self.latencies.len() + self.errors
    }

    fn rate(&self) -> f64 {
        if self.seconds > 0.0 { self.latencies.len() as f64 / self.seconds } else { 0.0 }
    }

    fn summary(&self) -> Value {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let at = |q: f64| -> f64 {
            if sorted.is_empty() {
                return f64::NAN;
            }
            sorted[((sorted.len() as f64 - 1.0) * q).round() as usize] as f64 / 1_000.0
        };
        let mean = if sorted.is_empty() {
            f64::NAN
        } else {
            sorted.iter().sum::<u64>() as f64 / sorted.len() as f64 / 1_000.0
        };
        json!({
            "ok": sorted.len(),
            "errors": self.errors,
            "late": self.late,
            "seconds": round_to(self.seconds, 3),
            "rate": round_to(self.rate(), 1),
            "p50_us": round_to(at(0.50), 1),
            "p90_us": round_to(at(0.90), 1),
            "p99_us": round_to(at(0.99), 1),
            "p999_us": round_to(at(0.999), 1),
            "max_us": round_to(at(1.0), 1),
            "mean_us": round_to(mean, 1),
        })
    }
}

fn round_to(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// Open loop: connection `j` of `n` sends calls `j, j + n, j + 2n, ...` of a schedule at `rate`
/// per second, for `duration`.
async fn fixed_rate(conns: Vec<Conn>, rate: f64, duration: Duration, text: Arc<str>) -> (Samples, Vec<Conn>) {
    let n = conns.len();
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + duration;
    let hard_end = end + CALL_TIMEOUT + Duration::from_secs(1);
    let mut handles = Vec::with_capacity(n);
    for (j, mut conn) in conns.into_iter().enumerate() {
        let text = text.clone();
        handles.push(tokio::spawn(async move {
            let mut out = WorkerResult::default();
            for k in 0..MAX_CALLS_PER_WORKER {
                let i = (k * n + j) as f64;
                let intended = start + Duration::from_secs_f64(i / rate);
                if intended >= end || Instant::now() >= hard_end {
                    break;
                }
                let from = if Instant::now() < intended {
                    // Idle: wait for the slot. tokio's timer may wake us up to ~1 ms late; that
                    // is the generator's lag, not the system's, so time from the actual send.
                    tokio::time::sleep_until(intended.into()).await;
                    Instant::now()
                } else {
                    // Still busy with the previous call at the intended start: that wait is part
                    // of the latency (coordinated-omission correction).
                    if k > 0 {
                        out.late += 1;
                    }
                    intended
                };
                let reply = conn.call(i as u64 + 1, &text).await;
                let done = Instant::now();
                match reply {
                    Ok(r) if call_succeeded(&r) => {
                        out.latencies.push(done.duration_since(from).as_nanos() as u64)
                    }
                    _ => out.errors += 1,
                }
                out.last_done = Some(done);
            }
            (out, conn)
        }));
    }
    collect(handles, start).await
}

/// Closed loop: every connection sends its next call as soon as the previous one answered.
async fn closed_loop(conns: Vec<Conn>, duration: Duration, text: Arc<str>) -> (Samples, Vec<Conn>) {
    let start = Instant::now();
    let end = start + duration;
    let mut handles = Vec::with_capacity(conns.len());
    for (j, mut conn) in conns.into_iter().enumerate() {
        let text = text.clone();
        handles.push(tokio::spawn(async move {
            let mut out = WorkerResult::default();
            for k in 0..MAX_CALLS_PER_WORKER {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let reply = conn.call((j * MAX_CALLS_PER_WORKER + k) as u64 + 1, &text).await;
                let done = Instant::now();
                match reply {
                    Ok(r) if call_succeeded(&r) => {
                        out.latencies.push(done.duration_since(sent).as_nanos() as u64)
                    }
                    _ => out.errors += 1,
                }
                out.last_done = Some(done);
            }
            (out, conn)
        }));
    }
    collect(handles, start).await
}

async fn collect(
    handles: Vec<tokio::task::JoinHandle<(WorkerResult, Conn)>>,
    start: Instant,
) -> (Samples, Vec<Conn>) {
    let mut results = Vec::new();
    let mut conns = Vec::new();
    for h in handles {
        match h.await {
            Ok((r, c)) => {
                results.push(r);
                conns.push(c);
            }
            Err(_) => results.push(WorkerResult { errors: 1, ..WorkerResult::default() }),
        }
    }
    let mut samples = Samples::default();
    samples.absorb(results, start);
    (samples, conns)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Fixed,
    Saturation,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Fixed => "fixed",
            Phase::Saturation => "saturation",
        }
    }
}

/// CPU use (in cores) during one segment: the target's gateway (0 when direct), the example
/// server, this process (load generator and audit sink), and everything else on the machine.
#[derive(Default, Clone, Copy)]
struct Cpu {
    gateway: f64,
    server: f64,
    loadgen: f64,
    other: f64,
}

/// Busy CPU time of the whole machine so far, in seconds (from /proc/stat).
fn machine_busy_seconds(ticks_per_second: f64) -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return f64::NAN;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return f64::NAN;
    };
    let fields: Vec<f64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: f64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0.0) + fields.get(4).copied().unwrap_or(0.0);
    (total - idle) / ticks_per_second
}

struct Lab {
    procs: Vec<Proc>,
    server_pid: u32,
    ticks: f64,
    text: Arc<str>,
    /// Largest VmRSS seen while each gateway was loaded, in KiB.
    rss_under_load: BTreeMap<&'static str, u64>,
    /// `tools/call`s sent to each target, in every phase.
    calls: BTreeMap<&'static str, usize>,
}

impl Lab {
    fn check_alive(&mut self) -> Result<()> {
        self.procs.iter_mut().try_for_each(Proc::check_alive)
    }

    /// Runs one segment against `target` on fresh connections and sessions.
    async fn segment(&mut self, target: &Target, phase: Phase, duration: Duration) -> Result<(Samples, Cpu)> {
        self.check_alive()?;
        let n = match phase {
            Phase::Fixed => FIXED_CONNECTIONS,
            Phase::Saturation => SATURATION_CLIENTS,
        };
        let conns = open_all(target, n).await?;
        let (gateway_pid, server_pid, ticks) = (target.gateway_pid, self.server_pid, self.ticks);
        let cpu = move || {
            (
                gateway_pid.map_or(0.0, |pid| cpu_seconds(Some(pid), ticks)),
                cpu_seconds(Some(server_pid), ticks),
                cpu_seconds(None, ticks),
                machine_busy_seconds(ticks),
            )
        };
        let before = cpu();
        let wall = Instant::now();
        // Sample the gateway's RSS while it is loaded.
        let sampler = gateway_pid.map(|pid| {
            tokio::spawn(async move {
                let mut max = 0;
                let end = Instant::now() + duration;
                while Instant::now() < end {
                    max = max.max(proc_status_kib(pid, "VmRSS:").unwrap_or(0));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                max
            })
        });
        let (samples, conns) = match phase {
            Phase::Fixed => fixed_rate(conns, FIXED_RATE, duration, self.text.clone()).await,
            Phase::Saturation => closed_loop(conns, duration, self.text.clone()).await,
        };
        let after = cpu();
        let secs = wall.elapsed().as_secs_f64();
        if let Some(sampler) = sampler {
            let max = sampler.await.unwrap_or(0);
            let entry = self.rss_under_load.entry(target.name).or_default();
            *entry = (*entry).max(max);
        }
        close_all(conns).await;
        *self.calls.entry(target.name).or_default() += samples.calls();
        let gateway = (after.0 - before.0) / secs;
        let server = (after.1 - before.1) / secs;
        let loadgen = (after.2 - before.2) / secs;
        let other = ((after.3 - before.3) / secs - gateway - server - loadgen).max(0.0);
        let usage = Cpu { gateway, server, loadgen, other };
        println!(
            "  {:<13} {:<10} ok {:>7} err {:>3} late {:>5} rate {:>8.1}/s p50 {:>8.1}us p99 {:>8.1}us  cpu gw {:.2} srv {:.2} gen {:.2} other {:.2}",
            target.name,
            phase.name(),
            samples.latencies.len(),
            samples.errors,
            samples.late,
            samples.rate(),
            samples.summary()["p50_us"].as_f64().unwrap_or(f64::NAN),
            samples.summary()["p99_us"].as_f64().unwrap_or(f64::NAN),
            usage.gateway,
            usage.server,
            usage.loadgen,
            usage.other,
        );
        Ok((samples, usage))
    }

    /// Every target twice per round, in palindromic order (A B C C B A); each target's segments
    /// merged.
    async fn palindrome(&mut self, targets: &[Target], phase: Phase) -> Result<Value> {
        let mut merged: Vec<Samples> = targets.iter().map(|_| Samples::default()).collect();
        let mut cpu = vec![Cpu::default(); targets.len()];
        let mut segments: Vec<Vec<Value>> = vec![Vec::new(); targets.len()];
        let round: Vec<usize> = (0..targets.len()).chain((0..targets.len()).rev()).collect();
        let order = round.iter().copied().cycle().take(round.len() * ROUNDS);
        let share = 1.0 / (2 * ROUNDS) as f64;
        for slot in order {
            let (samples, usage) = self.segment(&targets[slot], phase, SEGMENT).await?;
            let mut summary = samples.summary();
            summary["other_cpu_cores"] = Value::from(round_to(usage.other, 3));
            segments[slot].push(summary);
            merged[slot].merge(&samples);
            cpu[slot].gateway += usage.gateway * share;
            cpu[slot].server += usage.server * share;
            cpu[slot].loadgen += usage.loadgen * share;
            cpu[slot].other += usage.other * share;
        }
        let mut out = serde_json::Map::new();
        for (i, target) in targets.iter().enumerate() {
            let mut v = merged[i].summary();
            v["segments"] = Value::from(segments[i].clone());
            v["cpu_cores"] = json!({
                "gateway": round_to(cpu[i].gateway, 3),
                "server": round_to(cpu[i].server, 3),
                "loadgen": round_to(cpu[i].loadgen, 3),
                "other": round_to(cpu[i].other, 3),
            });
            out.insert(target.name.to_string(), v);
        }
        Ok(Value::Object(out))
    }
}

// ---------------------------------------------------------------------------------------------
// Audit sink: stands in for the ingest service, counts the events it receives.

struct Sink {
    addr: SocketAddr,
    events: Arc<AtomicU64>,
    batches: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sink {
    /// Serves on its own thread, so it never delays the load generator's timers.
    fn start() -> Result<Sink> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (events, batches) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let (e, b) = (events.clone(), batches.clone());
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                let Ok(listener) = TcpListener::from_std(listener) else { return };
                loop {
                    let stream = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => return,
                    };
                    let (e, b) = (e.clone(), b.clone());
                    tokio::spawn(async move {
                        let service =
                            hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                                let (e, b) = (e.clone(), b.clone());
                                async move {
                                    let body = req
                                        .into_body()
                                        .collect()
                                        .await
                                        .map(|c| c.to_bytes())
                                        .unwrap_or_default();
                                    let n = body.windows(10).filter(|w| w == b"\"event_id\"").count();
                                    e.fetch_add(n as u64, Ordering::Relaxed);
                                    b.fetch_add(1, Ordering::Relaxed);
                                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
                                }
                            });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Ok(Sink { addr, events, batches, stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The `mcp_gateway_audit_events_total` counters of a gateway's /metrics, by outcome.
async fn audit_counters(addr: SocketAddr) -> BTreeMap<String, f64> {
    let text = tokio::task::spawn_blocking(move || {
        let mut stream = StdTcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        Some(text)
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("mcp_gateway_audit_events_total{outcome=\""))
        .filter_map(|l| {
            let (outcome, rest) = l.split_once('"')?;
            let value = rest.rsplit(' ').next()?.parse().ok()?;
            Some((outcome.to_string(), value))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Revocation.

async fn revocation(fixture: &Fixture, policy_file: &Path, gateway: &Target, text: &str) -> Result<Value> {
    let original = fixture.policy(false)?;
    let revoked = fixture.policy(true)?;
    let mut conn = Conn::open(gateway).await?;
    let mut samples = Vec::new();
    let mut timeouts = 0;
    let mut id = 1_000_000_000u64;
    for rep in 0..REVOCATIONS {
        // Start at different phases of the gateway's re-check timer.
        tokio::time::sleep(Duration::from_millis(50 + (rep as u64 * 137) % 400)).await;
        write_atomically(policy_file, &revoked)?;
        let written = Instant::now();
        let mut seen = None;
        while written.elapsed() < REVOCATION_BOUND {
            id += 1;
            let reply = conn.call(id, text).await?;
            if reply.status == StatusCode::UNAUTHORIZED && contains(&reply.body, b"session_revoked") {
                seen = Some(written.elapsed());
                break;
            }
            if !call_succeeded(&reply) {
                return Err(format!(
                    "revocation: unexpected answer {}: {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                )
                .into());
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
        match seen {
            Some(d) => samples.push(d.as_secs_f64() * 1_000.0),
            None => timeouts += 1,
        }
        // Restore, and wait until calls pass again.
        write_atomically(policy_file, &original)?;
        let restored = Instant::now();
        loop {
            id += 1;
            if call_succeeded(&conn.call(id, text).await?) {
                break;
            }
            if restored.elapsed() > REVOCATION_BOUND {
                return Err("revocation: calls still denied 5 s after restoring the policy".into());
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
        println!("  revocation {}: {:?}", rep + 1, seen);
    }
    conn.close().await;
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.is_empty() { f64::NAN } else { sorted[sorted.len() / 2] };
    let max = sorted.last().copied().unwrap_or(f64::NAN);
    Ok(json!({
        "samples_ms": samples.iter().map(|v| round_to(*v, 1)).collect::<Vec<_>>(),
        "median_ms": round_to(median, 1),
        "max_ms": round_to(max, 1),
        "timeouts": timeouts,
        "probe_every_ms": PROBE_EVERY.as_millis() as u64,
    }))
}

// ---------------------------------------------------------------------------------------------
// In-process cost of the gateway's per-call stages, for attribution.

fn stage_costs(fixture: &Fixture, policy: &str, text: &str) -> Result<Value> {
    use mcp_gateway::pipeline::identify::{KeyRing, platform_identity};
    use mcp_policy::{Call, MemoryBudgets, Reason, Request as PolicyRequest, Snapshot};

    let snapshot = Snapshot::from_json(policy.as_bytes())?;
    let keys = KeyRing::from_document(snapshot.document())?;
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {}", fixture.token))?);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
    );
    let req_headers = mcp_protocol::RequestHeaders {
        content_type: Some("application/json"),
        protocol_version: Some(PROTOCOL_VERSION),
        mcp_method: None,
        mcp_name: None,
    };
    let opts = mcp_protocol::InspectOptions { max_body: 1 << 20, allow_batch: false };
    let budgets = MemoryBudgets::new();

    let time = |name: &str, f: &mut dyn FnMut()| -> Value {
        const ITERS: usize = 5_000;
        for _ in 0..500 {
            f();
        }
        let mut ns: Vec<u64> = (0..ITERS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_nanos() as u64
            })
            .collect();
        ns.sort_unstable();
        json!({
            "stage": name,
            "median_ns": ns[ns.len() / 2],
            "p99_ns": ns[ns.len() * 99 / 100],
        })
    };

    let inspected = mcp_protocol::inspect(body.as_bytes(), &req_headers, &opts)?;
    let identity = platform_identity(snapshot.document(), &keys, &headers)?;
    let message = inspected.messages.first().ok_or("no message")?;
    let decide = || {
        let call = Call::Tool {
            name: message.tool.as_deref().unwrap_or_default(),
            arguments: message.arguments.as_ref(),
            drifted: false,
        };
        snapshot.evaluate(
            &PolicyRequest { identity: &identity, call, now: jiff::Timestamp::now(), charge: true },
            &budgets,
        )
    };
    if decide().reason != Reason::Allowed {
        return Err("stage costs: the call is not allowed".into());
    }
    let verifying_key = ed25519_dalek::VerifyingKey::from_bytes(&fixture.public)?;
    let (message_bytes, signature) = fixture.token.rsplit_once('.').ok_or("token has no signature")?;
    let message_bytes = message_bytes.as_bytes();
    let signature = ed25519_dalek::Signature::from_slice(&b64url_decode(signature))?;
    if ed25519_dalek::Verifier::verify(&verifying_key, message_bytes, &signature).is_err() {
        return Err("stage costs: the token signature does not verify".into());
    }
    let stages = vec![
        time("inspect: parse and check the 1 KiB JSON-RPC body", &mut || {
            std::hint::black_box(mcp_protocol::inspect(body.as_bytes(), &req_headers, &opts).is_ok());
        }),
        time("identify: the session token as the gateway checks it (a repeated token)", &mut || {
            std::hint::black_box(platform_identity(snapshot.document(), &keys, &headers).is_ok());
        }),
        time(
            "uncached verification: decode the Ed25519 public key (jsonwebtoken does it each time)",
            &mut || {
                std::hint::black_box(ed25519_dalek::VerifyingKey::from_bytes(&fixture.public).is_ok());
            },
        ),
        time("uncached verification: check the Ed25519 signature with a decoded key", &mut || {
            std::hint::black_box(
                ed25519_dalek::Verifier::verify(&verifying_key, message_bytes, &signature).is_ok(),
            );
        }),
        time("evaluate: the policy decision", &mut || {
            std::hint::black_box(decide().allowed);
        }),
    ];
    Ok(Value::from(stages))
}

/// The gateway's default policy re-check interval (the benchmark leaves it unset).
fn default_recheck_ms() -> u64 {
    let env: HashMap<String, String> = [("POLICY_FILE".to_string(), "policy.json".to_string())].into();
    mcp_gateway::Config::from_source(&env).map_or(0, |c| c.policy_recheck.as_millis() as u64)
}

// ---------------------------------------------------------------------------------------------

async fn run(gateway_bin: PathBuf, server_bin: PathBuf) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let fixture = Fixture::new()?;
    // The policy gets a directory of its own, like a mounted ConfigMap (the gateway may watch it).
    let policy_dir = dir.path().join("policy");
    std::fs::create_dir(&policy_dir)?;
    let policy_file = policy_dir.join("policy.json");
    let policy = fixture.policy(false)?;
    write_atomically(&policy_file, &policy)?;
    let text: Arc<str> = payload().into();
    let sink = Sink::start()?;

    let server_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let mut server = Proc::spawn(
        "mcp-example-server",
        Command::new(&server_bin)
            .env_clear()
            .env("RUST_LOG", LOG_LEVEL)
            .arg("--listen")
            .arg(server_addr.to_string()),
        dir.path().join("server.log"),
    )?;
    wait_ready(&mut server, server_addr, "/healthz").await?;

    // Each gateway gets exactly these settings (nothing inherited from this environment).
    let spawn_gateway =
        |name: &'static str, extra: &[(&str, String)]| -> Result<(Proc, SocketAddr, SocketAddr)> {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let admin = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let mut env: Vec<(&str, String)> = vec![
                ("LISTEN_ADDR", addr.to_string()),
                ("ADMIN_LISTEN_ADDR", admin.to_string()),
                ("UPSTREAM_URL", format!("http://{server_addr}")),
                ("POLICY_FILE", policy_file.display().to_string()),
                ("STRIP_PREFIX", PUBLIC_PREFIX.to_string()),
                ("RUST_LOG", LOG_LEVEL.to_string()),
            ];
            env.extend(extra.iter().cloned());
            let proc = Proc::spawn(
                name,
                Command::new(&gateway_bin).env_clear().envs(env),
                dir.path().join(format!("{name}.log")),
            )?;
            Ok((proc, addr, admin))
        };
    let (mut gateway, gateway_addr, gateway_admin) = spawn_gateway("mcp-gateway", &[])?;
    let (mut audited, audited_addr, audited_admin) = spawn_gateway(
        "mcp-gateway-audit",
        &[
            ("ANALYTICS_INGEST_URL", format!("http://{}/events", sink.addr)),
            ("AUDIT_SPOOL_DIR", dir.path().join("spool").display().to_string()),
        ],
    )?;
    let relay_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let mut relay = Proc::spawn(
        "tcp-relay",
        Command::new(std::env::current_exe()?).env_clear().env(RELAY, format!("{relay_addr} {server_addr}")),
        dir.path().join("tcp-relay.log"),
    )?;
    wait_ready(&mut gateway, gateway_admin, "/ready").await?;
    wait_ready(&mut audited, audited_admin, "/ready").await?;
    wait_ready(&mut relay, relay_addr, "/healthz").await?;
    // The processes standing between the load and the server, by target.
    let middle = [("relay", relay.pid()), ("gateway", gateway.pid()), ("gateway_audit", audited.pid())];
    let rss_idle: Vec<Option<u64>> = middle.iter().map(|(_, pid)| proc_status_kib(*pid, "VmRSS:")).collect();
    let ticks = clock_ticks();
    let idle_cpu = {
        let pids: Vec<(&str, u32)> = std::iter::once(("server", server.pid())).chain(middle).collect();
        let before: Vec<f64> = pids.iter().map(|(_, pid)| cpu_seconds(Some(*pid), ticks)).collect();
        let started = Instant::now();
        tokio::time::sleep(IDLE_SAMPLE).await;
        let secs = started.elapsed().as_secs_f64();
        let mut idle = serde_json::Map::new();
        for ((name, pid), before) in pids.iter().zip(before) {
            idle.insert(
                name.to_string(),
                json!(round_to((cpu_seconds(Some(*pid), ticks) - before) / secs, 3)),
            );
        }
        Value::Object(idle)
    };
    println!("idle cpu (cores): {idle_cpu}");

    let route = format!("{PUBLIC_PREFIX}/mcp");
    let targets = [
        Target {
            name: "direct",
            addr: server_addr,
            path: "/mcp".into(),
            token: fixture.token.clone(),
            gateway_pid: None,
        },
        Target {
            name: "relay",
            addr: relay_addr,
            path: "/mcp".into(),
            token: fixture.token.clone(),
            gateway_pid: Some(relay.pid()),
        },
        Target {
            name: "gateway",
            addr: gateway_addr,
            path: route.clone(),
            token: fixture.token.clone(),
            gateway_pid: Some(gateway.pid()),
        },
        Target {
            name: "gateway_audit",
            addr: audited_addr,
            path: route,
            token: fixture.token.clone(),
            gateway_pid: Some(audited.pid()),
        },
    ];

    // Preflight: a correct answer from every target before any number is taken.
    for target in &targets {
        let mut conn = Conn::open(target).await?;
        let reply = conn.call(1, &text).await?;
        if !call_succeeded(&reply) || !contains(&reply.body, text.as_bytes()) {
            return Err(format!(
                "{}: echo did not echo: {} {}",
                target.name,
                reply.status,
                String::from_utf8_lossy(&reply.body)
            )
            .into());
        }
        conn.close().await;
    }

    let mut lab = Lab {
        server_pid: server.pid(),
        procs: vec![server, relay, gateway, audited],
        ticks,
        text: text.clone(),
        rss_under_load: BTreeMap::new(),
        calls: BTreeMap::new(),
    };
    println!("warm-up");
    for target in &targets {
        lab.segment(target, Phase::Fixed, WARMUP).await?;
    }
    println!("fixed rate {FIXED_RATE}/s");
    let fixed = lab.palindrome(&targets, Phase::Fixed).await?;
    println!("saturation");
    let saturation = lab.palindrome(&targets, Phase::Saturation).await?;
    let mut rss = serde_json::Map::new();
    for (i, (name, pid)) in middle.iter().copied().enumerate() {
        rss.insert(
            name.to_string(),
            json!({
                "idle_kib": rss_idle[i],
                "under_load_max_kib": lab.rss_under_load.get(name),
                "after_kib": proc_status_kib(pid, "VmRSS:"),
                "hwm_kib": proc_status_kib(pid, "VmHWM:"),
            }),
        );
    }
    rss.insert(
        "server".into(),
        json!({
            "after_kib": proc_status_kib(lab.server_pid, "VmRSS:"),
            "hwm_kib": proc_status_kib(lab.server_pid, "VmHWM:"),
        }),
    );

    // Audit: everything the audited gateway was sent must have reached the sink.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let audit = json!({
        "tools_calls_sent": lab.calls.get("gateway_audit"),
        "events_received": sink.events.load(Ordering::Relaxed),
        "batches_received": sink.batches.load(Ordering::Relaxed),
        "gateway_counters": audit_counters(audited_admin).await,
    });

    println!("revocation");
    let gateway_target = targets.iter().find(|t| t.name == "gateway").ok_or("no gateway target")?;
    let revocation = revocation(&fixture, &policy_file, gateway_target, &text).await?;
    lab.check_alive()?;
    let stages = stage_costs(&fixture, &policy, &text)?;

    Ok(json!({
        "config": {
            "payload_bytes": PAYLOAD_BYTES,
            "fixed_rate": FIXED_RATE,
            "fixed_connections": FIXED_CONNECTIONS,
            "saturation_clients": SATURATION_CLIENTS,
            "segment_seconds": SEGMENT.as_secs_f64(),
            "segments_per_target": 2 * ROUNDS,
            "warmup_seconds": WARMUP.as_secs(),
            "protocol_version": PROTOCOL_VERSION,
            "policy_recheck_ms": default_recheck_ms(),
            "log_level": LOG_LEVEL,
        },
        "idle_cpu_cores": idle_cpu,
        "fixed": fixed,
        "saturation": saturation,
        "rss": rss,
        "audit": audit,
        "revocation": revocation,
        "stages": stages,
    }))
}
