//! The official Rust SDK as the agent: an `rmcp` client with a platform session token talks to
//! the rmcp example server through the gateway, in each protocol era.

use mcp_testkit::ExampleServer;
use rmcp::model::{CallToolRequestParams, ClientConfig, ProtocolVersion};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::json;

use crate::support::*;

/// A client that asks for one protocol version in `initialize`.
#[derive(Clone, Debug)]
struct Versioned(ProtocolVersion);

impl ClientHandler for Versioned {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.protocol_version = self.0.clone();
        info
    }
}

fn transport(gateway: std::net::SocketAddr, token: &str) -> StreamableHttpClientTransport<reqwest::Client> {
    StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{gateway}/policy-mcp-server/mcp"))
            .auth_header(token.to_string()),
    )
}

async fn text_of(
    client: &RunningService<RoleClient, impl ClientHandler>,
    tool: &'static str,
    args: serde_json::Value,
) -> Result<String, String> {
    let mut params = CallToolRequestParams::new(tool);
    if let serde_json::Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    match client.call_tool(params).await {
        Ok(result) => Ok(result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("")),
        Err(err) => Err(format!("{err:?}")),
    }
}

async fn exercise(client: &RunningService<RoleClient, impl ClientHandler>, era: &str) {
    let mut names: Vec<String> =
        client.list_all_tools().await.expect("tools/list").iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["aaa-ping", "add", "echo"], "{era}: discovery shows only callable tools");
    assert_eq!(text_of(client, "aaa-ping", json!({})).await.as_deref(), Ok("pong"), "{era}");
    assert_eq!(text_of(client, "add", json!({"a": 7, "b": 5})).await.as_deref(), Ok("12"), "{era}");
    let denied = text_of(client, "upper", json!({"text": "x"})).await.expect_err("upper is denied");
    assert!(denied.contains("trust_too_low"), "{era}: the denial reason reaches the client: {denied}");
    let denied = text_of(client, "add", json!({"a": 5000, "b": 1})).await.expect_err("argument rule");
    assert!(denied.contains("argument_not_allowed"), "{era}: {denied}");
}

async fn setup() -> (ExampleServer, Running, String) {
    let server = ExampleServer::start("/mcp").await.expect("example server");
    let key = SigningKey::from_seed("platform-1", [7; 32]);
    let policy = policy_json(&resources(), &[&key]);
    let gw = Running::start(server.addr, Some(&policy), &[]).await;
    (server, gw, key.token(ops_claims()))
}

#[tokio::test]
async fn rmcp_client_through_the_gateway_2025_06_18() {
    let (server, gw, token) = setup().await;
    let client =
        Versioned(ProtocolVersion::V_2025_06_18).serve(transport(gw.addr, &token)).await.expect("initialize");
    assert_eq!(client.peer_info().map(|i| i.protocol_version.clone()), Some(ProtocolVersion::V_2025_06_18));
    exercise(&client, "2025-06-18").await;
    client.cancel().await.expect("close");
    server.shutdown().await;
}

#[tokio::test]
async fn rmcp_client_through_the_gateway_2025_11_25() {
    let (server, gw, token) = setup().await;
    let client =
        Versioned(ProtocolVersion::V_2025_11_25).serve(transport(gw.addr, &token)).await.expect("initialize");
    assert_eq!(client.peer_info().map(|i| i.protocol_version.clone()), Some(ProtocolVersion::V_2025_11_25));
    exercise(&client, "2025-11-25").await;
    client.cancel().await.expect("close");
    server.shutdown().await;
}

#[tokio::test]
async fn rmcp_client_through_the_gateway_2026_07_28() {
    let (server, gw, token) = setup().await;
    let client = ()
        .serve_with_lifecycle(
            transport(gw.addr, &token),
            ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
        )
        .await
        .expect("discover");
    assert_eq!(client.peer_info().map(|i| i.protocol_version.clone()), Some(ProtocolVersion::V_2026_07_28));
    exercise(&client, "2026-07-28").await;
    drop(client);
    server.shutdown().await;
}

/// The example server's `debug_headers` tool shows exactly what reached the app: identity
/// headers set by the gateway from the verified token, never the client's forged ones, and no
/// `Authorization`.
#[tokio::test]
async fn the_app_sees_gateway_identity_not_forged_headers() {
    let server = ExampleServer::start("/mcp").await.expect("example server");
    let key = SigningKey::from_seed("platform-1", [7; 32]);
    let mut r = resources();
    r.server.spec.tools.push(mcp_api::ToolConfig {
        name: "debug_headers".into(),
        side_effect: Some(mcp_api::SideEffect::Read),
        ..Default::default()
    });
    r.grants[0].spec.tool_rules.push(mcp_api::ToolRule {
        name: "debug_headers".into(),
        decision: Some(mcp_api::PolicyDecision::Allow),
        ..Default::default()
    });
    let gw = Running::start(server.addr, Some(&policy_json(&r, &[&key])), &[]).await;
    let forged: std::collections::HashMap<http::HeaderName, http::HeaderValue> = [
        ("x-mcp-human-id", "admin"),
        ("x-mcp-agent-id", "root"),
        ("x-mcp-team-id", "team-z"),
        ("x-mcp-agent-session", "sess-admin"),
    ]
    .into_iter()
    .map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v)))
    .collect();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{}/policy-mcp-server/mcp", gw.addr))
            .auth_header(key.token(ops_claims()))
            .custom_headers(forged),
    );
    let client = ().serve(transport).await.expect("initialize");
    let text = text_of(&client, "debug_headers", json!({})).await.expect("debug_headers is allowed");
    let seen: std::collections::BTreeMap<String, String> = serde_json::from_str(&text).expect("headers JSON");
    assert_eq!(seen.get("x-mcp-human-id").map(String::as_str), Some("user-123"), "{seen:?}");
    assert_eq!(seen.get("x-mcp-agent-id").map(String::as_str), Some("ops-agent"));
    assert_eq!(seen.get("x-mcp-team-id").map(String::as_str), Some("team-a"));
    assert_eq!(seen.get("x-mcp-agent-session").map(String::as_str), Some("sess-ops-agent"));
    assert!(!seen.contains_key("authorization"), "the caller's token never reaches the app: {seen:?}");
    client.cancel().await.expect("close");
    server.shutdown().await;
}
