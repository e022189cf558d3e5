//! What `adapter proxy` adds to a call: `cargo xtask bench adapter` builds the release binaries,
//! runs this with their paths in `MCP_GATEWAY_BIN`, `MCP_EXAMPLE_SERVER_BIN` and
//! `MCP_RUNTIME_BIN`, and writes docs/benchmarks.md from the JSON left in `$MCP_BENCH_OUT`.
//!
//! Processes on loopback: the example MCP server, one `mcp-gateway` in front of it (allow-list
//! policy, platform session tokens; the gateway benchmark's fixture), and `mcp-runtime adapter
//! proxy` in front of the gateway presenting the same session token (`--session-token`). One
//! client (this process, one thread, one keep-alive connection and MCP session per target)
//! calls `echo` sequentially, directly at the gateway (with the token) and through the proxy
//! (without one), in alternating segments so drift of the shared machine cancels out.
//!
//! Without the environment variables (`cargo test --benches`, clippy) it does nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use mcp_api::{MCPAccessGrant, MCPAgentSession, MCPServer};
use mcp_policy::{Jwks, PlatformTrust, RenderContext, render};
use serde_json::{Value, json};
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

const FIXTURE: &str = include_str!("../../gateway/benches/fixture.yaml");
const ISSUER: &str = "https://platform.bench";
const PUBLIC_PREFIX: &str = "/policy-mcp-server";
const PROTOCOL_VERSION: &str = "2025-06-18";
/// Calls per target before measuring.
const WARMUP: usize = 300;
/// Segments per target (alternating order).
const SEGMENTS: usize = 20;
/// Calls per segment.
const PER_SEGMENT: usize = 250;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &mut Command, log: &Path) -> Result<Proc> {
    let file = std::fs::File::create(log)?;
    Ok(Proc(cmd.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file).spawn()?))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_listening(addr: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {addr} after 20 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The fixture's policy with the platform key, and a token for its session.
fn fixture() -> Result<(String, String)> {
    let mut docs = FIXTURE.split("\n---\n");
    let mut next = || docs.next().ok_or("fixture: missing document");
    let server: MCPServer = mcp_api::yaml::from_str(next()?)?;
    let grants: Vec<MCPAccessGrant> = vec![mcp_api::yaml::from_str(next()?)?];
    let session: MCPAgentSession = mcp_api::yaml::from_str(next()?)?;
    let key = mcp_testkit::platform::SigningKey::from_seed("platform-bench", [7u8; 32]);
    let ctx = RenderContext {
        cluster: "bench".into(),
        platform: Some(PlatformTrust { issuer: ISSUER.into(), jwks: Jwks { keys: vec![key.jwk()] } }),
        ..RenderContext::default()
    };
    let policy = render(&server, &grants, &[session], &ctx)?.to_json_pretty();
    let now = jiff::Timestamp::now().as_second();
    let token = key.token(&json!({
        "iss": ISSUER, "aud": format!("http://mcp.bench{PUBLIC_PREFIX}/mcp"),
        "exp": now + 3600, "iat": now,
        "sub": "user-123", "agent": "ops-agent", "team": "team-a", "sid": "sess-ops-agent",
    }))?;
    Ok((policy, token))
}

struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    path: String,
    auth: Option<HeaderValue>,
    session: Option<HeaderValue>,
}

impl Conn {
    async fn open(addr: SocketAddr, path: &str, token: Option<&str>) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let auth = token.map(|t| HeaderValue::from_str(&format!("Bearer {t}"))).transpose()?;
        let mut conn = Conn {
            sender,
            host: HeaderValue::from_str(&addr.to_string())?,
            path: path.into(),
            auth,
            session: None,
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "adapter-bench", "version": "0"}}});
        let (status, headers, body) = conn.send(init.to_string()).await?;
        if status != StatusCode::OK {
            return Err(format!("initialize at {addr}: {status} {}", String::from_utf8_lossy(&body)).into());
        }
        conn.session = headers.get("mcp-session-id").cloned();
        let (status, _, _) =
            conn.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()).await?;
        if !status.is_success() {
            return Err(format!("initialized at {addr}: {status}").into());
        }
        Ok(conn)
    }

    async fn send(&mut self, body: String) -> Result<(StatusCode, http::HeaderMap, Bytes)> {
        let mut req = Request::builder().method(Method::POST).uri(self.path.as_str());
        let h = req.headers_mut().ok_or("builder")?;
        h.insert(header::HOST, self.host.clone());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
        if let Some(auth) = &self.auth {
            h.insert(header::AUTHORIZATION, auth.clone());
        }
        if let Some(s) = &self.session {
            h.insert("mcp-session-id", s.clone());
            h.insert("mcp-protocol-version", HeaderValue::from_static(PROTOCOL_VERSION));
        }
        let req = req.body(Full::new(Bytes::from(body)))?;
        self.sender.ready().await?;
        let res = self.sender.send_request(req).await?;
        let (parts, body) = res.into_parts();
        Ok((parts.status, parts.headers, body.collect().await?.to_bytes()))
    }

    /// One `tools/call` of `echo`: its latency.
    async fn call(&mut self, id: u64) -> Result<Duration> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hello adapter"}}}}}}"#
        );
        let started = Instant::now();
        let (status, _, reply) = self.send(body).await?;
        let took = started.elapsed();
        if status != StatusCode::OK || !reply.windows(8).any(|w| w == b"\"result\"") {
            return Err(format!("echo answered {status}: {}", String::from_utf8_lossy(&reply)).into());
        }
        Ok(took)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn summary(mut samples: Vec<Duration>) -> Value {
    samples.sort();
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len().max(1) as f64 * 1e6;
    json!({
        "calls": samples.len(),
        "p50_us": percentile(&samples, 0.50),
        "p90_us": percentile(&samples, 0.90),
        "p99_us": percentile(&samples, 0.99),
        "max_us": percentile(&samples, 1.0),
        "mean_us": mean,
    })
}

async fn run(gateway_bin: PathBuf, server_bin: PathBuf, runtime_bin: PathBuf) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let (policy, token) = fixture()?;
    let policy_file = dir.path().join("policy.json");
    std::fs::write(&policy_file, policy)?;
    let server_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let _server = spawn(
        Command::new(&server_bin)
            .env_clear()
            .env("RUST_LOG", "warn")
            .arg("--listen")
            .arg(server_addr.to_string()),
        &dir.path().join("server.log"),
    )?;
    wait_listening(server_addr).await?;
    let gateway_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let _gateway = spawn(
        Command::new(&gateway_bin)
            .env_clear()
            .env("LISTEN_ADDR", gateway_addr.to_string())
            .env("ADMIN_LISTEN_ADDR", admin.to_string())
            .env("UPSTREAM_URL", format!("http://{server_addr}"))
            .env("POLICY_FILE", &policy_file)
            .env("STRIP_PREFIX", PUBLIC_PREFIX)
            .env("RUST_LOG", "warn"),
        &dir.path().join("gateway.log"),
    )?;
    wait_listening(gateway_addr).await?;
    let route = format!("{PUBLIC_PREFIX}/mcp");
    let proxy_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let _proxy = spawn(
        Command::new(&runtime_bin)
            .env_clear()
            .args(["adapter", "proxy", "--listen", &proxy_addr.to_string()])
            .args(["--runtime-url", &format!("http://{gateway_addr}{route}")])
            .env("MCP_RUNTIME_SESSION_TOKEN", &token),
        &dir.path().join("proxy.log"),
    )?;
    wait_listening(proxy_addr).await?;
    // The gateway closes before its policy is loaded: retry the first handshake briefly.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut direct = loop {
        match Conn::open(gateway_addr, &route, Some(&token)).await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let mut proxied = Conn::open(proxy_addr, "/mcp", None).await?;
    let mut id = 1u64;
    for _ in 0..WARMUP {
        direct.call(id).await?;
        proxied.call(id + 1).await?;
        id += 2;
    }
    let (mut d, mut p) = (Vec::new(), Vec::new());
    for segment in 0..SEGMENTS {
        for first_direct in [segment % 2 == 0, segment % 2 == 1] {
            for _ in 0..PER_SEGMENT {
                id += 1;
                if first_direct {
                    d.push(direct.call(id).await?);
                } else {
                    p.push(proxied.call(id).await?);
                }
            }
        }
    }
    let direct_s = summary(d);
    let proxied_s = summary(p);
    let added_p50 =
        proxied_s["p50_us"].as_f64().unwrap_or(f64::NAN) - direct_s["p50_us"].as_f64().unwrap_or(f64::NAN);
    let added_p99 =
        proxied_s["p99_us"].as_f64().unwrap_or(f64::NAN) - direct_s["p99_us"].as_f64().unwrap_or(f64::NAN);
    Ok(json!({
        "direct": direct_s,
        "proxy": proxied_s,
        "added_p50_us": added_p50,
        "added_p99_us": added_p99,
        "ratio_p50": proxied_s["p50_us"].as_f64().unwrap_or(f64::NAN) / direct_s["p50_us"].as_f64().unwrap_or(f64::NAN),
        "segments": SEGMENTS,
        "per_segment": PER_SEGMENT,
        "warmup": WARMUP,
    }))
}

fn main() {
    let vars = ["MCP_GATEWAY_BIN", "MCP_EXAMPLE_SERVER_BIN", "MCP_RUNTIME_BIN"];
    let bins: Vec<Option<PathBuf>> = vars.iter().map(|v| std::env::var_os(v).map(PathBuf::from)).collect();
    let (Some(gateway), Some(server), Some(runtime)) = (bins[0].clone(), bins[1].clone(), bins[2].clone())
    else {
        println!(
            "adapter bench: {} are not set; nothing to measure (run `cargo xtask bench adapter`)",
            vars.join(", ")
        );
        return;
    };
    let runtime_rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("adapter bench: tokio: {e}");
            std::process::exit(1);
        }
    };
    let report = match runtime_rt.block_on(run(gateway, server, runtime)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("adapter bench failed: {e}");
            std::process::exit(1);
        }
    };
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    if let Ok(path) = std::env::var("MCP_BENCH_OUT")
        && let Err(e) = std::fs::write(&path, &text)
    {
        eprintln!("adapter bench: write {path}: {e}");
        std::process::exit(1);
    }
    println!("{text}");
}
