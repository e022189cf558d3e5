//! A headless browser for the dashboard's browser tests: Debian's `chromium` driven by the npm
//! `playwright-core` (which downloads no browser), with `axe-core` for accessibility checks.
//!
//! The npm packages are installed when missing, pinned, into `/var/tmp/mcp-runtime-tools/<name>`
//! (once per machine), with the same Node 22 the OpenID Connect issuer uses. Chromium comes from
//! the system (`apt-get install -y chromium`); `MCP_CHROMIUM` points at another binary.

use std::path::{Path, PathBuf};

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

/// Node, `playwright-core` and `axe-core` (installed when missing) and the system Chromium.
pub fn install() -> Result<BrowserTools, ServiceError> {
    let chromium = match std::env::var_os("MCP_CHROMIUM") {
        Some(c) => PathBuf::from(c),
        None => ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| {
                ServiceError::new("no Chromium: apt-get install -y chromium (or set MCP_CHROMIUM)")
            })?,
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
