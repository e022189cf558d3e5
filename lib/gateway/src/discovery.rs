//! Discovery filtering: `tools/list` results shrink to the tools the caller may call, in JSON
//! responses and in SSE streams alike. SSE is filtered event by event as it arrives, so nothing
//! is held back beyond the end of the current event.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use mcp_policy::ToolVisibility;
use serde_json::Value;

use crate::pins::ToolPins;

/// What to do with `tools/list` responses passing through.
#[derive(Debug)]
pub struct ListPolicy<'a> {
    /// Ids of the `tools/list` requests of this exchange.
    pub ids: &'a [Value],
    /// Which tools the caller may see.
    pub visible: &'a ToolVisibility,
    /// Where tool definitions are pinned (before filtering).
    pub pins: &'a ToolPins,
}

/// Pins the tools of a JSON-RPC response to `tools/list` whose id is one of `ids`, then removes
/// the tools `visible` does not allow. Returns whether the message changed. Other messages are
/// left alone.
pub fn filter_message(message: &mut Value, list: &ListPolicy<'_>) -> bool {
    let (ids, visible) = (list.ids, list.visible);
    let Some(obj) = message.as_object_mut() else {
        return false;
    };
    if !obj.get("id").is_some_and(|id| ids.contains(id)) {
        return false;
    }
    let Some(tools) = obj.get_mut("result").and_then(|r| r.get_mut("tools")).and_then(Value::as_array_mut)
    else {
        return false;
    };
    list.pins.observe(tools);
    let before = tools.len();
    tools.retain(|tool| tool.get("name").and_then(Value::as_str).is_some_and(|name| visible.allows(name)));
    let mut changed = tools.len() != before;
    // A list filtered for this caller must not be cached for others (2026-07-28 `cacheScope`).
    if *visible != ToolVisibility::All
        && let Some(result) = obj.get_mut("result").and_then(Value::as_object_mut)
        && result.get("cacheScope").is_some_and(|scope| scope != "private")
    {
        result.insert("cacheScope".into(), Value::String("private".into()));
        changed = true;
    }
    changed
}

/// Filters a whole JSON body (one message or a batch of them).
pub fn filter_json_body(body: &[u8], list: &ListPolicy<'_>) -> Option<Bytes> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let changed = match &mut value {
        Value::Array(items) => items.iter_mut().fold(false, |acc, m| filter_message(m, list) | acc),
        single => filter_message(single, list),
    };
    changed.then(|| Bytes::from(serde_json::to_vec(&value).unwrap_or_default()))
}

/// Rewrites one SSE event if its data is a `tools/list` response to filter.
fn filter_event(event: &[u8], list: &ListPolicy<'_>) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(event).ok()?;
    let mut data = String::new();
    let mut other = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        } else if !line.is_empty() {
            other.push(line);
        }
    }
    let mut message: Value = serde_json::from_str(&data).ok()?;
    if !filter_message(&mut message, list) {
        return None;
    }
    let mut out = String::new();
    for line in other {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&serde_json::to_string(&message).ok()?);
    out.push('\n');
    Some(out.into_bytes())
}

/// Position just past the first blank line (event terminator) in `buf`, if any.
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

/// Incremental SSE rewriter.
#[derive(Debug)]
pub struct SseFilter {
    ids: Vec<Value>,
    visible: ToolVisibility,
    pins: std::sync::Arc<ToolPins>,
    pending: BytesMut,
}

impl SseFilter {
    /// Pins and filters `tools/list` responses with these ids.
    pub fn new(ids: Vec<Value>, visible: ToolVisibility, pins: std::sync::Arc<ToolPins>) -> SseFilter {
        SseFilter { ids, visible, pins, pending: BytesMut::new() }
    }

    /// Feeds a chunk; returns the complete events it finished (rewritten where needed).
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.pending.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        while let Some((body_end, next)) = event_end(&self.pending) {
            let event = self.pending.split_to(next);
            let list = ListPolicy { ids: &self.ids, visible: &self.visible, pins: &self.pins };
            match filter_event(&event[..body_end], &list) {
                Some(rewritten) => {
                    out.extend_from_slice(&rewritten);
                    out.extend_from_slice(b"\n");
                }
                None => out.extend_from_slice(&event),
            }
        }
        out.freeze()
    }

    /// Whatever is left when the stream ends (an unterminated event, passed through as is).
    pub fn finish(&mut self) -> Bytes {
        self.pending.split().freeze()
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

#[cfg(test)]
mod tests;
