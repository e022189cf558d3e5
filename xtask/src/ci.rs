//! `cargo xtask ci`: every check CI runs, in the order that fails fastest.

use anyhow::{Context, Result};
use duct::cmd;

use crate::util::project_root;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip `cargo test` (formatting, lints and generated files only).
    #[arg(long)]
    no_tests: bool,
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
    step("all checks passed");
    Ok(())
}

fn step(name: &str) {
    eprintln!("==> {name}");
}
