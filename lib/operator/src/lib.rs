//! The MCP Runtime operator: reconciles `MCPServer`, `MCPAccessGrant` and `MCPAgentSession`
//! resources into the Kubernetes objects that run, route and govern each MCP server.
//!
//! Resource graph (everything a server owns carries a controller owner reference to it):
//!
//! ```text
//! MCPServer ──► Deployment <name> (+ <name>-canary)   app container + mcp-gateway sidecar
//!           ──► Service <name>, Ingress <name>
//!           ──► ConfigMap <name>-gateway-policy        policy.json ◄── grants + sessions (any namespace)
//!           ──► Role/RoleBinding <name>-gateway-policy  the gateway watches exactly that ConfigMap
//!           ──► status                                 phase, conditions, URL, tool pins
//! ```
//!
//! Modules: [`controller`] (the kube-rs `Controller`: server-side apply, status, backoff),
//! [`webhook`] and [`certs`] (admission over TLS), [`leader`] (Lease election), [`metrics`],
//! [`pins`] (tool pins read from the gateways), [`run`] (process wiring: connect, probes,
//! webhooks, election, graceful shutdown). The pure core — [`build`] (desired-object builders,
//! snapshot-tested), [`status`] and [`routes`] (status and route ownership), [`install`] (the
//! manifests in `deploy/base`, with the RBAC the code needs), [`config`] and [`names`] — lives
//! in the `mcp-operator-core` crate (no kube runtime) and is re-exported here.
//!
//! Invariants:
//! - The builders, [`status`] and [`routes`] do no I/O and read no clock: same inputs, same
//!   objects.
//! - Defaulting and validation are `mcp_api`'s, and rendering is `mcp_policy`'s: the webhook,
//!   the reconciler and the CLI agree on what a spec means.
//! - One field manager (`mcp-operator`) for every write; a policy ConfigMap is written only when
//!   its revision changes; status only when it changes.
//! - Reconcile is a function of the current state, never of the triggering event; a failure is
//!   retried with backoff and never panics.
//! - Every API call is covered by the RBAC in [`install`] (the tests check each request).

pub mod certs;
pub mod controller;
pub mod error;
pub mod leader;
pub mod metrics;
pub mod pins;
pub mod run;
pub mod webhook;

// The pure core lives in `mcp-operator-core` (no kube runtime); re-exported under the paths
// the controller, the binary and the tests have always used.
pub use mcp_operator_core::{build, config, install, names, routes, status};

/// Resolves once `flag` holds `value` (or its sender is gone). The borrow of the channel ends
/// before this returns, so the future stays `Send` inside `tokio::select!`.
pub(crate) async fn until(flag: &mut tokio::sync::watch::Receiver<bool>, value: bool) {
    let _ = flag.wait_for(|v| *v == value).await;
}
