//! MCP Runtime in a cluster, through the Kubernetes API: `mcp-runtime setup` (render a `deploy/`
//! overlay, apply it with server-side apply in dependency order, wait for the workloads) and
//! the cluster half of `mcp-runtime doctor` (named checks with a fix hint each).
//!
//! The CLI (`lib/cli`) only parses flags and prints; everything that talks to the API server
//! is here, tested against `mcp_testkit`'s in-memory API server.

pub mod apply;
pub mod doctor;
pub mod manifests;

pub use apply::{Applied, ApplyError, NotReady, apply, wait_ready};
pub use doctor::{Check, Status, cluster_checks};
pub use manifests::{ManifestError, Target, describe, order, parse, read, render};
