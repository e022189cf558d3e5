//! A headless browser for the dashboard's browser tests: Debian's `chromium` driven by the npm
//! `playwright-core` (which downloads no browser), with `axe-core` for accessibility checks.
//!
//! The npm packages are installed when missing, pinned, into `/var/tmp/mcp-runtime-tools/<name>`
//! (once per machine), with the same Node 22 the OpenID Connect issuer uses. Chromium comes from
//! Debian's `chromium` package, installed with apt-get when missing and running as root;
//! `MCP_CHROMIUM` points at another binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::services::ServiceError;

/// The browser driver (no bundled browsers).
pub const PLAYWRIGHT_CORE: &str = "playwright-core@1.65.2";
/// The accessibility engine injected into every page.
pub const AXE_CORE: &str = "axe-core@4.14.1";
const TOOLS: &str = "/var/tmp/mcp-runtime-tools";

/// What a browser test needs.
#[derive(Debug, Clone)]
pub struct BrowserTools {
    /// Node ≥ 22.
    pub node: PathBuf,
    /// `node_modules` holding `playwright-core`.
    pub playwright: PathBuf,
    /// `node_modules` holding `axe-core`.
    pub axe: PathBuf,
    /// The Chromium binary.
    pub chromium: PathBuf,
}

fn find_chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.exists())
}

/// Debian's `chromium`, installed with apt-get when missing (root only; idempotent).
fn system_chromium() -> Result<PathBuf, ServiceError> {
    if let Some(c) = find_chromium() {
        return Ok(c);
    }
    if !crate::postgres::is_root() {
        return Err(ServiceError::new("no Chromium: sudo apt-get install -y chromium (or set MCP_CHROMIUM)"));
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .map_err(|e| ServiceError::new(format!("run apt-get: {e}")))
    };
    let install = ["install", "-y", "-qq", "--no-install-recommends", "chromium"];
    if !apt(&install)?.success() {
        apt(&["update", "-qq"])?;
        if !apt(&install)?.success() {
            return Err(ServiceError::new("apt-get install chromium failed"));
        }
    }
    find_chromium().ok_or_else(|| ServiceError::new("chromium installed, but no /usr/bin/chromium"))
}

/// Node, `playwright-core` and `axe-core` (installed when missing) and the system Chromium.
pub fn install() -> Result<BrowserTools, ServiceError> {
    let chromium = match std::env::var_os("MCP_CHROMIUM") {
        Some(c) => PathBuf::from(c),
        None => system_chromium()?,
    };
    let (node, _) = crate::oidc::install()?;
    let package = |spec: &str| -> Result<PathBuf, ServiceError> {
        let name = spec.rsplit_once('@').map(|(n, _)| n).unwrap_or(spec);
        let dir = Path::new(TOOLS).join(spec.replace('@', "-"));
        let modules = dir.join("node_modules");
        crate::oidc::npm_install(&dir, spec, &modules.join(name).join("package.json"))?;
        Ok(modules)
    };
    Ok(BrowserTools { node, playwright: package(PLAYWRIGHT_CORE)?, axe: package(AXE_CORE)?, chromium })
}
