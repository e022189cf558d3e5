//! What each governed server's gateway forwards to: the built-in example server (in-process),
//! a local command (supervised by [`crate::supervise`]) or a remote MCP URL.

use std::collections::HashMap;
use std::sync::RwLock;

/// Image names (last path segment, tag ignored) that mean "the built-in example server".
pub const BUILTIN_IMAGES: &[&str] = &["mcp-example-server", "example-mcp"];

/// Where a server named on the command line comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command speaking MCP over stdio, bridged to Streamable HTTP.
    Stdio(String),
    /// A command serving Streamable HTTP on the port in `$PORT` (and `{port}` in the command),
    /// at `/mcp`.
    Http(String),
    /// An MCP server elsewhere, proxied.
    Remote(String),
}

impl Source {
    /// `stdio`, `http` or `remote`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Stdio(_) => "stdio",
            Source::Http(_) => "http",
            Source::Remote(_) => "remote",
        }
    }
}

/// Whether `image` names the built-in example server.
pub fn is_builtin(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    let name = last.split(['@', ':']).next().unwrap_or(last);
    BUILTIN_IMAGES.contains(&name)
}

/// Upstream URLs by server.
#[derive(Debug)]
pub struct Upstreams {
    builtin: String,
    named: RwLock<HashMap<String, String>>,
}

/// Where a server with nothing to run is pointed: a closed loopback port, so its gateway
/// answers `upstream_unavailable` (after judging the call).
pub const NOTHING: &str = "http://127.0.0.1:9/mcp";

impl Upstreams {
    /// Upstreams with the built-in example server at `builtin`.
    pub fn new(builtin: String) -> Upstreams {
        Upstreams { builtin, named: RwLock::new(HashMap::new()) }
    }

    /// Sends `server` to `url` from now on.
    pub fn set(&self, server: &str, url: String) {
        self.named.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(server.to_string(), url);
    }

    /// The URL given for `server` on the command line, if any.
    pub fn named(&self, server: &str) -> Option<String> {
        self.named.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(server).cloned()
    }

    /// The URL the gateway of `server` (whose image is `image`) forwards to.
    pub fn url_for(&self, server: &str, image: &str) -> String {
        if let Some(url) = self.named.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(server) {
            return url.clone();
        }
        if is_builtin(image) { self.builtin.clone() } else { NOTHING.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_images_are_recognised_with_registry_and_tag() {
        for image in
            ["mcp-example-server", "registry.local/example-mcp", "ghcr.io/x/mcp-example-server:0.1.0"]
        {
            assert!(is_builtin(image), "{image}");
        }
        for image in ["nginx", "example-mcp-other", ""] {
            assert!(!is_builtin(image), "{image}");
        }
    }
}
