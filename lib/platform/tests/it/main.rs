//! Integration tests of `mcp-platform` against its real store: every behavioural case runs on
//! SQLite and on a real PostgreSQL server (started once per test binary).

mod analytics;
mod audit;
mod browser;
mod catalog;
mod dashboard;
mod matrix;
mod oidc;
mod registry;
mod registry_authz;
mod registry_push;
mod registry_traefik;
mod replay;
mod revocation;
mod revoke_e2e;
mod runtime;
mod runtime_api;
mod runtime_contract;
mod runtime_kube;
mod schemathesis;
mod suite;
mod support;
mod ui;
