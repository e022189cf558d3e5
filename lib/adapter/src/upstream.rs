//! The governed route: one pooled HTTP/1.1 client (HTTPS through rustls with the web PKI
//! roots, or plain HTTP on loopback) to the exact route URL.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Any error a body can fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A request or response body.
pub type Body = BoxBody<Bytes, BoxError>;

/// A complete body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// Why the route could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be opened (refused, unreachable, TLS handshake).
    #[error("cannot connect to the route: {0}")]
    Connect(String),
    /// The connection broke before a response (reset, closed).
    #[error("the route closed the connection: {0}")]
    Reset(String),
    /// No response within the request timeout.
    #[error("no response from the route within {0:?}")]
    Timeout(Duration),
    /// Anything else on the exchange.
    #[error("request to the route failed: {0}")]
    Other(String),
}

impl UpstreamError {
    /// Whether an idempotent request may be sent again (the request never reached the app, or
    /// the connection broke).
    pub fn is_retryable(&self) -> bool {
        matches!(self, UpstreamError::Connect(_) | UpstreamError::Reset(_))
    }
}

/// Settings of the route client.
#[derive(Debug, Clone, Default)]
pub struct UpstreamOptions {
    /// Sent as `Host` instead of the URL's authority.
    pub host_header: Option<String>,
    /// The longest wait for response headers (`None`: unbounded, as SSE streams need).
    pub request_timeout: Option<Duration>,
}

/// The route and its connections.
#[derive(Debug, Clone)]
pub struct Upstream {
    url: Uri,
    host: HeaderValue,
    client: Client<HttpsConnector<HttpConnector>, Body>,
    request_timeout: Option<Duration>,
}

/// Why a route URL is unusable.
#[derive(Debug, thiserror::Error)]
#[error("invalid route URL {url:?}: {reason}")]
pub struct InvalidUrl {
    url: String,
    reason: &'static str,
}

impl Upstream {
    /// A client for the route at `url` (`http://` or `https://`, with a host).
    pub fn new(url: &str, options: &UpstreamOptions) -> Result<Upstream, InvalidUrl> {
        let bad = |reason| InvalidUrl { url: url.to_owned(), reason };
        let parsed: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) {
            return Err(bad("the scheme must be http or https"));
        }
        let authority = parsed.authority().ok_or_else(|| bad("no host"))?;
        let host = match &options.host_header {
            Some(h) => HeaderValue::from_str(h).map_err(|_| bad("the host header is not a header value"))?,
            None => HeaderValue::from_str(authority.as_str()).map_err(|_| bad("bad host"))?,
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(32)
            .build(connector);
        Ok(Upstream { url: parsed, host, client, request_timeout: options.request_timeout })
    }

    /// The route URL.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The route URL with `query` merged into its own query string.
    pub fn target(&self, query: Option<&str>) -> Uri {
        let Some(extra) = query.filter(|q| !q.is_empty()) else {
            return self.url.clone();
        };
        let path = self.url.path();
        let merged = match self.url.query() {
            Some(own) if !own.is_empty() => format!("{path}?{own}&{extra}"),
            _ => format!("{path}?{extra}"),
        };
        let mut parts = self.url.clone().into_parts();
        parts.path_and_query = merged.parse().ok().or(parts.path_and_query);
        Uri::from_parts(parts).unwrap_or_else(|_| self.url.clone())
    }

    /// Sends `req` (its URI is replaced by the route, keeping `query`; `Host` is set) and waits
    /// for the response headers.
    pub async fn send(
        &self,
        mut req: Request<Body>,
        query: Option<&str>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        *req.uri_mut() = self.target(query);
        req.headers_mut().insert(header::HOST, self.host.clone());
        let fut = self.client.request(req);
        let result = match self.request_timeout {
            Some(limit) => {
                tokio::time::timeout(limit, fut).await.map_err(|_| UpstreamError::Timeout(limit))?
            }
            None => fut.await,
        };
        result.map_err(classify)
    }
}

fn classify(e: hyper_util::client::legacy::Error) -> UpstreamError {
    let text = chain(&e);
    if e.is_connect() {
        return UpstreamError::Connect(text);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return UpstreamError::Reset(text);
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled() || h.is_closed())
        {
            return UpstreamError::Reset(text);
        }
        source = s.source();
    }
    UpstreamError::Other(text)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_urls_are_checked_and_queries_merged() {
        let o = UpstreamOptions::default();
        assert!(Upstream::new("ftp://x/mcp", &o).is_err());
        assert!(Upstream::new("/mcp", &o).is_err());
        let u = Upstream::new("http://127.0.0.1:9/srv/mcp", &o).expect("url");
        assert_eq!(u.target(None).to_string(), "http://127.0.0.1:9/srv/mcp");
        assert_eq!(u.target(Some("a=1")).to_string(), "http://127.0.0.1:9/srv/mcp?a=1");
        let u = Upstream::new("https://mcp.example/srv/mcp?tenant=x", &o).expect("url");
        assert_eq!(u.target(Some("a=1")).to_string(), "https://mcp.example/srv/mcp?tenant=x&a=1");
    }

    #[tokio::test]
    async fn a_refused_connection_is_retryable() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let u =
            Upstream::new(&format!("http://127.0.0.1:{port}/mcp"), &UpstreamOptions::default()).expect("url");
        let err = u.send(Request::new(empty()), None).await.expect_err("nothing listens");
        assert!(err.is_retryable(), "{err:?}");
    }
}
