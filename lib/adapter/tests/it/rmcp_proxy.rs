//! The official Rust SDK (`rmcp`, Streamable HTTP client) through `adapter proxy` to a governed
//! server: the proxy issues its own platform session and presents its token; the client sends
//! none (a forged `Authorization` is replaced).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_adapter::proxy::{Proxy, ProxyOptions};
use mcp_adapter::{IdentitySource, PlatformIssuer, RefreshingIdentity, Upstream};
use mcp_platform_client::{AdapterSessionRequest, Credential};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::json;

use crate::rig::{GRANTED, Rig, SERVER, TEAM};

struct Adapter {
    addr: SocketAddr,
    identity: Arc<RefreshingIdentity>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_proxy(rig: &Rig, credential: Credential) -> Adapter {
    let client = mcp_platform_client::Client::new(&rig.platform, credential).expect("platform client");
    let request = AdapterSessionRequest {
        server_name: SERVER.into(),
        team: Some(TEAM.into()),
        agent_id: rig.agent.clone(),
        requested_trust: None,
        requested_ttl: Some("2h".into()),
    };
    let identity = Arc::new(
        RefreshingIdentity::start(
            Arc::new(PlatformIssuer::new(client, request)),
            Arc::new(|e| eprintln!("adapter refresh: {e:?}")),
        )
        .await
        .expect("the platform issues the adapter session"),
    );
    let upstream = Upstream::new(&rig.route(), &Default::default()).expect("route");
    let source: Arc<dyn IdentitySource> = identity.clone();
    let proxy = Arc::new(Proxy::new(upstream, source, ProxyOptions::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(mcp_adapter::proxy::serve(proxy, listener, async move {
        let _ = stopped.await;
    }));
    Adapter { addr, identity, _stop: stop }
}

fn transport(proxy: SocketAddr) -> StreamableHttpClientTransport<reqwest::Client> {
    // The client's own bearer is a forgery the proxy must replace with its session token.
    StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{proxy}/mcp"))
            .auth_header("forged-token"),
    )
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &'static str) -> Result<String, String> {
    let params = CallToolRequestParams::new(tool)
        .with_arguments(json!({"text": "hello"}).as_object().cloned().unwrap_or_default());
    match client.call_tool(params).await {
        Ok(result) => Ok(result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect()),
        Err(err) => Err(format!("{err:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_through_the_proxy_filtered_allowed_denied_then_revoked() {
    let rig = Rig::start(None).await;
    let adapter = start_proxy(&rig, Credential::Bearer(rig.admin.clone())).await;
    let client = ().serve(transport(adapter.addr)).await.expect("initialize through the proxy");
    let mut names: Vec<String> =
        client.list_all_tools().await.expect("tools/list").iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, GRANTED, "discovery shows only the granted tools");
    assert_eq!(call(&client, "echo").await.as_deref(), Ok("hello"));
    let denied = call(&client, "upper").await.expect_err("upper is not granted");
    assert!(denied.contains("tool_not_granted"), "the reason reaches the client: {denied}");
    // Revoke the adapter's session through the platform: the next call is refused.
    let session = adapter.identity.current().session.clone();
    assert_eq!(rig.session_name().await, session);
    rig.revoke(&session).await;
    let started = Instant::now();
    loop {
        match call(&client, "echo").await {
            // The gateway's 401 carries a `WWW-Authenticate` challenge, which rmcp reports as
            // `AuthRequired` (the body's reason is checked below on the raw exchange).
            Err(e) if e.contains("session_revoked") || e.contains("AuthRequired") => break,
            other => assert!(
                started.elapsed() < Duration::from_secs(2),
                "still not refused after the revoke: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The raw exchange through the proxy: the refusal's JSON-RPC body names the reason.
    let http = reqwest::Client::new();
    let post = |body: &'static str, sid: Option<String>| {
        let mut req = http
            .post(format!("http://{}/mcp", adapter.addr))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(sid) = sid {
            req = req.header("mcp-session-id", sid).header("mcp-protocol-version", "2025-06-18");
        }
        req.send()
    };
    let init = post(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        None,
    )
    .await
    .expect("initialize");
    let sid = init.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let refused = post(
        r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#,
        sid,
    )
    .await
    .expect("tools/call");
    assert_eq!(refused.status(), 401);
    let body: serde_json::Value =
        serde_json::from_slice(&refused.bytes().await.expect("body")).expect("json");
    assert_eq!(body["error"]["data"]["reason"], "session_revoked", "{body}");
    assert_eq!(body["id"], 9, "{body}");
    drop(client);
}

/// A 60 s token (the platform's shortest) refreshed at half its life: calls every 2 s across
/// the first token's expiry plus the gateway's 30 s leeway never fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_refreshed_across_expiry_without_a_failed_call() {
    let rig = Rig::start(Some(60)).await;
    let login =
        Credential::Session { access_token: rig.admin.clone(), refresh_token: rig.admin_refresh.clone() };
    let adapter = start_proxy(&rig, login).await;
    let first = adapter.identity.current();
    let first_expiry = first.expires_at.expect("an expiry");
    let client = ().serve(transport(adapter.addr)).await.expect("initialize through the proxy");
    // Past the first token's expiry and the gateway's leeway: it alone would now be refused.
    let until = first_expiry + Duration::from_secs(32);
    let mut calls = 0;
    while jiff::Timestamp::now() < until {
        let answer = call(&client, "echo").await;
        assert_eq!(answer.as_deref(), Ok("hello"), "call {calls} at {}", jiff::Timestamp::now());
        calls += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(adapter.identity.refreshes() >= 1, "the token was refreshed");
    assert_ne!(adapter.identity.current().token, first.token);
    assert!(calls >= 40, "{calls} calls");
    drop(client);
}
