//! The `mcp-gateway` sidecar: the only thing between an agent and an MCP server.
//!
//! It owns the HTTP front ([`server`]), caller identity ([`identity`]), the active policy and
//! its hot reload ([`policy_store`]; fed by a watch on the policy ConfigMap through the
//! Kubernetes API, [`configmap`], with the projected file as fallback), discovery filtering
//! ([`discovery`]), tool pinning ([`pins`]) and metrics ([`metrics`]). Decisions themselves come from `mcp-policy`; JSON-RPC inspection from
//! `mcp-protocol`.
//!
//! Invariants:
//! - Fail closed: every request starts `undecided`; any error path denies.
//! - Identity is verified, never taken from client headers (except the explicit
//!   `trusted-headers` mode); identity headers are stripped and re-set; the caller's token never
//!   reaches the app.
//! - The policy snapshot is taken once per request; an invalid policy never replaces the last
//!   good one.
//! - Streaming responses (SSE) pass through without buffering; only `tools/list` events are
//!   rewritten, one event at a time.

pub mod audit;
pub mod config;
pub mod configmap;
pub mod discovery;
pub mod gather;
pub mod identity;
pub mod metrics;
pub mod oauth;
pub mod pins;
pub mod policy_store;
pub mod server;
pub mod upstream;

pub use config::{Config, ConfigError, Environment, Source};
pub use server::{Gateway, serve};
