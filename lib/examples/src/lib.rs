//! The example MCP servers MCP Runtime ships, on the official Rust SDK `rmcp`: what
//! `mcp-example-server` serves, what `mcp-runtime dev` runs in-process as its built-in server,
//! and what the tests govern.
//!
//! - [`WorkspaceAssistant`]: the reference's workspace-assistant tool set ([`TOOL_NAMES`]):
//!   `aaa-ping`, `echo`, `add`, `upper`, `lower`, `create_task`, `draft_release_note`,
//!   `slugify`, plus `progress` (sends `notifications/progress`) and `debug_headers` (echoes the
//!   HTTP request headers the server received, so spoofing tests can see what reached the app).
//! - [`ConformanceServer`]: the fixture the official conformance suite expects of a server.
//! - [`serve`] / [`serve_conformance`]: either over Streamable HTTP on a listener the caller
//!   binds; [`ExampleServer`] runs one on an ephemeral loopback port.
//!
//! Invariants:
//! - The MCP endpoint is rmcp's own `StreamableHttpService`, unmodified: what a gateway test
//!   observes here is what a real rmcp server does (Accept/Content-Type checks, `Host`
//!   validation, `Mcp-Session-Id` sessions, SSE). Only routing by path and `/healthz` are ours.
//! - Tool input schemas come from `schemars` derives; tool definitions are stable across runs
//!   (tool-pinning tests hash them).
//! - Nothing here panics on I/O: bind and accept errors are returned or logged.

mod conformance;
mod serve;
mod tools;

#[cfg(test)]
mod tests;

pub use conformance::{CONFORMANCE_TOOL_NAMES, ConformanceServer, conformance_tools, serve_conformance};
pub use serve::{AllowedHosts, ExampleServer, HEALTH_PATH, ServeOptions, serve, serve_stdio};
pub use tools::{
    AddArgs, CreateTaskArgs, MAX_PROGRESS_STEPS, ProgressArgs, ReleaseNoteArgs, TOOL_NAMES, TextArgs,
    WorkspaceAssistant, tools,
};
