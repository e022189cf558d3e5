//! Discovery filtering: tool lists shrink to the tools the caller may call, in JSON responses
//! and in SSE streams alike, and fail closed (an unreadable list is never passed on). SSE is
//! filtered event by event as it arrives, so nothing is held back beyond the end of the current
//! event. The same pass binds the tasks a reply creates to the caller.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use mcp_policy::ToolVisibility;
use serde_json::Value;

use crate::owners::Owners;
use crate::pins::ToolPins;
use mcp_policy::Identity;
use std::sync::Arc;

/// How tool lists passing through are governed.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// Which tools the caller may see.
    pub visible: ToolVisibility,
    /// Where tool definitions are pinned (before filtering).
    pub pins: Arc<ToolPins>,
    /// Id of the exchange's `tools/list` request: an SSE event that cannot be read is answered
    /// with an error for it.
    pub list_id: Option<Value>,
    /// A GET stream (server-initiated messages and replays): unreadable events are dropped.
    pub stream: bool,
}

impl Discovery {
    /// Pins the tools of a JSON-RPC message carrying `result.tools` (whatever its id: a list
    /// reply cannot dodge the filter by spelling its id differently), then removes the tools the
    /// caller may not see. Returns whether the message changed.
    pub fn filter(&self, message: &mut Value) -> bool {
        let Some(result) = message.get_mut("result").and_then(Value::as_object_mut) else {
            return false;
        };
        let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) else {
            return false;
        };
        self.pins.observe(tools);
        let before = tools.len();
        let visible = &self.visible;
        tools
            .retain(|tool| tool.get("name").and_then(Value::as_str).is_some_and(|name| visible.allows(name)));
        let mut changed = tools.len() != before;
        // A list filtered for this caller must not be cached for others (2026-07-28 `cacheScope`).
        if *visible != ToolVisibility::All && result.get("cacheScope").is_some_and(|scope| scope != "private")
        {
            result.insert("cacheScope".into(), Value::String("private".into()));
            changed = true;
        }
        changed
    }

    /// Filters a message or every message of a batch.
    pub fn filter_all(&self, value: &mut Value) {
        match value {
            Value::Array(items) => items.iter_mut().for_each(|m| {
                self.filter(m);
            }),
            single => {
                self.filter(single);
            }
        }
    }

    /// The error that replaces a reply the gateway cannot read.
    fn unreadable(&self) -> Value {
        let r = crate::error::Refusal::DiscoveryUnreadable;
        mcp_protocol::denial_body(self.list_id.as_ref(), r.message(), r.code(), serde_json::Map::new())
    }
}

/// A reply that is not readable JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the reply is not readable JSON")]
pub struct Unreadable;

/// Filters a whole JSON body (one message or a batch) and re-serializes it: the client gets
/// exactly what was filtered, never the app's bytes (a reader that takes the first of two
/// duplicate `result` keys would otherwise see a list the filter never saw). `Err` when it
/// cannot be read (the caller answers with an error, never the unfiltered body).
pub fn filter_json_body(body: &[u8], discovery: &Discovery) -> Result<Bytes, Unreadable> {
    let mut value: Value = serde_json::from_slice(body).map_err(|_| Unreadable)?;
    discovery.filter_all(&mut value);
    Ok(Bytes::from(mcp_protocol::to_bytes(&value)))
}

/// Binds every task a reply creates (`result.task.taskId`) to the caller.
pub fn bind_tasks(value: &Value, owners: &Owners, who: &Identity) {
    let mut bind = |m: &Value| {
        if let Some(id) =
            m.get("result").and_then(|r| r.get("task")).and_then(|t| t.get("taskId")).and_then(Value::as_str)
        {
            owners.bind_task(id, who);
        }
    };
    match value {
        Value::Array(items) => items.iter().for_each(&mut bind),
        single => bind(single),
    }
}

/// What an event became.
enum Rewritten {
    Unchanged,
    Replaced(Vec<u8>),
    Dropped,
}

/// Rewrites one SSE event whose data is a message to govern.
fn filter_event(event: &[u8], discovery: Option<&Discovery>, tasks: Option<&Tasks>) -> Rewritten {
    let Ok(text) = std::str::from_utf8(event) else {
        return unreadable(discovery, Vec::new());
    };
    let mut data = String::new();
    let mut has_data = false;
    let mut other = Vec::new();
    for line in sse_lines(text) {
        // A field without a colon has an empty value (`data` alone is a data line).
        let value = if line == "data" { Some("") } else { line.strip_prefix("data:") };
        if let Some(rest) = value {
            if has_data {
                data.push('\n');
            }
            has_data = true;
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        } else if !line.is_empty() {
            other.push(line);
        }
    }
    if !has_data || (discovery.is_none() && !data.contains("taskId")) {
        return Rewritten::Unchanged;
    }
    let mut message: Value = match serde_json::from_str(&data) {
        Ok(m) => m,
        Err(_) if data.trim().is_empty() => return Rewritten::Unchanged,
        Err(_) => return unreadable(discovery, other),
    };
    if let Some((owners, who)) = tasks {
        bind_tasks(&message, owners, who);
    }
    match discovery {
        // Re-serialized even when nothing was removed: the client reads what was filtered.
        Some(d) => {
            d.filter(&mut message);
            Rewritten::Replaced(event_bytes(&other, &message))
        }
        None => Rewritten::Unchanged,
    }
}

/// The lines of an SSE event, split as a WHATWG EventSource splits them: at CRLF, LF or CR.
fn sse_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(end) => {
                let skip = if current[end..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&current[end + skip..]);
                Some(&current[..end])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

fn unreadable(discovery: Option<&Discovery>, other: Vec<&str>) -> Rewritten {
    match discovery {
        None => Rewritten::Unchanged,
        Some(d) if d.stream || d.list_id.is_none() => Rewritten::Dropped,
        Some(d) => Rewritten::Replaced(event_bytes(&other, &d.unreadable())),
    }
}

fn event_bytes(other: &[&str], message: &Value) -> Vec<u8> {
    let mut out = String::new();
    for line in other {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&message.to_string());
    out.push('\n');
    out.into_bytes()
}

/// The task bookkeeping of a reply: where to bind, and to whom.
pub type Tasks = (Arc<Owners>, Identity);

/// The end of the first event in `buf`: `(body_end, next)`, where the event's lines are
/// `buf[..body_end]` and the blank line that ends it stops at `next`. Lines end at CRLF, LF or
/// CR (as a WHATWG EventSource reads them); a CR at the very end waits for the next byte, which
/// may make it a CRLF.
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    let mut i = 0;
    while i < buf.len() {
        let terminator = match buf[i] {
            b'\n' => 1,
            b'\r' => match buf.get(i + 1) {
                None => return None,
                Some(b'\n') => 2,
                Some(_) => 1,
            },
            _ => {
                i += 1;
                continue;
            }
        };
        if i == line_start {
            return Some((line_start, i + terminator));
        }
        i += terminator;
        line_start = i;
    }
    None
}

/// The UTF-8 byte order mark an EventSource skips at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Incremental SSE rewriter.
#[derive(Debug)]
pub struct SseFilter {
    discovery: Option<Discovery>,
    tasks: Option<Tasks>,
    pending: BytesMut,
    /// The start of the stream (and a byte order mark there) has been dealt with.
    started: bool,
}

/// Longest event held while waiting for its end (a stream that never ends an event is cut).
const MAX_EVENT: usize = 8 << 20;

impl SseFilter {
    /// Governs the stream's tool lists and binds the tasks it creates.
    pub fn new(discovery: Option<Discovery>, tasks: Option<Tasks>) -> SseFilter {
        SseFilter { discovery, tasks, pending: BytesMut::new(), started: false }
    }

    /// Feeds a chunk; returns the complete events it finished (rewritten where needed).
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.pending.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        if !self.started {
            // A client skips one byte order mark at the start of the stream: read past it too
            // (and pass it on), so an event behind it is governed like any other.
            if self.pending.len() < BOM.len() && BOM.starts_with(&self.pending) {
                return out.freeze();
            }
            if self.pending.starts_with(BOM) {
                out.extend_from_slice(&self.pending.split_to(BOM.len()));
            }
            self.started = true;
        }
        while let Some((body_end, next)) = event_end(&self.pending) {
            let event = self.pending.split_to(next);
            match filter_event(&event[..body_end], self.discovery.as_ref(), self.tasks.as_ref()) {
                Rewritten::Replaced(rewritten) => {
                    out.extend_from_slice(&rewritten);
                    out.extend_from_slice(b"\n");
                }
                Rewritten::Dropped => {}
                Rewritten::Unchanged => out.extend_from_slice(&event),
            }
        }
        if self.pending.len() > MAX_EVENT && self.discovery.is_some() {
            // An event this large cannot be a list the gateway will filter in time: fail closed.
            self.pending.clear();
        }
        out.freeze()
    }

    /// Whatever is left when the stream ends: an unterminated event is governed like the
    /// others.
    pub fn finish(&mut self) -> Bytes {
        let rest = self.pending.split();
        if rest.is_empty() {
            return rest.freeze();
        }
        match filter_event(&rest, self.discovery.as_ref(), self.tasks.as_ref()) {
            Rewritten::Replaced(rewritten) => Bytes::from(rewritten),
            Rewritten::Dropped => Bytes::new(),
            Rewritten::Unchanged => rest.freeze(),
        }
    }
}

/// A response body passed through an [`SseFilter`].
#[derive(Debug)]
pub struct FilteredSse<B> {
    inner: B,
    filter: SseFilter,
    done: bool,
}

impl<B> FilteredSse<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, filter: SseFilter) -> FilteredSse<B> {
        FilteredSse { inner, filter, done: false }
    }
}

impl<B> Body for FilteredSse<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.done = true;
                    let rest = self.filter.finish();
                    if rest.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let out = self.filter.push(&data);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                        // Mid-event: wait for more.
                    }
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
            }
        }
    }
}

/// Two bodies, one after the other (gateway-made events ahead of an upstream stream).
#[derive(Debug)]
pub struct Chain<A, B> {
    first: Option<A>,
    second: B,
}

impl<A, B> Chain<A, B> {
    /// `first`, then `second`.
    pub fn new(first: A, second: B) -> Chain<A, B> {
        Chain { first: Some(first), second }
    }
}

impl<A, B> Body for Chain<A, B>
where
    A: Body<Data = Bytes, Error = B::Error> + Unpin,
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        if let Some(first) = self.first.as_mut() {
            match Pin::new(first).poll_frame(cx) {
                Poll::Ready(None) => self.first = None,
                other => return other,
            }
        }
        Pin::new(&mut self.second).poll_frame(cx)
    }
}

pub mod fuzz;

#[cfg(test)]
mod tests;
