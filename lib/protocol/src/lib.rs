//! JSON-RPC/MCP inspection: the first stage of the gateway pipeline. Every `POST` body is read
//! here before anything is authorized, for both MCP spec eras: the sessionful Streamable HTTP
//! era (`2024-11-05` … `2025-11-25`) and the stateless era (`2026-07-28`).
//!
//! - [`inspect`] turns a body plus the mirrored MCP request headers into [`Inspected`] messages
//!   (kind, raw `id`, method, tool name and arguments, resource URI or prompt name, progress
//!   token, per-request protocol version) or a typed [`InspectError`].
//! - [`InspectError`] carries a stable code, the HTTP status the gateway answers with, whether
//!   the request counts as a JSON-RPC attempt (only attempts are audited) and the JSON-RPC error
//!   code where one applies.
//! - [`ProtocolVersion`] resolves the `MCP-Protocol-Version` header and tells which [`Era`] a
//!   version belongs to.
//! - [`error_response`] and [`denial_body`] build the JSON-RPC error bodies the gateway sends;
//!   [`method_label`] bounds the `rpc_method` metric label.
//!
//! Invariants:
//! - Pure: no I/O, no async, no clock, no HTTP library. Headers arrive as plain `Option<&str>`.
//!   This crate must never depend on tokio, hyper or http crates.
//! - Never panics, whatever the bytes and header strings (a property test checks it).
//! - Fails closed: anything that cannot be read unambiguously is an error, never a guess.
//!   Duplicate object keys are rejected (parsers disagree on which one wins), ids must be a
//!   string or a number, and a mirrored header that is present must agree with the body in
//!   every era, so a component that authorizes on headers cannot be fooled.
//! - An accepted message keeps its `id` exactly as sent, so error bodies can echo it.

mod error;
mod fold;
mod header;
mod inspect;
mod jsonrpc;
mod method;
mod version;

pub use error::InspectError;
pub use fold::fold_key;
pub use header::{
    MCP_METHOD_HEADER, MCP_NAME_HEADER, MalformedHeaderValue, PROTOCOL_VERSION_HEADER, decode_header_value,
};
pub use inspect::{InspectOptions, Inspected, Message, MessageKind, RequestHeaders, inspect};
pub use jsonrpc::{ErrorCode, denial_body, error_response, error_response_bytes, to_bytes};
pub use method::{METHOD_LABELS, MethodClass, method_class, method_label};
pub use version::{Era, ProtocolVersion};

#[cfg(test)]
mod tests;
