//! Tools from crates.io that xtask commands run (`oha`, `cargo-deny`, `cargo-cyclonedx`):
//! each is installed once, at a pinned version with its own lock file (`--locked`), into its
//! own root under /var/tmp/mcp-runtime-tools, so no command depends on what a machine has.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use duct::cmd;

/// Where the tools are installed, one `cargo install --root` each.
pub const TOOLS_ROOT: &str = "/var/tmp/mcp-runtime-tools";

/// A crates.io tool at a pinned version.
#[derive(Clone, Copy, Debug)]
pub struct Tool {
    /// The crate.
    pub krate: &'static str,
    /// The pinned version.
    pub version: &'static str,
    /// The binary the crate installs.
    pub bin: &'static str,
}

pub const OHA: Tool = Tool { krate: "oha", version: "1.16.0", bin: "oha" };
pub const CARGO_CYCLONEDX: Tool = Tool { krate: "cargo-cyclonedx", version: "0.5.9", bin: "cargo-cyclonedx" };
pub const CARGO_DENY: Tool = Tool { krate: "cargo-deny", version: "0.20.2", bin: "cargo-deny" };

impl Tool {
    /// The install root of this tool.
    pub fn root(&self) -> PathBuf {
        Path::new(TOOLS_ROOT).join(self.krate)
    }

    /// The binary, installed first when missing or at another version; `who` names the
    /// command asking, for messages.
    pub fn install(&self, who: &str) -> Result<PathBuf> {
        let root = self.root();
        let bin = root.join("bin").join(self.bin);
        let stamp = root.join("VERSION");
        let current = std::fs::read_to_string(&stamp).ok();
        if bin.is_file() && current.as_deref().is_none_or(|v| v.trim() == self.version) {
            return Ok(bin);
        }
        eprintln!("{who}: installing {} {} into {} (once)", self.krate, self.version, root.display());
        cmd!(
            "cargo",
            "install",
            self.krate,
            "--version",
            self.version,
            "--locked",
            "--force",
            "--root",
            &root,
            "--target-dir",
            root.join("build")
        )
        .env_remove("CARGO_TARGET_DIR")
        .run()
        .with_context(|| format!("{who}: cargo install {}", self.krate))?;
        if !bin.is_file() {
            bail!("{who}: cargo install {} finished but {} is missing", self.krate, bin.display());
        }
        std::fs::write(&stamp, self.version).with_context(|| format!("write {}", stamp.display()))?;
        // The build directory is only needed to install; it holds gigabytes.
        let _ = std::fs::remove_dir_all(root.join("build"));
        Ok(bin)
    }
}
