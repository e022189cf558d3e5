//! Tests of inspection (a failure table and a success table for both eras), the mirrored
//! headers and their base64 sentinel, the error bodies, the metric label, and properties
//! (never panics, ids round-trip).

mod errors;
mod failures;
mod headers;
mod props;
mod successes;

use crate::{InspectError, InspectOptions, Inspected, RequestHeaders, inspect};

/// The stateless-era version string.
pub(crate) const MODERN: &str = "2026-07-28";

/// A JSON content type and nothing else: a sessionful request with the assumed version.
pub(crate) fn json() -> RequestHeaders<'static> {
    RequestHeaders { content_type: Some("application/json"), ..RequestHeaders::default() }
}

/// A stateless-era request with the given mirrored headers.
pub(crate) fn modern<'a>(method: Option<&'a str>, name: Option<&'a str>) -> RequestHeaders<'a> {
    RequestHeaders {
        content_type: Some("application/json"),
        protocol_version: Some(MODERN),
        mcp_method: method,
        mcp_name: name,
    }
}

/// Default options, batches as given.
pub(crate) fn opts(allow_batch: bool) -> InspectOptions {
    InspectOptions { allow_batch, ..InspectOptions::default() }
}

/// Inspects `body` with default options.
pub(crate) fn run(body: &str, headers: RequestHeaders<'_>) -> Result<Inspected, InspectError> {
    inspect(body.as_bytes(), &headers, &InspectOptions::default())
}
