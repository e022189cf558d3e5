//! The official Python SDK's stdio client launching the real `mcp-runtime adapter stdio` as its
//! MCP server, against a governed server (real platform, enforcing gateway, example server;
//! `lib/adapter/tests/it/rig.rs`): the adapter issues its own platform session, the client sees
//! filtered discovery, an allowed call, a denied call carrying its reason, and — after the
//! session is revoked through the platform mid-session — a refused call.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use mcp_testkit::python::{python, venv_command};
use serde_json::Value;

#[path = "../../../lib/adapter/tests/it/rig.rs"]
mod rig;

use rig::{GRANTED, Rig, SERVER, TEAM};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../lib/adapter/tests/python/stdio_client.py");
const BIN: &str = env!("CARGO_BIN_EXE_mcp-runtime");

/// Reads one JSON line of the client, failing after `limit`.
fn read_line(
    lines: &std::sync::mpsc::Receiver<String>,
    limit: Duration,
    stderr: &std::sync::Arc<std::sync::Mutex<String>>,
) -> Value {
    let line = lines.recv_timeout(limit).unwrap_or_else(|e| {
        panic!(
            "no report line from the client ({e}); stderr:\n{}",
            stderr.lock().map(|s| s.clone()).unwrap_or_default()
        )
    });
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_stdio_client_through_adapter_stdio() {
    let rig = Rig::start(None).await;
    let python = tokio::task::spawn_blocking(python).await.expect("venv");
    let mut child = venv_command(&python)
        .arg(SCRIPT)
        .arg(BIN)
        .args(["adapter", "stdio", "--platform-url", &rig.platform, "--token", &rig.admin])
        .args(["--server", SERVER, "--team", TEAM, "--agent", &rig.agent, "--runtime-url", &rig.route()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python client");
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let stderr_text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = stderr_text.clone();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(mut s) = sink.lock() {
                s.push_str(&line);
                s.push('\n');
            }
        }
    });
    let first = tokio::task::block_in_place(|| read_line(&lines, Duration::from_secs(90), &stderr_text));
    assert_eq!(first["tools"], serde_json::json!(GRANTED), "discovery shows only granted tools: {first}");
    assert_eq!(first["tools_again"], first["tools"], "{first}");
    assert_eq!(first["echo"], serde_json::json!({"ok": true, "is_error": false, "text": "hello"}), "{first}");
    let upper = &first["upper"];
    assert_eq!(upper["ok"], false, "{first}");
    assert_eq!(upper["code"], -32000, "{first}");
    assert_eq!(upper["message"], "tool_not_granted", "{first}");
    assert_eq!(upper["data"]["http_status"], 403, "{first}");
    assert_eq!(upper["data"]["reason"], "tool_not_granted", "{first}");
    // Revoke the adapter's session mid-session; the client's next call is refused.
    let session = rig.session_name().await;
    rig.revoke(&session).await;
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("signal the client");
    stdin.flush().expect("flush");
    let second = tokio::task::block_in_place(|| read_line(&lines, Duration::from_secs(30), &stderr_text));
    let after = &second["after_revoke"];
    assert_eq!(after["ok"], false, "{second}");
    assert_eq!(after["message"], "session_revoked", "{second}");
    assert_eq!(after["data"]["http_status"], 401, "{second}");
    drop(stdin);
    let status = tokio::task::block_in_place(|| child.wait()).expect("wait");
    assert!(
        status.success(),
        "client exit {status}; stderr:\n{}",
        stderr_text.lock().map(|s| s.clone()).unwrap_or_default()
    );
}
