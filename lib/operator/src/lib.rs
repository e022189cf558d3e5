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
//! Modules: [`build`] (pure desired-object builders, snapshot-tested), [`status`] and [`routes`]
//! (pure status and route-ownership logic), [`controller`] (the kube-rs `Controller` around
//! them: server-side apply, status, backoff), [`webhook`] and [`certs`] (admission over TLS),
//! [`leader`] (Lease election), [`metrics`], [`pins`] (tool pins from the gateways),
//! [`install`] (the manifests in `deploy/base`, with the RBAC the code needs), [`run`] (process
//! wiring: connect, probes, webhooks, election, graceful shutdown).
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

pub mod build;
pub mod certs;
pub mod config;
pub mod controller;
pub mod error;
pub mod install;
pub mod leader;
pub mod metrics;
pub mod names;
pub mod pins;
pub mod routes;
pub mod run;
pub mod status;
pub mod webhook;

/// Resolves once `flag` holds `value` (or its sender is gone). The borrow of the channel ends
/// before this returns, so the future stays `Send` inside `tokio::select!`.
pub(crate) async fn until(flag: &mut tokio::sync::watch::Receiver<bool>, value: bool) {
    let _ = flag.wait_for(|v| *v == value).await;
}
