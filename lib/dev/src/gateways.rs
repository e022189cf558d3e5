//! The in-process gateways: one `mcp_gateway::Gateway` per published server, built from the
//! same library and settings as the sidecar (its policy file written by the platform's Local
//! backend, watched the same way), routed at `/<server>/mcp` on the dev listener, auditing into
//! the embedded store through [`crate::sink::StoreSink`].
//!
//! [`Gateways::sync`] reconciles the set with the platform's servers: a new server gets a
//! gateway, a deleted one loses it (and stops answering), a changed upstream rebuilds it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use mcp_gateway::Gateway;
use mcp_gateway::audit::AuditSink;
use mcp_platform::AppState;
use mcp_platform::runtime::ListFilter;
use serde_json::json;
use tokio::sync::watch;

use crate::upstreams::Upstreams;

/// Where a server's gateway forwards, and with which credential.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    url: String,
    /// `UPSTREAM_TOKEN_FILE`: `<data>/secrets/<secret>/<key>` for a `credentialSecretRef`.
    token_file: Option<PathBuf>,
}

/// One server's gateway.
struct Entry {
    namespace: String,
    upstream: Target,
    gateway: Arc<Gateway>,
    /// Stops the policy watch when the entry is dropped.
    _stop: watch::Sender<bool>,
}

/// The gateways, by server name.
pub struct Gateways {
    entries: RwLock<HashMap<String, Entry>>,
    policy_dir: PathBuf,
    secrets_dir: PathBuf,
    /// The last build error of each server, so a lasting one is logged once.
    failed: std::sync::Mutex<HashMap<String, String>>,
    sink: Arc<dyn AuditSink>,
    upstreams: Arc<Upstreams>,
}

impl std::fmt::Debug for Gateways {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateways").field("policy_dir", &self.policy_dir).finish_non_exhaustive()
    }
}

impl Gateways {
    /// No gateways yet.
    /// No gateways yet. A `credentialSecretRef` of a server's `spec.upstream` is read from
    /// `<secrets_dir>/<secret>/<key>` (dev has no Secrets API).
    pub fn new(
        policy_dir: PathBuf,
        secrets_dir: PathBuf,
        sink: Arc<dyn AuditSink>,
        upstreams: Arc<Upstreams>,
    ) -> Arc<Gateways> {
        Arc::new(Gateways {
            entries: RwLock::new(HashMap::new()),
            policy_dir,
            secrets_dir,
            failed: std::sync::Mutex::default(),
            sink,
            upstreams,
        })
    }

    fn get(&self, server: &str) -> Option<Arc<Gateway>> {
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(server).map(|e| e.gateway.clone())
    }

    /// Names of the servers with a gateway.
    pub fn names(&self) -> Vec<String> {
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut names: Vec<String> = entries.keys().cloned().collect();
        names.sort();
        names
    }

    /// Brings the gateways in line with the platform's servers. A server name used in two
    /// namespaces is served for the first (oldest listed) only, with a warning.
    pub async fn sync(&self, state: &AppState) {
        let servers = match state.runtime.list_servers(&ListFilter::default()).await {
            Ok(servers) => servers,
            Err(e) => {
                tracing::warn!(error = %e, "dev: listing servers failed; gateways unchanged");
                return;
            }
        };
        let mut wanted: HashMap<String, (String, Target)> = HashMap::new();
        for s in &servers {
            let name = mcp_platform::runtime::name_of(&s.metadata).to_string();
            let namespace = mcp_platform::runtime::namespace_of(&s.metadata).to_string();
            if wanted.contains_key(&name) {
                tracing::warn!(server = %name, namespace = %namespace, "dev: a server of this name is already routed; this one is not");
                continue;
            }
            // A command-line server first, then the spec's `upstream`, then the built-in image.
            let upstream = match (self.upstreams.named(&name), &s.spec.upstream) {
                (Some(url), _) => Target { url, token_file: None },
                (None, Some(up)) => Target {
                    url: up.url.clone(),
                    token_file: up
                        .credential_secret_ref
                        .as_ref()
                        .map(|r| self.secrets_dir.join(&r.name).join(&r.key)),
                },
                (None, None) => {
                    Target { url: self.upstreams.url_for(&name, &s.spec.image), token_file: None }
                }
            };
            wanted.insert(name, (namespace, upstream));
        }
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|name, e| {
            let keep = wanted.get(name).is_some_and(|(ns, up)| *ns == e.namespace && *up == e.upstream);
            if !keep {
                tracing::info!(server = %name, "dev: gateway removed");
            }
            keep
        });
        for (name, (namespace, upstream)) in wanted {
            if entries.contains_key(&name) {
                continue;
            }
            match self.build(&name, &namespace, &upstream) {
                Ok(entry) => {
                    tracing::info!(server = %name, namespace = %namespace, upstream = %upstream.url, "dev: gateway up");
                    entries.insert(name, entry);
                }
                Err(e) => {
                    let mut failed = self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if failed.get(&name) != Some(&e) {
                        tracing::error!(server = %name, error = %e, "dev: gateway could not be built; the server is not routed");
                        failed.insert(name, e);
                    }
                }
            }
        }
    }

    fn build(&self, name: &str, namespace: &str, upstream: &Target) -> Result<Entry, String> {
        let policy = mcp_platform::runtime::local::policy_path(&self.policy_dir, namespace, name);
        let mut env: HashMap<String, String> = [
            ("UPSTREAM_URL", upstream.url.clone()),
            ("POLICY_FILE", policy.display().to_string()),
            // `/<name>/mcp` is the upstream URL itself, whatever its path.
            ("STRIP_PREFIX", format!("/{name}/mcp")),
            ("LISTEN_ADDR", "127.0.0.1:0".to_string()),
            ("ADMIN_LISTEN_ADDR", "127.0.0.1:0".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(file) = &upstream.token_file {
            // Fail closed: never call the upstream without the credential it was declared with.
            if !file.is_file() {
                return Err(format!(
                    "spec.upstream.credentialSecretRef: put the credential in {} (dev reads Secrets from files)",
                    file.display()
                ));
            }
            env.insert("UPSTREAM_TOKEN_FILE".into(), file.display().to_string());
        }
        let config = mcp_gateway::Config::from_source(&env).map_err(|e| e.to_string())?;
        let gateway = Gateway::with_audit_sink(config, self.sink.clone()).map_err(|e| e.to_string())?;
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(gateway.policy.clone().run(stopped));
        Ok(Entry { namespace: namespace.to_string(), upstream: upstream.clone(), gateway, _stop: stop })
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let _ = self._stop.send(true);
    }
}

/// `/<server>/mcp`: the server's gateway answers; an unknown server is 404 in the JSON-RPC
/// error shape gateways use.
pub async fn route(
    State(gateways): State<Arc<Gateways>>,
    Path(server): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    match gateways.get(&server) {
        Some(gateway) => gateway.handle(req, peer).await.map(Body::new),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "jsonrpc": "2.0", "id": null,
                "error": {"code": -32001, "message": format!("no server named {server:?} is published"),
                          "data": {"reason": "server_not_found"}}
            })),
        )
            .into_response(),
    }
}
