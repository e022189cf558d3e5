//! Test fixtures for MCP Runtime: the example MCP servers (re-exported from the product crate
//! `mcp-examples`, so tests keep their paths), and the helpers tests use to run them.
//!
//! - [`ExampleServer`] runs the workspace-assistant server ([`WorkspaceAssistant`]) over
//!   Streamable HTTP on an ephemeral loopback port, so tests can run in parallel; [`serve`]
//!   is the same server on a listener the caller binds (the `mcp-example-server` binary).
//! - The tools are the reference's workspace-assistant set ([`TOOL_NAMES`]): `aaa-ping`, `echo`,
//!   `add`, `upper`, `lower`, `create_task`, `draft_release_note`, `slugify`, plus `progress`
//!   (sends `notifications/progress`) and `debug_headers` (echoes the HTTP request headers the
//!   server received, so spoofing tests can see what reached the app).
//! - [`platform::SigningKey`] mints platform session tokens (Ed25519) and their JWK.
//! - [`services`] starts real servers for the analytics pipeline tests: the `tansu` Kafka-protocol
//!   broker and ClickHouse, on free loopback ports, stopped by PID on drop.
//! - [`postgres::Postgres`] runs a real PostgreSQL server (Debian's package, installed when
//!   missing) in a fresh cluster on a free loopback port, as the `postgres` user when the
//!   tests run as root, stopped by PID (or by a watchdog when the test binary exits).
//! - [`oidc::Issuer`] runs the npm `oidc-provider` (Node 22; both installed when missing, in the
//!   caches `cargo xtask e2e` uses) from a script the test supplies.
//! - [`ConformanceServer`] is the fixture the official conformance suite expects of a server
//!   (`test_simple_text`, `test://static-text`, `test_simple_prompt`, …);
//!   [`ExampleServer::start_conformance`] and [`serve_conformance`] run it like the example server.
//! - `kube_api` (feature `kube-api`): an in-memory Kubernetes API server on loopback that the real
//!   `kube` client talks to (list, watch, server-side apply, status, garbage collection, injected
//!   failures), because no real API server can be installed on our machines.
//!
//! Invariants:
//! - The MCP endpoint is rmcp's own `StreamableHttpService`, unmodified: what a gateway test
//!   observes here is what a real rmcp server does (Accept/Content-Type checks, `Host`
//!   validation, `Mcp-Session-Id` sessions, SSE). Only routing by path and `/healthz` are ours.
//! - Tool input schemas come from `schemars` derives; tool definitions are stable across runs
//!   (tool-pinning tests hash them).
//! - Nothing here panics on I/O: bind and accept errors are returned or logged.
//! - Product crates must never depend on this crate outside `[dev-dependencies]`.

pub mod browser;
#[cfg(feature = "kube-api")]
pub mod kube_api;
pub mod oidc;
pub mod platform;
pub mod postgres;
pub mod python;
pub mod registry;
pub mod services;

pub use mcp_examples::{
    AddArgs, AllowedHosts, CONFORMANCE_TOOL_NAMES, ConformanceServer, CreateTaskArgs, ExampleServer,
    HEALTH_PATH, MAX_PROGRESS_STEPS, ProgressArgs, ReleaseNoteArgs, ServeOptions, TOOL_NAMES, TextArgs,
    WorkspaceAssistant, conformance_tools, serve, serve_conformance, tools,
};
