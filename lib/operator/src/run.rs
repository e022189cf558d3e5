//! Wiring of the operator process: connect to the API (bounded), check the CRDs are
//! installed, serve metrics and probes, serve the admission webhooks, campaign for the leader
//! Lease, run the controller while leading, and shut down gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kube::Client;
use kube::api::{Api, ListParams};
use mcp_api::MCPServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::certs;
use crate::config::OperatorConfig;
use crate::leader::{Elector, LeaseSettings};
use crate::metrics::Metrics;
use crate::pins::{FixedPins, GatewayPins, PinSource};
use crate::status::Pins;

/// Where the webhook serving certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertSource {
    /// Generated at start and shared through a Secret; the CA bundle is patched into the
    /// webhook configurations.
    SelfSigned {
        /// The operator's namespace (Secret and Service live there).
        namespace: String,
        /// Secret holding the generated certificate.
        secret: String,
        /// Service the API server calls the webhooks through.
        service: String,
    },
    /// Mounted from a Secret that cert-manager (or another issuer) maintains; its cainjector
    /// patches the CA bundle.
    Dir(PathBuf),
}

/// Admission webhook settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Listen address (TLS).
    pub addr: SocketAddr,
    /// Certificate source.
    pub certs: CertSource,
    /// Name of the Validating- and MutatingWebhookConfiguration.
    pub configuration: String,
}

/// Everything the process needs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Cluster-level defaults for the objects.
    pub operator: OperatorConfig,
    /// Bound on reaching the API at start.
    pub connect_timeout: Duration,
    /// Listen address of `/metrics`, `/healthz` and `/readyz`.
    pub metrics_addr: SocketAddr,
    /// Leader election (`None`: this replica always reconciles).
    pub leader: Option<LeaseSettings>,
    /// Admission webhooks (`None`: not served).
    pub webhooks: Option<WebhookSettings>,
    /// Read tool pins from the gateways' pods (else ToolsPinned stays Unknown).
    pub pod_pins: bool,
}

/// Why the operator stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No usable Kubernetes configuration (no kubeconfig, not in a cluster).
    #[error("no Kubernetes configuration (not in a cluster and no usable kubeconfig): {0}")]
    Config(String),
    /// The API did not answer.
    #[error("cannot reach the Kubernetes API at {url}: {reason}")]
    Unreachable {
        /// API URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The CRDs are not installed.
    #[error("the MCPServer CRD is not installed; run `kubectl apply -k deploy/base` first ({0})")]
    CrdMissing(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} for {what}: {source}")]
    Bind {
        /// What the listener is for.
        what: &'static str,
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Webhook setup failed.
    #[error("admission webhooks: {0}")]
    Webhooks(String),
    /// This replica lost the leader Lease (it exits so it restarts as a follower).
    #[error("lost the leader lease")]
    LostLease,
}

/// Connects with kube's usual configuration inference (in-cluster service account, else
/// `KUBECONFIG` / `~/.kube/config`) and checks the API answers, all within `timeout`.
pub async fn connect(timeout: Duration) -> Result<Client, RunError> {
    let config = match tokio::time::timeout(timeout, kube::Config::infer()).await {
        Ok(Ok(config)) => config,
        Ok(Err(err)) => return Err(RunError::Config(err.to_string())),
        Err(_) => {
            return Err(RunError::Config(format!("configuration inference timed out after {timeout:?}")));
        }
    };
    connect_with(config, timeout).await
}

/// Builds a client from `config` and checks the API answers within `timeout`.
pub async fn connect_with(mut config: kube::Config, timeout: Duration) -> Result<Client, RunError> {
    let url = config.cluster_url.to_string();
    config.connect_timeout = Some(timeout);
    let client = Client::try_from(config).map_err(|e| RunError::Config(e.to_string()))?;
    match tokio::time::timeout(timeout, client.apiserver_version()).await {
        Ok(Ok(version)) => {
            info!(%url, version = %version.git_version, "connected to the Kubernetes API");
            Ok(client)
        }
        Ok(Err(err)) => Err(RunError::Unreachable { url, reason: error_chain(&err) }),
        Err(_) => Err(RunError::Unreachable { url, reason: format!("no answer within {timeout:?}") }),
    }
}

/// An error and its sources, joined by `: ` (kube's errors keep the useful part, such as
/// "connection refused", in their sources), without repeating a source already shown.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Fails unless the MCPServer CRD is served.
pub async fn check_crds(client: &Client) -> Result<(), RunError> {
    let api: Api<MCPServer> = Api::all(client.clone());
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(RunError::CrdMissing(status.message)),
        Err(err) => Err(RunError::Unreachable { url: "the API".into(), reason: err.to_string() }),
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    res
}

/// Serves `/metrics`, `/healthz` (always ok while the process runs) and `/readyz` (ok once
/// started) until `stop`.
pub async fn serve_probes(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
            () = crate::until(&mut stop, true) => return,
        };
        let (metrics, ready) = (metrics.clone(), ready.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (metrics, ready) = (metrics.clone(), ready.clone());
                async move {
                    let res = match req.uri().path() {
                        "/metrics" => text(
                            StatusCode::OK,
                            metrics.encode(),
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                        "/healthz" => text(StatusCode::OK, "ok", "text/plain"),
                        "/readyz" if ready.load(Ordering::Relaxed) => {
                            text(StatusCode::OK, "ok", "text/plain")
                        }
                        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "starting", "text/plain"),
                        _ => text(StatusCode::NOT_FOUND, "not found", "text/plain"),
                    };
                    Ok::<_, Infallible>(res)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr).await.map_err(|source| RunError::Bind { what, addr, source })
}

async fn start_webhooks(
    client: &Client,
    settings: &WebhookSettings,
    operator: &OperatorConfig,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let certs = match &settings.certs {
        CertSource::Dir(dir) => certs::load_dir(dir).map_err(|e| RunError::Webhooks(e.to_string()))?,
        CertSource::SelfSigned { namespace, secret, service } => {
            let names = certs::dns_names(service, namespace);
            let certs = certs::ensure_secret(client, namespace, secret, &names)
                .await
                .map_err(|e| RunError::Webhooks(e.to_string()))?;
            certs::patch_ca_bundles(client, &settings.configuration, &certs.ca_pem)
                .await
                .map_err(|e| RunError::Webhooks(e.to_string()))?;
            certs
        }
    };
    let tls = certs::server_config(&certs).map_err(|e| RunError::Webhooks(e.to_string()))?;
    let listener = bind("admission webhooks", settings.addr).await?;
    tokio::spawn(crate::webhook::serve(listener, tls, operator.defaulting(), metrics, stop));
    Ok(())
}

/// Runs the operator until `shutdown` resolves (graceful: reconciles in flight finish, the
/// Lease is released) or this replica loses the Lease (an error: the process should exit).
pub async fn run(
    settings: Settings,
    client: Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    check_crds(&client).await?;
    let metrics = Arc::new(Metrics::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let ready = Arc::new(AtomicBool::new(false));
    let probes = bind("metrics and probes", settings.metrics_addr).await?;
    info!(addr = %probes.local_addr().map_or(settings.metrics_addr, |a| a), "metrics and probes listening");
    tokio::spawn(serve_probes(probes, metrics.clone(), ready.clone(), stop_rx.clone()));
    if let Some(webhooks) = &settings.webhooks {
        start_webhooks(&client, webhooks, &settings.operator, metrics.clone(), stop_rx.clone()).await?;
    }
    ready.store(true, Ordering::Relaxed);

    tokio::pin!(shutdown);
    let (leading_tx, mut leading) = watch::channel(settings.leader.is_none());
    // Without election the flag stays true: its sender must live as long as the controller.
    let mut _always_leading = None;
    let elector = match settings.leader.clone() {
        Some(lease) => {
            Some(tokio::spawn(Elector::new(client.clone(), lease).run(leading_tx, stop_rx.clone())))
        }
        None => {
            _always_leading = Some(leading_tx);
            None
        }
    };
    if elector.is_some() {
        info!("waiting to become the leader");
        tokio::select! {
            () = crate::until(&mut leading, true) => {}
            () = &mut shutdown => {
                let _ = stop_tx.send(true);
                if let Some(task) = elector {
                    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
                }
                return Ok(());
            }
        }
    }
    metrics.leader.set(1);

    let (ctl_stop_tx, mut ctl_stop_rx) = watch::channel(false);
    let pins: Arc<dyn PinSource> = if settings.pod_pins {
        Arc::new(GatewayPins::new(client.clone(), Duration::from_secs(2)))
    } else {
        Arc::new(FixedPins(Pins::Unknown))
    };
    let controller = tokio::spawn(crate::controller::run(
        client.clone(),
        settings.operator.clone(),
        metrics.clone(),
        pins,
        async move {
            crate::until(&mut ctl_stop_rx, true).await;
        },
    ));
    let lost = tokio::select! {
        () = &mut shutdown => { info!("shutting down"); false }
        () = crate::until(&mut leading, false) => { warn!("lost the leader lease: stopping the controller"); true }
    };
    let _ = ctl_stop_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(30), controller).await.is_err() {
        warn!("reconciles did not finish within 30 s");
    }
    metrics.leader.set(0);
    let _ = stop_tx.send(true);
    if let Some(task) = elector {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    if lost { Err(RunError::LostLease) } else { Ok(()) }
}
