//! The governed route the adapters are tested against, all real: the platform (SQLite, Local
//! backend writing one policy file per server), the example MCP server, and an enforcing
//! `mcp_gateway` reading the server's policy file (the platform's JWKS included) — the way
//! `lib/platform/tests/it/revocation.rs` wires them.
//!
//! Team `ad`, server `srv` (tools `aaa-ping`, `echo`, `add`, `upper`), an agent, and a grant
//! for the administrator acting through that agent allowing `aaa-ping` and `echo` only. The
//! adapters issue the session themselves. Also included by `bin/mcp-runtime/tests`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;

use mcp_platform::{Config, Platform};
use serde_json::{Value, json};

pub const ADMIN: &str = "admin@example.org";
const PASSWORD: &str = "admin-password-1";
pub const TEAM: &str = "ad";
pub const SERVER: &str = "srv";
/// What the grant allows: the only tools discovery shows.
pub const GRANTED: [&str; 2] = ["aaa-ping", "echo"];

/// Everything running.
pub struct Rig {
    /// Platform base URL.
    pub platform: String,
    /// The administrator's access token (the adapters' platform login).
    pub admin: String,
    /// The administrator's refresh token (for logins that outlive a short access token).
    pub admin_refresh: String,
    /// The gateway's public listener.
    pub gateway: SocketAddr,
    /// The agent (`agt_…`).
    pub agent: String,
    client: reqwest::Client,
    _example: mcp_testkit::ExampleServer,
    _gateway_stop: tokio::sync::oneshot::Sender<()>,
    _platform_stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
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
    /// Starts everything; `token_ttl_secs` sets the platform's token lifetime
    /// (`PLATFORM_ACCESS_TOKEN_TTL_SECS`, at least 60).
    pub async fn start(token_ttl_secs: Option<u64>) -> Rig {
        // reqwest is built without a default TLS provider in this workspace (the platform
        // client's `rustls-no-provider`): every client needs the process-wide one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut env: HashMap<String, String> = [
            ("PLATFORM_DATA_DIR", dir.path().display().to_string()),
            ("PLATFORM_LISTEN_ADDR", "127.0.0.1:0".into()),
            ("PLATFORM_MCP_HOST", "mcp.test".into()),
            ("PLATFORM_SHUTDOWN_GRACE_MS", "200".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(ttl) = token_ttl_secs {
            env.insert("PLATFORM_ACCESS_TOKEN_TTL_SECS".into(), ttl.to_string());
        }
        let config = Config::from_source(&env).expect("config");
        let policy_dir = config.runtime.policy_dir.clone();
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
        let admin_refresh = login["refresh_token"].as_str().expect("refresh token").to_string();
        api(&client, &base, &admin, "POST", "/api/v1/teams", Some(json!({"name": TEAM}))).await;
        let agent = api(
            &client,
            &base,
            &admin,
            "POST",
            &format!("/api/v1/runtime/teams/{TEAM}/agents"),
            Some(json!({"name": "bot"})),
        )
        .await["id"]
            .as_str()
            .expect("agent")
            .to_string();
        let tools: Vec<Value> = ["aaa-ping", "echo", "add", "upper"]
            .iter()
            .map(|t| json!({"name": t, "sideEffect": "read"}))
            .collect();
        api(
            &client,
            &base,
            &admin,
            "POST",
            "/api/v1/runtime/servers",
            Some(json!({"team": TEAM, "name": SERVER, "spec": {"image": "registry.local/example-mcp", "tools": tools}})),
        )
        .await;
        let rules: Vec<Value> = GRANTED.iter().map(|t| json!({"name": t, "decision": "allow"})).collect();
        api(
            &client,
            &base,
            &admin,
            "POST",
            "/api/v1/runtime/grants",
            Some(json!({"team": TEAM, "name": "bot-grant", "spec": {
                "serverRef": {"name": SERVER},
                "subject": {"humanID": admin_user.id, "agentID": agent},
                "maxTrust": "low", "allowedSideEffects": ["read"],
                "toolRules": rules
            }})),
        )
        .await;

        let example = mcp_testkit::ExampleServer::start("/mcp").await.expect("example server");
        let policy_file =
            mcp_platform::runtime::local::policy_path(&policy_dir, &format!("mcp-team-{TEAM}"), SERVER);
        assert!(policy_file.exists(), "the Local backend wrote {}", policy_file.display());
        let genv: HashMap<String, String> = [
            ("LISTEN_ADDR", "127.0.0.1:0".to_string()),
            ("UPSTREAM_URL", format!("http://{}", example.addr)),
            ("POLICY_FILE", policy_file.display().to_string()),
            ("STRIP_PREFIX", format!("/{SERVER}")),
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
        Rig {
            platform: base,
            admin,
            admin_refresh,
            gateway: gaddr,
            agent,
            client,
            _example: example,
            _gateway_stop: gateway_stop,
            _platform_stop: platform_stop,
            _dir: dir,
        }
    }

    /// The route URL as the gateway serves it on loopback.
    pub fn route(&self) -> String {
        format!("http://{}/{SERVER}/mcp", self.gateway)
    }

    /// A POST to the platform as the administrator (panics unless 2xx).
    pub async fn platform_post(&self, path: &str) -> Value {
        api(&self.client, &self.platform, &self.admin, "POST", path, None).await
    }

    /// Revokes the adapter session `name` through the platform API.
    pub async fn revoke(&self, name: &str) {
        self.platform_post(&format!("/api/v1/runtime/sessions/{TEAM}/{name}/revoke")).await;
    }

    /// The adapter session of the administrator's agent on `srv` (the platform reuses the
    /// live one, so this is the session an adapter started earlier presents).
    pub async fn session_name(&self) -> String {
        let ask = json!({"serverName": SERVER, "team": TEAM, "agentID": self.agent});
        let v = api(
            &self.client,
            &self.platform,
            &self.admin,
            "POST",
            "/api/v1/runtime/adapter/sessions",
            Some(ask),
        )
        .await;
        assert_eq!(v["reused"], true, "{v}");
        v["name"].as_str().expect("name").to_owned()
    }
}
