//! The official Python SDK as the agent: `mcp` 2.x from PyPI (`streamable_http_client` +
//! `ClientSession`) with a platform session token talks to the rmcp example server through the
//! gateway, in each protocol era, the way `rmcp_client.rs` does with the Rust SDK.
//!
//! The client is `tests/python/client.py`; it prints one JSON object with what it saw. It runs
//! in a virtualenv kept outside the repository, at `$MCP_TEST_VENV` or
//! `/var/tmp/mcp-runtime-pyvenv`: reused when its Python imports `mcp` 2.x, otherwise (re)built
//! with `$MCP_TEST_PYTHON` (default `python3`) `-m venv` and `pip install 'mcp>=2,<3'`, under an
//! exclusive lock on `<venv>.lock` so parallel test processes build it once. No Python, no
//! `venv`/`pip` or no package index is a test failure, never a skip.

use std::net::SocketAddr;
use std::time::Duration;

use mcp_protocol::ErrorCode;
use mcp_testkit::ExampleServer;
use mcp_testkit::python::{describe, python, run, venv_command};
use serde_json::Value;

use crate::support::*;

/// The client script.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client.py");
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs the client script for `version` against `url` and returns its JSON report.
async fn python_client(url: String, token: String, version: &'static str) -> Value {
    tokio::task::spawn_blocking(move || {
        let python = python();
        let output = run(venv_command(&python).arg(SCRIPT).args([&url, &token, version]), CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{version}: {e}"));
        assert!(output.status.success(), "{version}: client.py failed: {}", describe(&output));
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("{version}: client.py printed no JSON object ({e}): {}", describe(&output))
        })
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

async fn setup() -> (ExampleServer, Running, String) {
    let server = ExampleServer::start("/mcp").await.expect("example server");
    let key = SigningKey::from_seed("platform-1", [7; 32]);
    let policy = policy_json(&resources(), &[&key]);
    let gw = Running::start(server.addr, Some(&policy), &[]).await;
    (server, gw, key.token(ops_claims()))
}

fn url(gateway: SocketAddr) -> String {
    format!("http://{gateway}/policy-mcp-server/mcp")
}

/// Asserts one denied call surfaced as the SDK's `MCPError` with the gateway's reason.
fn assert_denied(report: &Value, label: &str, reason: &str, era: &str) {
    let call = &report["calls"][label];
    assert_eq!(call["ok"], false, "{era}: {label} must be denied: {call}");
    assert_eq!(call["exception"], "mcp.shared.exceptions.MCPError", "{era}: {label}: {call}");
    assert_eq!(call["code"], ErrorCode::PolicyDenied.code(), "{era}: {label}: {call}");
    assert_eq!(call["data"]["reason"], reason, "{era}: {label}: the reason reaches the client: {call}");
}

/// The Rust SDK scenario, seen from Python: discovery filtered, allowed calls answered, denials
/// explained, each denial an HTTP 403 whose JSON-RPC body the SDK read.
fn assert_scenario(report: &Value, negotiated: &str, era: &str) {
    assert_eq!(report["negotiated"], negotiated, "{era}: negotiated version: {report}");
    assert_eq!(
        report["tools"],
        serde_json::json!(["aaa-ping", "add", "echo"]),
        "{era}: discovery shows only callable tools: {report}"
    );
    let calls = &report["calls"];
    assert_eq!(calls["ping"], serde_json::json!({"ok": true, "is_error": false, "text": "pong"}), "{era}");
    assert_eq!(calls["add"], serde_json::json!({"ok": true, "is_error": false, "text": "12"}), "{era}");
    assert_denied(report, "upper", "trust_too_low", era);
    assert_denied(report, "add_over_limit", "argument_not_allowed", era);
    let http = report["http"].as_array().expect("the HTTP log");
    let calls: Vec<&Value> = http.iter().filter(|x| x["rpc"] == "tools/call").collect();
    let statuses: Vec<&Value> = calls.iter().map(|x| &x["status"]).collect();
    assert_eq!(statuses, [200, 200, 403, 403], "{era}: HTTP status per tools/call: {http:?}");
    for exchange in calls {
        assert_eq!(exchange["mcp-protocol-version"], negotiated, "{era}: {exchange}");
    }
}

async fn scenario(version: &'static str, negotiated: &str) {
    let (server, gw, token) = setup().await;
    let report = python_client(url(gw.addr), token, version).await;
    assert_scenario(&report, negotiated, version);
    drop(gw);
    server.shutdown().await;
}

#[tokio::test]
async fn python_client_through_the_gateway_2025_06_18() {
    scenario("2025-06-18", "2025-06-18").await;
}

#[tokio::test]
async fn python_client_through_the_gateway_2025_11_25() {
    scenario("2025-11-25", "2025-11-25").await;
}

#[tokio::test]
async fn python_client_through_the_gateway_2026_07_28() {
    scenario("2026-07-28", "2026-07-28").await;
}

/// `mcp.Client` in its default `mode="auto"`: the `server/discover` probe goes through the
/// gateway, so the SDK settles on the stateless era rather than falling back to `initialize`.
#[tokio::test]
async fn python_client_through_the_gateway_auto() {
    scenario("auto", "2026-07-28").await;
}
