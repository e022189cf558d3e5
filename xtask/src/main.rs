//! `cargo xtask`: the project's automation, written in Rust so it needs nothing installed first.
//!
//! Each command lives in its own module with a `run` function; processes are started through
//! `duct` with arguments passed separately (never a shell string), from the workspace root.

mod bench;
mod ci;
mod conformance;
mod crds;
mod dashboards;
mod deny;
mod deploy_check;
mod dist;
mod docs;
mod e2e;
mod fuzz;
mod images;
mod issuer;
mod kind;
mod manifests;
mod oci;
mod services;
mod tidy;
mod tools;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// MCP Runtime project automation.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Write the CustomResourceDefinitions to deploy/base/crds from the Rust types.
    Crds(crds::Args),
    /// Write the operator's manifests (RBAC, Deployment, webhooks) to deploy/base from lib/operator.
    Manifests(manifests::Args),
    /// Write docs/cli.md and docs/policy.schema.json from the code.
    Docs(docs::Args),
    /// Run every check CI runs: fmt, clippy, generated-file drift, all tests.
    Ci(ci::Args),
    /// Check dependency licences, bans and sources with cargo-deny (deny.toml).
    Deny(deny::Args),
    /// Build the release artifacts (archives, SBOMs, provenance, SHA256SUMS) reproducibly.
    Dist(dist::Args),
    /// Measure performance and write docs/benchmarks.md.
    Bench(bench::Args),
    /// Write the Grafana dashboards to deploy/base/grafana/dashboards.
    Dashboards(dashboards::Args),
    /// Build the OCI images of the binaries (tagged with the git revision).
    Images(images::Args),
    /// Create or delete a local Kind cluster with the platform installed (`up --test-mode`).
    Kind(kind::Args),
    /// Run the allow/deny scenarios (e2e/scenarios) against a local stack of the real binaries.
    E2e(e2e::Args),
    /// Run the official MCP conformance suite (direct and through the gateway); write docs/conformance.md.
    Conformance(conformance::Args),
    /// Install, start, stop or inspect the broker and ClickHouse the analytics tests use.
    Services(services::Args),
    /// Build the libFuzzer targets in fuzz/ and run each for a while; print executions and crashes.
    Fuzz(fuzz::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Crds(args) => crds::run(&args),
        Cmd::Deny(args) => deny::run(&args),
        Cmd::Dist(args) => dist::run(&args),
        Cmd::Manifests(args) => manifests::run(&args),
        Cmd::Docs(args) => docs::run(&args),
        Cmd::Ci(args) => ci::run(&args),
        Cmd::Bench(args) => bench::run(&args),
        Cmd::Conformance(args) => conformance::run(&args),
        Cmd::E2e(args) => e2e::run(&args),
        Cmd::Images(args) => images::run(&args),
        Cmd::Dashboards(args) => dashboards::run(&args),
        Cmd::Kind(args) => kind::run(&args),
        Cmd::Services(args) => services::run(&args),
        Cmd::Fuzz(args) => fuzz::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
