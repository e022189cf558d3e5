//! The `mcp-gateway` sidecar: the only thing between an agent and an MCP server.
//!
//! A request flows one way through the phases of [`pipeline`] (guard → inspect → identify →
//! authorize → forward → respond → audit); every refusal is an [`error::GatewayError`]. Around it:
//! the listeners and shared state ([`server`]), the policy source ([`policy_source`]: snapshot
//! store, file and ConfigMap watches, reload bookkeeping), discovery filtering ([`discovery`]),
//! tool pinning ([`pins`]), session and task ownership ([`owners`]), upstream connections
//! ([`upstream`], [`gather`]), the audit writer ([`audit`]) and metrics ([`metrics`]).
//! Decisions themselves come from `mcp-policy`; JSON-RPC inspection from `mcp-protocol`.
//!
//! Invariants:
//! - Fail closed: no policy, no forwarding; any error path denies.
//! - Enforcing mode: every request on the MCP endpoint has a verified identity; every method
//!   is judged by the policy.
//! - Identity is verified, never taken from client headers (except the explicit
//!   `trusted-headers` mode, from trusted proxies only); identity-shaped headers are stripped and
//!   the gateway's own set; the caller's token never reaches the app.
//! - The app receives the canonical re-serialization of what was judged.
//! - The policy snapshot is taken once per request; an invalid policy never replaces the last
//!   good one.
//! - Streaming responses (SSE) pass through without buffering; only events carrying tool
//!   lists are rewritten, one event at a time.

pub mod audit;
pub mod config;
pub mod discovery;
pub mod error;
pub mod gather;
pub mod metrics;
pub mod owners;
pub mod pins;
pub mod pipeline;
pub mod policy_source;
pub mod server;
pub mod upstream;

pub use config::{Config, ConfigError, Environment, Source};
pub use server::{Gateway, serve};
