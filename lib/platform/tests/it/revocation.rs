//! The promise end to end on the Local backend: a platform (SQLite, Local backend writing the
//! policy directory), the example MCP server, and a real `mcp_gateway` in-process reading the
//! server's policy FILE from that directory. A session token issued by the platform API is
//! accepted by the gateway; a revoke through the API turns into `401 session_revoked`.
//!
//! Shared by the component test (`tests/it/revoke_e2e.rs`) and the benchmark
//! (`benches/revoke.rs`, `cargo xtask bench platform`): it depends on nothing but the crates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mcp_platform::{Config, Platform};
use serde_json::{Value, json};

const ADMIN: &str = "admin@example.org";
const PASSWORD: &str = "admin-password-1";
const PROTOCOL: &str = "2025-06-18";

/// Everything running.
pub struct Rig {
    pub platform: String,
    pub admin: String,
    pub gateway: SocketAddr,
    pub token: String,
    pub session: String,
    pub agent: String,
    pub policy_file: std::path::PathBuf,
    pub keys_file: std::path::PathBuf,
    mcp_session: String,
    client: reqwest::Client,
    next_id: std::sync::atomic::AtomicI64,
    _example: mcp_testkit::ExampleServer,
    _gateway_stop: tokio::sync::oneshot::Sender<()>,
    _platform_stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// A gateway answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

async fn api(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req =
        client.request(method, format!("{base}{path}")).header("authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let resp = req.send().await.expect("platform request");
    let status = resp.status();
    let value: Value = serde_json::from_slice(&resp.bytes().await.unwrap_or_default()).unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

impl Rig {
    /// Starts the platform, publishes `srv`, registers an agent, grants it `echo`, issues a
    /// session token, starts the example server and a gateway on the policy file, and opens an
    /// MCP session through the gateway.
    pub async fn start() -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let env: HashMap<String, String> = [
            ("PLATFORM_DATA_DIR", dir.path().display().to_string()),
            ("PLATFORM_LISTEN_ADDR", "127.0.0.1:0".into()),
            ("PLATFORM_MCP_HOST", "mcp.test".into()),
            ("PLATFORM_SHUTDOWN_GRACE_MS", "200".into()),
            // A rotated key signs at once (tests of rotation); the old one stays published.
            ("PLATFORM_KEY_PUBLISH_DELAY_SECS", "0".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let config = Config::from_source(&env).expect("config");
        let policy_dir = config.runtime.policy_dir.clone();
        let keys_file = config.keys_file.clone();
        let platform = Platform::open(config).await.expect("open platform");
        let admin_user = mcp_platform::api::new_user(
            platform.state(),
            mcp_platform::api::CreateUser {
                email: ADMIN.into(),
                password: Some(PASSWORD.into()),
                display_name: None,
                kind: None,
                admin: Some(true),
            },
        )
        .await
        .expect("admin");
        let (platform_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(platform.serve(listener, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let login = client
            .post(format!("{base}/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body(json!({"email": ADMIN, "password": PASSWORD}).to_string())
            .send()
            .await
            .expect("login")
            .bytes()
            .await
            .expect("login body");
        let login: Value = serde_json::from_slice(&login).expect("login json");
        let admin = login["access_token"].as_str().expect("token").to_string();
        api(&client, &base, &admin, "POST", "/api/v1/teams", Some(json!({"name": "rev"}))).await;
        let agent = api(
            &client,
            &base,
            &admin,
            "POST",
            "/api/v1/runtime/teams/rev/agents",
            Some(json!({"name": "bot"})),
        )
        .await["id"]
            .as_str()
            .expect("agent")
            .to_string();
        api(
            &client,
            &base,
            &admin,
            "POST",
            "/api/v1/runtime/servers",
            Some(json!({"team": "rev", "name": "srv", "spec": {
                "image": "registry.local/example-mcp",
                "tools": [{"name": "echo", "sideEffect": "read"}, {"name": "upper", "sideEffect": "read"}]
            }})),
        )
        .await;
        api(
            &client,
            &base,
            &admin,
            "POST",
            "/api/v1/runtime/grants",
            Some(json!({"team": "rev", "name": "bot-echo", "spec": {
                "serverRef": {"name": "srv"},
                "subject": {"humanID": admin_user.id, "agentID": agent},
                "maxTrust": "low", "allowedSideEffects": ["read"],
                "toolRules": [{"name": "echo", "decision": "allow"}]
            }})),
        )
        .await;
        let issued = api(
            &client,
            &base,
            &admin,
            "POST",
            "/api/v1/runtime/adapter/sessions",
            Some(json!({"serverName": "srv", "team": "rev", "agentID": agent, "requestedTTL": "2h"})),
        )
        .await;
        let token = issued["token"].as_str().expect("session token").to_string();
        let session = issued["name"].as_str().expect("session name").to_string();
        assert_eq!(issued["audience"], "http://mcp.test/srv/mcp");

        let example = mcp_testkit::ExampleServer::start("/mcp").await.expect("example server");
        let policy_file = mcp_platform::runtime::local::policy_path(&policy_dir, "mcp-team-rev", "srv");
        assert!(policy_file.exists(), "the Local backend wrote {}", policy_file.display());
        let genv: HashMap<String, String> = [
            ("LISTEN_ADDR", "127.0.0.1:0".to_string()),
            ("UPSTREAM_URL", format!("http://{}", example.addr)),
            ("POLICY_FILE", policy_file.display().to_string()),
            ("STRIP_PREFIX", "/srv".to_string()),
            ("SHUTDOWN_GRACE_MS", "200".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let gconfig = mcp_gateway::Config::from_source(&genv).expect("gateway config");
        let gateway = mcp_gateway::server::Gateway::new(gconfig).expect("gateway");
        gateway.reload().await;
        let glistener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind gateway");
        let gaddr = glistener.local_addr().expect("gateway addr");
        let (gateway_stop, gstopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(mcp_gateway::serve(gateway, glistener, None, async move {
            let _ = gstopped.await;
        }));

        let mut rig = Rig {
            platform: base,
            admin,
            gateway: gaddr,
            token,
            session,
            agent,
            policy_file,
            keys_file,
            mcp_session: String::new(),
            client,
            next_id: std::sync::atomic::AtomicI64::new(1),
            _example: example,
            _gateway_stop: gateway_stop,
            _platform_stop: platform_stop,
            _dir: dir,
        };
        rig.initialize().await;
        rig
    }

    async fn post(&self, body: Value, session: bool) -> reqwest::Response {
        self.post_with(&self.token, body, session).await
    }

    async fn post_with(&self, token: &str, body: Value, session: bool) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("http://{}/srv/mcp", self.gateway))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        if session {
            req = req.header("mcp-session-id", &self.mcp_session).header("mcp-protocol-version", PROTOCOL);
        }
        req.body(body.to_string()).send().await.expect("gateway request")
    }

    async fn initialize(&mut self) {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {},
            "clientInfo": {"name": "revocation-rig", "version": "1"}}});
        let resp = self.post(init, false).await;
        let status = resp.status().as_u16();
        let sid = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(String::from);
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "initialize through the gateway: {body}");
        self.mcp_session = sid.expect("an MCP session id");
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let resp = self.post(note, true).await;
        assert!(resp.status().is_success(), "initialized: {}", resp.status());
    }

    /// One `tools/call` of `tool` through the gateway with the session token.
    pub async fn call(&self, tool: &str) -> Answer {
        self.call_with(&self.token, tool).await
    }

    /// One `tools/call` of `tool` through the gateway with `token`.
    pub async fn call_with(&self, token: &str, tool: &str) -> Answer {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": {"text": "hello"}}});
        let resp = self.post_with(token, body, true).await;
        let status = resp.status().as_u16();
        Answer { status, body: resp.text().await.unwrap_or_default() }
    }

    /// A POST to the platform as the administrator (panics unless 2xx).
    pub async fn platform_post(&self, path: &str) -> Value {
        api(&self.client, &self.platform, &self.admin, "POST", path, None).await
    }

    /// The status of a POST to the platform as the administrator.
    pub async fn platform_status(&self, path: &str, body: Option<Value>) -> u16 {
        let mut req = self
            .client
            .post(format!("{}{path}", self.platform))
            .header("authorization", format!("Bearer {}", self.admin));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.expect("platform request");
        resp.status().as_u16()
    }

    /// Revokes the session through the API and polls the gateway until it answers
    /// `401 session_revoked`: the time from sending the revoke to the first such answer.
    pub async fn revoke_to_deny(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        self.platform_post(&format!("/api/v1/runtime/sessions/rev/{}/revoke", self.session)).await;
        loop {
            let a = self.call("echo").await;
            if a.status == 401 && a.body.contains("session_revoked") {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "no session_revoked within {limit:?}: {} {}",
                a.status,
                a.body
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// A fresh session token from the refresh endpoint.
    pub async fn refreshed_token(&self) -> String {
        let path = format!("/api/v1/runtime/adapter/sessions/rev/{}/token", self.session);
        let v = api(&self.client, &self.platform, &self.admin, "POST", &path, None).await;
        v["token"].as_str().expect("token").to_string()
    }

    /// Reinstates the session and waits until the gateway allows `echo` again.
    pub async fn unrevoke(&self, limit: Duration) {
        let started = Instant::now();
        self.platform_post(&format!("/api/v1/runtime/sessions/rev/{}/unrevoke", self.session)).await;
        loop {
            let a = self.call("echo").await;
            if a.status == 200 {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "echo not allowed again within {limit:?}: {} {}",
                a.status,
                a.body
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
