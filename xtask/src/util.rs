//! Helpers shared by xtask commands.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use duct::cmd;
use serde_json::Value;

/// The workspace root (the parent of `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Makes `path` hold exactly `contents`.
///
/// With `check`, nothing is written: a missing or different file is an error that names the
/// command to run. Line endings are normalised before comparing.
pub fn ensure_file_contents(path: &Path, contents: &str, check: bool, command: &str) -> Result<()> {
    let current = std::fs::read_to_string(path).ok().map(|s| s.replace("\r\n", "\n"));
    if current.as_deref() == Some(contents) {
        return Ok(());
    }
    let shown = path.strip_prefix(project_root()).unwrap_or(path).display().to_string();
    if check {
        let what = if current.is_some() { "is stale" } else { "is missing" };
        bail!("{shown} {what}; run `{command}` and commit the result");
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("write {shown}"))?;
    eprintln!("updated {shown}");
    Ok(())
}

/// A free loopback port (bound and released; the server binds it right after).
pub fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).context("bind a free port")?;
    Ok(listener.local_addr().context("local address")?.port())
}

/// Waits up to 30 s until something listens on 127.0.0.1:`port`; `what` and `log` name the
/// process in the error.
pub fn wait_port(what: &str, port: u16, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            bail!("{what} did not open port {port} within 30 s; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Where cargo puts build outputs (honours `CARGO_TARGET_DIR` and config).
pub fn target_dir() -> Result<PathBuf> {
    let metadata = cmd!("cargo", "metadata", "--format-version", "1", "--no-deps", "--locked")
        .dir(project_root())
        .read()
        .context("cargo metadata")?;
    let metadata: Value = serde_json::from_str(&metadata).context("parse cargo metadata")?;
    metadata["target_directory"].as_str().map(PathBuf::from).context("cargo metadata has no target_directory")
}
