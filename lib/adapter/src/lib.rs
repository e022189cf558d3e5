//! Agent adapters: let any MCP client reach a governed route without knowing about grants,
//! sessions or tokens.
//!
//! - [`stdio`]: newline-delimited JSON-RPC on stdin/stdout ↔ the route (`mcp-runtime adapter
//!   stdio`), for clients that launch a local command (Claude Desktop, Cursor, VS Code, SDK
//!   stdio clients).
//! - [`proxy`]: a local Streamable HTTP endpoint forwarding to the route (`mcp-runtime adapter
//!   proxy`), for clients that speak HTTP.
//!
//! Both present one identity, a platform session token ([`identity`]) as
//! `Authorization: Bearer` — obtained from the platform (`POST /api/v1/runtime/adapter/sessions`)
//! and refreshed before it expires. Adapters only present identity; the gateway enforces.
//!
//! Invariants:
//! - No identity or credential a local client sends reaches the route ([`headers`]).
//! - The adapter never re-issues a session on its own: a revoke stays a revoke.
//! - Every request takes the identity once; a refresh never changes a call under way.
//! - Input never panics the adapter: every bad line or body is a JSON-RPC error.

pub mod errors;
pub mod headers;
pub mod identity;
pub mod platform;
pub mod proxy;
pub mod sse;
pub mod stdio;
pub mod upstream;

pub use identity::{
    Identity, IdentitySource, RefreshEvent, RefreshingIdentity, SessionIssuer, StaticIdentity,
};
pub use platform::PlatformIssuer;
pub use upstream::{Upstream, UpstreamOptions};
