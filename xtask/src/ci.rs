//! `cargo xtask ci`: every check CI runs, in the order that fails fastest.

use anyhow::{Context, Result};
use duct::cmd;

use crate::util::project_root;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip `cargo test` (formatting, lints and generated files only).
    #[arg(long)]
    no_tests: bool,
    /// Skip the official MCP conformance suite (direct and through the gateway).
    #[arg(long)]
    no_conformance: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let root = project_root();
    step("cargo fmt --check");
    cmd!("cargo", "fmt", "--all", "--", "--check").dir(&root).run().context("ci: cargo fmt --check")?;

    step("generated files are fresh");
    crate::crds::sync(&root.join("deploy/base/crds"), true).context("ci: crds --check")?;
    crate::docs::sync(true).context("ci: docs --check")?;

    step("cargo clippy -D warnings");
    cmd!("cargo", "clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings")
        .dir(&root)
        .run()
        .context("ci: cargo clippy")?;

    if !args.no_tests {
        step("cargo test");
        cmd!("cargo", "test", "--workspace", "--locked").dir(&root).run().context("ci: cargo test")?;
    }
    if !args.no_tests && !args.no_conformance {
        step("MCP conformance suite against the committed baselines");
        let xtask = std::env::current_exe().context("ci: locate xtask")?;
        cmd!(xtask, "conformance", "--no-docs").dir(&root).run().context("ci: cargo xtask conformance")?;
    }
    step("all checks passed");
    Ok(())
}

fn step(name: &str) {
    eprintln!("==> {name}");
}
