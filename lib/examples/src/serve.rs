//! Serving [`WorkspaceAssistant`] over Streamable HTTP on a plain hyper HTTP/1.1 server.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::tools::WorkspaceAssistant;

/// Path that answers `GET` with `200 ok` (for readiness probes), outside the MCP endpoint.
pub const HEALTH_PATH: &str = "/healthz";

/// How long [`serve`] waits for open connections after shutdown before it gives up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (for example too many open files) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Which `Host` header values the MCP endpoint accepts (rmcp's DNS-rebinding protection).
/// Other hosts get `403 Forbidden` before the request reaches a tool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedHosts {
    /// rmcp's default: `localhost`, `127.0.0.1` and `::1`, on any port.
    #[default]
    Loopback,
    /// Any host (no check): for a server behind a proxy that keeps the public `Host`.
    Any,
    /// Exactly these hosts or `host:port` authorities.
    List(Vec<String>),
}

/// How [`serve`] exposes the example server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Path of the MCP endpoint, starting with `/` (for example `/mcp`). Other paths get 404.
    pub path: String,
    /// Accepted `Host` headers.
    pub allowed_hosts: AllowedHosts,
    /// Stateful sessions (`Mcp-Session-Id`, GET stream, DELETE) for protocol versions before
    /// 2026-07-28. When false every request is served statelessly.
    pub sessions: bool,
}

impl ServeOptions {
    /// Default options for an endpoint at `path`: loopback hosts, stateful sessions.
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`] unless `path` starts with `/`.
    pub fn new(path: &str) -> io::Result<Self> {
        if !path.starts_with('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("endpoint path must start with '/': {path:?}"),
            ));
        }
        Ok(Self { path: path.to_owned(), allowed_hosts: AllowedHosts::default(), sessions: true })
    }

    fn rmcp_config(&self, cancel: CancellationToken) -> StreamableHttpServerConfig {
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(self.sessions)
            .with_cancellation_token(cancel);
        match &self.allowed_hosts {
            AllowedHosts::Loopback => config,
            AllowedHosts::Any => config.disable_allowed_hosts(),
            AllowedHosts::List(hosts) => config.with_allowed_hosts(hosts.iter().cloned()),
        }
    }
}

/// Serves the example MCP server on `listener` until `shutdown` is cancelled, then stops
/// accepting, ends open SSE streams and waits (at most a few seconds) for connections to close.
///
/// Errors on one connection are logged and never end the server.
pub async fn serve(
    listener: TcpListener,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let tasks = Arc::new(AtomicU64::new(0));
    let sessions = Arc::new(LocalSessionManager::default());
    serve_handler(listener, options, shutdown, sessions, move || {
        Ok(WorkspaceAssistant::with_task_counter(tasks.clone()))
    })
    .await
}

/// Serves the MCP server built by `factory` (one value per session, or per request when
/// stateless) like [`serve`] does, keeping its sessions in `sessions`.
pub(crate) async fn serve_handler<S>(
    listener: TcpListener,
    options: ServeOptions,
    shutdown: CancellationToken,
    sessions: Arc<LocalSessionManager>,
    factory: impl Fn() -> Result<S, io::Error> + Send + Sync + 'static,
) -> io::Result<()>
where
    S: ServerHandler + Send + 'static,
{
    let mcp = StreamableHttpService::new(factory, sessions, options.rmcp_config(shutdown.child_token()));
    let path: Arc<str> = options.path.into();
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // SSE replies go out in several small writes: without TCP_NODELAY, Nagle's algorithm and
        // delayed ACKs add ~40 ms to every call.
        let _ = stream.set_nodelay(true);
        let mcp = mcp.clone();
        let path = path.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let mcp = mcp.clone();
            let path = path.clone();
            async move { Ok::<_, Infallible>(route(&mcp, &path, request).await) }
        });
        let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; leaving them");
        }
    }
    Ok(())
}

type BoxResponse = Response<http_body_util::combinators::BoxBody<hyper::body::Bytes, Infallible>>;

async fn route<S>(
    mcp: &StreamableHttpService<S, LocalSessionManager>,
    path: &str,
    request: Request<Incoming>,
) -> BoxResponse
where
    S: ServerHandler + Send + 'static,
{
    let request_path = request.uri().path();
    if request_path == path {
        let response = mcp.handle(request).await;
        tracing::debug!(status = %response.status(), "mcp request");
        return response;
    }
    if request_path == HEALTH_PATH && request.method() == Method::GET {
        return text_response(StatusCode::OK, "ok\n");
    }
    text_response(StatusCode::NOT_FOUND, "Not Found\n")
}

fn text_response(status: StatusCode, text: &'static str) -> BoxResponse {
    let mut response = Response::new(Full::from(text).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A running example server on loopback, for tests. Dropping it stops the server too (without
/// waiting); [`ExampleServer::shutdown`] stops it and waits.
#[derive(Debug)]
pub struct ExampleServer {
    /// The bound address (`127.0.0.1` and an ephemeral port unless started otherwise).
    pub addr: SocketAddr,
    path: String,
    shutdown: CancellationToken,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl ExampleServer {
    /// Starts the server on `127.0.0.1:0` with its MCP endpoint at `path` (for example `/mcp`)
    /// and default [`ServeOptions`].
    pub async fn start(path: &str) -> io::Result<ExampleServer> {
        Self::start_with(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), ServeOptions::new(path)?).await
    }

    /// Starts the server on `listen` with `options`. Returns once the port is bound.
    pub async fn start_with(listen: SocketAddr, options: ServeOptions) -> io::Result<ExampleServer> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let path = options.path.clone();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, options, shutdown.clone()));
        Ok(ExampleServer { addr, path, shutdown, task: Some(task) })
    }

    /// Starts the conformance fixture ([`crate::ConformanceServer`]) instead of the workspace
    /// assistant, on `listen` with `options`. Returns once the port is bound.
    pub async fn start_conformance(listen: SocketAddr, options: ServeOptions) -> io::Result<ExampleServer> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let path = options.path.clone();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(crate::serve_conformance(listener, options, shutdown.clone()));
        Ok(ExampleServer { addr, path, shutdown, task: Some(task) })
    }

    /// The MCP endpoint, for example `http://127.0.0.1:41234/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    /// The endpoint path, as given at start.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Stops accepting, ends open SSE streams and waits for the server task to finish.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(error = %err, "example server failed"),
                Err(err) => tracing::warn!(error = %err, "example server task failed"),
            }
        }
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves `handler` over standard input and output (newline-delimited JSON-RPC) until the input
/// ends: the example servers as a local stdio MCP server.
pub async fn serve_stdio<S: ServerHandler + Send + 'static>(handler: S) -> io::Result<()> {
    use rmcp::ServiceExt as _;
    let running = handler.serve(rmcp::transport::stdio()).await.map_err(io::Error::other)?;
    running.waiting().await.map(|_| ()).map_err(io::Error::other)
}
