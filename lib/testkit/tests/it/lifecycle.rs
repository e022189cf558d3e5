use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mcp_testkit::{ExampleServer, ServeOptions};
use rmcp::model::ProtocolVersion;
use rmcp::{ClientLifecycleMode, ClientServiceExt};
use serde_json::json;

use crate::support::{call_text, connect, transport};

#[tokio::test]
async fn shutdown_ends_open_sessions_and_streams_promptly() {
    let server = ExampleServer::start("/mcp").await.expect("server starts");
    let client = connect(&server).await;
    assert_eq!(call_text(&client, "aaa-ping", None).await, "pong");

    // A second session holding its standalone GET stream open.
    let http = reqwest::Client::new();
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw-http", "version": "0"}}
    });
    let init = http
        .post(server.url())
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(init.to_string())
        .send()
        .await
        .expect("initialize sent");
    let session = init.headers().get("mcp-session-id").expect("session id").clone();
    let stream = http
        .get(server.url())
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .send()
        .await
        .expect("GET stream opens");
    assert_eq!(stream.status(), reqwest::StatusCode::OK);

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(3), server.shutdown())
        .await
        .expect("shutdown completes while sessions and an SSE stream are open");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The held stream ends (cleanly or not) instead of hanging.
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.bytes())
        .await
        .expect("SSE stream ends at shutdown");
    drop(client);
}

#[tokio::test]
async fn servers_run_side_by_side_on_ephemeral_ports() {
    let a = ExampleServer::start("/mcp").await.expect("server a starts");
    let b = ExampleServer::start("/mcp").await.expect("server b starts");
    assert_ne!(a.addr.port(), b.addr.port());
    assert!(a.addr.ip().is_loopback());
    let client = connect(&b).await;
    assert_eq!(call_text(&client, "aaa-ping", None).await, "pong");
    drop(client);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn stateless_server_answers_without_sessions() {
    let mut options = ServeOptions::new("/mcp").expect("valid path");
    options.sessions = false;
    let server = ExampleServer::start_with("127.0.0.1:0".parse().expect("addr"), options)
        .await
        .expect("server starts");
    let client = connect(&server).await;
    assert_eq!(call_text(&client, "aaa-ping", None).await, "pong");
    let headers: BTreeMap<String, String> =
        serde_json::from_str(&call_text(&client, "debug_headers", None).await).expect("json");
    assert!(!headers.contains_key("mcp-session-id"), "{headers:?}");
    drop(client);
    server.shutdown().await;
}

#[tokio::test]
async fn discover_lifecycle_of_2026_07_28_is_served_statelessly() {
    let server = ExampleServer::start("/mcp").await.expect("server starts");
    let client = ()
        .serve_with_lifecycle(
            transport(&server, &[]),
            ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
        )
        .await
        .expect("client discovers");
    assert_eq!(
        client.peer_info().map(|info| info.protocol_version.clone()),
        Some(ProtocolVersion::V_2026_07_28)
    );
    assert_eq!(call_text(&client, "aaa-ping", None).await, "pong");
    let headers: BTreeMap<String, String> =
        serde_json::from_str(&call_text(&client, "debug_headers", None).await).expect("json");
    assert!(!headers.contains_key("mcp-session-id"), "{headers:?}");
    assert_eq!(headers.get("mcp-protocol-version").map(String::as_str), Some("2026-07-28"));
    eprintln!("2026-07-28 request headers: {headers:?}");
    drop(client);
    server.shutdown().await;
}
