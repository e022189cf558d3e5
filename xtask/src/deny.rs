//! `cargo xtask deny`: `cargo deny check licenses bans sources` against `deny.toml`, and
//! `advisories` when an advisory database is on this machine (cargo-deny's default place under
//! `$CARGO_HOME/advisory-dbs`). Nothing here fetches from the network:
//! without a database the advisory check is skipped with a notice.

use std::path::PathBuf;

use anyhow::{Context, Result};
use duct::cmd;

use crate::util::project_root;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args) -> Result<()> {
    check()
}

/// The checks `cargo xtask ci` runs.
pub fn check() -> Result<()> {
    let deny = crate::tools::CARGO_DENY.install("deny")?;
    let root = project_root();
    cmd!(&deny, "--all-features", "check", "licenses", "bans", "sources")
        .dir(&root)
        .run()
        .context("cargo deny check licenses bans sources")?;
    match advisory_db() {
        Some(db) => {
            eprintln!("deny: advisory database {} (not updated)", db.display());
            cmd!(&deny, "check", "--disable-fetch", "advisories")
                .dir(&root)
                .run()
                .context("cargo deny check advisories")?;
        }
        None => eprintln!(
            "deny: notice: no advisory database on this machine; advisories not checked \
             (run `cargo deny fetch` where GitHub is reachable)"
        ),
    }
    Ok(())
}

/// A local advisory database: a clone cargo-deny (or someone) made before.
fn advisory_db() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let dbs = home.join("advisory-dbs");
    std::fs::read_dir(&dbs).ok()?.flatten().map(|e| e.path()).find(|p| p.join("crates").is_dir())
}
