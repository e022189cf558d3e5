//! The conformance fixture, driven by the rmcp client: what the official suite checks first.

use mcp_testkit::{CONFORMANCE_TOOL_NAMES, ExampleServer, ServeOptions};
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams};
use serde_json::json;

use crate::support::{args, call_text, connect};

async fn start() -> ExampleServer {
    let options = ServeOptions::new("/mcp").expect("valid path");
    ExampleServer::start_conformance("127.0.0.1:0".parse().expect("addr"), options)
        .await
        .expect("fixture starts")
}

#[tokio::test]
async fn serves_the_suite_fixture_tools_resources_and_prompts() {
    let server = start().await;
    let client = connect(&server).await;
    let info = client.peer_info().expect("initialized");
    assert_eq!(info.server_info.as_ref().map(|i| i.name.as_str()), Some("mcp-runtime-conformance-fixture"));
    let capabilities = serde_json::to_value(&info.capabilities).expect("json");
    for capability in ["tools", "resources", "prompts", "logging", "completions"] {
        assert!(capabilities.get(capability).is_some(), "{capability}: {capabilities}");
    }

    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert_eq!(names, CONFORMANCE_TOOL_NAMES);
    assert_eq!(
        call_text(&client, "test_simple_text", None).await,
        "This is a simple text response for testing."
    );

    let read = client
        .read_resource(ReadResourceRequestParams::new("test://template/42/data"))
        .await
        .expect("resources/read");
    let read = serde_json::to_value(&read).expect("json");
    let body: serde_json::Value =
        serde_json::from_str(read["contents"][0]["text"].as_str().expect("text")).expect("json text");
    assert_eq!(body, json!({"id": "42", "templateTest": true, "data": "Data for ID: 42"}));

    let prompt = client
        .get_prompt(
            GetPromptRequestParams::new("test_prompt_with_arguments")
                .with_arguments(args(json!({"arg1": "hello", "arg2": "world"}))),
        )
        .await
        .expect("prompts/get");
    let prompt = serde_json::to_value(&prompt).expect("json");
    assert_eq!(prompt["messages"][0]["content"]["text"], "Prompt with arguments: arg1='hello', arg2='world'");

    client.cancel().await.expect("client closes");
    server.shutdown().await;
}
