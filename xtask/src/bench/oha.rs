//! The independent open-loop generator of `cargo xtask bench gateway`: `oha` (crates.io,
//! installed once into /var/tmp/mcp-runtime-tools) drives the same three targets as
//! `lib/gateway/benches/proxy.rs` — the example server directly, the gateway, and the gateway
//! with audit delivered to a sink — at 1,000 calls/s open loop with `--latency-correction` and
//! 16 keep-alive connections, in interleaved rounds (direct, gateway, gateway + audit, then back),
//! so its p99 can be read beside the bench's own. Every process here is started and stopped by
//! this module (release binaries, loopback, the bench's policy fixture).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::issuer::TestIssuer;

/// Offered load, connections, rounds and the length of one run.
pub const RATE: u32 = 1_000;
pub const CONNECTIONS: u32 = 16;
pub const ROUNDS: usize = 5;
const SECONDS: u64 = 10;
const WARMUP_SECONDS: u64 = 3;
/// The targets, in the bench's order: (key, heading).
pub const TARGETS: &[(&str, &str)] =
    &[("direct", "direct"), ("gateway", "gateway"), ("gateway_audit", "gateway + audit")];
/// Same payload size as the bench (`PAYLOAD_BYTES` of proxy.rs).
const PAYLOAD_BYTES: usize = 1024;
const PROTOCOL_VERSION: &str = "2025-06-18";
const PREFIX: &str = "/policy-mcp-server";

/// The bench's policy fixture (server, grant with `echo`, session), the very file proxy.rs reads.
const FIXTURE: &str = include_str!("../../../lib/gateway/benches/fixture.yaml");

/// The `oha` binary, installed when missing.
pub fn install() -> Result<PathBuf> {
    crate::tools::OHA.install("bench gateway")
}

/// A started process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(name: &str, cmd: &mut Command, dir: &Path) -> Result<Proc> {
    let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("bench gateway: start {name}"))?;
    Ok(Proc(child))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits until `GET path` on `port` answers 200.
fn wait_ok(what: &str, port: u16, path: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(crate::issuer::http_get(port, path), Some((200, _))) {
        if Instant::now() > deadline {
            bail!("bench gateway: {what} did not answer {path} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// An audit sink standing in for ingest: answers every request 200 and discards its body
/// (keep-alive, `Content-Length` or chunked bodies), one thread per connection.
fn start_sink() -> Result<u16> {
    let listener = TcpListener::bind(loopback(0)).context("bind the audit sink")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = serve_sink(stream);
            });
        }
    });
    Ok(port)
}

fn serve_sink(stream: TcpStream) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let (mut length, mut chunked, mut line) = (0usize, false, String::new());
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(v) = header.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if header.starts_with("transfer-encoding:") && header.contains("chunked") {
                chunked = true;
            }
        }
        if chunked {
            loop {
                line.clear();
                reader.read_line(&mut line)?;
                let size =
                    usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
            }
        } else {
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
        }
        writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")?;
    }
}

/// One request on a fresh connection: (status, response head, body).
fn post(port: u16, path: &str, headers: &[(String, String)], body: &str) -> Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(loopback(port)).context("connect")?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes())?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, head.to_string(), body.to_string()))
}

/// Opens an MCP session (initialize + initialized) and returns the headers every call carries.
fn session(port: u16, path: &str, token: Option<&str>) -> Result<Vec<(String, String)>> {
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("Accept".to_string(), "application/json, text/event-stream".to_string()),
    ];
    if let Some(token) = token {
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                   "clientInfo": {"name": "xtask-oha", "version": "1"}}});
    let (status, head, body) = post(port, path, &headers, &init.to_string())?;
    if status != 200 {
        bail!("initialize on port {port}: HTTP {status} {body}");
    }
    let session = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("mcp-session-id").then(|| value.trim().to_string())
    });
    if let Some(id) = session {
        headers.push(("Mcp-Session-Id".into(), id));
    }
    headers.push(("MCP-Protocol-Version".into(), PROTOCOL_VERSION.into()));
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, body) = post(port, path, &headers, &initialized.to_string())?;
    if status >= 300 {
        bail!("notifications/initialized on port {port}: HTTP {status} {body}");
    }
    Ok(headers)
}

/// Request headers: (name, value).
type Headers = Vec<(String, String)>;

/// The `tools/call` every request sends (`echo` with a 1,024-byte text).
fn call_body() -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let text: String = (0..PAYLOAD_BYTES).map(|i| alphabet[i % alphabet.len()] as char).collect();
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "echo", "arguments": {"text": text}}})
    .to_string()
}

/// One oha run against `url`; its JSON summary.
fn run_oha(oha: &Path, url: &str, headers: &[(String, String)], seconds: u64) -> Result<Value> {
    run_oha_with(oha, url, headers, seconds, &call_body())
}

/// One oha run at [`RATE`] with [`CONNECTIONS`] sending `body`; its JSON summary.
pub(super) fn run_oha_with(
    oha: &Path,
    url: &str,
    headers: &[(String, String)],
    seconds: u64,
    body: &str,
) -> Result<Value> {
    let mut args: Vec<String> = vec![
        "--no-tui".into(),
        "--output-format".into(),
        "json".into(),
        "-z".into(),
        format!("{seconds}s"),
        "-q".into(),
        RATE.to_string(),
        "--latency-correction".into(),
        "-c".into(),
        CONNECTIONS.to_string(),
        "-m".into(),
        "POST".into(),
        "-d".into(),
        body.to_string(),
    ];
    for (name, value) in headers {
        args.extend(["-H".into(), format!("{name}: {value}")]);
    }
    args.push(url.into());
    let out = duct::cmd(oha, &args).stdout_capture().stderr_capture().unchecked().run()?;
    if !out.status.success() {
        bail!("oha failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("oha printed no JSON summary")
}

/// What one run measured: p50, p99 (ms), calls answered 200, other answers and errors.
pub(super) fn summarize(run: &Value) -> Value {
    let ms = |v: &Value| v.as_f64().map(|s| s * 1_000.0);
    let statuses = run["statusCodeDistribution"].as_object().cloned().unwrap_or_default();
    let ok = statuses.get("200").and_then(Value::as_u64).unwrap_or(0);
    let other: u64 = statuses.iter().filter(|(k, _)| *k != "200").filter_map(|(_, v)| v.as_u64()).sum();
    // Requests still in flight when the run's time is up are counted "aborted due to deadline"
    // by oha (one per connection at most): not failures.
    let errors: u64 = run["errorDistribution"]
        .as_object()
        .map(|m| m.iter().filter(|(k, _)| !k.contains("deadline")).filter_map(|(_, v)| v.as_u64()).sum())
        .unwrap_or(0);
    json!({
        "p50_ms": ms(&run["latencyPercentiles"]["p50"]),
        "p99_ms": ms(&run["latencyPercentiles"]["p99"]),
        "rate": run["summary"]["requestsPerSec"],
        "ok": ok, "other_status": other, "errors": errors,
    })
}

/// Starts the three targets, then runs oha against each, interleaved, `ROUNDS` times. Returns
/// `{config, targets: {key: {rounds: [...], p99_median_ms, p50_median_ms}}}`.
pub fn run(gateway_bin: &Path, server_bin: &Path) -> Result<Value> {
    let oha = install()?;
    let dir = std::env::temp_dir().join(format!("mcp-oha-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(&oha, gateway_bin, server_bin, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(oha: &Path, gateway_bin: &Path, server_bin: &Path, dir: &Path) -> Result<Value> {
    // Policy and token, as the operator and the platform would make them.
    let issuer = TestIssuer::new(dir)?;
    let mut docs = FIXTURE.split("\n---\n");
    let mut next = || docs.next().context("fixture: missing document");
    let server: mcp_api::MCPServer = mcp_api::yaml::from_str(next()?)?;
    let grant: mcp_api::MCPAccessGrant = mcp_api::yaml::from_str(next()?)?;
    let session_object: mcp_api::MCPAgentSession = mcp_api::yaml::from_str(next()?)?;
    let jwks: mcp_policy::Jwks = serde_json::from_value(issuer.jwks())?;
    let ctx = mcp_policy::RenderContext {
        cluster: "bench".into(),
        platform: Some(mcp_policy::PlatformTrust { issuer: crate::issuer::ISSUER.into(), jwks }),
        ..mcp_policy::RenderContext::default()
    };
    let doc = mcp_policy::render(&server, &[grant], &[session_object], &ctx)?;
    let policy_dir = dir.join("policy");
    std::fs::create_dir_all(&policy_dir)?;
    let policy = policy_dir.join("policy.json");
    std::fs::write(&policy, doc.to_json_pretty())?;
    let claims = json!({"sub": "user-123", "agent": "ops-agent", "team": "team-a", "sid": "sess-ops-agent"});
    let token = issuer.token(&doc.server.url, &claims, 3600)?;

    let app = crate::util::free_port()?;
    let _server = spawn(
        "mcp-example-server",
        Command::new(server_bin)
            .env_clear()
            .env("RUST_LOG", "info")
            .args(["--listen", &loopback(app).to_string()]),
        dir,
    )?;
    wait_ok("the example server", app, "/healthz")?;
    let sink = start_sink()?;
    let mut procs = Vec::new();
    let mut ports = Vec::new();
    for (name, audit) in [("mcp-gateway", false), ("mcp-gateway-audit", true)] {
        let (port, admin) = (crate::util::free_port()?, crate::util::free_port()?);
        let mut command = Command::new(gateway_bin);
        command
            .env_clear()
            .env("LISTEN_ADDR", loopback(port).to_string())
            .env("ADMIN_LISTEN_ADDR", loopback(admin).to_string())
            .env("UPSTREAM_URL", format!("http://{}", loopback(app)))
            .env("POLICY_FILE", &policy)
            .env("STRIP_PREFIX", PREFIX)
            .env("RUST_LOG", "info");
        if audit {
            command
                .env("ANALYTICS_INGEST_URL", format!("http://{}/events", loopback(sink)))
                .env("AUDIT_SPOOL_DIR", dir.join("spool"));
        }
        procs.push(spawn(name, &mut command, dir)?);
        wait_ok(name, admin, "/ready")?;
        ports.push(port);
    }
    // (key, port, path, token) in TARGETS order.
    let routed = format!("{PREFIX}/mcp");
    let targets = [
        ("direct", app, "/mcp", None),
        ("gateway", ports[0], routed.as_str(), Some(token.as_str())),
        ("gateway_audit", ports[1], routed.as_str(), Some(token.as_str())),
    ];
    let mut plan: Vec<(&str, String, Headers)> = Vec::new();
    for (key, port, path, token) in targets {
        let headers = session(port, path, token).with_context(|| format!("open a session on {key}"))?;
        plan.push((key, format!("http://127.0.0.1:{port}{path}"), headers));
    }
    for (key, url, headers) in &plan {
        eprintln!("bench gateway: oha warm-up on {key} ({WARMUP_SECONDS} s)");
        run_oha(oha, url, headers, WARMUP_SECONDS)?;
    }
    let mut rounds: Vec<(&str, Value)> = Vec::new();
    for round in 1..=ROUNDS {
        // Palindromic order (direct, gateway, gateway + audit, then back): drift of the shared
        // machine over the run falls on every target alike.
        let order: Vec<&(&str, String, Headers)> =
            if round % 2 == 1 { plan.iter().collect() } else { plan.iter().rev().collect() };
        for (key, url, headers) in order {
            let summary = summarize(&run_oha(oha, url, headers, SECONDS)?);
            eprintln!(
                "bench gateway: oha round {round} {key}: p50 {} ms, p99 {} ms, {} ok, {} other, {} errors",
                summary["p50_ms"],
                summary["p99_ms"],
                summary["ok"],
                summary["other_status"],
                summary["errors"]
            );
            rounds.push((key, summary));
        }
    }
    let mut out = serde_json::Map::new();
    for (key, _) in TARGETS {
        let mine: Vec<Value> = rounds.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect();
        let median = |field: &str| median(mine.iter().filter_map(|v| v[field].as_f64()).collect());
        out.insert(
            (*key).to_string(),
            json!({"rounds": mine, "p99_median_ms": median("p99_ms"), "p50_median_ms": median("p50_ms")}),
        );
    }
    Ok(json!({
        "config": {"rate": RATE, "connections": CONNECTIONS, "rounds": ROUNDS, "seconds": SECONDS,
                   "version": crate::tools::OHA.version, "payload_bytes": PAYLOAD_BYTES},
        "targets": Value::Object(out),
    }))
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oha_summaries_count_non_200_answers_and_errors() {
        let run = json!({
            "summary": {"requestsPerSec": 999.5},
            "latencyPercentiles": {"p50": 0.0004, "p99": 0.00125},
            "statusCodeDistribution": {"200": 9990, "503": 3},
            "errorDistribution": {"connection closed": 7, "aborted due to deadline": 15},
        });
        let s = summarize(&run);
        assert_eq!(s["ok"], 9990);
        assert_eq!(s["other_status"], 3);
        assert_eq!(s["errors"], 7);
        assert!((s["p99_ms"].as_f64().expect("p99") - 1.25).abs() < 1e-9);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn the_fixture_renders_with_a_test_issuer() {
        let mut docs = FIXTURE.split("\n---\n");
        let server: mcp_api::MCPServer =
            mcp_api::yaml::from_str(docs.next().expect("server")).expect("server");
        let grant: mcp_api::MCPAccessGrant =
            mcp_api::yaml::from_str(docs.next().expect("grant")).expect("grant");
        let session: mcp_api::MCPAgentSession =
            mcp_api::yaml::from_str(docs.next().expect("session")).expect("session");
        let doc = mcp_policy::render(&server, &[grant], &[session], &mcp_policy::RenderContext::default())
            .expect("render");
        assert_eq!(doc.server.url, "http://mcp.bench/policy-mcp-server/mcp");
    }
}
