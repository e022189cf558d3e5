//! The gateway process: shared state, the public listener (the MCP endpoint, `/health` and the
//! RFC 9728 metadata) and the admin listener (`/health`, `/ready`, `/config/status`,
//! `/metrics`), with their connection limits. Requests go through [`crate::pipeline`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use mcp_policy::MemoryBudgets;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::{Instrument, debug, info, warn};

use crate::audit::Auditor;
use crate::config::Config;
use crate::error::{Body, full, json_response};
use crate::metrics::{Metrics, RequestLabels, method_label, status_label};
use crate::owners::Owners;
use crate::pins::ToolPins;
use crate::pipeline::identify::OAuth;
use crate::policy_source::{PolicySource, Reload, ReloadMetrics, Settings};

pub use crate::pipeline::forward::{AGENT_HEADER, HUMAN_HEADER, SESSION_HEADER, TEAM_HEADER};

/// Shared state of a running gateway.
#[derive(Debug)]
pub struct Gateway {
    /// Settings.
    pub config: Config,
    /// The active policy and its sources.
    pub policy: Arc<PolicySource>,
    /// Metrics.
    pub metrics: Metrics,
    pub(crate) budgets: MemoryBudgets,
    /// Tool definition pins.
    pub pins: Arc<ToolPins>,
    /// Owners of MCP sessions and tasks.
    pub owners: Arc<Owners>,
    /// Audit event delivery.
    pub auditor: Auditor,
    /// External issuer discovery and keys (`auth.mode: oauth`).
    pub(crate) oauth: OAuth,
    pub(crate) upstreams: Arc<crate::upstream::Upstreams>,
    /// Requests in flight to the app (`MAX_UPSTREAM_CONNECTIONS`).
    pub(crate) upstream_slots: Semaphore,
    /// `Host` for the app: the authority of `UPSTREAM_URL`.
    pub(crate) upstream_host: Option<HeaderValue>,
    pub(crate) upstream_token: Option<String>,
}

fn text_response(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut res = Response::new(full(text));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    res
}

impl Gateway {
    /// Builds the gateway from validated settings (no I/O besides reading the upstream
    /// credential file).
    pub fn new(config: Config) -> std::io::Result<Arc<Gateway>> {
        Gateway::build(config, None)
    }

    /// [`Gateway::new`] whose audit events go to `sink` (in-process, acknowledged before each
    /// response completes) instead of ingest: the gateways `mcp-runtime dev` embeds.
    pub fn with_audit_sink(
        config: Config,
        sink: Arc<dyn crate::audit::AuditSink>,
    ) -> std::io::Result<Arc<Gateway>> {
        Gateway::build(config, Some(sink))
    }

    fn build(
        config: Config,
        sink: Option<Arc<dyn crate::audit::AuditSink>>,
    ) -> std::io::Result<Arc<Gateway>> {
        let upstream_token = match &config.upstream_token_file {
            Some(path) => Some(std::fs::read_to_string(path)?.trim().to_string()),
            None => None,
        };
        let https = config.upstream.scheme_str() == Some("https");
        let default_port = if https { 443 } else { 80 };
        let authority = config.upstream.authority().map_or_else(
            || format!("127.0.0.1:{default_port}"),
            |a| {
                if a.port().is_some() {
                    a.as_str().to_string()
                } else {
                    format!("{}:{default_port}", a.host())
                }
            },
        );
        let upstreams = if https {
            let host = config.upstream.host().unwrap_or_default();
            let ca = match &config.upstream_ca_file {
                Some(path) => Some(std::fs::read(path)?),
                None => None,
            };
            let tls = crate::upstream::Tls::new(host, ca.as_deref()).map_err(std::io::Error::other)?;
            crate::upstream::Upstreams::with_tls(authority, tls)
        } else {
            crate::upstream::Upstreams::new(authority)
        };
        let upstream_host = config.upstream.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok());
        let metrics = Metrics::new();
        let auditor = match sink {
            Some(sink) => Auditor::with_sink(sink, &config.audit, metrics.audit.clone()),
            None => Auditor::start(config.audit.clone(), metrics.audit.clone()),
        };
        let policy = Arc::new(PolicySource::new(Settings::from_config(&config), ReloadMetrics::of(&metrics)));
        Ok(Arc::new(Gateway {
            upstream_slots: Semaphore::new(config.limits.max_upstream_connections),
            config,
            policy,
            metrics,
            auditor,
            oauth: OAuth::new(),
            budgets: MemoryBudgets::new(),
            pins: Arc::default(),
            owners: Arc::default(),
            upstreams,
            upstream_host,
            upstream_token,
        }))
    }

    /// Loads the policy file once (see [`PolicySource::reload`]).
    pub async fn reload(&self) -> Reload {
        self.policy.reload().await
    }

    /// Answers one request on the public listener; never fails (errors become responses).
    pub async fn handle<B: crate::pipeline::RequestBody>(
        &self,
        req: Request<B>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let started = Instant::now();
        self.metrics.inflight.inc();
        let method = req.method().clone();
        // Named and attributed after the OpenTelemetry MCP conventions once the message is read.
        // Debug level: at the shipped `info` level the span costs nothing per request.
        let span = tracing::debug_span!(
            "mcp.request",
            otel.name = tracing::field::Empty,
            http.request.method = %method,
            mcp.method.name = tracing::field::Empty,
            gen_ai.tool.name = tracing::field::Empty,
            jsonrpc.request.id = tracing::field::Empty,
            mcp.protocol.version = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        );
        let (res, rpc_method, decision) = self.route(req, peer).instrument(span.clone()).await;
        span.record("http.response.status_code", res.status().as_u16());
        self.metrics.inflight.dec();
        self.metrics.duration.observe(started.elapsed().as_secs_f64());
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                method: method_label(&method),
                rpc_method,
                decision,
                status: status_label(res.status().as_u16()),
            })
            .inc();
        res
    }

    async fn route<B: crate::pipeline::RequestBody>(
        &self,
        req: Request<B>,
        peer: SocketAddr,
    ) -> (Response<Body>, &'static str, &'static str) {
        let path = req.uri().path();
        if req.method() == Method::GET && path == "/health" {
            return (text_response(StatusCode::OK, "ok"), "none", "none");
        }
        if path.starts_with("/.well-known/oauth-protected-resource") {
            return (self.resource_metadata(req.method()), "none", "none");
        }
        let (res, ex) = crate::pipeline::run(self, req, peer).await;
        let rpc_method = ex.rpc_label();
        // The decision comes from the outcome, not from the HTTP status.
        let decision = if ex.error.is_some() { "deny" } else { "allow" };
        (crate::pipeline::audit::finish(self, ex, res), rpc_method, decision)
    }

    /// Answers one request on the admin listener.
    pub fn admin(&self, req: &Request<Incoming>) -> Response<Body> {
        if req.method() != Method::GET {
            return json_response(StatusCode::METHOD_NOT_ALLOWED, &json!({"error": "method_not_allowed"}));
        }
        match req.uri().path() {
            "/health" => text_response(StatusCode::OK, "ok"),
            "/ready" => {
                let status = self.policy.store.status();
                if status.ready {
                    text_response(StatusCode::OK, "ready")
                } else {
                    let body = json!({
                        "status": "not_ready",
                        "reason": "policy_not_loaded",
                        "last_reload_error": status.last_reload_error,
                    });
                    json_response(StatusCode::SERVICE_UNAVAILABLE, &body)
                }
            }
            "/config/status" => {
                let mut status = serde_json::to_value(self.policy.store.status()).unwrap_or_default();
                let pins: serde_json::Map<String, Value> = self
                    .pins
                    .snapshot()
                    .into_iter()
                    .map(|(name, pin)| {
                        let drifted = pin.drifted();
                        (name, json!({"pinned": pin.pinned, "current": pin.current, "drifted": drifted}))
                    })
                    .collect();
                status["tool_pins"] = Value::Object(pins);
                json_response(StatusCode::OK, &status)
            }
            "/metrics" => {
                self.metrics.tools_drifted.set(self.pins.drifted_count() as i64);
                let mut res = Response::new(full(self.metrics.encode()));
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                );
                res
            }
            _ => json_response(StatusCode::NOT_FOUND, &json!({"error": "not_found"})),
        }
    }

    /// RFC 9728 protected-resource metadata (OAuth mode), else a pointer to the adapter.
    fn resource_metadata(&self, method: &Method) -> Response<Body> {
        let active = self.policy.store.current();
        let doc = active.as_ref().map(|a| a.snapshot.document());
        let Some(doc) = doc.filter(|d| d.auth.mode == mcp_api::AuthMode::Oauth) else {
            let body = json!({
                "error": "oauth_not_enabled",
                "message": "this server does not use OAuth: connect through an MCP Runtime adapter",
                "adapter_required": true,
            });
            return json_response(StatusCode::NOT_FOUND, &body);
        };
        if method != Method::GET && method != Method::HEAD {
            return json_response(StatusCode::METHOD_NOT_ALLOWED, &json!({"error": "method_not_allowed"}));
        }
        let resource = if doc.auth.audience.is_empty() { &doc.server.url } else { &doc.auth.audience };
        let mut body = json!({
            "resource": resource,
            "authorization_servers": [doc.auth.issuer_url],
            "bearer_methods_supported": ["header"],
        });
        if !doc.auth.scopes.is_empty() {
            body["scopes_supported"] = json!(doc.auth.scopes);
        }
        json_response(StatusCode::OK, &body)
    }
}

/// Which listener a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listener {
    Public,
    Admin,
}

/// Serves the public listener (and the admin listener, when given) until `shutdown` resolves,
/// then drains in-flight requests for up to the grace period.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    admin: Option<TcpListener>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(gateway.policy.clone().run(stop_rx.clone()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(gateway.config.limits.max_connections));
    tokio::pin!(shutdown);
    let header_timeout = gateway.config.limits.header_read_timeout;
    loop {
        // At most MAX_CONNECTIONS public connections are served; more wait in the backlog. The
        // admin listener (probes, scrapes) is never starved by them.
        let public = async {
            let permit = connections.clone().acquire_owned().await;
            (permit.ok(), listener.accept().await)
        };
        let (permit, accepted, which) = tokio::select! {
            (permit, accepted) = public => (permit, accepted, Listener::Public),
            accepted = accept(admin.as_ref()) => (None, accepted, Listener::Admin),
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(err) => {
                warn!(error = %err, "accept failed");
                continue;
            }
        };
        if which == Listener::Public && connections.available_permits() == 0 {
            gateway.metrics.limit("max_connections");
        }
        // Streamed replies are written in small pieces: never let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let served = gateway.clone();
        let service = hyper::service::service_fn(move |req| {
            let gateway = served.clone();
            async move {
                Ok::<_, Infallible>(match which {
                    Listener::Public => gateway.handle(req, peer).await,
                    Listener::Admin => gateway.admin(&req),
                })
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let metrics = gateway.clone();
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                if err.is_timeout() {
                    metrics.metrics.limit("header_read_timeout");
                }
                debug!(%peer, error = %err, "connection closed with an error");
            }
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    drop(listener);
    drop(admin);
    info!("shutting down: draining in-flight requests");
    if tokio::time::timeout(gateway.config.shutdown_grace, graceful.shutdown()).await.is_err() {
        warn!("grace period over; closing remaining connections");
    }
    gateway.auditor.shutdown().await;
    Ok(())
}

async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Binds the configured address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
