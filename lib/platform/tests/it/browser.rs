//! The dashboard in a real browser: headless Chromium driven by `playwright-core`
//! (`tests/browser/dashboard.mjs`), `axe-core` on every page. The stack: the platform (SQLite,
//! Local backend, the harness's ClickHouse), the example MCP server, a real `mcp_gateway` on the
//! policy file the Local backend writes, and a small ingest endpoint that turns the gateway's
//! event batches into rows through the processor's own extraction (`mcp_sentinel::row`).
//!
//! The script is independent of the backend: it gets a base URL, credentials, the team and agent
//! to use, and a URL that makes one governed tool call (`GET {call}?tool=echo` answers
//! `{status, body}`). Screenshots (1280×800) go to a temp dir, and with
//! `MCP_UPDATE_SCREENSHOTS=1` into `docs/images/`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Harness};

const PROTOCOL: &str = "2025-06-18";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/dashboard.mjs");

/// The governed caller: one adapter session (issued on first use), one MCP session.
struct Caller {
    platform: String,
    admin: String,
    /// The gateway's settings; it starts on the first call (the policy file exists by then).
    gateway_env: HashMap<String, String>,
    gateway: Mutex<Option<(SocketAddr, tokio::sync::oneshot::Sender<()>)>>,
    team: String,
    agent: String,
    client: reqwest::Client,
    session: Mutex<Option<(String, String)>>,
    next_id: std::sync::atomic::AtomicI64,
}

impl Caller {
    async fn gateway(&self) -> SocketAddr {
        let mut slot = self.gateway.lock().await;
        if let Some((addr, _)) = slot.as_ref() {
            return *addr;
        }
        let config = mcp_gateway::Config::from_source(&self.gateway_env).expect("gateway config");
        let gateway = mcp_gateway::server::Gateway::new(config).expect("gateway");
        gateway.reload().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind gateway");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(mcp_gateway::serve(gateway, listener, None, async move {
            let _ = stopped.await;
        }));
        *slot = Some((addr, stop));
        addr
    }

    async fn gateway_post(&self, token: &str, mcp: Option<&str>, body: Value) -> reqwest::Response {
        let gateway = self.gateway().await;
        let mut req = self
            .client
            .post(format!("http://{gateway}/example/mcp"))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        if let Some(sid) = mcp {
            req = req.header("mcp-session-id", sid).header("mcp-protocol-version", PROTOCOL);
        }
        req.body(body.to_string()).send().await.expect("gateway")
    }

    /// The session token and MCP session (created on first use).
    async fn session(&self) -> Result<(String, String), String> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let resp = self
            .client
            .post(format!("{}/api/v1/runtime/adapter/sessions", self.platform))
            .header("authorization", format!("Bearer {}", self.admin))
            .header("content-type", "application/json")
            .body(json!({"serverName": "example", "team": self.team, "agentID": self.agent}).to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let issued: Value = serde_json::from_slice(&resp.bytes().await.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let token =
            issued["token"].as_str().ok_or_else(|| format!("no session token: {issued}"))?.to_string();
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "browser-test", "version": "1"}}});
        let resp = self.gateway_post(&token, None, init).await;
        let sid = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(String::from);
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let sid = sid.ok_or_else(|| format!("initialize: {status} {text}"))?;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.gateway_post(&token, Some(&sid), note).await;
        *slot = Some((token.clone(), sid.clone()));
        Ok((token, sid))
    }

    async fn call(&self, tool: &str) -> Value {
        let (token, sid) = match self.session().await {
            Ok(s) => s,
            Err(e) => return json!({"status": 0, "body": e}),
        };
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": {"text": "hello"}}});
        let resp = self.gateway_post(&token, Some(&sid), body).await;
        let status = resp.status().as_u16();
        json!({"status": status, "body": resp.text().await.unwrap_or_default()})
    }
}

/// Serves `GET /call?tool=` (one governed call) and `POST /ingest` (the gateway's batches
/// written to the events table as the processor would).
async fn helper(
    listener: tokio::net::TcpListener,
    caller: Arc<Caller>,
    events: mcp_sentinel::ClickHouseConfig,
) {
    async fn call(
        State((c, _)): State<(Arc<Caller>, Arc<mcp_sentinel::ClickHouseConfig>)>,
        Query(q): Query<HashMap<String, String>>,
    ) -> axum::Json<Value> {
        axum::Json(c.call(q.get("tool").map(String::as_str).unwrap_or("echo")).await)
    }
    async fn ingest(
        State((_, ch)): State<(Arc<Caller>, Arc<mcp_sentinel::ClickHouseConfig>)>,
        body: axum::body::Bytes,
    ) -> http::StatusCode {
        let Ok(batch) = serde_json::from_slice::<Vec<Value>>(&body) else {
            return http::StatusCode::BAD_REQUEST;
        };
        let client = ch.client().with_database(ch.database.as_str());
        let Ok(mut insert) = client.insert::<mcp_sentinel::EventRow>("events").await else {
            return http::StatusCode::SERVICE_UNAVAILABLE;
        };
        for envelope in batch {
            if let Ok(row) = mcp_sentinel::row::extract(envelope.to_string().as_bytes())
                && insert.write(&row).await.is_err()
            {
                return http::StatusCode::SERVICE_UNAVAILABLE;
            }
        }
        if insert.end().await.is_err() {
            return http::StatusCode::SERVICE_UNAVAILABLE;
        }
        http::StatusCode::ACCEPTED
    }
    let app = axum::Router::new()
        .route("/call", axum::routing::get(call))
        .route("/ingest", axum::routing::post(ingest))
        .with_state((caller, Arc::new(events)));
    tokio::spawn(async move { axum::serve(listener, app).await });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_chromium_signs_in_governs_a_call_sees_it_revokes_and_replays() {
    let tools = tokio::task::spawn_blocking(mcp_testkit::browser::install)
        .await
        .expect("install")
        .unwrap_or_else(|e| panic!("browser tools: {e}"));
    let h = Harness::start(Backend::Sqlite, &[("PLATFORM_MCP_HOST", "mcp.test")]).await;
    let admin = h.admin_token().await;
    let r = h
        .call("POST", "/api/v1/teams", Some(&admin), Some(json!({"name": "demo", "display_name": "Demo"})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = h
        .call("POST", "/api/v1/runtime/teams/demo/agents", Some(&admin), Some(json!({"name": "demo-bot"})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let agent = r.body["id"].as_str().expect("agent").to_string();
    let (viewer_id, _) = h.signed_in("viewer@example.org").await;
    let r = h
        .call(
            "PUT",
            &format!("/api/v1/teams/demo/members/{viewer_id}"),
            Some(&admin),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // The example server and the gateway (on the policy file the Local backend writes once the
    // script publishes `example`).
    let example = mcp_testkit::ExampleServer::start("/mcp").await.expect("example server");
    let policy_file = mcp_platform::runtime::local::policy_path(
        &h.state.config.runtime.policy_dir,
        "mcp-team-demo",
        "example",
    );
    let events = h.state.config.clickhouse.clone().expect("analytics");
    let spool = tempfile::tempdir().expect("spool");
    let helper_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind helper");
    let helper_addr = helper_listener.local_addr().expect("addr");
    let gateway_env: HashMap<String, String> = [
        ("LISTEN_ADDR", "127.0.0.1:0".to_string()),
        ("UPSTREAM_URL", format!("http://{}", example.addr)),
        ("POLICY_FILE", policy_file.display().to_string()),
        ("STRIP_PREFIX", "/example".to_string()),
        ("SHUTDOWN_GRACE_MS", "200".to_string()),
        ("ANALYTICS_INGEST_URL", format!("http://{helper_addr}/ingest")),
        ("AUDIT_SPOOL_DIR", spool.path().display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let caller = Arc::new(Caller {
        platform: h.base.clone(),
        admin: admin.clone(),
        gateway_env,
        gateway: Mutex::new(None),
        team: "demo".into(),
        agent: agent.clone(),
        client: reqwest::Client::new(),
        session: Mutex::new(None),
        next_id: std::sync::atomic::AtomicI64::new(1),
    });
    helper(helper_listener, caller, events).await;

    let out = tempfile::Builder::new().prefix("mcp-dashboard-shots-").tempdir().expect("out").keep();
    let env = [
        ("BASE_URL", h.base.clone()),
        ("ADMIN_EMAIL", ADMIN_EMAIL.to_string()),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("USER_EMAIL", "viewer@example.org".to_string()),
        ("USER_PASSWORD", "password-123".to_string()),
        ("TEAM", "demo".to_string()),
        ("AGENT_ID", agent.clone()),
        ("CALL_URL", format!("http://{helper_addr}/call")),
        ("OUT_DIR", out.display().to_string()),
        ("CHROMIUM", tools.chromium.display().to_string()),
        ("PLAYWRIGHT_MODULES", tools.playwright.display().to_string()),
        ("AXE_MODULES", tools.axe.display().to_string()),
    ];
    let (node, logs) = (tools.node.clone(), out.clone());
    let vars: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let (so, se) = (logs.join("stdout.log"), logs.join("stderr.log"));
        let mut child = std::process::Command::new(node)
            .arg(SCRIPT)
            .envs(vars)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&so).expect("stdout log"))
            .stderr(std::fs::File::create(&se).expect("stderr log"))
            .spawn()
            .expect("run node");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
        (status, read(&so), read(&se))
    })
    .await
    .expect("browser script");
    eprintln!("{stdout}\n{stderr}\nscreenshots: {}", out.display());
    assert!(
        status.is_some_and(|s| s.success()),
        "the browser script failed ({status:?}):\n{stdout}\n{stderr}"
    );
    if std::env::var("MCP_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let images = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/images");
        std::fs::create_dir_all(&images).expect("docs/images");
        for entry in std::fs::read_dir(&out).expect("shots") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "png") {
                let name = format!("dashboard-{}", path.file_name().expect("name").to_string_lossy());
                std::fs::copy(&path, images.join(name)).expect("copy screenshot");
            }
        }
    }
    if std::env::var_os("MCP_KEEP_SCREENSHOTS").is_none() {
        let _ = std::fs::remove_dir_all(&out);
    }
}
