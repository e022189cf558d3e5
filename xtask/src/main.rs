//! `cargo xtask`: the project's automation, written in Rust so it needs nothing installed first.
//!
//! Each command lives in its own module with a `run` function; processes are started through
//! `duct` with arguments passed separately (never a shell string), from the workspace root.

mod bench;
mod ci;
mod conformance;
mod crds;
mod docs;
mod tidy;
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
    /// Write docs/cli.md and docs/policy.schema.json from the code.
    Docs(docs::Args),
    /// Run every check CI runs: fmt, clippy, generated-file drift, all tests.
    Ci(ci::Args),
    /// Measure performance and write docs/benchmarks.md.
    Bench(bench::Args),
    /// Run the official MCP conformance suite (direct and through the gateway); write docs/conformance.md.
    Conformance(conformance::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Crds(args) => crds::run(&args),
        Cmd::Docs(args) => docs::run(&args),
        Cmd::Ci(args) => ci::run(&args),
        Cmd::Bench(args) => bench::run(&args),
        Cmd::Conformance(args) => conformance::run(&args),
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
