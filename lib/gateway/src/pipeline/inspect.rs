//! Inspect: reads a POST body (at most `MAX_BODY_BYTES` + 1 bytes, within
//! `BODY_READ_TIMEOUT_MS`) and parses it once with `mcp-protocol`. The app later receives the
//! canonical re-serialization of exactly what was judged here (with
//! `Content-Type: application/json`), never the caller's bytes: an app whose JSON reader differs
//! from ours (charsets, duplicate or case-folded keys, number spellings) cannot see a different
//! call. GET and DELETE carry no JSON-RPC message; their bodies are discarded.

use bytes::Bytes;
use http::Method;
use http::request::Parts;
use http_body_util::{BodyExt, Limited};
use mcp_protocol::{InspectError, InspectOptions, RequestHeaders};

use super::Exchange;
use crate::error::{GatewayError, Refusal};
use crate::server::Gateway;

/// Reads and inspects the body of a POST.
pub async fn read<B: super::RequestBody>(
    gw: &Gateway,
    parts: &Parts,
    body: B,
    ex: &mut Exchange,
) -> Result<(), GatewayError> {
    if parts.method != Method::POST {
        drop(body);
        return Ok(());
    }
    // One byte over the limit is enough for `inspect` to say `body_too_large`.
    let limited = Limited::new(body, gw.config.max_body.saturating_add(1)).collect();
    let bytes = match tokio::time::timeout(gw.config.limits.body_read_timeout, limited).await {
        Err(_) => {
            ex.rpc_attempt = true;
            gw.metrics.limit("body_read_timeout");
            return Err(Refusal::BodyTimeout.into());
        }
        Ok(Err(_)) => {
            // Over the limit, or the connection broke: a call that cannot be inspected.
            ex.rpc_attempt = true;
            return Err(GatewayError::Inspection(Box::new(InspectError::BodyTooLarge {
                limit: gw.config.max_body,
            })));
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    ex.bytes_in = bytes.len() as u64;
    inspect_bytes(gw, parts, &bytes, ex)
}

fn inspect_bytes(gw: &Gateway, parts: &Parts, bytes: &Bytes, ex: &mut Exchange) -> Result<(), GatewayError> {
    // Non-ASCII header bytes are passed on (lossily) so `inspect` rejects them instead of
    // treating the header as absent.
    let header = |name: &str| parts.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()));
    let (content_type, version, mcp_method, mcp_name) = (
        header("content-type"),
        header(mcp_protocol::PROTOCOL_VERSION_HEADER),
        header(mcp_protocol::MCP_METHOD_HEADER),
        header(mcp_protocol::MCP_NAME_HEADER),
    );
    ex.protocol_version = version.as_deref().map(str::to_string);
    let headers = RequestHeaders {
        content_type: content_type.as_deref(),
        protocol_version: version.as_deref(),
        mcp_method: mcp_method.as_deref(),
        mcp_name: mcp_name.as_deref(),
    };
    // Batches exist only in 2025-03-26. From 2025-06-18 on, clients send MCP-Protocol-Version
    // on every request after initialize, so a session request without it (or with 2025-03-26)
    // belongs to a session negotiated at 2025-03-26.
    let legacy_session =
        ex.mcp_session.is_some() && version.as_deref().is_none_or(|v| v.trim() == "2025-03-26");
    let opts = InspectOptions { max_body: gw.config.max_body, allow_batch: legacy_session };
    match mcp_protocol::inspect(bytes, &headers, &opts) {
        Ok(inspected) => {
            ex.protocol_version = Some(inspected.version.as_str().to_string());
            ex.batch = inspected.batch;
            ex.body = Bytes::from(inspected.canonical);
            ex.messages = inspected.messages;
            ex.decisions = vec![None; ex.messages.len()];
            ex.rpc_attempt = true;
            record_span(ex);
            Ok(())
        }
        Err(err) => {
            ex.rpc_attempt = err.is_rpc_attempt();
            Err(GatewayError::Inspection(Box::new(err)))
        }
    }
}

/// Names and attributes the request span after the OpenTelemetry MCP conventions.
fn record_span(ex: &Exchange) {
    let Some(first) = ex.messages.first() else { return };
    let span = tracing::Span::current();
    // The span is off at the shipped `info` level: nothing to format then.
    if span.is_disabled() {
        return;
    }
    let method_name = first.method.as_deref().unwrap_or_default();
    match &first.target {
        Some(target) => span.record("otel.name", format!("{method_name} {target}")),
        None => span.record("otel.name", method_name),
    };
    span.record("mcp.method.name", method_name);
    if let Some(tool) = &first.tool {
        span.record("gen_ai.tool.name", tool.as_str());
    }
    if let Some(id) = &first.id {
        span.record("jsonrpc.request.id", tracing::field::display(id));
    }
    if let Some(version) = &ex.protocol_version {
        span.record("mcp.protocol.version", version.as_str());
    }
}
