//! `mcp-platform`: the service every user goes through — accounts and sign-in (passwords,
//! OpenID Connect, API keys), teams and roles, the signing keys whose JWKS every policy
//! carries, and the store (PostgreSQL in a cluster, SQLite embedded).
//!
//! - [`config`]: settings from the environment, checked before anything binds.
//! - [`store`]: the `sqlx::Any` store with portable, versioned migrations.
//! - [`secrets`]: argon2id passwords, HMAC-keyed storage of API keys and refresh tokens.
//! - [`keys`]: Ed25519 signing keys, JWKS, rotation with overlap.
//! - [`auth`]: client address, access tokens and API keys → [`auth::Principal`].
//! - [`lockout`]: sign-in lockout per account and client address.
//! - [`api`]: the routes ([`api::routes`] is the one table of them).
//! - [`error`]: the single error envelope and its codes.
//! - [`audit`]: platform audit events to ingest, spooled when it is down.
//! - [`oidc`]: OpenID Connect sign-in (authorization code + PKCE, id_token exchange).
//! - [`openapi`]: the OpenAPI 3.1 document of the API.
//! - [`analytics`]: recorded audit events behind the [`analytics::EventStore`] trait
//!   (ClickHouse through `mcp-sentinel`'s queries), admin-wide and team-scoped.
//! - [`replay`]: recorded tool calls judged again under a proposed policy.
//! - [`registry`]: a read-only MCP Registry (v0.1) of the servers each caller may see.
//! - [`registry_auth`]: registry credentials (`mcpr_…`) and the container registry's
//!   forward-auth decision (pull/push by team role).
//! - [`catalog`]: servers and tools, declared against live inventory (drift), connect configs.
//! - [`dashboard`]: the dashboard summary, component health and the platform audit timeline.
//! - [`runtime`]: runtime backends (Local, Kubernetes) behind [`runtime::RuntimeBackend`].
//! - [`ui`]: the web dashboard (server-rendered pages over the API, mounted by [`Platform::router`]).
//!
//! Invariants: authorization is decided on every request from the store (membership, account
//! state, sign-out), never from claims baked into a token; every error is one JSON envelope;
//! a team the caller is not in is answered as if it did not exist.

pub mod analytics;
pub mod api;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod keys;
pub mod lockout;
pub mod oidc;
pub mod openapi;
pub mod registry;
pub mod registry_auth;
pub mod registry_push;
pub mod replay;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router, middleware};

pub use config::{Config, ConfigError, Environment, Source};

/// Shared state of the running service.
#[derive(Debug)]
pub struct AppState {
    /// Settings.
    pub config: Config,
    /// The store.
    pub store: store::Store,
    /// Signing keys.
    pub keys: keys::Keys,
    /// Keyed hash of stored bearer secrets.
    pub hasher: secrets::SecretHasher,
    /// Sign-in lockout.
    pub lockout: lockout::Lockout,
    /// Audit events.
    pub audit: audit::Auditor,
    /// OpenID Connect sign-in, when configured.
    pub oidc: Option<oidc::Oidc>,
    /// Every route (for audit action names).
    pub routes: Vec<api::RouteInfo>,
    /// Where servers, grants and sessions live (`PLATFORM_RUNTIME`).
    pub runtime: Arc<dyn runtime::RuntimeBackend>,
    /// Recorded audit events (analytics, replay), when configured.
    pub events: Option<Arc<dyn analytics::EventStore>>,
}

/// The issuer and public keys of session tokens as gateways get them (every key not retired).
pub fn platform_trust(config: &Config, keys: &keys::Keys) -> mcp_policy::PlatformTrust {
    let jwks = serde_json::from_value(keys.ring().jwks(store::now())).unwrap_or_default();
    mcp_policy::PlatformTrust { issuer: config.issuer.clone(), jwks }
}

/// The service could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// A platform ready to serve.
#[derive(Debug, Clone)]
pub struct Platform {
    state: Arc<AppState>,
}

impl Platform {
    /// Opens the store (applying migrations unless `PLATFORM_AUTO_MIGRATE=false`), the signing
    /// keys, the hashing secret and the runtime backend (`PLATFORM_RUNTIME`), and starts the
    /// audit writer. Call inside a Tokio runtime.
    pub async fn open(config: Config) -> Result<Platform, StartError> {
        Platform::open_with(config, None).await
    }

    /// [`Platform::open`] with a runtime backend given by the caller (the Kubernetes backend,
    /// tests); `None` builds the one `PLATFORM_RUNTIME` names.
    pub async fn open_with(
        config: Config,
        runtime: Option<Arc<dyn runtime::RuntimeBackend>>,
    ) -> Result<Platform, StartError> {
        Platform::open_parts(config, runtime, None).await
    }

    /// [`Platform::open_with`] reading analytics from `events` (an event store the caller
    /// shares with its own writers, as `mcp-runtime dev` does) instead of the configured one.
    pub async fn open_parts(
        config: Config,
        runtime: Option<Arc<dyn runtime::RuntimeBackend>>,
        events: Option<Arc<dyn analytics::EventStore>>,
    ) -> Result<Platform, StartError> {
        let store = store::Store::connect(&config.database_url, config.db_max_connections)
            .await
            .map_err(|e| StartError(format!("store {}: {e}", config::redact_url(&config.database_url))))?;
        if config.auto_migrate {
            let applied = store.migrate().await.map_err(|e| StartError(format!("migrate: {e}")))?;
            if !applied.is_empty() {
                tracing::info!(?applied, backend = store.backend(), "migrations applied");
            }
        } else {
            let v = store.schema_version().await.map_err(|e| StartError(format!("store: {e}")))?;
            if v != store::latest_version() {
                return Err(StartError(format!(
                    "schema version {v}, this binary needs {}: run `mcp-platform migrate`",
                    store::latest_version()
                )));
            }
        }
        let keys = keys::Keys::open(&config.keys_file, store::now())
            .map_err(|e| StartError(format!("signing keys: {e}")))?;
        let hasher = secrets::SecretHasher::load_or_create(&config.secret_file)
            .map_err(|e| StartError(format!("hashing secret: {e}")))?;
        let lockout =
            lockout::Lockout::new(config.lockout_threshold, config.lockout_base, config.lockout_max);
        let oidc = match &config.oidc {
            Some(c) => {
                Some(oidc::Oidc::new(c.clone()).map_err(|e| StartError(format!("OpenID Connect: {e}")))?)
            }
            None => None,
        };
        let audit = audit::Auditor::start(&config.audit);
        let runtime: Arc<dyn runtime::RuntimeBackend> = match (runtime, config.runtime.kind) {
            (Some(r), _) => r,
            (None, config::RuntimeKind::Local) => Arc::new(runtime::local::LocalBackend::new(
                store.clone(),
                runtime::local::LocalSettings::from_config(&config.runtime),
            )),
            (None, config::RuntimeKind::Kubernetes) => Arc::new(
                runtime::kube::KubeBackend::connect(runtime::kube::KubeSettings::from_config(
                    &config.runtime,
                ))
                .await
                .map_err(|e| StartError(format!("PLATFORM_RUNTIME=kubernetes: {e}")))?,
            ),
        };
        runtime.ready().await.map_err(|e| StartError(format!("runtime backend {}: {e}", runtime.kind())))?;
        runtime
            .publish_jwks(&platform_trust(&config, &keys))
            .await
            .map_err(|e| StartError(format!("publish the JWKS: {e}")))?;
        let (_, routes) = api::routes();
        let events = match (&config.clickhouse, &config.events_db) {
            _ if events.is_some() => events,
            (Some(c), _) => Some(Arc::new(mcp_sentinel::Analytics::new(c)) as Arc<dyn analytics::EventStore>),
            (None, Some(path)) => Some(Arc::new(
                mcp_eventstore::EventStore::open(path)
                    .await
                    .map_err(|e| StartError(format!("PLATFORM_EVENTS_DB {}: {e}", path.display())))?,
            ) as Arc<dyn analytics::EventStore>),
            (None, None) => None,
        };
        Ok(Platform {
            state: Arc::new(AppState {
                config,
                store,
                keys,
                hasher,
                lockout,
                audit,
                oidc,
                routes,
                runtime,
                events,
            }),
        })
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The full router: the dashboard's pages ([`ui::mount`]) in front of the API (routes, error
    /// envelope, audit, body limit).
    pub fn router(&self) -> Router {
        ui::mount(self.api_router(), self.state.clone())
    }

    /// The API alone (routes, error envelope, audit, body limit), without the dashboard.
    pub fn api_router(&self) -> Router {
        let (router, _) = api::routes();
        router
            .fallback(|| async { error::ApiError::not_found("no such route") })
            .layer(middleware::from_fn_with_state(self.state.clone(), api::audit_layer))
            .layer(middleware::from_fn(error::refuse_nul))
            .layer(middleware::from_fn(error::envelope_errors))
            .layer(Extension(error::BodyLimit(self.state.config.max_body)))
            .layer(middleware::from_fn(registry::cors))
            .with_state(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then drains requests (up to the grace
    /// period) and the audit queue.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        self.serve_router(listener, router, shutdown).await
    }

    /// [`Platform::serve`] with a router the caller built around [`Platform::router`] (routes
    /// of its own in front of the platform's, as `mcp-runtime dev` mounts its gateways).
    pub async fn serve_router(
        self,
        listener: tokio::net::TcpListener,
        router: Router,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let keys = state.keys.clone();
        let published = state.clone();
        let reload = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut last = platform_trust(&published.config, &keys);
            loop {
                tick.tick().await;
                keys.reload_if_changed();
                // A rotation (or a key retiring) changes the JWKS: publish it to every policy.
                let trust = platform_trust(&published.config, &keys);
                if trust != last {
                    match published.runtime.publish_jwks(&trust).await {
                        Ok(()) => last = trust,
                        Err(err) => tracing::warn!(error = %err, "publishing the JWKS failed; retrying"),
                    }
                }
            }
        });
        let store = state.store.clone();
        let prune = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                if let Err(err) = store.prune_refresh().await {
                    tracing::warn!(error = %err, "pruning expired refresh tokens failed");
                }
            }
        });
        let grace = state.config.shutdown_grace;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        // Streamed answers (the dashboard, `mcp-runtime dev`'s governed routes) end in a small
        // write of their own: without TCP_NODELAY it waits for the peer's delayed ACK (~40 ms).
        use axum::serve::ListenerExt as _;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let mut stop_rx = stop_rx;
        let result = tokio::select! {
            r = server.into_future() => r,
            () = async {
                let _ = stop_rx.wait_for(|s| *s).await;
                tokio::time::sleep(grace).await;
            } => Ok(()),
        };
        reload.abort();
        prune.abort();
        state.audit.shutdown().await;
        state.store.close().await;
        result
    }
}
