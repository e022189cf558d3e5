//! End-to-end tests of `mcp-runtime`'s local commands, run in process through
//! `mcp_cli::run_with` in temporary directories.

mod access;
mod help;
mod readme;
mod server_generate;
mod server_init;
mod server_validate;
mod support;
