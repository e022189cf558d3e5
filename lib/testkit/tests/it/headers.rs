use std::collections::BTreeMap;

use mcp_testkit::ExampleServer;

use crate::support::{call_text, connect_with};

#[tokio::test]
async fn debug_headers_returns_what_reached_the_server() {
    let server = ExampleServer::start("/mcp").await.expect("server starts");
    let client =
        connect_with(&server, (), &[("X-MCP-Human-ID", "spoofed-admin"), ("x-mcp-agent-id", "evil-agent")])
            .await;

    let body = call_text(&client, "debug_headers", None).await;
    let headers: BTreeMap<String, String> =
        serde_json::from_str(&body).unwrap_or_else(|err| panic!("not a JSON object ({err}): {body}"));
    assert_eq!(headers.get("x-mcp-human-id").map(String::as_str), Some("spoofed-admin"));
    assert_eq!(headers.get("x-mcp-agent-id").map(String::as_str), Some("evil-agent"));
    assert_eq!(headers.get("host"), Some(&server.addr.to_string()));
    assert!(headers.contains_key("mcp-session-id"), "{headers:?}");
    assert!(headers.keys().all(|name| name == &name.to_lowercase()), "{headers:?}");

    client.cancel().await.expect("client closes");
    server.shutdown().await;
}
