//! The operator's pure core: everything the operator decides without talking to the API
//! server, so the platform (its Kubernetes and Local runtime backends) and `xtask` use the same
//! code without pulling in the controller runtime.
//!
//! Modules: [`build`] (desired objects of a server, snapshot-tested), [`status`] and [`routes`]
//! (status and route ownership), [`pins`] (tool pins as gateways report them), [`team`] (a
//! team's namespace and its guard rails), [`trust`] (the platform trust ConfigMap), [`install`] (the manifests in `deploy/base`, with the
//! RBAC the operator and the platform need), [`config`] and [`names`] (the settings and names
//! every object is built from).
//!
//! Invariants:
//! - No I/O, no clock, no async, no `kube` dependency: same inputs, same objects.
//! - Defaulting and validation are `mcp_api`'s, and rendering is `mcp_policy`'s.

pub mod build;
pub mod config;
pub mod install;
pub mod names;
pub mod pins;
pub mod routes;
pub mod status;
pub mod team;
pub mod trust;
