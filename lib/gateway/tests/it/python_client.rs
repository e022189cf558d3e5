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

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mcp_protocol::ErrorCode;
use mcp_testkit::ExampleServer;
use serde_json::Value;

use crate::support::*;

/// What the tests install.
const REQUIREMENT: &str = "mcp>=2,<3";
/// The venv when `MCP_TEST_VENV` is not set.
const DEFAULT_VENV: &str = "/var/tmp/mcp-runtime-pyvenv";
/// The client script.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client.py");
/// Exits 0 when this interpreter has `mcp` 2.x and the packages the script imports, without
/// importing them (importing `mcp` costs over a second of CPU).
const PROBE: &str = "import importlib.metadata as m, importlib.util as u, sys\n\
                     ok = m.version('mcp').split('.')[0] == '2'\n\
                     ok = ok and all(u.find_spec(n) for n in ('mcp', 'mcp_types', 'httpx2', 'anyio', 'pydantic'))\n\
                     sys.exit(0 if ok else 3)";
/// After an install: the modules the script uses really import.
const IMPORT_PROBE: &str = "import mcp, mcp_types, httpx2, mcp.client.session, mcp.client.streamable_http";
/// Generous bounds: a hung child fails the test instead of the whole run.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

fn venv_dir() -> PathBuf {
    std::env::var_os("MCP_TEST_VENV")
        .filter(|v| !v.is_empty())
        .map_or_else(|| DEFAULT_VENV.into(), PathBuf::from)
}

fn base_python() -> String {
    std::env::var("MCP_TEST_PYTHON").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "python3".into())
}

fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// A command running the venv's `python`, blind to the caller's `PYTHONPATH`/`PYTHONHOME`.
fn venv_command(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.env_remove("PYTHONPATH").env_remove("PYTHONHOME");
    cmd
}

/// Runs `cmd` to completion with its output captured, killing it after `timeout`.
fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let mut pipes = (child.stdout.take(), child.stderr.take());
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipes.0.take() {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipes.1.take() {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(|e| format!("waiting for {what}: {e}"))? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} did not finish within {timeout:?}"));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok(Output { status, stdout, stderr })
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Whether `venv` already has a working `mcp` 2.x.
fn venv_ready(venv: &Path) -> bool {
    let python = venv_python(venv);
    python.exists()
        && run(venv_command(&python).args(["-c", PROBE]), Duration::from_secs(60))
            .is_ok_and(|o| o.status.success())
}

/// Returns the venv's Python, creating the venv and installing the SDK first when needed.
fn ensure_venv() -> Result<PathBuf, String> {
    let venv = venv_dir();
    if venv_ready(&venv) {
        return Ok(venv_python(&venv));
    }
    let parent = venv.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let mut lock_path = venv.clone().into_os_string();
    lock_path.push(".lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open the lock file {lock_path:?}: {e}"))?;
    // Held until `lock` drops: another test process building the same venv waits here.
    lock.lock().map_err(|e| format!("cannot lock {lock_path:?}: {e}"))?;
    if venv_ready(&venv) {
        return Ok(venv_python(&venv));
    }
    let python = base_python();
    let created = run(Command::new(&python).args(["-m", "venv", "--clear"]).arg(&venv), INSTALL_TIMEOUT)
        .map_err(|e| {
            format!(
                "{e}\nThe Python SDK tests need Python >= 3.10 with the venv module and pip: install \
                 python3 (and python3-venv on Debian/Ubuntu), or point MCP_TEST_PYTHON at an interpreter"
            )
        })?;
    if !created.status.success() {
        return Err(format!(
            "`{python} -m venv {}` failed (on Debian/Ubuntu install python3-venv): {}",
            venv.display(),
            describe(&created)
        ));
    }
    let installed = run(
        venv_command(&venv_python(&venv)).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            REQUIREMENT,
        ]),
        INSTALL_TIMEOUT,
    )?;
    if !installed.status.success() {
        return Err(format!(
            "`pip install '{REQUIREMENT}'` into {} failed: {}",
            venv.display(),
            describe(&installed)
        ));
    }
    let probe = run(
        venv_command(&venv_python(&venv)).args(["-c", &format!("{IMPORT_PROBE}\n{PROBE}")]),
        Duration::from_secs(60),
    )?;
    if !probe.status.success() {
        return Err(format!(
            "{} still cannot import mcp 2.x after install: {}",
            venv.display(),
            describe(&probe)
        ));
    }
    Ok(venv_python(&venv))
}

/// The venv's Python, prepared once per test process.
fn python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(ensure_venv) {
        Ok(python) => python.clone(),
        Err(e) => panic!("cannot prepare the Python MCP SDK venv at {}: {e}", venv_dir().display()),
    }
}

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
