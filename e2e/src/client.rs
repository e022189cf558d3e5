//! A small HTTP/1.1 client for the scenarios: raw requests (any method, headers, fixed or
//! chunked bodies) and the MCP exchange a client makes (`initialize`,
//! `notifications/initialized`, one request), reading JSON or SSE answers.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// Protocol version the harness speaks.
pub const PROTOCOL_VERSION: &str = "2025-06-18";
const TIMEOUT: Duration = Duration::from_secs(15);

/// A request body: whole (with `Content-Length`) or in chunks (chunked encoding).
#[derive(Debug, Default)]
pub struct Body {
    chunks: VecDeque<Bytes>,
    known_length: bool,
}

impl Body {
    fn whole(data: Bytes) -> Body {
        Body { chunks: VecDeque::from([data]), known_length: true }
    }

    fn chunked(data: Bytes) -> Body {
        let mid = data.len() / 2;
        Body { chunks: VecDeque::from([data.slice(..mid), data.slice(mid..)]), known_length: false }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.chunks.pop_front().map(|c| Ok(http_body::Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        if self.known_length {
            http_body::SizeHint::with_exact(self.chunks.iter().map(|c| c.len() as u64).sum())
        } else {
            http_body::SizeHint::default()
        }
    }
}

/// An answer: status, headers, body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Whole body.
    pub body: Bytes,
}

impl Answer {
    /// The JSON-RPC messages of the body (one JSON object or array, or SSE `data:` events).
    pub fn messages(&self) -> Vec<Value> {
        let sse = self
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut out = Vec::new();
        if sse {
            for event in String::from_utf8_lossy(&self.body).split("\n\n") {
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|l| l.strip_prefix(' ').unwrap_or(l))
                    .collect();
                if let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) {
                    out.push(v);
                }
            }
        } else if let Ok(v) = serde_json::from_slice::<Value>(&self.body) {
            match v {
                Value::Array(items) => out.extend(items),
                other => out.push(other),
            }
        }
        out
    }

    /// The answer to request `id`, if the body has one.
    pub fn reply(&self, id: i64) -> Option<Value> {
        self.messages().into_iter().find(|m| m["id"] == json!(id))
    }

    /// The denial reason: `error.data.reason` of a JSON-RPC error, or `error` of a plain one.
    pub fn reason(&self) -> Option<String> {
        for m in self.messages() {
            if let Some(r) = m["error"]["data"]["reason"].as_str() {
                return Some(r.to_string());
            }
            if let Some(r) = m["error"].as_str() {
                return Some(r.to_string());
            }
        }
        None
    }

    /// The body, shortened for reports.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if text.chars().count() > 300 {
            format!("{}…", text.chars().take(300).collect::<String>())
        } else {
            text.into()
        }
    }
}

/// The HTTP client.
#[derive(Clone)]
pub struct Client {
    inner: HyperClient<HttpConnector, Body>,
}

impl Client {
    /// A client with keep-alive connections.
    pub fn new() -> Client {
        Client { inner: HyperClient::builder(TokioExecutor::new()).build(HttpConnector::new()) }
    }

    /// A client for load: requests one after the other reuse one keep-alive connection
    /// (`TCP_NODELAY`, at most one idle connection kept).
    pub fn keep_alive() -> Client {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Client {
            inner: HyperClient::builder(TokioExecutor::new()).pool_max_idle_per_host(1).build(connector),
        }
    }

    /// One request.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<&str>,
        chunked: bool,
    ) -> Result<Answer> {
        let mut req = Request::builder().method(Method::from_bytes(method.as_bytes())?).uri(url);
        for (name, value) in headers {
            req = req.header(HeaderName::from_bytes(name.as_bytes())?, HeaderValue::from_str(value)?);
        }
        let data = Bytes::from(body.unwrap_or_default().to_string());
        let body = match (body, chunked) {
            (None, _) => Body::default(),
            (Some(_), false) => Body::whole(data),
            (Some(_), true) => Body::chunked(data),
        };
        let req = req.body(body)?;
        let res = tokio::time::timeout(TIMEOUT, self.inner.request(req))
            .await
            .with_context(|| format!("{method} {url}: no answer within {TIMEOUT:?}"))?
            .with_context(|| format!("{method} {url}"))?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = tokio::time::timeout(TIMEOUT, res.into_body().collect())
            .await
            .with_context(|| format!("{method} {url}: body not finished within {TIMEOUT:?}"))?
            .with_context(|| format!("{method} {url}: body"))?
            .to_bytes();
        Ok(Answer { status, headers, body })
    }

    /// GET, for probes: status and body.
    pub async fn get(&self, url: &str) -> Result<(u16, Bytes)> {
        let a = self.send("GET", url, &[], None, false).await?;
        Ok((a.status, a.body))
    }

    /// An MCP session on `url` (`initialize` + `notifications/initialized`), then `method` with
    /// `params` as request id 2. Returns the answer to that request, or the refusal of
    /// `initialize` when it is refused with an HTTP error.
    pub async fn mcp_request(
        &self,
        url: &str,
        token: Option<&str>,
        extra: &[(String, String)],
        method: &str,
        params: Value,
    ) -> Result<Answer> {
        self.mcp_request_with_id(url, token, extra, method, params, json!(2)).await
    }

    /// [`Client::mcp_request`] with the request id `id` (any JSON value, written as given).
    pub async fn mcp_request_with_id(
        &self,
        url: &str,
        token: Option<&str>,
        extra: &[(String, String)],
        method: &str,
        params: Value,
        id: Value,
    ) -> Result<Answer> {
        let headers = match self.open_session(url, token, extra).await? {
            Ok(headers) => headers,
            Err(refused) => return Ok(refused),
        };
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send("POST", url, &headers, Some(&request.to_string()), false).await
    }

    /// Opens an MCP session on `url` (`initialize` + `notifications/initialized`). Returns the
    /// headers every later request of the session carries (token, session id, protocol
    /// version), or the answer that refused `initialize` with an HTTP error.
    pub async fn open_session(
        &self,
        url: &str,
        token: Option<&str>,
        extra: &[(String, String)],
    ) -> Result<std::result::Result<Vec<(String, String)>, Answer>> {
        let mut headers: Vec<(String, String)> = vec![
            ("content-type".into(), "application/json".into()),
            ("accept".into(), "application/json, text/event-stream".into()),
        ];
        if let Some(token) = token {
            headers.push(("authorization".into(), format!("Bearer {token}")));
        }
        headers.extend(extra.iter().cloned());
        let init = json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                       "clientInfo": {"name": "mcp-e2e", "version": env!("CARGO_PKG_VERSION")}},
        });
        let answer = self.send("POST", url, &headers, Some(&init.to_string()), false).await?;
        if answer.status != 200 {
            // Refused before any session exists (e.g. an invalid token): that is the answer.
            return Ok(Err(answer));
        }
        if answer.reply(1).is_none_or(|r| r.get("result").is_none()) {
            bail!("initialize failed: HTTP {} {}", answer.status, answer.excerpt());
        }
        if let Some(session) = answer.headers.get("mcp-session-id").and_then(|v| v.to_str().ok()) {
            headers.push(("mcp-session-id".into(), session.to_string()));
        }
        headers.push(("mcp-protocol-version".into(), PROTOCOL_VERSION.into()));
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let answer = self.send("POST", url, &headers, Some(&initialized.to_string()), false).await?;
        if answer.status >= 300 {
            bail!("notifications/initialized failed: HTTP {} {}", answer.status, answer.excerpt());
        }
        Ok(Ok(headers))
    }
}
