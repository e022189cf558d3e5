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
    /// Skip the end-to-end scenarios (`cargo xtask e2e`).
    #[arg(long)]
    no_e2e: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let root = project_root();
    step("cargo fmt --check");
    cmd!("cargo", "fmt", "--all", "--", "--check").dir(&root).run().context("ci: cargo fmt --check")?;

    step("generated files are fresh");
    crate::crds::sync(&root.join("deploy/base/crds"), true).context("ci: crds --check")?;
    crate::manifests::sync(&root.join("deploy/base"), true).context("ci: manifests --check")?;
    crate::docs::sync(true).context("ci: docs --check")?;
    crate::dashboards::sync(true).context("ci: dashboards --check")?;

    step("cargo deny check licenses bans sources (advisories when a database is present)");
    crate::deny::check().context("ci: cargo deny")?;

    step("release archive and image assembly are reproducible (one binary, assembled twice)");
    crate::oci::ci_check().context("ci: reproducible archive and image")?;

    step("system packages: ClickHouse, and the C toolchain rdkafka's bundled librdkafka needs");
    crate::services::install_packages().context("ci: services install")?;

    step("cargo clippy -D warnings");
    cmd!("cargo", "clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings")
        .dir(&root)
        .run()
        .context("ci: cargo clippy")?;
    // The container runtime of the test servers is behind a feature (no Docker engine here):
    // keep it compiling and lint-clean.
    cmd!(
        "cargo",
        "clippy",
        "-p",
        "mcp-e2e",
        "--features",
        "testcontainers",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings"
    )
    .dir(&root)
    .run()
    .context("ci: cargo clippy --features testcontainers")?;

    if !args.no_tests {
        step("real servers for the analytics tests: tansu (built once, cached)");
        crate::services::install_tansu().context("ci: services install")?;
        step("Traefik for the registry forward-auth tests (cached)");
        crate::e2e::install_traefik().context("ci: install Traefik")?;
        step("cargo test");
        cmd!("cargo", "test", "--workspace", "--locked").dir(&root).run().context("ci: cargo test")?;
    }
    if !args.no_tests && !args.no_conformance {
        step("MCP conformance suite against the committed baselines");
        let xtask = std::env::current_exe().context("ci: locate xtask")?;
        cmd!(xtask, "conformance", "--no-docs").dir(&root).run().context("ci: cargo xtask conformance")?;
    }
    if !args.no_tests && !args.no_e2e {
        step("end-to-end scenarios on the local stack");
        crate::e2e::run(&crate::e2e::Args::all("target/e2e".into())).context("ci: cargo xtask e2e")?;
        step("a broken e2e expectation fails the run, naming expected and actual");
        crate::e2e::broken_expectation_fails(&root).context("ci: e2e self-check")?;
    }
    step("all checks passed");
    Ok(())
}

fn step(name: &str) {
    eprintln!("==> {name}");
}
