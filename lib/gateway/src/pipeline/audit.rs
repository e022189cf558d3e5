//! Audit: the exchange's records, emitted once, when the response body ends (so `bytes_out` and
//! `is_error` are known) or is dropped unfinished.
//!
//! No identity is exempt. One request yields a bounded number of records: one for a single
//! message; for a batch, one per element with an id (at most [`MAX_BATCH_RECORDS`]) and one for
//! all of its notifications and any elements beyond that bound. Refused requests are audited
//! whenever they were JSON-RPC attempts or carried an identity-relevant refusal.

use bytes::Bytes;
use http::Response;
use mcp_events::AuditPayload;
use mcp_policy::Decision;

use super::Exchange;
use crate::audit::Auditor;
use crate::error::{Body, GatewayError};
use crate::server::Gateway;
use http_body_util::BodyExt;

/// Most records one batch yields individually.
pub const MAX_BATCH_RECORDS: usize = 64;

/// Records the exchange: attaches its audit records to the response body.
pub fn finish(gw: &Gateway, ex: Exchange, res: Response<Body>) -> Response<Body> {
    if !gw.auditor.enabled() || !(ex.rpc_attempt || ex.error.is_some()) {
        return res;
    }
    let status = res.status().as_u16();
    let watch_errors = status == 200 && !ex.batch && ex.messages.first().is_some_and(|m| m.is_tool_call());
    let records = records(&ex, status);
    let (parts, body) = res.into_parts();
    let records = records
        .into_iter()
        .map(|payload| Record { gateway_payload: payload, auditor: gw.auditor.clone() })
        .collect();
    Response::from_parts(parts, AuditedBody::new(body, records, watch_errors).boxed())
}

fn records(ex: &Exchange, status: u16) -> Vec<AuditPayload> {
    if !ex.batch {
        let decision = match &ex.error {
            Some(err) => Outcome::Refused(err),
            None => ex
                .decisions
                .iter()
                .flatten()
                .find(|d| d.required_trust.is_some())
                .or(ex.decisions.first().and_then(Option::as_ref))
                .map_or(Outcome::None, Outcome::Decided),
        };
        return vec![payload(ex, 0, status, decision)];
    }
    if let Some(err) = &ex.error {
        return vec![payload(ex, 0, status, Outcome::Refused(err))];
    }
    let mut out = Vec::new();
    let mut rest: Option<usize> = None;
    for (i, m) in ex.messages.iter().enumerate() {
        if m.id.is_none() || out.len() >= MAX_BATCH_RECORDS {
            rest.get_or_insert(i);
            continue;
        }
        let refused = ex.refused.iter().find(|(r, _)| *r == i).map(|(_, e)| e);
        let outcome = match (refused, &ex.decisions[i]) {
            (Some(err), _) => Outcome::Refused(err),
            (None, Some(d)) => Outcome::Decided(d),
            (None, None) => Outcome::None,
        };
        let element_status =
            if refused.is_some() { refused.map_or(status, |e| e.status().as_u16()) } else { status };
        out.push(payload(ex, i, element_status, outcome));
    }
    if let Some(i) = rest {
        // Notifications and elements past the bound: one record, of the first of them.
        let refused = ex.refused.iter().find(|(r, _)| *r == i).map(|(_, e)| e);
        let outcome = match (refused, &ex.decisions[i]) {
            (Some(err), _) => Outcome::Refused(err),
            (None, Some(d)) => Outcome::Decided(d),
            (None, None) => Outcome::None,
        };
        out.push(payload(ex, i, status, outcome));
    }
    out
}

enum Outcome<'a> {
    None,
    Decided(&'a Decision),
    Refused(&'a GatewayError),
}

/// The audit payload of message `i` of an exchange.
fn payload(ex: &Exchange, i: usize, status: u16, outcome: Outcome<'_>) -> AuditPayload {
    let mut p = match outcome {
        Outcome::Decided(d) => crate::audit::decision_payload(d),
        Outcome::Refused(err) => match err.decision() {
            Some(d) => crate::audit::decision_payload(d),
            None => AuditPayload {
                decision: "deny".into(),
                reason: err.reason().into(),
                ..AuditPayload::default()
            },
        },
        Outcome::None => AuditPayload {
            decision: if status < 400 { "allow" } else { "deny" }.into(),
            reason: if status < 400 { "allowed" } else { "undecided" }.into(),
            ..AuditPayload::default()
        },
    };
    // The server block of the snapshot this request was decided with, not a newer one.
    if let Some(active) = &ex.active {
        let doc = active.snapshot.document();
        let server = &doc.server;
        p.server.clone_from(&server.name);
        p.namespace.clone_from(&server.namespace);
        p.team_id.clone_from(&server.team_id);
        p.cluster.clone_from(&server.cluster);
        if p.policy_version.is_empty() {
            p.policy_version.clone_from(&doc.policy.policy_version);
        }
    }
    p.method = ex.method.as_str().to_string();
    p.path.clone_from(&ex.path);
    p.status = status;
    p.latency_ms = ex.started.elapsed().as_secs_f64() * 1000.0;
    p.bytes_in = ex.bytes_in;
    p.human_id.clone_from(&ex.identity.human);
    p.agent_id.clone_from(&ex.identity.agent);
    p.subject_team_id.clone_from(&ex.identity.team);
    p.session_id.clone_from(&ex.identity.session);
    if let Some(m) = ex.messages.get(i) {
        p.rpc_method.clone_from(&m.method);
        p.tool_name.clone_from(&m.tool);
        p.jsonrpc_id.clone_from(&m.id);
    }
    p.protocol_version.clone_from(&ex.protocol_version);
    if ex.batch {
        p.batch = Some(true);
    }
    if let Some(GatewayError::Inspection(e)) = &ex.error {
        p.inspection_error = Some(e.code().to_string());
        if p.jsonrpc_id.is_none() {
            p.jsonrpc_id = e.request_id().cloned();
        }
    }
    p
}

/// An audit event waiting for its response to finish.
#[derive(Debug)]
struct Record {
    gateway_payload: AuditPayload,
    auditor: Auditor,
}

/// A response body that counts what it sends, notices a tool result flagged `isError: true`,
/// and records the exchange's audit event exactly once: at the end of the body, or when the
/// body is dropped unfinished (client gone).
struct AuditedBody {
    inner: Body,
    /// Acknowledgements to wait for before the last frame (embedded sink only).
    commit: Option<tokio::sync::oneshot::Receiver<()>>,
    /// What to answer once `commit` resolves: the held-back last frame, or the end.
    held: Option<Option<Result<http_body::Frame<Bytes>, hyper::Error>>>,
    records: Vec<Record>,
    bytes_out: u64,
    watch_errors: bool,
    is_error: bool,
    /// Bytes of `IS_ERROR` matched so far.
    matched: usize,
}

impl std::fmt::Debug for AuditedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditedBody").field("bytes_out", &self.bytes_out).finish_non_exhaustive()
    }
}

const IS_ERROR: &[u8] = b"\"isError\":true";
const IS_ERROR_KEY: &[u8] = b"\"isError\"";

impl AuditedBody {
    fn new(inner: Body, records: Vec<Record>, watch_errors: bool) -> AuditedBody {
        AuditedBody {
            inner,
            commit: None,
            held: None,
            records,
            bytes_out: 0,
            watch_errors,
            is_error: false,
            matched: 0,
        }
    }

    /// Looks for `"isError":true` (whitespace between tokens ignored) in the response stream:
    /// `memmem` finds the key, a byte-wise matcher checks what follows it, and a partial match
    /// is carried across chunk boundaries. No copies.
    fn scan(&mut self, data: &[u8]) {
        if !self.watch_errors || self.is_error {
            return;
        }
        let mut rest = data;
        loop {
            if self.matched > 0 {
                match self.continue_match(rest) {
                    Some(at) => rest = &rest[at..],
                    None => return,
                }
            }
            match memchr::memmem::find(rest, IS_ERROR_KEY) {
                Some(pos) => {
                    self.matched = IS_ERROR_KEY.len();
                    rest = &rest[pos + IS_ERROR_KEY.len()..];
                }
                None => {
                    // The chunk may end inside the key (which holds no whitespace).
                    let tail = &rest[rest.len().saturating_sub(IS_ERROR_KEY.len() - 1)..];
                    self.matched = (1..=tail.len())
                        .rev()
                        .find(|&n| IS_ERROR_KEY.starts_with(&tail[tail.len() - n..]))
                        .unwrap_or(0);
                    return;
                }
            }
        }
    }

    /// Matches `data` against the rest of `IS_ERROR` from `self.matched`. `None`: the chunk was
    /// used up (or the flag found); `Some(i)`: the match failed at byte `i`, search again there.
    fn continue_match(&mut self, data: &[u8]) -> Option<usize> {
        for (i, &b) in data.iter().enumerate() {
            if b.is_ascii_whitespace() && self.matched >= IS_ERROR_KEY.len() {
                continue;
            }
            if b == IS_ERROR[self.matched] {
                self.matched += 1;
                if self.matched == IS_ERROR.len() {
                    self.is_error = true;
                    return None;
                }
            } else {
                self.matched = 0;
                return Some(i);
            }
        }
        None
    }

    fn emit(&mut self) {
        for mut record in std::mem::take(&mut self.records) {
            record.gateway_payload.bytes_out = self.bytes_out;
            if self.watch_errors {
                record.gateway_payload.is_error = Some(self.is_error);
            }
            record.auditor.record(record.gateway_payload);
        }
    }

    /// Records every event and returns the acknowledgements to wait for (none unless an
    /// embedded sink is configured).
    fn emit_acked(&mut self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let mut waits = Vec::new();
        for mut record in std::mem::take(&mut self.records) {
            record.gateway_payload.bytes_out = self.bytes_out;
            if self.watch_errors {
                record.gateway_payload.is_error = Some(self.is_error);
            }
            waits.extend(record.auditor.record_acked(record.gateway_payload));
        }
        if waits.is_empty() {
            return None;
        }
        let (done, wait) = tokio::sync::oneshot::channel();
        let rt = tokio::runtime::Handle::try_current().ok()?;
        rt.spawn(async move {
            futures::future::join_all(waits).await;
            let _ = done.send(());
        });
        Some(wait)
    }
}

impl http_body::Body for AuditedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        use std::task::Poll;
        if let Some(commit) = self.commit.as_mut() {
            // A lost acknowledgement (the writer task ended) ends the wait as well.
            let _ = std::task::ready!(std::pin::Pin::new(commit).poll(cx));
            self.commit = None;
            return Poll::Ready(self.held.take().flatten());
        }
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let data = data.clone();
                    self.bytes_out += data.len() as u64;
                    self.scan(&data);
                }
                // The last frame of a body that knows its end (a known length) completes the
                // answer for the client: it waits for the events' acknowledgement.
                if !self.records.is_empty()
                    && self.inner.is_end_stream()
                    && let Some(commit) = self.emit_acked()
                {
                    self.commit = Some(commit);
                    self.held = Some(Some(Ok(frame)));
                    return self.poll_frame(cx);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => match self.emit_acked() {
                Some(commit) => {
                    self.commit = Some(commit);
                    self.held = Some(None);
                    self.poll_frame(cx)
                }
                None => Poll::Ready(None),
            },
            Poll::Ready(Some(Err(e))) => {
                self.emit();
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.commit.is_none() && self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let mut hint = self.inner.size_hint();
        if let Some(Some(Ok(frame))) = &self.held {
            let held = frame.data_ref().map_or(0, |d| d.len() as u64);
            hint = http_body::SizeHint::with_exact(hint.exact().unwrap_or(0) + held);
        }
        hint
    }
}

impl Drop for AuditedBody {
    fn drop(&mut self) {
        self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn scanned(chunks: &[&str]) -> bool {
        let empty: Body = Full::new(Bytes::new()).map_err(|never| match never {}).boxed();
        let mut body = AuditedBody::new(empty, Vec::new(), true);
        for chunk in chunks {
            body.scan(chunk.as_bytes());
        }
        body.is_error
    }

    #[test]
    fn is_error_is_found_across_chunks_and_whitespace() {
        assert!(scanned(&[r#"{"result":{"content":[],"isError":true}}"#]));
        assert!(scanned(&[r#"{"result":{"isErr"#, r#"or" :  "#, "\n tr", "ue}}"]));
        assert!(scanned(&["data: {\"result\":{\"isError\":\n", "true}}\n\n"]));
        assert!(!scanned(&[r#"{"result":{"isError":false}}"#]));
        assert!(!scanned(&[r#"{"result":{"text":"isError true"}}"#]));
        assert!(!scanned(&[r#"{"result":{"isError""#, r#":false,"x":true}}"#]));
        assert!(scanned(&[r#"{"a":"isErr", "#, r#""b":1,"isE"#, r#"rror":"#, "true}"]));
        assert!(scanned(&["\"", "i", "s", "E", "r", "r", "o", "r", "\"", ":", " ", "t", "r", "u", "e"]));
        assert!(!scanned(&[r#"{"isErr"#, r#" or":true}"#]));
        assert!(scanned(&[r#"{"isError":fals, "isError":true}"#]));
    }
}
