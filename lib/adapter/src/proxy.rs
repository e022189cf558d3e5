//! `adapter proxy`: a local Streamable HTTP endpoint that forwards every request to the
//! governed route with the adapter's token.
//!
//! - Any local path is the route (the path is not appended; query strings are merged);
//!   `/healthz`, `/livez`, `/readyz` answer 204.
//! - `POST`, `GET` (the SSE stream) and `DELETE` (end the session) are forwarded; responses,
//!   SSE included, are streamed back frame by frame as they arrive.
//! - Every credential or identity header of the local client is dropped ([`crate::headers`])
//!   and `Authorization: Bearer <adapter token>` added; the token is taken once per request.
//! - A `POST` body over the limit is refused with 413 and a JSON-RPC error body before anything
//!   is sent; a route that cannot be reached is a 502 (504 on the request timeout) with a
//!   JSON-RPC error carrying the request's id.
//! - A refusal that means the session is over (`401`/`404` whose JSON-RPC error names
//!   `session_expired` or `session_not_found`, or a `404` to a request that carried an
//!   `Mcp-Session-Id`) gets `error.data.runtime_status = "session_expired"`, so a client knows
//!   to initialize again; every other answer passes unchanged.
//! - There is no local client authentication: on loopback (the default) a request whose `Host`
//!   is not a loopback name or whose `Origin` is not a loopback origin is refused with 403
//!   (DNS-rebinding and cross-site protection: a web page must not borrow the token).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::errors::{self, error_response};
use crate::headers::{forwarded_request_headers, forwarded_response_headers};
use crate::identity::IdentitySource;
use crate::upstream::{Body, Upstream, UpstreamError, empty, full};

/// Default `--max-inbound-bytes`: 16 MiB.
pub const DEFAULT_MAX_INBOUND_BYTES: usize = 16 << 20;

/// How the proxy serves.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Refuse a request body larger than this (bytes).
    pub max_inbound_bytes: usize,
    /// Accept non-loopback `Host`/`Origin` (only with a non-loopback `--listen`).
    pub allow_remote: bool,
    /// Close a connection whose request headers take longer than this.
    pub header_read_timeout: Duration,
    /// How long open streams may drain after a shutdown request.
    pub shutdown_grace: Duration,
}

impl Default for ProxyOptions {
    fn default() -> ProxyOptions {
        ProxyOptions {
            max_inbound_bytes: DEFAULT_MAX_INBOUND_BYTES,
            allow_remote: false,
            header_read_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Why the proxy cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// `--listen` is not a loopback address and `--allow-remote` was not given.
    #[error(
        "refusing to listen on {0}: the proxy adds its token to every request it receives, so it \
         listens on loopback only (pass --allow-remote to override)"
    )]
    NotLoopback(SocketAddr),
}

/// Checks the listen address against the loopback rule.
pub fn check_listen(addr: SocketAddr, allow_remote: bool) -> Result<(), ProxyError> {
    if addr.ip().is_loopback() || allow_remote { Ok(()) } else { Err(ProxyError::NotLoopback(addr)) }
}

/// The proxy: the route, the identity and the options.
#[derive(Debug)]
pub struct Proxy {
    upstream: Upstream,
    identity: Arc<dyn IdentitySource>,
    options: ProxyOptions,
}

fn json_reply(status: StatusCode, body: &Value) -> Response<Body> {
    let mut res = Response::new(full(serde_json::to_vec(body).unwrap_or_default()));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn status_only(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(empty());
    *res.status_mut() = status;
    res
}

/// The `id` of a single JSON-RPC request in `body`, for error replies.
fn request_id(body: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("id").filter(|id| id.is_string() || id.is_number()).cloned()
}

/// Whether `host` (a `Host` header or an origin's host, with or without a port) names
/// loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':')
            .map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host })
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_loopback_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else { return false };
    matches!(scheme, "http" | "https") && is_loopback_host(rest.split('/').next().unwrap_or_default())
}

impl Proxy {
    /// A proxy to `upstream` presenting `identity`.
    pub fn new(upstream: Upstream, identity: Arc<dyn IdentitySource>, options: ProxyOptions) -> Proxy {
        Proxy { upstream, identity, options }
    }

    /// Answers one local request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        if matches!(req.uri().path(), "/healthz" | "/livez" | "/readyz") {
            return status_only(StatusCode::NO_CONTENT);
        }
        if !self.options.allow_remote {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
            if host.is_some_and(|h| !is_loopback_host(h)) {
                return refused(StatusCode::FORBIDDEN, "host_not_allowed", "the Host is not a loopback name");
            }
            let origin = req.headers().get(header::ORIGIN).and_then(|h| h.to_str().ok());
            if origin.is_some_and(|o| !is_loopback_origin(o)) {
                return refused(
                    StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    "the Origin is not a loopback origin",
                );
            }
        }
        let method = req.method().clone();
        if !matches!(method, Method::POST | Method::GET | Method::DELETE) {
            let mut res =
                refused(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST, GET or DELETE");
            res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST, GET, DELETE"));
            return res;
        }
        let (parts, body) = req.into_parts();
        let limit = self.options.max_inbound_bytes;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return too_large(limit);
        }
        let bytes = match http_body_util::Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                return too_large(limit);
            }
            Err(e) => {
                return json_reply(
                    StatusCode::BAD_REQUEST,
                    &error_response(
                        None,
                        errors::PARSE_ERROR,
                        "cannot read the request body",
                        Some(json!({"detail": e.to_string()})),
                    ),
                );
            }
        };
        let id = if method == Method::POST { request_id(&bytes) } else { None };
        let mut out = Request::new(if bytes.is_empty() { empty() } else { full(bytes) });
        *out.method_mut() = method;
        *out.headers_mut() = forwarded_request_headers(&parts.headers);
        let identity = self.identity.current();
        match HeaderValue::from_str(&identity.bearer()) {
            Ok(v) => {
                out.headers_mut().insert(header::AUTHORIZATION, v);
            }
            Err(_) => {
                return json_reply(
                    StatusCode::BAD_GATEWAY,
                    &errors::upstream_failure(id.as_ref(), "the adapter's token is not a header value"),
                );
            }
        }
        let had_session = parts.headers.contains_key("mcp-session-id");
        match self.upstream.send(out, parts.uri.query()).await {
            Ok(res) if matches!(res.status().as_u16(), 401 | 404) && is_json(res.headers()) => {
                mark_session_over(res, had_session).await
            }
            Ok(res) => {
                let (parts, body) = res.into_parts();
                let mut reply =
                    Response::new(body.map_err(|e| Box::new(e) as crate::upstream::BoxError).boxed());
                *reply.status_mut() = parts.status;
                *reply.headers_mut() = forwarded_response_headers(&parts.headers);
                reply
            }
            Err(e @ UpstreamError::Timeout(_)) => json_reply(
                StatusCode::GATEWAY_TIMEOUT,
                &errors::upstream_failure(id.as_ref(), &e.to_string()),
            ),
            Err(e) => {
                json_reply(StatusCode::BAD_GATEWAY, &errors::upstream_failure(id.as_ref(), &e.to_string()))
            }
        }
    }
}

/// Largest refusal body the proxy reads to mark it (refusals are small; a bigger one passes as is).
const MAX_REFUSAL_BYTES: usize = 64 << 10;

fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"))
}

/// Whether a refusal body says the session is over.
fn session_over(body: &Value, status: u16, had_session: bool) -> bool {
    let reason = body["error"]["data"]["reason"].as_str().or_else(|| body["error"].as_str());
    matches!(reason, Some("session_expired" | "session_not_found")) || (status == 404 && had_session)
}

/// A `401`/`404` JSON answer, with `error.data.runtime_status = "session_expired"` added when it
/// says the session is over (see the module docs); unchanged otherwise.
async fn mark_session_over(res: Response<Incoming>, had_session: bool) -> Response<Body> {
    let (mut parts, body) = res.into_parts();
    let status = parts.status.as_u16();
    parts.headers = forwarded_response_headers(&parts.headers);
    let bytes = match http_body_util::Limited::new(body, MAX_REFUSAL_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return json_reply(StatusCode::BAD_GATEWAY, &errors::upstream_failure(None, &e.to_string()));
        }
    };
    let mut out = bytes.clone();
    if let Ok(mut value) = serde_json::from_slice::<Value>(&bytes)
        && value["error"].is_object()
        && session_over(&value, status, had_session)
    {
        if !value["error"]["data"].is_object() {
            value["error"]["data"] = json!({});
        }
        value["error"]["data"]["runtime_status"] = json!("session_expired");
        out = Bytes::from(value.to_string());
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    Response::from_parts(parts, full(out))
}

fn refused(status: StatusCode, reason: &str, message: &str) -> Response<Body> {
    json_reply(status, &error_response(None, errors::ADAPTER_ERROR, message, Some(json!({"reason": reason}))))
}

fn too_large(limit: usize) -> Response<Body> {
    json_reply(
        StatusCode::PAYLOAD_TOO_LARGE,
        &error_response(
            None,
            errors::PARSE_ERROR,
            "request body too large",
            Some(json!({"reason": "body_too_large", "limit": limit})),
        ),
    )
}

/// Serves `proxy` on `listener` until `shutdown` resolves, then lets open exchanges (SSE
/// streams included) drain for the grace period.
pub async fn serve(
    proxy: Arc<Proxy>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let header_timeout = proxy.options.header_read_timeout;
    let grace = proxy.options.shutdown_grace;
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let served = proxy.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let proxy = served.clone();
            async move { Ok::<_, Infallible>(proxy.handle(req).await) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Identity, StaticIdentity};

    fn proxy(port: u16, max: usize) -> Proxy {
        let upstream =
            Upstream::new(&format!("http://127.0.0.1:{port}/mcp"), &Default::default()).expect("url");
        Proxy::new(
            upstream,
            Arc::new(StaticIdentity::new(Identity::fixed("tok"))),
            ProxyOptions { max_inbound_bytes: max, ..ProxyOptions::default() },
        )
    }

    fn post(body: &str) -> Request<http_body_util::Full<Bytes>> {
        Request::builder()
            .method(Method::POST)
            .uri("/mcp")
            .header("host", "127.0.0.1:8099")
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(Bytes::from(body.to_owned())))
            .expect("request")
    }

    async fn body_json(res: Response<Body>) -> Value {
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        serde_json::from_slice(&bytes).expect("json")
    }

    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }

    /// A route that answers every request with `status` and the JSON `body`, one per connection.
    async fn route_answering(status: u16, body: &'static str) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 65536];
                let _ = stream.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn a_refusal_that_ends_the_session_is_marked_and_others_pass_unchanged() {
        let expired = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"m","data":{"reason":"session_expired"}}}"#;
        let p = proxy(route_answering(401, expired).await, 1 << 20);
        let res = p.handle(post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let v = body_json(res).await;
        assert_eq!(v["error"]["data"]["runtime_status"], "session_expired");
        assert_eq!(v["error"]["data"]["reason"], "session_expired");

        // A 404 to a request with an MCP session: the session was forgotten.
        let gone = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"unknown session"}}"#;
        let p = proxy(route_answering(404, gone).await, 1 << 20);
        let mut req = post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        req.headers_mut().insert("mcp-session-id", HeaderValue::from_static("s1"));
        let v = body_json(p.handle(req).await).await;
        assert_eq!(v["error"]["data"]["runtime_status"], "session_expired");

        // Any other denial passes as the gateway wrote it.
        let denied = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"m","data":{"reason":"session_revoked"}}}"#;
        let p = proxy(route_answering(401, denied).await, 1 << 20);
        let res = p.handle(post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#)).await;
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(bytes, Bytes::from_static(denied.as_bytes()));
    }

    #[tokio::test]
    async fn health_endpoints_answer_204_without_the_route() {
        let p = proxy(closed_port(), 10);
        for path in ["/healthz", "/livez", "/readyz"] {
            let req = Request::get(path).body(http_body_util::Empty::<Bytes>::new()).expect("req");
            assert_eq!(p.handle(req).await.status(), StatusCode::NO_CONTENT);
        }
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_413_with_a_json_rpc_error() {
        let p = proxy(closed_port(), 16);
        let res = p.handle(post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)).await;
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let v = body_json(res).await;
        assert_eq!(v["error"]["code"], -32700);
        assert_eq!(v["error"]["data"]["limit"], 16);
        // Without a Content-Length (chunked), the limit still holds.
        let chunked = Request::builder()
            .method(Method::POST)
            .uri("/mcp")
            .body(http_body_util::StreamBody::new(futures_like_stream()))
            .expect("req");
        assert_eq!(p.handle(chunked).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    fn futures_like_stream()
    -> impl futures::Stream<Item = Result<http_body::Frame<Bytes>, std::io::Error>> + Send + 'static {
        futures::stream::iter(vec![
            Ok(http_body::Frame::data(Bytes::from_static(b"0123456789"))),
            Ok(http_body::Frame::data(Bytes::from_static(b"0123456789"))),
        ])
    }

    #[tokio::test]
    async fn an_unreachable_route_is_502_with_the_request_id() {
        let p = proxy(closed_port(), 1024);
        let res = p.handle(post(r#"{"jsonrpc":"2.0","id":"x","method":"ping"}"#)).await;
        assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
        let v = body_json(res).await;
        assert_eq!(v["id"], "x");
        assert_eq!(v["error"]["code"], -32000);
        assert_eq!(v["error"]["data"]["reason"], "upstream_unavailable");
    }

    #[tokio::test]
    async fn foreign_hosts_and_origins_are_refused_on_loopback() {
        let p = proxy(closed_port(), 1024);
        let mut req = post("{}");
        req.headers_mut().insert("host", HeaderValue::from_static("evil.example:8099"));
        assert_eq!(p.handle(req).await.status(), StatusCode::FORBIDDEN);
        let mut req = post("{}");
        req.headers_mut().insert("origin", HeaderValue::from_static("https://evil.example"));
        assert_eq!(p.handle(req).await.status(), StatusCode::FORBIDDEN);
        let req = Request::put("/mcp").body(http_body_util::Empty::<Bytes>::new()).expect("req");
        assert_eq!(p.handle(req).await.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn loopback_names() {
        for h in
            ["localhost", "localhost:8099", "127.0.0.1", "127.0.0.1:1", "[::1]:8099", "[::1]", "a.localhost"]
        {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["evil.example", "10.0.0.1:80", "localhost.evil.example", "[2001:db8::1]:80"] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert!(is_loopback_origin("http://localhost:3000"));
        assert!(!is_loopback_origin("null"));
        assert!(!is_loopback_origin("https://evil.example"));
        assert!(check_listen("127.0.0.1:1".parse().expect("addr"), false).is_ok());
        assert!(check_listen("0.0.0.0:1".parse().expect("addr"), false).is_err());
        assert!(check_listen("0.0.0.0:1".parse().expect("addr"), true).is_ok());
    }
}
