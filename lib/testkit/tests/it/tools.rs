use mcp_testkit::{ExampleServer, TOOL_NAMES};
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use serde_json::json;

use crate::support::{args, call_text, connect};

#[tokio::test]
async fn initialize_reports_the_workspace_assistant() {
    let server = ExampleServer::start("/mcp").await.expect("server starts");
    let client = connect(&server).await;
    let info = client.peer_info().expect("initialized");
    assert_eq!(info.protocol_version, ProtocolVersion::LATEST_WITH_INITIALIZE);
    assert_eq!(info.server_info.as_ref().map(|i| i.name.as_str()), Some("workspace-assistant"));
    assert!(info.capabilities.tools.is_some(), "tools capability: {:?}", info.capabilities);
    client.cancel().await.expect("client closes");
    server.shutdown().await;
}

#[tokio::test]
async fn lists_all_ten_tools_with_json_schemas() {
    let server = ExampleServer::start("/mcp").await.expect("server starts");
    let client = connect(&server).await;
    let mut tools = client.list_all_tools().await.expect("tools/list");
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert_eq!(names, TOOL_NAMES);

    let schema = |name: &str| {
        let tool = tools.iter().find(|tool| tool.name == name).expect("listed");
        serde_json::Value::Object((*tool.input_schema).clone())
    };
    for name in TOOL_NAMES {
        assert_eq!(schema(name)["type"], "object", "{name}");
    }
    let add = schema("add");
    assert_eq!(add["properties"]["a"]["type"], "number");
    assert_eq!(add["properties"]["b"]["type"], "number");
    assert_eq!(add["required"], json!(["a", "b"]));
    let note = schema("draft_release_note");
    assert_eq!(note["properties"]["version"]["type"], "string");
    assert_eq!(note["properties"]["changes"]["type"], "array");
    assert_eq!(note["properties"]["changes"]["items"]["type"], "string");
    assert_eq!(schema("slugify")["required"], json!(["text"]));
    assert_eq!(schema("progress")["properties"]["steps"]["maximum"], 100);
    // The definitions the server lists are the ones the crate exports (tool-pinning tests).
    assert_eq!(tools, mcp_testkit::tools());

    client.cancel().await.expect("client closes");
    server.shutdown().await;
}

#[tokio::test]
async fn every_tool_answers_with_text() {
    let server = ExampleServer::start("/mcp").await.expect("server starts");
    let client = connect(&server).await;
    assert_eq!(call_text(&client, "aaa-ping", None).await, "pong");
    assert_eq!(call_text(&client, "echo", Some(args(json!({"text": "hello"})))).await, "hello");
    assert_eq!(call_text(&client, "add", Some(args(json!({"a": 7, "b": 5})))).await, "12");
    assert_eq!(call_text(&client, "add", Some(args(json!({"a": 40, "b": 2})))).await, "42");
    assert_eq!(call_text(&client, "add", Some(args(json!({"a": 1, "b": 0.5})))).await, "1.5");
    assert_eq!(call_text(&client, "upper", Some(args(json!({"text": "governance"})))).await, "GOVERNANCE");
    assert_eq!(call_text(&client, "lower", Some(args(json!({"text": "MiXeD"})))).await, "mixed");
    assert_eq!(
        call_text(&client, "slugify", Some(args(json!({"text": "Hello World"})))).await,
        "hello-world"
    );
    assert_eq!(
        call_text(&client, "create_task", Some(args(json!({"title": "Ship it"})))).await,
        "Created task TASK-1: Ship it"
    );
    assert_eq!(
        call_text(&client, "create_task", Some(args(json!({"title": "Again"})))).await,
        "Created task TASK-2: Again"
    );
    assert_eq!(
        call_text(
            &client,
            "draft_release_note",
            Some(args(json!({"version": "1.2.0", "changes": ["faster reload", "audit spool"]})))
        )
        .await,
        "Release 1.2.0\n\n- faster reload\n- audit spool"
    );
    client.cancel().await.expect("client closes");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_arguments_fail_the_call_and_unknown_tools_fail_the_request() {
    let server = ExampleServer::start("/mcp").await.expect("server starts");
    let client = connect(&server).await;
    // rmcp answers argument deserialization failures with a tool result flagged `isError`.
    let bad = client
        .call_tool(CallToolRequestParams::new("add").with_arguments(args(json!({"a": "seven"}))))
        .await
        .expect("a tool result");
    assert_eq!(bad.is_error, Some(true), "{bad:?}");
    // Unknown tools and out-of-range `progress` steps are JSON-RPC errors.
    let unknown = client.call_tool(CallToolRequestParams::new("rm-rf")).await;
    assert!(unknown.is_err(), "unknown tool: {unknown:?}");
    let too_many = client
        .call_tool(CallToolRequestParams::new("progress").with_arguments(args(json!({"steps": 101}))))
        .await;
    assert!(too_many.is_err(), "progress above the limit: {too_many:?}");
    // The session survives errors.
    assert_eq!(call_text(&client, "aaa-ping", None).await, "pong");
    client.cancel().await.expect("client closes");
    server.shutdown().await;
}
