//! The official Python MCP SDK for tests: a virtualenv kept outside the repository, at
//! `$MCP_TEST_VENV` or `/var/tmp/mcp-runtime-pyvenv`: reused when its Python imports `mcp` 2.x,
//! otherwise (re)built with `$MCP_TEST_PYTHON` (default `python3`) `-m venv` and
//! `pip install 'mcp>=2,<3'`, under an exclusive lock on `<venv>.lock` so parallel test
//! processes build it once. No Python, no `venv`/`pip` or no package index is a test failure,
//! never a skip. Used by the gateway's and the adapters' Python client tests.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What the tests install.
const REQUIREMENT: &str = "mcp>=2,<3";
/// The venv when `MCP_TEST_VENV` is not set.
const DEFAULT_VENV: &str = "/var/tmp/mcp-runtime-pyvenv";
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

/// The venv directory: `$MCP_TEST_VENV` or `/var/tmp/mcp-runtime-pyvenv`.
pub fn venv_dir() -> PathBuf {
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
pub fn venv_command(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.env_remove("PYTHONPATH").env_remove("PYTHONHOME");
    cmd
}

/// Runs `cmd` to completion with its output captured, killing it after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
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

/// A process outcome with its output, for failure messages.
pub fn describe(output: &Output) -> String {
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

/// The venv's Python, prepared once per test process (panics when it cannot be prepared).
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(ensure_venv) {
        Ok(python) => python.clone(),
        Err(e) => panic!("cannot prepare the Python MCP SDK venv at {}: {e}", venv_dir().display()),
    }
}
