//! Entry point of the `inspect` fuzz target (`fuzz/`) and of the corpus replay test: one
//! function, so the committed corpus is replayed exactly as it was fuzzed.
//!
//! Input format: byte 0 holds flags (bit 0: allow batches, bit 1: a small body limit, bits
//! 2-5: which of content type, protocol version, `Mcp-Method`, `Mcp-Name` are present); then,
//! for each present header, one length byte and that many bytes (lossily UTF-8); the rest is
//! the body. Inputs shorter than that are a body alone.

use crate::{InspectOptions, RequestHeaders, inspect};

/// Runs [`inspect`] on one fuzz input and checks its invariants: no panic; an accepted body's
/// canonical bytes inspect again to the same messages; every failure has a code, a status and
/// (for JSON-RPC attempts) an error body. Panics when an invariant breaks.
pub fn inspect_input(data: &[u8]) {
    let (flags, mut rest) = match data.split_first() {
        Some((flags, rest)) => (*flags, rest),
        None => (0, data),
    };
    let mut fields: [Option<String>; 4] = Default::default();
    for (bit, field) in fields.iter_mut().enumerate() {
        if flags & (1 << (bit + 2)) == 0 {
            continue;
        }
        let Some((&len, tail)) = rest.split_first() else { break };
        let len = usize::from(len).min(tail.len());
        *field = Some(String::from_utf8_lossy(&tail[..len]).into_owned());
        rest = &tail[len..];
    }
    let [content_type, protocol_version, mcp_method, mcp_name] = &fields;
    let headers = RequestHeaders {
        content_type: content_type.as_deref(),
        protocol_version: protocol_version.as_deref(),
        mcp_method: mcp_method.as_deref(),
        mcp_name: mcp_name.as_deref(),
    };
    let max_body = if flags & 2 != 0 { 64 } else { InspectOptions::DEFAULT_MAX_BODY };
    let opts = InspectOptions { max_body, allow_batch: flags & 1 != 0 };
    match inspect(rest, &headers, &opts) {
        Ok(inspected) => {
            assert!(!inspected.messages.is_empty());
            // The canonical form is a fixed point: it inspects to the same messages. It may be
            // a little longer than the body (`1E2` becomes `100.0`), hence no size limit.
            let again =
                inspect(&inspected.canonical, &headers, &InspectOptions { max_body: usize::MAX, ..opts })
                    .unwrap_or_else(|e| panic!("canonical bytes refused: {e}"));
            assert_eq!(again, inspected, "canonical bytes inspect differently");
            for message in &inspected.messages {
                assert!(!message.canonical.is_empty());
                let _ = message.class();
            }
        }
        Err(err) => {
            assert!(!err.code().is_empty());
            assert!(crate::InspectError::CODES.contains(&err.code()));
            assert!(matches!(err.http_status(), 400 | 403));
            assert_eq!(err.to_jsonrpc_error().is_some(), err.is_rpc_attempt());
        }
    }
}
