//! End-to-end tests of `mcp-runtime`: the local commands run in process through
//! `mcp_cli::run_with` in temporary directories; the platform commands run as the real binary
//! against a real `mcp-platform` ([`platform`], [`stack`]).

mod access;
mod cluster;
mod help;
mod oidc;
mod platform;
mod publish;
mod readme;
mod server_generate;
mod server_init;
mod server_validate;
mod stack;
mod support;
