//! A recording upstream, a gateway on an ephemeral port, platform session tokens and policies.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mcp_api::{MCPAccessGrant, MCPAgentSession, MCPServer};
use mcp_gateway::server::Gateway;
use mcp_gateway::{Config, serve};
use mcp_policy::{Jwk, Jwks, PlatformTrust, RenderContext, render};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ISSUER: &str = "https://platform.test";
pub const AUDIENCE: &str = "http://mcp.test/policy-mcp-server/mcp";

/// What the upstream saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub method: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
    /// The body exactly as received.
    pub raw: String,
}

/// A minimal MCP-shaped upstream that records every request.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub hits: Arc<AtomicUsize>,
    /// Bumping this changes the description of `echo` in `tools/list` (a "rug pull").
    pub echo_version: Arc<AtomicUsize>,
}

const TOOLS: &[&str] =
    &["aaa-ping", "echo", "add", "upper", "lower", "create_task", "draft_release_note", "slugify"];

async fn upstream_handle(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<AtomicUsize>,
    echo_version: Arc<AtomicUsize>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    hits.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_string();
    let method = req.method().to_string();
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("?").to_string()))
        .collect();
    let sse = headers.contains_key("x-test-sse");
    let bytes = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let raw = String::from_utf8_lossy(&bytes).into_owned();
    seen.lock().expect("lock").push(Seen { path, method, headers: headers.clone(), body: body.clone(), raw });
    if let Value::Array(items) = &body {
        // A batch: one answer per request, none for notifications.
        let answers: Vec<Value> = items
            .iter()
            .filter(|m| m.get("id").is_some())
            .map(|m| json!({"jsonrpc": "2.0", "id": m["id"], "result": {"echo": m["method"]}}))
            .collect();
        let mut r = Response::new(Full::new(Bytes::from(Value::Array(answers).to_string())));
        r.headers_mut().insert("content-type", "application/json".parse().expect("header"));
        return Ok(r);
    }
    let id = body.get("id").cloned().unwrap_or(Value::Null);
    let result = match body.get("method").and_then(Value::as_str) {
        Some("tools/list") => {
            let version = echo_version.load(Ordering::SeqCst);
            let tools: Vec<Value> = TOOLS
                .iter()
                .map(|t| {
                    let description =
                        if *t == "echo" { format!("Echo v{version}") } else { format!("The {t} tool") };
                    json!({"name": t, "description": description, "inputSchema": {"type": "object"}})
                })
                .collect();
            json!({ "tools": tools })
        }
        Some("tools/call") if body["params"]["name"] == "fails" => {
            json!({"content": [{"type": "text", "text": "it broke"}], "isError": true})
        }
        Some("tools/call") => {
            json!({"content": [{"type": "text", "text": serde_json::to_string(&headers).unwrap_or_default()}]})
        }
        _ => json!({}),
    };
    let message = json!({"jsonrpc": "2.0", "id": id, "result": result});
    let mut res = if sse {
        let text = format!("event: message\ndata: {message}\n\n");
        let mut r = Response::new(Full::new(Bytes::from(text)));
        r.headers_mut().insert("content-type", "text/event-stream".parse().expect("header"));
        r
    } else {
        let mut r = Response::new(Full::new(Bytes::from(message.to_string())));
        r.headers_mut().insert("content-type", "application/json".parse().expect("header"));
        r
    };
    *res.status_mut() = StatusCode::OK;
    Ok(res)
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let echo_version = Arc::new(AtomicUsize::new(1));
        let (s, h, e) = (seen.clone(), hits.clone(), echo_version.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (s, h, e) = (s.clone(), h.clone(), e.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        upstream_handle(req, s.clone(), h.clone(), e.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream { addr, seen, hits, echo_version }
    }

    pub fn last(&self) -> Seen {
        self.seen.lock().expect("lock").last().cloned().expect("the upstream saw a request")
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

pub use mcp_testkit::platform::b64url;

/// The platform key of the tests, with tokens that never fail to sign.
pub struct SigningKey(mcp_testkit::platform::SigningKey);

impl SigningKey {
    pub fn from_seed(kid: &str, seed: [u8; 32]) -> SigningKey {
        SigningKey(mcp_testkit::platform::SigningKey::from_seed(kid, seed))
    }

    pub fn jwk(&self) -> Jwk {
        self.0.jwk()
    }

    /// A token with exactly these claims.
    pub fn token(&self, claims: Value) -> String {
        self.0.token(&claims).expect("sign")
    }
}

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Claims of user-123's ops-agent session on the test server.
pub fn ops_claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 300, "iat": now(),
        "sub": "user-123", "agent": "ops-agent", "team": "team-a", "sid": "sess-ops-agent",
    })
}

pub const FIXTURE: &str = r#"
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: policy-mcp-server, namespace: mcp-servers}
spec:
  teamID: team-a
  image: registry.local/workspace-assistant
  ingressHost: mcp.test
  session: {required: true}
  tools:
    - {name: aaa-ping, sideEffect: read}
    - {name: echo, sideEffect: read}
    - {name: add, sideEffect: read}
    - {name: upper, sideEffect: read, requiredTrust: medium}
    - {name: lower, sideEffect: read}
    - {name: create_task, sideEffect: write, requiredTrust: medium}
    - {name: draft_release_note, sideEffect: write}
    - {name: slugify, sideEffect: read}
    - {name: fails, sideEffect: read}
---
apiVersion: mcpruntime.org/v1alpha1
kind: MCPAccessGrant
metadata: {name: ops-agent-grant, namespace: mcp-servers}
spec:
  serverRef: {name: policy-mcp-server}
  subject: {humanID: user-123, agentID: ops-agent}
  maxTrust: high
  allowedSideEffects: [read, write]
  toolRules:
    - {name: aaa-ping, decision: allow}
    - {name: echo, decision: allow}
    - {name: upper, decision: allow}
    - {name: add, decision: allow, arguments: {a: {maximum: 1000}}}
    - {name: fails, decision: allow}
---
apiVersion: mcpruntime.org/v1alpha1
kind: MCPAgentSession
metadata: {name: sess-ops-agent, namespace: mcp-servers}
spec:
  serverRef: {name: policy-mcp-server}
  subject: {humanID: user-123, agentID: ops-agent}
  consentedTrust: low
  expiresAt: "2099-01-01T00:00:00Z"
"#;

/// The fixture's custom resources.
pub struct Resources {
    pub server: MCPServer,
    pub grants: Vec<MCPAccessGrant>,
    pub sessions: Vec<MCPAgentSession>,
}

pub fn resources() -> Resources {
    resources_from(FIXTURE)
}

/// The resources of a YAML stream: the server first, then grants and sessions by kind.
pub fn resources_from(text: &str) -> Resources {
    let mut docs = text.split("\n---\n");
    let server = mcp_api::yaml::from_str(docs.next().expect("server")).expect("server yaml");
    let (mut grants, mut sessions) = (Vec::new(), Vec::new());
    for doc in docs {
        if doc.contains("kind: MCPAccessGrant") {
            grants.push(mcp_api::yaml::from_str(doc).expect("grant yaml"));
        } else {
            sessions.push(mcp_api::yaml::from_str(doc).expect("session yaml"));
        }
    }
    Resources { server, grants, sessions }
}

/// Renders the policy document for `r` trusting `keys`.
pub fn policy_json(r: &Resources, keys: &[&SigningKey]) -> String {
    let ctx = RenderContext {
        cluster: "test".into(),
        platform: Some(PlatformTrust {
            issuer: ISSUER.into(),
            jwks: Jwks { keys: keys.iter().map(|k| k.jwk()).collect() },
        }),
        ..RenderContext::default()
    };
    render(&r.server, &r.grants, &r.sessions, &ctx).expect("render").to_json_pretty()
}

/// A gateway serving on an ephemeral port in front of `upstream`.
pub struct Running {
    pub addr: SocketAddr,
    /// The admin listener (`/ready`, `/config/status`, `/metrics`).
    pub admin: SocketAddr,
    pub gateway: Arc<Gateway>,
    pub policy_file: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub async fn start(upstream: SocketAddr, policy: Option<&str>, extra: &[(&str, &str)]) -> Running {
        let dir = tempfile::tempdir().expect("tempdir");
        let policy_file = dir.path().join("policy.json");
        if let Some(text) = policy {
            std::fs::write(&policy_file, text).expect("write policy");
        }
        let mut env: HashMap<String, String> = [
            ("LISTEN_ADDR", "127.0.0.1:0".to_string()),
            ("UPSTREAM_URL", format!("http://{upstream}")),
            ("POLICY_FILE", policy_file.display().to_string()),
            ("POLICY_RECHECK_MS", "50".to_string()),
            ("STRIP_PREFIX", "/policy-mcp-server".to_string()),
            ("SHUTDOWN_GRACE_MS", "1000".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_source(&env).expect("config");
        let gateway = Gateway::new(config).expect("gateway");
        gateway.reload().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let admin = admin_listener.local_addr().expect("admin addr");
        let (tx, rx) = oneshot::channel::<()>();
        let served = tokio::spawn(serve(gateway.clone(), listener, Some(admin_listener), async move {
            let _ = rx.await;
        }));
        Running { addr, admin, gateway, policy_file, _dir: dir, stop: Some(tx), served: Some(served) }
    }

    /// Stops the gateway and waits until it has drained (audit included).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.expect("serve task").expect("serve");
        }
    }

    pub fn write_policy(&self, text: &str) {
        write_atomically(&self.policy_file, text);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Replaces a file the way kubelet swaps a projected ConfigMap: write aside, then rename.
pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// One HTTP exchange.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn reason(&self) -> String {
        let v = self.json();
        v["error"]["data"]["reason"].as_str().or_else(|| v["error"].as_str()).unwrap_or_default().to_string()
    }
}

pub async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut req = Request::builder().method(method).uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string()))).expect("request");
    let res = client.request(req).await.expect("response");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// A JSON-RPC POST to the server's public route, with a bearer token when given.
pub async fn rpc(addr: SocketAddr, token: Option<&str>, extra: &[(&str, &str)], body: Value) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> =
        vec![("content-type", "application/json"), ("accept", "application/json, text/event-stream")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth));
    }
    headers.extend_from_slice(extra);
    send(addr, "POST", "/policy-mcp-server/mcp", &headers, &body.to_string()).await
}

pub fn call(id: i64, tool: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}

/// A recording ingest service; `down` makes it answer 503 (as an overloaded or restarting
/// ingest would).
pub struct Ingest {
    pub addr: SocketAddr,
    pub events: Arc<Mutex<Vec<Value>>>,
    pub down: Arc<std::sync::atomic::AtomicBool>,
    /// Larger batches are refused with 413 (0: no limit), as ingest refuses bodies over 1 MiB;
    /// the bits above 32 count the refusals.
    pub max_batch: Arc<std::sync::atomic::AtomicUsize>,
}

impl Ingest {
    pub async fn start() -> Ingest {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind ingest");
        let addr = listener.local_addr().expect("addr");
        let events = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let max_batch = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (e, d, m) = (events.clone(), down.clone(), max_batch.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (e, d, m) = (e.clone(), d.clone(), m.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (e, d, m) = (e.clone(), d.clone(), m.clone());
                        async move {
                            let body =
                                req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                            let mut res = Response::new(Full::new(Bytes::new()));
                            if d.load(Ordering::SeqCst) {
                                *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                                return Ok::<_, Infallible>(res);
                            }
                            let max = m.load(Ordering::SeqCst) & 0xffff_ffff;
                            match serde_json::from_slice::<Vec<Value>>(&body) {
                                Ok(batch) if max > 0 && batch.len() > max => {
                                    // Counted in the limit's high bits: how often 413 was sent.
                                    m.fetch_add(1 << 32, Ordering::SeqCst);
                                    *res.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                                }
                                Ok(batch) => {
                                    e.lock().expect("lock").extend(batch);
                                    *res.status_mut() = StatusCode::ACCEPTED;
                                }
                                Err(_) => *res.status_mut() = StatusCode::BAD_REQUEST,
                            }
                            Ok(res)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ingest { addr, events, down, max_batch }
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    pub fn events(&self) -> Vec<Value> {
        self.events.lock().expect("lock").clone()
    }

    /// Waits until at least `n` events arrived (or the deadline passes) and returns them.
    pub async fn wait_for(&self, n: usize, within: std::time::Duration) -> Vec<Value> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let events = self.events();
            if events.len() >= n || std::time::Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
