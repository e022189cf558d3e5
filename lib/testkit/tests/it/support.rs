//! Client helpers shared by the integration tests.

use std::collections::HashMap;

use mcp_testkit::ExampleServer;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};

/// Transport to `server` that adds `headers` to every request.
pub fn transport(
    server: &ExampleServer,
    headers: &[(&str, &str)],
) -> StreamableHttpClientTransport<reqwest::Client> {
    let headers: HashMap<HeaderName, HeaderValue> = headers
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
                HeaderValue::from_str(value).expect("valid header value"),
            )
        })
        .collect();
    StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.url()).custom_headers(headers),
    )
}

/// An initialized rmcp client session (legacy `initialize` lifecycle, stateful).
pub async fn connect(server: &ExampleServer) -> RunningService<RoleClient, ()> {
    connect_with(server, (), &[]).await
}

pub async fn connect_with<H: ClientHandler>(
    server: &ExampleServer,
    handler: H,
    headers: &[(&str, &str)],
) -> RunningService<RoleClient, H> {
    handler.serve(transport(server, headers)).await.expect("client initializes")
}

pub fn args(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("tool arguments must be an object, got {other}"),
    }
}

/// Calls `name` and returns its single text content; fails the test on an error result.
pub async fn call_text(
    client: &RunningService<RoleClient, impl ClientHandler>,
    name: &'static str,
    arguments: Option<JsonObject>,
) -> String {
    let mut params = CallToolRequestParams::new(name);
    if let Some(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    let result = client.call_tool(params).await.unwrap_or_else(|err| panic!("{name}: {err}"));
    assert_ne!(result.is_error, Some(true), "{name} returned an error: {result:?}");
    text(&result)
}

pub fn text(result: &CallToolResult) -> String {
    let [content] = result.content.as_slice() else {
        panic!("expected one content block, got {:?}", result.content);
    };
    content.as_text().expect("text content").text.clone()
}
