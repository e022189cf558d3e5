//! Respond: the app's answer on its way back.
//!
//! - What already arrived is sent in one write with its length (`gather`); a stream that
//!   pauses is passed on as it comes.
//! - Discovery fails closed: in an exchange that lists tools and on every GET stream (replays
//!   after `Last-Event-ID` included), every message carrying `result.tools` is pinned and
//!   filtered to the caller's tools, whatever its id (so `1`, `1.0` and `1e0` cannot dodge the
//!   filter); a JSON reply that cannot be read becomes a `discovery_unreadable` error, an SSE
//!   event that cannot be read becomes a JSON-RPC error (POST) or is dropped (GET stream).
//! - Ownership: a new `Mcp-Session-Id` from `initialize` and a task created by a `tools/call`
//!   are bound to the caller; a DELETE that ended a session frees it.
//! - Batches: the gateway's errors for refused elements are merged into the app's answer.
//! - A stream answered to an anonymous caller (observe mode) ends after
//!   `ANONYMOUS_STREAM_IDLE_TIMEOUT_MS` without a byte.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use mcp_policy::ToolVisibility;
use serde_json::Value;

use super::Exchange;
use super::forward::{HOP_BY_HOP, Upstream, filtered};
use crate::discovery::{Discovery, FilteredSse, SseFilter};
use crate::error::{Body, GatewayError, Refusal, full, json_response};
use crate::gather::{Gathered, gather};
use crate::server::Gateway;

/// Builds the caller's response from the app's.
pub async fn respond(
    gw: &Gateway,
    upstream: Option<Upstream>,
    ex: &mut Exchange,
) -> Result<Response<Body>, GatewayError> {
    let errors: Vec<Value> = ex
        .refused
        .iter()
        .filter_map(|(i, err)| ex.messages[*i].id.as_ref().map(|id| error_value(err, id)))
        .collect();
    let Some(upstream) = upstream else {
        return Ok(json_response(StatusCode::OK, &Value::Array(errors)));
    };
    let (mut parts, body) = upstream.into_parts();
    if parts.headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        parts.headers = filtered(std::mem::take(&mut parts.headers), 1, |name| HOP_BY_HOP.contains(name));
    }
    record_ownership(gw, &parts, ex);

    let sse = content_type_is(&parts.headers, "text/event-stream");
    let json = content_type_is(&parts.headers, "application/json");
    let discovery = parts.status.is_success() && (ex.lists_tools() || ex.method == Method::GET);
    let tasks = parts.status.is_success() && ex.messages.iter().any(|m| m.is_tool_call() && m.id.is_some());
    let observer = discovery.then(|| {
        let visible = visible(ex);
        let list_id = ex
            .messages
            .iter()
            .find(|m| mcp_protocol::method_class(m.method.as_deref()) == mcp_protocol::MethodClass::Discovery)
            .and_then(|m| m.id.clone());
        Discovery { visible, pins: gw.pins.clone(), list_id, stream: ex.method == Method::GET }
    });
    let tasks = tasks.then(|| (gw.owners.clone(), ex.identity.clone()));
    let head = ex.method == Method::HEAD;

    let body: Body = match gather(body).await {
        Gathered::Complete(bytes) => {
            // Without a list to govern, only a reply that names a task needs reading.
            let tasks =
                tasks.filter(|_| observer.is_some() || memchr::memmem::find(&bytes, b"taskId").is_some());
            let bytes = if json && (observer.is_some() || tasks.is_some()) {
                json_reply(bytes, observer.as_ref(), tasks.as_ref())?
            } else if sse && (observer.is_some() || tasks.is_some()) {
                let mut filter = SseFilter::new(observer, tasks);
                let mut out = filter.push(&bytes).to_vec();
                out.extend_from_slice(&filter.finish());
                Bytes::from(out)
            } else {
                bytes
            };
            let bytes = if errors.is_empty() { bytes } else { merge_json(&bytes, sse, &errors, &mut parts) };
            let bodiless = head || matches!(parts.status.as_u16(), 204 | 304);
            if !bodiless {
                parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            }
            full(bytes)
        }
        Gathered::Streaming(body) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            let mut body: Body = if sse && (observer.is_some() || tasks.is_some()) {
                FilteredSse::new(body, SseFilter::new(observer, tasks)).boxed()
            } else if json && (observer.is_some() || !errors.is_empty()) {
                // A large JSON reply: read whole (bounded by the app) to filter or merge it.
                let bytes = body.collect().await.map_err(|_| Refusal::UpstreamError)?.to_bytes();
                let bytes = json_reply(bytes, observer.as_ref(), tasks.as_ref())?;
                full(if errors.is_empty() { bytes } else { merge_json(&bytes, false, &errors, &mut parts) })
            } else {
                body.boxed()
            };
            if sse && !errors.is_empty() {
                body = crate::discovery::Chain::new(full(sse_events(&errors)), body).boxed();
            }
            if ex.identity == mcp_policy::Identity::default() {
                body = IdleTimeout::new(body, gw.config.limits.anonymous_stream_idle).boxed();
            }
            body
        }
    };
    Ok(Response::from_parts(parts, body))
}

/// The JSON-RPC error of a refused batch element.
fn error_value(err: &GatewayError, id: &Value) -> Value {
    let mut data = serde_json::Map::new();
    if let Some(d) = err.decision() {
        data = d.attribution();
        data.remove("decision");
    }
    let message = match err {
        GatewayError::Denied(d) => d.reason.message(),
        GatewayError::Refused(r) => r.message(),
        GatewayError::Inspection(_) => "the request is not a readable JSON-RPC call",
    };
    mcp_protocol::denial_body(Some(id), message, err.reason(), data)
}

/// Whether the `Content-Type` is `essence` (any case, parameters allowed).
fn content_type_is(headers: &http::HeaderMap, essence: &str) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.len() >= essence.len() && v[..essence.len()].eq_ignore_ascii_case(essence.as_bytes())
    })
}

fn visible(ex: &Exchange) -> ToolVisibility {
    match &ex.active {
        Some(active) => active.snapshot.visible_tools(&ex.identity, jiff::Timestamp::now()),
        None => ToolVisibility::Only(Default::default()),
    }
}

/// Session bindings from the answer's head.
fn record_ownership(gw: &Gateway, parts: &http::response::Parts, ex: &Exchange) {
    if !parts.status.is_success() {
        return;
    }
    let initializing = ex.messages.iter().any(|m| m.method.as_deref() == Some("initialize"));
    if initializing && let Some(id) = parts.headers.get("mcp-session-id").and_then(|v| v.to_str().ok()) {
        gw.owners.bind_session(id.trim(), &ex.identity);
    }
    if ex.method == Method::DELETE
        && let Some(id) = &ex.mcp_session
    {
        gw.owners.end_session(id);
    }
}

/// A complete JSON reply: filtered for discovery (unreadable → `discovery_unreadable`), and
/// the tasks it creates bound to the caller.
fn json_reply(
    bytes: Bytes,
    discovery: Option<&Discovery>,
    tasks: Option<&(Arc<crate::owners::Owners>, mcp_policy::Identity)>,
) -> Result<Bytes, GatewayError> {
    if discovery.is_none() && memchr::memmem::find(&bytes, b"taskId").is_none() {
        return Ok(bytes);
    }
    let mut value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) if discovery.is_some() => return Err(Refusal::DiscoveryUnreadable.into()),
        Err(_) => return Ok(bytes),
    };
    if let Some((owners, who)) = tasks {
        crate::discovery::bind_tasks(&value, owners, who);
    }
    let Some(discovery) = discovery else {
        return Ok(bytes);
    };
    // Re-serialized even when nothing was removed: the client reads exactly what was filtered.
    discovery.filter_all(&mut value);
    Ok(Bytes::from(mcp_protocol::to_bytes(&value)))
}

/// Gateway errors merged into a complete answer: appended to a JSON array, or as SSE events
/// ahead of the app's. An empty answer (202, only notifications forwarded) becomes the array.
fn merge_json(bytes: &Bytes, sse: bool, errors: &[Value], parts: &mut http::response::Parts) -> Bytes {
    if sse {
        let mut out = sse_events(errors).to_vec();
        out.extend_from_slice(bytes);
        return Bytes::from(out);
    }
    let mut answers = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(items)) => items,
        Ok(single) => vec![single],
        Err(_) => Vec::new(),
    };
    answers.extend(errors.iter().cloned());
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if parts.status == StatusCode::ACCEPTED {
        parts.status = StatusCode::OK;
    }
    Bytes::from(mcp_protocol::to_bytes(&Value::Array(answers)))
}

fn sse_events(errors: &[Value]) -> Bytes {
    let mut out = String::new();
    for e in errors {
        out.push_str("event: message\ndata: ");
        out.push_str(&e.to_string());
        out.push_str("\n\n");
    }
    Bytes::from(out)
}

/// A body that ends after `idle` without a frame.
struct IdleTimeout {
    inner: Body,
    idle: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimeout {
    fn new(inner: Body, idle: Duration) -> IdleTimeout {
        IdleTimeout { inner, idle, sleep: Box::pin(tokio::time::sleep(idle)) }
    }
}

impl http_body::Body for IdleTimeout {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let idle = self.idle;
                self.sleep.as_mut().reset(tokio::time::Instant::now() + idle);
                Poll::Ready(frame)
            }
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}
