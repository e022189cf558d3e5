//! Connections to the app, driven by the requests that use them.
//!
//! A pooled HTTP client runs every connection as a task of its own: a request travels to that
//! task through a channel, the response comes back through another, and each chunk of the body
//! through a third, each hop a wake-up. The sidecar talks to exactly one app over loopback, so
//! it keeps its own idle list instead and polls a connection's protocol state machine from the
//! request that holds it: the request is written, the response read and its body decoded within
//! the caller's own polls. A connection belongs to one exchange at a time (HTTP/1.1), goes back
//! to the idle list once its response body has ended, and is closed when the body is dropped
//! unfinished.
//!
//! An idle connection the app has closed is noticed when it is next used: the request was not
//! sent, so it is retried once on a new connection.
//!
//! A remote upstream (`https://`) is reached over TLS (rustls, the Mozilla roots, the URL's
//! host as the server name); the app container on loopback is plain HTTP.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 64;

type Driver = Pin<Box<http1::Connection<TokioIo<Stream>, Full<Bytes>>>>;

/// A connection's byte stream: plain TCP to the app, or TLS to a remote server.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// TLS settings of a remote upstream.
#[derive(Clone)]
pub struct Tls {
    connector: tokio_rustls::TlsConnector,
    server_name: rustls::pki_types::ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

impl Tls {
    /// TLS to `host`, verified against the Mozilla roots (`webpki-roots`) and the PEM
    /// certificates in `extra_ca` (a private CA), HTTP/1.1 only.
    pub fn new(host: &str, extra_ca: Option<&[u8]>) -> Result<Tls, String> {
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(pem) = extra_ca {
            use rustls::pki_types::pem::PemObject as _;
            let mut added = 0;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("UPSTREAM_CA_FILE: {e}"))?;
                roots.add(cert).map_err(|e| format!("UPSTREAM_CA_FILE: {e}"))?;
                added += 1;
            }
            if added == 0 {
                return Err("UPSTREAM_CA_FILE holds no PEM certificate".into());
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = rustls::pki_types::ServerName::try_from(
            host.trim_start_matches('[').trim_end_matches(']').to_string(),
        )
        .map_err(|e| format!("{host}: {e}"))?;
        Ok(Tls { connector: tokio_rustls::TlsConnector::from(Arc::new(config)), server_name })
    }
}

/// One HTTP/1.1 connection to the app: the request side and the protocol state machine.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: Driver,
    /// The state machine finished (closed, or failed): the connection cannot be used again.
    done: bool,
}

impl Conn {
    /// Lets the connection make progress; remembers when it has ended.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if !self.done && self.driver.as_mut().poll(cx).is_ready() {
            self.done = true;
        }
    }
}

/// Why the app could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be opened.
    #[error("connect to {authority}: {source}")]
    Connect {
        /// `host:port` of the app.
        authority: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The exchange failed on the connection.
    #[error("upstream exchange: {0}")]
    Http(#[from] hyper::Error),
}

/// The app's connections.
pub struct Upstreams {
    authority: String,
    tls: Option<Tls>,
    idle: Mutex<Vec<Conn>>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.idle.lock().map(|v| v.len()).unwrap_or_default();
        f.debug_struct("Upstreams").field("authority", &self.authority).field("idle", &idle).finish()
    }
}

impl Upstreams {
    /// Connections to `authority` (`host:port`).
    pub fn new(authority: impl Into<String>) -> Arc<Upstreams> {
        Arc::new(Upstreams { authority: authority.into(), tls: None, idle: Mutex::new(Vec::new()) })
    }

    /// Connections to `authority` over `tls` (a remote upstream).
    pub fn with_tls(authority: impl Into<String>, tls: Tls) -> Arc<Upstreams> {
        Arc::new(Upstreams { authority: authority.into(), tls: Some(tls), idle: Mutex::new(Vec::new()) })
    }

    /// Idle connections right now (for tests and diagnostics).
    pub fn idle(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or_default()
    }

    fn take_idle(&self) -> Option<Conn> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put_back(&self, conn: Conn) {
        if conn.done || conn.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    async fn connect(&self) -> Result<Conn, UpstreamError> {
        let connect_error = |source| UpstreamError::Connect { authority: self.authority.clone(), source };
        let stream = TcpStream::connect(self.authority.as_str()).await.map_err(connect_error)?;
        // Replies are written in small pieces: never let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let stream = match &self.tls {
            None => Stream::Plain(stream),
            Some(tls) => Stream::Tls(Box::new(
                tls.connector.connect(tls.server_name.clone(), stream).await.map_err(connect_error)?,
            )),
        };
        let (sender, driver) = http1::Builder::new().handshake(TokioIo::new(stream)).await?;
        Ok(Conn { sender, driver: Box::pin(driver), done: false })
    }

    /// Sends `req` and returns the response once its head has arrived; the body is read as the
    /// caller polls it.
    pub async fn send(
        self: &Arc<Self>,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let mut req = req;
        // A reused connection may have been closed by the app while idle; a new one is tried
        // once the request is known not to have been sent.
        let mut fresh = false;
        loop {
            let mut conn = match self.take_idle() {
                Some(conn) => conn,
                None => {
                    fresh = true;
                    self.connect().await?
                }
            };
            // Bring the connection up to date (an EOF the app sent while it sat idle), then
            // wait until it takes a request.
            let ready = std::future::poll_fn(|cx| {
                conn.drive(cx);
                match conn.sender.poll_ready(cx) {
                    Poll::Pending if conn.done => Poll::Ready(false),
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(result) => Poll::Ready(result.is_ok()),
                }
            })
            .await;
            if !ready {
                if fresh {
                    return Err(UpstreamError::Connect {
                        authority: self.authority.clone(),
                        source: std::io::Error::new(std::io::ErrorKind::ConnectionReset, "closed before use"),
                    });
                }
                continue;
            }
            let mut response = std::pin::pin!(conn.sender.try_send_request(req));
            let outcome = std::future::poll_fn(|cx| {
                conn.drive(cx);
                response.as_mut().poll(cx)
            })
            .await;
            match outcome {
                Ok(res) => {
                    let (parts, body) = res.into_parts();
                    let body = UpstreamBody { body, conn: Some(conn), upstreams: self.clone() };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut err) => match err.take_message() {
                    Some(unsent) if !fresh => req = unsent,
                    _ => return Err(err.into_error().into()),
                },
            }
        }
    }
}

/// A response body from the app; its connection goes back to the idle list when it ends.
pub struct UpstreamBody {
    body: Incoming,
    conn: Option<Conn>,
    upstreams: Arc<Upstreams>,
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody").field("connected", &self.conn.is_some()).finish()
    }
}

impl UpstreamBody {
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.upstreams.put_back(conn);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        // Read and decode first, so a chunk already on the socket is ready below.
        if let Some(conn) = this.conn.as_mut() {
            conn.drive(cx);
        }
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Err(_))) => this.conn = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // Unfinished: the connection is mid-response and is closed with it.
        if self.body.is_end_stream() {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::BodyExt;
    use hyper::service::service_fn;
    use tokio::net::TcpListener;

    use super::*;

    /// An HTTP/1.1 server answering `/close` with `Connection: close` and anything else with
    /// the path; it counts the connections it accepted.
    async fn server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = service_fn(|req: Request<Incoming>| async move {
                        let mut res = Response::new(Full::new(Bytes::from(req.uri().path().to_string())));
                        if req.uri().path() == "/close" {
                            res.headers_mut()
                                .insert(http::header::CONNECTION, "close".parse().expect("value"));
                        }
                        Ok::<_, Infallible>(res)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, accepted)
    }

    fn get(path: &str) -> Request<Full<Bytes>> {
        Request::builder().uri(path).header("host", "app").body(Full::new(Bytes::new())).expect("request")
    }

    async fn text(upstreams: &Arc<Upstreams>, path: &str) -> String {
        let res = upstreams.send(get(path)).await.expect("response");
        let body = res.into_body().collect().await.expect("body").to_bytes();
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_finished_exchange_leaves_its_connection_for_the_next() {
        let (addr, accepted) = server().await;
        let upstreams = Upstreams::new(addr);
        for i in 0..5 {
            assert_eq!(text(&upstreams, &format!("/{i}")).await, format!("/{i}"));
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(upstreams.idle(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_connection_the_app_closed_is_replaced() {
        let (addr, accepted) = server().await;
        let upstreams = Upstreams::new(addr);
        assert_eq!(text(&upstreams, "/close").await, "/close");
        // Let the app's close reach us; the next call must not fail because of it.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(text(&upstreams, "/after").await, "/after");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_unfinished_body_closes_its_connection() {
        let (addr, accepted) = server().await;
        let upstreams = Upstreams::new(addr);
        let res = upstreams.send(get("/dropped")).await.expect("response");
        drop(res);
        assert_eq!(upstreams.idle(), 0);
        assert_eq!(text(&upstreams, "/next").await, "/next");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn no_app_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        drop(listener);
        let err = Upstreams::new(addr).send(get("/")).await.expect_err("nothing listens");
        assert!(matches!(err, UpstreamError::Connect { .. }), "{err}");
    }
}
