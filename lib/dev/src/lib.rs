//! `mcp-runtime dev`: the whole platform on one machine in one process, on one port.
//!
//! - `/api/v1/…`, the JWKS, the registry endpoints and the dashboard (`/`): the `mcp-platform`
//!   router, unchanged, on SQLite in the data directory, with the Local runtime backend.
//! - `/<server>/mcp`: an in-process `mcp_gateway::Gateway` per published server ([`gateways`]),
//!   the same pipeline, policy engine and reason codes as the sidecar, forwarding to the
//!   built-in example server, a supervised local command ([`supervise`]) or a remote URL.
//! - Audit events go to the embedded event store ([`mcp_eventstore`]) before each response
//!   completes; the platform's own audit events reach it through an ingest-compatible endpoint
//!   only this process knows the key of. Analytics, the dashboard and replay read it.
//!
//! Everything lives in the data directory (`--data-dir`), so a restart — or a kill — keeps
//! accounts, teams, keys, grants, sessions and events.

pub mod bootstrap;
pub mod gateways;
pub mod sink;
pub mod supervise;
pub mod upstreams;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{any, post};
use http::Method;
use mcp_platform::{Config, Platform};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use upstreams::Source;

/// How often the gateways are reconciled with the platform's servers (a publish or delete
/// through the API also triggers it at once).
const SYNC_EVERY: Duration = Duration::from_millis(500);

/// Settings of `mcp-runtime dev`.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where everything is kept.
    pub data_dir: PathBuf,
    /// The administrator's password on first start (else one is generated and printed once).
    pub admin_password_file: Option<PathBuf>,
    /// Servers run from the command line, by name.
    pub servers: Vec<(String, Source)>,
}

/// Why `dev` could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// A file or directory of the data directory.
    #[error("{0}")]
    Io(String),
    /// The platform refused to start.
    #[error("platform: {0}")]
    Platform(String),
    /// The first-start setup failed.
    #[error("setting up the demo: {0}")]
    Bootstrap(#[from] bootstrap::BootstrapError),
}

/// What a start prints: where to go and what to try.
#[derive(Debug, Clone)]
pub struct Welcome {
    /// The dashboard and API.
    pub url: String,
    /// The administrator.
    pub admin_email: String,
    /// Their password, on the first start only (never stored).
    pub admin_password: Option<String>,
    /// A session token of the demo agent on the demo server.
    pub demo_token: String,
    /// Time from start to ready.
    pub ready_in: Duration,
}

impl Welcome {
    /// The governed call to copy and paste.
    pub fn curl(&self) -> String {
        format!(
            "curl -s {url}/{server}/mcp -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \
             -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2025-06-18' \
             -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"add\",\"arguments\":{{\"a\":2,\"b\":3}}}}}}'",
            url = self.url,
            server = bootstrap::DEMO_SERVER,
            token = self.demo_token,
        )
    }

    /// The text printed on start.
    pub fn text(&self) -> String {
        let password = match &self.admin_password {
            Some(p) => format!("  password: {p}   (shown once; change it in the dashboard)\n"),
            None => "  password: the one printed on the first start (or --admin-password-file)\n".to_string(),
        };
        format!(
            "MCP Runtime dev is ready in {:.0} ms\n\n\
             Dashboard and API: {url}/\n\
             Sign in:\n  email:    {email}\n{password}\n\
             A governed call (the demo agent calls `add` on the built-in example server):\n\n  {curl}\n\n\
             Try a tool the grant does not allow (e.g. \"name\":\"upper\") to see a denial, then look at\n\
             Analytics in the dashboard. Ctrl-C stops; everything is kept in the data directory.\n",
            self.ready_in.as_secs_f64() * 1000.0,
            url = self.url,
            email = self.admin_email,
            curl = self.curl(),
        )
    }
}

/// State of `GET /api/v1/dev/servers`.
#[derive(Clone)]
struct Processes {
    api: Router,
    supervisor: supervise::Supervisor,
    gateways: Arc<gateways::Gateways>,
}

/// `GET /api/v1/dev/servers` (administrators): the routed servers and the supervised processes
/// (state, pid, restarts, last exit, log file).
async fn dev_servers(
    axum::extract::State(p): axum::extract::State<Processes>,
    headers: http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let (status, me) = bootstrap::api(&p.api, Method::GET, "/api/v1/me", Some(&token), None).await;
    if !status.is_success() {
        return (status, axum::Json(me)).into_response();
    }
    if me["user"]["is_admin"] != true {
        let body = serde_json::json!({"error": {"code": "forbidden", "message": "administrators only"}});
        return (http::StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    axum::Json(serde_json::json!({"routed": p.gateways.names(), "processes": p.supervisor.status()}))
        .into_response()
}

fn io(what: &str, path: &Path, e: std::io::Error) -> DevError {
    DevError::Io(format!("{what} {}: {e}", path.display()))
}

/// The user's default data directory for `dev` (`$XDG_DATA_HOME/mcp-runtime/dev`, else
/// `~/.local/share/mcp-runtime/dev`).
pub fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("mcp-runtime").join("dev")
}

fn create_private_dir(path: &Path) -> Result<(), DevError> {
    std::fs::create_dir_all(path).map_err(|e| io("create", path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io("protect", path, e))?;
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DevError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| io("write", path, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| io("write", path, e))
}

fn random_text(bytes: usize) -> Result<String, DevError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| DevError::Io(format!("random: {e}")))?;
    Ok(hex::encode(buf))
}

/// The platform's settings for a data directory and a public address.
fn platform_config(data_dir: &Path, addr: SocketAddr, ingest_key: &str) -> Result<Config, DevError> {
    let d = |p: &str| data_dir.join(p).display().to_string();
    let env: HashMap<String, String> = [
        ("PLATFORM_LISTEN_ADDR", addr.to_string()),
        ("PLATFORM_DATA_DIR", d("platform")),
        ("PLATFORM_DATABASE_URL", format!("sqlite://{}?mode=rwc", d("platform.db"))),
        ("PLATFORM_RUNTIME", "local".to_string()),
        ("PLATFORM_POLICY_DIR", d("policies")),
        ("PLATFORM_MCP_HOST", addr.to_string()),
        ("PLATFORM_CLUSTER_NAME", "dev".to_string()),
        ("PLATFORM_SHUTDOWN_GRACE_MS", "2000".to_string()),
        ("ANALYTICS_INGEST_URL", format!("http://{addr}/internal/ingest")),
        ("ANALYTICS_API_KEY", ingest_key.to_string()),
        ("AUDIT_SPOOL_DIR", d("spool")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Config::from_source(&env).map_err(|e| DevError::Platform(e.to_string()))
}

/// Starts everything on `listener`, prints the welcome through `announce`, and serves until
/// `shutdown` resolves.
pub async fn run(
    options: DevOptions,
    listener: TcpListener,
    announce: impl FnOnce(&Welcome),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DevError> {
    let started = Instant::now();
    let addr = listener.local_addr().map_err(|e| DevError::Io(format!("listener: {e}")))?;
    let data = options.data_dir.clone();
    create_private_dir(&data)?;
    for sub in ["platform", "policies", "spool", "logs", "secrets"] {
        create_private_dir(&data.join(sub))?;
    }
    let store = mcp_eventstore::EventStore::open(&data.join("events.db"))
        .await
        .map_err(|e| DevError::Io(format!("event store {}: {e}", data.join("events.db").display())))?;
    let ingest_key: Arc<str> = random_text(24)?.into();
    let config = platform_config(&data, addr, &ingest_key)?;
    let platform = Platform::open_parts(config, None, Some(Arc::new(store.clone())))
        .await
        .map_err(|e| DevError::Platform(e.0))?;
    let state = platform.state().clone();
    let api = platform.router();

    // Servers: the built-in example, then what the command line names.
    let stop = CancellationToken::new();
    let example =
        TcpListener::bind("127.0.0.1:0").await.map_err(|e| DevError::Io(format!("example server: {e}")))?;
    let example_url =
        format!("http://{}/mcp", example.local_addr().map_err(|e| DevError::Io(e.to_string()))?);
    let mut example_options =
        mcp_examples::ServeOptions::new("/mcp").map_err(|e| DevError::Io(e.to_string()))?;
    // The copy-paste call is one POST: no MCP session to open first.
    example_options.sessions = false;
    tokio::spawn(mcp_examples::serve(example, example_options, stop.child_token()));
    let upstreams = Arc::new(upstreams::Upstreams::new(example_url));
    let supervisor = supervise::Supervisor::new(data.join("logs"), stop.child_token());
    for (name, source) in &options.servers {
        let url = supervisor.start(name, source).await.map_err(DevError::Io)?;
        upstreams.set(name, url);
    }

    // First start: the administrator, an API key this directory keeps, the demo.
    let key_file = data.join("admin-api-key");
    let mut admin_password = None;
    let key = match std::fs::read_to_string(&key_file) {
        Ok(k) => k.trim().to_string(),
        Err(_) => {
            let password = match &options.admin_password_file {
                Some(p) => std::fs::read_to_string(p).map_err(|e| io("read", p, e))?.trim().to_string(),
                None => random_text(12)?,
            };
            if state
                .store
                .user_by_email(bootstrap::ADMIN_EMAIL)
                .await
                .map_err(|e| DevError::Platform(e.to_string()))?
                .is_none()
            {
                mcp_platform::api::new_user(
                    &state,
                    mcp_platform::api::CreateUser {
                        email: bootstrap::ADMIN_EMAIL.into(),
                        password: Some(password.clone()),
                        display_name: Some("Administrator".into()),
                        kind: None,
                        admin: Some(true),
                    },
                )
                .await
                .map_err(|e| DevError::Platform(format!("create the administrator: {}", e.message)))?;
            }
            let (token, _) = bootstrap::sign_in(&api, &password).await?;
            let (_, created) = bootstrap::api(
                &api,
                Method::POST,
                "/api/v1/api-keys",
                Some(&token),
                Some(serde_json::json!({"name": "mcp-runtime dev"})),
            )
            .await;
            let key = created["key"]
                .as_str()
                .map(String::from)
                .ok_or_else(|| DevError::Platform(format!("create the dev API key: {created}")))?;
            write_private(&key_file, key.as_bytes())?;
            if options.admin_password_file.is_none() {
                admin_password = Some(password);
            }
            key
        }
    };
    if !bootstrap::done(&data) {
        let (_, me) = bootstrap::api(&api, Method::GET, "/api/v1/me", Some(&key), None).await;
        let admin_id = me["id"].as_str().or(me["user"]["id"].as_str()).unwrap_or_default().to_string();
        bootstrap::demo(&api, &data, &key, &admin_id).await?;
    }

    // Gateways, reconciled now and then on every change.
    let sink: Arc<dyn mcp_gateway::audit::AuditSink> = Arc::new(sink::StoreSink::new(store.clone()));
    let gateways = gateways::Gateways::new(data.join("policies"), data.join("secrets"), sink, upstreams);
    gateways.sync(&state).await;
    let syncing = {
        let (gateways, state) = (gateways.clone(), state.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SYNC_EVERY);
            loop {
                tick.tick().await;
                gateways.sync(&state).await;
            }
        })
    };
    let demo_token = bootstrap::demo_token(&api, &key).await?;

    let ingest = sink::Ingest { store: store.clone(), api_key: ingest_key };
    let processes =
        Processes { api: api.clone(), supervisor: supervisor.clone(), gateways: gateways.clone() };
    let router = Router::new()
        .route("/{server}/mcp", any(gateways::route).with_state(gateways.clone()))
        .route("/internal/ingest", post(sink::ingest).with_state(ingest))
        .route("/api/v1/dev/servers", axum::routing::get(dev_servers).with_state(processes))
        .fallback_service(api);
    let welcome = Welcome {
        url: format!("http://{addr}"),
        admin_email: bootstrap::ADMIN_EMAIL.to_string(),
        admin_password,
        demo_token,
        ready_in: started.elapsed(),
    };
    announce(&welcome);
    let served = platform.serve_router(listener, router, shutdown).await;
    syncing.abort();
    stop.cancel();
    supervisor.stop_all().await;
    served.map_err(|e| DevError::Io(format!("serve: {e}")))
}
