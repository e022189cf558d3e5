//! The operator against the in-memory Kubernetes API (`mcp_testkit::kube_api`): reconcile
//! flows, RBAC coverage, the admission webhook over TLS, leader election.

mod leader;
mod reconcile;
mod support;
mod webhook;
