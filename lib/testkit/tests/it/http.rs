//! Raw HTTP behaviour of rmcp's Streamable HTTP server, pinned here because the gateway
//! forwards (and reasons about) exactly these answers.

use mcp_testkit::{AllowedHosts, ExampleServer, ServeOptions};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::json;

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

fn initialize_body(version: &str) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "raw-http", "version": "0"}
        }
    })
    .to_string()
}

fn post(client: &Client, server: &ExampleServer, body: String) -> RequestBuilder {
    client
        .post(server.url())
        .header("accept", ACCEPT_BOTH)
        .header("content-type", "application/json")
        .body(body)
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("request sent")
}

fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|value| value.to_str().ok())
}

#[tokio::test]
async fn session_lifecycle_over_raw_http() {
    let server = ExampleServer::start("/mcp").await.expect("server starts");
    let client = Client::new();

    let init = send(post(&client, &server, initialize_body("2025-06-18"))).await;
    assert_eq!(init.status(), StatusCode::OK);
    assert_eq!(header(&init, "content-type"), Some("text/event-stream"));
    let session = header(&init, "mcp-session-id").expect("session id header").to_owned();
    let body = init.text().await.expect("initialize body");
    assert!(body.contains("\"protocolVersion\":\"2025-06-18\""), "{body}");
    assert!(body.contains("data:"), "SSE framing: {body}");

    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let response = send(
        post(&client, &server, initialized)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-06-18"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    // The standalone GET stream opens (we only look at its head).
    let stream = send(
        client.get(server.url()).header("accept", "text/event-stream").header("mcp-session-id", &session),
    )
    .await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(header(&stream, "content-type"), Some("text/event-stream"));
    drop(stream);

    let deleted = send(client.delete(server.url()).header("mcp-session-id", &session)).await;
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);

    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string();
    let gone = send(post(&client, &server, ping).header("mcp-session-id", &session)).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    server.shutdown().await;
}

#[tokio::test]
async fn requests_rmcp_rejects_before_any_tool_runs() {
    let server = ExampleServer::start("/mcp").await.expect("server starts");
    let client = Client::new();
    let init = || initialize_body("2025-06-18");

    // POST must accept both JSON and SSE.
    let r = send(client.post(server.url()).header("content-type", "application/json").body(init())).await;
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    let r = send(
        client
            .post(server.url())
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(init()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);

    let r = send(
        client
            .post(server.url())
            .header("accept", ACCEPT_BOTH)
            .header("content-type", "text/plain")
            .body(init()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // rmcp answers a body that is not one JSON-RPC message with 415, not 400.
    let r = send(post(&client, &server, "{\"jsonrpc\":".to_owned())).await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "truncated JSON");
    let r = send(post(&client, &server, format!("[{}]", init()))).await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "batch array");

    let r = send(post(&client, &server, init()).header("mcp-protocol-version", "2099-01-01")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "unsupported protocol version header");

    // Anything but initialize needs a session.
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
    let r = send(post(&client, &server, ping)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = send(client.get(server.url()).header("accept", "text/event-stream")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "GET without session");
    let r = send(client.get(server.url())).await;
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE, "GET without Accept: text/event-stream");
    let r = send(client.delete(server.url())).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "DELETE without session");
    let r =
        send(client.get(server.url()).header("accept", "text/event-stream").header("mcp-session-id", "nope"))
            .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "unknown session");

    let r = send(client.request(Method::PUT, server.url())).await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&r, "allow"), Some("GET, POST, DELETE"));

    // DNS-rebinding protection: only loopback hosts by default.
    let r = send(post(&client, &server, init()).header("host", "mcp.example.com")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    server.shutdown().await;
}

#[tokio::test]
async fn other_paths_and_health() {
    let server = ExampleServer::start("/mcp").await.expect("server starts");
    let client = Client::new();
    let base = format!("http://{}", server.addr);
    let r = send(client.get(format!("{base}/healthz"))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = send(post(&client, &server, initialize_body("2025-06-18")).header("x", "y")).await;
    assert_eq!(r.status(), StatusCode::OK);
    for path in ["/", "/mcp/", "/team/mcp", "/MCP"] {
        let r = send(client.post(format!("{base}{path}")).body("{}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn any_host_option_accepts_public_host_headers() {
    let mut options = ServeOptions::new("/team-a/mcp").expect("valid path");
    options.allowed_hosts = AllowedHosts::Any;
    let server = ExampleServer::start_with("127.0.0.1:0".parse().expect("addr"), options)
        .await
        .expect("server starts");
    assert!(server.url().ends_with("/team-a/mcp"), "{}", server.url());
    let client = Client::new();
    let r =
        send(post(&client, &server, initialize_body("2025-11-25")).header("host", "mcp.example.com")).await;
    assert_eq!(r.status(), StatusCode::OK);
    server.shutdown().await;

    assert!(ServeOptions::new("mcp").is_err(), "path without a leading slash");
}
